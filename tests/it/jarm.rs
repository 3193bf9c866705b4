//! JWT-secured authorization responses (JARM) against the misbehaving provider: the
//! response JWT is checked (signature, `iss`, `aud` = client_id, `exp`) before any of its
//! parameters is used, so a bad one ends the login before any token endpoint call; a plain
//! answer where a JWT was asked for (a downgrade) is refused. The happy paths against
//! panva's provider are in `fapi_real_op`.

use crate::common::app::*;
use crate::common::clients::{fixture, public_jwk};
use crate::common::fake_op::{Encryption, FakeOp, JweTamper, Signing};
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

/// The quickstart with `response_mode` (and more provider lines) against `op`.
async fn app(op: &FakeOp, mode: &str, provider: &str) -> Client {
    let rocket = TestApp::quickstart()
        .provider(op)
        .provider_table(&format!("response_mode = \"{mode}\"\n{provider}"))
        .rocket()
        .register(
            "/redirect_uri",
            rocket::catchers![crate::support::callback_error_with_detail],
        );
    Client::tracked(rocket)
        .await
        .expect("the quickstart launches")
}

/// A login whose answer comes back at once (posted, for form_post.jwt): the callback's
/// status and JSON body.
async fn login(client: &Client, mode: &str) -> (Status, Value) {
    let auth_url = start_login(client, "/login").await;
    assert_eq!(
        param(&auth_url, "response_mode").as_deref(),
        Some(mode),
        "{auth_url}"
    );
    let callback = authorize_at_once(&auth_url).await;
    if mode == "fragment.jwt" {
        assert!(callback.contains("#response="), "{callback}");
        let response = through_relay(client, &callback).await;
        let status = response.status();
        let body = response.into_string().await.unwrap_or_default();
        return (status, serde_json::from_str(&body).unwrap_or(Value::Null));
    }
    assert!(param(&callback, "response").is_some(), "{callback}");
    assert!(
        param(&callback, "code").is_none(),
        "only the JWT: {callback}"
    );
    let response = if mode == "form_post.jwt" {
        let (path, query) = callback.split_once('?').unwrap();
        client
            .post(path_and_query(path))
            .header(rocket::http::ContentType::Form)
            .body(query)
            .dispatch()
            .await
    } else {
        browse(client, &path_and_query(&callback)).await
    };
    let status = response.status();
    let body = response.into_string().await.unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[rocket::async_test]
async fn a_signed_response_logs_in_in_each_mode() {
    for mode in ["jwt", "query.jwt", "fragment.jwt", "form_post.jwt"] {
        let op = FakeOp::start().await;
        let client = app(&op, mode, "").await;
        let (status, body) = login(&client, mode).await;
        assert_eq!(status, Status::SeeOther, "{mode}: {body}");
        assert_eq!(
            op.hits("/token"),
            1,
            "{mode}: the code inside was exchanged"
        );
        let whoami = browse(&client, "/whoami").await;
        assert_eq!(whoami.status(), Status::Ok, "{mode}");
    }
}

/// A login against a provider whose response JWT is spoiled by `misbehave` is refused with
/// 400 `invalid_authorization_response` saying `why`, before any token endpoint call.
async fn refused(misbehave: impl Fn(&FakeOp), provider: &str, why: &str) {
    let op = FakeOp::start().await;
    misbehave(&op);
    let client = app(&op, "jwt", provider).await;
    let (status, body) = login(&client, "jwt").await;
    assert_eq!(status, Status::BadRequest, "{why}: {body}");
    assert_eq!(body["error"], "invalid_authorization_response", "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(why), "says {why:?}: {body}");
    assert_eq!(op.hits("/token"), 0, "{why}: no code exchange");
    assert!(client.cookies().get("oidc_session_default").is_none());
}

fn claim(name: &'static str, value: Value) -> impl Fn(&FakeOp) {
    move |op: &FakeOp| {
        let value = value.clone();
        op.set(move |b| {
            b.jarm_claims.insert(name.into(), value);
        });
    }
}

fn signed(signing: Signing) -> impl Fn(&FakeOp) {
    move |op: &FakeOp| {
        let signing = signing.clone();
        op.set(move |b| b.jarm_signing = Some(signing));
    }
}

#[rocket::async_test]
async fn a_bad_signature_another_audience_an_expired_or_foreign_response_is_refused() {
    refused(signed(Signing::BadSignature), "", "signature").await;
    refused(signed(Signing::AlgNone), "", "alg").await;
    refused(claim("aud", json!("another-client")), "", "aud").await;
    refused(claim("aud", Value::Null), "", "no aud").await;
    refused(claim("exp", json!(1_600_000_000)), "", "expired").await;
    refused(claim("exp", Value::Null), "", "no exp").await;
    refused(claim("iss", json!("https://evil.example")), "", "iss").await;
    // Signed with RS256 where the client registered ES256.
    refused(
        |_: &FakeOp| {},
        "authorization_signed_response_alg = \"ES256\"",
        "not allowed",
    )
    .await;
}

#[rocket::async_test]
async fn the_providers_refusal_inside_the_jwt_is_shown() {
    let op = FakeOp::start().await;
    op.set(|b| {
        b.authorize_error = Some(("access_denied".into(), "the user said no".into()));
    });
    let client = app(&op, "jwt", "").await;
    let (status, body) = login(&client, "jwt").await;
    assert_eq!(status, Status::Forbidden, "{body}");
    assert_eq!(body["error"], "access_denied", "{body}");
    assert_eq!(op.hits("/token"), 0);
}

#[rocket::async_test]
async fn a_plain_answer_where_a_jwt_was_asked_for_is_refused() {
    let op = FakeOp::start().await;
    let client = app(&op, "jwt", "").await;
    let auth_url = start_login(&client, "/login").await;
    let state = param(&auth_url, "state").unwrap();
    let iss = url::form_urlencoded::byte_serialize(op.issuer.as_bytes()).collect::<String>();
    let response = browse(
        &client,
        &format!("/redirect_uri?code=forged&state={state}&iss={iss}"),
    )
    .await;
    assert_eq!(response.status(), Status::BadRequest);
    let body: Value = serde_json::from_str(&response.into_string().await.unwrap()).unwrap();
    assert_eq!(body["error"], "invalid_authorization_response", "{body}");
    assert_eq!(op.hits("/token"), 0);
}

/// The provider's encryption of the response to the app's RSA key.
fn to_rsa() -> Option<Encryption> {
    Some(Encryption::to(
        public_jwk("client_enc_rsa"),
        "RSA-OAEP-256",
        "A256GCM",
    ))
}

#[rocket::async_test]
async fn an_encrypted_response_is_opened_with_the_clients_key() {
    let key = format!("encryption_key = \"{}\"", fixture("client_enc_rsa.pem"));
    let op = FakeOp::start().await;
    op.set(|b| b.jarm_encryption = to_rsa());
    let client = app(&op, "jwt", &key).await;
    let (status, body) = login(&client, "jwt").await;
    assert_eq!(status, Status::SeeOther, "{body}");
    assert_eq!(op.hits("/token"), 1);
    // Spoiled in transit: refused before any token call.
    let op = FakeOp::start().await;
    op.set(|b| {
        b.jarm_encryption = to_rsa();
        b.jwe_tamper = Some(JweTamper::Tag);
    });
    let client = app(&op, "jwt", &key).await;
    let (status, body) = login(&client, "jwt").await;
    assert_eq!(status, Status::BadRequest, "{body}");
    assert_eq!(body["error"], "invalid_authorization_response", "{body}");
    assert_eq!(op.hits("/token"), 0);
    // Without a key to open it: refused too.
    let op = FakeOp::start().await;
    op.set(|b| b.jarm_encryption = to_rsa());
    let client = app(&op, "jwt", "").await;
    let (status, body) = login(&client, "jwt").await;
    assert_eq!(status, Status::BadRequest, "{body}");
    assert_eq!(body["error"], "invalid_authorization_response", "{body}");
    assert_eq!(op.hits("/token"), 0);
}

#[rocket::async_test]
async fn a_registered_encryption_is_required_and_pinned() {
    let key = |alg: &str| {
        format!(
            "encryption_key = \"{}\"\nauthorization_encrypted_response_alg = \"{alg}\"\n\
             authorization_encrypted_response_enc = \"A256GCM\"",
            fixture("client_enc_rsa.pem")
        )
    };
    // As registered: logs in.
    let op = FakeOp::start().await;
    op.set(|b| b.jarm_encryption = to_rsa());
    let client = app(&op, "jwt", &key("RSA-OAEP-256")).await;
    assert_eq!(login(&client, "jwt").await.0, Status::SeeOther);
    // Signed only, or encrypted with another algorithm: refused before any token call.
    for (encryption, registered) in [(None, "RSA-OAEP-256"), (to_rsa(), "RSA-OAEP")] {
        let op = FakeOp::start().await;
        op.set(move |b| b.jarm_encryption = encryption);
        let client = app(&op, "jwt", &key(registered)).await;
        let (status, body) = login(&client, "jwt").await;
        assert_eq!(status, Status::BadRequest, "{registered}: {body}");
        assert_eq!(body["error"], "invalid_authorization_response", "{body}");
        assert_eq!(op.hits("/token"), 0);
    }
}

#[rocket::async_test]
async fn tokens_in_a_query_come_encrypted_or_not_at_all() {
    // JARM 2.3.1: the configuration allows query.jwt with tokens only with a key; a
    // provider that then signs without encrypting is refused.
    let op = FakeOp::start().await;
    let lines = format!(
        "response_type = \"code token\"\nencryption_key = \"{}\"",
        fixture("client_enc_rsa.pem")
    );
    let client = app(&op, "query.jwt", &lines).await;
    let (status, body) = login(&client, "query.jwt").await;
    assert_eq!(status, Status::BadRequest, "{body}");
    assert_eq!(body["error"], "invalid_authorization_response", "{body}");
    assert_eq!(op.hits("/token"), 0);
}

#[rocket::async_test]
async fn jarm_settings_that_cannot_work_stop_launch() {
    // (The messages are the configuration's unit tests'.)
    let op = FakeOp::start().await;
    for lines in [
        "authorization_signed_response_alg = \"PS256\"",
        "response_mode = \"jwt\"\nauthorization_signed_response_alg = \"none\"",
        "response_type = \"code token\"\nresponse_mode = \"query.jwt\"",
    ] {
        TestApp::quickstart()
            .provider(&op)
            .provider_table(lines)
            .launch_fails()
            .await;
    }
}
