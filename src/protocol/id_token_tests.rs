//! Tests of [`super`]: every rule, each refusal naming the rule it broke.

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreHmacKey, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use serde_json::{json, Value};

const ISSUER: &str = "https://op.example.com";
const CLIENT: &str = "app";
const SECRET: &str = "client-secret-client-secret-32by";
const NOW: i64 = 1_800_000_000;

fn rsa_key(kid: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(
        include_str!("../../tests/fixtures/op_key_1.pem"),
        Some(JsonWebKeyId::new(kid.into())),
    )
    .unwrap()
}

fn claims() -> Value {
    json!({ "iss": ISSUER, "sub": "alice", "aud": CLIENT, "exp": NOW + 300, "iat": NOW,
            "nonce": "n" })
}

fn jws(header: Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn rs256(claims: &Value) -> String {
    let key = rsa_key("k1");
    jws(json!({"alg": "RS256", "kid": "k1"}), claims, |m| {
        key.sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, m)
            .unwrap()
    })
}

/// A key set as the provider would publish it.
pub(crate) fn key_set(keys: Vec<openidconnect::core::CoreJsonWebKey>) -> KeySet {
    let set = openidconnect::core::CoreJsonWebKeySet::new(keys);
    KeySet::from_json(&serde_json::to_vec(&set).unwrap()).unwrap()
}

fn keys() -> KeySet {
    key_set(vec![rsa_key("k1").as_verification_key()])
}

fn check<'a>(algs: &'a [SigningAlg]) -> IdTokenCheck<'a> {
    IdTokenCheck {
        issuer: ISSUER,
        client_id: CLIENT,
        trusted_audiences: &[],
        allowed_algs: algs,
        client_secret: Some(SECRET),
        nonce: Some("n"),
        max_age: None,
        acr_values: &[],
        access_token: None,
        front_channel: None,
        now: NOW,
        clock_skew: 60,
    }
}

const RS256: &[SigningAlg] = &[SigningAlg::Rs256];

fn refused(jwt: &str, check: &IdTokenCheck<'_>, keys: &KeySet, why: &str) {
    match validate_id_token(jwt, keys, check) {
        Ok(_) => panic!("accepted, expected a refusal mentioning {why:?}"),
        Err(rejection) => {
            let message = rejection.into_message();
            assert!(message.contains(why), "{message:?} should mention {why:?}");
        }
    }
}

#[test]
fn accepts_a_good_token() {
    let valid = validate_id_token(&rs256(&claims()), &keys(), &check(RS256)).unwrap();
    assert_eq!(valid.subject, "alice");
    assert_eq!(valid.nonce.as_deref(), Some("n"));
}

#[test]
fn hmac_tokens_are_keyed_with_the_client_secret_and_only_when_allowed() {
    let hs256 = |key: &[u8]| {
        let key = CoreHmacKey::new(key.to_vec());
        jws(json!({"alg": "HS256"}), &claims(), |m| {
            key.sign(&CoreJwsSigningAlgorithm::HmacSha256, m).unwrap()
        })
    };
    let algs = [SigningAlg::Rs256, SigningAlg::Hs256];
    assert!(validate_id_token(&hs256(SECRET.as_bytes()), &keys(), &check(&algs)).is_ok());
    // The classic confusion: HMAC keyed with the provider's public key.
    let public_pem = include_str!("../../tests/fixtures/op_key_1.pub.pem");
    refused(
        &hs256(public_pem.as_bytes()),
        &check(&algs),
        &keys(),
        "signature is invalid",
    );
    // Not allowed at all unless the provider advertises it.
    refused(
        &hs256(SECRET.as_bytes()),
        &check(RS256),
        &keys(),
        "not allowed",
    );
    // Never for a client without a secret.
    let mut public_client = check(&algs);
    public_client.client_secret = None;
    refused(
        &hs256(SECRET.as_bytes()),
        &public_client,
        &keys(),
        "client secret",
    );
}

#[test]
fn refuses_a_crit_header() {
    let key = rsa_key("k1");
    let jwt = jws(
        json!({"alg": "RS256", "kid": "k1", "crit": ["exp"]}),
        &claims(),
        |m| {
            key.sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, m)
                .unwrap()
        },
    );
    refused(&jwt, &check(RS256), &keys(), "crit");
}

#[test]
fn refuses_a_token_without_kid_when_several_keys_match() {
    let key = rsa_key("k1");
    let jwt = jws(json!({"alg": "RS256"}), &claims(), |m| {
        key.sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, m)
            .unwrap()
    });
    assert!(
        validate_id_token(&jwt, &keys(), &check(RS256)).is_ok(),
        "one key: fine"
    );
    let two = key_set(vec![
        rsa_key("k1").as_verification_key(),
        rsa_key("k2").as_verification_key(),
    ]);
    refused(&jwt, &check(RS256), &two, "several keys");
}

#[test]
fn an_unknown_kid_asks_for_a_refetch() {
    let jwt = rs256(&claims());
    let other = key_set(vec![rsa_key("k2").as_verification_key()]);
    assert!(matches!(
        validate_id_token(&jwt, &other, &check(RS256)),
        Err(Rejection::UnknownKey(_))
    ));
}

#[test]
fn time_claims_use_the_clock_skew() {
    let mut c = claims();
    c["nbf"] = json!(NOW + 120);
    refused(&rs256(&c), &check(RS256), &keys(), "not valid before");
    c["nbf"] = json!(NOW + 30);
    assert!(validate_id_token(&rs256(&c), &keys(), &check(RS256)).is_ok());
    let mut c = claims();
    c["exp"] = json!(NOW - 59);
    assert!(validate_id_token(&rs256(&c), &keys(), &check(RS256)).is_ok());
    c["exp"] = json!(NOW - 61);
    refused(&rs256(&c), &check(RS256), &keys(), "expired");
}

#[test]
fn max_age_makes_auth_time_mandatory_and_bounded() {
    let mut with_max_age = check(RS256);
    with_max_age.max_age = Some(600);
    refused(
        &rs256(&claims()),
        &with_max_age,
        &keys(),
        "auth_time is missing",
    );
    let mut c = claims();
    c["auth_time"] = json!(NOW - 700);
    refused(&rs256(&c), &with_max_age, &keys(), "older than max_age");
    c["auth_time"] = json!(NOW - 100);
    assert!(validate_id_token(&rs256(&c), &keys(), &with_max_age).is_ok());
}

#[test]
fn several_audiences_need_azp_and_trust() {
    let trusted = ["api".to_string()];
    let mut with_trust = check(RS256);
    with_trust.trusted_audiences = &trusted;
    let mut c = claims();
    c["aud"] = json!([CLIENT, "api"]);
    refused(&rs256(&c), &with_trust, &keys(), "no azp");
    c["azp"] = json!(CLIENT);
    assert!(validate_id_token(&rs256(&c), &keys(), &with_trust).is_ok());
    refused(&rs256(&c), &check(RS256), &keys(), "does not trust");
}

#[test]
fn requested_acr_values_are_enforced() {
    let acr = ["urn:mfa".to_string()];
    let mut with_acr = check(RS256);
    with_acr.acr_values = &acr;
    refused(
        &rs256(&claims()),
        &with_acr,
        &keys(),
        "acr claim is missing",
    );
    let mut c = claims();
    c["acr"] = json!("urn:password");
    refused(&rs256(&c), &with_acr, &keys(), "not one of");
    c["acr"] = json!("urn:mfa");
    assert!(validate_id_token(&rs256(&c), &keys(), &with_acr).is_ok());
}

#[test]
fn a_missing_claim_is_named() {
    for claim in ["sub", "exp", "iat", "iss"] {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(claim);
        refused(
            &rs256(&c),
            &check(RS256),
            &keys(),
            &format!("the {claim} claim is missing"),
        );
    }
    let mut c = claims();
    c.as_object_mut().unwrap().remove("aud");
    refused(
        &rs256(&c),
        &check(RS256),
        &keys(),
        "the aud claim is missing",
    );
}

#[test]
fn another_kind_of_token_is_not_an_id_token() {
    // A logout token or an access token of the same provider, signed with the same key,
    // must not pass as an ID token (RFC 8725 3.11: explicit typing).
    let key = rsa_key("k1");
    for typ in ["logout+jwt", "at+jwt"] {
        let jwt = jws(
            json!({"alg": "RS256", "kid": "k1", "typ": typ}),
            &claims(),
            |m| {
                key.sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, m)
                    .unwrap()
            },
        );
        refused(&jwt, &check(RS256), &keys(), typ);
    }
    let jwt = jws(
        json!({"alg": "RS256", "kid": "k1", "typ": "JWT"}),
        &claims(),
        |m| {
            key.sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, m)
                .unwrap()
        },
    );
    assert!(validate_id_token(&jwt, &keys(), &check(RS256)).is_ok());
}

#[test]
fn an_unsigned_token_is_refused() {
    let jwt = jws(json!({"alg": "none"}), &claims(), |_| Vec::new());
    refused(&jwt, &check(RS256), &keys(), "not allowed");
}

#[test]
fn a_kept_verifier_checks_with_its_clock() {
    let rules = ProviderRules {
        issuer: ISSUER,
        client_id: CLIENT,
        trusted_audiences: &[],
        allowed_algs: RS256,
        client_secret: None,
        clock_skew: 60,
    };
    let now = Arc::new(std::sync::atomic::AtomicI64::new(NOW));
    let clock = now.clone();
    let verifier = IdTokenVerifier::new(
        &rules,
        &keys(),
        Arc::new(move || clock.load(std::sync::atomic::Ordering::Relaxed)),
    )
    .unwrap();
    let login = LoginRules {
        nonce: Some("n"),
        ..LoginRules::default()
    };
    let jwt = rs256(&claims());
    assert_eq!(verifier.validate(&jwt, &login).unwrap().subject, "alice");
    now.store(NOW + 300 + 61, std::sync::atomic::Ordering::Relaxed);
    let refusal = verifier.validate(&jwt, &login).unwrap_err().into_message();
    assert!(refusal.contains("expired"), "{refusal}");
}

#[test]
fn an_eddsa_at_hash_of_sha_256_is_tolerated_and_said() {
    let (key, keys) = eddsa_key();
    let access_token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
    let algs = [SigningAlg::EdDsa];
    let mut with_token = check(&algs);
    with_token.access_token = Some(access_token);
    let token_with = |at_hash: String| {
        let mut c = claims();
        c["at_hash"] = json!(at_hash);
        key.sign(serde_json::Map::new(), &c)
    };
    // SHA-512, as Core's errata says: accepted, nothing to say.
    let valid = validate_id_token(
        &token_with(token_hash(SigningAlg::EdDsa, access_token)),
        &keys,
        &with_token,
    )
    .unwrap();
    assert_eq!(valid.deviation, None);
    // SHA-256, as some providers do: accepted, and said.
    let valid = validate_id_token(
        &token_with(token_hash(SigningAlg::Rs256, access_token)),
        &keys,
        &with_token,
    )
    .unwrap();
    assert!(valid.deviation.is_some_and(|d| d.contains("SHA-256")));
    // Neither: refused.
    refused(
        &token_with("AAAAAAAAAAAAAAAAAAAAAA".into()),
        &with_token,
        &keys,
        "at_hash",
    );
}

#[test]
fn a_front_channel_id_token_binds_its_code_with_c_hash() {
    let code = "SplxlOBeZQQYbYS6WxSbIA";
    let mut hybrid = check(RS256);
    hybrid.front_channel = Some(FrontChannel { code: Some(code) });
    let with = |c_hash: Option<String>| {
        let mut c = claims();
        if let Some(c_hash) = c_hash {
            c["c_hash"] = json!(c_hash);
        }
        rs256(&c)
    };
    // RS256: the left half of SHA-256.
    let sha256_half = token_hash(SigningAlg::Rs256, code);
    assert_eq!(sha256_half.len(), 22);
    let valid = validate_id_token(&with(Some(sha256_half)), &keys(), &hybrid).unwrap();
    assert_eq!(valid.subject, "alice");
    refused(
        &with(Some(token_hash(SigningAlg::Rs512, code))),
        &hybrid,
        &keys(),
        "c_hash does not match the code",
    );
    refused(&with(None), &hybrid, &keys(), "the c_hash claim is missing");
    // From the token endpoint (no code beside it), c_hash is not checked.
    validate_id_token(&with(None), &keys(), &check(RS256)).unwrap();
}

#[test]
fn a_front_channel_id_token_with_an_access_token_needs_at_hash() {
    let access_token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
    let mut implicit = check(RS256);
    implicit.access_token = Some(access_token);
    implicit.front_channel = Some(FrontChannel::default());
    refused(
        &rs256(&claims()),
        &implicit,
        &keys(),
        "the at_hash claim is missing",
    );
    let mut c = claims();
    c["at_hash"] = json!(token_hash(SigningAlg::Rs256, access_token));
    validate_id_token(&rs256(&c), &keys(), &implicit).unwrap();
    // From the token endpoint, at_hash is optional (Core 3.1.3.6).
    let mut code_flow = check(RS256);
    code_flow.access_token = Some(access_token);
    validate_id_token(&rs256(&claims()), &keys(), &code_flow).unwrap();
}

#[test]
fn the_c_hash_of_an_eddsa_token_is_sha_512_or_tolerated_sha_256() {
    let (key, keys) = eddsa_key();
    let code = "a-code";
    let algs = [SigningAlg::EdDsa];
    let mut hybrid = check(&algs);
    hybrid.front_channel = Some(FrontChannel { code: Some(code) });
    let token_with = |c_hash: String| {
        let mut c = claims();
        c["c_hash"] = json!(c_hash);
        key.sign(serde_json::Map::new(), &c)
    };
    let valid = validate_id_token(
        &token_with(token_hash(SigningAlg::EdDsa, code)),
        &keys,
        &hybrid,
    )
    .unwrap();
    assert_eq!(valid.deviation, None);
    let valid = validate_id_token(
        &token_with(token_hash(SigningAlg::Rs256, code)),
        &keys,
        &hybrid,
    )
    .unwrap();
    assert!(valid.deviation.is_some_and(|d| d.contains("c_hash")));
}

/// A new Ed25519 key and the provider's key set holding its public half.
fn eddsa_key() -> (crate::signing::SigningKey, KeySet) {
    let key = crate::signing::SigningKey::generate(SigningAlg::EdDsa).unwrap();
    let set = json!({ "keys": [key.published_jwk()] }).to_string();
    (key, KeySet::from_json(set.as_bytes()).unwrap())
}
