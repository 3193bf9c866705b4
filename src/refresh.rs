//! Token lifetime: refreshing an expired access token with the refresh token, once per
//! refresh token however many requests ask at the same moment.
//!
//! Concurrent requests of one user arrive with the same (old) session cookie. The first
//! asks the token endpoint; the others wait for its answer and reuse it, and so do requests
//! that still carry the old cookie during the next [`REUSE_FOR`] (the browser has not stored
//! the new cookie yet). That matters when the provider rotates refresh tokens: a second
//! refresh with the old, now-spent refresh token would be refused, and some providers then
//! revoke the whole grant. Across several app instances requests are not coordinated: the
//! instance that loses such a race gets `invalid_grant`, and its user is sent through a
//! fresh login (a redirect and back when the provider's session is alive).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::client::{ProviderClient, Resolved};
use crate::error::{ErrorKind, OidcError};
use crate::flow;
use crate::session::SessionData;
use crate::validation;
use serde_json::value::RawValue;

/// How long the outcome of one refresh serves requests that carry the same refresh token.
const REUSE_FOR: Duration = Duration::from_secs(30);

type Flight = Arc<OnceCell<Result<SessionData, OidcError>>>;

/// Refreshes in flight or just finished, by the SHA-256 of their refresh token.
#[derive(Default)]
pub(crate) struct RefreshFlights {
    flights: Mutex<HashMap<[u8; 32], (Instant, Flight)>>,
}

impl std::fmt::Debug for RefreshFlights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshFlights")
    }
}

impl RefreshFlights {
    fn flight(&self, refresh_token: &str, fresh: bool) -> Flight {
        let key: [u8; 32] = Sha256::digest(refresh_token.as_bytes()).into();
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        flights.retain(|_, (started, _)| started.elapsed() < REUSE_FOR);
        if fresh {
            flights.remove(&key);
        }
        flights
            .entry(key)
            .or_insert_with(|| (Instant::now(), Flight::default()))
            .1
            .clone()
    }
}

/// Whether the access token is expired, or expires within `clock_skew` (tokens this app
/// sends are renewed early; tokens it receives are accepted late by the same margin).
pub(crate) fn access_token_expired(session: &SessionData, now: i64, clock_skew: i64) -> bool {
    session
        .access_token_expires_at
        .is_some_and(|expires_at| now >= expires_at.saturating_sub(clock_skew))
}

/// Whether the token endpoint refused the refresh (the session is over), as opposed to the
/// provider failing (the session may still be fine).
pub(crate) fn is_refusal(err: &OidcError) -> bool {
    err.kind() == ErrorKind::TokenRequest && err.status().code < 500
        || err.kind() == ErrorKind::InvalidIdToken
        || err.kind() == ErrorKind::InvalidUserinfo
}

/// The session with refreshed tokens. `fresh` skips the reuse of a refresh made with the
/// same refresh token moments ago.
pub(crate) async fn refresh_session(
    client: &ProviderClient,
    session: &SessionData,
    fresh: bool,
) -> Result<SessionData, OidcError> {
    let Some(refresh_token) = session.refresh_token() else {
        return Err(no_valid_token(
            "the access token expired and the provider issued no refresh token",
        ));
    };
    let flight = client.refresh_flights.flight(refresh_token, fresh);
    flight
        .get_or_init(|| async {
            let resolved = client.metadata().await?;
            refresh_once(client, &resolved, session, refresh_token).await
        })
        .await
        .clone()
}

async fn refresh_once(
    client: &ProviderClient,
    resolved: &Resolved,
    session: &SessionData,
    refresh_token: &str,
) -> Result<SessionData, OidcError> {
    let now = flow::now();
    let tokens = client.refresh(resolved, refresh_token).await?;
    if let Some(id_token) = &tokens.id_token {
        let valid = client
            .validate_id_token(resolved, id_token, None, Some(&tokens.access_token))
            .await?;
        check_refreshed_id_token(client, session, &valid)?;
    }
    let userinfo = client
        .userinfo(resolved, &tokens.access_token, session.subject())
        .await?;
    log::info!(
        "oidc: refreshed the access token of a session with provider {:?}",
        client.name()
    );
    Ok(SessionData::new(
        session.subject(),
        &tokens.access_token,
        flow::expires_at(tokens.expires_in, now),
        // The provider may rotate the refresh token; otherwise the old one stays valid.
        tokens.refresh_token.as_deref().or(session.refresh_token()),
        tokens.id_token.as_deref().unwrap_or(session.id_token()),
        userinfo.as_deref().or_else(|| {
            session
                .userinfo()
                .and_then(|raw| serde_json::from_str::<&RawValue>(raw).ok())
        }),
        session.authenticated_at,
    ))
}

/// Core 12.2: a refreshed ID token names the same user, the original authentication time,
/// and, if it has a nonce, the original nonce.
fn check_refreshed_id_token(
    client: &ProviderClient,
    session: &SessionData,
    refreshed: &validation::ValidIdToken,
) -> Result<(), OidcError> {
    let invalid = |why: &str| {
        OidcError::invalid_id_token(format!(
            "the ID token refreshed by provider {:?} is invalid: {why}",
            client.name()
        ))
    };
    if refreshed.subject != session.subject() {
        return Err(invalid("its sub differs from the original ID token's"));
    }
    let original: OriginalClaims = validation::payload_of(session.id_token())
        .and_then(|payload| serde_json::from_slice(&payload).ok())
        .unwrap_or_default();
    if let (Some(nonce), Some(original_nonce)) = (&refreshed.nonce, &original.nonce) {
        if nonce != original_nonce {
            return Err(invalid("its nonce differs from the original ID token's"));
        }
    }
    if let (Some(auth_time), Some(original_auth_time)) = (refreshed.auth_time, original.auth_time) {
        if auth_time != original_auth_time.floor() as i64 {
            return Err(invalid(
                "its auth_time differs from the original ID token's",
            ));
        }
    }
    Ok(())
}

#[derive(Default, serde::Deserialize)]
struct OriginalClaims {
    nonce: Option<String>,
    auth_time: Option<f64>,
}

pub(crate) fn no_valid_token(description: impl Into<String>) -> OidcError {
    OidcError::new(
        ErrorKind::NoValidToken,
        rocket::http::Status::Unauthorized,
        "no_valid_token",
        description,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires_at: Option<i64>) -> SessionData {
        SessionData::new("alice", "at", expires_at, Some("rt"), "a.b.c", None, 0)
    }

    #[test]
    fn expiry_is_brought_forward_by_the_clock_skew() {
        assert!(!access_token_expired(&session(Some(100)), 89, 10));
        assert!(access_token_expired(&session(Some(100)), 90, 10));
        assert!(access_token_expired(&session(Some(100)), 100, 0));
        assert!(!access_token_expired(&session(None), i64::MAX, 10));
    }

    #[test]
    fn one_flight_per_refresh_token_unless_fresh() {
        let flights = RefreshFlights::default();
        let a = flights.flight("rt", false);
        let b = flights.flight("rt", false);
        assert!(Arc::ptr_eq(&a, &b));
        let c = flights.flight("other", false);
        assert!(!Arc::ptr_eq(&a, &c));
        let d = flights.flight("rt", true);
        assert!(!Arc::ptr_eq(&a, &d));
    }
}
