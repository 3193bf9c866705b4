//! W3C trace context (`propagate_traceparent`): a request that carries a `traceparent`
//! makes provider calls that carry a child of it (same trace id, a new parent id), seen by
//! the real test provider; none without the header, and none unless configured.

use crate::common::app::*;
use crate::common::clients::APP;
use crate::common::node_op::{through_provider, AtProvider, NodeOp};
use rocket::http::{Accept, Header, Status};
use rocket::local::asynchronous::Client;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A login whose callback request carries `traceparent` (if any).
async fn log_in_with(client: &Client, traceparent: Option<&str>) {
    let auth_url = start_login(client, "/login").await;
    let (callback, _) = through_provider(
        &provider_browser(),
        &auth_url,
        APP,
        AtProvider::LogIn("alice"),
    )
    .await;
    let mut request = client.get(path_and_query(&callback)).header(Accept::HTML);
    if let Some(traceparent) = traceparent {
        request = request.header(Header::new("traceparent", traceparent.to_string()));
    }
    let response = request.dispatch().await;
    assert_eq!(response.status(), Status::SeeOther, "the login finishes");
}

async fn app(op: &NodeOp, propagate: bool) -> Client {
    TestApp::quickstart()
        .provider(op)
        .oidc(&format!("propagate_traceparent = {propagate}"))
        .start()
        .await
}

#[rocket::async_test]
async fn provider_calls_carry_a_child_of_the_requests_traceparent() {
    let op = NodeOp::start(&[]);
    let client = app(&op, true).await;
    log_in_with(&client, Some(PARENT)).await;
    for path in ["/token", "/me"] {
        let seen = op
            .traceparent(path)
            .await
            .unwrap_or_else(|| panic!("{path}: the provider saw no traceparent"));
        assert_eq!(seen.len(), 55, "{seen}");
        assert!(
            seen.starts_with(&format!("00-{TRACE_ID}-")),
            "{path}: same trace: {seen}"
        );
        assert!(seen.ends_with("-01"), "{path}: same flags: {seen}");
        assert_ne!(&seen[36..52], "00f067aa0ba902b7", "{path}: a new parent id");
    }
    // The next login without the header: the provider sees none.
    let other = app(&op, true).await;
    log_in_with(&other, None).await;
    assert_eq!(op.traceparent("/token").await, None);
}

#[rocket::async_test]
async fn none_is_sent_unless_configured() {
    let op = NodeOp::start(&[]);
    let client = app(&op, false).await;
    log_in_with(&client, Some(PARENT)).await;
    assert_eq!(op.traceparent("/token").await, None);
    assert_eq!(op.traceparent("/me").await, None);
}
