//! Several instances of the quickstart sharing one Redis: a session and a login move between
//! them, a logout on one ends the session on the other, concurrent refreshes on two
//! instances spend a rotating refresh token once, and a Redis outage answers 503 (never
//! "logged out") and heals by itself.

use std::time::{Duration, Instant};

use crate::common::app::*;
use crate::common::fake_op::FakeOp;
use crate::common::node_op::{self, through_provider, AtProvider, NodeOp};
use crate::common::redis::RedisServer;
use rocket::http::{Accept, Cookie, Header, Status};
use rocket::local::asynchronous::Client;

const SESSION: &str = "oidc_session_default";
const APP: &str = "http://127.0.0.1:8000/";

fn redis_table(redis: &RedisServer) -> String {
    format!(
        "[default.oidc.session]\nstore = \"redis\"\n[default.oidc.session.redis]\nurl = \"{}\"\nresponse_timeout_ms = 300",
        redis.url()
    )
}

/// Two instances of the quickstart on one Redis, with the fake provider.
async fn two_instances(op: &FakeOp, redis: &RedisServer, oidc: &str) -> (Client, Client) {
    let extra = format!("{oidc}\n{}", redis_table(redis));
    let app = || TestApp::quickstart().provider(&op).oidc(&extra);
    (app().start().await, app().start().await)
}

fn cookie_of(client: &Client, name: &str) -> Cookie<'static> {
    client
        .cookies()
        .get(name)
        .unwrap_or_else(|| panic!("a {name} cookie"))
        .clone()
        .into_owned()
}

async fn whoami(client: &Client, session: &str) -> (Status, String) {
    let response = client
        .get("/whoami")
        .header(Accept::JSON)
        .cookie(Cookie::new(SESSION, session.to_string()))
        .dispatch()
        .await;
    let status = response.status();
    if status == Status::ServiceUnavailable {
        assert_eq!(
            response.headers().get_one("Retry-After"),
            Some("1"),
            "a 503 says when to try again"
        );
    }
    (status, response.into_string().await.unwrap_or_default())
}

#[rocket::async_test]
async fn a_session_made_on_one_instance_works_on_the_other() {
    let op = FakeOp::start().await;
    let redis = RedisServer::start();
    let (a, b) = two_instances(&op, &redis, "").await;
    assert_eq!(
        log_in_at_once(&a, "/login").await.status(),
        Status::SeeOther
    );
    let session = cookie_of(&a, SESSION);
    assert!(
        session.value().len() < 200,
        "with Redis the cookie carries only an id: {} bytes",
        session.value().len()
    );
    assert_eq!(
        whoami(&b, session.value()).await,
        (Status::Ok, "alice".into())
    );
}

#[rocket::async_test]
async fn a_login_started_on_one_instance_finishes_on_the_other() {
    let op = FakeOp::start().await;
    let redis = RedisServer::start();
    let (a, b) = two_instances(&op, &redis, "").await;
    let auth_url = start_login(&a, "/login").await;
    let transaction = a
        .cookies()
        .iter()
        .find(|c| c.name().starts_with("oidc_tx_"))
        .expect("a transaction cookie on A")
        .clone()
        .into_owned();
    let callback = authorize_at_once(&auth_url).await;
    let response = b
        .get(path_and_query(&callback))
        .header(Accept::HTML)
        .cookie(transaction)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther, "B finished A's login");
    assert_eq!(location(&response), "/login");
    let session = cookie_of(&b, SESSION);
    assert_eq!(whoami(&a, session.value()).await.0, Status::Ok);
}

#[rocket::async_test]
async fn a_logout_on_one_instance_ends_the_session_on_the_other() {
    let op = FakeOp::start().await;
    let redis = RedisServer::start();
    let (a, b) = two_instances(&op, &redis, "").await;
    log_in_at_once(&a, "/login").await;
    let session = cookie_of(&a, SESSION);
    assert_eq!(whoami(&b, session.value()).await.0, Status::Ok);
    let logout = a
        .post("/logout")
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(logout.status(), Status::SeeOther);
    assert_eq!(
        whoami(&b, session.value()).await.0,
        Status::Unauthorized,
        "B refuses the session (and so every copy of its cookie)"
    );
    assert_eq!(whoami(&a, session.value()).await.0, Status::Unauthorized);
}

#[rocket::async_test]
async fn concurrent_refreshes_on_two_instances_spend_a_rotating_refresh_token_once() {
    let op = NodeOp::start(&[
        ("OP_TTL_ACCESS_TOKEN", "3"),
        ("OP_ROTATE_REFRESH_TOKENS", "1"),
    ]);
    let redis = RedisServer::start();
    let extra = format!("clock_skew = 0\n{}", redis_table(&redis));
    let app = || TestApp::quickstart().provider(&op).oidc(&extra);
    let (a, b) = (app().start().await, app().start().await);
    let browser = provider_browser();
    let auth_url = start_login(&a, "/login").await;
    let (callback, _) =
        through_provider(&browser, &auth_url, APP, AtProvider::LogIn("alice")).await;
    browse(&a, &path_and_query(&callback)).await;
    let session = cookie_of(&a, SESSION);
    let session = session.value().to_string();
    let token = |client| token(client, &session);
    let (_, before) = token(&a).await;
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let token_requests = op.hits("/token").await;
    let ((status_a, on_a), (status_b, on_b)) = tokio::join!(token(&a), token(&b));
    assert_eq!(
        (status_a, status_b),
        (Status::Ok, Status::Ok),
        "{on_a} {on_b}"
    );
    assert_ne!(on_a["access_token"], before["access_token"], "refreshed");
    assert_eq!(
        on_a["access_token"], on_b["access_token"],
        "both got the same new tokens"
    );
    assert_eq!(
        op.hits("/token").await - token_requests,
        1,
        "one refresh at the provider for both instances"
    );
    // The rotated refresh token works: the next refresh succeeds too.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let (status, again) = token(&b).await;
    assert_eq!(status, Status::Ok, "{again}");
    assert_ne!(again["access_token"], on_a["access_token"]);
}

/// `/token` with `session` as the session cookie.
async fn token(client: &Client, session: &str) -> (Status, serde_json::Value) {
    let response = client
        .get("/token")
        .header(Accept::JSON)
        .cookie(Cookie::new(SESSION, session.to_string()))
        .dispatch()
        .await;
    let status = response.status();
    (status, json(&response.into_string().await.unwrap()))
}

#[rocket::async_test]
async fn a_paused_redis_answers_503_and_the_app_recovers_at_once() {
    let op = FakeOp::start().await;
    let redis = RedisServer::start();
    let (a, _b) = two_instances(&op, &redis, "").await;
    log_in_at_once(&a, "/login").await;
    let session = cookie_of(&a, SESSION);

    redis.pause();
    for _ in 0..3 {
        let started = Instant::now();
        let (status, body) = whoami(&a, session.value()).await;
        assert_eq!(status, Status::ServiceUnavailable, "{body}");
        assert!(
            body.contains("session_store_unavailable"),
            "the catcher renders the store error: {body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "bounded by the timeout"
        );
        let public = a.get("/").dispatch().await;
        assert_eq!(public.status(), Status::Ok, "public routes keep working");
    }
    redis.resume();
    let resumed = Instant::now();
    loop {
        let (status, body) = whoami(&a, session.value()).await;
        if status == Status::Ok {
            assert_eq!(body, "alice", "the session stored before the outage");
            break;
        }
        assert_eq!(
            status,
            Status::ServiceUnavailable,
            "only 503s until it is back"
        );
        assert!(
            resumed.elapsed() < Duration::from_secs(1),
            "the app recovers within a second of Redis coming back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[rocket::async_test]
async fn a_restarted_redis_keeps_its_sessions_and_the_app_reconnects() {
    let op = FakeOp::start().await;
    let mut redis = RedisServer::start();
    let (a, b) = two_instances(&op, &redis, "").await;
    log_in_at_once(&a, "/login").await;
    let session = cookie_of(&a, SESSION);
    redis.cli(&["SAVE"]);
    redis.stop();
    // Under load while it is down: only 503s.
    for client in [&a, &b] {
        let (status, body) = whoami(client, session.value()).await;
        assert_eq!(status, Status::ServiceUnavailable, "{body}");
    }
    redis.start_again();
    let back = Instant::now();
    loop {
        let (status, body) = whoami(&b, session.value()).await;
        if status == Status::Ok {
            assert_eq!(body, "alice");
            break;
        }
        assert_eq!(status, Status::ServiceUnavailable, "{body}");
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "reconnects promptly"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(whoami(&a, session.value()).await.0, Status::Ok);
}

/// The quickstart served twice, on two ports, behind an imagined load balancer whose URL is
/// the first one's (`redirect_uri` names it on both), sharing one Redis.
#[rocket::async_test]
async fn two_quickstarts_on_two_ports_share_sessions_logins_and_logouts() {
    use crate::common::server::{free_port, Served};
    use reqwest::cookie::{CookieStore, Jar};
    use std::sync::Arc;

    let redis = RedisServer::start();
    let (port_a, port_b) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{port_a}");
    let redirect_uri = format!("{public}/redirect_uri");
    let op = NodeOp::start(&[
        ("OP_HOST", "localhost"),
        ("OP_CLIENTS", &node_op::clients_for(&redirect_uri)),
    ]);
    let table = redis_table(&redis);
    let a = Served::start(&op.issuer, port_a, &redirect_uri, &table).await;
    let b = Served::start(&op.issuer, port_b, &redirect_uri, &table).await;
    // One browser: cookies are per host, not per port, so both instances get them.
    let jar = Arc::new(Jar::default());
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    let login = browser
        .get(format!("{}/login", a.url))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303, "A starts the login");
    let auth_url = login.headers()["location"].to_str().unwrap().to_string();
    let (callback, _) =
        through_provider(&browser, &auth_url, &public, AtProvider::LogIn("alice")).await;
    // The balancer sends the callback to B.
    let on_b = callback.replacen(&a.url, &b.url, 1);
    let finished = browser.get(&on_b).send().await.unwrap();
    assert_eq!(finished.status(), 303, "B finishes A's login");
    assert_eq!(finished.headers()["location"], "/login");

    let whoami = |url: String, cookies: Option<String>| {
        let request = reqwest::Client::new()
            .get(format!("{url}/whoami"))
            .header("Accept", "application/json");
        let request = match cookies {
            Some(cookies) => request.header("Cookie", cookies),
            None => request,
        };
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let copy = jar
        .cookies(&a.url.parse().unwrap())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        whoami(a.url.clone(), Some(copy.clone())).await,
        (200, "alice".into())
    );
    assert_eq!(
        whoami(b.url.clone(), Some(copy.clone())).await,
        (200, "alice".into())
    );

    let logout = browser
        .post(format!("{}/logout", a.url))
        .header("Origin", public.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303, "A logs out");
    assert_eq!(
        whoami(b.url.clone(), Some(copy.clone())).await.0,
        401,
        "B refuses the session (and the copy of its cookie)"
    );
    assert_eq!(whoami(a.url.clone(), Some(copy)).await.0, 401);
    a.stop().await;
    b.stop().await;
}
