//! Where a registered client is kept: in a value store every instance shares, or in
//! `registration_file` (mode 0600, replaced atomically, in a folder other users cannot
//! write); and the lock, in the same place, that makes instances starting at once register
//! once. The file and its lock on disk are [`file`](super::file)'s.

use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::file::{check_folder, take_file_lock, write_private, FileLock};
use super::{Credentials, LOCK_TTL, STORE_TTL};
use crate::error::OidcError;
use crate::protocol::time::now;
use crate::store::{SetMode, StoreLock, ValueStore};

/// Where a registered client is kept.
#[derive(Debug)]
pub(crate) enum Persistence {
    /// In a store every instance shares.
    Store(Arc<dyn ValueStore>),
    /// In a file (mode 0600), with `<file>.lock` beside it while registering.
    File(PathBuf),
}

/// What is kept: the provider's registration response, and what it was registered for.
#[derive(Serialize, Deserialize)]
pub(super) struct Kept {
    pub(super) issuer: String,
    /// Digest of the issuer and the requested metadata: a changed configuration registers
    /// anew instead of using a client registered for other redirect URIs.
    pub(super) request_digest: String,
    pub(super) registered_at: i64,
    pub(super) response: Map<String, Value>,
}

pub(super) enum Lock {
    Store(StoreLock),
    /// `<file>.lock`, holding our token.
    File(FileLock),
}

impl Persistence {
    /// Where the client is kept, for the liftoff summary.
    pub(super) fn describe(&self) -> String {
        match self {
            Persistence::Store(_) => {
                "dynamic registration, kept in the shared session store".into()
            }
            Persistence::File(path) => {
                format!("dynamic registration, kept in {}", path.display())
            }
        }
    }

    pub(super) async fn load(&self, provider: &str) -> Result<Option<Kept>, String> {
        let text = match self {
            Persistence::Store(store) => store
                .get_value(&key(provider))
                .await
                .map_err(|e| format!("the session store failed: {e}"))?,
            Persistence::File(path) => match std::fs::read_to_string(path) {
                // Only what no other user could have put there.
                Ok(text) => check_folder(path).map(|()| Some(text))?,
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                Err(e) => return Err(format!("{}: {e}", path.display())),
            },
        };
        Ok(
            text.and_then(|text| match serde_json::from_str::<Kept>(&text) {
                Ok(kept) => Some(kept),
                Err(e) => {
                    log::warn!(
                        "oidc: provider {:?}: the kept registration is unreadable ({e}); \
                     registering again",
                        provider
                    );
                    None
                }
            }),
        )
    }

    pub(super) async fn save(&self, provider: &str, kept: &Kept) -> Result<(), String> {
        let text = serde_json::to_string(kept).expect("a registration serializes");
        match self {
            Persistence::Store(store) => {
                let ttl = Credentials::from_response(&kept.response)
                    .and_then(|c| c.expires_at)
                    .map(|at| Duration::from_secs(at.saturating_sub(now()).max(1) as u64))
                    .unwrap_or(STORE_TTL)
                    .min(STORE_TTL);
                store
                    .set_value(&key(provider), &text, ttl, SetMode::Always)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("the session store failed: {e}"))
            }
            Persistence::File(path) => write_private(path, text.as_bytes()),
        }
    }

    /// Takes the registration lock, or `None` when another instance holds it.
    pub(super) async fn try_lock(&self, provider: &str) -> Result<Option<Lock>, OidcError> {
        match self {
            Persistence::Store(store) => {
                let key = format!("registration-lock:{}", provider);
                match StoreLock::try_take(&**store, &key, "registration", LOCK_TTL).await {
                    Ok(lock) => Ok(lock.map(Lock::Store)),
                    Err(e) => Err(store_error(
                        provider,
                        format!("the session store failed: {e}"),
                    )),
                }
            }
            Persistence::File(path) => take_file_lock(path)
                .map(|lock| lock.map(Lock::File))
                .map_err(|e| {
                    OidcError::configuration(format!(
                        "provider {provider:?}: cannot take the registration lock: {e}"
                    ))
                }),
        }
    }

    pub(super) async fn unlock(&self, lock: Lock) {
        match (lock, self) {
            (Lock::Store(lock), Persistence::Store(store)) => lock.release(&**store).await,
            (Lock::File(lock), _) => lock.release(),
            _ => {}
        }
    }

    /// Forgets the kept client.
    pub(super) async fn forget(&self, provider: &str) -> Result<(), String> {
        match self {
            Persistence::Store(store) => store
                .delete_value(&key(provider), None)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Persistence::File(path) => std::fs::remove_file(path).map_err(|e| e.to_string()),
        }
    }
}

/// The value store's key of `provider`'s registered client.
fn key(provider: &str) -> String {
    format!("registration:{provider}")
}

fn store_error(provider: &str, e: String) -> OidcError {
    OidcError::unavailable(
        false,
        format!("provider {provider:?}: cannot read the registered client: {e}"),
    )
}
