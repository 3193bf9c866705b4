//! The one place tokens are validated: ID tokens as OpenID Connect Core 3.1.3.7 says.
//!
//! Signatures are checked with the provider's keys (`jwk`, on `ring`); the claim checks are
//! written out here so that every time check uses the same clock skew and every failure says
//! exactly which rule failed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::jwk::{self, KeySet};
use crate::signing::SigningAlg;
use serde::Deserialize;
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

/// What an ID token must satisfy. Not `Debug`: it holds the client secret.
pub(crate) struct IdTokenCheck<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    /// Audiences besides `client_id` that may appear in `aud`.
    pub(crate) trusted_audiences: &'a [String],
    /// Allowed `alg` values; never contains `none`.
    pub(crate) allowed_algs: &'a [SigningAlg],
    /// The key for HMAC algorithms, when the client has a secret.
    pub(crate) client_secret: Option<&'a str>,
    /// The nonce sent in the authorization request; `None` only for refreshed ID tokens.
    pub(crate) nonce: Option<&'a str>,
    /// `max_age` sent in the authorization request: `auth_time` becomes mandatory.
    pub(crate) max_age: Option<i64>,
    /// `acr_values` sent in the authorization request: `acr` must be one of them.
    pub(crate) acr_values: &'a [String],
    /// The access token issued with the ID token, checked against `at_hash` when present.
    pub(crate) access_token: Option<&'a str>,
    pub(crate) now: i64,
    pub(crate) clock_skew: i64,
}

/// The facts the session keeps from a valid ID token.
#[derive(Debug)]
pub(crate) struct ValidIdToken {
    pub(crate) subject: String,
    /// The provider's session id, for back-channel logout.
    pub(crate) sid: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) auth_time: Option<i64>,
}

/// Why an ID token was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// No key in the JWKS matches the token's `kid`: the caller refetches the JWKS once.
    UnknownKey(String),
    /// Any other failure, described for the log and the error page.
    Invalid(String),
}

impl Rejection {
    pub(crate) fn into_message(self) -> String {
        match self {
            Rejection::UnknownKey(message) | Rejection::Invalid(message) => message,
        }
    }
}

macro_rules! reject {
    ($($arg:tt)*) => { return Err(Rejection::Invalid(format!($($arg)*))) };
}

#[derive(Deserialize)]
pub(super) struct Header {
    pub(super) alg: String,
    pub(super) kid: Option<String>,
    pub(super) crit: Option<serde_json::Value>,
    pub(super) typ: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    azp: Option<String>,
    exp: Option<f64>,
    iat: Option<f64>,
    nbf: Option<f64>,
    nonce: Option<String>,
    auth_time: Option<f64>,
    at_hash: Option<String>,
    acr: Option<String>,
    sid: Option<String>,
}

/// The three parts of a compact JWS, decoded.
pub(super) struct Jws<'a> {
    signing_input: &'a str,
    pub(super) header: Vec<u8>,
    pub(super) payload: Vec<u8>,
    signature: Vec<u8>,
}

pub(super) fn split(jwt: &str) -> Result<Jws<'_>, Rejection> {
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        reject!("not a compact JWS (encrypted ID tokens are not supported)");
    };
    let decode = |part: &str, name: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| Rejection::Invalid(format!("the {name} is not base64url")))
    };
    Ok(Jws {
        signing_input: &jwt[..header.len() + 1 + payload.len()],
        header: decode(header, "header")?,
        payload: decode(payload, "payload")?,
        signature: decode(signature, "signature")?,
    })
}

/// The decoded payload of a JWT this crate validated earlier (the session's ID token).
pub(crate) fn payload_of(jwt: &str) -> Option<Vec<u8>> {
    let payload = jwt.split('.').nth(1)?;
    URL_SAFE_NO_PAD.decode(payload).ok()
}

/// Parses a JWS `alg` name; `none` and unknown names are refused.
pub(crate) fn parse_alg(name: &str) -> Option<SigningAlg> {
    SigningAlg::from_name(name)
}

/// The JWS header, refused when it has `crit` (nothing here understands an extension) or
/// an algorithm outside `allowed`; with the algorithm.
pub(super) fn header_of(
    jws: &Jws<'_>,
    allowed: &[SigningAlg],
) -> Result<(Header, SigningAlg), Rejection> {
    let header: Header = serde_json::from_slice(&jws.header)
        .map_err(|e| Rejection::Invalid(format!("the header is not valid JSON: {e}")))?;
    if header.crit.is_some() {
        reject!("the header has a `crit` member, which this client does not understand");
    }
    match parse_alg(&header.alg) {
        Some(alg) if allowed.contains(&alg) => Ok((header, alg)),
        _ => reject!(
            "alg {:?} is not allowed (allowed: {})",
            crate::error::sanitize(&header.alg, 16),
            alg_names(allowed)
        ),
    }
}

/// Validates an ID token against `keys` and `check`.
pub(crate) fn validate_id_token(
    jwt: &str,
    keys: &KeySet,
    check: &IdTokenCheck<'_>,
) -> Result<ValidIdToken, Rejection> {
    let jws = split(jwt)?;
    let (header, alg) = header_of(&jws, check.allowed_algs)?;
    verify_signature(&jws, alg, header.kid.as_deref(), keys, check.client_secret)?;

    let claims: Claims = serde_json::from_slice(&jws.payload)
        .map_err(|e| Rejection::Invalid(format!("the claims are not valid: {e}")))?;
    let skew = check.clock_skew;
    let now = check.now;

    check_issuer(claims.iss.as_deref(), check.issuer)?;
    let subject = match claims.sub {
        Some(sub) if !sub.is_empty() && sub.len() <= 255 => sub,
        Some(_) => reject!("the sub claim is empty or longer than 255 bytes"),
        None => reject!("the sub claim is missing"),
    };
    let audiences = check_audience(
        claims.aud.as_ref(),
        check.client_id,
        check.trusted_audiences,
    )?;
    match claims.azp.as_deref() {
        Some(azp) if azp != check.client_id => reject!(
            "azp {:?} is not this client's client_id",
            crate::error::sanitize(azp, 100)
        ),
        None if audiences.len() > 1 => {
            reject!("the token has several audiences but no azp claim")
        }
        _ => {}
    }
    let expires_at = match claims.exp {
        Some(exp) if exp.is_finite() => exp.floor() as i64,
        _ => reject!("the exp claim is missing"),
    };
    if now >= expires_at.saturating_add(skew) {
        reject!("the token expired at {expires_at} (now {now}, clock skew {skew} s)");
    }
    match claims.iat {
        Some(iat) if iat.is_finite() => {
            if iat.floor() as i64 > now.saturating_add(skew) {
                reject!("iat lies in the future (now {now}, clock skew {skew} s)");
            }
        }
        _ => reject!("the iat claim is missing"),
    }
    if let Some(nbf) = claims.nbf {
        if nbf.floor() as i64 > now.saturating_add(skew) {
            reject!("the token is not valid before {nbf} (now {now})");
        }
    }
    if let Some(expected) = check.nonce {
        match claims.nonce.as_deref() {
            Some(nonce) if bool::from(nonce.as_bytes().ct_eq(expected.as_bytes())) => {}
            Some(_) => reject!("the nonce does not match the one sent with this login"),
            None => reject!("the nonce claim is missing"),
        }
    }
    if let Some(max_age) = check.max_age {
        match claims.auth_time {
            Some(auth_time) if auth_time.is_finite() => {
                let auth_time = auth_time.floor() as i64;
                if now > auth_time.saturating_add(max_age).saturating_add(skew) {
                    reject!("auth_time {auth_time} is older than max_age {max_age} s");
                }
            }
            _ => reject!("auth_time is missing although max_age was requested"),
        }
    }
    if !check.acr_values.is_empty() {
        match claims.acr.as_deref() {
            Some(acr) if check.acr_values.iter().any(|v| v == acr) => {}
            Some(acr) => reject!(
                "acr {:?} is not one of the requested acr_values",
                crate::error::sanitize(acr, 100)
            ),
            None => reject!("the acr claim is missing although acr_values were requested"),
        }
    }
    if let (Some(at_hash), Some(access_token)) = (claims.at_hash.as_deref(), check.access_token) {
        if at_hash != token_hash(alg, access_token) {
            reject!("at_hash does not match the access token");
        }
    }
    Ok(ValidIdToken {
        subject,
        sid: claims.sid,
        nonce: claims.nonce,
        auth_time: claims
            .auth_time
            .filter(|t| t.is_finite())
            .map(|t| t.floor() as i64),
    })
}

/// `iss` must be the provider's issuer (ID and logout tokens alike).
pub(super) fn check_issuer(iss: Option<&str>, issuer: &str) -> Result<(), Rejection> {
    match iss {
        Some(iss) if iss == issuer => Ok(()),
        Some(iss) => reject!(
            "iss {:?} is not the provider's issuer {:?}",
            crate::error::sanitize(iss, 200),
            issuer
        ),
        None => reject!("the iss claim is missing"),
    }
}

/// `aud` must name this client, and nobody this client does not trust; returns the
/// audiences.
pub(super) fn check_audience<'a>(
    aud: Option<&'a Audience>,
    client_id: &str,
    trusted_audiences: &[String],
) -> Result<&'a [String], Rejection> {
    let audiences = match aud {
        Some(Audience::One(aud)) => std::slice::from_ref(aud),
        Some(Audience::Many(auds)) => auds.as_slice(),
        None => reject!("the aud claim is missing"),
    };
    if !audiences.iter().any(|aud| aud == client_id) {
        reject!("aud does not contain this client's client_id {client_id:?}");
    }
    if let Some(untrusted) = audiences
        .iter()
        .find(|aud| *aud != client_id && !trusted_audiences.contains(aud))
    {
        reject!(
            "aud contains {:?}, an audience this client does not trust (list it in trusted_audiences if it should)",
            crate::error::sanitize(untrusted, 100)
        );
    }
    Ok(audiences)
}

pub(super) fn verify_signature(
    jws: &Jws<'_>,
    alg: SigningAlg,
    kid: Option<&str>,
    keys: &KeySet,
    client_secret: Option<&str>,
) -> Result<(), Rejection> {
    let message = jws.signing_input.as_bytes();
    if alg.is_hmac() {
        // Core 10.1: MAC algorithms are keyed with the client secret, never a JWKS entry.
        let Some(secret) = client_secret else {
            reject!("alg {alg} needs a client secret and this client has none");
        };
        return if jwk::hmac_verifies(alg, secret, message, &jws.signature) {
            Ok(())
        } else {
            Err(Rejection::Invalid("the signature is invalid".into()))
        };
    }
    let mut candidates = keys.candidates(alg, kid);
    let key = match (candidates.next(), candidates.next()) {
        (Some(key), None) => key,
        (None, _) => {
            return Err(Rejection::UnknownKey(match kid {
                Some(kid) => format!(
                    "no key with kid {:?} for {alg} in the provider's JWKS",
                    crate::error::sanitize(kid, 64)
                ),
                None => format!("no key for {alg} in the provider's JWKS"),
            }))
        }
        (Some(_), Some(_)) => reject!(
            "the JWKS has several keys for {alg} matching the token's kid (or it names none)"
        ),
    };
    if key.verifies(alg, message, &jws.signature) {
        Ok(())
    } else {
        Err(Rejection::Invalid("the signature is invalid".into()))
    }
}

/// `at_hash`: the left half of the token's hash with the signature's hash function.
fn token_hash(alg: SigningAlg, token: &str) -> String {
    use SigningAlg as A;
    let digest: Vec<u8> = match alg {
        A::Hs384 | A::Rs384 | A::Es384 | A::Ps384 => Sha384::digest(token.as_bytes()).to_vec(),
        // EdDSA with Ed25519 hashes with SHA-512 (Core 3.1.3.6 errata).
        A::Hs512 | A::Rs512 | A::Ps512 | A::EdDsa => Sha512::digest(token.as_bytes()).to_vec(),
        _ => Sha256::digest(token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

pub(super) fn alg_names(algs: &[SigningAlg]) -> String {
    algs.iter()
        .map(|alg| alg.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn refuses_none_and_unknown_algorithms() {
        assert_eq!(parse_alg("none"), None);
        assert_eq!(parse_alg("XX999"), None);
        assert_eq!(parse_alg("RS256"), Some(SigningAlg::Rs256));
    }

    #[test]
    fn at_hash_matches_the_spec_example() {
        // OpenID Connect Core, Appendix A.3 (access token and at_hash of the example).
        let hash = token_hash(
            SigningAlg::Rs256,
            "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
        );
        assert_eq!(hash, "77QmUPtjPfzWtF2AnpK9RQ");
    }

    #[test]
    fn refuses_tokens_that_are_not_three_base64url_parts() {
        assert!(split("a.b").is_err());
        assert!(split("a.b.c.d.e").is_err());
        assert!(split("*.*.*").is_err());
    }
}
