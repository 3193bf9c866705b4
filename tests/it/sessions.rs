//! Sessions on the server's side, written once and run against every store (`cookie`, the
//! cookie store with its marks in Redis, `memory`, Redis standalone, Redis Cluster): logout that bites (a copied cookie is refused
//! afterwards), back-channel and front-channel logout, the idle timeout, and the end of a
//! session whose access token expired without a refresh token.

use std::time::Duration;

use crate::common::app::*;
use crate::common::fake_op::{self, FakeOp, Signing};
use rocket::http::{Accept, ContentType, Cookie, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

const SESSION: &str = "oidc_session_default";

/// Where the sessions of one test live; keeps its Redis servers running.
struct Store {
    /// Lines for `[default.oidc.session]`.
    table: String,
    _servers: Option<Box<dyn std::any::Any>>,
}

impl Store {
    fn cookie() -> Store {
        Store {
            table: "store = \"cookie\"".into(),
            _servers: None,
        }
    }

    fn memory() -> Store {
        Store {
            table: "store = \"memory\"".into(),
            _servers: None,
        }
    }

    #[cfg(feature = "redis")]
    fn redis() -> Store {
        let server = crate::common::redis::RedisServer::start();
        Store {
            table: format!(
                "store = \"redis\"\n[default.oidc.session.redis]\nurl = \"{}\"\nkey_prefix = \"t{}:\"",
                server.url(),
                std::process::id()
            ),
            _servers: Some(Box::new(server)),
        }
    }

    /// The cookie store with its marks of ended sessions in Redis, shared by instances.
    #[cfg(feature = "redis")]
    fn cookie_on_redis() -> Store {
        let server = crate::common::redis::RedisServer::start();
        Store {
            table: format!(
                "store = \"cookie\"\n[default.oidc.session.redis]\nurl = \"{}\"",
                server.url()
            ),
            _servers: Some(Box::new(server)),
        }
    }

    #[cfg(feature = "redis")]
    fn cluster() -> Store {
        let cluster = crate::common::redis::RedisCluster::start();
        let nodes: Vec<String> = cluster.urls().iter().map(|u| format!("{u:?}")).collect();
        Store {
            table: format!(
                "store = \"redis\"\n[default.oidc.session.redis]\ncluster = [{}]",
                nodes.join(", ")
            ),
            _servers: Some(Box::new(cluster)),
        }
    }
}

/// The quickstart with the fake provider, sessions in `store`, `oidc` lines under
/// `[default.oidc]`.
async fn app(store: &Store, oidc: &str) -> (FakeOp, Client) {
    let op = FakeOp::start().await;
    let extra = format!("{oidc}\n[default.oidc.session]\n{}", store.table);
    let client = TestApp::quickstart()
        .provider(&op)
        .oidc(&extra)
        .start()
        .await;
    (op, client)
}

async fn log_in(client: &Client) {
    assert_eq!(
        log_in_at_once(client, "/login").await.status(),
        Status::SeeOther
    );
    assert_eq!(whoami(client, None).await, Status::Ok, "logged in");
}

/// `/whoami` as an API call, with the client's cookies, or with `cookie` as the session
/// cookie instead of the tracked one.
async fn whoami(client: &Client, cookie: Option<&str>) -> Status {
    let mut request = client.get("/whoami").header(Accept::JSON);
    if let Some(value) = cookie {
        request = request.cookie(Cookie::new(SESSION, value.to_string()));
    }
    request.dispatch().await.status()
}

/// Makes the client forget its session cookie without ending the session (a second
/// browser, in effect): an unusable cookie in its place is answered with its removal.
async fn forget_session(client: &Client) {
    whoami(client, Some("unusable")).await;
    assert!(client.cookies().get(SESSION).is_none());
}

fn session_cookie(client: &Client) -> String {
    client
        .cookies()
        .get(SESSION)
        .expect("a session cookie")
        .value()
        .to_string()
}

async fn backchannel(client: &Client, body: &str) -> (Status, Option<String>, String) {
    let response = client
        .post("/logout/backchannel")
        .header(ContentType::Form)
        .body(body)
        .dispatch()
        .await;
    let status = response.status();
    let cache = response
        .headers()
        .get_one("Cache-Control")
        .map(str::to_string);
    (
        status,
        cache,
        response.into_string().await.unwrap_or_default(),
    )
}

fn form(token: &str) -> String {
    format!("logout_token={token}")
}

/// The store suite: one module per store, the same tests in each.
macro_rules! store_suite {
    ($($store:ident),* $(,)?) => {$(
        mod $store {
            use super::*;

            #[rocket::async_test]
            async fn a_copy_of_the_session_cookie_is_refused_after_logout() {
                super::copied_cookie_refused_after_logout(Store::$store()).await;
            }

            #[rocket::async_test]
            async fn back_channel_logout_by_sid_ends_only_that_session() {
                super::backchannel_by_sid(Store::$store()).await;
            }

            #[rocket::async_test]
            async fn back_channel_logout_by_sub_ends_the_users_sessions() {
                super::backchannel_by_sub(Store::$store()).await;
            }

            #[rocket::async_test]
            async fn bad_logout_tokens_answer_400_and_end_nothing() {
                super::bad_logout_tokens(Store::$store()).await;
            }

            #[rocket::async_test]
            async fn front_channel_logout_needs_the_sessions_sid() {
                super::frontchannel(Store::$store()).await;
            }

            #[rocket::async_test]
            async fn a_busy_copy_of_the_cookie_stays_refused_after_logout() {
                super::copied_cookie_refused_after_logout_while_the_copy_stays_active(Store::$store()).await;
            }

            #[rocket::async_test]
            async fn one_users_logins_and_logouts_fill_no_store() {
                super::cycles_fill_nothing(Store::$store()).await;
            }

            #[rocket::async_test]
            async fn an_idle_session_ends() {
                super::idle_timeout(Store::$store()).await;
            }

            #[rocket::async_test]
            async fn a_session_ends_when_its_token_expires_without_a_refresh_token() {
                super::token_expiry_without_refresh(Store::$store()).await;
            }
        }
    )*};
}

store_suite!(cookie, memory);
// Needs the Redis store (`--features redis`).
#[cfg(feature = "redis")]
store_suite!(cookie_on_redis, redis, cluster);

async fn copied_cookie_refused_after_logout(store: Store) {
    let (_op, client) = app(&store, "").await;
    log_in(&client).await;
    let copy = session_cookie(&client);
    assert_eq!(
        whoami(&client, Some(&copy)).await,
        Status::Ok,
        "the copy works"
    );
    let response = client
        .post("/logout")
        .header(rocket::http::Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(whoami(&client, None).await, Status::Unauthorized);
    assert_eq!(
        whoami(&client, Some(&copy)).await,
        Status::Unauthorized,
        "a copy of the cookie taken before the logout must be refused"
    );
}

/// POST /logout from the app's own page; the logout must go through (303).
async fn log_out(client: &Client) {
    let response = client
        .post("/logout")
        .header(rocket::http::Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(
        response.status(),
        Status::SeeOther,
        "the logout goes through"
    );
}

/// One account logging in and out over and over, in a store of the smallest capacity:
/// the marks of its ended sessions stay bounded (one record per user), so another user's
/// logout still bites afterwards.
async fn cycles_fill_nothing(store: Store) {
    let (op, client) = app(&store, "[default.oidc.session.memory]\ncapacity = 16").await;
    for _ in 0..40 {
        // (Past 16 logouts a user's older sessions are ended as a whole, up to the login
        // time of the oldest one named, in whole seconds: a new session from that same
        // second may be refused, so the loop asserts the login, not the session.)
        let login = log_in_at_once(&client, "/login").await;
        assert_eq!(login.status(), Status::SeeOther);
        log_out(&client).await;
    }
    op.set(|b| b.sub = "bob".into());
    log_in(&client).await;
    let copy = session_cookie(&client);
    log_out(&client).await;
    assert_eq!(
        whoami(&client, Some(&copy)).await,
        Status::Unauthorized,
        "bob's logout bites: a copy of his cookie is refused"
    );
    // The cycling account is not locked out: its next login a second later holds.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    op.set(|b| b.sub = "alice".into());
    log_in(&client).await;
}

async fn backchannel_by_sid(store: Store) {
    let (op, client) = app(&store, "").await;
    op.set(|b| {
        b.id_token_claims
            .insert("sid".into(), json!("op-session-1"));
    });
    log_in(&client).await;
    let first = session_cookie(&client);
    // A second login of the same user in another provider session.
    op.set(|b| {
        b.id_token_claims
            .insert("sid".into(), json!("op-session-2"));
    });
    forget_session(&client).await;
    log_in(&client).await;
    let second = session_cookie(&client);
    assert_ne!(first, second);

    let token = op.logout_token(
        Some("op-session-1"),
        Some("alice"),
        json!({}),
        "logout+jwt",
        Signing::Good,
    );
    let (status, cache, body) = backchannel(&client, &form(&token)).await;
    assert_eq!(status, Status::Ok, "{body}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert_eq!(
        whoami(&client, Some(&first)).await,
        Status::Unauthorized,
        "sid 1 ended"
    );
    assert_eq!(
        whoami(&client, Some(&second)).await,
        Status::Ok,
        "sid 2 lives on"
    );
}

async fn backchannel_by_sub(store: Store) {
    let (op, client) = app(&store, "").await;
    log_in(&client).await;
    let first = session_cookie(&client);
    forget_session(&client).await;
    log_in(&client).await;
    let second = session_cookie(&client);
    // Typed JWT, as some providers send it (Back-Channel Logout only recommends logout+jwt).
    let token = op.logout_token(None, Some("alice"), json!({}), "JWT", Signing::Good);
    let (status, _, body) = backchannel(&client, &form(&token)).await;
    assert_eq!(status, Status::Ok, "{body}");
    assert_eq!(whoami(&client, Some(&first)).await, Status::Unauthorized);
    assert_eq!(whoami(&client, Some(&second)).await, Status::Unauthorized);
    // A login after the logout is a new session (the cookie store compares login times in
    // seconds, and ends a login of the logout's own second too).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    forget_session(&client).await;
    log_in(&client).await;
}

async fn bad_logout_tokens(store: Store) {
    let (op, client) = app(&store, "").await;
    op.set(|b| {
        b.id_token_claims
            .insert("sid".into(), json!("op-session-1"));
    });
    log_in(&client).await;
    // A valid token, used once (it ends session 1), for the replay case below.
    let replayed = op.logout_token(
        Some("op-session-1"),
        Some("alice"),
        json!({}),
        "logout+jwt",
        Signing::Good,
    );
    let (status, _, body) = backchannel(&client, &form(&replayed)).await;
    assert_eq!(status, Status::Ok, "{body}");
    assert_eq!(whoami(&client, None).await, Status::Unauthorized);
    // The live session every bad token below names: accepting any of them would end it.
    op.set(|b| {
        b.id_token_claims
            .insert("sid".into(), json!("op-session-2"));
    });
    forget_session(&client).await;
    log_in(&client).await;
    let sid = Some("op-session-2");
    let sub = Some("alice");
    let good = |overrides: Value| op.logout_token(sid, sub, overrides, "logout+jwt", Signing::Good);
    let signed = |signing: Signing, typ: &str| op.logout_token(sid, sub, json!({}), typ, signing);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let event = "http://schemas.openid.net/event/backchannel-logout";
    let cases: Vec<(&str, String)> = vec![
        (
            "bad signature",
            form(&signed(Signing::BadSignature, "logout+jwt")),
        ),
        ("alg none", form(&signed(Signing::AlgNone, "logout+jwt"))),
        (
            "HS256 with the public key",
            form(&signed(Signing::Hs256WithPublicKey, "logout+jwt")),
        ),
        (
            "unpublished key",
            form(&signed(Signing::OtherKey, "logout+jwt")),
        ),
        ("typ at+jwt", form(&signed(Signing::Good, "at+jwt"))),
        ("typ dpop+jwt", form(&signed(Signing::Good, "dpop+jwt"))),
        ("an empty typ", form(&signed(Signing::Good, ""))),
        (
            "wrong iss",
            form(&good(json!({"iss": "http://127.0.0.1:1"}))),
        ),
        ("wrong aud", form(&good(json!({"aud": "someone-else"})))),
        (
            "an untrusted second aud",
            form(&good(json!({"aud": [fake_op::CLIENT_ID, "someone-else"]}))),
        ),
        ("no aud", form(&good(json!({"aud": null})))),
        ("iat in the future", form(&good(json!({"iat": now + 3600})))),
        ("no iat", form(&good(json!({"iat": null})))),
        (
            "issued over an hour ago",
            form(&good(json!({"iat": now - 4000, "exp": now + 600}))),
        ),
        (
            "no exp and a stale iat",
            form(&good(json!({"exp": null, "iat": now - 600}))),
        ),
        (
            "expired",
            form(&good(json!({"exp": now - 3600, "iat": now - 4000}))),
        ),
        ("no events", form(&good(json!({"events": null})))),
        (
            "wrong event",
            form(&good(json!({"events": {"http://example.com/other": {}}}))),
        ),
        (
            "an event that is not an object",
            form(&good(json!({"events": {event: "yes"}}))),
        ),
        ("a nonce", form(&good(json!({"nonce": "n"})))),
        ("no jti", form(&good(json!({"jti": null})))),
        (
            "neither sid nor sub",
            form(&good(json!({"sid": null, "sub": null}))),
        ),
        (
            "a sid over 255 bytes",
            form(&good(json!({"sid": "s".repeat(256)}))),
        ),
        ("not a JWT", form("not-a-jwt")),
        ("no logout_token", "other=1".into()),
        (
            "repeated logout_token",
            format!("{}&{}", form(&good(json!({}))), form(&good(json!({})))),
        ),
        ("replayed jti", form(&replayed)),
    ];
    for (case, body) in cases {
        let (status, cache, text) = backchannel(&client, &body).await;
        assert_eq!(status, Status::BadRequest, "{case}: {text}");
        assert_eq!(cache.as_deref(), Some("no-store"), "{case}");
        let error = json(&text);
        assert_eq!(error["error"], "invalid_request", "{case}: {text}");
        assert!(
            error["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{case}"
        );
        assert_eq!(
            whoami(&client, None).await,
            Status::Ok,
            "{case} must end nothing"
        );
    }
    let response = client
        .post("/logout/backchannel")
        .header(ContentType::JSON)
        .body("{}")
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::BadRequest, "not a form");
    // And the same token, valid, does end it: the cases above differ only in their flaw.
    let (status, _, body) = backchannel(&client, &form(&good(json!({})))).await;
    assert_eq!(status, Status::Ok, "{body}");
    assert_eq!(whoami(&client, None).await, Status::Unauthorized);
}

async fn frontchannel(store: Store) {
    let (op, client) = app(&store, "").await;
    op.set(|b| {
        b.id_token_claims
            .insert("sid".into(), json!("op-session-1"));
    });
    log_in(&client).await;
    let iss = op.issuer.clone();
    for query in [
        String::new(),
        format!("?iss={iss}"),
        "?sid=op-session-1".to_string(),
        "?iss=http://127.0.0.1:1&sid=op-session-1".to_string(),
    ] {
        let response = client
            .get(format!("/logout/frontchannel{query}"))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::BadRequest, "{query:?}");
        assert_eq!(
            whoami(&client, None).await,
            Status::Ok,
            "{query:?} ends nothing"
        );
    }
    let wrong_sid = client
        .get(format!("/logout/frontchannel?iss={iss}&sid=another"))
        .dispatch()
        .await;
    assert_eq!(wrong_sid.status(), Status::Ok);
    assert_eq!(
        whoami(&client, None).await,
        Status::Ok,
        "another sid ends nothing"
    );

    let copy = session_cookie(&client);
    let response = client
        .get(format!("/logout/frontchannel?iss={iss}&sid=op-session-1"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Ok);
    let headers = response.headers();
    assert_eq!(headers.get_one("Cache-Control"), Some("no-store"));
    assert_eq!(
        headers.get_one("Content-Security-Policy"),
        Some(format!("frame-ancestors {iss}").as_str())
    );
    assert_eq!(whoami(&client, None).await, Status::Unauthorized);
    assert_eq!(whoami(&client, Some(&copy)).await, Status::Unauthorized);
}

async fn idle_timeout(store: Store) {
    let (_op, client) = app(&store, "session_idle_timeout = 3").await;
    log_in(&client).await;
    // Activity keeps it alive past the timeout...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(whoami(&client, None).await, Status::Ok, "active");
    }
    // ...idleness ends it.
    tokio::time::sleep(Duration::from_millis(4200)).await;
    assert_eq!(whoami(&client, None).await, Status::Unauthorized, "idle");
}

async fn token_expiry_without_refresh(store: Store) {
    // Ends by default...
    let (op, client) = app(&store, "clock_skew = 0").await;
    op.set(|b| {
        b.expires_in = 3;
        b.no_refresh_token = true;
    });
    log_in(&client).await;
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(
        whoami(&client, None).await,
        Status::Unauthorized,
        "the access token expired and nothing renews it: the session is over"
    );
    // ...and lives on with end_session_with_access_token = false (the route decides).
    let (op, client) = app(
        &store,
        "clock_skew = 0\nend_session_with_access_token = false",
    )
    .await;
    op.set(|b| {
        b.expires_in = 3;
        b.no_refresh_token = true;
    });
    log_in(&client).await;
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(
        whoami(&client, None).await,
        Status::Ok,
        "the session lives on"
    );
    let token = client.get("/token").header(Accept::JSON).dispatch().await;
    assert_eq!(
        token.status(),
        Status::Unauthorized,
        "but it has no valid token"
    );
}

async fn copied_cookie_refused_after_logout_while_the_copy_stays_active(store: Store) {
    let (_op, client) = app(&store, "session_idle_timeout = 3").await;
    log_in(&client).await;
    let original = session_cookie(&client);
    // A thief keeps a copy busy: each use records activity (the copy is renewed).
    let mut copy = original.clone();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(whoami(&client, Some(&copy)).await, Status::Ok);
        copy = session_cookie(&client);
    }
    // The user logs out with the cookie they had (its activity is older than the copy's).
    let response = client
        .post("/logout")
        .header(rocket::http::Header::new("Sec-Fetch-Site", "same-origin"))
        .cookie(Cookie::new(SESSION, original))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
    // Past the idle timeout of the logged-out cookie, within the copy's.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        whoami(&client, Some(&copy)).await,
        Status::Unauthorized,
        "a logout ends every copy for as long as one could live"
    );
}

/// Whoever reads Redis reads no token: the stored session is sealed, and a sealed record
/// moved under another session's id does not open there.
#[cfg(feature = "redis")]
#[rocket::async_test]
async fn redis_keeps_sessions_sealed_and_bound_to_their_id() {
    let server = crate::common::redis::RedisServer::start();
    let store = Store {
        table: format!(
            "store = \"redis\"\n[default.oidc.session.redis]\nurl = \"{}\"\nkey_prefix = \"sealed:\"",
            server.url()
        ),
        _servers: None,
    };
    let (op, client) = app(&store, "").await;
    let alice = log_in_at_once(&client, "/login").await;
    assert_eq!(alice.status(), Status::SeeOther);
    let body = client
        .get("/login")
        .header(Accept::JSON)
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    let login: Value = serde_json::from_str(&body).unwrap();
    let access_token = login["access_token"].as_str().expect("an access token");
    let keys = |server: &crate::common::redis::RedisServer| -> Vec<String> {
        let listed = server.cli(&["--scan", "--pattern", "sealed:s:*"]);
        listed.lines().map(str::to_string).collect()
    };
    let alice_keys = keys(&server);
    assert_eq!(alice_keys.len(), 1, "{alice_keys:?}");
    let record = server.cli(&["GET", &alice_keys[0]]);
    assert!(record.contains("\"d\":\"v1."), "{record}");
    assert!(
        !record.contains(access_token) && !record.contains("alice@example"),
        "the stored session shows its contents: {record}"
    );

    // Mallory logs in, and someone with write access to Redis moves Alice's record under
    // Mallory's session id: it does not open there.
    forget_session(&client).await;
    op.set(|b| b.sub = "mallory".into());
    log_in(&client).await;
    let mallory_key = keys(&server)
        .into_iter()
        .find(|key| *key != alice_keys[0])
        .expect("mallory's session");
    assert_eq!(server.cli(&["SET", &mallory_key, &record]), "OK");
    assert_eq!(
        whoami(&client, None).await,
        Status::Unauthorized,
        "a record sealed for another id is no session"
    );
}
