//! Provider metadata: OpenID Connect Discovery 1.0, or a static `provider_metadata` table,
//! and the provider's JSON Web Key Set.

use openidconnect::core::CoreJsonWebKeySet;
use serde::Deserialize;

use crate::config::{parse_url, ConfigError};
use crate::error::OidcError;
use crate::http::{Auth, Body, HttpClient};

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
}

impl ProviderMetadata {
    /// Checks that the endpoints the code flow needs are present and safe to call.
    pub(crate) fn check(&self, key: &str) -> Result<(), ConfigError> {
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
                None => {
                    return Err(ConfigError(format!(
                        "{key}.{name} is missing: the authorization code flow needs it"
                    )))
                }
            }
        }
        let optional = [
            ("userinfo_endpoint", &self.userinfo_endpoint),
            ("end_session_endpoint", &self.end_session_endpoint),
            ("revocation_endpoint", &self.revocation_endpoint),
            ("introspection_endpoint", &self.introspection_endpoint),
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

/// Fetches `<issuer>/.well-known/openid-configuration` and checks it names `issuer` exactly.
pub(crate) async fn discover(
    http: &HttpClient,
    issuer: &str,
    provider: &str,
) -> Result<ProviderMetadata, OidcError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let what = format!("discovery at {url}");
    let response = http
        .send(reqwest::Method::GET, &url, Auth::None, Body::Empty, &what)
        .await?;
    if response.status != 200 {
        return Err(OidcError::bad_provider_response(format!(
            "{what}: status {} (check oidc.providers.{provider}.issuer)",
            response.status
        )));
    }
    let metadata: ProviderMetadata = serde_json::from_slice(&response.body).map_err(|e| {
        OidcError::bad_provider_response(format!("{what}: not a discovery document: {e}"))
    })?;
    if metadata.issuer != issuer {
        // OpenID Connect Discovery 1.0, 4.3: a mismatch means the document must not be used.
        return Err(OidcError::bad_provider_response(format!(
            "{what}: the document names issuer {:?}, but oidc.providers.{provider}.issuer is {issuer:?}; \
             the two must match exactly (mind the trailing slash)",
            crate::error::sanitize(&metadata.issuer, 200)
        )));
    }
    metadata
        .check(&format!("discovery document of oidc.providers.{provider}"))
        .map_err(|e| OidcError::bad_provider_response(format!("{what}: {e}")))?;
    Ok(metadata)
}

/// Fetches the provider's JSON Web Key Set.
pub(crate) async fn fetch_jwks(
    http: &HttpClient,
    jwks_uri: &str,
) -> Result<CoreJsonWebKeySet, OidcError> {
    let what = format!("JWKS request to {jwks_uri}");
    let response = http
        .send(
            reqwest::Method::GET,
            jwks_uri,
            Auth::None,
            Body::Empty,
            &what,
        )
        .await?;
    if response.status != 200 {
        return Err(OidcError::bad_provider_response(format!(
            "{what}: status {}",
            response.status
        )));
    }
    serde_json::from_slice(&response.body).map_err(|e| {
        OidcError::bad_provider_response(format!("{what}: not a JSON Web Key Set: {e}"))
    })
}
