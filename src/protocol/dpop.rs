//! DPoP proofs (RFC 9449): a JWT signed with the session's own key for one HTTP request,
//! which binds the tokens the provider issues to that key.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::random::random_token;
use super::signing::{b64, SigningKey};
use super::time::now;

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

/// Whether a `WWW-Authenticate` header (or an error code) asks for a DPoP nonce
/// (RFC 9449 8, 9).
pub(crate) fn asks_for_nonce(www_authenticate: Option<&str>) -> bool {
    www_authenticate.is_some_and(|value| value.contains("use_dpop_nonce"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::signing::SigningAlg;
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
    fn nonce_challenges_are_recognised() {
        assert!(asks_for_nonce(Some(
            "DPoP error=\"use_dpop_nonce\", error_description=\"x\""
        )));
        assert!(!asks_for_nonce(Some("DPoP error=\"invalid_token\"")));
        assert!(!asks_for_nonce(None));
    }
}
