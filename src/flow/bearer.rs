//! Bearer tokens an API receives (RFC 6750): validated locally when they are JWT access
//! tokens (RFC 9068), by the provider's introspection otherwise (RFC 7662). Both kinds of
//! answer are kept a bounded time, by SHA-256 of the token: an API does not ask the
//! provider, nor check a signature, on every request of the same token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{Oidc, ProviderState};
use crate::config::TokenValidation;
use crate::error::{ErrorKind, OidcError};
use crate::protocol::access_token::{
    is_jws_shaped, read_introspection, validate_jwt_access_token, AccessTokenCheck, TokenInfo,
};
use crate::protocol::dpop;
use crate::protocol::time::now;
use crate::protocol::validation::Rejection;
use crate::session::store_failed;
use crate::store::SetMode;

/// Longest bearer token looked at: longer ones are refused without asking the provider.
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Most answers kept per provider and kind (introspection, JWT checks); past it, expired
/// ones go first, then the cache starts over.
const CACHE_CAPACITY: usize = 10_000;

/// How long a JWT access token that passed every check is kept as checked: at most this,
/// and never past its `exp`. A client sends the same token on every call until it expires;
/// kept, a call skips the signature check and the parsing (the token's signature cannot
/// change, and the keys it was checked with are themselves kept an hour by default).
const JWT_KEPT_FOR: Duration = Duration::from_secs(300);

/// Answers about bearer tokens by SHA-256 of the token (the token itself is never kept):
/// introspection answers, and JWT access tokens that passed.
#[derive(Default)]
pub(crate) struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], Cached>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache")
    }
}

#[derive(Clone)]
struct Cached {
    outcome: Result<Arc<TokenInfo>, Arc<str>>,
    until: Instant,
}

impl TokenCache {
    fn get(&self, key: &[u8; 32]) -> Option<Result<Arc<TokenInfo>, Arc<str>>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let cached = entries.get(key)?;
        (Instant::now() < cached.until).then(|| cached.outcome.clone())
    }

    fn insert(&self, key: [u8; 32], outcome: Result<Arc<TokenInfo>, Arc<str>>, for_: Duration) {
        if for_.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.retain(|_, cached| now < cached.until);
            if entries.len() >= CACHE_CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Cached {
                outcome,
                until: now + for_,
            },
        );
    }
}

/// Validates a bearer token for `client`'s APIs. An invalid token is an `invalid_token`
/// error (401); a provider that fails is 502, 503 or 504.
pub(crate) async fn validate(
    client: &ProviderState,
    token: &str,
    clock_skew: i64,
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
    if local {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(Ok(info)) = client.jwt_cache.get(&key) {
            return Ok(info);
        }
        let keys = client.keys(&resolved).await?;
        let check = AccessTokenCheck {
            issuer: &resolved.metadata.issuer,
            audience,
            allowed_algs: &resolved.access_token_algs,
            client_secret: None,
            now: now(),
            clock_skew,
        };
        let outcome = match validate_jwt_access_token(token, &keys, &check) {
            Err(Rejection::UnknownKey(_)) => {
                let fresh = client.refetch_keys(&resolved, Some(&keys)).await?;
                validate_jwt_access_token(token, &fresh, &check)
            }
            outcome => outcome,
        };
        // A JWT that fails here is not retried by introspection. Only tokens that passed
        // are kept: a failure (a token not yet valid, say) is checked again next time.
        let info = outcome
            .map(Arc::new)
            .map_err(|rejection| invalid(rejection.into_message()))?;
        let keep = kept_for(JWT_KEPT_FOR, info.expires_at, check.now);
        client.jwt_cache.insert(key, Ok(info.clone()), keep);
        return Ok(info);
    }
    let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let cache = &client.introspection_cache;
    if let Some(outcome) = cache.get(&key) {
        return outcome.map_err(|why| invalid(format!("{why} (answer kept from earlier)")));
    }
    let now = now();
    let outcome = match client.introspect(&resolved, token).await? {
        Ok(body) => read_introspection(&body, &resolved.metadata.issuer, audience, now, clock_skew)
            .map(Arc::new)
            .map_err(|rejection| Arc::<str>::from(rejection.into_message())),
        Err(why) => Err(Arc::<str>::from(why)),
    };
    // Kept at most introspection_cache_seconds, and never past the token's exp.
    let expires_at = outcome.as_ref().ok().and_then(|info| info.expires_at);
    let keep = kept_for(settings.introspection_cache, expires_at, now);
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
}

/// RFC 9449 7: a DPoP-bound token must come with the `DPoP` scheme and a proof of its key,
/// made for this request, not seen before; a token that is not bound must not claim to be.
pub(crate) async fn check_binding(
    oidc: &Oidc,
    info: &TokenInfo,
    presented: Presented<'_>,
    clock_skew: i64,
) -> Result<(), OidcError> {
    let proof_error = |why: String| {
        OidcError::new(
            ErrorKind::InvalidToken,
            rocket::http::Status::Unauthorized,
            "invalid_dpop_proof",
            "the DPoP proof is invalid",
        )
        .with_log_detail(why)
    };
    let (jkt, proof) = match (&info.jkt, presented.dpop) {
        (None, None) => return Ok(()),
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
    let now = now();
    let valid = dpop::verify_proof(
        proof,
        presented.method,
        presented.url,
        presented.token,
        now,
        clock_skew,
    )
    .map_err(proof_error)?;
    if valid.jkt != *jkt {
        return Err(proof_error(
            "the proof's key is not the one the token is bound to (cnf.jkt)".into(),
        ));
    }
    // A proof is good once (RFC 9449 11.1): its jti is remembered as long as its iat counts.
    let key = format!(
        "dpop-jti:{}",
        crate::signing::b64(&Sha256::digest(format!("{jkt}:{}", valid.jti).as_bytes())[..18])
    );
    let ttl =
        Duration::from_secs(u64::try_from(2 * (dpop::PROOF_WINDOW + clock_skew)).unwrap_or(240));
    match oidc
        .values
        .set_value(&key, "1", ttl, SetMode::IfAbsent)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(proof_error(
            "a DPoP proof was used twice (its jti was seen)".into(),
        )),
        Err(e) => Err(store_failed(e)),
    }
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

    fn info(expires_at: Option<i64>) -> Arc<TokenInfo> {
        Arc::new(TokenInfo {
            subject: Some("alice".into()),
            scope: None,
            client_id: None,
            expires_at,
            claims: serde_json::value::RawValue::from_string("{}".into()).unwrap(),
            jkt: None,
        })
    }

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

    #[test]
    fn the_cache_answers_only_while_an_entry_lives_and_keeps_nothing_for_zero() {
        let cache = TokenCache::default();
        let (a, b) = ([1u8; 32], [2u8; 32]);
        cache.insert(a, Ok(info(None)), Duration::from_secs(60));
        cache.insert(b, Ok(info(None)), Duration::ZERO);
        assert!(matches!(cache.get(&a), Some(Ok(_))));
        assert!(cache.get(&b).is_none(), "kept for zero: not kept");
        cache.insert(b, Ok(info(None)), Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get(&b).is_none(), "an expired entry is no answer");
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first_then_starts_over() {
        let cache = TokenCache::default();
        for i in 0..CACHE_CAPACITY {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let keep = if i == 0 {
                Duration::from_secs(60)
            } else {
                Duration::from_millis(1)
            };
            cache.insert(key, Ok(info(None)), keep);
        }
        std::thread::sleep(Duration::from_millis(5));
        cache.insert([9u8; 32], Ok(info(None)), Duration::from_secs(60));
        assert!(
            cache.get(&[0u8; 32]).is_some(),
            "a live entry survives the sweep"
        );
        assert!(cache.get(&[9u8; 32]).is_some());
        let entries = cache.entries.lock().unwrap().len();
        assert_eq!(entries, 2, "the expired ones went");
    }
}
