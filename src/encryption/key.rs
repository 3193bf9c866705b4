//! The decryption key read from PEM (PKCS#8, PKCS#1 RSA, SEC1 EC), and its public half as
//! a JWK (RFC 7517/7518, RFC 8037 for X25519).

use aws_lc_rs::agreement::{self, PrivateKey, ECDH_P256, ECDH_P384, ECDH_P521, X25519};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{self, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::KeyPair as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use serde_json::{json, Value};

use super::EncryptionKeyError;
use crate::signing::b64;

/// The private key, by what it decrypts.
pub(super) enum KeyKind {
    /// RSA-OAEP and RSA-OAEP-256.
    Rsa(OaepPrivateDecryptingKey),
    /// ECDH-ES and ECDH-ES+A*KW.
    Agreement(PrivateKey, Curve),
}

impl KeyKind {
    /// "RSA-2048", "P-256", "X25519", ...: for `Debug` and error messages.
    pub(super) fn describe(&self) -> String {
        match self {
            KeyKind::Rsa(key) => format!("RSA-{}", key.key_size_bits()),
            KeyKind::Agreement(_, curve) => curve.name().to_owned(),
        }
    }

    pub(super) fn type_name(&self) -> &'static str {
        match self {
            KeyKind::Rsa(_) => "RSA",
            KeyKind::Agreement(_, curve) => curve.name(),
        }
    }
}

/// The curves of ECDH-ES keys (RFC 7518 §6.2.1.1, RFC 8037 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Curve {
    P256,
    P384,
    P521,
    X25519,
}

impl Curve {
    const EC: [Curve; 3] = [Curve::P256, Curve::P384, Curve::P521];

    /// The JWK `crv`.
    pub(super) fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
            Curve::X25519 => "X25519",
        }
    }

    /// The JWK `kty`.
    pub(super) fn kty(self) -> &'static str {
        match self {
            Curve::X25519 => "OKP",
            Curve::P256 | Curve::P384 | Curve::P521 => "EC",
        }
    }

    pub(super) fn algorithm(self) -> &'static agreement::Algorithm {
        match self {
            Curve::P256 => &ECDH_P256,
            Curve::P384 => &ECDH_P384,
            Curve::P521 => &ECDH_P521,
            Curve::X25519 => &X25519,
        }
    }

    /// The length of a coordinate (`x`, `y`), which a JWK carries at full length.
    pub(super) fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 | Curve::X25519 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

/// The fixed DER prefix of an X25519 PKCS#8 v1 key (RFC 8410 §7, as `openssl genpkey
/// -algorithm X25519` writes it), followed by the 32 bytes of the key; aws-lc-rs reads
/// X25519 keys only raw.
const X25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
];

/// Reads a PEM private key; returns it with its public JWK (no `kid`, `use`, `alg`).
pub(super) fn read_pem(pem: &str) -> Result<(KeyKind, Value), EncryptionKeyError> {
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(EncryptionKeyError::NotPem)?;
    match &der {
        PrivateKeyDer::Pkcs8(key) => from_pkcs8(key.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(key) => from_pkcs1(key.secret_pkcs1_der()),
        PrivateKeyDer::Sec1(key) => from_sec1(key.secret_sec1_der()),
        _ => Err(EncryptionKeyError::UnsupportedFormat),
    }
}

fn from_pkcs8(pkcs8: &[u8]) -> Result<(KeyKind, Value), EncryptionKeyError> {
    match rsa::KeyPair::from_pkcs8(pkcs8) {
        Ok(pair) => return rsa_key(&pair, pkcs8),
        // Not RSA (or nothing aws-lc reads as a key): try the agreement keys.
        Err(e) if matches!(e.description_(), "WrongAlgorithm" | "InvalidEncoding") => {}
        Err(e) => return Err(rsa_rejected(e)),
    }
    for curve in Curve::EC {
        if let Ok(key) = PrivateKey::from_private_key_der(curve.algorithm(), pkcs8) {
            return agreement_key(key, curve);
        }
    }
    match pkcs8.strip_prefix(&X25519_PKCS8_PREFIX[..]) {
        Some(raw) if raw.len() == 32 => PrivateKey::from_private_key(&X25519, raw)
            .map_err(|_| EncryptionKeyError::UnsupportedKeyType)
            .and_then(|key| agreement_key(key, Curve::X25519)),
        _ => Err(EncryptionKeyError::UnsupportedKeyType),
    }
}

/// An RSA `RSAPrivateKey` (RFC 8017), re-encoded as the PKCS#8 aws-lc-rs decrypts with.
fn from_pkcs1(pkcs1: &[u8]) -> Result<(KeyKind, Value), EncryptionKeyError> {
    let pair = rsa::KeyPair::from_der(pkcs1).map_err(rsa_rejected)?;
    let pkcs8 = pair.as_der().map_err(EncryptionKeyError::NoPublicKey)?;
    rsa_key(&pair, pkcs8.as_ref())
}

/// An `ECPrivateKey` (RFC 5915), on whichever curve it names.
fn from_sec1(sec1: &[u8]) -> Result<(KeyKind, Value), EncryptionKeyError> {
    let mut last = None;
    for curve in Curve::EC {
        match PrivateKey::from_private_key_der(curve.algorithm(), sec1) {
            Ok(key) => return agreement_key(key, curve),
            Err(e) => last = Some(e),
        }
    }
    Err(EncryptionKeyError::EcRejected(
        last.expect("three curves were tried"),
    ))
}

fn rsa_rejected(e: aws_lc_rs::error::KeyRejected) -> EncryptionKeyError {
    if e.description_() == "TooSmall" {
        EncryptionKeyError::RsaTooSmall
    } else {
        EncryptionKeyError::RsaRejected(e)
    }
}

fn rsa_key(pair: &rsa::KeyPair, pkcs8: &[u8]) -> Result<(KeyKind, Value), EncryptionKeyError> {
    let private = PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(rsa_rejected)?;
    let key = OaepPrivateDecryptingKey::new(private).map_err(EncryptionKeyError::NoPublicKey)?;
    let public = pair.public_key();
    let jwk = json!({
        "kty": "RSA",
        "e": b64(public.exponent().big_endian_without_leading_zero()),
        "n": b64(public.modulus().big_endian_without_leading_zero()),
    });
    Ok((KeyKind::Rsa(key), jwk))
}

fn agreement_key(key: PrivateKey, curve: Curve) -> Result<(KeyKind, Value), EncryptionKeyError> {
    let public = key
        .compute_public_key()
        .map_err(EncryptionKeyError::NoPublicKey)?;
    let point = public.as_ref();
    let jwk = if curve == Curve::X25519 {
        json!({ "kty": "OKP", "crv": curve.name(), "x": b64(point) })
    } else {
        // SEC1 uncompressed: 0x04 || x || y.
        let len = curve.coordinate_len();
        json!({
            "kty": "EC",
            "crv": curve.name(),
            "x": b64(&point[1..1 + len]),
            "y": b64(&point[1 + len..]),
        })
    };
    Ok((KeyKind::Agreement(key, curve), jwk))
}
