//! Why a signing key cannot be read or made. Each text is the one the configuration error
//! or the log has always shown; the underlying error, where there is one, is the `source`.

use std::error::Error;
use std::fmt;

use ring::error::{KeyRejected, Unspecified};

use super::SigningAlg;

/// Why [`SigningKey::from_pem`](super::SigningKey::from_pem),
/// [`SigningKey::from_pkcs8`](super::SigningKey::from_pkcs8) or
/// [`SigningKey::generate`](super::SigningKey::generate) failed.
#[derive(Debug)]
pub(crate) enum KeyError {
    /// Not a PEM private key, or an unreadable one.
    NotPem(rustls_pki_types::pem::Error),
    /// A PEM private key in a format other than PKCS#8, PKCS#1 or SEC1.
    UnsupportedFormat,
    /// `ring` refused the PKCS#1 RSA key (too small, malformed, ...).
    RsaRejected(RingError<KeyRejected>),
    /// `ring` refused the SEC1 EC key (a curve other than P-256 and P-384, malformed, ...).
    EcRejected(RingError<KeyRejected>),
    /// A PKCS#8 key of a type, curve or size this crate does not use.
    UnsupportedKeyType,
    /// The algorithm asked for does not fit the key's type.
    AlgMismatch {
        key_type: &'static str,
        alg: SigningAlg,
        allowed: &'static [SigningAlg],
    },
    /// Only ES256 and EdDSA keys (DPoP) are generated.
    NotGenerated(SigningAlg),
    /// Generation failed: the system's random generator did.
    Random(RingError<Unspecified>),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotPem(e) => write!(
                f,
                "not a PEM private key ({e}): expected a \"BEGIN PRIVATE KEY\", \"BEGIN RSA \
                 PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" block"
            ),
            KeyError::UnsupportedFormat => f.write_str("unsupported private key format"),
            KeyError::RsaRejected(e) => write!(f, "the RSA key is not usable: {e}"),
            KeyError::EcRejected(e) => {
                write!(f, "the EC key is not usable (P-256 and P-384 are): {e}")
            }
            KeyError::UnsupportedKeyType => f.write_str(
                "the PKCS#8 key is not usable: RSA (2048 bits or more), EC P-256, EC P-384 and \
                 Ed25519 keys are supported",
            ),
            KeyError::AlgMismatch {
                key_type,
                alg,
                allowed,
            } => {
                write!(f, "a {key_type} key cannot sign {alg}: use ")?;
                for (i, allowed) in allowed.iter().enumerate() {
                    let separator = if i == 0 { "" } else { ", " };
                    write!(f, "{separator}{allowed}")?;
                }
                Ok(())
            }
            KeyError::NotGenerated(alg) => write!(f, "{alg} keys are not generated here"),
            KeyError::Random(_) => f.write_str("the system's random generator failed"),
        }
    }
}

impl Error for KeyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            KeyError::NotPem(e) => Some(e),
            KeyError::RsaRejected(e) | KeyError::EcRejected(e) => Some(e),
            KeyError::Random(e) => Some(e),
            KeyError::UnsupportedFormat
            | KeyError::UnsupportedKeyType
            | KeyError::AlgMismatch { .. }
            | KeyError::NotGenerated(_) => None,
        }
    }
}

/// A `ring` error as an [`Error`]: `ring` implements that trait only with its `std`
/// feature, which this crate does not turn on. Shows `ring`'s own text.
#[derive(Debug)]
pub(crate) struct RingError<E>(pub(crate) E);

impl<E: fmt::Display> fmt::Display for RingError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: fmt::Debug + fmt::Display> Error for RingError<E> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_the_ones_configuration_errors_and_logs_show() {
        let alg_mismatch = KeyError::AlgMismatch {
            key_type: "RSA",
            alg: SigningAlg::Es256,
            allowed: &[SigningAlg::Rs256, SigningAlg::Ps512],
        };
        assert_eq!(
            alg_mismatch.to_string(),
            "a RSA key cannot sign ES256: use RS256, PS512"
        );
        assert_eq!(
            KeyError::NotGenerated(SigningAlg::Rs256).to_string(),
            "RS256 keys are not generated here"
        );
        assert_eq!(
            KeyError::Random(RingError(Unspecified)).to_string(),
            "the system's random generator failed"
        );
        assert!(KeyError::Random(RingError(Unspecified)).source().is_some());
        assert!(alg_mismatch.source().is_none());
    }
}
