//! Where a registered client is kept: in a value store every instance shares, or in
//! `registration_file` (mode 0600, replaced atomically); and the lock, in the same place,
//! that makes instances starting at once register once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
    File(PathBuf),
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Writes `bytes` to `path` readable by its owner only (0600), atomically (a temporary file
/// renamed over it).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".{}.tmp", std::process::id()));
    let temp = PathBuf::from(temp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)
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
                Ok(text) => Some(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
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
            Persistence::File(path) => {
                write_private(path, text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
            }
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
            Persistence::File(path) => {
                let lock = lock_path(path);
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&lock)
                {
                    Ok(_) => Ok(Some(Lock::File(lock))),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let stale = std::fs::metadata(&lock)
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|at| at.elapsed().ok())
                            .is_some_and(|age| age > LOCK_TTL);
                        if stale {
                            // Its holder died while registering.
                            let _ = std::fs::remove_file(&lock);
                        }
                        Ok(None)
                    }
                    Err(e) => Err(OidcError::configuration(format!(
                        "provider {:?}: cannot create the registration lock {}: {e} (is the \
                         folder of registration_file writable?)",
                        provider,
                        lock.display()
                    ))),
                }
            }
        }
    }

    pub(super) async fn unlock(&self, lock: Lock) {
        match (lock, self) {
            (Lock::Store(lock), Persistence::Store(store)) => lock.release(&**store).await,
            (Lock::File(path), _) => {
                let _ = std::fs::remove_file(path);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registration_file_is_private_and_replaced_whole() {
        let dir = std::env::temp_dir().join(format!(
            "oidc-reg-{}",
            crate::protocol::random::random_token()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("client.json");
        write_private(&path, b"one").unwrap();
        write_private(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
