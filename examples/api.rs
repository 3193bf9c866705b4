//! An API next to a browser app: bearer-token routes (one needing the `admin` scope), a
//! route that takes a bearer token or a browser session, and a route that calls out with
//! the app's own client-credentials token.
//!
//! Configured like the quickstart (Rocket.toml or `ROCKET_CONFIG`, provider `default`);
//! docs/guide.md's "APIs" section runs it against the bundled test provider with curl.

use rocket::http::Status;
use rocket::response::content::RawHtml;
use rocket::serde::json::{json, Json, Value};
use rocket::{catch, catchers, get, routes, Build, Request, Rocket};
use rocket_oidc_auth::provider::Default;
use rocket_oidc_auth::{
    oidc_scopes, Authenticated, Bearer, BearerOrSession, ClientCredentials, OidcError, OidcFairing,
};

oidc_scopes!(
    /// Tokens for `/api/admin` carry the `admin` scope.
    Admin = ["admin"]
);

/// Public.
#[get("/")]
fn index() -> RawHtml<&'static str> {
    RawHtml(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rocket_oidc_auth API example</title></head>
<body><h1>rocket_oidc_auth API example</h1>
<p>API routes: <code>/api/me</code>, <code>/api/admin</code> (scope <code>admin</code>),
<code>/api/either</code> (a token or <a href="/api/either">this browser's login</a>),
<code>/api/outgoing</code>.</p>
<form method="post" action="/logout"><button type="submit">Log out</button></form>
</body></html>
"#,
    )
}

/// Who the bearer token speaks for.
#[get("/api/me")]
fn me(token: Bearer<Default>) -> Json<Value> {
    Json(json!({
        "sub": token.subject(),
        "scope": token.scope(),
        "client_id": token.client_id(),
    }))
}

/// Needs a token with the `admin` scope (403 `insufficient_scope` otherwise).
#[get("/api/admin")]
fn admin(token: Bearer<Default, Admin>) -> Json<Value> {
    Json(json!({ "sub": token.subject() }))
}

/// A bearer token, or this browser's session (a browser without one logs in first).
#[get("/api/either")]
fn either(caller: BearerOrSession<Default>) -> Json<Value> {
    Json(json!({ "sub": caller.subject(), "via": caller.via() }))
}

/// The app's own token for calling other services (never shown): what it is, and how long
/// it has left.
#[get("/api/outgoing")]
async fn outgoing(machine: ClientCredentials<Default>) -> Result<Json<Value>, OidcError> {
    let token = machine.token().await?;
    Ok(Json(json!({
        "token_type": token.token_type(),
        "expires_in": token.expires_in(),
    })))
}

/// The browser's session, after a login (the quickstart's `/login`, in short).
#[get("/login")]
fn login(user: Authenticated<Default>) -> Json<Value> {
    Json(json!({ "sub": user.subject() }))
}

/// Every error as JSON with its status; the API guards' `WWW-Authenticate` is added by the
/// fairing.
#[catch(default)]
fn error(status: Status, req: &Request<'_>) -> (Status, Json<Value>) {
    let body = match OidcError::of(req) {
        Some(err) => json!({ "error": err.error(), "message": err.error_description() }),
        None => json!({ "error": status.reason_lossy(), "message": null }),
    };
    (status, Json(body))
}

/// The application.
pub fn rocket() -> Rocket<Build> {
    rocket::build()
        .attach(OidcFairing::from_config())
        .mount("/", routes![index, me, admin, either, outgoing, login])
        .register("/", catchers![error])
}

/// Launches the app; a failed launch ends with exit code 1 and one line, not a panic.
#[rocket::main]
async fn main() -> std::process::ExitCode {
    match rocket().launch().await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: the app did not start: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
