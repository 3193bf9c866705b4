//! The client's decryption key and compact JWE decryption (RFC 7516, algorithms of RFC
//! 7518 and RFC 8037), for encrypted ID tokens and UserInfo responses.
//!
//! The cryptography is aws-lc-rs's: `ring` (used for signing) has no RSA-OAEP and no ECDH
//! with a static private key, and RustCrypto's `rsa` has the unfixed Marvin timing attack
//! (RUSTSEC-2023-0071) on private-key operations, which decryption is. aws-lc-rs is AWS's
//! (rustls's default provider), constant-time, and has RSA-OAEP, static-key ECDH, AES key
//! wrap, AES-GCM, AES-CBC and HMAC.
//!
//! This module sits on the floor with the configuration, which loads the key; of the crate
//! it imports only signing's base64url and RFC 7638 thumbprint.

mod alg;
mod cek;
mod content;
mod error;
mod header;
mod key;

use std::fmt;

use serde_json::Value;

pub(crate) use alg::{ContentEncryption, KeyManagementAlg};
pub(crate) use error::{EncryptionKeyError, JweError};
use header::{decode, Header};
use key::KeyKind;

/// The longest compact JWE read: an ID token or a UserInfo response, with room to spare.
pub(crate) const MAX_JWE_LEN: usize = 64 * 1024;

/// This client's private key for JWEs, with its `kid`. `Debug` shows the kid and the key
/// type only.
pub(crate) struct DecryptionKey {
    kind: KeyKind,
    kid: String,
    /// The public JWK, without `kid` and `use`.
    public_jwk: Value,
}

impl fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptionKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind.describe())
            .finish_non_exhaustive()
    }
}

impl DecryptionKey {
    /// Reads a PEM private key: PKCS#8 (RSA, EC P-256/P-384/P-521, X25519), PKCS#1 RSA or
    /// SEC1 EC. RSA keys have 2048 bits or more. `kid` defaults to the RFC 7638 thumbprint
    /// of the public key.
    pub(crate) fn from_pem(pem: &str, kid: Option<String>) -> Result<Self, EncryptionKeyError> {
        let (kind, public_jwk) = key::read_pem(pem)?;
        let kid = kid.unwrap_or_else(|| crate::signing::thumbprint(&public_jwk));
        Ok(DecryptionKey {
            kind,
            kid,
            public_jwk,
        })
    }

    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK as published in the client's JWKS: with `kid` and `use: "enc"`, and
    /// no `alg` (one key decrypts several algorithms).
    pub(crate) fn published_jwk(&self) -> Value {
        let mut jwk = self.public_jwk.clone();
        if let Value::Object(members) = &mut jwk {
            members.insert("kid".into(), Value::String(self.kid.clone()));
            members.insert("use".into(), Value::String("enc".into()));
        }
        jwk
    }

    /// Whether this key decrypts `alg`: RSA keys RSA-OAEP*, EC and X25519 keys ECDH-ES*.
    pub(crate) fn can_decrypt(&self, alg: KeyManagementAlg) -> bool {
        match self.kind {
            KeyKind::Rsa(_) => alg.is_rsa(),
            KeyKind::Agreement(..) => !alg.is_rsa(),
        }
    }

    /// Decrypts a compact JWE of at most [`MAX_JWE_LEN`] bytes. With `expected`, the
    /// header's `alg` and `enc` must be those (the ones registered with the provider).
    pub(crate) fn decrypt(
        &self,
        compact: &str,
        expected: Option<(KeyManagementAlg, ContentEncryption)>,
    ) -> Result<Vec<u8>, JweError> {
        if compact.len() > MAX_JWE_LEN {
            return Err(JweError::TooLarge {
                len: compact.len(),
                max: MAX_JWE_LEN,
            });
        }
        let parts: Vec<&str> = compact.split('.').collect();
        let [protected, encrypted_key, iv, ciphertext, tag] = parts[..] else {
            return Err(JweError::NotCompact { parts: parts.len() });
        };
        let header = Header::parse(protected)?;
        if let Some((alg, enc)) = expected {
            if (alg, enc) != (header.alg, header.enc) {
                return Err(JweError::UnexpectedAlgorithms {
                    expected: (alg.as_str(), enc.as_str()),
                    found: (header.alg.as_str(), header.enc.as_str()),
                });
            }
        }
        if let Some(kid) = &header.kid {
            if *kid != self.kid {
                return Err(JweError::KidMismatch {
                    jwe: kid.clone(),
                    ours: self.kid.clone(),
                });
            }
        }
        if !self.can_decrypt(header.alg) {
            return Err(JweError::WrongKeyType {
                alg: header.alg.as_str(),
                key: self.kind.type_name(),
            });
        }
        let encrypted_key = decode(encrypted_key, "the encrypted key is not base64url")?;
        let iv = decode(iv, "the initialization vector is not base64url")?;
        let ciphertext = decode(ciphertext, "the ciphertext is not base64url")?;
        let tag = decode(tag, "the authentication tag is not base64url")?;

        let cek = match &self.kind {
            KeyKind::Rsa(key) => {
                cek::rsa_oaep(key, header.alg, &encrypted_key, header.enc.key_len())?
            }
            KeyKind::Agreement(key, curve) => cek::ecdh_es(key, *curve, &header, &encrypted_key)?,
        };
        content::decrypt(
            header.enc,
            &cek,
            &iv,
            &ciphertext,
            &tag,
            protected.as_bytes(),
        )
    }

    /// [`DecryptionKey::decrypt`] for UTF-8 content: a nested JWT, a UserInfo JSON.
    pub(crate) fn decrypt_to_string(
        &self,
        compact: &str,
        expected: Option<(KeyManagementAlg, ContentEncryption)>,
    ) -> Result<String, JweError> {
        String::from_utf8(self.decrypt(compact, expected)?).map_err(|_| JweError::NotUtf8)
    }
}

#[cfg(test)]
mod tests;
