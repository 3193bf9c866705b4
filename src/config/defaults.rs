//! Every default of the `[oidc]` table, in one place. The configuration table in the crate
//! docs (`src/lib.rs`) shows the same values; a test below holds it to these constants.

// `[oidc]`
pub(crate) const CLOCK_SKEW_SECONDS: u64 = 60;
pub(crate) const SESSION_LIFETIME_SECONDS: u64 = 8 * 3600;
pub(crate) const SESSION_IDLE_TIMEOUT_SECONDS: u64 = 30 * 60;
pub(crate) const SESSION_PERMANENT: bool = true;
pub(crate) const AUTO_REFRESH: bool = true;
pub(crate) const END_SESSION_WITH_ACCESS_TOKEN: bool = true;
pub(crate) const LOGIN_TIMEOUT_SECONDS: u64 = 600;
pub(crate) const HTTP_TIMEOUT_SECONDS: u64 = 10;
pub(crate) const LOGOUT_PATH: &str = "/logout";
pub(crate) const POST_LOGOUT_PATH: &str = "/";
/// `backchannel_logout_path` is `logout_path` followed by this.
pub(crate) const BACKCHANNEL_LOGOUT_SUFFIX: &str = "/backchannel";
/// `frontchannel_logout_path` is `logout_path` followed by this.
pub(crate) const FRONTCHANNEL_LOGOUT_SUFFIX: &str = "/frontchannel";
pub(crate) const TRUST_FORWARDED_HEADERS: bool = false;
pub(crate) const PROPAGATE_TRACEPARENT: bool = false;
pub(crate) const FRONTCHANNEL_LOGOUT_BY_SID: bool = false;
pub(crate) const DANGEROUSLY_ALLOW_HTTP: bool = false;
pub(crate) const DANGEROUSLY_ALLOW_PUBLISHED_SECRET_KEY: bool = false;

// `[oidc.session]`
pub(crate) const SESSION_STORE: &str = "cookie";
pub(crate) const MEMORY_CAPACITY: usize = 100_000;
pub(crate) const MEMORY_SESSIONS_PER_SUBJECT: usize = 16;
pub(crate) const REDIS_KEY_PREFIX: &str = "rocket_oidc:";
pub(crate) const REDIS_CONNECT_TIMEOUT_MS: u64 = 2000;
pub(crate) const REDIS_RESPONSE_TIMEOUT_MS: u64 = 1000;

// `[oidc.limits]`
pub(crate) const DPOP_REPLAY_CAPACITY: usize = 100_000;
pub(crate) const DPOP_PROOFS_PER_KEY: usize = 10_000;
pub(crate) const PROVIDER_CALLS_PER_SECOND: u32 = 50;
pub(crate) const PROVIDER_CALLS_CONCURRENT: u32 = 32;

// `[oidc.providers.<name>]`
/// The scope every login asks for, and the only one when none is configured.
pub(crate) const SCOPE: &str = "openid";
pub(crate) const TOKEN_ENDPOINT_AUTH_METHOD: &str = "client_secret_basic";
pub(crate) const CLIENT_ASSERTION_AUDIENCE: &str = "issuer";
pub(crate) const USE_PAR: bool = false;
pub(crate) const DPOP: bool = false;
pub(crate) const DPOP_ALG: &str = "ES256";
/// JARM 3: the algorithm of signed authorization responses when none is registered.
pub(crate) const AUTHORIZATION_SIGNED_RESPONSE_ALG: &str = "RS256";
pub(crate) const ACCESS_TOKEN_VALIDATION: &str = "auto";
pub(crate) const INTROSPECTION_CACHE_SECONDS: u64 = 30;
pub(crate) const USERINFO_HTTP_METHOD: &str = "GET";
/// `providers.<name>.id_token_encrypted_response_enc` and `userinfo_encrypted_response_enc`
/// when only their `_alg` is set (Registration 1.0, 2).
pub(crate) const JWE_ENC: &str = "A128CBC-HS256";
/// `providers.<name>.response_type`.
pub(crate) const RESPONSE_TYPE: &str = "code";
pub(crate) const JWKS_MAX_AGE_SECONDS: u64 = 3600;
pub(crate) const REVOKE_TOKENS_ON_LOGOUT: bool = true;
/// The default `post_logout_redirect_uri` is `<origin><logout_path>` followed by this.
pub(crate) const POST_LOGOUT_CALLBACK_SUFFIX: &str = "/callback";

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// The `| key | type | default | meaning |` table of the crate docs: key → default cell.
    fn documented_defaults() -> BTreeMap<String, String> {
        let docs = include_str!("../lib.rs");
        let mut rows = docs
            .lines()
            .skip_while(|line| *line != "//! | key | type | default | meaning |")
            .skip(2)
            .map_while(|line| line.strip_prefix("//! | "));
        let mut table = BTreeMap::new();
        for row in rows.by_ref() {
            let cells: Vec<&str> = row.splitn(4, " | ").collect();
            assert_eq!(cells.len(), 4, "a row of four cells: {row}");
            let key = cells[0].trim_matches('`').to_string();
            assert!(
                table.insert(key, cells[2].to_string()).is_none(),
                "each key once: {row}"
            );
        }
        assert!(table.len() > 40, "the table was found: {table:?}");
        table
    }

    /// The value a default cell shows: its first `code` span, when the cell starts with one.
    fn shown_value(cell: &str) -> Option<&str> {
        cell.strip_prefix('`')?.split('`').next()
    }

    #[test]
    fn the_documented_defaults_are_the_real_ones() {
        let quoted = |s: &str| format!("{s:?}");
        let expected: Vec<(&str, String)> = vec![
            ("clock_skew", CLOCK_SKEW_SECONDS.to_string()),
            ("session_lifetime", SESSION_LIFETIME_SECONDS.to_string()),
            (
                "session_idle_timeout",
                SESSION_IDLE_TIMEOUT_SECONDS.to_string(),
            ),
            (
                "end_session_with_access_token",
                END_SESSION_WITH_ACCESS_TOKEN.to_string(),
            ),
            ("session.store", quoted(SESSION_STORE)),
            ("session.memory.capacity", MEMORY_CAPACITY.to_string()),
            (
                "session.memory.sessions_per_subject",
                MEMORY_SESSIONS_PER_SUBJECT.to_string(),
            ),
            (
                "limits.dpop_replay_capacity",
                DPOP_REPLAY_CAPACITY.to_string(),
            ),
            (
                "limits.dpop_proofs_per_key",
                DPOP_PROOFS_PER_KEY.to_string(),
            ),
            (
                "limits.provider_calls_per_second",
                PROVIDER_CALLS_PER_SECOND.to_string(),
            ),
            (
                "limits.provider_calls_concurrent",
                PROVIDER_CALLS_CONCURRENT.to_string(),
            ),
            ("session.redis.key_prefix", quoted(REDIS_KEY_PREFIX)),
            (
                "session.redis.connect_timeout_ms",
                REDIS_CONNECT_TIMEOUT_MS.to_string(),
            ),
            (
                "session.redis.response_timeout_ms",
                REDIS_RESPONSE_TIMEOUT_MS.to_string(),
            ),
            (
                "trust_forwarded_headers",
                TRUST_FORWARDED_HEADERS.to_string(),
            ),
            ("propagate_traceparent", PROPAGATE_TRACEPARENT.to_string()),
            (
                "frontchannel_logout_by_sid",
                FRONTCHANNEL_LOGOUT_BY_SID.to_string(),
            ),
            (
                "dangerously_allow_published_secret_key",
                DANGEROUSLY_ALLOW_PUBLISHED_SECRET_KEY.to_string(),
            ),
            ("dangerously_allow_http", DANGEROUSLY_ALLOW_HTTP.to_string()),
            (
                "backchannel_logout_path",
                format!("<logout_path>{BACKCHANNEL_LOGOUT_SUFFIX}"),
            ),
            (
                "frontchannel_logout_path",
                format!("<logout_path>{FRONTCHANNEL_LOGOUT_SUFFIX}"),
            ),
            ("session_permanent", SESSION_PERMANENT.to_string()),
            ("auto_refresh", AUTO_REFRESH.to_string()),
            ("login_timeout", LOGIN_TIMEOUT_SECONDS.to_string()),
            ("http_timeout", HTTP_TIMEOUT_SECONDS.to_string()),
            ("logout_path", LOGOUT_PATH.to_string()),
            ("post_logout_path", POST_LOGOUT_PATH.to_string()),
            (
                "providers.<name>.token_endpoint_auth_method",
                TOKEN_ENDPOINT_AUTH_METHOD.to_string(),
            ),
            (
                "providers.<name>.client_assertion_audience",
                quoted(CLIENT_ASSERTION_AUDIENCE),
            ),
            ("providers.<name>.use_par", USE_PAR.to_string()),
            ("providers.<name>.dpop", DPOP.to_string()),
            ("providers.<name>.dpop_alg", DPOP_ALG.to_string()),
            (
                "providers.<name>.authorization_signed_response_alg",
                AUTHORIZATION_SIGNED_RESPONSE_ALG.to_string(),
            ),
            (
                "providers.<name>.access_token_validation",
                quoted(ACCESS_TOKEN_VALIDATION),
            ),
            (
                "providers.<name>.introspection_cache_seconds",
                INTROSPECTION_CACHE_SECONDS.to_string(),
            ),
            ("providers.<name>.scope", format!("[{}]", quoted(SCOPE))),
            (
                "providers.<name>.userinfo_http_method",
                USERINFO_HTTP_METHOD.to_string(),
            ),
            ("providers.<name>.response_type", quoted(RESPONSE_TYPE)),
            (
                "providers.<name>.id_token_encrypted_response_enc",
                quoted(JWE_ENC),
            ),
            (
                "providers.<name>.userinfo_encrypted_response_enc",
                quoted(JWE_ENC),
            ),
            (
                "providers.<name>.authorization_encrypted_response_enc",
                quoted(JWE_ENC),
            ),
            (
                "providers.<name>.post_logout_redirect_uris",
                format!("[\"<origin of redirect_uri><logout_path>{POST_LOGOUT_CALLBACK_SUFFIX}\"]"),
            ),
            (
                "providers.<name>.jwks_max_age_seconds",
                JWKS_MAX_AGE_SECONDS.to_string(),
            ),
            (
                "providers.<name>.revoke_tokens_on_logout",
                REVOKE_TOKENS_ON_LOGOUT.to_string(),
            ),
        ];
        let table = documented_defaults();
        for (key, value) in &expected {
            let cell = table
                .get(*key)
                .unwrap_or_else(|| panic!("{key} is in the configuration table"));
            assert_eq!(
                shown_value(cell),
                Some(value.as_str()),
                "the documented default of {key} ({cell}) is the constant's"
            );
        }
        // A default shown as a value (not `[]`, `{}`, or a template such as
        // `rocket_oidc_auth/<version>`) has its constant here.
        for (key, cell) in &table {
            let Some(value) = shown_value(cell) else {
                continue;
            };
            let derived = value.contains('<') || value == "[]" || value == "{}";
            assert!(
                derived || expected.iter().any(|(k, _)| k == key),
                "{key}: its documented default {value} needs a constant in config::defaults"
            );
        }
    }
}
