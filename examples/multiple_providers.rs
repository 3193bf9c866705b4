//! Two providers side by side, as in Flask-pyoidc's "Using multiple providers": `/login1`
//! needs a login with `provider1`, `/login2` with `provider2`. Each provider has its own
//! session cookie, so a user can be logged in with both.
//!
//! Configure both under `[default.oidc.providers]` (see examples/multiple_providers.toml)
//! and run `ROCKET_CONFIG=examples/multiple_providers.toml cargo run --example multiple_providers`.

use rocket::http::Status;
use rocket::serde::json::{json, Json, Value};
use rocket::{catch, catchers, get, routes, Build, Request, Rocket};
use rocket_oidc_auth::{oidc_provider, Authenticated, OidcError, OidcFairing};

oidc_provider!(pub Provider1 = "provider1");
oidc_provider!(pub Provider2 = "provider2");

#[get("/login1")]
fn login1(user: Authenticated<Provider1>) -> Json<Value> {
    Json(json!({ "provider": user.provider(), "sub": user.subject(), "id_token": user.id_token() }))
}

#[get("/login2")]
fn login2(user: Authenticated<Provider2>) -> Json<Value> {
    Json(json!({ "provider": user.provider(), "sub": user.subject(), "id_token": user.id_token() }))
}

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
        .mount("/", routes![login1, login2])
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
