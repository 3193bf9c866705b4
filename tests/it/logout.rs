//! Logout: local, RP-initiated at the real provider, token revocation, the return's
//! `state`, cross-site protection, several providers, and the `Logout` guard.

use crate::common::app::*;
use crate::common::fake_op::{self, FakeOp};
use crate::common::node_op::{self, through_provider, AtProvider, NodeOp};
use rocket::figment::providers::{Format, Toml};
use rocket::figment::Figment;
use rocket::http::{Accept, Header, Status};
use rocket::local::asynchronous::Client;
use rocket_oidc_auth::provider::Default;
use rocket_oidc_auth::{oidc_provider, Authenticated, Logout};

const APP: &str = "http://127.0.0.1:8000/";
const SESSION: &str = "oidc_session_default";

async fn logged_in_with_fake() -> (FakeOp, Client) {
    let op = FakeOp::start().await;
    let client = TestApp::quickstart().provider(&op).start().await;
    log_in_through(&client, "/login").await;
    (op, client)
}

async fn still_logged_in(client: &Client) -> bool {
    let response = client.get("/whoami").header(Accept::JSON).dispatch().await;
    response.status() == Status::Ok
}

#[rocket::async_test]
async fn logout_at_the_real_provider_ends_both_sessions() {
    let op = NodeOp::start(&[]);
    let client = TestApp::quickstart().provider(&op).start().await;
    let browser = provider_browser();
    let auth_url = start_login(&client, "/login").await;
    let (callback, _) =
        through_provider(&browser, &auth_url, APP, AtProvider::LogIn("alice")).await;
    browse(&client, &path_and_query(&callback)).await;
    assert!(still_logged_in(&client).await);

    let response = browse_same_origin(&client, "/logout").await;
    assert_eq!(response.status(), Status::SeeOther);
    let end_session = location(&response);
    assert!(
        end_session.starts_with(&format!("{}/session/end?", op.issuer)),
        "{end_session}"
    );
    assert!(param(&end_session, "id_token_hint").is_some_and(|t| t.split('.').count() == 3));
    assert_eq!(
        param(&end_session, "client_id").as_deref(),
        Some(node_op::CLIENT_ID)
    );
    assert_eq!(
        param(&end_session, "post_logout_redirect_uri").as_deref(),
        Some("http://127.0.0.1:8000/logout/callback")
    );
    assert_eq!(param(&end_session, "state").map(|s| s.len()), Some(43));
    assert!(
        client.cookies().get(SESSION).is_none(),
        "the local session is gone"
    );
    assert!(!still_logged_in(&client).await);

    // The provider's confirm page, then back to the app.
    let response = node_op::confirm_logout(&browser, &op.issuer, &end_session).await;
    assert_eq!(response.status().as_u16(), 303);
    let back = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        back.starts_with("http://127.0.0.1:8000/logout/callback?"),
        "{back}"
    );
    let response = browse(&client, &path_and_query(&back)).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/");
    assert_eq!(browse(&client, "/").await.status(), Status::Ok);

    // Logging in again asks for credentials: the provider's session ended too.
    let auth_url = start_login(&client, "/login").await;
    let (callback, login_pages) =
        through_provider(&browser, &auth_url, APP, AtProvider::LogIn("alice")).await;
    assert_eq!(login_pages, 1, "the provider asked for credentials again");
    assert_eq!(
        browse(&client, &path_and_query(&callback)).await.status(),
        Status::SeeOther
    );
}

#[rocket::get("/refresh_token")]
fn refresh_token(user: Authenticated<Default>) -> String {
    user.refresh_token().unwrap_or_default().to_string()
}

async fn introspect(op: &NodeOp, token: &str) -> bool {
    let response: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/token/introspection", op.issuer))
        .basic_auth(node_op::CLIENT_ID, Some(node_op::CLIENT_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    response["active"]
        .as_bool()
        .expect("an introspection response")
}

#[rocket::async_test]
async fn logout_revokes_the_refresh_token_at_the_provider() {
    let op = NodeOp::start(&[]);
    let rocket = TestApp::quickstart()
        .provider(&op)
        .rocket()
        .mount("/", rocket::routes![refresh_token]);
    let client = Client::tracked(rocket).await.unwrap();
    let browser = provider_browser();
    let auth_url = start_login(&client, "/login").await;
    let (callback, _) = through_provider(&browser, &auth_url, APP, AtProvider::LogIn("rita")).await;
    browse(&client, &path_and_query(&callback)).await;
    let token = client
        .get("/refresh_token")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert!(!token.is_empty(), "the provider issued a refresh token");
    assert!(introspect(&op, &token).await, "active before logout");

    let response = browse_same_origin(&client, "/logout").await;
    assert_eq!(response.status(), Status::SeeOther);
    assert!(!introspect(&op, &token).await, "inactive after logout");
}

#[rocket::async_test]
async fn without_end_session_endpoint_the_logout_is_local_and_failed_revocation_does_not_block_it()
{
    let op = FakeOp::start().await;
    let issuer = &op.issuer;
    let toml = format!(
        r#"
[default]
secret_key = "{}"
log_level = "critical"
[default.oidc]
redirect_uri = "{REDIRECT_URI}"
[default.oidc.providers.default]
client_id = "{}"
client_secret = "{}"
[default.oidc.providers.default.provider_metadata]
issuer = "{issuer}"
authorization_endpoint = "{issuer}/authorize"
token_endpoint = "{issuer}/token"
jwks_uri = "{issuer}/jwks"
revocation_endpoint = "{issuer}/broken-revocation"
authorization_response_iss_parameter_supported = true
"#,
        secret_key(),
        fake_op::CLIENT_ID,
        fake_op::CLIENT_SECRET
    );
    let figment =
        Figment::from(rocket::Config::debug_default()).merge(Toml::string(&toml).nested());
    let client = TestApp::quickstart().config(figment).start().await;
    log_in_through(&client, "/login").await;
    let response = browse_same_origin(&client, "/logout").await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/");
    assert!(!still_logged_in(&client).await);
    assert_eq!(op.hits("/logout"), 0);
    // Both revocations were tried, failed (404), and did not block the logout.
    assert_eq!(op.hits("/broken-revocation"), 2);
}

#[rocket::async_test]
async fn a_wrong_missing_or_replayed_logout_state_never_redirects() {
    let (op, client) = logged_in_with_fake().await;
    let response = browse_same_origin(&client, "/logout").await;
    let end_session = location(&response);
    assert!(
        end_session.starts_with(&format!("{}/logout?", op.issuer)),
        "{end_session}"
    );
    let state = param(&end_session, "state").unwrap();

    for uri in [
        "/logout/callback".to_string(),
        "/logout/callback?state=wrong".to_string(),
        "/logout/callback?state=x&post_logout_redirect_uri=https%3A%2F%2Fevil.example".to_string(),
    ] {
        let response = browse(&client, &uri).await;
        assert_eq!(response.status(), Status::Ok, "{uri}");
        assert!(response.headers().get_one("Location").is_none(), "{uri}");
        assert!(response.into_string().await.unwrap().contains("logged out"));
    }
    // The wrong tries consumed the logout's state cookie: even the right state no longer
    // redirects (single use).
    let response = browse(&client, &format!("/logout/callback?state={state}")).await;
    assert_eq!(response.status(), Status::Ok);
    assert!(response.headers().get_one("Location").is_none());
}

#[rocket::async_test]
async fn the_right_logout_state_lands_once_on_the_configured_page() {
    let op = FakeOp::start().await;
    let client = TestApp::quickstart()
        .provider(&op)
        .oidc("post_logout_path = \"/whoami\"")
        .start()
        .await;
    log_in_through(&client, "/login").await;
    let end_session = location(&browse_same_origin(&client, "/logout").await);
    let response = provider_browser().get(&end_session).send().await.unwrap();
    let back = response.headers()["location"].to_str().unwrap().to_string();
    let response = browse(&client, &path_and_query(&back)).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/whoami");
    let replay = browse(&client, &path_and_query(&back)).await;
    assert_eq!(
        replay.status(),
        Status::Ok,
        "a replayed return does not redirect"
    );
}

#[rocket::async_test]
async fn a_cross_site_get_asks_for_confirmation_instead_of_logging_out() {
    let (_op, client) = logged_in_with_fake().await;
    for header in [
        Header::new("Sec-Fetch-Site", "cross-site"),
        Header::new("Sec-Fetch-Site", "same-site"),
        Header::new("Origin", "https://evil.example"),
    ] {
        let response = client
            .get("/logout")
            .header(Accept::HTML)
            .header(header.clone())
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Ok, "{header}");
        let page = response.into_string().await.unwrap();
        assert!(
            page.contains("<form method=\"post\" action=\"/logout\">"),
            "{page}"
        );
        assert!(still_logged_in(&client).await, "{header}: no logout");
    }
}

#[rocket::async_test]
async fn a_cross_site_post_is_refused_and_a_same_origin_post_logs_out() {
    let (_op, client) = logged_in_with_fake().await;
    let response = client
        .post("/logout")
        .header(Header::new("Origin", "https://evil.example"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Forbidden);
    assert_eq!(
        json(&response.into_string().await.unwrap())["error"],
        "cross_site_request"
    );
    assert!(still_logged_in(&client).await);

    let response = client
        .post("/logout")
        .header(Header::new("Origin", "http://127.0.0.1:8000"))
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
    assert!(!still_logged_in(&client).await);
}

oidc_provider!(Second = "second");

#[rocket::get("/second")]
fn second(user: Authenticated<Second>) -> String {
    user.subject().to_string()
}

#[rocket::async_test]
async fn logout_can_name_one_provider() {
    let op1 = FakeOp::start().await;
    let op2 = FakeOp::start().await;
    let extra = format!(
        "[default.oidc.providers.second]\nissuer = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"",
        op2.issuer,
        fake_op::CLIENT_ID,
        fake_op::CLIENT_SECRET
    );
    let client = TestApp::quickstart()
        .provider(&op1)
        .toml(&extra)
        .mount("/", rocket::routes![second])
        .start()
        .await;
    log_in_through(&client, "/whoami").await;
    log_in_through(&client, "/second").await;

    let response = browse_same_origin(&client, "/logout?provider=second").await;
    assert_eq!(response.status(), Status::SeeOther);
    assert!(location(&response).starts_with(&op2.issuer));
    assert!(
        still_logged_in(&client).await,
        "the default provider's session stays"
    );
    let second = client.get("/second").header(Accept::JSON).dispatch().await;
    assert_eq!(second.status(), Status::Unauthorized);

    let response = browse_same_origin(&client, "/logout?provider=nope").await;
    assert_eq!(response.status(), Status::BadRequest);

    let response = browse_same_origin(&client, "/logout").await;
    assert!(location(&response).starts_with(&op1.issuer));
    assert!(!still_logged_in(&client).await);
}

#[rocket::post("/sign-out")]
fn sign_out(logout: Logout) -> Logout {
    logout
}

#[rocket::post("/sign-out-here")]
fn sign_out_here(_logout: Logout) -> &'static str {
    "signed out here"
}

#[rocket::async_test]
async fn an_app_route_can_log_out_with_the_logout_guard() {
    let op = FakeOp::start().await;
    let rocket = TestApp::quickstart()
        .provider(&op)
        .rocket()
        .mount("/", rocket::routes![sign_out, sign_out_here]);
    let client = Client::tracked(rocket).await.unwrap();
    log_in_through(&client, "/login").await;

    let refused = client
        .post("/sign-out")
        .header(Header::new("Sec-Fetch-Site", "cross-site"))
        .dispatch()
        .await;
    assert_eq!(refused.status(), Status::Forbidden);
    assert!(still_logged_in(&client).await);

    let response = client
        .post("/sign-out")
        .header(Header::new("Origin", "http://127.0.0.1:8000"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
    assert!(location(&response).starts_with(&format!("{}/logout?", op.issuer)));
    assert!(!still_logged_in(&client).await);

    log_in_through(&client, "/login").await;
    let response = client
        .post("/sign-out-here")
        .header(Header::new("Origin", "http://127.0.0.1:8000"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.into_string().await.unwrap(), "signed out here");
    assert!(!still_logged_in(&client).await);
}

/// A provider that lists its revocation endpoint only in its RFC 8414 metadata (Django OAuth
/// Toolkit): the logout still revokes the tokens there.
#[rocket::async_test]
async fn a_revocation_endpoint_only_in_rfc8414_metadata_is_used() {
    let op = FakeOp::start().await;
    op.set(|b| b.oauth_metadata = true);
    let client = TestApp::quickstart().provider(&op).start().await;
    log_in_through(&client, "/login").await;
    client
        .post("/logout")
        .header(header("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(op.hits("/revoke"), 2, "the refresh and the access token");
    let request = op.last_request("/revoke").unwrap();
    assert_eq!(request.form_params()["token_type_hint"], "access_token");
}

/// An endpoint set in `[providers.<name>.endpoints]` replaces (or adds to) the provider's
/// metadata.
#[rocket::async_test]
async fn a_configured_endpoint_overrides_discovery() {
    let op = FakeOp::start().await;
    let client = TestApp::quickstart()
        .provider(&op)
        .provider_table(&format!(
            "[default.oidc.providers.default.endpoints]\nrevocation_endpoint = \"{}/revoke\"",
            op.issuer
        ))
        .start()
        .await;
    log_in_through(&client, "/login").await;
    client
        .post("/logout")
        .header(header("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(op.hits("/revoke"), 2, "revoked at the configured endpoint");
    // Without either, nothing is revoked (the fake provider's OpenID document lists none).
    let (op, client) = logged_in_with_fake().await;
    client
        .post("/logout")
        .header(header("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(op.hits("/revoke"), 0);
}

/// Without Fetch Metadata (older browsers, webviews), `Origin` and then `Referer` decide; a
/// request that says nothing gets the confirmation page, never a logout (OWASP CSRF).
#[rocket::async_test]
async fn without_fetch_metadata_origin_and_referer_decide() {
    let (_op, client) = logged_in_with_fake().await;
    let get = |headers: Vec<Header<'static>>| {
        let mut request = client.get("/logout").header(Accept::HTML);
        for header in headers {
            request = request.header(header);
        }
        request
    };
    let confirmation = |page: &str| page.contains("<form method=\"post\" action=\"/logout\">");
    for (case, headers) in [
        ("no header at all", vec![]),
        (
            "a cross-site Referer",
            vec![Header::new("Referer", "https://evil.example/page")],
        ),
        ("Origin null", vec![Header::new("Origin", "null")]),
    ] {
        let response = get(headers).dispatch().await;
        assert_eq!(response.status(), Status::Ok, "{case}");
        assert!(
            confirmation(&response.into_string().await.unwrap()),
            "{case}"
        );
        assert!(still_logged_in(&client).await, "{case}: not logged out");
    }
    let refused = client
        .post("/logout")
        .header(Header::new("Referer", "https://evil.example/page"))
        .dispatch()
        .await;
    assert_eq!(
        refused.status(),
        Status::Forbidden,
        "a cross-site POST by Referer"
    );
    let unknown = client.post("/logout").dispatch().await;
    assert_eq!(
        unknown.status(),
        Status::Ok,
        "a POST that says nothing is asked again"
    );
    assert!(still_logged_in(&client).await);
    let response = get(vec![Header::new(
        "Referer",
        "http://127.0.0.1:8000/somewhere",
    )])
    .dispatch()
    .await;
    assert_eq!(
        response.status(),
        Status::SeeOther,
        "a same-origin Referer logs out"
    );
    assert!(!still_logged_in(&client).await);
}

/// `GET //logout` (or any path variant) renders a form that posts to the configured
/// logout path, never to another host; the return's cookie is removed at its configured
/// path.
#[rocket::async_test]
async fn the_confirmation_form_posts_to_the_configured_path() {
    let (_op, client) = logged_in_with_fake().await;
    let response = client
        .get("//logout?provider=default")
        .header(Accept::HTML)
        .header(Header::new("Sec-Fetch-Site", "cross-site"))
        .dispatch()
        .await;
    assert_eq!(
        response.status(),
        Status::Ok,
        "Rocket routes //logout to the logout route"
    );
    let page = response.into_string().await.unwrap();
    assert!(
        page.contains("action=\"/logout?provider=default\""),
        "the action comes from the configuration: {page}"
    );
    assert!(!page.contains("action=\"//"), "{page}");
    let back = client.get("//logout/callback?state=x").dispatch().await;
    let removals: Vec<String> = set_cookies(&back)
        .into_iter()
        .filter(|c| c.starts_with("oidc_logout="))
        .collect();
    assert_eq!(removals.len(), 1, "{removals:?}");
    assert!(
        removals[0].contains("Path=/logout/callback"),
        "{}",
        removals[0]
    );
}

/// A revocation endpoint that hangs holds a logout back for a bounded time in all (not per
/// token, not per provider), and the logout still ends the session.
#[rocket::async_test]
async fn a_hung_revocation_endpoint_delays_the_logout_a_bounded_time() {
    let op = FakeOp::start().await;
    op.set(|b| {
        b.oauth_metadata = true;
        b.revoke_hangs = true;
    });
    let client = TestApp::quickstart()
        .provider(&op)
        .oidc("http_timeout = 30")
        .start()
        .await;
    log_in_through(&client, "/login").await;
    let started = std::time::Instant::now();
    let response = browse_same_origin(&client, "/logout").await;
    assert_eq!(response.status(), Status::SeeOther);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(4800),
        "the logout waited {:?}",
        started.elapsed()
    );
    assert!(!still_logged_in(&client).await);
}

/// Two providers that are two clients of one issuer: a front-channel logout from that
/// issuer ends the session of whichever client it names by `sid` (the cookie comes, as
/// in a same-site frame), not only the first configured one's.
#[rocket::async_test]
async fn a_front_channel_logout_reaches_every_client_of_its_issuer() {
    let op = FakeOp::start().await;
    op.set(|b| {
        b.id_token_claims
            .insert("sid".into(), serde_json::json!("shared-op-session"));
    });
    let extra = format!(
        "[default.oidc.providers.second]\nissuer = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"",
        op.issuer,
        fake_op::CLIENT_ID,
        fake_op::CLIENT_SECRET
    );
    let client = TestApp::quickstart()
        .provider(&op)
        .toml(&extra)
        .mount("/", rocket::routes![second])
        .start()
        .await;
    // Only the second provider (listed after the default one) has a session.
    log_in_through(&client, "/second").await;
    assert!(!still_logged_in(&client).await);
    let framed = format!(
        "/logout/frontchannel?iss={}&sid=shared-op-session",
        op.issuer
    );
    let response = client.get(framed).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let second = client.get("/second").header(Accept::JSON).dispatch().await;
    assert_eq!(
        second.status(),
        Status::Unauthorized,
        "the second client's session ended"
    );
}
