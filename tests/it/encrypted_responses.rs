//! Encrypted ID tokens and signed or encrypted UserInfo against the misbehaving provider:
//! the logins that must work (so the provider's knobs are shown to encrypt and sign), then
//! every JWE or JWT the client must refuse, each ending in an error for the catcher and no
//! session. The happy paths against the real provider are in `encryption_real_op`; the
//! settings that stop launch are unit tests of `src/config/encryption.rs`.
//!
//! The old RP test suite's `rp-id_token-sig+enc` registered `RSA1_5`, which this client
//! refuses by design (padding oracles); its encrypted ID tokens here use RSA-OAEP and
//! ECDH-ES instead.

use crate::common::app::*;
use crate::common::clients::{fixture, public_jwk};
use crate::common::fake_op::{
    jwt_parts, Behaviour, Encryption, FakeOp, JweTamper, Signing, UserinfoForm,
};
use crate::common::jwe::{fresh_p256_jwk, fresh_rsa_jwk};
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

const SESSION_COOKIE: &str = "oidc_session_default";

/// The app's RSA key pair, as the app reads it and as the provider encrypts to it.
const RSA: &str = "client_enc_rsa";
/// The app's P-256 key pair.
const P256: &str = "client_enc_p256";

/// The client's lines for encrypted ID tokens with `key`, `alg` and `enc`.
fn id_token_encrypted(key: &str, alg: &str, enc: &str) -> String {
    format!(
        "encryption_key = \"{}\"\nid_token_encrypted_response_alg = \"{alg}\"\n\
         id_token_encrypted_response_enc = \"{enc}\"\n",
        fixture(&format!("{key}.pem"))
    )
}

/// The setting most tests use: ID tokens encrypted to the RSA key, RSA-OAEP-256 / A256GCM.
fn rsa_oaep_256() -> String {
    id_token_encrypted(RSA, "RSA-OAEP-256", "A256GCM")
}

/// The provider's side of [`rsa_oaep_256`].
fn to_rsa_oaep_256() -> Option<Encryption> {
    Some(Encryption::to(public_jwk(RSA), "RSA-OAEP-256", "A256GCM"))
}

const USERINFO_SIGNED: &str = "userinfo_signed_response_alg = \"RS256\"\n";

/// The client's lines for UserInfo signed with RS256 and encrypted to the RSA key with
/// RSA-OAEP (and the default A128CBC-HS256).
fn userinfo_signed_and_encrypted() -> String {
    format!(
        "encryption_key = \"{}\"\n{USERINFO_SIGNED}userinfo_encrypted_response_alg = \"RSA-OAEP\"\n",
        fixture(&format!("{RSA}.pem"))
    )
}

/// A provider that behaves as `behave` says, and the quickstart with `provider` (lines of
/// its provider table) against it.
async fn setup(provider: &str, behave: impl FnOnce(&mut Behaviour)) -> (FakeOp, Client) {
    let op = FakeOp::start().await;
    op.set(behave);
    let rocket = TestApp::quickstart()
        .provider(&op)
        .provider_table(provider)
        .rocket()
        .register(
            "/redirect_uri",
            rocket::catchers![crate::support::callback_error_with_detail],
        );
    let client = Client::tracked(rocket)
        .await
        .expect("the quickstart launches");
    (op, client)
}

/// A whole login that must succeed: `/login`'s JSON, with the session cookie set.
async fn logs_in(provider: &str, behave: impl FnOnce(&mut Behaviour)) -> (FakeOp, Value) {
    let (op, _, body) = logs_in_with(provider, behave).await;
    (op, body)
}

/// [`logs_in`], with the logged-in app.
async fn logs_in_with(
    provider: &str,
    behave: impl FnOnce(&mut Behaviour),
) -> (FakeOp, Client, Value) {
    let (op, client) = setup(provider, behave).await;
    log_in(&client).await;
    assert!(client.cookies().get(SESSION_COOKIE).is_some());
    let body = {
        let page = browse(&client, "/login").await;
        assert_eq!(page.status(), Status::Ok);
        json(&page.into_string().await.unwrap())
    };
    assert_eq!(body["id_token"]["sub"], "alice", "{body}");
    (op, client, body)
}

/// A whole login that must fail: 401 with `error`, a detail naming each of `why`, no
/// session, and `userinfo_calls` calls to UserInfo.
async fn refused(
    provider: &str,
    behave: impl FnOnce(&mut Behaviour),
    error: &str,
    why: &[&str],
    userinfo_calls: usize,
) {
    let (op, client) = setup(provider, behave).await;
    let response = log_in_at_once(&client, "/login").await;
    let status = response.status();
    let body = json(&response.into_string().await.unwrap_or_default());
    assert_eq!(status, Status::Unauthorized, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a description for users: {body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    for cause in why {
        assert!(detail.contains(cause), "the detail names {cause:?}: {body}");
    }
    assert_eq!(op.hits("/userinfo"), userinfo_calls, "{body}");
    assert!(
        client.cookies().get(SESSION_COOKIE).is_none(),
        "no session cookie: {body}"
    );
}

/// The kid of the app's key `name`, as the provider knows it.
fn kid(name: &str) -> String {
    public_jwk(name)["kid"].as_str().unwrap().to_owned()
}

const UNDECRYPTABLE: &str = "could not be decrypted";

// --- logins that work -------------------------------------------------------------------

#[rocket::async_test]
async fn an_id_token_encrypted_with_rsa_oaep_256_and_a256gcm_logs_in() {
    let (op, body) = logs_in(&rsa_oaep_256(), |b| {
        b.id_token_encryption = to_rsa_oaep_256();
    })
    .await;
    assert_eq!(body["userinfo"]["email"], "alice@example.com", "{body}");
    assert_eq!(op.hits("/token"), 1);
}

#[rocket::async_test]
async fn logout_sends_the_decrypted_id_token_as_hint() {
    // RP-Initiated Logout 1.0 2: an encrypted ID token is decrypted to be a hint.
    let (op, client, _) = logs_in_with(&rsa_oaep_256(), |b| {
        b.id_token_encryption = to_rsa_oaep_256();
    })
    .await;
    let response = browse_same_origin(&client, "/logout").await;
    assert_eq!(response.status(), Status::SeeOther);
    let end_session = location(&response);
    assert!(end_session.starts_with(&format!("{}/logout?", op.issuer)));
    let hint = param(&end_session, "id_token_hint").expect("an id_token_hint");
    let (header, claims) = jwt_parts(&hint).expect("a signed JWT, not a JWE");
    assert_eq!(hint.split('.').count(), 3, "{hint}");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["sub"], "alice");
}

#[rocket::async_test]
async fn an_encrypted_id_token_must_still_be_signed_by_the_provider() {
    // Encryption to the client's public key proves nothing of who encrypted.
    for signing in [Signing::BadSignature, Signing::AlgNone, Signing::OtherKey] {
        refused(
            &rsa_oaep_256(),
            |b| {
                b.id_token_encryption = to_rsa_oaep_256();
                b.signing = signing;
            },
            "invalid_id_token",
            &["the ID token from provider \"default\" is invalid"],
            0,
        )
        .await;
    }
}

#[rocket::async_test]
async fn an_id_token_encrypted_with_ecdh_es_and_a128cbc_hs256_logs_in() {
    let provider = id_token_encrypted(P256, "ECDH-ES", "A128CBC-HS256");
    logs_in(&provider, |b| {
        b.id_token_encryption = Some(Encryption::to(public_jwk(P256), "ECDH-ES", "A128CBC-HS256"));
    })
    .await;
}

#[rocket::async_test]
async fn an_id_token_encrypted_with_ecdh_es_a128kw_and_a128gcm_logs_in() {
    let provider = id_token_encrypted(P256, "ECDH-ES+A128KW", "A128GCM");
    logs_in(&provider, |b| {
        b.id_token_encryption = Some(Encryption::to(
            public_jwk(P256),
            "ECDH-ES+A128KW",
            "A128GCM",
        ));
    })
    .await;
}

#[rocket::async_test]
async fn hybrid_logins_with_encrypted_id_tokens_log_in() {
    // The ID token of the authorization response is encrypted too.
    let provider = format!("response_type = \"code id_token\"\n{}", rsa_oaep_256());
    let (op, client) = setup(&provider, |b| b.id_token_encryption = to_rsa_oaep_256()).await;
    let auth_url = start_login(&client, "/login").await;
    let callback = authorize_at_once(&auth_url).await;
    let response = through_relay(&client, &callback).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(op.hits("/token"), 1);
    assert!(client.cookies().get(SESSION_COOKIE).is_some());
}

#[rocket::async_test]
async fn oidcc_client_test_userinfo_signed() {
    let (op, body) = logs_in(USERINFO_SIGNED, |b| b.userinfo_form = UserinfoForm::Signed).await;
    assert_eq!(body["userinfo"]["email"], "alice@example.com", "{body}");
    assert_eq!(op.hits("/userinfo"), 1);
}

#[rocket::async_test]
async fn an_encrypted_userinfo_logs_in() {
    let provider = format!(
        "encryption_key = \"{}\"\nuserinfo_encrypted_response_alg = \"RSA-OAEP\"\n",
        fixture(&format!("{RSA}.pem"))
    );
    let (_, body) = logs_in(&provider, |b| {
        b.userinfo_form =
            UserinfoForm::Encrypted(Encryption::to(public_jwk(RSA), "RSA-OAEP", "A128CBC-HS256"));
    })
    .await;
    assert_eq!(body["userinfo"]["email"], "alice@example.com", "{body}");
}

#[rocket::async_test]
async fn a_signed_then_encrypted_userinfo_logs_in() {
    let (_, body) = logs_in(&userinfo_signed_and_encrypted(), |b| {
        b.userinfo_form = UserinfoForm::SignedThenEncrypted(Encryption::to(
            public_jwk(RSA),
            "RSA-OAEP",
            "A128CBC-HS256",
        ));
    })
    .await;
    assert_eq!(body["userinfo"]["email"], "alice@example.com", "{body}");
    // The signed UserInfo's claims, kept as sent.
    assert_eq!(body["userinfo"]["aud"], "test-client", "{body}");
}

// --- encrypted ID tokens that are refused -----------------------------------------------

#[rocket::async_test]
async fn a_tampered_encrypted_id_token_is_refused_before_userinfo() {
    let tampers = [
        JweTamper::Ciphertext,
        JweTamper::Tag,
        JweTamper::ProtectedHeader,
        JweTamper::EncryptedKey,
    ];
    let ecdh_kw = || {
        Some(Encryption::to(
            public_jwk(P256),
            "ECDH-ES+A128KW",
            "A128CBC-HS256",
        ))
    };
    for tamper in tampers {
        refused(
            &rsa_oaep_256(),
            |b| {
                b.id_token_encryption = to_rsa_oaep_256();
                b.jwe_tamper = Some(tamper);
            },
            "invalid_id_token",
            &[UNDECRYPTABLE],
            0,
        )
        .await;
        refused(
            &id_token_encrypted(P256, "ECDH-ES+A128KW", "A128CBC-HS256"),
            |b| {
                b.id_token_encryption = ecdh_kw();
                b.jwe_tamper = Some(tamper);
            },
            "invalid_id_token",
            &[UNDECRYPTABLE],
            0,
        )
        .await;
    }
}

#[rocket::async_test]
async fn direct_ecdh_es_with_an_encrypted_key_is_refused() {
    // RFC 7516 5.2 step 10: direct key agreement carries an empty encrypted key.
    let provider = id_token_encrypted(P256, "ECDH-ES", "A128CBC-HS256");
    refused(
        &provider,
        |b| {
            b.id_token_encryption =
                Some(Encryption::to(public_jwk(P256), "ECDH-ES", "A128CBC-HS256"));
            b.jwe_tamper = Some(JweTamper::EncryptedKey);
        },
        "invalid_id_token",
        &["ECDH-ES carries no encrypted key"],
        0,
    )
    .await;
}

#[rocket::async_test]
async fn a_tampered_front_channel_id_token_is_refused_before_the_code_exchange() {
    let provider = format!("response_type = \"code id_token\"\n{}", rsa_oaep_256());
    let (op, client) = setup(&provider, |b| {
        b.id_token_encryption = to_rsa_oaep_256();
        b.jwe_tamper = Some(JweTamper::Tag);
    })
    .await;
    let auth_url = start_login(&client, "/login").await;
    let callback = authorize_at_once(&auth_url).await;
    let response = through_relay(&client, &callback).await;
    assert_eq!(response.status(), Status::Unauthorized);
    let body = json(&response.into_string().await.unwrap_or_default());
    assert_eq!(body["error"], "invalid_id_token", "{body}");
    assert!(body["detail"]
        .as_str()
        .unwrap_or_default()
        .contains(UNDECRYPTABLE));
    assert_eq!(op.hits("/token"), 0, "no code exchange");
    assert!(client.cookies().get(SESSION_COOKIE).is_none());
}

#[rocket::async_test]
async fn an_id_token_encrypted_for_another_key_is_refused() {
    let app_kid = kid(RSA);
    // A key that claims the app's kid: decryption itself must fail.
    for (alg, enc, jwk) in [
        ("RSA-OAEP-256", "A256GCM", fresh_rsa_jwk(&app_kid)),
        ("ECDH-ES", "A128CBC-HS256", fresh_p256_jwk(&kid(P256))),
    ] {
        let provider = match alg {
            "ECDH-ES" => id_token_encrypted(P256, alg, enc),
            _ => rsa_oaep_256(),
        };
        refused(
            &provider,
            |b| b.id_token_encryption = Some(Encryption::to(jwk, alg, enc)),
            "invalid_id_token",
            &[UNDECRYPTABLE],
            0,
        )
        .await;
    }
    // Another client's key under its own kid: refused by kid, naming both.
    refused(
        &rsa_oaep_256(),
        |b| {
            let jwk = fresh_rsa_jwk("someone-elses-key");
            b.id_token_encryption = Some(Encryption::to(jwk, "RSA-OAEP-256", "A256GCM"));
        },
        "invalid_id_token",
        &["someone-elses-key", &app_kid],
        0,
    )
    .await;
}

#[rocket::async_test]
async fn an_id_token_encrypted_with_rsa1_5_is_refused_naming_rsa1_5() {
    refused(
        &rsa_oaep_256(),
        |b| {
            b.id_token_encryption = Some(Encryption::to(public_jwk(RSA), "RSA1_5", "A256GCM"));
        },
        "invalid_id_token",
        &["RSA1_5", "padding-oracle"],
        0,
    )
    .await;
}

#[rocket::async_test]
async fn an_id_token_encrypted_with_other_algorithms_is_refused_naming_both() {
    // Another alg, another enc, both (to the app's other key).
    let cases = [
        (RSA, "RSA-OAEP", "A256GCM"),
        (RSA, "RSA-OAEP-256", "A128CBC-HS256"),
        (P256, "ECDH-ES", "A128GCM"),
    ];
    for (key, alg, enc) in cases {
        refused(
            &rsa_oaep_256(),
            |b| b.id_token_encryption = Some(Encryption::to(public_jwk(key), alg, enc)),
            "invalid_id_token",
            &[&format!("{alg} / {enc}"), "RSA-OAEP-256 / A256GCM"],
            0,
        )
        .await;
    }
}

#[rocket::async_test]
async fn an_unencrypted_id_token_is_refused_when_encryption_is_configured() {
    refused(
        &rsa_oaep_256(),
        |_| {},
        "invalid_id_token",
        &["not encrypted", "id_token_encrypted_response_alg"],
        0,
    )
    .await;
}

// --- UserInfo that is refused -----------------------------------------------------------

#[rocket::async_test]
async fn a_signed_userinfo_with_a_bad_signature_is_refused() {
    refused(
        USERINFO_SIGNED,
        |b| {
            b.userinfo_form = UserinfoForm::Signed;
            b.userinfo_signing = Some(Signing::BadSignature);
        },
        "invalid_userinfo",
        &["signature is invalid"],
        1,
    )
    .await;
}

#[rocket::async_test]
async fn a_signed_userinfo_with_another_algorithm_is_refused() {
    for (signing, alg) in [
        (Signing::AlgNone, "\"none\""),
        (Signing::Hs256WithClientSecret, "\"HS256\""),
    ] {
        refused(
            USERINFO_SIGNED,
            |b| {
                b.userinfo_form = UserinfoForm::Signed;
                b.userinfo_signing = Some(signing);
            },
            "invalid_userinfo",
            &[alg, "is not allowed (allowed: RS256)"],
            1,
        )
        .await;
    }
}

#[rocket::async_test]
async fn a_signed_userinfo_for_another_subject_is_refused() {
    refused(
        USERINFO_SIGNED,
        |b| {
            b.userinfo_form = UserinfoForm::Signed;
            b.userinfo_sub = Some("mallory".into());
        },
        "invalid_userinfo",
        &["sub does not match the ID token's sub"],
        1,
    )
    .await;
}

#[rocket::async_test]
async fn a_signed_userinfo_for_another_audience_is_refused() {
    refused(
        USERINFO_SIGNED,
        |b| {
            b.userinfo_form = UserinfoForm::Signed;
            b.userinfo_jwt_claims
                .insert("aud".into(), json!("someone-else"));
        },
        "invalid_userinfo",
        &["aud does not contain this client's client_id"],
        1,
    )
    .await;
}

#[rocket::async_test]
async fn a_signed_userinfo_from_another_issuer_is_refused() {
    refused(
        USERINFO_SIGNED,
        |b| {
            b.userinfo_form = UserinfoForm::Signed;
            b.userinfo_jwt_claims
                .insert("iss".into(), json!("https://evil.example"));
        },
        "invalid_userinfo",
        &["iss", "https://evil.example"],
        1,
    )
    .await;
}

#[rocket::async_test]
async fn a_plain_json_userinfo_is_refused_when_signing_is_configured() {
    refused(
        USERINFO_SIGNED,
        |_| {},
        "invalid_userinfo",
        &["plain JSON"],
        1,
    )
    .await;
}

#[rocket::async_test]
async fn a_signed_but_unencrypted_userinfo_is_refused_when_encryption_is_configured() {
    refused(
        &userinfo_signed_and_encrypted(),
        |b| b.userinfo_form = UserinfoForm::Signed,
        "invalid_userinfo",
        &["did not encrypt"],
        1,
    )
    .await;
}

#[rocket::async_test]
async fn an_encrypted_userinfo_for_another_key_is_refused() {
    let jwk = fresh_rsa_jwk(&kid(RSA));
    refused(
        &userinfo_signed_and_encrypted(),
        |b| {
            b.userinfo_form =
                UserinfoForm::SignedThenEncrypted(Encryption::to(jwk, "RSA-OAEP", "A128CBC-HS256"));
        },
        "invalid_userinfo",
        &["cannot be decrypted", UNDECRYPTABLE],
        1,
    )
    .await;
}

#[rocket::async_test]
async fn a_tampered_encrypted_userinfo_is_refused() {
    refused(
        &userinfo_signed_and_encrypted(),
        |b| {
            b.userinfo_form = UserinfoForm::SignedThenEncrypted(Encryption::to(
                public_jwk(RSA),
                "RSA-OAEP",
                "A128CBC-HS256",
            ));
            b.jwe_tamper = Some(JweTamper::Ciphertext);
        },
        "invalid_userinfo",
        &[UNDECRYPTABLE],
        1,
    )
    .await;
}
