//! Flows: the login (start and callback), token refresh and logout, written against the
//! provider runtime and the session layer. Rocket's request types stay above, in `web`: a
//! flow reads what it needs (a query, the cookie jar) and queues the cookies it writes.

use std::ops::Deref;
use std::sync::Arc;

use crate::config::Config;
use crate::op::client::ProviderClient;
use crate::protocol::http::{HttpClient, HttpOptions};
use crate::session::{
    session_cookie_name, CookieCipher, CookieFactory, SessionCache, SessionStore,
};

pub(crate) mod backchannel;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod refresh;
pub(crate) mod session;

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
    /// Where sessions live when `server_side`; with the cookie store, where the marks of
    /// ended sessions live.
    pub(crate) store: Arc<dyn SessionStore>,
    /// Sessions live in `store`, the cookie carries their id.
    pub(crate) server_side: bool,
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
        store: Arc<dyn SessionStore>,
        server_side: bool,
    ) -> Result<Self, String> {
        let cookies = CookieFactory::new(&config);
        let mut providers = Vec::new();
        for provider in std::mem::take(&mut config.providers) {
            let settings = &provider.client.http;
            let http = if settings.is_default() {
                http.clone()
            } else if handed_in {
                return Err(format!(
                    "oidc.providers.{}: ca_certificates, http_proxy and http_user_agent do not \
                     apply to the HTTP client handed to OidcFairing::with_http_client: set them \
                     on that client and remove them from the configuration",
                    provider.name
                ));
            } else {
                let options = HttpOptions {
                    ca_certificates: &settings.ca_certificates,
                    proxy: settings.proxy.as_ref().map(|p| p.expose()),
                    user_agent: settings.user_agent.as_deref(),
                };
                HttpClient::with_options(config.http_timeout, &options)
                    .map_err(|e| format!("oidc.providers.{}: {e}", provider.name))?
            };
            providers.push(Arc::new(ProviderState {
                session_cookie: cookies.name(&session_cookie_name(&provider.name)),
                client: ProviderClient::new(
                    provider,
                    config.redirect_uri.to_string(),
                    config.clock_skew,
                    http,
                ),
                sessions: SessionCache::default(),
                refresh_flights: RefreshFlights::default(),
            }));
        }
        Ok(Oidc {
            app_origin: config.redirect_uri.origin().ascii_serialization(),
            cookies,
            config,
            cipher,
            store,
            server_side,
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
}

/// One configured provider at run time: its client, and what this process keeps for its
/// sessions.
#[derive(Debug)]
pub(crate) struct ProviderState {
    pub(crate) client: ProviderClient,
    /// `oidc_session_<name>`, computed once.
    pub(crate) session_cookie: String,
    /// Sessions recently opened from cookies.
    pub(crate) sessions: SessionCache,
    /// Refreshes in flight or just finished.
    pub(crate) refresh_flights: RefreshFlights,
}

impl Deref for ProviderState {
    type Target = ProviderClient;

    fn deref(&self) -> &ProviderClient {
        &self.client
    }
}
