//! The replay cache of DPoP proofs: the `jti`s an API has seen, in this process's memory,
//! bounded per key and in total, apart from sessions and the marks of ended sessions (so a
//! client that sends many proofs fills nothing but its own share of this cache).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// What [`ReplayCache::remember`] made of a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// First seen: remembered.
    New,
    /// Seen before, within its lifetime: a replay.
    Replayed,
    /// Its key has as many proofs remembered as it may: refused, not remembered. The
    /// key's oldest proof ages out after the returned time.
    KeyFull(Duration),
    /// The whole cache is full of proofs that still count: refused, not remembered (a
    /// proof forgotten early could be replayed). The oldest ages out after the returned
    /// time.
    Full(Duration),
}

/// The `jti`s of proofs seen in the last `ttl`, by key thumbprint (as SHA-256 digests).
///
/// Every entry lives the same `ttl`, so the oldest entry is also the first to expire: one
/// queue in arrival order serves for expiry, and one per key for the key's share.
pub(crate) struct ReplayCache {
    capacity: usize,
    per_key: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Entry digests (key and jti) remembered.
    seen: HashSet<[u8; 32]>,
    /// (expiry, entry, key) in arrival order.
    order: VecDeque<(Instant, [u8; 32], [u8; 32])>,
    /// Key digest → the expiries of its entries, in arrival order.
    keys: HashMap<[u8; 32], VecDeque<Instant>>,
    /// When a refusal was last logged.
    warned_at: Option<Instant>,
}

impl std::fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayCache")
            .field("capacity", &self.capacity)
            .field("per_key", &self.per_key)
            .finish_non_exhaustive()
    }
}

impl ReplayCache {
    /// A cache of at most `capacity` proofs, `per_key` of one key (both at least 1).
    pub(crate) fn new(capacity: usize, per_key: usize) -> Self {
        ReplayCache {
            capacity: capacity.max(1),
            per_key: per_key.clamp(1, capacity.max(1)),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Remembers the proof `jti` of the key `jkt` for `ttl` from `now`, unless it was seen,
    /// its key has its share, or the cache is full: a proof is never forgotten while it
    /// counts, so what cannot be remembered is refused (logged at most once a minute).
    pub(crate) fn remember(&self, jkt: &str, jti: &str, ttl: Duration, now: Instant) -> Seen {
        let key: [u8; 32] = Sha256::digest(jkt.as_bytes()).into();
        let mut hasher = Sha256::new();
        hasher.update(key);
        hasher.update(jti.as_bytes());
        let entry: [u8; 32] = hasher.finalize().into();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.drop_expired(now);
        if inner.seen.contains(&entry) {
            return Seen::Replayed;
        }
        let refused = match inner.keys.get(&key) {
            Some(expiries) if expiries.len() >= self.per_key => expiries
                .front()
                .map(|until| Seen::KeyFull(until.saturating_duration_since(now))),
            _ if inner.order.len() >= self.capacity => inner
                .order
                .front()
                .map(|(until, _, _)| Seen::Full(until.saturating_duration_since(now))),
            _ => None,
        };
        if let Some(refused) = refused {
            inner.warn_once_a_minute(now, refused, self);
            return refused;
        }
        let until = now.checked_add(ttl).unwrap_or(now);
        inner.seen.insert(entry);
        inner.order.push_back((until, entry, key));
        inner.keys.entry(key).or_default().push_back(until);
        Seen::New
    }

    /// How many proofs are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().order.len()
    }
}

impl Inner {
    fn drop_expired(&mut self, now: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(until, _, _)| *until <= now)
        {
            let Some((_, entry, key)) = self.order.pop_front() else {
                break;
            };
            self.seen.remove(&entry);
            if let Some(expiries) = self.keys.get_mut(&key) {
                expiries.pop_front();
                if expiries.is_empty() {
                    self.keys.remove(&key);
                }
            }
        }
    }

    fn warn_once_a_minute(&mut self, now: Instant, refused: Seen, cache: &ReplayCache) {
        if self
            .warned_at
            .is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(60))
        {
            return;
        }
        self.warned_at = Some(now);
        match refused {
            Seen::KeyFull(_) => log::warn!(
                "oidc: a DPoP key sent more proofs than oidc.limits.dpop_proofs_per_key ({}) \
                 within a proof's lifetime: its new proofs are refused (429) until older ones \
                 age out (logged once a minute)",
                cache.per_key
            ),
            _ => log::warn!(
                "oidc: the DPoP replay cache is full ({} proofs that still count): new proofs \
                 are refused (503) until the oldest age out; raise \
                 oidc.limits.dpop_replay_capacity (logged once a minute)",
                cache.capacity
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(240);

    #[test]
    fn a_proof_counts_once_while_it_lives() {
        let cache = ReplayCache::new(100, 10);
        let now = Instant::now();
        assert_eq!(cache.remember("k", "a", TTL, now), Seen::New);
        assert_eq!(cache.remember("k", "a", TTL, now), Seen::Replayed);
        assert_eq!(cache.remember("other", "a", TTL, now), Seen::New, "per key");
        let later = now + TTL;
        assert_eq!(cache.remember("k", "a", TTL, later), Seen::New, "aged out");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn one_key_gets_its_share_and_no_more() {
        let cache = ReplayCache::new(100, 10);
        let now = Instant::now();
        for i in 0..10 {
            let at = now + Duration::from_secs(i);
            assert_eq!(cache.remember("flood", &i.to_string(), TTL, at), Seen::New);
        }
        let at = now + Duration::from_secs(20);
        assert_eq!(
            cache.remember("flood", "x", TTL, at),
            Seen::KeyFull(TTL - Duration::from_secs(20)),
            "refused until its oldest proof ages out"
        );
        assert_eq!(cache.remember("victim", "v", TTL, at), Seen::New);
        assert_eq!(
            cache.remember("flood", "x", TTL, now + TTL),
            Seen::New,
            "one aged out: room for one"
        );
    }

    #[test]
    fn a_full_cache_refuses_rather_than_forget_a_proof_that_counts() {
        let cache = ReplayCache::new(20, 5);
        let now = Instant::now();
        for key in 0..4 {
            for jti in 0..5 {
                let at = now + Duration::from_millis(key * 5 + jti);
                let seen = cache.remember(&key.to_string(), &jti.to_string(), TTL, at);
                assert_eq!(seen, Seen::New);
            }
        }
        let at = now + Duration::from_secs(1);
        assert_eq!(
            cache.remember("new", "n", TTL, at),
            Seen::Full(TTL - Duration::from_secs(1)),
            "refused until the oldest ages out"
        );
        assert_eq!(cache.len(), 20, "bounded");
        assert_eq!(
            cache.remember("0", "0", TTL, at),
            Seen::Replayed,
            "the oldest still counts"
        );
        assert_eq!(
            cache.remember("new", "n", TTL, now + TTL),
            Seen::New,
            "it aged out"
        );
    }

    #[test]
    fn a_per_key_share_above_the_capacity_is_the_capacity() {
        let cache = ReplayCache::new(3, 10);
        let now = Instant::now();
        for jti in 0..3 {
            assert_eq!(cache.remember("k", &jti.to_string(), TTL, now), Seen::New);
        }
        assert!(matches!(
            cache.remember("k", "x", TTL, now),
            Seen::KeyFull(_)
        ));
    }
}
