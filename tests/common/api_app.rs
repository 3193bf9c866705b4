//! The API example (`examples/api.rs`) as a test app, and tokens of the test provider for it.
#![allow(dead_code, unreachable_pub, missing_docs)]

use serde_json::Value;

#[path = "../../examples/api.rs"]
#[allow(dead_code)]
mod api;

/// The API example exactly as `cargo run --example api` builds it (see
/// [`TestApp::api`](super::app::TestApp::api)).
pub fn api_rocket() -> rocket::Rocket<rocket::Build> {
    api::rocket()
}

/// A client-credentials token response of the provider at `issuer` for `client_id`.
pub async fn client_token(
    issuer: &str,
    client_id: &str,
    secret: &str,
    scope: &str,
    resource: Option<&str>,
) -> Value {
    let mut form = vec![("grant_type", "client_credentials"), ("scope", scope)];
    if let Some(resource) = resource {
        form.push(("resource", resource));
    }
    let response = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth(client_id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "the provider issues a token"
    );
    response.json().await.unwrap()
}

/// Revokes `token` at the provider (as its own client).
pub async fn revoke(issuer: &str, client_id: &str, secret: &str, token: &str) {
    let response = reqwest::Client::new()
        .post(format!("{issuer}/token/revocation"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}
