//! How a provider's HTTP client differs from the default one: extra trusted CA
//! certificates, a proxy, a user agent, and the client's certificate for mutual TLS.

use std::sync::Arc;

use super::error::{bail, ConfigError};
use super::provider::RawProvider;
use super::tls_client::{validate_tls_identity, TlsIdentity};
use super::Secret;

/// How this provider's HTTP client differs from the default one.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpSettings {
    /// Extra trusted CA certificates, PEM, each with the file it came from.
    pub(crate) ca_certificates: Vec<(String, Vec<u8>)>,
    /// An HTTP(S) proxy for every call to this provider.
    pub(crate) proxy: Option<Secret>,
    pub(crate) user_agent: Option<String>,
    /// The client's certificate for mutual TLS, presented on every call to this provider.
    pub(crate) identity: Option<Arc<TlsIdentity>>,
}

impl HttpSettings {
    pub(crate) fn is_default(&self) -> bool {
        self.ca_certificates.is_empty()
            && self.proxy.is_none()
            && self.user_agent.is_none()
            && self.identity.is_none()
    }
}

/// Reads the HTTP settings of the provider at `key`, taking them out of `raw`.
pub(super) fn validate_http(key: &str, raw: &mut RawProvider) -> Result<HttpSettings, ConfigError> {
    let identity = validate_tls_identity(
        key,
        raw.tls_client_certificate.take(),
        raw.tls_client_key.take(),
        crate::protocol::time::now(),
    )?;
    let mut ca_certificates = Vec::new();
    for path in std::mem::take(&mut raw.ca_certificates) {
        let pem = match std::fs::read(&path) {
            Ok(pem) => pem,
            Err(e) => bail!(
                format!("{key}.ca_certificates"),
                format!("has {path:?}, which cannot be read: {e}"),
                "check the path, and that the app may read the file"
            ),
        };
        if reqwest::Certificate::from_pem_bundle(&pem).map_or(true, |c| c.is_empty()) {
            bail!(
                format!("{key}.ca_certificates"),
                format!("has {path:?}, which holds no PEM certificate"),
                "list files of \"-----BEGIN CERTIFICATE-----\" blocks"
            );
        }
        ca_certificates.push((path, pem));
    }
    let proxy = match raw.http_proxy.take() {
        Some(url) => {
            let parsed = url::Url::parse(&url).ok();
            if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https")) {
                bail!(
                    format!("{key}.http_proxy"),
                    "must be a URL",
                    "write it as \"http://proxy.internal:3128\""
                );
            }
            Some(Secret(url))
        }
        None => None,
    };
    let user_agent = raw.http_user_agent.take();
    if user_agent
        .as_deref()
        .is_some_and(|ua| ua.is_empty() || !ua.bytes().all(|b| (0x20..0x7f).contains(&b)))
    {
        bail!(
            format!("{key}.http_user_agent"),
            "must be printable ASCII",
            "e.g. \"my-app/1.0\""
        );
    }
    Ok(HttpSettings {
        ca_certificates,
        proxy,
        user_agent,
        identity,
    })
}
