//! DPoP (RFC 9449) against the real test provider: tokens bound to a per-session key, the
//! provider's nonce challenges, a refresh with the same key, and the proof an app makes to
//! call an API with the bound token.

use crate::common::app::EMAIL_SCOPE;
use crate::common::clients::*;
use crate::common::node_op::NodeOp;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

const SECRET: &str = "a-long-enough-client-secret-for-dpop-tests-0123456789";

/// The provider's view of an access token (RFC 7662), with the client's credentials.
async fn introspect(op: &NodeOp, client_id: &str, token: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}/token/introspection", op.issuer))
        .basic_auth(client_id, Some(SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn dpop_route(client: &Client, method: &str, url: &str, nonce: Option<&str>) -> Value {
    let mut uri = format!(
        "/t/dpop?method={method}&url={}",
        url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()
    );
    if let Some(nonce) = nonce {
        uri.push_str(&format!("&nonce={nonce}"));
    }
    let response = client.get(uri).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    serde_json::from_str(&response.into_string().await.unwrap()).unwrap()
}

/// The thumbprint of the key in a DPoP proof's header.
fn proof_jkt(proof: &str) -> String {
    use base64::Engine;
    let header = proof.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    let jwk = &header["jwk"];
    let canonical = json!({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]});
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(canonical.to_string().as_bytes()))
}

async fn bound_session_works(op: &NodeOp, nonce_required: bool) {
    let provider = format!("client_id = \"app\"\nclient_secret = \"{SECRET}\"\ndpop = true");
    let client = with_refresh_route()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider)
        .start()
        .await;
    let body = logs_in(&client, "alice").await;
    assert_eq!(
        body["userinfo"]["sub"], "alice",
        "UserInfo fetched with a proof"
    );
    let userinfo_url = format!("{}/me", op.issuer);
    let first = dpop_route(&client, "GET", &userinfo_url, None).await;
    assert_eq!(first["token_type"], "DPoP");
    assert_eq!(first["session_token_type"], "DPoP");
    let token = first["access_token"].as_str().unwrap().to_string();
    let jkt = proof_jkt(first["proof"].as_str().unwrap());
    let seen = introspect(op, "app", &token).await;
    assert_eq!(seen["active"], true);
    assert_eq!(
        seen["cnf"]["jkt"],
        jkt.as_str(),
        "bound to the session's key"
    );

    // Calling an API (the provider's UserInfo) with the bound token and the app's proof.
    let api = reqwest::Client::new();
    let call = |proof: &str| {
        api.get(&userinfo_url)
            .header("Authorization", format!("DPoP {token}"))
            .header("DPoP", proof.to_string())
            .send()
    };
    let mut response = call(first["proof"].as_str().unwrap()).await.unwrap();
    if nonce_required {
        assert_eq!(response.status().as_u16(), 401, "a nonce is asked for");
        let nonce = response.headers()["dpop-nonce"]
            .to_str()
            .unwrap()
            .to_string();
        let again = dpop_route(&client, "GET", &userinfo_url, Some(&nonce)).await;
        response = call(again["proof"].as_str().unwrap()).await.unwrap();
    }
    assert_eq!(response.status().as_u16(), 200);
    let bearer = api
        .get(&userinfo_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        bearer.status().as_u16(),
        401,
        "the token is useless without the key"
    );

    // A refresh proves the same key: the new token is bound to it too.
    let refreshed = client.get("/t/refresh").dispatch().await;
    assert_eq!(refreshed.status(), Status::Ok);
    let new_token = refreshed.into_string().await.unwrap();
    assert_ne!(new_token, token);
    let seen = introspect(op, "app", &new_token).await;
    assert_eq!(
        seen["cnf"]["jkt"],
        jkt.as_str(),
        "the same key after a refresh"
    );

    // Another session has a key of its own.
    let other = with_refresh_route()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider)
        .start()
        .await;
    logs_in(&other, "bob").await;
    let theirs = dpop_route(&other, "GET", &userinfo_url, None).await;
    assert_ne!(proof_jkt(theirs["proof"].as_str().unwrap()), jkt);
}

#[rocket::async_test]
async fn tokens_are_bound_to_a_key_per_session_and_refreshed_with_it() {
    let clients = json!([op_client("app", json!({ "client_secret": SECRET }))]);
    let op = NodeOp::start(&[("OP_CLIENTS", &clients.to_string())]);
    bound_session_works(&op, false).await;
}

#[rocket::async_test]
async fn the_providers_nonce_challenges_are_answered() {
    let clients = json!([op_client("app", json!({ "client_secret": SECRET }))]);
    let op = NodeOp::start(&[("OP_CLIENTS", &clients.to_string()), ("OP_DPOP_NONCE", "1")]);
    bound_session_works(&op, true).await;
    // Each first request of a kind met a challenge and was retried once.
    assert!(op.hits("/token").await >= 3);
}

#[rocket::async_test]
async fn without_dpop_tokens_stay_bearer_and_no_proof_is_made() {
    let clients = json!([op_client("app", json!({ "client_secret": SECRET }))]);
    let op = NodeOp::start(&[("OP_CLIENTS", &clients.to_string())]);
    let provider = format!("client_id = \"app\"\nclient_secret = \"{SECRET}\"");
    let client = with_refresh_route()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider)
        .start()
        .await;
    logs_in(&client, "carol").await;
    let state = dpop_route(&client, "GET", "https://api.example/x", None).await;
    assert_eq!(state["token_type"], "Bearer");
    assert_eq!(state["proof"], Value::Null);
}
