//! Signed UserInfo responses (Core 5.3.2, `userinfo_signed_response_alg`): a JWT checked
//! like an ID token's signature, `iss` and `aud`. The crate's own because openidconnect's
//! `UserInfoJsonWebToken` needs its own HTTP client and key type for the request.

use serde::Deserialize;

use super::jwk::KeySet;
use super::jws::{
    check_audience, check_issuer, header_of, split, verify_signature, Audience, Rejection,
};
use crate::signing::SigningAlg;

/// What a signed UserInfo response is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserinfoJwtCheck<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) trusted_audiences: &'a [String],
    /// The registered `userinfo_signed_response_alg`: no other is taken.
    pub(crate) alg: SigningAlg,
    /// Keys HS* signatures.
    pub(crate) client_secret: Option<&'a str>,
    pub(crate) now: i64,
    pub(crate) clock_skew: i64,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    aud: Option<Audience>,
    exp: Option<f64>,
}

/// Checks a signed UserInfo response and gives back its claims, as JSON. `iss` and `aud`
/// must be the provider's and this client's when present; Core only says a provider
/// SHOULD send them, so a response without them is taken (its signature binds it to the
/// provider).
pub(crate) fn validate_userinfo_jwt(
    jwt: &str,
    keys: &KeySet,
    check: &UserinfoJwtCheck<'_>,
) -> Result<Vec<u8>, Rejection> {
    let jws = split(jwt)?;
    let (header, alg) = header_of(&jws, &[check.alg])?;
    verify_signature(&jws, alg, header.kid.as_deref(), keys, check.client_secret)?;
    let claims: Claims = serde_json::from_slice(&jws.payload)
        .map_err(|e| Rejection::Invalid(format!("the claims are not a JSON object: {e}")))?;
    if claims.iss.is_some() {
        check_issuer(claims.iss.as_deref(), check.issuer)?;
    }
    if claims.aud.is_some() {
        check_audience(
            claims.aud.as_ref(),
            check.client_id,
            check.trusted_audiences,
        )?;
    }
    if let Some(exp) = claims.exp.filter(|e| e.is_finite()) {
        let exp = exp.floor() as i64;
        if check.now >= exp.saturating_add(check.clock_skew) {
            return Err(Rejection::Invalid(format!(
                "the response expired at {exp} (now {})",
                check.now
            )));
        }
    }
    Ok(jws.payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningKey;
    use serde_json::{json, Map, Value};

    const ISSUER: &str = "https://op.example";

    fn key_and_set() -> (SigningKey, KeySet) {
        let key = SigningKey::generate(SigningAlg::Es256).unwrap();
        let set = KeySet::from_json(
            json!({ "keys": [key.published_jwk()] })
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        (key, set)
    }

    fn check(alg: SigningAlg) -> UserinfoJwtCheck<'static> {
        UserinfoJwtCheck {
            issuer: ISSUER,
            client_id: "app",
            trusted_audiences: &[],
            alg,
            client_secret: None,
            now: 1_800_000_000,
            clock_skew: 60,
        }
    }

    #[test]
    fn a_signed_response_gives_its_claims() {
        let (key, set) = key_and_set();
        let claims = json!({ "sub": "alice", "iss": ISSUER, "aud": "app", "email": "a@x" });
        let jwt = key.sign(Map::new(), &claims);
        let payload = validate_userinfo_jwt(&jwt, &set, &check(SigningAlg::Es256)).unwrap();
        let read: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(read["email"], "a@x");
        // Without iss and aud (a SHOULD of Core 5.3.2): taken.
        let jwt = key.sign(Map::new(), &json!({ "sub": "alice" }));
        validate_userinfo_jwt(&jwt, &set, &check(SigningAlg::Es256)).unwrap();
    }

    #[test]
    fn another_audience_issuer_alg_or_key_is_refused() {
        let (key, set) = key_and_set();
        let refused = |claims: Value, check: UserinfoJwtCheck<'_>, why: &str| {
            let jwt = key.sign(Map::new(), &claims);
            let err = validate_userinfo_jwt(&jwt, &set, &check)
                .unwrap_err()
                .into_message();
            assert!(err.contains(why), "{err} should say {why}");
        };
        refused(
            json!({"sub": "a", "aud": "other"}),
            check(SigningAlg::Es256),
            "aud",
        );
        refused(
            json!({"sub": "a", "iss": "https://evil.example"}),
            check(SigningAlg::Es256),
            "iss",
        );
        refused(json!({"sub": "a"}), check(SigningAlg::Rs256), "not allowed");
        refused(
            json!({"sub": "a", "exp": 1_700_000_000}),
            check(SigningAlg::Es256),
            "expired",
        );
        let (_, other_set) = key_and_set();
        let jwt = key.sign(Map::new(), &json!({"sub": "a"}));
        assert!(validate_userinfo_jwt(&jwt, &other_set, &check(SigningAlg::Es256)).is_err());
        let mut tampered = jwt.clone();
        tampered.replace_range(jwt.len() - 4.., "AAAA");
        assert!(validate_userinfo_jwt(&tampered, &set, &check(SigningAlg::Es256)).is_err());
    }
}
