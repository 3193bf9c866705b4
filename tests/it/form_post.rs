//! The form_post response mode (OAuth 2.0 Form Post Response Mode): the provider's page
//! posts the answer to the callback, so the login's cookie is `SameSite=None; Secure` and
//! the callback takes a bounded form. The RP certification's Form Post profile, a login
//! and the Basic tests with the answer posted, is `profile_form_post`.

use crate::common::app::*;
use crate::common::fake_op::FakeOp;
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::Client;

/// The quickstart against `op`, with `response_mode = "form_post"`.
pub(crate) async fn app(op: &FakeOp) -> Client {
    TestApp::quickstart()
        .provider(op)
        .provider_table("response_mode = \"form_post\"")
        .start()
        .await
}

#[rocket::async_test]
async fn a_posted_answer_that_is_not_a_bounded_form_is_400() {
    let op = FakeOp::start().await;
    let client = app(&op).await;
    let response = client
        .post("/redirect_uri")
        .header(ContentType::JSON)
        .body("{\"code\":\"x\"}")
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::BadRequest);
    let response = client
        .post("/redirect_uri")
        .header(ContentType::Form)
        .body(format!("state={}", "s".repeat(20_000)))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::BadRequest);
}

#[rocket::async_test]
async fn query_logins_keep_their_lax_cookie() {
    let op = FakeOp::start().await;
    let client = TestApp::quickstart().provider(&op).start().await;
    let response = browse(&client, "/login").await;
    let auth_url = location(&response);
    assert_eq!(param(&auth_url, "response_mode"), None);
    let transaction = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("oidc_tx_"))
        .expect("the login's transaction cookie");
    assert!(transaction.contains("SameSite=Lax"), "{transaction}");
}
