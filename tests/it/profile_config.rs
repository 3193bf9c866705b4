//! The OpenID RP certification's Config profile (`oidcc-client-config-certification-test-plan`):
//! the provider's endpoints and keys come from discovery. Each test is named after the
//! conformance suite's test, against the misbehaving provider; the happy path against the
//! real one is `login_real_op::a_full_login_through_the_quickstart_routes`. The Dynamic
//! profile runs these too (`profile_dynamic`).

use crate::common::app::*;
use crate::common::fake_op::FakeOp;
use crate::profile_basic::IDTOKEN_SIG_NONE;
use crate::support::*;
use rocket::http::Status;

const DISCOVERY: &str = "/.well-known/openid-configuration";

#[rocket::async_test]
pub(crate) async fn oidcc_client_test_discovery_openid_config() {
    let (op, client) = setup().await;
    assert_eq!(op.hits(DISCOVERY), 1, "discovered once, at launch");
    let auth_url = start_login(&client, "/login").await;
    assert!(
        auth_url.starts_with(&format!("{}/authorize?", op.issuer)),
        "the discovered authorization_endpoint: {auth_url}"
    );
    let (status, body) = login(&client).await;
    assert_eq!(status, Status::SeeOther, "{body}");
    assert_eq!(op.hits("/token"), 1, "the discovered token_endpoint");
    assert_eq!(op.hits("/userinfo"), 1, "the discovered userinfo_endpoint");
    assert_eq!(op.hits(DISCOVERY), 1, "no discovery per login");
}

#[rocket::async_test]
pub(crate) async fn oidcc_client_test_discovery_jwks_uri_keys() {
    let (op, client) = setup().await;
    assert_eq!(op.hits("/jwks"), 1, "the discovered jwks_uri, at launch");
    let (status, body) = login(&client).await;
    assert_eq!(status, Status::SeeOther, "verified with those keys: {body}");
    assert_eq!(op.hits("/jwks"), 1, "no refetch for a known kid");
}

#[rocket::async_test]
pub(crate) async fn oidcc_client_test_discovery_issuer_mismatch() {
    let op = FakeOp::start().await;
    op.set(|b| b.discovery_issuer = Some("https://evil.example".into()));
    let launched =
        rocket::local::asynchronous::Client::tracked(TestApp::quickstart().provider(&op).rocket())
            .await;
    match launched {
        Ok(_) => panic!("a document that names another issuer is a mistake that stops launch"),
        Err(error) => assert!(matches!(
            error.kind(),
            rocket::error::ErrorKind::FailedFairings(_)
        )),
    }
    assert_eq!(
        op.hits("/authorize"),
        0,
        "no authorization request is ever sent"
    );
}

#[rocket::async_test]
pub(crate) async fn oidcc_client_test_idtoken_sig_none() {
    assert_refused_via("idtoken-sig-none", IDTOKEN_SIG_NONE, ResponseMode::Query).await;
}

/// The keys are loaded at launch, so a rotation before the first ID token is this test:
/// the token names a key the app has not seen, and one JWKS refetch finds it.
#[rocket::async_test]
pub(crate) async fn oidcc_client_test_signing_key_rotation_just_before_signing() {
    let (op, client) = setup().await;
    let jwks_at_launch = op.hits("/jwks");
    op.set(|b| b.rotate_keys = true);
    let (status, body) = login(&client).await;
    assert_eq!(status, Status::SeeOther, "{body}");
    assert_eq!(op.hits("/jwks"), jwks_at_launch + 1, "exactly one refetch");
    assert!(client.cookies().get(SESSION_COOKIE).is_some());
}

#[rocket::async_test]
pub(crate) async fn oidcc_client_test_signing_key_rotation() {
    let (op, client) = setup().await;
    let (status, _) = login(&client).await;
    assert_eq!(status, Status::SeeOther);
    let jwks_after_first = op.hits("/jwks");
    // A second login reuses the cached keys.
    log_out(&client).await;
    let (status, _) = login(&client).await;
    assert_eq!(status, Status::SeeOther);
    assert_eq!(op.hits("/jwks"), jwks_after_first, "cached JWKS reused");
    assert_eq!(op.hits("/.well-known/openid-configuration"), 1);
    op.set(|b| b.rotate_keys = true);
    log_out(&client).await;
    let (status, body) = login(&client).await;
    assert_eq!(status, Status::SeeOther, "{body}");
    assert_eq!(op.hits("/jwks"), jwks_after_first + 1);
}
