//! Bounds on the provider calls that anonymous requests can cause (a pushed authorization
//! request for every anonymous visit of a guarded page, an introspection for every unknown
//! bearer token): a rate (a token bucket holding one second's worth) and a number in flight,
//! per provider and kind of call. Beyond them a request is answered 503 with `Retry-After`
//! at once, instead of passing a flood on to the provider.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rocket::http::Status;

use crate::config::Limits;
use crate::error::{ErrorKind, OidcError};

/// One kind of call's bound at one provider.
pub(crate) struct CallBudget {
    /// What the calls are, for the log: "login", "introspection".
    kind: &'static str,
    per_second: f64,
    concurrent: u32,
    /// Calls that may start now, and when that was counted.
    bucket: Mutex<(f64, Instant)>,
    in_flight: AtomicU32,
}

impl std::fmt::Debug for CallBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallBudget")
            .field("kind", &self.kind)
            .field("per_second", &self.per_second)
            .field("concurrent", &self.concurrent)
            .finish_non_exhaustive()
    }
}

/// A call under way; the budget counts it until it drops.
#[must_use = "the call counts as in flight while the permit lives"]
pub(crate) struct Permit<'a>(&'a AtomicU32);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl CallBudget {
    /// The bound of `limits` for calls of `kind`.
    pub(crate) fn new(kind: &'static str, limits: &Limits) -> Self {
        let per_second = f64::from(limits.provider_calls_per_second.max(1));
        CallBudget {
            kind,
            per_second,
            concurrent: limits.provider_calls_concurrent.max(1),
            bucket: Mutex::new((per_second, Instant::now())),
            in_flight: AtomicU32::new(0),
        }
    }

    /// Lets one call of `provider` start, or refuses it (503 with `Retry-After`).
    pub(crate) fn take(&self, provider: &str) -> Result<Permit<'_>, OidcError> {
        let running = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let permit = Permit(&self.in_flight);
        if running >= self.concurrent {
            return Err(self.refusal(
                provider,
                format!(
                    "{running} are in flight (oidc.limits.provider_calls_concurrent = {})",
                    self.concurrent
                ),
                Duration::from_secs(1),
            ));
        }
        let now = Instant::now();
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, at) = *bucket;
        let tokens = (tokens + now.saturating_duration_since(at).as_secs_f64() * self.per_second)
            .min(self.per_second);
        if tokens < 1.0 {
            *bucket = (tokens, now);
            let wait = Duration::from_secs_f64((1.0 - tokens) / self.per_second);
            return Err(self.refusal(
                provider,
                format!(
                    "more than oidc.limits.provider_calls_per_second ({}) started",
                    self.per_second
                ),
                wait,
            ));
        }
        *bucket = (tokens - 1.0, now);
        Ok(permit)
    }

    fn refusal(&self, provider: &str, why: String, after: Duration) -> OidcError {
        OidcError::new(
            ErrorKind::RateLimited,
            Status::ServiceUnavailable,
            "temporarily_unavailable",
            "too many requests reach the login service right now; try again in a moment",
        )
        .with_log_detail(format!(
            "provider {provider:?}: a {} call was not made: {why}; raise [oidc.limits] if \
             this is your users' normal traffic",
            self.kind
        ))
        .with_retry_after(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(per_second: u32, concurrent: u32) -> CallBudget {
        CallBudget::new(
            "login",
            &Limits {
                provider_calls_per_second: per_second,
                provider_calls_concurrent: concurrent,
                ..Limits::default()
            },
        )
    }

    #[test]
    fn a_second_s_worth_then_the_rate() {
        let budget = budget(5, 100);
        for _ in 0..5 {
            drop(budget.take("p").expect("within the burst"));
        }
        let refused = budget.take("p").err().expect("the bucket is empty");
        assert_eq!(refused.status(), Status::ServiceUnavailable);
        assert_eq!(refused.kind(), ErrorKind::RateLimited);
        assert_eq!(refused.retry_after(), Some(1));
        assert!(refused
            .developer_detail()
            .unwrap()
            .contains("provider_calls_per_second (5)"));
        std::thread::sleep(Duration::from_millis(250));
        drop(
            budget
                .take("p")
                .expect("a fifth of a second refills one call"),
        );
    }

    #[test]
    fn calls_in_flight_are_bounded_and_released() {
        let budget = budget(100, 2);
        let first = budget.take("p").unwrap();
        let _second = budget.take("p").unwrap();
        let refused = budget.take("p").err().expect("two in flight");
        assert!(refused
            .developer_detail()
            .unwrap()
            .contains("provider_calls_concurrent = 2"));
        drop(first);
        let _third = budget.take("p").expect("one finished");
        assert_eq!(budget.in_flight.load(Ordering::Acquire), 2);
    }
}
