//! One configured provider at run time: its metadata (discovered lazily and cached), its keys
//! (cached, refetched once on an unknown `kid`), and the calls the code flow makes to it.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::Mutex;

use super::discovery;
use super::registration::{Credentials, Registrar};
use crate::config::{
    AssertionAudience, ClientAuth, MetadataSource, ProviderConfig, ProviderMetadata, UserinfoMethod,
};
use crate::error::{sanitize, ErrorKind, OidcError};
use crate::protocol::dpop;
use crate::protocol::http::{Auth, Body, HttpClient, HttpResponse};
use crate::protocol::jwk::KeySet;
use crate::protocol::logout_token::{validate_logout_token, LogoutTokenCheck, ValidLogoutToken};
use crate::protocol::signing::{self, SigningAlg, SigningKey};
use crate::protocol::time::now;
use crate::protocol::validation::{self, IdTokenCheck, Rejection, ValidIdToken};

/// After a failed discovery, logins fail fast for this long instead of queueing on the
/// provider; then the next login tries again, so the app recovers by itself.
const DISCOVERY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long loaded metadata is used before discovery runs again (a failure keeps the old
/// metadata and tries again a minute later).
const METADATA_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// After a failed scheduled reload, the old metadata or keys serve this long before the
/// next attempt.
const RELOAD_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The JWKS is refetched for an unknown `kid` at most this often (the first load does not
/// count), so a stream of tokens naming unknown keys cannot hammer the provider.
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(5);

/// Client assertions expire this many seconds after they are made.
const ASSERTION_LIFETIME: i64 = 60;

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
}

impl Resolved {
    pub(crate) fn client_id(&self) -> &str {
        &self.credentials.client_id
    }

    fn client_secret(&self) -> Option<&str> {
        self.credentials.client_secret.as_ref().map(|s| s.expose())
    }
}

/// What one login asks of the provider beyond the configuration: set by a route through
/// [`Login`](crate::Login). State, nonce, PKCE, `client_id`, `redirect_uri` and
/// `response_type` are not among them: nothing overrides those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LoginParams {
    pub(crate) prompt: Option<String>,
    pub(crate) login_hint: Option<String>,
    pub(crate) ui_locales: Option<String>,
    /// Scopes besides the configured ones.
    pub(crate) extra_scopes: Vec<String>,
    /// Replaces the configured `acr_values`; the ID token's `acr` must be one of them.
    pub(crate) acr_values: Vec<String>,
    /// Replaces the configured `max_age`; makes `auth_time` mandatory.
    pub(crate) max_age: Option<i64>,
}

/// What the callback checks of the login it finishes (Core 3.1.3.7 items 11 to 13).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginCheck<'a> {
    pub(crate) nonce: &'a str,
    pub(crate) max_age: Option<i64>,
    pub(crate) acr_values: &'a [String],
}

/// The token endpoint's successful answer (RFC 6749 5.1, Core 3.1.3.3).
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    pub(crate) token_type: String,
    #[serde(default, deserialize_with = "number_or_numeric_string")]
    pub(crate) expires_in: Option<f64>,
    pub(crate) refresh_token: Option<String>,
    pub(crate) id_token: Option<String>,
    /// The granted scope, when the provider says it (RFC 6749 5.1).
    pub(crate) scope: Option<String>,
}

/// `expires_in` as a JSON number, or as a numeric string (some Azure AD endpoints send
/// `"3600"`): the duty is the provider's, and refusing would only lock users out.
fn number_or_numeric_string<'de, D>(deserializer: D) -> Result<Option<f64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrString {
        Number(f64),
        String(String),
    }
    Ok(match Option::<NumberOrString>::deserialize(deserializer)? {
        Some(NumberOrString::Number(n)) => Some(n),
        Some(NumberOrString::String(s)) => s.trim().parse::<f64>().ok(),
        None => None,
    })
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
    redirect_uri: String,
    clock_skew: i64,
    http: HttpClient,
    metadata: RwLock<Option<Arc<Resolved>>>,
    /// When the metadata is due for a reload (discovery only).
    metadata_due: std::sync::Mutex<Option<Instant>>,
    last_discovery_failure: Mutex<Option<(Instant, OidcError)>>,
    /// Registers the client when it is not configured (`client_registration`).
    registrar: Option<Registrar>,
    /// The last `DPoP-Nonce` of the provider's token endpoint, and of its UserInfo
    /// endpoint (RFC 9449 8, 9): the next proof carries it.
    token_dpop_nonce: std::sync::Mutex<Option<String>>,
    userinfo_dpop_nonce: std::sync::Mutex<Option<String>>,
    jwks: RwLock<Option<Arc<KeySet>>>,
    /// When the keys are due for a reload: a key the provider removed stops being trusted.
    jwks_due: std::sync::Mutex<Option<Instant>>,
    /// When an unknown `kid` last made us refetch the JWKS.
    last_jwks_refetch: Mutex<Option<Instant>>,
}

impl ProviderClient {
    pub(crate) fn new(
        config: ProviderConfig,
        redirect_uri: String,
        clock_skew: i64,
        http: HttpClient,
        registrar: Option<Registrar>,
    ) -> Self {
        ProviderClient {
            config,
            redirect_uri,
            clock_skew,
            http,
            registrar,
            token_dpop_nonce: std::sync::Mutex::new(None),
            userinfo_dpop_nonce: std::sync::Mutex::new(None),
            metadata: RwLock::new(None),
            metadata_due: std::sync::Mutex::new(None),
            last_discovery_failure: Mutex::new(None),
            jwks: RwLock::new(None),
            jwks_due: std::sync::Mutex::new(None),
            last_jwks_refetch: Mutex::new(None),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    /// The provider's metadata: cached after the first success, discovered otherwise.
    pub(crate) async fn metadata(&self) -> Result<Arc<Resolved>, OidcError> {
        let cached = read(&self.metadata);
        if let Some(resolved) = &cached {
            if !is_due(&self.metadata_due) && !resolved.credentials.expired(now()) {
                return Ok(resolved.clone());
            }
        }
        // One discovery at a time; the others wait for its result instead of repeating it.
        let mut last_failure = self.last_discovery_failure.lock().await;
        if let Some(resolved) = read(&self.metadata) {
            if !is_due(&self.metadata_due) && !resolved.credentials.expired(now()) {
                return Ok(resolved);
            }
        }
        if let Some((at, err)) = last_failure.as_ref() {
            if at.elapsed() < DISCOVERY_RETRY_AFTER {
                return Err(err.clone());
            }
        }
        let metadata = match &self.config.source {
            MetadataSource::Static(metadata) => Ok((**metadata).clone()),
            MetadataSource::Discovery { issuer } => {
                discovery::discover(
                    &self.http,
                    issuer,
                    self.config.client.discovery_url.as_deref(),
                    self.name(),
                    self.config.url_policy,
                )
                .await
            }
        };
        match metadata {
            Ok(mut metadata) => {
                self.config.endpoints.apply(&mut metadata);
                let checked = match self.check_metadata(&metadata) {
                    Ok(()) => self.credentials(&metadata).await,
                    Err(err) => Err(err),
                };
                let checked = checked.and_then(|credentials| {
                    if credentials.require_par
                        && metadata.pushed_authorization_request_endpoint.is_none()
                    {
                        return Err(OidcError::configuration(format!(
                            "provider {:?} registered client {:?} with \
                             require_pushed_authorization_requests, but has no \
                             pushed_authorization_request_endpoint: check the provider's PAR \
                             settings",
                            self.name(),
                            credentials.client_id
                        )));
                    }
                    Ok(credentials)
                });
                let credentials = match checked {
                    Ok(credentials) => credentials,
                    Err(err) => {
                        let err = with_context(err, self.name());
                        *last_failure = Some((Instant::now(), err.clone()));
                        return Err(err);
                    }
                };
                let has_secret = credentials.client_secret.is_some();
                let resolved = Arc::new(Resolved {
                    allowed_algs: allowed_algs(
                        &metadata,
                        has_secret,
                        self.config.client.id_token_alg,
                        self.name(),
                    ),
                    // RFC 9068 4: the provider's keys only; a client secret would let anyone
                    // holding it mint tokens for the API.
                    access_token_algs: allowed_algs(&metadata, false, None, self.name()),
                    metadata,
                    credentials,
                });
                *self.metadata.write().unwrap_or_else(|e| e.into_inner()) = Some(resolved.clone());
                if matches!(self.config.source, MetadataSource::Discovery { .. }) {
                    set_due(&self.metadata_due, METADATA_MAX_AGE);
                }
                *last_failure = None;
                log::info!(
                    "oidc: provider {:?}: metadata of {} loaded",
                    self.name(),
                    resolved.metadata.issuer
                );
                Ok(resolved)
            }
            Err(err) => {
                let err = with_context(err, self.name());
                if let Some(resolved) = cached {
                    // A scheduled reload that failed: the metadata in hand serves on.
                    log::warn!(
                        "oidc: provider {:?}: reloading its metadata failed, the loaded one \
                         serves on: {}",
                        self.name(),
                        err.developer_detail().unwrap_or(err.error_description())
                    );
                    set_due(&self.metadata_due, RELOAD_RETRY_AFTER);
                    return Ok(resolved);
                }
                // Logged once, by whoever answers the request (or launch) with it.
                *last_failure = Some((Instant::now(), err.clone()));
                Err(err)
            }
        }
    }

    /// The configured client, or the registered one (kept, or registered now).
    async fn credentials(
        &self,
        metadata: &ProviderMetadata,
    ) -> Result<Arc<Credentials>, OidcError> {
        match &self.registrar {
            None => Ok(Arc::new(Credentials::configured(
                self.config.client_id.clone(),
                self.config.client_secret.clone(),
            ))),
            Some(registrar) => {
                let credentials = registrar.credentials(&self.http, metadata).await?;
                if self.config.client.client_auth.needs_secret()
                    && credentials.client_secret.is_none()
                {
                    return Err(OidcError::configuration(format!(
                        "provider {:?} registered client {:?} without a client_secret, but \
                         token_endpoint_auth_method {} needs one: choose private_key_jwt or \
                         none, or check the provider's registration policy",
                        self.name(),
                        credentials.client_id,
                        self.config.client.client_auth.name()
                    )));
                }
                Ok(Arc::new(credentials))
            }
        }
    }

    /// After the provider refused a registered client (`invalid_client`): forget it, so the
    /// next use registers again.
    async fn forget_refused_client(&self, resolved: &Resolved, err: &OidcError) {
        let Some(registrar) = &self.registrar else {
            return;
        };
        if err.error() != "invalid_client" {
            return;
        }
        registrar.forget(resolved.client_id()).await;
        // The next metadata() call resolves again, and registers.
        set_due(&self.metadata_due, Duration::ZERO);
    }

    /// The liftoff summary's word on where the client comes from.
    pub(crate) fn registration_source(&self) -> String {
        match &self.registrar {
            None => "configured client_id".to_string(),
            Some(registrar) => registrar.describe(),
        }
    }

    /// What the client's settings need from the provider: a PAR endpoint when logins push,
    /// an advertised assertion algorithm. A mismatch is a configuration error (launch stops);
    /// an authentication method the provider does not list is only logged, since providers
    /// often list fewer than they accept.
    fn check_metadata(&self, metadata: &ProviderMetadata) -> Result<(), OidcError> {
        let name = self.name();
        let settings = &self.config.client;
        if (settings.use_par || metadata.require_pushed_authorization_requests)
            && metadata.pushed_authorization_request_endpoint.is_none()
        {
            let why = if settings.use_par {
                format!("oidc.providers.{name}.use_par is on")
            } else {
                "its metadata sets require_pushed_authorization_requests".to_string()
            };
            return Err(OidcError::configuration(format!(
                "provider {name:?} has no pushed_authorization_request_endpoint, but {why}: \
                 turn use_par off, or check the provider's PAR settings"
            )));
        }
        let assertion_alg = match (settings.client_auth, &settings.private_key) {
            (ClientAuth::SecretJwt(alg), _) => Some(alg),
            (ClientAuth::PrivateKeyJwt, Some(key)) => Some(key.alg()),
            _ => None,
        };
        let advertised = &metadata.token_endpoint_auth_signing_alg_values_supported;
        if let Some(alg) = assertion_alg {
            if !advertised.is_empty() && !advertised.iter().any(|a| a == alg.name()) {
                return Err(OidcError::configuration(format!(
                    "provider {name:?} does not accept {alg} client assertions (it lists {}): \
                     set oidc.providers.{name}.token_endpoint_auth_signing_alg to one of them{}",
                    advertised.join(", "),
                    if settings.private_key.is_some() {
                        " that fits the private key"
                    } else {
                        ""
                    }
                )));
            }
        }
        if let Some(alg) = settings.dpop {
            let advertised = &metadata.dpop_signing_alg_values_supported;
            if advertised.is_empty() {
                log::warn!(
                    "oidc: provider {name:?} does not advertise DPoP \
                     (dpop_signing_alg_values_supported), but oidc.providers.{name}.dpop is on: \
                     logins fail if it answers with Bearer tokens"
                );
            } else if !advertised.iter().any(|a| a == alg.name()) {
                return Err(OidcError::configuration(format!(
                    "provider {name:?} does not accept {alg} DPoP proofs (it lists {}): set \
                     oidc.providers.{name}.dpop_alg to ES256 or EdDSA among them",
                    advertised.join(", ")
                )));
            }
        }
        let methods = &metadata.token_endpoint_auth_methods_supported;
        let method = settings.client_auth.name();
        if !methods.is_empty() && !methods.iter().any(|m| m == method) {
            log::warn!(
                "oidc: provider {name:?} does not list {method} in \
                 token_endpoint_auth_methods_supported ({}); trying it anyway",
                methods.join(", ")
            );
        }
        Ok(())
    }

    /// The provider's keys, fetched on first use.
    pub(crate) async fn keys(&self, resolved: &Resolved) -> Result<Arc<KeySet>, OidcError> {
        match read(&self.jwks) {
            Some(keys) if !is_due(&self.jwks_due) => Ok(keys),
            // Due for its scheduled reload: a key the provider removed must stop working.
            Some(keys) => match self.reload_keys(resolved, &keys).await {
                Ok(fresh) => Ok(fresh),
                Err(err) => {
                    log::warn!(
                        "oidc: provider {:?}: reloading its keys failed, the loaded ones serve \
                         on: {}",
                        self.name(),
                        err.developer_detail().unwrap_or(err.error_description())
                    );
                    set_due(&self.jwks_due, RELOAD_RETRY_AFTER);
                    Ok(keys)
                }
            },
            None => self.refetch_keys(resolved, None).await,
        }
    }

    /// The scheduled reload of the JWKS: one request fetches, the others use its result.
    async fn reload_keys(
        &self,
        resolved: &Resolved,
        loaded: &Arc<KeySet>,
    ) -> Result<Arc<KeySet>, OidcError> {
        let _one_at_a_time = self.last_jwks_refetch.lock().await;
        if let Some(current) = read(&self.jwks) {
            if !Arc::ptr_eq(&current, loaded) || !is_due(&self.jwks_due) {
                return Ok(current);
            }
        }
        self.store_keys(resolved).await
    }

    /// Fetches and keeps the JWKS, due again after `jwks_max_age_seconds`.
    async fn store_keys(&self, resolved: &Resolved) -> Result<Arc<KeySet>, OidcError> {
        let keys = Arc::new(
            discovery::fetch_jwks(&self.http, resolved.metadata.jwks_uri())
                .await
                .map_err(|e| with_context(e, self.name()))?,
        );
        *self.jwks.write().unwrap_or_else(|e| e.into_inner()) = Some(keys.clone());
        set_due(&self.jwks_due, self.config.jwks_max_age);
        Ok(keys)
    }

    /// Fetches the JWKS again unless another request just did (then its result is used).
    pub(crate) async fn refetch_keys(
        &self,
        resolved: &Resolved,
        stale: Option<&Arc<KeySet>>,
    ) -> Result<Arc<KeySet>, OidcError> {
        let mut last_refetch = self.last_jwks_refetch.lock().await;
        if let Some(current) = read(&self.jwks) {
            let replaced = stale.is_none_or(|stale| !Arc::ptr_eq(stale, &current));
            let too_soon = last_refetch.is_some_and(|at| at.elapsed() < JWKS_MIN_REFETCH);
            if replaced || too_soon {
                return Ok(current);
            }
        }
        let keys = self.store_keys(resolved).await?;
        if stale.is_some() {
            *last_refetch = Some(Instant::now());
        }
        Ok(keys)
    }

    /// Whether logins push their parameters first (RFC 9126): configured, or required by
    /// the provider or the registered client.
    pub(crate) fn uses_par(&self, resolved: &Resolved) -> bool {
        self.config.client.use_par
            || resolved.metadata.require_pushed_authorization_requests
            || resolved.credentials.require_par
    }

    /// The URL that sends the browser to the provider (Core 3.1.2.1) with PKCE S256: the
    /// whole request in the query, or with PAR only `client_id` and the `request_uri` the
    /// provider gave for the pushed parameters.
    pub(crate) async fn authorization_url(
        &self,
        resolved: &Resolved,
        state: &str,
        nonce: &str,
        code_challenge: &str,
        silent: bool,
        login: &LoginParams,
    ) -> Result<String, OidcError> {
        let mut scope = self.config.scope.clone();
        for extra in &login.extra_scopes {
            if !scope.split(' ').any(|s| s == extra) {
                scope.push(' ');
                scope.push_str(extra);
            }
        }
        let acr_values = login.acr_values.join(" ");
        let max_age = login.max_age.map(|m| m.to_string());
        // The route's choices replace the configured ones of the same name.
        let chosen: Vec<(&str, &str)> = [
            ("prompt", login.prompt.as_deref()),
            ("login_hint", login.login_hint.as_deref()),
            ("ui_locales", login.ui_locales.as_deref()),
            (
                "acr_values",
                (!acr_values.is_empty()).then_some(acr_values.as_str()),
            ),
            ("max_age", max_age.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect();
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", resolved.client_id()),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &scope),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ];
        for (name, value) in &self.config.auth_request_params {
            let replaced = chosen.iter().any(|(chosen, _)| chosen == name);
            if !(replaced || silent && name == "prompt") {
                params.push((name, value));
            }
        }
        params.extend(chosen.iter().copied());
        if silent {
            params.push(("prompt", "none"));
        }
        let mut url = url::Url::parse(&resolved.metadata.authorization_endpoint)
            .expect("authorization_endpoint was checked when the metadata was loaded");
        if self.uses_par(resolved) {
            let request_uri = self.push_authorization_request(resolved, &params).await?;
            url.query_pairs_mut()
                .append_pair("client_id", resolved.client_id())
                .append_pair("request_uri", &request_uri);
        } else {
            url.query_pairs_mut().extend_pairs(params);
        }
        Ok(url.into())
    }

    /// Pushes an authorization request (RFC 9126 2) with the client's authentication;
    /// returns its `request_uri`.
    async fn push_authorization_request(
        &self,
        resolved: &Resolved,
        params: &[(&str, &str)],
    ) -> Result<String, OidcError> {
        let Some(endpoint) = resolved
            .metadata
            .pushed_authorization_request_endpoint
            .as_deref()
        else {
            return Err(OidcError::configuration(format!(
                "provider {:?} has no pushed_authorization_request_endpoint, but logins must \
                 use PAR (oidc.providers.{}.use_par, or the provider requires it)",
                self.name(),
                self.name()
            )));
        };
        let what = format!("pushed authorization request to {endpoint}");
        let response = self
            .post_authenticated(resolved, endpoint, params, &what)
            .await?;
        #[derive(Deserialize)]
        struct Pushed {
            request_uri: String,
        }
        match response.status {
            // RFC 9126 2.2 says 201; a 200 with the same body is taken (the provider's duty).
            200 | 201 => serde_json::from_slice::<Pushed>(&response.body)
                .ok()
                .filter(|pushed| !pushed.request_uri.is_empty())
                .map(|pushed| pushed.request_uri)
                .ok_or_else(|| {
                    OidcError::bad_provider_response(format!(
                        "{what}: the answer has no request_uri"
                    ))
                }),
            400 | 401 => {
                let err = oauth_refusal(&response, &what, self.name());
                self.forget_refused_client(resolved, &err).await;
                Err(err)
            }
            status => Err(OidcError::bad_provider_response(format!(
                "{what}: status {status}"
            ))),
        }
    }

    /// Exchanges an authorization code at the token endpoint (Core 3.1.3.1), with a DPoP
    /// proof of `dpop` when the tokens are to be bound to it.
    pub(crate) async fn exchange_code(
        &self,
        resolved: &Resolved,
        code: &str,
        code_verifier: &str,
        dpop: Option<&SigningKey>,
    ) -> Result<TokenResponse, OidcError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", code_verifier),
        ];
        let what = format!("token request to {}", resolved.metadata.token_endpoint());
        self.token_request(resolved, &form, &what, dpop).await
    }

    /// Uses a refresh token at the token endpoint (RFC 6749 6, Core 12.1); a DPoP-bound
    /// refresh token needs a proof of the same key.
    pub(crate) async fn refresh(
        &self,
        resolved: &Resolved,
        refresh_token: &str,
        dpop: Option<&SigningKey>,
    ) -> Result<TokenResponse, OidcError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        let what = format!("refresh request to {}", resolved.metadata.token_endpoint());
        self.token_request(resolved, &form, &what, dpop).await
    }

    /// One token request; with DPoP, answers a nonce challenge (`use_dpop_nonce`) once.
    async fn token_request(
        &self,
        resolved: &Resolved,
        form: &[(&str, &str)],
        what: &str,
        dpop: Option<&SigningKey>,
    ) -> Result<TokenResponse, OidcError> {
        let endpoint = resolved.metadata.token_endpoint();
        let mut challenged = false;
        let response = loop {
            let proof = dpop.map(|key| {
                let nonce = lock(&self.token_dpop_nonce).clone();
                dpop::proof(key, "POST", endpoint, nonce.as_deref(), None)
            });
            let headers: Vec<(&'static str, &str)> =
                proof.iter().map(|p| ("DPoP", p.as_str())).collect();
            let response = self
                .post_authenticated_with(resolved, endpoint, form, &headers, what)
                .await?;
            if let Some(nonce) = &response.dpop_nonce {
                *lock(&self.token_dpop_nonce) = Some(nonce.clone());
            }
            let retry = dpop.is_some()
                && !challenged
                && response.status == 400
                && response.dpop_nonce.is_some()
                && oauth_error_code(&response.body).as_deref() == Some("use_dpop_nonce");
            if !retry {
                break response;
            }
            challenged = true;
        };
        let tokens = parse_token_response(response, what, self.name(), dpop.is_some());
        if let Err(err) = &tokens {
            self.forget_refused_client(resolved, err).await;
        }
        tokens
    }

    /// Asks for a machine-to-machine access token (RFC 6749 4.4), for `resource` (RFC 8707)
    /// when given, with the client's authentication.
    pub(crate) async fn client_credentials(
        &self,
        resolved: &Resolved,
        scope: &str,
        resource: Option<&str>,
    ) -> Result<TokenResponse, OidcError> {
        let mut form = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", scope));
        }
        if let Some(resource) = resource {
            form.push(("resource", resource));
        }
        let what = format!(
            "client credentials request to {}",
            resolved.metadata.token_endpoint()
        );
        self.token_request(resolved, &form, &what, None).await
    }

    /// Introspects `token` (RFC 7662) with the client's authentication. `Ok(Err(why))`: the
    /// provider refused to tell about this token (a 400): to the API, an invalid token.
    pub(crate) async fn introspect(
        &self,
        resolved: &Resolved,
        token: &str,
    ) -> Result<Result<Vec<u8>, String>, OidcError> {
        let Some(endpoint) = resolved.metadata.introspection_endpoint.as_deref() else {
            return Err(OidcError::configuration(format!(
                "provider {:?} has no introspection_endpoint: set oidc.providers.{}.\
                 access_token_validation = \"jwt\" for JWT access tokens, or name the endpoint \
                 in [..providers.{}.endpoints]",
                self.name(),
                self.name(),
                self.name()
            )));
        };
        let what = format!("introspection request to {endpoint}");
        let form = [("token", token), ("token_type_hint", "access_token")];
        let response = self
            .post_authenticated(resolved, endpoint, &form, &what)
            .await?;
        match response.status {
            200 => {
                // RFC 7662 2.2: a JSON object with a boolean `active`; anything else is the
                // provider failing, not the token (and is not cached).
                let answer = serde_json::from_slice::<serde_json::Value>(&response.body).ok();
                if answer.is_some_and(|a| a.get("active").is_some_and(|v| v.is_boolean())) {
                    Ok(Ok(response.body))
                } else {
                    Err(OidcError::bad_provider_response(format!(
                        "{what}: the answer is not an introspection response (a JSON object \
                         with a boolean active)"
                    )))
                }
            }
            400 => Ok(Err(format!(
                "the provider would not introspect it ({})",
                oauth_error_code(&response.body)
                    .map(|e| sanitize(&e, 64))
                    .unwrap_or_else(|| "status 400".into())
            ))),
            401 | 403 => {
                let err = oauth_refusal(&response, &what, self.name());
                self.forget_refused_client(resolved, &err).await;
                Err(OidcError::bad_provider_response(format!(
                    "{what}: the provider refused this client's credentials (status {}; check \
                     oidc.providers.{}.client_id, client_secret and token_endpoint_auth_method)",
                    response.status,
                    self.name()
                )))
            }
            status => Err(OidcError::bad_provider_response(format!(
                "{what}: status {status}"
            ))),
        }
    }

    /// Revokes `token` (RFC 7009) when the provider has a revocation endpoint.
    pub(crate) async fn revoke(
        &self,
        resolved: &Resolved,
        token: &str,
        hint: &str,
    ) -> Result<(), OidcError> {
        let Some(endpoint) = resolved.metadata.revocation_endpoint.as_deref() else {
            return Ok(());
        };
        let what = format!("revocation request to {endpoint}");
        let form = [("token", token), ("token_type_hint", hint)];
        let response = self
            .post_authenticated(resolved, endpoint, &form, &what)
            .await?;
        // RFC 7009 2.2: 200 whether or not the token was still valid.
        if response.status == 200 {
            Ok(())
        } else {
            Err(OidcError::bad_provider_response(format!(
                "{what}: status {}",
                response.status
            )))
        }
    }

    /// POSTs `fields` to one of the provider's endpoints with the client's authentication.
    async fn post_authenticated(
        &self,
        resolved: &Resolved,
        endpoint: &str,
        fields: &[(&str, &str)],
        what: &str,
    ) -> Result<HttpResponse, OidcError> {
        self.post_authenticated_with(resolved, endpoint, fields, &[], what)
            .await
    }

    /// [`Self::post_authenticated`] with extra headers (a DPoP proof).
    async fn post_authenticated_with(
        &self,
        resolved: &Resolved,
        endpoint: &str,
        fields: &[(&str, &str)],
        headers: &[(&'static str, &str)],
        what: &str,
    ) -> Result<HttpResponse, OidcError> {
        let client_id = resolved.client_id();
        let secret = resolved.client_secret();
        let mut form = fields.to_vec();
        // RFC 9126 2.1: a pushed request carries client_id itself, whatever the
        // authentication; every other request gets it from here (once).
        let has_client_id = form.iter().any(|(name, _)| *name == "client_id");
        let basic = matches!(
            (self.config.client.client_auth, secret),
            (ClientAuth::Basic, Some(_))
        );
        if !basic && !has_client_id {
            form.push(("client_id", client_id));
        }
        let assertion;
        let auth = match (self.config.client.client_auth, secret) {
            (ClientAuth::Basic, Some(secret)) => Auth::Basic {
                user: client_id,
                password: secret,
            },
            (ClientAuth::Post, Some(secret)) => {
                form.push(("client_secret", secret));
                Auth::None
            }
            (ClientAuth::SecretJwt(_) | ClientAuth::PrivateKeyJwt, _) => {
                assertion = self.client_assertion(resolved, client_id, secret)?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ));
                form.push(("client_assertion", &assertion));
                Auth::None
            }
            _ => Auth::None,
        };
        self.http
            .send_with(
                reqwest::Method::POST,
                endpoint,
                auth,
                Body::Form(&form),
                headers,
                what,
            )
            .await
    }

    /// A client assertion (RFC 7523 2.2, Core 9): `iss` = `sub` = client_id, `aud` = the
    /// issuer (or the token endpoint), a fresh `jti`, valid for a minute.
    fn client_assertion(
        &self,
        resolved: &Resolved,
        client_id: &str,
        secret: Option<&str>,
    ) -> Result<String, OidcError> {
        let audience = match self.config.client.assertion_audience {
            AssertionAudience::Issuer => resolved.metadata.issuer.as_str(),
            AssertionAudience::TokenEndpoint => resolved.metadata.token_endpoint(),
        };
        let now = now();
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": crate::protocol::random::random_token(),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let signed = match (
            self.config.client.client_auth,
            &self.config.client.private_key,
        ) {
            (ClientAuth::SecretJwt(alg), _) => {
                secret.and_then(|secret| signing::sign_hmac(secret, alg, &claims))
            }
            (ClientAuth::PrivateKeyJwt, Some(key)) => Some(key.sign(Default::default(), &claims)),
            _ => None,
        };
        signed.ok_or_else(|| {
            OidcError::configuration(format!(
                "provider {:?}: no key to sign a client assertion with (check \
                 oidc.providers.{}.token_endpoint_auth_method and private_key)",
                self.name(),
                self.name()
            ))
        })
    }

    /// The metadata if it was loaded already; never waits for the provider.
    pub(crate) fn cached_metadata(&self) -> Option<Arc<Resolved>> {
        read(&self.metadata)
    }

    /// Validates an ID token, refetching the JWKS once when it names an unknown key.
    /// `login` is the login the token finishes (none for a refreshed token, which repeats
    /// the original authentication).
    pub(crate) async fn validate_id_token(
        &self,
        resolved: &Resolved,
        id_token: &str,
        login: Option<LoginCheck<'_>>,
        access_token: Option<&str>,
    ) -> Result<ValidIdToken, OidcError> {
        let keys = self.keys(resolved).await?;
        // The time the token is checked at, after every network call that led to it.
        let now = now();
        let check = IdTokenCheck {
            issuer: &resolved.metadata.issuer,
            client_id: resolved.client_id(),
            trusted_audiences: &self.config.trusted_audiences,
            allowed_algs: &resolved.allowed_algs,
            client_secret: resolved.client_secret(),
            nonce: login.map(|l| l.nonce),
            max_age: login.and_then(|l| l.max_age),
            acr_values: login.map_or(&[], |l| l.acr_values),
            access_token,
            now,
            clock_skew: self.clock_skew,
        };
        let outcome = match validation::validate_id_token(id_token, &keys, &check) {
            Err(Rejection::UnknownKey(_)) => {
                let fresh = self.refetch_keys(resolved, Some(&keys)).await?;
                validation::validate_id_token(id_token, &fresh, &check)
            }
            outcome => outcome,
        };
        outcome.map_err(|rejection| {
            OidcError::invalid_id_token(format!(
                "the ID token from provider {:?} is invalid: {}",
                self.name(),
                rejection.into_message()
            ))
        })
    }

    /// Validates a back-channel logout token, refetching the JWKS once when it names an
    /// unknown key.
    pub(crate) async fn validate_logout_token(
        &self,
        resolved: &Resolved,
        logout_token: &str,
    ) -> Result<ValidLogoutToken, OidcError> {
        let keys = self.keys(resolved).await?;
        let check = LogoutTokenCheck {
            issuer: &resolved.metadata.issuer,
            client_id: resolved.client_id(),
            trusted_audiences: &self.config.trusted_audiences,
            allowed_algs: &resolved.allowed_algs,
            client_secret: resolved.client_secret(),
            now: now(),
            clock_skew: self.clock_skew,
        };
        let outcome = match validate_logout_token(logout_token, &keys, &check) {
            Err(Rejection::UnknownKey(_)) => {
                let fresh = self.refetch_keys(resolved, Some(&keys)).await?;
                validate_logout_token(logout_token, &fresh, &check)
            }
            outcome => outcome,
        };
        outcome.map_err(|rejection| {
            OidcError::new(
                ErrorKind::InvalidRequest,
                rocket::http::Status::BadRequest,
                "invalid_request",
                format!("the logout token is invalid: {}", rejection.into_message()),
            )
            .with_log_detail(format!("checked for provider {:?}", self.name()))
        })
    }

    /// Fetches UserInfo (Core 5.3) unless disabled, and checks its `sub`.
    pub(crate) async fn userinfo(
        &self,
        resolved: &Resolved,
        access_token: &str,
        subject: &str,
        dpop: Option<&SigningKey>,
    ) -> Result<Option<Box<RawValue>>, OidcError> {
        let method = match self.config.userinfo {
            UserinfoMethod::None => return Ok(None),
            UserinfoMethod::Get => reqwest::Method::GET,
            UserinfoMethod::Post => reqwest::Method::POST,
        };
        let Some(endpoint) = resolved.metadata.userinfo_endpoint.as_deref() else {
            return Ok(None);
        };
        let what = format!("UserInfo request to {endpoint}");
        let post = method == reqwest::Method::POST;
        let mut challenged = false;
        let response = loop {
            let (auth, proof) = match dpop {
                Some(key) => {
                    let nonce = lock(&self.userinfo_dpop_nonce).clone();
                    let proof = dpop::proof(
                        key,
                        method.as_str(),
                        endpoint,
                        nonce.as_deref(),
                        Some(access_token),
                    );
                    (Auth::Dpop(access_token), Some(proof))
                }
                None => (Auth::Bearer(access_token), None),
            };
            let headers: Vec<(&'static str, &str)> =
                proof.iter().map(|p| ("DPoP", p.as_str())).collect();
            let body = if post { Body::Form(&[]) } else { Body::Empty };
            let response = self
                .http
                .send_with(method.clone(), endpoint, auth, body, &headers, &what)
                .await?;
            if let Some(nonce) = &response.dpop_nonce {
                *lock(&self.userinfo_dpop_nonce) = Some(nonce.clone());
            }
            let retry = dpop.is_some()
                && !challenged
                && response.status == 401
                && response.dpop_nonce.is_some()
                && dpop::asks_for_nonce(response.www_authenticate.as_deref());
            if !retry {
                break response;
            }
            challenged = true;
        };
        if response.status != 200 {
            return Err(OidcError::bad_provider_response(format!(
                "{what}: status {}",
                response.status
            )));
        }
        if !response.is_json() {
            return Err(OidcError::invalid_userinfo(format!(
                "{what}: content type {:?} is not supported (signed or encrypted UserInfo is not \
                 supported yet); set oidc.providers.{}.userinfo_http_method = \"none\" to skip it",
                sanitize(&response.content_type, 64),
                self.name()
            )));
        }
        #[derive(Deserialize)]
        struct Subject {
            sub: Option<String>,
        }
        let parsed: Subject = serde_json::from_slice(&response.body)
            .map_err(|e| OidcError::invalid_userinfo(format!("{what}: not a JSON object: {e}")))?;
        // Core 5.3.2: the sub in the UserInfo response must equal the ID token's.
        if parsed.sub.as_deref() != Some(subject) {
            return Err(OidcError::invalid_userinfo(format!(
                "{what}: the response's sub does not match the ID token's sub"
            )));
        }
        let raw = String::from_utf8(response.body)
            .ok()
            .and_then(|text| RawValue::from_string(text).ok())
            .ok_or_else(|| OidcError::invalid_userinfo(format!("{what}: not UTF-8 JSON")))?;
        Ok(Some(raw))
    }
}

/// Whether the deadline in `due` has passed.
fn is_due(due: &std::sync::Mutex<Option<Instant>>) -> bool {
    due.lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_some_and(|at| Instant::now() >= at)
}

fn set_due(due: &std::sync::Mutex<Option<Instant>>, after: Duration) {
    *due.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + after);
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `error` of an OAuth error response, if the body is one.
fn oauth_error_code(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<OAuthErrorResponse>(body)
        .ok()
        .map(|e| e.error)
}

fn read<T>(lock: &RwLock<Option<Arc<T>>>) -> Option<Arc<T>> {
    lock.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The ID token algorithms this client accepts: the pinned one
/// (`id_token_signed_response_alg`), else what the provider advertises, minus `none`, minus
/// HMAC when there is no client secret; RS256 when the provider advertises nothing.
fn allowed_algs(
    metadata: &ProviderMetadata,
    has_secret: bool,
    pin: Option<SigningAlg>,
    provider: &str,
) -> Vec<SigningAlg> {
    if let Some(pin) = pin {
        if !metadata
            .id_token_signing_alg_values_supported
            .iter()
            .any(|name| name == pin.name())
        {
            // The provider's duty to list it; a stricter check would only lock users out.
            log::warn!(
                "oidc: provider {provider:?} does not advertise {pin} for ID tokens \
                 (id_token_signing_alg_values_supported), but oidc.providers.{provider}.\
                 id_token_signed_response_alg pins it: ID tokens signed otherwise are refused"
            );
        }
        return vec![pin];
    }
    let algs: Vec<_> = metadata
        .id_token_signing_alg_values_supported
        .iter()
        .filter_map(|name| validation::parse_alg(name))
        .filter(|alg| has_secret || !alg.is_hmac())
        .collect();
    if algs.is_empty() {
        vec![SigningAlg::Rs256]
    } else {
        algs
    }
}

fn with_context(err: OidcError, provider: &str) -> OidcError {
    let detail = format!(
        "provider {provider:?}: {}",
        err.developer_detail().unwrap_or(err.error_description())
    );
    err.with_log_detail(detail)
}

fn parse_token_response(
    response: HttpResponse,
    what: &str,
    provider: &str,
    dpop: bool,
) -> Result<TokenResponse, OidcError> {
    match response.status {
        200 => {
            let tokens: TokenResponse = serde_json::from_slice(&response.body).map_err(|e| {
                OidcError::bad_provider_response(format!("{what}: not a token response: {e}"))
            })?;
            // RFC 9449 5: a DPoP-bound token is of type DPoP. A Bearer answer to a DPoP
            // request would silently drop the binding the app asked for; a DPoP answer to a
            // plain request binds to a key this client never had.
            let expected = if dpop { "DPoP" } else { "Bearer" };
            if !tokens.token_type.eq_ignore_ascii_case(expected) {
                let fix = if dpop {
                    format!(
                        "; the provider does not bind tokens to DPoP keys for this client: turn \
                         DPoP on at the provider, or set oidc.providers.{provider}.dpop = false"
                    )
                } else {
                    String::new()
                };
                return Err(OidcError::bad_provider_response(format!(
                    "{what}: token_type {:?} where {expected} was asked for{fix}",
                    sanitize(&tokens.token_type, 32)
                )));
            }
            Ok(tokens)
        }
        400 | 401 => Err(oauth_refusal(&response, what, provider)),
        status => Err(OidcError::bad_provider_response(format!(
            "{what}: status {status}"
        ))),
    }
}

/// A 400 or 401 from one of the provider's endpoints, read as an OAuth error response
/// (RFC 6749 5.2): the app's own credentials refused are the operators' problem (502),
/// anything else the provider's answer to this request (400).
fn oauth_refusal(response: &HttpResponse, what: &str, provider: &str) -> OidcError {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_may_be_a_number_or_a_numeric_string() {
        let parse = |json: &str| {
            serde_json::from_str::<TokenResponse>(json)
                .unwrap()
                .expires_in
        };
        let base = r#""access_token":"a","token_type":"Bearer""#;
        assert_eq!(
            parse(&format!("{{{base},\"expires_in\":3600}}")),
            Some(3600.0)
        );
        assert_eq!(
            parse(&format!("{{{base},\"expires_in\":\"3600\"}}")),
            Some(3600.0)
        );
        assert_eq!(parse(&format!("{{{base},\"expires_in\":\"soon\"}}")), None);
        assert_eq!(parse(&format!("{{{base}}}")), None);
    }
}
