//! Where a provider's sessions live between requests, as one type whose methods hold the
//! difference: in their sealed cookies (the server keeps marks of the ones that ended), or
//! in a [`SessionStore`] with the cookie carrying the session's random id. No flow asks
//! which one it has.

use std::sync::Arc;
use std::time::Duration;

use rocket::futures::future::BoxFuture;
use rocket::http::{CookieJar, Status};

use super::failure::store_failed;
use super::marks::{Ended, Marks};
use super::{CookieCipher, CookieFactory, CookieQueue, NewSession, SessionData};
use crate::config::Config;
use crate::error::{ErrorKind, OidcError};
use crate::protocol::random::RANDOM_LEN;
use crate::protocol::time::now;
use crate::store::{SessionIndex, SessionRecord, SessionStore, StoreLock, ValueStore};
use crate::telemetry::{self, EndReason};

/// Where sessions live: the choice of `oidc.session.store` (or of
/// `OidcFairing::with_store`) at run time.
#[derive(Debug)]
pub(crate) enum SessionBackend {
    /// Sessions travel in their sealed cookies. What ends one on the server is a mark,
    /// checked on every request: the session's own id after a logout, or its provider
    /// `sid` / `sub` after a back-channel logout.
    Cookie(Marks),
    /// Sessions live in a store; the cookie carries the session's id.
    Stored(Arc<dyn SessionStore>),
}

/// One provider's sessions as a request sees them: the cookie that carries them, what
/// seals it, and the configuration that says how long they live.
#[derive(Clone, Copy)]
pub(crate) struct SessionScope<'a> {
    pub(crate) cipher: &'a CookieCipher,
    pub(crate) cookies: &'a CookieFactory,
    pub(crate) config: &'a Config,
    /// The session cookie's name (`oidc_session_<provider>`, `__Host-` over https).
    pub(crate) cookie: &'a str,
    /// The provider's name.
    pub(crate) provider: &'a str,
}

/// A session as a request carried it.
pub(crate) struct Loaded {
    /// The session, if the request had a live one.
    pub(crate) session: Option<SessionData>,
    /// How many cookies the request carried for it (0: none), so a rewrite or a removal
    /// covers them all.
    pub(crate) chunks: usize,
}

/// What a back-channel logout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndedSessions {
    /// A store deleted this many sessions.
    Deleted(usize),
    /// Cookie sessions: the provider session or user is marked as ended (no count).
    Marked,
}

/// What a refresh of a session's tokens came to.
pub(crate) enum Refreshed {
    /// The renewed session (stored, or queued as cookies), and how many cookies it takes.
    Session(SessionData, usize),
    /// The session ended (a logout) while it was refreshed; the tokens the provider issued
    /// meanwhile, if it did, were never stored and should be revoked.
    EndedMeanwhile(Option<SessionData>),
}

/// The provider's renewal of a session's tokens (its token endpoint, with the session's
/// refresh token): the flows' business, handed to [`SessionBackend::refresh`].
pub(crate) type Renew<'a> =
    dyn Fn(SessionData) -> BoxFuture<'a, Result<SessionData, OidcError>> + Send + Sync + 'a;

/// How long an instance holds the refresh lock of a session at least; with a slow provider
/// longer (see `refresh_lock_for`).
const REFRESH_LOCK: Duration = Duration::from_secs(15);

/// How often a waiting instance looks for the session another instance refreshes.
const REFRESH_POLL: Duration = Duration::from_millis(50);

impl SessionBackend {
    /// Whether [`load_from_cookie`](Self::load_from_cookie) reads sessions: with the cookie
    /// store, while this process has marked no session ended (the common case: no future
    /// to allocate).
    pub(crate) fn reads_cookie_alone(&self) -> bool {
        match self {
            SessionBackend::Cookie(marks) => marks.none(),
            SessionBackend::Stored(_) => false,
        }
    }

    /// The session from the request's cookie alone; only when
    /// [`reads_cookie_alone`](Self::reads_cookie_alone) says so (else [`load`](Self::load)).
    pub(crate) fn load_from_cookie(&self, scope: SessionScope<'_>, jar: &CookieJar<'_>) -> Loaded {
        let stored = scope.cipher.read_session(jar, scope.cookie);
        Loaded {
            session: stored.data,
            chunks: stored.chunks,
        }
    }

    /// Reads the request's session (from its cookies, and the store).
    ///
    /// A cookie that does not open, a session the store no longer has, or one marked as
    /// ended is no session; a store that fails is an error (503), never "not logged in",
    /// which would send every user to the provider during an outage.
    pub(crate) async fn load(
        &self,
        scope: SessionScope<'_>,
        jar: &CookieJar<'_>,
    ) -> Result<Loaded, OidcError> {
        match self {
            SessionBackend::Cookie(marks) => {
                let stored = scope.cipher.read_session(jar, scope.cookie);
                let session = match stored.data {
                    Some(session)
                        if !marks.none() && marks.ended(scope.provider, &session).await? =>
                    {
                        None
                    }
                    other => other,
                };
                Ok(Loaded {
                    session,
                    chunks: stored.chunks,
                })
            }
            SessionBackend::Stored(store) => {
                let Some(cookie) = jar.get(scope.cookie) else {
                    return Ok(Loaded {
                        session: None,
                        chunks: 0,
                    });
                };
                let Some(id) = scope
                    .cipher
                    .open(scope.cookie, cookie.value())
                    .filter(|id| is_session_id(id))
                else {
                    return Ok(Loaded {
                        session: None,
                        chunks: 1,
                    });
                };
                Ok(Loaded {
                    session: stored(&**store, scope, &id).await?,
                    chunks: 1,
                })
            }
        }
    }

    /// Whether the store that holds the sessions (or the marks of ended cookie sessions)
    /// answers: one read of a key that is never written. Cookie sessions with their marks
    /// in this process always do.
    pub(crate) async fn answers(&self) -> Result<(), OidcError> {
        const PROBE: &str = "oidc-readiness-probe";
        match self {
            SessionBackend::Stored(store) => store.load(PROBE).await.map(drop),
            SessionBackend::Cookie(marks) => marks.store().get_value(PROBE).await.map(drop),
        }
        .map_err(store_failed)
    }

    /// Stores a session that a login just created: a new id (never the one the browser had:
    /// no session fixation), the data in the cookie or the store. A session the browser
    /// held before is ended.
    pub(crate) async fn save_new(
        &self,
        scope: SessionScope<'_>,
        session: &SessionData,
        jar: &CookieJar<'_>,
        out: &CookieQueue,
    ) -> Result<(), OidcError> {
        match self {
            SessionBackend::Cookie(marks) => {
                let previous = scope.cipher.read_session(jar, scope.cookie);
                let (cookies, _) =
                    scope
                        .cookies
                        .session(scope.cipher, scope.cookie, session, previous.chunks)?;
                out.extend(cookies);
                // The session this login replaces ends (a copy of its cookie is refused too),
                // unless its lifetime or idle timeout ended it already (its times are sealed
                // in the cookie: nothing brings it back, and no mark is spent on it).
                let now = now();
                if let Some(previous) = previous
                    .data
                    .filter(|p| p.id() != session.id() && lives_until(scope.config, p) > now)
                {
                    let ended = Ended::Session(&previous);
                    match marks.mark(scope.config, scope.provider, ended).await {
                        Ok(_) => telemetry::session_ended(scope.provider, EndReason::Replaced, 1),
                        Err(err) => {
                            log::warn!("oidc: could not end the session this login replaced: {err}")
                        }
                    }
                }
            }
            SessionBackend::Stored(store) => {
                let previous = jar
                    .get(scope.cookie)
                    .and_then(|cookie| scope.cipher.open(scope.cookie, cookie.value()))
                    .filter(|id| is_session_id(id) && id != session.id());
                let record = record_of(scope, session);
                let ttl = remaining(scope.config, session, now());
                store
                    .save(session.id(), &record, ttl)
                    .await
                    .map_err(store_failed)?;
                if let Some(previous) = previous {
                    match store.delete(&previous).await {
                        Ok(()) => telemetry::session_ended(scope.provider, EndReason::Replaced, 1),
                        Err(err) => log::warn!(
                            "oidc: could not delete the session this login replaced: {err}"
                        ),
                    }
                }
                out.push(
                    scope
                        .cookies
                        .session_id(scope.cipher, scope.cookie, session.id()),
                );
            }
        }
        Ok(())
    }

    /// Writes back `session`, a newer version of `previous` (same id): into the cookie, or
    /// into the store only if the stored session is still `previous`, so that a session a
    /// logout deleted meanwhile stays deleted and a concurrent refresh's tokens are never
    /// overwritten with older ones. Returns how many cookies it takes now, or `None` when
    /// the stored session changed or ended first (nothing was written).
    pub(crate) async fn write_back(
        &self,
        scope: SessionScope<'_>,
        previous: &SessionData,
        session: &SessionData,
        chunks: usize,
        out: &CookieQueue,
    ) -> Result<Option<usize>, OidcError> {
        match self {
            SessionBackend::Cookie(_) => {
                let (cookies, chunks) =
                    scope
                        .cookies
                        .session(scope.cipher, scope.cookie, session, chunks)?;
                out.extend(cookies);
                Ok(Some(chunks))
            }
            SessionBackend::Stored(store) => {
                let replaced = store
                    .replace(
                        session.id(),
                        &record_of(scope, previous),
                        &record_of(scope, session),
                        remaining(scope.config, session, now()),
                    )
                    .await
                    .map_err(store_failed)?;
                Ok(replaced.then_some(chunks))
            }
        }
    }

    /// Renews `session`'s tokens with `renew` (the provider's token endpoint) and stores
    /// the result (`force`: even when another request renewed them meanwhile).
    ///
    /// In a store, one refresh runs per session across every instance: the instance that
    /// takes the session's lock in `values` renews and saves; the others wait for the stored
    /// session to change and use it, so a rotating refresh token is spent once. With cookie
    /// sessions, `renew` itself keeps one refresh per refresh token in this process.
    #[allow(clippy::too_many_arguments, reason = "one refresh's whole context")]
    pub(crate) async fn refresh(
        &self,
        scope: SessionScope<'_>,
        values: &dyn ValueStore,
        session: &SessionData,
        chunks: usize,
        force: bool,
        out: &CookieQueue,
        renew: &Renew<'_>,
    ) -> Result<Refreshed, OidcError> {
        let now = now();
        let SessionBackend::Stored(store) = self else {
            let tokens = renew(session.clone()).await?;
            let refreshed = SessionData::new(NewSession {
                last_seen: now,
                ..tokens.fields()
            });
            let chunks = self
                .write_back(scope, session, &refreshed, chunks, out)
                .await?
                .unwrap_or(chunks);
            return Ok(Refreshed::Session(refreshed, chunks));
        };
        let store = &**store;
        let lock_for = refresh_lock_for(scope.config);
        let deadline = tokio::time::Instant::now() + lock_for;
        let key = format!("refresh:{}", session.id());
        loop {
            if let Some(lock) = StoreLock::try_take(values, &key, "refresh", lock_for)
                .await
                .map_err(store_failed)?
            {
                let outcome =
                    refresh_holding_lock(scope, store, session, chunks, force, now, renew).await;
                lock.release(values).await;
                return outcome;
            }
            // Another instance is refreshing: wait for its result in the store.
            tokio::time::sleep(REFRESH_POLL).await;
            match stored(store, scope, session.id()).await? {
                Some(current) if current.access_token() != session.access_token() => {
                    return Ok(Refreshed::Session(current, chunks));
                }
                Some(_) => {}
                None => return Ok(Refreshed::EndedMeanwhile(None)),
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

    /// Ends a session: its cookies go, and on the server the store forgets it, or (cookie
    /// sessions) its id is marked as ended, so a copy of the cookie is refused too.
    pub(crate) async fn end(
        &self,
        scope: SessionScope<'_>,
        session: Option<&SessionData>,
        chunks: usize,
        out: &CookieQueue,
    ) -> Result<(), OidcError> {
        out.extend(scope.cookies.remove_session(scope.cookie, chunks));
        let Some(session) = session else {
            return Ok(());
        };
        match self {
            SessionBackend::Cookie(marks) => {
                marks
                    .mark(scope.config, scope.provider, Ended::Session(session))
                    .await
            }
            SessionBackend::Stored(store) => store.delete(session.id()).await.map_err(store_failed),
        }
    }

    /// Ends the sessions of `provider` that a back-channel logout names: those of one
    /// provider session, or every session of a user, made up to the logout.
    pub(crate) async fn end_by_index(
        &self,
        config: &Config,
        provider: &str,
        ended: Ended<'_>,
    ) -> Result<EndedSessions, OidcError> {
        match self {
            SessionBackend::Stored(store) => {
                let index = match ended {
                    Ended::ProviderSession { sid, .. } => SessionIndex::Sid { provider, sid },
                    Ended::User { subject, .. } => SessionIndex::Subject { provider, subject },
                    Ended::Session(session) => {
                        store.delete(session.id()).await.map_err(store_failed)?;
                        return Ok(EndedSessions::Deleted(1));
                    }
                };
                let deleted = store.delete_by_index(index).await.map_err(store_failed)?;
                Ok(EndedSessions::Deleted(deleted))
            }
            SessionBackend::Cookie(marks) => {
                marks.mark(config, provider, ended).await?;
                Ok(EndedSessions::Marked)
            }
        }
    }
}

/// The refresh itself, lock held: the stored session may have been refreshed since this
/// request read it (then that one is used, unless `force`).
async fn refresh_holding_lock(
    scope: SessionScope<'_>,
    store: &dyn SessionStore,
    session: &SessionData,
    chunks: usize,
    force: bool,
    now: i64,
    renew: &Renew<'_>,
) -> Result<Refreshed, OidcError> {
    let Some(mut current) = stored(store, scope, session.id()).await? else {
        return Ok(Refreshed::EndedMeanwhile(None));
    };
    if current.access_token() != session.access_token() && !force {
        return Ok(Refreshed::Session(current, chunks));
    }
    let tokens = renew(current.clone()).await?;
    // Only a request that read the session before this lock (a write-back of its activity)
    // can change it now: then the new tokens go over its version. A logout wins.
    for _ in 0..3 {
        let refreshed = SessionData::new(NewSession {
            last_seen: now.max(current.last_seen),
            ..tokens.fields()
        });
        let replaced = store
            .replace(
                session.id(),
                &record_of(scope, &current),
                &record_of(scope, &refreshed),
                remaining(scope.config, &refreshed, now),
            )
            .await
            .map_err(store_failed)?;
        if replaced {
            return Ok(Refreshed::Session(refreshed, chunks));
        }
        match stored(store, scope, session.id()).await? {
            Some(newer) => current = newer,
            None => return Ok(Refreshed::EndedMeanwhile(Some(tokens))),
        }
    }
    Err(OidcError::new(
        ErrorKind::StoreUnavailable,
        Status::ServiceUnavailable,
        "session_store_unavailable",
        "the stored session kept changing while its tokens were refreshed",
    ))
}

/// How long the refresh lock is held: longer than a refresh can take (the token request,
/// a JWKS refetch and UserInfo, each up to `http_timeout`), so it never expires under a
/// running refresh.
fn refresh_lock_for(config: &Config) -> Duration {
    REFRESH_LOCK
        .max(
            config
                .http_timeout
                .saturating_mul(3)
                .saturating_add(Duration::from_secs(5)),
        )
        .min(Duration::from_secs(3600))
}

/// The session of the scope's provider stored under `id` now. A record that does not open
/// (moved from another id, written without the key, or kept in clear by an older version)
/// is no session, and a warning.
async fn stored(
    store: &dyn SessionStore,
    scope: SessionScope<'_>,
    id: &str,
) -> Result<Option<SessionData>, OidcError> {
    let Some(record) = store.load(id).await.map_err(store_failed)? else {
        return Ok(None);
    };
    if record.provider != scope.provider {
        return Ok(None);
    }
    let session = scope
        .cipher
        .open_record(scope.provider, id, &record.data)
        .and_then(|text| SessionData::from_text(&text))
        // The index fields, kept in clear, must say what the sealed session says: a record
        // whose clear fields were edited would escape a back-channel logout.
        .filter(|session| {
            session.id() == id
                && session.subject() == record.subject
                && session.sid() == record.sid.as_deref()
        });
    if session.is_none() {
        log::warn!(
            "oidc: a stored session of provider {:?} does not open (not sealed for this id \
             with this secret_key): treated as no session",
            scope.provider
        );
    }
    Ok(session)
}

/// How a store keeps `session`: sealed, with what its indexes need in clear.
fn record_of(scope: SessionScope<'_>, session: &SessionData) -> SessionRecord {
    SessionRecord::new(
        scope.provider.to_string(),
        session.subject().to_string(),
        session.sid().map(str::to_string),
        scope
            .cipher
            .seal_record(scope.provider, session.id(), &session.to_text()),
    )
}

/// How long `session` can live from `now`: until its idle timeout or its lifetime ends.
fn remaining(config: &Config, session: &SessionData, now: i64) -> Duration {
    let until = lives_until(config, session);
    Duration::from_secs(u64::try_from(until.saturating_sub(now)).unwrap_or(0).max(1))
}

/// When `session` ends by its idle timeout or its lifetime (Unix seconds).
fn lives_until(config: &Config, session: &SessionData) -> i64 {
    session
        .last_seen
        .saturating_add(config.session_idle_timeout)
        .min(
            session
                .authenticated_at
                .saturating_add(config.session_lifetime),
        )
}

fn is_session_id(id: &str) -> bool {
    id.len() == RANDOM_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
