//! The quickstart: one provider, a public page, and routes that need a login.
//!
//! Run it against the bundled test provider with `scripts/quickstart.sh`, or configure your
//! own provider in Rocket.toml and `cargo run --example quickstart`.

use rocket::http::Status;
use rocket::response::content::RawJson;
use rocket::serde::json::serde_json::{self, value::RawValue};
use rocket::serde::json::{json, Json, Value};
use rocket::serde::Serialize;
use rocket::{catch, catchers, get, routes, Build, Request, Rocket};
use rocket_oidc_auth::provider::Default;
use rocket_oidc_auth::{Authenticated, OidcError, OidcFairing};

#[get("/")]
fn index() -> &'static str {
    "Hello! This page is public. Visit /login to log in, /logout to log out.\n"
}

/// What Flask-pyoidc's quickstart shows: the tokens and claims of the session.
///
/// The claims go out as the raw JSON the session holds (`id_token_raw`, `userinfo_raw`),
/// so answering builds no `serde_json::Value`; `user.id_token()` gives the same claims as a
/// `Value` when a route wants to look inside.
#[get("/login")]
fn login(user: Authenticated<Default>) -> RawJson<String> {
    let session = Session {
        access_token: user.access_token(),
        id_token: user.id_token_raw(),
        userinfo: user.userinfo_raw(),
    };
    RawJson(serde_json::to_string(&session).expect("strings and JSON always serialize"))
}

/// The body of `/login`: `{"access_token", "id_token", "userinfo"}`.
#[derive(Serialize)]
struct Session<'a> {
    access_token: &'a str,
    id_token: &'a RawValue,
    userinfo: Option<&'a RawValue>,
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

/// The application: the fairing, the routes above, and the catcher.
pub fn rocket() -> Rocket<Build> {
    rocket::build()
        .attach(OidcFairing::from_config())
        .mount("/", routes![index, login, whoami, token])
        .register("/", catchers![error])
}

#[rocket::main]
async fn main() {
    // On failure Rocket reports why (a configuration key to fix, a port in use) and exits.
    let _ = rocket().launch().await;
}
