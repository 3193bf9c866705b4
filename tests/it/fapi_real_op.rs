//! FAPI 2.0 against panva's provider with its `fapi` profile 2.0, mutual TLS, request
//! objects and JWT response modes, over https on 127.0.0.1 with a test CA and client
//! certificates made by `openssl`: a login and a refresh for each client authentication
//! (`private_key_jwt`, `tls_client_auth`, `self_signed_tls_client_auth`), with DPoP and with
//! mTLS binding, and with message signing (JAR inside PAR, JARM). Every token the app holds
//! is bound: the provider refuses it without its proof.

use serde_json::{json, Value};

use crate::common::app::*;
use crate::common::clients::{fixture, op_client, public_jwk, APP};
use crate::common::node_op::{through_provider, AtProvider, NodeOp};
use crate::common::pki::{Pki, CLIENT_SUBJECT};
use rocket::http::Status;
use rocket::local::asynchronous::Client;

/// The provider in FAPI 2.0 mode, with `clients`, on https asking for client certificates.
fn fapi_op(pki: &Pki, clients: &Value, more: &[(&str, &str)]) -> NodeOp {
    // Shorter than any clock skew: every /token refreshes.
    let mut env = vec![
        ("OP_FAPI", "1"),
        ("OP_JARM", "1"),
        ("OP_TTL_ACCESS_TOKEN", "5"),
    ];
    env.extend_from_slice(more);
    pki.provider(clients, &env)
}

/// The app for `client_id` at `op` with `profile` and the provider `lines`.
async fn fapi_app(pki: &Pki, op: &NodeOp, client_id: &str, profile: &str, lines: &str) -> Client {
    TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&format!(
            "client_id = \"{client_id}\"\nprofile = \"{profile}\"\nca_certificates = [\"{}\"]\n{lines}",
            pki.path("ca.pem")
        ))
        .start()
        .await
}

/// A FAPI login of `user`: `/login`'s JSON. The authorization request is pushed (only
/// `client_id` and `request_uri` in the URL).
async fn log_in(client: &Client, pki: &Pki, user: &str) -> Value {
    let auth_url = start_login(client, "/login").await;
    let mut names = query_names(&auth_url);
    names.sort();
    assert_eq!(names, ["client_id", "request_uri"], "pushed: {auth_url}");
    let (callback, _) =
        through_provider(&pki.browser(), &auth_url, APP, AtProvider::LogIn(user)).await;
    let response = browse(client, &path_and_query(&callback)).await;
    assert_eq!(
        response.status(),
        Status::SeeOther,
        "the callback logs {user} in: {:?}",
        response.into_string().await
    );
    json(&browse(client, "/login").await.into_string().await.unwrap())
}

/// Logs in, checks the token is bound (`certificate`: to that mTLS certificate, else to
/// the DPoP key), refreshes, and checks the new token likewise.
async fn login_and_refresh(pki: &Pki, op: &NodeOp, client: &Client, certificate: Option<&str>) {
    let body = log_in(client, pki, "alice").await;
    assert_eq!(body["userinfo"]["email"], "alice@example.com", "{body}");
    let first = body["access_token"].as_str().unwrap().to_string();
    let token = json(&browse(client, "/token").await.into_string().await.unwrap());
    let refreshed = token["access_token"]
        .as_str()
        .expect("a refreshed token")
        .to_string();
    assert_ne!(refreshed, first, "refreshed");
    for token in [&first, &refreshed] {
        // A bound token is refused as a plain Bearer token without its proof.
        assert_eq!(op.userinfo_status(&pki.browser(), token).await, 401);
        if let Some(name) = certificate {
            assert_eq!(op.userinfo_status(&pki.presenting(name), token).await, 200);
        }
    }
}

fn clients(pki: &Pki) -> Value {
    json!([
        op_client(
            "fapi-pkjwt",
            json!({
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": { "keys": [public_jwk("client_p256_sec1")] },
                "dpop_bound_access_tokens": true,
            })
        ),
        op_client(
            "fapi-mtls",
            json!({
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": CLIENT_SUBJECT,
                "tls_client_certificate_bound_access_tokens": true,
                // Request objects (message signing) are signed with this key.
                "jwks": { "keys": [public_jwk("client_p256_sec1")] },
            })
        ),
        op_client(
            "fapi-self",
            json!({
                "token_endpoint_auth_method": "self_signed_tls_client_auth",
                "tls_client_certificate_file": pki.path("self.pem"),
                "tls_client_certificate_bound_access_tokens": true,
            })
        ),
        op_client(
            "fapi-mtls-dpop",
            json!({
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": CLIENT_SUBJECT,
                "dpop_bound_access_tokens": true,
            })
        ),
    ])
}

fn certificate_lines(pki: &Pki, name: &str, method: &str) -> String {
    format!(
        "token_endpoint_auth_method = \"{method}\"\ntls_client_certificate = \"{}\"\n\
         tls_client_key = \"{}\"",
        pki.path(&format!("{name}.pem")),
        pki.path(&format!("{name}.key"))
    )
}

#[rocket::async_test]
async fn each_client_authentication_logs_in_and_refreshes_with_bound_tokens() {
    let pki = Pki::new();
    let op = fapi_op(&pki, &clients(&pki), &[]);
    let private_key_jwt = format!(
        "token_endpoint_auth_method = \"private_key_jwt\"\nprivate_key = \"{}\"\ndpop = true",
        fixture("client_p256_sec1.pem")
    );
    let setups = [
        ("fapi-pkjwt", private_key_jwt, None),
        (
            "fapi-mtls",
            certificate_lines(&pki, "client", "tls_client_auth"),
            Some("client"),
        ),
        (
            "fapi-self",
            certificate_lines(&pki, "self", "self_signed_tls_client_auth"),
            Some("self"),
        ),
        (
            // Authenticated by the certificate, tokens bound by DPoP.
            "fapi-mtls-dpop",
            format!(
                "{}\ndpop = true",
                certificate_lines(&pki, "client", "tls_client_auth")
            ),
            None,
        ),
    ];
    for (client_id, lines, certificate) in setups {
        let client = fapi_app(&pki, &op, client_id, "fapi2", &lines).await;
        login_and_refresh(&pki, &op, &client, certificate).await;
    }
}

#[rocket::async_test]
async fn message_signing_logs_in_with_signed_requests_and_responses() {
    let pki = Pki::new();
    let op = fapi_op(&pki, &clients(&pki), &[("OP_REQUEST_OBJECTS", "required")]);
    let private_key_jwt = format!(
        "token_endpoint_auth_method = \"private_key_jwt\"\nprivate_key = \"{}\"\ndpop = true\n\
         request_object_signing_alg = \"ES256\"\nresponse_mode = \"jwt\"",
        fixture("client_p256_sec1.pem")
    );
    let client = fapi_app(
        &pki,
        &op,
        "fapi-pkjwt",
        "fapi2-message-signing",
        &private_key_jwt,
    )
    .await;
    // The answer is one signed JWT, nothing beside it.
    let auth_url = start_login(&client, "/login").await;
    let (callback, _) =
        through_provider(&pki.browser(), &auth_url, APP, AtProvider::LogIn("carol")).await;
    let mut names = query_names(&callback);
    names.sort();
    assert_eq!(names, ["response"], "{callback}");
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::SeeOther);
    // Signed requests and responses with mTLS too.
    let mtls = format!(
        "{}\nprivate_key = \"{}\"\nrequest_object_signing_alg = \"ES256\"\nresponse_mode = \"jwt\"",
        certificate_lines(&pki, "client", "tls_client_auth"),
        fixture("client_p256_sec1.pem")
    );
    let client = fapi_app(&pki, &op, "fapi-mtls", "fapi2-message-signing", &mtls).await;
    login_and_refresh(&pki, &op, &client, Some("client")).await;
}

/// What the profile keeps at run time, against a provider that does not keep it: ID tokens
/// signed outside PS256, ES256 and EdDSA are refused, and a client-credentials token that
/// nothing would bind (DPoP only) is not asked for. (The provider here is not in its FAPI
/// mode, so it signs this client's ID tokens with RS256.)
#[rocket::async_test]
async fn the_profile_refuses_what_the_provider_lets_through() {
    let pki = Pki::new();
    let ca = pki.path("ca.pem");
    let clients = json!([
        op_client(
            "rs256",
            json!({
                "token_endpoint_auth_method": "tls_client_auth",
                "tls_client_auth_subject_dn": CLIENT_SUBJECT,
                "tls_client_certificate_bound_access_tokens": true,
                "id_token_signed_response_alg": "RS256",
            })
        ),
        op_client(
            "machine",
            json!({
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": { "keys": [public_jwk("client_p256_sec1")] },
                "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            })
        ),
    ]);
    let op = pki.provider(&clients, &[]);
    let client = fapi_app(
        &pki,
        &op,
        "rs256",
        "fapi2",
        &certificate_lines(&pki, "client", "tls_client_auth"),
    )
    .await;
    let auth_url = start_login(&client, "/login").await;
    let (callback, _) =
        through_provider(&pki.browser(), &auth_url, APP, AtProvider::LogIn("eve")).await;
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::Unauthorized, "an RS256 ID token");
    assert!(client.cookies().get("oidc_session_default").is_none());

    // Client credentials with DPoP only: refused before the provider is asked.
    let api = TestApp::api()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&format!(
            "client_id = \"machine\"\nprofile = \"fapi2\"\nca_certificates = [\"{ca}\"]\n\
             token_endpoint_auth_method = \"private_key_jwt\"\nprivate_key = \"{}\"\ndpop = true",
            fixture("client_p256_sec1.pem")
        ))
        .start()
        .await;
    let response = api.get("/api/outgoing").dispatch().await;
    assert_eq!(response.status(), Status::InternalServerError);
}
