//! Bounds on the provider calls that anonymous requests can cause (a pushed authorization
//! request for every anonymous visit of a guarded page, a code exchange for every callback
//! with a state, an introspection for every unknown bearer token): a rate (a token bucket
//! holding one second's worth) and a number in flight, per provider and kind of call, and
//! within the rate a quarter of it per client address, so that one address cannot take it
//! all. Beyond them a request is answered 503 with `Retry-After` at once, instead of passing
//! a flood on to the provider.

use std::collections::HashMap;
use std::net::IpAddr;
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
    bucket: Mutex<Bucket>,
    /// The same per client address, at a quarter of the rate.
    per_address: Mutex<HashMap<IpAddr, Bucket>>,
    in_flight: AtomicU32,
    /// When a refusal was last logged as a warning.
    warned_at: Mutex<Option<Instant>>,
}

/// Most client addresses whose buckets are kept; past it, the full (idle) ones go.
const ADDRESSES: usize = 10_000;

/// A token bucket: `tokens` calls could start at `at`.
#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: f64, now: Instant) -> Self {
        Bucket {
            tokens: rate,
            at: now,
        }
    }

    /// Takes one call's token at `now` (refilling at `rate` a second, up to `rate`), or
    /// says how long until one is there.
    fn take(&mut self, rate: f64, now: Instant) -> Result<(), Duration> {
        let tokens =
            (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * rate).min(rate);
        self.at = now;
        if tokens < 1.0 {
            self.tokens = tokens;
            return Err(Duration::from_secs_f64((1.0 - tokens) / rate));
        }
        self.tokens = tokens - 1.0;
        Ok(())
    }

    /// Whether it refilled completely by `now` (its address has been idle).
    fn is_full(&self, rate: f64, now: Instant) -> bool {
        self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * rate >= rate
    }
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
            bucket: Mutex::new(Bucket::full(per_second, Instant::now())),
            per_address: Mutex::new(HashMap::new()),
            in_flight: AtomicU32::new(0),
            warned_at: Mutex::new(None),
        }
    }

    /// A client address's share of the rate: a quarter (at least one call a second).
    fn address_rate(&self) -> f64 {
        (self.per_second / 4.0).max(1.0)
    }

    /// Lets one call of `provider` for a request from `caller` start, or refuses it (503
    /// with `Retry-After`).
    pub(crate) fn take(
        &self,
        provider: &str,
        caller: Option<IpAddr>,
    ) -> Result<Permit<'_>, OidcError> {
        let now = Instant::now();
        if let Some(caller) = caller {
            let rate = self.address_rate();
            let mut buckets = self.per_address.lock().unwrap_or_else(|e| e.into_inner());
            if buckets.len() >= ADDRESSES && !buckets.contains_key(&caller) {
                buckets.retain(|_, bucket| !bucket.is_full(rate, now));
                if buckets.len() >= ADDRESSES {
                    buckets.clear();
                }
            }
            let bucket = buckets
                .entry(caller)
                .or_insert_with(|| Bucket::full(rate, now));
            if let Err(wait) = bucket.take(rate, now) {
                return Err(self.refusal(
                    provider,
                    format!(
                        "one client address started more than a quarter of {} a second",
                        self.per_second
                    ),
                    wait,
                    now,
                ));
            }
        }
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
                now,
            ));
        }
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(wait) = bucket.take(self.per_second, now) {
            drop(bucket);
            return Err(self.refusal(
                provider,
                format!(
                    "more than oidc.limits.provider_calls_per_second ({}) started",
                    self.per_second
                ),
                wait,
                now,
            ));
        }
        Ok(permit)
    }

    /// The refusal: logged as a warning at most once a minute per budget (a flood would
    /// write a line per request), each one at debug level.
    fn refusal(&self, provider: &str, why: String, after: Duration, now: Instant) -> OidcError {
        let detail = format!(
            "provider {provider:?}: a {} call was not made: {why}; raise [oidc.limits] if \
             this is your users' normal traffic",
            self.kind
        );
        let mut warned_at = self.warned_at.lock().unwrap_or_else(|e| e.into_inner());
        if warned_at.is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(60)) {
            *warned_at = Some(now);
            log::warn!("oidc: {detail} (refusals are logged once a minute)");
        }
        OidcError::new(
            ErrorKind::RateLimited,
            Status::ServiceUnavailable,
            "temporarily_unavailable",
            "too many requests reach the login service right now; try again in a moment",
        )
        .with_log_detail(detail)
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
            drop(budget.take("p", None).expect("within the burst"));
        }
        let refused = budget.take("p", None).err().expect("the bucket is empty");
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
                .take("p", None)
                .expect("a fifth of a second refills one call"),
        );
    }

    #[test]
    fn calls_in_flight_are_bounded_and_released() {
        let budget = budget(100, 2);
        let first = budget.take("p", None).unwrap();
        let _second = budget.take("p", None).unwrap();
        let refused = budget.take("p", None).err().expect("two in flight");
        assert!(refused
            .developer_detail()
            .unwrap()
            .contains("provider_calls_concurrent = 2"));
        drop(first);
        let _third = budget.take("p", None).expect("one finished");
        assert_eq!(budget.in_flight.load(Ordering::Acquire), 2);
    }

    #[test]
    fn one_address_gets_a_quarter_and_others_the_rest() {
        let budget = budget(20, 100);
        let greedy: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..5 {
            drop(budget.take("p", Some(greedy)).expect("its quarter"));
        }
        let refused = budget
            .take("p", Some(greedy))
            .err()
            .expect("past its quarter");
        assert!(refused
            .developer_detail()
            .unwrap()
            .contains("one client address"));
        for i in 0..15 {
            let other: IpAddr = format!("198.51.100.{i}").parse().unwrap();
            drop(
                budget
                    .take("p", Some(other))
                    .expect("the others share the rest"),
            );
        }
        let late: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(
            budget.take("p", Some(late)).is_err(),
            "the provider's bound holds"
        );
    }
}
