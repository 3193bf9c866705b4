//! Self-tests of the fake OpenID Provider in `tests/common/fake_op.rs`, over
//! real HTTP with reqwest. They test the test tool, not the crate.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::fake_op::{
    CallbackIss, FakeOp, Signing, TokenResponse, CLIENT_ID, CLIENT_SECRET, KEY_1_PUBLIC_PEM,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openidconnect::core::{
    CoreHmacKey, CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKey, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessToken, AccessTokenHash, ClientId, ClientSecret, IssuerUrl, JsonWebKey, Nonce,
    PrivateSigningKey,
};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::str::FromStr as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const REDIRECT_URI: &str = "http://localhost:8000/auth/callback?x=1";
const VERIFIER: &str = "a-verifier-that-is-long-enough-for-pkce-0123456789abcdef";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// GET /authorize; returns the decoded query of the Location header.
async fn authorize(op: &FakeOp, nonce: &str) -> HashMap<String, String> {
    let res = client()
        .get(format!("{}/authorize", op.issuer))
        .query(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid email"),
            ("state", "st&te=1"),
            ("nonce", nonce),
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://localhost:8000/auth/callback?x=1&"),
        "{location}"
    );
    url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// POST /token with client_secret_basic.
async fn token(op: &FakeOp, code: &str, verifier: &str) -> reqwest::Response {
    client()
        .post(format!("{}/token", op.issuer))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
}

/// Runs authorize + token and returns the token response JSON.
async fn login(op: &FakeOp) -> Value {
    let cb = authorize(op, "n0nce").await;
    let res = token(op, &cb["code"], VERIFIER).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Splits a JWT into (header, claims, signing input, signature).
fn split_jwt(jwt: &str) -> (Value, Value, String, Vec<u8>) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let decode = |p: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    (
        decode(parts[0]),
        decode(parts[1]),
        format!("{}.{}", parts[0], parts[1]),
        URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
    )
}

async fn jwks_key(op: &FakeOp) -> CoreJsonWebKey {
    let jwks: Value = client()
        .get(format!("{}/jwks", op.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    serde_json::from_value(jwks["keys"][0].clone()).unwrap()
}

fn rs256_ok(key: &CoreJsonWebKey, jwt: &str) -> bool {
    let (_, _, input, sig) = split_jwt(jwt);
    key.verify_signature(
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        input.as_bytes(),
        &sig,
    )
    .is_ok()
}

#[tokio::test]
async fn discovery_and_jwks() {
    let op = FakeOp::start().await;
    let url = format!("{}/.well-known/openid-configuration", op.issuer);
    let res = client().get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["connection"], "close");
    let d: Value = res.json().await.unwrap();
    assert_eq!(d["issuer"], op.issuer);
    assert_eq!(d["token_endpoint"], format!("{}/token", op.issuer));
    assert_eq!(d["jwks_uri"], format!("{}/jwks", op.issuer));
    assert_eq!(d["end_session_endpoint"], format!("{}/logout", op.issuer));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    serde_json::from_value::<CoreProviderMetadata>(d.clone()).unwrap();

    op.set(|b| {
        b.discovery_issuer = Some("https://other.example".into());
        b.advertise_iss_param = false;
    });
    let d: Value = client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], "https://other.example");
    assert_eq!(
        d["authorization_endpoint"],
        format!("{}/authorize", op.issuer)
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], false);
    assert_eq!(op.hits("/.well-known/openid-configuration"), 2);

    let jwks: Value = client()
        .get(format!("{}/jwks", op.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(key["kid"], "key-1");
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert!(
        key.as_object().unwrap().values().all(|v| !v.is_null()),
        "{key}"
    );
    serde_json::from_value::<CoreJsonWebKey>(key.clone()).unwrap();
    serde_json::from_value::<CoreJsonWebKeySet>(jwks.clone()).unwrap();

    op.set(|b| b.rotate_keys = true);
    assert_eq!(jwks_key(&op).await.key_id().unwrap().as_str(), "key-2");
    assert_eq!(op.hits("/jwks"), 2);
    assert_eq!(op.hits("/token"), 0);
}

#[tokio::test]
async fn full_flow_authorize_token_userinfo() {
    let op = FakeOp::start().await;
    let cb = authorize(&op, "n0nce").await;
    assert_eq!(cb["state"], "st&te=1");
    assert_eq!(cb["iss"], op.issuer);
    assert_eq!(cb["x"], "1");
    let auth = op.last_request("/authorize").unwrap();
    assert_eq!(auth.method, "GET");
    assert_eq!(auth.query_params()["nonce"], "n0nce");

    let res = token(&op, &cb["code"], VERIFIER).await;
    assert_eq!(res.status(), 200);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["scope"], "openid email profile");
    assert!(t["refresh_token"].is_string());
    let access_token = t["access_token"].as_str().unwrap();

    let req = op.last_request("/token").unwrap();
    assert_eq!(req.method, "POST");
    assert!(req.header("Authorization").unwrap().starts_with("Basic "));
    assert_eq!(req.form_params()["code_verifier"], VERIFIER);

    let jwt = t["id_token"].as_str().unwrap();
    let (header, claims, _, _) = split_jwt(jwt);
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "key-1"})
    );
    assert_eq!(claims["iss"], op.issuer);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["nonce"], "n0nce");
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 300);
    assert_eq!(claims["auth_time"].as_u64().unwrap(), iat);
    let digest = Sha256::digest(access_token.as_bytes());
    assert_eq!(claims["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));
    assert!(rs256_ok(&jwks_key(&op).await, jwt));

    // openidconnect's own validator accepts the default ID token, so the
    // negative cases really differ from a good token in one thing only.
    let jwks: CoreJsonWebKeySet = client()
        .get(format!("{}/jwks", op.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verifier = CoreIdTokenVerifier::new_confidential_client(
        ClientId::new(CLIENT_ID.into()),
        ClientSecret::new(CLIENT_SECRET.into()),
        IssuerUrl::new(op.issuer.clone()).unwrap(),
        jwks,
    );
    let id_token = CoreIdToken::from_str(jwt).unwrap();
    let verified = id_token
        .claims(&verifier, &Nonce::new("n0nce".into()))
        .unwrap();
    assert_eq!(verified.subject().as_str(), "alice");
    let expected_hash = AccessTokenHash::from_token(
        &AccessToken::new(access_token.into()),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(verified.access_token_hash(), Some(&expected_hash));

    // userinfo: GET and POST with the token, 401 without or with a bad one.
    let url = format!("{}/userinfo", op.issuer);
    let info: Value = client()
        .get(&url)
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info,
        json!({"sub": "alice", "email": "alice@example.com", "name": "Alice"})
    );
    let res = client()
        .post(&url)
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for res in [
        client().get(&url).send().await.unwrap(),
        client()
            .get(&url)
            .bearer_auth("forged")
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(res.status(), 401);
        assert_eq!(
            res.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
    }
    assert_eq!(op.hits("/userinfo"), 4);

    op.set(|b| b.userinfo_sub = Some("mallory".into()));
    let info: Value = client()
        .get(&url)
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], "mallory");
    op.set(|b| b.userinfo_status = Some(503));
    let res = client()
        .get(&url)
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
}

#[tokio::test]
async fn client_secret_post_and_bad_client() {
    let op = FakeOp::start().await;
    let cb = authorize(&op, "n").await;
    let form = |secret: &'static str, code: String| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", REDIRECT_URI.to_owned()),
            ("code_verifier", VERIFIER.to_owned()),
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", secret.to_owned()),
        ]
    };
    let url = format!("{}/token", op.issuer);
    let res = client()
        .post(&url)
        .form(&form("wrong", cb["code"].clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let res = client()
        .post(&url)
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[("grant_type", "authorization_code"), ("code", &cb["code"])])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // A failed client authentication does not burn the code.
    let res = client()
        .post(&url)
        .form(&form(CLIENT_SECRET, cb["code"].clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn claim_overrides_apply_and_null_removes() {
    let op = FakeOp::start().await;
    op.set(|b| {
        b.sub = "bob".into();
        b.id_token_claims
            .insert("aud".into(), json!([CLIENT_ID, "other"]));
        b.id_token_claims.insert("azp".into(), json!("other"));
        b.id_token_claims.insert("iat".into(), Value::Null);
        b.id_token_claims.insert("nonce".into(), json!("wrong"));
        b.id_token_claims.insert("exp".into(), json!(1));
    });
    let t = login(&op).await;
    let (_, claims, _, _) = split_jwt(t["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "bob");
    assert_eq!(claims["aud"], json!([CLIENT_ID, "other"]));
    assert_eq!(claims["azp"], "other");
    assert_eq!(claims["nonce"], "wrong");
    assert_eq!(claims["exp"], 1);
    assert!(claims.get("iat").is_none(), "{claims}");
    assert_eq!(claims["iss"], op.issuer);
}

#[tokio::test]
async fn pkce_mismatch_and_single_use_code() {
    let op = FakeOp::start().await;

    // Wrong verifier: invalid_grant, and the code is gone afterwards.
    let cb = authorize(&op, "n").await;
    let res = token(&op, &cb["code"], "not-the-verifier").await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let res = token(&op, &cb["code"], VERIFIER).await;
    assert_eq!(res.status(), 400);

    // A good code works exactly once.
    let cb = authorize(&op, "n").await;
    assert_eq!(token(&op, &cb["code"], VERIFIER).await.status(), 200);
    let res = token(&op, &cb["code"], VERIFIER).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");

    // Unknown code, and a redirect_uri that differs from the authorize one.
    assert_eq!(token(&op, "made-up", VERIFIER).await.status(), 400);
    let cb = authorize(&op, "n").await;
    let res = client()
        .post(format!("{}/token", op.issuer))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &cb["code"]),
            ("redirect_uri", "http://localhost:8000/auth/callback"),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(op.hits("/token"), 6);
}

#[tokio::test]
async fn signing_variants() {
    let op = FakeOp::start().await;
    let key_1 = jwks_key(&op).await;

    op.set(|b| b.signing = Signing::BadSignature);
    let jwt = login(&op).await["id_token"].as_str().unwrap().to_owned();
    assert_eq!(split_jwt(&jwt).0["kid"], "key-1");
    assert!(!rs256_ok(&key_1, &jwt));

    op.set(|b| b.signing = Signing::AlgNone);
    let jwt = login(&op).await["id_token"].as_str().unwrap().to_owned();
    assert!(jwt.ends_with('.'));
    assert_eq!(split_jwt(&jwt).0["alg"], "none");

    op.set(|b| b.signing = Signing::Hs256WithPublicKey);
    let jwt = login(&op).await["id_token"].as_str().unwrap().to_owned();
    let (header, _, input, sig) = split_jwt(&jwt);
    assert_eq!(header["alg"], "HS256");
    let hmac = CoreHmacKey::new(KEY_1_PUBLIC_PEM.as_bytes())
        .as_verification_key()
        .verify_signature(&CoreJwsSigningAlgorithm::HmacSha256, input.as_bytes(), &sig);
    assert!(hmac.is_ok());
    assert!(KEY_1_PUBLIC_PEM.starts_with("-----BEGIN PUBLIC KEY-----"));

    op.set(|b| b.signing = Signing::UnknownKid);
    let jwt = login(&op).await["id_token"].as_str().unwrap().to_owned();
    assert_eq!(split_jwt(&jwt).0["kid"], "nope");
    assert!(rs256_ok(&key_1, &jwt));

    op.set(|b| b.signing = Signing::OtherKey);
    let jwt = login(&op).await["id_token"].as_str().unwrap().to_owned();
    assert_eq!(split_jwt(&jwt).0["kid"], "key-1");
    assert!(!rs256_ok(&key_1, &jwt));
    op.set(|b| b.rotate_keys = true);
    let key_2 = jwks_key(&op).await;
    assert!(rs256_ok(&key_2, &jwt));

    // Rotated and good: signed by key 2 with kid key-2.
    op.set(|b| b.signing = Signing::Good);
    let jwt = login(&op).await["id_token"].as_str().unwrap().to_owned();
    assert_eq!(split_jwt(&jwt).0["kid"], "key-2");
    assert!(rs256_ok(&key_2, &jwt));
    assert!(!rs256_ok(&key_1, &jwt));
}

#[tokio::test]
async fn token_response_variants() {
    let op = FakeOp::start().await;

    op.set(|b| b.token_response = TokenResponse::NoIdToken);
    let t = login(&op).await;
    assert!(t.get("id_token").is_none() && t["access_token"].is_string());

    op.set(|b| b.token_response = TokenResponse::OAuthError("access_denied".into()));
    let cb = authorize(&op, "n").await;
    let res = token(&op, &cb["code"], VERIFIER).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"error": "access_denied", "error_description": "test error"})
    );

    op.set(|b| b.token_response = TokenResponse::ServerError);
    let cb = authorize(&op, "n").await;
    let res = token(&op, &cb["code"], VERIFIER).await;
    assert_eq!(res.status(), 500);
    assert_eq!(res.headers()["content-type"], "text/html");

    op.set(|b| b.token_response = TokenResponse::Hang);
    let cb = authorize(&op, "n").await;
    let err = reqwest::Client::new()
        .post(format!("{}/token", op.issuer))
        .timeout(Duration::from_millis(300))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &cb["code"]),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(op.hits("/token"), 4);
}

#[tokio::test]
async fn authorize_error_and_callback_iss() {
    let op = FakeOp::start().await;

    op.set(|b| b.callback_iss = CallbackIss::Wrong);
    assert_eq!(authorize(&op, "n").await["iss"], "https://evil.example");
    op.set(|b| b.callback_iss = CallbackIss::Missing);
    assert!(!authorize(&op, "n").await.contains_key("iss"));

    op.set(|b| {
        b.callback_iss = CallbackIss::Correct;
        b.authorize_error = Some(("access_denied".into(), "user said no & left".into()));
    });
    let cb = authorize(&op, "n").await;
    assert_eq!(cb["error"], "access_denied");
    assert_eq!(cb["error_description"], "user said no & left");
    assert_eq!(cb["state"], "st&te=1");
    assert_eq!(cb["iss"], op.issuer);
    assert!(!cb.contains_key("code"));
    assert_eq!(op.hits("/authorize"), 3);
}

#[tokio::test]
async fn malformed_and_unknown_requests() {
    let op = FakeOp::start().await;
    let addr = op.issuer.trim_start_matches("http://").to_owned();

    // Raw garbage, a bad Content-Length, and a request line with no path.
    for raw in [
        "garbage\r\n\r\n",
        "POST /token HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        "GET nowhere HTTP/1.1\r\n\r\n",
        "GET /jwks HTTP/1.1\r\nno colon here\r\n\r\n",
    ] {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(raw.as_bytes()).await.unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400 "), "{raw:?} -> {answer}");
    }
    // A client that connects and leaves does not bother anyone.
    drop(tokio::net::TcpStream::connect(&addr).await.unwrap());

    let res = client()
        .get(format!("{}/nope?x=1", op.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(op.hits("/nope"), 1);
    assert_eq!(op.last_request("/nope").unwrap().query, "x=1");
    let res = client()
        .get(format!("{}/token", op.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);

    // Still serving, also concurrently.
    let url = format!("{}/jwks", op.issuer);
    let all = futures_join(10, &url).await;
    assert!(all.iter().all(|s| *s == 200));
    assert_eq!(op.hits("/jwks"), 10);
}

async fn futures_join(n: usize, url: &str) -> Vec<u16> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move { client().get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn logout_redirects_back() {
    let op = FakeOp::start().await;
    let res = client()
        .get(format!("{}/logout", op.issuer))
        .query(&[
            ("post_logout_redirect_uri", "http://localhost:8000/"),
            ("state", "s"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "http://localhost:8000/?state=s");
}
