//! The readiness route (`oidc.ready_path`): 503 naming what is missing (which provider,
//! which part, since when) while a provider is down or the session store does not answer,
//! 200 once everything is there; off unless configured.

use crate::common::app::*;
use crate::common::fake_op::FakeOp;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use serde_json::Value;

async fn ready(client: &Client) -> (Status, Value) {
    let response = client.get("/ready").dispatch().await;
    let status = response.status();
    assert_eq!(
        response.headers().get_one("Cache-Control"),
        Some("no-store")
    );
    (
        status,
        json(&response.into_string().await.unwrap_or_default()),
    )
}

#[rocket::async_test]
async fn a_provider_down_at_launch_is_named_until_it_answers() {
    let op = FakeOp::start().await;
    op.set(|b| b.discovery_status = Some(503));
    let client = TestApp::quickstart()
        .provider(&op)
        .oidc("ready_path = \"/ready\"")
        .start()
        .await;
    let (status, body) = ready(&client).await;
    assert_eq!(status, Status::ServiceUnavailable, "{body}");
    assert_eq!(body["status"], "not_ready");
    let missing = &body["missing"][0];
    assert_eq!(missing["provider"], "default", "{body}");
    assert_eq!(missing["part"], "metadata", "{body}");
    let since = missing["since"].as_str().unwrap_or_default();
    assert!(
        time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339).is_ok(),
        "since is a time: {body}"
    );
    // Still down a moment later: the same start.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (_, again) = ready(&client).await;
    assert_eq!(again["missing"][0]["since"], missing["since"], "{again}");

    // The provider is back: ready once the failed load's hold (1 s) is over.
    op.set(|b| b.discovery_status = None);
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (status, body) = ready(&client).await;
    assert_eq!(status, Status::Ok, "{body}");
    assert_eq!(body["status"], "ready");
    assert!(op.hits("/jwks") >= 1, "the keys were loaded too");
}

#[rocket::async_test]
async fn off_unless_configured() {
    let op = FakeOp::start().await;
    let client = TestApp::quickstart().provider(&op).start().await;
    let response = client.get("/ready").dispatch().await;
    assert_eq!(response.status(), Status::NotFound);
}

#[cfg(feature = "redis")]
#[rocket::async_test]
async fn a_paused_redis_is_named_until_it_answers_again() {
    let redis = crate::common::redis::RedisServer::start();
    let op = FakeOp::start().await;
    let client = TestApp::quickstart()
        .provider(&op)
        .oidc(&format!(
            "ready_path = \"/ready\"\n[default.oidc.session]\nstore = \"redis\"\n\
             [default.oidc.session.redis]\nurl = \"{}\"",
            redis.url()
        ))
        .start()
        .await;
    let (status, body) = ready(&client).await;
    assert_eq!(status, Status::Ok, "{body}");

    redis.pause();
    let started = std::time::Instant::now();
    let (status, body) = ready(&client).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "a readiness probe answers in time even when the store does not"
    );
    assert_eq!(status, Status::ServiceUnavailable, "{body}");
    let missing = &body["missing"][0];
    assert_eq!(missing["part"], "session_store", "{body}");
    assert!(missing["provider"].is_null(), "{body}");
    assert_eq!(body["missing"].as_array().map(Vec::len), Some(1), "{body}");

    redis.resume();
    let mut last = Value::Null;
    for _ in 0..20 {
        let (status, body) = ready(&client).await;
        if status == Status::Ok {
            return;
        }
        last = body;
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("not ready again after Redis resumed: {last}");
}
