//! Happy paths against a real, certified OpenID Provider (panva's oidc-provider, PKCE
//! required), driven through the quickstart example's routes.

use crate::common::app::*;
use crate::common::node_op::{self, clients_for, through_provider, AtProvider, NodeOp};
use rocket::figment::providers::{Format, Toml};
use rocket::figment::Figment;
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;

const APP: &str = "http://127.0.0.1:8000/";

fn config_for(op: &NodeOp) -> TestApp {
    TestApp::quickstart().provider(&op)
}

/// Logs in through `uri` at the real provider; returns the callback's response status
/// and Location.
async fn log_in(
    client: &Client,
    browser: &reqwest::Client,
    uri: &str,
    user: AtProvider<'_>,
) -> (Status, String) {
    let auth_url = start_login(client, uri).await;
    let (callback, _) = through_provider(browser, &auth_url, APP, user).await;
    let response = browse(client, &path_and_query(&callback)).await;
    (response.status(), location(&response))
}

#[rocket::async_test]
async fn a_full_login_through_the_quickstart_routes() {
    let op = NodeOp::start(&[]);
    let client = config_for(&op).start().await;
    assert_eq!(
        op.hits("/.well-known/openid-configuration").await,
        1,
        "discovered at launch"
    );
    assert_eq!(op.hits("/jwks").await, 1, "keys loaded at launch");

    let public = client.get("/").dispatch().await;
    assert_eq!(public.status(), Status::Ok);
    assert_eq!(public.content_type(), Some(rocket::http::ContentType::HTML));
    let page = public.into_string().await.unwrap();
    for link in ["href=\"/login\"", "href=\"/whoami\"", "href=\"/token\""] {
        assert!(page.contains(link), "the first page links {link}: {page}");
    }
    assert!(
        page.contains("<form method=\"post\" action=\"/logout\">"),
        "logging out is a form button: {page}"
    );

    let auth_url = start_login(&client, "/login").await;
    assert!(
        auth_url.starts_with(&format!("{}/auth?", op.issuer)),
        "{auth_url}"
    );
    assert_eq!(
        param(&auth_url, "code_challenge_method").as_deref(),
        Some("S256")
    );

    let browser = provider_browser();
    let (callback, login_pages) =
        through_provider(&browser, &auth_url, APP, AtProvider::LogIn("alice")).await;
    assert_eq!(login_pages, 1);
    assert_eq!(param(&callback, "iss").as_deref(), Some(op.issuer.as_str()));
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/login");

    let response = browse(&client, "/login").await;
    assert_eq!(response.status(), Status::Ok);
    let body = json(&response.into_string().await.unwrap());
    assert!(
        body["access_token"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert_eq!(body["id_token"]["sub"], "alice");
    assert_eq!(body["id_token"]["iss"], op.issuer.as_str());
    assert_eq!(body["id_token"]["aud"], node_op::CLIENT_ID);
    assert_eq!(body["userinfo"]["sub"], "alice");
    assert_eq!(body["userinfo"]["email"], "alice@example.com");
    assert_eq!(body["userinfo"]["name"], "Test User alice");

    let whoami = client.get("/whoami").header(Accept::JSON).dispatch().await;
    assert_eq!(whoami.status(), Status::Ok);
    assert_eq!(whoami.into_string().await.unwrap(), "alice");

    let token = json(
        &client
            .get("/token")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap(),
    );
    assert_eq!(token["access_token"], body["access_token"]);
    assert!(
        token["expires_at"].as_i64().unwrap() > time::OffsetDateTime::now_utc().unix_timestamp()
    );

    assert_eq!(op.hits("/token").await, 1, "one token request");
    assert_eq!(op.hits("/me").await, 1, "one userinfo request");
}

#[rocket::async_test]
async fn a_second_login_reuses_discovery_and_the_cached_keys() {
    let op = NodeOp::start(&[]);
    let client = config_for(&op).start().await;
    let browser = provider_browser();
    let (status, _) = log_in(&client, &browser, "/login", AtProvider::LogIn("bob")).await;
    assert_eq!(status, Status::SeeOther);
    client
        .get("/logout")
        .header(rocket::http::Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert!(client.cookies().get("oidc_session_default").is_none());
    // The provider's own session is still alive: single sign-on, no login page.
    let (status, _) = log_in(&client, &browser, "/whoami", AtProvider::NoPages).await;
    assert_eq!(status, Status::SeeOther);
    let whoami = client.get("/whoami").dispatch().await;
    assert_eq!(whoami.into_string().await.unwrap(), "bob");
    assert_eq!(op.hits("/.well-known/openid-configuration").await, 1);
    assert_eq!(op.hits("/jwks").await, 1);
    assert_eq!(op.hits("/token").await, 2);
}

#[rocket::async_test]
async fn two_tabs_logging_in_at_once_both_succeed() {
    let op = NodeOp::start(&[]);
    let client = config_for(&op).start().await;
    let browser = provider_browser();
    let tab1 = start_login(&client, "/login").await;
    let tab2 = start_login(&client, "/whoami").await;
    let (callback1, _) = through_provider(&browser, &tab1, APP, AtProvider::LogIn("carol")).await;
    let (callback2, _) = through_provider(&browser, &tab2, APP, AtProvider::NoPages).await;
    // The second tab's callback arrives first.
    let response = browse(&client, &path_and_query(&callback2)).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/whoami");
    let response = browse(&client, &path_and_query(&callback1)).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/login");
    let whoami = client.get("/whoami").dispatch().await;
    assert_eq!(whoami.into_string().await.unwrap(), "carol");
}

#[rocket::async_test]
async fn an_app_started_while_the_provider_is_down_recovers_when_it_is_up() {
    let port = crate::common::server::free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let client = TestApp::quickstart()
        .issuer(&issuer)
        .client(node_op::CLIENT_ID, node_op::CLIENT_SECRET)
        .start()
        .await;
    let response = browse(&client, "/login").await;
    assert_eq!(response.status(), Status::ServiceUnavailable);
    assert_eq!(
        response.headers().get_one("Retry-After"),
        Some("5"),
        "a 503 says when to try again"
    );
    let body = json(&response.into_string().await.unwrap());
    assert_eq!(body["error"], "provider_unavailable");

    let op = NodeOp::start(&[("OP_PORT", &port.to_string())]);
    assert_eq!(op.issuer, issuer);
    // Failed discoveries are retried after a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let auth_url = start_login(&client, "/login").await;
    assert!(auth_url.starts_with(&format!("{issuer}/auth?")));
    let browser = provider_browser();
    let (callback, _) = through_provider(&browser, &auth_url, APP, AtProvider::LogIn("dave")).await;
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::SeeOther);
}

#[rocket::async_test]
async fn a_login_through_a_running_server_with_a_real_cookie_jar() {
    let port = crate::common::server::free_port();
    let app = format!("http://127.0.0.1:{port}");
    let redirect_uri = format!("{app}/redirect_uri");
    let op = NodeOp::start(&[("OP_CLIENTS", &clients_for(&redirect_uri))]);
    let served = config_for(&op)
        .set("port", port)
        .set("address", "127.0.0.1")
        .set("oidc.redirect_uri", &redirect_uri);
    let rocket = served.rocket().ignite().await.unwrap();
    let shutdown = rocket.shutdown();
    let server = tokio::spawn(rocket.launch());

    // One browser: one cookie jar for the app and the provider, no automatic redirects.
    let browser = provider_browser();
    let mut started = None;
    for _ in 0..50 {
        if let Ok(response) = browser.get(format!("{app}/")).send().await {
            started = Some(response.status());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(started.map(|s| s.as_u16()), Some(200), "the app started");

    let response = browser
        .get(format!("{app}/login"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let auth_url = response.headers()["location"].to_str().unwrap().to_string();
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
    let (callback, _) =
        through_provider(&browser, &auth_url, &app, AtProvider::LogIn("erin")).await;
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(
        response.status().as_u16(),
        303,
        "{:?}",
        response.text().await
    );
    assert_eq!(response.headers()["location"], "/login");
    let response = browser
        .get(format!("{app}/login"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["id_token"]["sub"], "erin");
    assert_eq!(body["userinfo"]["email"], "erin@example.com");

    shutdown.notify();
    let _ = server.await;
}

#[rocket::async_test]
async fn two_providers_side_by_side() {
    let op1 = NodeOp::start(&[]);
    let op2 = NodeOp::start(&[]);
    let toml = format!(
        r#"
[default]
secret_key = "{}"
log_level = "critical"
[default.oidc]
redirect_uri = "{REDIRECT_URI}"
[default.oidc.providers.provider1]
issuer = "{}"
client_id = "{id}"
client_secret = "{secret}"
[default.oidc.providers.provider2]
issuer = "{}"
client_id = "{id}"
client_secret = "{secret}"
scope = "openid profile"
"#,
        secret_key(),
        op1.issuer,
        op2.issuer,
        id = node_op::CLIENT_ID,
        secret = node_op::CLIENT_SECRET,
    );
    let figment =
        Figment::from(rocket::Config::debug_default()).merge(Toml::string(&toml).nested());
    let client = Client::tracked(multiple_providers::rocket().configure(figment))
        .await
        .unwrap();
    let browser = provider_browser();

    let auth1 = start_login(&client, "/login1").await;
    assert!(auth1.starts_with(&op1.issuer), "{auth1}");
    let (callback, _) = through_provider(&browser, &auth1, APP, AtProvider::LogIn("frank")).await;
    assert_eq!(
        browse(&client, &path_and_query(&callback)).await.status(),
        Status::SeeOther
    );
    let body = json(
        &browse(&client, "/login1")
            .await
            .into_string()
            .await
            .unwrap(),
    );
    assert_eq!(body["provider"], "provider1");
    assert_eq!(body["sub"], "frank");

    // Logged in with provider1 only: /login2 still sends the browser to provider2.
    let auth2 = start_login(&client, "/login2").await;
    assert!(auth2.starts_with(&op2.issuer), "{auth2}");
    assert_eq!(param(&auth2, "scope").as_deref(), Some("openid profile"));
    let (callback, _) = through_provider(&browser, &auth2, APP, AtProvider::LogIn("grace")).await;
    assert_eq!(
        browse(&client, &path_and_query(&callback)).await.status(),
        Status::SeeOther
    );
    let body = json(
        &browse(&client, "/login2")
            .await
            .into_string()
            .await
            .unwrap(),
    );
    assert_eq!(body["provider"], "provider2");
    assert_eq!(body["sub"], "grace");
    assert_eq!(body["id_token"]["iss"], op2.issuer.as_str());
    // Both sessions live side by side.
    let body = json(
        &browse(&client, "/login1")
            .await
            .into_string()
            .await
            .unwrap(),
    );
    assert_eq!(body["sub"], "frank");
}

#[path = "../../examples/multiple_providers.rs"]
#[allow(dead_code, unreachable_pub)]
mod multiple_providers;

/// The user's typed standard claims, as a route reads them.
#[rocket::get("/claims")]
fn typed_claims(
    user: rocket_oidc_auth::Authenticated<rocket_oidc_auth::provider::Default>,
) -> rocket::serde::json::Json<serde_json::Value> {
    let claims = user.claims();
    rocket::serde::json::Json(serde_json::json!({
        "sub": claims.subject().as_str(),
        "email": claims.email().map(|email| email.as_str()),
        "email_verified": claims.email_verified(),
        "name": claims.name().and_then(|name| name.get(None)).map(|name| name.as_str()),
        "family_name": claims.family_name().and_then(|n| n.get(None)).map(|n| n.as_str()),
    }))
}

#[rocket::async_test]
async fn typed_claims_merge_the_id_token_with_userinfo() {
    // This provider puts email and profile claims in UserInfo only, not in the ID token.
    let op = NodeOp::start(&[]);
    let client = config_for(&op)
        .mount("/t", rocket::routes![typed_claims])
        .start()
        .await;
    let (status, _) = log_in(
        &client,
        &provider_browser(),
        "/login",
        AtProvider::LogIn("gwen"),
    )
    .await;
    assert_eq!(status, Status::SeeOther);
    let login = client.get("/login").header(Accept::JSON).dispatch().await;
    let login: serde_json::Value =
        serde_json::from_str(&login.into_string().await.unwrap()).unwrap();
    assert!(
        login["id_token"].get("email").is_none(),
        "not in the ID token: {login}"
    );
    let claims = client.get("/t/claims").dispatch().await;
    let claims: serde_json::Value =
        serde_json::from_str(&claims.into_string().await.unwrap()).unwrap();
    assert_eq!(
        claims,
        serde_json::json!({
            "sub": "gwen",
            "email": "gwen@example.com",
            "email_verified": true,
            "name": "Test User gwen",
            "family_name": "gwen",
        })
    );
    // The quickstart's /profile shows them (escaped HTML), with a logout button.
    let page = client.get("/profile").dispatch().await;
    assert_eq!(page.status(), Status::Ok);
    assert_eq!(page.content_type(), Some(rocket::http::ContentType::HTML));
    let page = page.into_string().await.unwrap();
    for shown in [
        "<h1>Test User gwen</h1>",
        "gwen@example.com",
        "Logged in with default.",
        "<form method=\"post\" action=\"/logout\">",
    ] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
}
