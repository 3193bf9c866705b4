//! The API guards against a provider that misbehaves on purpose (`common::fake_op`), through
//! the API example (`examples/api.rs`): introspection that fails in every way a provider can
//! fail, answers that must not be trusted, the cache and its bounds; JWT access tokens that
//! must be refused locally; scopes; the client-credentials token when the token endpoint
//! fails; and `BearerOrSession` without a token.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::app::{
    authorize_at_once, location, path_and_query, start_login, TestApp, EMAIL_SCOPE,
};
use crate::common::fake_op::{
    Behaviour, ClientCredentialsResponse, FakeOp, IntrospectionResponse, Signing, API_CALLER,
    CLIENT_ID, CLIENT_SECRET,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rocket::http::{Accept, Header, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

/// An opaque access token (not JWS-shaped, so `auto` validation introspects it).
const OPAQUE: &str = "opaque-access-token-0123456789";
const CHALLENGE_INVALID: &str = "Bearer realm=\"default\", error=\"invalid_token\"";

/// A fake provider behaving as `f` says from its first request (launch discovers at once).
async fn provider(f: impl FnOnce(&mut Behaviour)) -> FakeOp {
    let op = FakeOp::start().await;
    op.set(f);
    op
}

/// The API example as the fake provider's client `test-client` (secret, Basic), with
/// `provider_extra` lines in its provider table (tables last) and `oidc_extra` under
/// `[default.oidc]`.
async fn api(op: &FakeOp, provider_extra: &str, oidc_extra: &str) -> Client {
    let provider = format!(
        "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n{provider_extra}"
    );
    TestApp::api()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider)
        .oidc(oidc_extra)
        .start()
        .await
}

/// What the app answered: status, `WWW-Authenticate`, JSON body.
struct Answer {
    status: Status,
    challenge: Option<String>,
    body: Value,
}

/// GET `uri` with `Authorization: Bearer <token>`.
async fn call(client: &Client, uri: &str, token: &str) -> Answer {
    call_with(
        client,
        uri,
        Some(Header::new("Authorization", format!("Bearer {token}"))),
    )
    .await
}

async fn call_with(client: &Client, uri: &str, header: Option<Header<'static>>) -> Answer {
    let mut request = client.get(uri.to_string());
    if let Some(header) = header {
        request = request.header(header);
    }
    let response = request.dispatch().await;
    let status = response.status();
    let challenge = response
        .headers()
        .get_one("WWW-Authenticate")
        .map(str::to_string);
    let body = response.into_string().await.unwrap_or_default();
    Answer {
        status,
        challenge,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    }
}

/// `answer` is the 401 `invalid_token` of RFC 6750 3.1, challenge included.
fn assert_invalid_token(answer: &Answer) {
    assert_eq!(answer.status, Status::Unauthorized, "{}", answer.body);
    assert_eq!(answer.body["error"], "invalid_token", "{}", answer.body);
    assert_eq!(answer.challenge.as_deref(), Some(CHALLENGE_INVALID));
}

/// `answer` is a provider failure of `status` without a bearer challenge (the token may be
/// fine; the provider is not).
fn assert_provider_failure(answer: &Answer, status: Status) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(
        answer.challenge, None,
        "a provider failure is no token error"
    );
    assert!(answer.body["error"].is_string(), "{}", answer.body);
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Sleeps until just after the next whole second, so that tests reasoning in the crate's
/// whole seconds know where in the second they are.
async fn at_the_start_of_a_second() {
    let into = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let left = Duration::from_nanos(1_000_000_000 - u64::from(into));
    tokio::time::sleep(left + Duration::from_millis(20)).await;
}

/// A port on 127.0.0.1 where nothing listens.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------
// a. Introspection
// ---------------------------------------------------------------------------

/// A provider answering introspection as `answer` says, and the API example for it.
async fn introspecting(answer: IntrospectionResponse, oidc_extra: &str) -> (FakeOp, Client) {
    let op = provider(|b| b.introspection = Some(answer)).await;
    let client = api(&op, "", oidc_extra).await;
    (op, client)
}

#[rocket::async_test]
async fn introspection_endpoint_unreachable_is_503() {
    let op = provider(|b| b.introspection = Some(IntrospectionResponse::Inactive)).await;
    let port = closed_port().await;
    let client = api(
        &op,
        &format!(
            "[default.oidc.providers.default.endpoints]\n\
             introspection_endpoint = \"http://127.0.0.1:{port}/introspect\""
        ),
        "",
    )
    .await;
    let answer = call(&client, "/api/me", OPAQUE).await;
    assert_provider_failure(&answer, Status::ServiceUnavailable);
    assert_eq!(answer.body["error"], "provider_unavailable");
    assert_eq!(op.hits("/introspect"), 0, "the configured endpoint is used");
}

#[rocket::async_test]
async fn introspection_that_hangs_is_504_after_http_timeout() {
    let (op, client) = introspecting(IntrospectionResponse::Hang, "http_timeout = 1").await;
    let started = Instant::now();
    let answer = call(&client, "/api/me", OPAQUE).await;
    let took = started.elapsed();
    assert_provider_failure(&answer, Status::GatewayTimeout);
    assert_eq!(answer.body["error"], "provider_unavailable");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "gave up after {took:?}, http_timeout is 1 s"
    );
    assert_eq!(op.hits("/introspect"), 1);
}

#[rocket::async_test]
async fn introspection_server_error_is_502_and_not_cached() {
    let (op, client) = introspecting(IntrospectionResponse::ServerError, "").await;
    let answer = call(&client, "/api/me", OPAQUE).await;
    assert_provider_failure(&answer, Status::BadGateway);
    assert_eq!(answer.body["error"], "bad_provider_response");

    // The provider is back: its failure was not kept as the token's answer.
    op.set(|b| b.introspection = Some(IntrospectionResponse::active(OPAQUE, json!({}))));
    let answer = call(&client, "/api/me", OPAQUE).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    assert_eq!(op.hits("/introspect"), 2);
}

#[rocket::async_test]
async fn introspection_refusing_the_token_type_is_401_invalid_token() {
    let (op, client) = introspecting(
        IntrospectionResponse::OAuthError("unsupported_token_type".into()),
        "",
    )
    .await;
    let answer = call(&client, "/api/me", OPAQUE).await;
    assert_invalid_token(&answer);
    assert_eq!(op.hits("/introspect"), 1);
}

#[rocket::async_test]
async fn introspection_refusing_our_client_is_502_not_the_callers_fault() {
    let (op, client) = introspecting(IntrospectionResponse::RefuseClient, "").await;
    let answer = call(&client, "/api/me", OPAQUE).await;
    assert_provider_failure(&answer, Status::BadGateway);
    assert_eq!(op.hits("/introspect"), 1);
}

#[rocket::async_test]
async fn a_200_introspection_answer_that_is_not_json_is_502_and_not_cached() {
    // A login page or a proxy's page in place of the answer: the provider failed, the
    // caller's token may be fine.
    let (op, client) = introspecting(IntrospectionResponse::NotJson, "").await;
    let answer = call(&client, "/api/me", OPAQUE).await;
    assert_provider_failure(&answer, Status::BadGateway);
    op.set(|b| b.introspection = Some(IntrospectionResponse::active(OPAQUE, json!({}))));
    let answer = call(&client, "/api/me", OPAQUE).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
}

#[rocket::async_test]
async fn an_oversized_token_is_refused_without_asking_the_provider() {
    let (op, client) = introspecting(IntrospectionResponse::active(OPAQUE, json!({})), "").await;
    let huge = "a".repeat(8 * 1024 + 1);
    assert_invalid_token(&call(&client, "/api/me", &huge).await);
    assert_eq!(op.hits("/introspect"), 0);
}

#[rocket::async_test]
async fn a_token_outside_the_b64token_syntax_is_refused_without_asking_the_provider() {
    let (op, client) = introspecting(IntrospectionResponse::active(OPAQUE, json!({})), "").await;
    for token in ["tok%en", "tok\"en", "a,b", "tok;en"] {
        assert_invalid_token(&call(&client, "/api/me", token).await);
    }
    assert_eq!(op.hits("/introspect"), 0);
}

#[rocket::async_test]
async fn a_token_with_equals_signs_before_its_end_is_refused_without_asking_the_provider() {
    // RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let (op, client) = introspecting(IntrospectionResponse::Inactive, "").await;
    for token in ["=abc", "ab=c", "==="] {
        assert_invalid_token(&call(&client, "/api/me", token).await);
    }
    assert_eq!(op.hits("/introspect"), 0);
    // Padding at the end is fine.
    assert_invalid_token(&call(&client, "/api/me", "abc==").await);
    assert_eq!(op.hits("/introspect"), 1);
}

#[rocket::async_test]
async fn an_inactive_answer_is_401_invalid_token_with_the_challenge() {
    let (op, client) = introspecting(IntrospectionResponse::Inactive, "").await;
    let answer = call(&client, "/api/me", OPAQUE).await;
    assert_invalid_token(&answer);
    assert_eq!(op.hits("/introspect"), 1);
}

#[rocket::async_test]
async fn inactive_answers_are_cached_too() {
    let (op, client) = introspecting(IntrospectionResponse::Inactive, "").await;
    assert_invalid_token(&call(&client, "/api/me", OPAQUE).await);
    assert_invalid_token(&call(&client, "/api/me", OPAQUE).await);
    assert_eq!(
        op.hits("/introspect"),
        1,
        "the second answer came from the cache"
    );
}

#[rocket::async_test]
async fn an_active_answer_without_aud_is_401() {
    let (op, client) = introspecting(
        IntrospectionResponse::active(OPAQUE, json!({ "aud": null })),
        "",
    )
    .await;
    assert_invalid_token(&call(&client, "/api/me", OPAQUE).await);
    assert_eq!(op.hits("/introspect"), 1);
}

#[rocket::async_test]
async fn an_active_answer_for_another_audience_is_401() {
    let (_op, client) = introspecting(
        IntrospectionResponse::active(OPAQUE, json!({ "aud": ["https://other.example"] })),
        "",
    )
    .await;
    assert_invalid_token(&call(&client, "/api/me", OPAQUE).await);
}

/// The API's catcher, with what the log says of the error (`developer_detail()`).
#[rocket::catch(default)]
fn api_error_with_detail(
    status: Status,
    req: &rocket::Request<'_>,
) -> (Status, rocket::serde::json::Json<serde_json::Value>) {
    let detail =
        rocket_oidc_auth::OidcError::of(req).and_then(|e| e.developer_detail().map(str::to_owned));
    (
        status,
        rocket::serde::json::Json(json!({ "detail": detail })),
    )
}

#[rocket::async_test]
async fn a_token_for_another_audience_names_the_setting_that_sets_it() {
    let op = provider(|b| {
        b.introspection = Some(IntrospectionResponse::active(
            OPAQUE,
            json!({ "aud": ["https://other.example"] }),
        ))
    })
    .await;
    let provider = format!("client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"");
    let client = TestApp::api()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider)
        .register("/api", rocket::catchers![api_error_with_detail])
        .start()
        .await;
    let answer = call(&client, "/api/me", OPAQUE).await;
    assert_eq!(answer.status, Status::Unauthorized);
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("aud does not contain")
            && detail
                .contains("oidc.providers.default.access_token_audience (not set: the client_id)"),
        "{detail}"
    );
}

#[rocket::async_test]
async fn an_active_answer_whose_aud_list_names_the_api_is_200() {
    let (op, client) = introspecting(
        IntrospectionResponse::active(
            OPAQUE,
            json!({ "aud": ["https://other.example", CLIENT_ID], "scope": "read write" }),
        ),
        "",
    )
    .await;
    let answer = call(&client, "/api/me", OPAQUE).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({ "sub": "alice", "scope": "read write", "client_id": API_CALLER })
    );
    assert_eq!(op.hits("/introspect"), 1);
}

#[rocket::async_test]
async fn an_active_answer_from_another_issuer_is_401() {
    let (_op, client) = introspecting(
        IntrospectionResponse::active(OPAQUE, json!({ "iss": "https://evil.example" })),
        "",
    )
    .await;
    assert_invalid_token(&call(&client, "/api/me", OPAQUE).await);
}

#[rocket::async_test]
async fn an_active_answer_with_exp_in_the_past_is_401() {
    // Past the default clock_skew of 60 s.
    let exp = unix_now() - 120;
    let (_op, client) = introspecting(
        IntrospectionResponse::active(OPAQUE, json!({ "exp": exp })),
        "",
    )
    .await;
    assert_invalid_token(&call(&client, "/api/me", OPAQUE).await);
}

#[rocket::async_test]
async fn active_answers_are_cached() {
    let (op, client) = introspecting(IntrospectionResponse::active(OPAQUE, json!({})), "").await;
    for _ in 0..3 {
        let answer = call(&client, "/api/me", OPAQUE).await;
        assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    }
    assert_eq!(op.hits("/introspect"), 1);
    // Another token is another question.
    assert_invalid_token(&call(&client, "/api/me", "another-opaque-token").await);
    assert_eq!(op.hits("/introspect"), 2);
}

#[rocket::async_test]
async fn introspection_cache_seconds_0_asks_every_time() {
    let op = provider(|b| {
        b.introspection = Some(IntrospectionResponse::active(OPAQUE, json!({})));
    })
    .await;
    let client = api(&op, "introspection_cache_seconds = 0", "").await;
    for _ in 0..2 {
        assert_eq!(call(&client, "/api/me", OPAQUE).await.status, Status::Ok);
    }
    assert_eq!(op.hits("/introspect"), 2);
}

#[rocket::async_test]
async fn a_cached_answer_never_outlives_the_tokens_exp() {
    // Launch discovers the endpoint; the answer is set below.
    let op = provider(|b| b.introspection = Some(IntrospectionResponse::Inactive)).await;
    let client = api(&op, "introspection_cache_seconds = 30", "clock_skew = 0").await;
    // Early in a second, so that `exp` (now + 1) is a whole second away for the crate too.
    at_the_start_of_a_second().await;
    let exp = unix_now() + 1;
    op.set(|b| {
        b.introspection = Some(IntrospectionResponse::active(OPAQUE, json!({ "exp": exp })))
    });
    assert_eq!(call(&client, "/api/me", OPAQUE).await.status, Status::Ok);
    assert_eq!(call(&client, "/api/me", OPAQUE).await.status, Status::Ok);
    assert_eq!(op.hits("/introspect"), 1, "kept while the token lives");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answer = call(&client, "/api/me", OPAQUE).await;
    assert_eq!(op.hits("/introspect"), 2, "asked again once exp passed");
    // The provider still says active, but with an exp now past: refused.
    assert_invalid_token(&answer);
}

#[rocket::async_test]
async fn the_introspection_request_authenticates_the_client_and_hints_access_token() {
    let (op, client) = introspecting(IntrospectionResponse::active(OPAQUE, json!({})), "").await;
    assert_eq!(call(&client, "/api/me", OPAQUE).await.status, Status::Ok);
    let request = op
        .last_request("/introspect")
        .expect("an introspection request");
    assert_eq!(request.method, "POST");
    let basic = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .expect("client_secret_basic");
    let decoded = String::from_utf8(STANDARD.decode(basic).unwrap()).unwrap();
    assert_eq!(decoded, format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let form = request.form_params();
    assert_eq!(form.get("token").map(String::as_str), Some(OPAQUE));
    assert_eq!(
        form.get("token_type_hint").map(String::as_str),
        Some("access_token")
    );
    assert!(
        !form.contains_key("client_secret"),
        "the secret goes in the header only"
    );
}

#[rocket::async_test]
async fn access_token_audience_replaces_the_client_id() {
    const RESOURCE: &str = "https://api.example.com";
    let op = provider(|b| {
        b.introspection = Some(IntrospectionResponse::active(
            OPAQUE,
            json!({ "aud": RESOURCE }),
        ));
    })
    .await;
    let client = api(&op, &format!("access_token_audience = \"{RESOURCE}\""), "").await;
    assert_eq!(call(&client, "/api/me", OPAQUE).await.status, Status::Ok);
    // The client_id alone no longer does.
    let jwt = op.access_token(json!({}), "at+jwt", Signing::Good);
    assert_invalid_token(&call(&client, "/api/me", &jwt).await);
}

// ---------------------------------------------------------------------------
// b. JWT access tokens checked locally
// ---------------------------------------------------------------------------

/// A provider with an introspection endpoint (counted, never to be asked), and the API
/// example checking JWTs locally.
async fn jwt_api() -> (FakeOp, Client) {
    let op = provider(|b| {
        b.introspection = Some(IntrospectionResponse::Inactive);
    })
    .await;
    let client = api(&op, "access_token_validation = \"jwt\"", "").await;
    (op, client)
}

/// A JWT access token of `op` with `overrides`, header `typ`, signed as `signing` says, is
/// refused with 401 `invalid_token`, and the provider is never asked about it.
async fn refused_locally(overrides: Value, typ: &str, signing: Signing) {
    let (op, client) = jwt_api().await;
    let token = op.access_token(overrides, typ, signing);
    let answer = call(&client, "/api/me", &token).await;
    assert_invalid_token(&answer);
    assert_eq!(op.hits("/introspect"), 0, "checked locally only");
    // The same token passes once it is made right: the refusal was for the override.
    let good = op.access_token(json!({}), "at+jwt", Signing::Good);
    assert_eq!(call(&client, "/api/me", &good).await.status, Status::Ok);
}

macro_rules! refused_jwt_test {
    ($name:ident, $overrides:expr, $typ:expr, $signing:expr) => {
        #[rocket::async_test]
        async fn $name() {
            refused_locally($overrides, $typ, $signing).await;
        }
    };
}

refused_jwt_test!(
    a_jwt_with_typ_jwt_is_refused,
    json!({}),
    "JWT",
    Signing::Good
);
refused_jwt_test!(
    a_jwt_with_an_empty_typ_is_refused,
    json!({}),
    "",
    Signing::Good
);
refused_jwt_test!(
    a_jwt_from_another_issuer_is_refused,
    json!({ "iss": "https://evil.example" }),
    "at+jwt",
    Signing::Good
);
refused_jwt_test!(
    a_jwt_without_aud_is_refused,
    json!({ "aud": null }),
    "at+jwt",
    Signing::Good
);
refused_jwt_test!(
    a_jwt_for_other_audiences_is_refused,
    json!({ "aud": ["https://other.example", "another"] }),
    "at+jwt",
    Signing::Good
);
refused_jwt_test!(
    an_expired_jwt_is_refused,
    json!({ "exp": unix_now() - 120 }),
    "at+jwt",
    Signing::Good
);
refused_jwt_test!(
    a_jwt_without_exp_is_refused,
    json!({ "exp": null }),
    "at+jwt",
    Signing::Good
);
refused_jwt_test!(
    a_jwt_issued_in_the_future_is_refused,
    json!({ "iat": unix_now() + 600 }),
    "at+jwt",
    Signing::Good
);
refused_jwt_test!(
    a_jwt_not_yet_valid_is_refused,
    json!({ "nbf": unix_now() + 600 }),
    "at+jwt",
    Signing::Good
);
refused_jwt_test!(
    a_jwt_with_alg_none_is_refused,
    json!({}),
    "at+jwt",
    Signing::AlgNone
);
refused_jwt_test!(
    a_jwt_signed_by_another_key_is_refused,
    json!({}),
    "at+jwt",
    Signing::OtherKey
);
refused_jwt_test!(
    a_jwt_with_a_broken_signature_is_refused,
    json!({}),
    "at+jwt",
    Signing::BadSignature
);
refused_jwt_test!(
    a_jwt_hs256_with_the_client_secret_is_refused,
    json!({}),
    "at+jwt",
    Signing::Hs256WithClientSecret
);
refused_jwt_test!(
    a_jwt_hs256_with_the_public_key_is_refused,
    json!({}),
    "at+jwt",
    Signing::Hs256WithPublicKey
);

#[rocket::async_test]
async fn a_jwt_hs256_with_the_client_secret_is_refused_even_when_the_provider_lists_hs256() {
    // HS256 ID tokens keyed with the client secret are this client's (Core 10.1); an access
    // token that another party presents must be checked with the provider's keys (RFC 9068
    // 4), or whoever holds the app's secret could mint any user's token with any scope.
    let op = provider(|b| {
        b.introspection = Some(IntrospectionResponse::Inactive);
        b.id_token_algs = Some(vec!["RS256".into(), "HS256".into()]);
    })
    .await;
    let client = api(&op, "access_token_validation = \"jwt\"", "").await;
    let forged = op.access_token(
        json!({ "sub": "admin", "scope": "read admin" }),
        "at+jwt",
        Signing::Hs256WithClientSecret,
    );
    assert_invalid_token(&call(&client, "/api/admin", &forged).await);
    let good = op.access_token(json!({}), "at+jwt", Signing::Good);
    assert_eq!(call(&client, "/api/me", &good).await.status, Status::Ok);
}

#[rocket::async_test]
async fn an_opaque_token_is_refused_when_validation_is_jwt() {
    let (op, client) = jwt_api().await;
    assert_invalid_token(&call(&client, "/api/me", OPAQUE).await);
    assert_eq!(op.hits("/introspect"), 0);
}

#[rocket::async_test]
async fn a_bad_jwt_is_not_retried_by_introspection_in_auto_mode() {
    // auto (the default): JWS-shaped tokens are checked locally, and a failure stays one
    // even though the provider would call the token active.
    let op = FakeOp::start().await;
    let token = op.access_token(json!({}), "at+jwt", Signing::OtherKey);
    op.set(|b| b.introspection = Some(IntrospectionResponse::active(&token, json!({}))));
    let client = api(&op, "", "").await;
    assert_invalid_token(&call(&client, "/api/me", &token).await);
    assert_eq!(op.hits("/introspect"), 0);
}

#[rocket::async_test]
async fn a_good_jwt_is_200_with_sub_scope_and_client_id() {
    let (op, client) = jwt_api().await;
    let token = op.access_token(
        json!({ "sub": "bob", "scope": "read write" }),
        "at+jwt",
        Signing::Good,
    );
    let answer = call(&client, "/api/me", &token).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({ "sub": "bob", "scope": "read write", "client_id": API_CALLER })
    );
    assert_eq!(op.hits("/introspect"), 0);
}

#[rocket::async_test]
async fn a_jwt_whose_aud_list_names_the_api_is_200() {
    let (op, client) = jwt_api().await;
    let token = op.access_token(
        json!({ "aud": ["https://other.example", CLIENT_ID] }),
        "at+jwt",
        Signing::Good,
    );
    let answer = call(&client, "/api/me", &token).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
}

#[rocket::async_test]
async fn a_jwt_with_typ_application_at_jwt_is_200() {
    let (op, client) = jwt_api().await;
    let token = op.access_token(json!({}), "application/at+jwt", Signing::Good);
    let answer = call(&client, "/api/me", &token).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
}

#[rocket::async_test]
async fn an_unknown_kid_refetches_the_jwks_once() {
    let (op, client) = jwt_api().await;
    let good = op.access_token(json!({}), "at+jwt", Signing::Good);
    assert_eq!(call(&client, "/api/me", &good).await.status, Status::Ok);
    let loaded = op.hits("/jwks");
    assert!(loaded >= 1, "the keys were fetched");

    // The provider rotates to key 2: a token under the new kid makes the crate fetch the
    // keys again, once, and passes.
    op.set(|b| b.rotate_keys = true);
    let rotated = op.access_token(json!({}), "at+jwt", Signing::Good);
    let answer = call(&client, "/api/me", &rotated).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    assert_eq!(op.hits("/jwks"), loaded + 1);

    // A kid nobody publishes right after: refused, without hammering the provider.
    let unknown = op.access_token(json!({}), "at+jwt", Signing::UnknownKid);
    for _ in 0..3 {
        assert_invalid_token(&call(&client, "/api/me", &unknown).await);
    }
    assert_eq!(op.hits("/jwks"), loaded + 1, "no refetch storm");
    assert_eq!(op.hits("/introspect"), 0);
}

#[rocket::async_test]
async fn an_unknown_kid_alone_refetches_the_jwks_once_then_refuses() {
    let (op, client) = jwt_api().await;
    let good = op.access_token(json!({}), "at+jwt", Signing::Good);
    assert_eq!(call(&client, "/api/me", &good).await.status, Status::Ok);
    let loaded = op.hits("/jwks");
    let unknown = op.access_token(json!({}), "at+jwt", Signing::UnknownKid);
    assert_invalid_token(&call(&client, "/api/me", &unknown).await);
    assert_eq!(
        op.hits("/jwks"),
        loaded + 1,
        "one refetch for the unknown kid"
    );
    assert_invalid_token(&call(&client, "/api/me", &unknown).await);
    assert_eq!(op.hits("/jwks"), loaded + 1, "not again at once");
}

// ---------------------------------------------------------------------------
// c. Scopes
// ---------------------------------------------------------------------------

#[rocket::async_test]
async fn a_jwt_without_the_admin_scope_is_403_at_admin() {
    let (op, client) = jwt_api().await;
    let reader = op.access_token(json!({ "scope": "read" }), "at+jwt", Signing::Good);
    let answer = call(&client, "/api/admin", &reader).await;
    assert_eq!(answer.status, Status::Forbidden, "{}", answer.body);
    assert_eq!(answer.body["error"], "insufficient_scope");
    assert_eq!(
        answer.challenge.as_deref(),
        Some("Bearer realm=\"default\", error=\"insufficient_scope\", scope=\"admin\"")
    );
    // A scope that merely contains the word is not the scope.
    let near = op.access_token(
        json!({ "scope": "read administrator admin:read" }),
        "at+jwt",
        Signing::Good,
    );
    assert_eq!(
        call(&client, "/api/admin", &near).await.status,
        Status::Forbidden
    );
    let admin = op.access_token(json!({ "scope": "read admin" }), "at+jwt", Signing::Good);
    let answer = call(&client, "/api/admin", &admin).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    assert_eq!(answer.body["sub"], "alice");
}

#[rocket::async_test]
async fn an_introspected_token_without_the_admin_scope_is_403_at_admin() {
    let (_op, client) = introspecting(
        IntrospectionResponse::active(OPAQUE, json!({ "scope": "read" })),
        "",
    )
    .await;
    let answer = call(&client, "/api/admin", OPAQUE).await;
    assert_eq!(answer.status, Status::Forbidden, "{}", answer.body);
    assert_eq!(
        answer.challenge.as_deref(),
        Some("Bearer realm=\"default\", error=\"insufficient_scope\", scope=\"admin\"")
    );
    // The same token is good where no scope is needed.
    assert_eq!(call(&client, "/api/me", OPAQUE).await.status, Status::Ok);
}

// ---------------------------------------------------------------------------
// d. Client credentials
// ---------------------------------------------------------------------------

/// A provider answering the client-credentials grant as `answer` says, and the API example
/// asking for scope `read`.
async fn machine(answer: ClientCredentialsResponse) -> (FakeOp, Client) {
    let op = provider(|b| b.client_credentials = Some(answer)).await;
    let client = api(
        &op,
        "[default.oidc.providers.default.client_credentials]\nscope = [\"read\"]",
        "",
    )
    .await;
    (op, client)
}

fn issued(expires_in: Value) -> ClientCredentialsResponse {
    ClientCredentialsResponse::Issued { expires_in }
}

async fn outgoing(client: &Client) -> Answer {
    call_with(client, "/api/outgoing", None).await
}

#[rocket::async_test]
async fn the_client_credentials_request_authenticates_and_asks_for_the_scope() {
    let (op, client) = machine(issued(json!(3600))).await;
    let answer = outgoing(&client).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(op.hits("/token"), 1);
    let expires_in = answer.body["expires_in"].as_i64().unwrap();
    assert!((3598..=3600).contains(&expires_in), "{expires_in}");
    let request = op.last_request("/token").unwrap();
    let form = request.form_params();
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("client_credentials")
    );
    assert_eq!(form.get("scope").map(String::as_str), Some("read"));
    assert!(request
        .header("authorization")
        .is_some_and(|h| h.starts_with("Basic ")));
    // Kept: the next call asks nobody.
    assert_eq!(outgoing(&client).await.status, Status::Ok);
    assert_eq!(op.hits("/token"), 1);
}

#[rocket::async_test]
async fn a_token_endpoint_error_500_makes_outgoing_502() {
    let (op, client) = machine(ClientCredentialsResponse::ServerError).await;
    let answer = outgoing(&client).await;
    assert_provider_failure(&answer, Status::BadGateway);
    assert_eq!(op.hits("/token"), 1);
}

#[rocket::async_test]
async fn invalid_client_at_the_token_endpoint_makes_outgoing_502() {
    let (op, client) = machine(ClientCredentialsResponse::InvalidClient).await;
    let answer = outgoing(&client).await;
    assert_provider_failure(&answer, Status::BadGateway);
    assert_eq!(answer.body["error"], "invalid_client");
    assert_eq!(op.hits("/token"), 1);
}

#[rocket::async_test]
async fn expires_in_as_a_string_is_understood() {
    let (_op, client) = machine(issued(json!("3600"))).await;
    let answer = outgoing(&client).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    let expires_in = answer.body["expires_in"].as_i64().unwrap();
    assert!(
        (3598..=3600).contains(&expires_in),
        "the string's lifetime, not the default one: {expires_in}"
    );
}

#[rocket::async_test]
async fn an_absurd_expires_in_does_not_break_the_machine_token() {
    // 1e20 seconds: saturate, do not overflow.
    let (op, client) = machine(issued(json!(1e20))).await;
    for _ in 0..2 {
        let answer = outgoing(&client).await;
        assert_eq!(answer.status, Status::Ok, "{}", answer.body);
        assert_eq!(op.hits("/token"), 1);
    }
}

#[rocket::async_test]
async fn a_token_without_expires_in_is_used_five_minutes() {
    let (_op, client) = machine(issued(Value::Null)).await;
    let answer = outgoing(&client).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    let expires_in = answer.body["expires_in"].as_i64().unwrap();
    assert!((298..=300).contains(&expires_in), "{expires_in}");
}

#[rocket::async_test]
async fn a_token_type_other_than_bearer_is_502() {
    let op = provider(|b| {
        b.client_credentials = Some(issued(json!(3600)));
        b.token_type = Some("mac".into());
    })
    .await;
    let client = api(&op, "", "").await;
    assert_provider_failure(&outgoing(&client).await, Status::BadGateway);
    // The case of "Bearer" does not matter (RFC 6749 5.1).
    op.set(|b| b.token_type = Some("bearer".into()));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answer = outgoing(&client).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
}

#[rocket::async_test]
async fn the_machine_token_is_renewed_when_a_tenth_of_its_life_is_left() {
    // expires_in 10: renewed when 1 s is left (src/flow/machine.rs: a tenth, at most 60 s).
    let (op, client) = machine(issued(json!(10))).await;
    at_the_start_of_a_second().await;
    let start = Instant::now();
    let first = outgoing(&client).await;
    assert_eq!(first.status, Status::Ok, "{}", first.body);
    assert_eq!(op.hits("/token"), 1);
    assert_eq!(first.body["expires_in"], 10);

    tokio::time::sleep(Duration::from_millis(8500).saturating_sub(start.elapsed())).await;
    let kept = outgoing(&client).await;
    assert_eq!(op.hits("/token"), 1, "kept with 2 s left: {}", kept.body);
    assert_eq!(kept.body["expires_in"], 2);

    tokio::time::sleep(Duration::from_millis(9400).saturating_sub(start.elapsed())).await;
    let renewed = outgoing(&client).await;
    assert_eq!(
        op.hits("/token"),
        2,
        "renewed with 1 s left, before it expired: {}",
        renewed.body
    );
    assert_eq!(renewed.body["expires_in"], 10);
}

#[rocket::async_test]
async fn a_failed_renewal_keeps_serving_the_token_until_it_expires() {
    let (op, client) = machine(issued(json!(10))).await;
    at_the_start_of_a_second().await;
    let start = Instant::now();
    assert_eq!(outgoing(&client).await.status, Status::Ok);
    assert_eq!(op.hits("/token"), 1);
    // Due for renewal (1 s left), and the provider fails: the token in hand still serves.
    op.set(|b| b.client_credentials = Some(ClientCredentialsResponse::ServerError));
    tokio::time::sleep(Duration::from_millis(9400).saturating_sub(start.elapsed())).await;
    let kept = outgoing(&client).await;
    assert_eq!(kept.status, Status::Ok, "{}", kept.body);
    let left = kept.body["expires_in"].as_i64().unwrap();
    assert!(left <= 1, "the token in hand, not a new one: {left} s left");
    assert_eq!(op.hits("/token"), 2, "renewal was tried");
    // Expired: now the failure shows.
    tokio::time::sleep(Duration::from_millis(10_300).saturating_sub(start.elapsed())).await;
    assert_provider_failure(&outgoing(&client).await, Status::BadGateway);
}

#[rocket::async_test]
async fn after_a_failure_calls_within_a_second_get_the_same_error_without_asking() {
    let (op, client) = machine(ClientCredentialsResponse::ServerError).await;
    let failed = outgoing(&client).await;
    assert_provider_failure(&failed, Status::BadGateway);
    assert_eq!(op.hits("/token"), 1);

    // The provider recovers at once, but the failure is held for a second.
    op.set(|b| b.client_credentials = Some(issued(json!(3600))));
    for _ in 0..3 {
        let again = outgoing(&client).await;
        assert_eq!(again.status, failed.status);
        assert_eq!(again.body, failed.body, "the same error");
    }
    assert_eq!(
        op.hits("/token"),
        1,
        "no new token request within the second"
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let answer = outgoing(&client).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    let expires_in = answer.body["expires_in"].as_i64().unwrap();
    assert!(
        (3598..=3600).contains(&expires_in),
        "a fresh token: {expires_in}"
    );
    assert_eq!(op.hits("/token"), 2);
}

#[rocket::async_test]
async fn concurrent_callers_share_one_token_request() {
    let (op, client) = machine(issued(json!(3600))).await;
    let answers = rocket::futures::future::join_all((0..8).map(|_| outgoing(&client))).await;
    for answer in &answers {
        assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    }
    assert_eq!(op.hits("/token"), 1);
}

// ---------------------------------------------------------------------------
// e. BearerOrSession
// ---------------------------------------------------------------------------

#[rocket::async_test]
async fn either_with_basic_authorization_and_no_session_is_401_not_a_redirect() {
    let op = FakeOp::start().await;
    let client = api(&op, "", "").await;
    let basic = format!("Basic {}", STANDARD.encode("user:password"));
    let response = client
        .get("/api/either")
        .header(Header::new("Authorization", basic))
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(response.headers().get_one("Location"), None);
    assert_eq!(
        response.headers().get_one("WWW-Authenticate"),
        Some("Bearer realm=\"default\"")
    );
    assert_eq!(op.hits("/authorize"), 0);
}

#[rocket::async_test]
async fn either_for_a_browser_without_token_or_session_goes_to_the_provider() {
    let op = FakeOp::start().await;
    let client = api(&op, "", "").await;
    let response = client
        .get("/api/either")
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
    let target = location(&response);
    assert!(
        target.starts_with(&format!("{}/authorize?", op.issuer)),
        "{target}"
    );
}

#[rocket::async_test]
async fn either_with_a_session_is_the_session_unless_an_authorization_header_came() {
    let op = provider(|b| b.introspection = Some(IntrospectionResponse::Inactive)).await;
    let client = api(&op, "", "").await;
    let auth_url = start_login(&client, "/login").await;
    let callback = authorize_at_once(&auth_url).await;
    let response = client
        .get(path_and_query(&callback))
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther, "the login completes");

    let answer = call_with(&client, "/api/either", None).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    assert_eq!(answer.body, json!({ "sub": "alice", "via": "session" }));

    // A header makes it an API request: judged by its token alone, the session aside.
    let basic = format!("Basic {}", STANDARD.encode("user:password"));
    let answer = call_with(
        &client,
        "/api/either",
        Some(Header::new("Authorization", basic)),
    )
    .await;
    assert_eq!(answer.status, Status::Unauthorized, "{}", answer.body);
    assert_eq!(
        answer.challenge.as_deref(),
        Some("Bearer realm=\"default\"")
    );
    let answer = call(&client, "/api/either", "not-a-token-the-provider-knows").await;
    assert_invalid_token(&answer);
}

#[rocket::async_test]
async fn either_for_an_api_client_without_token_or_session_is_401() {
    let op = FakeOp::start().await;
    let client = api(&op, "", "").await;
    let answer = call_with(&client, "/api/either", None).await;
    assert_eq!(answer.status, Status::Unauthorized, "{}", answer.body);
}

#[rocket::async_test]
async fn a_request_without_a_token_gets_no_error_code_in_header_or_body() {
    // RFC 6750 3.1: without credentials, no error code; the body agrees with the header.
    let op = FakeOp::start().await;
    let client = api(&op, "", "").await;
    let answer = call_with(&client, "/api/me", None).await;
    assert_eq!(answer.status, Status::Unauthorized, "{}", answer.body);
    assert_eq!(
        answer.challenge.as_deref(),
        Some("Bearer realm=\"default\"")
    );
    assert_eq!(answer.body["error"], "unauthenticated", "{}", answer.body);
}

#[rocket::async_test]
async fn the_401_of_a_protected_page_asks_users_to_log_in_without_naming_the_provider() {
    let op = FakeOp::start().await;
    let client = api(&op, "", "").await;
    let answer = call_with(&client, "/api/either", None).await;
    assert_eq!(answer.status, Status::Unauthorized, "{}", answer.body);
    let text = answer.body.to_string();
    assert!(text.contains("please log in"), "{text}");
    assert!(
        !text.contains("default"),
        "users read no provider name: {text}"
    );
}

#[rocket::async_test]
async fn either_with_a_bearer_token_is_the_bearer() {
    let (op, client) = introspecting(IntrospectionResponse::active(OPAQUE, json!({})), "").await;
    let answer = call(&client, "/api/either", OPAQUE).await;
    assert_eq!(answer.status, Status::Ok, "{}", answer.body);
    assert_eq!(answer.body, json!({ "sub": "alice", "via": "bearer" }));
    assert_eq!(op.hits("/introspect"), 1);
}
