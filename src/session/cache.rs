//! A bounded cache of sessions opened from cookies, keyed by the exact sealed value.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::data::SessionData;

/// Sessions recently opened from one cookie name, by their exact sealed value, so a user's
/// every request does not decode, decrypt and parse the same cookie again.
///
/// Only values that opened are kept, each with its whole sealed text: a hit needs the very
/// same bytes the key sealed, so the cache can never accept what the cipher would refuse.
/// Every check of a session (lifetime, token expiry) still runs on each request. Bounded:
/// when full it starts over.
#[derive(Default)]
pub(crate) struct SessionCache {
    entries: Mutex<HashMap<[u8; CACHE_KEY_LEN], CachedSession>>,
}

/// A sealed value and the session it opened to.
type CachedSession = (Box<str>, Arc<SessionData>);

/// The cache is keyed by the end of the sealed value (the GCM tag, random per seal), and a
/// hit is confirmed against the whole value.
const CACHE_KEY_LEN: usize = 20;
const CACHE_CAPACITY: usize = 1024;

impl SessionCache {
    fn key(value: &str) -> Option<[u8; CACHE_KEY_LEN]> {
        let bytes = value.as_bytes();
        bytes
            .get(bytes.len().checked_sub(CACHE_KEY_LEN)?..)?
            .try_into()
            .ok()
    }

    pub(super) fn get(&self, value: &str) -> Option<Arc<SessionData>> {
        let key = Self::key(value)?;
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (sealed, session) = entries.get(&key)?;
        (**sealed == *value).then(|| session.clone())
    }

    pub(super) fn insert(&self, value: &str, session: Arc<SessionData>) {
        let Some(key) = Self::key(value) else {
            return;
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(key, (value.into(), session));
    }
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::codec::CookieCipher;
    use crate::session::data::tests::session;

    #[test]
    fn the_session_cache_answers_only_for_the_exact_sealed_value() {
        let cache = SessionCache::default();
        let sealed = CookieCipher::for_tests().seal("oidc_session_default", session().encode());
        assert!(cache.get(&sealed).is_none());
        cache.insert(&sealed, Arc::new(session()));
        assert_eq!(cache.get(&sealed).unwrap().subject(), "alice");
        // Same end (the cache key), different start: a miss, never the cached session.
        let mut forged = sealed.clone().into_bytes();
        forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
        assert!(cache.get(std::str::from_utf8(&forged).unwrap()).is_none());
        assert!(cache.get("short").is_none());
    }
}
