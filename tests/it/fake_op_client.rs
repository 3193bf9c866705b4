//! The client settings against a provider that misbehaves on purpose (`common::fake_op`):
//! pushed authorization requests, client assertions, DPoP, dynamic registration and the
//! per-provider HTTP settings, with what the provider received checked field by field, and
//! every wrong answer ending in the right status or a stopped launch.

use crate::common::app::*;
use crate::common::clients::{fixture, public_jwk};
use crate::common::fake_op::{
    self, jwt_parts, verify_jws, Behaviour, FakeOp, ParResponse, Recorded, RegistrationResponse,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rocket::http::Status;
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

const APP_ORIGIN: &str = "http://127.0.0.1:8000";

/// A fake provider behaving as `f` says from its first request (launch discovers at once).
async fn provider(f: impl FnOnce(&mut Behaviour)) -> FakeOp {
    let op = FakeOp::start().await;
    op.set(f);
    op
}

/// A configuration with one provider `default` at `issuer` whose table holds `provider`
/// lines (besides issuer and scope), followed by `tail` (more tables).
fn config(issuer: &str, provider: &str, tail: &str) -> TestApp {
    TestApp::quickstart()
        .issuer(issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&format!("{provider}\n{tail}"))
}

/// The fake provider's own client, authenticated with its secret (Basic), plus `extra`.
fn with_secret(issuer: &str, extra: &str) -> TestApp {
    TestApp::quickstart()
        .issuer(issuer)
        .client(fake_op::CLIENT_ID, fake_op::CLIENT_SECRET)
        .provider_table(extra)
}

/// `test-client` authenticating with `private_key_jwt` and the P-256 fixture key.
fn p256_client(extra: &str) -> String {
    format!(
        "client_id = \"{}\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\nprivate_key = \"{}\"\n{extra}",
        fake_op::CLIENT_ID,
        fixture("client_p256_sec1.pem")
    )
}

/// RFC 7638: SHA-256 over the required members of an EC key in lexicographic order.
fn ec_thumbprint(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().unwrap(),
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A whole login through `/login` at the fake provider; returns `/login`'s JSON.
async fn logs_in(client: &Client) -> Value {
    let auth_url = start_login(client, "/login").await;
    logs_in_at(client, &auth_url).await
}

/// Finishes a login started with `auth_url`; returns `/login`'s JSON.
async fn logs_in_at(client: &Client, auth_url: &str) -> Value {
    finish_login(client, &authorize_at_once(auth_url).await).await
}

/// The callback's answer to a login started with `auth_url`.
async fn callback_answer<'c>(client: &'c Client, auth_url: &str) -> LocalResponse<'c> {
    let callback = authorize_at_once(auth_url).await;
    browse(client, &path_and_query(&callback)).await
}

/// Status and JSON body (the quickstart's catcher: `{"error", "message"}`) of a response.
async fn error_of(response: LocalResponse<'_>) -> (Status, Value) {
    let status = response.status();
    assert!(
        response.headers().get_one("Location").is_none(),
        "no redirect"
    );
    (status, json(&response.into_string().await.unwrap()))
}

/// The `user:password` of a Basic `Authorization` header.
fn basic_credentials(request: &Recorded) -> String {
    let value = request
        .header("authorization")
        .expect("an Authorization header");
    let encoded = value.strip_prefix("Basic ").expect("Basic authentication");
    String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------
// Pushed authorization requests (RFC 9126)
// ---------------------------------------------------------------------------

#[rocket::async_test]
async fn par_sends_the_browser_only_a_reference_and_the_login_completes() {
    let op = provider(|b| b.par = Some(ParResponse::Created)).await;
    let client = with_secret(&op.issuer, "use_par = true").start().await;

    let auth_url = start_login(&client, "/login").await;
    assert!(auth_url.starts_with(&format!("{}/authorize?", op.issuer)));
    assert_eq!(
        query_names(&auth_url),
        ["client_id", "request_uri"],
        "{auth_url}"
    );
    assert_eq!(
        param(&auth_url, "client_id").as_deref(),
        Some(fake_op::CLIENT_ID)
    );
    assert!(param(&auth_url, "request_uri")
        .unwrap()
        .starts_with("urn:ietf:params:oauth:request_uri:"));

    assert_eq!(op.hits("/par"), 1);
    let pushed = op.last_request("/par").unwrap();
    assert_eq!(
        basic_credentials(&pushed),
        format!("{}:{}", fake_op::CLIENT_ID, fake_op::CLIENT_SECRET)
    );
    let form = pushed.form_params();
    assert_eq!(form["client_id"], fake_op::CLIENT_ID);
    assert_eq!(form["redirect_uri"], REDIRECT_URI);
    assert_eq!(form["response_type"], "code");
    assert_eq!(form["code_challenge_method"], "S256");
    for name in ["state", "nonce", "code_challenge"] {
        assert!(
            form.get(name).is_some_and(|v| v.len() >= 20),
            "{name} in {form:?}"
        );
    }
    assert!(
        !form.contains_key("client_secret"),
        "the secret went in Basic"
    );

    // The provider answers with the pushed state, and the login goes through.
    let callback = authorize_at_once(&auth_url).await;
    assert_eq!(param(&callback, "state").as_deref(), Some(&*form["state"]));
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::SeeOther);
    let response = browse(&client, "/login").await;
    assert_eq!(response.status(), Status::Ok);
    let body = json(&response.into_string().await.unwrap());
    assert_eq!(body["id_token"]["sub"], "alice");
    assert_eq!(body["id_token"]["nonce"], form["nonce"].as_str());
}

#[rocket::async_test]
async fn a_par_answer_without_request_uri_is_a_bad_gateway() {
    let op = provider(|b| b.par = Some(ParResponse::NoRequestUri)).await;
    let client = with_secret(&op.issuer, "use_par = true").start().await;
    let (status, body) = error_of(browse(&client, "/login").await).await;
    assert_eq!(status, Status::BadGateway);
    assert_eq!(body["error"], "bad_provider_response");
    assert_eq!(op.hits("/par"), 1);
    assert_eq!(op.hits("/authorize"), 0);
}

#[rocket::async_test]
async fn a_failing_par_endpoint_is_a_bad_gateway() {
    for status in [500, 404, 503] {
        let op = provider(|b| b.par = Some(ParResponse::Status(status))).await;
        let client = with_secret(&op.issuer, "use_par = true").start().await;
        let (answer, body) = error_of(browse(&client, "/login").await).await;
        assert_eq!(answer, Status::BadGateway, "PAR {status}");
        assert_eq!(body["error"], "bad_provider_response", "PAR {status}");
    }
}

#[rocket::async_test]
async fn a_par_refusal_is_the_providers_answer_unless_it_refuses_the_client() {
    let op = provider(|b| b.par = Some(ParResponse::OAuthError("invalid_request".into()))).await;
    let client = with_secret(&op.issuer, "use_par = true").start().await;
    let (status, body) = error_of(browse(&client, "/login").await).await;
    assert_eq!(status, Status::BadRequest);
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["message"], "test error");

    // The app's own credentials refused: the operators' problem, not the user's.
    op.set(|b| b.par = Some(ParResponse::OAuthError("invalid_client".into())));
    let (status, body) = error_of(browse(&client, "/login").await).await;
    assert_eq!(status, Status::BadGateway);
    assert_eq!(body["error"], "invalid_client");

    // So is a wrong secret, which the provider itself refuses.
    op.set(|b| b.par = Some(ParResponse::Created));
    let client = TestApp::quickstart()
        .issuer(&op.issuer)
        .client(fake_op::CLIENT_ID, "wrong-secret")
        .provider_table("use_par = true")
        .start()
        .await;
    let (status, body) = error_of(browse(&client, "/login").await).await;
    assert_eq!(status, Status::BadGateway);
    assert_eq!(body["error"], "invalid_client");
}

#[rocket::async_test]
async fn use_par_against_a_provider_without_par_stops_launch() {
    let op = provider(|_| {}).await;
    with_secret(&op.issuer, "use_par = true")
        .launch_fails()
        .await;
    assert_eq!(op.hits("/par"), 0);
}

#[rocket::async_test]
async fn a_provider_that_requires_par_gets_it_without_use_par() {
    let op = provider(|b| {
        b.par = Some(ParResponse::Created);
        b.require_par = true;
    })
    .await;
    let client = with_secret(&op.issuer, "").start().await;
    let auth_url = start_login(&client, "/login").await;
    assert_eq!(
        query_names(&auth_url),
        ["client_id", "request_uri"],
        "{auth_url}"
    );
    assert_eq!(op.hits("/par"), 1);
    let body = logs_in_at(&client, &auth_url).await;
    assert_eq!(body["id_token"]["sub"], "alice");

    // Required, but no endpoint to push to: launch stops.
    let op = provider(|b| b.require_par = true).await;
    with_secret(&op.issuer, "").launch_fails().await;
}

// ---------------------------------------------------------------------------
// Client assertions (RFC 7523, Core 9)
// ---------------------------------------------------------------------------

#[rocket::async_test]
async fn a_private_key_jwt_assertion_is_signed_by_the_key_and_names_the_client() {
    let jwk = public_jwk("client_p256_sec1");
    let op = provider(|b| b.client_jwk = Some(jwk.clone())).await;
    let app = || config(&op.issuer, &p256_client(""), "");

    let mut jtis = Vec::new();
    for _ in 0..2 {
        // A new browser each time: two logins, two assertions.
        let client = app().start().await;
        let body = logs_in(&client).await;
        assert_eq!(body["id_token"]["aud"], fake_op::CLIENT_ID);

        let request = op.last_request("/token").unwrap();
        assert!(
            request.header("authorization").is_none(),
            "no Basic next to an assertion"
        );
        let form = request.form_params();
        assert_eq!(form["client_assertion_type"], fake_op::JWT_BEARER);
        assert!(!form.contains_key("client_secret"));
        let assertion = &form["client_assertion"];
        let (header, claims) = jwt_parts(assertion).expect("a compact JWS");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], jwk["kid"]);
        assert_eq!(
            header["kid"],
            ec_thumbprint(&jwk),
            "the RFC 7638 thumbprint"
        );
        assert!(verify_jws(&jwk, assertion), "signed with the client's key");
        assert_eq!(claims["iss"], fake_op::CLIENT_ID);
        assert_eq!(claims["sub"], fake_op::CLIENT_ID);
        assert_eq!(claims["aud"], op.issuer.as_str());
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert!(exp > iat && exp - iat <= 60, "iat {iat}, exp {exp}");
        jtis.push(claims["jti"].as_str().unwrap().to_string());
    }
    assert_ne!(jtis[0], jtis[1], "a fresh jti per assertion");
    assert_eq!(op.hits("/token"), 2);
}

#[rocket::async_test]
async fn client_assertion_audience_token_endpoint_names_the_token_endpoint() {
    let jwk = public_jwk("client_p256_sec1");
    let op = provider(|b| b.client_jwk = Some(jwk.clone())).await;
    let client = config(
        &op.issuer,
        &p256_client("client_assertion_audience = \"token_endpoint\""),
        "",
    )
    .start()
    .await;
    logs_in(&client).await;
    let form = op.last_request("/token").unwrap().form_params();
    let (_, claims) = jwt_parts(&form["client_assertion"]).unwrap();
    assert_eq!(claims["aud"], format!("{}/token", op.issuer));
}

#[rocket::async_test]
async fn client_assertion_audience_endpoint_names_each_endpoint_it_is_sent_to() {
    let jwk = public_jwk("client_p256_sec1");
    let op = provider(|b| {
        b.client_jwk = Some(jwk.clone());
        b.par = Some(ParResponse::Created);
    })
    .await;
    let client = config(
        &op.issuer,
        &p256_client("client_assertion_audience = \"endpoint\"\nuse_par = true"),
        "",
    )
    .start()
    .await;
    let auth_url = start_login(&client, "/login").await;
    let body = logs_in_at(&client, &auth_url).await;
    assert_eq!(body["id_token"]["sub"], "alice");
    for endpoint in ["/par", "/token"] {
        let form = op.last_request(endpoint).unwrap().form_params();
        let (_, claims) = jwt_parts(&form["client_assertion"]).unwrap();
        assert_eq!(claims["aud"], format!("{}{endpoint}", op.issuer));
    }
}

#[rocket::async_test]
async fn an_assertion_signed_by_a_key_the_provider_does_not_know_is_a_bad_gateway() {
    // The provider knows the Ed25519 key; the app signs with the P-256 one.
    let op = provider(|b| b.client_jwk = Some(public_jwk("client_ed25519"))).await;
    let client = config(&op.issuer, &p256_client(""), "").start().await;
    let auth_url = start_login(&client, "/login").await;
    let (status, body) = error_of(callback_answer(&client, &auth_url).await).await;
    assert_eq!(status, Status::BadGateway, "the app's credentials");
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(op.hits("/token"), 1);
}

#[rocket::async_test]
async fn a_par_request_authenticates_with_the_assertion_too() {
    let jwk = public_jwk("client_p256_sec1");
    let op = provider(|b| {
        b.client_jwk = Some(jwk.clone());
        b.par = Some(ParResponse::Created);
    })
    .await;
    let client = config(&op.issuer, &p256_client("use_par = true"), "")
        .start()
        .await;
    let auth_url = start_login(&client, "/login").await;
    let pushed = op.last_request("/par").unwrap();
    assert!(pushed.header("authorization").is_none());
    let form = pushed.form_params();
    assert_eq!(form["client_id"], fake_op::CLIENT_ID);
    assert_eq!(form["client_assertion_type"], fake_op::JWT_BEARER);
    assert!(verify_jws(&jwk, &form["client_assertion"]));
    let body = logs_in_at(&client, &auth_url).await;
    assert_eq!(body["id_token"]["sub"], "alice");
    let par_jti = jwt_parts(&form["client_assertion"]).unwrap().1["jti"].clone();
    let token_form = op.last_request("/token").unwrap().form_params();
    let token_jti = jwt_parts(&token_form["client_assertion"]).unwrap().1["jti"].clone();
    assert_ne!(par_jti, token_jti, "one assertion per request");
}

#[rocket::async_test]
async fn a_client_secret_jwt_assertion_is_an_hmac_of_the_secret() {
    let op = provider(|_| {}).await;
    let client = with_secret(
        &op.issuer,
        "token_endpoint_auth_method = \"client_secret_jwt\"",
    )
    .start()
    .await;
    let body = logs_in(&client).await;
    assert_eq!(body["id_token"]["sub"], "alice");

    let request = op.last_request("/token").unwrap();
    assert!(request.header("authorization").is_none());
    let form = request.form_params();
    assert_eq!(form["client_assertion_type"], fake_op::JWT_BEARER);
    assert!(
        !form.contains_key("client_secret"),
        "the secret never travels"
    );
    let assertion = &form["client_assertion"];
    let (header, claims) = jwt_parts(assertion).unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(claims["iss"], fake_op::CLIENT_ID);
    assert_eq!(claims["sub"], fake_op::CLIENT_ID);
    assert_eq!(claims["aud"], op.issuer.as_str());
    let (input, tag) = assertion.rsplit_once('.').unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, fake_op::CLIENT_SECRET.as_bytes());
    ring::hmac::verify(
        &key,
        input.as_bytes(),
        &URL_SAFE_NO_PAD.decode(tag).unwrap(),
    )
    .expect("keyed by the client secret");
}

#[rocket::async_test]
async fn an_assertion_algorithm_the_provider_does_not_list_stops_launch() {
    // The P-256 key signs ES256; the provider takes RS256 and PS256 only.
    let op = provider(|b| b.assertion_algs = Some(vec!["RS256".into(), "PS256".into()])).await;
    config(&op.issuer, &p256_client(""), "")
        .launch_fails()
        .await;
    // client_secret_jwt signs HS256; the provider takes ES256 only.
    op.set(|b| b.assertion_algs = Some(vec!["ES256".into()]));
    with_secret(
        &op.issuer,
        "token_endpoint_auth_method = \"client_secret_jwt\"",
    )
    .launch_fails()
    .await;
    // Listed: the app launches.
    op.set(|b| b.assertion_algs = Some(vec!["RS256".into(), "ES256".into()]));
    drop(config(&op.issuer, &p256_client(""), "").start().await);
}

// ---------------------------------------------------------------------------
// DPoP (RFC 9449)
// ---------------------------------------------------------------------------

#[rocket::async_test]
async fn dpop_proves_the_token_request_and_the_userinfo_request() {
    let op = provider(|b| b.dpop_algs = Some(vec!["ES256".into(), "EdDSA".into()])).await;
    let client = with_secret(&op.issuer, "dpop = true").start().await;
    let body = logs_in(&client).await;
    assert_eq!(body["id_token"]["sub"], "alice");
    assert_eq!(body["userinfo"]["sub"], "alice");

    let token_request = op.last_request("/token").unwrap();
    let proof = token_request.header("dpop").expect("a DPoP header");
    let (header, claims) = jwt_parts(proof).unwrap();
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    let jwk = &header["jwk"];
    assert_eq!(jwk["kty"], "EC");
    assert!(jwk.get("d").is_none(), "no private part: {jwk}");
    assert!(verify_jws(jwk, proof), "signed with the key it names");
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], format!("{}/token", op.issuer));
    assert!(claims["jti"].is_string());
    assert!(claims.get("ath").is_none(), "no access token yet");

    // The UserInfo request uses the token as DPoP, with a proof of the same key.
    let userinfo = op.last_request("/userinfo").unwrap();
    let access_token = body["access_token"].as_str().unwrap();
    assert_eq!(
        userinfo.header("authorization"),
        Some(format!("DPoP {access_token}").as_str())
    );
    let proof = userinfo.header("dpop").expect("a DPoP header");
    let (header, claims) = jwt_parts(proof).unwrap();
    assert_eq!(&header["jwk"], jwk, "the session's one key");
    assert_eq!(claims["htm"], userinfo.method);
    assert_eq!(claims["htu"], format!("{}/userinfo", op.issuer));
    assert_eq!(
        claims["ath"],
        URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
    );
}

#[rocket::async_test]
async fn a_bearer_answer_to_a_dpop_request_is_a_bad_gateway() {
    let op = provider(|b| b.token_type = Some("Bearer".into())).await;
    let client = with_secret(&op.issuer, "dpop = true").start().await;
    let auth_url = start_login(&client, "/login").await;
    let (status, body) = error_of(callback_answer(&client, &auth_url).await).await;
    assert_eq!(status, Status::BadGateway);
    assert_eq!(body["error"], "bad_provider_response");
    assert!(op.last_request("/token").unwrap().header("dpop").is_some());
    assert_eq!(op.hits("/userinfo"), 0, "no session, no further call");
    let response = browse(&client, "/login").await;
    assert_eq!(response.status(), Status::SeeOther, "still logged out");
}

#[rocket::async_test]
async fn a_dpop_answer_to_a_plain_request_is_a_bad_gateway() {
    let op = provider(|b| b.token_type = Some("DPoP".into())).await;
    let client = with_secret(&op.issuer, "").start().await;
    let auth_url = start_login(&client, "/login").await;
    let (status, body) = error_of(callback_answer(&client, &auth_url).await).await;
    assert_eq!(status, Status::BadGateway);
    assert_eq!(body["error"], "bad_provider_response");
    assert!(op.last_request("/token").unwrap().header("dpop").is_none());
}

#[rocket::async_test]
async fn dpop_with_a_provider_that_lists_only_rs256_stops_launch() {
    let op = provider(|b| b.dpop_algs = Some(vec!["RS256".into()])).await;
    with_secret(&op.issuer, "dpop = true").launch_fails().await;
    // The same provider without DPoP is fine.
    drop(with_secret(&op.issuer, "").start().await);
    // And an EdDSA key for a provider that lists EdDSA.
    op.set(|b| b.dpop_algs = Some(vec!["EdDSA".into()]));
    let client = with_secret(&op.issuer, "dpop = true\ndpop_alg = \"EdDSA\"")
        .start()
        .await;
    logs_in(&client).await;
    let proof = op.last_request("/token").unwrap();
    let (header, _) = jwt_parts(proof.header("dpop").unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["jwk"]["crv"], "Ed25519");
}

// ---------------------------------------------------------------------------
// Dynamic client registration (RFC 7591, RFC 7592)
// ---------------------------------------------------------------------------

/// A fresh path for a registration file (its folder exists, the file does not).
fn registration_file() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rocket-oidc-fake-registration-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("client.json")
}

/// A provider `default` registered dynamically, kept in `file`: `registration` lines go in
/// its `client_registration` table.
fn registering(issuer: &str, file: &std::path::Path, registration: &str) -> TestApp {
    config(
        issuer,
        &format!("registration_file = \"{}\"", file.display()),
        &format!(
            "[default.oidc.providers.default.client_registration]\nclient_name = \"fake op test\"\n{registration}"
        ),
    )
}

fn kept(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[rocket::async_test]
async fn a_registration_sends_the_apps_metadata_and_logins_use_the_registered_client() {
    let op = provider(|b| {
        b.registration = Some(RegistrationResponse::Created);
        b.initial_access_token = Some("let-me-register".into());
    })
    .await;
    let path = registration_file();
    let client = registering(
        &op.issuer,
        &path,
        "initial_access_token = \"let-me-register\"\ncontacts = [\"ops@example.com\"]",
    )
    .start()
    .await;
    assert_eq!(op.hits("/register"), 1, "registered at launch");
    let request = op.last_request("/register").unwrap();
    assert_eq!(
        request.header("authorization"),
        Some("Bearer let-me-register")
    );
    assert!(request
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json")));
    let sent = json(&request.body);
    assert_eq!(sent["redirect_uris"], json!([REDIRECT_URI]));
    assert_eq!(
        sent["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(sent["response_types"], json!(["code"]));
    assert_eq!(sent["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        sent["backchannel_logout_uri"],
        format!("{APP_ORIGIN}/logout/backchannel")
    );
    assert_eq!(
        sent["post_logout_redirect_uris"],
        json!([format!("{APP_ORIGIN}/logout/callback")])
    );
    assert_eq!(sent["client_name"], "fake op test");
    assert_eq!(sent["contacts"], json!(["ops@example.com"]));
    assert!(
        sent.get("initial_access_token").is_none(),
        "the token is a credential, not metadata: {sent}"
    );
    assert_eq!(
        kept(&path)["response"]["client_id"],
        fake_op::REGISTERED_CLIENT_ID
    );

    // Logins use the registered client and its secret.
    let auth_url = start_login(&client, "/login").await;
    assert_eq!(
        param(&auth_url, "client_id").as_deref(),
        Some(fake_op::REGISTERED_CLIENT_ID)
    );
    let body = logs_in_at(&client, &auth_url).await;
    assert_eq!(body["id_token"]["aud"], fake_op::REGISTERED_CLIENT_ID);
    assert_eq!(
        basic_credentials(&op.last_request("/token").unwrap()),
        format!(
            "{}:{}",
            fake_op::REGISTERED_CLIENT_ID,
            fake_op::REGISTERED_CLIENT_SECRET
        )
    );
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[rocket::async_test]
async fn the_registration_tables_keys_win_over_the_implied_ones() {
    let op = provider(|b| b.registration = Some(RegistrationResponse::Created)).await;
    let path = registration_file();
    drop(
        registering(
            &op.issuer,
            &path,
            "response_types = [\"code\", \"none\"]\nlogo_uri = \"https://app.example/logo.png\"",
        )
        .start()
        .await,
    );
    let sent = json(&op.last_request("/register").unwrap().body);
    assert_eq!(sent["response_types"], json!(["code", "none"]));
    assert_eq!(sent["logo_uri"], "https://app.example/logo.png");
    // The keys the table leaves out are still implied.
    assert_eq!(sent["redirect_uris"], json!([REDIRECT_URI]));
    assert_eq!(
        sent["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[rocket::async_test]
async fn a_kept_client_is_read_back_with_its_token_and_registered_again_when_refused() {
    let op = provider(|b| b.registration = Some(RegistrationResponse::Created)).await;
    let path = registration_file();
    drop(registering(&op.issuer, &path, "").start().await);
    assert_eq!(op.hits("/register"), 1);
    assert_eq!(
        op.hits("/register/registered-app"),
        0,
        "just registered: nothing to read back"
    );

    // A restart reads the kept client back (RFC 7592 2.1) and uses it.
    let client = registering(&op.issuer, &path, "").start().await;
    assert_eq!(op.hits("/register"), 1, "no second registration");
    assert_eq!(op.hits("/register/registered-app"), 1);
    let read_back = op.last_request("/register/registered-app").unwrap();
    assert_eq!(read_back.method, "GET");
    assert_eq!(
        read_back.header("authorization"),
        Some(format!("Bearer {}", fake_op::REGISTRATION_ACCESS_TOKEN).as_str())
    );
    let body = logs_in(&client).await;
    assert_eq!(body["id_token"]["aud"], fake_op::REGISTERED_CLIENT_ID);

    // A kept registration access token the provider refuses (401): the client is gone for
    // the provider, so the next start registers again.
    let mut stale = kept(&path);
    stale["response"]["registration_access_token"] = json!("stale-token");
    std::fs::write(&path, stale.to_string()).unwrap();
    drop(registering(&op.issuer, &path, "").start().await);
    // Read back once: the verdict "gone" holds for the look under the registration lock.
    assert_eq!(op.hits("/register/registered-app"), 2, "one more read-back");
    assert_eq!(op.hits("/register"), 2, "registered again");
    assert_eq!(
        op.last_request("/register/registered-app")
            .unwrap()
            .header("authorization"),
        Some("Bearer stale-token")
    );
    assert_eq!(
        kept(&path)["response"]["registration_access_token"],
        fake_op::REGISTRATION_ACCESS_TOKEN
    );
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[rocket::async_test]
async fn a_refused_registration_stops_launch_and_keeps_nothing() {
    let op = provider(|b| b.registration = Some(RegistrationResponse::InvalidRedirectUri)).await;
    let path = registration_file();
    registering(&op.issuer, &path, "").launch_fails().await;
    assert_eq!(op.hits("/register"), 1);
    assert!(!path.exists(), "nothing kept after a refusal");

    // A wrong initial access token (401) stops it too.
    op.set(|b| {
        b.registration = Some(RegistrationResponse::Created);
        b.initial_access_token = Some("right".into());
    });
    registering(&op.issuer, &path, "initial_access_token = \"wrong\"")
        .launch_fails()
        .await;
    assert!(!path.exists());
    assert!(
        !path.with_extension("json.lock").exists(),
        "the lock is released"
    );
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[rocket::async_test]
async fn a_registration_answer_without_client_id_stops_launch() {
    let op = provider(|b| b.registration = Some(RegistrationResponse::NoClientId)).await;
    let path = registration_file();
    registering(&op.issuer, &path, "").launch_fails().await;
    assert_eq!(op.hits("/register"), 1);
    assert!(!path.exists());
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[rocket::async_test]
async fn a_registration_server_error_is_passing_logins_answer_503_then_recover() {
    let op = provider(|b| b.registration = Some(RegistrationResponse::ServerError)).await;
    let path = registration_file();
    let client = registering(&op.issuer, &path, "").start().await;
    assert_eq!(op.hits("/register"), 1, "tried at launch");

    let response = browse(&client, "/login").await;
    assert_eq!(response.headers().get_one("Retry-After"), Some("5"));
    let (status, body) = error_of(response).await;
    assert_eq!(status, Status::ServiceUnavailable);
    assert_eq!(body["error"], "provider_unavailable");
    assert_eq!(op.hits("/authorize"), 0);
    assert!(!path.exists());

    // The provider recovers; after the retry pause the next login registers and proceeds.
    op.set(|b| b.registration = Some(RegistrationResponse::Created));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let auth_url = start_login(&client, "/login").await;
    assert_eq!(
        param(&auth_url, "client_id").as_deref(),
        Some(fake_op::REGISTERED_CLIENT_ID)
    );
    assert_eq!(
        kept(&path)["response"]["client_id"],
        fake_op::REGISTERED_CLIENT_ID
    );
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[rocket::async_test]
async fn a_registered_client_that_must_use_par_pushes_its_logins() {
    let op = provider(|b| {
        b.registration = Some(RegistrationResponse::Created);
        b.registration_extra
            .insert("require_pushed_authorization_requests".into(), json!(true));
        b.par = Some(ParResponse::Created);
    })
    .await;
    let path = registration_file();
    let client = registering(&op.issuer, &path, "").start().await;
    let auth_url = start_login(&client, "/login").await;
    assert_eq!(
        query_names(&auth_url),
        ["client_id", "request_uri"],
        "{auth_url}"
    );
    assert_eq!(
        basic_credentials(&op.last_request("/par").unwrap()),
        format!(
            "{}:{}",
            fake_op::REGISTERED_CLIENT_ID,
            fake_op::REGISTERED_CLIENT_SECRET
        )
    );
    let body = logs_in_at(&client, &auth_url).await;
    assert_eq!(body["id_token"]["aud"], fake_op::REGISTERED_CLIENT_ID);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[rocket::async_test]
async fn a_read_back_without_the_unchanged_secret_keeps_the_kept_one() {
    // RFC 7592 3: a new secret in the answer replaces the old one; none leaves it valid.
    let op = provider(|b| {
        b.registration = Some(RegistrationResponse::Created);
        b.client_configuration_omits = vec!["client_secret".into()];
    })
    .await;
    let path = registration_file();
    drop(registering(&op.issuer, &path, "").start().await);
    let client = registering(&op.issuer, &path, "").start().await;
    assert_eq!(op.hits("/register/registered-app"), 1, "read back");
    assert_eq!(
        kept(&path)["response"]["client_secret"],
        fake_op::REGISTERED_CLIENT_SECRET
    );
    let body = logs_in(&client).await;
    assert_eq!(body["id_token"]["aud"], fake_op::REGISTERED_CLIENT_ID);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[rocket::async_test]
async fn a_registered_client_that_must_use_par_without_a_par_endpoint_stops_launch() {
    let op = provider(|b| {
        b.registration = Some(RegistrationResponse::Created);
        b.registration_extra
            .insert("require_pushed_authorization_requests".into(), json!(true));
    })
    .await;
    let path = registration_file();
    registering(&op.issuer, &path, "").launch_fails().await;
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

// ---------------------------------------------------------------------------
// HTTP settings and discovery
// ---------------------------------------------------------------------------

#[rocket::async_test]
async fn the_configured_user_agent_goes_with_every_provider_request() {
    let op = provider(|_| {}).await;
    let client = with_secret(&op.issuer, "http_user_agent = \"my-app/1.0\"")
        .start()
        .await;
    logs_in(&client).await;
    for path in [
        "/.well-known/openid-configuration",
        "/jwks",
        "/token",
        "/userinfo",
    ] {
        let request = op.last_request(path).unwrap();
        assert_eq!(request.header("user-agent"), Some("my-app/1.0"), "{path}");
    }

    // By default, the crate's own.
    let op = provider(|_| {}).await;
    drop(with_secret(&op.issuer, "").start().await);
    let agent = op
        .last_request("/.well-known/openid-configuration")
        .unwrap()
        .header("user-agent")
        .map(str::to_string);
    assert!(
        agent
            .as_deref()
            .is_some_and(|a| a.starts_with("rocket_oidc_auth/")),
        "{agent:?}"
    );
}

#[rocket::async_test]
async fn discovery_url_replaces_the_well_known_path() {
    let op = provider(|_| {}).await;
    let setting = format!(
        "discovery_url = \"{}/custom/openid-configuration\"",
        op.issuer
    );
    let client = with_secret(&op.issuer, &setting).start().await;
    assert_eq!(op.hits("/custom/openid-configuration"), 1);
    assert_eq!(op.hits("/.well-known/openid-configuration"), 0);
    let body = logs_in(&client).await;
    assert_eq!(body["id_token"]["sub"], "alice");
    assert_eq!(op.hits("/.well-known/openid-configuration"), 0);

    // The document found there must still name the configured issuer.
    op.set(|b| b.discovery_issuer = Some("https://other.example".into()));
    with_secret(&op.issuer, &setting).launch_fails().await;
    assert_eq!(op.hits("/custom/openid-configuration"), 2);
    assert_eq!(op.hits("/.well-known/openid-configuration"), 0);
}

#[rocket::async_test]
async fn an_id_token_signed_otherwise_than_pinned_is_refused() {
    let op = provider(|_| {}).await;
    // Pinned to what the provider signs with: fine.
    let client = with_secret(&op.issuer, "id_token_signed_response_alg = \"RS256\"")
        .start()
        .await;
    logs_in(&client).await;
    // Pinned to another algorithm: the RS256 token is refused.
    let client = with_secret(&op.issuer, "id_token_signed_response_alg = \"ES256\"")
        .start()
        .await;
    let auth_url = start_login(&client, "/login").await;
    let (status, body) = error_of(callback_answer(&client, &auth_url).await).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(body["error"], "invalid_id_token");
}
