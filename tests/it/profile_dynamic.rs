//! The OpenID RP certification's Dynamic profile without WebFinger
//! (`oidcc-client-dynamic-certification-test-plan`). Each test is named after the
//! conformance suite's test, against the misbehaving provider; the registration against the
//! real one is in `registration_real_op`. The hosted plan registers the client for every
//! test and sends request objects by reference (`request_uri`), which the crate does not;
//! here only `oidcc_client_test_dynamic_registration` registers, and the tests the plan
//! shares with the Config profile run `profile_config`'s. Not here: the WebFinger tests (by
//! design), `request-uri-signed-*` and `userinfo-signed` (see docs/certification.md).

use crate::common::app::*;
use crate::common::fake_op::{self, FakeOp, RegistrationResponse};
use crate::profile_config;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

#[test]
fn oidcc_client_test_discovery_openid_config() {
    profile_config::oidcc_client_test_discovery_openid_config();
}

#[test]
fn oidcc_client_test_discovery_jwks_uri_keys() {
    profile_config::oidcc_client_test_discovery_jwks_uri_keys();
}

#[test]
fn oidcc_client_test_discovery_issuer_mismatch() {
    profile_config::oidcc_client_test_discovery_issuer_mismatch();
}

/// Without `client_id`, the app registers at the discovered `registration_endpoint` at
/// launch and logs in with the client the provider issued.
#[rocket::async_test]
async fn oidcc_client_test_dynamic_registration() {
    let op = FakeOp::start().await;
    op.set(|b| b.registration = Some(RegistrationResponse::Created));
    let dir = std::env::temp_dir().join(format!(
        "rocket-oidc-profile-dynamic-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let kept = dir.join("client.json");
    let client = TestApp::quickstart()
        .issuer(&op.issuer)
        .provider_table(&format!(
            "registration_file = \"{}\"\n[default.oidc.providers.default.client_registration]",
            kept.display()
        ))
        .start()
        .await;
    assert_eq!(op.hits("/register"), 1, "registered at launch");
    let sent = json(&op.last_request("/register").unwrap().body);
    assert_eq!(sent["redirect_uris"], serde_json::json!([REDIRECT_URI]));
    let auth_url = start_login(&client, "/login").await;
    assert_eq!(
        param(&auth_url, "client_id").as_deref(),
        Some(fake_op::REGISTERED_CLIENT_ID)
    );
    let callback = authorize_at_once(&auth_url).await;
    let body = finish_login(&client, &callback).await;
    assert_eq!(body["id_token"]["aud"], fake_op::REGISTERED_CLIENT_ID);
    let basic = op
        .last_request("/token")
        .and_then(|r| r.header("authorization").map(str::to_string))
        .and_then(|h| STANDARD.decode(h.strip_prefix("Basic ")?).ok());
    assert_eq!(
        basic.as_deref(),
        Some(
            format!(
                "{}:{}",
                fake_op::REGISTERED_CLIENT_ID,
                fake_op::REGISTERED_CLIENT_SECRET
            )
            .as_bytes()
        ),
        "the issued secret authenticates the client"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn oidcc_client_test_idtoken_sig_none() {
    profile_config::oidcc_client_test_idtoken_sig_none();
}

#[test]
fn oidcc_client_test_signing_key_rotation_just_before_signing() {
    profile_config::oidcc_client_test_signing_key_rotation_just_before_signing();
}

#[test]
fn oidcc_client_test_signing_key_rotation() {
    profile_config::oidcc_client_test_signing_key_rotation();
}
