//! What the crate tells the people who run the app: metrics through the `metrics` facade
//! (cargo feature `metrics`, on by default), which the app wires to its exporter (see the
//! quickstart's `/metrics`). Without a recorder installed, each event costs the facade's
//! check for one; without the feature, nothing.
//!
//! Every name and label value is here, so the contract (`oidc_*`, DESIGN.md) has one room.
//! Label values are bounded: configured provider names, the crate's own error codes (a
//! provider's unknown `error` becomes `provider_error`), fixed lists; never a user, a path
//! or a token. Floor layer: imports only the errors.

pub(crate) mod trace;

use std::time::Duration;

use crate::error::{ErrorKind, OidcError};

/// A provider endpoint, as the `endpoint` label of `oidc_provider_request_duration_seconds`
/// names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Discovery,
    Jwks,
    Token,
    Userinfo,
    Revocation,
    Introspection,
    Par,
    Registration,
}

#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
impl Endpoint {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Endpoint::Discovery => "discovery",
            Endpoint::Jwks => "jwks",
            Endpoint::Token => "token",
            Endpoint::Userinfo => "userinfo",
            Endpoint::Revocation => "revocation",
            Endpoint::Introspection => "introspection",
            Endpoint::Par => "par",
            Endpoint::Registration => "registration",
        }
    }
}

/// Why a session ended (`oidc_sessions_ended_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndReason {
    Logout,
    Backchannel,
    Frontchannel,
    Idle,
    Lifetime,
    Replaced,
    RefreshFailed,
}

#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
impl EndReason {
    pub(crate) fn label(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::Backchannel => "backchannel",
            EndReason::Frontchannel => "frontchannel",
            EndReason::Idle => "idle",
            EndReason::Lifetime => "lifetime",
            EndReason::Replaced => "replaced",
            EndReason::RefreshFailed => "refresh_failed",
        }
    }
}

/// How the session guard answered (`oidc_guard_outcomes_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardOutcome {
    Ok,
    LoginRedirect,
    Unauthorized,
    Unavailable,
}

#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
impl GuardOutcome {
    pub(crate) fn label(self) -> &'static str {
        match self {
            GuardOutcome::Ok => "ok",
            GuardOutcome::LoginRedirect => "login_redirect",
            GuardOutcome::Unauthorized => "unauthorized",
            GuardOutcome::Unavailable => "unavailable",
        }
    }
}

/// How a bearer token was checked (`oidc_bearer_validations_total{method}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BearerMethod {
    Jwt,
    Introspection,
    Cache,
}

#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
impl BearerMethod {
    pub(crate) fn label(self) -> &'static str {
        match self {
            BearerMethod::Jwt => "jwt",
            BearerMethod::Introspection => "introspection",
            BearerMethod::Cache => "cache",
        }
    }
}

/// OAuth 2.0 and OpenID Connect error codes a provider may send back (RFC 6749 4.1.2.1,
/// Core 3.1.2.6, RFC 9101, RFC 9126, RFC 9449): kept as the `result` label; any other is
/// `provider_error`, so a provider cannot grow the label set.
const PROVIDER_ERRORS: &[&str] = &[
    "access_denied",
    "invalid_request",
    "unauthorized_client",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
    "invalid_grant",
    "invalid_client",
    "unsupported_grant_type",
    "invalid_dpop_proof",
    "use_dpop_nonce",
];

/// The `result` label of a failure: the crate's own error code (a fixed set), or the
/// provider's when it is a known OAuth one; any other is `provider_error`.
pub(crate) fn result_of(err: &OidcError) -> &'static str {
    let code = err.error();
    crate::error::CODES
        .iter()
        .chain(PROVIDER_ERRORS)
        .find(|known| **known == code)
        .copied()
        .unwrap_or(match err.kind() {
            ErrorKind::ProviderError | ErrorKind::TokenRequest => "provider_error",
            _ => "error",
        })
}

/// The `result` label of an outcome: `success`, or [`result_of`] the error.
pub(crate) fn result<T>(outcome: &Result<T, OidcError>) -> &'static str {
    match outcome {
        Ok(_) => "success",
        Err(err) => result_of(err),
    }
}

/// A provider's guard outcome counters, registered with the recorder on first use: the
/// guard runs on every request, and a registered counter costs one atomic add, where
/// looking its labels up each time costs an allocation and a hash map (about a
/// microsecond). The recorder must be installed before the first guarded request, as
/// apps install it before launch.
#[derive(Debug, Default)]
pub(crate) struct GuardCounters {
    #[cfg(feature = "metrics")]
    counters: [std::sync::OnceLock<metrics::Counter>; 4],
}

impl GuardCounters {
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn count(&self, provider: &str, outcome: GuardOutcome) {
        #[cfg(feature = "metrics")]
        self.counters[outcome as usize]
            .get_or_init(|| {
                metrics::counter!(
                    "oidc_guard_outcomes_total",
                    "provider" => provider.to_owned(),
                    "outcome" => outcome.label()
                )
            })
            .increment(1);
    }
}

/// A session store's operations: its latency histograms and error counter, registered on
/// first use (a guarded request loads its session: the store's metrics are on the hot
/// path too, see [`GuardCounters`]).
#[derive(Debug)]
pub(crate) struct StoreMetrics {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    store: &'static str,
    #[cfg(feature = "metrics")]
    durations: [std::sync::OnceLock<metrics::Histogram>; StoreOp::ALL.len()],
    #[cfg(feature = "metrics")]
    errors: std::sync::OnceLock<metrics::Counter>,
}

/// An operation of a session store (`oidc_session_store_duration_seconds{op}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreOp {
    Load,
    Save,
    Replace,
    Delete,
    DeleteByIndex,
}

impl StoreOp {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    const ALL: [StoreOp; 5] = [
        StoreOp::Load,
        StoreOp::Save,
        StoreOp::Replace,
        StoreOp::Delete,
        StoreOp::DeleteByIndex,
    ];

    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn label(self) -> &'static str {
        match self {
            StoreOp::Load => "load",
            StoreOp::Save => "save",
            StoreOp::Replace => "replace",
            StoreOp::Delete => "delete",
            StoreOp::DeleteByIndex => "delete_by_index",
        }
    }
}

impl StoreMetrics {
    pub(crate) fn new(store: &'static str) -> Self {
        StoreMetrics {
            store,
            #[cfg(feature = "metrics")]
            durations: Default::default(),
            #[cfg(feature = "metrics")]
            errors: std::sync::OnceLock::new(),
        }
    }

    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn record(&self, op: StoreOp, took: Duration, failed: bool) {
        #[cfg(feature = "metrics")]
        {
            let store = self.store;
            self.durations[op as usize]
                .get_or_init(|| {
                    metrics::histogram!(
                        "oidc_session_store_duration_seconds",
                        "store" => store,
                        "op" => op.label()
                    )
                })
                .record(took.as_secs_f64());
            if failed {
                self.errors
                    .get_or_init(
                        || metrics::counter!("oidc_session_store_errors_total", "store" => store),
                    )
                    .increment(1);
            }
        }
    }
}

#[cfg(feature = "metrics")]
mod record {
    use super::*;
    use metrics::{counter, histogram};

    pub(crate) fn login_started(provider: &str) {
        counter!("oidc_logins_started_total", "provider" => provider.to_owned()).increment(1);
    }

    pub(crate) fn login_finished(provider: &str, result: &'static str) {
        counter!("oidc_logins_total", "provider" => provider.to_owned(), "result" => result)
            .increment(1);
    }

    pub(crate) fn token_refreshed(provider: &str, result: &'static str) {
        counter!(
            "oidc_token_refreshes_total",
            "provider" => provider.to_owned(),
            "result" => result
        )
        .increment(1);
    }

    pub(crate) fn session_ended(provider: &str, reason: EndReason, count: u64) {
        counter!(
            "oidc_sessions_ended_total",
            "provider" => provider.to_owned(),
            "reason" => reason.label()
        )
        .increment(count);
    }

    pub(crate) fn bearer_validated(provider: &str, method: BearerMethod, result: &'static str) {
        counter!(
            "oidc_bearer_validations_total",
            "provider" => provider.to_owned(),
            "method" => method.label(),
            "result" => result
        )
        .increment(1);
    }

    pub(crate) fn provider_request(
        provider: &str,
        endpoint: Endpoint,
        status: Option<u16>,
        took: Duration,
    ) {
        let status = match status {
            Some(code) => code.to_string(),
            None => "error".to_owned(),
        };
        histogram!(
            "oidc_provider_request_duration_seconds",
            "provider" => provider.to_owned(),
            "endpoint" => endpoint.label(),
            "status" => status
        )
        .record(took.as_secs_f64());
    }
}

#[cfg(not(feature = "metrics"))]
#[allow(unused_variables)]
mod record {
    use super::*;

    pub(crate) fn login_started(provider: &str) {}
    pub(crate) fn login_finished(provider: &str, result: &'static str) {}
    pub(crate) fn token_refreshed(provider: &str, result: &'static str) {}
    pub(crate) fn session_ended(provider: &str, reason: EndReason, count: u64) {}
    pub(crate) fn bearer_validated(provider: &str, method: BearerMethod, result: &'static str) {}
    pub(crate) fn provider_request(
        provider: &str,
        endpoint: Endpoint,
        status: Option<u16>,
        took: Duration,
    ) {
    }
}

pub(crate) use record::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_providers_unknown_error_code_does_not_grow_the_label_set() {
        let known = OidcError::from_provider("access_denied", None);
        assert_eq!(result_of(&known), "access_denied");
        let unknown = OidcError::from_provider("my_own_error_12345", None);
        assert_eq!(result_of(&unknown), "provider_error");
        assert_eq!(
            result_of(&OidcError::invalid_id_token("bad")),
            "invalid_id_token"
        );
        assert_eq!(result::<()>(&Ok(())), "success");
    }
}
