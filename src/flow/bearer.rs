//! Bearer tokens an API receives (RFC 6750): validated locally when they are JWT access
//! tokens (RFC 9068), by the provider's introspection otherwise (RFC 7662), whose answers
//! are kept a bounded time so that an API does not ask the provider on every request.

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
use crate::session::SetMode;

/// Longest bearer token looked at: longer ones are refused without asking the provider.
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Most introspection answers kept per provider; past it, expired ones go first, then the
/// cache starts over.
const CACHE_CAPACITY: usize = 10_000;

/// Introspection answers by SHA-256 of the token (the token itself is never kept).
#[derive(Default)]
pub(crate) struct IntrospectionCache {
    entries: Mutex<HashMap<[u8; 32], Cached>>,
}

impl std::fmt::Debug for IntrospectionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntrospectionCache")
    }
}

#[derive(Clone)]
struct Cached {
    outcome: Result<Arc<TokenInfo>, Arc<str>>,
    until: Instant,
}

impl IntrospectionCache {
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
        // A JWT that fails here is not retried by introspection.
        return outcome
            .map(Arc::new)
            .map_err(|rejection| invalid(rejection.into_message()));
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
    let mut keep = settings.introspection_cache;
    if let Ok(info) = &outcome {
        if let Some(exp) = info.expires_at {
            let left = u64::try_from(exp.saturating_sub(now)).unwrap_or(0);
            keep = keep.min(Duration::from_secs(left));
        }
    }
    cache.insert(key, outcome.clone(), keep);
    outcome.map_err(|why| invalid(why.to_string()))
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
        crate::protocol::signing::b64(
            &Sha256::digest(format!("{jkt}:{}", valid.jti).as_bytes())[..18]
        )
    );
    let ttl =
        Duration::from_secs(u64::try_from(2 * (dpop::PROOF_WINDOW + clock_skew)).unwrap_or(240));
    match oidc
        .store
        .set_value(&key, "1", ttl, SetMode::IfAbsent)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(proof_error(
            "a DPoP proof was used twice (its jti was seen)".into(),
        )),
        Err(e) => Err(super::session::store_failed(e)),
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
