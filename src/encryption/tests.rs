//! Round trips through a test-only encryptor (every alg × enc, every key type), and every
//! refusal. The published test vectors are in `tests/rfc.rs`.

mod encryptor;
mod refusals;
mod rfc;

use aws_lc_rs::agreement::PrivateKey;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::json;

use encryptor::{agreement_jwk, encrypt, encrypt_with, flip, rfc3394_wrap};

use super::key::Curve;
use super::*;
use ContentEncryption as Enc;
use KeyManagementAlg as Alg;

pub(super) fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes
}

/// `openssl genpkey -algorithm X25519` (a test key, protects nothing), and its public key
/// as `openssl pkey -pubout` computes it.
const X25519_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VuBCIEIDifbZhCcRn9izGXvVguMOqv+5t9IEDzXdZbSLt7ljly
-----END PRIVATE KEY-----
";
const X25519_PUBLIC_X: &str = "UD2xz20Ya45pNko1q4N7mQJFalnVuyRc8RicLWXAnRk";

/// A fresh EC key of `curve`, as a PKCS#8 PEM (aws-lc writes no X25519 PKCS#8).
fn generated(curve: Curve) -> DecryptionKey {
    let key = PrivateKey::generate(curve.algorithm()).unwrap();
    let der: Pkcs8V1Der = key.as_der().unwrap();
    DecryptionKey::from_pem(&pem("PRIVATE KEY", der.as_ref()), None).unwrap()
}

fn rsa_key() -> DecryptionKey {
    DecryptionKey::from_pem(&fixture("client_rsa_pkcs8.pem"), None).unwrap()
}

fn p256_key() -> DecryptionKey {
    DecryptionKey::from_pem(&fixture("client_p256_sec1.pem"), None).unwrap()
}

/// Every kind of key: RSA (PKCS#8 and PKCS#1), P-256 and P-384 (SEC1), P-521 (PKCS#8),
/// X25519 (PKCS#8).
fn every_key() -> Vec<DecryptionKey> {
    vec![
        rsa_key(),
        DecryptionKey::from_pem(&fixture("op_key_1.pem"), Some("op-1".into())).unwrap(),
        p256_key(),
        DecryptionKey::from_pem(&fixture("client_p384_sec1.pem"), None).unwrap(),
        generated(Curve::P521),
        DecryptionKey::from_pem(X25519_PEM, None).unwrap(),
    ]
}

#[test]
fn every_alg_and_enc_round_trips_with_every_key_type() {
    let plaintexts: [&[u8]; 3] = [
        b"",
        b"sixteen bytes!!!",
        br#"{"sub":"alice","email":"a@example.com"}"#,
    ];
    for key in every_key() {
        let algs = Alg::ALL.into_iter().filter(|alg| key.can_decrypt(*alg));
        for (alg, enc) in algs.flat_map(|alg| Enc::ALL.map(|enc| (alg, enc))) {
            for plaintext in plaintexts {
                let jwe = encrypt(&key, alg, enc, plaintext);
                let decrypted = key.decrypt(&jwe, Some((alg, enc)));
                assert_eq!(decrypted.as_deref(), Ok(plaintext), "{key:?} {alg} {enc}");
            }
            let jwe = encrypt(&key, alg, enc, "héllo".as_bytes());
            assert_eq!(key.decrypt_to_string(&jwe, None).unwrap(), "héllo");
        }
    }
}

#[test]
fn published_jwks_are_public_with_use_enc_and_no_alg() {
    // The signing module reads the same PEM files with ring: an independent public key.
    let signing = |name: &str| {
        crate::signing::SigningKey::from_pem(&fixture(name), None, None)
            .unwrap()
            .public_jwk()
    };
    for (name, members) in [
        ("client_rsa_pkcs1.pem", &["kty", "n", "e"][..]),
        ("client_rsa_pkcs8.pem", &["kty", "n", "e"]),
        ("client_p256_sec1.pem", &["kty", "crv", "x", "y"]),
        ("client_p384_sec1.pem", &["kty", "crv", "x", "y"]),
    ] {
        let key = DecryptionKey::from_pem(&fixture(name), Some("enc-1".into())).unwrap();
        let (jwk, expected) = (key.published_jwk(), signing(name));
        for member in members {
            assert_eq!(jwk[member], expected[member], "{name}: {member}");
        }
        assert_eq!(
            (&jwk["use"], &jwk["kid"]),
            (&json!("enc"), &json!("enc-1")),
            "{name}"
        );
        assert_eq!(
            jwk.as_object().unwrap().len(),
            members.len() + 2,
            "{name}: {jwk}"
        );
        assert_eq!(key.kid(), "enc-1");
    }
    let x25519 = DecryptionKey::from_pem(X25519_PEM, None)
        .unwrap()
        .published_jwk();
    assert_eq!(
        x25519,
        json!({"kty": "OKP", "crv": "X25519", "x": X25519_PUBLIC_X, "kid": x25519["kid"], "use": "enc"})
    );
    let p521 = generated(Curve::P521).published_jwk();
    assert_eq!(
        (
            p521["crv"].as_str(),
            unb64(p521["x"].as_str().unwrap()).len()
        ),
        (Some("P-521"), 66)
    );
    for jwk in [x25519, p521, rsa_key().published_jwk()] {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "alg"] {
            assert!(jwk.get(private).is_none(), "{private} in {jwk}");
        }
    }
}

#[test]
fn the_same_key_in_two_formats_has_one_kid() {
    let pkcs1 = DecryptionKey::from_pem(&fixture("client_rsa_pkcs1.pem"), None).unwrap();
    assert_eq!(pkcs1.kid(), rsa_key().kid());
    assert_eq!(
        pkcs1.kid(),
        crate::signing::thumbprint(&pkcs1.published_jwk())
    );
}

#[test]
fn debug_shows_the_kid_and_key_type_only() {
    let key = rsa_key();
    let debug = format!("{key:?}");
    assert_eq!(
        debug,
        format!(
            "DecryptionKey {{ kid: {:?}, kind: \"RSA-2048\", .. }}",
            key.kid()
        )
    );
    let debug = format!(
        "{:?}",
        DecryptionKey::from_pem(X25519_PEM, Some("x".into())).unwrap()
    );
    assert_eq!(debug, "DecryptionKey { kid: \"x\", kind: \"X25519\", .. }");
}

/// A 1024-bit RSA key (`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024`; a
/// test key, protects nothing).
const RSA_1024_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAKkz65QqmFH/eUlQ
3vXhHBnse3ING619ysrkBgGfNN3d0tEN9IDKXPXFK0bP03hDCeLmGk8VvCVTMez1
heYW6VSvd4HriDNGt7a24rTmvrDqroYA9PetKpbuzcrWRdA08xoQjJBEHW8Hgzom
OkgEhEuKl4wQo6fzT8VoGbySL7jBAgMBAAECgYBZeNIGvGtlWMFq6m+r90hj0PAK
BDJxkEYO+XrPmr9a3vSehVGYVOnJMGTNAhKh0llE+UZKMYUW+6I32jDe1Zi1yeb4
IKSjDxu8touuBAznhF0bbfcL2Y+tSiYz81IdwCu3G3+2ydTbS7oab4U+l6YD+eJ7
lNK88EH0Z23zklKG0QJBANn42UNgW8K+DzIDFGdtHw7FVEtX8Qt4GTkijY4mPhoI
OFwmLDqot1vHJYgv99Qh6buPLGa7p83UnfYJrz2QcyUCQQDGuOuwti3BInCbzr5G
2EbZMfsWstOcoDOiETmXeZ50SmUTR/2gIh0sNU06PEsk93xwoSpAsHz+75tajef2
7kptAkBh5HHm4Yq0blkys9FhFc/h+Vt/LvKxnPFvCIacda5kUJbHQ9mPSqB2lnzT
qf9ahRSMyKM/TD3zoe6DRhwuwQYFAkBGEL8xEBqzxPPVS6C1E95vB/tStnx79dQe
qVoX+U6QDAb1NGXNRxnoE2cGSGnqP8RFZd2i71cy/8JTvEL0QnJFAkEAmDlfycJN
yz6P6ruVhArR3t75a6tdn3tEDEWSLZ/vtkFaphRduNVbeYfXrdynw7+ONxmb2gOo
TiV0agSztNm97g==
-----END PRIVATE KEY-----
";

#[test]
fn unusable_keys_are_refused_saying_how_to_make_one() {
    let err = DecryptionKey::from_pem(RSA_1024_PEM, None).unwrap_err();
    assert!(matches!(err, EncryptionKeyError::RsaTooSmall), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("smaller than 2048 bits"), "{message}");
    assert!(message.contains("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048"));

    let err = DecryptionKey::from_pem("not a key", None).unwrap_err();
    assert!(matches!(err, EncryptionKeyError::NotPem(_)), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
    let err = DecryptionKey::from_pem(&fixture("client_ed25519.pem"), None).unwrap_err();
    assert!(
        matches!(err, EncryptionKeyError::UnsupportedKeyType),
        "{err:?}"
    );
    assert!(err.to_string().contains("ec_paramgen_curve:P-256"), "{err}");
}
