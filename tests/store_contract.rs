//! The `SessionStore` contract, written once and run against every store the crate ships:
//! `MemoryStore`, a `RedisStore` on a standalone `redis-server`, and a `RedisStore` on a
//! three-master Redis Cluster (see `common/redis.rs`). Then what only one store does: the
//! Redis key layout, timeouts, outages and restarts, configuration errors, and the memory
//! store's capacity bound.
//!
//! Needs the `redis` feature (`cargo test --all-features`) and Debian's `redis-server`.

#[cfg(not(feature = "redis"))]
compile_error!("tests/store_contract.rs needs --features redis (cargo test --all-features)");

mod common {
    pub mod redis;
}

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use common::redis::{RedisCluster, RedisServer};
use rocket_oidc_auth::{
    MemoryStore, RedisConfig, RedisStore, SessionIndex, SessionRecord, SessionStore, SetMode,
};

const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Scheduling slack on a busy 2-core machine.
const SLACK: Duration = Duration::from_millis(300);
/// Long enough that nothing expires during a test.
const LONG: Duration = Duration::from_secs(60);
/// A ttl that ends during a test, but not before the next command or two.
const SHORT: Duration = Duration::from_millis(400);
/// A wait after which a `SHORT` entry has expired.
const PAST_SHORT: Duration = Duration::from_millis(800);

// ---------------------------------------------------------------------------------------
// Stores under test
// ---------------------------------------------------------------------------------------

fn standalone_config(url: String) -> RedisConfig {
    RedisConfig {
        url: Some(url),
        key_prefix: "t:".to_owned(),
        connect_timeout: CONNECT_TIMEOUT,
        response_timeout: RESPONSE_TIMEOUT,
        ..RedisConfig::default()
    }
}

fn cluster_config(urls: Vec<String>) -> RedisConfig {
    RedisConfig {
        url: None,
        cluster: urls,
        ..standalone_config(String::new())
    }
}

async fn standalone_store(server: &RedisServer) -> RedisStore {
    RedisStore::connect(&standalone_config(server.url()))
        .await
        .expect("connect to the standalone server")
}

/// A store on `cluster` whose keys all start with `prefix`.
async fn cluster_store(cluster: &RedisCluster, prefix: &str) -> RedisStore {
    let config = RedisConfig {
        key_prefix: prefix.to_owned(),
        ..cluster_config(cluster.urls())
    };
    RedisStore::connect(&config)
        .await
        .expect("connect to the cluster")
}

/// One cluster for the tests that only read and write through the store (each under its
/// own key prefix), so that it starts once rather than once per test; it is stopped when
/// the last test holding it ends. Tests that pause or restart nodes start their own.
fn shared_cluster() -> Arc<RedisCluster> {
    static SHARED: Mutex<Weak<RedisCluster>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(cluster) = shared.upgrade() {
        return cluster;
    }
    let started = Instant::now();
    let cluster = Arc::new(RedisCluster::start());
    eprintln!("cluster up in {:?}", started.elapsed());
    *shared = Arc::downgrade(&cluster);
    cluster
}

/// A store under test, with the server(s) it needs kept alive as long as it is.
struct Fixture {
    store: Box<dyn SessionStore>,
    _server: Option<RedisServer>,
    _cluster: Option<Arc<RedisCluster>>,
}

impl Fixture {
    fn memory() -> Fixture {
        Fixture {
            store: Box::new(MemoryStore::new(100_000)),
            _server: None,
            _cluster: None,
        }
    }

    async fn redis_standalone() -> Fixture {
        let server = RedisServer::start();
        Fixture {
            store: Box::new(standalone_store(&server).await),
            _server: Some(server),
            _cluster: None,
        }
    }

    async fn redis_cluster(test: &str) -> Fixture {
        let cluster = shared_cluster();
        let store = cluster_store(&cluster, &format!("{test}:")).await;
        Fixture {
            store: Box::new(store),
            _server: None,
            _cluster: Some(cluster),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn record(provider: &str, subject: &str, sid: Option<&str>, data: &str) -> SessionRecord {
    SessionRecord::new(
        provider.to_owned(),
        subject.to_owned(),
        sid.map(str::to_owned),
        data.to_owned(),
    )
}

/// `SessionRecord`'s `Debug` hides the data (it holds tokens); tests show it.
fn show(r: Option<&SessionRecord>) -> String {
    match r {
        None => "None".to_owned(),
        Some(r) => format!("{}/{}/{:?}/{}", r.provider, r.subject, r.sid, r.data),
    }
}

async fn assert_session(store: &dyn SessionStore, id: &str, expected: Option<&SessionRecord>) {
    let loaded = store.load(id).await.expect("load");
    assert!(
        loaded.as_ref() == expected,
        "session {id}: got {}, expected {}",
        show(loaded.as_ref()),
        show(expected)
    );
}

async fn assert_value(store: &dyn SessionStore, key: &str, expected: Option<&str>) {
    let got = store.get_value(key).await.expect("get_value");
    assert_eq!(got.as_deref(), expected, "value {key}");
}

async fn set(
    store: &dyn SessionStore,
    key: &str,
    value: &str,
    ttl: Duration,
    mode: SetMode,
) -> bool {
    store
        .set_value(key, value, ttl, mode)
        .await
        .expect("set_value")
}

async fn replace(
    store: &dyn SessionStore,
    id: &str,
    previous: &SessionRecord,
    record: &SessionRecord,
    ttl: Duration,
) -> bool {
    store
        .replace(id, previous, record, ttl)
        .await
        .expect("replace")
}

async fn delete_by(store: &dyn SessionStore, index: SessionIndex<'_>) -> usize {
    store.delete_by_index(index).await.expect("delete_by_index")
}

fn by_sid<'a>(provider: &'a str, sid: &'a str) -> SessionIndex<'a> {
    SessionIndex::Sid { provider, sid }
}

fn by_sub<'a>(provider: &'a str, subject: &'a str) -> SessionIndex<'a> {
    SessionIndex::Subject { provider, subject }
}

/// Polls `op` until it succeeds; returns how long that took (panics after `limit`).
async fn time_until_ok<F, Fut, T, E>(limit: Duration, mut op: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    loop {
        match op().await {
            Ok(_) => return started.elapsed(),
            Err(e) => assert!(
                started.elapsed() < limit,
                "still failing after {limit:?}: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn unix_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    u64::try_from(since.as_millis()).expect("ms since the epoch fit in u64")
}

// ---------------------------------------------------------------------------------------
// The contract: what every store must do. Each scenario takes the store as a trait object,
// as the crate holds it.
// ---------------------------------------------------------------------------------------

mod contract {
    use super::*;

    pub(super) async fn a_saved_session_loads_back_until_deleted(store: &dyn SessionStore) {
        assert_session(store, "rt-missing", None).await;

        let a = record("google", "alice", Some("sid-1"), "payload {\"x\":1} é ✓");
        store.save("rt-a", &a, LONG).await.unwrap();
        assert_session(store, "rt-a", Some(&a)).await;

        // Replacing keeps only the new record.
        let a2 = record("google", "alice", Some("sid-1"), "second");
        store.save("rt-a", &a2, LONG).await.unwrap();
        assert_session(store, "rt-a", Some(&a2)).await;

        // No sid, empty data, a provider name with a colon.
        let b = record("corp:sso", "bob", None, "");
        store.save("rt-b", &b, LONG).await.unwrap();
        assert_session(store, "rt-b", Some(&b)).await;

        // A large session (the crate's encoding of many claims and tokens).
        let big = record("google", "carol", Some("sid-2"), &"x".repeat(64 * 1024));
        store.save("rt-big", &big, LONG).await.unwrap();
        assert_session(store, "rt-big", Some(&big)).await;

        store.delete("rt-a").await.unwrap();
        assert_session(store, "rt-a", None).await;
        assert_session(store, "rt-b", Some(&b)).await;
        // Deleting what isn't there is fine.
        store.delete("rt-a").await.unwrap();
        store.delete("rt-never").await.unwrap();
        store.delete("rt-big").await.unwrap();
        store.delete("rt-b").await.unwrap();
        assert_session(store, "rt-b", None).await;
    }

    pub(super) async fn a_session_is_gone_after_its_ttl(store: &dyn SessionStore) {
        let r = record("p", "carol", Some("s"), "d");
        store.save("ex-a", &r, SHORT).await.unwrap();
        assert_session(store, "ex-a", Some(&r)).await;
        tokio::time::sleep(PAST_SHORT).await;
        assert_session(store, "ex-a", None).await;

        // Saving again sets the new ttl: longer…
        store.save("ex-b", &r, SHORT).await.unwrap();
        store.save("ex-b", &r, LONG).await.unwrap();
        // …or shorter.
        store.save("ex-c", &r, LONG).await.unwrap();
        store.save("ex-c", &r, SHORT).await.unwrap();
        tokio::time::sleep(PAST_SHORT).await;
        assert_session(store, "ex-b", Some(&r)).await;
        assert_session(store, "ex-c", None).await;

        // A zero ttl stores nothing that stays.
        store.save("ex-d", &r, Duration::ZERO).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_session(store, "ex-d", None).await;
    }

    pub(super) async fn delete_by_index_counts_only_live_sessions(store: &dyn SessionStore) {
        let r = record("p", "dora", Some("S"), "d");
        store.save("cnt-live", &r, LONG).await.unwrap();
        store.save("cnt-expired", &r, SHORT).await.unwrap();
        store.save("cnt-deleted", &r, LONG).await.unwrap();
        store.delete("cnt-deleted").await.unwrap();
        tokio::time::sleep(PAST_SHORT).await;

        assert_eq!(delete_by(store, by_sub("p", "dora")).await, 1);
        assert_session(store, "cnt-live", None).await;
        // Nothing is left to delete, by either index.
        assert_eq!(delete_by(store, by_sub("p", "dora")).await, 0);
        assert_eq!(delete_by(store, by_sid("p", "S")).await, 0);

        // A short session saved after a long one leaves the long one findable.
        store.save("cnt-long", &r, LONG).await.unwrap();
        store.save("cnt-short", &r, SHORT).await.unwrap();
        tokio::time::sleep(PAST_SHORT).await;
        assert_eq!(delete_by(store, by_sid("p", "S")).await, 1);
        assert_session(store, "cnt-long", None).await;
    }

    pub(super) async fn a_sid_index_deletes_only_that_provider_sessions(store: &dyn SessionStore) {
        let a1 = record("p1", "alice", Some("S1"), "a1");
        let a2 = record("p1", "alice", Some("S1"), "a2");
        let a3 = record("p1", "alice", Some("S2"), "a3");
        let a4 = record("p1", "alice", None, "a4");
        let other_provider = record("p2", "alice", Some("S1"), "o");
        let other_user = record("p1", "bob", Some("S3"), "b");
        for (id, r) in [
            ("sid-a1", &a1),
            ("sid-a2", &a2),
            ("sid-a3", &a3),
            ("sid-a4", &a4),
            ("sid-o", &other_provider),
            ("sid-b", &other_user),
        ] {
            store.save(id, r, LONG).await.unwrap();
        }

        assert_eq!(delete_by(store, by_sid("p1", "S1")).await, 2);
        assert_session(store, "sid-a1", None).await;
        assert_session(store, "sid-a2", None).await;
        assert_session(store, "sid-a3", Some(&a3)).await;
        assert_session(store, "sid-a4", Some(&a4)).await;
        assert_session(store, "sid-o", Some(&other_provider)).await;
        assert_session(store, "sid-b", Some(&other_user)).await;
        assert_eq!(delete_by(store, by_sid("p1", "S1")).await, 0);

        // A sid is not a sub, and a sub is not a sid.
        assert_eq!(delete_by(store, by_sid("p1", "alice")).await, 0);
        assert_eq!(delete_by(store, by_sub("p1", "S2")).await, 0);
        assert_session(store, "sid-a3", Some(&a3)).await;

        assert_eq!(delete_by(store, by_sid("p2", "S1")).await, 1);
        assert_session(store, "sid-o", None).await;
        assert_eq!(delete_by(store, by_sid("p1", "S3")).await, 1);
        assert_session(store, "sid-b", None).await;
        assert_eq!(delete_by(store, by_sid("nobody", "S2")).await, 0);
        assert_session(store, "sid-a3", Some(&a3)).await;
    }

    pub(super) async fn a_subject_index_deletes_only_that_provider_users_sessions(
        store: &dyn SessionStore,
    ) {
        let a1 = record("p1", "alice", Some("S1"), "a1");
        let a2 = record("p1", "alice", Some("S2"), "a2");
        let a3 = record("p1", "alice", None, "a3");
        let other_provider = record("p2", "alice", Some("S1"), "o");
        let other_user = record("p1", "bob", Some("S1"), "b");
        for (id, r) in [
            ("sub-a1", &a1),
            ("sub-a2", &a2),
            ("sub-a3", &a3),
            ("sub-o", &other_provider),
            ("sub-b", &other_user),
        ] {
            store.save(id, r, LONG).await.unwrap();
        }

        assert_eq!(delete_by(store, by_sub("p1", "alice")).await, 3);
        assert_session(store, "sub-a1", None).await;
        assert_session(store, "sub-a2", None).await;
        assert_session(store, "sub-a3", None).await;
        assert_session(store, "sub-o", Some(&other_provider)).await;
        assert_session(store, "sub-b", Some(&other_user)).await;
        assert_eq!(delete_by(store, by_sub("p1", "alice")).await, 0);
        // alice's sessions also left the sid index they shared with bob.
        assert_eq!(delete_by(store, by_sid("p1", "S1")).await, 1);
        assert_session(store, "sub-b", None).await;

        assert_eq!(delete_by(store, by_sub("p2", "alice")).await, 1);
        assert_session(store, "sub-o", None).await;
        assert_eq!(delete_by(store, by_sub("nobody", "alice")).await, 0);

        // A session deleted by id no longer counts in its indexes.
        store.save("sub-c", &a1, LONG).await.unwrap();
        store.delete("sub-c").await.unwrap();
        assert_eq!(delete_by(store, by_sub("p1", "alice")).await, 0);

        // An index emptied by a logout finds the sessions of the next login.
        store.save("sub-d", &a1, LONG).await.unwrap();
        assert_eq!(delete_by(store, by_sub("p1", "alice")).await, 1);
        assert_session(store, "sub-d", None).await;
    }

    pub(super) async fn index_names_with_separators_never_collide(store: &dyn SessionStore) {
        let x = record("a:b", "c", Some("d"), "x");
        let y = record("a", "b:c", Some("b:d"), "y");
        let z = record("pröv id", "s u\u{0}b\n", Some("{sid}*?"), "z");
        store.save("sep-x", &x, LONG).await.unwrap();
        store.save("sep-y", &y, LONG).await.unwrap();
        store.save("sep-z", &z, LONG).await.unwrap();
        assert_eq!(delete_by(store, by_sub("a", "b:c")).await, 1);
        assert_session(store, "sep-x", Some(&x)).await;
        assert_session(store, "sep-y", None).await;
        assert_eq!(delete_by(store, by_sid("a", "b:d")).await, 0);
        assert_eq!(delete_by(store, by_sid("a:b", "d")).await, 1);
        assert_session(store, "sep-x", None).await;
        assert_eq!(delete_by(store, by_sub("pröv id", "s u")).await, 0);
        assert_session(store, "sep-z", Some(&z)).await;
        assert_eq!(delete_by(store, by_sid("pröv id", "{sid}*?")).await, 1);
        assert_session(store, "sep-z", None).await;
    }

    pub(super) async fn an_index_deletes_many_sessions_at_once(store: &dyn SessionStore) {
        let many = record("p1", "mallory", Some("SM"), "m");
        for i in 0..150 {
            store.save(&format!("many-{i}"), &many, LONG).await.unwrap();
        }
        assert_eq!(delete_by(store, by_sub("p1", "mallory")).await, 150);
        for i in 0..150 {
            assert_session(store, &format!("many-{i}"), None).await;
        }
        assert_eq!(delete_by(store, by_sid("p1", "SM")).await, 0);
    }

    pub(super) async fn re_saving_a_session_moves_it_to_its_new_indexes(store: &dyn SessionStore) {
        let before = record("p", "alice", Some("S1"), "before");
        let after = record("p", "bob", Some("S2"), "after");
        store.save("mv", &before, LONG).await.unwrap();
        store.save("mv", &after, LONG).await.unwrap();
        // The session is bob's now: a logout of alice, or of S1, must leave it alone.
        assert_eq!(delete_by(store, by_sub("p", "alice")).await, 0);
        assert_eq!(delete_by(store, by_sid("p", "S1")).await, 0);
        assert_session(store, "mv", Some(&after)).await;
        assert_eq!(delete_by(store, by_sid("p", "S2")).await, 1);
        assert_session(store, "mv", None).await;
    }

    pub(super) async fn replace_writes_only_over_the_session_it_read(store: &dyn SessionStore) {
        let v1 = record("p", "rita", Some("S"), "v1");
        let v2 = record("p", "rita", Some("S"), "v2");
        let v3 = record("p", "rita", Some("S"), "v3");
        // Absent: nothing is written.
        assert!(!replace(store, "cas", &v1, &v2, LONG).await);
        assert_session(store, "cas", None).await;

        store.save("cas", &v1, LONG).await.unwrap();
        // Changed since it was read: nothing is written.
        assert!(!replace(store, "cas", &v2, &v3, LONG).await);
        assert_session(store, "cas", Some(&v1)).await;
        // As it was read: written.
        assert!(replace(store, "cas", &v1, &v2, LONG).await);
        assert_session(store, "cas", Some(&v2)).await;
        // A second write-back of the same read loses to the first.
        assert!(!replace(store, "cas", &v1, &v3, LONG).await);
        assert_session(store, "cas", Some(&v2)).await;
        // The same record again is still a match.
        assert!(replace(store, "cas", &v2, &v2, LONG).await);

        // A replaced session stays in its indexes: a logout finds it.
        assert_eq!(delete_by(store, by_sid("p", "S")).await, 1);
        assert_session(store, "cas", None).await;
        // A session a logout deleted never comes back.
        assert!(!replace(store, "cas", &v2, &v3, LONG).await);
        assert_session(store, "cas", None).await;
        assert_eq!(delete_by(store, by_sub("p", "rita")).await, 0);

        // Nor does one that expired.
        store.save("cas-x", &v1, SHORT).await.unwrap();
        tokio::time::sleep(PAST_SHORT).await;
        assert!(!replace(store, "cas-x", &v1, &v2, LONG).await);
        assert_session(store, "cas-x", None).await;

        // A replace compares the whole record, data and all.
        let other_data = record("p", "rita", Some("S"), "v1 ");
        store.save("cas-y", &v1, LONG).await.unwrap();
        assert!(!replace(store, "cas-y", &other_data, &v2, LONG).await);
        assert_session(store, "cas-y", Some(&v1)).await;
    }

    pub(super) async fn replace_sets_the_new_ttl(store: &dyn SessionStore) {
        let v1 = record("p", "tom", None, "v1");
        let v2 = record("p", "tom", None, "v2");
        store.save("rt-longer", &v1, SHORT).await.unwrap();
        assert!(replace(store, "rt-longer", &v1, &v2, LONG).await);
        store.save("rt-shorter", &v1, LONG).await.unwrap();
        assert!(replace(store, "rt-shorter", &v1, &v2, SHORT).await);
        tokio::time::sleep(PAST_SHORT).await;
        assert_session(store, "rt-longer", Some(&v2)).await;
        assert_session(store, "rt-shorter", None).await;
        // The longer-lived replacement is still found by its index.
        assert_eq!(delete_by(store, by_sub("p", "tom")).await, 1);
    }

    pub(super) async fn concurrent_replaces_have_exactly_one_winner(store: &dyn SessionStore) {
        let read = record("p", "race", Some("S"), "read");
        store.save("race", &read, LONG).await.unwrap();
        let writes: Vec<SessionRecord> = (0..20)
            .map(|i| record("p", "race", Some("S"), &format!("write {i}")))
            .collect();
        let tries = writes.iter().map(|w| store.replace("race", &read, w, LONG));
        let wins: Vec<&SessionRecord> = rocket::futures::future::join_all(tries)
            .await
            .into_iter()
            .zip(&writes)
            .filter(|(won, _)| *won.as_ref().expect("replace"))
            .map(|(_, w)| w)
            .collect();
        let shown: Vec<String> = wins.iter().map(|w| show(Some(w))).collect();
        assert_eq!(wins.len(), 1, "winners: {shown:?}");
        assert_session(store, "race", Some(wins[0])).await;
    }

    pub(super) async fn set_value_if_absent_writes_only_once(store: &dyn SessionStore) {
        assert_value(store, "v-a", None).await;
        assert!(set(store, "v-a", "1", LONG, SetMode::IfAbsent).await);
        assert!(!set(store, "v-a", "2", LONG, SetMode::IfAbsent).await);
        assert_value(store, "v-a", Some("1")).await;
        assert!(set(store, "v-a", "3", LONG, SetMode::Always).await);
        assert_value(store, "v-a", Some("3")).await;
        assert!(set(store, "v-a", "3", LONG, SetMode::Always).await);
        store.delete_value("v-a").await.unwrap();
        assert_value(store, "v-a", None).await;
        // Deleting what isn't there is fine.
        store.delete_value("v-a").await.unwrap();
        store.delete_value("v-never").await.unwrap();
        assert!(set(store, "v-a", "4", LONG, SetMode::IfAbsent).await);
        assert_value(store, "v-a", Some("4")).await;
        // Keys are distinct.
        assert_value(store, "v-a2", None).await;
        assert!(set(store, "v-A", "5", LONG, SetMode::IfAbsent).await);
        assert_value(store, "v-a", Some("4")).await;
    }

    pub(super) async fn a_value_is_gone_after_its_ttl(store: &dyn SessionStore) {
        assert!(set(store, "vt-b", "x", SHORT, SetMode::Always).await);
        assert!(!set(store, "vt-b", "y", SHORT, SetMode::IfAbsent).await);
        assert_value(store, "vt-b", Some("x")).await;
        tokio::time::sleep(PAST_SHORT).await;
        assert_value(store, "vt-b", None).await;
        // Once expired, IfAbsent writes again.
        assert!(set(store, "vt-b", "z", LONG, SetMode::IfAbsent).await);
        assert_value(store, "vt-b", Some("z")).await;

        // Always resets the ttl.
        assert!(set(store, "vt-c", "x", LONG, SetMode::Always).await);
        assert!(set(store, "vt-c", "y", SHORT, SetMode::Always).await);
        assert!(set(store, "vt-d", "x", SHORT, SetMode::Always).await);
        assert!(set(store, "vt-d", "y", LONG, SetMode::Always).await);
        tokio::time::sleep(PAST_SHORT).await;
        assert_value(store, "vt-c", None).await;
        assert_value(store, "vt-d", Some("y")).await;

        // A zero ttl writes something that is gone at once, not something that stays.
        assert!(set(store, "vt-e", "x", Duration::ZERO, SetMode::Always).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_value(store, "vt-e", None).await;
        assert!(set(store, "vt-e", "y", Duration::ZERO, SetMode::IfAbsent).await);
    }

    pub(super) async fn concurrent_if_absent_has_exactly_one_winner(store: &dyn SessionStore) {
        let contenders: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let tries = contenders
            .iter()
            .map(|v| store.set_value("v-lock", v, LONG, SetMode::IfAbsent));
        let wins: Vec<&String> = rocket::futures::future::join_all(tries)
            .await
            .into_iter()
            .zip(&contenders)
            .filter(|(won, _)| *won.as_ref().expect("set_value"))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(wins.len(), 1, "winners: {wins:?}");
        assert_value(store, "v-lock", Some(wins[0])).await;
    }

    pub(super) async fn values_and_sessions_do_not_share_keys(store: &dyn SessionStore) {
        let r = record("p", "u", Some("s"), "session");
        assert!(set(store, "shared", "value", LONG, SetMode::Always).await);
        assert_session(store, "shared", None).await;
        store.save("shared", &r, LONG).await.unwrap();
        assert_value(store, "shared", Some("value")).await;
        assert_session(store, "shared", Some(&r)).await;

        store.delete_value("shared").await.unwrap();
        assert_session(store, "shared", Some(&r)).await;
        assert!(set(store, "shared", "value", LONG, SetMode::Always).await);
        store.delete("shared").await.unwrap();
        assert_value(store, "shared", Some("value")).await;

        // An index deletes sessions, never values.
        store.save("shared", &r, LONG).await.unwrap();
        assert_eq!(delete_by(store, by_sub("p", "u")).await, 1);
        assert_value(store, "shared", Some("value")).await;
    }

    pub(super) async fn delete_value_if_deletes_only_the_expected_value(store: &dyn SessionStore) {
        assert!(!store.delete_value_if("lock", "me").await.expect("absent"));
        assert!(set(store, "lock", "me", LONG, SetMode::Always).await);
        assert!(!store
            .delete_value_if("lock", "other")
            .await
            .expect("other holder"));
        assert_value(store, "lock", Some("me")).await;
        assert!(store.delete_value_if("lock", "me").await.expect("holder"));
        assert_value(store, "lock", None).await;
        // An expired lock is not deleted on behalf of its old holder.
        assert!(
            set(
                store,
                "short-lock",
                "me",
                Duration::from_millis(100),
                SetMode::Always
            )
            .await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(set(store, "short-lock", "next", LONG, SetMode::IfAbsent).await);
        assert!(!store
            .delete_value_if("short-lock", "me")
            .await
            .expect("expired"));
        assert_value(store, "short-lock", Some("next")).await;
    }

    pub(super) async fn a_huge_ttl_is_accepted(store: &dyn SessionStore) {
        let r = record("p", "u", Some("s"), "d");
        store
            .save("huge", &r, Duration::MAX)
            .await
            .expect("save with Duration::MAX");
        assert_session(store, "huge", Some(&r)).await;
        let r2 = record("p", "u", Some("s"), "d2");
        assert!(replace(store, "huge", &r, &r2, Duration::MAX).await);
        assert_session(store, "huge", Some(&r2)).await;
        assert!(set(store, "huge", "v", Duration::MAX, SetMode::Always).await);
        assert_value(store, "huge", Some("v")).await;
        assert_eq!(delete_by(store, by_sub("p", "u")).await, 1);
    }
}

/// One `#[tokio::test]` per (store, scenario): `memory::…`, `redis_standalone::…` and
/// `redis_cluster::…`.
macro_rules! store_contract {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let fixture = super::Fixture::memory();
                    super::contract::$scenario(&*fixture.store).await;
                }
            )*
        }

        mod redis_standalone {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let fixture = super::Fixture::redis_standalone().await;
                    super::contract::$scenario(&*fixture.store).await;
                }
            )*
        }

        mod redis_cluster {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let fixture = super::Fixture::redis_cluster(stringify!($scenario)).await;
                    super::contract::$scenario(&*fixture.store).await;
                }
            )*
        }
    };
}

store_contract!(
    a_saved_session_loads_back_until_deleted,
    a_session_is_gone_after_its_ttl,
    delete_by_index_counts_only_live_sessions,
    a_sid_index_deletes_only_that_provider_sessions,
    a_subject_index_deletes_only_that_provider_users_sessions,
    index_names_with_separators_never_collide,
    an_index_deletes_many_sessions_at_once,
    re_saving_a_session_moves_it_to_its_new_indexes,
    replace_writes_only_over_the_session_it_read,
    replace_sets_the_new_ttl,
    concurrent_replaces_have_exactly_one_winner,
    set_value_if_absent_writes_only_once,
    a_value_is_gone_after_its_ttl,
    concurrent_if_absent_has_exactly_one_winner,
    values_and_sessions_do_not_share_keys,
    delete_value_if_deletes_only_the_expected_value,
    a_huge_ttl_is_accepted,
);

// ---------------------------------------------------------------------------------------
// MemoryStore only: the capacity bound.
// ---------------------------------------------------------------------------------------

/// Those of `ids` that load.
async fn live(store: &dyn SessionStore, ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut found = Vec::new();
    for id in ids {
        if store.load(&id).await.expect("load").is_some() {
            found.push(id);
        }
    }
    found
}

#[tokio::test]
async fn memory_a_full_store_ends_sessions_but_never_drops_a_value() {
    let store = MemoryStore::new(16);
    // 4 values (the marks a logout needs) expiring first, and 12 sessions.
    for n in 0..4u64 {
        let ttl = Duration::from_secs(100 + n);
        assert!(set(&store, &format!("v{n}"), "x", ttl, SetMode::Always).await);
    }
    for n in 4..16u64 {
        let ttl = Duration::from_secs(100 + n);
        let r = record("p", &format!("user{n}"), None, "d");
        store.save(&format!("s{n}"), &r, ttl).await.unwrap();
    }
    // Full: one more session ends the eighth (2) of the sessions closest to expiry.
    let r = record("p", "new", None, "d");
    store
        .save("new", &r, Duration::from_secs(1000))
        .await
        .unwrap();
    assert_session(&store, "new", Some(&r)).await;
    for n in 0..4 {
        assert_value(&store, &format!("v{n}"), Some("x")).await;
    }
    let sessions = live(&store, (4..16).map(|n| format!("s{n}"))).await;
    let expected: Vec<String> = (6..16).map(|n| format!("s{n}")).collect();
    assert_eq!(sessions, expected);
    // Values fill the room and then end sessions, never other values.
    let later = Duration::from_secs(1000);
    for n in 0..11 {
        assert!(set(&store, &format!("w{n}"), "y", later, SetMode::Always).await);
    }
    for n in 0..4 {
        assert_value(&store, &format!("v{n}"), Some("x")).await;
    }
    for n in 0..11 {
        assert_value(&store, &format!("w{n}"), Some("y")).await;
    }
    assert!(live(&store, (4..16).map(|n| format!("s{n}"))).await.len() < 10);
}

#[tokio::test]
async fn memory_a_store_full_of_values_refuses_more_instead_of_forgetting() {
    let store = MemoryStore::new(16);
    for n in 0..16 {
        assert!(set(&store, &format!("v{n}"), "x", LONG, SetMode::Always).await);
    }
    let err = store
        .set_value("one-more", "x", LONG, SetMode::Always)
        .await
        .expect_err("a full store of live values refuses");
    assert!(
        err.to_string().contains("oidc.session.memory.capacity"),
        "{err}"
    );
    for n in 0..16 {
        assert_value(&store, &format!("v{n}"), Some("x")).await;
    }
    let r = record("p", "u", None, "d");
    assert!(store.save("s", &r, LONG).await.is_err(), "nor a session");
}

#[tokio::test]
async fn memory_a_full_store_drops_expired_entries_before_live_ones() {
    let store = MemoryStore::new(16);
    for n in 0..8 {
        let r = record("p", "short", None, "d");
        store
            .save(&format!("short{n}"), &r, Duration::from_millis(50))
            .await
            .unwrap();
    }
    for n in 0..8 {
        let r = record("p", "long", None, "d");
        store.save(&format!("long{n}"), &r, LONG).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Eight new sessions fit in the room the expired ones leave: no live one is dropped.
    for n in 0..8 {
        let r = record("p", "new", None, "d");
        store
            .save(&format!("new{n}"), &r, Duration::from_secs(30))
            .await
            .unwrap();
    }
    let longs = live(&store, (0..8).map(|n| format!("long{n}"))).await;
    let news = live(&store, (0..8).map(|n| format!("new{n}"))).await;
    assert_eq!((longs.len(), news.len()), (8, 8), "{longs:?} {news:?}");
    assert_eq!(delete_by(&store, by_sub("p", "short")).await, 0);
}

#[tokio::test]
async fn memory_many_saves_stay_within_capacity_and_keep_the_newest() {
    let capacity = 64;
    let store = MemoryStore::new(capacity);
    let total = 1000u64;
    for n in 0..total {
        let r = record("p", "crowd", Some("S"), "d");
        store
            .save(&format!("c{n}"), &r, Duration::from_secs(1000 + n))
            .await
            .unwrap();
    }
    let kept = live(&store, (0..total).map(|n| format!("c{n}"))).await;
    assert!(
        kept.len() <= capacity && kept.len() > capacity - capacity / 8 - 1,
        "kept {} of {total} with capacity {capacity}",
        kept.len()
    );
    assert!(kept.contains(&format!("c{}", total - 1)), "{kept:?}");
    assert!(!kept.contains(&"c0".to_owned()), "{kept:?}");
    // Dropped sessions left their indexes: an index counts only the kept ones.
    assert_eq!(delete_by(&store, by_sid("p", "S")).await, kept.len());
    assert!(live(&store, kept).await.is_empty());
}

#[tokio::test]
async fn memory_capacity_is_at_least_16() {
    let store = MemoryStore::new(0);
    let shown = format!("{store:?}");
    assert!(shown.contains("capacity: 16"), "{shown}");
    for n in 0..16 {
        let r = record("p", "u", None, "d");
        store
            .save(&format!("s{n}"), &r, Duration::from_secs(100 + n))
            .await
            .unwrap();
    }
    let kept = live(&store, (0..16).map(|n| format!("s{n}"))).await;
    assert_eq!(kept.len(), 16, "{kept:?}");
    let shown = format!("{:?}", MemoryStore::default());
    assert!(shown.contains("capacity: 100000"), "{shown}");
}

// ---------------------------------------------------------------------------------------
// RedisStore only: what it writes in Redis, and how it meets a Redis that misbehaves.
// ---------------------------------------------------------------------------------------

fn pttl(server: &RedisServer, key: &str) -> i64 {
    server
        .cli(&["PTTL", key])
        .parse()
        .expect("PTTL answers a number")
}

/// Indexes live at least as long as their longest session, and never shrink. `prefix` is
/// the store's key prefix; `node` any node (redis-cli follows redirects).
async fn index_ttls_cover_their_longest_session(
    store: &dyn SessionStore,
    node: &RedisServer,
    prefix: &str,
) {
    let r = record("p", "carol", Some("s"), "d");
    let session_key = format!("{prefix}s:ex-b");
    let sub_key = format!("{prefix}u:cA:Y2Fyb2w"); // base64url("p"), base64url("carol")
    let sid_key = format!("{prefix}x:cA:cw"); // base64url("s")
    store
        .save("ex-b", &r, Duration::from_secs(20))
        .await
        .unwrap();
    let session = pttl(node, &session_key);
    assert!(
        session > 15_000 && session <= 20_000,
        "session PTTL {session}"
    );
    for key in [&sub_key, &sid_key] {
        let index = pttl(node, key);
        assert!(
            index >= session,
            "{key}: PTTL {index} < session's {session}"
        );
    }
    store
        .save("ex-c", &r, Duration::from_secs(2))
        .await
        .unwrap();
    for key in [&sub_key, &sid_key] {
        let index = pttl(node, key);
        assert!(
            index > 15_000,
            "{key}: a shorter session shrank the index to {index}"
        );
    }
    store
        .save("ex-d", &r, Duration::from_secs(100))
        .await
        .unwrap();
    for key in [&sub_key, &sid_key] {
        let index = pttl(node, key);
        assert!(
            index > 95_000,
            "{key}: a longer session didn't extend it: {index}"
        );
    }
    // Values expire too.
    assert!(set(store, "k", "v", Duration::from_secs(30), SetMode::IfAbsent).await);
    let value = pttl(node, &format!("{prefix}v:k"));
    assert!(value > 25_000 && value <= 30_000, "value PTTL {value}");

    assert_eq!(delete_by(store, by_sub("p", "carol")).await, 3);
    assert_eq!(pttl(node, &sub_key), -2, "the emptied index is deleted");
    assert_eq!(pttl(node, &session_key), -2, "the session is deleted");
}

#[tokio::test]
async fn redis_standalone_index_ttls_cover_their_longest_session() {
    let server = RedisServer::start();
    let store = standalone_store(&server).await;
    index_ttls_cover_their_longest_session(&store, &server, "t:").await;
}

#[tokio::test]
async fn redis_cluster_index_ttls_cover_their_longest_session() {
    let cluster = shared_cluster();
    let prefix = "ttl:";
    let store = cluster_store(&cluster, prefix).await;
    index_ttls_cover_their_longest_session(&store, &cluster.nodes()[0], prefix).await;
}

#[tokio::test]
async fn redis_standalone_key_layout_and_prefix() {
    let server = RedisServer::start();
    let store = standalone_store(&server).await;
    let r = record("p", "carol", Some("s"), "d");
    store.save("id1", &r, LONG).await.unwrap();
    assert!(set(&store, "k1", "v", LONG, SetMode::Always).await);
    // Exactly these keys, and nothing else (the connect probe writes nothing).
    assert_eq!(server.cli(&["DBSIZE"]), "4");
    for key in ["t:s:id1", "t:u:cA:Y2Fyb2w", "t:x:cA:cw", "t:v:k1"] {
        assert_eq!(server.cli(&["EXISTS", key]), "1", "{key}");
    }
    assert_eq!(
        server.cli(&["GET", "t:s:id1"]),
        r#"{"p":"p","u":"carol","s":"s","d":"d"}"#
    );
    assert_eq!(server.cli(&["GET", "t:v:k1"]), "v");
    assert_eq!(server.cli(&["TYPE", "t:u:cA:Y2Fyb2w"]), "zset");
    assert_eq!(server.cli(&["ZRANGE", "t:u:cA:Y2Fyb2w", "0", "-1"]), "id1");
    assert_eq!(server.cli(&["ZRANGE", "t:x:cA:cw", "0", "-1"]), "id1");
    // Scored by expiry (ms since the epoch), about a minute from now.
    let score: u64 = server
        .cli(&["ZSCORE", "t:u:cA:Y2Fyb2w", "id1"])
        .parse()
        .unwrap();
    let now = unix_ms();
    assert!(
        score > now + 50_000 && score < now + 120_000,
        "{score} vs {now}"
    );
    // The record without a sid leaves out "s", and gets no sid index.
    store
        .save("id2", &record("p", "dave", None, "d"), LONG)
        .await
        .unwrap();
    assert_eq!(
        server.cli(&["GET", "t:s:id2"]),
        r#"{"p":"p","u":"dave","d":"d"}"#
    );
    assert_eq!(server.cli(&["DBSIZE"]), "6");
    // Deleting a session takes it out of its indexes too.
    store.delete("id1").await.unwrap();
    assert_eq!(server.cli(&["ZCARD", "t:u:cA:Y2Fyb2w"]), "0");
    assert_eq!(server.cli(&["ZCARD", "t:x:cA:cw"]), "0");
    assert_eq!(server.cli(&["EXISTS", "t:s:id1"]), "0");

    // Ids whose sessions expired long ago leave the index at the next save into it; ids
    // of live sessions, and of sessions expired only just, stay.
    let long_ago = now - 3_600_000;
    let just_now = now - 1_000;
    server.cli(&[
        "ZADD",
        "t:u:cA:ZGF2ZQ", // p / dave
        &long_ago.to_string(),
        "old",
        &just_now.to_string(),
        "recent",
    ]);
    store
        .save("id3", &record("p", "dave", None, "d"), LONG)
        .await
        .unwrap();
    assert_eq!(
        server.cli(&["ZRANGE", "t:u:cA:ZGF2ZQ", "0", "-1"]),
        "recent\nid2\nid3"
    );

    // Another prefix: another namespace on the same server.
    let other = RedisStore::connect(&RedisConfig {
        key_prefix: "other-app/".to_owned(),
        ..standalone_config(server.url())
    })
    .await
    .unwrap();
    assert_session(&other, "id2", None).await;
    assert_value(&other, "k1", None).await;
    other.save("id2", &r, LONG).await.unwrap();
    assert_eq!(server.cli(&["EXISTS", "other-app/s:id2"]), "1");
    assert_eq!(delete_by(&other, by_sub("p", "dave")).await, 0);
    assert_eq!(delete_by(&other, by_sub("p", "carol")).await, 1);
    assert_session(&store, "id2", Some(&record("p", "dave", None, "d"))).await;
}

#[tokio::test]
async fn redis_standalone_a_failed_replace_writes_nothing() {
    let server = RedisServer::start();
    let store = standalone_store(&server).await;
    let r = record("p", "carol", Some("s"), "d");
    let r2 = record("p", "carol", Some("s"), "d2");
    // A session that never was: nothing to replace, and nothing written.
    assert!(!replace(&store, "never", &r, &r2, LONG).await);
    assert_eq!(server.cli(&["KEYS", "*"]), "", "after a replace of nothing");
    // A session a logout deleted (with its index entries): the same.
    store.save("gone", &r, LONG).await.unwrap();
    store.delete("gone").await.unwrap();
    assert_eq!(server.cli(&["KEYS", "*"]), "", "after the logout");
    assert!(!replace(&store, "gone", &r, &r2, LONG).await);
    assert_eq!(
        server.cli(&["KEYS", "*"]),
        "",
        "after a replace of a deleted session"
    );
    // A successful replace writes the session under its key, with the new ttl.
    store.save("live", &r, SHORT).await.unwrap();
    assert!(replace(&store, "live", &r, &r2, LONG).await);
    assert_eq!(
        server.cli(&["GET", "t:s:live"]),
        r#"{"p":"p","u":"carol","s":"s","d":"d2"}"#
    );
    let ttl = pttl(&server, "t:s:live");
    assert!(ttl > 55_000 && ttl <= 60_000, "PTTL {ttl}");
    for index in ["t:u:cA:Y2Fyb2w", "t:x:cA:cw"] {
        assert!(pttl(&server, index) >= ttl, "{index} outlives the session");
    }
}

#[tokio::test]
async fn redis_standalone_a_session_it_cannot_read_is_an_error() {
    let server = RedisServer::start();
    let store = standalone_store(&server).await;
    server.cli(&["SET", "t:s:garbled", "not json"]);
    let err = store.load("garbled").await.expect_err("garbled session");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{}", server.port())),
        "{msg}"
    );
    assert!(std::error::Error::source(&err).is_some(), "{err:?}");
    // Deleting it still works.
    store.delete("garbled").await.unwrap();
    assert_eq!(server.cli(&["EXISTS", "t:s:garbled"]), "0");
}

#[tokio::test]
async fn redis_standalone_paused_server_times_out_then_recovers() {
    let server = RedisServer::start();
    let store = standalone_store(&server).await;
    let r = record("p", "u", Some("s"), "d");
    store.save("pa", &r, LONG).await.unwrap();

    server.pause();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.load("pa").await.expect_err("paused server: error");
        let took = started.elapsed();
        eprintln!("paused: load failed after {took:?}: {err}");
        assert!(took <= RESPONSE_TIMEOUT + SLACK, "took {took:?}");
        assert!(err.to_string().contains("did not answer"), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("127.0.0.1:{}", server.port())),
            "{err}"
        );
    }
    let started = Instant::now();
    assert!(store
        .set_value("pv", "x", LONG, SetMode::IfAbsent)
        .await
        .is_err());
    assert!(store.delete_by_index(by_sid("p", "s")).await.is_err());
    let took = started.elapsed();
    assert!(took <= 2 * (RESPONSE_TIMEOUT + SLACK), "took {took:?}");

    server.resume();
    let took = time_until_ok(Duration::from_secs(5), || store.load("pa")).await;
    eprintln!("resumed: first success after {took:?}");
    assert!(took < Duration::from_secs(1), "recovery took {took:?}");
    assert_session(&store, "pa", Some(&r)).await;
}

#[tokio::test]
async fn redis_standalone_restart_and_outage_recover() {
    let mut server = RedisServer::start();
    let store = standalone_store(&server).await;
    assert!(set(&store, "k", "v", LONG, SetMode::Always).await);

    // A quick restart on the same port: the broken connection is replaced.
    server.restart();
    let took = time_until_ok(Duration::from_secs(5), || store.get_value("k")).await;
    eprintln!("restart: first success after {took:?}");
    assert!(took < Duration::from_secs(1), "recovery took {took:?}");
    // No persistence: the value is gone, the store works.
    assert_value(&store, "k", None).await;

    // A longer outage: every command fails, each within the timeout.
    server.stop();
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(4) {
        let started = Instant::now();
        let err = store.get_value("k").await.expect_err("server down: error");
        let took = started.elapsed();
        assert!(took <= RESPONSE_TIMEOUT + SLACK, "took {took:?}: {err}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.start_again();
    let took = time_until_ok(Duration::from_secs(5), || store.get_value("k")).await;
    eprintln!("after a 4 s outage: first success after {took:?}");
    assert!(took < Duration::from_secs(1), "recovery took {took:?}");

    // After an idle outage longer than the reconnect loop's retries, the first command
    // after the comeback still succeeds.
    server.stop();
    assert!(store.get_value("k").await.is_err());
    tokio::time::sleep(Duration::from_secs(7)).await;
    server.start_again();
    let started = Instant::now();
    let first = store.get_value("k").await;
    eprintln!(
        "after a 7 s idle outage: first command {} after {:?}",
        if first.is_ok() { "succeeded" } else { "failed" },
        started.elapsed()
    );
    assert!(first.is_ok(), "{:?}", first.err());
}

#[tokio::test]
async fn redis_connect_fails_fast_when_redis_is_down() {
    // Nothing listens on this port.
    let server = RedisServer::start();
    let port = server.port();
    drop(server);
    let started = Instant::now();
    let err = RedisStore::connect(&standalone_config(format!("redis://127.0.0.1:{port}")))
        .await
        .expect_err("nothing listens");
    let took = started.elapsed();
    eprintln!("connect to a closed port failed after {took:?}: {err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.contains("`url`") && msg.contains("running"), "{msg}");
    assert!(took <= CONNECT_TIMEOUT + SLACK, "took {took:?}");

    // The same for a cluster.
    let err = RedisStore::connect(&cluster_config(vec![format!("127.0.0.1:{port}")]))
        .await
        .expect_err("nothing listens");
    let msg = err.to_string();
    eprintln!("cluster connect to a closed port: {msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.contains("`cluster`"), "{msg}");
    assert!(started.elapsed() <= 2 * (CONNECT_TIMEOUT + SLACK));
}

#[tokio::test]
async fn redis_connect_to_a_paused_server_gives_up_after_connect_timeout() {
    let server = RedisServer::start();
    server.pause();
    let started = Instant::now();
    let err = RedisStore::connect(&standalone_config(server.url()))
        .await
        .expect_err("paused");
    let took = started.elapsed();
    eprintln!("connect to a paused server failed after {took:?}: {err}");
    assert!(took <= CONNECT_TIMEOUT + SLACK, "took {took:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{}", server.port())),
        "{msg}"
    );
    assert!(msg.contains("no answer within"), "{msg}");
    server.resume();
}

#[tokio::test]
async fn redis_passwords_stay_out_of_debug_and_errors() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret-pw"]);
    let url = format!("redis://:s3cret-pw@127.0.0.1:{}/", server.port());
    let store = RedisStore::connect(&standalone_config(url.clone()))
        .await
        .expect("right password");
    assert!(set(&store, "k", "v", Duration::from_secs(5), SetMode::Always).await);
    let shown = format!("{store:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(
        shown.contains(&format!("127.0.0.1:{}", server.port())),
        "{shown}"
    );
    let shown = format!("{:?}", standalone_config(url));
    assert!(
        !shown.contains("s3cret") && shown.contains("***"),
        "{shown}"
    );
    let shown = format!(
        "{:?}",
        cluster_config(vec![format!(
            "redis://u:s3cret-pw@127.0.0.1:{}",
            server.port()
        )])
    );
    assert!(
        !shown.contains("s3cret") && shown.contains("***"),
        "{shown}"
    );

    for wrong in [
        format!("redis://:wrong-pw@127.0.0.1:{}/", server.port()),
        format!("redis://127.0.0.1:{}/", server.port()),
    ] {
        let err = RedisStore::connect(&standalone_config(wrong))
            .await
            .expect_err("wrong or no password");
        let msg = format!("{err} / {err:?}");
        eprintln!("wrong password: {err}");
        assert!(
            !msg.contains("wrong-pw") && !msg.contains("s3cret"),
            "{msg}"
        );
        assert!(err.to_string().contains("uthentication"), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("127.0.0.1:{}", server.port())),
            "{err}"
        );
    }
    // A failure of a connected store names no password either.
    server.pause();
    let err = store.get_value("k").await.expect_err("paused");
    let msg = format!("{err} / {err:?}");
    assert!(!msg.contains("s3cret"), "{msg}");
    server.resume();
}

#[tokio::test]
async fn redis_rediss_urls_are_accepted_and_fail_cleanly() {
    let server = RedisServer::start();
    // TLS to a plain-text server: a TLS error, no panic, within the timeout.
    for url in [
        format!("rediss://127.0.0.1:{}/", server.port()),
        format!("rediss://user:tls-secret@localhost:{}/0", server.port()),
    ] {
        let started = Instant::now();
        let err = RedisStore::connect(&standalone_config(url))
            .await
            .expect_err("not a TLS server");
        let took = started.elapsed();
        eprintln!("rediss to a plain server failed after {took:?}: {err}");
        assert!(took <= CONNECT_TIMEOUT + SLACK, "took {took:?}");
        let msg = format!("{err} / {err:?}");
        assert!(msg.contains(&format!(":{}", server.port())), "{msg}");
        assert!(msg.contains("cannot connect to Redis"), "{msg}");
        assert!(!msg.contains("tls-secret"), "{msg}");
    }
    // Cluster nodes over TLS are accepted too.
    let started = Instant::now();
    let err = RedisStore::connect(&cluster_config(vec![format!(
        "rediss://user:tls-secret@127.0.0.1:{}",
        server.port()
    )]))
    .await
    .expect_err("not a TLS cluster");
    let took = started.elapsed();
    eprintln!("rediss cluster failed after {took:?}: {err}");
    assert!(took <= CONNECT_TIMEOUT + SLACK, "took {took:?}");
    let msg = format!("{err} / {err:?}");
    assert!(msg.contains(&format!(":{}", server.port())), "{msg}");
    assert!(!msg.contains("tls-secret"), "{msg}");
    // Without the insecure feature, `#insecure` is refused, not honoured.
    let err = RedisStore::connect(&standalone_config(format!(
        "rediss://127.0.0.1:{}/#insecure",
        server.port()
    )))
    .await
    .expect_err("insecure TLS is not compiled in");
    eprintln!("rediss #insecure: {err}");
    assert!(err.to_string().contains("insecure"), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("127.0.0.1:{}", server.port())),
        "{err}"
    );
    // The plain server is untouched by all this.
    let store = standalone_store(&server).await;
    assert!(set(&store, "k", "v", LONG, SetMode::Always).await);
}

#[tokio::test]
async fn redis_bad_configs_are_refused() {
    let both = RedisConfig {
        cluster: vec!["redis://127.0.0.1:1".into()],
        ..standalone_config("redis://127.0.0.1:1".into())
    };
    let neither = RedisConfig {
        url: None,
        ..standalone_config(String::new())
    };
    let zero_response = RedisConfig {
        response_timeout: Duration::ZERO,
        ..standalone_config("redis://127.0.0.1:1".into())
    };
    let zero_connect = RedisConfig {
        connect_timeout: Duration::ZERO,
        ..standalone_config("redis://127.0.0.1:1".into())
    };
    for (config, expected) in [
        (both, "not both"),
        (neither, "no server configured"),
        (zero_response, "more than zero"),
        (zero_connect, "more than zero"),
        (
            standalone_config("http://h:1".into()),
            "unsupported URL scheme",
        ),
        (
            standalone_config("redis://:pw@".into()),
            "RedisConfig.url is not a URL",
        ),
        (
            standalone_config("not a url, pw".into()),
            "RedisConfig.url is not a URL",
        ),
        (
            cluster_config(vec!["redis://127.0.0.1:1".into(), "::".into()]),
            "RedisConfig.cluster is not a URL",
        ),
        (
            RedisConfig {
                key_prefix: "{app}:".into(),
                ..cluster_config(vec!["redis://127.0.0.1:1".into()])
            },
            "RedisConfig.key_prefix must not contain { or } on a cluster",
        ),
    ] {
        let started = Instant::now();
        let err = RedisStore::connect(&config).await.expect_err("bad config");
        assert!(err.to_string().contains(expected), "{err}");
        assert!(!format!("{err} {err:?}").contains("pw"), "{err}");
        assert!(started.elapsed() < SLACK, "a bad config is refused at once");
    }
}

#[tokio::test]
async fn redis_standalone_over_a_unix_socket() {
    let socket = std::env::temp_dir().join(format!("redis-test-{}.sock", std::process::id()));
    let server = RedisServer::start_with(&["--unixsocket", socket.to_str().unwrap()]);
    let store = RedisStore::connect(&standalone_config(format!(
        "redis+unix://{}",
        socket.display()
    )))
    .await
    .expect("connect over the socket");
    let shown = format!("{store:?}");
    assert!(
        shown.contains(&format!("unix:{}", socket.display())),
        "{shown}"
    );
    contract::a_saved_session_loads_back_until_deleted(&store).await;
    contract::a_subject_index_deletes_only_that_provider_users_sessions(&store).await;
    drop(store);
    drop(server);
    let _ = std::fs::remove_file(socket);
}

#[tokio::test]
async fn redis_cluster_spreads_sessions_over_the_masters() {
    let cluster = shared_cluster();
    let prefix = "spread:";
    let store = cluster_store(&cluster, prefix).await;
    assert!(format!("{store:?}").contains("cluster"), "{store:?}");
    let r = record("p", "spread", Some("s"), "d");
    for i in 0..30 {
        store.save(&format!("spread-{i}"), &r, LONG).await.unwrap();
    }
    // Every master holds some of them (so cross-slot handling is exercised).
    let pattern = format!("{prefix}s:*");
    for node in cluster.nodes() {
        let keys = node.cli(&["KEYS", &pattern]);
        assert!(
            keys.lines().any(|k| !k.is_empty()),
            "node {} holds no session",
            node.port()
        );
    }
    assert_eq!(delete_by(&store, by_sub("p", "spread")).await, 30);
    for node in cluster.nodes() {
        assert_eq!(node.cli(&["KEYS", &pattern]), "", "node {}", node.port());
    }
}

#[tokio::test]
async fn redis_cluster_node_pause_and_restart() {
    let mut cluster = RedisCluster::start();
    let store = cluster_store(&cluster, "t:").await;
    let r = record("p", "u", None, "d");
    // Sessions on different masters.
    let ids: Vec<String> = (0..20).map(|i| format!("cp-{i}")).collect();
    for id in &ids {
        store.save(id, &r, LONG).await.unwrap();
    }
    let victim_port = cluster.node_for_key("t:s:cp-0").port();
    let other = ids
        .iter()
        .find(|id| cluster.node_for_key(&format!("t:s:{id}")).port() != victim_port)
        .expect("some session on another node")
        .clone();
    let victim = cluster
        .nodes()
        .iter()
        .position(|n| n.port() == victim_port)
        .unwrap();

    cluster.nodes()[victim].pause();
    let started = Instant::now();
    let err = store.load("cp-0").await.expect_err("node paused: error");
    let took = started.elapsed();
    eprintln!("cluster, node paused: load failed after {took:?}: {err}");
    assert!(took <= RESPONSE_TIMEOUT + SLACK, "took {took:?}");
    // The other masters still answer.
    assert_session(&store, &other, Some(&r)).await;

    cluster.nodes()[victim].resume();
    let took = time_until_ok(Duration::from_secs(5), || store.load("cp-0")).await;
    eprintln!("cluster, node resumed: first success after {took:?}");
    assert!(took < Duration::from_secs(1), "recovery took {took:?}");
    assert_session(&store, "cp-0", Some(&r)).await;

    // Restart that master on its port (nodes.conf keeps its identity and slots). A
    // restarted master refuses queries until it has heard from the cluster (Redis waits
    // ~2 s, CLUSTER_WRITABLE_DELAY), so measure the client against the node's own
    // `cluster_state:ok`.
    cluster.node_mut(victim).restart();
    let restarted = Instant::now();
    let port = cluster.nodes()[victim].port();
    let node_ok = std::thread::spawn(move || loop {
        let cli = std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_owned());
        let info = std::process::Command::new(cli)
            .args(["-p", &port.to_string(), "CLUSTER", "INFO"])
            .output()
            .expect("redis-cli");
        if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
            return Some(restarted.elapsed());
        }
        if restarted.elapsed() > Duration::from_secs(30) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    });
    let took = time_until_ok(Duration::from_secs(10), || async {
        match store.load("cp-0").await {
            // The node came back empty.
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err("old data".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    let node_ok = node_ok
        .join()
        .unwrap()
        .expect("the restarted node reports cluster_state:ok");
    eprintln!(
        "cluster, node restarted: node ok after {node_ok:?}, store's first success after {took:?}"
    );
    assert!(
        took < node_ok + Duration::from_secs(1),
        "recovery took {took:?}, {:?} after the node was ok",
        took.saturating_sub(node_ok)
    );
    store.save("cp-0", &r, LONG).await.unwrap();
    assert_session(&store, "cp-0", Some(&r)).await;
    assert_session(&store, &other, Some(&r)).await;
    cluster.wait_ok();
}
