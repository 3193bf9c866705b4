//! Readiness (`oidc.ready_path`): whether this instance can log users in now. Every
//! provider's metadata and keys are loaded (loaded now if they are not: a provider that was
//! down at launch makes the instance ready as soon as it answers), and the session store
//! answers. What is missing is named with the time it was first seen missing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::Oidc;
use crate::error::OidcError;
use crate::protocol::time::now;

/// How long one part may take to answer before it counts as missing: a probe must answer
/// well within a Kubernetes probe's timeout.
const PART_TIMEOUT: Duration = Duration::from_secs(2);

/// A part this instance needs and does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Missing {
    /// The provider it belongs to; `None` for the session store.
    pub(crate) provider: Option<String>,
    /// `"metadata"`, `"keys"` or `"session_store"`.
    pub(crate) part: &'static str,
    /// Unix seconds: when it was first seen missing (launch, for what never loaded).
    pub(crate) since: i64,
    /// The error code of why (`provider_unavailable`, `session_store_unavailable`, ...).
    pub(crate) error: String,
}

/// The readiness of one app: when each missing part was first seen missing.
#[derive(Debug)]
pub(crate) struct Readiness {
    launched: i64,
    missing_since: Mutex<HashMap<(Option<String>, &'static str), i64>>,
}

impl Readiness {
    pub(crate) fn new() -> Self {
        Readiness {
            launched: now(),
            missing_since: Mutex::new(HashMap::new()),
        }
    }

    /// What is missing now (empty: ready).
    pub(crate) async fn check(&self, oidc: &Oidc) -> Vec<Missing> {
        let mut found: Vec<(Option<String>, &'static str, OidcError)> = Vec::new();
        for client in oidc.providers() {
            let name = Some(client.name().to_string());
            match within(client.metadata()).await {
                Ok(resolved) => {
                    if let Err(err) = within(client.keys(&resolved)).await {
                        found.push((name, "keys", err));
                    }
                }
                Err(err) => found.push((name, "metadata", err)),
            }
        }
        if let Err(err) = within(oidc.sessions.answers()).await {
            found.push((None, "session_store", err));
        }
        let mut since = self.missing_since.lock().unwrap_or_else(|e| e.into_inner());
        let now = now();
        let missing: Vec<Missing> = found
            .into_iter()
            .map(|(provider, part, err)| {
                // A part that never loaded has been missing since launch.
                let first =
                    *since
                        .entry((provider.clone(), part))
                        .or_insert(if part == "session_store" {
                            now
                        } else {
                            self.launched
                        });
                log::warn!(
                    "oidc: not ready: {} {part}: {err}",
                    provider
                        .as_deref()
                        .map_or("the".to_string(), |p| format!("provider {p:?}"))
                );
                Missing {
                    provider,
                    part,
                    since: first,
                    error: err.error().to_string(),
                }
            })
            .collect();
        // What is back is forgotten: the next outage has its own start.
        since.retain(|(provider, part), _| {
            missing
                .iter()
                .any(|m| &m.provider == provider && m.part == *part)
        });
        missing
    }
}

/// `part`, or an error when it takes longer than [`PART_TIMEOUT`].
async fn within<T>(
    part: impl std::future::Future<Output = Result<T, OidcError>>,
) -> Result<T, OidcError> {
    tokio::time::timeout(PART_TIMEOUT, part)
        .await
        .unwrap_or_else(|_| {
            Err(OidcError::unavailable(
                true,
                format!("no answer within {} s", PART_TIMEOUT.as_secs()),
            ))
        })
}
