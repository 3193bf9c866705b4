//! A prototype of issue 21's ring-backed key type, RSA only: enough to measure an ID token
//! checked by openidconnect's `IdTokenVerifier` with `ring` doing the signature, against the
//! crate's own validation, before the library is rewired. Not the library's code.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKeyType, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyId, SignatureVerificationError};
use ring::signature::{self, RsaPublicKeyComponents};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// An RSA public key from a JWK Set, its modulus and exponent decoded once.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "RawJwk", into = "RawJwk")]
pub struct RingJwk {
    kty: CoreJsonWebKeyType,
    key_use: Option<CoreJsonWebKeyUse>,
    kid: Option<JsonWebKeyId>,
    rsa: Arc<(Vec<u8>, Vec<u8>)>,
}

#[derive(Clone, Serialize, Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    key_use: Option<CoreJsonWebKeyUse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<JsonWebKeyId>,
    #[serde(default)]
    n: String,
    #[serde(default)]
    e: String,
}

impl TryFrom<RawJwk> for RingJwk {
    type Error = String;

    fn try_from(raw: RawJwk) -> Result<Self, String> {
        if raw.kty != "RSA" {
            return Err(format!("kty {} is not in this prototype", raw.kty));
        }
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|e| e.to_string());
        Ok(RingJwk {
            kty: CoreJsonWebKeyType::RSA,
            key_use: raw.key_use,
            kid: raw.kid,
            rsa: Arc::new((decode(&raw.n)?, decode(&raw.e)?)),
        })
    }
}

impl From<RingJwk> for RawJwk {
    fn from(key: RingJwk) -> RawJwk {
        RawJwk {
            kty: "RSA".into(),
            key_use: key.key_use,
            kid: key.kid,
            n: URL_SAFE_NO_PAD.encode(&key.rsa.0),
            e: URL_SAFE_NO_PAD.encode(&key.rsa.1),
        }
    }
}

impl JsonWebKey for RingJwk {
    type KeyUse = CoreJsonWebKeyUse;
    type SigningAlgorithm = CoreJwsSigningAlgorithm;

    fn key_id(&self) -> Option<&JsonWebKeyId> {
        self.kid.as_ref()
    }

    fn key_type(&self) -> &CoreJsonWebKeyType {
        &self.kty
    }

    fn key_use(&self) -> Option<&CoreJsonWebKeyUse> {
        self.key_use.as_ref()
    }

    fn signing_alg(&self) -> JsonWebKeyAlgorithm<&CoreJwsSigningAlgorithm> {
        JsonWebKeyAlgorithm::Unspecified
    }

    fn new_symmetric(_key: Vec<u8>) -> Self {
        // HS* is outside the prototype: a key that verifies nothing.
        RingJwk {
            kty: CoreJsonWebKeyType::Symmetric,
            key_use: None,
            kid: None,
            rsa: Arc::new((Vec::new(), Vec::new())),
        }
    }

    fn verify_signature(
        &self,
        alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureVerificationError> {
        let params = match alg {
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            CoreJwsSigningAlgorithm::RsaSsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
            CoreJwsSigningAlgorithm::RsaSsaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
            CoreJwsSigningAlgorithm::RsaSsaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => {
                return Err(SignatureVerificationError::UnsupportedAlg(format!(
                    "{alg:?}"
                )))
            }
        };
        let (n, e) = &*self.rsa;
        RsaPublicKeyComponents { n, e }
            .verify(params, message, signature)
            .map_err(|_| SignatureVerificationError::CryptoError("bad signature".into()))
    }

    fn hash_bytes(&self, bytes: &[u8], alg: &CoreJwsSigningAlgorithm) -> Result<Vec<u8>, String> {
        Ok(match alg {
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
            | CoreJwsSigningAlgorithm::RsaSsaPssSha256 => Sha256::digest(bytes).to_vec(),
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384
            | CoreJwsSigningAlgorithm::RsaSsaPssSha384 => Sha384::digest(bytes).to_vec(),
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512
            | CoreJwsSigningAlgorithm::RsaSsaPssSha512 => Sha512::digest(bytes).to_vec(),
            other => return Err(format!("{other:?} is not in this prototype")),
        })
    }
}
