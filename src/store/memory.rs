//! The in-process store: sessions and values in this process's memory, bounded.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use super::{SessionIndex, SessionRecord, SessionStore, SetMode, StoreError, ValueStore};

/// Sessions kept in this process's memory: for tests, small apps and a single instance.
///
/// Everything it holds expires with its `ttl`, and it holds at most `capacity` entries
/// (sessions and values together): when full it first drops what expired, then ends the
/// sessions closest to expiry, with a warning in the log. Values (the marks that make a
/// logout bite, replay caches, locks) are never dropped early; a store full of them refuses
/// new writes (503) rather than forget a logout. Size it for your sessions plus, with the
/// cookie store, the logouts of one `session_lifetime`. Sessions end when the process restarts, and
/// instances never see each other's sessions: run several instances on Redis instead.
///
/// ```
/// use rocket_oidc_auth::store::MemoryStore;
/// use rocket_oidc_auth::OidcFairing;
///
/// let fairing = OidcFairing::from_config().with_store(MemoryStore::new(100_000));
/// # drop(fairing);
/// ```
pub struct MemoryStore {
    capacity: usize,
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

    /// A store holding at most `capacity` entries (at least 16).
    pub fn new(capacity: usize) -> Self {
        MemoryStore {
            capacity: capacity.max(16),
            inner: Mutex::new(Inner::default()),
            has_values: std::sync::atomic::AtomicBool::new(false),
        }
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

    /// Makes room for one more entry: drops what expired, then, if still full, the eighth
    /// of the sessions closest to expiry (their users log in again). Values (the marks of
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
        let mut sessions: Vec<(Instant, String)> = self
            .sessions
            .iter()
            .map(|(id, (_, until))| (*until, id.clone()))
            .collect();
        if sessions.is_empty() {
            return Err(StoreError::new(
                format!(
                    "the memory store is full ({capacity} entries) of marks that must not be \
                     dropped early (ended sessions, replayed tokens); raise \
                     oidc.session.memory.capacity or use Redis"
                ),
                None,
            ));
        }
        sessions.sort_unstable();
        let drop = (capacity / 8).clamp(1, sessions.len());
        log::warn!(
            "oidc: the memory session store is full ({capacity} entries): ending the {drop} \
             sessions closest to expiry; raise oidc.session.memory.capacity or use Redis"
        );
        for (_, id) in sessions.into_iter().take(drop) {
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
        if !inner.remove_session(id) {
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
}
