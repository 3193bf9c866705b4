//! A user's session across requests, whatever the store: read it (from the sealed cookie, or
//! through the cookie's id from a server-side store), decide whether it has ended, write it
//! back, end it.
//!
//! With the cookie store the session travels in the browser's sealed cookie; what ends it on
//! the server is a mark in the (per-process, or shared) store, checked on every request: the
//! session's own id after a logout, or its provider `sid` / `sub` after a back-channel
//! logout. With a server-side store the cookie carries only the session's random id.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rocket::futures::future::try_join3;
use rocket::http::{CookieJar, Status};
use sha2::{Digest, Sha256};

use super::{Oidc, ProviderState};
use crate::error::{ErrorKind, OidcError};
use crate::protocol::random::RANDOM_LEN;
use crate::session::{CookieQueue, NewSession, SessionData, SessionRecord, SetMode, StoreError};

/// A session as a request carried it.
pub(crate) struct Loaded {
    /// The session, if the request had a live one.
    pub(crate) session: Option<SessionData>,
    /// How many cookies the request carried for it (0: none), so a rewrite or a removal
    /// covers them all.
    pub(crate) chunks: usize,
}

/// Reads `client`'s session from the request's cookies (and the store).
///
/// A cookie that does not open, a session the store no longer has, or one marked as ended
/// is no session; a store that fails is an error (503), never "not logged in", which would
/// send every user to the provider during an outage.
pub(crate) async fn load(
    oidc: &Oidc,
    client: &ProviderState,
    jar: &CookieJar<'_>,
) -> Result<Loaded, OidcError> {
    if loads_without_store(oidc) {
        return Ok(load_without_store(oidc, client, jar));
    }
    if !oidc.server_side {
        let stored = oidc.cipher.read_session(jar, &client.session_cookie);
        let session = match stored.data {
            Some(session) if is_marked_ended(oidc, client, &session).await? => None,
            other => other,
        };
        return Ok(Loaded {
            session,
            chunks: stored.chunks,
        });
    }
    let Some(cookie) = jar.get(&client.session_cookie) else {
        return Ok(Loaded {
            session: None,
            chunks: 0,
        });
    };
    let Some(id) = oidc
        .cipher
        .open(&client.session_cookie, cookie.value())
        .filter(|id| is_session_id(id))
    else {
        return Ok(Loaded {
            session: None,
            chunks: 1,
        });
    };
    Ok(Loaded {
        session: stored(oidc, client, &id).await?,
        chunks: 1,
    })
}

/// Whether [`load_without_store`] may read sessions: with the cookie store, while this
/// process has marked no session ended (the common case: no future to allocate).
pub(crate) fn loads_without_store(oidc: &Oidc) -> bool {
    !oidc.server_side && nothing_marked_ended(oidc)
}

/// `client`'s session from the request's cookie alone; only when
/// [`loads_without_store`] says so (else [`load`]).
pub(crate) fn load_without_store(
    oidc: &Oidc,
    client: &ProviderState,
    jar: &CookieJar<'_>,
) -> Loaded {
    let stored = oidc.cipher.read_session(jar, &client.session_cookie);
    Loaded {
        session: stored.data,
        chunks: stored.chunks,
    }
}

/// Whether this process's own mark store holds nothing: then no session was marked ended
/// (or every mark expired), and no lookup is needed.
fn nothing_marked_ended(oidc: &Oidc) -> bool {
    oidc.local_marks
        .as_ref()
        .is_some_and(|marks| marks.holds_no_values())
}

/// Why `session` has ended at `now`, if it has: its lifetime, its idle timeout, or (with
/// `end_session_with_access_token`) an expired access token that no refresh token renews.
pub(crate) fn ended(oidc: &Oidc, session: &SessionData, now: i64) -> Option<&'static str> {
    let config = &oidc.config;
    // Times from a session are data: saturate, and a time in the future is no time at all.
    let late = now.saturating_add(config.clock_skew);
    if session.authenticated_at > late || session.last_seen > late {
        return Some("its login or activity time lies in the future");
    }
    if now.saturating_sub(session.authenticated_at) > config.session_lifetime {
        return Some("its lifetime (oidc.session_lifetime) is over");
    }
    if now.saturating_sub(session.last_seen) > config.session_idle_timeout {
        return Some("it was idle longer than oidc.session_idle_timeout");
    }
    if config.end_session_with_access_token
        && session.refresh_token().is_none()
        && session
            .access_token_expires_at
            .is_some_and(|expires_at| now >= expires_at)
    {
        return Some("its access token expired and there is no refresh token");
    }
    None
}

/// Whether a request at `now` should write `session` back to keep it from idling out: at
/// most once per tenth of the idle timeout, and at most once a minute.
pub(crate) fn needs_touch(oidc: &Oidc, session: &SessionData, now: i64) -> bool {
    let every = (oidc.config.session_idle_timeout / 10).clamp(1, 60);
    now.saturating_sub(session.last_seen) >= every
}

/// Stores a session that a login just created: a new id (never the one the browser had:
/// no session fixation), the data in the cookie or the store. A session the browser held
/// before is ended.
pub(crate) async fn save_new(
    oidc: &Oidc,
    client: &ProviderState,
    session: &SessionData,
    jar: &CookieJar<'_>,
    out: &CookieQueue,
) -> Result<(), OidcError> {
    if !oidc.server_side {
        let previous = oidc.cipher.read_session(jar, &client.session_cookie);
        let (cookies, _) = oidc.cookies.session(
            &oidc.cipher,
            &client.session_cookie,
            session,
            previous.chunks,
        )?;
        out.extend(cookies);
        // The session this login replaces ends (a copy of its cookie is refused too).
        if let Some(previous) = previous.data.filter(|p| p.id() != session.id()) {
            if let Err(err) = mark_ended(oidc, &previous).await {
                log::warn!("oidc: could not end the session this login replaced: {err}");
            }
        }
        return Ok(());
    }
    let previous = jar
        .get(&client.session_cookie)
        .and_then(|cookie| oidc.cipher.open(&client.session_cookie, cookie.value()))
        .filter(|id| is_session_id(id) && id != session.id());
    save(oidc, client, session).await?;
    if let Some(previous) = previous {
        if let Err(err) = oidc.store.delete(&previous).await {
            log::warn!("oidc: could not delete the session this login replaced: {err}");
        }
    }
    out.push(
        oidc.cookies
            .session_id(&oidc.cipher, &client.session_cookie, session.id()),
    );
    Ok(())
}

/// Writes back `session`, a newer version of `previous` (same id): into the cookie, or
/// into the store only if the stored session is still `previous`, so that a session a
/// logout deleted meanwhile stays deleted and a concurrent refresh's tokens are never
/// overwritten with older ones. Returns how many cookies it takes now, or `None` when the
/// stored session changed or ended first (nothing was written).
pub(crate) async fn write_back(
    oidc: &Oidc,
    client: &ProviderState,
    previous: &SessionData,
    session: &SessionData,
    chunks: usize,
    out: &CookieQueue,
) -> Result<Option<usize>, OidcError> {
    if !oidc.server_side {
        let (cookies, chunks) =
            oidc.cookies
                .session(&oidc.cipher, &client.session_cookie, session, chunks)?;
        out.extend(cookies);
        return Ok(Some(chunks));
    }
    let replaced = oidc
        .store
        .replace(
            session.id(),
            &record_of(client, previous),
            &record_of(client, session),
            remaining(oidc, session, crate::protocol::time::now()),
        )
        .await
        .map_err(store_failed)?;
    Ok(replaced.then_some(chunks))
}

/// How long an instance holds the refresh lock of a session at least; with a slow provider
/// longer (see `refresh_lock_for`).
const REFRESH_LOCK: Duration = Duration::from_secs(15);

/// How long the refresh lock is held: longer than a refresh can take (the token request,
/// a JWKS refetch and UserInfo, each up to `http_timeout`), so it never expires under a
/// running refresh.
fn refresh_lock_for(oidc: &Oidc) -> Duration {
    REFRESH_LOCK.max(oidc.config.http_timeout * 3 + Duration::from_secs(5))
}
/// How often a waiting instance looks for the refreshed session.
const REFRESH_POLL: Duration = Duration::from_millis(50);

/// Refreshes `session`'s tokens (`force`: even when they have not expired) and stores the
/// result; returns it with the number of cookies it takes. A refusal comes back as the
/// provider's error; the caller ends the session.
///
/// With a server-side store, one refresh runs per session across every instance: the
/// instance that takes the session's lock in the store asks the provider and saves the
/// result; the others wait for the stored session to change and use it, so a rotating
/// refresh token is spent once. With the cookie store, one refresh runs per refresh token
/// in this process.
pub(crate) async fn refresh(
    oidc: &Oidc,
    client: &ProviderState,
    session: &SessionData,
    chunks: usize,
    force: bool,
    out: &CookieQueue,
) -> Result<(SessionData, usize), OidcError> {
    let now = crate::protocol::time::now();
    if !oidc.server_side {
        let refreshed = super::refresh::refresh_session(client, session, force).await?;
        let refreshed = SessionData::new(NewSession {
            last_seen: now,
            ..refreshed.fields()
        });
        let chunks = write_back(oidc, client, session, &refreshed, chunks, out)
            .await?
            .unwrap_or(chunks);
        return Ok((refreshed, chunks));
    }
    let lock = format!("refresh:{}", session.id());
    let holder = crate::protocol::random::random_token();
    let lock_for = refresh_lock_for(oidc);
    let deadline = tokio::time::Instant::now() + lock_for;
    loop {
        let took = oidc
            .store
            .set_value(&lock, &holder, lock_for, SetMode::IfAbsent)
            .await
            .map_err(store_failed)?;
        if took {
            let outcome = refresh_holding_lock(oidc, client, session, force, now).await;
            // Only this holder's lock: never one another instance took after it expired.
            if let Err(err) = oidc.store.delete_value_if(&lock, &holder).await {
                log::warn!("oidc: could not release a refresh lock (it expires by itself): {err}");
            }
            return outcome.map(|refreshed| (refreshed, chunks));
        }
        // Another instance is refreshing: wait for its result in the store.
        tokio::time::sleep(REFRESH_POLL).await;
        if let Some(current) = stored(oidc, client, session.id()).await? {
            if current.access_token() != session.access_token() {
                return Ok((current, chunks));
            }
        } else {
            return Err(super::refresh::no_valid_token(
                "the session ended while another instance refreshed it",
            ));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(OidcError::new(
                ErrorKind::ProviderUnavailable,
                Status::GatewayTimeout,
                "temporarily_unavailable",
                "another instance's refresh of this session's tokens did not finish in time",
            ));
        }
    }
}

/// The refresh itself, lock held: the stored session may have been refreshed since this
/// request read it (then that one is used, unless `force`).
async fn refresh_holding_lock(
    oidc: &Oidc,
    client: &ProviderState,
    session: &SessionData,
    force: bool,
    now: i64,
) -> Result<SessionData, OidcError> {
    let ended = || {
        super::refresh::no_valid_token("the session ended (a logout) while it was being refreshed")
    };
    let Some(mut current) = stored(oidc, client, session.id()).await? else {
        return Err(ended());
    };
    if current.access_token() != session.access_token() && !force {
        return Ok(current);
    }
    let tokens = super::refresh::refresh_session(client, &current, force).await?;
    // Only a request that read the session before this lock (a write-back of its activity)
    // can change it now: then the new tokens go over its version. A logout wins.
    for _ in 0..3 {
        let refreshed = SessionData::new(NewSession {
            last_seen: now.max(current.last_seen),
            ..tokens.fields()
        });
        let replaced = oidc
            .store
            .replace(
                session.id(),
                &record_of(client, &current),
                &record_of(client, &refreshed),
                remaining(oidc, &refreshed, now),
            )
            .await
            .map_err(store_failed)?;
        if replaced {
            return Ok(refreshed);
        }
        match stored(oidc, client, session.id()).await? {
            Some(newer) => current = newer,
            None => {
                log::info!(
                    "oidc: a session with provider {:?} ended while its tokens were refreshed; \
                     the new tokens are revoked",
                    client.name()
                );
                if client.config.revoke_tokens_on_logout {
                    super::logout::revoke_dropped(client, &tokens).await;
                }
                return Err(ended());
            }
        }
    }
    Err(OidcError::new(
        ErrorKind::StoreUnavailable,
        Status::ServiceUnavailable,
        "session_store_unavailable",
        "the stored session kept changing while its tokens were refreshed",
    ))
}

/// The session stored under `id` now.
async fn stored(
    oidc: &Oidc,
    client: &ProviderState,
    id: &str,
) -> Result<Option<SessionData>, OidcError> {
    let record = oidc.store.load(id).await.map_err(store_failed)?;
    Ok(record
        .filter(|record| record.provider == client.name())
        .and_then(|record| SessionData::from_text(&record.data))
        .filter(|session| session.id() == id))
}

/// Ends a session: its cookies go, and on the server the store forgets it (server-side
/// store) or marks its id as ended (cookie store), so a copy of the cookie is refused too.
pub(crate) async fn end(
    oidc: &Oidc,
    client: &ProviderState,
    session: Option<&SessionData>,
    chunks: usize,
    out: &CookieQueue,
) -> Result<(), OidcError> {
    out.extend(oidc.cookies.remove_session(&client.session_cookie, chunks));
    let Some(session) = session else {
        return Ok(());
    };
    if oidc.server_side {
        oidc.store
            .delete(session.id())
            .await
            .map_err(store_failed)?;
    } else {
        mark_ended(oidc, session).await?;
    }
    Ok(())
}

/// Marks a cookie-store session as ended for as long as any copy of its cookie could be
/// used: until its lifetime ends (a copy in use keeps it from idling out).
async fn mark_ended(oidc: &Oidc, session: &SessionData) -> Result<(), OidcError> {
    let config = &oidc.config;
    let until = session
        .authenticated_at
        .saturating_add(config.session_lifetime)
        .saturating_add(config.clock_skew);
    let ttl = Duration::from_secs(
        u64::try_from(until.saturating_sub(crate::protocol::time::now()))
            .unwrap_or(0)
            .max(1),
    );
    oidc.store
        .set_value(&ended_key(session.id()), "1", ttl, SetMode::Always)
        .await
        .map(drop)
        .map_err(store_failed)
}

/// Ends every session of `client` that a back-channel logout names: by the provider's
/// session id and/or the user. Returns how many sessions a server-side store deleted (the
/// cookie store cannot count: it marks the `sid`/`sub` as ended).
pub(crate) async fn end_by_index(
    oidc: &Oidc,
    client: &ProviderState,
    sid: Option<&str>,
    subject: Option<&str>,
    now: i64,
) -> Result<usize, OidcError> {
    let provider = client.name();
    if oidc.server_side {
        let mut deleted = 0;
        if let Some(sid) = sid {
            let index = crate::session::SessionIndex::Sid { provider, sid };
            deleted += oidc
                .store
                .delete_by_index(index)
                .await
                .map_err(store_failed)?;
        }
        if let Some(subject) = subject {
            let index = crate::session::SessionIndex::Subject { provider, subject };
            deleted += oidc
                .store
                .delete_by_index(index)
                .await
                .map_err(store_failed)?;
        }
        return Ok(deleted);
    }
    // Marks outlive every session they could match.
    let ttl = Duration::from_secs(
        u64::try_from(oidc.config.session_lifetime + oidc.config.clock_skew).unwrap_or(1),
    );
    if let Some(sid) = sid {
        oidc.store
            .set_value(
                &sid_key(provider, sid),
                &now.to_string(),
                ttl,
                SetMode::Always,
            )
            .await
            .map_err(store_failed)?;
    }
    if let Some(subject) = subject {
        oidc.store
            .set_value(
                &subject_key(provider, subject),
                &now.to_string(),
                ttl,
                SetMode::Always,
            )
            .await
            .map_err(store_failed)?;
    }
    Ok(0)
}

/// How a store keeps `session`.
fn record_of(client: &ProviderState, session: &SessionData) -> SessionRecord {
    SessionRecord::new(
        client.name().to_string(),
        session.subject().to_string(),
        session.sid().map(str::to_string),
        session.to_text(),
    )
}

async fn save(oidc: &Oidc, client: &ProviderState, session: &SessionData) -> Result<(), OidcError> {
    let record = record_of(client, session);
    let ttl = remaining(oidc, session, crate::protocol::time::now());
    oidc.store
        .save(session.id(), &record, ttl)
        .await
        .map_err(store_failed)
}

/// How long `session` can live from `now`: until its idle timeout or its lifetime ends.
fn remaining(oidc: &Oidc, session: &SessionData, now: i64) -> Duration {
    let config = &oidc.config;
    let until = (session
        .last_seen
        .saturating_add(config.session_idle_timeout))
    .min(
        session
            .authenticated_at
            .saturating_add(config.session_lifetime),
    );
    Duration::from_secs(u64::try_from(until.saturating_sub(now)).unwrap_or(0).max(1))
}

/// Whether a cookie-store session was ended on the server: by a logout (its id), or by a
/// back-channel logout (its provider session, or every session of its user up to then).
async fn is_marked_ended(
    oidc: &Oidc,
    client: &ProviderState,
    session: &SessionData,
) -> Result<bool, OidcError> {
    if nothing_marked_ended(oidc) {
        return Ok(false);
    }
    let store = &oidc.store;
    let by_id = ended_key(session.id());
    let by_sid = session.sid().map(|sid| sid_key(client.name(), sid));
    let by_subject = subject_key(client.name(), session.subject());
    // Concurrently: with the marks in Redis, one round trip's latency instead of three.
    let (ended, sid_ended, subject_ended_at) = try_join3(
        store.get_value(&by_id),
        async {
            match &by_sid {
                Some(key) => store.get_value(key).await,
                None => Ok(None),
            }
        },
        store.get_value(&by_subject),
    )
    .await
    .map_err(store_failed)?;
    // A logout of a provider session or of a user ends the logins made up to then, not
    // later ones (a provider may reuse a sid).
    let ended_before = |at: Option<String>| {
        at.and_then(|at| at.parse::<i64>().ok())
            .is_some_and(|at| session.authenticated_at <= at)
    };
    Ok(ended.is_some() || ended_before(sid_ended) || ended_before(subject_ended_at))
}

fn ended_key(id: &str) -> String {
    format!("ended:{id}")
}

fn sid_key(provider: &str, sid: &str) -> String {
    format!("ended-sid:{}", digest(provider, sid))
}

fn subject_key(provider: &str, subject: &str) -> String {
    format!("ended-sub:{}", digest(provider, subject))
}

/// A fixed-length key part for values that may hold any character (`scope` is the provider
/// or issuer the value belongs to).
pub(crate) fn digest(scope: &str, value: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(scope.as_bytes());
    hasher.update([0]);
    hasher.update(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&hasher.finalize()[..18])
}

fn is_session_id(id: &str) -> bool {
    id.len() == RANDOM_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A store that failed: 503 with a description fit for users, and one log line that says
/// why (the store's own error, which may name hosts).
pub(crate) fn store_failed(err: StoreError) -> OidcError {
    OidcError::new(
        ErrorKind::StoreUnavailable,
        Status::ServiceUnavailable,
        "session_store_unavailable",
        "sessions cannot be read or written right now; try again in a moment",
    )
    .with_log_detail(format!("the session store failed: {err}"))
}
