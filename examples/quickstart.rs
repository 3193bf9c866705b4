//! The quickstart: one provider, a public page, and routes that need a login.
//!
//! Run it against the bundled test provider with `scripts/quickstart.sh`, or configure your
//! own provider in Rocket.toml and `cargo run --example quickstart`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rocket::http::{ContentType, Status};
use rocket::response::content::{RawHtml, RawJson};
use rocket::serde::json::serde_json::{self, value::RawValue};
use rocket::serde::json::{json, Json, Value};
use rocket::serde::Serialize;
use rocket::{catch, catchers, get, routes, Build, Request, Rocket, State};
use rocket_oidc_auth::provider::Default;
use rocket_oidc_auth::{Authenticated, OidcError, OidcFairing};

/// The public first page: links through the demo, and the logout as a form button (a
/// logout is a `POST` from the app's own page).
#[get("/")]
fn index() -> RawHtml<&'static str> {
    RawHtml(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>rocket_oidc_auth quickstart</title>
<meta name="viewport" content="width=device-width"></head>
<body>
<h1>rocket_oidc_auth quickstart</h1>
<p>This page is public. The others need a login at the provider.</p>
<ul>
<li><a href="/profile">Your profile</a>: name, email, provider (the page apps start from)</li>
<li><a href="/login">Log in</a> and see the session: the tokens, the ID token's claims, UserInfo</li>
<li><a href="/whoami">Who am I?</a> (your <code>sub</code>)</li>
<li><a href="/token">A valid access token</a> (refreshed when it expired)</li>
<li><a href="/metrics">Metrics</a> (Prometheus text format)</li>
</ul>
<form method="post" action="/logout"><button type="submit">Log out</button></form>
</body>
</html>
"#,
    )
}

/// What Flask-pyoidc's quickstart shows: the tokens and claims of the session.
///
/// The claims go out as the raw JSON the session holds (`id_token_raw`, `userinfo_raw`),
/// so answering builds no `serde_json::Value`; `user.id_token()` gives the same claims as a
/// `Value` when a route wants to look inside.
#[get("/login")]
fn login(user: Authenticated<Default>) -> RawJson<Vec<u8>> {
    let session = Session {
        access_token: user.access_token(),
        id_token: user.id_token_raw(),
        userinfo: user.userinfo_raw(),
    };
    // Sized up front: the body is written without growing (and copying) it on the way.
    let size = session.access_token.len()
        + session.id_token.get().len()
        + session.userinfo.map_or(4, |raw| raw.get().len())
        + 64;
    let mut body = Vec::with_capacity(size);
    serde_json::to_writer(&mut body, &session).expect("strings and JSON always serialize");
    RawJson(body)
}

/// The body of `/login`: `{"access_token", "id_token", "userinfo"}`.
#[derive(Serialize)]
struct Session<'a> {
    access_token: &'a str,
    id_token: &'a RawValue,
    userinfo: Option<&'a RawValue>,
}

/// The page apps start from: who is logged in (the ID token's claims with UserInfo's, typed),
/// with which provider, and a logout button. Claims come from the provider: escaped.
#[get("/profile")]
fn profile(user: Authenticated<Default>) -> RawHtml<String> {
    let claims = user.claims();
    let name = claims
        .name()
        .and_then(|name| name.get(None))
        .map_or(user.subject(), |name| name.as_str());
    let email = claims.email().map_or("(no email)", |email| email.as_str());
    RawHtml(format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Your profile</title>
<meta name="viewport" content="width=device-width"></head>
<body>
<h1>{name}</h1>
<p>{email}</p>
<p>Logged in with {provider}.</p>
<form method="post" action="/logout"><button type="submit">Log out</button></form>
</body>
</html>
"#,
        name = escape(name),
        email = escape(email),
        provider = escape(user.provider()),
    ))
}

/// `text` safe inside HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The cheapest protected route: what the guard alone costs.
#[get("/whoami")]
fn whoami(user: Authenticated<Default>) -> String {
    user.subject().to_string()
}

/// A valid access token and when it expires: refreshed with the refresh token when it has
/// expired, a 401 JSON error when it cannot be.
#[get("/token")]
async fn token(mut user: Authenticated<Default>) -> (Status, Json<Value>) {
    match user.valid_access_token().await {
        Ok(token) => (
            Status::Ok,
            Json(json!({
                "access_token": token.secret(),
                "expires_at": token.expires_at().map(|at| at.unix_timestamp()),
            })),
        ),
        Err(err) => (
            Status::Unauthorized,
            Json(json!({ "error": err.error(), "message": err.error_description() })),
        ),
    }
}

/// Every error, OpenID Connect or not, as JSON with its status.
#[catch(default)]
fn error(status: Status, req: &Request<'_>) -> (Status, Json<Value>) {
    let body = match OidcError::of(req) {
        Some(err) => json!({ "error": err.error(), "message": err.error_description() }),
        None => json!({ "error": status.reason_lossy(), "message": null }),
    };
    (status, Json(body))
}

/// The crate's metrics (and any other of the app's) in the Prometheus text format. The
/// recorder is the process's one: installed once, before the first event.
#[get("/metrics")]
fn metrics(handle: &State<PrometheusHandle>) -> (ContentType, String) {
    let text = ContentType::new("text", "plain").with_params([("version", "0.0.4")]);
    (text, handle.render())
}

/// The Prometheus recorder of this process, installed on first use: latencies as
/// histograms with buckets from 5 ms to 10 s (alerts and dashboards take quantiles of them).
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let seconds = [
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets(&seconds)
                .expect("the bucket list is not empty");
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder came first (a test harness): render a private one.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// The application: the fairing, the routes above, and the catcher.
pub fn rocket() -> Rocket<Build> {
    rocket::build()
        .attach(OidcFairing::from_config())
        .manage(prometheus())
        .mount("/", routes![index, profile, login, whoami, token, metrics])
        .register("/", catchers![error])
}

/// Launches the app; a failed launch ends with exit code 1 and one line, not a panic.
#[rocket::main]
async fn main() -> std::process::ExitCode {
    match rocket().launch().await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // Rocket and the fairing have logged why (the key to fix, the port in use).
            eprintln!("error: the app did not start: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
