//! The quickstart: one provider, a public page, and routes that need a login.
//!
//! Run it against the bundled test provider with `scripts/quickstart.sh`, or configure your
//! own provider in Rocket.toml and `cargo run --example quickstart`.

use rocket::http::Status;
use rocket::serde::json::{json, Json, Value};
use rocket::{catch, catchers, get, routes, Build, Request, Rocket};
use rocket_oidc_auth::provider::Default;
use rocket_oidc_auth::{Authenticated, OidcError, OidcFairing};

#[get("/")]
fn index() -> &'static str {
    "Hello! This page is public. Visit /login to log in, /logout to log out.\n"
}

/// What Flask-pyoidc's quickstart shows: the tokens and claims of the session.
#[get("/login")]
fn login(user: Authenticated<Default>) -> Json<Value> {
    Json(json!({
        "access_token": user.access_token(),
        "id_token": user.id_token(),
        "userinfo": user.userinfo(),
    }))
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
            Json(json!({ "error": err.error(), "message": err.description() })),
        ),
    }
}

/// Every error, OpenID Connect or not, as JSON with its status.
#[catch(default)]
fn error(status: Status, req: &Request<'_>) -> (Status, Json<Value>) {
    let body = match OidcError::of(req) {
        Some(err) => json!({ "error": err.error(), "message": err.description() }),
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
