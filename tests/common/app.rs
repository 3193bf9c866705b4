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

/// A configuration with one provider named `default`. `oidc_extra` lines go under
/// `[default.oidc]`, `provider_extra` lines under its provider table.
pub fn figment(
    issuer: &str,
    client_id: &str,
    client_secret: &str,
    oidc_extra: &str,
    provider_extra: &str,
) -> Figment {
    let log_level = std::env::var("ROCKET_LOG_LEVEL").unwrap_or_else(|_| "critical".into());
    let secret_key = secret_key();
    let toml = format!(
        r#"
[default]
secret_key = "{secret_key}"
log_level = "{log_level}"
cli_colors = false

[default.oidc]
redirect_uri = "{REDIRECT_URI}"
{oidc_extra}

[default.oidc.providers.default]
issuer = "{issuer}"
client_id = "{client_id}"
client_secret = "{client_secret}"
scope = ["openid", "email", "profile"]
{provider_extra}
"#
    );
    Figment::from(rocket::Config::debug_default()).merge(Toml::string(&toml).nested())
}

/// A configuration with one provider `default` at `issuer`, whose table holds exactly
/// `provider` lines (plus issuer and scope; tables of its own may follow them), and
/// `oidc_extra` lines under `[default.oidc]`.
pub fn provider_config(issuer: &str, provider: &str, oidc_extra: &str) -> Figment {
    let toml = format!(
        r#"
[default]
secret_key = "{}"
log_level = "{}"
cli_colors = false

[default.oidc]
redirect_uri = "{REDIRECT_URI}"
{oidc_extra}

[default.oidc.providers.default]
issuer = "{issuer}"
scope = ["openid", "email"]
{provider}
"#,
        secret_key(),
        std::env::var("ROCKET_LOG_LEVEL").unwrap_or_else(|_| "critical".into()),
    );
    Figment::from(rocket::Config::debug_default()).merge(Toml::string(&toml).nested())
}

/// Igniting `figment`'s quickstart fails in the fairing (a launch error, not a panic).
pub async fn launch_fails(figment: Figment) {
    match quickstart_rocket(figment).ignite().await {
        Ok(_) => panic!("launch should stop"),
        Err(error) => assert!(
            matches!(error.kind(), rocket::error::ErrorKind::FailedFairings(_)),
            "{error:?}"
        ),
    }
}

/// The quickstart example's Rocket, configured by `figment`.
pub fn quickstart_rocket(figment: Figment) -> rocket::Rocket<rocket::Build> {
    quickstart::rocket().configure(figment)
}

/// The quickstart example exactly as `cargo run --example quickstart` builds it, configured
/// by Rocket.toml, `ROCKET_CONFIG` and `ROCKET_*` variables.
pub fn quickstart_default_rocket() -> rocket::Rocket<rocket::Build> {
    quickstart::rocket()
}

/// The quickstart example, configured by `figment`, in a cookie-tracking local client.
pub async fn quickstart(figment: Figment) -> Client {
    Client::tracked(quickstart_rocket(figment))
        .await
        .expect("the quickstart launches")
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
