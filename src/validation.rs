//! The one place tokens are validated: ID tokens as OpenID Connect Core 3.1.3.7 says.
//!
//! Signatures are checked with openidconnect's JSON Web Key implementation; the claim checks
//! are written out here so that every time check uses the same clock skew and every failure
//! says exactly which rule failed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyUse, JwsSigningAlgorithm};
use serde::Deserialize;
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

/// What an ID token must satisfy.
#[derive(Debug)]
pub(crate) struct IdTokenCheck<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    /// Audiences besides `client_id` that may appear in `aud`.
    pub(crate) trusted_audiences: &'a [String],
    /// Allowed `alg` values; never contains `none`.
    pub(crate) allowed_algs: &'a [CoreJwsSigningAlgorithm],
    /// The key for HMAC algorithms, when the client has a secret.
    pub(crate) client_secret: Option<&'a str>,
    /// The nonce sent in the authorization request; `None` only for refreshed ID tokens.
    pub(crate) nonce: Option<&'a str>,
    /// `max_age` sent in the authorization request: `auth_time` becomes mandatory.
    pub(crate) max_age: Option<i64>,
    /// The access token issued with the ID token, checked against `at_hash` when present.
    pub(crate) access_token: Option<&'a str>,
    pub(crate) now: i64,
    pub(crate) clock_skew: i64,
}

/// The facts the session keeps from a valid ID token.
#[derive(Debug)]
pub(crate) struct ValidIdToken {
    pub(crate) subject: String,
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
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
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
}

/// The three parts of a compact JWS, decoded.
struct Jws<'a> {
    signing_input: &'a str,
    header: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

fn split(jwt: &str) -> Result<Jws<'_>, Rejection> {
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
pub(crate) fn parse_alg(name: &str) -> Option<CoreJwsSigningAlgorithm> {
    let alg: CoreJwsSigningAlgorithm =
        serde_json::from_value(serde_json::Value::String(name.to_string())).ok()?;
    (alg != CoreJwsSigningAlgorithm::None).then_some(alg)
}

/// Validates an ID token against `keys` and `check`.
pub(crate) fn validate_id_token(
    jwt: &str,
    keys: &CoreJsonWebKeySet,
    check: &IdTokenCheck<'_>,
) -> Result<ValidIdToken, Rejection> {
    let jws = split(jwt)?;
    let header: Header = serde_json::from_slice(&jws.header)
        .map_err(|e| Rejection::Invalid(format!("the header is not valid JSON: {e}")))?;
    if header.crit.is_some() {
        reject!("the header has a `crit` member, which this client does not understand");
    }
    let alg = match parse_alg(&header.alg) {
        Some(alg) if check.allowed_algs.contains(&alg) => alg,
        _ => reject!(
            "alg {:?} is not allowed (allowed: {})",
            crate::error::sanitize(&header.alg, 16),
            alg_names(check.allowed_algs)
        ),
    };
    verify_signature(&jws, &alg, header.kid.as_deref(), keys, check)?;

    let claims: Claims = serde_json::from_slice(&jws.payload)
        .map_err(|e| Rejection::Invalid(format!("the claims are not valid: {e}")))?;
    let skew = check.clock_skew;
    let now = check.now;

    match claims.iss.as_deref() {
        Some(iss) if iss == check.issuer => {}
        Some(iss) => reject!(
            "iss {:?} is not the provider's issuer {:?}",
            crate::error::sanitize(iss, 200),
            check.issuer
        ),
        None => reject!("the iss claim is missing"),
    }
    let subject = match claims.sub {
        Some(sub) if !sub.is_empty() && sub.len() <= 255 => sub,
        Some(_) => reject!("the sub claim is empty or longer than 255 characters"),
        None => reject!("the sub claim is missing"),
    };
    let audiences = match &claims.aud {
        Some(Audience::One(aud)) => std::slice::from_ref(aud),
        Some(Audience::Many(auds)) => auds.as_slice(),
        None => reject!("the aud claim is missing"),
    };
    if !audiences.iter().any(|aud| aud == check.client_id) {
        reject!(
            "aud does not contain this client's client_id {:?}",
            check.client_id
        );
    }
    if let Some(untrusted) = audiences
        .iter()
        .find(|aud| *aud != check.client_id && !check.trusted_audiences.contains(aud))
    {
        reject!(
            "aud contains {:?}, an audience this client does not trust (list it in trusted_audiences if it should)",
            crate::error::sanitize(untrusted, 100)
        );
    }
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
    if let (Some(at_hash), Some(access_token)) = (claims.at_hash.as_deref(), check.access_token) {
        if at_hash != token_hash(&alg, access_token) {
            reject!("at_hash does not match the access token");
        }
    }
    Ok(ValidIdToken {
        subject,
        nonce: claims.nonce,
        auth_time: claims
            .auth_time
            .filter(|t| t.is_finite())
            .map(|t| t.floor() as i64),
    })
}

fn verify_signature(
    jws: &Jws<'_>,
    alg: &CoreJwsSigningAlgorithm,
    kid: Option<&str>,
    keys: &CoreJsonWebKeySet,
    check: &IdTokenCheck<'_>,
) -> Result<(), Rejection> {
    let message = jws.signing_input.as_bytes();
    if alg.uses_shared_secret() {
        // Core 10.1: MAC algorithms are keyed with the client secret, never a JWKS entry.
        let Some(secret) = check.client_secret else {
            reject!("alg {alg:?} needs a client secret and this client has none");
        };
        let key = CoreJsonWebKey::new_symmetric(secret.as_bytes().to_vec());
        return key
            .verify_signature(alg, message, &jws.signature)
            .map_err(|_| Rejection::Invalid("the signature is invalid".into()));
    }
    let candidates: Vec<&CoreJsonWebKey> = keys
        .keys()
        .iter()
        .filter(|key| kid.is_none() || key.key_id().map(|k| k.as_str()) == kid)
        .filter(|key| Some(key.key_type()) == alg.key_type().as_ref())
        .filter(|key| key.key_use().is_none_or(|u| u.allows_signature()))
        .filter(|key| match key.signing_alg() {
            JsonWebKeyAlgorithm::Algorithm(key_alg) => key_alg == alg,
            JsonWebKeyAlgorithm::Unspecified => true,
            JsonWebKeyAlgorithm::Unsupported => false,
        })
        .collect();
    let key = match candidates.as_slice() {
        [key] => key,
        [] => {
            return Err(Rejection::UnknownKey(match kid {
                Some(kid) => format!(
                    "no key with kid {:?} for {alg:?} in the provider's JWKS",
                    crate::error::sanitize(kid, 64)
                ),
                None => format!("no key for {alg:?} in the provider's JWKS"),
            }))
        }
        _ => reject!("the token names no kid and the JWKS has several keys for {alg:?}"),
    };
    key.verify_signature(alg, message, &jws.signature)
        .map_err(|_| Rejection::Invalid("the signature is invalid".into()))
}

/// `at_hash`: the left half of the token's hash with the signature's hash function.
fn token_hash(alg: &CoreJwsSigningAlgorithm, token: &str) -> String {
    use CoreJwsSigningAlgorithm as A;
    let digest: Vec<u8> = match alg {
        A::HmacSha384 | A::RsaSsaPkcs1V15Sha384 | A::EcdsaP384Sha384 | A::RsaSsaPssSha384 => {
            Sha384::digest(token.as_bytes()).to_vec()
        }
        A::HmacSha512
        | A::RsaSsaPkcs1V15Sha512
        | A::EcdsaP521Sha512
        | A::RsaSsaPssSha512
        | A::EdDsa => Sha512::digest(token.as_bytes()).to_vec(),
        _ => Sha256::digest(token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

fn alg_names(algs: &[CoreJwsSigningAlgorithm]) -> String {
    algs.iter()
        .filter_map(|alg| serde_json::to_value(alg).ok())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_none_and_unknown_algorithms() {
        assert_eq!(parse_alg("none"), None);
        assert_eq!(parse_alg("XX999"), None);
        assert_eq!(
            parse_alg("RS256"),
            Some(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256)
        );
    }

    #[test]
    fn at_hash_matches_the_spec_example() {
        // OpenID Connect Core, Appendix A.3 (access token and at_hash of the example).
        let hash = token_hash(
            &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
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
