//! The OpenID RP certification's 3rd Party-Init profile
//! (`oidcc-client-test-3rd-party-init-login-test-plan`): a request to the app's
//! `initiate_login_uri` starts the login at the named provider. Named after the conformance
//! suite's test, against the misbehaving provider; against the real one it is
//! `initiate_login::an_initiated_login_at_the_real_provider_lands_on_the_target`.

use crate::common::app::*;
use crate::common::fake_op::FakeOp;
use crate::initiate_login::{app, query, PATH};
use rocket::http::Status;

#[rocket::async_test]
async fn oidcc_client_test_3rd_party_init_login() {
    let op = FakeOp::start().await;
    let client = app(&op).await;
    let uri = format!(
        "{PATH}?{}",
        query(&[
            ("iss", &op.issuer),
            ("login_hint", "alice@example.com"),
            ("target_link_uri", "http://127.0.0.1:8000/whoami?tab=1"),
        ])
    );
    let response = browse(&client, &uri).await;
    assert_eq!(response.status(), Status::SeeOther);
    let auth_url = location(&response);
    assert!(auth_url.starts_with(&op.issuer), "{auth_url}");
    assert_eq!(
        param(&auth_url, "login_hint").as_deref(),
        Some("alice@example.com")
    );
    let callback = authorize_at_once(&auth_url).await;
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/whoami?tab=1", "lands on the target");
    assert_eq!(browse(&client, "/whoami").await.status(), Status::Ok);
}
