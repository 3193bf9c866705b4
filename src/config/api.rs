//! A provider's settings for APIs: how bearer tokens are validated (introspection, local JWT
//! validation, or either by shape), the audience they must name, how long introspection
//! results are kept, and the client-credentials grant's scope and resource.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// How bearer tokens of this provider are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenValidation {
    /// RFC 7662 at the provider's introspection endpoint.
    Introspection,
    /// RFC 9068 JWT access tokens, checked locally against the provider's keys.
    Jwt,
    /// A token shaped like a JWS is checked locally, anything else introspected.
    Auto,
}

/// `[..providers.<name>.client_credentials]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClientCredentials {
    #[serde(default)]
    scope: Vec<String>,
    resource: Option<String>,
}

/// The client-credentials grant's request (RFC 6749 4.4, RFC 8707).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClientCredentialsConfig {
    /// Space-separated; empty for the provider's default.
    pub(crate) scope: String,
    pub(crate) resource: Option<String>,
}

/// The API part of a provider's configuration.
#[derive(Debug, Clone)]
pub(crate) struct ApiSettings {
    pub(crate) validation: TokenValidation,
    /// The `aud` a token must name; the client_id when unset.
    pub(crate) audience: Option<String>,
    /// Longest time an introspection result is used (never past the token's `exp`).
    pub(crate) introspection_cache: Duration,
    pub(crate) client_credentials: ClientCredentialsConfig,
}

macro_rules! bail {
    ($($arg:tt)*) => { return Err(ConfigError(format!($($arg)*))) };
}

pub(super) fn validate_api(
    key: &str,
    validation: Option<&str>,
    audience: Option<String>,
    cache_seconds: u64,
    client_credentials: Option<RawClientCredentials>,
) -> Result<ApiSettings, ConfigError> {
    let validation = match validation {
        None | Some("auto") => TokenValidation::Auto,
        Some("introspection") => TokenValidation::Introspection,
        Some("jwt") => TokenValidation::Jwt,
        Some(other) => bail!(
            "{key}.access_token_validation = {other:?} is not valid: use \"introspection\", \
             \"jwt\" or \"auto\" (the default: JWTs locally, other tokens by introspection)"
        ),
    };
    if audience.as_deref() == Some("") {
        bail!(
            "{key}.access_token_audience must not be empty: leave it out to expect the client_id"
        );
    }
    if cache_seconds > 3600 {
        bail!(
            "{key}.introspection_cache_seconds = {cache_seconds} is too long: a revoked token \
             keeps working that long; use at most 3600 (0 turns the cache off)"
        );
    }
    let raw = client_credentials.unwrap_or_default();
    if let Some(bad) = raw
        .scope
        .iter()
        .find(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        bail!("{key}.client_credentials.scope has an invalid entry {bad:?}: list one scope per string");
    }
    if let Some(resource) = &raw.resource {
        // RFC 8707 2: an absolute URI without fragment; not necessarily one to connect to
        // (`api://...` at Microsoft Entra ID, `urn:...`).
        match url::Url::parse(resource) {
            Ok(url) if url.fragment().is_none() => {}
            _ => bail!(
                "{key}.client_credentials.resource = {resource:?} must be an absolute URI \
                 without fragment, e.g. \"https://api.example.com\""
            ),
        }
    }
    Ok(ApiSettings {
        validation,
        audience,
        introspection_cache: Duration::from_secs(cache_seconds),
        client_credentials: ClientCredentialsConfig {
            scope: raw.scope.join(" "),
            resource: raw.resource,
        },
    })
}
