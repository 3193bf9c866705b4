//! Token lifetime: automatic and explicit refresh, refreshed ID token checks, silent
//! re-authentication, session lifetime, clock skew.

use std::time::Duration;

use crate::common::app::*;
use crate::common::fake_op::FakeOp;
use crate::common::node_op::{self, through_provider, AtProvider, NodeOp};
use rocket::http::{Accept, Cookie, Status};
use rocket::local::asynchronous::Client;
use rocket_oidc_auth::provider::Default;
use rocket_oidc_auth::Authenticated;
use serde_json::{json, Value};

const APP: &str = "http://127.0.0.1:8000/";
const SESSION: &str = "oidc_session_default";

#[rocket::get("/forced")]
async fn forced(mut user: Authenticated<Default>) -> String {
    match user.refreshed_access_token().await {
        Ok(token) => token.secret().to_string(),
        Err(err) => format!("error: {}", err.error()),
    }
}

/// The quickstart plus `/forced`, against the fake provider.
async fn app_with(op: &FakeOp, oidc_extra: &str) -> Client {
    let rocket = TestApp::quickstart()
        .provider(&op)
        .oidc(oidc_extra)
        .rocket()
        .mount("/", rocket::routes![forced]);
    Client::tracked(rocket).await.unwrap()
}

async fn access_token(client: &Client) -> String {
    let response = client.get("/login").header(Accept::JSON).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    json(&response.into_string().await.unwrap())["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn short_lived(expires_in: i64, extra: &str) -> (FakeOp, Client) {
    let op = FakeOp::start().await;
    op.set(|b| b.expires_in = expires_in);
    let client = app_with(&op, &format!("clock_skew = 0\n{extra}")).await;
    log_in(&client).await;
    (op, client)
}

fn set_refresh_claim(op: &FakeOp, claim: &str, value: Value) {
    let claim = claim.to_string();
    op.set(move |b| {
        b.refresh_id_token_claims.insert(claim, value);
    });
}

#[rocket::async_test]
async fn an_expired_access_token_is_refreshed_before_the_route_runs() {
    let (op, client) = short_lived(2, "").await;
    let first = access_token(&client).await;
    assert_eq!(op.hits("/token"), 1);
    let unchanged = client.get("/whoami").dispatch().await;
    assert!(
        unchanged.headers().get_one("Set-Cookie").is_none(),
        "no Set-Cookie when nothing changed"
    );

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = client.get("/login").header(Accept::JSON).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let set_cookie: Vec<_> = response
        .headers()
        .get("Set-Cookie")
        .map(str::to_string)
        .collect();
    assert!(
        set_cookie
            .iter()
            .any(|c| c.starts_with("oidc_session_default=")),
        "{set_cookie:?}"
    );
    let body = json(&response.into_string().await.unwrap());
    assert_ne!(body["access_token"], first.as_str(), "a new access token");
    assert_eq!(body["id_token"]["sub"], "alice");
    assert_eq!(op.hits("/token"), 2, "one refresh");
    assert_eq!(
        op.hits("/userinfo"),
        2,
        "userinfo refetched after the refresh"
    );
    assert_eq!(
        access_token(&client).await,
        body["access_token"].as_str().unwrap()
    );
    assert_eq!(op.hits("/token"), 2, "the refreshed session is stored");
}

#[rocket::async_test]
async fn concurrent_requests_refresh_once_even_with_rotating_refresh_tokens() {
    let (op, client) = short_lived(2, "").await;
    op.set(|b| {
        b.refresh_delay_ms = 300;
        b.rotate_refresh_tokens = true;
    });
    let cookie = client.cookies().get(SESSION).unwrap().value().to_string();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // Five requests of one user, all with the old cookie, at once.
    let untracked = Client::untracked(
        TestApp::quickstart()
            .provider(&op)
            .oidc("clock_skew = 0")
            .rocket(),
    )
    .await
    .unwrap();
    let requests = (0..5).map(|_| {
        untracked
            .get("/login")
            .header(Accept::JSON)
            .cookie(Cookie::new(SESSION, cookie.clone()))
            .dispatch()
    });
    let mut tokens = Vec::new();
    for response in futures_join_all(requests).await {
        assert_eq!(response.status(), Status::Ok);
        tokens.push(json(&response.into_string().await.unwrap())["access_token"].clone());
    }
    assert!(tokens.windows(2).all(|w| w[0] == w[1]), "{tokens:?}");
    assert_eq!(op.hits("/token"), 2, "one login and one refresh, not five");
}

#[rocket::async_test]
async fn a_provider_failing_for_a_moment_is_retried_not_remembered() {
    let (op, client) = short_lived(2, "").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    op.set(|b| b.refresh_server_error = true);
    let failed = client.get("/whoami").header(Accept::JSON).dispatch().await;
    assert_eq!(failed.status(), Status::BadGateway);
    assert!(
        client.cookies().get(SESSION).is_some(),
        "the session survives"
    );
    op.set(|b| b.refresh_server_error = false);
    let retried = client.get("/whoami").header(Accept::JSON).dispatch().await;
    assert_eq!(
        retried.status(),
        Status::Ok,
        "retried at once, not after 30 s"
    );
    assert_eq!(op.hits("/token"), 3);
}

#[rocket::async_test]
async fn a_userinfo_failure_after_a_refresh_keeps_the_new_tokens() {
    let (op, client) = short_lived(2, "").await;
    let first = access_token(&client).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    op.set(|b| b.userinfo_status = Some(503));
    let body = json(
        &client
            .get("/login")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap(),
    );
    assert_ne!(
        body["access_token"],
        first.as_str(),
        "the refreshed token is kept"
    );
    assert_eq!(
        body["userinfo"]["email"], "alice@example.com",
        "the previous UserInfo stays"
    );
}

#[rocket::async_test]
async fn a_refused_refresh_means_a_fresh_login_not_an_error() {
    let (op, client) = short_lived(2, "").await;
    op.set(|b| b.refresh_error = Some("invalid_grant".into()));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = browse(&client, "/login").await;
    assert_eq!(response.status(), Status::SeeOther);
    assert!(location(&response).starts_with(&format!("{}/authorize?", op.issuer)));
    assert!(client.cookies().get(SESSION).is_none(), "the session ended");
    let api = client.get("/whoami").header(Accept::JSON).dispatch().await;
    assert_eq!(api.status(), Status::Unauthorized);
}

#[rocket::async_test]
async fn valid_access_token_reports_a_refused_refresh_as_no_valid_token() {
    let (op, client) = short_lived(2, "auto_refresh = false").await;
    op.set(|b| b.refresh_error = Some("invalid_grant".into()));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = client.get("/token").dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    let body = json(&response.into_string().await.unwrap());
    assert_eq!(body["error"], "no_valid_token");
    assert!(client.cookies().get(SESSION).is_none(), "the session ended");
}

#[rocket::async_test]
async fn without_auto_refresh_the_route_decides_when_to_refresh() {
    let (op, client) = short_lived(2, "auto_refresh = false").await;
    let first = access_token(&client).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        access_token(&client).await,
        first,
        "the guard did not refresh"
    );
    assert_eq!(op.hits("/token"), 1);
    let token = json(
        &client
            .get("/token")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap(),
    );
    assert_ne!(token["access_token"], first.as_str());
    assert!(
        token["expires_at"].as_i64().unwrap() > time::OffsetDateTime::now_utc().unix_timestamp()
    );
    assert_eq!(op.hits("/token"), 2);
    assert_eq!(
        access_token(&client).await,
        token["access_token"].as_str().unwrap()
    );
}

#[rocket::async_test]
async fn a_forced_refresh_always_gets_a_new_token() {
    let op = FakeOp::start().await;
    let client = app_with(&op, "").await;
    log_in(&client).await;
    let first = access_token(&client).await;
    let forced = client
        .get("/forced")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert_ne!(forced, first);
    assert!(!forced.starts_with("error"), "{forced}");
    let again = client
        .get("/forced")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert_ne!(again, forced);
    assert_eq!(op.hits("/token"), 3);
    assert_eq!(access_token(&client).await, again);
}

macro_rules! refused_refresh_test {
    ($name:ident, $claim:literal, $value:expr) => {
        #[rocket::async_test]
        async fn $name() {
            let op = FakeOp::start().await;
            let client = app_with(&op, "").await;
            log_in(&client).await;
            set_refresh_claim(&op, $claim, $value);
            let forced = client
                .get("/forced")
                .dispatch()
                .await
                .into_string()
                .await
                .unwrap();
            assert_eq!(forced, "error: no_valid_token");
            assert!(client.cookies().get(SESSION).is_none(), "the session ended");
            let response = browse(&client, "/login").await;
            assert_eq!(response.status(), Status::SeeOther, "a fresh login");
        }
    };
}

refused_refresh_test!(
    a_refreshed_id_token_for_another_subject_ends_the_session,
    "sub",
    json!("mallory")
);
refused_refresh_test!(
    a_refreshed_id_token_from_another_issuer_ends_the_session,
    "iss",
    json!("https://evil.example")
);
refused_refresh_test!(
    a_refreshed_id_token_with_another_nonce_ends_the_session,
    "nonce",
    json!("other")
);
refused_refresh_test!(
    a_refreshed_id_token_for_another_audience_ends_the_session,
    "aud",
    json!("someone-else")
);
refused_refresh_test!(
    a_refreshed_id_token_with_an_earlier_auth_time_ends_the_session,
    "auth_time",
    json!(1_000_000)
);

/// Core 12.2 asks the provider to repeat the original `auth_time`; a provider that puts a
/// later login's there (Django OAuth Toolkit, after the user logged in again elsewhere) is
/// tolerated.
#[rocket::async_test]
async fn a_refreshed_id_token_with_a_later_auth_time_is_accepted() {
    let op = FakeOp::start().await;
    let client = app_with(&op, "").await;
    log_in(&client).await;
    op.set(|b| b.refresh_auth_time_now = true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let forced = client
        .get("/forced")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert!(!forced.starts_with("error"), "{forced}");
    assert!(
        client.cookies().get(SESSION).is_some(),
        "the session lives on"
    );
}

/// A provider that answers `prompt=none` with a page of its own (Django OAuth Toolkit):
/// the browser that comes back without finishing the silent attempt logs in interactively
/// instead of being sent to that page again.
#[rocket::async_test]
async fn a_silent_attempt_that_never_came_back_is_followed_by_an_interactive_login() {
    let op = FakeOp::start().await;
    op.set(|b| b.prompt_none_error_page = true);
    let client = TestApp::quickstart()
        .provider(&op)
        .provider_table("session_refresh_interval_seconds = 1")
        .start()
        .await;
    log_in(&client).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let first = browse(&client, "/whoami").await;
    assert_eq!(first.status(), Status::SeeOther);
    assert_eq!(param(&location(&first), "prompt").as_deref(), Some("none"));
    // The provider shows its own error page; the user comes back to the app.
    let again = browse(&client, "/whoami").await;
    assert_eq!(again.status(), Status::SeeOther);
    assert!(location(&again).starts_with(&op.issuer));
    assert_eq!(
        param(&location(&again), "prompt"),
        None,
        "an interactive login this time"
    );
}

#[rocket::async_test]
async fn a_refreshed_id_token_without_nonce_is_accepted() {
    let op = FakeOp::start().await;
    let client = app_with(&op, "").await;
    log_in(&client).await;
    set_refresh_claim(&op, "nonce", Value::Null);
    let forced = client
        .get("/forced")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert!(!forced.starts_with("error"), "{forced}");
    assert!(client.cookies().get(SESSION).is_some());
}

#[rocket::async_test]
async fn a_session_older_than_its_lifetime_is_logged_out() {
    let op = FakeOp::start().await;
    let client = app_with(&op, "session_lifetime = 1").await;
    log_in(&client).await;
    assert_eq!(client.get("/whoami").dispatch().await.status(), Status::Ok);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = browse(&client, "/whoami").await;
    assert_eq!(
        response.status(),
        Status::SeeOther,
        "a fresh login, not an error page"
    );
    assert!(location(&response).starts_with(&op.issuer));
}

#[rocket::async_test]
async fn clock_skew_applies_to_the_id_token_expiry() {
    let op = FakeOp::start().await;
    let client = app_with(&op, "clock_skew = 60").await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    op.set(move |b| {
        b.id_token_claims.insert("exp".into(), json!(now - 30));
        b.id_token_claims.insert("iat".into(), json!(now - 100));
    });
    log_in(&client).await; // 30 s late is within 60 s of skew
    let strict = app_with(&op, "clock_skew = 10").await;
    let response = log_in_at_once(&strict, "/login").await;
    assert_eq!(
        response.status(),
        Status::Unauthorized,
        "30 s late is beyond 10 s of skew"
    );
}

// Against the real provider.

fn real_app(op: &NodeOp, oidc_extra: &str, provider_extra: &str) -> rocket::Rocket<rocket::Build> {
    TestApp::quickstart()
        .provider(&op)
        .oidc(oidc_extra)
        .provider_table(provider_extra)
        .rocket()
        .mount("/", rocket::routes![forced])
}

async fn log_in_real(client: &Client, browser: &reqwest::Client, user: &str) {
    let auth_url = start_login(client, "/login").await;
    let (callback, _) = through_provider(browser, &auth_url, APP, AtProvider::LogIn(user)).await;
    assert_eq!(
        browse(client, &path_and_query(&callback)).await.status(),
        Status::SeeOther
    );
}

#[rocket::async_test]
async fn the_real_provider_refreshes_expired_tokens_and_forced_refreshes() {
    let op = NodeOp::start(&[("OP_TTL_ACCESS_TOKEN", "2")]);
    let client = Client::tracked(real_app(&op, "clock_skew = 0", ""))
        .await
        .unwrap();
    log_in_real(&client, &provider_browser(), "paula").await;
    let first = access_token(&client).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let second = access_token(&client).await;
    assert_ne!(second, first, "refreshed transparently");
    assert_eq!(op.hits("/token").await, 2);
    let forced = client
        .get("/forced")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert!(!forced.starts_with("error") && forced != second, "{forced}");
    assert_eq!(op.hits("/token").await, 3);
}

#[rocket::async_test]
async fn a_provider_that_keeps_its_refresh_token_gets_a_refresh_per_expired_token() {
    // The provider does not rotate refresh tokens, and its access tokens live 2 s, much
    // less than the 30 s a finished refresh is reused for: a second refresh with the same
    // refresh token must reach the provider, not hand back the first one's expired token.
    let op = NodeOp::start(&[("OP_TTL_ACCESS_TOKEN", "2")]);
    let client = Client::tracked(real_app(&op, "clock_skew = 0", ""))
        .await
        .unwrap();
    log_in_real(&client, &provider_browser(), "rita").await;
    let first = access_token(&client).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let second = access_token(&client).await;
    assert_ne!(second, first, "refreshed once");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let third = access_token(&client).await;
    assert_ne!(
        third, second,
        "refreshed again, not the first refresh's expired token"
    );
    assert_eq!(op.hits("/token").await, 3, "the login and two refreshes");
}

#[rocket::async_test]
async fn a_refresh_token_revoked_at_the_real_provider_means_a_fresh_login() {
    let op = NodeOp::start(&[("OP_TTL_ACCESS_TOKEN", "2")]);
    let client = Client::tracked(real_app(&op, "clock_skew = 0", ""))
        .await
        .unwrap();
    log_in_real(&client, &provider_browser(), "quinn").await;
    let access = access_token(&client).await;
    // Revoking any token of the grant revokes the refresh token too at this provider.
    let revoked = reqwest::Client::new()
        .post(format!("{}/token/revocation", op.issuer))
        .basic_auth(node_op::CLIENT_ID, Some(node_op::CLIENT_SECRET))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let response = browse(&client, "/login").await;
    assert_eq!(response.status(), Status::SeeOther);
    assert!(location(&response).starts_with(&format!("{}/auth?", op.issuer)));
}

#[rocket::async_test]
async fn silent_reauthentication_with_a_live_provider_session_needs_no_page() {
    let op = NodeOp::start(&[]);
    let client = Client::tracked(real_app(&op, "", "session_refresh_interval_seconds = 1"))
        .await
        .unwrap();
    let browser = provider_browser();
    log_in_real(&client, &browser, "rosa").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let auth_url = start_login(&client, "/login").await;
    assert_eq!(param(&auth_url, "prompt").as_deref(), Some("none"));
    let (callback, login_pages) =
        through_provider(&browser, &auth_url, APP, AtProvider::NoPages).await;
    assert_eq!(login_pages, 0);
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/login");
    assert_eq!(
        op.hits("/token").await,
        2,
        "a second authorization code was exchanged"
    );
    let body = json(&browse(&client, "/login").await.into_string().await.unwrap());
    assert_eq!(body["id_token"]["sub"], "rosa");
    // API requests are never redirected: the session still serves them meanwhile.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let api = client.get("/whoami").header(Accept::JSON).dispatch().await;
    assert_eq!(api.status(), Status::Ok);
}

#[rocket::async_test]
async fn silent_reauthentication_falls_back_to_the_login_page_when_the_provider_session_ended() {
    let op = NodeOp::start(&[]);
    let client = Client::tracked(real_app(&op, "", "session_refresh_interval_seconds = 1"))
        .await
        .unwrap();
    log_in_real(&client, &provider_browser(), "sam").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // A browser whose provider session is gone.
    let browser = provider_browser();
    let auth_url = start_login(&client, "/login").await;
    assert_eq!(param(&auth_url, "prompt").as_deref(), Some("none"));
    let response = browser.get(&auth_url).send().await.unwrap();
    let back = response.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("login_required"),
        "{back}"
    );
    let response = browse(&client, &path_and_query(&back)).await;
    assert_eq!(response.status(), Status::SeeOther, "no error page");
    let interactive = location(&response);
    assert!(
        interactive.starts_with(&format!("{}/auth?", op.issuer)),
        "{interactive}"
    );
    assert_eq!(param(&interactive, "prompt"), None);
    let (callback, login_pages) =
        through_provider(&browser, &interactive, APP, AtProvider::LogIn("sam")).await;
    assert_eq!(login_pages, 1, "the login page is shown");
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(location(&response), "/login");
}
