//! Micro-benchmarks of the hot paths: the guard on a valid session (cookie decrypt, decode,
//! expiry check), building the authorization redirect, and validating an ID token with
//! cached keys (openidconnect's `IdTokenVerifier` over the crate's ring-backed keys, kept as
//! the callback keeps it, and built per call). Run with `cargo bench -p rocket_oidc_bench --bench micro`.
//!
//! The guard is measured through the quickstart example's routes in Rocket's local client:
//! `/` (no guard) against `/whoami` (guard only) and `/login` (guard and token JSON), so the
//! difference is what the guard costs.

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use rocket::figment::providers::{Format, Toml};
use rocket::figment::Figment;
use rocket::http::{Accept, Cookie};
use rocket::local::blocking::Client;
use rocket_oidc_auth::__bench;
use sha2::{Digest, Sha256};

#[path = "../../examples/quickstart.rs"]
#[allow(dead_code, unreachable_pub)]
mod quickstart;

const ISSUER: &str = "http://127.0.0.1:9";
const CLIENT_ID: &str = "rocket-app";
const ACCESS_TOKEN: &str = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";

/// This run's `secret_key`: random (no key is committed), the same for the whole run.
fn secret_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        use base64::engine::general_purpose::STANDARD;
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        STANDARD.encode(bytes)
    })
}

fn figment() -> Figment {
    Figment::from(rocket::Config::release_default()).merge(
        Toml::string(&format!(
            r#"
            [default]
            secret_key = "{key}"
            log_level = "off"
            [default.oidc]
            redirect_uri = "http://127.0.0.1:8000/redirect_uri"
            http_timeout = 1
            [default.oidc.providers.default]
            issuer = "{ISSUER}"
            client_id = "{CLIENT_ID}"
            client_secret = "rocket-secret"
            "#,
            key = secret_key()
        ))
        .nested(),
    )
}

fn signing_key() -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(
        include_str!("../../tests/fixtures/op_key_1.pem"),
        Some(JsonWebKeyId::new("key-1".into())),
    )
    .expect("the test key")
}

/// An RS256 ID token like a provider's, for `nonce`.
fn id_token(key: &CoreRsaPrivateSigningKey, nonce: &str) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let at_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(ACCESS_TOKEN.as_bytes())[..16]);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","kid":"key-1"}"#);
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": "alice", "aud": CLIENT_ID, "exp": now + 3600, "iat": now,
        "nonce": nonce, "at_hash": at_hash, "sid": "3f0b7c1e-2c52-4f1f-b3c8-1f8a0b7d9e21",
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let signature = key
        .sign(
            &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            signing_input.as_bytes(),
        )
        .expect("signs");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn guard(c: &mut Criterion) {
    let client = Client::untracked(quickstart::rocket().configure(figment())).expect("launches");
    let jwt = id_token(&signing_key(), "n-0S6_WzA2Mj");
    let userinfo = r#"{"sub":"alice","email":"alice@example.com","email_verified":true,"name":"Test User alice","given_name":"Test","family_name":"alice"}"#;
    let cookie =
        __bench::session_cookie(&figment(), "default", "alice", ACCESS_TOKEN, &jwt, userinfo);
    let session = || Cookie::new("oidc_session_default", cookie.clone());
    assert_eq!(
        client
            .get("/whoami")
            .cookie(session())
            .dispatch()
            .into_string()
            .as_deref(),
        Some("alice")
    );

    let mut group = c.benchmark_group("request");
    group.bench_function("public /", |b| {
        b.iter(|| client.get("/").cookie(session()).dispatch().status())
    });
    // The quickstart installs a Prometheus recorder: the guard above counts its outcome
    // (`oidc_guard_outcomes_total`). The same request with no recorder (the facade's noop,
    // on this thread, where the blocking client runs the request) is the cost without.
    group.bench_function("guard /whoami, no metrics recorder", |b| {
        // An app of its own, whose counters register with no recorder.
        let noop = metrics::NoopRecorder;
        metrics::with_local_recorder(&noop, || {
            let client =
                Client::untracked(quickstart::rocket().configure(figment())).expect("launches");
            b.iter(|| client.get("/whoami").cookie(session()).dispatch().status())
        })
    });
    group.bench_function("guard /whoami", |b| {
        b.iter(|| client.get("/whoami").cookie(session()).dispatch().status())
    });
    group.bench_function("guard+json /login", |b| {
        b.iter(|| {
            client
                .get("/login")
                .cookie(session())
                .dispatch()
                .into_string()
        })
    });
    group.finish();
}

fn authorization_redirect(c: &mut Criterion) {
    // Needs the provider's metadata: static metadata stands in for discovery.
    let figment = Figment::from(rocket::Config::release_default()).merge(
        Toml::string(&format!(
            r#"
            [default]
            secret_key = "{key}"
            log_level = "off"
            [default.oidc]
            redirect_uri = "http://127.0.0.1:8000/redirect_uri"
            [default.oidc.providers.default]
            client_id = "{CLIENT_ID}"
            client_secret = "rocket-secret"
            scope = ["openid", "email", "profile"]
            [default.oidc.providers.default.provider_metadata]
            issuer = "{ISSUER}"
            authorization_endpoint = "{ISSUER}/auth"
            token_endpoint = "{ISSUER}/token"
            jwks_uri = "{ISSUER}/jwks"
            "#,
            key = secret_key()
        ))
        .nested(),
    );
    let client = Client::untracked(quickstart::rocket().configure(figment)).expect("launches");
    let response = client.get("/login").header(Accept::HTML).dispatch();
    assert_eq!(response.status().code, 303);
    c.bench_function("login redirect /login (no session)", |b| {
        b.iter(|| {
            client
                .get("/login")
                .header(Accept::HTML)
                .dispatch()
                .status()
        })
    });
}

fn id_token_validation(c: &mut Criterion) {
    let key = signing_key();
    let keys = __bench::Keys::from_json(
        &serde_json::to_string(&CoreJsonWebKeySet::new(vec![key.as_verification_key()])).unwrap(),
    );
    let jwt = id_token(&key, "n-0S6_WzA2Mj");
    let kept = __bench::IdTokens::new(&keys, ISSUER, CLIENT_ID);
    assert_eq!(
        kept.validate(&jwt, "n-0S6_WzA2Mj", ACCESS_TOKEN),
        Ok("alice".to_string())
    );
    c.bench_function("validate ID token (RS256, cached keys)", |b| {
        b.iter(|| kept.validate(&jwt, "n-0S6_WzA2Mj", ACCESS_TOKEN))
    });
    c.bench_function(
        "validate ID token (RS256, cached keys), verifier built per call",
        |b| {
            b.iter(|| {
                __bench::validate_id_token_once(
                    &jwt,
                    &keys,
                    ISSUER,
                    CLIENT_ID,
                    "n-0S6_WzA2Mj",
                    ACCESS_TOKEN,
                )
            })
        },
    );
}

criterion_group!(benches, guard, authorization_redirect, id_token_validation);
criterion_main!(benches);
