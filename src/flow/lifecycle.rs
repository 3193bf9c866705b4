//! A session's life across requests: whether it has ended, what it needs before a route may
//! use it (an end, a silent re-authentication, a refresh, a write-back of its activity),
//! and the one decision the guard turns into an outcome. Where the session lives is
//! [`SessionBackend`](crate::session::SessionBackend)'s business, not this module's.

use rocket::futures::future::BoxFuture;
use rocket::http::CookieJar;

use super::{Oidc, ProviderState};
use crate::error::OidcError;
use crate::session::{
    CookieQueue, Ended, EndedSessions, Loaded, NewSession, Refreshed, SessionData,
};
use crate::telemetry::{self, EndReason};

/// What a request's session comes to, for the guard: a session to hand the route, or a
/// login (silent, with `prompt=none`, or not), or a failure to answer.
#[allow(
    clippy::large_enum_variant,
    reason = "one value per request, on the stack; a box would be an allocation per request"
)]
pub(crate) enum Decision {
    /// The session, ready for the route, and how many cookies it takes.
    Ready(SessionData, usize),
    /// No usable session: log in (`silent`: with `prompt=none`).
    LogIn { silent: bool },
    /// The store or the provider failed.
    Failed(OidcError),
}

/// A decision, made without awaiting anything when it can be.
#[allow(
    clippy::large_enum_variant,
    reason = "one value per request, on the stack; a box would be an allocation per request"
)]
pub(crate) enum Check {
    /// Decided.
    Now(Decision),
    /// Work that awaits (a store read, or a session to renew): [`Pending::run`] decides.
    Later(Pending),
}

/// The awaited part of a decision.
#[allow(
    clippy::large_enum_variant,
    reason = "moved into the boxed slow path once; a box of its own would be a second allocation"
)]
pub(crate) enum Pending {
    /// The session must be read from a store (or its marks looked up).
    Load,
    /// The session needs work before the route runs.
    Renew(SessionData, usize, Renewal),
}

/// What a session needs before a route may use it.
pub(crate) enum Renewal {
    /// The session is over (why).
    End((EndReason, &'static str)),
    /// Its access token expired and a refresh token can renew it.
    Refresh,
    /// Its activity time should be written back, so that it does not idle out.
    Touch,
}

/// The request, as far as the decision needs it.
#[derive(Clone, Copy)]
pub(crate) struct Visit<'a, 'r> {
    pub(crate) jar: &'a CookieJar<'r>,
    /// Whether the request is a browser's `GET` (or `HEAD`): asked only when a silent
    /// re-authentication is due, since it reads the `Accept` header.
    pub(crate) browser_get: &'a (dyn Fn() -> bool + Sync),
    pub(crate) now: i64,
}

/// Decides what the request's session comes to, without awaiting when the session is in
/// its cookie and nothing is due (the common case).
pub(crate) fn check(
    oidc: &Oidc,
    client: &ProviderState,
    visit: Visit<'_, '_>,
    out: &CookieQueue,
) -> Check {
    if !oidc.sessions.reads_cookie_alone() {
        return Check::Later(Pending::Load);
    }
    let loaded = oidc
        .sessions
        .load_from_cookie(oidc.scope(client), visit.jar);
    decide(oidc, client, loaded, visit, out).into()
}

impl Pending {
    /// The awaited part of [`check`]. A renewal is boxed apart: the store read (every
    /// request with a store) stays a small allocation.
    pub(crate) async fn run(
        self,
        oidc: &Oidc,
        client: &ProviderState,
        visit: Visit<'_, '_>,
        out: &CookieQueue,
    ) -> Decision {
        let (session, chunks, renewal) = match self {
            Pending::Renew(session, chunks, renewal) => (session, chunks, renewal),
            Pending::Load => {
                let loaded = match oidc.sessions.load(oidc.scope(client), visit.jar).await {
                    Ok(loaded) => loaded,
                    Err(err) => return Decision::Failed(err),
                };
                match decide(oidc, client, loaded, visit, out) {
                    Step::Done(decision) => return decision,
                    Step::Renew(session, chunks, renewal) => (session, chunks, renewal),
                }
            }
        };
        Box::pin(renew(
            oidc, client, session, chunks, visit.now, renewal, out,
        ))
        .await
    }
}

/// What [`decide`] found: a decision, or a session that needs work first.
#[allow(
    clippy::large_enum_variant,
    reason = "one value per request, on the stack; a box would be an allocation per request"
)]
enum Step {
    Done(Decision),
    Renew(SessionData, usize, Renewal),
}

impl From<Step> for Check {
    fn from(step: Step) -> Check {
        match step {
            Step::Done(decision) => Check::Now(decision),
            Step::Renew(session, chunks, renewal) => {
                Check::Later(Pending::Renew(session, chunks, renewal))
            }
        }
    }
}

/// What a session that was read needs (see [`Renewal`]), or a login when there is none.
fn decide(
    oidc: &Oidc,
    client: &ProviderState,
    loaded: Loaded,
    visit: Visit<'_, '_>,
    out: &CookieQueue,
) -> Step {
    let Loaded { session, chunks } = loaded;
    let Some(session) = session else {
        if chunks > 0 {
            // A cookie that did not open, or a session that ended on the server.
            out.extend(oidc.cookies.remove_session(&client.session_cookie, chunks));
        }
        return Step::Done(Decision::LogIn { silent: false });
    };
    let now = visit.now;
    if let Some(why) = ended(oidc, &session, now) {
        return Step::Renew(session, chunks, Renewal::End(why));
    }
    if let Some(interval) = client.config.session_refresh_interval {
        if now.saturating_sub(session.authenticated_at) >= interval && (visit.browser_get)() {
            let silent = reauthenticate_silently(oidc, client, visit.jar);
            return Step::Done(Decision::LogIn { silent });
        }
    }
    let expired = super::refresh::access_token_expired(&session, now, oidc.config.clock_skew);
    if oidc.config.auto_refresh && expired && session.refresh_token().is_some() {
        return Step::Renew(session, chunks, Renewal::Refresh);
    }
    if needs_touch(oidc, &session, now) {
        return Step::Renew(session, chunks, Renewal::Touch);
    }
    Step::Done(Decision::Ready(session, chunks))
}

/// Whether a re-authentication that is due should be silent (`prompt=none`): unless a
/// silent attempt never came back (a provider that answers `prompt=none` with a page of
/// its own): then this time the user logs in.
fn reauthenticate_silently(oidc: &Oidc, client: &ProviderState, jar: &CookieJar<'_>) -> bool {
    let tried = super::login::silent_attempt_cookie(oidc, client.name());
    let silent = jar
        .get(&tried)
        .and_then(|cookie| oidc.cipher.open(&tried, cookie.value()))
        .is_none();
    if !silent {
        log::info!(
            "oidc: a silent re-authentication with provider {:?} did not come back; logging \
             in interactively",
            client.name()
        );
    }
    silent
}

/// Does what [`decide`] found the session needs before the route runs.
async fn renew(
    oidc: &Oidc,
    client: &ProviderState,
    session: SessionData,
    chunks: usize,
    now: i64,
    renewal: Renewal,
    out: &CookieQueue,
) -> Decision {
    match renewal {
        Renewal::End((reason, why)) => {
            log::info!(
                "oidc: a session with provider {:?} ended: {why}",
                client.name()
            );
            telemetry::session_ended(client.name(), reason, 1);
            match end(oidc, client, Some(&session), chunks, out).await {
                Ok(()) => Decision::LogIn { silent: false },
                Err(err) => Decision::Failed(err),
            }
        }
        Renewal::Refresh => {
            match refresh_or_end(oidc, client, &session, chunks, false, out).await {
                Ok(Some((refreshed, chunks))) => Decision::Ready(refreshed, chunks),
                Ok(None) => Decision::LogIn { silent: false },
                Err(err) => Decision::Failed(err),
            }
        }
        Renewal::Touch => {
            // A failure only postpones it: the session itself was read fine.
            let touched = SessionData::new(NewSession {
                last_seen: now,
                ..session.fields()
            });
            let scope = oidc.scope(client);
            match oidc
                .sessions
                .write_back(scope, &session, &touched, chunks, out)
                .await
            {
                Ok(Some(chunks)) => Decision::Ready(touched, chunks),
                // Changed meanwhile (a refresh, a logout): this request keeps what it read.
                Ok(None) => Decision::Ready(session, chunks),
                Err(err) => {
                    log::warn!("oidc: could not record the session's activity: {err}");
                    Decision::Ready(session, chunks)
                }
            }
        }
    }
}

/// Refreshes the session's tokens (`force`: even when they have not expired); a refusal
/// (`invalid_grant`) ends the session and comes back as `None`, with the reason logged.
pub(crate) async fn refresh_or_end(
    oidc: &Oidc,
    client: &ProviderState,
    session: &SessionData,
    chunks: usize,
    force: bool,
    out: &CookieQueue,
) -> Result<Option<(SessionData, usize)>, OidcError> {
    match refresh(oidc, client, session, chunks, force, out).await {
        Ok(refreshed) => Ok(Some(refreshed)),
        Err(err) if super::refresh::is_refusal(&err) => {
            log::warn!("oidc: the session ends: {err}");
            end(oidc, client, Some(session), chunks, out).await?;
            telemetry::session_ended(client.name(), EndReason::RefreshFailed, 1);
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Refreshes `session`'s tokens and stores the result; returns it with the number of
/// cookies it takes. A refusal comes back as the provider's error.
pub(crate) async fn refresh(
    oidc: &Oidc,
    client: &ProviderState,
    session: &SessionData,
    chunks: usize,
    force: bool,
    out: &CookieQueue,
) -> Result<(SessionData, usize), OidcError> {
    let renew = |current: SessionData| -> BoxFuture<'_, _> {
        Box::pin(async move {
            super::refresh::refresh_session(client, &current, force, oidc.config.clock_skew).await
        })
    };
    let refreshed = oidc
        .sessions
        .refresh(
            oidc.scope(client),
            &*oidc.values,
            session,
            chunks,
            force,
            out,
            &renew,
        )
        .await?;
    match refreshed {
        Refreshed::Session(session, chunks) => Ok((session, chunks)),
        Refreshed::EndedMeanwhile(dropped) => {
            if let Some(tokens) = dropped {
                log::info!(
                    "oidc: a session with provider {:?} ended while its tokens were refreshed; \
                     the new tokens are revoked",
                    client.name()
                );
                if client.config.revoke_tokens_on_logout {
                    client
                        .revoke_dropped(tokens.access_token(), tokens.refresh_token())
                        .await;
                }
            }
            Err(super::refresh::no_valid_token(
                "the session ended (a logout) while it was being refreshed",
            ))
        }
    }
}

/// Reads `client`'s session from the request's cookies (and the store).
pub(crate) async fn load(
    oidc: &Oidc,
    client: &ProviderState,
    jar: &CookieJar<'_>,
) -> Result<Loaded, OidcError> {
    oidc.sessions.load(oidc.scope(client), jar).await
}

/// Stores a session that a login just created (see
/// [`SessionBackend::save_new`](crate::session::SessionBackend::save_new)).
pub(crate) async fn save_new(
    oidc: &Oidc,
    client: &ProviderState,
    session: &SessionData,
    jar: &CookieJar<'_>,
    out: &CookieQueue,
) -> Result<(), OidcError> {
    oidc.sessions
        .save_new(oidc.scope(client), session, jar, out)
        .await
}

/// Ends a session: its cookies go, and the server forgets it (or marks it ended).
pub(crate) async fn end(
    oidc: &Oidc,
    client: &ProviderState,
    session: Option<&SessionData>,
    chunks: usize,
    out: &CookieQueue,
) -> Result<(), OidcError> {
    oidc.sessions
        .end(oidc.scope(client), session, chunks, out)
        .await
}

/// Ends every session of `client` that a back-channel logout names.
pub(crate) async fn end_by_index(
    oidc: &Oidc,
    client: &ProviderState,
    ended: Ended<'_>,
) -> Result<EndedSessions, OidcError> {
    oidc.sessions
        .end_by_index(&oidc.config, client.name(), ended)
        .await
}

/// Why `session` has ended at `now`, if it has: its lifetime, its idle timeout, or (with
/// `end_session_with_access_token`) an expired access token that no refresh token renews.
pub(crate) fn ended(
    oidc: &Oidc,
    session: &SessionData,
    now: i64,
) -> Option<(EndReason, &'static str)> {
    let config = &oidc.config;
    // Times from a session are data: saturate, and a time in the future is no time at all.
    let late = now.saturating_add(config.clock_skew);
    if session.authenticated_at > late || session.last_seen > late {
        return Some((
            EndReason::Lifetime,
            "its login or activity time lies in the future",
        ));
    }
    if now.saturating_sub(session.authenticated_at) > config.session_lifetime {
        return Some((
            EndReason::Lifetime,
            "its lifetime (oidc.session_lifetime) is over",
        ));
    }
    if now.saturating_sub(session.last_seen) > config.session_idle_timeout {
        return Some((
            EndReason::Idle,
            "it was idle longer than oidc.session_idle_timeout",
        ));
    }
    if config.end_session_with_access_token
        && session.refresh_token().is_none()
        && session
            .access_token_expires_at
            .is_some_and(|expires_at| now >= expires_at)
    {
        return Some((
            EndReason::Lifetime,
            "its access token expired and there is no refresh token",
        ));
    }
    None
}

/// Whether a request at `now` should write `session` back to keep it from idling out: at
/// most once per tenth of the idle timeout, and at most once a minute.
pub(crate) fn needs_touch(oidc: &Oidc, session: &SessionData, now: i64) -> bool {
    let every = (oidc.config.session_idle_timeout / 10).clamp(1, 60);
    now.saturating_sub(session.last_seen) >= every
}
