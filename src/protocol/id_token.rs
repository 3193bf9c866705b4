//! ID tokens (OpenID Connect Core 3.1.3.7), checked by openidconnect's `IdTokenVerifier`
//! over the crate's ring-backed keys ([`Jwk`]), plus the rules it leaves to its caller:
//! `azp`, `at_hash`, `nbf`, `iat` in the future, `sub`'s length, `auth_time` against
//! `max_age`, `acr` against `acr_values`, and the clock skew.
//!
//! A verifier is built once per provider and key set ([`IdTokenVerifier`]), so the check of
//! a token parses it once and verifies it once. Its refusals are explained in this crate's
//! words (which rule, which value), the same words the logout and access token checks use.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, ClientSecret, IdToken, IssuerUrl, Nonce,
    SignatureVerificationError,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::jwk::{Jwk, KeySet};
use super::jws::{
    alg_names, check_audience, check_issuer, header_of, split, token_hash, Audience, Rejection,
};
use crate::error::sanitize;
use crate::signing::SigningAlg;

macro_rules! reject {
    ($($arg:tt)*) => { return Err(Rejection::Invalid(format!($($arg)*))) };
}

/// The claims of an ID token that openidconnect's `IdTokenClaims` lacks.
#[derive(Debug, Deserialize, Serialize)]
struct Extra {
    /// The provider's session id, for back-channel logout.
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<f64>,
}

impl AdditionalClaims for Extra {}

type Token =
    IdToken<Extra, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// The clock a verifier checks times with, in Unix seconds.
pub(crate) type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Both sides of the rules and the time, for one check (tests and benchmarks). Not `Debug`:
/// it holds the client secret.
#[cfg(any(test, feature = "__bench"))]
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
    /// What came beside the token in the authorization response, if it came there.
    pub(crate) front_channel: Option<FrontChannel<'a>>,
    pub(crate) now: i64,
    pub(crate) clock_skew: i64,
}

/// The provider's side of the rules: what holds for every ID token of one client.
pub(crate) struct ProviderRules<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) trusted_audiences: &'a [String],
    pub(crate) allowed_algs: &'a [SigningAlg],
    pub(crate) client_secret: Option<&'a str>,
    pub(crate) clock_skew: i64,
}

/// The login's side of the rules: what the authorization request asked for.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LoginRules<'a> {
    /// The nonce sent in the authorization request; `None` only for refreshed ID tokens.
    pub(crate) nonce: Option<&'a str>,
    pub(crate) max_age: Option<i64>,
    pub(crate) acr_values: &'a [String],
    /// The access token issued with the ID token, checked against `at_hash` when present.
    pub(crate) access_token: Option<&'a str>,
    /// The authorization response carried the ID token (hybrid and implicit, Core 3.3.2.11
    /// and 3.2.2.10): `c_hash` is required with `code`, `at_hash` with `access_token`.
    pub(crate) front_channel: Option<FrontChannel<'a>>,
}

/// What came beside an ID token in the authorization response.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FrontChannel<'a> {
    /// The code of a hybrid response, bound by `c_hash`.
    pub(crate) code: Option<&'a str>,
}

/// The facts the session keeps from a valid ID token.
#[derive(Debug)]
pub(crate) struct ValidIdToken {
    pub(crate) subject: String,
    /// The provider's session id, for back-channel logout.
    pub(crate) sid: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) auth_time: Option<i64>,
    /// How the provider bent a rule on its side that this check tolerated, for the caller
    /// to log with the provider's name.
    pub(crate) deviation: Option<&'static str>,
}

/// openidconnect's verifier for one client of one provider with one key set, and what
/// explaining its refusals needs.
pub(crate) struct IdTokenVerifier {
    verifier: openidconnect::IdTokenVerifier<'static, Jwk>,
    issuer: String,
    client_id: String,
    trusted_audiences: Arc<[String]>,
    allowed_algs: Vec<SigningAlg>,
    has_secret: bool,
    clock_skew: i64,
    clock: Clock,
}

impl std::fmt::Debug for IdTokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenVerifier")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("allowed_algs", &self.allowed_algs)
            .finish_non_exhaustive()
    }
}

impl IdTokenVerifier {
    /// A verifier of `rules` with `keys`, checking times with `clock`. Fails only when the
    /// issuer is not a URL.
    pub(crate) fn new(
        rules: &ProviderRules<'_>,
        keys: &KeySet,
        clock: Clock,
    ) -> Result<IdTokenVerifier, Rejection> {
        let issuer = IssuerUrl::new(rules.issuer.to_owned()).map_err(|e| {
            Rejection::Invalid(format!(
                "the provider's issuer {:?} is not a URL: {e}",
                rules.issuer
            ))
        })?;
        let client_id = ClientId::new(rules.client_id.to_owned());
        let keys = keys.as_openidconnect_set().clone();
        let verifier = match rules.client_secret {
            // Core 10.1: MAC algorithms are keyed with the client secret, never a JWKS entry.
            Some(secret) => openidconnect::IdTokenVerifier::new_confidential_client(
                client_id,
                ClientSecret::new(secret.to_owned()),
                issuer,
                keys,
            ),
            None => openidconnect::IdTokenVerifier::new_public_client(client_id, issuer, keys),
        };
        let trusted_audiences: Arc<[String]> = rules.trusted_audiences.into();
        let trusted = trusted_audiences.clone();
        let skew = rules.clock_skew;
        let now = clock.clone();
        let verifier = verifier
            .set_allowed_algs(rules.allowed_algs.iter().map(|alg| alg.to_core()))
            .set_other_audience_verifier_fn(move |aud| trusted.iter().any(|t| t == &**aud))
            // `exp` with the skew: refused when now - skew >= exp.
            .set_time_fn(move || unix_time(now().saturating_sub(skew)));
        Ok(IdTokenVerifier {
            verifier,
            issuer: rules.issuer.to_owned(),
            client_id: rules.client_id.to_owned(),
            trusted_audiences,
            allowed_algs: rules.allowed_algs.to_vec(),
            has_secret: rules.client_secret.is_some(),
            clock_skew: skew,
            clock,
        })
    }

    /// Checks `jwt` for the login `login` finishes.
    pub(crate) fn validate(
        &self,
        jwt: &str,
        login: &LoginRules<'_>,
    ) -> Result<ValidIdToken, Rejection> {
        let token: Token = jwt.parse().map_err(|e| self.unreadable(jwt, &e))?;
        let nonce_rule = |nonce: Option<&Nonce>| match (login.nonce, nonce) {
            (None, _) => Ok(()),
            (Some(sent), Some(nonce))
                if bool::from(nonce.secret().as_bytes().ct_eq(sent.as_bytes())) =>
            {
                Ok(())
            }
            (Some(_), Some(_)) => {
                Err("the nonce does not match the one sent with this login".to_owned())
            }
            (Some(_), None) => Err("the nonce claim is missing".to_owned()),
        };
        let claims = token
            .claims(&self.verifier, nonce_rule)
            .map_err(|e| self.refusal(jwt, e))?;
        let skew = self.clock_skew;
        let now = (self.clock)();

        let subject = claims.subject().as_str();
        if subject.is_empty() || subject.len() > 255 {
            reject!("the sub claim is empty or longer than 255 bytes");
        }
        // Core 3.1.3.7 items 4 and 5 (openidconnect leaves `azp` to its caller).
        match claims.authorized_party() {
            Some(azp) if azp.as_str() != self.client_id => reject!(
                "azp {:?} is not this client's client_id",
                sanitize(azp, 100)
            ),
            None if claims.audiences().len() > 1 => {
                reject!("the token has several audiences but no azp claim")
            }
            _ => {}
        }
        if claims.issue_time().timestamp() > now.saturating_add(skew) {
            reject!("iat lies in the future (now {now}, clock skew {skew} s)");
        }
        if let Some(nbf) = claims.additional_claims().nbf {
            if nbf.floor() as i64 > now.saturating_add(skew) {
                reject!("the token is not valid before {nbf} (now {now})");
            }
        }
        let auth_time = claims.auth_time().map(|t| t.timestamp());
        if let Some(max_age) = login.max_age {
            match auth_time {
                Some(auth_time) => {
                    if now > auth_time.saturating_add(max_age).saturating_add(skew) {
                        reject!("auth_time {auth_time} is older than max_age {max_age} s");
                    }
                }
                None => reject!("auth_time is missing although max_age was requested"),
            }
        }
        if !login.acr_values.is_empty() {
            match claims.auth_context_ref() {
                Some(acr) if login.acr_values.iter().any(|v| v == acr.as_str()) => {}
                Some(acr) => reject!(
                    "acr {:?} is not one of the requested acr_values",
                    sanitize(acr, 100)
                ),
                None => reject!("the acr claim is missing although acr_values were requested"),
            }
        }
        // Core 3.2.2.9 and 3.3.2.11 (openidconnect leaves `at_hash` and `c_hash` to its
        // caller). The algorithm is one of the allowed ones: the verifier refused any other.
        let alg = token.signing_alg().ok().and_then(SigningAlg::from_core);
        let front = login.front_channel;
        let at_hash = bound_hash(
            "at_hash",
            claims.access_token_hash().map(|h| h.as_str()),
            login.access_token,
            front.is_some(),
            alg,
        )?;
        let c_hash = bound_hash(
            "c_hash",
            claims.code_hash().map(|h| h.as_str()),
            front.and_then(|f| f.code),
            true,
            alg,
        )?;
        Ok(ValidIdToken {
            subject: subject.to_owned(),
            sid: claims.additional_claims().sid.clone(),
            nonce: claims.nonce().map(|nonce| nonce.secret().clone()),
            auth_time,
            deviation: at_hash.or(c_hash),
        })
    }

    /// Why openidconnect could not read `jwt`: the header's fault in this crate's words
    /// (not three parts, `crit`, an algorithm not allowed), else the claims'.
    fn unreadable(&self, jwt: &str, error: &serde_json::Error) -> Rejection {
        if let Err(rejection) = split(jwt).and_then(|jws| header_of(&jws, &self.allowed_algs)) {
            return rejection;
        }
        // openidconnect says a missing claim as serde does, inside its own words.
        let text = error.to_string();
        match text
            .split_once("missing field `")
            .and_then(|(_, rest)| rest.split('`').next())
        {
            Some(claim) => {
                Rejection::Invalid(format!("the {} claim is missing", sanitize(claim, 40)))
            }
            None => Rejection::Invalid(format!(
                "the claims are not valid: {}",
                sanitize(&text, 300)
            )),
        }
    }

    /// openidconnect's refusal, said with the values that broke the rule.
    fn refusal(&self, jwt: &str, error: ClaimsVerificationError) -> Rejection {
        use ClaimsVerificationError as C;
        use SignatureVerificationError as S;
        let unverified = Unverified::of(jwt);
        let invalid = |message: String| Rejection::Invalid(message);
        let alg = || unverified.header_alg.as_deref().unwrap_or("?").to_owned();
        match error {
            C::InvalidIssuer(text) => check_issuer(unverified.iss.as_deref(), &self.issuer)
                .err()
                .unwrap_or(invalid(text)),
            C::InvalidAudience(text) => check_audience(
                unverified.aud.as_ref(),
                &self.client_id,
                &self.trusted_audiences,
            )
            .err()
            .unwrap_or(invalid(text)),
            C::Expired(text) => match unverified.exp {
                Some(exp) => invalid(format!(
                    "the token expired at {} (now {}, clock skew {} s)",
                    exp.floor() as i64,
                    (self.clock)(),
                    self.clock_skew
                )),
                None => invalid(format!("the token expired: {text}")),
            },
            C::InvalidNonce(text) => invalid(text),
            C::Unsupported(_) if unverified.crit => invalid(
                "the header has a `crit` member, which this client does not understand".into(),
            ),
            C::SignatureVerification(S::NoMatchingKey) => {
                Rejection::UnknownKey(match unverified.kid.as_deref() {
                    Some(kid) => format!(
                        "no key with kid {:?} for {} in the provider's JWKS",
                        sanitize(kid, 64),
                        sanitize(&alg(), 16)
                    ),
                    None => format!("no key for {} in the provider's JWKS", sanitize(&alg(), 16)),
                })
            }
            C::SignatureVerification(S::AmbiguousKeyId(_)) => invalid(format!(
                "the JWKS has several keys for {} matching the token's kid (or it names none)",
                sanitize(&alg(), 16)
            )),
            C::SignatureVerification(S::CryptoError(_)) => {
                invalid("the signature is invalid".into())
            }
            C::SignatureVerification(S::DisallowedAlg(_))
                if !self.has_secret && alg().starts_with("HS") =>
            {
                invalid(format!(
                    "alg {} needs a client secret and this client has none",
                    sanitize(&alg(), 16)
                ))
            }
            C::SignatureVerification(S::DisallowedAlg(_) | S::NoSignature) => invalid(format!(
                "alg {:?} is not allowed (allowed: {})",
                sanitize(&alg(), 16),
                alg_names(&self.allowed_algs)
            )),
            C::SignatureVerification(other) => {
                invalid(format!("the signature cannot be checked: {other}"))
            }
            other => invalid(other.to_string()),
        }
    }
}

/// Checks `jwt` against `check` with `keys`: a verifier built for this one call.
#[cfg(any(test, feature = "__bench"))]
pub(crate) fn validate_id_token(
    jwt: &str,
    keys: &KeySet,
    check: &IdTokenCheck<'_>,
) -> Result<ValidIdToken, Rejection> {
    let rules = ProviderRules {
        issuer: check.issuer,
        client_id: check.client_id,
        trusted_audiences: check.trusted_audiences,
        allowed_algs: check.allowed_algs,
        client_secret: check.client_secret,
        clock_skew: check.clock_skew,
    };
    let now = check.now;
    IdTokenVerifier::new(&rules, keys, Arc::new(move || now))?.validate(
        jwt,
        &LoginRules {
            nonce: check.nonce,
            max_age: check.max_age,
            acr_values: check.acr_values,
            access_token: check.access_token,
            front_channel: check.front_channel,
        },
    )
}

/// `secs` as openidconnect's time; the far past or future when out of its range.
/// Checks a hash claim (`at_hash`, `c_hash`) that binds `value` to the ID token: the left
/// half of the hash of the token's algorithm. A missing claim is refused when `required`
/// and a value came with the token. Gives back the deviation it tolerated, if any.
fn bound_hash(
    claim: &str,
    hash: Option<&str>,
    value: Option<&str>,
    required: bool,
    alg: Option<SigningAlg>,
) -> Result<Option<&'static str>, Rejection> {
    let Some(value) = value else {
        return Ok(None);
    };
    let Some(hash) = hash else {
        if required {
            reject!("the {claim} claim is missing, but the token came with what it binds");
        }
        return Ok(None);
    };
    match alg {
        Some(alg) if hash == token_hash(alg, value) => Ok(None),
        // Core's errata says SHA-512 for Ed25519; some providers hash with SHA-256. The duty
        // is theirs, and the half of either hash binds the token alike.
        Some(SigningAlg::EdDsa) if hash == token_hash(SigningAlg::Rs256, value) => {
            Ok(Some(if claim == "c_hash" {
                "its EdDSA ID token's c_hash is the left half of SHA-256, not of SHA-512 as \
                 OpenID Connect Core's errata says (accepted)"
            } else {
                "its EdDSA ID token's at_hash is the left half of SHA-256, not of SHA-512 as \
                 OpenID Connect Core's errata says (accepted)"
            }))
        }
        _ => reject!(
            "{claim} does not match the {}",
            if claim == "c_hash" {
                "code"
            } else {
                "access token"
            }
        ),
    }
}

fn unix_time(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or(if secs < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// What a refused token claims, read without trusting it: only to explain the refusal.
#[derive(Default)]
struct Unverified {
    header_alg: Option<String>,
    kid: Option<String>,
    crit: bool,
    iss: Option<String>,
    aud: Option<Audience>,
    exp: Option<f64>,
}

impl Unverified {
    fn of(jwt: &str) -> Unverified {
        #[derive(Deserialize)]
        struct Header {
            alg: Option<String>,
            kid: Option<String>,
            crit: Option<serde_json::Value>,
        }
        #[derive(Deserialize)]
        struct Claims {
            iss: Option<String>,
            aud: Option<Audience>,
            exp: Option<f64>,
        }
        let mut parts = jwt
            .split('.')
            .map(|part| super::base64url::decode(part.as_bytes()));
        let header: Option<Header> = parts
            .next()
            .flatten()
            .and_then(|h| serde_json::from_slice(&h).ok());
        let claims: Option<Claims> = parts
            .next()
            .flatten()
            .and_then(|p| serde_json::from_slice(&p).ok());
        let (header_alg, kid, crit) =
            header.map_or((None, None, false), |h| (h.alg, h.kid, h.crit.is_some()));
        let (iss, aud, exp) = claims.map_or((None, None, None), |c| (c.iss, c.aud, c.exp));
        Unverified {
            header_alg,
            kid,
            crit,
            iss,
            aud,
            exp,
        }
    }
}

#[cfg(test)]
#[path = "id_token_tests.rs"]
mod tests;
