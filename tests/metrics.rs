//! The crate's metrics as the people who run the app see them: a real Prometheus (Debian's
//! `/usr/bin/prometheus`, started here on a free loopback port, scraping every second)
//! scrapes the quickstart's `/metrics` while a real browser session goes through the real
//! test provider: logins, a login the user cancels, a refresh, a logout, and a logout at the
//! provider that reaches the app by back-channel. The series are read back through
//! Prometheus's HTTP API.
//!
//! The spans are here too: a `tracing` subscriber is the process's one as well.
//!
//! A binary of its own: the metrics recorder is the process's one, so no other test adds
//! to the counts asserted here. Prometheus is required: a missing one fails, never skips.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::node_op::{confirm_logout, through_provider, AtProvider};
use common::prometheus::Prometheus;
use common::server::{free_port, RunningApp};
use reqwest::cookie::Jar;
use serde_json::Value;

/// A browser: its own cookie jar, no redirects followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(Arc::new(Jar::default()))
        .build()
        .unwrap()
}

/// Opens `/login` in `browser`: the provider URL the app sends it to.
async fn start_login(browser: &reqwest::Client, app: &RunningApp) -> String {
    let response = browser
        .get(format!("{}/login", app.url))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        303,
        "/login sends a browser to the provider"
    );
    response.headers()["location"].to_str().unwrap().to_string()
}

/// A whole login of `user` in `browser`.
async fn log_in(browser: &reqwest::Client, app: &RunningApp, user: &str) {
    let auth_url = start_login(browser, app).await;
    let (callback, _) =
        through_provider(browser, &auth_url, &app.url, AtProvider::LogIn(user)).await;
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(response.status(), 303, "the callback logs {user} in");
}

/// A login the user cancels at the provider: the app gets `error=access_denied`.
async fn cancelled_login(browser: &reqwest::Client, app: &RunningApp) {
    let auth_url = start_login(browser, app).await;
    let interaction = browser.get(&auth_url).send().await.unwrap();
    assert_eq!(interaction.status(), 303);
    let location = interaction.headers()["location"].to_str().unwrap();
    let interaction = reqwest::Url::parse(&auth_url)
        .unwrap()
        .join(location)
        .unwrap();
    let abort = browser
        .get(format!(
            "{}/abort",
            interaction.as_str().trim_end_matches('/')
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(abort.status(), 303, "the provider answers the cancel");
    // Through the provider's resume step, back to the app.
    let mut callback = interaction
        .join(abort.headers()["location"].to_str().unwrap())
        .unwrap()
        .to_string();
    while !callback.starts_with(&app.url) {
        let next = browser.get(&callback).send().await.unwrap();
        assert_eq!(next.status(), 303, "{callback}");
        callback = reqwest::Url::parse(&callback)
            .unwrap()
            .join(next.headers()["location"].to_str().unwrap())
            .unwrap()
            .to_string();
    }
    assert!(callback.contains("error=access_denied"), "{callback}");
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(
        response.status(),
        403,
        "the app shows the provider's refusal"
    );
}

/// Logs the provider session of `browser` out at the provider's own page: the provider
/// posts a logout token to the app.
async fn log_out_at_the_provider(browser: &reqwest::Client, app: &RunningApp) {
    let end_session = format!("{}/session/end", app.op.issuer);
    let confirm = confirm_logout(browser, &app.op.issuer, &end_session).await;
    assert_eq!(confirm.status(), 303, "the provider logged out");
}

#[rocket::async_test]
async fn prometheus_scrapes_logins_refreshes_and_logouts() {
    // Access tokens of two seconds, so one expires and is refreshed within the test.
    let app = RunningApp::start_with_op(
        "[default.oidc.session]\nstore = \"memory\"",
        &[],
        &[("OP_TTL_ACCESS_TOKEN", "2")],
    )
    .await;
    let target = app.url.trim_start_matches("http://").to_string();
    let prometheus = Prometheus::start(&target, free_port());
    prometheus.wait_ready().await;

    // alice logs in, and her token is refreshed when it has expired.
    let alice = browser();
    log_in(&alice, &app, "alice").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let token = alice
        .get(format!("{}/token", app.url))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200, "a refreshed token");
    // She logs out through the app.
    let logout = alice
        .post(format!("{}/logout", app.url))
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303, "to the provider's end-session page");

    // bob cancels a login at the provider, then logs in, then logs out at the provider.
    let bob = browser();
    cancelled_login(&bob, &app).await;
    log_in(&bob, &app, "bob").await;
    log_out_at_the_provider(&bob, &app).await;
    // An API client without a session gets 401.
    let anonymous = reqwest::Client::new()
        .get(format!("{}/whoami", app.url))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let p = &prometheus;
    p.expect("oidc_logins_started_total{provider=\"default\"}", 3.0)
        .await;
    p.expect(
        "oidc_logins_total{provider=\"default\",result=\"success\"}",
        2.0,
    )
    .await;
    p.expect(
        "oidc_logins_total{provider=\"default\",result=\"access_denied\"}",
        1.0,
    )
    .await;
    p.expect(
        "oidc_token_refreshes_total{provider=\"default\",result=\"success\"}",
        1.0,
    )
    .await;
    p.expect(
        "oidc_sessions_ended_total{provider=\"default\",reason=\"logout\"}",
        1.0,
    )
    .await;
    p.expect(
        "oidc_sessions_ended_total{provider=\"default\",reason=\"backchannel\"}",
        1.0,
    )
    .await;
    for (endpoint, at_least) in [
        ("discovery", 1.0),
        ("jwks", 1.0),
        ("token", 3.0),
        ("userinfo", 2.0),
    ] {
        p.expect(
            &format!(
                "oidc_provider_request_duration_seconds_count{{provider=\"default\",\
                 endpoint=\"{endpoint}\",status=\"200\"}}"
            ),
            at_least,
        )
        .await;
    }
    // Latencies are histograms with buckets (quantiles for alerts and dashboards).
    p.expect(
        "oidc_provider_request_duration_seconds_bucket{endpoint=\"token\",le=\"+Inf\"}",
        3.0,
    )
    .await;
    p.expect(
        "oidc_session_store_duration_seconds_count{store=\"memory\",op=\"save\"}",
        2.0,
    )
    .await;
    p.expect(
        "oidc_guard_outcomes_total{provider=\"default\",outcome=\"ok\"}",
        1.0,
    )
    .await;
    p.expect(
        "oidc_guard_outcomes_total{provider=\"default\",outcome=\"login_redirect\"}",
        3.0,
    )
    .await;
    p.expect(
        "oidc_guard_outcomes_total{provider=\"default\",outcome=\"unauthorized\"}",
        1.0,
    )
    .await;
    // Every panel of the Grafana dashboard in docs/ is a query Prometheus accepts, and the
    // ones about what happened here show it.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/grafana/rocket_oidc_auth.json"
        ))
        .unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$provider", ".*")
                .replace("$__rate_interval", "1m");
            let answer = p.api("query", &[("query", expr.as_str())]).await.unwrap();
            assert_eq!(
                answer["status"], "success",
                "panel {:?}: {expr}: {answer}",
                panel["title"]
            );
        }
    }
    // The logins panel has this run's series (a rate needs two samples to move: present is
    // what a short run can show).
    p.expect(
        "sum by (result) (rate(oidc_logins_total{provider=~\".*\"}[1m]))",
        0.0,
    )
    .await;

    // Label values are bounded: never a user, a token or a path.
    let values = p.label_values().await;
    for value in &values {
        assert!(
            !["alice", "bob"].iter().any(|user| value.contains(user)) && !value.contains('/')
                || value.starts_with("127.0.0.1:"),
            "a label value names a user or a path: {value:?} (of {values:?})"
        );
    }
    drop(prometheus);
    app.stop().await;
}

/// What the process's `tracing` subscriber wrote (spans as they close, with their fields).
#[derive(Clone, Default)]
struct Written(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Written {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[rocket::async_test]
async fn spans_name_the_provider_the_endpoint_and_the_outcome() {
    use tracing_subscriber::fmt::format::FmtSpan;
    let written = Written::default();
    let writer = written.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_span_events(FmtSpan::CLOSE)
            .with_ansi(false)
            .finish(),
    )
    .expect("the only tracing subscriber of this binary");

    let op = common::fake_op::FakeOp::start().await;
    let client = common::app::TestApp::quickstart()
        .provider(&op)
        .start()
        .await;
    common::app::log_in(&client).await;
    let text = String::from_utf8(written.0.lock().unwrap().clone()).unwrap();
    for expected in [
        "oidc.login{provider=\"default\" silent=false}",
        "oidc.provider_request{provider=\"default\" endpoint=\"token\" status=200}",
        "oidc.provider_request{provider=\"default\" endpoint=\"userinfo\" status=200}",
        "oidc.callback{provider=\"default\" outcome=\"success\"}",
    ] {
        assert!(
            text.contains(expected),
            "a span {expected}; the spans were:\n{text}"
        );
    }
}
