//! The memory store's own tests: its bounds and eviction policy (the contract every store
//! keeps is in `store::contract`).

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
