//! Back-channel logout sent by the real test provider: a user who logs out at the provider
//! loses the app's session at once, even a copy of its cookie, with every store.

mod common {
    pub mod app;
    pub mod fake_op;
    pub mod node_op;
    pub mod redis;
    pub mod server;
}

use std::sync::Arc;

use common::node_op::{through_provider, AtProvider};
use common::server::RunningApp;
use reqwest::cookie::{CookieStore, Jar};

/// A browser: its own cookie jar (readable), no redirects followed.
fn browser(jar: &Arc<Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar.clone())
        .build()
        .unwrap()
}

async fn logout_at_the_provider_ends_the_apps_session(session_table: &str) {
    let app = RunningApp::start(&format!("[default.oidc.session]\n{session_table}")).await;
    let jar = Arc::new(Jar::default());
    let browser = browser(&jar);
    let login = browser
        .get(format!("{}/login", app.url))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let auth_url = login.headers()["location"].to_str().unwrap().to_string();
    let (callback, _) =
        through_provider(&browser, &auth_url, &app.url, AtProvider::LogIn("alice")).await;
    assert_eq!(browser.get(&callback).send().await.unwrap().status(), 303);
    let whoami = |cookie: Option<String>| {
        let mut request = reqwest::Client::new()
            .get(format!("{}/whoami", app.url))
            .header("Accept", "application/json");
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let app_url: reqwest::Url = app.url.parse().unwrap();
    let copy = jar
        .cookies(&app_url)
        .expect("the app's cookies")
        .to_str()
        .unwrap()
        .to_string();
    assert!(copy.contains("oidc_session_default="), "{copy}");
    assert_eq!(whoami(Some(copy.clone())).await, 200, "logged in");

    // The user logs out at the provider itself (not through the app).
    let page = browser
        .get(format!("{}/session/end", app.op.issuer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let xsrf = page
        .split("name=\"xsrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no xsrf in the provider's logout page: {page}"))
        .to_string();
    let confirm = browser
        .post(format!("{}/session/end/confirm", app.op.issuer))
        .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(confirm.status(), 303, "the provider logged out");
    // The provider posted the logout token before answering.
    assert_eq!(
        whoami(Some(copy)).await,
        401,
        "the session (and every copy of its cookie) ended by back-channel logout"
    );
    app.stop().await;
}

#[rocket::async_test]
async fn with_the_cookie_store() {
    logout_at_the_provider_ends_the_apps_session("store = \"cookie\"").await;
}

#[rocket::async_test]
async fn with_the_memory_store() {
    logout_at_the_provider_ends_the_apps_session("store = \"memory\"").await;
}

#[rocket::async_test]
async fn with_redis() {
    let redis = common::redis::RedisServer::start();
    logout_at_the_provider_ends_the_apps_session(&format!(
        "store = \"redis\"\n[default.oidc.session.redis]\nurl = \"{}\"",
        redis.url()
    ))
    .await;
}
