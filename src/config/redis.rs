//! `[oidc.session.redis]`: how the Redis store reaches Redis. One type, read from Rocket.toml
//! and built in code alike, with one set of defaults and one check.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::defaults;
use super::error::{bail, ConfigError};

/// How the Redis session store reaches Redis: the `[default.oidc.session.redis]` table of
/// Rocket.toml, or the argument of `RedisStore::connect` in code. Both are checked the same
/// way, and a field left out has the same default in both.
///
/// | field | Rocket.toml key | default |
/// |---|---|---|
/// | `url` | `url` | — (set it or `cluster`) |
/// | `cluster` | `cluster` | `[]` |
/// | `key_prefix` | `key_prefix` | `"rocket_oidc:"` |
/// | `connect_timeout` | `connect_timeout_ms` | 2000 ms |
/// | `response_timeout` | `response_timeout_ms` | 1000 ms |
///
/// ```
/// # #[cfg(feature = "redis")] {
/// use rocket_oidc_auth::store::RedisConfig;
///
/// let config = RedisConfig {
///     url: Some("redis://127.0.0.1:6379".into()),
///     ..RedisConfig::default()
/// };
/// assert_eq!(config.key_prefix, "rocket_oidc:");
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(not(feature = "redis"), allow(unreachable_pub))]
pub struct RedisConfig {
    /// The URL of a single Redis server: `redis://[[user]:password@]host[:port][/db]`,
    /// `rediss://…` for TLS, `redis+unix:///path/to/socket`, or the same with `valkey`
    /// (`valkey://`, `valkeys://`, `valkey+unix://`). Set either this or `cluster`, not both.
    pub url: Option<String>,
    /// Some nodes of a Redis Cluster (`redis://host:port` or `rediss://…`; a bare
    /// `host:port` means `redis://host:port`). The client finds the others itself. Every
    /// node must use the same credentials and TLS mode.
    pub cluster: Vec<String>,
    /// Put in front of every key the store writes, so that several applications (or
    /// several deployments) can share one Redis. On a cluster, keep `{` and `}` out of it:
    /// they would make it a hash tag and put every key in one slot.
    pub key_prefix: String,
    /// How long connecting, at launch and at each later reconnection attempt, may take
    /// (`connect_timeout_ms` in Rocket.toml).
    #[serde(rename = "connect_timeout_ms", deserialize_with = "millis")]
    pub connect_timeout: Duration,
    /// How long one command may take before it fails (`response_timeout_ms` in
    /// Rocket.toml).
    #[serde(rename = "response_timeout_ms", deserialize_with = "millis")]
    pub response_timeout: Duration,
}

impl Default for RedisConfig {
    /// No server yet (set `url` or `cluster`), prefix `rocket_oidc:`, 2 s to connect, 1 s
    /// per command: the defaults of Rocket.toml.
    fn default() -> Self {
        RedisConfig {
            url: None,
            cluster: Vec::new(),
            key_prefix: defaults::REDIS_KEY_PREFIX.to_owned(),
            connect_timeout: Duration::from_millis(defaults::REDIS_CONNECT_TIMEOUT_MS),
            response_timeout: Duration::from_millis(defaults::REDIS_RESPONSE_TIMEOUT_MS),
        }
    }
}

fn millis<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_millis)
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field(
                "cluster",
                &self
                    .cluster
                    .iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>(),
            )
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

impl RedisConfig {
    /// Checks the configuration, naming its fields under `key` (`oidc.session.redis` for
    /// Rocket.toml): one of `url` and `cluster`, every URL a Redis URL with a host (or a
    /// socket path), no hash tag in the prefix of a cluster, timeouts above zero. URLs are
    /// never repeated in the error: they may hold a password.
    pub(crate) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        match (&self.url, self.cluster.is_empty()) {
            (Some(_), true) | (None, false) => {}
            (Some(_), false) => bail!(
                key,
                "sets both url and cluster",
                "set either url (one server) or cluster (the nodes of a Redis Cluster), not both"
            ),
            (None, true) => bail!(
                format!("{key}.url"),
                "is missing (no server configured)",
                "url = \"redis://127.0.0.1:6379\" (rediss:// for TLS), or cluster = \
                 [\"redis://node1:7000\", ...]"
            ),
        }
        if let Some(url) = &self.url {
            check_url(&format!("{key}.url"), url, true)?;
        }
        for node in &self.cluster {
            check_url(&format!("{key}.cluster"), &node_url(node), false)?;
        }
        if !self.cluster.is_empty() && self.key_prefix.contains(['{', '}']) {
            bail!(
                format!("{key}.key_prefix"),
                "must not contain { or } on a cluster",
                "it would be a hash tag and put every key on one node; remove them"
            );
        }
        for (name, timeout) in [
            ("connect_timeout_ms", self.connect_timeout),
            ("response_timeout_ms", self.response_timeout),
        ] {
            if timeout.is_zero() {
                bail!(
                    format!("{key}.{name}"),
                    "must be more than zero (milliseconds)",
                    format!("leave it out for the default, or set e.g. {name} = 1000")
                );
            }
        }
        Ok(())
    }

    /// The URLs to connect to, each with its scheme.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn urls(&self) -> Vec<String> {
        match &self.url {
            Some(url) => vec![url.clone()],
            None => self.cluster.iter().map(|node| node_url(node)).collect(),
        }
    }
}

/// A cluster node given as `host:port` becomes `redis://host:port`.
fn node_url(node: &str) -> String {
    if node.contains("://") {
        node.to_owned()
    } else {
        format!("redis://{node}")
    }
}

const TCP_SCHEMES: [&str; 4] = ["redis", "rediss", "valkey", "valkeys"];
const SOCKET_SCHEMES: [&str; 3] = ["redis+unix", "valkey+unix", "unix"];

fn check_url(key: &str, url: &str, socket_allowed: bool) -> Result<(), ConfigError> {
    let parsed = match url::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(e) => bail!(
            key,
            format!("is not a URL ({e})"),
            "write it as redis://host:6379 (rediss:// for TLS)"
        ),
    };
    let scheme = parsed.scheme();
    if TCP_SCHEMES.contains(&scheme) {
        if parsed.host_str().is_none_or(str::is_empty) {
            bail!(
                key,
                "has a Redis URL without a host",
                "a Redis URL must name a host, e.g. redis://127.0.0.1:6379"
            );
        }
        return Ok(());
    }
    if SOCKET_SCHEMES.contains(&scheme) && socket_allowed {
        if parsed.path().len() <= 1 {
            bail!(
                key,
                "has a socket URL without a path",
                "write it as redis+unix:///path/to/redis.sock"
            );
        }
        return Ok(());
    }
    let accepted = if socket_allowed {
        ", or redis+unix:///path/to/socket (valkey://, valkeys:// and valkey+unix:// too)"
    } else {
        " (valkey:// and valkeys:// too; a cluster is reached over TCP)"
    };
    bail!(
        key,
        format!("has an unsupported URL scheme `{scheme}`"),
        format!(
            "a Redis URL must start with redis:// or rediss:// (TLS), e.g. \
             redis://127.0.0.1:6379{accepted}"
        )
    )
}

/// The URL with its password (if any) replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        // Unparseable: it might still hold a secret, so show none of it.
        Err(_) => "<invalid URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use rocket::figment::providers::{Format, Toml};
    use rocket::figment::Figment;

    use super::*;

    /// `[redis]` lines read the way the fairing reads them, then checked.
    fn from_toml(lines: &str) -> Result<RedisConfig, String> {
        let config: RedisConfig = Figment::from(Toml::string(&format!("[redis]\n{lines}")))
            .extract_inner("redis")
            .map_err(|e| e.to_string())?;
        config
            .validate("oidc.session.redis")
            .map_err(|e| e.to_string())?;
        Ok(config)
    }

    fn from_code(config: RedisConfig) -> Result<RedisConfig, String> {
        config
            .validate("oidc.session.redis")
            .map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn rocket_toml_and_code_give_the_same_configuration() {
        let url = "rediss://u:pw@cache.example:6380/2";
        assert_eq!(
            from_toml(&format!("url = {url:?}")).unwrap(),
            from_code(RedisConfig {
                url: Some(url.into()),
                ..RedisConfig::default()
            })
            .unwrap(),
            "the defaults are the same"
        );
        let defaults = from_toml("url = \"redis://h\"").unwrap();
        assert_eq!(defaults.key_prefix, "rocket_oidc:");
        assert_eq!(defaults.connect_timeout, Duration::from_millis(2000));
        assert_eq!(defaults.response_timeout, Duration::from_millis(1000));
        assert_eq!(
            from_toml(
                "cluster = [\"redis://n1:7000\", \"n2:7001\"]\nkey_prefix = \"app:\"\n\
                 connect_timeout_ms = 300\nresponse_timeout_ms = 40"
            )
            .unwrap(),
            from_code(RedisConfig {
                cluster: vec!["redis://n1:7000".into(), "n2:7001".into()],
                key_prefix: "app:".into(),
                connect_timeout: Duration::from_millis(300),
                response_timeout: Duration::from_millis(40),
                ..RedisConfig::default()
            })
            .unwrap(),
            "every key sets its field"
        );
        assert_eq!(
            RedisConfig {
                cluster: vec!["n2:7001".into()],
                ..RedisConfig::default()
            }
            .urls(),
            ["redis://n2:7001"]
        );
    }

    #[test]
    fn rocket_toml_and_code_accept_and_refuse_the_same_urls() {
        let accepted = [
            "redis://127.0.0.1:6379",
            "rediss://u:pw@cache.example:6380/2",
            "valkey://10.0.0.1",
            "valkeys://[::1]:7000",
            "redis+unix:///run/redis.sock",
            "valkey+unix:///run/valkey.sock",
        ];
        let refused = [
            ("http://127.0.0.1:6379", "unsupported URL scheme `http`"),
            ("redis://", "must name a host"),
            ("redis://:pw@", "is not a URL (empty host)"),
            ("not a url, pw", "is not a URL"),
            ("h:1", "unsupported URL scheme `h`"),
            ("redis+unix://", "without a path"),
        ];
        for url in accepted {
            let toml = from_toml(&format!("url = {url:?}"));
            let code = from_code(RedisConfig {
                url: Some(url.into()),
                ..RedisConfig::default()
            });
            assert!(toml.is_ok() && code.is_ok(), "{url}: {toml:?} {code:?}");
        }
        for (url, expected) in refused {
            let toml = from_toml(&format!("url = {url:?}")).unwrap_err();
            let code = from_code(RedisConfig {
                url: Some(url.into()),
                ..RedisConfig::default()
            })
            .unwrap_err();
            assert_eq!(toml, code, "{url}");
            assert!(toml.starts_with("oidc.session.redis.url "), "{toml}");
            assert!(toml.contains(expected), "{url}: {toml}");
            assert!(!toml.contains("pw"), "no password in {toml}");
        }
        // A cluster is reached over TCP.
        let socket = from_toml("cluster = [\"redis+unix:///run/redis.sock\"]").unwrap_err();
        assert!(
            socket.starts_with("oidc.session.redis.cluster has an unsupported URL scheme"),
            "{socket}"
        );
        assert!(from_toml("cluster = [\"::\"]")
            .unwrap_err()
            .starts_with("oidc.session.redis.cluster is not a URL"));
    }

    #[test]
    fn both_paths_refuse_the_same_settings() {
        let cases: &[(&str, RedisConfig, &str)] = &[
            (
                "url = \"redis://a:1\"\ncluster = [\"redis://b:2\"]",
                RedisConfig {
                    url: Some("redis://a:1".into()),
                    cluster: vec!["redis://b:2".into()],
                    ..RedisConfig::default()
                },
                "oidc.session.redis sets both url and cluster: set either url (one server) or \
                 cluster",
            ),
            (
                "key_prefix = \"x\"",
                RedisConfig {
                    key_prefix: "x".into(),
                    ..RedisConfig::default()
                },
                "oidc.session.redis.url is missing (no server configured)",
            ),
            (
                "cluster = [\"redis://b:2\"]\nkey_prefix = \"{app}:\"",
                RedisConfig {
                    cluster: vec!["redis://b:2".into()],
                    key_prefix: "{app}:".into(),
                    ..RedisConfig::default()
                },
                "oidc.session.redis.key_prefix must not contain { or } on a cluster",
            ),
            (
                "url = \"redis://a:1\"\nresponse_timeout_ms = 0",
                RedisConfig {
                    url: Some("redis://a:1".into()),
                    response_timeout: Duration::ZERO,
                    ..RedisConfig::default()
                },
                "oidc.session.redis.response_timeout_ms must be more than zero (milliseconds)",
            ),
            (
                "url = \"redis://a:1\"\nconnect_timeout_ms = 0",
                RedisConfig {
                    url: Some("redis://a:1".into()),
                    connect_timeout: Duration::ZERO,
                    ..RedisConfig::default()
                },
                "oidc.session.redis.connect_timeout_ms must be more than zero (milliseconds)",
            ),
        ];
        for (lines, code, expected) in cases {
            let toml = from_toml(lines).unwrap_err();
            assert_eq!(toml, from_code(code.clone()).unwrap_err(), "{lines}");
            assert!(toml.starts_with(expected), "{lines}: {toml}");
        }
        // A hash tag is harmless on one server.
        assert!(from_toml("url = \"redis://a:1\"\nkey_prefix = \"{app}:\"").is_ok());
    }

    #[test]
    fn passwords_stay_out_of_debug() {
        assert_eq!(
            redact_url("rediss://user:s3cret@cache.example:6380/2"),
            "rediss://user:***@cache.example:6380/2"
        );
        assert_eq!(redact_url("redis://:s3cret@h/"), "redis://:***@h/");
        assert_eq!(redact_url("not a url s3cret"), "<invalid URL>");
        let config = RedisConfig {
            url: Some("redis://:s3cret@h:1/".into()),
            cluster: vec!["redis://u:pw2@n1:7000".into()],
            ..RedisConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("pw2"),
            "{shown}"
        );
    }
}
