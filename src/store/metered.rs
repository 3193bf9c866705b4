//! A session store with its operations timed and its failures counted
//! (`oidc_session_store_duration_seconds{store,op}`, `oidc_session_store_errors_total{store}`):
//! the fairing wraps whichever store the app runs on, so every store, the app's own too, is
//! measured the same way.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{SessionIndex, SessionRecord, SessionStore, StoreError};
use crate::telemetry::{StoreMetrics, StoreOp};

/// `inner`, timed, under the `store` label `label`.
pub(crate) struct Metered {
    inner: Arc<dyn SessionStore>,
    metrics: StoreMetrics,
}

impl Metered {
    pub(crate) fn wrap(inner: Arc<dyn SessionStore>, label: &'static str) -> Arc<dyn SessionStore> {
        Arc::new(Metered {
            inner,
            metrics: StoreMetrics::new(label),
        })
    }

    async fn timed<T>(
        &self,
        op: StoreOp,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let outcome = call.await;
        self.metrics.record(op, started.elapsed(), outcome.is_err());
        outcome
    }
}

impl fmt::Debug for Metered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[rocket::async_trait]
impl SessionStore for Metered {
    async fn load(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.timed(StoreOp::Load, self.inner.load(id)).await
    }

    async fn save(
        &self,
        id: &str,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.timed(StoreOp::Save, self.inner.save(id, record, ttl))
            .await
    }

    async fn replace(
        &self,
        id: &str,
        previous: &SessionRecord,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.timed(
            StoreOp::Replace,
            self.inner.replace(id, previous, record, ttl),
        )
        .await
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.timed(StoreOp::Delete, self.inner.delete(id)).await
    }

    async fn delete_by_index(&self, index: SessionIndex<'_>) -> Result<usize, StoreError> {
        self.timed(StoreOp::DeleteByIndex, self.inner.delete_by_index(index))
            .await
    }
}
