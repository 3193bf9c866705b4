//! Logout tokens (OpenID Connect Back-Channel Logout 1.0, 2.4 and 2.6), the crate's own
//! because openidconnect has no back-channel logout (its verifier takes ID tokens and
//! UserInfo JWTs only): validated like an ID token, plus the rules that keep an ID token
//! from passing as one.

use serde::Deserialize;

use super::jwk::KeySet;
use super::jws::{
    check_audience, check_issuer, header_of, split, verify_signature, Audience, Rejection,
};
use crate::error::sanitize;
use crate::signing::SigningAlg;

/// The event a logout token must carry.
pub(crate) const BACKCHANNEL_LOGOUT_EVENT: &str =
    "http://schemas.openid.net/event/backchannel-logout";

/// What a logout token must satisfy. Not `Debug`: it holds the client secret.
pub(crate) struct LogoutTokenCheck<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) trusted_audiences: &'a [String],
    /// Allowed `alg` values; never contains `none`.
    pub(crate) allowed_algs: &'a [SigningAlg],
    pub(crate) client_secret: Option<&'a str>,
    pub(crate) now: i64,
    pub(crate) clock_skew: i64,
}

/// What a valid logout token names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ValidLogoutToken {
    pub(crate) sid: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) jti: String,
    /// Until when the token could be replayed: its `exp`, or `iat` plus the largest
    /// lifetime this client accepts.
    pub(crate) replayable_until: i64,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    iat: Option<f64>,
    exp: Option<f64>,
    jti: Option<String>,
    sid: Option<String>,
    events: Option<serde_json::Map<String, serde_json::Value>>,
    nonce: Option<serde_json::Value>,
}

/// How old (by `iat`) a logout token without `exp` may be.
pub(crate) const MAX_AGE_WITHOUT_EXP: i64 = 120;

/// How old (by `iat`) any logout token may be: providers send them at the logout (and may
/// retry for a while); an older one is refused, so its `jti` need not be kept longer.
pub(crate) const MAX_AGE: i64 = 3600;

macro_rules! reject {
    ($($arg:tt)*) => { return Err(Rejection::Invalid(format!($($arg)*))) };
}

/// Validates a logout token against `keys` and `check`. The `jti` replay check is the
/// caller's (it needs the store).
pub(crate) fn validate_logout_token(
    jwt: &str,
    keys: &KeySet,
    check: &LogoutTokenCheck<'_>,
) -> Result<ValidLogoutToken, Rejection> {
    let jws = split(jwt)?;
    let (header, alg) = header_of(&jws, check.allowed_algs)?;
    if let Some(typ) = header.typ.as_deref() {
        // RFC 7515 4.1.9: "application/" may be left out; media types ignore case.
        let typ = typ.to_ascii_lowercase();
        let typ = typ.strip_prefix("application/").unwrap_or(&typ);
        // Back-Channel Logout 1.0 2.4 only recommends logout+jwt: a provider's plain JWT is
        // taken (its duty, and refusing would leave sessions alive). Any other explicit
        // type is another kind of token (at+jwt, dpop+jwt, ...) and never ends a session.
        match typ {
            "logout+jwt" => {}
            "jwt" => log::debug!("oidc: a logout token typed JWT, not logout+jwt (accepted)"),
            other => reject!("typ {:?} is not logout+jwt", sanitize(other, 40)),
        }
    }
    verify_signature(&jws, alg, header.kid.as_deref(), keys, check.client_secret)?;
    let claims: Claims = serde_json::from_slice(&jws.payload)
        .map_err(|e| Rejection::Invalid(format!("the claims are not valid: {e}")))?;
    let (now, skew) = (check.now, check.clock_skew);
    check_issuer(claims.iss.as_deref(), check.issuer)?;
    check_audience(
        claims.aud.as_ref(),
        check.client_id,
        check.trusted_audiences,
    )?;
    let issued_at = match claims.iat {
        Some(iat) if iat.is_finite() => iat.floor() as i64,
        _ => reject!("the iat claim is missing"),
    };
    if issued_at > now.saturating_add(skew) {
        reject!("iat lies in the future (now {now}, clock skew {skew} s)");
    }
    if now > issued_at.saturating_add(MAX_AGE + skew) {
        reject!("the token was issued more than {MAX_AGE} s ago");
    }
    let replayable_until = match claims.exp {
        Some(exp) if exp.is_finite() => {
            let exp = exp.floor() as i64;
            if now >= exp.saturating_add(skew) {
                reject!("the token expired at {exp} (now {now}, clock skew {skew} s)");
            }
            // Replays are refused by iat age after this anyway.
            exp.min(issued_at.saturating_add(MAX_AGE))
                .saturating_add(skew)
        }
        Some(_) => reject!("the exp claim is not a number"),
        None => {
            // Tolerated (drafts before 1.0 final had no exp), but only when fresh.
            if now > issued_at.saturating_add(MAX_AGE_WITHOUT_EXP + skew) {
                reject!(
                    "the token has no exp and was issued more than {MAX_AGE_WITHOUT_EXP} s ago"
                );
            }
            issued_at.saturating_add(MAX_AGE_WITHOUT_EXP + skew)
        }
    };
    let has_event = claims
        .events
        .as_ref()
        .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT))
        .is_some_and(serde_json::Value::is_object);
    if !has_event {
        reject!("the events claim does not hold the back-channel logout event {BACKCHANNEL_LOGOUT_EVENT}");
    }
    if claims.nonce.is_some() {
        reject!("the token has a nonce claim, which a logout token must not have (an ID token?)");
    }
    let jti = match claims.jti {
        Some(jti) if !jti.is_empty() && jti.len() <= 256 => jti,
        Some(_) => reject!("the jti claim is empty or longer than 256 bytes"),
        None => reject!("the jti claim is missing"),
    };
    for (name, value) in [("sid", &claims.sid), ("sub", &claims.sub)] {
        if value
            .as_ref()
            .is_some_and(|v| v.is_empty() || v.len() > 255)
        {
            reject!("the {name} claim is empty or longer than 255 bytes");
        }
    }
    let (sid, subject) = (claims.sid, claims.sub);
    if sid.is_none() && subject.is_none() {
        reject!("the token names neither sid nor sub");
    }
    Ok(ValidLogoutToken {
        sid,
        subject,
        jti,
        replayable_until,
    })
}
