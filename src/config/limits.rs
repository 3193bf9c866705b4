//! `[oidc.limits]`: the bounds that keep one client, or anonymous traffic, from filling a
//! cache or flooding a provider.

use serde::Deserialize;

use super::defaults;
use super::error::{bail, ConfigError};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    dpop_replay_capacity: Option<usize>,
    dpop_proofs_per_key: Option<usize>,
    provider_calls_per_second: Option<u32>,
    provider_calls_concurrent: Option<u32>,
}

/// `[oidc.limits]`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Most DPoP proofs this process remembers (their `jti`s), of every key together.
    pub(crate) dpop_replay_capacity: usize,
    /// Most DPoP proofs of one key remembered at once; past it, that key's new proofs are
    /// refused (429) until its older ones age out.
    pub(crate) dpop_proofs_per_key: usize,
    /// Provider calls an anonymous request can cause (pushed authorization requests and
    /// code exchanges; introspections), per provider and second, each kind on its own.
    pub(crate) provider_calls_per_second: u32,
    /// Such calls in flight at once, per provider and kind.
    pub(crate) provider_calls_concurrent: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            dpop_replay_capacity: defaults::DPOP_REPLAY_CAPACITY,
            dpop_proofs_per_key: defaults::DPOP_PROOFS_PER_KEY,
            provider_calls_per_second: defaults::PROVIDER_CALLS_PER_SECOND,
            provider_calls_concurrent: defaults::PROVIDER_CALLS_CONCURRENT,
        }
    }
}

pub(super) fn validate_limits(raw: RawLimits) -> Result<Limits, ConfigError> {
    let limits = Limits {
        dpop_replay_capacity: raw
            .dpop_replay_capacity
            .unwrap_or(defaults::DPOP_REPLAY_CAPACITY),
        dpop_proofs_per_key: raw
            .dpop_proofs_per_key
            .unwrap_or(defaults::DPOP_PROOFS_PER_KEY),
        provider_calls_per_second: raw
            .provider_calls_per_second
            .unwrap_or(defaults::PROVIDER_CALLS_PER_SECOND),
        provider_calls_concurrent: raw
            .provider_calls_concurrent
            .unwrap_or(defaults::PROVIDER_CALLS_CONCURRENT),
    };
    let zero = [
        ("dpop_replay_capacity", limits.dpop_replay_capacity == 0),
        ("dpop_proofs_per_key", limits.dpop_proofs_per_key == 0),
        (
            "provider_calls_per_second",
            limits.provider_calls_per_second == 0,
        ),
        (
            "provider_calls_concurrent",
            limits.provider_calls_concurrent == 0,
        ),
    ];
    if let Some((key, _)) = zero.iter().find(|(_, zero)| *zero) {
        bail!(
            format!("oidc.limits.{key}"),
            "= 0 would refuse every request it bounds",
            "raise it, or remove it for the default"
        );
    }
    if limits.dpop_proofs_per_key > limits.dpop_replay_capacity {
        bail!(
            "oidc.limits.dpop_proofs_per_key",
            format!(
                "= {} is more than dpop_replay_capacity ({})",
                limits.dpop_proofs_per_key, limits.dpop_replay_capacity
            ),
            "one key's proofs are part of the whole: lower it or raise dpop_replay_capacity"
        );
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{config, toml_with, GOOD};
    use super::*;

    fn limits(lines: &str) -> Result<Limits, String> {
        config(&toml_with(&format!("[oidc.limits]\n{lines}"), ""))
            .map(|config| config.limits)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(config(GOOD).unwrap().limits, Limits::default());
        let set = limits("provider_calls_per_second = 5\ndpop_proofs_per_key = 10").unwrap();
        assert_eq!(set.provider_calls_per_second, 5);
        assert_eq!(set.dpop_proofs_per_key, 10);
        assert_eq!(set.dpop_replay_capacity, defaults::DPOP_REPLAY_CAPACITY);
    }

    #[test]
    fn names_each_mistake_and_its_fix() {
        let cases: &[(&str, &str)] = &[
            (
                "provider_calls_concurrent = 0",
                "oidc.limits.provider_calls_concurrent = 0 would refuse every request",
            ),
            (
                "dpop_replay_capacity = 10\ndpop_proofs_per_key = 11",
                "oidc.limits.dpop_proofs_per_key = 11 is more than dpop_replay_capacity (10)",
            ),
            ("colour = 1", "oidc.limits.colour is not a known key"),
        ];
        for (lines, expected) in cases {
            let err = limits(lines).expect_err(lines);
            assert!(err.starts_with(expected), "{lines}: {err}");
        }
    }
}
