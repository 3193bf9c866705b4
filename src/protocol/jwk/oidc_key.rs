//! [`Jwk`] as openidconnect's `JsonWebKey` (with `ring` behind it) and its serde form, so
//! that a `JsonWebKeySet<Jwk>` and openidconnect's `IdTokenVerifier` use this crate's keys.

use openidconnect::core::{CoreJsonWebKeyType, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyId, SignatureVerificationError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::{Jwk, KeyAlg, Material, RawKey};
use crate::signing::SigningAlg;

impl<'de> Deserialize<'de> for Jwk {
    /// A member this crate cannot use is an error, which openidconnect's `JsonWebKeySet`
    /// answers by leaving it out (RFC 7517 5), as [`KeySet::from_json`] does.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Jwk::from_raw(RawKey::deserialize(deserializer)?)
            .ok_or_else(|| serde::de::Error::custom("a key this client cannot use"))
    }
}

impl Serialize for Jwk {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_raw().serialize(serializer)
    }
}

impl JsonWebKey for Jwk {
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
        match &self.alg {
            KeyAlg::Unspecified(None) => JsonWebKeyAlgorithm::Unspecified,
            KeyAlg::Unspecified(Some(implied)) => JsonWebKeyAlgorithm::Algorithm(implied),
            KeyAlg::Only(_, alg) => JsonWebKeyAlgorithm::Algorithm(alg),
            KeyAlg::Unsupported => JsonWebKeyAlgorithm::Unsupported,
        }
    }

    fn new_symmetric(key: Vec<u8>) -> Self {
        Jwk {
            kty: CoreJsonWebKeyType::Symmetric,
            kid: None,
            key_use: None,
            alg: KeyAlg::Unspecified(None),
            material: std::sync::Arc::new(Material::Hmac(key)),
        }
    }

    fn verify_signature(
        &self,
        alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureVerificationError> {
        let Some(alg) = SigningAlg::from_core(alg) else {
            return Err(SignatureVerificationError::UnsupportedAlg(format!(
                "{alg:?}"
            )));
        };
        if !(self.fits(alg) || matches!(*self.material, Material::Hmac(_)) && alg.is_hmac()) {
            return Err(SignatureVerificationError::InvalidKey(
                "the key does not serve this algorithm".into(),
            ));
        }
        if self.verifies(alg, message, signature) {
            Ok(())
        } else {
            Err(SignatureVerificationError::CryptoError(
                "the signature is invalid".into(),
            ))
        }
    }

    fn hash_bytes(&self, bytes: &[u8], alg: &CoreJwsSigningAlgorithm) -> Result<Vec<u8>, String> {
        use SigningAlg as A;
        let alg = SigningAlg::from_core(alg).ok_or_else(|| format!("{alg:?} is not supported"))?;
        Ok(match alg {
            A::Hs384 | A::Rs384 | A::Es384 | A::Ps384 => Sha384::digest(bytes).to_vec(),
            // EdDSA with Ed25519 hashes with SHA-512 (Core 3.1.3.6 errata).
            A::Hs512 | A::Rs512 | A::Ps512 | A::EdDsa => Sha512::digest(bytes).to_vec(),
            _ => Sha256::digest(bytes).to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::KeySet;
    use super::*;
    use crate::signing::SigningKey;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use openidconnect::JsonWebKeySet;
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

    /// openidconnect's own Ed25519 test vector (src/jwt/tests.rs, src/core/jwk/tests.rs).
    #[test]
    fn openidconnects_ed25519_vector_verifies_through_its_trait() {
        let key: Jwk = serde_json::from_str(
            r#"{"kty": "OKP", "use": "sig", "alg": "EdDSA", "crv": "Ed25519",
                "x": "sfliRRhciU_d5qsuC5Vcydi-t8bRfxTg_4qulVatW4A"}"#,
        )
        .unwrap();
        let input = "eyJhbGciOiJFZDI1NTE5IiwidHlwIjoiSldUIn0.eyJpc3MiOiJqb2UifQ";
        let good = "Augr7UH6hUbWVN0PHqSD5U0bb8y9UOw_eef09ZS5d5haUar_qAto8gyLJxUhNF5wHPoXhdvSGowkPvjiKsEsCQ";
        let other = "xb4NH-q33sCaRXf1ZhnzQxd4o5ZkBWKd9vGibacqPMAblW_mIJLm9kGerqHX08SPoeDY-dYUmZQz9ls6csfvAw";
        let eddsa = CoreJwsSigningAlgorithm::EdDsa;
        let verify = |alg: &CoreJwsSigningAlgorithm, input: &str, signature: &str| {
            key.verify_signature(
                alg,
                input.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
        };
        assert!(verify(&eddsa, input, good).is_ok());
        assert!(matches!(
            verify(&eddsa, &format!("{input}foobar"), good),
            Err(SignatureVerificationError::CryptoError(_))
        ));
        assert!(verify(&eddsa, input, other).is_err());
        assert!(matches!(
            verify(&CoreJwsSigningAlgorithm::EcdsaP256Sha256, input, good),
            Err(SignatureVerificationError::InvalidKey(_))
        ));
        assert_eq!(
            serde_json::to_value(&key).unwrap(),
            json!({"kty": "OKP", "use": "sig", "alg": "EdDSA", "crv": "Ed25519",
                   "x": "sfliRRhciU_d5qsuC5Vcydi-t8bRfxTg_4qulVatW4A"}),
            "written back as read"
        );
    }

    /// An ID token of every key type, and one keyed by the client secret, checked by
    /// openidconnect's `IdTokenVerifier` with this crate's keys; a set of a P-256 and a P-384
    /// key without `kid` still picks the right one (the curve implies the algorithm).
    #[test]
    fn openidconnects_verifier_checks_id_tokens_with_these_keys() {
        use openidconnect::core::CoreIdToken;
        use openidconnect::{ClientId, ClientSecret, IdTokenVerifier, IssuerUrl, Nonce};
        let now = crate::protocol::time::now();
        let claims = json!({"iss": "https://op.example", "aud": "app", "sub": "alice",
            "exp": now + 60, "iat": now, "nonce": "n-1"});
        let verify = |jws: &str, keys: Vec<Jwk>, alg: SigningAlg| {
            let verifier = IdTokenVerifier::new_confidential_client(
                ClientId::new("app".into()),
                ClientSecret::new("s3cret".into()),
                IssuerUrl::new("https://op.example".into()).unwrap(),
                JsonWebKeySet::new(keys),
            )
            .set_allowed_algs([alg.to_core()]);
            let token: CoreIdToken = jws.parse().unwrap();
            token
                .claims(&verifier, &Nonce::new("n-1".into()))
                .map(|claims| claims.subject().to_string())
        };
        let mut both_curves = Vec::new();
        for (file, alg) in [
            ("client_rsa_pkcs1.pem", SigningAlg::Rs256),
            ("client_rsa_pkcs1.pem", SigningAlg::Ps512),
            ("client_p256_sec1.pem", SigningAlg::Es256),
            ("client_p384_sec1.pem", SigningAlg::Es384),
            ("client_ed25519.pem", SigningAlg::EdDsa),
        ] {
            let key = SigningKey::from_pem(&fixture(file), Some(alg), Some("k".into())).unwrap();
            let jws = key.sign(Map::new(), &claims);
            let set = set_of(json!({ "keys": [key.published_jwk()] }));
            let keys = set.keys.keys().clone();
            assert_eq!(
                verify(&jws, keys.clone(), alg).as_deref(),
                Ok("alice"),
                "{file} {alg}"
            );
            // One signature character changed well inside it (the last one may carry
            // unused bits).
            let mut forged = jws.clone().into_bytes();
            let at = forged.len() - 10;
            forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(forged).unwrap();
            assert!(verify(&forged, keys, alg).is_err(), "{file} {alg}");
            if matches!(alg, SigningAlg::Es256 | SigningAlg::Es384) {
                let mut public = key.published_jwk();
                public.as_object_mut().unwrap().remove("kid");
                both_curves.push((public, key, alg));
            }
        }
        let set =
            set_of(json!({ "keys": both_curves.iter().map(|(j, _, _)| j).collect::<Vec<_>>() }));
        for (_, key, alg) in &both_curves {
            let jws = key.sign(Map::new(), &claims);
            // Without a kid in the header: the token's own header names one, so drop it.
            let (head, rest) = jws.split_once('.').unwrap();
            let mut head: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap();
            head.as_object_mut().unwrap().remove("kid");
            let unsigned = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(head.to_string()),
                rest.split_once('.').unwrap().0
            );
            let signature = key.sign_bytes(unsigned.as_bytes());
            let jws = format!("{unsigned}.{}", URL_SAFE_NO_PAD.encode(signature));
            assert_eq!(
                verify(&jws, set.keys.keys().clone(), *alg).as_deref(),
                Ok("alice"),
                "{alg}"
            );
        }
        let hs = crate::signing::sign_hmac("s3cret", SigningAlg::Hs256, &claims).unwrap();
        assert_eq!(
            verify(&hs, Vec::new(), SigningAlg::Hs256).as_deref(),
            Ok("alice")
        );
        let wrong = crate::signing::sign_hmac("other", SigningAlg::Hs256, &claims).unwrap();
        assert!(verify(&wrong, Vec::new(), SigningAlg::Hs256).is_err());
    }
}
