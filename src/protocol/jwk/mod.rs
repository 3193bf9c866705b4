//! A provider's JSON Web Key Set (RFC 7517, 7518, 8037) as openidconnect's
//! `JsonWebKeySet`, with a key type of the crate's own: openidconnect's keys verify RSA
//! through the `rsa` crate, several times slower, so [`Jwk`] implements its `JsonWebKey`
//! with `ring` (EC, Ed25519, HMAC) and, for RSA, with aws-lc-rs (already linked for JWE):
//! its key parsed once per key and algorithm verifies RS256 in about 13 µs here, where
//! `ring`, which parses the key on every check, takes about 18 µs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKeyType, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKeyId, JsonWebKeySet};
use ring::signature as sig;
use serde::{Deserialize, Serialize};

use crate::signing::SigningAlg;

mod oidc_key;

/// The keys of a provider that this client can use: RSA, EC P-256 and P-384, Ed25519.
/// Keys of other types, or malformed ones, are left out (RFC 7517 5: a set member that is
/// not understood is ignored).
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: JsonWebKeySet<Jwk>,
    /// How many members were left out, for the log.
    skipped: usize,
}

/// One public key (or, made by openidconnect's verifier for `HS*`, the client secret).
#[derive(Debug, Clone)]
pub(crate) struct Jwk {
    kty: CoreJsonWebKeyType,
    kid: Option<JsonWebKeyId>,
    /// `use`: a key for encryption (`enc`) never checks a signature.
    key_use: Option<CoreJsonWebKeyUse>,
    /// `alg`: when present, the only algorithm the key serves.
    alg: KeyAlg,
    /// Shared: openidconnect's verifier takes its key set by value.
    material: std::sync::Arc<Material>,
}

/// A key's `alg` member.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyAlg {
    /// None: the key serves what its type allows (for an EC or OKP key, the one algorithm
    /// its curve implies, kept here so openidconnect tells P-256 from P-384 keys).
    Unspecified(Option<CoreJwsSigningAlgorithm>),
    /// Only this algorithm.
    Only(SigningAlg, CoreJwsSigningAlgorithm),
    /// One this crate does not know: the key serves nothing.
    Unsupported,
}

#[derive(Clone)]
enum Material {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        /// The key parsed for each RSA algorithm it has checked (RS256, RS384, RS512,
        /// PS256, PS384, PS512, in that order); `None` inside: the key was refused.
        parsed: Box<RsaParsed>,
    },
    P256(Vec<u8>),
    P384(Vec<u8>),
    Ed25519(Vec<u8>),
    /// A shared secret (`HS*`), never from a JWK Set.
    Hmac(Vec<u8>),
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Material::Rsa { .. } => "Rsa",
            Material::P256(_) => "P256",
            Material::P384(_) => "P384",
            Material::Ed25519(_) => "Ed25519",
            Material::Hmac(_) => "Hmac(REDACTED)",
        })
    }
}

/// An RSA key parsed by aws-lc-rs, per algorithm, on first use.
#[derive(Clone, Default)]
struct RsaParsed([std::sync::OnceLock<Option<aws_lc_rs::signature::ParsedPublicKey>>; 6]);

impl RsaParsed {
    /// Whether `signature` over `message` verifies with the key `n`, `e` under `alg`.
    fn verifies(
        &self,
        n: &[u8],
        e: &[u8],
        alg: SigningAlg,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        use aws_lc_rs::signature as lc;
        use SigningAlg as A;
        let (slot, params): (usize, &'static lc::RsaParameters) = match alg {
            A::Rs256 => (0, &lc::RSA_PKCS1_2048_8192_SHA256),
            A::Rs384 => (1, &lc::RSA_PKCS1_2048_8192_SHA384),
            A::Rs512 => (2, &lc::RSA_PKCS1_2048_8192_SHA512),
            A::Ps256 => (3, &lc::RSA_PSS_2048_8192_SHA256),
            A::Ps384 => (4, &lc::RSA_PSS_2048_8192_SHA384),
            A::Ps512 => (5, &lc::RSA_PSS_2048_8192_SHA512),
            _ => return false,
        };
        self.0[slot]
            .get_or_init(|| {
                lc::UnparsedPublicKey::new(params, rsa_public_key_der(n, e))
                    .parse()
                    .ok()
            })
            .as_ref()
            .is_some_and(|key| key.verify_sig(message, signature).is_ok())
    }
}

/// The DER of an RSAPublicKey (RFC 8017 A.1.1) of the unsigned big-endian `n` and `e`.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn length(len: usize, out: &mut Vec<u8>) {
        match len {
            0..=0x7f => out.push(len as u8),
            0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
            _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        }
    }
    fn integer(value: &[u8], out: &mut Vec<u8>) {
        let value = match value.iter().position(|b| *b != 0) {
            Some(first) => &value[first..],
            None => &[0][..],
        };
        let pad = value[0] & 0x80 != 0;
        out.push(0x02);
        length(value.len() + usize::from(pad), out);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(value);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 12);
    integer(n, &mut body);
    integer(e, &mut body);
    let mut der = vec![0x30];
    length(body.len(), &mut der);
    der.extend_from_slice(&body);
    der
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize, Serialize, Default)]
struct RawKey {
    kty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    key_use: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    y: Option<String>,
}

impl KeySet {
    /// Reads a JWK Set document; an error only when it is not `{"keys": [...]}`.
    pub(crate) fn from_json(bytes: &[u8]) -> Result<KeySet, JwksError> {
        let raw: RawSet = serde_json::from_slice(bytes).map_err(JwksError::NotASet)?;
        let members = raw.keys.len();
        let keys: Vec<Jwk> = raw
            .keys
            .into_iter()
            .filter_map(|member| serde_json::from_value::<RawKey>(member).ok())
            .filter_map(Jwk::from_raw)
            .collect();
        Ok(KeySet {
            skipped: members - keys.len(),
            keys: JsonWebKeySet::new(keys),
        })
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.keys().len()
    }

    pub(crate) fn skipped(&self) -> usize {
        self.skipped
    }

    /// The keys as openidconnect's set (for its `IdTokenVerifier`).
    pub(crate) fn as_openidconnect_set(&self) -> &JsonWebKeySet<Jwk> {
        &self.keys
    }

    /// The keys that may check an `alg` signature with `kid` (any key of the right type
    /// when the token names none).
    pub(crate) fn candidates<'a>(
        &'a self,
        alg: SigningAlg,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Jwk> {
        self.keys.keys().iter().filter(move |key| {
            (kid.is_none() || key.kid.as_ref().map(|k| k.as_str()) == kid)
                && key
                    .key_use
                    .as_ref()
                    .is_none_or(|u| *u == CoreJsonWebKeyUse::Signature)
                && match key.alg {
                    KeyAlg::Unspecified(_) => true,
                    KeyAlg::Only(only, _) => only == alg,
                    KeyAlg::Unsupported => false,
                }
                && key.fits(alg)
        })
    }
}

/// Why [`KeySet::from_json`] failed.
#[derive(Debug)]
pub(crate) enum JwksError {
    /// Not JSON, or not `{"keys": [...]}`; shows `serde_json`'s text.
    NotASet(serde_json::Error),
}

impl std::fmt::Display for JwksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwksError::NotASet(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for JwksError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JwksError::NotASet(e) => Some(e),
        }
    }
}

impl Jwk {
    /// One public key from its JSON (a DPoP proof's `jwk` header), if usable.
    pub(crate) fn from_value(value: serde_json::Value) -> Option<Jwk> {
        serde_json::from_value::<RawKey>(value)
            .ok()
            .and_then(Jwk::from_raw)
    }

    /// Whether the key may sign with `alg`.
    pub(crate) fn fits_alg(&self, alg: SigningAlg) -> bool {
        self.fits(alg)
    }

    fn from_raw(raw: RawKey) -> Option<Jwk> {
        let bytes = |value: &Option<String>| -> Option<Vec<u8>> {
            URL_SAFE_NO_PAD
                .decode(value.as_deref()?.trim_end_matches('='))
                .ok()
        };
        use CoreJsonWebKeyType as T;
        use CoreJwsSigningAlgorithm as C;
        let (kty, material, implied) = match (raw.kty.as_str(), raw.crv.as_deref()) {
            ("RSA", _) => (
                T::RSA,
                Material::Rsa {
                    n: strip_zeros(bytes(&raw.n)?),
                    e: strip_zeros(bytes(&raw.e)?),
                    parsed: Box::default(),
                },
                None,
            ),
            ("EC", Some("P-256")) => (
                T::EllipticCurve,
                Material::P256(point(bytes(&raw.x)?, bytes(&raw.y)?, 32)?),
                Some(C::EcdsaP256Sha256),
            ),
            ("EC", Some("P-384")) => (
                T::EllipticCurve,
                Material::P384(point(bytes(&raw.x)?, bytes(&raw.y)?, 48)?),
                Some(C::EcdsaP384Sha384),
            ),
            ("OKP", Some("Ed25519")) => {
                let x = bytes(&raw.x)?;
                (
                    T::OctetKeyPair,
                    (x.len() == 32).then_some(Material::Ed25519(x))?,
                    Some(C::EdDsa),
                )
            }
            _ => return None,
        };
        let alg = match raw.alg.as_deref() {
            None => KeyAlg::Unspecified(implied),
            Some(name) => match SigningAlg::from_name(name) {
                Some(alg) => KeyAlg::Only(alg, alg.to_core()),
                None => KeyAlg::Unsupported,
            },
        };
        let key_use = raw.key_use.map(|u| match u.as_str() {
            "sig" => CoreJsonWebKeyUse::Signature,
            "enc" => CoreJsonWebKeyUse::Encryption,
            _ => CoreJsonWebKeyUse::Other(u),
        });
        Some(Jwk {
            kty,
            kid: raw.kid.map(JsonWebKeyId::new),
            key_use,
            alg,
            material: std::sync::Arc::new(material),
        })
    }

    /// The JWK members again (public keys only; a shared secret is never written).
    fn to_raw(&self) -> RawKey {
        let b64 = |bytes: &[u8]| Some(URL_SAFE_NO_PAD.encode(bytes));
        let mut raw = RawKey {
            kid: self.kid.as_ref().map(|kid| kid.to_string()),
            key_use: self
                .key_use
                .as_ref()
                .and_then(|u| serde_json::to_value(u).ok())
                .and_then(|u| u.as_str().map(str::to_string)),
            alg: match self.alg {
                KeyAlg::Only(alg, _) => Some(alg.name().to_string()),
                _ => None,
            },
            ..RawKey::default()
        };
        let coordinates = |point: &[u8]| {
            let half = (point.len() - 1) / 2;
            (b64(&point[1..1 + half]), b64(&point[1 + half..]))
        };
        match &*self.material {
            Material::Rsa { n, e, .. } => {
                raw.kty = "RSA".into();
                (raw.n, raw.e) = (b64(n), b64(e));
            }
            Material::P256(point) | Material::P384(point) => {
                raw.kty = "EC".into();
                raw.crv = Some(if point.len() == 65 { "P-256" } else { "P-384" }.into());
                (raw.x, raw.y) = coordinates(point);
            }
            Material::Ed25519(x) => {
                raw.kty = "OKP".into();
                raw.crv = Some("Ed25519".into());
                raw.x = b64(x);
            }
            Material::Hmac(_) => raw.kty = "oct".into(),
        }
        raw
    }

    fn fits(&self, alg: SigningAlg) -> bool {
        use SigningAlg as A;
        matches!(
            (&*self.material, alg),
            (
                Material::Rsa { .. },
                A::Rs256 | A::Rs384 | A::Rs512 | A::Ps256 | A::Ps384 | A::Ps512
            ) | (Material::P256(_), A::Es256)
                | (Material::P384(_), A::Es384)
                | (Material::Ed25519(_), A::EdDsa)
        )
    }

    /// Whether `signature` over `message` verifies with this key under `alg`.
    pub(crate) fn verifies(&self, alg: SigningAlg, message: &[u8], signature: &[u8]) -> bool {
        use SigningAlg as A;
        match &*self.material {
            Material::Rsa { n, e, parsed } => parsed.verifies(n, e, alg, message, signature),
            Material::P256(point) if alg == A::Es256 => {
                sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, signature)
                    .is_ok()
            }
            Material::P384(point) if alg == A::Es384 => {
                sig::UnparsedPublicKey::new(&sig::ECDSA_P384_SHA384_FIXED, point)
                    .verify(message, signature)
                    .is_ok()
            }
            Material::Ed25519(x) if alg == A::EdDsa => {
                sig::UnparsedPublicKey::new(&sig::ED25519, x)
                    .verify(message, signature)
                    .is_ok()
            }
            Material::Hmac(secret) => hmac_verifies_bytes(alg, secret, message, signature),
            _ => false,
        }
    }
}

/// Whether an HMAC `signature` (`HS256`, ...) over `message` is right for `secret`, compared
/// in constant time.
pub(crate) fn hmac_verifies(
    alg: SigningAlg,
    secret: &str,
    message: &[u8],
    signature: &[u8],
) -> bool {
    hmac_verifies_bytes(alg, secret.as_bytes(), message, signature)
}

fn hmac_verifies_bytes(alg: SigningAlg, secret: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let algorithm = match alg {
        SigningAlg::Hs256 => ring::hmac::HMAC_SHA256,
        SigningAlg::Hs384 => ring::hmac::HMAC_SHA384,
        SigningAlg::Hs512 => ring::hmac::HMAC_SHA512,
        _ => return false,
    };
    let key = ring::hmac::Key::new(algorithm, secret);
    ring::hmac::verify(&key, message, signature).is_ok()
}

/// An uncompressed EC point from its coordinates, each `size` bytes.
fn point(x: Vec<u8>, y: Vec<u8>, size: usize) -> Option<Vec<u8>> {
    if x.len() != size || y.len() != size {
        return None;
    }
    let mut point = Vec::with_capacity(1 + 2 * size);
    point.push(4);
    point.extend(x);
    point.extend(y);
    Some(point)
}

fn strip_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros.min(bytes.len().saturating_sub(1)));
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::SigningKey;
    use serde_json::{json, Map};

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn set_of(jwks: serde_json::Value) -> KeySet {
        KeySet::from_json(jwks.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn rsa_public_keys_are_encoded_as_der_integers() {
        // A high bit gets a zero byte in front; leading zeros go.
        assert_eq!(
            rsa_public_key_der(&[0, 0x80, 0x01], &[1, 0, 1]),
            [0x30, 0x0a, 0x02, 0x03, 0x00, 0x80, 0x01, 0x02, 0x03, 0x01, 0x00, 0x01]
        );
        // A 2048-bit modulus needs a two-byte length.
        let der = rsa_public_key_der(&[0xc0; 256], &[3]);
        assert_eq!(&der[..4], [0x30, 0x82, 0x01, 0x08]);
        assert_eq!(&der[4..8], [0x02, 0x82, 0x01, 0x01]);
    }

    #[test]
    fn every_key_type_checks_its_signatures_and_only_its_own() {
        for (file, alg) in [
            ("client_rsa_pkcs1.pem", SigningAlg::Rs256),
            ("client_rsa_pkcs1.pem", SigningAlg::Ps512),
            ("client_p256_sec1.pem", SigningAlg::Es256),
            ("client_p384_sec1.pem", SigningAlg::Es384),
            ("client_ed25519.pem", SigningAlg::EdDsa),
        ] {
            let key = SigningKey::from_pem(&fixture(file), Some(alg), Some("k".into())).unwrap();
            let jws = key.sign(Map::new(), &json!({"sub": "x"}));
            let (input, signature) = jws.rsplit_once('.').unwrap();
            let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
            let set = set_of(json!({ "keys": [key.published_jwk()] }));
            let jwk = set.candidates(alg, Some("k")).next().expect("a candidate");
            assert!(
                jwk.verifies(alg, input.as_bytes(), &signature),
                "{file} {alg}"
            );
            assert!(
                !jwk.verifies(alg, b"other message", &signature),
                "{file} {alg}"
            );
            assert_eq!(set.candidates(alg, Some("other")).count(), 0);
        }
    }

    #[test]
    fn members_it_cannot_use_are_left_out() {
        let set = set_of(json!({ "keys": [
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
            {"kty": "RSA", "n": "not base64!"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "rs", "alg": "RS256", "n": "AQAB", "e": "AQAB"},
        ]}));
        assert_eq!((set.len(), set.skipped()), (2, 3));
        assert_eq!(
            set.candidates(SigningAlg::Rs256, Some("enc")).count(),
            0,
            "enc keys"
        );
        assert_eq!(
            set.candidates(SigningAlg::Ps256, Some("rs")).count(),
            0,
            "alg pins"
        );
        assert_eq!(set.candidates(SigningAlg::Rs256, None).count(), 1);
        assert!(KeySet::from_json(b"{\"nokeys\": 1}").is_err());
    }

    #[test]
    fn hmac_is_keyed_by_the_secret() {
        let jws = crate::signing::sign_hmac("s3cret", SigningAlg::Hs384, &json!({})).unwrap();
        let (input, signature) = jws.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert!(hmac_verifies(
            SigningAlg::Hs384,
            "s3cret",
            input.as_bytes(),
            &signature
        ));
        assert!(!hmac_verifies(
            SigningAlg::Hs384,
            "other",
            input.as_bytes(),
            &signature
        ));
        assert!(!hmac_verifies(
            SigningAlg::Hs256,
            "s3cret",
            input.as_bytes(),
            &signature
        ));
    }
}
