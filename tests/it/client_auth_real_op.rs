//! Every way to authenticate the client, PAR and every ID token algorithm, against the
//! real test provider (panva's oidc-provider) configured for each, through the quickstart.

use crate::common::app::*;
use crate::common::clients::*;
use crate::common::node_op::NodeOp;
use rocket::http::Status;
use serde_json::{json, Value};

#[rocket::async_test]
async fn every_client_authentication_method_logs_in() {
    let rsa = public_jwk("client_rsa_pkcs1");
    let p256 = public_jwk("client_p256_sec1");
    let p384 = public_jwk("client_p384_sec1");
    let ed = public_jwk("client_ed25519");
    let secret = "a-long-enough-client-secret-for-hs512-0123456789abcdef0123456789";
    let jwks = |key: &Value| json!({ "keys": [key] });
    let clients = json!([
        op_client("basic", json!({"client_secret": secret})),
        op_client(
            "post",
            json!({"client_secret": secret, "token_endpoint_auth_method": "client_secret_post"})
        ),
        op_client(
            "secret-jwt",
            json!({"client_secret": secret, "token_endpoint_auth_method": "client_secret_jwt"})
        ),
        op_client(
            "rsa",
            json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&rsa)})
        ),
        op_client(
            "rsa-ps256",
            json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&rsa), "token_endpoint_auth_signing_alg": "PS256"})
        ),
        op_client(
            "p256",
            json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&p256)})
        ),
        op_client(
            "p384",
            json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&p384)})
        ),
        op_client(
            "ed25519",
            json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks(&ed)})
        ),
        op_client("public", json!({"token_endpoint_auth_method": "none"})),
    ]);
    let op = NodeOp::start(&[("OP_CLIENTS", &clients.to_string())]);
    let key = |name: &str| format!("private_key = \"{}\"", fixture(name));
    let cases: Vec<(&str, String)> = vec![
        ("basic", format!("client_secret = \"{secret}\"")),
        (
            "post",
            format!("client_secret = \"{secret}\"\ntoken_endpoint_auth_method = \"client_secret_post\""),
        ),
        (
            "secret-jwt",
            format!("client_secret = \"{secret}\"\ntoken_endpoint_auth_method = \"client_secret_jwt\"\ntoken_endpoint_auth_signing_alg = \"HS512\""),
        ),
        (
            "rsa",
            format!("token_endpoint_auth_method = \"private_key_jwt\"\n{}", key("client_rsa_pkcs1.pem")),
        ),
        (
            "rsa-ps256",
            format!(
                "token_endpoint_auth_method = \"private_key_jwt\"\n{}\ntoken_endpoint_auth_signing_alg = \"PS256\"\nclient_assertion_audience = \"token_endpoint\"",
                key("client_rsa_pkcs8.pem")
            ),
        ),
        (
            "p256",
            format!("token_endpoint_auth_method = \"private_key_jwt\"\n{}", key("client_p256_sec1.pem")),
        ),
        (
            "p384",
            format!("token_endpoint_auth_method = \"private_key_jwt\"\n{}", key("client_p384_sec1.pem")),
        ),
        (
            "ed25519",
            format!(
                "token_endpoint_auth_method = \"private_key_jwt\"\nprivate_key_pem = \"\"\"\n{}\"\"\"",
                std::fs::read_to_string(fixture("client_ed25519.pem")).unwrap()
            ),
        ),
        ("public", "token_endpoint_auth_method = \"none\"".to_string()),
    ];
    for (client_id, settings) in &cases {
        let client = with_refresh_route()
            .issuer(&op.issuer)
            .scope(EMAIL_SCOPE)
            .provider_table(&format!("client_id = \"{client_id}\"\n{settings}"))
            .start()
            .await;
        let body = logs_in(&client, "alice").await;
        assert_eq!(body["id_token"]["aud"], *client_id, "{client_id}");
        assert_eq!(body["id_token"]["sub"], "alice", "{client_id}");
        // The refresh grant authenticates the same way.
        let refreshed = client.get("/t/refresh").dispatch().await;
        assert_eq!(refreshed.status(), Status::Ok, "{client_id}");
        let token = refreshed.into_string().await.unwrap();
        assert_ne!(
            token,
            body["access_token"].as_str().unwrap(),
            "{client_id}: a new token"
        );
    }
    assert_eq!(
        op.hits("/token").await as usize,
        cases.len() * 2,
        "a code and a refresh each"
    );

    // A key the provider does not know: the token endpoint refuses the client, and the
    // callback answers 502 (the app's credentials, not the user's fault).
    let figment = TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&format!(
            "client_id = \"p256\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\n{}",
            key("client_ed25519.pem")
        ));
    let client = figment.start().await;
    let auth_url = start_login(&client, "/login").await;
    let response = callback_after(&client, &auth_url, "bob").await;
    assert_eq!(response.status(), Status::BadGateway);
}

const SECRET: &str = "a-long-enough-client-secret-for-hs512-0123456789abcdef0123456789";

#[rocket::async_test]
async fn par_pushes_the_request_and_sends_only_its_reference() {
    let clients = json!([op_client("app", json!({ "client_secret": SECRET }))]);
    let op = NodeOp::start(&[("OP_CLIENTS", &clients.to_string())]);
    let provider = format!("client_id = \"app\"\nclient_secret = \"{SECRET}\"");

    // Advertised, not asked for: the request goes in the query as always.
    let client = TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider)
        .start()
        .await;
    let auth_url = start_login(&client, "/login").await;
    assert!(query_names(&auth_url).contains(&"code_challenge".to_string()));
    assert_eq!(op.hits("/request").await, 0);

    // use_par: pushed with the client's authentication; the browser carries a reference.
    let client = TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&format!("{provider}\nuse_par = true"))
        .start()
        .await;
    let auth_url = start_login(&client, "/login").await;
    assert_eq!(
        query_names(&auth_url),
        ["client_id", "request_uri"],
        "{auth_url}"
    );
    assert_eq!(param(&auth_url, "client_id").as_deref(), Some("app"));
    assert_eq!(op.hits("/request").await, 1);
    let body = logs_in_at(&client, &auth_url, "carol").await;
    assert_eq!(body["id_token"]["sub"], "carol");

    // A provider that requires PAR gets it without use_par.
    let op = NodeOp::start(&[
        ("OP_CLIENTS", &clients.to_string()),
        ("OP_REQUIRE_PAR", "1"),
    ]);
    let client = TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider)
        .start()
        .await;
    let auth_url = start_login(&client, "/login").await;
    assert_eq!(
        query_names(&auth_url),
        ["client_id", "request_uri"],
        "{auth_url}"
    );
    let body = logs_in_at(&client, &auth_url, "dave").await;
    assert_eq!(body["id_token"]["sub"], "dave");
}

#[rocket::async_test]
async fn a_provider_without_par_stops_launch_when_par_is_asked_for() {
    let op = NodeOp::start(&[("OP_PAR", "0")]);
    let figment = TestApp::quickstart()
        .provider(&op)
        .provider_table("use_par = true");
    figment.launch_fails().await;
}

#[rocket::async_test]
async fn every_id_token_algorithm_of_the_provider_verifies() {
    let algs = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256",
        "HS384", "HS512",
    ];
    let clients: Vec<Value> = algs
        .iter()
        .map(|alg| {
            op_client(
                &format!("app-{alg}"),
                json!({ "client_secret": SECRET, "id_token_signed_response_alg": alg }),
            )
        })
        .collect();
    let op = NodeOp::start(&[("OP_CLIENTS", &Value::Array(clients).to_string())]);
    for alg in algs {
        // Pinned: only this algorithm is accepted, so the login proves it verified.
        let provider = format!(
            "client_id = \"app-{alg}\"\nclient_secret = \"{SECRET}\"\nid_token_signed_response_alg = \"{alg}\""
        );
        let client = TestApp::quickstart()
            .issuer(&op.issuer)
            .scope(EMAIL_SCOPE)
            .provider_table(&provider)
            .start()
            .await;
        let body = logs_in(&client, "erin").await;
        assert_eq!(body["id_token"]["aud"], format!("app-{alg}"), "{alg}");
    }

    // A token signed otherwise than pinned is refused, whatever the provider advertises.
    let provider = format!(
        "client_id = \"app-RS256\"\nclient_secret = \"{SECRET}\"\nid_token_signed_response_alg = \"ES256\""
    );
    let client = TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&provider)
        .start()
        .await;
    let auth_url = start_login(&client, "/login").await;
    let response = callback_after(&client, &auth_url, "frank").await;
    assert_eq!(response.status(), Status::Unauthorized);
    let body = json(&response.into_string().await.unwrap());
    assert_eq!(body["error"], "invalid_id_token");
}

/// RFC 9101 request objects: the authorization request as a
/// signed request object, in the URL and inside PAR, with the private key and with the
/// client secret, at a provider that requires signed request objects.
#[rocket::async_test]
async fn signed_request_objects_log_in_with_the_key_or_the_secret() {
    let p256 = public_jwk("client_p256_sec1");
    let clients = json!([
        op_client(
            "p256",
            json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [p256]},
                   "request_object_signing_alg": "ES256"})
        ),
        op_client(
            "secret",
            json!({"client_secret": SECRET, "request_object_signing_alg": "HS256"})
        ),
    ]);
    let op = NodeOp::start(&[
        ("OP_CLIENTS", &clients.to_string()),
        ("OP_REQUEST_OBJECTS", "required"),
    ]);
    let key = format!("private_key = \"{}\"", fixture("client_p256_sec1.pem"));
    let cases = [
        (
            "p256",
            format!(
                "token_endpoint_auth_method = \"private_key_jwt\"\n{key}\n\
                 request_object_signing_alg = \"ES256\""
            ),
        ),
        (
            "p256",
            format!(
                "token_endpoint_auth_method = \"private_key_jwt\"\n{key}\n\
                 request_object_signing_alg = \"ES256\"\nuse_par = true"
            ),
        ),
        (
            "secret",
            format!("client_secret = \"{SECRET}\"\nrequest_object_signing_alg = \"HS256\""),
        ),
    ];
    for (client_id, settings) in &cases {
        let client = TestApp::quickstart()
            .issuer(&op.issuer)
            .scope(EMAIL_SCOPE)
            .provider_table(&format!("client_id = \"{client_id}\"\n{settings}"))
            .start()
            .await;
        let auth_url = start_login(&client, "/login").await;
        if !settings.contains("use_par") {
            assert!(param(&auth_url, "request").is_some(), "{auth_url}");
            assert_eq!(
                param(&auth_url, "state"),
                None,
                "state is inside: {auth_url}"
            );
        }
        let body = logs_in(&client, "alice").await;
        assert_eq!(body["id_token"]["aud"], *client_id, "{settings}");
    }

    // Without a request object, the provider refuses the login.
    let client = TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&format!(
            "client_id = \"secret\"\nclient_secret = \"{SECRET}\""
        ))
        .start()
        .await;
    let auth_url = start_login(&client, "/login").await;
    assert!(param(&auth_url, "request").is_none());
    let refused = provider_browser().get(&auth_url).send().await.unwrap();
    let back = refused.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("invalid_request"),
        "the provider requires a request object: {back}"
    );
}
