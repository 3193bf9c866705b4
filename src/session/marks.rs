//! The marks that end cookie sessions on the server. A cookie session cannot be deleted
//! (a copy of its cookie would still open), so a logout leaves a mark that every request
//! checks: one record per user (provider and `sub`), bounded, so that no account, however
//! often it logs in and out, can fill the store the marks live in.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rocket::futures::future::try_join;

use super::failure::store_failed;
use super::SessionData;
use crate::config::Config;
use crate::error::OidcError;
use crate::protocol::time::now;
use crate::store::{digest, MemoryStore, SetMode, StoreLock, ValueStore};

/// Where the marks of ended cookie sessions live.
#[derive(Debug)]
pub(crate) enum Marks {
    /// In this process: while it holds no mark, no request looks.
    Local(Arc<MemoryStore>),
    /// In a store every instance shares (Redis).
    Shared(Arc<dyn ValueStore>),
}

/// What a logout ends.
#[derive(Clone, Copy)]
pub(crate) enum Ended<'a> {
    /// One session, by the logout route or a login that replaced it.
    Session(&'a SessionData),
    /// The sessions of one provider session (a back-channel logout with a `sid`), made up
    /// to `at`; `subject` when the logout token named it too.
    ProviderSession {
        sid: &'a str,
        subject: Option<&'a str>,
        at: i64,
    },
    /// Every session of a user made up to `at` (a back-channel logout with only a `sub`).
    User { subject: &'a str, at: i64 },
}

/// Most sessions and provider sessions one user's record names; past it, the oldest one
/// named is folded into the record's "every session made up to T" mark. A user who ends
/// more sessions than this within one `session_lifetime` has their older sessions ended too
/// (never a session made after the newest folded one).
pub(crate) const MARKS_PER_USER: usize = 16;

/// How long a writer waits for another's update of the same user's record.
const UPDATE_WAIT: Duration = Duration::from_secs(3);

/// How long the lock of a user's record is held at most. An update that took longer than
/// [`UPDATE_DEADLINE`] between taking the lock and writing gives up (503) instead of
/// writing: with the lock held this much longer than that, a writer that stalled (a slow
/// store) never overwrites a record another writer updated after its lock expired.
const LOCK_TTL: Duration = Duration::from_secs(30);
const UPDATE_DEADLINE: Duration = Duration::from_secs(10);

impl Marks {
    /// The store that holds them.
    pub(crate) fn store(&self) -> Arc<dyn ValueStore> {
        match self {
            Marks::Local(store) => store.clone(),
            Marks::Shared(store) => store.clone(),
        }
    }

    fn values(&self) -> &dyn ValueStore {
        match self {
            Marks::Local(store) => &**store,
            Marks::Shared(store) => &**store,
        }
    }

    /// Whether no session can be marked ended: this process's own mark store holds
    /// nothing (or every mark expired). Shared marks are always looked up.
    pub(crate) fn none(&self) -> bool {
        match self {
            Marks::Local(store) => store.holds_no_values(),
            Marks::Shared(_) => false,
        }
    }

    /// Marks what a logout ended, for as long as a session it ends could live.
    pub(crate) async fn mark(
        &self,
        config: &Config,
        provider: &str,
        ended: Ended<'_>,
    ) -> Result<(), OidcError> {
        let (subject, entry) = match ended {
            Ended::Session(session) => (
                session.subject(),
                Entry::Session {
                    id: session.id().to_string(),
                    at: session.authenticated_at,
                },
            ),
            Ended::ProviderSession {
                sid,
                subject: Some(subject),
                at,
            } => (
                subject,
                Entry::ProviderSession {
                    sid: digest(provider, sid),
                    at,
                },
            ),
            Ended::ProviderSession {
                sid,
                subject: None,
                at,
            } => {
                // No user to file it under: a mark of its own (the provider signed the
                // logout token; it is not something a user can repeat at will).
                return self
                    .values()
                    .set_value(
                        &sid_key(provider, sid),
                        &at.to_string(),
                        lifetime(config),
                        SetMode::Always,
                    )
                    .await
                    .map(drop)
                    .map_err(store_failed);
            }
            Ended::User { subject, at } => (subject, Entry::Before(at)),
        };
        self.update(config, provider, subject, entry).await
    }

    /// Adds `entry` to the user's record, under the record's lock (instances may end two
    /// sessions of one user at once).
    async fn update(
        &self,
        config: &Config,
        provider: &str,
        subject: &str,
        entry: Entry,
    ) -> Result<(), OidcError> {
        let values = self.values();
        let key = user_key(provider, subject);
        let lock_key = format!("lock:{key}");
        let deadline = tokio::time::Instant::now() + UPDATE_WAIT;
        loop {
            let lock = StoreLock::try_take(values, &lock_key, "logout mark", LOCK_TTL)
                .await
                .map_err(store_failed)?;
            if let Some(lock) = lock {
                let taken = tokio::time::Instant::now();
                let outcome = async {
                    let text = values.get_value(&key).await.map_err(store_failed)?;
                    let now = now();
                    let mut record = text
                        .as_deref()
                        .map(|text| UserMarks::parse(text, now))
                        .unwrap_or_default();
                    // What no session can outlive goes (on any instance's clock).
                    let cutoff = now
                        .saturating_sub(config.session_lifetime)
                        .saturating_sub(config.clock_skew);
                    record.forget_before(cutoff);
                    record.add(entry);
                    if taken.elapsed() > UPDATE_DEADLINE {
                        return Err(store_failed(crate::store::StoreError::new(
                            "reading a user's logout marks took too long to write them safely",
                            None,
                        )));
                    }
                    values
                        .set_value(&key, &record.to_text(), lifetime(config), SetMode::Always)
                        .await
                        .map(drop)
                        .map_err(store_failed)
                }
                .await;
                lock.release(values).await;
                return outcome;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(store_failed(crate::store::StoreError::new(
                    "another request held the lock of a user's logout marks too long",
                    None,
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether a cookie session was ended on the server: by a logout (its id), or by a
    /// back-channel logout (its provider session, or every session of its user up to then).
    pub(crate) async fn ended(
        &self,
        provider: &str,
        session: &SessionData,
    ) -> Result<bool, OidcError> {
        let values = self.values();
        let by_user = user_key(provider, session.subject());
        let by_sid = session.sid().map(|sid| sid_key(provider, sid));
        // Concurrently: with the marks in Redis, one round trip's latency instead of two.
        let (record, sid_ended) = try_join(values.get_value(&by_user), async {
            match &by_sid {
                Some(key) => values.get_value(key).await,
                None => Ok(None),
            }
        })
        .await
        .map_err(store_failed)?;
        let sid_ended = sid_ended
            .and_then(|at| at.parse::<i64>().ok())
            .is_some_and(|at| session.authenticated_at <= at);
        Ok(sid_ended
            || record.is_some_and(|text| {
                let sid = session.sid().map(|sid| digest(provider, sid));
                record_ends(&text, now(), session, sid.as_deref())
            }))
    }
}

/// One thing a user's record ends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// The session `id`, logged in at `at`.
    Session { id: String, at: i64 },
    /// The sessions of the provider session whose digest is `sid`, logged in up to `at`.
    ProviderSession { sid: String, at: i64 },
    /// Every session logged in up to this time.
    Before(i64),
}

/// A user's record: every session made up to `before`, and the sessions and provider
/// sessions named (oldest first, at most [`MARKS_PER_USER`]).
#[derive(Debug, Default, PartialEq, Eq)]
struct UserMarks {
    before: Option<i64>,
    named: VecDeque<Entry>,
}

impl UserMarks {
    /// Reads a record at `now`. One that does not read (written by another version,
    /// damaged) ends every session of the user logged in up to `now`: a logout is never
    /// forgotten by a parse error, and the user can log in again.
    fn parse(text: &str, now: i64) -> UserMarks {
        let mut parts = text.split(' ');
        let read = (|| {
            let mut marks = UserMarks::default();
            if parts.next()? != "v1" {
                return None;
            }
            marks.before = match parts.next()? {
                "-" => None,
                at => Some(at.parse().ok()?),
            };
            for part in parts {
                let mut fields = part.splitn(3, ':');
                let (kind, name, at) = (fields.next()?, fields.next()?, fields.next()?);
                let at = at.parse().ok()?;
                marks.named.push_back(match kind {
                    "i" => Entry::Session {
                        id: name.into(),
                        at,
                    },
                    "s" => Entry::ProviderSession {
                        sid: name.into(),
                        at,
                    },
                    _ => return None,
                });
            }
            Some(marks)
        })();
        read.unwrap_or_else(|| {
            log::warn!("oidc: a user's logout marks do not read; ending all of their sessions");
            UserMarks {
                before: Some(now),
                named: VecDeque::new(),
            }
        })
    }

    fn to_text(&self) -> String {
        let mut text = match self.before {
            Some(at) => format!("v1 {at}"),
            None => "v1 -".to_string(),
        };
        for entry in &self.named {
            match entry {
                Entry::Session { id, at } => text.push_str(&format!(" i:{id}:{at}")),
                Entry::ProviderSession { sid, at } => text.push_str(&format!(" s:{sid}:{at}")),
                Entry::Before(_) => {}
            }
        }
        text
    }

    fn add(&mut self, entry: Entry) {
        match entry {
            Entry::Before(at) => self.before = self.before.max(Some(at)),
            Entry::Session { at, .. } | Entry::ProviderSession { at, .. }
                if self.before.is_some_and(|before| at <= before) => {}
            named => {
                if !self.named.contains(&named) {
                    self.named.push_back(named);
                }
            }
        }
        while self.named.len() > MARKS_PER_USER {
            if let Some(Entry::Session { at, .. } | Entry::ProviderSession { at, .. }) =
                self.named.pop_front()
            {
                self.before = self.before.max(Some(at));
            }
        }
        // Named sessions the fold already covers need no entry of their own.
        let before = self.before;
        self.named.retain(|entry| match entry {
            Entry::Session { at, .. } | Entry::ProviderSession { at, .. } => {
                before.is_none_or(|before| *at > before)
            }
            Entry::Before(_) => false,
        });
    }

    /// Drops what ends only sessions logged in before `cutoff` (they ended by their
    /// lifetime anyway).
    fn forget_before(&mut self, cutoff: i64) {
        if self.before.is_some_and(|before| before < cutoff) {
            self.before = None;
        }
        self.named.retain(|entry| match entry {
            Entry::Session { at, .. } | Entry::ProviderSession { at, .. } => *at >= cutoff,
            Entry::Before(_) => false,
        });
    }
}

/// Whether a user's record `text` ends `session` (whose provider `sid` digest is `sid`),
/// read as [`UserMarks::parse`] reads it but without building it: every request of a user
/// who has logged out somewhere reads the record. One that does not read ends the sessions
/// logged in up to `now`, as `parse` says.
fn record_ends(text: &str, now: i64, session: &SessionData, sid: Option<&str>) -> bool {
    let at = session.authenticated_at;
    let damaged = at <= now;
    let mut parts = text.split(' ');
    if parts.next() != Some("v1") {
        return damaged;
    }
    let before_ends = match parts.next() {
        Some("-") => false,
        Some(before) => match before.parse::<i64>() {
            Ok(before) => at <= before,
            Err(_) => return damaged,
        },
        None => return damaged,
    };
    let mut ended = before_ends;
    for part in parts {
        let mut fields = part.splitn(3, ':');
        let (Some(kind), Some(name), Some(Ok(when))) = (
            fields.next(),
            fields.next(),
            fields.next().map(str::parse::<i64>),
        ) else {
            return damaged;
        };
        ended |= match kind {
            "i" => name == session.id(),
            "s" => sid == Some(name) && at <= when,
            _ => return damaged,
        };
    }
    ended
}

/// How long a mark is kept: longer than any session it could end can live.
fn lifetime(config: &Config) -> Duration {
    Duration::from_secs(
        u64::try_from(config.session_lifetime.saturating_add(config.clock_skew)).unwrap_or(1),
    )
}

fn sid_key(provider: &str, sid: &str) -> String {
    format!("ended-sid:{}", digest(provider, sid))
}

fn user_key(provider: &str, subject: &str) -> String {
    format!("ended-user:{}", digest(provider, subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i64) -> Entry {
        Entry::Session {
            id: format!("id{n}"),
            at: 1_000 + n,
        }
    }

    #[test]
    fn a_record_reads_back_as_written_and_a_damaged_one_ends_everything() {
        let mut marks = UserMarks::default();
        marks.add(entry(1));
        marks.add(Entry::ProviderSession {
            sid: "abc".into(),
            at: 1_005,
        });
        assert_eq!(UserMarks::parse(&marks.to_text(), 2_000), marks);
        marks.add(Entry::Before(999));
        assert_eq!(UserMarks::parse(&marks.to_text(), 2_000), marks);
        for damaged in ["", "v2 -", "v1 x", "v1 - q:a:1", "v1 - i:a", "v1 - i:a:x"] {
            let read = UserMarks::parse(damaged, 2_000);
            assert_eq!(read.before, Some(2_000), "{damaged}: ends what exists now");
            assert!(read.named.is_empty());
        }
    }

    #[test]
    fn a_record_holds_a_bounded_number_of_names_and_folds_the_oldest() {
        let mut marks = UserMarks::default();
        for n in 0..1_000 {
            marks.add(entry(n));
        }
        assert_eq!(marks.named.len(), MARKS_PER_USER);
        assert_eq!(
            marks.before,
            Some(1_000 + 1_000 - MARKS_PER_USER as i64 - 1)
        );
        assert!(marks.to_text().len() < 2_000, "{}", marks.to_text().len());
        marks.add(entry(5));
        assert_eq!(marks.named.len(), MARKS_PER_USER, "covered by the fold");
    }

    #[test]
    fn a_record_ends_the_sessions_it_names_and_those_before_its_time() {
        let session =
            SessionData::for_tests("alice", "at", None, None, "e30.e30.c2ln", None, 1_000);
        let ends = |marks: &UserMarks, sid: Option<&str>| {
            record_ends(&marks.to_text(), 2_000, &session, sid)
        };
        let mut marks = UserMarks::default();
        marks.add(entry(7));
        assert!(!ends(&marks, None), "another session named");
        marks.add(Entry::Session {
            id: session.id().into(),
            at: 1_000,
        });
        assert!(ends(&marks, None), "this session named");
        let mut marks = UserMarks::default();
        marks.add(Entry::ProviderSession {
            sid: "d".into(),
            at: 1_000,
        });
        assert!(ends(&marks, Some("d")) && !ends(&marks, Some("e")) && !ends(&marks, None));
        marks.add(Entry::Before(999));
        assert!(!ends(&marks, None), "logged in after T");
        marks.add(Entry::Before(1_000));
        assert!(ends(&marks, None), "logged in up to T");
        for damaged in ["", "v2 -", "v1 x", "v1 - q:a:1", "v1 - i:a", "v1 - i:a:x"] {
            assert!(record_ends(damaged, 2_000, &session, None), "{damaged}");
            assert!(
                !record_ends(damaged, 999, &session, None),
                "{damaged}: not later logins"
            );
        }
    }

    #[test]
    fn old_marks_are_forgotten_once_no_session_they_end_can_live() {
        let mut marks = UserMarks::default();
        marks.add(entry(1));
        marks.add(entry(50));
        marks.add(Entry::Before(1_010));
        marks.forget_before(1_020);
        assert_eq!(marks.before, None);
        assert_eq!(marks.named, VecDeque::from([entry(50)]));
    }
}
