//! The OpenID RP certification's RP-Initiated Logout profile
//! (`oidcc-client-rp-initiated-logout-rp-basic`): the app ends its session, sends the
//! browser to the provider's `end_session_endpoint`, and takes the return at its
//! `post_logout_redirect_uri` only with the `state` it sent. Each test is named after the
//! conformance suite's test, against the misbehaving provider; against the real one it is
//! `logout::logout_at_the_real_provider_ends_both_sessions`.

use crate::common::app::*;
use crate::common::fake_op::{self, FakeOp};
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;

const POST_LOGOUT_REDIRECT_URI: &str = "http://127.0.0.1:8000/logout/callback";

/// A session at the fake provider, then the app's logout: the provider, the app, and the
/// `end_session_endpoint` URL the app sent the browser to.
async fn logged_out() -> (FakeOp, Client, String) {
    let op = FakeOp::start().await;
    let client = TestApp::quickstart().provider(&op).start().await;
    log_in(&client).await;
    let response = browse_same_origin(&client, "/logout").await;
    assert_eq!(response.status(), Status::SeeOther);
    let end_session = location(&response);
    drop(response);
    let whoami = client.get("/whoami").header(Accept::JSON).dispatch().await;
    assert_eq!(
        whoami.status(),
        Status::Unauthorized,
        "the local session ended"
    );
    drop(whoami);
    (op, client, end_session)
}

/// The app's answer to the provider's return: a plain "logged out" page, no redirect.
async fn assert_not_taken(client: &Client, uri: &str) {
    let response = browse(client, uri).await;
    assert_eq!(response.status(), Status::Ok, "{uri}");
    assert!(response.headers().get_one("Location").is_none(), "{uri}");
    let page = response.into_string().await.unwrap();
    assert!(page.contains("logged out"), "{uri}: {page}");
}

#[rocket::async_test]
async fn oidcc_client_test_rp_init_logout() {
    let (op, client, end_session) = logged_out().await;
    assert!(
        end_session.starts_with(&format!("{}/logout?", op.issuer)),
        "the discovered end_session_endpoint: {end_session}"
    );
    assert!(param(&end_session, "id_token_hint").is_some_and(|t| t.split('.').count() == 3));
    assert_eq!(
        param(&end_session, "client_id").as_deref(),
        Some(fake_op::CLIENT_ID)
    );
    assert_eq!(
        param(&end_session, "post_logout_redirect_uri").as_deref(),
        Some(POST_LOGOUT_REDIRECT_URI)
    );
    let state = param(&end_session, "state").expect("a state");
    assert_eq!(state.len(), 43);
    // The provider sends the browser back with the state.
    let response = provider_browser().get(&end_session).send().await.unwrap();
    let back = response.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(param(&back, "state").as_deref(), Some(state.as_str()));
    let response = browse(&client, &path_and_query(&back)).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/");
}

#[rocket::async_test]
async fn oidcc_client_test_rp_init_logout_other_state() {
    let (_op, client, end_session) = logged_out().await;
    let sent = param(&end_session, "state").expect("a state");
    let other = "c3RhdGUtdGhhdC10aGUtYXBwLW5ldmVyLXNlbnQtaXQtYW55d2hlcmU";
    assert_ne!(sent, other);
    assert_not_taken(&client, &format!("/logout/callback?state={other}")).await;
}

#[rocket::async_test]
async fn oidcc_client_test_rp_init_logout_no_state() {
    let (_op, client, _) = logged_out().await;
    assert_not_taken(&client, "/logout/callback").await;
}
