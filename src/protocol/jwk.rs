//! A provider's JSON Web Key Set (RFC 7517, 7518, 8037) and signature checks with its keys,
//! done by `ring` (RSA verification there is several times cheaper than a pure-Rust one,
//! and it is linked for TLS already).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature as sig;
use serde::Deserialize;

use crate::signing::SigningAlg;

/// The keys of a provider that this client can use: RSA, EC P-256 and P-384, Ed25519.
/// Keys of other types, or malformed ones, are left out (RFC 7517 5: a set member that is
/// not understood is ignored).
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<Jwk>,
    /// How many members were left out, for the log.
    skipped: usize,
}

/// One public key.
#[derive(Debug)]
pub(crate) struct Jwk {
    pub(crate) kid: Option<String>,
    /// `use`: a key for encryption (`enc`) never checks a signature.
    key_use: Option<String>,
    /// `alg`: when present, the only algorithm the key serves.
    alg: Option<String>,
    material: Material,
}

#[derive(Debug)]
enum Material {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256(Vec<u8>),
    P384(Vec<u8>),
    Ed25519(Vec<u8>),
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawKey {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    key_use: Option<String>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

impl KeySet {
    /// Reads a JWK Set document; an error only when it is not `{"keys": [...]}`.
    pub(crate) fn from_json(bytes: &[u8]) -> Result<KeySet, JwksError> {
        let raw: RawSet = serde_json::from_slice(bytes).map_err(JwksError::NotASet)?;
        let mut set = KeySet::default();
        for member in raw.keys {
            match serde_json::from_value::<RawKey>(member)
                .ok()
                .and_then(Jwk::from_raw)
            {
                Some(key) => set.keys.push(key),
                None => set.skipped += 1,
            }
        }
        Ok(set)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn skipped(&self) -> usize {
        self.skipped
    }

    /// The keys that may check an `alg` signature with `kid` (any key of the right type
    /// when the token names none).
    pub(crate) fn candidates<'a>(
        &'a self,
        alg: SigningAlg,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Jwk> {
        self.keys.iter().filter(move |key| {
            (kid.is_none() || key.kid.as_deref() == kid)
                && key.key_use.as_deref().is_none_or(|u| u == "sig")
                && key.alg.as_deref().is_none_or(|a| a == alg.name())
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
        let material = match (raw.kty.as_str(), raw.crv.as_deref()) {
            ("RSA", _) => Material::Rsa {
                n: strip_zeros(bytes(&raw.n)?),
                e: strip_zeros(bytes(&raw.e)?),
            },
            ("EC", Some("P-256")) => Material::P256(point(bytes(&raw.x)?, bytes(&raw.y)?, 32)?),
            ("EC", Some("P-384")) => Material::P384(point(bytes(&raw.x)?, bytes(&raw.y)?, 48)?),
            ("OKP", Some("Ed25519")) => {
                let x = bytes(&raw.x)?;
                (x.len() == 32).then_some(Material::Ed25519(x))?
            }
            _ => return None,
        };
        Some(Jwk {
            kid: raw.kid,
            key_use: raw.key_use,
            alg: raw.alg,
            material,
        })
    }

    fn fits(&self, alg: SigningAlg) -> bool {
        use SigningAlg as A;
        matches!(
            (&self.material, alg),
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
        match &self.material {
            Material::Rsa { n, e } => {
                let params: &sig::RsaParameters = match alg {
                    A::Rs256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                    A::Rs384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                    A::Rs512 => &sig::RSA_PKCS1_2048_8192_SHA512,
                    A::Ps256 => &sig::RSA_PSS_2048_8192_SHA256,
                    A::Ps384 => &sig::RSA_PSS_2048_8192_SHA384,
                    A::Ps512 => &sig::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                sig::RsaPublicKeyComponents { n, e }
                    .verify(params, message, signature)
                    .is_ok()
            }
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
    let algorithm = match alg {
        SigningAlg::Hs256 => ring::hmac::HMAC_SHA256,
        SigningAlg::Hs384 => ring::hmac::HMAC_SHA384,
        SigningAlg::Hs512 => ring::hmac::HMAC_SHA512,
        _ => return false,
    };
    let key = ring::hmac::Key::new(algorithm, secret.as_bytes());
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
