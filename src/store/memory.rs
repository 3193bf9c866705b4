//! The in-process store: sessions and values in this process's memory, bounded.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use super::{SessionIndex, SessionRecord, SessionStore, SetMode, StoreError, ValueStore};

/// Sessions kept in this process's memory: for tests, small apps and a single instance.
///
/// Everything it holds expires with its `ttl`, and it holds at most `capacity` entries
/// (sessions and values together).
///
/// One user (a provider's subject) holds at most 16 live sessions, or what [`with_sessions_per_subject`](Self::with_sessions_per_subject) sets: a login
/// beyond that first ends that user's own session closest to expiry. Saving a session again
/// under its id is no new session.
///
/// When full, the store first drops what expired, then ends sessions, with a warning in the
/// log: one at a time from the user who holds the most sessions, that user's session closest
/// to expiry first (between users holding as many, the session closest to expiry), an eighth
/// of `capacity` at once. So a user who logs in over and over ends their own sessions, not
/// other users'. Values (the marks that make a logout bite, replay caches, locks) are never
/// dropped early; a store full of them refuses new writes (503) rather than forget a logout.
/// Size it for your sessions plus, with the cookie store, one mark per user who logged out
/// within one `session_lifetime`. Sessions end when the process restarts, and instances never see each
/// other's sessions: run several instances on Redis instead.
///
/// ```
/// use rocket_oidc_auth::store::MemoryStore;
/// use rocket_oidc_auth::OidcFairing;
///
/// let store = MemoryStore::new(100_000).with_sessions_per_subject(8);
/// let fairing = OidcFairing::from_config().with_store(store);
/// # drop(fairing);
/// ```
pub struct MemoryStore {
    capacity: usize,
    /// The most live sessions one `(provider, subject)` holds (at least 1).
    per_subject: usize,
    inner: Mutex<Inner>,
    /// Whether any value is held (updated under the lock): with none, the cookie store's
    /// check for ended-session marks needs no lookup at all.
    has_values: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, (SessionRecord, Instant)>,
    indexes: HashMap<IndexKey, HashSet<String>>,
    values: HashMap<String, (String, Instant)>,
}

#[derive(Hash, PartialEq, Eq)]
enum IndexKey {
    Sid(String, String),
    Subject(String, String),
}

impl IndexKey {
    fn of(index: SessionIndex<'_>) -> Self {
        match index {
            SessionIndex::Sid { provider, sid } => IndexKey::Sid(provider.into(), sid.into()),
            SessionIndex::Subject { provider, subject } => {
                IndexKey::Subject(provider.into(), subject.into())
            }
        }
    }

    fn all(record: &SessionRecord) -> Vec<IndexKey> {
        let mut keys = vec![IndexKey::Subject(
            record.provider.clone(),
            record.subject.clone(),
        )];
        if let Some(sid) = &record.sid {
            keys.push(IndexKey::Sid(record.provider.clone(), sid.clone()));
        }
        keys
    }
}

/// When an entry written at `now` for `ttl` expires; a century at most (no overflow).
fn until(now: Instant, ttl: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(ttl.min(CENTURY))
        .unwrap_or(now + Duration::from_secs(365 * 24 * 3600))
}

impl MemoryStore {
    /// The most live sessions one user (a provider's subject) holds unless
    /// [`with_sessions_per_subject`](Self::with_sessions_per_subject) sets another number.
    const DEFAULT_SESSIONS_PER_SUBJECT: usize =
        crate::config::defaults::MEMORY_SESSIONS_PER_SUBJECT;

    /// Whether the store holds no value at all (no mark, lock or replay entry), without
    /// taking its lock.
    pub(crate) fn holds_no_values(&self) -> bool {
        !self.has_values.load(std::sync::atomic::Ordering::Acquire)
    }

    fn note_values(&self, inner: &Inner) {
        self.has_values.store(
            !inner.values.is_empty(),
            std::sync::atomic::Ordering::Release,
        );
    }

    /// A store holding at most `capacity` entries (at least 16), and at most 16 live
    /// sessions of one user.
    pub fn new(capacity: usize) -> Self {
        MemoryStore {
            capacity: capacity.max(16),
            per_subject: Self::DEFAULT_SESSIONS_PER_SUBJECT,
            inner: Mutex::new(Inner::default()),
            has_values: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// At most `n` live sessions of one user (a provider's subject; at least 1): a login
    /// beyond that first ends that user's session closest to expiry.
    pub fn with_sessions_per_subject(mut self, n: usize) -> Self {
        self.per_subject = n.max(1);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for MemoryStore {
    /// A store for 100,000 entries.
    fn default() -> Self {
        MemoryStore::new(100_000)
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("capacity", &self.capacity)
            .field("sessions_per_subject", &self.per_subject)
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn len(&self) -> usize {
        self.sessions.len() + self.values.len()
    }

    fn remove_session(&mut self, id: &str) -> bool {
        let Some((record, _)) = self.sessions.remove(id) else {
            return false;
        };
        for key in IndexKey::all(&record) {
            if let Some(ids) = self.indexes.get_mut(&key) {
                ids.remove(id);
                if ids.is_empty() {
                    self.indexes.remove(&key);
                }
            }
        }
        true
    }

    /// Makes room for one more session of `key` (a subject holding at most `per_subject`):
    /// drops the subject's expired sessions, then, if it still holds `per_subject` or more,
    /// its sessions closest to expiry. Returns how many live sessions it ended.
    fn cap_subject(&mut self, key: &IndexKey, per_subject: usize, now: Instant) -> usize {
        match self.indexes.get(key) {
            Some(ids) if ids.len() >= per_subject => {}
            _ => return 0,
        }
        let ids: Vec<String> = self.indexes[key].iter().cloned().collect();
        let mut live: Vec<(Instant, String)> = Vec::with_capacity(ids.len());
        for id in ids {
            match self.sessions.get(&id) {
                Some((_, until)) if *until > now => live.push((*until, id)),
                Some(_) => {
                    self.remove_session(&id);
                }
                // Indexed but not held (never so: a removed session leaves its indexes).
                None => {
                    if let Some(ids) = self.indexes.get_mut(key) {
                        ids.remove(&id);
                        if ids.is_empty() {
                            self.indexes.remove(key);
                        }
                    }
                }
            }
        }
        if live.len() < per_subject {
            return 0;
        }
        live.sort_unstable();
        let drop = live.len() + 1 - per_subject;
        for (_, id) in live.into_iter().take(drop) {
            self.remove_session(&id);
        }
        drop
    }

    /// Makes room for one more entry: drops what expired, then, if still full, an eighth of
    /// `capacity` of the sessions, one at a time from the subject holding the most (the one
    /// whose next session is closest to expiry between subjects holding as many), its
    /// session closest to expiry first (their users log in again). Values (the marks of
    /// ended sessions, replay caches, locks) are never dropped early: dropping one would
    /// bring a logged-out session back. A store full of live values refuses the write.
    fn make_room(&mut self, capacity: usize, now: Instant) -> Result<(), StoreError> {
        if self.len() < capacity {
            return Ok(());
        }
        let expired: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, (_, until))| *until <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.remove_session(&id);
        }
        self.values.retain(|_, (_, until)| *until > now);
        if self.len() < capacity {
            return Ok(());
        }
        if self.sessions.is_empty() {
            return Err(StoreError::new(
                format!(
                    "the memory store is full ({capacity} entries) of marks that must not be \
                     dropped early (ended sessions, replayed tokens); raise \
                     oidc.session.memory.capacity or use Redis"
                ),
                None,
            ));
        }
        let drop = (capacity / 8).clamp(1, self.sessions.len());
        // Each subject's sessions, the one closest to expiry last (popped first).
        let mut subjects: Vec<Vec<(Instant, &String)>> = self
            .indexes
            .iter()
            .filter(|(key, _)| matches!(key, IndexKey::Subject(..)))
            .map(|(_, ids)| {
                let mut held: Vec<(Instant, &String)> = ids
                    .iter()
                    .filter_map(|id| self.sessions.get(id).map(|(_, until)| (*until, id)))
                    .collect();
                held.sort_unstable_by(|a, b| b.cmp(a));
                held
            })
            .filter(|held| !held.is_empty())
            .collect();
        // The subject holding the most first; between equals, the next session to expire.
        let mut heap: BinaryHeap<(usize, Reverse<Instant>, usize)> = subjects
            .iter()
            .enumerate()
            .map(|(n, held)| (held.len(), Reverse(held[held.len() - 1].0), n))
            .collect();
        let mut ended: Vec<String> = Vec::with_capacity(drop);
        while ended.len() < drop {
            let Some((_, _, n)) = heap.pop() else { break };
            let held = &mut subjects[n];
            if let Some((_, id)) = held.pop() {
                ended.push(id.clone());
            }
            if let Some((until, _)) = held.last() {
                heap.push((held.len(), Reverse(*until), n));
            }
        }
        log::warn!(
            "oidc: the memory session store is full ({capacity} entries): ending {} \
             sessions, of the users holding the most first; raise \
             oidc.session.memory.capacity or use Redis",
            ended.len()
        );
        for id in ended {
            self.remove_session(&id);
        }
        Ok(())
    }
}

#[rocket::async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.sessions.get(id) {
            Some((record, until)) if *until > now => Ok(Some(record.clone())),
            Some(_) => {
                inner.remove_session(id);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn save(
        &self,
        id: &str,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let existed = inner.remove_session(id);
        // Without `id` in it now: saving a session again is no new session of its subject.
        let subject = IndexKey::Subject(record.provider.clone(), record.subject.clone());
        let ended = inner.cap_subject(&subject, self.per_subject, now);
        if ended > 0 {
            log::info!(
                "oidc: a user of provider {:?} reached the memory store's limit of {} \
                 sessions: ending {ended} of their sessions, the closest to expiry",
                record.provider,
                self.per_subject
            );
        }
        if !existed {
            inner.make_room(self.capacity, now)?;
        }
        for key in IndexKey::all(record) {
            inner.indexes.entry(key).or_default().insert(id.to_string());
        }
        inner
            .sessions
            .insert(id.to_string(), (record.clone(), until(now, ttl)));
        Ok(())
    }

    async fn replace(
        &self,
        id: &str,
        previous: &SessionRecord,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.sessions.get_mut(id) {
            Some(entry) if entry.1 > now && entry.0 == *previous => {
                *entry = (record.clone(), until(now, ttl));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.lock().remove_session(id);
        Ok(())
    }

    async fn delete_by_index(&self, index: SessionIndex<'_>) -> Result<usize, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let ids = inner
            .indexes
            .remove(&IndexKey::of(index))
            .unwrap_or_default();
        let mut deleted = 0;
        for id in ids {
            let live = inner
                .sessions
                .get(&id)
                .is_some_and(|(_, until)| *until > now);
            if inner.remove_session(&id) && live {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    fn value_store(self: Arc<Self>) -> Option<Arc<dyn ValueStore>> {
        Some(self)
    }
}

#[rocket::async_trait]
impl ValueStore for MemoryStore {
    async fn set_value(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
        mode: SetMode,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        match inner.values.get(key) {
            Some((_, until)) if *until > now && mode == SetMode::IfAbsent => return Ok(false),
            Some(_) => {}
            None => inner.make_room(self.capacity, now)?,
        }
        inner
            .values
            .insert(key.to_string(), (value.to_string(), until(now, ttl)));
        self.note_values(&inner);
        Ok(true)
    }

    async fn get_value(&self, key: &str) -> Result<Option<String>, StoreError> {
        let now = Instant::now();
        let inner = self.lock();
        Ok(inner
            .values
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(value, _)| value.clone()))
    }

    async fn delete_value(&self, key: &str, only_if: Option<&str>) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let holds = inner
            .values
            .get(key)
            .is_some_and(|(held, until)| *until > now && only_if.is_none_or(|v| v == held));
        if holds || only_if.is_none() {
            inner.values.remove(key);
            self.note_values(&inner);
        }
        Ok(holds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rocket::async_test]
    async fn it_knows_when_it_holds_no_value() {
        let store = MemoryStore::new(100);
        assert!(store.holds_no_values());
        let ttl = Duration::from_secs(60);
        store
            .set_value("a", "1", ttl, SetMode::Always)
            .await
            .unwrap();
        assert!(!store.holds_no_values());
        store
            .set_value("b", "1", ttl, SetMode::Always)
            .await
            .unwrap();
        store.delete_value("a", None).await.unwrap();
        assert!(!store.holds_no_values(), "b is still there");
        assert!(!store.delete_value("b", Some("2")).await.unwrap());
        assert!(store.delete_value("b", Some("1")).await.unwrap());
        assert!(store.holds_no_values());
    }

    fn record(n: usize) -> SessionRecord {
        SessionRecord::new("p".into(), format!("user{n}"), None, "{}".into())
    }

    #[tokio::test]
    async fn replace_writes_only_over_the_expected_session() {
        let store = MemoryStore::new(16);
        let ttl = Duration::from_secs(60);
        let (old, new) = (record(1), record(2));
        assert!(
            !store.replace("s", &old, &new, ttl).await.unwrap(),
            "absent"
        );
        store.save("s", &old, ttl).await.unwrap();
        assert!(
            !store.replace("s", &new, &new, ttl).await.unwrap(),
            "changed"
        );
        assert!(store.replace("s", &old, &new, ttl).await.unwrap());
        assert_eq!(store.load("s").await.unwrap(), Some(new.clone()));
        store.delete("s").await.unwrap();
        assert!(
            !store.replace("s", &new, &old, ttl).await.unwrap(),
            "deleted stays deleted"
        );
        assert_eq!(store.load("s").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_full_store_drops_the_entries_closest_to_expiry() {
        let store = MemoryStore::new(16);
        for n in 0..16 {
            let ttl = Duration::from_secs(100 + n as u64);
            store.save(&format!("s{n}"), &record(n), ttl).await.unwrap();
        }
        store
            .save("new", &record(99), Duration::from_secs(1000))
            .await
            .unwrap();
        assert!(store.load("new").await.unwrap().is_some());
        assert!(
            store.load("s0").await.unwrap().is_none(),
            "closest to expiry"
        );
        assert!(store.load("s15").await.unwrap().is_some());
        assert!(store.lock().len() <= 16);
    }

    /// A session of provider `p`'s user `subject`.
    fn of(subject: &str) -> SessionRecord {
        SessionRecord::new("p".into(), subject.into(), None, "{}".into())
    }

    /// How many live sessions `subject` holds (deleting them).
    async fn held_by(store: &MemoryStore, subject: &str) -> usize {
        let index = SessionIndex::Subject {
            provider: "p",
            subject,
        };
        store.delete_by_index(index).await.unwrap()
    }

    #[tokio::test]
    async fn a_user_logging_in_over_and_over_ends_only_their_own_sessions() {
        let store = MemoryStore::new(64);
        for n in 0..40 {
            let ttl = Duration::from_secs(100 + n as u64);
            store
                .save(&format!("other{n}"), &of(&format!("other{n}")), ttl)
                .await
                .unwrap();
        }
        // Each login a new session, each expiring later than everyone else's.
        for n in 0..100 {
            let ttl = Duration::from_secs(1000 + n as u64);
            store
                .save(&format!("loop{n}"), &of("looper"), ttl)
                .await
                .unwrap();
        }
        for n in 0..40 {
            assert!(
                store.load(&format!("other{n}")).await.unwrap().is_some(),
                "other{n} was ended"
            );
        }
        assert!(store.load("loop99").await.unwrap().is_some(), "the newest");
        assert!(store.lock().len() <= 64);
        assert_eq!(held_by(&store, "looper").await, 16);
    }

    #[tokio::test]
    async fn a_login_beyond_the_cap_ends_that_users_session_closest_to_expiry() {
        let store = MemoryStore::new(1000);
        // Expired sessions of `a` count for nothing.
        for n in 0..4 {
            store
                .save(&format!("gone{n}"), &of("a"), Duration::from_millis(20))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        // `b`'s sessions expire before all of `a`'s.
        for n in 0..3 {
            let ttl = Duration::from_secs(10 + n);
            store.save(&format!("b{n}"), &of("b"), ttl).await.unwrap();
        }
        // 16 sessions of `a`; a5 is the one closest to expiry, not the first saved.
        let ttl = |n: u64| Duration::from_secs(1000 + (n + 11) % 16);
        for n in 0..16 {
            store
                .save(&format!("a{n}"), &of("a"), ttl(n))
                .await
                .unwrap();
        }
        for n in 0..16 {
            assert!(
                store.load(&format!("a{n}")).await.unwrap().is_some(),
                "a{n}"
            );
        }
        // Saving a session again is no new session.
        store.save("a5", &of("a"), ttl(5)).await.unwrap();
        for n in 0..16 {
            assert!(
                store.load(&format!("a{n}")).await.unwrap().is_some(),
                "a{n}"
            );
        }
        // The 17th ends a5.
        store.save("a16", &of("a"), ttl(16)).await.unwrap();
        assert!(
            store.load("a5").await.unwrap().is_none(),
            "closest to expiry"
        );
        for n in (0..17).filter(|n| *n != 5) {
            assert!(
                store.load(&format!("a{n}")).await.unwrap().is_some(),
                "a{n}"
            );
        }
        for n in 0..3 {
            assert!(
                store.load(&format!("b{n}")).await.unwrap().is_some(),
                "b{n}"
            );
        }
        assert_eq!(held_by(&store, "a").await, 16);
        assert_eq!(held_by(&store, "b").await, 3);
    }

    #[tokio::test]
    async fn a_full_store_ends_sessions_of_the_user_holding_the_most_first() {
        let store = MemoryStore::new(32);
        // `a`'s 10 sessions expire after the 22 other users'.
        for n in 0..10 {
            let ttl = Duration::from_secs(1000 + n as u64);
            store.save(&format!("a{n}"), &of("a"), ttl).await.unwrap();
        }
        for n in 0..22 {
            let ttl = Duration::from_secs(100 + n as u64);
            store
                .save(&format!("u{n}"), &of(&format!("u{n}")), ttl)
                .await
                .unwrap();
        }
        let r = of("new");
        store
            .save("new", &r, Duration::from_secs(50))
            .await
            .unwrap();
        assert_eq!(store.load("new").await.unwrap(), Some(r));
        for n in 0..22 {
            assert!(
                store.load(&format!("u{n}")).await.unwrap().is_some(),
                "u{n}"
            );
        }
        // An eighth of 32 ended, a's sessions closest to expiry.
        for n in 0..4 {
            assert!(
                store.load(&format!("a{n}")).await.unwrap().is_none(),
                "a{n}"
            );
        }
        for n in 4..10 {
            assert!(
                store.load(&format!("a{n}")).await.unwrap().is_some(),
                "a{n}"
            );
        }
        assert_eq!(held_by(&store, "a").await, 6);
    }

    #[tokio::test]
    async fn sessions_per_subject_is_at_least_one() {
        let store = MemoryStore::new(100).with_sessions_per_subject(0);
        let shown = format!("{store:?}");
        assert!(shown.contains("sessions_per_subject: 1"), "{shown}");
        let ttl = Duration::from_secs(60);
        store.save("first", &of("a"), ttl).await.unwrap();
        store.save("first", &of("a"), ttl).await.unwrap();
        assert!(store.load("first").await.unwrap().is_some(), "saved again");
        store.save("second", &of("a"), ttl).await.unwrap();
        assert!(store.load("first").await.unwrap().is_none());
        assert!(store.load("second").await.unwrap().is_some());
        store.save("other", &of("b"), ttl).await.unwrap();
        assert!(store.load("second").await.unwrap().is_some());
        assert_eq!(held_by(&store, "a").await, 1);
    }
}
