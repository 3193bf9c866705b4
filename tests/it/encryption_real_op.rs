//! Encrypted ID tokens, and signed or encrypted UserInfo (`id_token_encrypted_response_*`,
//! `userinfo_signed_response_alg`, `userinfo_encrypted_response_*`), against the real test
//! provider with its `encryption` and `jwtUserinfo` features: a login and a refresh per
//! key type and algorithm family, and a dynamically registered client that registers them.

use crate::common::app::*;
use crate::common::clients::*;
use crate::common::node_op::NodeOp;
use rocket::http::Status;
use serde_json::{json, Value};

const SECRET: &str = "a-long-enough-client-secret-for-hs512-0123456789abcdef0123456789";

/// One client of the provider, and the same settings for the app.
struct Case {
    client_id: &'static str,
    key: &'static str,
    /// Registration metadata at the provider and the same keys in the app's table.
    settings: &'static [(&'static str, &'static str)],
}

const CASES: [Case; 3] = [
    Case {
        client_id: "enc-rsa",
        key: "client_enc_rsa",
        settings: &[
            ("id_token_encrypted_response_alg", "RSA-OAEP-256"),
            ("id_token_encrypted_response_enc", "A256GCM"),
            ("userinfo_signed_response_alg", "RS256"),
            ("userinfo_encrypted_response_alg", "RSA-OAEP"),
        ],
    },
    Case {
        client_id: "enc-ec-kw",
        key: "client_enc_p256",
        settings: &[
            ("id_token_encrypted_response_alg", "ECDH-ES+A128KW"),
            ("id_token_encrypted_response_enc", "A128CBC-HS256"),
            ("userinfo_signed_response_alg", "ES256"),
        ],
    },
    Case {
        client_id: "enc-ec-direct",
        key: "client_enc_p256",
        settings: &[
            ("id_token_encrypted_response_alg", "ECDH-ES"),
            ("id_token_encrypted_response_enc", "A256CBC-HS512"),
            ("userinfo_signed_response_alg", "PS256"),
            ("userinfo_encrypted_response_alg", "ECDH-ES+A256KW"),
            ("userinfo_encrypted_response_enc", "A128GCM"),
        ],
    },
];

fn provider_client(case: &Case) -> Value {
    let mut extra = json!({
        "client_secret": SECRET,
        "jwks": { "keys": [public_jwk(case.key)] },
    });
    for (name, value) in case.settings {
        extra[*name] = json!(value);
    }
    op_client(case.client_id, extra)
}

fn app_lines(case: &Case) -> String {
    let mut lines = format!(
        "client_id = \"{}\"\nclient_secret = \"{SECRET}\"\nencryption_key = \"{}\"\n",
        case.client_id,
        fixture(&format!("{}.pem", case.key))
    );
    for (name, value) in case.settings {
        lines.push_str(&format!("{name} = \"{value}\"\n"));
    }
    lines
}

#[rocket::async_test]
async fn encrypted_id_tokens_and_protected_userinfo_log_in_and_refresh() {
    let clients: Vec<Value> = CASES.iter().map(provider_client).collect();
    let op = NodeOp::start(&[
        ("OP_ENCRYPTION", "1"),
        ("OP_CLIENTS", &json!(clients).to_string()),
    ]);
    for case in &CASES {
        let client = with_refresh_route()
            .issuer(&op.issuer)
            .scope(EMAIL_SCOPE)
            .provider_table(&app_lines(case))
            .start()
            .await;
        let body = logs_in(&client, "alice").await;
        let id = case.client_id;
        // The session keeps the signed ID token, decrypted: its claims are readable.
        assert_eq!(body["id_token"]["sub"], "alice", "{id}: {body}");
        assert_eq!(body["id_token"]["aud"], id, "{id}: {body}");
        // UserInfo came as a JWT or a JWE, and was opened.
        assert_eq!(
            body["userinfo"]["email"], "alice@example.com",
            "{id}: {body}"
        );
        // A refresh brings another encrypted ID token, decrypted and checked the same way.
        let refreshed = client.get("/t/refresh").dispatch().await;
        assert_eq!(refreshed.status(), Status::Ok, "{id}");
        let page = browse(&client, "/login").await;
        let after = json(&page.into_string().await.unwrap());
        assert_eq!(after["id_token"]["sub"], "alice", "{id}: {after}");
        assert_ne!(after["access_token"], body["access_token"], "{id}");
    }
}

#[rocket::async_test]
async fn a_provider_that_does_not_encrypt_as_registered_is_refused() {
    // The provider knows the client without encryption; the app expects encrypted tokens.
    let plain = op_client("plain", json!({ "client_secret": SECRET }));
    let op = NodeOp::start(&[
        ("OP_ENCRYPTION", "1"),
        ("OP_CLIENTS", &json!([plain]).to_string()),
    ]);
    let client = TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&format!(
            "client_id = \"plain\"\nclient_secret = \"{SECRET}\"\nencryption_key = \"{}\"\n\
             id_token_encrypted_response_alg = \"RSA-OAEP\"",
            fixture("client_enc_rsa.pem")
        ))
        .start()
        .await;
    let auth_url = start_login(&client, "/login").await;
    let response = callback_after(&client, &auth_url, "alice").await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert!(client.cookies().get("oidc_session_default").is_none());
}

#[rocket::async_test]
async fn dynamic_registration_registers_the_encryption_settings_and_key() {
    let op = NodeOp::start(&[("OP_ENCRYPTION", "1"), ("OP_REGISTRATION", "1")]);
    let dir = std::env::temp_dir().join(format!("rocket-oidc-enc-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("client.json");
    let client = TestApp::quickstart()
        .issuer(&op.issuer)
        .scope(EMAIL_SCOPE)
        .provider_table(&format!(
            "encryption_key = \"{}\"\nid_token_encrypted_response_alg = \"RSA-OAEP-256\"\n\
             userinfo_signed_response_alg = \"RS256\"\nregistration_file = \"{}\"\n\n\
             [default.oidc.providers.default.client_registration]\n\
             client_name = \"encryption test\"",
            fixture("client_enc_rsa.pem"),
            file.display()
        ))
        .start()
        .await;
    assert_eq!(op.hits("/reg").await, 1, "registered at launch");
    let body = logs_in(&client, "alice").await;
    assert_eq!(body["id_token"]["sub"], "alice", "{body}");
    assert_eq!(body["userinfo"]["email"], "alice@example.com", "{body}");
}

/// JARM answers encrypted to the client's key (`authorization_encrypted_response_*`), and
/// signed only, against the real provider with its `jwtResponseModes` and `encryption`.
#[rocket::async_test]
async fn jarm_answers_signed_and_encrypted_log_in() {
    let jarm = op_client(
        "jarm-enc",
        json!({
            "client_secret": SECRET,
            "jwks": { "keys": [public_jwk("client_enc_rsa")] },
            "authorization_signed_response_alg": "PS256",
            "authorization_encrypted_response_alg": "RSA-OAEP-256",
            "authorization_encrypted_response_enc": "A256GCM",
        }),
    );
    let signed = op_client(
        "jarm-signed",
        json!({ "client_secret": SECRET, "authorization_signed_response_alg": "ES256" }),
    );
    let op = NodeOp::start(&[
        ("OP_ENCRYPTION", "1"),
        ("OP_JARM", "1"),
        ("OP_CLIENTS", &json!([jarm, signed]).to_string()),
    ]);
    let setups = [
        format!(
            "client_id = \"jarm-enc\"\nclient_secret = \"{SECRET}\"\nresponse_mode = \"jwt\"\n\
             authorization_signed_response_alg = \"PS256\"\nencryption_key = \"{}\"\n\
             authorization_encrypted_response_alg = \"RSA-OAEP-256\"\n\
             authorization_encrypted_response_enc = \"A256GCM\"",
            fixture("client_enc_rsa.pem")
        ),
        format!(
            "client_id = \"jarm-signed\"\nclient_secret = \"{SECRET}\"\n\
             response_mode = \"query.jwt\"\nauthorization_signed_response_alg = \"ES256\""
        ),
    ];
    for lines in setups {
        let client = TestApp::quickstart()
            .issuer(&op.issuer)
            .scope(EMAIL_SCOPE)
            .provider_table(&lines)
            .start()
            .await;
        let body = logs_in(&client, "alice").await;
        assert_eq!(
            body["userinfo"]["email"], "alice@example.com",
            "{lines}: {body}"
        );
    }
}
