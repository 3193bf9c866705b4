//! `tls_client_certificate` and `tls_client_key`: the client's certificate for mutual TLS
//! with the provider (RFC 8705), read and checked at launch: readable, in date, and with a
//! key that fits it. Every call to that provider presents it.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_cert::der::Decode;

use super::error::{bail, ConfigError};

/// Warn at launch when the certificate expires within this many days.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// The client's certificate and key for mutual TLS, checked.
pub(crate) struct TlsIdentity {
    /// The certificate chain and the key, PEM, as the HTTP client takes them.
    pem: Vec<u8>,
    /// The certificate's subject, as RFC 4514 writes it (`tls_client_auth_subject_dn`).
    pub(crate) subject: String,
    /// When the certificate expires (unix seconds).
    pub(crate) not_after: i64,
    /// The certificate's public key as a JWK with the certificate in `x5c` (RFC 7517 4.7):
    /// what `self_signed_tls_client_auth` registers (RFC 8705 2.2). `None` for a key type
    /// JWK has no form for here.
    pub(crate) jwk: Option<serde_json::Value>,
}

impl TlsIdentity {
    /// The certificate chain and key, PEM (secret: the key is in it).
    pub(crate) fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// When the certificate expires, as the liftoff summary writes it.
    pub(crate) fn expiry(&self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.not_after)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| self.not_after.to_string())
    }
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("subject", &self.subject)
            .field("not_after", &self.expiry())
            .field("key", &"[redacted]")
            .finish()
    }
}

/// Reads and checks the pair at `key` (`<key>.tls_client_certificate`,
/// `<key>.tls_client_key`): both or neither; `now` in unix seconds.
pub(super) fn validate_tls_identity(
    key: &str,
    certificate: Option<String>,
    private_key: Option<String>,
    now: i64,
) -> Result<Option<Arc<TlsIdentity>>, ConfigError> {
    let cert_key = format!("{key}.tls_client_certificate");
    let key_key = format!("{key}.tls_client_key");
    let (cert_path, key_path) = match (certificate, private_key) {
        (None, None) => return Ok(None),
        (Some(_), None) => bail!(
            key_key,
            "is missing: the client certificate needs its private key",
            "set tls_client_key = \"/path/to/client.key\" (PEM)"
        ),
        (None, Some(_)) => bail!(
            cert_key,
            "is missing: tls_client_key is set, and it is the key of a certificate",
            "set tls_client_certificate = \"/path/to/client.pem\" (PEM)"
        ),
        (Some(c), Some(k)) => (c, k),
    };
    let read = |name: &str, path: &str| {
        std::fs::read(path).map_err(|e| {
            ConfigError::new(
                name,
                format!("= {path:?} cannot be read: {e}"),
                "check the path, and that the app may read the file",
            )
        })
    };
    let cert_pem = read(&cert_key, &cert_path)?;
    let key_pem = read(&key_key, &key_path)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    let Some(leaf) = chain.first() else {
        bail!(
            cert_key,
            format!("= {cert_path:?} holds no PEM certificate"),
            "name a file of \"-----BEGIN CERTIFICATE-----\" blocks, the client's first"
        );
    };
    let parsed = match x509_cert::Certificate::from_der(leaf.as_ref()) {
        Ok(parsed) => parsed,
        Err(e) => bail!(
            cert_key,
            format!("= {cert_path:?} holds a certificate that cannot be read ({e})"),
            "check the file (openssl x509 -in FILE -noout -text)"
        ),
    };
    let validity = parsed.tbs_certificate().validity();
    let not_before = unix(validity.not_before.to_unix_duration());
    let not_after = unix(validity.not_after.to_unix_duration());
    let subject = parsed.tbs_certificate().subject().to_string();
    if not_after <= now {
        bail!(
            cert_key,
            format!(
                "= {cert_path:?} expired on {} ({subject})",
                rfc3339(not_after)
            ),
            "renew the certificate (and register the new one with the provider if it pins it)"
        );
    }
    if not_before > now {
        bail!(
            cert_key,
            format!(
                "= {cert_path:?} is not valid before {} ({subject})",
                rfc3339(not_before)
            ),
            "check the machine's clock, or wait for the certificate's start"
        );
    }
    if PrivateKeyDer::from_pem_slice(&key_pem).is_err() {
        bail!(
            key_key,
            format!("= {key_path:?} holds no PEM private key this crate can use"),
            "use an unencrypted PEM key (PKCS#8 \"PRIVATE KEY\", PKCS#1 \"RSA PRIVATE KEY\" or \
             SEC1 \"EC PRIVATE KEY\")"
        );
    }
    // reqwest takes the chain and the key in one buffer, and nothing else in it.
    let mut pem = Vec::with_capacity(cert_pem.len() + key_pem.len() + 1);
    for certificate in &chain {
        pem.extend_from_slice(pem_block("CERTIFICATE", certificate.as_ref()).as_bytes());
    }
    pem.extend_from_slice(&key_pem);
    pem.push(b'\n');
    let fits = reqwest::Identity::from_pem(&pem)
        .and_then(|identity| reqwest::Client::builder().identity(identity).build());
    if let Err(e) = fits {
        bail!(
            key_key,
            format!(
                "= {key_path:?} does not fit {cert_path:?} ({})",
                source_text(&e)
            ),
            "use the private key the certificate was issued for"
        );
    }
    let days_left = (not_after - now) / 86_400;
    if days_left < EXPIRY_WARNING_DAYS {
        log::warn!(
            "oidc: {cert_key} ({subject}) expires on {} (in {days_left} days): renew it",
            rfc3339(not_after)
        );
    }
    Ok(Some(Arc::new(TlsIdentity {
        pem,
        subject,
        not_after,
        jwk: public_jwk(&parsed, leaf.as_ref()),
    })))
}

/// The certificate's public key as a JWK (RSA, EC P-256/384/521, Ed25519) with `x5c`.
fn public_jwk(certificate: &x509_cert::Certificate, der: &[u8]) -> Option<serde_json::Value> {
    use serde_json::json;
    use x509_cert::der::asn1::{ObjectIdentifier as Oid, UintRef};
    const RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    const EC: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
    let spki = certificate.tbs_certificate().subject_public_key_info();
    let key = spki.subject_public_key.as_bytes()?;
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let mut jwk = match spki.algorithm.oid {
        RSA => {
            // RSAPublicKey (RFC 8017 A.1.1): SEQUENCE { modulus, publicExponent }.
            let numbers = Vec::<UintRef<'_>>::from_der(key).ok()?;
            let [n, e] = numbers.as_slice() else {
                return None;
            };
            json!({ "kty": "RSA", "n": b64(n.as_bytes()), "e": b64(e.as_bytes()) })
        }
        EC => {
            let curve: Oid = spki.algorithm.parameters.as_ref()?.decode_as().ok()?;
            let (crv, size) = match curve.to_string().as_str() {
                "1.2.840.10045.3.1.7" => ("P-256", 32),
                "1.3.132.0.34" => ("P-384", 48),
                "1.3.132.0.35" => ("P-521", 66),
                _ => return None,
            };
            // An uncompressed point: 0x04, x, y.
            if key.len() != 1 + 2 * size || key[0] != 4 {
                return None;
            }
            json!({
                "kty": "EC",
                "crv": crv,
                "x": b64(&key[1..=size]),
                "y": b64(&key[1 + size..]),
            })
        }
        ED25519 => json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(key) }),
        _ => return None,
    };
    jwk["x5c"] = json!([base64::engine::general_purpose::STANDARD.encode(der)]);
    Some(jwk)
}

fn unix(since_epoch: std::time::Duration) -> i64 {
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// `der` as a PEM block of `label`.
fn pem_block(label: &str, der: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// An error and its sources, on one line.
fn source_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        format!("{}/tests/fixtures/mtls/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    fn check(cert: Option<&str>, key: Option<&str>) -> Result<Option<Arc<TlsIdentity>>, String> {
        validate_tls_identity(
            "oidc.providers.bank",
            cert.map(fixture),
            key.map(fixture),
            time::OffsetDateTime::now_utc().unix_timestamp(),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_the_certificate_subject_expiry_and_thumbprint() {
        let identity = check(Some("client.pem"), Some("client.key"))
            .unwrap()
            .unwrap();
        assert_eq!(identity.subject, "CN=rocket-fapi-fixture,O=Test,C=DE");
        assert!(
            identity.expiry().starts_with("2126-11-12T"),
            "{}",
            identity.expiry()
        );
        // The JWK carries the certificate (x5c) and its public key.
        let jwk = identity.jwk.as_ref().unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(jwk["x5c"][0].as_str().unwrap())
            .unwrap();
        let pem = std::fs::read_to_string(fixture("client.pem")).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(base64::engine::general_purpose::STANDARD.encode(&der), body);
        assert_eq!(
            (jwk["kty"].as_str(), jwk["crv"].as_str()),
            (Some("EC"), Some("P-256"))
        );
        assert_eq!(jwk["x"].as_str().unwrap().len(), 43);
        assert_eq!(jwk["y"].as_str().unwrap().len(), 43);
        // The key never shows.
        let debug = format!("{identity:?}");
        assert!(
            debug.contains("[redacted]") && !debug.contains("PRIVATE"),
            "{debug}"
        );
        assert_eq!(check(None, None).unwrap().map(|_| ()), None);
    }

    #[test]
    fn names_each_mistake_and_its_fix() {
        let cases: &[(Option<&str>, Option<&str>, &str)] = &[
            (
                Some("client.pem"),
                None,
                "oidc.providers.bank.tls_client_key is missing",
            ),
            (
                None,
                Some("client.key"),
                "oidc.providers.bank.tls_client_certificate is missing",
            ),
            (
                Some("nope.pem"),
                Some("client.key"),
                "tls_client_certificate = ",
            ),
            (Some("client.pem"), Some("nope.key"), "tls_client_key = "),
            (
                Some("client.key"),
                Some("client.key"),
                "holds no PEM certificate",
            ),
            (
                Some("expired.pem"),
                Some("expired.key"),
                "expired on 2020-01-02T00:00:00Z (CN=expired)",
            ),
            (
                Some("client.pem"),
                Some("client.pem"),
                "holds no PEM private key",
            ),
            (Some("client.pem"), Some("other.key"), "tls_client_key = "),
            (Some("client.pem"), Some("expired.key"), "does not fit"),
        ];
        for (cert, key, expected) in cases {
            let message = check(*cert, *key).expect_err("refused");
            assert!(
                message.contains(expected),
                "{cert:?} {key:?}: expected {expected:?} in {message:?}"
            );
        }
        let message = check(Some("nope.pem"), Some("client.key")).unwrap_err();
        assert!(message.contains("cannot be read"), "{message}");
        let message = check(Some("client.pem"), Some("other.key")).unwrap_err();
        assert!(
            message.contains("does not fit") && message.contains("use the private key"),
            "{message}"
        );
    }
}
