//! Dynamic client registration (OpenID Connect Registration 1.0, RFC 7591, RFC 7592) and
//! where its result is kept: once per deployment, not per instance, process or login.
//!
//! The registered client lives in the session store when every instance shares it (Redis),
//! otherwise in `registration_file`. A lock in the same place makes instances that start at
//! once register once: the first registers, the others wait for its result. A kept client
//! is used again while it fits: same issuer, same requested metadata, secret not expired, and
//! (checked once per process) still known at its `registration_client_uri`. Where and how
//! it is kept, and the lock, are [`kept`]'s; `registration_file` on disk and its lock are
//! [`file`](mod@file)'s. The request and the answer are openidconnect's registration types,
//! in [`metadata`]; what is kept and compared stays plain JSON, so that a client kept by an
//! earlier version still fits.

mod file;
mod kept;
mod metadata;

use kept::Kept;
pub(crate) use kept::Persistence;
pub(crate) use metadata::RegistrationRequest;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::discovery::status_error;
use crate::config::Secret;
use crate::error::{sanitize, OidcError};
use crate::protocol::http::{Auth, Body, Call, HttpClient};
use crate::protocol::time::now;
use crate::telemetry::Endpoint;

/// A registration lock older than this belongs to an instance that died while registering.
const LOCK_TTL: Duration = Duration::from_secs(60);

/// How long an instance waits for another one's registration before giving up (for now:
/// the next login tries again).
const LOCK_WAIT: Duration = Duration::from_secs(30);

const POLL_EVERY: Duration = Duration::from_millis(200);

/// A kept client whose secret expires within this many seconds is registered again.
const EXPIRY_MARGIN: i64 = 60;

/// How long the store keeps a registered client without an instance starting: each start
/// that uses it keeps it another year.
const STORE_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// The client's identity at the provider, configured or registered.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<Secret>,
    /// When the secret expires (`client_secret_expires_at`), if it does.
    pub(crate) expires_at: Option<i64>,
    /// The registered client must use PAR (RFC 9126 6).
    pub(crate) require_par: bool,
}

impl Credentials {
    pub(crate) fn configured(client_id: String, client_secret: Option<Secret>) -> Self {
        Credentials {
            client_id,
            client_secret,
            expires_at: None,
            require_par: false,
        }
    }

    /// A registered client whose secret expired (or is about to): register again.
    pub(crate) fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now + EXPIRY_MARGIN)
    }

    /// The credentials of a kept (or read back) answer, a plain map; a fresh answer is read
    /// typed, by [`metadata::credentials`], which falls back to this.
    fn from_response(response: &Map<String, Value>) -> Option<Credentials> {
        let client_id = response.get("client_id")?.as_str()?.to_string();
        if client_id.is_empty() {
            return None;
        }
        Some(Credentials {
            client_id,
            client_secret: response
                .get("client_secret")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(|s| Secret(s.to_string())),
            // RFC 7591 3.2.1: 0 means the secret does not expire.
            expires_at: response
                .get("client_secret_expires_at")
                .and_then(Value::as_i64)
                .filter(|at| *at > 0),
            require_par: response
                .get("require_pushed_authorization_requests")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

/// Registers one provider's client, or finds it registered.
#[derive(Debug)]
pub(crate) struct Registrar {
    provider: String,
    request: RegistrationRequest,
    initial_access_token: Option<Secret>,
    persistence: Persistence,
    /// Whether this process has checked the kept client at its `registration_client_uri`.
    read_back: AtomicBool,
    /// A kept client the provider said it no longer knows: not asked about again.
    gone: std::sync::Mutex<Option<String>>,
}

impl Registrar {
    pub(crate) fn new(
        provider: String,
        request: RegistrationRequest,
        initial_access_token: Option<Secret>,
        persistence: Persistence,
    ) -> Self {
        Registrar {
            provider,
            request,
            initial_access_token,
            persistence,
            read_back: AtomicBool::new(false),
            gone: std::sync::Mutex::new(None),
        }
    }

    /// Where the client is kept, for the liftoff summary.
    pub(crate) fn describe(&self) -> String {
        self.persistence.describe()
    }

    /// Of the issuer and the metadata as configured (not the typed body), byte for byte as
    /// before the request was typed: a kept client fits across an upgrade.
    fn digest(&self, issuer: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(issuer.as_bytes());
        hasher.update([0]);
        let metadata = Value::Object(self.request.raw().clone()).to_string();
        hasher.update(metadata.as_bytes());
        crate::signing::b64(&hasher.finalize()[..18])
    }

    /// The registered client: the kept one while it fits, else a new registration (one per
    /// deployment, however many instances ask at once).
    /// `endpoint` is the provider's `registration_endpoint`, if it has one.
    pub(crate) async fn credentials(
        &self,
        http: &HttpClient,
        issuer: &str,
        endpoint: Option<&str>,
    ) -> Result<Credentials, OidcError> {
        let digest = self.digest(issuer);
        if let Some(credentials) = self.usable(http, issuer, &digest).await? {
            return Ok(credentials);
        }
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            if let Some(lock) = self.persistence.try_lock(&self.provider).await? {
                // Another instance may have registered between our look and the lock.
                let outcome = match self.usable(http, issuer, &digest).await {
                    Ok(Some(credentials)) => Ok(credentials),
                    Ok(None) => self.register(http, issuer, endpoint, &digest).await,
                    Err(err) => Err(err),
                };
                self.persistence.unlock(lock).await;
                return outcome;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(OidcError::unavailable(
                    true,
                    format!(
                        "provider {:?}: another instance has been registering this client for \
                         {} s; the next login tries again (a lock older than {} s is taken over)",
                        self.provider,
                        LOCK_WAIT.as_secs(),
                        LOCK_TTL.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(POLL_EVERY).await;
            if let Some(credentials) = self.usable(http, issuer, &digest).await? {
                return Ok(credentials);
            }
        }
    }

    /// Forgets the kept client after the provider refused it (`invalid_client`), unless
    /// another instance already registered a new one.
    pub(crate) async fn forget(&self, client_id: &str) {
        let kept = match self.persistence.load(&self.provider).await {
            Ok(Some(kept)) => kept,
            _ => return,
        };
        if kept.response.get("client_id").and_then(Value::as_str) != Some(client_id) {
            return;
        }
        log::warn!(
            "oidc: provider {:?} refused the registered client {client_id:?}; the next login \
             registers a new one",
            self.provider
        );
        let result = self.persistence.forget(&self.provider).await;
        if let Err(e) = result {
            log::warn!(
                "oidc: provider {:?}: cannot forget the refused client: {e}",
                self.provider
            );
        }
    }

    /// The kept client if it fits: same issuer and request, not expired, and known to the
    /// provider (read back once per process when it gave a `registration_client_uri`).
    async fn usable(
        &self,
        http: &HttpClient,
        issuer: &str,
        digest: &str,
    ) -> Result<Option<Credentials>, OidcError> {
        let Some(mut kept) = self
            .persistence
            .load(&self.provider)
            .await
            .map_err(|e| self.store_error(e))?
        else {
            return Ok(None);
        };
        if kept.issuer != issuer || kept.request_digest != digest {
            log::info!(
                "oidc: provider {:?}: the kept client was registered for another issuer or \
                 other metadata; registering again",
                self.provider
            );
            return Ok(None);
        }
        let Some(credentials) = Credentials::from_response(&kept.response) else {
            return Ok(None);
        };
        let known_gone = self
            .gone
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_deref()
            == Some(credentials.client_id.as_str());
        if known_gone {
            return Ok(None);
        }
        if credentials.expired(now()) {
            log::info!(
                "oidc: provider {:?}: the registered client's secret expired; registering again",
                self.provider
            );
            return Ok(None);
        }
        if !self.read_back.load(Ordering::Acquire) {
            match self.read_back(http, &kept.response).await {
                ReadBack::Current(response) => {
                    if let Some(fresh) = Credentials::from_response(&response) {
                        kept.response = response;
                        self.read_back.store(true, Ordering::Release);
                        // Keeps the record alive, with what the provider says now.
                        if let Err(e) = self.persistence.save(&self.provider, &kept).await {
                            log::warn!(
                                "oidc: provider {:?}: cannot update the kept client: {e}",
                                self.provider
                            );
                        }
                        return Ok(Some(fresh));
                    }
                    return Ok(None);
                }
                ReadBack::Gone => {
                    *self.gone.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(credentials.client_id.clone());
                    log::info!(
                        "oidc: provider {:?} no longer knows the registered client {:?}; \
                         registering again",
                        self.provider,
                        credentials.client_id
                    );
                    return Ok(None);
                }
                ReadBack::Unchecked => self.read_back.store(true, Ordering::Release),
            }
        }
        Ok(Some(credentials))
    }

    /// RFC 7592 2.1: the client's configuration, read with its registration access token.
    async fn read_back(&self, http: &HttpClient, response: &Map<String, Value>) -> ReadBack {
        let uri = response
            .get("registration_client_uri")
            .and_then(Value::as_str);
        let token = response
            .get("registration_access_token")
            .and_then(Value::as_str);
        let (Some(uri), Some(token)) = (uri, token) else {
            return ReadBack::Unchecked;
        };
        let what = format!("client configuration request to {uri}");
        match http
            .send(
                reqwest::Method::GET,
                uri,
                Auth::Bearer(token),
                Body::Empty,
                Call::new(Endpoint::Registration, &what),
            )
            .await
        {
            Ok(answer) if answer.status == 200 => {
                match serde_json::from_slice::<Map<String, Value>>(&answer.body) {
                    // RFC 7592 3: the answer may leave out the access token, and a secret
                    // that did not change; keep ours.
                    Ok(mut fresh) => {
                        for member in [
                            "registration_access_token",
                            "registration_client_uri",
                            "client_secret",
                            "client_secret_expires_at",
                        ] {
                            if !fresh.contains_key(member) {
                                if let Some(value) = response.get(member) {
                                    fresh.insert(member.into(), value.clone());
                                }
                            }
                        }
                        ReadBack::Current(fresh)
                    }
                    Err(_) => ReadBack::Unchecked,
                }
            }
            Ok(answer) if matches!(answer.status, 401 | 403 | 404) => ReadBack::Gone,
            Ok(answer) => {
                log::warn!(
                    "oidc: provider {:?}: {what}: status {}; using the kept client",
                    self.provider,
                    answer.status
                );
                ReadBack::Unchecked
            }
            Err(err) => {
                log::warn!(
                    "oidc: provider {:?}: {}; using the kept client",
                    self.provider,
                    err.developer_detail().unwrap_or(err.error_description())
                );
                ReadBack::Unchecked
            }
        }
    }

    /// RFC 7591 3: registers the client and keeps the answer.
    async fn register(
        &self,
        http: &HttpClient,
        issuer: &str,
        endpoint: Option<&str>,
        digest: &str,
    ) -> Result<Credentials, OidcError> {
        let name = &self.provider;
        let Some(endpoint) = endpoint else {
            return Err(OidcError::configuration(format!(
                "provider {name:?} has no registration_endpoint: it does not offer dynamic \
                 registration; register the client there by hand and set \
                 oidc.providers.{name}.client_id and client_secret instead of \
                 client_registration"
            )));
        };
        let what = format!("client registration at {endpoint}");
        let document = self.request.body().map_err(|e| {
            OidcError::configuration(format!("provider {name:?}: {what}: cannot write it: {e}"))
        })?;
        let auth = match &self.initial_access_token {
            Some(token) => Auth::Bearer(token.expose()),
            None => Auth::None,
        };
        let answer = http
            .send(
                reqwest::Method::POST,
                endpoint,
                auth,
                Body::Json(&document),
                Call::new(Endpoint::Registration, &what),
            )
            .await?;
        let response = match answer.status {
            // RFC 7591 3.2.1 says 201; a 200 with the same body is taken. Kept as the
            // provider wrote it; read typed for the credentials below.
            200 | 201 => {
                serde_json::from_slice::<Map<String, Value>>(&answer.body).map_err(|e| {
                    OidcError::bad_provider_response(format!(
                        "{what}: not a registration response: {e}"
                    ))
                })?
            }
            400..=403 => {
                #[derive(Deserialize)]
                struct Refusal {
                    error: Option<String>,
                    error_description: Option<String>,
                }
                let refusal = serde_json::from_slice::<Refusal>(&answer.body).ok();
                let error = refusal
                    .as_ref()
                    .and_then(|r| r.error.as_deref())
                    .map_or_else(|| format!("status {}", answer.status), |e| sanitize(e, 64));
                let description = refusal
                    .as_ref()
                    .and_then(|r| r.error_description.as_deref())
                    .map_or(String::new(), |d| format!(": {}", sanitize(d, 300)));
                let fix = if matches!(answer.status, 401 | 403) {
                    format!("check oidc.providers.{name}.client_registration.initial_access_token")
                } else {
                    format!("check the oidc.providers.{name}.client_registration table")
                };
                return Err(OidcError::configuration(format!(
                    "{what} was refused: {error}{description} ({fix})"
                )));
            }
            status => {
                return Err(status_error(status, format!("{what}: status {status}")));
            }
        };
        let context = format!("provider {name:?}: {what}");
        let Some(credentials) = metadata::credentials(&response, &self.request, &context) else {
            return Err(OidcError::bad_provider_response(format!(
                "{what}: the answer has no client_id"
            )));
        };
        let kept = Kept {
            issuer: issuer.to_owned(),
            request_digest: digest.to_string(),
            registered_at: now(),
            response,
        };
        self.persistence
            .save(&self.provider, &kept)
            .await
            .map_err(|e| {
                OidcError::configuration(format!(
                    "provider {name:?}: registered client {:?}, but cannot keep it: {e}",
                    credentials.client_id
                ))
            })?;
        self.read_back.store(true, Ordering::Release);
        log::info!(
            "oidc: provider {name:?}: registered client {:?}",
            credentials.client_id
        );
        Ok(credentials)
    }

    fn store_error(&self, e: String) -> OidcError {
        OidcError::unavailable(
            false,
            format!(
                "provider {:?}: cannot read the registered client: {e}",
                self.provider
            ),
        )
    }
}

enum ReadBack {
    /// The provider's current configuration of the client.
    Current(Map<String, Value>),
    /// The provider does not know the client (401, 403, 404).
    Gone,
    /// Not checked (no URI, or the provider did not answer): the kept client is used.
    Unchecked,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_registration_response() {
        let response: Map<String, Value> = serde_json::from_str(
            r#"{"client_id":"abc","client_secret":"s3","client_secret_expires_at":0,
                "require_pushed_authorization_requests":true}"#,
        )
        .unwrap();
        let credentials = Credentials::from_response(&response).unwrap();
        assert_eq!(credentials.client_id, "abc");
        assert_eq!(credentials.client_secret.unwrap().expose(), "s3");
        assert_eq!(credentials.expires_at, None, "0 means never");
        assert!(credentials.require_par);
        let expiring: Map<String, Value> =
            serde_json::from_str(r#"{"client_id":"abc","client_secret_expires_at":1000}"#).unwrap();
        let credentials = Credentials::from_response(&expiring).unwrap();
        assert!(credentials.expired(1000 - EXPIRY_MARGIN));
        assert!(!credentials.expired(1000 - EXPIRY_MARGIN - 1));
        assert!(Credentials::from_response(&Map::new()).is_none());
    }

    #[test]
    fn the_request_digest_is_of_the_configured_metadata_as_before() {
        // A kept client fits after an upgrade only while this stays the same for the same
        // metadata: it is of the configured map, not the typed body (whose order differs).
        let raw: Map<String, Value> = serde_json::from_str(
            r#"{"redirect_uris":["https://app.example.com/cb"],"client_name":"App",
                "client_name#ja":"アプリ","grant_types":["authorization_code","refresh_token"],
                "backchannel_logout_session_required":true}"#,
        )
        .unwrap();
        let request = RegistrationRequest::new("default", raw).unwrap();
        let registrar = Registrar::new(
            "default".into(),
            request,
            None,
            Persistence::File("/nonexistent/client.json".into()),
        );
        // SHA-256 of `https://op.example.com`, a 0 byte and the map as compact JSON, as the
        // crate computed it before the request was typed.
        assert_eq!(
            registrar.digest("https://op.example.com"),
            "PhIRrRyyKr_njl9Pv3MCxt7Y"
        );
    }
}
