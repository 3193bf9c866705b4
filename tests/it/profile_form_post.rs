//! The OpenID RP certification's Form Post profile
//! (`oidcc-client-formpost-basic-certification-test-plan`): the Basic profile's tests with
//! `response_mode=form_post`, the provider's page posting the answer to the callback. Each
//! test is named after the conformance suite's test and runs the Basic one
//! (`profile_basic`) with the answer posted, against the misbehaving provider; in a real
//! browser the login is `browser::login_with_form_post`.

use crate::common::app::*;
use crate::common::fake_op::FakeOp;
use crate::form_post::app;
use crate::profile_basic::{
    self as basic, IDTOKEN_SIG_NONE, INVALID_AUD, INVALID_ISS, INVALID_SIG_RS256, MISSING_IAT,
    MISSING_SUB, NONCE_INVALID, USERINFO_INVALID_SUB,
};
use crate::support::{assert_refused_via, ResponseMode::FormPost};
use rocket::http::{ContentType, Status};

#[rocket::async_test]
async fn oidcc_client_test() {
    let op = FakeOp::start().await;
    let client = app(&op).await;
    let response = browse(&client, "/login").await;
    assert_eq!(response.status(), Status::SeeOther);
    let auth_url = location(&response);
    assert_eq!(
        param(&auth_url, "response_mode").as_deref(),
        Some("form_post")
    );
    let transaction = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("oidc_tx_"))
        .expect("the login's transaction cookie");
    assert!(
        transaction.contains("SameSite=None") && transaction.contains("Secure"),
        "comes with the provider's cross-site POST: {transaction}"
    );
    // The provider's page would post these fields; the fake provider redirects with them.
    let callback = authorize_at_once(&auth_url).await;
    let fields = url::Url::parse(&callback)
        .unwrap()
        .query()
        .unwrap()
        .to_string();
    let path = url::Url::parse(&callback).unwrap().path().to_string();
    let response = client
        .post(path)
        .header(ContentType::Form)
        .body(fields)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther, "the login finishes");
    assert_eq!(location(&response), "/login");
    let response = browse(&client, "/login").await;
    assert_eq!(response.status(), Status::Ok);
    let body = json(&response.into_string().await.unwrap());
    assert_eq!(body["id_token"]["sub"], "alice");
}

#[rocket::async_test]
async fn oidcc_client_test_invalid_iss() {
    assert_refused_via("invalid-iss (form_post)", INVALID_ISS, FormPost).await;
}

#[rocket::async_test]
async fn oidcc_client_test_missing_sub() {
    assert_refused_via("missing-sub (form_post)", MISSING_SUB, FormPost).await;
}

#[rocket::async_test]
async fn oidcc_client_test_invalid_aud() {
    assert_refused_via("invalid-aud (form_post)", INVALID_AUD, FormPost).await;
}

#[rocket::async_test]
async fn oidcc_client_test_missing_iat() {
    assert_refused_via("missing-iat (form_post)", MISSING_IAT, FormPost).await;
}

#[rocket::async_test]
async fn oidcc_client_test_kid_absent_single_jwks() {
    basic::kid_absent_single_jwks(FormPost).await;
}

#[rocket::async_test]
async fn oidcc_client_test_kid_absent_multiple_jwks() {
    basic::kid_absent_multiple_jwks(FormPost).await;
}

#[rocket::async_test]
async fn oidcc_client_test_idtoken_sig_rs256() {
    basic::idtoken_sig_rs256(FormPost).await;
}

#[rocket::async_test]
async fn oidcc_client_test_idtoken_sig_none() {
    assert_refused_via("idtoken-sig-none (form_post)", IDTOKEN_SIG_NONE, FormPost).await;
}

#[rocket::async_test]
async fn oidcc_client_test_invalid_sig_rs256() {
    assert_refused_via("invalid-sig-rs256 (form_post)", INVALID_SIG_RS256, FormPost).await;
}

#[rocket::async_test]
async fn oidcc_client_test_userinfo_invalid_sub() {
    assert_refused_via(
        "userinfo-invalid-sub (form_post)",
        USERINFO_INVALID_SUB,
        FormPost,
    )
    .await;
}

#[rocket::async_test]
async fn oidcc_client_test_nonce_invalid() {
    assert_refused_via("nonce-invalid (form_post)", NONCE_INVALID, FormPost).await;
}

#[rocket::async_test]
async fn oidcc_client_test_scope_userinfo_claims() {
    basic::scope_userinfo_claims(FormPost).await;
}

#[rocket::async_test]
async fn oidcc_client_test_client_secret_basic() {
    basic::client_secret_basic(FormPost).await;
}
