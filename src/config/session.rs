//! `[oidc.session]`: where sessions live (the sealed cookie, this process's memory, or
//! Redis) and how much the memory store holds.

use serde::Deserialize;

use super::defaults;
use super::error::{bail, ConfigError};
use super::redis::RedisConfig;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSession {
    store: Option<String>,
    #[serde(default)]
    memory: RawMemory,
    redis: Option<RedisConfig>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMemory {
    capacity: Option<usize>,
    sessions_per_subject: Option<usize>,
}

/// `[oidc.session.memory]`: how much the memory store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemoryConfig {
    /// Most entries (sessions and values together).
    pub(crate) capacity: usize,
    /// Most sessions of one user (provider and `sub`).
    pub(crate) sessions_per_subject: usize,
}

/// `[oidc.session]`: where sessions live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreConfig {
    /// In the browser's sealed cookie (the default); the marks of ended sessions in this
    /// process (at most `capacity`), or in Redis when `shared` is set.
    Cookie {
        capacity: usize,
        shared: Option<RedisConfig>,
    },
    /// In this process.
    Memory(MemoryConfig),
    /// In Redis.
    Redis(RedisConfig),
}

const KEY: &str = "oidc.session";

pub(super) fn validate_store(raw: RawSession) -> Result<StoreConfig, ConfigError> {
    let store = raw.store.as_deref().unwrap_or(defaults::SESSION_STORE);
    let capacity = raw.memory.capacity.unwrap_or(defaults::MEMORY_CAPACITY);
    match (store, raw.redis) {
        ("cookie", redis) => Ok(StoreConfig::Cookie {
            capacity,
            shared: redis.map(validate_redis).transpose()?,
        }),
        ("memory", None) => Ok(StoreConfig::Memory(MemoryConfig {
            capacity,
            sessions_per_subject: match raw.memory.sessions_per_subject {
                Some(0) => bail!(
                    format!("{KEY}.memory.sessions_per_subject"),
                    "= 0 would end every session as it starts",
                    "raise it (a user's browsers and devices), or remove it for the default"
                ),
                other => other.unwrap_or(defaults::MEMORY_SESSIONS_PER_SUBJECT),
            },
        })),
        ("memory", Some(_)) => bail!(
            format!("{KEY}.redis"),
            "is set but oidc.session.store = \"memory\" does not use it",
            "set store = \"redis\", or remove the table"
        ),
        ("redis", None) => bail!(
            format!("{KEY}.store"),
            "= \"redis\" needs a [default.oidc.session.redis] table",
            "add one with url = \"redis://host:6379\" (or cluster = [...])"
        ),
        ("redis", Some(redis)) => Ok(StoreConfig::Redis(validate_redis(redis)?)),
        (other, _) => bail!(
            format!("{KEY}.store"),
            format!("= {other:?} is not a store"),
            "use \"cookie\" (the default), \"memory\" or \"redis\""
        ),
    }
}

fn validate_redis(redis: RedisConfig) -> Result<RedisConfig, ConfigError> {
    if !cfg!(feature = "redis") {
        bail!(
            format!("{KEY}.redis"),
            "needs the crate's `redis` feature",
            "rocket_oidc_auth = { version = \"0.1\", features = [\"redis\"] } in Cargo.toml \
             (or cargo run --features redis)"
        );
    }
    redis.validate(&format!("{KEY}.redis"))?;
    Ok(redis)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{config, toml_with, GOOD};
    use super::*;

    fn store(lines: &str) -> Result<StoreConfig, String> {
        config(&toml_with(&format!("[oidc.session]\n{lines}"), ""))
            .map(|config| config.store)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_cookie_store_is_the_default() {
        assert_eq!(
            config(GOOD).unwrap().store,
            StoreConfig::Cookie {
                capacity: 100_000,
                shared: None
            }
        );
        assert_eq!(
            store("store = \"memory\"\nmemory = { capacity = 500 }").unwrap(),
            StoreConfig::Memory(MemoryConfig {
                capacity: 500,
                sessions_per_subject: 16
            })
        );
        assert_eq!(
            store("store = \"memory\"\nmemory = { sessions_per_subject = 3 }").unwrap(),
            StoreConfig::Memory(MemoryConfig {
                capacity: 100_000,
                sessions_per_subject: 3
            })
        );
    }

    #[test]
    fn names_each_store_mistake_and_its_fix() {
        let cases: &[(&str, &str)] = &[
            (
                "store = \"disk\"",
                "oidc.session.store = \"disk\" is not a store: use \"cookie\"",
            ),
            (
                "store = \"redis\"",
                "oidc.session.store = \"redis\" needs a [default.oidc.session.redis] table",
            ),
            (
                "store = \"memory\"\n[oidc.session.redis]\nurl = \"redis://127.0.0.1\"",
                "oidc.session.redis is set but oidc.session.store = \"memory\" does not use it",
            ),
            (
                "store = \"memory\"\nmemory = { sessions_per_subject = 0 }",
                "oidc.session.memory.sessions_per_subject = 0 would end every session",
            ),
            (
                "colour = \"blue\"",
                "oidc.session.colour is not a known key",
            ),
        ];
        for (lines, expected) in cases {
            let err = store(lines).expect_err(lines);
            assert!(err.starts_with(expected), "{lines}: {err}");
        }
    }

    #[test]
    fn a_redis_table_is_checked_as_in_code() {
        let redis_cases: &[(&str, &str)] = &[
            (
                "url = \"http://127.0.0.1:6379\"",
                "must start with redis:// or rediss://",
            ),
            ("url = \"redis://\"", "must name a host"),
            (
                "url = \"redis://a:1\"\ncluster = [\"redis://b:2\"]",
                "set either url (one server) or cluster",
            ),
            ("key_prefix = \"x\"", "oidc.session.redis.url is missing"),
            (
                "url = \"redis://a:1\"\nresponse_timeout_ms = 0",
                "must be more than zero (milliseconds)",
            ),
            (
                "url = \"redis://a:1\"\nresponse_timeout = 5",
                "oidc.session.redis.response_timeout is not a known key",
            ),
        ];
        for (lines, expected) in redis_cases {
            let err = store(&format!("store = \"redis\"\n[oidc.session.redis]\n{lines}"))
                .expect_err(lines);
            let expected = if cfg!(feature = "redis") || expected.contains("known key") {
                *expected
            } else {
                "oidc.session.redis needs the crate's `redis` feature"
            };
            assert!(err.contains(expected), "{lines}: {err}");
        }
        let redis =
            store("store = \"redis\"\n[oidc.session.redis]\nurl = \"rediss://u:pw@host:6380\"");
        if cfg!(feature = "redis") {
            let expected = RedisConfig {
                url: Some("rediss://u:pw@host:6380".into()),
                ..RedisConfig::default()
            };
            assert_eq!(redis.clone().unwrap(), StoreConfig::Redis(expected.clone()));
            assert!(
                !format!("{redis:?}").contains("pw@"),
                "the password stays out of Debug"
            );
            let marks = store("[oidc.session.redis]\nurl = \"rediss://u:pw@host:6380\"");
            assert_eq!(
                marks.unwrap(),
                StoreConfig::Cookie {
                    capacity: 100_000,
                    shared: Some(expected)
                }
            );
        } else {
            assert!(redis
                .unwrap_err()
                .contains("needs the crate's `redis` feature"));
        }
    }
}
