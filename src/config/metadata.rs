//! Provider metadata: the shape shared by discovery documents and the static
//! `provider_metadata` table, the checks it must pass before it is used, and the
//! `endpoints` table that overrides parts of it.

use serde::Deserialize;

use super::error::{bail, ConfigError};
use super::urls::{parse_url_for, UrlPolicy};

/// The provider metadata this crate uses; unknown members are ignored.
///
/// The same shape serves discovery documents and the static `provider_metadata` table.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ProviderMetadata {
    pub(crate) issuer: String,
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: Option<String>,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) userinfo_endpoint: Option<String>,
    pub(crate) end_session_endpoint: Option<String>,
    pub(crate) revocation_endpoint: Option<String>,
    pub(crate) introspection_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    pub(crate) code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub(crate) authorization_response_iss_parameter_supported: bool,
    /// RFC 9126 5.
    pub(crate) pushed_authorization_request_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) require_pushed_authorization_requests: bool,
    #[serde(default)]
    pub(crate) token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    pub(crate) token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// RFC 9449 5.1.
    #[serde(default)]
    pub(crate) dpop_signing_alg_values_supported: Vec<String>,
    /// OpenID Connect Discovery 1.0 3, RFC 7591.
    pub(crate) registration_endpoint: Option<String>,
}

impl ProviderMetadata {
    /// Checks that the endpoints the code flow needs are present and safe to call.
    pub(crate) fn check(&self, key: &str, policy: UrlPolicy) -> Result<(), ConfigError> {
        let parse_url = |key: &str, value: &str| parse_url_for(policy, key, value);
        parse_url(&format!("{key}.issuer"), &self.issuer)?;
        parse_url(
            &format!("{key}.authorization_endpoint"),
            &self.authorization_endpoint,
        )?;
        let required = [
            ("token_endpoint", &self.token_endpoint),
            ("jwks_uri", &self.jwks_uri),
        ];
        for (name, value) in required {
            match value {
                Some(url) => {
                    parse_url(&format!("{key}.{name}"), url)?;
                }
                None => bail!(
                    format!("{key}.{name}"),
                    "is missing, and the authorization code flow needs it",
                    "add it to the provider's metadata"
                ),
            }
        }
        let optional = [
            ("userinfo_endpoint", &self.userinfo_endpoint),
            ("end_session_endpoint", &self.end_session_endpoint),
            ("revocation_endpoint", &self.revocation_endpoint),
            ("introspection_endpoint", &self.introspection_endpoint),
            (
                "pushed_authorization_request_endpoint",
                &self.pushed_authorization_request_endpoint,
            ),
            ("registration_endpoint", &self.registration_endpoint),
        ];
        for (name, value) in optional {
            if let Some(url) = value {
                parse_url(&format!("{key}.{name}"), url)?;
            }
        }
        Ok(())
    }

    pub(crate) fn token_endpoint(&self) -> &str {
        self.token_endpoint.as_deref().unwrap_or_default()
    }

    pub(crate) fn jwks_uri(&self) -> &str {
        self.jwks_uri.as_deref().unwrap_or_default()
    }
}

/// `[oidc.providers.<name>.endpoints]`: endpoints that replace (or add to) what discovery
/// or `provider_metadata` says.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoints {
    userinfo_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
}

/// Endpoints set in the configuration, over the provider's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EndpointOverrides {
    pub(crate) userinfo_endpoint: Option<String>,
    pub(crate) end_session_endpoint: Option<String>,
    pub(crate) revocation_endpoint: Option<String>,
    pub(crate) introspection_endpoint: Option<String>,
}

impl EndpointOverrides {
    /// `metadata` with these endpoints in place of its own.
    pub(crate) fn apply(&self, metadata: &mut ProviderMetadata) {
        let pairs = [
            (&self.userinfo_endpoint, &mut metadata.userinfo_endpoint),
            (
                &self.end_session_endpoint,
                &mut metadata.end_session_endpoint,
            ),
            (&self.revocation_endpoint, &mut metadata.revocation_endpoint),
            (
                &self.introspection_endpoint,
                &mut metadata.introspection_endpoint,
            ),
        ];
        for (configured, field) in pairs {
            if let Some(url) = configured {
                *field = Some(url.clone());
            }
        }
    }
}

/// The `endpoints` table, each URL checked.
pub(super) fn endpoint_overrides(
    key: &str,
    e: RawEndpoints,
    policy: UrlPolicy,
) -> Result<EndpointOverrides, ConfigError> {
    for (name, value) in [
        ("userinfo_endpoint", &e.userinfo_endpoint),
        ("end_session_endpoint", &e.end_session_endpoint),
        ("revocation_endpoint", &e.revocation_endpoint),
        ("introspection_endpoint", &e.introspection_endpoint),
    ] {
        if let Some(url) = value {
            parse_url_for(policy, &format!("{key}.endpoints.{name}"), url)?;
        }
    }
    Ok(EndpointOverrides {
        userinfo_endpoint: e.userinfo_endpoint,
        end_session_endpoint: e.end_session_endpoint,
        revocation_endpoint: e.revocation_endpoint,
        introspection_endpoint: e.introspection_endpoint,
    })
}
