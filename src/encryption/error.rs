//! Why a decryption key cannot be read, and why a JWE cannot be decrypted. Texts name what
//! is wrong and how to fix it; the underlying error, where there is one, is the `source`.

use std::error::Error;
use std::fmt;

use aws_lc_rs::error::{KeyRejected, Unspecified};

const MAKE_RSA: &str = "`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`";
const MAKE_EC: &str = "`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`";

/// Why [`DecryptionKey::from_pem`](super::DecryptionKey::from_pem) failed.
#[derive(Debug)]
pub(crate) enum EncryptionKeyError {
    /// Not a PEM private key, or an unreadable one.
    NotPem(rustls_pki_types::pem::Error),
    /// A PEM private key in a format other than PKCS#8, PKCS#1 or SEC1.
    UnsupportedFormat,
    /// An RSA key of fewer than 2048 bits.
    RsaTooSmall,
    /// aws-lc refused the RSA key (more than 8192 bits, inconsistent, malformed, ...).
    RsaRejected(KeyRejected),
    /// aws-lc refused the SEC1 EC key (a curve other than P-256, P-384, P-521, malformed).
    EcRejected(KeyRejected),
    /// A PKCS#8 key of a type or curve that decrypts no JWE algorithm here.
    UnsupportedKeyType,
    /// aws-lc read the key but could not compute its public half.
    NoPublicKey(Unspecified),
}

impl fmt::Display for EncryptionKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncryptionKeyError::NotPem(e) => write!(
                f,
                "the decryption key is not a PEM private key ({e}): expected a \"BEGIN PRIVATE \
                 KEY\", \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" block; make one \
                 with {MAKE_RSA}"
            ),
            EncryptionKeyError::UnsupportedFormat => write!(
                f,
                "unsupported private key format for the decryption key: use PKCS#8 (\"BEGIN \
                 PRIVATE KEY\"), as made by {MAKE_RSA}"
            ),
            EncryptionKeyError::RsaTooSmall => write!(
                f,
                "the RSA decryption key is smaller than 2048 bits: make one of 2048 bits or \
                 more with {MAKE_RSA}"
            ),
            EncryptionKeyError::RsaRejected(e) => write!(
                f,
                "the RSA decryption key is not usable ({e}): RSA keys of 2048 to 8192 bits \
                 are; make one with {MAKE_RSA}"
            ),
            EncryptionKeyError::EcRejected(e) => write!(
                f,
                "the EC decryption key is not usable ({e}): P-256, P-384 and P-521 keys are; \
                 make one with {MAKE_EC}"
            ),
            EncryptionKeyError::UnsupportedKeyType => write!(
                f,
                "the PKCS#8 key cannot decrypt JWEs: RSA (2048 bits or more), EC P-256, P-384, \
                 P-521 and X25519 keys can; make one with {MAKE_RSA} or {MAKE_EC}"
            ),
            EncryptionKeyError::NoPublicKey(_) => {
                f.write_str("the public half of the decryption key could not be computed")
            }
        }
    }
}

impl Error for EncryptionKeyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            EncryptionKeyError::NotPem(e) => Some(e),
            EncryptionKeyError::RsaRejected(e) | EncryptionKeyError::EcRejected(e) => Some(e),
            EncryptionKeyError::NoPublicKey(e) => Some(e),
            EncryptionKeyError::UnsupportedFormat
            | EncryptionKeyError::RsaTooSmall
            | EncryptionKeyError::UnsupportedKeyType => None,
        }
    }
}

/// Why [`DecryptionKey::decrypt`](super::DecryptionKey::decrypt) or an algorithm's
/// `from_str` failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JweError {
    /// Longer than the limit: refused before any parsing.
    TooLarge { len: usize, max: usize },
    /// Not five dot-separated parts.
    NotCompact { parts: usize },
    /// A part that is not base64url, a header that is not a JSON object, a member of the
    /// wrong type or missing.
    Malformed(&'static str),
    /// `RSA1_5`, refused by design.
    Rsa1_5Refused,
    /// `dir`, `A*KW`, `A*GCMKW`, `PBES2-*`: keys shared with the provider, not this client's.
    SymmetricAlg(String),
    /// An `alg` that is no JWE key management algorithm known here.
    UnsupportedAlg(String),
    /// An `enc` that is no JWE content encryption algorithm known here.
    UnsupportedEnc(String),
    /// `zip` (compressed content), refused.
    ZipRefused(String),
    /// Critical extensions (`crit`), none of which this client understands.
    CritRefused(Vec<String>),
    /// The header's `alg`/`enc` are not the ones registered with the provider.
    UnexpectedAlgorithms {
        expected: (&'static str, &'static str),
        found: (&'static str, &'static str),
    },
    /// The header's `kid` names another key than this client's.
    KidMismatch { jwe: String, ours: String },
    /// The algorithm needs another key type (an RSA-OAEP JWE for an EC key, ...).
    WrongKeyType {
        alg: &'static str,
        key: &'static str,
    },
    /// The ephemeral public key (`epk`) is on another curve than this client's key.
    EpkCurveMismatch { epk: String, ours: &'static str },
    /// The ephemeral public key (`epk`) is not a point of the curve (or a weak X25519 key).
    EpkInvalid,
    /// The content encryption key or the authentication tag did not check out. One
    /// variant for every such failure: which step failed must not be learnable.
    Undecryptable,
    /// The plaintext is not UTF-8 (from `decrypt_to_string`).
    NotUtf8,
}

impl fmt::Display for JweError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JweError::TooLarge { len, max } => write!(
                f,
                "the JWE is {len} bytes long, more than the {max} bytes this client reads"
            ),
            JweError::NotCompact { parts } => {
                write!(
                    f,
                    "not a compact JWE: {parts} dot-separated parts instead of 5"
                )?;
                if *parts == 3 {
                    f.write_str(" (3 is a signed JWT: the provider did not encrypt it)")?;
                }
                Ok(())
            }
            JweError::Malformed(what) => write!(f, "malformed JWE: {what}"),
            JweError::Rsa1_5Refused => f.write_str(
                "the JWE uses RSA1_5, which this client refuses: RSAES-PKCS1-v1_5 decryption \
                 is open to padding-oracle attacks (RFC 7518 §4.2 and §8.3, RFC 8725 §3.2); \
                 register RSA-OAEP-256 or ECDH-ES with the provider",
            ),
            JweError::SymmetricAlg(alg) => write!(
                f,
                "the JWE uses {alg}, a key shared with the provider (client secret or \
                 password), which this client does not decrypt: register RSA-OAEP-256 or \
                 ECDH-ES (with this client's published key) instead"
            ),
            JweError::UnsupportedAlg(alg) => write!(
                f,
                "unsupported JWE algorithm (alg) {alg:?}: RSA-OAEP, RSA-OAEP-256, ECDH-ES, \
                 ECDH-ES+A128KW, ECDH-ES+A192KW and ECDH-ES+A256KW are supported"
            ),
            JweError::UnsupportedEnc(enc) => write!(
                f,
                "unsupported JWE content encryption (enc) {enc:?}: A128CBC-HS256, \
                 A192CBC-HS384, A256CBC-HS512, A128GCM, A192GCM and A256GCM are supported"
            ),
            JweError::ZipRefused(zip) => write!(
                f,
                "the JWE is compressed (zip: {zip:?}), which this client refuses \
                 (decompression bombs, compression side channels): ask the provider not to \
                 compress"
            ),
            JweError::CritRefused(names) => write!(
                f,
                "the JWE marks header parameters this client does not understand as \
                 critical (crit: {names:?})"
            ),
            JweError::UnexpectedAlgorithms { expected, found } => write!(
                f,
                "the JWE is encrypted with {} / {}, not with the registered {} / {}",
                found.0, found.1, expected.0, expected.1
            ),
            JweError::KidMismatch { jwe, ours } => write!(
                f,
                "the JWE is encrypted for key {jwe:?}, this client publishes {ours:?}: the \
                 provider may hold an old copy of the client's JWKS"
            ),
            JweError::WrongKeyType { alg, key } => write!(
                f,
                "the JWE uses {alg}, which this client's {key} key cannot decrypt"
            ),
            JweError::EpkCurveMismatch { epk, ours } => write!(
                f,
                "the JWE's ephemeral key (epk) is on {:?}, this client's key on {ours}",
                crate::error::sanitize(epk, 40)
            ),
            JweError::EpkInvalid => {
                f.write_str("the JWE's ephemeral key (epk) is not a valid public key of its curve")
            }
            JweError::Undecryptable => f.write_str(
                "the JWE could not be decrypted: tampered, or encrypted for another key",
            ),
            JweError::NotUtf8 => f.write_str("the decrypted JWE content is not UTF-8"),
        }
    }
}

impl Error for JweError {}
