//! Readiness (`oidc.ready_path`): whether this instance can log users in now. Every
//! provider's metadata and keys are loaded (loaded now if they are not: a provider that was
//! down at launch makes the instance ready as soon as it answers), and the session store
//! answers. What is missing is named with the time it was first seen missing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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
        // Every provider at once, each load in a task of its own: a probe that stops
        // waiting never cancels a load (a discovery, a registration) halfway, so a slow
        // provider becomes ready all the same.
        let loads: Vec<_> = oidc
            .providers
            .iter()
            .map(|client| {
                let client = Arc::clone(client);
                let load = tokio::spawn(async move {
                    let resolved = client.metadata().await.map_err(|e| ("metadata", e))?;
                    client
                        .keys(&resolved)
                        .await
                        .map(drop)
                        .map_err(|e| ("keys", e))
                });
                async move {
                    let outcome = match tokio::time::timeout(PART_TIMEOUT, load).await {
                        Ok(Ok(outcome)) => outcome,
                        Ok(Err(_)) => {
                            Err(("metadata", OidcError::configuration("the load panicked")))
                        }
                        Err(_) => Err(("metadata", timed_out())),
                    };
                    outcome.err()
                }
            })
            .collect();
        let names: Vec<String> = oidc.providers().map(|c| c.name().to_string()).collect();
        let (loaded, store) = tokio::join!(
            rocket::futures::future::join_all(loads),
            within(oidc.sessions.answers())
        );
        let mut found: Vec<(Option<String>, &'static str, OidcError)> = Vec::new();
        for (name, failed) in names.into_iter().zip(loaded) {
            if let Some((part, err)) = failed {
                found.push((Some(name), part, err));
            }
        }
        if let Err(err) = store {
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
        .unwrap_or_else(|_| Err(timed_out()))
}

fn timed_out() -> OidcError {
    OidcError::unavailable(
        true,
        format!("no answer within {} s", PART_TIMEOUT.as_secs()),
    )
}
