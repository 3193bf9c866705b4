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
        // Room first: a store that refuses the session ends none of the user's others.
        if !existed {
            inner.make_room(self.capacity, now)?;
        }
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
mod tests;
