//! Sessions larger than one cookie: split into chunks, read back whole, shrunk without
//! leftovers, deleted completely at logout, refused clearly when absurdly large.

use crate::common::app::*;
use crate::common::fake_op::FakeOp;
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use serde_json::json;

const SESSION: &str = "oidc_session_default";

async fn setup() -> (FakeOp, Client) {
    let op = FakeOp::start().await;
    let client = TestApp::quickstart().provider(&op).start().await;
    (op, client)
}

/// Makes every ID token `bytes` larger (a provider with many claims, or big JWTs).
fn pad_id_tokens(op: &FakeOp, bytes: usize) {
    op.set(move |b| {
        b.id_token_claims
            .insert("padding".into(), json!("x".repeat(bytes)));
    });
}

async fn log_in(client: &Client) -> Status {
    log_in_at_once(client, "/login").await.status()
}

fn session_cookies(client: &Client) -> Vec<(String, usize)> {
    let mut cookies: Vec<_> = client
        .cookies()
        .iter()
        .filter(|c| c.name().starts_with(SESSION))
        .map(|c| (c.name().to_string(), c.value().len()))
        .collect();
    cookies.sort();
    cookies
}

#[rocket::async_test]
async fn a_large_session_is_split_into_cookies_a_browser_keeps() {
    let (op, client) = setup().await;
    pad_id_tokens(&op, 6000);
    assert_eq!(log_in(&client).await, Status::SeeOther);
    let cookies = session_cookies(&client);
    assert!(cookies.len() >= 3, "{cookies:?}");
    assert!(
        cookies.iter().all(|(name, size)| name.len() + size < 4000),
        "{cookies:?}"
    );
    let whoami = client.get("/whoami").header(Accept::JSON).dispatch().await;
    assert_eq!(whoami.status(), Status::Ok);
    assert_eq!(whoami.into_string().await.unwrap(), "alice");
    let body = json(
        &client
            .get("/login")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap(),
    );
    assert_eq!(
        body["id_token"]["padding"].as_str().map(str::len),
        Some(6000)
    );

    // A missing chunk is simply "not logged in".
    let untracked = Client::untracked(TestApp::quickstart().provider(&op).rocket())
        .await
        .unwrap();
    let mut request = untracked.get("/whoami").header(Accept::JSON);
    for cookie in client
        .cookies()
        .iter()
        .filter(|c| c.name() != "oidc_session_default.1")
    {
        request = request.cookie(cookie.clone());
    }
    assert_eq!(request.dispatch().await.status(), Status::Unauthorized);

    // Logout deletes every chunk.
    client
        .get("/logout")
        .header(rocket::http::Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(session_cookies(&client), vec![]);
}

#[rocket::async_test]
async fn a_session_that_shrinks_leaves_no_stale_chunks() {
    let op = FakeOp::start().await;
    op.set(|b| b.expires_in = 2);
    pad_id_tokens(&op, 6000);
    let client = TestApp::quickstart()
        .provider(&op)
        .oidc("clock_skew = 0")
        .start()
        .await;
    assert_eq!(log_in(&client).await, Status::SeeOther);
    assert!(session_cookies(&client).len() >= 3);
    // The refreshed ID token is small again.
    op.set(|b| {
        b.refresh_id_token_claims
            .insert("padding".into(), serde_json::Value::Null);
    });
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let whoami = client.get("/whoami").header(Accept::JSON).dispatch().await;
    assert_eq!(whoami.status(), Status::Ok);
    let cookies = session_cookies(&client);
    assert_eq!(cookies.len(), 1, "the old chunks were deleted: {cookies:?}");
    let body = json(
        &client
            .get("/login")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap(),
    );
    assert_eq!(body["id_token"]["padding"], serde_json::Value::Null);
    assert_eq!(op.hits("/token"), 2);
}

#[rocket::async_test]
async fn an_absurdly_large_session_is_refused_with_a_clear_error() {
    let (op, client) = setup().await;
    pad_id_tokens(&op, 40_000);
    let status = log_in(&client).await;
    assert_eq!(status, Status::BadGateway);
    assert!(session_cookies(&client).is_empty());
}
