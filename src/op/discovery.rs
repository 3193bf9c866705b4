//! Fetching a provider's metadata (OpenID Connect Discovery 1.0) and its JSON Web Key Set.

use openidconnect::{IntrospectionUrl, RevocationUrl};

use crate::config::{ProviderMetadata, UrlPolicy};
use crate::error::OidcError;
use crate::protocol::http::{Auth, Body, Call, HttpClient};
use crate::protocol::jwk::KeySet;
use crate::telemetry::Endpoint;

/// Fetches `<issuer>/.well-known/openid-configuration` (or `discovery_url`, for providers
/// whose document lives elsewhere) and checks it names `issuer` exactly.
pub(crate) async fn discover(
    http: &HttpClient,
    issuer: &str,
    discovery_url: Option<&str>,
    provider: &str,
    policy: UrlPolicy,
) -> Result<ProviderMetadata, OidcError> {
    let url = match discovery_url {
        Some(url) => url.to_string(),
        None => format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    };
    let what = format!("discovery at {url}");
    let response = http
        .send(
            reqwest::Method::GET,
            &url,
            Auth::None,
            Body::Empty,
            Call::new(Endpoint::Discovery, &what),
        )
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
    let document = format!("discovery document of oidc.providers.{provider}");
    let metadata = ProviderMetadata::from_json(&response.body, &document).map_err(|e| {
        OidcError::bad_provider_response(format!("{what}: not a discovery document: {e}"))
    })?;
    if metadata.issuer() != issuer {
        // OpenID Connect Discovery 1.0, 4.3: a mismatch means the document must not be used.
        return Err(OidcError::bad_provider_response(format!(
            "{what}: the document names issuer {:?}, but oidc.providers.{provider}.issuer is {issuer:?}; \
             the two must match exactly (mind the trailing slash)",
            crate::error::sanitize(metadata.issuer(), 200)
        )));
    }
    metadata
        .check(&document, policy)
        .map_err(|e| OidcError::bad_provider_response(format!("{what}: {e}")))?;
    let mut metadata = metadata;
    if metadata.revocation_endpoint().is_none() || metadata.introspection_endpoint().is_none() {
        fill_from_oauth_metadata(http, issuer, provider, policy, &mut metadata).await;
    }
    Ok(metadata)
}

/// Some providers (Django OAuth Toolkit) list `revocation_endpoint` and
/// `introspection_endpoint` only in their OAuth 2.0 Authorization Server Metadata (RFC 8414,
/// `/.well-known/oauth-authorization-server`): the ones the OpenID document lacks are taken
/// from there when it names the same issuer. Any failure leaves them missing.
async fn fill_from_oauth_metadata(
    http: &HttpClient,
    issuer: &str,
    provider: &str,
    policy: UrlPolicy,
    metadata: &mut ProviderMetadata,
) {
    // RFC 8414 2: only the members used here; any other may be missing or malformed.
    #[derive(serde::Deserialize)]
    struct OAuthMetadata {
        issuer: String,
        revocation_endpoint: Option<String>,
        introspection_endpoint: Option<String>,
    }
    // RFC 8414 3: the well-known part goes between the host and the issuer's path.
    let Ok(parsed) = url::Url::parse(issuer) else {
        return;
    };
    let url = format!(
        "{}/.well-known/oauth-authorization-server{}",
        parsed.origin().ascii_serialization(),
        parsed.path().trim_end_matches('/')
    );
    let what = format!("OAuth metadata at {url}");
    let found = match http
        .send(
            reqwest::Method::GET,
            &url,
            Auth::None,
            Body::Empty,
            Call::new(Endpoint::Discovery, &what),
        )
        .await
    {
        Ok(response) if response.status == 200 => {
            serde_json::from_slice::<OAuthMetadata>(&response.body).ok()
        }
        _ => None,
    };
    let Some(found) = found.filter(|found| found.issuer == issuer) else {
        return;
    };
    let valid = |url: Option<String>, name: &str| {
        url.and_then(|url| {
            crate::config::parse_url_for(policy, &format!("{what}: {name}"), &url).ok()
        })
    };
    if metadata.revocation_endpoint().is_none() {
        if let Some(endpoint) = valid(found.revocation_endpoint, "revocation_endpoint") {
            log::info!(
                "oidc: provider {provider:?}: revocation_endpoint taken from its RFC 8414 \
                 metadata (the OpenID discovery document lacks it)"
            );
            metadata.set_revocation_endpoint(RevocationUrl::from_url(endpoint));
        }
    }
    if metadata.introspection_endpoint().is_none() {
        if let Some(endpoint) = valid(found.introspection_endpoint, "introspection_endpoint") {
            log::info!(
                "oidc: provider {provider:?}: introspection_endpoint taken from its RFC 8414 \
                 metadata (the OpenID discovery document lacks it)"
            );
            metadata.set_introspection_endpoint(IntrospectionUrl::from_url(endpoint));
        }
    }
}

/// Fetches the provider's JSON Web Key Set.
pub(crate) async fn fetch_jwks(http: &HttpClient, jwks_uri: &str) -> Result<KeySet, OidcError> {
    let what = format!("JWKS request to {jwks_uri}");
    let response = http
        .send(
            reqwest::Method::GET,
            jwks_uri,
            Auth::None,
            Body::Empty,
            Call::new(Endpoint::Jwks, &what),
        )
        .await?;
    if response.status != 200 {
        return Err(status_error(
            response.status,
            format!("{what}: status {}", response.status),
        ));
    }
    let keys = KeySet::from_json(&response.body).map_err(|e| {
        OidcError::bad_provider_response(format!("{what}: not a JSON Web Key Set: {e}"))
    })?;
    if keys.skipped() > 0 {
        log::info!(
            "oidc: {what}: {} key(s) left out (a type, curve or size this client does not use)",
            keys.skipped()
        );
    }
    Ok(keys)
}

/// A status that is not 200: passing (5xx, 429: the provider is unavailable, try later)
/// or definite (any other: the URL or the configuration is wrong).
pub(crate) fn status_error(status: u16, description: String) -> OidcError {
    if status >= 500 || status == 429 {
        OidcError::unavailable(false, description)
    } else {
        OidcError::bad_provider_response(description)
    }
}
