//! Stores: where server-side sessions live ([`SessionStore`]), and where the crate keeps
//! the small expiring values it coordinates through ([`ValueStore`]: marks of ended
//! sessions, replay caches of logout tokens and, in a shared store, of DPoP proofs,
//! refresh and registration locks).
//!
//! The crate ships [`MemoryStore`] (this process) and, with the `redis` feature,
//! `RedisStore` (Redis or Redis Cluster); both implement both traits. A store of your own
//! (Postgres, DynamoDB, ...) implements [`SessionStore`]'s five methods, and
//! [`ValueStore`]'s three when it can share coordination between instances too; hand it to
//! [`OidcFairing::with_store`](crate::OidcFairing::with_store). With the `test-util`
//! feature, `contract` checks a store against the contracts written here.
//!
//! The traits are used as trait objects (`Arc<dyn SessionStore>`), not generic parameters:
//! the store is chosen in Rocket.toml at run time, and a generic would leak into every
//! guard's type. The price, one boxed future per call, is nothing next to a network round
//! trip.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "test-util")]
pub mod contract;
mod lock;
mod memory;
pub(crate) mod metered;
#[cfg(feature = "redis")]
mod redis;
pub(crate) mod replay;

pub(crate) use lock::StoreLock;
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::{RedisConfig, RedisStore};

/// One session as a store keeps it: who it belongs to (for the logout indexes) and the
/// session itself, sealed by the crate and opaque to the store.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionRecord {
    /// The provider's name (`oidc.providers.<name>`).
    pub provider: String,
    /// The user's `sub` at that provider.
    pub subject: String,
    /// The provider's session id (the ID token's `sid`), when it sent one.
    pub sid: Option<String>,
    /// The session itself (its tokens, claims and keys), sealed by the crate with
    /// AES-256-GCM under a key derived from `secret_key`, bound to the provider and the
    /// session id: whoever reads the store reads no token, and a record moved to another id
    /// does not open.
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
///
/// Non-exhaustive: a store answers an index kind it does not know with a [`StoreError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
/// delete), plus the two things OpenID Connect needs of it: a compare-and-set for
/// concurrent refreshes, and indexes for back-channel logout.
///
/// Ids are chosen by the crate: 43 characters of base64url. Every session expires after its
/// `ttl`: nothing a store holds lives forever. Methods never panic on a broken backend:
/// they return [`StoreError`], which the crate answers with `503` (never "logged out").
///
/// ```
/// use std::time::Duration;
/// use rocket_oidc_auth::store::{SessionIndex, SessionRecord, SessionStore, StoreError};
///
/// /// A store that keeps nothing (every session ends with its request).
/// #[derive(Debug)]
/// struct Forgetful;
///
/// #[rocket::async_trait]
/// impl SessionStore for Forgetful {
///     async fn load(&self, _id: &str) -> Result<Option<SessionRecord>, StoreError> {
///         Ok(None)
///     }
///     async fn save(&self, _id: &str, _record: &SessionRecord, _ttl: Duration)
///         -> Result<(), StoreError> {
///         Ok(())
///     }
///     async fn replace(&self, _id: &str, _previous: &SessionRecord, _record: &SessionRecord,
///         _ttl: Duration) -> Result<bool, StoreError> {
///         Ok(false)
///     }
///     async fn delete(&self, _id: &str) -> Result<(), StoreError> {
///         Ok(())
///     }
///     async fn delete_by_index(&self, _index: SessionIndex<'_>) -> Result<usize, StoreError> {
///         Ok(0)
///     }
/// }
/// ```
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
    /// `previous` (compare and set, atomic); returns `false`, writing nothing, when it
    /// changed or is gone. This keeps a session that a logout deleted from coming back, and
    /// a refresh's new tokens from being overwritten by a request that read the session
    /// before it. The record names the same provider, subject and sid as `previous`.
    async fn replace(
        &self,
        id: &str,
        previous: &SessionRecord,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Deletes the session `id` (no error when there is none).
    async fn delete(&self, id: &str) -> Result<(), StoreError>;

    /// Deletes every session indexed under `index`; returns how many live sessions were
    /// deleted.
    async fn delete_by_index(&self, index: SessionIndex<'_>) -> Result<usize, StoreError>;

    /// The store's own [`ValueStore`], when it has one: the crate then keeps its
    /// coordination values (refresh locks, replay caches, a registered client) beside the
    /// sessions, seen by every instance that sees them. Without one (the default) they stay
    /// in this process: right for one instance; several instances should return a shared
    /// one, or a rotating refresh token may be spent twice.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use rocket_oidc_auth::store::{
    ///     SessionIndex, SessionRecord, SessionStore, SetMode, StoreError, ValueStore,
    /// };
    ///
    /// #[derive(Debug)]
    /// struct MyStore; // a database client, shared by every instance of the app
    ///
    /// #[rocket::async_trait]
    /// impl SessionStore for MyStore {
    ///     // load, save, replace, delete, delete_by_index as in the trait's example, then:
    ///     fn value_store(self: Arc<Self>) -> Option<Arc<dyn ValueStore>> {
    ///         Some(self)
    ///     }
    /// #   async fn load(&self, _: &str) -> Result<Option<SessionRecord>, StoreError> { Ok(None) }
    /// #   async fn save(&self, _: &str, _: &SessionRecord, _: Duration) -> Result<(), StoreError> { Ok(()) }
    /// #   async fn replace(&self, _: &str, _: &SessionRecord, _: &SessionRecord, _: Duration)
    /// #       -> Result<bool, StoreError> { Ok(false) }
    /// #   async fn delete(&self, _: &str) -> Result<(), StoreError> { Ok(()) }
    /// #   async fn delete_by_index(&self, _: SessionIndex<'_>) -> Result<usize, StoreError> { Ok(0) }
    /// }
    ///
    /// #[rocket::async_trait]
    /// impl ValueStore for MyStore {
    ///     fn is_shared(&self) -> bool {
    ///         true
    ///     }
    /// #   async fn set_value(&self, _: &str, _: &str, _: Duration, _: SetMode)
    /// #       -> Result<bool, StoreError> { Ok(true) }
    /// #   async fn get_value(&self, _: &str) -> Result<Option<String>, StoreError> { Ok(None) }
    /// #   async fn delete_value(&self, _: &str, _: Option<&str>) -> Result<bool, StoreError> { Ok(false) }
    ///     // set_value, get_value, delete_value
    /// }
    /// ```
    fn value_store(self: Arc<Self>) -> Option<Arc<dyn ValueStore>> {
        None
    }
}

/// Whether [`ValueStore::set_value`] overwrites.
///
/// Non-exhaustive: a store answers a mode it does not know with a [`StoreError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetMode {
    /// Always write.
    Always,
    /// Write only if no (unexpired) value is there (Redis `SET NX`).
    IfAbsent,
}

/// Small expiring values the crate coordinates through: marks of ended sessions (cookie
/// sessions), replay caches (logout tokens; DPoP proofs when the store is shared, beside
/// the bounded cache each process keeps), refresh and registration locks, and a
/// dynamically registered client.
///
/// Keys are chosen by the crate: ASCII, no spaces, at most ~200 bytes; values are short
/// text (a registered client's JSON is the longest, a few KB). The store adds its own
/// namespace (a key prefix) and keeps values apart from sessions. Every value expires
/// after its `ttl`. Each method is atomic on its key: two concurrent
/// `set_value(.., SetMode::IfAbsent)` on one key have exactly one winner.
#[rocket::async_trait]
pub trait ValueStore: fmt::Debug + Send + Sync + 'static {
    /// Sets `value` under `key` for `ttl`; with [`SetMode::IfAbsent`] only when no
    /// unexpired value is there. Returns whether it wrote (always `true` with
    /// [`SetMode::Always`]).
    async fn set_value(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
        mode: SetMode,
    ) -> Result<bool, StoreError>;

    /// The value under `key`, unless absent or expired.
    async fn get_value(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Deletes the value under `key`: whatever it is (`only_if: None`), or only when it is
    /// `only_if` (compare and delete, for locks: a holder whose lock expired never removes
    /// the next holder's). Returns whether it deleted a live value.
    async fn delete_value(&self, key: &str, only_if: Option<&str>) -> Result<bool, StoreError>;

    /// Whether every instance of the app sees this same store (Redis: yes; one process's
    /// memory: no). A dynamically registered client is kept in a shared store, so that a
    /// deployment registers once; otherwise it needs `registration_file`. DPoP proofs are
    /// remembered in a shared store too, so that a proof replayed at another instance is
    /// refused: a store every instance sees must say so (a launch warning says when a
    /// handed-in store does not).
    fn is_shared(&self) -> bool {
        false
    }
}

/// A fixed-length key part for values that may hold any character (`scope` is the provider
/// or issuer the value belongs to).
pub(crate) fn digest(scope: &str, value: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0]);
    hasher.update(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&hasher.finalize()[..18])
}
