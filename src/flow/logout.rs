//! Logout: the local sessions end, the tokens are revoked (RFC 7009) where the provider
//! allows it, and the browser goes through the provider's `end_session_endpoint`
//! (OpenID Connect RP-Initiated Logout 1.0) when it has one, coming back to a route of this
//! crate that checks the logout's `state` before landing on `post_logout_path`.

use std::time::Duration;

use rocket::http::CookieJar;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tracing::Instrument as _;

use super::{Oidc, ProviderState};
use crate::error::OidcError;
use crate::op::client::{ProviderClient, Resolved};
use crate::protocol::random::random_token;
use crate::protocol::time::now;
use crate::session::{CookieQueue, SessionData};

/// The cookie that carries a logout's `state` to the return route.
pub(crate) const LOGOUT_COOKIE: &str = "oidc_logout";

/// The most a logout waits for a provider (discovery), so a provider that is down never
/// holds the user back.
const PROVIDER_WAIT: Duration = crate::op::PROVIDER_WAIT;

/// The most a whole logout waits for its providers, however many sessions it ends.
const LOGOUT_WAIT: Duration = Duration::from_secs(4);

/// The state of an RP-initiated logout in flight.
#[derive(Serialize, Deserialize)]
struct LogoutState {
    #[serde(rename = "s")]
    state: String,
    #[serde(rename = "p")]
    provider: String,
    #[serde(rename = "t")]
    created_at: i64,
}

/// Ends the sessions of `only` (or of every provider): removes their cookies, revokes their
/// tokens, and prepares the provider's end-session redirect for the first that has one.
///
/// Returns where to send the browser; the cookies to write go to `out`. Fails (503) only
/// when the session store does: the session must not outlive a logout on the server.
pub(crate) async fn end_sessions(
    jar: &CookieJar<'_>,
    out: &CookieQueue,
    oidc: &Oidc,
    only: Option<&ProviderState>,
) -> Result<String, OidcError> {
    let span = tracing::info_span!(
        "oidc.logout",
        provider = only.map(|client| client.name()),
        outcome = tracing::field::Empty,
    );
    let outcome = end_all(jar, out, oidc, only).instrument(span.clone()).await;
    span.record("outcome", crate::telemetry::result(&outcome));
    outcome
}

/// [`end_sessions`] inside its span.
async fn end_all(
    jar: &CookieJar<'_>,
    out: &CookieQueue,
    oidc: &Oidc,
    only: Option<&ProviderState>,
) -> Result<String, OidcError> {
    let mut ended: Vec<(&ProviderState, SessionData)> = Vec::new();
    for client in oidc.providers() {
        if only.is_some_and(|only| only.name() != client.name()) {
            continue;
        }
        let loaded = super::lifecycle::load(oidc, client, jar).await?;
        if loaded.chunks == 0 {
            continue;
        }
        super::lifecycle::end(oidc, client, loaded.session.as_ref(), loaded.chunks, out).await?;
        if let Some(session) = loaded.session {
            crate::telemetry::session_ended(client.name(), crate::telemetry::EndReason::Logout, 1);
            ended.push((client, session));
        }
    }

    let mut location = None;
    let deadline = tokio::time::Instant::now() + LOGOUT_WAIT;
    for (client, session) in &ended {
        let wait =
            PROVIDER_WAIT.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        let Some(resolved) = client.metadata_within(wait).await else {
            log::warn!(
                "oidc: logout: provider {:?} is unreachable; ended the local session only",
                client.name()
            );
            continue;
        };
        // A refresh that ran with this session's refresh token moments ago may have issued
        // (and rotated to) tokens this request does not carry: revoke those too.
        let refreshed = session
            .refresh_token()
            .and_then(|token| client.refresh_flights.take(token));
        if client.config.revoke_tokens_on_logout {
            let revocations = async {
                client
                    .revoke_tokens(&resolved, session.access_token(), session.refresh_token())
                    .await;
                if let Some(refreshed) = &refreshed {
                    client
                        .revoke_tokens(
                            &resolved,
                            refreshed.access_token(),
                            refreshed.refresh_token(),
                        )
                        .await;
                }
            };
            if tokio::time::timeout_at(deadline, revocations)
                .await
                .is_err()
            {
                log::warn!(
                    "oidc: logout: revocation at provider {:?} did not finish within {} s; \
                     the logout goes on",
                    client.name(),
                    LOGOUT_WAIT.as_secs()
                );
            }
        }
        if location.is_none() {
            location = end_session_redirect(oidc, client, &resolved, session, out);
        }
        log::info!(
            "oidc: logout: ended the session with provider {:?}",
            client.name()
        );
    }
    Ok(location.unwrap_or_else(|| oidc.config.post_logout_path.clone()))
}

/// The provider's end-session URL, with the state cookie queued for the way back.
fn end_session_redirect(
    oidc: &Oidc,
    client: &ProviderClient,
    resolved: &Resolved,
    session: &SessionData,
    out: &CookieQueue,
) -> Option<String> {
    let endpoint = resolved.metadata.end_session_endpoint()?;
    let mut url = url::Url::parse(endpoint).ok()?;
    let logout_state = LogoutState {
        state: random_token(),
        provider: client.name().to_string(),
        created_at: now(),
    };
    url.query_pairs_mut()
        .append_pair("id_token_hint", session.id_token())
        .append_pair("client_id", resolved.client_id())
        .append_pair(
            "post_logout_redirect_uri",
            &client.config.post_logout_redirect_uri,
        )
        .append_pair("state", &logout_state.state);
    let value = serde_json::to_string(&logout_state).expect("a logout state serializes");
    out.push(
        oidc.cookies.sealed(
            &oidc.cipher,
            oidc.cookies.name(LOGOUT_COOKIE),
            &value,
            oidc.cookies
                .path_for(&client.config.post_logout_return_path),
            Some(oidc.config.login_timeout),
        ),
    );
    Some(url.into())
}

/// Checks the browser's return from the provider's end-session page: the `returned` state
/// must be the one this browser's logout cookie holds, within `login_timeout`. Returns the
/// provider's name when it is. The cookie is single use: its removal goes to `out`.
pub(crate) fn finish_return(
    oidc: &Oidc,
    jar: &CookieJar<'_>,
    returned: &str,
    out: &CookieQueue,
    cookie_path: &str,
) -> Option<String> {
    let name = oidc.cookies.name(LOGOUT_COOKIE);
    out.push(
        oidc.cookies
            .removal(name.clone(), oidc.cookies.path_for(cookie_path)),
    );
    let expected = jar
        .get(&name)
        .and_then(|cookie| oidc.cipher.open(&name, cookie.value()))
        .and_then(|json| serde_json::from_str::<LogoutState>(&json).ok())?;
    let matches = !returned.is_empty()
        && bool::from(expected.state.as_bytes().ct_eq(returned.as_bytes()))
        && now().saturating_sub(expected.created_at) <= oidc.config.login_timeout;
    matches.then_some(expected.provider)
}
