//! The store contracts, written once and run against every store: the crate's own
//! ([`MemoryStore`](super::MemoryStore), `RedisStore` on a server and on a Cluster) and
//! yours. Each scenario is a function you can call; [`store_contract!`](crate::store_contract)
//! makes one test of each.
//!
//! ```
//! # #[cfg(any())] // a test module: compiled by `cargo test`, not by this doc test
//! mod my_store_contract {
//!     use rocket_oidc_auth::store::MemoryStore;
//!
//!     // One #[rocket::async_test] per scenario. The expression gives the store and
//!     // whatever must live as long as it (a server, a temporary directory), or `()`.
//!     rocket_oidc_auth::store_contract!(session_and_value_store: async {
//!         (MemoryStore::new(100_000), ())
//!     });
//! }
//! ```
//!
//! The scenarios use keys of their own (`rt-a`, `v-lock`, ...): give each test a fresh store,
//! or a fresh key prefix of a shared one. A few wait for short ttls to run out (under a
//! second each).

use std::time::Duration;

use super::{SessionIndex, SessionRecord, SessionStore, SetMode, ValueStore};

/// Long enough that nothing expires during a scenario.
const LONG: Duration = Duration::from_secs(60);
/// A ttl that ends during a scenario, but not before the next command or two.
const SHORT: Duration = Duration::from_millis(400);
/// A wait after which a `SHORT` entry has expired.
const PAST_SHORT: Duration = Duration::from_millis(800);

/// A saved session loads back until deleted.
pub async fn a_saved_session_loads_back_until_deleted<S: SessionStore + ?Sized>(store: &S) {
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

/// A session is gone after its ttl.
pub async fn a_session_is_gone_after_its_ttl<S: SessionStore + ?Sized>(store: &S) {
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

/// Delete by index counts only live sessions.
pub async fn delete_by_index_counts_only_live_sessions<S: SessionStore + ?Sized>(store: &S) {
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

/// A `sid` index deletes only that provider sessions.
pub async fn a_sid_index_deletes_only_that_provider_sessions<S: SessionStore + ?Sized>(store: &S) {
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

/// A subject index deletes only that provider users sessions.
pub async fn a_subject_index_deletes_only_that_provider_users_sessions<S: SessionStore + ?Sized>(
    store: &S,
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

/// Index names with separators never collide.
pub async fn index_names_with_separators_never_collide<S: SessionStore + ?Sized>(store: &S) {
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

/// An index deletes many sessions at once.
pub async fn an_index_deletes_many_sessions_at_once<S: SessionStore + ?Sized>(store: &S) {
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

/// Re saving a session moves it to its new indexes.
pub async fn re_saving_a_session_moves_it_to_its_new_indexes<S: SessionStore + ?Sized>(store: &S) {
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

/// Replace writes only over the session it read.
pub async fn replace_writes_only_over_the_session_it_read<S: SessionStore + ?Sized>(store: &S) {
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

/// Replace sets the new ttl.
pub async fn replace_sets_the_new_ttl<S: SessionStore + ?Sized>(store: &S) {
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

/// Concurrent replaces have exactly one winner.
pub async fn concurrent_replaces_have_exactly_one_winner<S: SessionStore + ?Sized>(store: &S) {
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

/// `set_value` `IfAbsent` writes only once.
pub async fn set_value_if_absent_writes_only_once<S: ValueStore + ?Sized>(store: &S) {
    assert_value(store, "v-a", None).await;
    assert!(set(store, "v-a", "1", LONG, SetMode::IfAbsent).await);
    assert!(!set(store, "v-a", "2", LONG, SetMode::IfAbsent).await);
    assert_value(store, "v-a", Some("1")).await;
    assert!(set(store, "v-a", "3", LONG, SetMode::Always).await);
    assert_value(store, "v-a", Some("3")).await;
    assert!(set(store, "v-a", "3", LONG, SetMode::Always).await);
    assert!(
        store.delete_value("v-a", None).await.unwrap(),
        "a live value"
    );
    assert_value(store, "v-a", None).await;
    // Deleting what isn't there is fine, and says it deleted nothing.
    assert!(!store.delete_value("v-a", None).await.unwrap());
    assert!(!store.delete_value("v-never", None).await.unwrap());
    assert!(set(store, "v-a", "4", LONG, SetMode::IfAbsent).await);
    assert_value(store, "v-a", Some("4")).await;
    // Keys are distinct.
    assert_value(store, "v-a2", None).await;
    assert!(set(store, "v-A", "5", LONG, SetMode::IfAbsent).await);
    assert_value(store, "v-a", Some("4")).await;
}

/// A value is gone after its ttl.
pub async fn a_value_is_gone_after_its_ttl<S: ValueStore + ?Sized>(store: &S) {
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

/// Concurrent `IfAbsent` has exactly one winner.
pub async fn concurrent_if_absent_has_exactly_one_winner<S: ValueStore + ?Sized>(store: &S) {
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

/// Values and sessions do not share keys.
pub async fn values_and_sessions_do_not_share_keys<S: SessionStore + ValueStore + ?Sized>(
    store: &S,
) {
    let r = record("p", "u", Some("s"), "session");
    assert!(set(store, "shared", "value", LONG, SetMode::Always).await);
    assert_session(store, "shared", None).await;
    store.save("shared", &r, LONG).await.unwrap();
    assert_value(store, "shared", Some("value")).await;
    assert_session(store, "shared", Some(&r)).await;

    store.delete_value("shared", None).await.unwrap();
    assert_session(store, "shared", Some(&r)).await;
    assert!(set(store, "shared", "value", LONG, SetMode::Always).await);
    store.delete("shared").await.unwrap();
    assert_value(store, "shared", Some("value")).await;

    // An index deletes sessions, never values.
    store.save("shared", &r, LONG).await.unwrap();
    assert_eq!(delete_by(store, by_sub("p", "u")).await, 1);
    assert_value(store, "shared", Some("value")).await;
}

/// `delete_value` with `only_if` deletes only the expected value.
pub async fn delete_value_if_deletes_only_the_expected_value<S: ValueStore + ?Sized>(store: &S) {
    assert!(!store
        .delete_value("lock", Some("me"))
        .await
        .expect("absent"));
    assert!(set(store, "lock", "me", LONG, SetMode::Always).await);
    assert!(!store
        .delete_value("lock", Some("other"))
        .await
        .expect("other holder"));
    assert_value(store, "lock", Some("me")).await;
    assert!(store
        .delete_value("lock", Some("me"))
        .await
        .expect("holder"));
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
        .delete_value("short-lock", Some("me"))
        .await
        .expect("expired"));
    assert_value(store, "short-lock", Some("next")).await;
}

/// A huge ttl is accepted.
pub async fn a_huge_ttl_is_accepted<S: SessionStore + ValueStore + ?Sized>(store: &S) {
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

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A record of `provider`'s user `subject` (with the provider session `sid`) holding `data`.
pub fn record(provider: &str, subject: &str, sid: Option<&str>, data: &str) -> SessionRecord {
    SessionRecord::new(
        provider.to_owned(),
        subject.to_owned(),
        sid.map(str::to_owned),
        data.to_owned(),
    )
}

/// A record as text, data included (its `Debug` hides the data, which holds tokens).
pub fn show(r: Option<&SessionRecord>) -> String {
    match r {
        None => "None".to_owned(),
        Some(r) => format!("{}/{}/{:?}/{}", r.provider, r.subject, r.sid, r.data),
    }
}

/// Asserts that `store` holds `expected` under `id` (or nothing).
pub async fn assert_session(
    store: &(impl SessionStore + ?Sized),
    id: &str,
    expected: Option<&SessionRecord>,
) {
    let loaded = store.load(id).await.expect("load");
    assert!(
        loaded.as_ref() == expected,
        "session {id}: got {}, expected {}",
        show(loaded.as_ref()),
        show(expected)
    );
}

/// Asserts that `store` holds the value `expected` under `key` (or nothing).
pub async fn assert_value(store: &(impl ValueStore + ?Sized), key: &str, expected: Option<&str>) {
    let got = store.get_value(key).await.expect("get_value");
    assert_eq!(got.as_deref(), expected, "value {key}");
}

/// `set_value`, which must not fail.
pub async fn set(
    store: &(impl ValueStore + ?Sized),
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

/// `replace`, which must not fail.
pub async fn replace(
    store: &(impl SessionStore + ?Sized),
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

/// `delete_by_index`, which must not fail.
pub async fn delete_by(store: &(impl SessionStore + ?Sized), index: SessionIndex<'_>) -> usize {
    store.delete_by_index(index).await.expect("delete_by_index")
}

/// The index of a provider session.
pub fn by_sid<'a>(provider: &'a str, sid: &'a str) -> SessionIndex<'a> {
    SessionIndex::Sid { provider, sid }
}

/// The index of a user.
pub fn by_sub<'a>(provider: &'a str, subject: &'a str) -> SessionIndex<'a> {
    SessionIndex::Subject { provider, subject }
}

/// One test per scenario of the store contracts, for a store given by an async expression
/// that evaluates to `(store, keep)`: `keep` lives as long as the test (a server, a
/// temporary directory; `()` if nothing). Pick the contracts the store implements:
///
/// - `session_store: <expr>` — [`SessionStore`](crate::store::SessionStore);
/// - `value_store: <expr>` — [`ValueStore`](crate::store::ValueStore);
/// - `session_and_value_store: <expr>` — both, and that the two keep their keys apart.
///
/// The tests are `#[rocket::async_test]`s named after the scenarios, so put each use in a
/// module of its own. Needs the `test-util` feature.
#[macro_export]
macro_rules! store_contract {
    (session_store: $make:expr) => {
        $crate::store_contract!(@tests $make;
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
            concurrent_replaces_have_exactly_one_winner
        );
    };
    (value_store: $make:expr) => {
        $crate::store_contract!(@tests $make;
            set_value_if_absent_writes_only_once,
            a_value_is_gone_after_its_ttl,
            concurrent_if_absent_has_exactly_one_winner,
            delete_value_if_deletes_only_the_expected_value
        );
    };
    (session_and_value_store: $make:expr) => {
        $crate::store_contract!(session_store: $make);
        $crate::store_contract!(value_store: $make);
        $crate::store_contract!(@tests $make;
            values_and_sessions_do_not_share_keys,
            a_huge_ttl_is_accepted
        );
    };
    (@tests $make:expr; $($scenario:ident),* $(,)?) => {
        $(
            #[::rocket::async_test]
            async fn $scenario() {
                let (store, _keep) = $make.await;
                $crate::store::contract::$scenario(&store).await;
            }
        )*
    };
}
