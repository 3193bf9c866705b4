//! The provider's metadata (Core Discovery, RFC 8414, or configured): loaded on first use,
//! checked against the client's settings, kept for a day and reloaded, with the client's
//! identity (configured or registered) resolved alongside.

use std::sync::Arc;
use std::time::Duration;

use super::client::{with_context, ProviderClient, Resolved};
use super::discovery;
use super::id_token::KeptVerifier;
use super::keys::allowed_algs;
use super::registration::Credentials;
use crate::config::{ClientAuth, MetadataSource, ProviderMetadata};
use crate::error::OidcError;
use crate::protocol::time::now;

/// How long loaded metadata is used before discovery runs again (a failure keeps the old
/// metadata and tries again a minute later).
const METADATA_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

impl ProviderClient {
    /// The provider's metadata with the client's identity: loaded on first use, reloaded
    /// after a day (discovery), and resolved again when a registered client's secret expires.
    pub(crate) async fn metadata(&self) -> Result<Arc<Resolved>, OidcError> {
        let max_age = matches!(self.config.source, MetadataSource::Discovery { .. })
            .then_some(METADATA_MAX_AGE);
        self.metadata
            .get_or_load(
                self.name(),
                max_age,
                |resolved| resolved.credentials.expired(now()),
                || async {
                    self.resolve().await.map_err(|e| {
                        self.log_unknown_host(&e);
                        with_context(e, self.name())
                    })
                },
            )
            .await
    }

    /// Discovers (or takes the configured) metadata, checks it against the client's
    /// settings, and resolves the client's identity.
    async fn resolve(&self) -> Result<Resolved, OidcError> {
        let mut metadata = match &self.config.source {
            MetadataSource::Static(metadata) => (**metadata).clone(),
            MetadataSource::Discovery { issuer } => {
                discovery::discover(
                    &self.http,
                    issuer,
                    self.config.client.discovery_url.as_deref(),
                    self.name(),
                    self.config.url_policy,
                )
                .await?
            }
        };
        if self.config.client.http.identity.is_some() {
            let replaced = metadata.use_mtls_aliases(self.config.url_policy, self.name());
            if !replaced.is_empty() {
                log::info!(
                    "oidc: provider {:?}: calling {} at the mutual-TLS aliases it lists",
                    self.name(),
                    replaced.join(", ")
                );
            }
        }
        // Configured endpoints win over the provider's, aliases included.
        self.config.endpoints.apply(&mut metadata);
        self.check_metadata(&metadata)?;
        let credentials = self.credentials(&metadata).await?;
        if credentials.require_par && metadata.pushed_authorization_request_endpoint().is_none() {
            return Err(OidcError::configuration(format!(
                "provider {:?} registered client {:?} with \
                 require_pushed_authorization_requests, but has no \
                 pushed_authorization_request_endpoint: check the provider's PAR settings",
                self.name(),
                credentials.client_id
            )));
        }
        let has_secret = credentials.client_secret.is_some();
        let mut id_token_algs = allowed_algs(
            &metadata,
            has_secret,
            self.config.client.id_token_alg,
            self.name(),
        );
        // FAPI 2.0 5.4.1: ID tokens signed with PS256, ES256 or EdDSA only.
        if let Some(fapi) = self.config.fapi {
            id_token_algs.retain(|alg| fapi.allows(*alg));
            if id_token_algs.is_empty() {
                return Err(OidcError::configuration(format!(
                    "provider {:?} signs ID tokens with none of PS256, ES256 and EdDSA, which \
                     profile {:?} allows only: check id_token_signing_alg_values_supported and \
                     the client's registration",
                    self.name(),
                    fapi.name()
                )));
            }
        }
        let resolved = Resolved {
            allowed_algs: id_token_algs,
            // RFC 9068 4: the provider's keys only; a client secret would let anyone
            // holding it mint tokens for the API.
            access_token_algs: {
                let mut algs = allowed_algs(&metadata, false, None, self.name());
                if let Some(fapi) = self.config.fapi {
                    algs.retain(|alg| fapi.allows(*alg));
                }
                algs
            },
            metadata,
            credentials,
            id_tokens: KeptVerifier::default(),
        };
        log::info!(
            "oidc: provider {:?}: metadata of {} loaded",
            self.name(),
            resolved.metadata.issuer()
        );
        Ok(resolved)
    }

    /// The metadata if it was loaded already; never waits for the provider.
    pub(crate) fn cached_metadata(&self) -> Option<Arc<Resolved>> {
        self.metadata.current()
    }

    /// The configured client, or the registered one (kept, or registered now).
    async fn credentials(
        &self,
        metadata: &ProviderMetadata,
    ) -> Result<Arc<Credentials>, OidcError> {
        match &self.registrar {
            None => Ok(Arc::new(Credentials::configured(
                self.config.client_id.clone(),
                self.config.client_secret.clone(),
            ))),
            Some(registrar) => {
                let credentials = registrar
                    .credentials(
                        &self.http,
                        metadata.issuer(),
                        metadata.registration_endpoint(),
                    )
                    .await?;
                if self.config.client.client_auth.needs_secret()
                    && credentials.client_secret.is_none()
                {
                    return Err(OidcError::configuration(format!(
                        "provider {:?} registered client {:?} without a client_secret, but \
                         token_endpoint_auth_method {} needs one: choose private_key_jwt or \
                         none, or check the provider's registration policy",
                        self.name(),
                        credentials.client_id,
                        self.config.client.client_auth.name()
                    )));
                }
                Ok(Arc::new(credentials))
            }
        }
    }

    /// The liftoff summary's word on where the client comes from.
    pub(crate) fn registration_source(&self) -> String {
        match &self.registrar {
            None => "configured client_id".to_string(),
            Some(registrar) => registrar.describe(),
        }
    }

    /// What the client's settings need from the provider: a PAR endpoint when logins push,
    /// an advertised assertion algorithm. A mismatch is a configuration error (launch stops);
    /// an authentication method the provider does not list is only logged, since providers
    /// often list fewer than they accept.
    fn check_metadata(&self, metadata: &ProviderMetadata) -> Result<(), OidcError> {
        let name = self.name();
        let settings = &self.config.client;
        // FAPI 2.0 5.2.2: TLS everywhere, with no development exception.
        if let Some(fapi) = self.config.fapi {
            let endpoints = [
                (
                    "authorization_endpoint",
                    Some(metadata.authorization_endpoint()),
                ),
                ("token_endpoint", Some(metadata.token_endpoint())),
                ("jwks_uri", Some(metadata.jwks_uri())),
                ("userinfo_endpoint", metadata.userinfo_endpoint()),
                (
                    "pushed_authorization_request_endpoint",
                    metadata.pushed_authorization_request_endpoint(),
                ),
                ("revocation_endpoint", metadata.revocation_endpoint()),
                ("introspection_endpoint", metadata.introspection_endpoint()),
                ("end_session_endpoint", metadata.end_session_endpoint()),
            ];
            for (member, url) in endpoints {
                if let Some(url) = url.filter(|url| !url.starts_with("https://")) {
                    return Err(OidcError::configuration(format!(
                        "provider {name:?}: {member} {url:?} is not https, which profile {:?} \
                         requires for every endpoint (FAPI 2.0 5.2.2)",
                        fapi.name()
                    )));
                }
            }
        }
        if (settings.use_par || metadata.require_pushed_authorization_requests())
            && metadata.pushed_authorization_request_endpoint().is_none()
        {
            let why = if settings.use_par {
                format!("oidc.providers.{name}.use_par is on")
            } else {
                "its metadata sets require_pushed_authorization_requests".to_string()
            };
            return Err(OidcError::configuration(format!(
                "provider {name:?} has no pushed_authorization_request_endpoint, but {why}: \
                 turn use_par off, or check the provider's PAR settings"
            )));
        }
        let assertion_alg = match (settings.client_auth, &settings.private_key) {
            (ClientAuth::SecretJwt(alg), _) => Some(alg),
            (ClientAuth::PrivateKeyJwt, Some(key)) => Some(key.alg()),
            _ => None,
        };
        let advertised = metadata.token_endpoint_auth_signing_alg_values_supported();
        if let Some(alg) = assertion_alg {
            if !advertised.is_empty() && !advertised.iter().any(|a| a == alg.name()) {
                return Err(OidcError::configuration(format!(
                    "provider {name:?} does not accept {alg} client assertions (it lists {}): \
                     set oidc.providers.{name}.token_endpoint_auth_signing_alg to one of them{}",
                    advertised.join(", "),
                    if settings.private_key.is_some() {
                        " that fits the private key"
                    } else {
                        ""
                    }
                )));
            }
        }
        if let Some(alg) = settings.dpop {
            let advertised = &metadata.dpop_signing_alg_values_supported();
            if advertised.is_empty() {
                log::warn!(
                    "oidc: provider {name:?} does not advertise DPoP \
                     (dpop_signing_alg_values_supported), but oidc.providers.{name}.dpop is on: \
                     logins fail if it answers with Bearer tokens"
                );
            } else if !advertised.iter().any(|a| a == alg.name()) {
                return Err(OidcError::configuration(format!(
                    "provider {name:?} does not accept {alg} DPoP proofs (it lists {}): set \
                     oidc.providers.{name}.dpop_alg to ES256 or EdDSA among them",
                    advertised.join(", ")
                )));
            }
        }
        let methods = &metadata.token_endpoint_auth_methods_supported();
        let method = settings.client_auth.name();
        if !methods.is_empty() && !methods.contains(&method) {
            log::warn!(
                "oidc: provider {name:?} does not list {method} in \
                 token_endpoint_auth_methods_supported ({}); trying it anyway",
                methods.join(", ")
            );
        }
        Ok(())
    }
}
