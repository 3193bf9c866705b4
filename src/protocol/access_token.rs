//! Bearer access tokens an API receives, the crate's own because openidconnect has no
//! RFC 9068 access tokens and oauth2's introspection answer reads times and `active`
//! strictly: JWT access tokens checked locally (RFC 9068), and what an introspection answer
//! (RFC 7662) must say. Both end in the same [`TokenInfo`].

use serde::Deserialize;
use serde_json::value::RawValue;

use super::jwk::KeySet;
use super::jws::{check_issuer, header_of, split, verify_signature, Audience, Header, Rejection};
use crate::error::sanitize;
use crate::signing::SigningAlg;

/// What an API learns from a valid access token.
#[derive(Debug)]
pub(crate) struct TokenInfo {
    pub(crate) subject: Option<String>,
    /// Space-separated scopes, as the token or the provider says them.
    pub(crate) scope: Option<String>,
    pub(crate) client_id: Option<String>,
    /// When the token expires (Unix seconds), if known.
    pub(crate) expires_at: Option<i64>,
    /// Every claim (JWT) or member (introspection answer), raw JSON.
    pub(crate) claims: Box<RawValue>,
    /// `cnf.jkt` (RFC 9449 6): the token is bound to this DPoP key.
    pub(crate) jkt: Option<String>,
    /// `cnf.x5t#S256` (RFC 8705 3): the token is bound to the client certificate of this
    /// SHA-256 thumbprint (base64url).
    pub(crate) x5t_s256: Option<String>,
}

/// `cnf` (RFC 7800): the key or certificate a token is bound to.
#[derive(Deserialize, Default)]
struct Confirmation {
    jkt: Option<String>,
    #[serde(rename = "x5t#S256")]
    x5t_s256: Option<String>,
}

impl TokenInfo {
    /// Whether every scope in `required` is among the token's.
    pub(crate) fn has_scopes(&self, required: &[&str]) -> bool {
        let granted: Vec<&str> = self
            .scope
            .as_deref()
            .map(|s| s.split(' ').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        required.iter().all(|scope| granted.contains(scope))
    }
}

/// What a JWT access token must satisfy.
pub(crate) struct AccessTokenCheck<'a> {
    pub(crate) issuer: &'a str,
    /// The `aud` this API expects for itself.
    pub(crate) audience: &'a str,
    pub(crate) allowed_algs: &'a [SigningAlg],
    /// Keys HMAC algorithms; `None` for an API (RFC 9068 4: the provider's keys only).
    pub(crate) client_secret: Option<&'a str>,
    pub(crate) now: i64,
    pub(crate) clock_skew: i64,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<f64>,
    iat: Option<f64>,
    nbf: Option<f64>,
    scope: Option<String>,
    client_id: Option<String>,
    cnf: Option<Confirmation>,
}

macro_rules! reject {
    ($($arg:tt)*) => { return Err(Rejection::Invalid(format!($($arg)*))) };
}

/// Whether `token` looks like a compact JWS (three parts, the first a base64url JSON header
/// with `alg`): `auto` validation checks those locally and introspects anything else. Only
/// the header is decoded; the validation that follows decodes the rest once.
pub(crate) fn is_jws_shaped(token: &str) -> bool {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .is_some_and(|header| serde_json::from_slice::<Header>(&header).is_ok())
}

/// Validates an RFC 9068 JWT access token.
pub(crate) fn validate_jwt_access_token(
    token: &str,
    keys: &KeySet,
    check: &AccessTokenCheck<'_>,
) -> Result<TokenInfo, Rejection> {
    let jws = split(token)?;
    let (header, alg) = header_of(&jws, check.allowed_algs)?;
    // RFC 9068 2.1 and 4: typ at+jwt, so an ID token cannot pass as an access token.
    let typ = header.typ.as_deref().unwrap_or("");
    if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
        reject!(
            "typ {:?} is not at+jwt: not a JWT access token (RFC 9068)",
            sanitize(typ, 32)
        );
    }
    verify_signature(&jws, alg, header.kid.as_deref(), keys, check.client_secret)?;
    let claims: Claims = serde_json::from_slice(&jws.payload)
        .map_err(|e| Rejection::Invalid(format!("the claims are not valid: {e}")))?;
    check_issuer(claims.iss.as_deref(), check.issuer)?;
    check_audience(claims.aud.as_ref(), check.audience)?;
    let (now, skew) = (check.now, check.clock_skew);
    let expires_at = match claims.exp {
        Some(exp) if exp.is_finite() => exp.floor() as i64,
        _ => reject!("the exp claim is missing"),
    };
    if now >= expires_at.saturating_add(skew) {
        reject!("the token expired at {expires_at} (now {now})");
    }
    match claims.iat {
        Some(iat) if iat.is_finite() && iat.floor() as i64 <= now.saturating_add(skew) => {}
        Some(_) => reject!("iat lies in the future (now {now})"),
        None => reject!("the iat claim is missing"),
    }
    if let Some(nbf) = claims.nbf {
        if !nbf.is_finite() || nbf.floor() as i64 > now.saturating_add(skew) {
            reject!("the token is not valid before {nbf} (now {now})");
        }
    }
    let raw = String::from_utf8(jws.payload)
        .ok()
        .and_then(|text| RawValue::from_string(text).ok())
        .ok_or_else(|| Rejection::Invalid("the claims are not UTF-8 JSON".into()))?;
    let cnf = claims.cnf.unwrap_or_default();
    Ok(TokenInfo {
        subject: claims.sub,
        scope: claims.scope,
        client_id: claims.client_id,
        expires_at: Some(expires_at),
        claims: raw,
        jkt: cnf.jkt,
        x5t_s256: cnf.x5t_s256,
    })
}

/// An introspection answer's members this crate reads (RFC 7662 2.2).
#[derive(Deserialize)]
struct Introspected {
    active: bool,
    sub: Option<String>,
    aud: Option<Audience>,
    scope: Option<String>,
    client_id: Option<String>,
    exp: Option<f64>,
    nbf: Option<f64>,
    iss: Option<String>,
    cnf: Option<Confirmation>,
}

/// Reads an introspection answer: the token must be `active`, name the expected audience,
/// and (when the answer says) not be expired or early, nor come from another issuer.
pub(crate) fn read_introspection(
    body: &[u8],
    issuer: &str,
    audience: &str,
    now: i64,
    clock_skew: i64,
) -> Result<TokenInfo, Rejection> {
    let answer: Introspected = serde_json::from_slice(body)
        .map_err(|e| Rejection::Invalid(format!("not an introspection answer: {e}")))?;
    if !answer.active {
        reject!("the provider says the token is not active (expired, revoked or unknown)");
    }
    if let Some(iss) = answer.iss.as_deref() {
        check_issuer(Some(iss), issuer)?;
    }
    check_audience(answer.aud.as_ref(), audience)?;
    let expires_at = answer
        .exp
        .filter(|exp| exp.is_finite())
        .map(|exp| exp.floor() as i64);
    if let Some(exp) = expires_at {
        // The provider's own clock said active; a cached answer must not outlive exp.
        if now >= exp.saturating_add(clock_skew) {
            reject!("the token expired at {exp} (now {now})");
        }
    }
    if let Some(nbf) = answer.nbf {
        if nbf.is_finite() && nbf.floor() as i64 > now.saturating_add(clock_skew) {
            reject!("the token is not valid before {nbf} (now {now})");
        }
    }
    let raw = std::str::from_utf8(body)
        .ok()
        .and_then(|text| RawValue::from_string(text.to_string()).ok())
        .ok_or_else(|| Rejection::Invalid("the answer is not UTF-8 JSON".into()))?;
    let cnf = answer.cnf.unwrap_or_default();
    Ok(TokenInfo {
        subject: answer.sub,
        scope: answer.scope,
        client_id: answer.client_id,
        expires_at,
        claims: raw,
        jkt: cnf.jkt,
        x5t_s256: cnf.x5t_s256,
    })
}

/// `aud` must name this API (other audiences may be there too, RFC 9068 4).
fn check_audience(aud: Option<&Audience>, expected: &str) -> Result<(), Rejection> {
    let audiences = match aud {
        Some(Audience::One(aud)) => std::slice::from_ref(aud),
        Some(Audience::Many(auds)) => auds.as_slice(),
        None => {
            return Err(Rejection::Audience(
                "the token has no aud: it names no API, so it is not for this one".into(),
            ))
        }
    };
    if !audiences.iter().any(|aud| aud == expected) {
        return Err(Rejection::Audience(format!(
            "aud does not contain {expected:?} (it holds {})",
            audiences
                .iter()
                .take(5)
                .map(|a| format!("{:?}", sanitize(a, 100)))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningKey;
    use serde_json::{json, Map, Value};

    const ISSUER: &str = "https://op.example";
    const API: &str = "https://api.example";
    const NOW: i64 = 1_800_000_000;

    fn key() -> SigningKey {
        let pem = std::fs::read_to_string(format!(
            "{}/tests/fixtures/client_p256_sec1.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        SigningKey::from_pem(&pem, None, Some("k".into())).unwrap()
    }

    fn keys(key: &SigningKey) -> KeySet {
        KeySet::from_json(
            json!({ "keys": [key.published_jwk()] })
                .to_string()
                .as_bytes(),
        )
        .unwrap()
    }

    fn token(key: &SigningKey, typ: &str, claims: Value) -> String {
        let mut header = Map::new();
        header.insert("typ".into(), json!(typ));
        key.sign(header, &claims)
    }

    fn claims() -> Value {
        json!({ "iss": ISSUER, "aud": API, "sub": "alice", "client_id": "app",
                "scope": "read admin", "exp": NOW + 60, "iat": NOW, "jti": "1" })
    }

    fn check(now: i64) -> AccessTokenCheck<'static> {
        AccessTokenCheck {
            issuer: ISSUER,
            audience: API,
            allowed_algs: &[SigningAlg::Es256],
            client_secret: None,
            now,
            clock_skew: 0,
        }
    }

    fn refused(jwt: &str, keys: &KeySet, check: &AccessTokenCheck<'_>, why: &str) {
        let message = match validate_jwt_access_token(jwt, keys, check) {
            Ok(_) => panic!("accepted, expected a refusal mentioning {why:?}"),
            Err(rejection) => rejection.into_message(),
        };
        assert!(message.contains(why), "{message:?} should mention {why:?}");
    }

    #[test]
    fn a_good_token_gives_its_subject_scope_and_claims() {
        let key = key();
        let info =
            validate_jwt_access_token(&token(&key, "at+jwt", claims()), &keys(&key), &check(NOW))
                .unwrap();
        assert_eq!(info.subject.as_deref(), Some("alice"));
        assert!(info.has_scopes(&["admin"]) && info.has_scopes(&["read", "admin"]));
        assert!(!info.has_scopes(&["write"]));
        assert_eq!(info.client_id.as_deref(), Some("app"));
        let jwt = token(&key, "application/at+jwt", claims());
        assert!(validate_jwt_access_token(&jwt, &keys(&key), &check(NOW)).is_ok());
    }

    #[test]
    fn each_rule_refuses_its_token() {
        let key = key();
        let set = keys(&key);
        refused(
            &token(&key, "JWT", claims()),
            &set,
            &check(NOW),
            "not at+jwt",
        );
        let mut c = claims();
        c["aud"] = json!(["https://other.example"]);
        refused(
            &token(&key, "at+jwt", c),
            &set,
            &check(NOW),
            "aud does not contain",
        );
        let mut c = claims();
        c.as_object_mut().unwrap().remove("aud");
        refused(&token(&key, "at+jwt", c), &set, &check(NOW), "no aud");
        let mut c = claims();
        c["iss"] = json!("https://evil.example");
        refused(&token(&key, "at+jwt", c), &set, &check(NOW), "iss");
        refused(
            &token(&key, "at+jwt", claims()),
            &set,
            &check(NOW + 60),
            "expired",
        );
        let mut c = claims();
        c["nbf"] = json!(NOW + 30);
        refused(
            &token(&key, "at+jwt", c),
            &set,
            &check(NOW),
            "not valid before",
        );
        let mut c = claims();
        c.as_object_mut().unwrap().remove("iat");
        refused(&token(&key, "at+jwt", c), &set, &check(NOW), "iat");
        let mut es_only = check(NOW);
        es_only.allowed_algs = &[SigningAlg::Rs256];
        refused(
            &token(&key, "at+jwt", claims()),
            &set,
            &es_only,
            "not allowed",
        );
        let other = SigningKey::generate(SigningAlg::Es256).unwrap();
        let forged = token(&other, "at+jwt", claims()).replace(other.kid(), "k");
        refused(&forged, &set, &check(NOW), "");
        assert!(!is_jws_shaped("opaque-token-value"));
        assert!(is_jws_shaped(&token(&key, "at+jwt", claims())));
    }

    #[test]
    fn introspection_answers_must_be_active_and_for_this_api() {
        let good = json!({"active": true, "sub": "alice", "aud": [API, "x"], "scope": "read",
                          "client_id": "app", "exp": NOW + 10, "iss": ISSUER});
        let info = read_introspection(good.to_string().as_bytes(), ISSUER, API, NOW, 0).unwrap();
        assert_eq!(info.subject.as_deref(), Some("alice"));
        assert_eq!(info.expires_at, Some(NOW + 10));
        let read = |v: Value| {
            read_introspection(v.to_string().as_bytes(), ISSUER, API, NOW, 0)
                .err()
                .map(Rejection::into_message)
                .unwrap_or_default()
        };
        assert!(read(json!({"active": false})).contains("not active"));
        assert!(read(json!({"active": true, "sub": "a"})).contains("no aud"));
        assert!(read(json!({"active": true, "aud": "x"})).contains("does not contain"));
        assert!(read(json!({"active": true, "aud": API, "exp": NOW})).contains("expired"));
        assert!(read(json!({"active": true, "aud": API, "iss": "https://x"})).contains("iss"));
        assert!(read(json!({"nope": 1})).contains("not an introspection answer"));
    }
}
