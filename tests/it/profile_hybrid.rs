//! The OpenID RP certification's Hybrid profile (`oidcc-client-hybrid-certification-test-plan`):
//! `response_type` `code id_token`, `code token`, `code id_token token`, answered in the
//! fragment and relayed by the callback's page. Each test is named after the conformance
//! suite's test, against the misbehaving provider; the happy path against the real one is
//! in `login_real_op`. A bad ID token of the authorization response ends the login before
//! any token endpoint call.

use crate::common::app::*;
use crate::common::fake_op::{CallbackIss, FakeOp, Signing};
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

pub(crate) const HYBRID: [&str; 3] = ["code id_token", "code token", "code id_token token"];

/// The quickstart with `response_type` (and more provider lines) against `op`.
pub(crate) async fn app(op: &FakeOp, response_type: &str, provider: &str) -> Client {
    let rocket = TestApp::quickstart()
        .provider(op)
        .provider_table(&format!("response_type = \"{response_type}\"\n{provider}"))
        .rocket()
        .register(
            "/redirect_uri",
            rocket::catchers![crate::support::callback_error_with_detail],
        );
    Client::tracked(rocket)
        .await
        .expect("the quickstart launches")
}

/// A whole login through `/login`, the answer relayed from the fragment: the callback's
/// status and body.
pub(crate) async fn front_login(client: &Client) -> (Status, Value) {
    let auth_url = start_login(client, "/login").await;
    let callback = authorize_at_once(&auth_url).await;
    let response = through_relay(client, &callback).await;
    let status = response.status();
    let body = response.into_string().await.unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Sets a claim of the ID token of the authorization response only (`null` removes it).
pub(crate) fn front_claim(op: &FakeOp, claim: &str, value: Value) {
    let claim = claim.to_string();
    op.set(move |b| {
        b.front_id_token_claims.insert(claim, value);
    });
}

/// `response_type`'s login against a provider misbehaving as `misbehave` is refused with
/// 401 `invalid_id_token` whose detail says `why`, before any token endpoint call.
pub(crate) async fn refused(response_type: &str, misbehave: impl Fn(&FakeOp), why: &str) {
    let op = FakeOp::start().await;
    misbehave(&op);
    let client = app(&op, response_type, "").await;
    let (status, body) = front_login(&client).await;
    assert_eq!(status, Status::Unauthorized, "{response_type}: {body}");
    assert_eq!(body["error"], "invalid_id_token", "{response_type}: {body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(why),
        "{response_type}: says {why:?}: {body}"
    );
    assert_eq!(op.hits("/token"), 0, "{response_type}: no code exchange");
    assert_eq!(op.hits("/userinfo"), 0, "{response_type}: no UserInfo call");
    assert!(client.cookies().get("oidc_session_default").is_none());
}

/// Each hybrid response type that carries an ID token in the response.
fn with_front_id_token() -> impl Iterator<Item = &'static str> {
    HYBRID.into_iter().filter(|t| t.contains("id_token"))
}

#[rocket::async_test]
async fn oidcc_client_test() {
    for response_type in HYBRID {
        let op = FakeOp::start().await;
        let client = app(&op, response_type, "").await;
        let auth_url = start_login(&client, "/login").await;
        assert_eq!(
            param(&auth_url, "response_type").as_deref(),
            Some(response_type)
        );
        assert_eq!(
            param(&auth_url, "response_mode"),
            None,
            "fragment is the default"
        );
        let callback = authorize_at_once(&auth_url).await;
        let response = through_relay(&client, &callback).await;
        assert_eq!(response.status(), Status::SeeOther, "{response_type}");
        assert_eq!(location(&response), "/login");
        assert_eq!(
            op.hits("/token"),
            1,
            "{response_type}: the code is exchanged"
        );
        let page = browse(&client, "/login").await;
        let body = json(&page.into_string().await.unwrap());
        assert_eq!(body["id_token"]["sub"], "alice", "{response_type}: {body}");
        assert_eq!(body["userinfo"]["sub"], "alice", "{response_type}: {body}");
    }
}

#[rocket::async_test]
async fn oidcc_client_test_nonce_unless_code_flow() {
    let op = FakeOp::start().await;
    let client = app(&op, "code id_token", "").await;
    let auth_url = start_login(&client, "/login").await;
    assert!(param(&auth_url, "nonce").is_some_and(|n| n.len() >= 32));
}

#[rocket::async_test]
async fn oidcc_client_test_invalid_chash() {
    for t in with_front_id_token() {
        refused(
            t,
            |op| front_claim(op, "c_hash", json!("AAAAAAAAAAAAAAAAAAAAAA")),
            "c_hash does not match the code",
        )
        .await;
    }
}

#[rocket::async_test]
async fn oidcc_client_test_missing_chash() {
    for t in with_front_id_token() {
        refused(
            t,
            |op| front_claim(op, "c_hash", Value::Null),
            "the c_hash claim is missing",
        )
        .await;
    }
}

#[rocket::async_test]
async fn oidcc_client_test_invalid_athash() {
    refused(
        "code id_token token",
        |op| front_claim(op, "at_hash", json!("AAAAAAAAAAAAAAAAAAAAAA")),
        "at_hash does not match",
    )
    .await;
}

#[rocket::async_test]
async fn oidcc_client_test_missing_athash() {
    refused(
        "code id_token token",
        |op| front_claim(op, "at_hash", Value::Null),
        "the at_hash claim is missing",
    )
    .await;
}

#[rocket::async_test]
async fn oidcc_client_test_nonce_invalid() {
    for t in with_front_id_token() {
        refused(
            t,
            |op| front_claim(op, "nonce", json!("not-the-nonce-sent")),
            "nonce does not match",
        )
        .await;
        refused(
            t,
            |op| front_claim(op, "nonce", Value::Null),
            "the nonce claim is missing",
        )
        .await;
    }
}

#[rocket::async_test]
async fn oidcc_client_test_invalid_iss() {
    for t in with_front_id_token() {
        refused(
            t,
            |op| front_claim(op, "iss", json!("https://evil.example")),
            "issuer",
        )
        .await;
        // Without the response's `iss` (RFC 9207 lets providers leave it out beside an ID
        // token), the ID token's own iss is the check.
        let without_iss = |op: &FakeOp| {
            front_claim(op, "iss", json!("https://evil.example"));
            op.set(|b| b.callback_iss = CallbackIss::Missing);
        };
        refused(t, without_iss, "issuer").await;
    }
}

#[rocket::async_test]
async fn oidcc_client_test_invalid_aud() {
    for t in with_front_id_token() {
        refused(t, |op| front_claim(op, "aud", json!("someone-else")), "aud").await;
    }
}

#[rocket::async_test]
async fn oidcc_client_test_missing_sub() {
    for t in with_front_id_token() {
        refused(t, |op| front_claim(op, "sub", Value::Null), "sub").await;
    }
}

#[rocket::async_test]
async fn oidcc_client_test_missing_iat() {
    for t in with_front_id_token() {
        refused(t, |op| front_claim(op, "iat", Value::Null), "iat").await;
    }
}

#[rocket::async_test]
async fn oidcc_client_test_invalid_sig_rs256() {
    for t in with_front_id_token() {
        refused(
            t,
            |op| op.set(|b| b.signing = Signing::BadSignature),
            "signature",
        )
        .await;
    }
}

#[rocket::async_test]
async fn oidcc_client_test_userinfo_invalid_sub() {
    for response_type in HYBRID {
        let op = FakeOp::start().await;
        op.set(|b| b.userinfo_sub = Some("mallory".into()));
        let client = app(&op, response_type, "").await;
        let (status, body) = front_login(&client).await;
        assert!(status.code >= 400, "{response_type}: {body}");
        assert!(body.to_string().contains("sub"), "{response_type}: {body}");
        assert!(client.cookies().get("oidc_session_default").is_none());
    }
}

#[rocket::async_test]
async fn the_token_endpoints_id_token_must_be_about_the_same_user() {
    let op = FakeOp::start().await;
    front_claim(&op, "sub", json!("mallory"));
    let client = app(&op, "code id_token", "").await;
    let (status, body) = front_login(&client).await;
    assert_eq!(status, Status::Unauthorized, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("another user"),
        "{body}"
    );
}

#[rocket::async_test]
async fn an_answer_with_tokens_in_the_query_is_refused() {
    let op = FakeOp::start().await;
    let client = app(&op, "code id_token", "").await;
    let auth_url = start_login(&client, "/login").await;
    let callback = authorize_at_once(&auth_url).await;
    let url = url::Url::parse(&callback).unwrap();
    let as_query = format!("{}?{}", url.path(), url.fragment().unwrap());
    let response = browse(&client, &as_query).await;
    assert_eq!(response.status(), Status::BadRequest);
    let body = json(&response.into_string().await.unwrap());
    assert!(
        body.to_string()
            .contains("came in a query, where tokens must never be"),
        "{body}"
    );
    assert_eq!(op.hits("/token"), 0);
}

#[rocket::async_test]
async fn form_post_carries_hybrid_answers_too() {
    let op = FakeOp::start().await;
    let client = app(&op, "code id_token token", "response_mode = \"form_post\"").await;
    let auth_url = start_login(&client, "/login").await;
    assert_eq!(
        param(&auth_url, "response_mode").as_deref(),
        Some("form_post")
    );
    // The fake provider redirects with the fields its page would post.
    let callback = url::Url::parse(&authorize_at_once(&auth_url).await).unwrap();
    let response = client
        .post(callback.path().to_string())
        .header(rocket::http::ContentType::Form)
        .body(callback.query().unwrap_or_default())
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(op.hits("/token"), 1);
}

#[rocket::async_test]
async fn tokens_in_a_query_stop_launch() {
    // The message, naming oidc.providers.default.response_mode, is checked in
    // config::response's tests.
    let op = FakeOp::start().await;
    TestApp::quickstart()
        .provider(&op)
        .provider_table("response_type = \"code token\"\nresponse_mode = \"query\"")
        .launch_fails()
        .await;
}
