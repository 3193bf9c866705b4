//! A [`SessionStore`] kept in Redis: a single server (or a managed endpoint) through one
//! self-reconnecting multiplexed connection, or a Redis Cluster through the async cluster
//! client. TLS (`rediss://`) goes through rustls.
//!
//! Key layout, under the configured prefix `P` (all keys expire):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P s:{id}` | string | the session, as compact JSON `{"p":…,"u":…,"s":…,"d":…}` |
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
use std::future::Future;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisError};
use rocket::async_trait;
use rocket::futures::future::{join, try_join, try_join_all};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::{SessionIndex, SessionRecord, SessionStore, SetMode, StoreError, ValueStore};
pub use crate::config::RedisConfig;

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

#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// One request: a command or a single-key transaction.
#[derive(Clone, Copy)]
enum Req<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
}

/// Whether a request may be sent again when its connection broke before an answer came
/// (it might have run already).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Running it twice does what running it once does.
    Idempotent,
    /// Only when it certainly never reached the server (the connection was refused).
    IfNotSent,
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
    /// Connects to Redis as `config` says and checks that the server is usable (answers,
    /// accepts the credentials, is Redis 7.0 or newer).
    ///
    /// Fails, after at most `config.connect_timeout`, when Redis can't be reached at
    /// startup; the error names the host and what to check. Once connected, the store
    /// rides out later outages by itself: commands fail (within `response_timeout`) while
    /// Redis is away, and succeed again about a second after it is back.
    pub async fn connect(config: &RedisConfig) -> Result<RedisStore, StoreError> {
        // The same check as `[oidc.session.redis]` in Rocket.toml passes.
        config
            .validate("RedisConfig")
            .map_err(|e| StoreError::new(format!("Redis session store: {e}"), None))?;
        let urls = config.urls();
        let what = if config.url.is_some() {
            "url"
        } else {
            "cluster"
        };
        let mut nodes = Vec::with_capacity(urls.len());
        let mut tls = false;
        for url in &urls {
            let (node, node_tls) = describe_url(url).map_err(|e| {
                StoreError::new(format!("Redis session store: invalid `{what}`: {e}"), None)
            })?;
            nodes.push(node);
            tls |= node_tls;
        }
        if tls {
            ensure_crypto_provider();
        }
        let shown = nodes.join(", ");
        let deadline = tokio::time::Instant::now() + config.connect_timeout;
        let conn = if what == "url" {
            connect_single(&urls[0], config, deadline).await
        } else {
            connect_cluster(&urls, config, deadline).await
        }
        .map_err(|(e, during)| connect_error(&shown, what, during, config.connect_timeout, e))?;

        let store = RedisStore {
            conn,
            prefix: config.key_prefix.clone(),
            nodes,
            tls,
            response_timeout: config.response_timeout,
        };
        store.check_server(what).await?;
        Ok(store)
    }

    /// Checks that the server understands `PEXPIRE … NX` (Redis ≥ 7.0), on a key that
    /// doesn't exist, so nothing changes.
    async fn check_server(&self, what: &str) -> Result<(), StoreError> {
        let key = format!("{}probe", self.prefix);
        let mut cmd = redis::cmd("PEXPIRE");
        cmd.arg(&key).arg(1).arg("NX");
        let nodes = self.nodes.join(", ");
        match self
            .run::<i64>("check", Req::Cmd(&cmd), Retry::Idempotent)
            .await
        {
            Ok(_) => Ok(()),
            Err(Failure::Redis(e))
                if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) =>
            {
                let message = format!(
                    "Redis at {nodes} rejected `PEXPIRE key ms NX` ({e}): the session store \
                     needs Redis 7.0 or newer (or a compatible server, such as Valkey)"
                );
                Err(StoreError::new(message, Some(Box::new(e))))
            }
            Err(f) => Err(connect_error(
                &nodes,
                what,
                "sending the first command",
                self.response_timeout,
                f,
            )),
        }
    }

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

    /// Sends `req`, bounded by the response timeout; sends it once more (within the same
    /// time) when the connection had broken and `retry` allows it, since the connection
    /// manager has then started reconnecting.
    async fn run<T: FromRedisValue>(
        &self,
        op: &'static str,
        req: Req<'_>,
        retry: Retry,
    ) -> Result<T, Failure> {
        let attempts = async {
            let first = self.send::<T>(req).await;
            match first {
                Err(e) if may_retry(&e, retry) => self.send::<T>(req).await,
                other => other,
            }
        };
        match tokio::time::timeout(self.response_timeout, attempts).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Failure::Redis(e)),
            Err(_) => Err(Failure::Timeout(op)),
        }
    }

    async fn send<T: FromRedisValue>(&self, req: Req<'_>) -> Result<T, RedisError> {
        match &self.conn {
            Conn::Single(c) => query(req, &mut c.clone()).await,
            Conn::Cluster(c) => query(req, &mut c.clone()).await,
        }
    }

    /// [`Self::run`], with failures turned into `StoreError`s.
    async fn exec<T: FromRedisValue>(
        &self,
        op: &'static str,
        req: Req<'_>,
        retry: Retry,
    ) -> Result<T, StoreError> {
        self.run(op, req, retry)
            .await
            .map_err(|f| self.store_error(op, f))
    }

    fn store_error(&self, op: &str, failure: Failure) -> StoreError {
        let at = self.nodes.join(", ");
        match failure {
            Failure::Timeout(_) => StoreError::new(
                format!(
                    "Redis at {at} did not answer `{op}` within {:?}",
                    self.response_timeout
                ),
                None,
            ),
            // The client's own timer (set to the same duration) may fire first.
            Failure::Redis(e) if e.is_timeout() => StoreError::new(
                format!(
                    "Redis at {at} did not answer `{op}` within {:?}",
                    self.response_timeout
                ),
                Some(Box::new(e)),
            ),
            Failure::Redis(e) => StoreError::new(
                format!("Redis at {at}: `{op}` failed: {e}"),
                Some(Box::new(e)),
            ),
        }
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
            let deleted: usize = self.exec("DEL", Req::Cmd(&cmd), Retry::Idempotent).await?;
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

/// Why a request failed.
enum Failure {
    Redis(RedisError),
    Timeout(&'static str),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Redis(e) => e.fmt(f),
            Failure::Timeout(op) => write!(f, "no answer to `{op}`"),
        }
    }
}

async fn query<T: FromRedisValue>(
    req: Req<'_>,
    conn: &mut impl redis::aio::ConnectionLike,
) -> Result<T, RedisError> {
    match req {
        Req::Cmd(cmd) => cmd.query_async(conn).await,
        Req::Pipe(pipe) => pipe.query_async(conn).await,
    }
}

fn may_retry(e: &RedisError, retry: Retry) -> bool {
    e.is_connection_refusal() || (retry == Retry::Idempotent && e.is_connection_dropped())
}

/// The connection to one server: a `ConnectionManager` (one multiplexed connection that
/// is replaced in the background when it breaks). A first, plain connection tells apart
/// "refused", "wrong password", "no such host"…, which the manager's retries would hide
/// behind a timeout.
async fn connect_single(
    url: &str,
    config: &RedisConfig,
    deadline: tokio::time::Instant,
) -> Result<Conn, (Failure, &'static str)> {
    let client = redis::Client::open(url).map_err(|e| (Failure::Redis(e), "parsing the URL"))?;
    let probe_config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.response_timeout));
    within(
        deadline,
        "connecting",
        client.get_multiplexed_async_connection_with_config(&probe_config),
    )
    .await?;
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.response_timeout))
        // Reconnection attempts back off from 50 ms to at most 250 ms (plus up to 100%
        // jitter), so a server that comes back is found again within half a second. After
        // the last of 12 retries (3 to 5 s), the next command starts a new round at once.
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(250))
        .set_exponent_base(2.0)
        .set_number_of_retries(12);
    let manager = within(
        deadline,
        "connecting",
        ConnectionManager::new_with_config(client, manager_config),
    )
    .await?;
    Ok(Conn::Single(manager))
}

/// The connection to a cluster: the async cluster client, which keeps one connection per
/// node, follows `MOVED`/`ASK`, refreshes the slot map and reconnects nodes by itself.
async fn connect_cluster(
    urls: &[String],
    config: &RedisConfig,
    deadline: tokio::time::Instant,
) -> Result<Conn, (Failure, &'static str)> {
    let client = ClusterClientBuilder::new(urls.iter().map(String::as_str))
        .connection_timeout(config.connect_timeout)
        .response_timeout(config.response_timeout)
        .overall_response_timeout(Some(config.response_timeout))
        // Retries (after a MOVED, a failover, a broken connection) come quickly; the
        // overall timeout above bounds them all.
        .retries(8)
        .min_retry_wait(5)
        .max_retry_wait(200)
        .build()
        .map_err(|e| (Failure::Redis(e), "reading the node URLs"))?;
    let conn = within(deadline, "connecting", client.get_async_connection()).await?;
    Ok(Conn::Cluster(conn))
}

async fn within<T>(
    deadline: tokio::time::Instant,
    during: &'static str,
    fut: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, (Failure, &'static str)> {
    match tokio::time::timeout_at(deadline, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err((Failure::Redis(e), during)),
        Err(_) => Err((Failure::Timeout("connect"), during)),
    }
}

fn connect_error(
    nodes: &str,
    what: &str,
    during: &str,
    timeout: Duration,
    failure: Failure,
) -> StoreError {
    let hint = format!(
        "check that Redis is running and reachable there, and the session store's `{what}` setting"
    );
    match failure {
        Failure::Timeout(_) => StoreError::new(
            format!("cannot connect to Redis at {nodes}: no answer within {timeout:?} while {during}; {hint}"),
            None,
        ),
        Failure::Redis(e) if e.is_timeout() => StoreError::new(
            format!("cannot connect to Redis at {nodes}: no answer within {timeout:?} while {during}; {hint}"),
            Some(Box::new(e)),
        ),
        Failure::Redis(e) => {
            let extra = match e.kind() {
                redis::ErrorKind::AuthenticationFailed => " (user name and password in the URL)",
                redis::ErrorKind::InvalidClientConfig => " (its form)",
                _ => "",
            };
            StoreError::new(
                format!("cannot connect to Redis at {nodes}: {e} (while {during}); {hint}{extra}"),
                Some(Box::new(e)),
            )
        }
    }
}

/// `host:port` (or `unix:/path`) of a Redis URL, and whether it uses TLS: no user name
/// or password, so it can be logged.
fn describe_url(url: &str) -> Result<(String, bool), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    let tls = matches!(parsed.scheme(), "rediss" | "valkeys");
    match parsed.scheme() {
        "redis" | "rediss" | "valkey" | "valkeys" => {
            let host = parsed
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| "the URL names no host".to_owned())?;
            Ok((format!("{host}:{}", parsed.port().unwrap_or(6379)), tls))
        }
        "unix" | "redis+unix" | "valkey+unix" => Ok((format!("unix:{}", parsed.path()), false)),
        other => Err(format!(
            "unsupported URL scheme `{other}` (use redis://, rediss:// or redis+unix://)"
        )),
    }
}

/// rustls needs a process-wide crypto provider when more than one is compiled in (with
/// exactly one, it would install that one itself on first use). Install *ring* unless the
/// application already chose one, so that a TLS connection made in a background
/// reconnection task can't panic.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: some provider is then installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
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
    fn describes_urls() {
        assert_eq!(
            describe_url("rediss://u:p@cache.example:6380/0").unwrap(),
            ("cache.example:6380".to_owned(), true)
        );
        assert_eq!(
            describe_url("redis://10.0.0.1").unwrap(),
            ("10.0.0.1:6379".to_owned(), false)
        );
        assert_eq!(
            describe_url("redis://[::1]:7000").unwrap(),
            ("[::1]:7000".to_owned(), false)
        );
        assert_eq!(
            describe_url("redis+unix:///run/redis.sock").unwrap(),
            ("unix:/run/redis.sock".to_owned(), false)
        );
        assert!(describe_url("http://h").is_err());
        assert!(describe_url("h:1").is_err());
    }

    #[test]
    fn ttls() {
        assert_eq!(ttl_ms(Duration::ZERO), 1);
        assert_eq!(ttl_ms(Duration::from_micros(1500)), 1);
        assert_eq!(ttl_ms(Duration::from_secs(2)), 2000);
        assert_eq!(ttl_ms(Duration::MAX), MAX_TTL_MS);
    }
}
