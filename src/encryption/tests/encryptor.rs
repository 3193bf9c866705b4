//! A test-only JWE encryptor: what a provider does, with aws-lc-rs's public-key
//! operations (RSA-OAEP encryption to the published `n` and `e`, ephemeral ECDH with the
//! published point).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::cipher::{self, EncryptingKey, EncryptionContext, PaddedBlockEncryptingKey};
use aws_lc_rs::cipher::{UnboundCipherKey, AES_128_KEY_LEN};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::key_wrap::{KeyEncryptionKey, KeyWrap};
use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};
use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256};
use serde_json::Map;

use super::*;

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        len @ 0..=0x7f => out.push(len as u8),
        len @ 0x80..=0xff => out.extend([0x81, len as u8]),
        len => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// An RSA public key from a JWK's `n` and `e`, as X.509 SubjectPublicKeyInfo.
pub(super) fn rsa_public(jwk: &Value) -> OaepPublicEncryptingKey {
    let integer = |member: &str| {
        let mut bytes = unb64(jwk[member].as_str().unwrap());
        if bytes[0] >= 0x80 {
            bytes.insert(0, 0); // stays positive
        }
        der(0x02, &bytes)
    };
    let rsa_encryption = [6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1, 5, 0];
    let mut key = vec![0]; // no unused bits
    key.extend(der(0x30, &[integer("n"), integer("e")].concat()));
    let spki = der(
        0x30,
        &[der(0x30, &rsa_encryption), der(0x03, &key)].concat(),
    );
    OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&spki).unwrap()).unwrap()
}

/// An EC or X25519 public key as a JWK, from its SEC1 or raw encoding.
pub(super) fn agreement_jwk(curve: Curve, point: &[u8]) -> Value {
    if curve == Curve::X25519 {
        return json!({"kty": "OKP", "crv": "X25519", "x": b64(point)});
    }
    let half = (point.len() - 1) / 2;
    json!({"kty": "EC", "crv": curve.name(), "x": b64(&point[1..1 + half]), "y": b64(&point[1 + half..])})
}

pub(super) fn curve_of(jwk: &Value) -> Curve {
    [Curve::P256, Curve::P384, Curve::P521, Curve::X25519]
        .into_iter()
        .find(|c| jwk["crv"] == c.name())
        .unwrap()
}

/// RFC 3394 key wrap over AES ECB, for AES-192 (aws-lc-rs wraps with 128 and 256 only).
pub(super) fn rfc3394_wrap(kek: &[u8], key: &[u8]) -> Vec<u8> {
    let aes = &[&cipher::AES_128, &cipher::AES_192, &cipher::AES_256][kek.len() / 8 - 2];
    let aes = EncryptingKey::ecb(UnboundCipherKey::new(aes, kek).unwrap()).unwrap();
    let n = key.len() / 8;
    let mut a = [0xa6u8; 8];
    let mut r = key.to_vec();
    for j in 0..6 {
        for i in 1..=n {
            let mut block = [a.as_slice(), &r[(i - 1) * 8..i * 8]].concat();
            aes.encrypt(&mut block).unwrap();
            let t = ((n * j + i) as u64).to_be_bytes();
            a = std::array::from_fn(|k| block[k] ^ t[k]);
            r[(i - 1) * 8..i * 8].copy_from_slice(&block[8..]);
        }
    }
    [a.as_slice(), &r].concat()
}

/// A compact JWE of `plaintext` for the key published as `jwk`, the way a provider makes
/// one: `edit` changes the protected header before it is encoded (and authenticated).
pub(super) fn encrypt_with(
    jwk: &Value,
    alg: Alg,
    enc: Enc,
    plaintext: &[u8],
    edit: impl FnOnce(&mut Map<String, Value>),
) -> String {
    let mut header = Map::new();
    header.insert("alg".into(), alg.as_str().into());
    header.insert("enc".into(), enc.as_str().into());
    header.insert("kid".into(), jwk["kid"].clone());
    let (cek, encrypted_key) = if alg.is_rsa() {
        let cek = random(enc.key_len());
        let padding = match alg {
            Alg::RsaOaep => &OAEP_SHA1_MGF1SHA1,
            _ => &OAEP_SHA256_MGF1SHA256,
        };
        let key = rsa_public(jwk);
        let mut out = vec![0; key.ciphertext_size()];
        let encrypted = key.encrypt(padding, &cek, &mut out, None).unwrap().to_vec();
        (cek, encrypted)
    } else {
        let curve = curve_of(jwk);
        let ephemeral = PrivateKey::generate(curve.algorithm()).unwrap();
        let epk = ephemeral.compute_public_key().unwrap();
        header.insert("epk".into(), agreement_jwk(curve, epk.as_ref()));
        header.insert("apu".into(), b64(b"Alice").into());
        header.insert("apv".into(), b64(b"Bob").into());
        let recipient = match curve {
            Curve::X25519 => unb64(jwk["x"].as_str().unwrap()),
            _ => [
                vec![4],
                unb64(jwk["x"].as_str().unwrap()),
                unb64(jwk["y"].as_str().unwrap()),
            ]
            .concat(),
        };
        let recipient = UnparsedPublicKey::new(curve.algorithm(), recipient);
        let z = agreement::agree(&ephemeral, recipient, (), |z| Ok(z.to_vec())).unwrap();
        match alg.key_wrap_len() {
            None => (
                cek::concat_kdf(&z, enc.as_str(), b"Alice", b"Bob", enc.key_len()).unwrap(),
                vec![],
            ),
            Some(len) => {
                let kek = cek::concat_kdf(&z, alg.as_str(), b"Alice", b"Bob", len).unwrap();
                let cek = random(enc.key_len());
                let wrapped = if len == 24 {
                    rfc3394_wrap(&kek, &cek)
                } else {
                    let cipher = if len == AES_128_KEY_LEN {
                        &aws_lc_rs::key_wrap::AES_128
                    } else {
                        &aws_lc_rs::key_wrap::AES_256
                    };
                    let mut out = vec![0; cek.len() + 8];
                    KeyEncryptionKey::new(cipher, &kek)
                        .unwrap()
                        .wrap(&cek, &mut out)
                        .unwrap()
                        .to_vec()
                };
                (cek, wrapped)
            }
        }
    };
    edit(&mut header);
    let protected = b64(Value::Object(header).to_string().as_bytes());
    let iv = random(enc.iv_len());
    let mut ciphertext = plaintext.to_vec();
    let tag = if enc.is_gcm() {
        let aes = &[
            &aws_lc_rs::aead::AES_128_GCM,
            &aws_lc_rs::aead::AES_192_GCM,
            &aws_lc_rs::aead::AES_256_GCM,
        ][enc.key_len() / 8 - 2];
        let key = LessSafeKey::new(UnboundKey::new(aes, &cek).unwrap());
        let nonce = Nonce::try_assume_unique_for_key(&iv).unwrap();
        let tag =
            key.seal_in_place_separate_tag(nonce, Aad::from(protected.as_bytes()), &mut ciphertext);
        tag.unwrap().as_ref().to_vec()
    } else {
        let (mac_key, enc_key) = cek.split_at(cek.len() / 2);
        let aes = &[&cipher::AES_128, &cipher::AES_192, &cipher::AES_256][enc_key.len() / 8 - 2];
        let key = PaddedBlockEncryptingKey::cbc_pkcs7(UnboundCipherKey::new(aes, enc_key).unwrap())
            .unwrap();
        let context = EncryptionContext::Iv128(FixedLength::try_from(iv.as_slice()).unwrap());
        key.less_safe_encrypt(&mut ciphertext, context).unwrap();
        let hmac = [
            aws_lc_rs::hmac::HMAC_SHA256,
            aws_lc_rs::hmac::HMAC_SHA384,
            aws_lc_rs::hmac::HMAC_SHA512,
        ][mac_key.len() / 8 - 2];
        content::cbc_hmac_tag(hmac, mac_key, &iv, &ciphertext, protected.as_bytes()).unwrap()
    };
    [
        protected,
        b64(&encrypted_key),
        b64(&iv),
        b64(&ciphertext),
        b64(&tag),
    ]
    .join(".")
}

pub(super) fn encrypt(key: &DecryptionKey, alg: Alg, enc: Enc, plaintext: &[u8]) -> String {
    encrypt_with(&key.published_jwk(), alg, enc, plaintext, |_| {})
}

/// Changes one bit of part `index` of a compact JWE.
pub(super) fn flip(jwe: &str, index: usize) -> String {
    let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
    let mut bytes = unb64(&parts[index]);
    bytes[0] ^= 1;
    parts[index] = b64(&bytes);
    parts.join(".")
}
