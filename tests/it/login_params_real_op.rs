//! Logins a route starts with parameters of its own (`Login`): a login hint, more scopes,
//! `max_age`, a step-up `acr_values` checked in the ID token; state, nonce and PKCE as on
//! every login. Against the real test provider.

use crate::common::app::*;
use crate::common::clients::{callback_after, logs_in_at, APP};
use crate::common::node_op::{through_provider, AtProvider, NodeOp, CLIENT_ID, CLIENT_SECRET};
use rocket::get;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket_oidc_auth::provider::Default;
use rocket_oidc_auth::{Login, LoginRedirect, OidcError};

#[get("/step-up")]
async fn step_up(login: Login<Default>) -> Result<LoginRedirect, OidcError> {
    login
        .acr_values(["urn:test:silver"])
        .prompt("login")
        .return_to("/login")
        .redirect()
        .await
}

#[get("/hint?<email>")]
async fn hint(login: Login<Default>, email: &str) -> Result<LoginRedirect, OidcError> {
    login
        .login_hint(email)
        .scope("profile")
        .max_age(600)
        .return_to("/login")
        .redirect()
        .await
}

#[get("/bad")]
async fn bad(login: Login<Default>) -> Result<LoginRedirect, OidcError> {
    login.prompt("sometimes").redirect().await
}

async fn app(app: TestApp) -> Client {
    app.mount("/t", rocket::routes![step_up, hint, bad])
        .start()
        .await
}

fn provider(extra: &str) -> String {
    format!("client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n{extra}")
}

/// Starts a login at `uri`; returns the provider URL it redirects to.
async fn started(client: &Client, uri: &str) -> String {
    let response = browse(client, uri).await;
    assert_eq!(response.status(), Status::SeeOther, "{uri} starts a login");
    location(&response)
}

#[rocket::async_test]
async fn a_step_up_asks_for_acr_values_and_checks_the_answer() {
    let op = NodeOp::start(&[("OP_ACR_VALUES", "urn:test:bronze,urn:test:silver")]);
    let client = app(TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider("auth_request_params = { prompt = \"consent\" }")))
    .await;
    let first = logs_in_at(&client, &start_login(&client, "/login").await, "alice").await;
    assert_ne!(first["id_token"]["acr"], "urn:test:silver");

    let auth_url = started(&client, "/t/step-up").await;
    assert_eq!(
        param(&auth_url, "acr_values").as_deref(),
        Some("urn:test:silver")
    );
    let prompts: Vec<_> = url::Url::parse(&auth_url)
        .unwrap()
        .query_pairs()
        .filter(|(name, _)| name == "prompt")
        .map(|(_, value)| value.into_owned())
        .collect();
    assert_eq!(
        prompts,
        ["login"],
        "the route's prompt replaces the configured one"
    );
    for kept in ["state", "nonce", "code_challenge", "code_challenge_method"] {
        assert!(param(&auth_url, kept).is_some(), "{kept} is always there");
    }
    let (callback, login_pages) = through_provider(
        &provider_browser(),
        &auth_url,
        APP,
        AtProvider::LogIn("alice"),
    )
    .await;
    assert_eq!(login_pages, 1, "prompt=login asks again");
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/login");
    let body = json(&browse(&client, "/login").await.into_string().await.unwrap());
    assert_eq!(body["id_token"]["acr"], "urn:test:silver");
}

#[rocket::async_test]
async fn an_id_token_without_the_asked_acr_is_refused() {
    let op = NodeOp::start(&[("OP_ACR_VALUES", "urn:test:bronze")]);
    let client = app(TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider("")))
    .await;
    let auth_url = started(&client, "/t/step-up").await;
    let response = callback_after(&client, &auth_url, "bob").await;
    assert_eq!(response.status(), Status::Unauthorized);
    let body = json(&response.into_string().await.unwrap());
    assert_eq!(body["error"], "invalid_id_token");
}

#[rocket::async_test]
async fn a_login_hint_more_scopes_and_max_age_reach_the_provider() {
    let op = NodeOp::start(&[]);
    let client = app(TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider("")))
    .await;
    let auth_url = started(&client, "/t/hint?email=carol%40example.com").await;
    assert_eq!(
        param(&auth_url, "login_hint").as_deref(),
        Some("carol@example.com")
    );
    assert_eq!(
        param(&auth_url, "scope").as_deref(),
        Some("openid email profile")
    );
    assert_eq!(param(&auth_url, "max_age").as_deref(), Some("600"));
    let body = logs_in_at(&client, &auth_url, "carol").await;
    assert_eq!(
        body["userinfo"]["name"], "Test User carol",
        "the profile scope was granted"
    );
    assert!(
        body["id_token"]["auth_time"].is_i64(),
        "max_age makes auth_time come"
    );
}

#[rocket::async_test]
async fn a_value_the_route_may_not_give_answers_through_the_catcher() {
    let op = NodeOp::start(&[]);
    let client = app(TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider("")))
    .await;
    let response = browse(&client, "/t/bad").await;
    assert_eq!(response.status(), Status::InternalServerError);
    let body = json(&response.into_string().await.unwrap());
    assert_eq!(body["error"], "server_error");
    assert_eq!(op.hits("/auth").await, 0);
}
