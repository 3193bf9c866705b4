//! The quickstart example as a test app, configured for a test provider, and helpers that
//! play the browser's part of a login.
#![allow(dead_code, unreachable_pub, missing_docs)]

use rocket::figment::providers::{Format, Toml};
use rocket::figment::Figment;
use rocket::http::{Accept, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};

#[path = "../../examples/quickstart.rs"]
#[allow(dead_code)]
mod quickstart;

/// This test process's `secret_key`: random, so no key is committed; shared by every app
/// of the process (several "instances" of one deployment share theirs).
pub fn secret_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        use base64::Engine as _;
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    })
}
pub const REDIRECT_URI: &str = "http://127.0.0.1:8000/redirect_uri";

/// A `scope` of only `openid` and `email`, for [`TestApp::scope`].
pub const EMAIL_SCOPE: &str = r#"["openid", "email"]"#;

/// A provider an app under test can log in at: its issuer and this app's client there.
pub trait TestProvider {
    fn issuer(&self) -> &str;
    fn client_id(&self) -> &str;
    fn client_secret(&self) -> &str;
}

impl TestProvider for super::fake_op::FakeOp {
    fn issuer(&self) -> &str {
        &self.issuer
    }
    fn client_id(&self) -> &str {
        super::fake_op::CLIENT_ID
    }
    fn client_secret(&self) -> &str {
        super::fake_op::CLIENT_SECRET
    }
}

impl<T: TestProvider> TestProvider for &T {
    fn issuer(&self) -> &str {
        (**self).issuer()
    }
    fn client_id(&self) -> &str {
        (**self).client_id()
    }
    fn client_secret(&self) -> &str {
        (**self).client_secret()
    }
}

impl TestProvider for super::node_op::NodeOp {
    fn issuer(&self) -> &str {
        &self.issuer
    }
    fn client_id(&self) -> &str {
        super::node_op::CLIENT_ID
    }
    fn client_secret(&self) -> &str {
        super::node_op::CLIENT_SECRET
    }
}

/// An app under test, built line by line: an example app (or a bare Rocket with the
/// fairing), one provider `default`, and the configuration a test adds.
///
/// ```ignore
/// let op = FakeOp::start().await;
/// let client = TestApp::quickstart().provider(&op).oidc("login_timeout = 1").start().await;
/// log_in(&client).await;
/// ```
///
/// The configuration is this process's `secret_key`, `redirect_uri` = [`REDIRECT_URI`],
/// then the [`oidc`](Self::oidc) lines under `[default.oidc]` (tables of their own may
/// follow them), then `[default.oidc.providers.default]` with `issuer`, the client (unless
/// the [`provider_table`](Self::provider_table) lines name it), `scope` and those lines.
#[derive(Clone)]
pub struct TestApp {
    example: fn() -> rocket::Rocket<rocket::Build>,
    issuer: String,
    client: Option<(String, String)>,
    scope: &'static str,
    oidc: Vec<String>,
    provider: Vec<String>,
    settings: Vec<(String, rocket::figment::value::Value)>,
    toml: Vec<String>,
    config: Option<Figment>,
    routes: Vec<(&'static str, Vec<rocket::Route>)>,
    catchers: Vec<(&'static str, Vec<rocket::Catcher>)>,
}

impl TestApp {
    fn of(example: fn() -> rocket::Rocket<rocket::Build>) -> TestApp {
        TestApp {
            example,
            issuer: String::new(),
            client: None,
            scope: r#"["openid", "email", "profile"]"#,
            oidc: Vec::new(),
            provider: Vec::new(),
            settings: Vec::new(),
            toml: Vec::new(),
            config: None,
            routes: Vec::new(),
            catchers: Vec::new(),
        }
    }

    /// The quickstart example (`examples/quickstart.rs`).
    pub fn quickstart() -> TestApp {
        TestApp::of(quickstart::rocket)
    }

    /// The API example (`examples/api.rs`).
    pub fn api() -> TestApp {
        TestApp::of(super::api_app::api_rocket)
    }

    /// A bare Rocket with only the fairing (no routes but those [`mount`](Self::mount)ed).
    pub fn bare() -> TestApp {
        TestApp::of(|| rocket::build().attach(rocket_oidc_auth::OidcFairing::from_config()))
    }

    /// Logs in at `provider` with its client for this app.
    pub fn provider(mut self, provider: &impl TestProvider) -> TestApp {
        self.issuer = provider.issuer().to_owned();
        self.client = Some((
            provider.client_id().to_owned(),
            provider.client_secret().to_owned(),
        ));
        self
    }

    /// The provider's issuer only: the client comes from the [`provider_table`](Self::provider_table) lines.
    pub fn issuer(mut self, issuer: &str) -> TestApp {
        self.issuer = issuer.to_owned();
        self.client = None;
        self
    }

    /// The client of this app at the provider.
    pub fn client(mut self, id: &str, secret: &str) -> TestApp {
        self.client = Some((id.to_owned(), secret.to_owned()));
        self
    }

    /// The provider's `scope`, as TOML (`["openid", "email", "profile"]` unless set).
    pub fn scope(mut self, scope: &'static str) -> TestApp {
        self.scope = scope;
        self
    }

    /// Lines under `[default.oidc]` (`key = value`; tables of their own may follow).
    pub fn oidc(mut self, lines: &str) -> TestApp {
        self.oidc.push(lines.to_owned());
        self
    }

    /// Lines under `[default.oidc.providers.default]` (tables of their own may follow).
    pub fn provider_table(mut self, lines: &str) -> TestApp {
        self.provider.push(lines.to_owned());
        self
    }

    /// One setting by its dotted key (`"oidc.redirect_uri"`, `"port"`), over the rest.
    pub fn set(mut self, key: &str, value: impl serde::Serialize) -> TestApp {
        let value = rocket::figment::value::Value::serialize(value).expect("a setting");
        self.settings.push((key.to_owned(), value));
        self
    }

    /// A TOML document (`[default.oidc.…]` tables), over the rest.
    pub fn toml(mut self, toml: &str) -> TestApp {
        self.toml.push(toml.to_owned());
        self
    }

    /// `config`, written out by the test, instead of the one this builder writes.
    pub fn config(mut self, config: Figment) -> TestApp {
        self.config = Some(config);
        self
    }

    /// `routes` of the test, mounted at `base`.
    pub fn mount(mut self, base: &'static str, routes: Vec<rocket::Route>) -> TestApp {
        self.routes.push((base, routes));
        self
    }

    /// `catchers` of the test, registered at `base`.
    pub fn register(mut self, base: &'static str, catchers: Vec<rocket::Catcher>) -> TestApp {
        self.catchers.push((base, catchers));
        self
    }

    /// The configuration alone.
    pub fn figment(&self) -> Figment {
        let mut figment = self.config.clone().unwrap_or_else(|| self.written());
        for (key, value) in &self.settings {
            figment = figment.merge((key.as_str(), value));
        }
        for toml in &self.toml {
            figment = figment.merge(Toml::string(toml).nested());
        }
        figment
    }

    fn written(&self) -> Figment {
        let log_level = std::env::var("ROCKET_LOG_LEVEL").unwrap_or_else(|_| "critical".into());
        let secret_key = secret_key();
        let oidc = self.oidc.join("\n");
        let issuer = &self.issuer;
        let client = match &self.client {
            Some((id, secret)) => format!("client_id = \"{id}\"\nclient_secret = \"{secret}\""),
            None => String::new(),
        };
        let scope = self.scope;
        let provider = self.provider.join("\n");
        let toml = format!(
            r#"
[default]
secret_key = "{secret_key}"
log_level = "{log_level}"
cli_colors = false

[default.oidc]
redirect_uri = "{REDIRECT_URI}"
{oidc}

[default.oidc.providers.default]
issuer = "{issuer}"
{client}
scope = {scope}
{provider}
"#
        );
        Figment::from(rocket::Config::debug_default()).merge(Toml::string(&toml).nested())
    }

    /// The app, configured, not launched.
    pub fn rocket(self) -> rocket::Rocket<rocket::Build> {
        let mut rocket = (self.example)().configure(self.figment());
        for (base, routes) in self.routes {
            rocket = rocket.mount(base, routes);
        }
        for (base, catchers) in self.catchers {
            rocket = rocket.register(base, catchers);
        }
        rocket
    }

    /// The app in a cookie-tracking local client (a browser); panics if launch fails.
    pub async fn start(self) -> Client {
        Client::tracked(self.rocket())
            .await
            .expect("the app under test launches")
    }

    /// The app in a local client that keeps no cookies (each request brings its own).
    pub async fn start_untracked(self) -> Client {
        Client::untracked(self.rocket())
            .await
            .expect("the app under test launches")
    }

    /// The launch's result, for tests of what stops it.
    pub async fn launch(self) -> Result<Client, rocket::Error> {
        Client::untracked(self.rocket()).await
    }

    /// Launch fails in the fairing (a launch error, not a panic).
    pub async fn launch_fails(self) {
        match self.rocket().ignite().await {
            Ok(_) => panic!("launch should stop"),
            Err(error) => assert!(
                matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(_)),
                "{error:?}"
            ),
        }
    }
}

/// The quickstart example exactly as `cargo run --example quickstart` builds it, configured
/// by Rocket.toml, `ROCKET_CONFIG` and `ROCKET_*` variables.
pub fn quickstart_default_rocket() -> rocket::Rocket<rocket::Build> {
    quickstart::rocket()
}

/// A browser's GET: it accepts HTML.
pub async fn browse<'c>(client: &'c Client, uri: &str) -> LocalResponse<'c> {
    client
        .get(uri.to_string())
        .header(Accept::HTML)
        .dispatch()
        .await
}

/// A browser's GET from one of the app's own pages (a click on its link): it accepts HTML
/// and says `Sec-Fetch-Site: same-origin`, as every current browser does.
pub async fn browse_same_origin<'c>(client: &'c Client, uri: &str) -> LocalResponse<'c> {
    client
        .get(uri.to_string())
        .header(Accept::HTML)
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await
}

pub fn location(response: &LocalResponse<'_>) -> String {
    response
        .headers()
        .get_one("Location")
        .expect("a Location header")
        .to_string()
}

/// Query parameter `name` of `url`.
pub fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The path and query of an absolute URL, to dispatch it to the local client.
pub fn path_and_query(url: &str) -> String {
    let url = url::Url::parse(url).expect("an absolute URL");
    match url.query() {
        Some(q) => format!("{}?{}", url.path(), q),
        None => url.path().to_string(),
    }
}

/// Asks for `uri` without a session and returns the provider URL the app redirected to.
pub async fn start_login(client: &Client, uri: &str) -> String {
    let response = browse(client, uri).await;
    assert_eq!(
        response.status(),
        Status::SeeOther,
        "{uri} should redirect to the provider"
    );
    location(&response)
}

/// Plays the provider's part for a provider that answers `/authorize` at once with a
/// redirect (the fake provider): returns the callback URL it sent the browser to.
pub async fn authorize_at_once(auth_url: &str) -> String {
    let response = provider_browser().get(auth_url).send().await.unwrap();
    assert_eq!(
        response.status(),
        303,
        "the provider redirects back at once"
    );
    response.headers()["location"].to_str().unwrap().to_string()
}

/// A whole login through `uri` with such a provider; returns the callback's response.
pub async fn log_in_at_once<'c>(client: &'c Client, uri: &str) -> LocalResponse<'c> {
    let auth_url = start_login(client, uri).await;
    let callback = authorize_at_once(&auth_url).await;
    browse(client, &path_and_query(&callback)).await
}

/// A whole login through `/login` at a provider that answers `/authorize` at once (the
/// fake provider); asserts that the callback sends the browser back.
pub async fn log_in(client: &Client) {
    log_in_through(client, "/login").await;
}

/// [`log_in`] through the guarded page `uri`.
pub async fn log_in_through(client: &Client, uri: &str) {
    let response = log_in_at_once(client, uri).await;
    assert_eq!(
        response.status(),
        Status::SeeOther,
        "the login through {uri} succeeds: {:?}",
        response.into_string().await
    );
}

/// Takes the provider's `callback` URL to the app (the callback must send the browser back)
/// and returns `/login`'s JSON: the end of every whole login.
pub async fn finish_login(client: &Client, callback: &str) -> serde_json::Value {
    let response = browse(client, &path_and_query(callback)).await;
    assert_eq!(
        response.status(),
        Status::SeeOther,
        "the callback succeeds: {:?}",
        response.into_string().await
    );
    let response = browse(client, "/login").await;
    assert_eq!(response.status(), Status::Ok);
    json(&response.into_string().await.unwrap())
}

/// A reqwest client that, like a browser, keeps cookies but follows no redirect.
pub fn provider_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

pub fn set_cookies(response: &LocalResponse<'_>) -> Vec<String> {
    response
        .headers()
        .get("Set-Cookie")
        .map(str::to_string)
        .collect()
}

pub fn header(name: &'static str, value: &'static str) -> Header<'static> {
    Header::new(name, value)
}

/// The names of `url`'s query parameters, in order.
pub fn query_names(url: &str) -> Vec<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(name, _)| name.into_owned())
        .collect()
}

/// Awaits every future of `futures` at once (no extra crate); their outputs in order.
pub async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

/// Plays the browser's part at a callback URL whose answer is in the fragment: loads the
/// callback (which must serve the relay page: no query, a strict policy, never cached),
/// then posts the fragment's parameters as the page's script does.
pub async fn through_relay<'c>(client: &'c Client, callback: &str) -> LocalResponse<'c> {
    let url = url::Url::parse(callback).expect("an absolute callback URL");
    let fragment = url
        .fragment()
        .unwrap_or_else(|| panic!("the answer is in the fragment: {callback}"))
        .to_string();
    let page = browse(client, url.path()).await;
    assert_eq!(
        page.status(),
        Status::Ok,
        "the callback serves the relay page"
    );
    let policy = page
        .headers()
        .get_one("Content-Security-Policy")
        .expect("the relay page has a policy")
        .to_string();
    assert!(
        policy.starts_with("default-src 'none'; script-src 'sha256-"),
        "{policy}"
    );
    assert_eq!(page.headers().get_one("Cache-Control"), Some("no-store"));
    assert_eq!(
        page.headers().get_one("Referrer-Policy"),
        Some("no-referrer")
    );
    let html = page.into_string().await.unwrap_or_default();
    assert!(
        html.contains(&format!("<form method=\"post\" action=\"{}\">", url.path())),
        "the page posts to the callback: {html}"
    );
    client
        .post(url.path().to_string())
        .header(rocket::http::ContentType::Form)
        .header(rocket::http::Accept::HTML)
        .header(rocket::http::Header::new("Sec-Fetch-Site", "same-origin"))
        .body(fragment)
        .dispatch()
        .await
}
