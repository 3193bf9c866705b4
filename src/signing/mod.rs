//! Signing keys of this client: the private key of `private_key_jwt` (read from PEM), the
//! per-session DPoP keys, and compact JWS signing with them or with the client secret
//! (`client_secret_jwt`). Public keys come out as JWKs with their RFC 7638 thumbprint.
//!
//! All cryptography is `ring`'s (already linked for TLS). This module sits on the floor with
//! the configuration, which loads the keys, and imports nothing of the crate (openidconnect's algorithm names are the shared vocabulary).

mod alg;
mod error;

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub(crate) use alg::SigningAlg;
pub(crate) use error::KeyError;
use error::RingError;

enum KeyPairKind {
    Rsa(RsaKeyPair),
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key with its algorithm and `kid`. `Debug` shows neither key half.
pub(crate) struct SigningKey {
    pair: KeyPairKind,
    alg: SigningAlg,
    kid: String,
    /// The PKCS#8 document, kept for keys that travel in a session (DPoP).
    pkcs8: Option<Vec<u8>>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

impl SigningKey {
    /// Reads a PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC; RSA, P-256, P-384 or
    /// Ed25519). `alg` defaults by key type (RS256, ES256, ES384, EdDSA); `kid` to the
    /// key's RFC 7638 thumbprint.
    pub(crate) fn from_pem(
        pem: &str,
        alg: Option<SigningAlg>,
        kid: Option<String>,
    ) -> Result<SigningKey, KeyError> {
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(KeyError::NotPem)?;
        let pair = match &der {
            PrivateKeyDer::Pkcs1(key) => RsaKeyPair::from_der(key.secret_pkcs1_der())
                .map(KeyPairKind::Rsa)
                .map_err(|e| KeyError::RsaRejected(RingError(e)))?,
            PrivateKeyDer::Sec1(key) => {
                let sec1 = key.secret_sec1_der();
                match ecdsa(P256_SIGNING, &sec1_to_pkcs8(sec1, OID_P256)) {
                    Ok(pair) => KeyPairKind::P256(pair),
                    Err(_) => ecdsa(P384_SIGNING, &sec1_to_pkcs8(sec1, OID_P384))
                        .map(KeyPairKind::P384)
                        .map_err(|e| KeyError::EcRejected(RingError(e)))?,
                }
            }
            PrivateKeyDer::Pkcs8(key) => pair_from_pkcs8(key.secret_pkcs8_der())?,
            _ => return Err(KeyError::UnsupportedFormat),
        };
        SigningKey::new(pair, alg, kid, None)
    }

    /// A fresh key pair for DPoP: P-256 (ES256) or Ed25519 (EdDSA).
    pub(crate) fn generate(alg: SigningAlg) -> Result<SigningKey, KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = match alg {
            SigningAlg::Es256 => EcdsaKeyPair::generate_pkcs8(P256_SIGNING, &rng),
            SigningAlg::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng),
            other => return Err(KeyError::NotGenerated(other)),
        }
        .map_err(|e| KeyError::Random(RingError(e)))?;
        SigningKey::from_pkcs8(pkcs8.as_ref())
    }

    /// A key kept as PKCS#8 (see [`SigningKey::pkcs8`]), with its key type's algorithm.
    pub(crate) fn from_pkcs8(pkcs8: &[u8]) -> Result<SigningKey, KeyError> {
        SigningKey::new(pair_from_pkcs8(pkcs8)?, None, None, Some(pkcs8.to_vec()))
    }

    fn new(
        pair: KeyPairKind,
        alg: Option<SigningAlg>,
        kid: Option<String>,
        pkcs8: Option<Vec<u8>>,
    ) -> Result<SigningKey, KeyError> {
        let (default, allowed): (SigningAlg, &'static [SigningAlg]) = match &pair {
            KeyPairKind::Rsa(_) => (
                SigningAlg::Rs256,
                &[
                    SigningAlg::Rs256,
                    SigningAlg::Rs384,
                    SigningAlg::Rs512,
                    SigningAlg::Ps256,
                    SigningAlg::Ps384,
                    SigningAlg::Ps512,
                ],
            ),
            KeyPairKind::P256(_) => (SigningAlg::Es256, &[SigningAlg::Es256]),
            KeyPairKind::P384(_) => (SigningAlg::Es384, &[SigningAlg::Es384]),
            KeyPairKind::Ed25519(_) => (SigningAlg::EdDsa, &[SigningAlg::EdDsa]),
        };
        let alg = alg.unwrap_or(default);
        if !allowed.contains(&alg) {
            return Err(KeyError::AlgMismatch {
                key_type: key_type_name(&pair),
                alg,
                allowed,
            });
        }
        let mut key = SigningKey {
            pair,
            alg,
            kid: String::new(),
            pkcs8,
        };
        key.kid = match kid {
            Some(kid) => kid,
            None => key.thumbprint(),
        };
        Ok(key)
    }

    pub(crate) fn alg(&self) -> SigningAlg {
        self.alg
    }

    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The PKCS#8 document of a generated or restored key.
    pub(crate) fn pkcs8(&self) -> Option<&[u8]> {
        self.pkcs8.as_deref()
    }

    /// The public key as a JWK (members of RFC 7517/7518/8037 only, no `kid`, `alg`, `use`).
    pub(crate) fn public_jwk(&self) -> Value {
        match &self.pair {
            KeyPairKind::Rsa(pair) => {
                let components: sig::RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
                json!({
                    "kty": "RSA",
                    "e": b64(strip_zeros(&components.e)),
                    "n": b64(strip_zeros(&components.n)),
                })
            }
            KeyPairKind::P256(pair) | KeyPairKind::P384(pair) => {
                let point = pair.public_key().as_ref();
                let half = (point.len() - 1) / 2;
                json!({
                    "kty": "EC",
                    "crv": if half == 32 { "P-256" } else { "P-384" },
                    "x": b64(&point[1..1 + half]),
                    "y": b64(&point[1 + half..]),
                })
            }
            KeyPairKind::Ed25519(pair) => json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64(pair.public_key().as_ref()),
            }),
        }
    }

    /// The public JWK as published at `jwks_path`: with `kid`, `alg` and `use: "sig"`.
    pub(crate) fn published_jwk(&self) -> Value {
        let mut jwk = self.public_jwk();
        if let Value::Object(members) = &mut jwk {
            members.insert("kid".into(), Value::String(self.kid.clone()));
            members.insert("alg".into(), Value::String(self.alg.name().into()));
            members.insert("use".into(), Value::String("sig".into()));
        }
        jwk
    }

    /// RFC 7638 thumbprint (SHA-256, base64url) of the public key.
    pub(crate) fn thumbprint(&self) -> String {
        thumbprint(&self.public_jwk())
    }

    /// A compact JWS of `claims` with `header` members added to `alg` (and `kid` unless the
    /// header carries a `jwk`).
    pub(crate) fn sign(&self, mut header: Map<String, Value>, claims: &Value) -> String {
        header.insert("alg".into(), Value::String(self.alg.name().into()));
        if !header.contains_key("jwk") {
            header.insert("kid".into(), Value::String(self.kid.clone()));
        }
        let input = signing_input(&Value::Object(header), claims);
        let signature = self.sign_bytes(input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }

    /// The raw signature of `message`.
    pub(crate) fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            KeyPairKind::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                let padding = self.alg.rsa().expect("an RSA key has an RSA algorithm");
                pair.sign(padding, &rng, message, &mut signature)
                    .expect("RSA signing cannot fail with a correctly sized buffer");
                signature
            }
            KeyPairKind::P256(pair) | KeyPairKind::P384(pair) => pair
                .sign(&rng, message)
                .expect("ECDSA signing only fails when the system's random generator does")
                .as_ref()
                .to_vec(),
            KeyPairKind::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }
}

const P256_SIGNING: &sig::EcdsaSigningAlgorithm = &sig::ECDSA_P256_SHA256_FIXED_SIGNING;
const P384_SIGNING: &sig::EcdsaSigningAlgorithm = &sig::ECDSA_P384_SHA384_FIXED_SIGNING;

fn ecdsa(
    alg: &'static sig::EcdsaSigningAlgorithm,
    pkcs8: &[u8],
) -> Result<EcdsaKeyPair, ring::error::KeyRejected> {
    EcdsaKeyPair::from_pkcs8(alg, pkcs8, &SystemRandom::new())
}

fn pair_from_pkcs8(pkcs8: &[u8]) -> Result<KeyPairKind, KeyError> {
    if let Ok(pair) = RsaKeyPair::from_pkcs8(pkcs8) {
        return Ok(KeyPairKind::Rsa(pair));
    }
    if let Ok(pair) = ecdsa(P256_SIGNING, pkcs8) {
        return Ok(KeyPairKind::P256(pair));
    }
    if let Ok(pair) = ecdsa(P384_SIGNING, pkcs8) {
        return Ok(KeyPairKind::P384(pair));
    }
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
        .map(KeyPairKind::Ed25519)
        .map_err(|_| KeyError::UnsupportedKeyType)
}

fn key_type_name(pair: &KeyPairKind) -> &'static str {
    match pair {
        KeyPairKind::Rsa(_) => "RSA",
        KeyPairKind::P256(_) => "P-256",
        KeyPairKind::P384(_) => "P-384",
        KeyPairKind::Ed25519(_) => "Ed25519",
    }
}

/// Wraps a SEC1 `ECPrivateKey` in a PKCS#8 `PrivateKeyInfo` for the named curve.
fn sec1_to_pkcs8(sec1: &[u8], curve_oid: &[u8]) -> Vec<u8> {
    let mut algorithm = OID_EC_PUBLIC_KEY.to_vec();
    algorithm.extend_from_slice(curve_oid);
    let mut body = vec![0x02, 0x01, 0x00]; // version 0
    body.extend(der(0x30, &algorithm));
    body.extend(der(0x04, sec1));
    der(0x30, &body)
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A compact JWS keyed by the client secret (`client_secret_jwt`).
pub(crate) fn sign_hmac(secret: &str, alg: SigningAlg, claims: &Value) -> Option<String> {
    let key = ring::hmac::Key::new(alg.hmac()?, secret.as_bytes());
    let input = signing_input(&json!({ "alg": alg.name() }), claims);
    let tag = ring::hmac::sign(&key, input.as_bytes());
    Some(format!("{input}.{}", b64(tag.as_ref())))
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, base64url.
pub(crate) fn thumbprint(jwk: &Value) -> String {
    let members: &[&str] = match jwk["kty"].as_str() {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => &["kty"],
    };
    let required: Map<String, Value> = members
        .iter()
        .map(|m| ((*m).to_string(), jwk[*m].clone()))
        .collect();
    // serde_json's Map is ordered by key, and `to_string` adds no whitespace.
    let canonical = Value::Object(required).to_string();
    b64(&Sha256::digest(canonical.as_bytes()))
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks a compact JWS made here against `ring`'s verifier for `jwk`.
    fn verifies(jws: &str, key: &SigningKey) -> bool {
        let (input, signature) = jws.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let jwk = key.public_jwk();
        let decode = |m: &str| URL_SAFE_NO_PAD.decode(jwk[m].as_str().unwrap()).unwrap();
        let result = match key.alg() {
            SigningAlg::Rs256 | SigningAlg::Ps256 => {
                let alg: &sig::RsaParameters = if key.alg() == SigningAlg::Rs256 {
                    &sig::RSA_PKCS1_2048_8192_SHA256
                } else {
                    &sig::RSA_PSS_2048_8192_SHA256
                };
                sig::RsaPublicKeyComponents {
                    n: decode("n"),
                    e: decode("e"),
                }
                .verify(alg, input.as_bytes(), &signature)
            }
            SigningAlg::Es256 | SigningAlg::Es384 => {
                let mut point = vec![4];
                point.extend(decode("x"));
                point.extend(decode("y"));
                let alg = if key.alg() == SigningAlg::Es256 {
                    &sig::ECDSA_P256_SHA256_FIXED
                } else {
                    &sig::ECDSA_P384_SHA384_FIXED
                };
                sig::UnparsedPublicKey::new(alg, point).verify(input.as_bytes(), &signature)
            }
            SigningAlg::EdDsa => sig::UnparsedPublicKey::new(&sig::ED25519, decode("x"))
                .verify(input.as_bytes(), &signature),
            other => panic!("not covered: {other}"),
        };
        result.is_ok()
    }

    fn pem(label: &str, der: &[u8]) -> String {
        use base64::engine::general_purpose::STANDARD;
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            STANDARD.encode(der)
        )
    }

    #[test]
    fn generated_keys_sign_verifiably_and_round_trip_through_pkcs8() {
        for alg in [SigningAlg::Es256, SigningAlg::EdDsa] {
            let key = SigningKey::generate(alg).unwrap();
            let jws = key.sign(Map::new(), &json!({"a": 1}));
            assert!(verifies(&jws, &key), "{alg}");
            let again = SigningKey::from_pkcs8(key.pkcs8().unwrap()).unwrap();
            assert_eq!(again.alg(), alg);
            assert_eq!(again.thumbprint(), key.thumbprint());
            assert_eq!(key.kid(), key.thumbprint());
        }
    }

    #[test]
    fn generated_pkcs8_pem_keys_are_read() {
        let rng = SystemRandom::new();
        let p256 = EcdsaKeyPair::generate_pkcs8(P256_SIGNING, &rng).unwrap();
        let key = SigningKey::from_pem(&pem("PRIVATE KEY", p256.as_ref()), None, None).unwrap();
        assert_eq!(key.alg(), SigningAlg::Es256);
        assert!(verifies(&key.sign(Map::new(), &json!({})), &key));
        let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let key = SigningKey::from_pem(&pem("PRIVATE KEY", ed.as_ref()), None, None).unwrap();
        assert_eq!(key.alg(), SigningAlg::EdDsa);
        assert!(verifies(&key.sign(Map::new(), &json!({})), &key));

        let err = SigningKey::from_pem(
            &pem("PRIVATE KEY", ed.as_ref()),
            Some(SigningAlg::Rs256),
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("cannot sign RS256"), "{err}");
        let err = SigningKey::from_pem("not a key", None, None).unwrap_err();
        assert!(err.to_string().contains("PEM"), "{err}");
    }

    #[test]
    fn fixture_keys_in_every_pem_format_sign_verifiably() {
        let fixture = |name: &str| {
            std::fs::read_to_string(format!(
                "{}/tests/fixtures/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        let pkcs1 = fixture("client_rsa_pkcs1.pem");
        for alg in [SigningAlg::Rs256, SigningAlg::Ps256] {
            let key = SigningKey::from_pem(&pkcs1, Some(alg), None).unwrap();
            assert!(
                verifies(&key.sign(Map::new(), &json!({"x": "y"})), &key),
                "{alg}"
            );
            assert!(!key.public_jwk()["n"].as_str().unwrap().starts_with("AA"));
            assert_eq!(key.public_jwk()["e"], "AQAB");
        }
        let pkcs8 = SigningKey::from_pem(&fixture("client_rsa_pkcs8.pem"), None, None).unwrap();
        let pkcs1 = SigningKey::from_pem(&pkcs1, None, None).unwrap();
        assert_eq!(
            pkcs8.kid(),
            pkcs1.kid(),
            "one key, two formats, one thumbprint"
        );
        let p256 = SigningKey::from_pem(&fixture("client_p256_sec1.pem"), None, None).unwrap();
        assert_eq!(p256.alg(), SigningAlg::Es256);
        assert!(verifies(&p256.sign(Map::new(), &json!({})), &p256));
        let p384 = SigningKey::from_pem(&fixture("client_p384_sec1.pem"), None, None).unwrap();
        assert_eq!(p384.alg(), SigningAlg::Es384);
        assert!(verifies(&p384.sign(Map::new(), &json!({})), &p384));
        let ed = SigningKey::from_pem(&fixture("client_ed25519.pem"), None, None).unwrap();
        assert_eq!(ed.alg(), SigningAlg::EdDsa);
        assert_eq!(ed.published_jwk()["use"], "sig");
        assert_eq!(ed.published_jwk()["alg"], "EdDSA");
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn hmac_jws_matches_an_independent_computation() {
        let claims = json!({"iss": "app"});
        let jws = sign_hmac("secret", SigningAlg::Hs256, &claims).unwrap();
        let (input, tag) = jws.rsplit_once('.').unwrap();
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"secret");
        assert!(ring::hmac::verify(
            &key,
            input.as_bytes(),
            &URL_SAFE_NO_PAD.decode(tag).unwrap()
        )
        .is_ok());
        assert!(sign_hmac("secret", SigningAlg::Rs256, &claims).is_none());
    }
}
