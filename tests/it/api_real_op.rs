//! APIs against the real test provider, through the API example (`examples/api.rs`): bearer
//! tokens validated by introspection (cached) and locally as JWT access tokens, scopes,
//! RFC 6750 errors, bearer or session, and the client-credentials token handle.

use crate::common::api_app::*;
use crate::common::app::*;
use crate::common::node_op::{through_provider, AtProvider, NodeOp, CLIENT_ID, CLIENT_SECRET};
use rocket::http::{Accept, Header, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

const RESOURCE: &str = "https://api.example.com";
const CALLER: &str = "caller";
const CALLER_SECRET: &str = "caller-secret-caller-secret-caller-secret";

/// The provider with the API as its one resource server, the API's own client
/// (`rocket-app`, which introspects and fetches its own tokens) and a calling client.
fn provider(env: &[(&str, &str)]) -> NodeOp {
    let clients = json!([
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [REDIRECT_URI],
            "post_logout_redirect_uris": ["http://127.0.0.1:8000/logout/callback"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        },
        {
            "client_id": CALLER,
            "client_secret": CALLER_SECRET,
            "redirect_uris": ["http://127.0.0.1:9/cb"],
            "grant_types": ["client_credentials"],
        },
    ]);
    let mut all = vec![
        ("OP_CLIENTS", clients.to_string()),
        ("OP_RESOURCE", RESOURCE.into()),
    ];
    all.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
    let borrowed: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    NodeOp::start(&borrowed)
}

/// The API example for `op`, expecting tokens for `RESOURCE`, with `extra` provider lines.
async fn api(op: &NodeOp, extra: &str) -> Client {
    let provider = format!(
        "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
         access_token_audience = \"{RESOURCE}\"\n{extra}\n\
         [default.oidc.providers.default.client_credentials]\nscope = [\"read\"]\n\
         resource = \"{RESOURCE}\""
    );
    TestApp::api()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider)
        .start()
        .await
}

async fn caller_token(op: &NodeOp, scope: &str) -> String {
    client_token(&op.issuer, CALLER, CALLER_SECRET, scope, Some(RESOURCE)).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// GET `uri` with `Authorization: Bearer <token>`: status, WWW-Authenticate, JSON body.
async fn call(client: &Client, uri: &str, token: &str) -> (Status, Option<String>, Value) {
    call_with(
        client,
        uri,
        Header::new("Authorization", format!("Bearer {token}")),
    )
    .await
}

async fn call_with(
    client: &Client,
    uri: &str,
    header: Header<'static>,
) -> (Status, Option<String>, Value) {
    let response = client.get(uri.to_string()).header(header).dispatch().await;
    let status = response.status();
    let challenge = response
        .headers()
        .get_one("WWW-Authenticate")
        .map(str::to_string);
    let body = response.into_string().await.unwrap_or_default();
    (
        status,
        challenge,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

#[rocket::async_test]
async fn jwt_access_tokens_are_checked_locally_with_scopes() {
    let op = provider(&[]);
    let client = api(&op, "access_token_validation = \"jwt\"").await;
    let token = caller_token(&op, "read").await;
    assert_eq!(token.split('.').count(), 3, "a JWT access token");

    let (status, _, body) = call(&client, "/api/me", &token).await;
    assert_eq!(status, Status::Ok, "{body}");
    assert_eq!(
        body,
        json!({"sub": CALLER, "scope": "read", "client_id": CALLER})
    );

    let (status, challenge, body) = call(&client, "/api/admin", &token).await;
    assert_eq!(status, Status::Forbidden);
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(
        challenge.as_deref(),
        Some("Bearer realm=\"default\", error=\"insufficient_scope\", scope=\"admin\"")
    );
    let admin = caller_token(&op, "read admin").await;
    let (status, _, body) = call(&client, "/api/admin", &admin).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body["sub"], CALLER);

    // Scheme in any case.
    let (status, _, _) = call_with(
        &client,
        "/api/me",
        Header::new("Authorization", format!("bEaReR {token}")),
    )
    .await;
    assert_eq!(status, Status::Ok);
    assert_eq!(op.hits("/token/introspection").await, 0, "checked locally");

    // Forged (the signature of another token), and not for this API: 401 invalid_token.
    let mut parts: Vec<&str> = token.split('.').collect();
    let admin_parts: Vec<&str> = admin.split('.').collect();
    parts[2] = admin_parts[2];
    let (status, challenge, body) = call(&client, "/api/me", &parts.join(".")).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(
        challenge.as_deref(),
        Some("Bearer realm=\"default\", error=\"invalid_token\"")
    );
}

#[rocket::async_test]
async fn a_token_for_another_audience_or_none_is_refused() {
    let op = provider(&[("OP_RESOURCE_FORMAT", "opaque")]);
    // The API expects another audience than the provider's resource.
    let provider = format!(
        "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
         access_token_audience = \"https://other.example\""
    );
    let client = TestApp::api()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider)
        .start()
        .await;
    let token = caller_token(&op, "read").await;
    let (status, _, body) = call(&client, "/api/me", &token).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(body["error"], "invalid_token");

    // A token without aud (a client-credentials token without resource): never for an API.
    let client = api(&op, "").await;
    let bare = client_token(&op.issuer, CALLER, CALLER_SECRET, "", None).await;
    let (status, _, body) = call(&client, "/api/me", bare["access_token"].as_str().unwrap()).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(body["error"], "invalid_token");

    // An introspected token without the admin scope: 403 at /api/admin.
    let read_only = caller_token(&op, "read").await;
    let (status, challenge, body) = call(&client, "/api/admin", &read_only).await;
    assert_eq!(status, Status::Forbidden);
    assert_eq!(body["error"], "insufficient_scope");
    assert!(challenge.unwrap().contains("scope=\"admin\""));
}

#[rocket::async_test]
async fn a_jwt_for_another_audience_is_refused_locally() {
    let op = provider(&[]);
    let provider = format!(
        "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
         access_token_audience = \"https://other.example\"\naccess_token_validation = \"jwt\""
    );
    let client = TestApp::api()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider)
        .start()
        .await;
    let token = caller_token(&op, "read").await;
    assert_eq!(token.split('.').count(), 3);
    let (status, _, body) = call(&client, "/api/me", &token).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(op.hits("/token/introspection").await, 0);
}

#[rocket::async_test]
async fn introspection_answers_are_kept_a_bounded_time() {
    let op = provider(&[("OP_RESOURCE_FORMAT", "opaque")]);
    let client = api(&op, "introspection_cache_seconds = 1").await;
    let token = caller_token(&op, "read admin").await;
    assert_eq!(token.split('.').count(), 1, "an opaque token");
    for _ in 0..3 {
        let (status, _, body) = call(&client, "/api/me", &token).await;
        assert_eq!(status, Status::Ok, "{body}");
        assert_eq!(body["client_id"], CALLER);
    }
    let (status, _, _) = call(&client, "/api/admin", &token).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(
        op.hits("/token/introspection").await,
        1,
        "one provider call"
    );

    // Revoked: still answered from the cache for at most introspection_cache_seconds.
    revoke(&op.issuer, CALLER, CALLER_SECRET, &token).await;
    let (status, _, _) = call(&client, "/api/me", &token).await;
    assert_eq!(status, Status::Ok, "within the cache time");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, challenge, body) = call(&client, "/api/me", &token).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(body["error"], "invalid_token");
    assert!(challenge.unwrap().contains("invalid_token"));
    assert_eq!(op.hits("/token/introspection").await, 2);
}

#[rocket::async_test]
async fn expired_tokens_are_refused_both_ways() {
    let op = provider(&[("OP_RESOURCE_TTL", "2")]);
    let jwt_api = api(&op, "access_token_validation = \"jwt\"").await;
    let token = caller_token(&op, "read").await;
    let (status, _, _) = call(&jwt_api, "/api/me", &token).await;
    assert_eq!(status, Status::Ok);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // The clock skew (60 s by default) would still accept it: a skew of 0 here.
    let strict = TestApp::api()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&format!(
            "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
             access_token_audience = \"{RESOURCE}\"\naccess_token_validation = \"jwt\""
        ))
        .oidc("clock_skew = 0")
        .start()
        .await;
    let (status, _, body) = call(&strict, "/api/me", &token).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(body["error"], "invalid_token");

    // By introspection: the answer is kept only until the token's exp (the cache would
    // allow 30 s), then the provider says it is no longer active.
    let op = provider(&[("OP_RESOURCE_TTL", "2"), ("OP_RESOURCE_FORMAT", "opaque")]);
    let client = api(&op, "access_token_validation = \"introspection\"").await;
    let token = caller_token(&op, "read").await;
    let (status, _, _) = call(&client, "/api/me", &token).await;
    assert_eq!(status, Status::Ok);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, _, body) = call(&client, "/api/me", &token).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(
        op.hits("/token/introspection").await,
        2,
        "asked again after exp"
    );
}

#[rocket::async_test]
async fn auto_checks_jwts_locally_and_introspects_the_rest() {
    let op = provider(&[]);
    let client = api(&op, "").await;
    let jwt = caller_token(&op, "read").await;
    let (status, _, _) = call(&client, "/api/me", &jwt).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(op.hits("/token/introspection").await, 0);
    // An opaque token is introspected (this one is unknown to the provider).
    let (status, _, body) = call(&client, "/api/me", "opaque-and-unknown").await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(op.hits("/token/introspection").await, 1);
    // A JWT that fails locally is not retried by introspection.
    let mut parts: Vec<String> = jwt.split('.').map(str::to_string).collect();
    let first = if parts[2].starts_with('A') { "B" } else { "A" };
    parts[2].replace_range(0..1, first);
    let (status, _, _) = call(&client, "/api/me", &parts.join(".")).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(op.hits("/token/introspection").await, 1);
}

#[rocket::async_test]
async fn malformed_requests_get_rfc_6750_answers_without_asking_the_provider() {
    let op = provider(&[]);
    let client = api(&op, "").await;
    // No token, even from a browser: 401, never a redirect.
    let response = client.get("/api/me").header(Accept::HTML).dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(
        response.headers().get_one("WWW-Authenticate"),
        Some("Bearer realm=\"default\"")
    );
    // Another scheme counts as no token.
    let (status, challenge, _) = call_with(
        &client,
        "/api/me",
        Header::new("Authorization", "Basic YTpi"),
    )
    .await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(challenge.as_deref(), Some("Bearer realm=\"default\""));
    // A token in the query string or a form body: 400 invalid_request.
    let response = client.get("/api/me?access_token=abc").dispatch().await;
    assert_eq!(response.status(), Status::BadRequest);
    let response = client
        .get("/api/me")
        .header(rocket::http::ContentType::Form)
        .body("access_token=abc")
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::BadRequest);
    // Too long, or not token characters: refused locally.
    for size in [9_000, 100_000] {
        let (status, _, body) = call(&client, "/api/me", &"a".repeat(size)).await;
        assert_eq!(status, Status::Unauthorized, "{size} bytes");
        assert_eq!(body["error"], "invalid_token");
    }
    let (status, _, _) = call(&client, "/api/me", "not a token").await;
    assert_eq!(status, Status::Unauthorized);
    // JWS-shaped ({"alg":"RS256"}), so checked locally: no typ at+jwt, refused.
    let (status, _, _) = call(&client, "/api/me", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln").await;
    assert_eq!(status, Status::Unauthorized, "a JWT shape that is no token");
    assert_eq!(op.hits("/token/introspection").await, 0);
}

#[rocket::async_test]
async fn either_takes_a_bearer_token_or_a_browser_session() {
    let op = provider(&[]);
    let client = api(&op, "").await;
    let token = caller_token(&op, "read").await;
    let (status, _, body) = call(&client, "/api/either", &token).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(body, json!({"sub": CALLER, "via": "bearer"}));

    // No header, no session: a non-browser gets 401, a browser goes to the provider.
    let response = client
        .get("/api/either")
        .header(Accept::JSON)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
    let auth_url = start_login(&client, "/api/either").await;
    let (callback, _) = through_provider(
        &provider_browser(),
        &auth_url,
        "http://127.0.0.1:8000/",
        AtProvider::LogIn("alice"),
    )
    .await;
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(location(&response), "/api/either");
    let response = browse(&client, "/api/either").await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        json(&response.into_string().await.unwrap()),
        json!({"sub": "alice", "via": "session"})
    );
    // A header decides, even with a session cookie: a bad token is 401, not the session.
    let (status, _, body) = call(&client, "/api/either", "bad-token").await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(body["error"], "invalid_token");
}

#[rocket::async_test]
async fn the_client_credentials_token_is_reused_and_renewed() {
    let op = provider(&[("OP_TTL_CLIENT_CREDENTIALS", "3")]);
    let client = api(&op, "").await;
    // Twenty callers at once at first use: one token request.
    let calls = (0..20).map(|_| client.get("/api/outgoing").dispatch());
    let responses = futures_join_all(calls).await;
    for response in responses {
        assert_eq!(response.status(), Status::Ok);
    }
    assert_eq!(
        op.hits("/token").await,
        1,
        "one token request for twenty callers"
    );
    let body = json(
        &client
            .get("/api/outgoing")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap(),
    );
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() <= 3);
    assert!(body.get("access_token").is_none(), "never the token itself");
    // Renewed once it is about to expire (a 3 s token: in its last 0.3 s at the latest).
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let body = json(
        &client
            .get("/api/outgoing")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap(),
    );
    assert_eq!(op.hits("/token").await, 2, "renewed: {body}");
}

/// The session's access token and a DPoP proof for `method` on `url`.
#[rocket::get("/proof?<method>&<url>")]
async fn proof(
    mut user: rocket_oidc_auth::Authenticated<rocket_oidc_auth::provider::Default>,
    method: &str,
    url: &str,
) -> Option<rocket::serde::json::Json<Value>> {
    let token = user.valid_access_token().await.ok()?;
    Some(rocket::serde::json::Json(json!({
        "token_type": token.token_type(),
        "token": token.secret(),
        "proof": user.dpop_proof(method, url, None),
    })))
}

/// The API example with logins bound to the session's DPoP key (JWT access tokens for the
/// API), `oidc` lines under `[default.oidc]`, and `user` logged in.
async fn dpop_session(op: &NodeOp, user: &str, oidc: &str) -> Client {
    let provider = format!(
        "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
         access_token_audience = \"{RESOURCE}\"\ndpop = true\nuserinfo_http_method = \"none\""
    );
    let client = TestApp::api()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider)
        .oidc(oidc)
        .mount("/t", rocket::routes![proof])
        .start()
        .await;
    let auth_url = start_login(&client, "/login").await;
    let (callback, _) = through_provider(
        &provider_browser(),
        &auth_url,
        "http://127.0.0.1:8000/",
        AtProvider::LogIn(user),
    )
    .await;
    assert_eq!(
        browse(&client, &path_and_query(&callback)).await.status(),
        Status::SeeOther
    );
    client
}

/// The session's access token and a fresh proof for `method` on `url`, as `/t/proof` made
/// them.
async fn made(client: &Client, method: &str, url: &str) -> Value {
    let uri = format!(
        "/t/proof?method={method}&url={}",
        url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()
    );
    json(
        &client
            .get(uri)
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap(),
    )
}

#[rocket::async_test]
async fn dpop_bound_tokens_need_a_fresh_proof_of_their_key() {
    // Logins get a JWT access token for the API, bound to the session's DPoP key.
    let op = provider(&[("OP_DEFAULT_RESOURCE", "1")]);
    let client = dpop_session(&op, "dora", "").await;
    let url = "http://127.0.0.1:8000/api/me";
    let made = |method: &'static str, url: &'static str| made(&client, method, url);
    let first = made("GET", url).await;
    assert_eq!(first["token_type"], "DPoP");
    let token = first["token"].as_str().unwrap().to_string();
    let with_proof = |proof: &str| {
        client
            .get("/api/me")
            .header(Header::new("Authorization", format!("DPoP {token}")))
            .header(Header::new("DPoP", proof.to_string()))
            .dispatch()
    };
    let response = with_proof(first["proof"].as_str().unwrap()).await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(json(&response.into_string().await.unwrap())["sub"], "dora");

    // The same proof again: a replay.
    let response = with_proof(first["proof"].as_str().unwrap()).await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(
        response.headers().get_one("WWW-Authenticate"),
        Some("DPoP realm=\"default\", error=\"invalid_dpop_proof\"")
    );
    // A proof for another URL or method.
    let other = made("GET", "http://127.0.0.1:8000/api/admin").await;
    assert_eq!(
        with_proof(other["proof"].as_str().unwrap()).await.status(),
        Status::Unauthorized
    );
    let post = made("POST", url).await;
    assert_eq!(
        with_proof(post["proof"].as_str().unwrap()).await.status(),
        Status::Unauthorized
    );
    // The bound token as a plain Bearer token, or without a proof.
    let (status, _, body) = call(&client, "/api/me", &token).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(body["error"], "invalid_token");
    let response = client
        .get("/api/me")
        .header(Header::new("Authorization", format!("DPoP {token}")))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
    // A fresh proof works again.
    let fresh = made("GET", url).await;
    assert_eq!(
        with_proof(fresh["proof"].as_str().unwrap()).await.status(),
        Status::Ok
    );
}

#[rocket::async_test]
async fn one_dpop_key_fills_only_its_share_of_the_replay_cache() {
    // The cookie store's marks in the smallest store there is, and a small share per key:
    // the proofs must neither fill the marks nor go past their own bound.
    let op = provider(&[("OP_DEFAULT_RESOURCE", "1")]);
    let client = dpop_session(
        &op,
        "erin",
        "[default.oidc.session.memory]\ncapacity = 16\n[default.oidc.limits]\ndpop_proofs_per_key = 20",
    )
    .await;
    let url = "http://127.0.0.1:8000/api/me";
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let made = made(&client, "GET", url).await;
        let response = client
            .get("/api/me")
            .header(Header::new(
                "Authorization",
                format!("DPoP {}", made["token"].as_str().unwrap()),
            ))
            .header(Header::new(
                "DPoP",
                made["proof"].as_str().unwrap().to_string(),
            ))
            .dispatch()
            .await;
        let retry = response
            .headers()
            .get_one("Retry-After")
            .map(str::to_string);
        statuses.push((response.status().code, retry));
    }
    let ok = statuses.iter().filter(|(code, _)| *code == 200).count();
    assert_eq!(ok, 20, "the key's share, then refusals: {statuses:?}");
    for (code, retry) in &statuses[20..] {
        assert_eq!(*code, 429, "{statuses:?}");
        let after: u64 = retry.as_deref().expect("Retry-After").parse().unwrap();
        // At most a proof's lifetime: 2 × (60 s + clock_skew 60 s) + 2 s.
        assert!((1..=242).contains(&after), "{after}");
    }
    // The session's own logout still goes through: the proofs filled no mark store.
    let response = client
        .post("/logout")
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
}
