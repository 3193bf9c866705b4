//! The `SessionStore` contract, written once and run against every store the crate ships:
//! `MemoryStore`, a `RedisStore` on a standalone `redis-server`, and a `RedisStore` on a
//! three-master Redis Cluster (see `common/redis.rs`). Then what only one store does: the
//! Redis key layout, timeouts, outages and restarts, configuration errors, and the memory
//! store's capacity bound.
//!
//! Needs the `redis` and `test-util` features (`cargo test --all-features`; Cargo.toml's
//! `required-features` leaves it out otherwise) and Debian's `redis-server`.

mod common {
    pub mod redis;
}

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use common::redis::{RedisCluster, RedisServer};
use rocket_oidc_auth::store::contract::{
    assert_session, assert_value, by_sid, by_sub, delete_by, record, replace, set,
};
use rocket_oidc_auth::store::{
    MemoryStore, RedisConfig, RedisStore, SessionStore, SetMode, ValueStore,
};

const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Scheduling slack on a busy 2-core machine.
const SLACK: Duration = Duration::from_millis(300);
/// Long enough that nothing expires during a test.
const LONG: Duration = Duration::from_secs(60);
/// A ttl that ends during a test, but not before the next command or two.
const SHORT: Duration = Duration::from_millis(400);

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
/// A key prefix no other test of this run uses.
fn next_prefix() -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("t{n}:")
}

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

// ---------------------------------------------------------------------------------------
// The contract (rocket_oidc_auth::store::contract): one test per (store, scenario).
// ---------------------------------------------------------------------------------------

mod memory {
    // The contract saves many sessions of one user: without the per-user cap (a policy of
    // the memory store, tested in its own module), which would end all but 16 of them.
    rocket_oidc_auth::store_contract!(session_and_value_store: async {
        (
            rocket_oidc_auth::store::MemoryStore::new(100_000)
                .with_sessions_per_subject(usize::MAX),
            (),
        )
    });
}

mod redis_standalone {
    rocket_oidc_auth::store_contract!(session_and_value_store: async {
        let server = super::RedisServer::start();
        (super::standalone_store(&server).await, server)
    });
}

mod redis_cluster {
    rocket_oidc_auth::store_contract!(session_and_value_store: async {
        // A key prefix per test: the tests share one cluster.
        let cluster = super::shared_cluster();
        let prefix = super::next_prefix();
        (super::cluster_store(&cluster, &prefix).await, cluster)
    });
}

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
    // One user's 1,000 logins: the store's capacity is what bounds them here.
    let store = MemoryStore::new(capacity).with_sessions_per_subject(capacity);
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
    store: &RedisStore,
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
    rocket_oidc_auth::store::contract::a_saved_session_loads_back_until_deleted(&store).await;
    rocket_oidc_auth::store::contract::a_subject_index_deletes_only_that_provider_users_sessions(
        &store,
    )
    .await;
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
