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
use tracing::Instrument as _;

use serde_json::value::RawValue;

use super::ProviderState;
use crate::error::{ErrorKind, OidcError};
use crate::op::client::{ProviderClient, Resolved};
use crate::protocol::id_token;
use crate::protocol::time::{expires_at, now};
use crate::session::{NewSession, SessionData};
use crate::signing::SigningKey;

/// How long, after it finished, the outcome of one refresh serves requests that carry the
/// same refresh token.
const REUSE_FOR: Duration = Duration::from_secs(30);

/// One refresh: when it finished, and its outcome (a new session, or a refusal; transient
/// failures are not kept, so the next request tries again).
type Flight = Arc<OnceCell<(Instant, Result<SessionData, OidcError>)>>;

/// Refreshes in flight or just finished, by the SHA-256 of their refresh token.
#[derive(Default)]
pub(crate) struct RefreshFlights {
    flights: Mutex<HashMap<[u8; 32], Flight>>,
}

impl std::fmt::Debug for RefreshFlights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshFlights")
    }
}

impl RefreshFlights {
    fn key(refresh_token: &str) -> [u8; 32] {
        Sha256::digest(refresh_token.as_bytes()).into()
    }

    /// The flight for `refresh_token`: one running is always joined (a second request with
    /// the same token could spend a rotated token twice); a finished one is reused unless
    /// `fresh` asks for a new refresh, and never once its access token has expired (or
    /// expires within `clock_skew` at `now`): with a provider that does not rotate refresh
    /// tokens and access tokens shorter than [`REUSE_FOR`], reusing it would hand out an
    /// expired token and the provider would never see the refresh it needs.
    fn flight(&self, refresh_token: &str, fresh: bool, now: i64, clock_skew: i64) -> Flight {
        let key = Self::key(refresh_token);
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        flights.retain(|_, flight| match flight.get() {
            None => true,
            Some((finished, outcome)) => {
                finished.elapsed() < REUSE_FOR
                    && outcome.as_ref().map_or(true, |session| {
                        !access_token_expired(session, now, clock_skew)
                    })
            }
        });
        if fresh && flights.get(&key).is_some_and(|flight| flight.initialized()) {
            flights.remove(&key);
        }
        flights.entry(key).or_default().clone()
    }

    /// Forgets `flight` if it is still the one for `refresh_token`.
    fn forget(&self, refresh_token: &str, flight: &Flight) {
        let key = Self::key(refresh_token);
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if flights.get(&key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            flights.remove(&key);
        }
    }

    /// Takes the session a finished refresh with `refresh_token` produced, for a logout to
    /// revoke its tokens too; later requests with the old token refresh anew (and fail).
    pub(crate) fn take(&self, refresh_token: &str) -> Option<SessionData> {
        let key = Self::key(refresh_token);
        let flight = self
            .flights
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key)?;
        match flight.get() {
            Some((_, Ok(session))) => Some(session.clone()),
            _ => None,
        }
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
        || err.kind() == ErrorKind::NoValidToken
        || err.kind() == ErrorKind::InvalidIdToken
        || err.kind() == ErrorKind::InvalidUserinfo
}

/// The session with refreshed tokens. `fresh` skips the reuse of a refresh made with the
/// same refresh token moments ago.
pub(crate) async fn refresh_session(
    client: &ProviderState,
    session: &SessionData,
    fresh: bool,
    clock_skew: i64,
) -> Result<SessionData, OidcError> {
    let Some(refresh_token) = session.refresh_token() else {
        return Err(no_valid_token(
            "the access token expired and the provider issued no refresh token",
        ));
    };
    let flight = client
        .refresh_flights
        .flight(refresh_token, fresh, now(), clock_skew);
    let (_, outcome) = flight
        .get_or_init(|| async {
            let span = tracing::info_span!(
                "oidc.refresh",
                provider = client.name(),
                outcome = tracing::field::Empty,
            );
            let outcome = async {
                match client.metadata().await {
                    Ok(resolved) => refresh_once(client, &resolved, session, refresh_token).await,
                    Err(err) => Err(err),
                }
            }
            .instrument(span.clone())
            .await;
            span.record("outcome", crate::telemetry::result(&outcome));
            // Once per refresh made: the requests that joined it are not refreshes.
            crate::telemetry::token_refreshed(client.name(), crate::telemetry::result(&outcome));
            (Instant::now(), outcome)
        })
        .await;
    if let Err(err) = outcome {
        if !is_refusal(err) {
            // A provider that failed for a moment: the next request tries again.
            client.refresh_flights.forget(refresh_token, &flight);
        }
    }
    outcome.clone()
}

async fn refresh_once(
    client: &ProviderClient,
    resolved: &Resolved,
    session: &SessionData,
    refresh_token: &str,
) -> Result<SessionData, OidcError> {
    let now = now();
    let dpop_key = session.dpop_key().map(open_dpop_key).transpose()?;
    let tokens = client
        .refresh(resolved, refresh_token, dpop_key.as_ref())
        .await?;
    // From here on the provider may have rotated the refresh token: a passing failure of a
    // later step keeps the new tokens (with the previous ID token or UserInfo) rather than
    // losing them; only a token that fails validation ends the session.
    let mut id_token = std::borrow::Cow::Borrowed(session.id_token());
    if let Some(refreshed) = tokens.id_token() {
        let refreshed = client.open_id_token(refreshed)?;
        match client
            .validate_id_token(resolved, &refreshed, None, Some(tokens.access_token()))
            .await
        {
            Ok(valid) => {
                check_refreshed_id_token(client, session, &valid)?;
                id_token = refreshed;
            }
            Err(err) if err.kind() == ErrorKind::InvalidIdToken => return Err(err),
            Err(err) => log::warn!(
                "oidc: keeping the previous ID token: the refreshed one could not be checked \
                 now: {err}"
            ),
        }
    }
    let userinfo = match client
        .userinfo(
            resolved,
            tokens.access_token(),
            session.subject(),
            dpop_key.as_ref(),
        )
        .await
    {
        Ok(userinfo) => userinfo,
        Err(err) if err.kind() == ErrorKind::InvalidUserinfo => return Err(err),
        Err(err) => {
            log::warn!("oidc: keeping the previous UserInfo after a refresh: {err}");
            None
        }
    };
    log::info!(
        "oidc: refreshed the access token of a session with provider {:?}",
        client.name()
    );
    let userinfo = userinfo.as_deref().or_else(|| {
        session
            .userinfo()
            .and_then(|raw| serde_json::from_str::<&RawValue>(raw).ok())
    });
    Ok(SessionData::new(NewSession {
        access_token: tokens.access_token(),
        access_token_expires_at: expires_at(tokens.expires_in(), now),
        // The provider may rotate the refresh token; otherwise the old one stays valid.
        refresh_token: tokens.refresh_token().or(session.refresh_token()),
        id_token: &id_token,
        userinfo,
        ..session.fields()
    }))
}

/// The session's DPoP key, from its PKCS#8 in the session.
pub(crate) fn open_dpop_key(encoded: &str) -> Result<SigningKey, OidcError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| e.to_string())
        .and_then(|pkcs8| SigningKey::from_pkcs8(&pkcs8).map_err(|e| e.to_string()))
        .map_err(|e| OidcError::configuration(format!("the session's DPoP key is unusable: {e}")))
}

/// Core 12.2: a refreshed ID token names the same user, the original authentication time,
/// and, if it has a nonce, the original nonce.
fn check_refreshed_id_token(
    client: &ProviderClient,
    session: &SessionData,
    refreshed: &id_token::ValidIdToken,
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
    let original: OriginalClaims = session
        .id_token_claims()
        .and_then(|claims| serde_json::from_str(&claims).ok())
        .unwrap_or_default();
    if let (Some(nonce), Some(original_nonce)) = (&refreshed.nonce, &original.nonce) {
        if nonce != original_nonce {
            return Err(invalid("its nonce differs from the original ID token's"));
        }
    }
    if let (Some(auth_time), Some(original_auth_time)) = (refreshed.auth_time, original.auth_time) {
        let original_auth_time = original_auth_time.floor() as i64;
        // Core 12.2 asks the provider to repeat the original auth_time; some (Django OAuth
        // Toolkit) put a later login's there. Later is tolerated (the duty is the
        // provider's), earlier is refused.
        if auth_time < original_auth_time {
            return Err(invalid(
                "its auth_time is earlier than the original ID token's",
            ));
        }
        if auth_time > original_auth_time {
            log::info!(
                "oidc: provider {:?} refreshed an ID token with a later auth_time ({auth_time}, \
                 originally {original_auth_time}): the user logged in again there; accepted",
                client.name()
            );
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
        SessionData::for_tests("alice", "at", expires_at, Some("rt"), "a.b.c", None, 0)
    }

    #[test]
    fn expiry_is_brought_forward_by_the_clock_skew() {
        assert!(!access_token_expired(&session(Some(100)), 89, 10));
        assert!(access_token_expired(&session(Some(100)), 90, 10));
        assert!(access_token_expired(&session(Some(100)), 100, 0));
        assert!(!access_token_expired(&session(None), i64::MAX, 10));
    }

    #[test]
    fn one_flight_per_refresh_token_and_a_running_one_is_always_joined() {
        let flights = RefreshFlights::default();
        let a = flights.flight("rt", false, 0, 0);
        let b = flights.flight("rt", false, 0, 0);
        assert!(Arc::ptr_eq(&a, &b));
        let c = flights.flight("other", false, 0, 0);
        assert!(!Arc::ptr_eq(&a, &c));
        // Still running: even a forced refresh joins it (no second use of the token).
        assert!(Arc::ptr_eq(&a, &flights.flight("rt", true, 0, 0)));
        // Finished: reused, unless forced.
        assert!(a.set((Instant::now(), Err(no_valid_token("x")))).is_ok());
        assert!(Arc::ptr_eq(&a, &flights.flight("rt", false, 0, 0)));
        assert!(!Arc::ptr_eq(&a, &flights.flight("rt", true, 0, 0)));
    }

    #[test]
    fn a_finished_refresh_is_not_reused_once_its_access_token_expired() {
        // A provider that does not rotate refresh tokens, access tokens of 10 s.
        let flights = RefreshFlights::default();
        let first = flights.flight("rt", false, 1000, 5);
        assert!(first.set((Instant::now(), Ok(session(Some(1010))))).is_ok());
        assert!(
            Arc::ptr_eq(&first, &flights.flight("rt", false, 1004, 5)),
            "still good: reused"
        );
        assert!(
            !Arc::ptr_eq(&first, &flights.flight("rt", false, 1006, 5)),
            "expires within the skew: refreshed again"
        );
    }

    #[test]
    fn a_finished_refresh_can_be_taken_by_a_logout() {
        let flights = RefreshFlights::default();
        let flight = flights.flight("rt", false, 0, 0);
        assert!(flight.set((Instant::now(), Ok(session(Some(1))))).is_ok());
        assert_eq!(
            flights.take("rt").map(|s| s.access_token().to_string()),
            Some("at".into())
        );
        assert!(flights.take("rt").is_none());
        let replaced = flights.flight("rt", false, 0, 0);
        assert!(!Arc::ptr_eq(&flight, &replaced));
    }
}
