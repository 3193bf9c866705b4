//! The HTTP client's settings: a provider on https with a certificate of a private CA (made
//! with `openssl`, tests/common/pki.rs) trusted through `ca_certificates` or a handed-in client, and an
//! HTTP proxy that every call to the provider goes through.

use crate::common::app::*;
use crate::common::clients::APP;
use crate::common::node_op::{through_provider, AtProvider, NodeOp, CLIENT_ID, CLIENT_SECRET};
use crate::common::pki::Pki;
use rocket::http::Status;

fn provider(extra: &str) -> String {
    format!("client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n{extra}")
}

#[rocket::async_test]
async fn a_private_ca_is_trusted_only_when_configured() {
    let pki = Pki::new();
    let op = NodeOp::start(&[
        ("OP_TLS_CERT", &pki.path("op.pem")),
        ("OP_TLS_KEY", &pki.path("op.key")),
    ]);
    assert!(op.issuer.starts_with("https://127.0.0.1:"), "{}", op.issuer);

    // Not trusted: the provider counts as unreachable (launch goes on, logins answer 503
    // until the configuration is fixed).
    let client = TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider(""))
        .start()
        .await;
    let response = browse(&client, "/login").await;
    assert_eq!(response.status(), Status::ServiceUnavailable);

    // A CA file that holds no certificate is a configuration mistake.
    let figment = TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider(&format!(
            "ca_certificates = [\"{}\"]",
            pki.path("op.key")
        )));
    figment.launch_fails().await;

    // Trusted: a whole login over TLS.
    let client = TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider(&format!(
            "ca_certificates = [\"{}\"]",
            pki.path("ca.pem")
        )))
        .start()
        .await;
    let auth_url = start_login(&client, "/login").await;
    assert!(auth_url.starts_with(&op.issuer), "{auth_url}");
    let browser = pki.browser();
    let (callback, _) =
        through_provider(&browser, &auth_url, APP, AtProvider::LogIn("alice")).await;
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::SeeOther);
    let body = json(&browse(&client, "/login").await.into_string().await.unwrap());
    assert_eq!(body["userinfo"]["email"], "alice@example.com");
}

#[rocket::async_test]
async fn a_handed_in_http_client_is_used_for_every_call() {
    let pki = Pki::new();
    let op = NodeOp::start(&[
        ("OP_TLS_CERT", &pki.path("op.pem")),
        ("OP_TLS_KEY", &pki.path("op.key")),
    ]);
    // The app's own client trusts the CA; the configuration says nothing about TLS.
    let http = pki.browser();
    let rocket = rocket::build()
        .configure(
            TestApp::quickstart()
                .issuer(&op.issuer)
                .scope(EMAIL_SCOPE)
                .provider_table(&provider(""))
                .figment(),
        )
        .attach(rocket_oidc_auth::OidcFairing::from_config().with_http_client(http.clone()))
        .mount("/", rocket::routes![whoami]);
    let client = rocket::local::asynchronous::Client::tracked(rocket)
        .await
        .unwrap();
    let response = browse(&client, "/whoami").await;
    assert_eq!(response.status(), Status::SeeOther);
    let auth_url = location(&response);
    let (callback, _) = through_provider(&http, &auth_url, APP, AtProvider::LogIn("bob")).await;
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::SeeOther);
    let response = browse(&client, "/whoami").await;
    assert_eq!(response.into_string().await.unwrap(), "bob");

    // Provider settings that would need a client of the crate's own stop launch.
    let figment = TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider("http_user_agent = \"mine/1.0\""));
    let rocket = rocket::build()
        .configure(figment.figment())
        .attach(rocket_oidc_auth::OidcFairing::from_config().with_http_client(http));
    match rocket.ignite().await {
        Ok(_) => panic!("launch should stop"),
        Err(error) => assert!(matches!(
            error.kind(),
            rocket::error::ErrorKind::FailedFairings(_)
        )),
    }
}

#[rocket::get("/whoami")]
fn whoami(user: rocket_oidc_auth::Authenticated<rocket_oidc_auth::provider::Default>) -> String {
    user.subject().to_string()
}

#[rocket::async_test]
async fn calls_to_the_provider_go_through_the_proxy() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A proxy that records each request's first line and answers 502 itself.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let recorder = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = vec![0u8; 8192];
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buffer[..n]).to_string();
            recorder
                .lock()
                .unwrap()
                .push(head.lines().next().unwrap_or("").to_string());
            let _ = stream
                .write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
        }
    });
    // No provider listens at this issuer: only the proxy can answer.
    let issuer = "http://127.0.0.1:9";
    let client = TestApp::quickstart()
        .issuer(issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider(&format!("http_proxy = \"{proxy}\"")))
        .start()
        .await;
    let response = browse(&client, "/login").await;
    assert_eq!(
        response.status(),
        Status::ServiceUnavailable,
        "the proxy answered 502"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|line| line == &format!("GET {issuer}/.well-known/openid-configuration HTTP/1.1")),
        "{seen:?}"
    );
}
