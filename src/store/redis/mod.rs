//! A [`SessionStore`] kept in Redis: a single server (or a managed endpoint) through one
//! self-reconnecting multiplexed connection, or a Redis Cluster through the async cluster
//! client. TLS (`rediss://`) goes through rustls.
//!
//! Key layout, under the configured prefix `P` (all keys expire):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P s:{id}` | string | the session, as compact JSON `{"p":…,"u":…,"s":…,"d":…}` (`d` sealed by the crate: AES-256-GCM, bound to the id) |
//! | `P x:{b64(provider)}:{b64(sid)}` | sorted set | the ids of that provider session's sessions |
//! | `P u:{b64(provider)}:{b64(sub)}` | sorted set | the ids of that user's sessions |
//! | `P v:{key}` | string | a small value |
//!
//! (`P s:` means the prefix followed directly by `s:`; `b64` is unpadded base64url of the
//! raw bytes, so a `:` inside a provider name, sid or sub can't make two keys collide.)
//!
//! An index scores each id by its session's expiry time and lives at least as long as its
//! longest session (`PEXPIRE … NX`, then `PEXPIRE … GT`). Each save into an index also
//! drops the ids whose sessions expired long ago, so the index of a user who logs in
//! every day (and so never lets it expire) stays as small as their live sessions.
//!
//! Every command names exactly one key, so the store works unchanged on Redis Cluster; the
//! only multi-command request (adding to an index, pruning it, extending its TTL) is a
//! `MULTI`/`EXEC` transaction on that single key. It needs Redis 7.0 or newer
//! (`PEXPIRE … NX|GT`, `ZADD … GT`, `GETDEL`), which [`RedisStore::connect`] checks.

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rocket::async_trait;
use rocket::futures::future::{join, try_join, try_join_all};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::{SessionIndex, SessionRecord, SessionStore, SetMode, StoreError, ValueStore};
pub use crate::config::RedisConfig;

mod connection;

use connection::{Conn, Req, Retry};

/// A [`SessionStore`] backed by Redis or Redis Cluster. Cheap to share: every method takes
/// `&self`, and commands from many requests are multiplexed over the store's connections.
///
/// When a connection breaks the store reconnects by itself in the background; meanwhile
/// each command fails with a [`StoreError`] after at most the configured `response_timeout`.
pub struct RedisStore {
    conn: Conn,
    prefix: String,
    /// `host:port` of each configured node (no user name, no password), for `Debug` and
    /// error messages.
    nodes: Vec<String>,
    tls: bool,
    response_timeout: Duration,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field(
                "mode",
                &match self.conn {
                    Conn::Single(_) => "standalone",
                    Conn::Cluster(_) => "cluster",
                },
            )
            .field("nodes", &self.nodes)
            .field("tls", &self.tls)
            .field("prefix", &self.prefix)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

/// The session as stored: short field names keep the JSON compact.
#[derive(Serialize)]
struct StoredRef<'a> {
    p: &'a str,
    u: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'a str>,
    d: &'a str,
}

#[derive(Deserialize)]
struct Stored {
    p: String,
    u: String,
    #[serde(default)]
    s: Option<String>,
    d: String,
}

/// An index outlives the sessions in it by this much, so that the session written a few
/// milliseconds after its index never outlives it.
const INDEX_TTL_SLACK: Duration = Duration::from_secs(5);

/// An index drops an id once its session has been expired this long (by this machine's
/// clock, which ID token validation already needs to be right): the margin covers clock
/// differences between application servers and Redis nodes.
const PRUNE_MARGIN: Duration = Duration::from_secs(600);

/// How many session keys `delete_by_index` deletes concurrently (and takes out of the
/// index with one `ZREM`).
const DELETE_BATCH: usize = 64;

/// Longest TTL sent to Redis (about 100 years): `PX` overflows past ~292 million years.
const MAX_TTL_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

impl RedisStore {
    fn session_key(&self, id: &str) -> String {
        format!("{}s:{id}", self.prefix)
    }

    fn value_key(&self, key: &str) -> String {
        format!("{}v:{key}", self.prefix)
    }

    pub(crate) fn index_key(&self, index: SessionIndex<'_>) -> String {
        let (kind, provider, name) = match index {
            SessionIndex::Sid { provider, sid } => ('x', provider, sid),
            SessionIndex::Subject { provider, subject } => ('u', provider, subject),
        };
        format!(
            "{}{kind}:{}:{}",
            self.prefix,
            URL_SAFE_NO_PAD.encode(provider),
            URL_SAFE_NO_PAD.encode(name)
        )
    }

    /// Adds `id` to the index `key` (a sorted set scored by each session's expiry, in ms
    /// since the Unix epoch by this machine's clock), drops the ids whose sessions expired
    /// more than [`PRUNE_MARGIN`] ago, and makes the index live at least `ttl_ms` from now:
    /// all in one transaction on one key, so no index is ever left without a TTL.
    async fn index_add(&self, key: &str, id: &str, ttl_ms: u64) -> Result<(), StoreError> {
        let now = unix_ms();
        let expires = now.saturating_add(ttl_ms);
        let stale = now.saturating_sub(ttl_ms_exact(PRUNE_MARGIN));
        let mut pipe = redis::pipe();
        pipe.atomic()
            // GT: a concurrent save with a shorter TTL never lowers an id's score.
            .cmd("ZADD")
            .arg(key)
            .arg("GT")
            .arg(expires)
            .arg(id)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(key)
            .arg("-inf")
            .arg(format!("({stale}"))
            .ignore()
            .cmd("PEXPIRE")
            .arg(key)
            .arg(ttl_ms)
            .arg("NX")
            .ignore()
            .cmd("PEXPIRE")
            .arg(key)
            .arg(ttl_ms)
            .arg("GT")
            .ignore();
        self.exec::<()>("ZADD+PEXPIRE", Req::Pipe(&pipe), Retry::Idempotent)
            .await
    }

    async fn index_remove(&self, key: &str, id: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(key).arg(id);
        self.exec::<i64>("ZREM", Req::Cmd(&cmd), Retry::Idempotent)
            .await
            .map(drop)
    }

    /// Adds `id` to `record`'s indexes (by `sub`, and by `sid` when it has one), each
    /// kept at least as long as a session living `ttl_ms`; returns their keys.
    async fn index_record(
        &self,
        id: &str,
        record: &SessionRecord,
        ttl_ms: u64,
    ) -> Result<(String, Option<String>), StoreError> {
        let index_ttl_ms = ttl_ms
            .saturating_add(ttl_ms_exact(INDEX_TTL_SLACK))
            .min(MAX_TTL_MS);
        let (sub_key, sid_key) = self.record_keys(record);
        let sid_add = async {
            match &sid_key {
                Some(key) => self.index_add(key, id, index_ttl_ms).await,
                None => Ok(()),
            }
        };
        try_join(self.index_add(&sub_key, id, index_ttl_ms), sid_add).await?;
        Ok((sub_key, sid_key))
    }

    fn record_keys(&self, record: &SessionRecord) -> (String, Option<String>) {
        let sub = self.index_key(SessionIndex::Subject {
            provider: &record.provider,
            subject: &record.subject,
        });
        let sid = record.sid.as_deref().map(|sid| {
            self.index_key(SessionIndex::Sid {
                provider: &record.provider,
                sid,
            })
        });
        (sub, sid)
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn load(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.session_key(id));
        let raw: Option<String> = self.exec("GET", Req::Cmd(&cmd), Retry::Idempotent).await?;
        raw.map(|raw| self.decode(&raw)).transpose()
    }

    async fn save(
        &self,
        id: &str,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let ttl_ms = ttl_ms(ttl);
        // Indexes first: a session that is stored is always findable by a back-channel
        // logout. (If the session write then fails, the index just names a missing id.)
        let (sub_key, sid_key) = self.index_record(id, record, ttl_ms).await?;

        let json = self.encode(record)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.session_key(id))
            .arg(json)
            .arg("PX")
            .arg(ttl_ms)
            .arg("GET");
        let replaced: Option<String> = self.exec("SET", Req::Cmd(&cmd), Retry::Idempotent).await?;
        // A session saved over another of other owners leaves their indexes.
        if let Some(old) = replaced.and_then(|raw| self.decode(&raw).ok()) {
            let (old_sub, old_sid) = self.record_keys(&old);
            let stale = [Some(old_sub), old_sid]
                .into_iter()
                .flatten()
                .filter(|key| *key != sub_key && Some(key) != sid_key.as_ref());
            for key in stale {
                if let Err(e) = self.index_remove(&key, id).await {
                    log::warn!("oidc: a re-saved session stays in an old index: {e}");
                }
            }
        }
        Ok(())
    }

    async fn replace(
        &self,
        id: &str,
        previous: &SessionRecord,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let ttl_ms = ttl_ms(ttl);
        let expected = self.encode(previous)?;
        let json = self.encode(record)?;
        // Compare and set on one key (so it runs unchanged on a cluster).
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then \
             redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end",
        )
        .arg(1)
        .arg(self.session_key(id))
        .arg(expected)
        .arg(json)
        .arg(ttl_ms);
        // Not idempotent: a second run would compare against its own write.
        let replaced: i64 = self
            .exec("EVAL (replace)", Req::Cmd(&cmd), Retry::IfNotSent)
            .await?;
        if replaced != 1 {
            return Ok(false);
        }
        // The id is in its indexes since `save`; they must now outlive its new expiry. A
        // failure here leaves them expiring a little early (logged), not a lost session.
        if let Err(e) = self.index_record(id, record, ttl_ms).await {
            log::warn!("oidc: a replaced session's index expiry was not extended: {e}");
        }
        Ok(true)
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.session_key(id));
        let raw: Option<String> = self
            .exec("GETDEL", Req::Cmd(&cmd), Retry::Idempotent)
            .await?;
        // The session is gone; taking its id out of the indexes only keeps them small.
        let Some(record) = raw.and_then(|raw| self.decode(&raw).ok()) else {
            return Ok(());
        };
        let (sub_key, sid_key) = self.record_keys(&record);
        let sid_remove = async {
            match &sid_key {
                Some(key) => self.index_remove(key, id).await,
                None => Ok(()),
            }
        };
        let (a, b) = join(self.index_remove(&sub_key, id), sid_remove).await;
        if let Err(e) = a.and(b) {
            log::warn!("session deleted, but its index entries were not: {e}");
        }
        Ok(())
    }

    async fn delete_by_index(&self, index: SessionIndex<'_>) -> Result<usize, StoreError> {
        let key = self.index_key(index);
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(&key).arg(0).arg(-1);
        let ids: Vec<String> = self
            .exec("ZRANGE", Req::Cmd(&cmd), Retry::Idempotent)
            .await?;
        let mut deleted = 0usize;
        for batch in ids.chunks(DELETE_BATCH) {
            let dels = batch.iter().map(|id| async move {
                let mut cmd = redis::cmd("DEL");
                cmd.arg(self.session_key(id));
                self.exec::<usize>("DEL", Req::Cmd(&cmd), Retry::Idempotent)
                    .await
            });
            let counts = try_join_all(dels).await?;
            deleted += counts.iter().sum::<usize>();
        }
        // Take out only the ids read above (an index left empty disappears): a session
        // indexed meanwhile, by a login racing this logout, stays findable.
        for batch in ids.chunks(DELETE_BATCH) {
            let mut cmd = redis::cmd("ZREM");
            cmd.arg(&key).arg(batch);
            self.exec::<usize>("ZREM", Req::Cmd(&cmd), Retry::Idempotent)
                .await?;
        }
        Ok(deleted)
    }

    fn value_store(self: Arc<Self>) -> Option<Arc<dyn ValueStore>> {
        Some(self)
    }
}

#[async_trait]
impl ValueStore for RedisStore {
    fn is_shared(&self) -> bool {
        true
    }

    async fn set_value(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
        mode: SetMode,
    ) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.value_key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_ms(ttl));
        let retry = match mode {
            SetMode::Always => Retry::Idempotent,
            SetMode::IfAbsent => {
                cmd.arg("NX");
                // A second `SET NX` after a lost answer could report "not written" for our
                // own write: only resend when the first never left.
                Retry::IfNotSent
            }
        };
        let reply: Option<String> = self.exec("SET", Req::Cmd(&cmd), retry).await?;
        Ok(reply.is_some())
    }

    async fn get_value(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.value_key(key));
        self.exec("GET", Req::Cmd(&cmd), Retry::Idempotent).await
    }

    async fn delete_value(&self, key: &str, only_if: Option<&str>) -> Result<bool, StoreError> {
        let Some(value) = only_if else {
            let mut cmd = redis::cmd("DEL");
            cmd.arg(self.value_key(key));
            // Sent once: a resent `DEL` after a lost answer would report "nothing deleted"
            // for its own deletion.
            let deleted: usize = self.exec("DEL", Req::Cmd(&cmd), Retry::IfNotSent).await?;
            return Ok(deleted == 1);
        };
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then \
             return redis.call('DEL', KEYS[1]) else return 0 end",
        )
        .arg(1)
        .arg(self.value_key(key))
        .arg(value);
        // Running it twice deletes nothing more.
        let deleted: i64 = self
            .exec(
                "EVAL (compare and delete)",
                Req::Cmd(&cmd),
                Retry::Idempotent,
            )
            .await?;
        Ok(deleted == 1)
    }
}

impl RedisStore {
    /// The stored form of `record`: always the same text for the same record, which
    /// `replace` compares.
    fn encode(&self, record: &SessionRecord) -> Result<String, StoreError> {
        serde_json::to_string(&StoredRef {
            p: &record.provider,
            u: &record.subject,
            s: record.sid.as_deref(),
            d: &record.data,
        })
        .map_err(|e| StoreError::new("could not encode a session", Some(Box::new(e))))
    }

    fn decode(&self, raw: &str) -> Result<SessionRecord, StoreError> {
        let s: Stored = serde_json::from_str(raw).map_err(|e| {
            StoreError::new(
                format!(
                    "Redis at {} holds a session this store can't read",
                    self.nodes.join(", ")
                ),
                Some(Box::new(e)),
            )
        })?;
        Ok(SessionRecord {
            provider: s.p,
            subject: s.u,
            sid: s.s,
            data: s.d,
        })
    }
}

/// Now, in milliseconds since the Unix epoch (0 if the clock is before it).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, ttl_ms_exact)
}

/// A TTL in whole milliseconds for `PX`/`PEXPIRE`: at least 1 (Redis rejects 0), at most
/// [`MAX_TTL_MS`].
fn ttl_ms(ttl: Duration) -> u64 {
    ttl_ms_exact(ttl).clamp(1, MAX_TTL_MS)
}

fn ttl_ms_exact(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls() {
        assert_eq!(ttl_ms(Duration::ZERO), 1);
        assert_eq!(ttl_ms(Duration::from_micros(1500)), 1);
        assert_eq!(ttl_ms(Duration::from_secs(2)), 2000);
        assert_eq!(ttl_ms(Duration::MAX), MAX_TTL_MS);
    }
}
