//! The JWS algorithms this client signs and checks with, and their names: JOSE's, and
//! openidconnect's (its `CoreJwsSigningAlgorithm`, the shared vocabulary).

use std::fmt;

use openidconnect::core::CoreJwsSigningAlgorithm;
use ring::signature as sig;

/// A JWS algorithm this client signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigningAlg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
    Hs256,
    Hs384,
    Hs512,
}

impl SigningAlg {
    pub(crate) const ALL: [SigningAlg; 12] = [
        SigningAlg::Rs256,
        SigningAlg::Rs384,
        SigningAlg::Rs512,
        SigningAlg::Ps256,
        SigningAlg::Ps384,
        SigningAlg::Ps512,
        SigningAlg::Es256,
        SigningAlg::Es384,
        SigningAlg::EdDsa,
        SigningAlg::Hs256,
        SigningAlg::Hs384,
        SigningAlg::Hs512,
    ];

    /// The JOSE name (`RS256`, `EdDSA`, ...).
    pub(crate) fn name(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Rs384 => "RS384",
            SigningAlg::Rs512 => "RS512",
            SigningAlg::Ps256 => "PS256",
            SigningAlg::Ps384 => "PS384",
            SigningAlg::Ps512 => "PS512",
            SigningAlg::Es256 => "ES256",
            SigningAlg::Es384 => "ES384",
            SigningAlg::EdDsa => "EdDSA",
            SigningAlg::Hs256 => "HS256",
            SigningAlg::Hs384 => "HS384",
            SigningAlg::Hs512 => "HS512",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<SigningAlg> {
        SigningAlg::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// openidconnect's name of this algorithm.
    pub(crate) fn to_core(self) -> CoreJwsSigningAlgorithm {
        use CoreJwsSigningAlgorithm as C;
        match self {
            SigningAlg::Rs256 => C::RsaSsaPkcs1V15Sha256,
            SigningAlg::Rs384 => C::RsaSsaPkcs1V15Sha384,
            SigningAlg::Rs512 => C::RsaSsaPkcs1V15Sha512,
            SigningAlg::Ps256 => C::RsaSsaPssSha256,
            SigningAlg::Ps384 => C::RsaSsaPssSha384,
            SigningAlg::Ps512 => C::RsaSsaPssSha512,
            SigningAlg::Es256 => C::EcdsaP256Sha256,
            SigningAlg::Es384 => C::EcdsaP384Sha384,
            SigningAlg::EdDsa => C::EdDsa,
            SigningAlg::Hs256 => C::HmacSha256,
            SigningAlg::Hs384 => C::HmacSha384,
            SigningAlg::Hs512 => C::HmacSha512,
        }
    }

    /// This crate's algorithm for openidconnect's, when it has one (not ES512, not `none`).
    pub(crate) fn from_core(alg: &CoreJwsSigningAlgorithm) -> Option<SigningAlg> {
        SigningAlg::ALL
            .into_iter()
            .find(|ours| ours.to_core() == *alg)
    }

    /// Keyed by the client secret.
    pub(crate) fn is_hmac(self) -> bool {
        matches!(
            self,
            SigningAlg::Hs256 | SigningAlg::Hs384 | SigningAlg::Hs512
        )
    }

    pub(super) fn hmac(self) -> Option<ring::hmac::Algorithm> {
        match self {
            SigningAlg::Hs256 => Some(ring::hmac::HMAC_SHA256),
            SigningAlg::Hs384 => Some(ring::hmac::HMAC_SHA384),
            SigningAlg::Hs512 => Some(ring::hmac::HMAC_SHA512),
            _ => None,
        }
    }

    pub(super) fn rsa(self) -> Option<&'static dyn sig::RsaEncoding> {
        match self {
            SigningAlg::Rs256 => Some(&sig::RSA_PKCS1_SHA256),
            SigningAlg::Rs384 => Some(&sig::RSA_PKCS1_SHA384),
            SigningAlg::Rs512 => Some(&sig::RSA_PKCS1_SHA512),
            SigningAlg::Ps256 => Some(&sig::RSA_PSS_SHA256),
            SigningAlg::Ps384 => Some(&sig::RSA_PSS_SHA384),
            SigningAlg::Ps512 => Some(&sig::RSA_PSS_SHA512),
            _ => None,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
