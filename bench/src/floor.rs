//! The floor: a bare Rocket + reqwest app that makes the same requests as
//! `examples/quickstart.rs` and checks nothing OpenID Connect asks to check. It is what the
//! quickstart's work costs without the crate: the end-to-end harness measures it in the
//! same run and reports every figure of the crate as a ratio to it.
//!
//! - `GET /`: a public page.
//! - `GET /login`, `GET /whoami` without a session: a redirect to the provider's
//!   authorization endpoint with `state`, a `nonce` and a PKCE (S256) challenge, the state,
//!   the verifier and the path to come back to kept in a private cookie.
//! - the callback (`redirect_uri`'s path): the state compared with the cookie's, the code
//!   exchanged at the token endpoint (`client_secret_basic`), UserInfo called with the access
//!   token, and the session (tokens, the ID token's payload as it came, UserInfo) stored as
//!   JSON in a private cookie; then back to the path the login started from.
//! - `GET /login`, `GET /whoami` with a session: the private cookie's JSON read; `/login`
//!   answers the quickstart's `{"access_token", "id_token", "userinfo"}`, `/whoami` the
//!   `sub`.
//!
//! Not checked, on purpose (the crate's work, which this app is the floor of): the ID
//! token's signature, issuer, audience, expiry and nonce, the `iss` of the callback, the
//! access token's expiry, any refresh. The key point is that every byte the quickstart
//! moves, this app moves too.
//!
//! Configured as the quickstart is, by `ROCKET_OIDC` (or `[default.oidc]` in Rocket.toml):
//! `redirect_uri` and `providers.default.{issuer, client_id, client_secret, scope}`; other
//! keys are ignored. Discovery happens once, before launch.

use std::process::ExitCode;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use rocket::http::uri::Origin;
use rocket::http::{Cookie, CookieJar, SameSite};
use rocket::response::content::{RawHtml, RawJson};
use rocket::response::Redirect;
use rocket::{get, routes, Responder, State};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// The private cookie of a login under way.
const PENDING_COOKIE: &str = "floor_login";
/// The private cookie of the session.
const SESSION_COOKIE: &str = "floor_session";

/// `oidc` in Rocket's configuration: the keys the quickstart's fairing reads for one provider.
#[derive(Debug, Deserialize)]
struct OidcConfig {
    redirect_uri: String,
    providers: Providers,
}

#[derive(Debug, Deserialize)]
struct Providers {
    default: ProviderConfig,
}

#[derive(Debug, Deserialize)]
struct ProviderConfig {
    issuer: String,
    client_id: String,
    client_secret: String,
    #[serde(default = "default_scope")]
    scope: Vec<String>,
}

fn default_scope() -> Vec<String> {
    vec!["openid".into()]
}

/// The endpoints of the provider's discovery document this app calls.
#[derive(Debug, Deserialize)]
struct Endpoints {
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
}

/// The app's state: its configuration, the provider's endpoints, one HTTP client.
#[derive(Debug)]
struct Floor {
    provider: ProviderConfig,
    redirect_uri: String,
    endpoints: Endpoints,
    http: reqwest::Client,
}

/// A login under way, in [`PENDING_COOKIE`].
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    state: String,
    verifier: String,
    return_to: String,
}

/// The session, in [`SESSION_COOKIE`]: what the quickstart's session holds and shows.
#[derive(Debug, Serialize, Deserialize)]
struct Session {
    sub: String,
    access_token: String,
    refresh_token: Option<String>,
    expires_at: Option<i64>,
    /// The compact ID token, kept as the crate keeps it (for a logout's `id_token_hint`).
    id_token: String,
    /// The ID token's payload, decoded but not checked.
    id_token_claims: Box<RawValue>,
    userinfo: Box<RawValue>,
}

/// The body of `/login`, as the quickstart's.
#[derive(Serialize)]
struct LoginBody<'a> {
    access_token: &'a str,
    id_token: &'a RawValue,
    userinfo: &'a RawValue,
}

/// The token endpoint's answer (the fields this app keeps).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    id_token: String,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A private cookie for this site, `SameSite=Lax`: the callback arrives from the provider.
fn private_cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .build()
}

/// The session of the request, if its private cookie opens and parses.
fn session(cookies: &CookieJar<'_>) -> Option<Session> {
    let cookie = cookies.get_private(SESSION_COOKIE)?;
    serde_json::from_str(cookie.value()).ok()
}

/// The redirect to the provider, the login's state kept in [`PENDING_COOKIE`].
fn log_in(floor: &Floor, cookies: &CookieJar<'_>, return_to: &Origin<'_>) -> Redirect {
    let (state, nonce, verifier) = (random_token(), random_token(), random_token());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = match url::Url::parse(&floor.endpoints.authorization_endpoint) {
        Ok(url) => url,
        Err(_) => return Redirect::to("/"),
    };
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &floor.provider.client_id)
        .append_pair("redirect_uri", &floor.redirect_uri)
        .append_pair("scope", &floor.provider.scope.join(" "))
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let pending = Pending {
        state,
        verifier,
        return_to: return_to.path().to_string(),
    };
    let value = serde_json::to_string(&pending).expect("strings always serialize");
    cookies.add_private(private_cookie(PENDING_COOKIE, value));
    Redirect::to(url.to_string())
}

#[get("/")]
fn index() -> RawHtml<&'static str> {
    RawHtml(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>the floor</title>
<meta name="viewport" content="width=device-width"></head>
<body>
<h1>The floor: Rocket and reqwest, no OpenID Connect checks</h1>
<p>This page is public. The others need a login at the provider.</p>
<ul>
<li><a href="/login">Log in</a> and see the session: the tokens, the ID token's claims, UserInfo</li>
<li><a href="/whoami">Who am I?</a> (your <code>sub</code>)</li>
</ul>
</body>
</html>
"#,
    )
}

/// A protected route's answer: the page, or (no session) the redirect to the provider.
#[derive(Responder)]
enum Protected<T> {
    Page(T),
    LogIn(Box<Redirect>),
}

#[get("/login")]
fn login(
    floor: &State<Floor>,
    cookies: &CookieJar<'_>,
    uri: &Origin<'_>,
) -> Protected<RawJson<Vec<u8>>> {
    let Some(session) = session(cookies) else {
        return Protected::LogIn(Box::new(log_in(floor, cookies, uri)));
    };
    let body = LoginBody {
        access_token: &session.access_token,
        id_token: &session.id_token_claims,
        userinfo: &session.userinfo,
    };
    Protected::Page(RawJson(
        serde_json::to_vec(&body).expect("strings and JSON always serialize"),
    ))
}

#[get("/whoami")]
fn whoami(floor: &State<Floor>, cookies: &CookieJar<'_>, uri: &Origin<'_>) -> Protected<String> {
    match session(cookies) {
        Some(session) => Protected::Page(session.sub),
        None => Protected::LogIn(Box::new(log_in(floor, cookies, uri))),
    }
}

/// The callback: mounted at `redirect_uri`'s path.
#[get("/?<code>&<state>")]
async fn callback(
    floor: &State<Floor>,
    cookies: &CookieJar<'_>,
    code: &str,
    state: &str,
) -> Result<Redirect, (rocket::http::Status, String)> {
    let bad = |why: String| (rocket::http::Status::BadRequest, why);
    let pending: Pending = cookies
        .get_private(PENDING_COOKIE)
        .and_then(|c| serde_json::from_str(c.value()).ok())
        .ok_or_else(|| bad("no login under way".into()))?;
    if pending.state != state {
        return Err(bad("state mismatch".into()));
    }
    let session = exchange(floor, code, &pending.verifier)
        .await
        .map_err(|e| (rocket::http::Status::BadGateway, e.to_string()))?;
    let value = serde_json::to_string(&session).expect("strings and JSON always serialize");
    cookies.remove_private(PENDING_COOKIE);
    cookies.add_private(private_cookie(SESSION_COOKIE, value));
    Ok(Redirect::to(pending.return_to))
}

/// The code at the token endpoint, then UserInfo: the new session.
async fn exchange(
    floor: &Floor,
    code: &str,
    verifier: &str,
) -> Result<Session, Box<dyn std::error::Error>> {
    let response = floor
        .http
        .post(&floor.endpoints.token_endpoint)
        .basic_auth(
            &floor.provider.client_id,
            Some(&floor.provider.client_secret),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", floor.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ])
        .send()
        .await?
        .error_for_status()?;
    let tokens: TokenResponse = response.json().await?;
    let payload = tokens
        .id_token
        .split('.')
        .nth(1)
        .ok_or("an ID token without a payload")?;
    let id_token_claims =
        RawValue::from_string(String::from_utf8(URL_SAFE_NO_PAD.decode(payload)?)?)?;
    let userinfo = floor
        .http
        .get(&floor.endpoints.userinfo_endpoint)
        .bearer_auth(&tokens.access_token)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let userinfo = RawValue::from_string(userinfo)?;
    #[derive(Deserialize)]
    struct Subject {
        sub: String,
    }
    let Subject { sub } = serde_json::from_str(userinfo.get())?;
    Ok(Session {
        sub,
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        expires_at: tokens.expires_in.map(|s| now() + s),
        id_token: tokens.id_token,
        id_token_claims,
        userinfo,
    })
}

/// The provider's endpoints from its discovery document.
async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Endpoints, reqwest::Error> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    http.get(url).send().await?.error_for_status()?.json().await
}

#[rocket::main]
async fn main() -> ExitCode {
    let rocket = rocket::build();
    let config: OidcConfig = match rocket.figment().extract_inner("oidc") {
        Ok(config) => config,
        Err(err) => {
            eprintln!(
                "error: the floor needs `oidc.redirect_uri` and `oidc.providers.default`: {err}"
            );
            return ExitCode::FAILURE;
        }
    };
    let callback_path = match url::Url::parse(&config.redirect_uri) {
        Ok(url) => url.path().to_string(),
        Err(err) => {
            eprintln!("error: oidc.redirect_uri is not a URL: {err}");
            return ExitCode::FAILURE;
        }
    };
    // As the crate's client: no redirects followed, bounded.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a reqwest client");
    let endpoints = match discover(&http, &config.providers.default.issuer).await {
        Ok(endpoints) => endpoints,
        Err(err) => {
            eprintln!("error: discovery failed: {err}");
            return ExitCode::FAILURE;
        }
    };
    let floor = Floor {
        provider: config.providers.default,
        redirect_uri: config.redirect_uri,
        endpoints,
        http,
    };
    let launched = rocket
        .manage(floor)
        .mount("/", routes![index, login, whoami])
        .mount(callback_path, routes![callback])
        .launch()
        .await;
    match launched {
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: the floor did not start: {err}");
            ExitCode::FAILURE
        }
    }
}
