//! How the Redis store reaches Redis: one self-reconnecting multiplexed connection to a
//! server, or the async cluster client; every request bounded by the response timeout and
//! sent once more only when that is safe; connection errors that name the host and what to
//! check, never a password.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisError};

use super::{RedisConfig, RedisStore};
use crate::store::StoreError;

#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// One request: a command or a single-key transaction.
#[derive(Clone, Copy)]
pub(super) enum Req<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
}

/// Whether a request may be sent again when its connection broke before an answer came
/// (it might have run already).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Running it twice does what running it once does.
    Idempotent,
    /// Only when it certainly never reached the server (the connection was refused).
    IfNotSent,
}

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
    pub(super) async fn exec<T: FromRedisValue>(
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
///
/// rustls 0.23.48 deprecates `ring::default_provider` because *ring* has no post-quantum key
/// exchange; the crate is built on *ring* throughout, and rustls itself still installs it
/// this way. An app that wants post-quantum TLS to Redis installs aws-lc-rs's provider
/// before launch, and this leaves it in place.
#[allow(deprecated)]
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: some provider is then installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
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
}
