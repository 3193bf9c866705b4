//! DPoP proofs (RFC 9449), the crate's own because openidconnect and oauth2 have no DPoP: a
//! JWT signed with the session's own key for one HTTP request, which binds the tokens the
//! provider issues to that key.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::random::random_token;
use super::time::now;
use crate::signing::{b64, SigningKey};

/// A DPoP proof (RFC 9449 4.2) for `method` on `url` (its query and fragment left out),
/// with the server's `nonce` when it asked for one, and `ath` when the request carries
/// `access_token`.
pub(crate) fn proof(
    key: &SigningKey,
    method: &str,
    url: &str,
    nonce: Option<&str>,
    access_token: Option<&str>,
) -> String {
    let mut header = Map::new();
    header.insert("typ".into(), Value::String("dpop+jwt".into()));
    header.insert("jwk".into(), key.public_jwk());
    let mut claims = json!({
        "jti": random_token(),
        "htm": method.to_ascii_uppercase(),
        "htu": target_uri(url),
        "iat": now(),
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = Value::String(nonce.into());
    }
    if let Some(token) = access_token {
        claims["ath"] = Value::String(b64(&Sha256::digest(token.as_bytes())));
    }
    key.sign(header, &claims)
}

/// `htu`: the request's URI without query and fragment (RFC 9449 4.2).
fn target_uri(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.into()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or(url).to_string(),
    }
}

/// How far a proof's `iat` may lie from now (seconds, on top of the clock skew).
pub(crate) const PROOF_WINDOW: i64 = 60;

/// What a valid DPoP proof an API received binds.
#[derive(Debug)]
pub(crate) struct ValidProof {
    /// RFC 7638 thumbprint of the proof's key: the token's `cnf.jkt` must equal it.
    pub(crate) jkt: String,
    /// The proof's `jti`, for the replay check.
    pub(crate) jti: String,
}

/// Checks a DPoP proof (RFC 9449 4.3) that came with a request for `method` on `url`
/// carrying `access_token`.
pub(crate) fn verify_proof(
    proof: &str,
    method: &str,
    url: &str,
    access_token: &str,
    now: i64,
    clock_skew: i64,
) -> Result<ValidProof, ProofError> {
    use super::jwk::Jwk;
    use crate::signing::SigningAlg;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    let mut parts = proof.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofError::NotCompact);
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(ProofError::NotBase64);
    let header: Value =
        serde_json::from_slice(&decode(header)?).map_err(ProofError::HeaderNotJson)?;
    if header["typ"].as_str() != Some("dpop+jwt") {
        return Err(ProofError::WrongTyp);
    }
    let alg = header["alg"]
        .as_str()
        .and_then(SigningAlg::from_name)
        .filter(|alg| !alg.is_hmac())
        .ok_or(ProofError::UnknownAlg)?;
    let jwk_value = header["jwk"].clone();
    if jwk_value.get("d").is_some() {
        return Err(ProofError::PrivateJwk);
    }
    let jwk = Jwk::from_value(jwk_value.clone())
        .filter(|key| key.fits_alg(alg))
        .ok_or(ProofError::UnusableJwk)?;
    let signed = &proof[..header_len(proof)];
    if !jwk.verifies(alg, signed.as_bytes(), &decode(signature)?) {
        return Err(ProofError::BadSignature);
    }
    let claims: Value =
        serde_json::from_slice(&decode(payload)?).map_err(ProofError::ClaimsNotJson)?;
    if claims["htm"].as_str() != Some(method) {
        return Err(ProofError::OtherMethod(method.to_string()));
    }
    if claims["htu"].as_str().map(target_uri) != Some(target_uri(url)) {
        return Err(ProofError::OtherUrl);
    }
    let iat = claims["iat"].as_i64().ok_or(ProofError::NoIat)?;
    // abs_diff: a proof's iat is the sender's number (i64::MIN included); no overflow.
    if iat.abs_diff(now) > PROOF_WINDOW.saturating_add(clock_skew).unsigned_abs() {
        return Err(ProofError::IatOutOfWindow { iat, now });
    }
    let ath = b64(&Sha256::digest(access_token.as_bytes()));
    if claims["ath"].as_str() != Some(ath.as_str()) {
        return Err(ProofError::AthMismatch);
    }
    let jti = match claims["jti"].as_str() {
        Some(jti) if !jti.is_empty() && jti.len() <= 256 => jti.to_string(),
        _ => return Err(ProofError::NoJti),
    };
    Ok(ValidProof {
        jkt: crate::signing::thumbprint(&jwk_value),
        jti,
    })
}

/// Why [`verify_proof`] refused a proof: one variant per check of RFC 9449 4.3. The texts
/// go to the log only; the client sees `invalid_dpop_proof`.
#[derive(Debug)]
pub(crate) enum ProofError {
    NotCompact,
    /// A part of the JWS is not base64url.
    NotBase64(base64::DecodeError),
    HeaderNotJson(serde_json::Error),
    WrongTyp,
    /// No `alg`, an unknown one, or an HMAC one.
    UnknownAlg,
    PrivateJwk,
    /// The `jwk` is no public key this API uses, or does not fit the `alg`.
    UnusableJwk,
    BadSignature,
    ClaimsNotJson(serde_json::Error),
    /// `htm` is not the request's method (carried here).
    OtherMethod(String),
    /// `htu` is not the request's URL.
    OtherUrl,
    NoIat,
    /// `iat` is more than the window (plus clock skew) away from `now`.
    IatOutOfWindow {
        iat: i64,
        now: i64,
    },
    AthMismatch,
    /// No `jti`, an empty one, or one longer than 256 bytes.
    NoJti,
}

impl std::fmt::Display for ProofError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            ProofError::NotCompact => "the proof is not a compact JWS",
            ProofError::NotBase64(_) => "not base64url",
            ProofError::HeaderNotJson(_) => "the proof's header is not JSON",
            ProofError::WrongTyp => "the proof's typ is not dpop+jwt",
            ProofError::UnknownAlg => {
                "the proof's alg is not an asymmetric algorithm this API knows"
            }
            ProofError::PrivateJwk => "the proof's jwk holds a private key",
            ProofError::UnusableJwk => "the proof's jwk is not a usable public key for its alg",
            ProofError::BadSignature => "the proof's signature is invalid",
            ProofError::ClaimsNotJson(_) => "the proof's claims are not JSON",
            ProofError::OtherMethod(method) => {
                return write!(f, "the proof is for another method than {method}")
            }
            ProofError::OtherUrl => "the proof is for another URL",
            ProofError::NoIat => "the proof has no iat",
            ProofError::IatOutOfWindow { iat, now } => {
                return write!(f, "the proof's iat {iat} is too far from now ({now})")
            }
            ProofError::AthMismatch => "the proof's ath does not match the access token",
            ProofError::NoJti => "the proof has no usable jti",
        };
        f.write_str(text)
    }
}

impl std::error::Error for ProofError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProofError::NotBase64(e) => Some(e),
            ProofError::HeaderNotJson(e) | ProofError::ClaimsNotJson(e) => Some(e),
            _ => None,
        }
    }
}

/// Length of the signing input (header and payload) of a compact JWS.
fn header_len(jws: &str) -> usize {
    jws.rfind('.').unwrap_or(jws.len())
}

/// Whether a `WWW-Authenticate` header (or an error code) asks for a DPoP nonce
/// (RFC 9449 8, 9).
pub(crate) fn asks_for_nonce(www_authenticate: Option<&str>) -> bool {
    www_authenticate.is_some_and(|value| value.contains("use_dpop_nonce"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningAlg;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn part(jws: &str, index: usize) -> Value {
        let text = jws.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap()
    }

    #[test]
    fn a_proof_names_the_request_and_carries_the_public_key() {
        let key = SigningKey::generate(SigningAlg::Es256).unwrap();
        let jws = proof(
            &key,
            "post",
            "https://op.example/token?x=1#f",
            Some("n-1"),
            Some("token"),
        );
        let header = part(&jws, 0);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["jwk"], key.public_jwk());
        assert!(
            header.get("kid").is_none(),
            "the key travels as jwk, not kid"
        );
        assert!(header["jwk"].get("d").is_none(), "no private part");
        let claims = part(&jws, 1);
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], "https://op.example/token");
        assert_eq!(claims["nonce"], "n-1");
        // RFC 9449 4.2: base64url(SHA-256(ASCII access token)).
        assert_eq!(claims["ath"], b64(&Sha256::digest(b"token")).as_str());
        assert_eq!(claims["jti"].as_str().unwrap().len(), 43);
        let again = proof(&key, "POST", "https://op.example/token", None, None);
        assert_ne!(
            part(&again, 1)["jti"],
            claims["jti"],
            "a fresh jti each time"
        );
        assert!(part(&again, 1).get("nonce").is_none());
    }

    #[test]
    fn an_iat_at_the_ends_of_the_clock_is_refused_without_overflow() {
        let key = SigningKey::generate(SigningAlg::Es256).unwrap();
        let url = "https://api.example/orders";
        let jws = proof(&key, "GET", url, None, Some("token"));
        assert!(verify_proof(&jws, "GET", url, "token", now(), 60).is_ok());
        for clock in [i64::MIN, i64::MAX] {
            let refused = verify_proof(&jws, "GET", url, "token", clock, 60).unwrap_err();
            assert!(
                refused.to_string().contains("too far from now"),
                "{refused}"
            );
        }
        let mut header = Map::new();
        header.insert("typ".into(), Value::String("dpop+jwt".into()));
        header.insert("jwk".into(), key.public_jwk());
        for iat in [i64::MIN, i64::MAX] {
            let claims = json!({ "jti": "j", "htm": "GET", "htu": url, "iat": iat,
                "ath": b64(&Sha256::digest(b"token")) });
            let jws = key.sign(header.clone(), &claims);
            let refused = verify_proof(&jws, "GET", url, "token", now(), 60).unwrap_err();
            assert!(
                refused.to_string().contains("too far from now"),
                "{refused}"
            );
        }
    }

    #[test]
    fn nonce_challenges_are_recognised() {
        assert!(asks_for_nonce(Some(
            "DPoP error=\"use_dpop_nonce\", error_description=\"x\""
        )));
        assert!(!asks_for_nonce(Some("DPoP error=\"invalid_token\"")));
        assert!(!asks_for_nonce(None));
    }
}
