//! The bounds of `[oidc.limits]` and the caches behind the API guard, against the fake
//! provider (`common::fake_op`): anonymous requests cannot make unbounded provider calls
//! (pushed authorization requests, code exchanges, introspections), a user refused by the
//! bound can retry, and a flood of bogus tokens does not flush the answers about good ones.

use crate::common::app::{
    authorize_at_once, browse, path_and_query, start_login, TestApp, EMAIL_SCOPE,
};
use crate::common::fake_op::{
    FakeOp, IntrospectionResponse, ParResponse, CLIENT_ID, CLIENT_SECRET,
};
use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use serde_json::json;

/// An opaque access token (not JWS-shaped, so `auto` validation introspects it).
const GOOD: &str = "opaque-access-token-0123456789";

/// The API example as the fake provider's client, `oidc_extra` under `[default.oidc]`.
async fn api(op: &FakeOp, oidc_extra: &str) -> Client {
    TestApp::api()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&format!(
            "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\""
        ))
        .oidc(oidc_extra)
        .start()
        .await
}

async fn status_of(client: &Client, token: &str) -> (Status, Option<String>) {
    let response = client
        .get("/api/me")
        .header(Header::new("Authorization", format!("Bearer {token}")))
        .dispatch()
        .await;
    let retry = response
        .headers()
        .get_one("Retry-After")
        .map(str::to_string);
    (response.status(), retry)
}

#[rocket::async_test]
async fn anonymous_visits_push_a_bounded_number_of_authorization_requests() {
    let op = FakeOp::start().await;
    op.set(|b| b.par = Some(ParResponse::Created));
    let client = TestApp::quickstart()
        .provider(&op)
        .provider_table("use_par = true")
        .oidc("[default.oidc.limits]\nprovider_calls_per_second = 5")
        .start()
        .await;
    let mut redirected = 0;
    let mut refused = 0;
    for _ in 0..40 {
        let response = browse(&client, "/login").await;
        match response.status() {
            Status::SeeOther => redirected += 1,
            Status::ServiceUnavailable => {
                refused += 1;
                let after = response
                    .headers()
                    .get_one("Retry-After")
                    .map(str::to_string);
                assert_eq!(after.as_deref(), Some("1"), "says when to come back");
                let body = response.into_string().await.unwrap();
                assert!(body.contains("temporarily_unavailable"), "{body}");
            }
            other => panic!("an anonymous visit answered {other}"),
        }
    }
    let pushes = op.hits("/par");
    assert_eq!(
        pushes, redirected,
        "every redirect pushed once, no refusal did"
    );
    // A second's worth at once, then 5 a second: the 40 visits take far less than a second
    // or two here, so at most a handful more.
    assert!((5..=12).contains(&pushes), "{pushes} pushes for 40 visits");
    assert_eq!(redirected + refused, 40);
    // The bound refills: a second later logins push again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(browse(&client, "/login").await.status(), Status::SeeOther);
}

#[rocket::async_test]
async fn a_callback_refused_by_the_exchange_bound_keeps_its_login_for_a_retry() {
    let op = FakeOp::start().await;
    let client = TestApp::quickstart()
        .provider(&op)
        .oidc("[default.oidc.limits]\nprovider_calls_per_second = 1")
        .start()
        .await;
    // Two logins started in one browser, both back from the provider.
    let first = authorize_at_once(&start_login(&client, "/login").await).await;
    let second = authorize_at_once(&start_login(&client, "/login").await).await;
    assert_eq!(
        browse(&client, &path_and_query(&first)).await.status(),
        Status::SeeOther,
        "the first exchange is within the bound"
    );
    let refused = browse(&client, &path_and_query(&second)).await;
    assert_eq!(refused.status(), Status::ServiceUnavailable);
    assert_eq!(refused.headers().get_one("Retry-After"), Some("1"));
    let removed: Vec<String> = refused
        .headers()
        .get("Set-Cookie")
        .filter(|c| c.contains("oidc_tx_") && c.contains("Max-Age=0"))
        .map(str::to_string)
        .collect();
    assert!(removed.is_empty(), "the login is kept: {removed:?}");
    assert_eq!(op.hits("/token"), 1, "the provider was not asked");
    // After Retry-After, the same callback finishes the login (its code was not spent).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        browse(&client, &path_and_query(&second)).await.status(),
        Status::SeeOther
    );
    assert_eq!(op.hits("/token"), 2);
}

#[rocket::async_test]
async fn unknown_tokens_cause_a_bounded_number_of_introspections() {
    let op = FakeOp::start().await;
    op.set(|b| b.introspection = Some(IntrospectionResponse::Inactive));
    let client = api(&op, "[default.oidc.limits]\nprovider_calls_per_second = 5").await;
    let mut refused = 0;
    for i in 0..40 {
        let (status, retry) = status_of(&client, &format!("bogus-token-{i:04}")).await;
        match status {
            Status::Unauthorized => {}
            Status::ServiceUnavailable => {
                refused += 1;
                assert_eq!(retry.as_deref(), Some("1"));
            }
            other => panic!("a bogus token answered {other}"),
        }
    }
    let asked = op.hits("/introspect");
    assert!(
        (5..=12).contains(&asked),
        "{asked} introspections for 40 bogus tokens"
    );
    assert_eq!(asked + refused, 40);
}

#[rocket::async_test]
async fn a_flood_of_bogus_tokens_does_not_flush_the_answers_about_good_ones() {
    let op = FakeOp::start().await;
    op.set(|b| b.introspection = Some(IntrospectionResponse::active(GOOD, json!({}))));
    // No rate bound in the way: this is about the caches.
    let client = api(
        &op,
        "[default.oidc.limits]\nprovider_calls_per_second = 1000000",
    )
    .await;
    assert_eq!(status_of(&client, GOOD).await.0, Status::Ok);
    assert_eq!(op.hits("/introspect"), 1);
    // More bogus tokens than the whole cache held before refusals got a cache of their
    // own (10,000, which was then cleared at once).
    for i in 0..10_050 {
        let (status, _) = status_of(&client, &format!("bogus-token-{i:05}")).await;
        assert_eq!(status, Status::Unauthorized);
    }
    assert_eq!(op.hits("/introspect"), 1 + 10_050);
    assert_eq!(status_of(&client, GOOD).await.0, Status::Ok);
    assert_eq!(
        op.hits("/introspect"),
        1 + 10_050,
        "the good token's answer is still kept"
    );
}
