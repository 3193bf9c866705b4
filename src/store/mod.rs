//! The session store trait: where server-side sessions, and the small values that make a
//! logout bite (ended sessions, replayed logout tokens, refresh locks), live.
//!
//! It is a trait object (`Arc<dyn SessionStore>`), not a generic parameter: the store is
//! chosen in Rocket.toml at run time, and a generic would leak into every guard's type. The
//! price, one boxed future per call, is nothing next to a network round trip.

use std::fmt;
use std::time::Duration;

/// One session as a store keeps it: who it belongs to (for the logout indexes) and the
/// crate's encoding of it, opaque to the store.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionRecord {
    /// The provider's name (`oidc.providers.<name>`).
    pub provider: String,
    /// The user's `sub` at that provider.
    pub subject: String,
    /// The provider's session id (the ID token's `sid`), when it sent one.
    pub sid: Option<String>,
    /// The session itself, encoded by the crate.
    pub data: String,
}

impl SessionRecord {
    /// A record, for stores that keep the parts apart and build it back.
    pub fn new(provider: String, subject: String, sid: Option<String>, data: String) -> Self {
        SessionRecord {
            provider,
            subject,
            sid,
            data,
        }
    }
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The data holds tokens.
        f.debug_struct("SessionRecord")
            .field("provider", &self.provider)
            .field("subject", &self.subject)
            .field("sid", &self.sid)
            .field("data", &"[redacted]")
            .finish()
    }
}

/// A way to find sessions without knowing their ids: what a back-channel logout names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionIndex<'a> {
    /// Every session of one provider session (`sid`).
    Sid {
        /// The provider's name.
        provider: &'a str,
        /// The provider's session id.
        sid: &'a str,
    },
    /// Every session of one user (`sub`).
    Subject {
        /// The provider's name.
        provider: &'a str,
        /// The user's `sub`.
        subject: &'a str,
    },
}

/// Whether `set_value` overwrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetMode {
    /// Always write.
    Always,
    /// Write only if no (unexpired) value is there (Redis `SET NX`).
    IfAbsent,
}

/// A store that failed: unreachable, timed out, or answered nonsense.
#[derive(Debug)]
pub struct StoreError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A failure described by `message`, caused by `source`.
    pub fn new(
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError {
            message: message.into(),
            source,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// Where server-side sessions live: modelled on tower-sessions' `SessionStore` (load, save,
/// delete) and mod_auth_openidc's cache (indexes for logout, small expiring values).
///
/// The crate ships [`MemoryStore`](crate::MemoryStore) and, with the `redis` feature,
/// `RedisStore`; hand your own to [`OidcFairing::with_store`](crate::OidcFairing::with_store).
///
/// Keys (`id`, `key`) are chosen by the crate: ASCII, no spaces, at most ~200 bytes; the store
/// adds its own namespace (a key prefix). Every entry expires after its `ttl`: nothing a
/// store holds lives forever. Methods never panic on a broken backend: they return
/// `StoreError`.
#[rocket::async_trait]
pub trait SessionStore: fmt::Debug + Send + Sync + 'static {
    /// The session stored under `id`, or `None` when there is none (or it expired).
    async fn load(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// Stores `record` under `id` for `ttl` (replacing what was there), and indexes `id`
    /// under `(provider, sid)` and `(provider, subject)` so that `delete_by_index` finds it.
    /// An index lives at least as long as the longest session in it.
    async fn save(&self, id: &str, record: &SessionRecord, ttl: Duration)
        -> Result<(), StoreError>;

    /// Replaces the session `id` with `record` for `ttl`, but only if it still holds exactly
    /// `previous` (compare and set); returns `false`, writing nothing, when it changed or is
    /// gone. This keeps a session that a logout deleted from coming back, and a refresh's
    /// new tokens from being overwritten by a request that read the session before it.
    /// The record names the same provider, subject and sid as `previous`.
    async fn replace(
        &self,
        id: &str,
        previous: &SessionRecord,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Deletes the session `id` (no error when there is none).
    async fn delete(&self, id: &str) -> Result<(), StoreError>;

    /// Deletes every session indexed under `index`; returns how many were deleted.
    async fn delete_by_index(&self, index: SessionIndex<'_>) -> Result<usize, StoreError>;

    /// Sets a small value (replay caches, locks, ended-session marks) for `ttl`; returns
    /// whether it was written (always `true` with `SetMode::Always`).
    async fn set_value(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
        mode: SetMode,
    ) -> Result<bool, StoreError>;

    /// The value under `key`, unless absent or expired.
    async fn get_value(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Deletes the value under `key` (no error when there is none).
    async fn delete_value(&self, key: &str) -> Result<(), StoreError>;

    /// Deletes the value under `key` only if it is `value` (compare and delete, for locks:
    /// a holder whose lock expired never removes the next holder's); returns whether it
    /// deleted.
    async fn delete_value_if(&self, key: &str, value: &str) -> Result<bool, StoreError>;

    /// Whether every instance of the app sees this same store (Redis: yes; one process's
    /// memory: no). A dynamically registered client is kept in a shared store, so that a
    /// deployment registers once; otherwise it needs `registration_file`.
    fn is_shared(&self) -> bool {
        false
    }
}
