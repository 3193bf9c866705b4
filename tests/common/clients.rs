//! Test apps for one provider `default` configured line by line (client authentication,
//! keys, PAR, DPoP), clients of the test provider for them, and a full login.
#![allow(dead_code, unreachable_pub, missing_docs)]

use rocket::http::Status;
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

use super::app::*;
use super::node_op::{through_provider, AtProvider};

pub const APP: &str = "http://127.0.0.1:8000/";

pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The public JWK of a client key fixture (computed by Node's crypto, kid = thumbprint).
pub fn public_jwk(name: &str) -> Value {
    let all: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("client_public_jwks.json")).unwrap())
            .unwrap();
    all[name].clone()
}

/// A client of the test provider for the quickstart's redirect URI.
pub fn op_client(client_id: &str, extra: Value) -> Value {
    let mut client = json!({
        "client_id": client_id,
        "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": ["http://127.0.0.1:8000/logout/callback"],
    });
    for (k, v) in extra.as_object().unwrap() {
        client[k] = v.clone();
    }
    client
}

/// Logs `user` in through the quickstart's `/login`; returns `/login`'s JSON.
pub async fn logs_in(client: &Client, user: &str) -> Value {
    let auth_url = start_login(client, "/login").await;
    logs_in_at(client, &auth_url, user).await
}

/// Logs `user` in at the provider from `auth_url` and hands the app the callback; returns
/// the callback's response (a refusal, for the tests that expect one).
pub async fn callback_after<'c>(
    client: &'c Client,
    auth_url: &str,
    user: &str,
) -> rocket::local::asynchronous::LocalResponse<'c> {
    let (callback, _) =
        through_provider(&provider_browser(), auth_url, APP, AtProvider::LogIn(user)).await;
    browse(client, &path_and_query(&callback)).await
}

/// Finishes a login started with `auth_url`; returns `/login`'s JSON.
pub async fn logs_in_at(client: &Client, auth_url: &str, user: &str) -> Value {
    let browser = provider_browser();
    let (callback, _) = through_provider(&browser, auth_url, APP, AtProvider::LogIn(user)).await;
    finish_login(client, &callback).await
}

/// Refreshes the access token now, whatever its expiry; answers the new one.
#[rocket::get("/refresh")]
async fn refresh(
    mut user: rocket_oidc_auth::Authenticated<rocket_oidc_auth::provider::Default>,
) -> Result<String, Status> {
    match user.refreshed_access_token().await {
        Ok(token) => Ok(token.secret().to_string()),
        Err(err) => Err(err.status()),
    }
}

/// What an app needs to call an API with the session's token: its type, the token, and a
/// DPoP proof for `method` on `url` (with the API's `nonce`).
#[rocket::get("/dpop?<method>&<url>&<nonce>")]
async fn dpop(
    mut user: rocket_oidc_auth::Authenticated<rocket_oidc_auth::provider::Default>,
    method: &str,
    url: &str,
    nonce: Option<&str>,
) -> Result<rocket::serde::json::Json<Value>, Status> {
    let token = user.valid_access_token().await.map_err(|e| e.status())?;
    Ok(rocket::serde::json::Json(json!({
        "token_type": token.token_type(),
        "session_token_type": user.access_token_type(),
        "access_token": token.secret(),
        "proof": user.dpop_proof(method, url, nonce),
    })))
}

/// The quickstart with `/t/refresh` and `/t/dpop`.
pub fn with_refresh_route() -> TestApp {
    TestApp::quickstart().mount("/t", rocket::routes![refresh, dpop])
}
