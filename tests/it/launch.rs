//! Launch-time checks: every configuration mistake stops launch, and guards for a missing
//! fairing or provider abort it (Rocket sentinels).

use crate::common::app::{secret_key, TestApp};
use crate::common::fake_op::{self, FakeOp};
use rocket::error::ErrorKind;
use rocket::figment::providers::{Format, Toml};
use rocket::figment::Figment;
use rocket::local::asynchronous::Client;
use rocket_oidc_auth::provider::Default;
use rocket_oidc_auth::{
    oidc_provider, Authenticated, Bearer, BearerOrSession, ClientCredentials, Login, Logout,
    OidcFairing,
};

oidc_provider!(Google = "google");

#[rocket::get("/default")]
fn default_route(user: Authenticated<Default>) -> String {
    user.subject().to_string()
}

#[rocket::get("/google")]
fn google_route(user: Authenticated<Google>) -> String {
    user.subject().to_string()
}

fn raw(toml: &str) -> Figment {
    Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "critical"))
        .merge(("secret_key", secret_key()))
        .merge(Toml::string(toml).nested())
}

async fn launch_error(figment: Figment) -> rocket::Error {
    let rocket = rocket::custom(figment)
        .attach(OidcFairing::from_config())
        .mount("/", rocket::routes![default_route]);
    match Client::untracked(rocket).await {
        Ok(_) => panic!("launch should fail"),
        Err(e) => e,
    }
}

fn assert_failed_fairing(error: rocket::Error) {
    match error.kind() {
        ErrorKind::FailedFairings(fairings) => {
            assert_eq!(fairings[0].name, "OpenID Connect");
        }
        other => panic!("expected a failed fairing, got {other:?}"),
    }
}

const PROVIDER: &str = r#"
[default.oidc.providers.default]
issuer = "http://127.0.0.1:1"
client_id = "app"
client_secret = "secret"
"#;

#[rocket::async_test]
async fn no_oidc_table_stops_launch() {
    assert_failed_fairing(launch_error(raw("[default]\nport = 8000")).await);
}

#[rocket::async_test]
async fn no_redirect_uri_stops_launch() {
    assert_failed_fairing(launch_error(raw(PROVIDER)).await);
}

#[rocket::async_test]
async fn each_bad_setting_stops_launch() {
    let cases = [
        ("redirect_uri = \"http://app.example.com/cb\"", ""),
        ("redirect_uri = \"relative/cb\"", ""),
        ("redirect_uri = \"http://127.0.0.1:8000/\"", ""),
        (
            "redirect_uri = \"http://127.0.0.1:8000/cb\"",
            "userinfo_http_method = \"PATCH\"",
        ),
        (
            "redirect_uri = \"http://127.0.0.1:8000/cb\"",
            "scope = [\"email\"]",
        ),
        (
            "redirect_uri = \"http://127.0.0.1:8000/cb\"",
            "client_id = \"\"",
        ),
        (
            "redirect_uri = \"http://127.0.0.1:8000/cb\"",
            "colour = \"blue\"",
        ),
        (
            "redirect_uri = \"http://127.0.0.1:8000/cb\"",
            "auth_request_params = { nonce = \"fixed\" }",
        ),
        (
            "redirect_uri = \"http://127.0.0.1:8000/cb\"\nclock_skew = \"lots\"",
            "",
        ),
    ];
    for (oidc, provider) in cases {
        let toml = format!("[default.oidc]\n{oidc}\n{PROVIDER}{provider}\n").replace(
            "client_id = \"app\"\n",
            if provider.starts_with("client_id") {
                ""
            } else {
                "client_id = \"app\"\n"
            },
        );
        assert_failed_fairing(launch_error(raw(&toml)).await);
    }
}

#[rocket::async_test]
async fn an_http_issuer_off_loopback_stops_launch() {
    let toml = "[default.oidc]\nredirect_uri = \"http://127.0.0.1:8000/cb\"\n[default.oidc.providers.default]\nissuer = \"http://op.example.com\"\nclient_id = \"a\"\nclient_secret = \"s\"";
    assert_failed_fairing(launch_error(raw(toml)).await);
}

#[rocket::async_test]
async fn a_misspelt_localhost_issuer_stops_launch() {
    let toml = "[default.oidc]\nredirect_uri = \"http://127.0.0.1:8000/cb\"\n[default.oidc.providers.default]\nissuer = \"http://locahlost:3000\"\nclient_id = \"a\"\nclient_secret = \"s\"";
    assert_failed_fairing(launch_error(raw(toml)).await);
}

/// A provider whose host does not exist (`.invalid` never resolves, RFC 6761).
const NO_SUCH_HOST: &str = "[default.oidc]\nredirect_uri = \"http://127.0.0.1:8000/cb\"\n[default.oidc.providers.default]\nissuer = \"https://accounts.gogle.invalid\"\nclient_id = \"a\"\nclient_secret = \"s\"";

#[rocket::async_test]
async fn a_provider_host_that_does_not_exist_stops_launch_outside_release() {
    assert_failed_fairing(launch_error(raw(NO_SUCH_HOST)).await);
}

#[rocket::async_test]
async fn in_release_a_provider_host_that_does_not_exist_is_retried() {
    // DNS may lag while a machine boots: release launches, and logins retry.
    let figment = Figment::from(rocket::Config::release_default())
        .select(rocket::Config::RELEASE_PROFILE)
        .merge(("log_level", "critical"))
        .merge(("secret_key", secret_key()))
        .merge(Toml::string(NO_SUCH_HOST).nested());
    let rocket = rocket::custom(figment)
        .attach(OidcFairing::from_config())
        .mount("/", rocket::routes![default_route]);
    let client = Client::untracked(rocket).await.expect("release launches");
    // A browser is sent to log in, which needs the provider: 503, try again later.
    let response = client
        .get("/default")
        .header(rocket::http::Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(response.status(), rocket::http::Status::ServiceUnavailable);
}

#[rocket::async_test]
async fn a_malformed_secret_key_stops_launch() {
    let toml = format!("[default.oidc]\nredirect_uri = \"http://127.0.0.1:8000/cb\"\n{PROVIDER}");
    let error = launch_error(raw(&toml).merge(("secret_key", "too-short"))).await;
    // Rocket itself refuses the key before the fairing runs, or the fairing does.
    let kind = error.kind();
    assert!(
        matches!(kind, ErrorKind::Config(_) | ErrorKind::FailedFairings(_)),
        "{kind:?}"
    );
}

#[rocket::async_test]
async fn static_metadata_without_a_token_endpoint_stops_launch() {
    let toml = r#"
[default.oidc]
redirect_uri = "http://127.0.0.1:8000/cb"
[default.oidc.providers.default]
client_id = "a"
client_secret = "s"
[default.oidc.providers.default.provider_metadata]
issuer = "https://op.example.com"
authorization_endpoint = "https://op.example.com/auth"
jwks_uri = "https://op.example.com/jwks"
"#;
    assert_failed_fairing(launch_error(raw(toml)).await);
}

#[rocket::async_test]
async fn a_guard_for_an_unconfigured_provider_aborts_launch() {
    let op = FakeOp::start().await;
    let rocket = TestApp::bare()
        .provider(&op)
        .mount("/", rocket::routes![default_route, google_route])
        .rocket();
    let error = Client::untracked(rocket)
        .await
        .expect_err("launch should fail");
    assert!(
        matches!(error.kind(), ErrorKind::SentinelAborts(_)),
        "{:?}",
        error.kind()
    );
}

#[rocket::async_test]
async fn a_guard_without_the_fairing_aborts_launch() {
    let rocket = rocket::custom(raw("")).mount("/", rocket::routes![default_route]);
    let error = Client::untracked(rocket)
        .await
        .expect_err("launch should fail");
    assert!(
        matches!(error.kind(), ErrorKind::SentinelAborts(_)),
        "{:?}",
        error.kind()
    );
}

#[rocket::get("/bearer")]
fn bearer_route(token: Bearer<Google>) -> String {
    format!("{:?}", token.subject())
}

#[rocket::get("/either")]
fn either_route(caller: BearerOrSession<Google>) -> String {
    caller.via().to_string()
}

#[rocket::get("/machine")]
fn machine_route(machine: ClientCredentials<Google>) -> String {
    format!("{machine:?}")
}

#[rocket::get("/signin")]
async fn login_route(
    login: Login<Google>,
) -> Result<rocket_oidc_auth::LoginRedirect, rocket_oidc_auth::OidcError> {
    login.redirect().await
}

#[rocket::post("/signout")]
fn logout_route(logout: Logout) -> Logout {
    logout
}

/// Every guard of the crate, each on a route of its own: for provider `google` (the one
/// the app below does not configure), and `Logout`, which needs only the fairing.
fn guard_routes() -> Vec<(&'static str, Vec<rocket::Route>)> {
    vec![
        ("Authenticated", rocket::routes![google_route]),
        ("Bearer", rocket::routes![bearer_route]),
        ("BearerOrSession", rocket::routes![either_route]),
        ("ClientCredentials", rocket::routes![machine_route]),
        ("Login", rocket::routes![login_route]),
        ("Logout", rocket::routes![logout_route]),
    ]
}

#[rocket::async_test]
async fn every_guard_for_an_unconfigured_provider_aborts_launch() {
    let op = FakeOp::start().await;
    for (guard, routes) in guard_routes() {
        let rocket = TestApp::bare().provider(&op).mount("/", routes).rocket();
        let outcome = Client::untracked(rocket).await;
        if guard == "Logout" {
            // Logout names no provider: with the fairing, it launches.
            assert!(outcome.is_ok(), "Logout with the fairing should launch");
            continue;
        }
        let error = outcome.expect_err(guard);
        assert!(
            matches!(error.kind(), ErrorKind::SentinelAborts(_)),
            "{guard}: {:?}",
            error.kind()
        );
    }
}

#[rocket::async_test]
async fn every_guard_without_the_fairing_aborts_launch() {
    for (guard, routes) in guard_routes() {
        let rocket = rocket::custom(raw("")).mount("/", routes);
        let error = Client::untracked(rocket).await.expect_err(guard);
        assert!(
            matches!(error.kind(), ErrorKind::SentinelAborts(_)),
            "{guard}: {:?}",
            error.kind()
        );
    }
}

#[rocket::async_test]
async fn static_provider_metadata_needs_no_discovery() {
    let op = FakeOp::start().await;
    let issuer = &op.issuer;
    let toml = format!(
        r#"
[default.oidc]
redirect_uri = "http://127.0.0.1:8000/redirect_uri"
[default.oidc.providers.default]
client_id = "{}"
client_secret = "{}"
[default.oidc.providers.default.provider_metadata]
issuer = "{issuer}"
authorization_endpoint = "{issuer}/authorize"
token_endpoint = "{issuer}/token"
jwks_uri = "{issuer}/jwks"
userinfo_endpoint = "{issuer}/userinfo"
id_token_signing_alg_values_supported = ["RS256"]
authorization_response_iss_parameter_supported = true
"#,
        fake_op::CLIENT_ID,
        fake_op::CLIENT_SECRET
    );
    let client = TestApp::quickstart().config(raw(&toml)).start().await;
    let response = crate::common::app::log_in_at_once(&client, "/login").await;
    assert_eq!(response.status(), rocket::http::Status::SeeOther);
    assert_eq!(op.hits("/.well-known/openid-configuration"), 0);
    let whoami = client.get("/whoami").dispatch().await;
    assert_eq!(whoami.into_string().await.unwrap(), "alice");
}

#[rocket::get("/redirect_uri")]
fn my_callback() -> &'static str {
    "mine"
}

/// An app route on the callback's path stops launch with the crate's own message (which key
/// to change), before Rocket's collision report would suggest ranks.
#[rocket::async_test]
async fn an_app_route_on_the_callback_path_stops_launch() {
    let figment = raw(&format!(
        "[default.oidc]\nredirect_uri = \"http://127.0.0.1:8000/redirect_uri\"\n{PROVIDER}"
    ));
    let rocket = rocket::custom(figment)
        .attach(OidcFairing::from_config())
        .mount("/", rocket::routes![default_route, my_callback]);
    match Client::untracked(rocket).await {
        Ok(_) => panic!("launch should fail"),
        Err(error) => assert_failed_fairing(error),
    }
}

/// The quickstart's launch against the fake provider with `issuer` (its own, or a variant).
async fn launch_with_issuer(op: &FakeOp, issuer: &str) -> Result<Client, rocket::Error> {
    let _ = op;
    Client::untracked(
        TestApp::quickstart()
            .issuer(issuer)
            .client(fake_op::CLIENT_ID, fake_op::CLIENT_SECRET)
            .rocket(),
    )
    .await
}

/// A definite answer that can never become right stops launch: an issuer with a trailing
/// slash (the document names it without), a wrong path (404), a page that is not JSON.
#[rocket::async_test]
async fn a_permanent_provider_mistake_stops_launch() {
    let op = FakeOp::start().await;
    for issuer in [format!("{}/", op.issuer), format!("{}/wrong", op.issuer)] {
        match launch_with_issuer(&op, &issuer).await {
            Ok(_) => panic!("{issuer} should stop launch"),
            Err(error) => assert_failed_fairing(error),
        }
    }
    op.set(|b| b.discovery_status = Some(200));
    match launch_with_issuer(&op, &op.issuer).await {
        Ok(_) => panic!("a discovery page that is not JSON should stop launch"),
        Err(error) => assert_failed_fairing(error),
    }
}

/// A provider that fails for now (5xx, 429, down) does not stop launch: logins retry it.
#[rocket::async_test]
async fn a_passing_provider_failure_does_not_stop_launch() {
    let op = FakeOp::start().await;
    for status in [500, 503, 429] {
        op.set(|b| b.discovery_status = Some(status));
        if let Err(error) = launch_with_issuer(&op, &op.issuer).await {
            panic!("status {status} is passing, yet launch failed: {error}");
        }
    }
    if let Err(error) = launch_with_issuer(&op, "http://127.0.0.1:1").await {
        panic!("a provider that is down is passing, yet launch failed: {error}");
    }
}

const PUBLISHED_KEY: &str = "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=";

fn with_published_key(oidc_extra: &str) -> Figment {
    raw(&format!(
        "[default.oidc]\nredirect_uri = \"http://127.0.0.1:8000/redirect_uri\"\n{oidc_extra}\n\
         [default.oidc.providers.default]\nclient_id = \"app\"\nclient_secret = \"secret\"\n\
         [default.oidc.providers.default.provider_metadata]\nissuer = \"http://127.0.0.1:1\"\n\
         authorization_endpoint = \"http://127.0.0.1:1/authorize\"\n\
         token_endpoint = \"http://127.0.0.1:1/token\"\njwks_uri = \"http://127.0.0.1:1/jwks\"\n"
    ))
    .merge(("secret_key", PUBLISHED_KEY))
}

/// Rocket's published example key stops launch (Rocket only warns): sessions sealed with
/// it could be forged by anyone.
#[rocket::async_test]
async fn rockets_published_secret_key_stops_launch() {
    assert_failed_fairing(launch_error(with_published_key("")).await);
    // A throwaway debug setup may allow it explicitly, never the release profile.
    let allowed = with_published_key("dangerously_allow_published_secret_key = true");
    let rocket = rocket::custom(allowed.clone())
        .attach(OidcFairing::from_config())
        .mount("/", rocket::routes![default_route]);
    if let Err(error) = Client::untracked(rocket).await {
        panic!("allowed in debug, yet launch failed: {error}");
    }
    let release = allowed.select(rocket::Config::RELEASE_PROFILE);
    assert_failed_fairing(launch_error(release).await);
}
