//! The JWE algorithms this client decrypts, with their JOSE names (RFC 7518 §4 and §5):
//! `alg` (how the content encryption key reaches us) and `enc` (how the content is
//! encrypted).

use std::fmt;
use std::str::FromStr;

use super::JweError;

/// A JWE key management algorithm (`alg`) this client decrypts with its private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KeyManagementAlg {
    /// `RSA-OAEP`: RSAES OAEP with SHA-1 and MGF1-SHA-1.
    RsaOaep,
    /// `RSA-OAEP-256`: RSAES OAEP with SHA-256 and MGF1-SHA-256.
    RsaOaep256,
    /// `ECDH-ES`: the agreed key is the content encryption key.
    EcdhEs,
    /// `ECDH-ES+A128KW`: the agreed key unwraps the content encryption key (AES-128 KW).
    EcdhEsA128Kw,
    /// `ECDH-ES+A192KW`: the same with AES-192 key wrap.
    EcdhEsA192Kw,
    /// `ECDH-ES+A256KW`: the same with AES-256 key wrap.
    EcdhEsA256Kw,
}

impl KeyManagementAlg {
    pub(crate) const ALL: [KeyManagementAlg; 6] = [
        KeyManagementAlg::RsaOaep,
        KeyManagementAlg::RsaOaep256,
        KeyManagementAlg::EcdhEs,
        KeyManagementAlg::EcdhEsA128Kw,
        KeyManagementAlg::EcdhEsA192Kw,
        KeyManagementAlg::EcdhEsA256Kw,
    ];

    /// The JOSE name (`RSA-OAEP-256`, `ECDH-ES+A128KW`, ...).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeyManagementAlg::RsaOaep => "RSA-OAEP",
            KeyManagementAlg::RsaOaep256 => "RSA-OAEP-256",
            KeyManagementAlg::EcdhEs => "ECDH-ES",
            KeyManagementAlg::EcdhEsA128Kw => "ECDH-ES+A128KW",
            KeyManagementAlg::EcdhEsA192Kw => "ECDH-ES+A192KW",
            KeyManagementAlg::EcdhEsA256Kw => "ECDH-ES+A256KW",
        }
    }

    /// RSA-OAEP and RSA-OAEP-256: an RSA key decrypts them.
    pub(crate) fn is_rsa(self) -> bool {
        matches!(
            self,
            KeyManagementAlg::RsaOaep | KeyManagementAlg::RsaOaep256
        )
    }

    /// The length of the AES key-wrapping key of an `ECDH-ES+A*KW`; `None` for direct
    /// `ECDH-ES` and for RSA.
    pub(crate) fn key_wrap_len(self) -> Option<usize> {
        match self {
            KeyManagementAlg::EcdhEsA128Kw => Some(16),
            KeyManagementAlg::EcdhEsA192Kw => Some(24),
            KeyManagementAlg::EcdhEsA256Kw => Some(32),
            KeyManagementAlg::RsaOaep | KeyManagementAlg::RsaOaep256 | KeyManagementAlg::EcdhEs => {
                None
            }
        }
    }
}

impl fmt::Display for KeyManagementAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Symmetric key management: the key would be the client secret (OpenID Connect Core
/// 10.2) or a password, not this client's private key.
const SYMMETRIC: [&str; 10] = [
    "dir",
    "A128KW",
    "A192KW",
    "A256KW",
    "A128GCMKW",
    "A192GCMKW",
    "A256GCMKW",
    "PBES2-HS256+A128KW",
    "PBES2-HS384+A192KW",
    "PBES2-HS512+A256KW",
];

impl FromStr for KeyManagementAlg {
    type Err = JweError;

    fn from_str(name: &str) -> Result<Self, JweError> {
        if let Some(alg) = KeyManagementAlg::ALL
            .into_iter()
            .find(|a| a.as_str() == name)
        {
            return Ok(alg);
        }
        Err(match name {
            "RSA1_5" => JweError::Rsa1_5Refused,
            _ if SYMMETRIC.contains(&name) => JweError::SymmetricAlg(name.to_owned()),
            _ => JweError::UnsupportedAlg(name.to_owned()),
        })
    }
}

/// A JWE content encryption algorithm (`enc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ContentEncryption {
    /// `A128CBC-HS256`: AES-128-CBC with HMAC-SHA-256 (RFC 7518 §5.2.3).
    A128CbcHs256,
    /// `A192CBC-HS384`: AES-192-CBC with HMAC-SHA-384.
    A192CbcHs384,
    /// `A256CBC-HS512`: AES-256-CBC with HMAC-SHA-512.
    A256CbcHs512,
    /// `A128GCM`: AES-128-GCM.
    A128Gcm,
    /// `A192GCM`: AES-192-GCM.
    A192Gcm,
    /// `A256GCM`: AES-256-GCM.
    A256Gcm,
}

impl ContentEncryption {
    pub(crate) const ALL: [ContentEncryption; 6] = [
        ContentEncryption::A128CbcHs256,
        ContentEncryption::A192CbcHs384,
        ContentEncryption::A256CbcHs512,
        ContentEncryption::A128Gcm,
        ContentEncryption::A192Gcm,
        ContentEncryption::A256Gcm,
    ];

    /// The JOSE name (`A128CBC-HS256`, `A256GCM`, ...).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ContentEncryption::A128CbcHs256 => "A128CBC-HS256",
            ContentEncryption::A192CbcHs384 => "A192CBC-HS384",
            ContentEncryption::A256CbcHs512 => "A256CBC-HS512",
            ContentEncryption::A128Gcm => "A128GCM",
            ContentEncryption::A192Gcm => "A192GCM",
            ContentEncryption::A256Gcm => "A256GCM",
        }
    }

    /// The length of the content encryption key: for CBC-HS, MAC key and AES key together.
    pub(crate) fn key_len(self) -> usize {
        match self {
            ContentEncryption::A128CbcHs256 => 32,
            ContentEncryption::A192CbcHs384 => 48,
            ContentEncryption::A256CbcHs512 => 64,
            ContentEncryption::A128Gcm => 16,
            ContentEncryption::A192Gcm => 24,
            ContentEncryption::A256Gcm => 32,
        }
    }

    /// The length of the initialization vector.
    pub(crate) fn iv_len(self) -> usize {
        if self.is_gcm() {
            12
        } else {
            16
        }
    }

    pub(crate) fn is_gcm(self) -> bool {
        matches!(
            self,
            ContentEncryption::A128Gcm | ContentEncryption::A192Gcm | ContentEncryption::A256Gcm
        )
    }
}

impl fmt::Display for ContentEncryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContentEncryption {
    type Err = JweError;

    fn from_str(name: &str) -> Result<Self, JweError> {
        ContentEncryption::ALL
            .into_iter()
            .find(|e| e.as_str() == name)
            .ok_or_else(|| JweError::UnsupportedEnc(name.to_owned()))
    }
}
