//! JWT-secured authorization responses (JARM, OpenID FAPI JARM): the response JWT checked
//! (signature by the provider's keys with the registered algorithm, `iss`, `aud`, `exp`)
//! before any of its parameters is used. The crate's own because openidconnect has no JARM.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::jwk::KeySet;
use super::jws::{
    check_audience, check_issuer, header_of, split, verify_signature, Audience, Rejection,
};
use crate::signing::SigningAlg;

/// What a response JWT is checked against (JARM 4.4).
#[derive(Debug, Clone, Copy)]
pub(crate) struct JarmCheck<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    /// The registered `authorization_signed_response_alg`: no other is taken.
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

/// Checks a response JWT and gives back the authorization response's parameters (the
/// claims that are strings: `code`, `state`, `error`, `error_description`, `iss`, ...) as a
/// form-encoded string. `iss`, `aud` and `exp` are required: JARM 2.1 has the provider send
/// them, and a response without them could be replayed to another client or forever.
pub(crate) fn validate_jarm(
    jwt: &str,
    keys: &KeySet,
    check: &JarmCheck<'_>,
) -> Result<String, Rejection> {
    let jws = split(jwt)?;
    let (header, alg) = header_of(&jws, &[check.alg])?;
    verify_signature(&jws, alg, header.kid.as_deref(), keys, check.client_secret)?;
    let claims: Map<String, Value> = serde_json::from_slice(&jws.payload)
        .map_err(|e| Rejection::Invalid(format!("the claims are not a JSON object: {e}")))?;
    let required: Claims = serde_json::from_value(Value::Object(claims.clone()))
        .map_err(|e| Rejection::Invalid(format!("a claim has the wrong type: {e}")))?;
    check_issuer(required.iss.as_deref(), check.issuer)?;
    if required.aud.is_none() {
        return Err(Rejection::Invalid("the response has no aud".into()));
    }
    check_audience(required.aud.as_ref(), check.client_id, &[])?;
    let Some(exp) = required.exp.filter(|e| e.is_finite()) else {
        return Err(Rejection::Invalid("the response has no exp".into()));
    };
    let exp = exp.floor() as i64;
    if check.now >= exp.saturating_add(check.clock_skew) {
        return Err(Rejection::Invalid(format!(
            "the response expired at {exp} (now {})",
            check.now
        )));
    }
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in &claims {
        if let Value::String(text) = value {
            form.append_pair(name, text);
        }
    }
    Ok(form.finish())
}

/// The `state` of a response JWT, read without checking anything: only to find the login
/// (its cookie) the response belongs to, whose provider's keys then check the JWT.
pub(crate) fn unchecked_state(jwt: &str) -> Option<String> {
    let payload = super::jws::payload_of(jwt)?;
    let claims: Map<String, Value> = serde_json::from_slice(&payload).ok()?;
    claims.get("state")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningKey;
    use serde_json::json;

    const ISSUER: &str = "https://op.example";
    const NOW: i64 = 1_800_000_000;

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

    fn check(alg: SigningAlg) -> JarmCheck<'static> {
        JarmCheck {
            issuer: ISSUER,
            client_id: "app",
            alg,
            client_secret: None,
            now: NOW,
            clock_skew: 10,
        }
    }

    fn good() -> Value {
        json!({ "iss": ISSUER, "aud": "app", "exp": NOW + 120, "code": "c+1", "state": "s" })
    }

    #[test]
    fn a_valid_response_gives_its_parameters() {
        let (key, set) = key_and_set();
        let jwt = key.sign(Map::new(), &good());
        let form = validate_jarm(&jwt, &set, &check(SigningAlg::Es256)).unwrap();
        let params: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        assert!(
            params.contains(&("code".into(), "c+1".into())),
            "{params:?}"
        );
        assert!(
            params.contains(&("iss".into(), ISSUER.into())),
            "{params:?}"
        );
        // Numbers (exp) are not parameters.
        assert!(!params.iter().any(|(name, _)| name == "exp"));
        assert_eq!(unchecked_state(&jwt).as_deref(), Some("s"));
    }

    #[test]
    fn a_bad_signature_another_audience_or_issuer_or_an_expired_one_is_refused() {
        let (key, set) = key_and_set();
        let refused = |claims: Value, check: JarmCheck<'_>, why: &str| {
            let jwt = key.sign(Map::new(), &claims);
            let err = validate_jarm(&jwt, &set, &check)
                .unwrap_err()
                .into_message();
            assert!(err.contains(why), "{err} should say {why}");
        };
        let with = |name: &str, value: Value| {
            let mut claims = good();
            claims[name] = value;
            claims
        };
        let without = |name: &str| {
            let mut claims = good();
            claims.as_object_mut().unwrap().remove(name);
            claims
        };
        let es256 = check(SigningAlg::Es256);
        refused(with("aud", json!("other")), es256, "aud");
        refused(without("aud"), es256, "no aud");
        refused(with("iss", json!("https://evil.example")), es256, "iss");
        refused(without("iss"), es256, "iss");
        refused(with("exp", json!(NOW - 60)), es256, "expired");
        refused(without("exp"), es256, "no exp");
        refused(good(), check(SigningAlg::Ps256), "not allowed");
        // Another provider's key; a tampered signature.
        let (_, other_set) = key_and_set();
        let jwt = key.sign(Map::new(), &good());
        assert!(validate_jarm(&jwt, &other_set, &es256).is_err());
        let mut tampered = jwt.clone();
        tampered.replace_range(jwt.len() - 4.., "AAAA");
        assert!(validate_jarm(&tampered, &set, &es256).is_err());
        // Within the clock skew: taken.
        let jwt = key.sign(Map::new(), &with("exp", json!(NOW - 5)));
        assert!(validate_jarm(&jwt, &set, &es256).is_ok());
    }
}
