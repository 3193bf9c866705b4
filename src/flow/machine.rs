//! The client-credentials grant (RFC 6749 4.4): the provider's machine-to-machine token for
//! this app, kept and reused until shortly before it expires, and fetched once however many
//! callers ask at the same time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::ProviderState;
use crate::error::OidcError;
use crate::protocol::time::now;

/// Renewal starts this long before expiry at most; a short-lived token renews when a tenth
/// of its life is left, so it is still reused.
const MAX_MARGIN: i64 = 60;

/// A longer `expires_in` counts as this (a year), so no arithmetic overflows.
const MAX_LIFETIME: i64 = 365 * 24 * 3600;

/// A token without `expires_in` is used this long, then fetched again.
const UNKNOWN_LIFETIME: i64 = 300;

/// After a failed token request, callers get its error for this long instead of queueing
/// on the provider one after the other.
const FAILURE_HOLD: Duration = Duration::from_secs(1);

/// One machine token as the provider issued it.
#[derive(Clone)]
pub(crate) struct Issued {
    pub(crate) access_token: String,
    pub(crate) token_type: String,
    pub(crate) scope: Option<String>,
    /// When it expires (Unix seconds).
    pub(crate) expires_at: i64,
    /// When it is renewed (Unix seconds).
    renew_at: i64,
}

/// A provider's kept machine token.
#[derive(Default)]
pub(crate) struct MachineTokens {
    current: Mutex<State>,
}

#[derive(Default)]
struct State {
    token: Option<Arc<Issued>>,
    failed: Option<(Instant, OidcError)>,
}

impl std::fmt::Debug for MachineTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineTokens").finish_non_exhaustive()
    }
}

/// The kept token while it is fresh, else a new one (one request for all callers).
pub(crate) async fn token(client: &ProviderState) -> Result<Arc<Issued>, OidcError> {
    let tokens = &client.machine_tokens;
    let mut state = tokens.current.lock().await;
    let now = now();
    if let Some(token) = &state.token {
        if now < token.renew_at {
            return Ok(token.clone());
        }
    }
    // A token due for renewal but not expired rides out a provider that fails meanwhile.
    let usable = state
        .token
        .as_ref()
        .filter(|token| now < token.expires_at)
        .cloned();
    if let Some((at, err)) = &state.failed {
        if at.elapsed() < FAILURE_HOLD {
            return usable.ok_or_else(|| err.clone());
        }
    }
    let settings = &client.config.api.client_credentials;
    let fetched = async {
        let resolved = client.metadata().await?;
        client
            .client_credentials(&resolved, &settings.scope, settings.resource.as_deref())
            .await
    }
    .await;
    let response = match fetched {
        Ok(response) => response,
        Err(err) => {
            state.failed = Some((Instant::now(), err.clone()));
            if let Some(token) = usable {
                log::warn!(
                    "oidc: provider {:?}: renewing the client credentials token failed; the \
                     current one serves until it expires: {}",
                    client.name(),
                    err.developer_detail().unwrap_or(err.error_description())
                );
                return Ok(token);
            }
            return Err(err);
        }
    };
    let lifetime = response
        .expires_in()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(UNKNOWN_LIFETIME, |s| {
            s.min(MAX_LIFETIME as f64).floor() as i64
        });
    let margin = (lifetime / 10).min(MAX_MARGIN);
    let issued = Arc::new(Issued {
        access_token: response.access_token().to_owned(),
        token_type: response.token_type().to_owned(),
        scope: response.scope(),
        expires_at: now.saturating_add(lifetime),
        renew_at: now.saturating_add(lifetime - margin),
    });
    log::info!(
        "oidc: provider {:?}: client credentials token fetched, valid {lifetime} s",
        client.name()
    );
    state.token = Some(issued.clone());
    state.failed = None;
    Ok(issued)
}
