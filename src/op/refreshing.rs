//! [`Refreshing`]: what the client fetches from the provider and keeps, reloaded on a
//! schedule (its metadata, its keys). The rules for every such value live here: one load at
//! a time while the others wait for its result; a failed first load answers the requests of
//! the next second at once instead of queueing them on a provider that is down; a failed
//! scheduled reload keeps the loaded value serving and tries again a minute later; an
//! early reload (a token names a key the loaded set lacks) at most every few seconds.

use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::error::OidcError;

/// After a failed scheduled reload, the loaded value serves this long before the next try.
pub(super) const RELOAD_RETRY_AFTER: Duration = Duration::from_secs(60);

/// After a failed first load, requests fail fast for this long with the same error; then
/// the next request tries again, so the app recovers by itself.
const FAILED_LOAD_HOLD: Duration = Duration::from_secs(1);

/// A value fetched from the provider, kept, and reloaded when due.
#[derive(Debug)]
pub(crate) struct Refreshing<T> {
    /// `"metadata"`, `"keys"`: for the log.
    what: &'static str,
    current: RwLock<Option<Arc<T>>>,
    /// When the current value is due for a reload; `None`: never.
    due: Mutex<Option<Instant>>,
    /// Held while loading, so one request loads and the others wait for its result.
    loading: tokio::sync::Mutex<Loads>,
}

/// What the loads so far say about the next one.
#[derive(Debug, Default)]
struct Loads {
    /// The last first load that failed, answered again until [`FAILED_LOAD_HOLD`] passed.
    failure: Option<(Instant, OidcError)>,
    /// The last early reload ([`Refreshing::reload_unless_replaced`]).
    early: Option<Instant>,
}

impl<T> Refreshing<T> {
    pub(crate) fn new(what: &'static str) -> Self {
        Refreshing {
            what,
            current: RwLock::new(None),
            due: Mutex::new(None),
            loading: tokio::sync::Mutex::new(Loads::default()),
        }
    }

    /// The loaded value, if any; never waits.
    pub(crate) fn current(&self) -> Option<Arc<T>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes the current value due: the next [`get_or_load`](Self::get_or_load) reloads.
    pub(crate) fn expire(&self) {
        self.set_due(Some(Duration::ZERO));
    }

    /// The current value while it is fresh (not due, and not `stale` by its own rule),
    /// else a new one from `load`, due again after `max_age` (`None`: never). When a
    /// scheduled reload fails, the current value serves on (logged, retried later).
    pub(crate) async fn get_or_load<F, Fut>(
        &self,
        provider: &str,
        max_age: Option<Duration>,
        stale: impl Fn(&T) -> bool,
        load: F,
    ) -> Result<Arc<T>, OidcError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, OidcError>>,
    {
        let fresh = |value: &Arc<T>| !self.is_due() && !stale(value);
        if let Some(value) = self.current().filter(fresh) {
            return Ok(value);
        }
        let mut loads = self.loading.lock().await;
        // Another request may have loaded while this one waited.
        let current = self.current();
        if let Some(value) = current.clone().filter(fresh) {
            return Ok(value);
        }
        if current.is_none() {
            if let Some((at, err)) = &loads.failure {
                if at.elapsed() < FAILED_LOAD_HOLD {
                    return Err(err.clone());
                }
            }
        }
        match load().await {
            Ok(value) => {
                loads.failure = None;
                Ok(self.keep(value, max_age))
            }
            Err(err) => match current {
                Some(current) => {
                    log::warn!(
                        "oidc: provider {provider:?}: reloading its {} failed, the loaded {} \
                         serve on: {}",
                        self.what,
                        self.what,
                        err.developer_detail().unwrap_or(err.error_description())
                    );
                    self.set_due(Some(RELOAD_RETRY_AFTER));
                    Ok(current)
                }
                None => {
                    loads.failure = Some((Instant::now(), err.clone()));
                    Err(err)
                }
            },
        }
    }

    /// Loads again before the value is due, because `seen` lacks something (a token names
    /// a key it does not have). Returns the current value instead when another request
    /// replaced `seen` meanwhile, or when an early reload happened less than `min_interval`
    /// ago (so a stream of tokens naming unknown keys cannot hammer the provider).
    pub(crate) async fn reload_unless_replaced<F, Fut>(
        &self,
        seen: &Arc<T>,
        min_interval: Duration,
        max_age: Option<Duration>,
        load: F,
    ) -> Result<Arc<T>, OidcError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, OidcError>>,
    {
        let mut loads = self.loading.lock().await;
        if let Some(current) = self.current() {
            let replaced = !Arc::ptr_eq(seen, &current);
            let too_soon = loads.early.is_some_and(|at| at.elapsed() < min_interval);
            if replaced || too_soon {
                return Ok(current);
            }
        }
        let value = self.keep(load().await?, max_age);
        loads.early = Some(Instant::now());
        Ok(value)
    }

    fn keep(&self, value: T, max_age: Option<Duration>) -> Arc<T> {
        let value = Arc::new(value);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(value.clone());
        self.set_due(max_age);
        value
    }

    fn is_due(&self) -> bool {
        self.due
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| Instant::now() >= at)
    }

    fn set_due(&self, after: Option<Duration>) {
        // An age far in the future (beyond the clock's range) is never due.
        *self.due.lock().unwrap_or_else(|e| e.into_inner()) =
            after.and_then(|after| Instant::now().checked_add(after));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn down() -> OidcError {
        OidcError::unavailable(false, String::from("down"))
    }

    #[tokio::test]
    async fn loads_once_and_keeps_the_value_until_due() {
        let cache = Refreshing::<u32>::new("test");
        let loads = AtomicUsize::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(7)
        };
        let age = Some(Duration::from_secs(3600));
        assert_eq!(
            *cache.get_or_load("p", age, |_| false, load).await.unwrap(),
            7
        );
        assert_eq!(
            *cache.get_or_load("p", age, |_| false, load).await.unwrap(),
            7
        );
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        cache.expire();
        cache.get_or_load("p", age, |_| false, load).await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 2, "expired: loaded again");
        cache
            .get_or_load("p", age, |v| *v == 7, load)
            .await
            .unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 3, "stale by its own rule");
    }

    #[tokio::test]
    async fn a_failed_first_load_is_answered_at_once_for_a_second() {
        let cache = Refreshing::<u32>::new("test");
        let loads = AtomicUsize::new(0);
        let failing = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Err(down())
        };
        assert!(cache
            .get_or_load("p", None, |_| false, failing)
            .await
            .is_err());
        assert!(cache
            .get_or_load("p", None, |_| false, failing)
            .await
            .is_err());
        assert_eq!(
            loads.load(Ordering::SeqCst),
            1,
            "the second is answered from memory"
        );
    }

    #[tokio::test]
    async fn a_failed_reload_keeps_the_loaded_value() {
        let cache = Refreshing::<u32>::new("test");
        cache
            .get_or_load("p", None, |_| false, || async { Ok(1) })
            .await
            .unwrap();
        cache.expire();
        let kept = cache
            .get_or_load("p", None, |_| false, || async { Err(down()) })
            .await
            .unwrap();
        assert_eq!(*kept, 1);
        // Due again only after RELOAD_RETRY_AFTER: no new load now.
        let again = cache
            .get_or_load("p", None, |_| false, || async { Ok(2) })
            .await
            .unwrap();
        assert_eq!(*again, 1);
    }

    #[tokio::test]
    async fn early_reloads_are_rate_limited_and_skip_replaced_values() {
        let cache = Refreshing::<u32>::new("test");
        let first = cache
            .get_or_load("p", None, |_| false, || async { Ok(1) })
            .await
            .unwrap();
        let min = Duration::from_secs(60);
        let second = cache
            .reload_unless_replaced(&first, min, None, || async { Ok(2) })
            .await
            .unwrap();
        assert_eq!(*second, 2);
        // `first` was replaced meanwhile: the current value, no load.
        let current = cache
            .reload_unless_replaced(&first, min, None, || async { Ok(3) })
            .await
            .unwrap();
        assert_eq!(*current, 2);
        // Too soon after the last early reload.
        let current = cache
            .reload_unless_replaced(&second, min, None, || async { Ok(4) })
            .await
            .unwrap();
        assert_eq!(*current, 2);
    }
}
