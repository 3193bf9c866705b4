//! Encrypted and signed responses of a provider: `id_token_encrypted_response_alg`/`_enc`,
//! `userinfo_signed_response_alg`, `userinfo_encrypted_response_alg`/`_enc`, and the
//! client's decryption key (`encryption_key`, `encryption_key_pem`, `encryption_key_kid`).

use std::sync::Arc;

use super::defaults;
use super::error::{bail, ConfigError};
use crate::encryption::{ContentEncryption, DecryptionKey, KeyManagementAlg};
use crate::signing::SigningAlg;

/// How a response is encrypted (the algorithms registered with the provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Jwe {
    pub(crate) alg: KeyManagementAlg,
    pub(crate) enc: ContentEncryption,
}

/// What the provider's ID tokens and UserInfo responses come as, beyond a signed ID token
/// and a JSON UserInfo.
#[derive(Debug, Default, Clone)]
pub(crate) struct ProtectedResponses {
    /// The client's private key for JWEs, published at `jwks_path` with `"use": "enc"`.
    pub(crate) key: Option<Arc<DecryptionKey>>,
    /// ID tokens are nested JWTs: a signed one inside a JWE.
    pub(crate) id_token: Option<Jwe>,
    /// UserInfo is a JWT signed with this algorithm.
    pub(crate) userinfo_signed: Option<SigningAlg>,
    /// UserInfo is a JWE (around the signed JWT when both).
    pub(crate) userinfo_encrypted: Option<Jwe>,
    /// JARM: the authorization response is a JWT signed with this algorithm (set exactly
    /// when `response_mode` is a JWT mode; RS256 unless `authorization_signed_response_alg`
    /// says, as JARM 3 defaults it). With a decryption key, an encrypted one is opened.
    pub(crate) authorization_signed: Option<SigningAlg>,
    /// JARM: the authorization response comes encrypted so (around the signed JWT); a
    /// plain one is refused.
    pub(crate) authorization_encrypted: Option<Jwe>,
}

/// The raw settings, as written.
#[derive(Default)]
pub(super) struct RawProtection {
    pub(super) id_token_alg: Option<String>,
    pub(super) id_token_enc: Option<String>,
    pub(super) userinfo_signed_alg: Option<String>,
    pub(super) userinfo_alg: Option<String>,
    pub(super) userinfo_enc: Option<String>,
    pub(super) authorization_signed_alg: Option<String>,
    pub(super) authorization_alg: Option<String>,
    pub(super) authorization_enc: Option<String>,
    pub(super) key_file: Option<String>,
    pub(super) key_pem: Option<String>,
    pub(super) key_kid: Option<String>,
}

/// Reads the settings of the provider at `key`; `has_secret` says whether HS* can sign,
/// `jarm` whether the response mode is a JWT one.
pub(super) fn validate_protection(
    key: &str,
    raw: RawProtection,
    has_secret: bool,
    jarm: bool,
) -> Result<ProtectedResponses, ConfigError> {
    let decryption_key = decryption_key(key, raw.key_file, raw.key_pem, raw.key_kid)?;
    let id_token = jwe(
        key,
        "id_token_encrypted_response",
        raw.id_token_alg,
        raw.id_token_enc,
    )?;
    let userinfo_encrypted = jwe(
        key,
        "userinfo_encrypted_response",
        raw.userinfo_alg,
        raw.userinfo_enc,
    )?;
    let authorization_encrypted = jwe(
        key,
        "authorization_encrypted_response",
        raw.authorization_alg,
        raw.authorization_enc,
    )?;
    if authorization_encrypted.is_some() && !jarm {
        bail!(
            format!("{key}.authorization_encrypted_response_alg"),
            "is for JWT-secured authorization responses (JARM), and response_mode is not one",
            "set response_mode = \"jwt\" (or another JWT mode), or remove it"
        );
    }
    for (setting, jwe) in [
        ("id_token_encrypted_response_alg", id_token),
        ("userinfo_encrypted_response_alg", userinfo_encrypted),
        (
            "authorization_encrypted_response_alg",
            authorization_encrypted,
        ),
    ] {
        let Some(jwe) = jwe else { continue };
        match &decryption_key {
            None => bail!(
                format!("{key}.{setting}"),
                format!("= {:?} needs the client's decryption key", jwe.alg.as_str()),
                "set encryption_key = \"/path/to/key.pem\" (or encryption_key_pem), an RSA key \
                 for RSA-OAEP* or an EC key for ECDH-ES*"
            ),
            Some(k) if !k.can_decrypt(jwe.alg) => bail!(
                format!("{key}.{setting}"),
                format!(
                    "= {:?} cannot be decrypted with the configured encryption key ({k:?})",
                    jwe.alg.as_str()
                ),
                if jwe.alg.is_rsa() {
                    "use an RSA key for RSA-OAEP*, or an ECDH-ES* algorithm"
                } else {
                    "use an EC key (P-256, P-384, P-521) or X25519 for ECDH-ES*, or RSA-OAEP"
                }
            ),
            Some(_) => {}
        }
    }
    if decryption_key.is_some() && id_token.is_none() && userinfo_encrypted.is_none() && !jarm {
        bail!(
            format!("{key}.encryption_key"),
            "is set but unused",
            "set id_token_encrypted_response_alg or userinfo_encrypted_response_alg (or a JWT \
             response_mode), or remove it"
        );
    }
    let authorization_signed = match (jarm, raw.authorization_signed_alg) {
        (false, None) => None,
        (false, Some(_)) => bail!(
            format!("{key}.authorization_signed_response_alg"),
            "is for JWT-secured authorization responses (JARM), and response_mode is not one",
            "set response_mode = \"jwt\" (or \"query.jwt\", \"fragment.jwt\", \
             \"form_post.jwt\"), or remove it"
        ),
        (true, None) => SigningAlg::from_name(super::defaults::AUTHORIZATION_SIGNED_RESPONSE_ALG),
        (true, Some(name)) => match SigningAlg::from_name(&name) {
            Some(alg) if alg.is_hmac() && !has_secret => bail!(
                format!("{key}.authorization_signed_response_alg"),
                format!("= {name:?} is keyed with the client secret, and there is none"),
                "set client_secret, or an asymmetric algorithm such as \"PS256\""
            ),
            Some(alg) => Some(alg),
            None => bail!(
                format!("{key}.authorization_signed_response_alg"),
                format!("= {name:?} is not a signing algorithm this crate checks"),
                "use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA or HS256, \
                 HS384, HS512 (never \"none\")"
            ),
        },
    };
    let userinfo_signed = match raw.userinfo_signed_alg {
        None => None,
        Some(name) => match SigningAlg::from_name(&name) {
            Some(alg) if alg.is_hmac() && !has_secret => bail!(
                format!("{key}.userinfo_signed_response_alg"),
                format!("= {name:?} is keyed with the client secret, and there is none"),
                "set client_secret, or an asymmetric algorithm such as \"RS256\""
            ),
            Some(alg) => Some(alg),
            None => bail!(
                format!("{key}.userinfo_signed_response_alg"),
                format!("= {name:?} is not a signing algorithm this crate checks"),
                "use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA or HS256, \
                 HS384, HS512 (never \"none\")"
            ),
        },
    };
    Ok(ProtectedResponses {
        key: decryption_key,
        id_token,
        userinfo_signed,
        userinfo_encrypted,
        authorization_signed,
        authorization_encrypted,
    })
}

/// The client's decryption key, from a file or inline.
fn decryption_key(
    key: &str,
    file: Option<String>,
    pem: Option<String>,
    kid: Option<String>,
) -> Result<Option<Arc<DecryptionKey>>, ConfigError> {
    let (source, shown, pem) = match (file, pem) {
        (Some(_), Some(_)) => bail!(
            key,
            "sets both encryption_key and encryption_key_pem",
            "set either encryption_key (a PEM file) or encryption_key_pem (inline), not both"
        ),
        (Some(path), None) => match std::fs::read_to_string(&path) {
            Ok(pem) => (format!("{key}.encryption_key"), format!("= {path:?} "), pem),
            Err(e) => bail!(
                format!("{key}.encryption_key"),
                format!("= {path:?} cannot be read: {e}"),
                "check the path, and that the app may read the file"
            ),
        },
        (None, Some(pem)) => (format!("{key}.encryption_key_pem"), String::new(), pem),
        (None, None) => {
            if kid.is_some() {
                bail!(
                    format!("{key}.encryption_key_kid"),
                    "names the kid of an encryption key, and there is none",
                    "set encryption_key (a PEM file) or encryption_key_pem too"
                );
            }
            return Ok(None);
        }
    };
    match DecryptionKey::from_pem(&pem, kid) {
        Ok(k) => Ok(Some(Arc::new(k))),
        Err(e) => bail!(
            source,
            format!("{shown}does not hold a key this crate can decrypt with: {e}"),
            "use a PEM private key (PKCS#8, PKCS#1 or SEC1): RSA of 2048 bits or more, EC \
             P-256, P-384 or P-521, or X25519"
        ),
    }
}

/// `<name>_alg` and `<name>_enc`.
fn jwe(
    key: &str,
    name: &str,
    alg: Option<String>,
    enc: Option<String>,
) -> Result<Option<Jwe>, ConfigError> {
    let Some(alg) = alg else {
        if enc.is_some() {
            bail!(
                format!("{key}.{name}_enc"),
                "is set without its alg",
                format!("set {name}_alg too (an enc alone means nothing)")
            );
        }
        return Ok(None);
    };
    let alg = match alg.parse::<KeyManagementAlg>() {
        Ok(alg) => alg,
        Err(e) => bail!(
            format!("{key}.{name}_alg"),
            format!("= {alg:?}: {e}"),
            "use RSA-OAEP, RSA-OAEP-256, ECDH-ES, ECDH-ES+A128KW, ECDH-ES+A192KW or \
             ECDH-ES+A256KW"
        ),
    };
    let enc = match enc {
        None => defaults::JWE_ENC
            .parse()
            .expect("the default enc is a supported one"),
        Some(enc) => match enc.parse::<ContentEncryption>() {
            Ok(enc) => enc,
            Err(e) => bail!(
                format!("{key}.{name}_enc"),
                format!("= {enc:?}: {e}"),
                "use A128CBC-HS256 (the default), A192CBC-HS384, A256CBC-HS512, A128GCM, \
                 A192GCM or A256GCM"
            ),
        },
    };
    Ok(Some(Jwe { alg, enc }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "oidc.providers.default";

    fn rsa_pem() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/client_rsa_pkcs8.pem"
        ))
        .unwrap()
    }

    fn read(raw: RawProtection) -> Result<ProtectedResponses, String> {
        validate_protection(KEY, raw, true, false).map_err(|e| e.to_string())
    }

    #[test]
    fn enc_defaults_to_a128cbc_hs256() {
        let read = read(RawProtection {
            id_token_alg: Some("RSA-OAEP".into()),
            key_pem: Some(rsa_pem()),
            ..RawProtection::default()
        })
        .unwrap();
        assert_eq!(
            read.id_token,
            Some(Jwe {
                alg: KeyManagementAlg::RsaOaep,
                enc: ContentEncryption::A128CbcHs256
            })
        );
        assert!(read.key.is_some());
    }

    #[test]
    fn each_mistake_names_its_key() {
        let cases: Vec<(RawProtection, &str)> = vec![
            (
                RawProtection {
                    id_token_alg: Some("RSA-OAEP".into()),
                    ..RawProtection::default()
                },
                "id_token_encrypted_response_alg = \"RSA-OAEP\" needs the client's decryption key",
            ),
            (
                RawProtection {
                    id_token_alg: Some("RSA1_5".into()),
                    key_pem: Some(rsa_pem()),
                    ..RawProtection::default()
                },
                "id_token_encrypted_response_alg = \"RSA1_5\"",
            ),
            (
                RawProtection {
                    userinfo_enc: Some("A256GCM".into()),
                    ..RawProtection::default()
                },
                "userinfo_encrypted_response_enc is set without its alg",
            ),
            (
                RawProtection {
                    id_token_alg: Some("ECDH-ES".into()),
                    key_pem: Some(rsa_pem()),
                    ..RawProtection::default()
                },
                "cannot be decrypted with the configured encryption key",
            ),
            (
                RawProtection {
                    key_pem: Some(rsa_pem()),
                    ..RawProtection::default()
                },
                "is set but unused",
            ),
            (
                RawProtection {
                    userinfo_signed_alg: Some("none".into()),
                    ..RawProtection::default()
                },
                "userinfo_signed_response_alg = \"none\"",
            ),
            (
                RawProtection {
                    key_kid: Some("k".into()),
                    ..RawProtection::default()
                },
                "encryption_key_kid names the kid",
            ),
        ];
        for (raw, expected) in cases {
            let err = read(raw).unwrap_err();
            assert!(err.contains(expected), "{err} should say {expected}");
            assert!(err.contains(KEY), "{err}");
        }
    }

    #[test]
    fn rsa1_5_is_refused_saying_why() {
        let err = read(RawProtection {
            userinfo_alg: Some("RSA1_5".into()),
            key_pem: Some(rsa_pem()),
            ..RawProtection::default()
        })
        .unwrap_err();
        assert!(err.to_lowercase().contains("padding"), "{err}");
    }
}
