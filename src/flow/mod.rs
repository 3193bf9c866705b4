//! Flows: the login (start and callback), token refresh and logout, written against the
//! provider runtime and the session layer. Rocket's request types stay above, in `web`: a
//! flow reads what it needs (a query, the cookie jar) and queues the cookies it writes.

use std::ops::Deref;
use std::sync::Arc;

use crate::config::{ClientAuth, Config, ConfigError, ProviderConfig, RegistrationConfig};
use crate::op::client::ProviderClient;
use crate::op::registration::{Persistence, Registrar, RegistrationRequest};
use crate::protocol::http::{HttpClient, HttpOptions};
use crate::session::{
    session_cookie_name, CookieCipher, CookieFactory, SessionBackend, SessionScope,
};
use crate::store::replay::ReplayCache;
use crate::store::ValueStore;
use crate::telemetry::GuardCounters;

pub(crate) mod backchannel;
pub(crate) mod bearer;
pub(crate) mod callback;
pub(crate) mod initiate;
mod jarm;
pub(crate) mod lifecycle;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod machine;
pub(crate) mod pending;
pub(crate) mod ready;
pub(crate) mod refresh;
mod response;
mod token_cache;

use refresh::RefreshFlights;

pub(crate) use login::PendingLogin;

/// The state shared by the guard and the routes.
#[derive(Debug)]
pub(crate) struct Oidc {
    pub(crate) config: Config,
    pub(crate) cipher: CookieCipher,
    pub(crate) cookies: CookieFactory,
    /// The origin of `redirect_uri`: what a same-origin request's `Origin` header says.
    pub(crate) app_origin: String,
    /// Where sessions live.
    pub(crate) sessions: SessionBackend,
    /// Where the crate's coordination values live: marks of ended cookie sessions, replay
    /// caches, refresh and registration locks.
    pub(crate) values: Arc<dyn ValueStore>,
    /// The DPoP proofs APIs have seen (bounded by `oidc.limits`).
    pub(crate) replays: ReplayCache,
    providers: Vec<Arc<ProviderState>>,
}

impl Oidc {
    /// The shared state; `http` serves every provider without HTTP settings of its own
    /// (`ca_certificates`, `http_proxy`, `http_user_agent`), and all of them when `handed_in`.
    pub(crate) fn new(
        mut config: Config,
        cipher: CookieCipher,
        http: &HttpClient,
        handed_in: bool,
        sessions: SessionBackend,
        values: Arc<dyn ValueStore>,
    ) -> Result<Self, ConfigError> {
        let cookies = CookieFactory::new(&config);
        let mut providers = Vec::new();
        for provider in std::mem::take(&mut config.providers) {
            let settings = &provider.client.http;
            let http = if settings.is_default() {
                http.for_provider(&provider.name)
            } else if handed_in {
                return Err(ConfigError::new(
                    format!("oidc.providers.{}", provider.name),
                    "sets ca_certificates, http_proxy, http_user_agent or \
                     tls_client_certificate, which do not apply to the HTTP client handed to \
                     OidcFairing::with_http_client",
                    "set them on that client and remove them from the configuration",
                ));
            } else {
                let options = HttpOptions {
                    ca_certificates: &settings.ca_certificates,
                    proxy: settings.proxy.as_ref().map(|p| p.expose()),
                    user_agent: settings.user_agent.as_deref(),
                    identity: settings.identity.as_ref().map(|identity| identity.pem()),
                };
                HttpClient::with_options(config.http_timeout, &options)
                    .map_err(|e| {
                        ConfigError::new(
                            format!("oidc.providers.{}", provider.name),
                            format!("cannot build its HTTP client: {e}"),
                            "check ca_certificates, http_proxy, http_user_agent and \
                             tls_client_certificate",
                        )
                    })?
                    .for_provider(&provider.name)
            };
            let registrar = match &provider.client.registration {
                None => None,
                Some(registration) => {
                    let persistence = match (&registration.file, values.is_shared()) {
                        (Some(file), _) => Persistence::File(file.clone()),
                        (None, true) => Persistence::Store(values.clone()),
                        (None, false) => {
                            return Err(ConfigError::new(
                                format!("oidc.providers.{}.registration_file", provider.name),
                                "is missing: a dynamically registered client is kept in the \
                                 session store only when every instance shares it (Redis)",
                                "name a file, e.g. registration_file = \
                                 \"/var/lib/my-app/oidc-client.json\"",
                            ))
                        }
                    };
                    Some(Registrar::new(
                        provider.name.clone(),
                        registration_request(&config, &provider, registration)?,
                        registration.initial_access_token.clone(),
                        persistence,
                    ))
                }
            };
            let provider_skew = provider.clock_skew.unwrap_or(config.clock_skew);
            providers.push(Arc::new(ProviderState {
                session_cookie: cookies.name(&session_cookie_name(&provider.name)),
                client: ProviderClient::new(
                    provider,
                    config.redirect_uri.to_string(),
                    provider_skew,
                    http,
                    registrar,
                    &config.limits,
                ),
                refresh_flights: RefreshFlights::default(),
                guard_counters: GuardCounters::default(),
                introspection_cache: bearer::TokenCache::new(token_cache::CAPACITY),
                introspection_refusals: bearer::TokenCache::new(token_cache::REFUSALS_CAPACITY),
                jwt_cache: bearer::TokenCache::new(token_cache::CAPACITY),
                machine_tokens: machine::MachineTokens::default(),
            }));
        }
        let replays = ReplayCache::new(
            config.limits.dpop_replay_capacity,
            config.limits.dpop_proofs_per_key,
        );
        Ok(Oidc {
            app_origin: config.redirect_uri.origin().ascii_serialization(),
            replays,
            cookies,
            config,
            cipher,
            sessions,
            values,
            providers,
        })
    }

    /// The provider named `name`; a linear scan beats hashing for a handful of providers.
    pub(crate) fn provider(&self, name: &str) -> Option<&Arc<ProviderState>> {
        self.providers.iter().find(|p| p.name() == name)
    }

    pub(crate) fn providers(&self) -> impl Iterator<Item = &ProviderState> {
        self.providers.iter().map(|p| &**p)
    }

    /// `client`'s sessions, as the session backend sees them.
    pub(crate) fn scope<'a>(&'a self, client: &'a ProviderState) -> SessionScope<'a> {
        SessionScope {
            cipher: &self.cipher,
            cookies: &self.cookies,
            config: &self.config,
            cookie: &client.session_cookie,
            provider: client.name(),
        }
    }
}

/// The metadata a dynamic registration asks for (Registration 1.0 2, RFC 7591 2): the
/// table's own keys, and for each one it leaves out what this app's configuration implies.
/// Typed here, at launch, so that a value of the wrong type in the table stops the app
/// naming its key rather than reaching the provider.
fn registration_request(
    config: &Config,
    provider: &ProviderConfig,
    registration: &RegistrationConfig,
) -> Result<RegistrationRequest, ConfigError> {
    use serde_json::{json, Value};
    let origin = config.redirect_uri.origin().ascii_serialization();
    let settings = &provider.client;
    let mut implied: Vec<(&str, Value)> = vec![
        ("redirect_uris", json!([config.redirect_uri.as_str()])),
        (
            "post_logout_redirect_uris",
            json!([provider.post_logout_redirect_uri]),
        ),
        ("grant_types", json!(provider.response_type.grant_types())),
        ("response_types", json!([provider.response_type.as_str()])),
        (
            "token_endpoint_auth_method",
            json!(settings.client_auth.name()),
        ),
        (
            "backchannel_logout_uri",
            json!(format!("{origin}{}", config.backchannel_logout_path)),
        ),
        ("backchannel_logout_session_required", json!(true)),
        (
            "frontchannel_logout_uri",
            json!(format!("{origin}{}", config.frontchannel_logout_path)),
        ),
        ("frontchannel_logout_session_required", json!(true)),
    ];
    if let Some(alg) = settings.id_token_alg {
        implied.push(("id_token_signed_response_alg", json!(alg.name())));
    }
    if let Some(alg) = settings.request_object_alg {
        implied.push(("request_object_signing_alg", json!(alg.name())));
    }
    let assertion_alg = match (settings.client_auth, &settings.private_key) {
        (ClientAuth::SecretJwt(alg), _) => Some(alg),
        (ClientAuth::PrivateKeyJwt, Some(key)) => Some(key.alg()),
        _ => None,
    };
    if let Some(alg) = assertion_alg {
        implied.push(("token_endpoint_auth_signing_alg", json!(alg.name())));
    }
    // Mutual TLS (RFC 8705 2.1.2, 3.4): the certificate's subject for tls_client_auth, and
    // access tokens bound to the certificate unless DPoP binds them.
    if let Some(identity) = &settings.http.identity {
        if settings.client_auth == ClientAuth::Tls {
            implied.push(("tls_client_auth_subject_dn", json!(identity.subject)));
        }
        if settings.dpop.is_none() {
            implied.push(("tls_client_certificate_bound_access_tokens", json!(true)));
        }
    }
    // Encrypted and signed responses (Registration 1.0 2); the decryption key is published
    // at jwks_path, else sent inline.
    let protected = &provider.protected;
    if let Some(jwe) = protected.id_token {
        implied.push(("id_token_encrypted_response_alg", json!(jwe.alg.as_str())));
        implied.push(("id_token_encrypted_response_enc", json!(jwe.enc.as_str())));
    }
    if let Some(alg) = protected.userinfo_signed {
        implied.push(("userinfo_signed_response_alg", json!(alg.name())));
    }
    if let Some(alg) = protected.authorization_signed {
        implied.push(("authorization_signed_response_alg", json!(alg.name())));
    }
    if let Some(jwe) = protected.authorization_encrypted {
        implied.push((
            "authorization_encrypted_response_alg",
            json!(jwe.alg.as_str()),
        ));
        implied.push((
            "authorization_encrypted_response_enc",
            json!(jwe.enc.as_str()),
        ));
    }
    if let Some(jwe) = protected.userinfo_encrypted {
        implied.push(("userinfo_encrypted_response_alg", json!(jwe.alg.as_str())));
        implied.push(("userinfo_encrypted_response_enc", json!(jwe.enc.as_str())));
    }
    let certificate = settings.certificate_jwk();
    if settings.jwks_path.is_none() && (protected.key.is_some() || certificate.is_some()) {
        let mut keys: Vec<Value> = protected.key.iter().map(|k| k.published_jwk()).collect();
        keys.extend(settings.private_key.as_ref().map(|k| k.published_jwk()));
        keys.extend(certificate.cloned());
        implied.push(("jwks", json!({ "keys": keys })));
    }
    if let Some(path) = &settings.jwks_path {
        implied.push(("jwks_uri", json!(format!("{origin}{path}"))));
    }
    // Registration 1.0 2: initiate_login_uri must use https (a plain-http development
    // origin leaves it out; logins can still be initiated there).
    if let Some(path) = &config.initiate_login_path {
        if config.redirect_uri.scheme() == "https" {
            implied.push(("initiate_login_uri", json!(format!("{origin}{path}"))));
        }
    }
    let mut request = registration.metadata.clone();
    for (name, value) in implied {
        request.entry(name).or_insert(value);
    }
    RegistrationRequest::new(&provider.name, request)
}

/// One configured provider at run time: its client, and what this process keeps for its
/// sessions.
#[derive(Debug)]
pub(crate) struct ProviderState {
    pub(crate) client: ProviderClient,
    /// `oidc_session_<name>`, computed once.
    pub(crate) session_cookie: String,
    /// How the session guard of this provider answered (`oidc_guard_outcomes_total`).
    pub(crate) guard_counters: GuardCounters,
    /// Refreshes in flight or just finished.
    pub(crate) refresh_flights: RefreshFlights,
    /// Introspection answers about active bearer tokens, kept a bounded time.
    pub(crate) introspection_cache: bearer::TokenCache,
    /// Introspection refusals (inactive, unknown tokens), in a small cache of their own.
    pub(crate) introspection_refusals: bearer::TokenCache,
    /// JWT access tokens that passed every check, kept until they expire (at most 5 min).
    pub(crate) jwt_cache: bearer::TokenCache,
    /// The client-credentials token, kept until shortly before it expires.
    pub(crate) machine_tokens: machine::MachineTokens,
}

impl Deref for ProviderState {
    type Target = ProviderClient;

    fn deref(&self) -> &ProviderClient {
        &self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Marks;
    use crate::store::MemoryStore;
    use rocket::figment::providers::{Format, Toml};
    use rocket::figment::Figment;

    fn oidc(provider_keys: &str, handed_in: bool) -> Result<Oidc, ConfigError> {
        let figment = Figment::from(Toml::string(&format!(
            "[oidc]\nredirect_uri = \"https://app.example.com/cb\"\n\
             [oidc.providers.default]\nissuer = \"https://op.example.com\"\n{provider_keys}"
        )));
        let config = Config::from_figment(&figment).expect("a valid configuration");
        let http = HttpClient::new(std::time::Duration::from_secs(1)).unwrap();
        let marks = Arc::new(MemoryStore::default());
        let sessions = SessionBackend::Cookie(Marks::Local(marks.clone()));
        Oidc::new(
            config,
            CookieCipher::for_tests(),
            &http,
            handed_in,
            sessions,
            marks,
        )
    }

    #[test]
    fn a_registration_without_a_file_or_a_shared_store_names_registration_file() {
        let err = oidc(
            "[oidc.providers.default.client_registration]\nclient_name = \"x\"",
            false,
        )
        .expect_err("nowhere to keep the client");
        assert_eq!(err.key, "oidc.providers.default.registration_file");
        assert!(err.fix.contains("registration_file = "), "{err}");
    }

    #[test]
    fn initiate_login_uri_is_registered_only_over_https() {
        let request = |redirect_uri: &str| {
            let figment = Figment::from(Toml::string(&format!(
                "[oidc]\nredirect_uri = \"{redirect_uri}\"\ninitiate_login_path = \"/login/initiate\"\n\
                 [oidc.providers.default]\nissuer = \"https://op.example.com\"\n\
                 registration_file = \"/tmp/unused.json\"\n\
                 [oidc.providers.default.client_registration]\nclient_name = \"x\""
            )));
            let config = Config::from_figment(&figment).expect("a valid configuration");
            let provider = &config.providers[0];
            let registration = provider.client.registration.as_ref().unwrap();
            registration_request(&config, provider, registration)
                .unwrap()
                .raw()
                .get("initiate_login_uri")
                .cloned()
        };
        assert_eq!(
            request("https://app.example.com/cb"),
            Some(serde_json::json!("https://app.example.com/login/initiate"))
        );
        assert_eq!(request("http://127.0.0.1:8000/cb"), None);
    }

    #[test]
    fn both_logout_channels_are_registered() {
        let figment = Figment::from(Toml::string(
            "[oidc]\nredirect_uri = \"https://app.example.com/cb\"\n\
             [oidc.providers.default]\nissuer = \"https://op.example.com\"\n\
             registration_file = \"/tmp/unused.json\"\n\
             [oidc.providers.default.client_registration]\nclient_name = \"x\"",
        ));
        let config = Config::from_figment(&figment).expect("a valid configuration");
        let provider = &config.providers[0];
        let registration = provider.client.registration.as_ref().unwrap();
        let request = registration_request(&config, provider, registration).unwrap();
        let raw = request.raw();
        assert_eq!(
            raw["backchannel_logout_uri"],
            "https://app.example.com/logout/backchannel"
        );
        assert_eq!(
            raw["frontchannel_logout_uri"],
            "https://app.example.com/logout/frontchannel"
        );
        assert_eq!(raw["frontchannel_logout_session_required"], true);
    }

    #[test]
    fn http_settings_beside_a_handed_in_client_name_the_provider_and_the_fix() {
        let keys = "client_id = \"app\"\nclient_secret = \"s\"\nhttp_user_agent = \"mine\"";
        assert!(
            oidc(keys, false).is_ok(),
            "the crate's own client takes them"
        );
        let err = oidc(keys, true).expect_err("the handed-in client ignores them");
        assert_eq!(err.key, "oidc.providers.default");
        assert!(err.problem.contains("with_http_client"), "{err}");
        assert!(err.fix.contains("set them on that client"), "{err}");
    }
}
