//! Compact JWS pieces for the tokens this crate checks itself: back-channel logout tokens
//! and RFC 9068 access tokens. The crate's own because openidconnect verifies only ID tokens
//! and UserInfo JWTs (its JWT type and key filter are crate-private); ID tokens go through
//! its verifier (see `id_token`), and the messages here explain its refusals.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::jwk::{self, KeySet};
use crate::signing::SigningAlg;

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// No key in the JWKS matches the token's `kid`: the caller refetches the JWKS once.
    UnknownKey(String),
    /// An access token that is not for this API (`aud`): the caller names the setting that
    /// says which audience is expected.
    Audience(String),
    /// Any other failure, described for the log and the error page.
    Invalid(String),
}

impl Rejection {
    pub(crate) fn into_message(self) -> String {
        match self {
            Rejection::UnknownKey(message)
            | Rejection::Audience(message)
            | Rejection::Invalid(message) => message,
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
        reject!(
            "not a compact JWS (a token of five parts is encrypted: this client decrypts ID \
             tokens and UserInfo when id_token_encrypted_response_alg or \
             userinfo_encrypted_response_alg is set, with its encryption_key)"
        );
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
pub(super) fn token_hash(alg: SigningAlg, token: &str) -> String {
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
