//! The OpenID RP certification's Basic profile (`oidcc-client-basic-certification-test-plan`):
//! `response_type=code`, the answer in the callback's query, `client_secret_basic`. Each test
//! is named after the conformance suite's test, against the misbehaving provider; the happy
//! path against the real one is `login_real_op::a_full_login_through_the_quickstart_routes`.
//!
//! The Form Post profile runs the same tests with the answer posted (`profile_form_post`):
//! the refusals are the constants below, the happy paths the functions that take a
//! [`ResponseMode`].

use crate::common::app::*;
use crate::common::fake_op::{self, jwt_parts, FakeOp, Signing};
use crate::support::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket_oidc_auth::{provider::Default, Authenticated};
use serde_json::{json, Value};

/// `oidcc-client-test-invalid-iss`: an ID token from another issuer.
pub(crate) const INVALID_ISS: Refusal = Refusal {
    misbehave: |op| set_claim(op, "iss", json!("https://evil.example")),
    detail: "is not the provider's issuer",
    ..BAD_ID_TOKEN
};

/// `oidcc-client-test-missing-sub`: an ID token without `sub`.
pub(crate) const MISSING_SUB: Refusal = Refusal {
    misbehave: |op| set_claim(op, "sub", Value::Null),
    detail: "sub",
    ..BAD_ID_TOKEN
};

/// `oidcc-client-test-invalid-aud`: an ID token for another client.
pub(crate) const INVALID_AUD: Refusal = Refusal {
    misbehave: |op| set_claim(op, "aud", json!("someone-else")),
    detail: "aud",
    ..BAD_ID_TOKEN
};

/// `oidcc-client-test-missing-iat`: an ID token without `iat`.
pub(crate) const MISSING_IAT: Refusal = Refusal {
    misbehave: |op| set_claim(op, "iat", Value::Null),
    detail: "iat",
    ..BAD_ID_TOKEN
};

/// `oidcc-client-test-idtoken-sig-none`: an unsigned ID token (`alg: none`). The suite lets
/// an RP accept it; the crate never does.
pub(crate) const IDTOKEN_SIG_NONE: Refusal = Refusal {
    misbehave: |op| op.set(|b| b.signing = Signing::AlgNone),
    detail: "alg",
    ..BAD_ID_TOKEN
};

/// `oidcc-client-test-invalid-sig-rs256`: one byte of the RS256 signature flipped.
pub(crate) const INVALID_SIG_RS256: Refusal = Refusal {
    misbehave: |op| op.set(|b| b.signing = Signing::BadSignature),
    detail: "signature",
    ..BAD_ID_TOKEN
};

/// `oidcc-client-test-userinfo-invalid-sub`: UserInfo about another subject.
pub(crate) const USERINFO_INVALID_SUB: Refusal = Refusal {
    misbehave: |op| op.set(|b| b.userinfo_sub = Some("mallory".into())),
    error: "invalid_userinfo",
    not_called: &[],
    ..BAD_ID_TOKEN
};

/// `oidcc-client-test-nonce-invalid`: an ID token with another `nonce` than the one sent.
pub(crate) const NONCE_INVALID: Refusal = Refusal {
    misbehave: |op| set_claim(op, "nonce", json!("not-the-nonce")),
    detail: "nonce",
    ..BAD_ID_TOKEN
};

#[rocket::get("/id_token_jwt")]
fn id_token_jwt(user: Authenticated<Default>) -> String {
    user.id_token_jwt().to_string()
}

/// The quickstart against `op`, the answer coming back as `mode` says, plus a route that
/// shows the session's ID token as the provider sent it.
async fn app(op: &FakeOp, mode: ResponseMode) -> Client {
    TestApp::quickstart()
        .provider(op)
        .provider_table(mode.provider_line())
        .mount("/", rocket::routes![id_token_jwt])
        .start()
        .await
}

/// A whole login brought back as `mode` says, which must succeed: `/login`'s JSON.
async fn logs_in(client: &Client, mode: ResponseMode) -> Value {
    let (status, body) = mode.login(client).await;
    assert_eq!(
        status,
        Status::SeeOther,
        "{mode:?}: the login finishes: {body}"
    );
    let response = browse(client, "/login").await;
    assert_eq!(response.status(), Status::Ok, "{mode:?}");
    json(&response.into_string().await.unwrap())
}

#[rocket::async_test]
async fn oidcc_client_test() {
    let op = FakeOp::start().await;
    let client = app(&op, ResponseMode::Query).await;
    let auth_url = start_login(&client, "/login").await;
    assert!(auth_url.starts_with(&format!("{}/authorize?", op.issuer)));
    assert_eq!(param(&auth_url, "response_type").as_deref(), Some("code"));
    assert_eq!(
        param(&auth_url, "response_mode"),
        None,
        "query is the default"
    );
    let callback = authorize_at_once(&auth_url).await;
    assert!(param(&callback, "code").is_some(), "{callback}");
    let body = finish_login(&client, &callback).await;
    assert_eq!(op.hits("/token"), 1, "the code is exchanged once");
    assert_eq!(op.hits("/userinfo"), 1, "UserInfo is called once");
    assert_eq!(body["id_token"]["sub"], "alice", "{body}");
    assert_eq!(body["userinfo"]["sub"], "alice", "{body}");
    assert!(client.cookies().get(SESSION_COOKIE).is_some());
}

#[rocket::async_test]
async fn oidcc_client_test_invalid_iss() {
    assert_refused_via("invalid-iss", INVALID_ISS, ResponseMode::Query).await;
}

#[rocket::async_test]
async fn oidcc_client_test_missing_sub() {
    assert_refused_via("missing-sub", MISSING_SUB, ResponseMode::Query).await;
}

#[rocket::async_test]
async fn oidcc_client_test_invalid_aud() {
    assert_refused_via("invalid-aud", INVALID_AUD, ResponseMode::Query).await;
}

#[rocket::async_test]
async fn oidcc_client_test_missing_iat() {
    assert_refused_via("missing-iat", MISSING_IAT, ResponseMode::Query).await;
}

#[rocket::async_test]
async fn oidcc_client_test_kid_absent_single_jwks() {
    kid_absent_single_jwks(ResponseMode::Query).await;
}

/// An ID token without `kid`, the provider's JWKS holding one key: that key verifies it.
pub(crate) async fn kid_absent_single_jwks(mode: ResponseMode) {
    let op = FakeOp::start().await;
    op.set(|b| b.signing = Signing::NoKid);
    let client = app(&op, mode).await;
    let body = logs_in(&client, mode).await;
    assert_eq!(body["id_token"]["sub"], "alice", "{mode:?}: {body}");
}

#[rocket::async_test]
async fn oidcc_client_test_kid_absent_multiple_jwks() {
    kid_absent_multiple_jwks(ResponseMode::Query).await;
}

/// An ID token without `kid` while the JWKS holds two keys for its algorithm: the suite
/// lets the client try each or refuse; this client refuses (which key signed is unknown),
/// with 401 `invalid_id_token`, no UserInfo call and no session.
pub(crate) async fn kid_absent_multiple_jwks(mode: ResponseMode) {
    let op = FakeOp::start().await;
    // Before the app starts: it loads the keys at launch.
    op.set(|b| {
        b.signing = Signing::NoKid;
        b.publish_both_rsa_keys = true;
    });
    let client = app(&op, mode).await;
    let (status, body) = mode.login(&client).await;
    assert_eq!(status, Status::Unauthorized, "{mode:?}: {body}");
    assert!(body.contains("\"invalid_id_token\""), "{mode:?}: {body}");
    assert_eq!(op.hits("/userinfo"), 0, "{mode:?}");
    assert!(client.cookies().get(SESSION_COOKIE).is_none(), "{mode:?}");
}

#[rocket::async_test]
async fn oidcc_client_test_idtoken_sig_rs256() {
    idtoken_sig_rs256(ResponseMode::Query).await;
}

/// An RS256-signed ID token, brought back as `mode` says, logs in; the session keeps it.
pub(crate) async fn idtoken_sig_rs256(mode: ResponseMode) {
    let op = FakeOp::start().await;
    let client = app(&op, mode).await;
    let body = logs_in(&client, mode).await;
    assert_eq!(body["id_token"]["sub"], "alice", "{mode:?}: {body}");
    let jwt = browse(&client, "/id_token_jwt")
        .await
        .into_string()
        .await
        .unwrap();
    let (header, _) = jwt_parts(&jwt).expect("the session's ID token is a JWS");
    assert_eq!(header["alg"], "RS256", "{mode:?}: {header}");
    assert_eq!(header["kid"], fake_op::KID_1, "{mode:?}: {header}");
}

#[rocket::async_test]
async fn oidcc_client_test_idtoken_sig_none() {
    assert_refused_via("idtoken-sig-none", IDTOKEN_SIG_NONE, ResponseMode::Query).await;
}

#[rocket::async_test]
async fn oidcc_client_test_invalid_sig_rs256() {
    assert_refused_via("invalid-sig-rs256", INVALID_SIG_RS256, ResponseMode::Query).await;
}

#[rocket::async_test]
async fn oidcc_client_test_userinfo_invalid_sub() {
    assert_refused_via(
        "userinfo-invalid-sub",
        USERINFO_INVALID_SUB,
        ResponseMode::Query,
    )
    .await;
}

#[rocket::async_test]
async fn oidcc_client_test_nonce_invalid() {
    assert_refused_via("nonce-invalid", NONCE_INVALID, ResponseMode::Query).await;
}

#[rocket::async_test]
async fn oidcc_client_test_scope_userinfo_claims() {
    scope_userinfo_claims(ResponseMode::Query).await;
}

/// The login asks for the `email` and `profile` scopes and the UserInfo claims reach the
/// app, the answer brought back as `mode` says.
pub(crate) async fn scope_userinfo_claims(mode: ResponseMode) {
    let op = FakeOp::start().await;
    let client = app(&op, mode).await;
    let auth_url = start_login(&client, "/login").await;
    assert_eq!(
        param(&auth_url, "scope").as_deref(),
        Some("openid email profile"),
        "{mode:?}"
    );
    let body = logs_in(&client, mode).await;
    assert_eq!(op.hits("/userinfo"), 1, "{mode:?}");
    assert_eq!(
        body["userinfo"]["email"], "alice@example.com",
        "{mode:?}: {body}"
    );
}

#[rocket::async_test]
async fn oidcc_client_test_client_secret_basic() {
    client_secret_basic(ResponseMode::Query).await;
}

/// The token request authenticates with `client_secret_basic`: the id and secret in a
/// Basic header, never in the form; the answer brought back as `mode` says.
pub(crate) async fn client_secret_basic(mode: ResponseMode) {
    let op = FakeOp::start().await;
    let client = app(&op, mode).await;
    logs_in(&client, mode).await;
    let request = op.last_request("/token").expect("a token request");
    let credentials = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Basic "))
        .map(|encoded| String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap());
    assert_eq!(
        credentials,
        Some(format!("{}:{}", fake_op::CLIENT_ID, fake_op::CLIENT_SECRET)),
        "{mode:?}"
    );
    let form = request.form_params();
    assert!(
        !form.contains_key("client_secret") && !form.contains_key("client_assertion"),
        "{mode:?}: no other credentials: {form:?}"
    );
}
