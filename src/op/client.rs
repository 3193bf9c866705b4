//! One configured provider at run time: the [`ProviderClient`] with its cached state, the
//! metadata it resolved ([`Resolved`]), and what every call to the provider shares: the
//! reading of OAuth error answers (RFC 6749 5.2). Client authentication and each endpoint's
//! calls live in sibling modules (see [`super`]).

use std::sync::Arc;

use serde::Deserialize;

use super::budget::CallBudget;
use super::id_token::KeptVerifier;
use super::refreshing::Refreshing;
use super::registration::{Credentials, Registrar};
use crate::config::{Limits, MetadataSource, ProviderConfig, ProviderMetadata};
use crate::error::{sanitize, ErrorKind, OidcError};
use crate::protocol::http::{HttpClient, HttpResponse};
use crate::protocol::jwk::KeySet;
use crate::signing::SigningAlg;

/// Metadata once resolved, with what is derived from it.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) metadata: ProviderMetadata,
    pub(crate) allowed_algs: Vec<SigningAlg>,
    /// Algorithms of JWT access tokens (RFC 9068): the provider's advertised ones (the ID
    /// token pin does not apply), never HMAC.
    pub(crate) access_token_algs: Vec<SigningAlg>,
    /// The client's identity: configured, or registered at this provider.
    pub(crate) credentials: Arc<Credentials>,
    /// The ID token verifier of these metadata with the current keys.
    pub(super) id_tokens: KeptVerifier,
}

impl Resolved {
    pub(crate) fn client_id(&self) -> &str {
        &self.credentials.client_id
    }

    pub(super) fn client_secret(&self) -> Option<&str> {
        self.credentials.client_secret.as_ref().map(|s| s.expose())
    }
}

#[derive(Deserialize)]
struct OAuthErrorResponse {
    error: String,
    error_description: Option<String>,
}

/// A configured provider and its cached state.
#[derive(Debug)]
pub(crate) struct ProviderClient {
    pub(crate) config: ProviderConfig,
    pub(super) redirect_uri: String,
    pub(super) clock_skew: i64,
    pub(super) http: HttpClient,
    /// The metadata with the client's identity, loaded and reloaded.
    pub(super) metadata: Refreshing<Resolved>,
    /// Registers the client when it is not configured (`client_registration`).
    pub(super) registrar: Option<Registrar>,
    /// The last `DPoP-Nonce` of the provider's token endpoint, and of its UserInfo
    /// endpoint (RFC 9449 8, 9): the next proof carries it.
    pub(super) token_dpop_nonce: std::sync::Mutex<Option<String>>,
    pub(super) userinfo_dpop_nonce: std::sync::Mutex<Option<String>>,
    /// The provider's signing keys, loaded and reloaded.
    pub(super) jwks: Refreshing<KeySet>,
    /// Bounds on the calls anonymous requests can cause, each kind on its own: pushed
    /// authorization requests, code exchanges, introspections.
    pub(super) authorization_calls: CallBudget,
    pub(super) exchange_calls: CallBudget,
    pub(super) introspection_calls: CallBudget,
}

impl ProviderClient {
    pub(crate) fn new(
        config: ProviderConfig,
        redirect_uri: String,
        clock_skew: i64,
        http: HttpClient,
        registrar: Option<Registrar>,
        limits: &Limits,
    ) -> Self {
        ProviderClient {
            authorization_calls: CallBudget::new("pushed authorization", limits),
            exchange_calls: CallBudget::new("code exchange", limits),
            introspection_calls: CallBudget::new("introspection", limits),
            config,
            redirect_uri,
            clock_skew,
            http,
            registrar,
            token_dpop_nonce: std::sync::Mutex::new(None),
            userinfo_dpop_nonce: std::sync::Mutex::new(None),
            metadata: Refreshing::new("metadata"),
            jwks: Refreshing::new("keys"),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    /// The clock skew of this provider's checks: the app's, or its profile's bound.
    pub(crate) fn clock_skew(&self) -> i64 {
        self.clock_skew
    }

    /// After the provider refused a registered client (`invalid_client`): forget it, so the
    /// next use registers again.
    pub(super) async fn forget_refused_client(&self, resolved: &Resolved, err: &OidcError) {
        let Some(registrar) = &self.registrar else {
            return;
        };
        if err.error() != "invalid_client" {
            return;
        }
        registrar.forget(resolved.client_id()).await;
        // The next metadata() call resolves again, and registers.
        self.metadata.expire();
    }
}

pub(super) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `error` of an OAuth error response, if the body is one.
pub(super) fn oauth_error_code(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<OAuthErrorResponse>(body)
        .ok()
        .map(|e| e.error)
}

impl ProviderClient {
    /// Logs, at error level every time, a call that failed because a host of the provider
    /// does not exist: a mistake in the configuration, not an outage, named with its key.
    pub(super) fn log_unknown_host(&self, err: &OidcError) {
        let Some(host) = err.unknown_host() else {
            return;
        };
        let name = self.name();
        let host_of = |url: &str| {
            url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
        };
        let key = match (&self.config.source, &self.config.client.discovery_url) {
            (_, Some(url)) if host_of(url).as_deref() == Some(host) => {
                format!("oidc.providers.{name}.discovery_url")
            }
            (MetadataSource::Discovery { issuer }, _)
                if host_of(issuer).as_deref() == Some(host) =>
            {
                format!("oidc.providers.{name}.issuer")
            }
            (MetadataSource::Static(_), _) => format!("oidc.providers.{name}.provider_metadata"),
            _ => format!("the metadata of provider {name:?} (a URL in it names this host)"),
        };
        log::error!("oidc: provider {name:?}: cannot resolve {host} (no such name) — check {key}");
    }
}

pub(super) fn with_context(err: OidcError, provider: &str) -> OidcError {
    let detail = format!(
        "provider {provider:?}: {}",
        err.developer_detail().unwrap_or(err.error_description())
    );
    err.with_log_detail(detail)
}

/// A 400 or 401 from one of the provider's endpoints, read as an OAuth error response
/// (RFC 6749 5.2): the app's own credentials refused are the operators' problem (502),
/// anything else the provider's answer to this request (400).
pub(super) fn oauth_refusal(response: &HttpResponse, what: &str, provider: &str) -> OidcError {
    let Ok(err) = serde_json::from_slice::<OAuthErrorResponse>(&response.body) else {
        return OidcError::bad_provider_response(format!(
            "{what}: status {} without an OAuth error",
            response.status
        ));
    };
    let code = sanitize(&err.error, 64);
    // The provider's own description is for the user; without one, say it plainly (the
    // endpoint goes to the log only).
    let description = err
        .error_description
        .map(|d| sanitize(&d, 512))
        .unwrap_or_else(|| "the login service refused the request".to_string());
    if code == "invalid_client" || code == "unauthorized_client" {
        // The app's credentials are wrong: not the user's fault.
        OidcError::new(
            ErrorKind::TokenRequest,
            rocket::http::Status::BadGateway,
            code,
            "the login service refused this site's credentials; tell the site's operators",
        )
        .with_log_detail(format!(
            "{what}: {description} (check oidc.providers.{provider}.client_id, client_secret, \
             token_endpoint_auth_method and private_key)"
        ))
    } else {
        OidcError::new(
            ErrorKind::TokenRequest,
            rocket::http::Status::BadRequest,
            code,
            description,
        )
        .with_log_detail(format!("{what} was refused"))
    }
}
