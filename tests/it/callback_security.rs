//! The login flow against a provider that misbehaves on purpose: every bad ID token, bad
//! callback and bad provider answer ends in an error for the catcher, with no session.

use crate::common::app::{self, TestApp, *};
use crate::common::fake_op::{self, CallbackIss, FakeOp, Signing, TokenResponse};
use crate::support::*;
use rocket::http::{Accept, Cookie, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

/// The fake OP answers /authorize at once: the URL of the callback it sent the browser to.
async fn authorize(auth_url: &str) -> String {
    authorize_at_once(auth_url).await
}

/// The catcher got an OidcError with this code.
fn assert_error(status: Status, body: &str, expected_status: Status, expected_error: &str) {
    assert_eq!(status, expected_status, "body: {body}");
    let body = json(body);
    assert_eq!(body["error"], expected_error, "body: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a description: {body}"
    );
}

#[rocket::async_test]
async fn a_good_login_sets_a_session_and_returns_to_the_page() {
    let (op, client) = setup().await;
    let auth_url = start_login(&client, "/login").await;
    let callback = authorize(&auth_url).await;
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/login");
    let response = browse(&client, "/login").await;
    assert_eq!(
        response.headers().get_one("Cache-Control"),
        Some("no-store"),
        "no cache keeps a logged-in page"
    );
    let body = json(&response.into_string().await.unwrap());
    assert_eq!(body["id_token"]["sub"], "alice");
    assert_eq!(body["userinfo"]["email"], "alice@example.com");
    assert_eq!(op.hits("/token"), 1);
    let public = client.get("/").dispatch().await;
    assert_eq!(
        public.headers().get_one("Cache-Control"),
        None,
        "public pages untouched"
    );
    assert_eq!(op.hits("/userinfo"), 1);
}

/// One test per row, named by it: `name: Refusal { .. };`.
macro_rules! refusals {
    ($($name:ident: $case:expr;)*) => {$(
        #[rocket::async_test]
        async fn $name() {
            assert_refused(stringify!($name), $case).await;
        }
    )*};
}

refusals! {
    refuses_a_missing_aud: Refusal {
        misbehave: |op| set_claim(op, "aud", Value::Null),
        detail: "aud",
        ..BAD_ID_TOKEN
    };
    refuses_an_untrusted_extra_audience: Refusal {
        misbehave: |op| {
            set_claim(op, "aud", json!([fake_op::CLIENT_ID, "someone-else"]));
            set_claim(op, "azp", json!(fake_op::CLIENT_ID));
        },
        detail: "someone-else",
        ..BAD_ID_TOKEN
    };
    refuses_a_bad_azp: Refusal {
        misbehave: |op| set_claim(op, "azp", json!("someone-else")),
        detail: "azp",
        ..BAD_ID_TOKEN
    };
    refuses_an_expired_token: Refusal {
        misbehave: |op| {
            let past = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
            set_claim(op, "exp", json!(past));
            set_claim(op, "iat", json!(past - 300));
        },
        detail: "expired",
        ..BAD_ID_TOKEN
    };
    refuses_an_iat_in_the_future: Refusal {
        misbehave: |op| {
            let future = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
            set_claim(op, "iat", json!(future));
            set_claim(op, "exp", json!(future + 300));
        },
        detail: "future",
        ..BAD_ID_TOKEN
    };
    refuses_a_missing_exp: Refusal {
        misbehave: |op| set_claim(op, "exp", Value::Null),
        detail: "exp",
        ..BAD_ID_TOKEN
    };
    refuses_a_missing_nonce: Refusal {
        misbehave: |op| set_claim(op, "nonce", Value::Null),
        detail: "nonce",
        ..BAD_ID_TOKEN
    };
    refuses_a_wrong_at_hash: Refusal {
        misbehave: |op| set_claim(op, "at_hash", json!("AAAAAAAAAAAAAAAAAAAAAA")),
        detail: "at_hash",
        ..BAD_ID_TOKEN
    };
    refuses_hs256_signed_with_the_public_key: Refusal {
        misbehave: |op| op.set(|b| b.signing = Signing::Hs256WithPublicKey),
        detail: "alg",
        ..BAD_ID_TOKEN
    };
    refuses_a_token_signed_by_another_key: Refusal {
        misbehave: |op| op.set(|b| b.signing = Signing::OtherKey),
        detail: "signature",
        ..BAD_ID_TOKEN
    };
    a_failing_userinfo_endpoint_is_a_bad_gateway: Refusal {
        misbehave: |op| op.set(|b| b.userinfo_status = Some(500)),
        status: Status::BadGateway,
        error: "bad_provider_response",
        not_called: &[],
        ..BAD_ID_TOKEN
    };
    a_callback_from_another_issuer_is_refused: Refusal {
        misbehave: |op| op.set(|b| b.callback_iss = CallbackIss::Wrong),
        status: Status::BadRequest,
        error: "invalid_issuer",
        not_called: &["/token"],
        ..BAD_ID_TOKEN
    };
    a_callback_without_iss_is_refused_when_the_provider_advertises_it: Refusal {
        misbehave: |op| op.set(|b| b.callback_iss = CallbackIss::Missing),
        status: Status::BadRequest,
        error: "invalid_issuer",
        not_called: &["/token"],
        ..BAD_ID_TOKEN
    };
    a_token_endpoint_error_reaches_the_catcher: Refusal {
        misbehave: |op| {
            op.set(|b| b.token_response = TokenResponse::OAuthError("invalid_grant".into()))
        },
        status: Status::BadRequest,
        error: "invalid_grant",
        ..BAD_ID_TOKEN
    };
    a_token_endpoint_500_is_a_bad_gateway: Refusal {
        misbehave: |op| op.set(|b| b.token_response = TokenResponse::ServerError),
        status: Status::BadGateway,
        error: "bad_provider_response",
        ..BAD_ID_TOKEN
    };
    a_token_response_without_id_token_is_refused: Refusal {
        misbehave: |op| op.set(|b| b.token_response = TokenResponse::NoIdToken),
        status: Status::BadGateway,
        error: "bad_provider_response",
        ..BAD_ID_TOKEN
    };
    a_token_endpoint_that_hangs_times_out: Refusal {
        oidc: "http_timeout = 1",
        misbehave: |op| op.set(|b| b.token_response = TokenResponse::Hang),
        status: Status::GatewayTimeout,
        error: "provider_unavailable",
        ..BAD_ID_TOKEN
    };
    access_denied_at_the_provider_reaches_the_catcher: Refusal {
        misbehave: |op| {
            op.set(|b| b.authorize_error = Some(("access_denied".into(), "the user said no".into())))
        },
        status: Status::Forbidden,
        error: "access_denied",
        message: Some("the user said no"),
        not_called: &["/token"],
        ..BAD_ID_TOKEN
    };
}

#[rocket::async_test]
async fn accepts_extra_audiences_listed_as_trusted_with_azp() {
    let (op, client) = setup_with("", "trusted_audiences = [\"api\"]").await;
    set_claim(&op, "aud", json!([fake_op::CLIENT_ID, "api"]));
    set_claim(&op, "azp", json!(fake_op::CLIENT_ID));
    let (status, _) = login(&client).await;
    assert_eq!(status, Status::SeeOther);
    assert!(client.cookies().get(SESSION_COOKIE).is_some());
}

#[rocket::async_test]
async fn an_unknown_kid_refetches_the_jwks_once_then_fails() {
    let (op, client) = setup().await;
    let jwks_before = op.hits("/jwks");
    op.set(|b| b.signing = Signing::UnknownKid);
    let (status, body) = login(&client).await;
    assert_error(status, &body, Status::Unauthorized, "invalid_id_token");
    assert!(detail(&body).contains("nope"), "{body}");
    assert_eq!(op.hits("/jwks"), jwks_before + 1, "exactly one refetch");
}

/// A key the provider removed from its JWKS stops being trusted once the cached keys are
/// due for their scheduled reload (`jwks_max_age_seconds`), without a restart.
#[rocket::async_test]
async fn a_key_the_provider_removed_stops_being_trusted() {
    let (op, client) = setup_with("", "jwks_max_age_seconds = 1").await;
    let (status, _) = login(&client).await;
    assert_eq!(status, Status::SeeOther, "key 1 cached");
    // The provider rotates to key 2 and removes key 1; a token signed with key 1 arrives.
    op.set(|b| {
        b.rotate_keys = true;
        b.signing = Signing::RetiredKey;
    });
    log_out(&client).await;
    let (status, body) = login(&client).await;
    assert_eq!(
        status,
        Status::SeeOther,
        "still trusted while the cache is fresh: {body}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    log_out(&client).await;
    let jwks_before = op.hits("/jwks");
    let (status, body) = login(&client).await;
    assert_error(status, &body, Status::Unauthorized, "invalid_id_token");
    assert!(op.hits("/jwks") > jwks_before, "the keys were reloaded");
    // And the current key works.
    op.set(|b| b.signing = Signing::Good);
    let (status, body) = login(&client).await;
    assert_eq!(status, Status::SeeOther, "{body}");
}

#[rocket::async_test]
async fn userinfo_by_post_sends_the_token_in_the_header_only() {
    let (op, client) = setup_with("", "userinfo_http_method = \"POST\"").await;
    let (status, _) = login(&client).await;
    assert_eq!(status, Status::SeeOther);
    let request = op.last_request("/userinfo").expect("a userinfo call");
    assert_eq!(request.method, "POST");
    assert!(request
        .header("authorization")
        .unwrap()
        .starts_with("Bearer "));
    assert!(request.query.is_empty() && !request.body.contains("access_token"));
}

#[rocket::async_test]
async fn userinfo_none_skips_the_call() {
    let (op, client) = setup_with("", "userinfo_http_method = \"none\"").await;
    let (status, _) = login(&client).await;
    assert_eq!(status, Status::SeeOther);
    assert_eq!(op.hits("/userinfo"), 0);
    let body = json(&browse(&client, "/login").await.into_string().await.unwrap());
    assert_eq!(body["userinfo"], Value::Null);
    assert_eq!(body["id_token"]["sub"], "alice");
}

#[rocket::async_test]
async fn a_callback_with_an_unknown_state_is_refused() {
    let (op, client) = setup().await;
    let auth_url = start_login(&client, "/login").await;
    let callback = authorize(&auth_url).await;
    let state = param(&callback, "state").unwrap();
    let forged_state: String = state.chars().rev().collect();
    let forged = callback.replace(&state, &forged_state);
    let response = browse(&client, &path_and_query(&forged)).await;
    let status = response.status();
    assert_error(
        status,
        &response.into_string().await.unwrap(),
        Status::BadRequest,
        "invalid_state",
    );
    assert_eq!(op.hits("/token"), 0, "no code exchange on a bad state");
    assert_no_session(&client).await;
}

#[rocket::async_test]
async fn a_callback_without_state_or_with_a_malformed_one_is_refused() {
    let (_op, client) = setup().await;
    for uri in [
        "/redirect_uri?code=abc",
        "/redirect_uri?code=abc&state=short",
        "/redirect_uri?state=a&state=b",
    ] {
        let response = browse(&client, uri).await;
        let status = response.status();
        assert_eq!(status, Status::BadRequest, "{uri}");
        let body = json(&response.into_string().await.unwrap());
        assert!(
            body["error"] == "invalid_request" || body["error"] == "invalid_state",
            "{body}"
        );
    }
}

#[rocket::async_test]
async fn a_callback_after_the_login_timeout_is_refused() {
    let (op, client) = setup_with("login_timeout = 1", "").await;
    let auth_url = start_login(&client, "/login").await;
    let callback = authorize(&auth_url).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = browse(&client, &path_and_query(&callback)).await;
    let status = response.status();
    let body = response.into_string().await.unwrap();
    assert_error(status, &body, Status::BadRequest, "invalid_state");
    assert!(detail(&body).contains("login_timeout"), "{body}");
    assert_eq!(op.hits("/token"), 0);
}

#[rocket::async_test]
async fn a_callback_error_with_401_carries_a_challenge() {
    let (op, client) = setup().await;
    set_claim(&op, "aud", json!("someone-else"));
    let auth_url = start_login(&client, "/login").await;
    let callback = authorize(&auth_url).await;
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert!(response.headers().get_one("WWW-Authenticate").is_some());
}

#[rocket::async_test]
async fn a_replayed_callback_is_refused() {
    let (op, client) = setup().await;
    let auth_url = start_login(&client, "/login").await;
    let callback = authorize(&auth_url).await;
    let first = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(first.status(), Status::SeeOther);
    let tx_cookies_left = client
        .cookies()
        .iter()
        .filter(|c| c.name().starts_with("oidc_tx_"))
        .count();
    assert_eq!(tx_cookies_left, 0, "the transaction cookie is consumed");
    let replay = browse(&client, &path_and_query(&callback)).await;
    let status = replay.status();
    assert_error(
        status,
        &replay.into_string().await.unwrap(),
        Status::BadRequest,
        "invalid_state",
    );
    assert_eq!(op.hits("/token"), 1, "the code is exchanged once");
}

/// A provider that sends `iss` only with codes (Django OAuth Toolkit): its error redirects
/// are still refused (RFC 9207), and the message says what the provider answered.
#[rocket::async_test]
async fn an_error_redirect_without_iss_is_refused_and_names_the_providers_error() {
    let (op, client) = setup().await;
    op.set(|b| b.callback_iss = CallbackIss::MissingOnErrors);
    let (status, body) = login(&client).await;
    assert_eq!(status, Status::SeeOther, "a login with iss works: {body}");
    let client = TestApp::quickstart().provider(&op).start().await;
    op.set(|b| b.authorize_error = Some(("access_denied".into(), "the user said no".into())));
    let (status, body) = login(&client).await;
    assert_error(status, &body, Status::BadRequest, "invalid_issuer");
    let message = json(&body)["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("access_denied") && message.contains("the user said no"),
        "{message}"
    );
}

#[rocket::async_test]
async fn a_callback_without_iss_is_accepted_when_the_provider_does_not_advertise_it() {
    let op = FakeOp::start().await;
    op.set(|b| {
        b.advertise_iss_param = false;
        b.callback_iss = CallbackIss::Missing;
    });
    let client = TestApp::quickstart().provider(&op).start().await;
    let (status, body) = login(&client).await;
    assert_eq!(status, Status::SeeOther, "{body}");
}

#[rocket::async_test]
async fn the_authorization_request_carries_pkce_state_and_nonce() {
    let (_op, client) = setup().await;
    let auth_url = start_login(&client, "/login").await;
    assert!(auth_url.starts_with(&format!("{}/authorize?", _op.issuer)));
    assert_eq!(param(&auth_url, "response_type").as_deref(), Some("code"));
    assert_eq!(
        param(&auth_url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        param(&auth_url, "code_challenge").map(|c| c.len()),
        Some(43)
    );
    assert_eq!(param(&auth_url, "state").map(|s| s.len()), Some(43));
    assert_eq!(param(&auth_url, "nonce").map(|s| s.len()), Some(43));
    assert_eq!(
        param(&auth_url, "redirect_uri").as_deref(),
        Some(REDIRECT_URI)
    );
    assert_eq!(
        param(&auth_url, "scope").as_deref(),
        Some("openid email profile")
    );
    // Each login gets fresh values.
    let again = start_login(&client, "/login").await;
    assert_ne!(param(&auth_url, "state"), param(&again, "state"));
    assert_ne!(param(&auth_url, "nonce"), param(&again, "nonce"));
    assert_ne!(
        param(&auth_url, "code_challenge"),
        param(&again, "code_challenge")
    );
}

#[rocket::async_test]
async fn two_logins_in_one_browser_both_succeed_in_any_order() {
    let (_op, client) = setup().await;
    let first = start_login(&client, "/login").await;
    let second = start_login(&client, "/whoami").await;
    let second_callback = authorize(&second).await;
    let first_callback = authorize(&first).await;
    let response = browse(&client, &path_and_query(&second_callback)).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/whoami");
    let response = browse(&client, &path_and_query(&first_callback)).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/login");
}

#[rocket::async_test]
async fn an_api_request_gets_401_with_a_challenge_not_a_redirect() {
    let (op, client) = setup().await;
    let response = client.get("/login").header(Accept::JSON).dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    let challenge = response
        .headers()
        .get_one("WWW-Authenticate")
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");
    assert!(response.headers().get_one("Location").is_none());
    let body = json(&response.into_string().await.unwrap());
    assert_eq!(body["error"], "login_required");
    assert_eq!(op.hits("/authorize"), 0);
}

#[rocket::async_test]
async fn cookies_carry_explicit_attributes() {
    let (_op, client) = setup().await;
    let response = browse(&client, "/login").await;
    let cookies = set_cookies(&response);
    assert_eq!(
        cookies.len(),
        2,
        "the transaction and the list of pending logins: {cookies:?}"
    );
    let tx = cookies
        .iter()
        .find(|c| c.starts_with("oidc_tx_"))
        .unwrap_or_else(|| panic!("a transaction cookie: {cookies:?}"));
    let pending = cookies
        .iter()
        .find(|c| c.starts_with("oidc_pending="))
        .unwrap_or_else(|| panic!("the list of pending logins: {cookies:?}"));
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(
            pending.contains(attribute),
            "{attribute} missing in {pending}"
        );
    }
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/redirect_uri",
        "Max-Age=600",
    ] {
        assert!(tx.contains(attribute), "{attribute} missing in {tx}");
    }
    assert!(!tx.contains("Secure"), "no Secure over http: {tx}");
    let callback = authorize(&location(&response)).await;
    let response = browse(&client, &path_and_query(&callback)).await;
    let cookies = set_cookies(&response);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("oidc_session_default="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=28800"] {
        assert!(
            session.contains(attribute),
            "{attribute} missing in {session}"
        );
    }
    let removal = cookies
        .iter()
        .find(|c| c.starts_with("oidc_tx_"))
        .expect("tx removal");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    // The session is sealed: no token or claim shows in the cookie.
    let sealed_value = session.split(';').next().unwrap().to_string();
    let body = json(&browse(&client, "/login").await.into_string().await.unwrap());
    let access_token = body["access_token"].as_str().unwrap();
    let nonce = body["id_token"]["nonce"].as_str().unwrap();
    assert!(
        !sealed_value.contains(access_token) && !sealed_value.contains(nonce),
        "{sealed_value}"
    );
}

#[rocket::async_test]
async fn cookies_are_secure_when_the_redirect_uri_is_https() {
    let op = FakeOp::start().await;
    let figment = TestApp::quickstart()
        .provider(&op)
        .set("oidc.redirect_uri", "https://app.example.com/redirect_uri");
    let client = figment.start().await;
    let response = browse(&client, "/login").await;
    let cookies = set_cookies(&response);
    assert!(cookies[0].contains("Secure"), "{cookies:?}");
    // `__Host-` names (no sibling subdomain or plain-http page can set them), hence Path=/.
    let tx = cookies
        .iter()
        .find(|c| c.starts_with("__Host-oidc_tx_"))
        .unwrap_or_else(|| panic!("a __Host- transaction cookie: {cookies:?}"));
    assert!(tx.contains("Path=/;") || tx.ends_with("Path=/"), "{tx}");
    assert!(!tx.contains("Domain"), "{tx}");
    let callback = authorize(&location(&response)).await;
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::SeeOther);
    let session = set_cookies(&response)
        .into_iter()
        .find(|c| c.starts_with("__Host-oidc_session_default="))
        .expect("a __Host- session cookie");
    assert!(
        session.contains("Secure") && session.contains("Path=/"),
        "{session}"
    );
    assert_eq!(
        client.get("/whoami").dispatch().await.status(),
        Status::Ok,
        "logged in with the prefixed cookie"
    );
    // A cookie without the prefix (what an attacker on a sibling host could set) is no
    // session at all.
    let injected = client
        .cookies()
        .get("__Host-oidc_session_default")
        .unwrap()
        .value()
        .to_string();
    let response = client
        .get("/whoami")
        .header(Accept::JSON)
        .cookie(Cookie::new("__Host-oidc_session_default", "gone"))
        .cookie(Cookie::new("oidc_session_default", injected))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
}

#[rocket::async_test]
async fn a_session_cookie_for_a_browser_session_has_no_max_age() {
    let (_op, client) = setup_with("session_permanent = false", "").await;
    let (status, _) = login(&client).await;
    assert_eq!(status, Status::SeeOther);
    let session = client.cookies().get(SESSION_COOKIE).unwrap().clone();
    assert!(session.max_age().is_none());
}

#[rocket::async_test]
async fn tampered_truncated_and_foreign_session_cookies_mean_not_logged_in() {
    let (op, client) = setup().await;
    let (status, _) = login(&client).await;
    assert_eq!(status, Status::SeeOther);
    let good = client
        .cookies()
        .get(SESSION_COOKIE)
        .unwrap()
        .value()
        .to_string();

    let mut flipped = good.clone().into_bytes();
    flipped[10] = if flipped[10] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let truncated = good[..good.len() / 2].to_string();
    let plain = r#"{"v":1,"s":"mallory","a":"x","i":"a.b.c","t":9999999999}"#.to_string();
    // A second instance of the app (same secret_key), as on another machine.
    let untracked = Client::untracked(whoami_app(&op.issuer, app::secret_key()))
        .await
        .unwrap();
    // The cookie works there...
    let response = untracked
        .get("/whoami")
        .header(Accept::JSON)
        .cookie(Cookie::new(SESSION_COOKIE, good.clone()))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.into_string().await.unwrap(), "alice");
    // ...and no altered one does.
    for value in [flipped, truncated, plain, String::new(), "%%%".into()] {
        let response = untracked
            .get("/whoami")
            .header(Accept::JSON)
            .cookie(Cookie::new(SESSION_COOKIE, value.clone()))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Unauthorized, "cookie {value:?}");
    }
    // An app with another secret_key cannot open it.
    let foreign = Client::untracked(whoami_app(
        &op.issuer,
        "ZGlmZmVyZW50IGtleSBkaWZmZXJlbnQga2V5IGRpZmY=",
    ))
    .await
    .unwrap();
    let response = foreign
        .get("/whoami")
        .header(Accept::JSON)
        .cookie(Cookie::new(SESSION_COOKIE, good.clone()))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
    // A session cookie moved to another provider's name does not open either.
    let response = untracked
        .get("/whoami")
        .header(Accept::JSON)
        .cookie(Cookie::new("oidc_session_other", good))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
}

fn whoami_app(issuer: &str, secret_key: &str) -> rocket::Rocket<rocket::Build> {
    TestApp::bare()
        .issuer(issuer)
        .client(fake_op::CLIENT_ID, fake_op::CLIENT_SECRET)
        .set("secret_key", secret_key)
        .mount("/", rocket::routes![whoami])
        .rocket()
}

#[rocket::get("/whoami")]
fn whoami(user: rocket_oidc_auth::Authenticated<rocket_oidc_auth::provider::Default>) -> String {
    user.subject().to_string()
}

#[rocket::async_test]
async fn a_login_started_for_a_hostile_path_returns_to_the_root() {
    let op = FakeOp::start().await;
    let client = TestApp::bare()
        .provider(&op)
        .mount("/", rocket::routes![anything])
        .start()
        .await;
    for (asked, expected) in [
        ("//evil.example/x", "/"),
        ("/%5Cevil.example", "/%5Cevil.example"),
        ("/ok/page?x=1", "/ok/page?x=1"),
    ] {
        let auth_url = start_login(&client, asked).await;
        let callback = authorize(&auth_url).await;
        let response = browse(&client, &path_and_query(&callback)).await;
        assert_eq!(response.status(), Status::SeeOther, "{asked}");
        assert_eq!(location(&response), expected, "{asked}");
        log_out(&client).await;
    }
}

#[rocket::get("/<_path..>")]
fn anything(
    _path: std::path::PathBuf,
    user: rocket_oidc_auth::Authenticated<rocket_oidc_auth::provider::Default>,
) -> String {
    user.subject().to_string()
}

#[rocket::async_test]
async fn without_an_app_catcher_rockets_default_error_page_shows() {
    let op = FakeOp::start().await;
    let client = Client::tracked(whoami_app(&op.issuer, app::secret_key()))
        .await
        .unwrap();
    op.set(|b| b.authorize_error = Some(("access_denied".into(), "no".into())));
    let auth_url = start_login(&client, "/whoami").await;
    let callback = authorize(&auth_url).await;
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::Forbidden);
    let page = response.into_string().await.unwrap();
    assert!(page.contains("403"), "{page}");
}

/// What a catcher shows users (`error_description`) names no configuration key, endpoint or
/// host; the developer detail (and the log) does.
#[rocket::async_test]
async fn error_descriptions_are_fit_for_users_and_the_detail_for_developers() {
    type Misbehave = Box<dyn Fn(&mut fake_op::Behaviour)>;
    let cases: Vec<(&str, Misbehave)> = vec![
        (
            "the token endpoint refuses the client",
            Box::new(|b| b.token_response = TokenResponse::OAuthError("invalid_client".into())),
        ),
        (
            "the token endpoint fails",
            Box::new(|b| b.token_response = TokenResponse::ServerError),
        ),
        (
            "a wrong aud",
            Box::new(|b| {
                b.id_token_claims
                    .insert("aud".into(), json!("someone-else"));
            }),
        ),
        (
            "UserInfo fails",
            Box::new(|b| b.userinfo_status = Some(500)),
        ),
    ];
    for (case, behaviour) in cases {
        let (op, client) = setup().await;
        op.set(|b| behaviour(b));
        let (status, body) = login(&client).await;
        assert!(status.code >= 400, "{case}: {body}");
        let parsed = json(&body);
        let message = parsed["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{case}: {body}");
        for internal in ["oidc.", "http://", "127.0.0.1", "provider \"default\""] {
            assert!(
                !message.contains(internal),
                "{case}: the message names {internal:?}: {body}"
            );
        }
        assert!(
            !detail(&body).is_empty(),
            "{case}: the developer detail says what went wrong: {body}"
        );
    }
}

/// The host slip: the app opened on `localhost` while `redirect_uri` is on `127.0.0.1` goes
/// to `redirect_uri`'s origin first (no transaction cookie on the wrong host); other host
/// names (a proxy's internal one) are left alone.
#[rocket::async_test]
async fn a_login_on_the_other_loopback_name_goes_to_redirect_uris_origin_first() {
    let (_op, client) = setup().await;
    let response = client
        .get("/login?x=1")
        .header(Accept::HTML)
        .header(rocket::http::Header::new("Host", "localhost:8000"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "http://127.0.0.1:8000/login?x=1");
    assert!(
        set_cookies(&response)
            .iter()
            .all(|c| !c.starts_with("oidc_tx_")),
        "no login starts on the wrong host"
    );
    for host in ["127.0.0.1:8000", "app.internal:8000", "localhost:9999"] {
        let response = client
            .get("/login")
            .header(Accept::HTML)
            .header(rocket::http::Header::new("Host", host))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::SeeOther, "{host}");
        assert!(
            !location(&response).starts_with("http://127.0.0.1:8000/"),
            "{host}: straight to the provider"
        );
    }
}

/// Behind a proxy trusted with `trust_forwarded_headers`, a login asked for under another
/// scheme or host than `redirect_uri`'s goes there first; without the setting the
/// forwarded headers are ignored (a client could send any).
#[rocket::async_test]
async fn forwarded_headers_count_only_when_trusted() {
    let (op, trusting) = setup_with("trust_forwarded_headers = true", "").await;
    for (proto, host) in [
        ("https", "127.0.0.1:8000"),
        ("http", "localhost:8000"),
        ("http", "www.example.com"),
    ] {
        let response = forwarded(&trusting, proto, host).await;
        assert_eq!(response.status(), Status::SeeOther, "{proto} {host}");
        assert_eq!(
            location(&response),
            "http://127.0.0.1:8000/login",
            "{proto}://{host} is not redirect_uri's origin"
        );
    }
    for (proto, host) in [
        ("http", "127.0.0.1:8000"),
        ("http", "127.0.0.1"),
        ("http", "evil.example, 127.0.0.1:8000"),
    ] {
        let response = forwarded(&trusting, proto, host).await;
        assert!(
            location(&response).starts_with(&op.issuer),
            "{proto}://{host}: the right origin (the proxy's right-most value) logs in"
        );
    }
    // Without X-Forwarded-Host, the internal Host is no difference (no redirect loop).
    let response = trusting
        .get("/login")
        .header(Accept::HTML)
        .header(rocket::http::Header::new("Host", "app.internal:8000"))
        .header(rocket::http::Header::new("X-Forwarded-Proto", "http"))
        .dispatch()
        .await;
    assert!(location(&response).starts_with(&op.issuer));
    let (op, ignoring) = setup().await;
    let response = forwarded(&ignoring, "https", "www.example.com").await;
    assert!(
        location(&response).starts_with(&op.issuer),
        "untrusted forwarded headers change nothing"
    );
}

/// `/login` as a browser behind a proxy that says the request came as `proto://host`.
async fn forwarded<'c>(
    client: &'c Client,
    proto: &'static str,
    host: &'static str,
) -> rocket::local::asynchronous::LocalResponse<'c> {
    client
        .get("/login")
        .header(Accept::HTML)
        .header(rocket::http::Header::new("Host", "app.internal:8000"))
        .header(rocket::http::Header::new("X-Forwarded-Proto", proto))
        .header(rocket::http::Header::new("X-Forwarded-Host", host))
        .dispatch()
        .await
}

/// Anonymous visits to guarded pages keep at most four pending logins per browser: the
/// oldest transaction cookies are dropped, so they cannot pile up past a proxy's header
/// limit; the newest logins still finish, the dropped ones cannot.
#[rocket::async_test]
async fn pending_logins_are_capped_per_browser() {
    let (_op, client) = setup().await;
    let mut auth_urls = Vec::new();
    for n in 0..7 {
        auth_urls.push(start_login(&client, &format!("/login?visit={n}")).await);
    }
    let pending = client
        .cookies()
        .iter()
        .filter(|c| c.name().starts_with("oidc_tx_"))
        .count();
    assert_eq!(pending, 4, "at most four pending logins");
    let oldest = authorize(&auth_urls[0]).await;
    let response = browse(&client, &path_and_query(&oldest)).await;
    assert_eq!(
        response.status(),
        Status::BadRequest,
        "the oldest was dropped"
    );
    let newest = authorize(&auth_urls[6]).await;
    let response = browse(&client, &path_and_query(&newest)).await;
    assert_eq!(response.status(), Status::SeeOther, "the newest finishes");
    assert_eq!(location(&response), "/login?visit=6");
}

#[rocket::get("/maybe")]
fn maybe(
    user: Option<rocket_oidc_auth::Authenticated<rocket_oidc_auth::provider::Default>>,
) -> String {
    user.map(|user| user.subject().to_string())
        .unwrap_or_default()
}

/// A public page with `Option<Authenticated<P>>` writes no cookie and never touches a
/// login in progress (its login redirect is never sent, so neither are its cookies).
#[rocket::async_test]
async fn an_optional_guard_leaves_pending_logins_alone() {
    let op = FakeOp::start().await;
    let rocket = TestApp::quickstart()
        .provider(&op)
        .rocket()
        .mount("/", rocket::routes![maybe]);
    let client = Client::tracked(rocket).await.unwrap();
    let auth_url = start_login(&client, "/login").await;
    for _ in 0..6 {
        let response = browse(&client, "/maybe").await;
        assert_eq!(response.status(), Status::Ok);
        assert!(
            set_cookies(&response).is_empty(),
            "{:?}",
            set_cookies(&response)
        );
    }
    let callback = authorize(&auth_url).await;
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(
        response.status(),
        Status::SeeOther,
        "the login still finishes"
    );
}

#[rocket::async_test]
async fn the_quickstart_profile_escapes_what_the_provider_says() {
    let op = FakeOp::start().await;
    op.set(|b| {
        b.id_token_claims
            .insert("name".into(), json!("<script>alert(1)</script>"));
        b.id_token_claims
            .insert("email".into(), json!("a\"b'<c>@example.com"));
    });
    // UserInfo off: its claims would win over the ID token's.
    let client = TestApp::quickstart()
        .provider(&op)
        .provider_table("userinfo_http_method = \"none\"")
        .start()
        .await;
    assert_eq!(
        log_in_at_once(&client, "/login").await.status(),
        Status::SeeOther
    );
    let page = client.get("/profile").dispatch().await;
    assert_eq!(page.status(), Status::Ok);
    let page = page.into_string().await.unwrap();
    assert!(!page.contains("<script>"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(
        page.contains("a&quot;b&#39;&lt;c&gt;@example.com"),
        "{page}"
    );
}
