//! Mutual TLS to the provider (RFC 8705) against panva's provider over https, with a test
//! CA and client certificates made by `openssl` (tests/common/pki.rs): client
//! authentication by `tls_client_auth` and `self_signed_tls_client_auth`, access tokens
//! bound to the certificate (`cnf.x5t#S256`) that the provider takes only over a connection
//! presenting it, a refresh, the provider's `mtls_endpoint_aliases`, and what stops launch.

use serde_json::{json, Value};

use crate::common::app::*;
use crate::common::clients::APP;
use crate::common::node_op::{through_provider, AtProvider, NodeOp};
use crate::common::pki::{Pki, CLIENT_SUBJECT};
use rocket::figment::providers::Format as _;
use rocket::http::Status;

const REDIRECT_URI: &str = "http://127.0.0.1:8000/redirect_uri";

/// The provider on https, asking every connection for a client certificate, with `clients`.
fn mtls_op(pki: &Pki, clients: &Value, more: &[(&str, &str)]) -> NodeOp {
    // Shorter than the app's clock skew: every /token refreshes.
    let mut env = vec![("OP_TTL_ACCESS_TOKEN", "30")];
    env.extend_from_slice(more);
    pki.provider(clients, &env)
}

/// The provider's client `mtls-ca`: `tls_client_auth` with the CA-issued certificate's
/// subject, its access tokens bound to the certificate when `bound`.
fn ca_client(bound: bool) -> Value {
    json!({
        "client_id": "mtls-ca",
        "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_subject_dn": CLIENT_SUBJECT,
        "tls_client_certificate_bound_access_tokens": bound,
        "redirect_uris": [REDIRECT_URI],
    })
}

/// The provider table of an mTLS client `client_id` with certificate `name` (`client` or
/// `self`), authenticating by `method`.
fn provider_keys(pki: &Pki, client_id: &str, name: &str, method: &str) -> String {
    format!(
        "client_id = \"{client_id}\"\ntoken_endpoint_auth_method = \"{method}\"\n\
         ca_certificates = [\"{}\"]\ntls_client_certificate = \"{}\"\ntls_client_key = \"{}\"",
        pki.path("ca.pem"),
        pki.path(&format!("{name}.pem")),
        pki.path(&format!("{name}.key")),
    )
}

/// A login of `user` through `client` (the app) and the provider: `/login`'s JSON.
async fn log_in_as(client: &rocket::local::asynchronous::Client, pki: &Pki, user: &str) -> Value {
    let auth_url = start_login(client, "/login").await;
    let (callback, _) =
        through_provider(&pki.browser(), &auth_url, APP, AtProvider::LogIn(user)).await;
    let response = browse(client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::SeeOther, "the callback logs in");
    json_of(browse(client, "/login").await).await
}

async fn json_of(response: rocket::local::asynchronous::LocalResponse<'_>) -> Value {
    json(&response.into_string().await.unwrap())
}

/// The login, the bound tokens, and a refresh, for one client authentication.
async fn bound_login_and_refresh(
    pki: &Pki,
    op: &NodeOp,
    client_id: &str,
    certificate: &str,
    method: &str,
) {
    let client = TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider_keys(pki, client_id, certificate, method))
        .start()
        .await;
    let body = log_in_as(&client, pki, "alice").await;
    // UserInfo answered the app: it presented the certificate the token is bound to.
    assert_eq!(body["userinfo"]["email"], "alice@example.com", "{body}");
    let access_token = body["access_token"].as_str().unwrap().to_string();

    // Bound: refused without the certificate (or with another), taken with it.
    assert_eq!(op.userinfo_status(&pki.browser(), &access_token).await, 401);
    let other = if certificate == "client" {
        "self"
    } else {
        "client"
    };
    assert_eq!(
        op.userinfo_status(&pki.presenting(other), &access_token)
            .await,
        401
    );
    assert_eq!(
        op.userinfo_status(&pki.presenting(certificate), &access_token)
            .await,
        200
    );

    // A refresh over the same connection: a new token, bound as well.
    let token = json_of(browse(&client, "/token").await).await;
    let refreshed = token["access_token"].as_str().unwrap();
    assert_ne!(refreshed, access_token, "refreshed: {token}");
    assert_eq!(op.userinfo_status(&pki.browser(), refreshed).await, 401);
    assert_eq!(
        op.userinfo_status(&pki.presenting(certificate), refreshed)
            .await,
        200
    );
}

#[rocket::async_test]
async fn tls_client_auth_logs_in_and_refreshes_with_certificate_bound_tokens() {
    let pki = Pki::new();
    let op = mtls_op(&pki, &json!([ca_client(true)]), &[]);
    bound_login_and_refresh(&pki, &op, "mtls-ca", "client", "tls_client_auth").await;
}

#[rocket::async_test]
async fn self_signed_tls_client_auth_logs_in_and_refreshes() {
    let pki = Pki::new();
    let op = mtls_op(
        &pki,
        &json!([{
            "client_id": "mtls-self",
            "token_endpoint_auth_method": "self_signed_tls_client_auth",
            "tls_client_certificate_file": pki.path("self.pem"),
            "tls_client_certificate_bound_access_tokens": true,
            "redirect_uris": [REDIRECT_URI],
        }]),
        &[],
    );
    bound_login_and_refresh(
        &pki,
        &op,
        "mtls-self",
        "self",
        "self_signed_tls_client_auth",
    )
    .await;
}

#[rocket::async_test]
async fn the_certificate_is_the_client_authentication() {
    let pki = Pki::new();
    let op = mtls_op(&pki, &json!([ca_client(false)]), &[]);
    // The self-signed certificate is not the registered subject's: the token endpoint
    // refuses the code (invalid_client), and the login ends in an error, not a session.
    let client = TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider_keys(&pki, "mtls-ca", "self", "tls_client_auth"))
        .start()
        .await;
    let auth_url = start_login(&client, "/login").await;
    let (callback, _) =
        through_provider(&pki.browser(), &auth_url, APP, AtProvider::LogIn("bob")).await;
    let response = browse(&client, &path_and_query(&callback)).await;
    assert!(
        response.status().code >= 400,
        "a refused client authentication: {}",
        response.status()
    );
    assert_eq!(browse(&client, "/whoami").await.status(), Status::SeeOther);
}

#[rocket::async_test]
async fn what_stops_launch_names_its_key() {
    let pki = Pki::new();
    let base = |extra: &str| {
        TestApp::quickstart()
            .issuer("https://127.0.0.1:9")
            .scope(EMAIL_SCOPE)
            .provider_table(&format!("client_id = \"mtls\"\n{extra}"))
    };
    let pair = |cert: &str, key: &str| {
        format!(
            "token_endpoint_auth_method = \"tls_client_auth\"\ntls_client_certificate = \"{}\"\n\
             tls_client_key = \"{}\"",
            pki.path(cert),
            pki.path(key)
        )
    };
    // Expired; a key of another certificate; unreadable; no certificate at all.
    base(&pair("expired.pem", "expired.key"))
        .launch_fails()
        .await;
    base(&pair("client.pem", "self.key")).launch_fails().await;
    base(&pair("missing.pem", "client.key"))
        .launch_fails()
        .await;
    base("token_endpoint_auth_method = \"tls_client_auth\"")
        .launch_fails()
        .await;
    // A certificate handed-in HTTP clients cannot present.
    let rocket = rocket::build()
        .configure(base(&pair("client.pem", "client.key")).figment())
        .attach(
            rocket_oidc_auth::OidcFairing::from_config().with_http_client(reqwest::Client::new()),
        );
    match rocket.ignite().await {
        Ok(_) => panic!("launch should stop"),
        Err(error) => assert!(matches!(
            error.kind(),
            rocket::error::ErrorKind::FailedFairings(_)
        )),
    }
}

/// The bearer side (RFC 8705 3): an API of this crate takes a certificate-bound access
/// token only from a request presenting that certificate on its TLS connection (Rocket's
/// `mtls`; the local client sets the connection's certificate as a TLS listener would).
#[cfg(feature = "mtls")]
#[rocket::async_test]
async fn an_api_takes_a_certificate_bound_token_only_with_its_certificate() {
    use rocket::http::Header;
    const RESOURCE: &str = "https://api.example.com";
    let pki = Pki::new();
    for (validation, format) in [("jwt", "jwt"), ("introspection", "opaque")] {
        let op = mtls_op(
            &pki,
            &json!([
                {
                    "client_id": "api",
                    "client_secret": "api-secret-api-secret-api-secret-api",
                    "redirect_uris": [REDIRECT_URI],
                },
                {
                    "client_id": "mtls-caller",
                    "token_endpoint_auth_method": "tls_client_auth",
                    "tls_client_auth_subject_dn": CLIENT_SUBJECT,
                    "tls_client_certificate_bound_access_tokens": true,
                    "redirect_uris": ["http://127.0.0.1:9/cb"],
                    "grant_types": ["client_credentials"],
                },
            ]),
            &[("OP_RESOURCE", RESOURCE), ("OP_RESOURCE_FORMAT", format)],
        );
        // The caller's token, over its mutual-TLS connection: bound to its certificate.
        let answer: Value = pki
            .presenting("client")
            .post(format!("{}/token", op.issuer))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "mtls-caller"),
                ("scope", "read"),
                ("resource", RESOURCE),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = answer["access_token"]
            .as_str()
            .expect("a token")
            .to_string();
        if format == "jwt" {
            use base64::Engine as _;
            let payload = token.split('.').nth(1).expect("a JWT access token");
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap();
            let claims: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(
                claims["cnf"]["x5t#S256"],
                pki.thumbprint("client.pem"),
                "{claims}"
            );
        }
        let api = TestApp::api()
            .issuer(&op.issuer)
            .scope(EMAIL_SCOPE)
            .provider_table(&format!(
                "client_id = \"api\"\nclient_secret = \"api-secret-api-secret-api-secret-api\"\n\
                 ca_certificates = [\"{}\"]\naccess_token_audience = \"{RESOURCE}\"\n\
                 access_token_validation = \"{validation}\"",
                pki.path("ca.pem")
            ))
            .start()
            .await;
        let with = |certificate: Option<&str>| {
            let mut request = api
                .get("/api/me")
                .header(Header::new("Authorization", format!("Bearer {token}")));
            if let Some(name) = certificate {
                request = request.identity(pki.read(&format!("{name}.pem")).as_slice());
            }
            request
        };
        let response = with(Some("client")).dispatch().await;
        assert_eq!(
            response.status(),
            Status::Ok,
            "{validation}: with its certificate"
        );
        for other in [None, Some("self")] {
            let response = with(other).dispatch().await;
            assert_eq!(
                response.status(),
                Status::Unauthorized,
                "{validation}: {other:?} instead of its certificate"
            );
            let challenge = response.headers().get_one("WWW-Authenticate").unwrap_or("");
            assert!(challenge.contains("invalid_token"), "{challenge}");
        }
    }
}

/// RFC 8705 5: with a client certificate, the endpoints the provider lists in
/// `mtls_endpoint_aliases` are called there. The plain token and UserInfo endpoints here
/// lead nowhere: the login works only through the aliases.
#[rocket::async_test]
async fn the_mtls_endpoint_aliases_are_used() {
    let pki = Pki::new();
    let op = mtls_op(&pki, &json!([ca_client(true)]), &[]);
    let issuer = &op.issuer;
    let toml = format!(
        "[default.oidc]\nredirect_uri = \"{REDIRECT_URI}\"\n\
         [default.oidc.providers.default]\nscope = [\"openid\", \"email\"]\n{}\n\
         [default.oidc.providers.default.provider_metadata]\nissuer = \"{issuer}\"\n\
         authorization_endpoint = \"{issuer}/auth\"\njwks_uri = \"{issuer}/jwks\"\n\
         token_endpoint = \"https://127.0.0.1:9/token\"\n\
         userinfo_endpoint = \"https://127.0.0.1:9/me\"\n\
         [default.oidc.providers.default.provider_metadata.mtls_endpoint_aliases]\n\
         token_endpoint = \"{issuer}/token\"\nuserinfo_endpoint = \"{issuer}/me\"\n",
        provider_keys(&pki, "mtls-ca", "client", "tls_client_auth")
    );
    let figment = rocket::figment::Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "critical"))
        .merge(("secret_key", secret_key()))
        .merge(rocket::figment::providers::Toml::string(&toml).nested());
    let client = TestApp::quickstart().config(figment).start().await;
    let body = log_in_as(&client, &pki, "dora").await;
    assert_eq!(body["userinfo"]["email"], "dora@example.com", "{body}");
    let refreshed = json_of(browse(&client, "/token").await).await;
    assert!(refreshed["access_token"].is_string(), "{refreshed}");
}
