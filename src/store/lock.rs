//! A lock in a [`ValueStore`]: `SET NX` with a random holder token and a ttl, released by
//! compare-and-delete, so a holder whose lock expired never removes the next holder's.

use std::time::Duration;

use super::{SetMode, StoreError, ValueStore};

/// A lock this instance holds in a value store until [`release`](Self::release) or its
/// ttl, whichever comes first.
#[derive(Debug)]
#[must_use = "a lock is held until released (or until its ttl runs out)"]
pub(crate) struct StoreLock {
    key: String,
    holder: String,
    /// What it locks, for the log (the key may hold a session id, which is a secret).
    what: &'static str,
}

impl StoreLock {
    /// Takes the lock `key` (a `what` lock) for `ttl`, or `None` when another holder has it.
    pub(crate) async fn try_take(
        values: &dyn ValueStore,
        key: &str,
        what: &'static str,
        ttl: Duration,
    ) -> Result<Option<StoreLock>, StoreError> {
        let holder = crate::protocol::random::random_token();
        let took = values
            .set_value(key, &holder, ttl, SetMode::IfAbsent)
            .await?;
        Ok(took.then(|| StoreLock {
            key: key.to_string(),
            holder,
            what,
        }))
    }

    /// Releases the lock, if it is still this holder's; a failure only leaves it to expire.
    pub(crate) async fn release(self, values: &dyn ValueStore) {
        if let Err(err) = values.delete_value(&self.key, Some(&self.holder)).await {
            log::warn!(
                "oidc: could not release a {} lock (it expires by itself): {err}",
                self.what
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[rocket::async_test]
    async fn one_holder_at_a_time_and_an_expired_holder_cannot_release_the_next() {
        let values = MemoryStore::new(16);
        let first = StoreLock::try_take(&values, "l", "test", Duration::from_millis(30))
            .await
            .unwrap()
            .expect("free");
        assert!(
            StoreLock::try_take(&values, "l", "test", Duration::from_secs(60))
                .await
                .unwrap()
                .is_none()
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        let second = StoreLock::try_take(&values, "l", "test", Duration::from_secs(60))
            .await
            .unwrap()
            .expect("the first expired");
        first.release(&values).await;
        assert!(
            StoreLock::try_take(&values, "l", "test", Duration::from_secs(60))
                .await
                .unwrap()
                .is_none(),
            "the first holder's release left the second's lock alone"
        );
        second.release(&values).await;
        assert!(
            StoreLock::try_take(&values, "l", "test", Duration::from_secs(60))
                .await
                .unwrap()
                .is_some()
        );
    }
}
