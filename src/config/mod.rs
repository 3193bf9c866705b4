//! Configuration: the `[oidc]` table of Rocket.toml, read through figment and validated once
//! at ignite, so that every mistake stops launch with one line naming the key and the fix.
//!
//! One room per table: [`app`] (the top of `[oidc]`, and the validated [`Config`]),
//! [`provider`] (`providers.<name>`), [`client`] (its client authentication, keys and HTTP),
//! [`api`] (its bearer tokens), [`metadata`] (`provider_metadata` and discovery documents),
//! [`session`] (`session`) with [`redis`] (`session.redis`); beside them [`urls`] (the
//! checks every URL and path passes), [`defaults`] (every default value) and [`error`]
//! ([`ConfigError`]). This is the lowest layer: it imports nothing from the rest of the
//! crate but the signing algorithms and keys of `protocol::signing`.

use std::fmt;

mod api;
mod app;
mod auth_params;
mod client;
pub(crate) mod defaults;
mod encryption;
mod error;
mod http;
mod limits;
mod metadata;
mod profile;
mod provider;
mod redis;
mod response;
mod session;
mod tls_client;
mod urls;

pub(crate) use api::TokenValidation;
pub(crate) use app::{is_release, Config};
pub(crate) use client::{AssertionAudience, ClientAuth, RegistrationConfig};
pub(crate) use error::ConfigError;
pub(crate) use limits::Limits;
pub(crate) use metadata::ProviderMetadata;
pub(crate) use provider::{MetadataSource, ProviderConfig, UserinfoMethod};
#[cfg_attr(not(feature = "redis"), allow(unused_imports, unreachable_pub))]
pub use redis::RedisConfig;
pub(crate) use response::ResponseMode;
pub(crate) use session::StoreConfig;
pub(crate) use urls::{parse_url_for, safe_return_path, UrlPolicy};

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl Secret {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Configurations written as Rocket.toml text, read as the fairing reads them: for the
/// tests of every room.
#[cfg(test)]
pub(crate) mod test_support {
    use rocket::figment::providers::{Format, Toml};
    use rocket::figment::Figment;

    use super::{Config, ConfigError};

    pub(crate) fn config(toml: &str) -> Result<Config, ConfigError> {
        Config::from_figment(&Figment::from(Toml::string(toml)))
    }

    pub(crate) const GOOD: &str = r#"
        [oidc]
        redirect_uri = "http://127.0.0.1:8000/redirect_uri"
        [oidc.providers.default]
        issuer = "http://localhost:3000"
        client_id = "app"
        client_secret = "s3cret"
    "#;

    /// The one line a refused configuration shows.
    pub(crate) fn error_of(toml: &str) -> String {
        config(toml)
            .expect_err("config should be refused")
            .to_string()
    }

    /// A configuration: `oidc` lines under `[oidc]` (a default `redirect_uri` unless they
    /// set one), `provider` lines under the default provider (a default `issuer` unless
    /// they set one).
    pub(crate) fn toml_with(oidc: &str, provider: &str) -> String {
        let mut toml = String::from("[oidc]\n");
        if !oidc.contains("redirect_uri =") {
            toml.push_str("redirect_uri = \"http://127.0.0.1:8000/redirect_uri\"\n");
        }
        toml.push_str(oidc);
        toml.push_str("\n[oidc.providers.default]\nclient_id = \"app\"\nclient_secret = \"s\"\n");
        if !provider.contains("issuer") && !provider.contains("provider_metadata") {
            toml.push_str("issuer = \"http://localhost:3000\"\n");
        }
        toml.push_str(provider);
        toml
    }
}
