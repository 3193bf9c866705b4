//! Bearer tokens an API receives (RFC 6750): validated locally when they are JWT access
//! tokens (RFC 9068), by the provider's introspection otherwise (RFC 7662). Both kinds of
//! answer are kept a bounded time, by SHA-256 of the token: an API does not ask the
//! provider, nor check a signature, on every request of the same token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Oidc, ProviderState};
use crate::config::TokenValidation;
use crate::error::{ErrorKind, OidcError};
use crate::protocol::access_token::{
    is_jws_shaped, read_introspection, validate_jwt_access_token, AccessTokenCheck, TokenInfo,
};
use crate::protocol::dpop;
use crate::protocol::jws::Rejection;
use crate::protocol::time::now;
use crate::session::store_failed;
use crate::store::replay::Seen;
use crate::store::SetMode;
use crate::telemetry::{self, BearerMethod};

pub(crate) use super::token_cache::TokenCache;

/// Longest bearer token looked at: longer ones are refused without asking the provider.
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;

/// How long a JWT access token that passed every check is kept as checked: at most this,
/// and never past its `exp`. A client sends the same token on every call until it expires;
/// kept, a call skips the signature check and the parsing (the token's signature cannot
/// change, and the keys it was checked with are themselves kept an hour by default).
const JWT_KEPT_FOR: Duration = Duration::from_secs(300);

/// Validates a bearer token for `client`'s APIs. An invalid token is an `invalid_token`
/// error (401); a provider that fails is 502, 503 or 504.
pub(crate) async fn validate(
    client: &ProviderState,
    token: &str,
    clock_skew: i64,
    caller: Option<std::net::IpAddr>,
) -> Result<Arc<TokenInfo>, OidcError> {
    let mut method = BearerMethod::Jwt;
    let outcome = check(client, token, clock_skew, caller, &mut method).await;
    telemetry::bearer_validated(client.name(), method, telemetry::result(&outcome));
    outcome
}

/// [`validate`], saying in `method` how the token was (or would have been) checked.
async fn check(
    client: &ProviderState,
    token: &str,
    clock_skew: i64,
    caller: Option<std::net::IpAddr>,
    method: &mut BearerMethod,
) -> Result<Arc<TokenInfo>, OidcError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(OidcError::invalid_token(format!(
            "a bearer token of {} bytes (the limit is {MAX_TOKEN_LEN}); the provider was not asked",
            token.len()
        )));
    }
    if !is_b64token(token) {
        return Err(OidcError::invalid_token(
            "the bearer token is not in the b64token syntax of RFC 6750 2.1",
        ));
    }
    let resolved = client.metadata().await?;
    let settings = &client.config.api;
    let audience = settings
        .audience
        .as_deref()
        .unwrap_or_else(|| resolved.client_id());
    let local = match settings.validation {
        TokenValidation::Jwt => true,
        TokenValidation::Introspection => false,
        TokenValidation::Auto => is_jws_shaped(token),
    };
    let invalid = |why: String| {
        OidcError::invalid_token(format!(
            "a bearer token for provider {:?} is invalid: {why}",
            client.name()
        ))
    };
    // A token for another API: say which setting names the audience this one expects.
    let explain = |rejection: Rejection| match rejection {
        Rejection::Audience(why) => format!(
            "{why}; the expected audience is oidc.providers.{}.access_token_audience{}",
            client.name(),
            if settings.audience.is_none() {
                " (not set: the client_id)"
            } else {
                ""
            }
        ),
        other => other.into_message(),
    };
    if local {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(Ok(info)) = client.jwt_cache.get(&key) {
            *method = BearerMethod::Cache;
            return Ok(info);
        }
        let keys = client.keys(&resolved).await?;
        let check = AccessTokenCheck {
            issuer: resolved.metadata.issuer(),
            audience,
            allowed_algs: &resolved.access_token_algs,
            client_secret: None,
            now: now(),
            clock_skew,
        };
        let outcome = match validate_jwt_access_token(token, &keys, &check) {
            Err(Rejection::UnknownKey(_)) => {
                let fresh = client.refetch_keys(&resolved, &keys).await?;
                validate_jwt_access_token(token, &fresh, &check)
            }
            outcome => outcome,
        };
        // A JWT that fails here is not retried by introspection. Only tokens that passed
        // are kept: a failure (a token not yet valid, say) is checked again next time.
        let info = outcome
            .map(Arc::new)
            .map_err(|rejection| invalid(explain(rejection)))?;
        let keep = kept_for(JWT_KEPT_FOR, info.expires_at, check.now);
        client.jwt_cache.insert(key, Ok(info.clone()), keep);
        return Ok(info);
    }
    *method = BearerMethod::Introspection;
    let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    if let Some(Ok(info)) = client.introspection_cache.get(&key) {
        *method = BearerMethod::Cache;
        return Ok(info);
    }
    if let Some(Err(why)) = client.introspection_refusals.get(&key) {
        *method = BearerMethod::Cache;
        return Err(invalid(format!("{why} (answer kept from earlier)")));
    }
    let now = now();
    let outcome = match client.introspect(&resolved, token, caller).await? {
        Ok(body) => {
            read_introspection(&body, resolved.metadata.issuer(), audience, now, clock_skew)
                .map(Arc::new)
                .map_err(|rejection| Arc::<str>::from(explain(rejection)))
        }
        Err(why) => Err(Arc::<str>::from(why)),
    };
    // Kept at most introspection_cache_seconds, and never past the token's exp.
    let expires_at = outcome.as_ref().ok().and_then(|info| info.expires_at);
    let keep = kept_for(settings.introspection_cache, expires_at, now);
    // Refusals in a small cache of their own: a flood of bogus tokens churns it alone.
    let cache = match outcome {
        Ok(_) => &client.introspection_cache,
        Err(_) => &client.introspection_refusals,
    };
    cache.insert(key, outcome.clone(), keep);
    outcome.map_err(|why| invalid(why.to_string()))
}

/// How long to keep an answer about a token: at most `at_most`, and never past the token's
/// `exp` (`now` and `exp` in Unix seconds).
fn kept_for(at_most: Duration, expires_at: Option<i64>, now: i64) -> Duration {
    match expires_at {
        Some(exp) => {
            let left = u64::try_from(exp.saturating_sub(now)).unwrap_or(0);
            at_most.min(Duration::from_secs(left))
        }
        None => at_most,
    }
}

/// How a request presented its token (RFC 6750 2.1 or RFC 9449 7.1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Presented<'a> {
    pub(crate) token: &'a str,
    /// `Authorization: DPoP`, with the request's `DPoP` proof (if one came).
    pub(crate) dpop: Option<Option<&'a str>>,
    pub(crate) method: &'a str,
    /// The request's URL as the client called it (this app's origin and the path).
    pub(crate) url: &'a str,
    /// The request's TLS client certificate (DER), when the app serves mutual TLS (the
    /// crate's `mtls` feature and Rocket's `tls.mutual`).
    pub(crate) client_certificate: Option<&'a [u8]>,
}

/// A DPoP proof that passed every check but the replay check, which
/// [`remember_proof`] makes once the request is otherwise allowed (so that a request the
/// route refuses, for its scopes say, remembers nothing).
#[derive(Debug)]
pub(crate) struct FreshProof {
    jkt: String,
    jti: String,
}

/// RFC 9449 7: a DPoP-bound token must come with the `DPoP` scheme and a proof of its key,
/// made for this request; a token that is not bound must not claim to be. Returns the
/// proof, for [`remember_proof`].
pub(crate) fn check_binding(
    info: &TokenInfo,
    presented: Presented<'_>,
    clock_skew: i64,
) -> Result<Option<FreshProof>, OidcError> {
    check_certificate(info, presented.client_certificate)?;
    let (jkt, proof) = match (&info.jkt, presented.dpop) {
        (None, None) => return Ok(None),
        (None, Some(_)) => {
            return Err(OidcError::invalid_token(
                "a token that is not DPoP-bound came with the DPoP scheme",
            ))
        }
        (Some(_), None) => {
            return Err(OidcError::invalid_token(
                "a DPoP-bound token came as a Bearer token (RFC 9449 7.2)",
            ))
        }
        (Some(_), Some(None)) => {
            return Err(proof_error(
                "a DPoP-bound token came without a DPoP proof".into(),
            ))
        }
        (Some(jkt), Some(Some(proof))) => (jkt, proof),
    };
    let valid = dpop::verify_proof(
        proof,
        presented.method,
        presented.url,
        presented.token,
        now(),
        clock_skew,
    )
    .map_err(|e| proof_error(e.to_string()))?;
    if valid.jkt != *jkt {
        return Err(proof_error(
            "the proof's key is not the one the token is bound to (cnf.jkt)".into(),
        ));
    }
    Ok(Some(FreshProof {
        jkt: valid.jkt,
        jti: valid.jti,
    }))
}

/// RFC 8705 3: a certificate-bound token (`cnf.x5t#S256`) is taken only from a request
/// that presents that certificate on its TLS connection.
fn check_certificate(info: &TokenInfo, certificate: Option<&[u8]>) -> Result<(), OidcError> {
    let Some(bound) = &info.x5t_s256 else {
        return Ok(());
    };
    let Some(certificate) = certificate else {
        return Err(OidcError::invalid_token(
            "a certificate-bound token came without a client certificate (RFC 8705 3)",
        )
        .with_log_detail(
            "the token has cnf.x5t#S256: the client must present its certificate on the TLS \
             connection to this app (the crate's `mtls` feature, and Rocket's \
             [default.tls.mutual] with the CA of the clients' certificates)",
        ));
    };
    let thumbprint = crate::protocol::base64url::encode(&Sha256::digest(certificate));
    if !bool::from(thumbprint.as_bytes().ct_eq(bound.as_bytes())) {
        return Err(OidcError::invalid_token(
            "the client certificate is not the one the token is bound to (cnf.x5t#S256)",
        ));
    }
    Ok(())
}

/// A proof is good once (RFC 9449 11.1): its `jti` is remembered as long as its `iat`
/// counts, in this process's bounded replay cache (one key gets its share, never more, and
/// nothing a client sends competes with sessions or logout marks), and, when the value store
/// is shared by instances, there too: each instance writes there only what its own cache
/// took, so at most its capacity per proof lifetime. A proof that cannot be remembered is
/// refused, never let through unremembered.
pub(crate) async fn remember_proof(
    oidc: &Oidc,
    proof: FreshProof,
    clock_skew: i64,
) -> Result<(), OidcError> {
    let ttl = proof_lifetime(clock_skew);
    let limits = &oidc.config.limits;
    let refused = |status, description: &str, detail: String, after| {
        Err(OidcError::new(
            ErrorKind::RateLimited,
            status,
            "rate_limited",
            description.to_owned(),
        )
        .with_log_detail(detail)
        .with_retry_after(after))
    };
    match oidc
        .replays
        .remember(&proof.jkt, &proof.jti, ttl, Instant::now())
    {
        Seen::New => {}
        Seen::Replayed => {
            return Err(proof_error(
                "a DPoP proof was used twice (its jti was seen)".into(),
            ))
        }
        Seen::KeyFull(after) => {
            return refused(
                rocket::http::Status::TooManyRequests,
                "too many requests with this DPoP key; try again later",
                format!(
                    "a DPoP key sent more proofs than oidc.limits.dpop_proofs_per_key ({}) \
                     within a proof's lifetime ({} s): refused until its oldest proofs age out",
                    limits.dpop_proofs_per_key,
                    ttl.as_secs()
                ),
                after,
            )
        }
        Seen::Full(after) => {
            return refused(
                rocket::http::Status::ServiceUnavailable,
                "this API is too busy right now; try again in a moment",
                format!(
                    "the DPoP replay cache holds oidc.limits.dpop_replay_capacity ({}) proofs \
                     that still count: new proofs are refused until the oldest age out",
                    limits.dpop_replay_capacity
                ),
                after,
            )
        }
    }
    if !oidc.values.is_shared() {
        return Ok(());
    }
    let key = format!(
        "dpop-jti:{}",
        crate::signing::b64(
            &Sha256::digest(format!("{}:{}", proof.jkt, proof.jti).as_bytes())[..18]
        )
    );
    match oidc
        .values
        .set_value(&key, "1", ttl, SetMode::IfAbsent)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(proof_error(
            "a DPoP proof was used twice (its jti was seen by another instance)".into(),
        )),
        Err(e) => Err(store_failed(e)),
    }
}

/// How long a proof's `jti` is remembered: as long as a proof with that `iat` is accepted
/// (its `iat` may lie the window plus the clock skew on either side of now, in whole
/// seconds: two more cover the rounding).
fn proof_lifetime(clock_skew: i64) -> Duration {
    let window = dpop::PROOF_WINDOW.saturating_add(clock_skew.max(0));
    Duration::from_secs(window.unsigned_abs().saturating_mul(2).saturating_add(2))
}

fn proof_error(why: String) -> OidcError {
    OidcError::new(
        ErrorKind::InvalidToken,
        rocket::http::Status::Unauthorized,
        "invalid_dpop_proof",
        "the DPoP proof is invalid",
    )
    .with_log_detail(why)
}

/// RFC 6750 2.1 b64token: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_at_most_the_bound_and_never_past_exp() {
        let bound = Duration::from_secs(300);
        assert_eq!(
            kept_for(bound, Some(1_000 + 60), 1_000),
            Duration::from_secs(60)
        );
        assert_eq!(kept_for(bound, Some(1_000 + 3_600), 1_000), bound);
        assert_eq!(kept_for(bound, Some(999), 1_000), Duration::ZERO);
        assert_eq!(kept_for(bound, Some(i64::MIN), i64::MAX), Duration::ZERO);
        assert_eq!(kept_for(bound, None, 1_000), bound);
    }
}
