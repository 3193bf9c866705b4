//! Dynamic client registration (OpenID Connect Registration 1.0, RFC 7591/7592) against the
//! real test provider: once per deployment, kept in a file or a shared Redis, read back at
//! start, registered again when the provider forgot the client or its secret expired.

use crate::common::app::*;
use crate::common::clients::logs_in;
use crate::common::node_op::{through_provider, AtProvider, NodeOp};
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use serde_json::Value;

const APP: &str = "http://127.0.0.1:8000/";

/// A provider `default` registered dynamically: `registration` lines go in its
/// `client_registration` table, `provider` lines in the provider table.
fn config(issuer: &str, provider: &str, registration: &str, oidc_extra: &str) -> TestApp {
    let provider = format!(
        "{provider}\n\n[default.oidc.providers.default.client_registration]\n\
         client_name = \"rocket_oidc_auth registration test\"\n{registration}"
    );
    TestApp::quickstart()
        .issuer(issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider)
        .oidc(oidc_extra)
}

/// A fresh path for a registration file.
fn registration_file() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rocket-oidc-registration-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("client.json")
}

fn file_setting(path: &std::path::Path) -> String {
    format!("registration_file = \"{}\"", path.display())
}

/// Logs in; returns the client_id the ID token was issued to.
async fn log_in(client: &Client, user: &str) -> String {
    let body = logs_in(client, user).await;
    assert_eq!(body["id_token"]["sub"], user);
    body["id_token"]["aud"].as_str().unwrap().to_string()
}

fn kept(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[rocket::async_test]
async fn a_deployment_registers_once_and_a_restart_reuses_the_client() {
    let op = NodeOp::start(&[("OP_REGISTRATION", "1")]);
    let path = registration_file();
    let app = || config(&op.issuer, &file_setting(&path), "", "");

    let first = app().start().await;
    assert_eq!(op.hits("/reg").await, 1, "registered at launch");
    let client_id = log_in(&first, "alice").await;
    let kept = kept(&path);
    assert_eq!(kept["response"]["client_id"], client_id.as_str());
    assert_eq!(
        kept["response"]["redirect_uris"],
        serde_json::json!([REDIRECT_URI])
    );
    assert_eq!(
        kept["response"]["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        kept["response"]["client_name"],
        "rocket_oidc_auth registration test"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the file holds the client secret");
    }

    // A restart (another process, same file): no new registration; the kept client is read
    // back once at its registration_client_uri.
    let second = app().start().await;
    assert_eq!(op.hits("/reg").await, 1, "no second registration");
    assert_eq!(op.hits(&format!("/reg/{client_id}")).await, 1, "read back");
    assert_eq!(log_in(&second, "bob").await, client_id);
}

#[rocket::async_test]
async fn instances_starting_at_once_register_once() {
    let op = NodeOp::start(&[("OP_REGISTRATION", "1")]);
    let path = registration_file();
    let app = || config(&op.issuer, &file_setting(&path), "", "");
    let (a, b, c) = tokio::join!(app().start(), app().start(), app().start());
    assert_eq!(
        op.hits("/reg").await,
        1,
        "one registration for three instances"
    );
    let id = log_in(&a, "carol").await;
    assert_eq!(log_in(&b, "dave").await, id);
    assert_eq!(log_in(&c, "erin").await, id);
    assert!(
        !path.with_extension("json.lock").exists(),
        "the lock is released"
    );
}

#[cfg(feature = "redis")]
#[rocket::async_test]
async fn a_shared_redis_keeps_the_client_for_every_instance() {
    let redis = crate::common::redis::RedisServer::start();
    let op = NodeOp::start(&[("OP_REGISTRATION", "1")]);
    let store = format!(
        "[default.oidc.session]\nstore = \"redis\"\n[default.oidc.session.redis]\nurl = \"{}\"",
        redis.url()
    );
    let app = || config(&op.issuer, "", "", &store);
    let (a, b) = tokio::join!(app().start(), app().start());
    assert_eq!(
        op.hits("/reg").await,
        1,
        "one registration for two instances"
    );
    let id = log_in(&a, "frank").await;
    assert_eq!(log_in(&b, "grace").await, id);
    let kept = redis.cli(&["GET", "rocket_oidc:v:registration:default"]);
    assert!(kept.contains(&id), "kept in Redis: {kept}");
    // A later instance finds it there.
    let c = app().start().await;
    assert_eq!(op.hits("/reg").await, 1);
    assert_eq!(log_in(&c, "heidi").await, id);
}

#[rocket::async_test]
async fn an_initial_access_token_is_required_and_sent() {
    let op = NodeOp::start(&[
        ("OP_REGISTRATION", "1"),
        ("OP_INITIAL_ACCESS_TOKEN", "let-me-register"),
    ]);
    let path = registration_file();
    config(&op.issuer, &file_setting(&path), "", "")
        .launch_fails()
        .await;
    config(
        &op.issuer,
        &file_setting(&path),
        "initial_access_token = \"wrong\"",
        "",
    )
    .launch_fails()
    .await;
    assert!(!path.exists(), "nothing kept after a refusal");
    let client = config(
        &op.issuer,
        &file_setting(&path),
        "initial_access_token = \"let-me-register\"",
        "",
    )
    .start()
    .await;
    log_in(&client, "ivan").await;
    assert_eq!(op.hits("/reg").await, 3);
}

#[rocket::async_test]
async fn a_client_the_provider_forgot_is_registered_again() {
    let op = NodeOp::start(&[("OP_REGISTRATION", "1")]);
    let path = registration_file();
    let app = || config(&op.issuer, &file_setting(&path), "", "");
    let first = app().start().await;
    let old = kept(&path)["response"]["client_id"]
        .as_str()
        .unwrap()
        .to_string();

    // A login reaches the provider; then the client is deleted there (RFC 7592 2.3)
    // behind the app's back, before the code is exchanged.
    let auth_url = start_login(&first, "/login").await;
    assert_eq!(param(&auth_url, "client_id").as_deref(), Some(old.as_str()));
    let (callback, _) = through_provider(
        &provider_browser(),
        &auth_url,
        APP,
        AtProvider::LogIn("judy"),
    )
    .await;
    let response = &kept(&path)["response"];
    let deleted = reqwest::Client::new()
        .delete(response["registration_client_uri"].as_str().unwrap())
        .bearer_auth(response["registration_access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);

    // The token endpoint answers invalid_client: the app's credentials, so 502; the
    // instance forgets the client, and its next login registers a new one.
    let response = browse(&first, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::BadGateway);
    let new = log_in(&first, "judy").await;
    assert_ne!(new, old);
    assert_eq!(op.hits("/reg").await, 2, "registered again");
    assert_eq!(kept(&path)["response"]["client_id"], new.as_str());

    // Another instance reads the new client back and uses it.
    let second = app().start().await;
    assert_eq!(op.hits("/reg").await, 2);
    assert_eq!(log_in(&second, "judy").await, new);
}

#[rocket::async_test]
async fn an_expired_secret_is_registered_again() {
    // Secrets expire 62 s after registration; the crate renews one within 60 s of expiry.
    let op = NodeOp::start(&[("OP_REGISTRATION", "1"), ("OP_REGISTRATION_TTL", "62")]);
    let path = registration_file();
    let app = || config(&op.issuer, &file_setting(&path), "", "");
    let first = app().start().await;
    let old = log_in(&first, "ken").await;
    assert!(
        kept(&path)["response"]["client_secret_expires_at"]
            .as_i64()
            .unwrap()
            > 0
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let second = app().start().await;
    assert_eq!(op.hits("/reg").await, 2, "registered again before expiry");
    assert_ne!(log_in(&second, "ken").await, old);
}

#[rocket::async_test]
async fn registration_mistakes_stop_launch() {
    // A provider without dynamic registration.
    let op = NodeOp::start(&[]);
    config(&op.issuer, &file_setting(&registration_file()), "", "")
        .launch_fails()
        .await;

    // Metadata that is not client metadata at all: refused at launch, the provider is
    // never asked.
    let op = NodeOp::start(&[("OP_REGISTRATION", "1")]);
    config(
        &op.issuer,
        &file_setting(&registration_file()),
        "id_token_signed_response_alg = \"none-such\"",
        "",
    )
    .launch_fails()
    .await;
    assert_eq!(op.hits("/reg").await, 0);

    // Metadata the provider refuses (RFC 7591 3.2.2): ES512 is an algorithm, but not one
    // the test provider signs ID tokens with.
    config(
        &op.issuer,
        &file_setting(&registration_file()),
        "id_token_signed_response_alg = \"ES512\"",
        "",
    )
    .launch_fails()
    .await;
    assert_eq!(op.hits("/reg").await, 1);

    // No shared store and no file: where would the client be kept?
    config(&op.issuer, "", "", "").launch_fails().await;
}

#[rocket::async_test]
async fn a_registered_private_key_jwt_client_is_checked_with_the_apps_own_jwks() {
    // The app on a real port: the provider fetches the app's jwks_uri to check assertions.
    let port = crate::common::server::free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let redirect_uri = format!("{origin}/redirect_uri");
    let op = NodeOp::start(&[("OP_REGISTRATION", "1")]);
    let path = registration_file();
    let key = format!(
        "{}/tests/fixtures/client_ed25519.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let provider = format!(
        "{}\ntoken_endpoint_auth_method = \"private_key_jwt\"\nprivate_key = \"{key}\"\n\
         jwks_path = \"/.well-known/jwks.json\"",
        file_setting(&path)
    );
    let app = config(&op.issuer, &provider, "", "")
        .set("port", port)
        .set("address", "127.0.0.1")
        .set("oidc.redirect_uri", &redirect_uri);
    let rocket = app.rocket().ignite().await.expect("ignites");
    let shutdown = rocket.shutdown();
    let server = tokio::spawn(rocket.launch());

    let browser = provider_browser();
    let mut jwks = None;
    for _ in 0..100 {
        if let Ok(response) = browser
            .get(format!("{origin}/.well-known/jwks.json"))
            .send()
            .await
        {
            jwks = Some(response);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let jwks = jwks.expect("the app serves its keys");
    assert_eq!(jwks.status().as_u16(), 200);
    assert!(jwks.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let jwks: Value = jwks.json().await.unwrap();
    let published = &jwks["keys"][0];
    assert_eq!(published["kty"], "OKP");
    assert_eq!(published["alg"], "EdDSA");
    assert_eq!(published["use"], "sig");
    assert!(published.get("d").is_none(), "no private part");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/client_public_jwks.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        published["kid"], expected["client_ed25519"]["kid"],
        "RFC 7638 kid"
    );
    assert_eq!(published["x"], expected["client_ed25519"]["x"]);

    let registered = kept(&path);
    assert_eq!(
        registered["response"]["jwks_uri"],
        format!("{origin}/.well-known/jwks.json")
    );
    assert_eq!(
        registered["response"]["token_endpoint_auth_method"],
        "private_key_jwt"
    );
    assert_eq!(
        registered["response"]["token_endpoint_auth_signing_alg"],
        "EdDSA"
    );
    assert_eq!(
        registered["response"]["redirect_uris"][0],
        redirect_uri.as_str()
    );

    // A whole login: the token endpoint checks the assertion with the fetched key.
    let response = browser
        .get(format!("{origin}/login"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let auth_url = response.headers()["location"].to_str().unwrap().to_string();
    let (callback, _) =
        through_provider(&browser, &auth_url, &origin, AtProvider::LogIn("olga")).await;
    let response = browser.get(&callback).send().await.unwrap();
    assert_eq!(
        response.status().as_u16(),
        303,
        "{:?}",
        response.text().await
    );
    let body: Value = browser
        .get(format!("{origin}/login"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["id_token"]["sub"], "olga");
    assert_eq!(body["id_token"]["aud"], registered["response"]["client_id"]);

    shutdown.notify();
    let _ = server.await;
}
