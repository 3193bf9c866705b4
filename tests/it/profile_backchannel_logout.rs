//! The OpenID RP certification's Back-Channel Logout profile
//! (`oidcc-client-back-channel-logout-rp-basic`): the provider posts a logout token to the
//! app's `backchannel_logout_uri`; a valid one ends the session it names, a bad one gets 400
//! `invalid_request` and ends nothing. Each test is named after the conformance suite's
//! test, against the misbehaving provider, with the memory store. The suite's RP-initiated
//! logout before the token is left out: the app would already have ended the session, and
//! here the token must end it. Every store, and more bad tokens, are
//! `sessions::<store>::bad_logout_tokens_answer_400_and_end_nothing`; the real provider's
//! tokens are `backchannel_real_op`.

use crate::common::app::*;
use crate::common::fake_op::{FakeOp, Signing};
use rocket::http::{Accept, ContentType, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

const SID: &str = "op-session-1";

/// A session at the fake provider whose ID token carries [`SID`], in the memory store.
async fn logged_in() -> (FakeOp, Client) {
    logged_in_with("").await
}

/// [`logged_in`] with `provider` lines in the provider's table.
async fn logged_in_with(provider: &str) -> (FakeOp, Client) {
    let op = FakeOp::start().await;
    op.set(|b| {
        b.id_token_claims.insert("sid".into(), json!(SID));
        // An EC key beside the RSA one, both advertised: a logout token may be signed
        // correctly with either.
        b.publish_ec_key = true;
        b.id_token_algs = Some(vec!["RS256".into(), "ES256".into()]);
    });
    let client = TestApp::quickstart()
        .provider(&op)
        .oidc("[default.oidc.session]\nstore = \"memory\"")
        .provider_table(provider)
        .start()
        .await;
    log_in(&client).await;
    assert!(logged_in_still(&client).await);
    (op, client)
}

async fn logged_in_still(client: &Client) -> bool {
    let response = client.get("/whoami").header(Accept::JSON).dispatch().await;
    response.status() == Status::Ok
}

/// A logout token for the session, valid but for `overrides` (a `null` removes a claim).
fn token(op: &FakeOp, overrides: Value, signing: Signing) -> String {
    op.logout_token(Some(SID), Some("alice"), overrides, "logout+jwt", signing)
}

/// Posts `token` to the back-channel logout URI: status, `Cache-Control`, body.
async fn post(client: &Client, token: &str) -> (Status, Option<String>, String) {
    let response = client
        .post("/logout/backchannel")
        .header(ContentType::Form)
        .body(format!("logout_token={token}"))
        .dispatch()
        .await;
    let status = response.status();
    let cache = response
        .headers()
        .get_one("Cache-Control")
        .map(str::to_string);
    (
        status,
        cache,
        response.into_string().await.unwrap_or_default(),
    )
}

/// The logout token that differs from a valid one by `overrides` and `signing` gets 400
/// `invalid_request`, never cached, and the session it names lives on; the same token
/// without its flaw then ends it.
async fn refused(overrides: Value, signing: Signing) {
    let (op, client) = logged_in().await;
    let (status, cache, body) = post(&client, &token(&op, overrides, signing)).await;
    assert_eq!(status, Status::BadRequest, "{body}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    let error = json(&body);
    assert_eq!(error["error"], "invalid_request", "{body}");
    assert!(
        error["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    assert!(logged_in_still(&client).await, "a bad token ends nothing");
    let (status, _, body) = post(&client, &token(&op, json!({}), Signing::Good)).await;
    assert_eq!(status, Status::Ok, "{body}");
    assert!(!logged_in_still(&client).await, "the valid token ends it");
}

#[rocket::async_test]
async fn oidcc_client_test_rp_backchannel_rpinitlogout() {
    let (op, client) = logged_in().await;
    let copy = client
        .cookies()
        .get("oidc_session_default")
        .unwrap()
        .value()
        .to_string();
    let (status, cache, body) = post(&client, &token(&op, json!({}), Signing::Good)).await;
    assert_eq!(status, Status::Ok, "{body}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert!(!logged_in_still(&client).await, "the session ended");
    let response = client
        .get("/whoami")
        .header(Accept::JSON)
        .cookie(rocket::http::Cookie::new("oidc_session_default", copy))
        .dispatch()
        .await;
    assert_eq!(
        response.status(),
        Status::Unauthorized,
        "no copy of its cookie opens it"
    );
}

#[rocket::async_test]
async fn oidcc_client_test_rp_backchannel_rpinitlogout_alg_none() {
    refused(json!({}), Signing::AlgNone).await;
}

#[rocket::async_test]
async fn oidcc_client_test_rp_backchannel_rpinitlogout_no_event() {
    refused(json!({ "events": null }), Signing::Good).await;
}

#[rocket::async_test]
async fn oidcc_client_test_rp_backchannel_rpinitlogout_with_nonce() {
    refused(json!({ "nonce": "n" }), Signing::Good).await;
}

/// A logout token signed correctly with a key the provider publishes, but with another
/// algorithm than the client registered (ES256 when it pinned RS256): 400, the session
/// lives on; unpinned, the same kind of token ends it (so it was a correct signature).
#[rocket::async_test]
async fn oidcc_client_test_rp_backchannel_rpinitlogout_wrong_alg() {
    let (op, client) = logged_in_with("id_token_signed_response_alg = \"RS256\"").await;
    let (status, cache, body) = post(&client, &token(&op, json!({}), Signing::Es256)).await;
    assert_eq!(status, Status::BadRequest, "{body}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert!(
        json(&body)["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("ES256")),
        "says which algorithm: {body}"
    );
    assert!(
        logged_in_still(&client).await,
        "a wrong-alg token ends nothing"
    );
    let (status, _, body) = post(&client, &token(&op, json!({}), Signing::Good)).await;
    assert_eq!(status, Status::Ok, "{body}");
    assert!(!logged_in_still(&client).await);

    // The control: a client that pinned nothing takes the provider's ES256 signature.
    let (op, client) = logged_in().await;
    let (status, _, body) = post(&client, &token(&op, json!({}), Signing::Es256)).await;
    assert_eq!(status, Status::Ok, "a correct ES256 signature: {body}");
    assert!(!logged_in_still(&client).await);
}

#[rocket::async_test]
async fn oidcc_client_test_rp_backchannel_rpinitlogout_wrong_aud() {
    refused(json!({ "aud": "someone-else" }), Signing::Good).await;
}

#[rocket::async_test]
async fn oidcc_client_test_rp_backchannel_rpinitlogout_wrong_event() {
    refused(
        json!({ "events": { "http://example.com/other": {} } }),
        Signing::Good,
    )
    .await;
}

#[rocket::async_test]
async fn oidcc_client_test_rp_backchannel_rpinitlogout_wrong_iss() {
    refused(json!({ "iss": "http://127.0.0.1:1" }), Signing::Good).await;
}
