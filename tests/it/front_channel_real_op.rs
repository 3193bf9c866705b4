//! Hybrid and implicit logins against the real test provider (panva's oidc-provider, which
//! answers them in the fragment and signs `c_hash` and `at_hash`), through the quickstart:
//! every response type, relayed by the callback's page as a browser would.

use crate::common::app::*;
use crate::common::clients::*;
use crate::common::node_op::{through_provider, AtProvider, NodeOp};
use rocket::http::Status;
use serde_json::json;

const TYPES: [&str; 5] = [
    "code id_token",
    "code token",
    "code id_token token",
    "id_token",
    "id_token token",
];

#[rocket::async_test]
async fn every_hybrid_and_implicit_response_type_logs_in() {
    let secret = "a-long-enough-client-secret-for-hs512-0123456789abcdef0123456789";
    let clients: Vec<_> = TYPES
        .iter()
        .map(|t| {
            let implicit_only = !t.contains("code");
            op_client(
                &t.replace(' ', "+"),
                json!({
                    "client_secret": secret,
                    "response_types": [t],
                    // The provider allows plain-http (loopback) URIs with tokens in the
                    // front channel only for native clients.
                    "application_type": "native",
                    "grant_types": if implicit_only {
                        json!(["implicit"])
                    } else {
                        json!(["authorization_code", "implicit", "refresh_token"])
                    },
                }),
            )
        })
        .collect();
    let op = NodeOp::start(&[("OP_CLIENTS", &json!(clients).to_string())]);
    for response_type in TYPES {
        let client_id = response_type.replace(' ', "+");
        let client = TestApp::quickstart()
            .issuer(&op.issuer)
            .scope(EMAIL_SCOPE)
            .provider_table(&format!(
                "client_id = \"{client_id}\"\nclient_secret = \"{secret}\"\nresponse_type = \"{response_type}\""
            ))
            .start()
            .await;
        let tokens_before = op.hits("/token").await;
        let auth_url = start_login(&client, "/login").await;
        let (callback, _) = through_provider(
            &provider_browser(),
            &auth_url,
            APP,
            AtProvider::LogIn("alice"),
        )
        .await;
        assert!(
            callback.contains('#') && !callback.contains('?'),
            "{response_type}: the answer is in the fragment: {callback}"
        );
        let response = through_relay(&client, &callback).await;
        assert_eq!(
            response.status(),
            Status::SeeOther,
            "{response_type}: {:?}",
            response.into_string().await
        );
        let page = browse(&client, "/login").await;
        assert_eq!(page.status(), Status::Ok, "{response_type}");
        let body = json(&page.into_string().await.unwrap());
        assert_eq!(body["id_token"]["sub"], "alice", "{response_type}: {body}");
        assert_eq!(
            body["id_token"]["aud"], client_id,
            "{response_type}: {body}"
        );
        let exchanged = op.hits("/token").await - tokens_before;
        if response_type.contains("code") {
            assert_eq!(exchanged, 1, "{response_type}: the code is exchanged");
        } else {
            assert_eq!(
                exchanged, 0,
                "{response_type}: implicit: no token endpoint call"
            );
        }
        if response_type == "id_token" {
            // No access token, so no UserInfo: the scope's claims are in the ID token.
            assert_eq!(body["id_token"]["email"], "alice@example.com", "{body}");
            assert!(body["userinfo"].is_null(), "{body}");
        } else {
            // An access token: UserInfo was read with it.
            assert_eq!(
                body["userinfo"]["email"], "alice@example.com",
                "{response_type}: {body}"
            );
        }
    }
}
