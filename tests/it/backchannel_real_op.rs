//! Back-channel logout sent by the real test provider: a user who logs out at the provider
//! loses the app's session at once, even a copy of its cookie, with every store.

use std::sync::Arc;

use crate::common::app::TestApp;
use crate::common::node_op::{confirm_logout, through_provider, AtProvider};
use crate::common::server::RunningApp;
use reqwest::cookie::{CookieStore, Jar};

/// A browser: its own cookie jar (readable), no redirects followed.
fn browser(jar: &Arc<Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar.clone())
        .build()
        .unwrap()
}

/// Logs in on a running app, logs out at the provider, and checks that a copy of the
/// session cookie is refused by that app and, when `shared` is set, by a second instance
/// of the app on the same store (the provider knows only the first one's address).
async fn logout_at_the_provider_ends_the_apps_session(session_table: &str, shared: bool) {
    let app = RunningApp::start(&format!("[default.oidc.session]\n{session_table}")).await;
    let second = if shared {
        let figment = TestApp::quickstart()
            .issuer(&app.op.issuer)
            .client(
                crate::common::node_op::CLIENT_ID,
                crate::common::node_op::CLIENT_SECRET,
            )
            .oidc(&format!("[default.oidc.session]\n{session_table}"))
            .set("oidc.redirect_uri", format!("{}/redirect_uri", app.url));
        Some(figment.start().await)
    } else {
        None
    };
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
    if let Some(second) = &second {
        assert_eq!(
            on_second(second, &copy).await,
            200,
            "the second instance shares the session"
        );
    }

    // The user logs out at the provider itself (not through the app).
    let end_session = format!("{}/session/end", app.op.issuer);
    let confirm = confirm_logout(&browser, &app.op.issuer, &end_session).await;
    assert_eq!(confirm.status(), 303, "the provider logged out");
    // The provider posted the logout token before answering.
    assert_eq!(
        whoami(Some(copy.clone())).await,
        401,
        "the session (and every copy of its cookie) ended by back-channel logout"
    );
    if let Some(second) = &second {
        assert_eq!(
            on_second(second, &copy).await,
            401,
            "ended on the second instance too"
        );
    }
    app.stop().await;
}

#[rocket::async_test]
async fn with_the_cookie_store() {
    logout_at_the_provider_ends_the_apps_session("store = \"cookie\"", false).await;
}

#[rocket::async_test]
async fn with_the_memory_store() {
    logout_at_the_provider_ends_the_apps_session("store = \"memory\"", false).await;
}

#[cfg(feature = "redis")]
#[rocket::async_test]
async fn with_redis_on_two_instances() {
    let redis = crate::common::redis::RedisServer::start();
    let table = format!(
        "store = \"redis\"\n[default.oidc.session.redis]\nurl = \"{}\"",
        redis.url()
    );
    logout_at_the_provider_ends_the_apps_session(&table, true).await;
}

#[cfg(feature = "redis")]
#[rocket::async_test]
async fn with_the_cookie_store_and_its_marks_in_redis_on_two_instances() {
    let redis = crate::common::redis::RedisServer::start();
    let table = format!(
        "store = \"cookie\"\n[default.oidc.session.redis]\nurl = \"{}\"",
        redis.url()
    );
    logout_at_the_provider_ends_the_apps_session(&table, true).await;
}

/// `/whoami` on a local instance with `cookies` as the `Cookie` header.
async fn on_second(second: &rocket::local::asynchronous::Client, cookies: &str) -> u16 {
    let cookies = cookies.split("; ").filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        Some(rocket::http::Cookie::new(
            name.to_string(),
            value.to_string(),
        ))
    });
    second
        .get("/whoami")
        .header(rocket::http::Accept::JSON)
        .cookies(cookies)
        .dispatch()
        .await
        .status()
        .code
}
