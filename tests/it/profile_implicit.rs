//! The OpenID RP certification's Implicit profile (`oidcc-client-implicit-certification-test-plan`):
//! `response_type` `id_token` and `id_token token`, answered in the fragment. Off unless
//! configured (RFC 9700 discourages it); no token endpoint call, ever. Each test is named
//! after the conformance suite's test, against the misbehaving provider.

use crate::common::app::*;
use crate::common::fake_op::{FakeOp, Signing};
use crate::profile_hybrid::{app, front_claim, front_login, refused};
use rocket::http::Status;
use serde_json::{json, Value};

const IMPLICIT: [&str; 2] = ["id_token", "id_token token"];

#[rocket::async_test]
async fn oidcc_client_test() {
    for response_type in IMPLICIT {
        let op = FakeOp::start().await;
        let client = app(&op, response_type, "").await;
        let (status, body) = front_login(&client).await;
        assert_eq!(status, Status::SeeOther, "{response_type}: {body}");
        assert_eq!(op.hits("/token"), 0, "{response_type}: nothing to exchange");
        let page = browse(&client, "/login").await;
        let body = json(&page.into_string().await.unwrap());
        assert_eq!(body["id_token"]["sub"], "alice", "{response_type}: {body}");
        if response_type == "id_token" {
            // No access token: no UserInfo call.
            assert_eq!(op.hits("/userinfo"), 0);
        } else {
            assert_eq!(op.hits("/userinfo"), 1);
            assert_eq!(body["userinfo"]["sub"], "alice", "{body}");
        }
    }
}

#[rocket::async_test]
async fn oidcc_client_test_nonce_unless_code_flow() {
    let op = FakeOp::start().await;
    let client = app(&op, "id_token", "").await;
    let auth_url = start_login(&client, "/login").await;
    assert_eq!(
        param(&auth_url, "response_type").as_deref(),
        Some("id_token")
    );
    assert!(param(&auth_url, "nonce").is_some_and(|n| n.len() >= 32));
}

#[rocket::async_test]
async fn oidcc_client_test_invalid_athash() {
    refused(
        "id_token token",
        |op| front_claim(op, "at_hash", json!("AAAAAAAAAAAAAAAAAAAAAA")),
        "at_hash does not match",
    )
    .await;
}

#[rocket::async_test]
async fn oidcc_client_test_missing_athash() {
    refused(
        "id_token token",
        |op| front_claim(op, "at_hash", Value::Null),
        "the at_hash claim is missing",
    )
    .await;
}

#[rocket::async_test]
async fn oidcc_client_test_nonce_invalid() {
    for t in IMPLICIT {
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
    for t in IMPLICIT {
        refused(
            t,
            |op| front_claim(op, "iss", json!("https://evil.example")),
            "issuer",
        )
        .await;
    }
}

#[rocket::async_test]
async fn oidcc_client_test_invalid_aud() {
    for t in IMPLICIT {
        refused(t, |op| front_claim(op, "aud", json!("someone-else")), "aud").await;
    }
}

#[rocket::async_test]
async fn oidcc_client_test_missing_sub() {
    for t in IMPLICIT {
        refused(t, |op| front_claim(op, "sub", Value::Null), "sub").await;
    }
}

#[rocket::async_test]
async fn oidcc_client_test_missing_iat() {
    for t in IMPLICIT {
        refused(t, |op| front_claim(op, "iat", Value::Null), "iat").await;
    }
}

#[rocket::async_test]
async fn oidcc_client_test_invalid_sig_rs256() {
    for t in IMPLICIT {
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
    let op = FakeOp::start().await;
    op.set(|b| b.userinfo_sub = Some("mallory".into()));
    let client = app(&op, "id_token token", "").await;
    let (status, body) = front_login(&client).await;
    assert!(status.code >= 400, "{body}");
    assert!(client.cookies().get("oidc_session_default").is_none());
}

#[rocket::async_test]
async fn dpop_cannot_bind_implicit_tokens_and_stops_launch() {
    let op = FakeOp::start().await;
    TestApp::quickstart()
        .provider(&op)
        .provider_table("response_type = \"id_token token\"\ndpop = true")
        .launch_fails()
        .await;
}
