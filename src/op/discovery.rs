//! Fetching a provider's metadata (OpenID Connect Discovery 1.0) and its JSON Web Key Set.

use openidconnect::core::CoreJsonWebKeySet;

use crate::config::ProviderMetadata;
use crate::error::OidcError;
use crate::protocol::http::{Auth, Body, HttpClient};

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
        return Err(status_error(
            response.status,
            format!(
                "{what}: status {} (check oidc.providers.{provider}.issuer)",
                response.status
            ),
        ));
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
        return Err(status_error(
            response.status,
            format!("{what}: status {}", response.status),
        ));
    }
    serde_json::from_slice(&response.body).map_err(|e| {
        OidcError::bad_provider_response(format!("{what}: not a JSON Web Key Set: {e}"))
    })
}

/// A status that is not 200: passing (5xx, 429: the provider is unavailable, try later)
/// or definite (any other: the URL or the configuration is wrong).
fn status_error(status: u16, description: String) -> OidcError {
    if status >= 500 || status == 429 {
        OidcError::unavailable(false, description)
    } else {
        OidcError::bad_provider_response(description)
    }
}
