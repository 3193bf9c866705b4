//! Answers about bearer tokens, by SHA-256 of the token (the token itself is never kept),
//! each for a bounded time, at most a fixed number: past it the oldest answer goes, one at
//! a time, so a flood of new tokens never empties the cache of the good ones in one stroke.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::protocol::access_token::TokenInfo;

/// What is kept about a token: its information, or why it was refused.
pub(crate) type Answer = Result<Arc<TokenInfo>, Arc<str>>;

/// Most answers kept of tokens that passed (introspection answers, checked JWTs), per
/// provider and kind.
pub(crate) const CAPACITY: usize = 10_000;

/// Most refusals kept per provider: a cache of their own, small, so bogus tokens evict
/// bogus tokens.
pub(crate) const REFUSALS_CAPACITY: usize = 1_000;

/// A bounded cache of answers.
pub(crate) struct TokenCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<[u8; 32], (Answer, Instant)>,
    /// Keys in the order they were first inserted: the front is the oldest.
    order: VecDeque<[u8; 32]>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache of at most `capacity` answers (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        TokenCache {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The answer kept about `key`, while it lives.
    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Answer> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (answer, until) = inner.entries.get(key)?;
        (Instant::now() < *until).then(|| answer.clone())
    }

    /// Keeps `answer` about `key` for `for_` (nothing for zero). When full, the oldest
    /// answers go first: the expired ones at the front, then one live one.
    pub(crate) fn insert(&self, key: [u8; 32], answer: Answer, for_: Duration) {
        if for_.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // A century at most: a configured cache time cannot overflow the clock.
        let Some(until) = now.checked_add(for_.min(Duration::from_secs(100 * 365 * 24 * 3600)))
        else {
            return;
        };
        if let Some(entry) = inner.entries.get_mut(&key) {
            *entry = (answer, until);
            return;
        }
        while inner.entries.len() >= self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.entries.remove(&oldest);
        }
        inner.entries.insert(key, (answer, until));
        inner.order.push_back(key);
        // Expired answers at the front go too, so the cache shrinks when traffic does.
        while let Some(front) = inner.order.front() {
            match inner.entries.get(front) {
                Some((_, until)) if *until <= now => {
                    let front = *front;
                    inner.entries.remove(&front);
                    inner.order.pop_front();
                }
                _ => break,
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> Answer {
        Ok(Arc::new(TokenInfo {
            subject: Some("alice".into()),
            scope: None,
            client_id: None,
            expires_at: None,
            claims: serde_json::value::RawValue::from_string("{}".into()).unwrap(),
            jkt: None,
            x5t_s256: None,
        }))
    }

    fn key(i: usize) -> [u8; 32] {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(i as u64).to_le_bytes());
        key
    }

    #[test]
    fn an_answer_counts_only_while_it_lives_and_zero_keeps_nothing() {
        let cache = TokenCache::new(10);
        cache.insert(key(1), info(), Duration::from_secs(60));
        cache.insert(key(2), info(), Duration::ZERO);
        assert!(matches!(cache.get(&key(1)), Some(Ok(_))));
        assert!(cache.get(&key(2)).is_none(), "kept for zero: not kept");
        cache.insert(key(2), info(), Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            cache.get(&key(2)).is_none(),
            "an expired entry is no answer"
        );
    }

    #[test]
    fn a_full_cache_drops_the_oldest_one_not_everything() {
        let cache = TokenCache::new(CAPACITY);
        for i in 0..CAPACITY {
            cache.insert(key(i), info(), Duration::from_secs(60));
        }
        cache.insert(key(CAPACITY), info(), Duration::from_secs(60));
        assert_eq!(cache.len(), CAPACITY, "bounded");
        assert!(cache.get(&key(0)).is_none(), "the oldest went");
        for i in 1..=CAPACITY {
            assert!(cache.get(&key(i)).is_some(), "answer {i} stays");
        }
    }

    #[test]
    fn expired_answers_at_the_front_go_first() {
        let cache = TokenCache::new(4);
        cache.insert(key(0), info(), Duration::from_millis(1));
        cache.insert(key(1), info(), Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
        cache.insert(key(2), info(), Duration::from_secs(60));
        assert_eq!(cache.len(), 2, "the expired front entry went");
        cache.insert(key(1), info(), Duration::from_secs(60));
        assert_eq!(cache.len(), 2, "a key kept twice is one entry");
    }
}
