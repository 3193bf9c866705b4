//! The fairing: reads the configuration at ignite, mounts the routes, manages the shared
//! state, and finishes responses (login redirects, challenges, cookies).

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::http::{Header, Status};
use rocket::{Build, Orbit, Request, Response, Rocket};

use super::request_state::RequestState;
use super::{routes, summary};
use crate::config::{Config, RedisConfig, StoreConfig};
use crate::error::{ErrorKind, OidcError};
use crate::flow::Oidc;
use crate::protocol::http::HttpClient;
use crate::session::{CookieCipher, Marks, SessionBackend};
use crate::store::metered::Metered;
use crate::store::{MemoryStore, SessionStore, ValueStore};

/// How much of a form body is looked at for an `access_token` field.
const BODY_PEEK: usize = 1024;

/// How long ignite waits for each provider's discovery before going on without it.
const EAGER_DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// The fairing that adds OpenID Connect login to a Rocket application.
///
/// At ignite it reads `[default.oidc]` from the application's figment (Rocket.toml,
/// `ROCKET_OIDC`, `ROCKET_CONFIG`), refuses to launch on a configuration mistake with one
/// log line naming the key, loads each provider's metadata (a provider that is down, slow or
/// answering 5xx is retried on the first login, so the app recovers by itself; a definite
/// wrong answer, such as a 404 or a document naming another issuer, stops launch), and
/// mounts the callback at
/// the path of `redirect_uri` and the logout route at `logout_path` (`/logout`).
///
/// ```no_run
/// # #[macro_use] extern crate rocket;
/// use rocket_oidc_auth::OidcFairing;
///
/// #[launch]
/// fn rocket() -> _ {
///     rocket::build().attach(OidcFairing::from_config())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct OidcFairing {
    /// A store handed in from code; otherwise `oidc.session.store` decides.
    store: Option<Arc<dyn SessionStore>>,
    /// An HTTP client handed in from code for every call to the providers.
    http: Option<reqwest::Client>,
}

impl OidcFairing {
    /// A fairing configured from the application's figment, under the key `oidc`.
    ///
    /// ```
    /// use rocket_oidc_auth::OidcFairing;
    ///
    /// let rocket = rocket::build().attach(OidcFairing::from_config());
    /// # drop(rocket);
    /// ```
    pub fn from_config() -> Self {
        OidcFairing {
            store: None,
            http: None,
        }
    }

    /// Keeps sessions in `store` instead of the one `oidc.session.store` names: your own
    /// [`SessionStore`], or one of the crate's built with settings of your own. The crate's
    /// coordination values (refresh locks, replay caches) go to the store's
    /// [`value_store`](SessionStore::value_store), or stay in this process when it has none.
    ///
    /// ```
    /// use rocket_oidc_auth::store::MemoryStore;
    /// use rocket_oidc_auth::OidcFairing;
    ///
    /// let fairing = OidcFairing::from_config().with_store(MemoryStore::new(10_000));
    /// let rocket = rocket::build().attach(fairing);
    /// # drop(rocket);
    /// ```
    pub fn with_store(mut self, store: impl SessionStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Calls the providers through `client` instead of a client the crate builds: for a
    /// transport of your own (trusted roots, proxies, connection pools, instrumentation).
    ///
    /// Build it with redirects off, as the crate's own client is: a provider endpoint that
    /// redirects would otherwise lead the client's credentials elsewhere. Each request is
    /// still bounded by `oidc.http_timeout`. The providers' `ca_certificates`, `http_proxy`
    /// and `http_user_agent` settings then do not apply (launch refuses them).
    ///
    /// ```
    /// use rocket_oidc_auth::OidcFairing;
    ///
    /// let client = reqwest::Client::builder()
    ///     .redirect(reqwest::redirect::Policy::none())
    ///     .user_agent("my-app/1.0")
    ///     .build()
    ///     .unwrap();
    /// let rocket = rocket::build().attach(OidcFairing::from_config().with_http_client(client));
    /// # drop(rocket);
    /// ```
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }
}

#[rocket::async_trait]
impl Fairing for OidcFairing {
    fn info(&self) -> Info {
        Info {
            name: "OpenID Connect",
            kind: Kind::Ignite | Kind::Liftoff | Kind::Request | Kind::Response,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let built = Config::from_figment(rocket.figment()).and_then(|config| {
            let cipher = CookieCipher::from_figment(rocket.figment())?;
            Ok((config, cipher))
        });
        let (config, cipher) = match built {
            Ok(built) => built,
            Err(e) => {
                log::error!("{e}");
                return Err(rocket);
            }
        };
        if config.url_policy == crate::config::UrlPolicy::AllowHttp {
            log::warn!(
                "oidc: oidc.dangerously_allow_http is on: plain http to non-loopback hosts is \
                 accepted (development only; refused in the release profile)"
            );
        }
        let http = match &self.http {
            Some(client) => HttpClient::from_reqwest(client.clone(), config.http_timeout),
            None => match HttpClient::new(config.http_timeout) {
                Ok(http) => http,
                Err(e) => {
                    log::error!("oidc: {e}");
                    return Err(rocket);
                }
            },
        };
        let (sessions, values) = match backend(self.store.clone(), &config.store).await {
            Ok(backend) => backend,
            Err(message) => {
                log::error!("{message}");
                return Err(rocket);
            }
        };
        let oidc = match Oidc::new(config, cipher, &http, self.http.is_some(), sessions, values) {
            Ok(oidc) => oidc,
            Err(message) => {
                log::error!("{message}");
                return Err(rocket);
            }
        };
        let mut return_paths: Vec<&str> = oidc
            .providers()
            .map(|p| p.config.post_logout_return_path.as_str())
            .collect();
        return_paths.sort_unstable();
        return_paths.dedup();
        let routes = routes::routes(&oidc.config, &return_paths, client_jwks(&oidc));
        if let Some(message) = routes::conflict(rocket.routes(), &routes) {
            log::error!("{message}");
            return Err(rocket);
        }
        let profile = rocket.figment().profile().clone();
        let release = profile == rocket::Config::RELEASE_PROFILE;
        for client in oidc.providers() {
            let load = async {
                let resolved = client.metadata().await?;
                client.keys(&resolved).await
            };
            match tokio::time::timeout(EAGER_DISCOVERY_TIMEOUT, load).await {
                Ok(Ok(_)) => {}
                // A definite answer that can never become right (a 404, a document that is
                // not JSON or names another issuer): a configuration mistake, so launch
                // stops. Refused connections, timeouts and 5xx are passing: logins retry.
                // A host that does not exist is a mistake too (`accounts.gogle.com`), but
                // DNS may lag while a machine boots: in release, logins keep retrying it
                // (each failure logged at error level, naming the key).
                Ok(Err(err)) if err.unknown_host().is_some() => {
                    if !release {
                        log::error!(
                            "oidc: provider {:?} cannot work: {} (launch stops in the {} \
                             profile; in release, logins would keep retrying)",
                            client.name(),
                            err.developer_detail().unwrap_or(err.error_description()),
                            profile
                        );
                        return Err(rocket);
                    }
                }
                Ok(Err(err)) if err.kind() != ErrorKind::ProviderUnavailable => {
                    log::error!(
                        "oidc: provider {:?} cannot work: {}; fix oidc.providers.{}",
                        client.name(),
                        err.developer_detail().unwrap_or(err.error_description()),
                        client.name()
                    );
                    return Err(rocket);
                }
                Ok(Err(err)) => log::warn!(
                    "oidc: provider {:?} ({}) is not reachable yet; logins will retry it: {}",
                    client.name(),
                    client.config.source.issuer(),
                    err.developer_detail().unwrap_or(err.error_description())
                ),
                Err(_) => log::warn!(
                    "oidc: provider {:?} ({}) did not answer within {} s; logins will retry it",
                    client.name(),
                    client.config.source.issuer(),
                    EAGER_DISCOVERY_TIMEOUT.as_secs()
                ),
            }
        }
        Ok(rocket.mount("/", routes).manage(Arc::new(oidc)))
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        if let Some(oidc) = rocket.state::<Arc<Oidc>>() {
            for line in summary::lines(oidc) {
                log::info!("{line}");
            }
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, data: &mut rocket::Data<'_>) {
        // RFC 6750 2.2: a form body may carry an access token, which API guards refuse (it
        // would end up where bodies are logged). Only form bodies are looked at, and only
        // their start, without consuming them.
        let form = req.content_type().is_some_and(|ct| ct.is_form());
        if form {
            let start = data.peek(BODY_PEEK).await;
            let names_token = start
                .split(|b| *b == b'&')
                .any(|pair| pair.starts_with(b"access_token="));
            if names_token {
                RequestState::of(req).set_body_token();
            }
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let state = RequestState::of(req);
        if let (Some(challenge), 400 | 403) = (state.challenge(), res.status().code) {
            // An API guard's RFC 6750 challenge (a 401 gets it below).
            res.set_header(Header::new("WWW-Authenticate", challenge.to_string()));
        }
        if res.status() == Status::Unauthorized {
            if let Some(login) = state.login() {
                // The guard prepared a login: answer with the redirect, whatever the
                // catcher rendered, so apps need no catcher for it.
                res.set_status(Status::SeeOther);
                res.set_header(Header::new("Location", login.location.clone()));
                res.set_header(Header::new("Cache-Control", "no-store"));
                res.remove_header("Content-Type");
                res.set_sized_body(0, Cursor::new(""));
                if let Some(cookie) = &login.transaction_cookie {
                    res.adjoin_header(cookie.clone());
                }
                for cookie in &login.other_cookies {
                    res.adjoin_header(cookie.clone());
                }
            } else if let Some(challenge) = state.challenge() {
                res.set_header(Header::new("WWW-Authenticate", challenge.to_string()));
            } else if state.error().is_some() && !res.headers().contains("WWW-Authenticate") {
                // RFC 9110 15.5.2: a 401 names a challenge; the way in is a new login.
                res.set_header(Header::new("WWW-Authenticate", "Bearer realm=\"oidc\""));
            }
        }
        if let Some(after) = state.error().and_then(OidcError::retry_after) {
            let status = res.status();
            let refused = status == Status::TooManyRequests || status == Status::ServiceUnavailable;
            if refused && !res.headers().contains("Retry-After") {
                res.set_header(Header::new("Retry-After", after.to_string()));
            }
        }
        if res.status() == Status::ServiceUnavailable && !res.headers().contains("Retry-After") {
            if let Some(err) = state.error() {
                // RFC 9110 10.2.3: when to try again. A store recovers within a second; a
                // provider that is down is retried by discovery every second too, but give
                // it longer.
                let after = if err.kind() == crate::ErrorKind::StoreUnavailable {
                    "1"
                } else {
                    "5"
                };
                res.set_header(Header::new("Retry-After", after));
            }
        }
        if state.is_personal() && !res.headers().contains("Cache-Control") {
            res.set_header(Header::new("Cache-Control", "no-store"));
        }
        for cookie in state.take_cookies() {
            res.adjoin_header(cookie);
        }
    }
}

/// The JWK Set served at each `jwks_path`: the public keys of every provider's client
/// that publishes there.
fn client_jwks(oidc: &Oidc) -> Vec<(String, String)> {
    let mut sets: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
    for provider in oidc.providers() {
        let settings = &provider.config.client;
        let Some(path) = &settings.jwks_path else {
            continue;
        };
        // The signing key, and beside it the decryption key (`"use": "enc"`) and a
        // self-signed TLS certificate's key.
        let signing = settings.private_key.as_ref().map(|key| key.published_jwk());
        let encryption = provider.config.protected.key.as_ref();
        for jwk in signing
            .into_iter()
            .chain(encryption.map(|key| key.published_jwk()))
            .chain(settings.certificate_jwk().cloned())
        {
            match sets.iter_mut().find(|(p, _)| p == path) {
                Some((_, keys)) if !keys.contains(&jwk) => keys.push(jwk),
                Some(_) => {}
                None => sets.push((path.clone(), vec![jwk])),
            }
        }
    }
    sets.into_iter()
        .map(|(path, keys)| (path, serde_json::json!({ "keys": keys }).to_string()))
        .collect()
}

/// Where sessions live, and where the crate's coordination values go: the store handed in
/// from code, or the one `oidc.session.store` names.
async fn backend(
    handed_in: Option<Arc<dyn SessionStore>>,
    config: &StoreConfig,
) -> Result<(SessionBackend, Arc<dyn ValueStore>), String> {
    Ok(match (handed_in, config) {
        (Some(store), _) => {
            let values = store.clone().value_store().unwrap_or_else(|| {
                log::warn!(
                    "oidc: the store handed to OidcFairing::with_store keeps no values \
                     (SessionStore::value_store is None): refresh locks and replay caches stay \
                     in this process, so with several instances a rotating refresh token may \
                     be spent twice; implement ValueStore for the store and return it"
                );
                Arc::new(MemoryStore::default())
            });
            if !values.is_shared() {
                log::warn!(
                    "oidc: the value store of the store handed to OidcFairing::with_store is \
                     not shared (ValueStore::is_shared is false): DPoP proofs and logout tokens \
                     are remembered per instance, so with several instances one replayed at \
                     another instance is not recognised; return true from is_shared if every \
                     instance sees the store"
                );
            }
            (
                SessionBackend::Stored(Metered::wrap(store, "custom")),
                values,
            )
        }
        (None, StoreConfig::Memory(memory)) => {
            let store = Arc::new(
                MemoryStore::new(memory.capacity)
                    .with_sessions_per_subject(memory.sessions_per_subject),
            );
            (
                SessionBackend::Stored(Metered::wrap(store.clone(), "memory")),
                store,
            )
        }
        (None, StoreConfig::Redis(settings)) => {
            let (store, values) = connect_redis(settings).await?;
            (
                SessionBackend::Stored(Metered::wrap(store, "redis")),
                values,
            )
        }
        (None, StoreConfig::Cookie { capacity, shared }) => {
            let marks = match shared {
                None => Marks::Local(Arc::new(MemoryStore::new(*capacity))),
                Some(settings) => Marks::Shared(connect_redis(settings).await?.1),
            };
            let values = marks.store();
            (SessionBackend::Cookie(marks), values)
        }
    })
}

/// One Redis store, for sessions and for values.
type RedisStores = (Arc<dyn SessionStore>, Arc<dyn ValueStore>);

/// The Redis store `config` describes, connected.
#[cfg(feature = "redis")]
async fn connect_redis(config: &RedisConfig) -> Result<RedisStores, String> {
    crate::store::RedisStore::connect(config)
        .await
        .map(|store| {
            let store = Arc::new(store);
            (
                store.clone() as Arc<dyn SessionStore>,
                store as Arc<dyn ValueStore>,
            )
        })
        .map_err(|e| format!("oidc: oidc.session.redis: {e}"))
}

#[cfg(not(feature = "redis"))]
async fn connect_redis(_: &RedisConfig) -> Result<RedisStores, String> {
    // Config validation refuses `store = "redis"` without the feature.
    Err("oidc: oidc.session.store = \"redis\" needs the crate's `redis` feature".into())
}
