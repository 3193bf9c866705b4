//! A provider's settings for APIs: how bearer tokens are validated (introspection, local JWT
//! validation, or either by shape), the audience they must name, how long introspection
//! results are kept, and the client-credentials grant's scope and resource.

use std::time::Duration;

use serde::Deserialize;

use super::defaults;
use super::error::{bail, ConfigError};

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

/// Longest `introspection_cache_seconds`: how long a revoked token may keep working.
const MAX_INTROSPECTION_CACHE_SECONDS: u64 = 3600;

pub(super) fn validate_api(
    key: &str,
    validation: Option<&str>,
    audience: Option<String>,
    cache_seconds: u64,
    client_credentials: Option<RawClientCredentials>,
) -> Result<ApiSettings, ConfigError> {
    let validation = match validation.unwrap_or(defaults::ACCESS_TOKEN_VALIDATION) {
        "auto" => TokenValidation::Auto,
        "introspection" => TokenValidation::Introspection,
        "jwt" => TokenValidation::Jwt,
        other => bail!(
            format!("{key}.access_token_validation"),
            format!("= {other:?} is not valid"),
            "use \"introspection\", \"jwt\" or \"auto\" (the default: JWTs locally, other \
             tokens by introspection)"
        ),
    };
    if audience.as_deref() == Some("") {
        bail!(
            format!("{key}.access_token_audience"),
            "must not be empty",
            "leave it out to expect the client_id"
        );
    }
    if cache_seconds > MAX_INTROSPECTION_CACHE_SECONDS {
        bail!(
            format!("{key}.introspection_cache_seconds"),
            format!("= {cache_seconds} is too long: a revoked token keeps working that long"),
            format!("use at most {MAX_INTROSPECTION_CACHE_SECONDS} (0 turns the cache off)")
        );
    }
    let raw = client_credentials.unwrap_or_default();
    if let Some(bad) = raw
        .scope
        .iter()
        .find(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        bail!(
            format!("{key}.client_credentials.scope"),
            format!("has an invalid entry {bad:?}"),
            "list one scope per string"
        );
    }
    if let Some(resource) = &raw.resource {
        // RFC 8707 2: an absolute URI without fragment; not necessarily one to connect to
        // (`api://...` at Microsoft Entra ID, `urn:...`).
        match url::Url::parse(resource) {
            Ok(url) if url.fragment().is_none() => {}
            _ => bail!(
                format!("{key}.client_credentials.resource"),
                format!("= {resource:?} must be an absolute URI without fragment"),
                "e.g. \"https://api.example.com\""
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{config, error_of, toml_with};
    use super::*;

    #[test]
    fn reads_the_api_settings_with_their_defaults() {
        let api = &config(&toml_with("", "")).unwrap().providers[0].api;
        assert_eq!(api.validation, TokenValidation::Auto);
        assert_eq!(api.audience, None);
        assert_eq!(api.introspection_cache, Duration::from_secs(30));
        assert_eq!(api.client_credentials, ClientCredentialsConfig::default());
        let toml = toml_with(
            "",
            "access_token_validation = \"jwt\"\naccess_token_audience = \"api\"\n\
             introspection_cache_seconds = 0\n\
             client_credentials = { scope = [\"read\", \"write\"], resource = \"urn:api\" }",
        );
        let api = &config(&toml).unwrap().providers[0].api;
        assert_eq!(api.validation, TokenValidation::Jwt);
        assert_eq!(api.audience.as_deref(), Some("api"));
        assert_eq!(api.introspection_cache, Duration::ZERO);
        assert_eq!(api.client_credentials.scope, "read write");
        assert_eq!(api.client_credentials.resource.as_deref(), Some("urn:api"));
    }

    #[test]
    fn names_each_mistake_and_its_fix() {
        let cases: &[(&str, &str)] = &[
            ("access_token_validation = \"opaque\"", "oidc.providers.default.access_token_validation = \"opaque\" is not valid: use \"introspection\""),
            ("access_token_audience = \"\"", "oidc.providers.default.access_token_audience must not be empty"),
            ("introspection_cache_seconds = 3601", "oidc.providers.default.introspection_cache_seconds = 3601 is too long"),
            ("client_credentials = { scope = [\"a b\"] }", "oidc.providers.default.client_credentials.scope has an invalid entry \"a b\""),
            ("client_credentials = { resource = \"https://api.example#x\" }", "oidc.providers.default.client_credentials.resource = \"https://api.example#x\" must be an absolute URI"),
        ];
        for (provider, expected) in cases {
            let message = error_of(&toml_with("", provider));
            assert!(
                message.starts_with(expected),
                "expected {expected:?} in {message:?}"
            );
        }
    }
}
