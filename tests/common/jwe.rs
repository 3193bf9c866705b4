//! The provider's side of JWE (RFC 7516 compact serialization, RFC 7518 algorithms), for
//! the fake provider's encrypted ID tokens and UserInfo: [`encrypt`] to a client's public
//! JWK, and keys of other clients ([`fresh_rsa_jwk`], [`fresh_p256_jwk`]).
//!
//! Written apart from the crate's decryption (its own Concat KDF, key wrap and CBC-HMAC
//! over aws-lc-rs's primitives), so that a shared mistake would not pass unseen. `RSA1_5`
//! is here only to check that the client refuses it.
#![allow(dead_code, unreachable_pub, missing_docs)]

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::cipher::{self, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey};
use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::hmac;
use aws_lc_rs::key_wrap::{self, KeyEncryptionKey, KeyWrap as _};
use aws_lc_rs::rsa::{self, OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey};
use aws_lc_rs::rsa::{KeySize, PublicEncryptingKey, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

/// A compact JWE of `plaintext` to the public JWK `to` (RSA, or EC P-256/P-384), its `kid`
/// in the header, and `cty` when given (`"JWT"` for a nested JWT).
///
/// `alg`: `RSA-OAEP`, `RSA-OAEP-256`, `RSA1_5`, `ECDH-ES`, `ECDH-ES+A128KW`,
/// `ECDH-ES+A256KW`; `enc`: `A128CBC-HS256`, `A256CBC-HS512`, `A128GCM`, `A256GCM`. Panics
/// on others, and on an `alg` that does not fit the key.
pub fn encrypt(to: &Value, alg: &str, enc: &str, cty: Option<&str>, plaintext: &[u8]) -> String {
    let cek_len = match enc {
        "A128GCM" => 16,
        "A128CBC-HS256" | "A256GCM" => 32,
        "A256CBC-HS512" => 64,
        _ => panic!("jwe: unsupported enc {enc:?}"),
    };
    let mut header = Map::new();
    header.insert("alg".into(), json!(alg));
    header.insert("enc".into(), json!(enc));
    if let Some(kid) = to.get("kid") {
        header.insert("kid".into(), kid.clone());
    }
    if let Some(cty) = cty {
        header.insert("cty".into(), json!(cty));
    }
    let (cek, encrypted_key) = match alg {
        "RSA-OAEP" | "RSA-OAEP-256" | "RSA1_5" => {
            let cek = random(cek_len);
            let encrypted = rsa_encrypt(to, alg, &cek);
            (cek, encrypted)
        }
        "ECDH-ES" | "ECDH-ES+A128KW" | "ECDH-ES+A256KW" => {
            let (z, epk) = ephemeral_agreement(to);
            header.insert("epk".into(), epk);
            // RFC 7518 4.6.2: the KDF's AlgorithmID is `enc` for direct agreement, else `alg`.
            match alg {
                "ECDH-ES" => (concat_kdf(&z, enc, cek_len), Vec::new()),
                _ => {
                    let (kek_len, wrap) = match alg {
                        "ECDH-ES+A128KW" => (16, &key_wrap::AES_128),
                        _ => (32, &key_wrap::AES_256),
                    };
                    let kek = concat_kdf(&z, alg, kek_len);
                    let cek = random(cek_len);
                    let mut out = vec![0; cek_len + 8];
                    let wrapped = KeyEncryptionKey::new(wrap, &kek)
                        .and_then(|kek| kek.wrap(&cek, &mut out).map(|w| w.to_vec()))
                        .expect("jwe: AES key wrap");
                    (cek, wrapped)
                }
            }
        }
        _ => panic!("jwe: unsupported alg {alg:?}"),
    };
    let protected = b64(Value::Object(header).to_string().as_bytes());
    let (iv, ciphertext, tag) = seal(enc, &cek, protected.as_bytes(), plaintext);
    [
        protected,
        b64(&encrypted_key),
        b64(&iv),
        b64(&ciphertext),
        b64(&tag),
    ]
    .join(".")
}

/// The public JWK of a freshly generated RSA 2048 key, under `kid`: another client's key
/// (or, with the app's kid, a key that only claims to be the app's).
pub fn fresh_rsa_jwk(kid: &str) -> Value {
    let key = rsa::KeyPair::generate(KeySize::Rsa2048).expect("jwe: generate an RSA key");
    let public = PublicKeyComponents::<Vec<u8>>::from(key.public_key());
    json!({ "kty": "RSA", "n": b64(&public.n), "e": b64(&public.e), "kid": kid, "use": "enc" })
}

/// The public JWK of a freshly generated P-256 key, under `kid`.
pub fn fresh_p256_jwk(kid: &str) -> Value {
    let key = PrivateKey::generate(&agreement::ECDH_P256).expect("jwe: generate a P-256 key");
    let point = key.compute_public_key().expect("jwe: public key");
    let (x, y) = point.as_ref()[1..].split_at(32);
    json!({ "kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y), "kid": kid, "use": "enc" })
}

fn rsa_encrypt(to: &Value, alg: &str, cek: &[u8]) -> Vec<u8> {
    let member = |name: &str| unb64(to[name].as_str().expect("jwe: an RSA JWK"));
    let components = PublicKeyComponents {
        n: member("n"),
        e: member("e"),
    };
    let key: PublicEncryptingKey = components.try_into().expect("jwe: RSA public key");
    let mut out = vec![0; key.key_size_bytes()];
    let encrypted = match alg {
        "RSA1_5" => Pkcs1PublicEncryptingKey::new(key).and_then(|k| k.encrypt(cek, &mut out)),
        _ => {
            let padding = match alg {
                "RSA-OAEP" => &rsa::OAEP_SHA1_MGF1SHA1,
                _ => &rsa::OAEP_SHA256_MGF1SHA256,
            };
            OaepPublicEncryptingKey::new(key).and_then(|k| k.encrypt(padding, cek, &mut out, None))
        }
    };
    encrypted.expect("jwe: RSA encryption").to_vec()
}

/// ECDH with a new ephemeral key on the curve of `to`: the shared secret Z and the
/// ephemeral public key, as the header's `epk`.
fn ephemeral_agreement(to: &Value) -> (Vec<u8>, Value) {
    let (curve, crv) = match to["crv"].as_str() {
        Some("P-256") => (&agreement::ECDH_P256, "P-256"),
        Some("P-384") => (&agreement::ECDH_P384, "P-384"),
        other => panic!("jwe: ECDH-ES to an EC P-256 or P-384 key, not {other:?}"),
    };
    let coordinate = |name: &str| unb64(to[name].as_str().expect("jwe: an EC JWK"));
    let recipient = [vec![0x04], coordinate("x"), coordinate("y")].concat();
    let ephemeral = PrivateKey::generate(curve).expect("jwe: ephemeral key");
    let point = ephemeral
        .compute_public_key()
        .expect("jwe: ephemeral public key");
    let (x, y) = point.as_ref()[1..].split_at((point.as_ref().len() - 1) / 2);
    let epk = json!({ "kty": "EC", "crv": crv, "x": b64(x), "y": b64(y) });
    let z = agreement::agree(
        &ephemeral,
        UnparsedPublicKey::new(curve, recipient),
        "jwe: ECDH with the recipient's key",
        |z| Ok(z.to_vec()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (z, epk)
}

/// The Concat KDF of RFC 7518 4.6.2 with SHA-256, no `apu`/`apv`.
fn concat_kdf(z: &[u8], algorithm_id: &str, len: usize) -> Vec<u8> {
    let mut other_info = Vec::new();
    for field in [algorithm_id.as_bytes(), b"", b""] {
        other_info.extend((field.len() as u32).to_be_bytes());
        other_info.extend(field);
    }
    other_info.extend(((len * 8) as u32).to_be_bytes());
    let mut key = Vec::new();
    for round in 1u32.. {
        if key.len() >= len {
            break;
        }
        let input = [&round.to_be_bytes()[..], z, &other_info].concat();
        key.extend(digest(&SHA256, &input).as_ref());
    }
    key.truncate(len);
    key
}

/// Encrypts `plaintext` with `cek` under a fresh IV, authenticating `aad`: (IV, ciphertext,
/// tag). CBC-HS is RFC 7518 5.2.2.1: the CEK is MAC key then AES key, the tag the first
/// half of HMAC(AAD || IV || ciphertext || AAD length in bits).
fn seal(enc: &str, cek: &[u8], aad: &[u8], plaintext: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut ciphertext = plaintext.to_vec();
    if enc.ends_with("GCM") {
        let iv = random(12);
        let aes = match cek.len() {
            16 => &aead::AES_128_GCM,
            _ => &aead::AES_256_GCM,
        };
        let key = LessSafeKey::new(UnboundKey::new(aes, cek).expect("jwe: AES-GCM key"));
        let nonce = Nonce::try_assume_unique_for_key(&iv).expect("jwe: 12-byte IV");
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut ciphertext)
            .expect("jwe: AES-GCM");
        return (iv, ciphertext, tag.as_ref().to_vec());
    }
    let iv: [u8; 16] = random(16).try_into().expect("16 bytes");
    let (mac_key, aes_key) = cek.split_at(cek.len() / 2);
    let (aes, mac) = match cek.len() {
        32 => (&cipher::AES_128, hmac::HMAC_SHA256),
        _ => (&cipher::AES_256, hmac::HMAC_SHA512),
    };
    PaddedBlockEncryptingKey::cbc_pkcs7(UnboundCipherKey::new(aes, aes_key).expect("AES key"))
        .and_then(|key| key.less_safe_encrypt(&mut ciphertext, EncryptionContext::Iv128(iv.into())))
        .expect("jwe: AES-CBC");
    let aad_bits = (aad.len() as u64 * 8).to_be_bytes();
    let input = [aad, &iv, &ciphertext, &aad_bits].concat();
    let tag = hmac::sign(&hmac::Key::new(mac, mac_key), &input);
    let tag = tag.as_ref()[..mac_key.len()].to_vec();
    (iv.to_vec(), ciphertext, tag)
}

fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    aws_lc_rs::rand::fill(&mut bytes).expect("jwe: random bytes");
    bytes
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("jwe: base64url")
}
