//! The provider's signing keys (its JWKS): fetched on first use, reloaded after
//! `jwks_max_age_seconds`, refetched (rate-limited) for an unknown `kid`; and the algorithms
//! the client accepts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::{
    is_due, read, set_due, with_context, ProviderClient, Resolved, RELOAD_RETRY_AFTER,
};
use super::discovery;
use crate::config::ProviderMetadata;
use crate::error::OidcError;
use crate::protocol::jwk::KeySet;
use crate::signing::SigningAlg;

/// The JWKS is refetched for an unknown `kid` at most this often (the first load does not
/// count), so a stream of tokens naming unknown keys cannot hammer the provider.
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(5);

impl ProviderClient {
    /// The provider's keys, fetched on first use.
    pub(crate) async fn keys(&self, resolved: &Resolved) -> Result<Arc<KeySet>, OidcError> {
        match read(&self.jwks) {
            Some(keys) if !is_due(&self.jwks_due) => Ok(keys),
            // Due for its scheduled reload: a key the provider removed must stop working.
            Some(keys) => match self.reload_keys(resolved, &keys).await {
                Ok(fresh) => Ok(fresh),
                Err(err) => {
                    log::warn!(
                        "oidc: provider {:?}: reloading its keys failed, the loaded ones serve \
                         on: {}",
                        self.name(),
                        err.developer_detail().unwrap_or(err.error_description())
                    );
                    set_due(&self.jwks_due, RELOAD_RETRY_AFTER);
                    Ok(keys)
                }
            },
            None => self.refetch_keys(resolved, None).await,
        }
    }

    /// The scheduled reload of the JWKS: one request fetches, the others use its result.
    async fn reload_keys(
        &self,
        resolved: &Resolved,
        loaded: &Arc<KeySet>,
    ) -> Result<Arc<KeySet>, OidcError> {
        let _one_at_a_time = self.last_jwks_refetch.lock().await;
        if let Some(current) = read(&self.jwks) {
            if !Arc::ptr_eq(&current, loaded) || !is_due(&self.jwks_due) {
                return Ok(current);
            }
        }
        self.store_keys(resolved).await
    }

    /// Fetches and keeps the JWKS, due again after `jwks_max_age_seconds`.
    async fn store_keys(&self, resolved: &Resolved) -> Result<Arc<KeySet>, OidcError> {
        let keys = Arc::new(
            discovery::fetch_jwks(&self.http, resolved.metadata.jwks_uri())
                .await
                .map_err(|e| with_context(e, self.name()))?,
        );
        *self.jwks.write().unwrap_or_else(|e| e.into_inner()) = Some(keys.clone());
        set_due(&self.jwks_due, self.config.jwks_max_age);
        Ok(keys)
    }

    /// Fetches the JWKS again unless another request just did (then its result is used).
    pub(crate) async fn refetch_keys(
        &self,
        resolved: &Resolved,
        stale: Option<&Arc<KeySet>>,
    ) -> Result<Arc<KeySet>, OidcError> {
        let mut last_refetch = self.last_jwks_refetch.lock().await;
        if let Some(current) = read(&self.jwks) {
            let replaced = stale.is_none_or(|stale| !Arc::ptr_eq(stale, &current));
            let too_soon = last_refetch.is_some_and(|at| at.elapsed() < JWKS_MIN_REFETCH);
            if replaced || too_soon {
                return Ok(current);
            }
        }
        let keys = self.store_keys(resolved).await?;
        if stale.is_some() {
            *last_refetch = Some(Instant::now());
        }
        Ok(keys)
    }
}

/// The ID token algorithms this client accepts: the pinned one
/// (`id_token_signed_response_alg`), else what the provider advertises, minus `none`, minus
/// HMAC when there is no client secret; RS256 when the provider advertises nothing.
pub(super) fn allowed_algs(
    metadata: &ProviderMetadata,
    has_secret: bool,
    pin: Option<SigningAlg>,
    provider: &str,
) -> Vec<SigningAlg> {
    if let Some(pin) = pin {
        if !metadata
            .id_token_signing_alg_values_supported()
            .contains(&pin.to_core())
        {
            // The provider's duty to list it; a stricter check would only lock users out.
            log::warn!(
                "oidc: provider {provider:?} does not advertise {pin} for ID tokens \
                 (id_token_signing_alg_values_supported), but oidc.providers.{provider}.\
                 id_token_signed_response_alg pins it: ID tokens signed otherwise are refused"
            );
        }
        return vec![pin];
    }
    let algs: Vec<_> = metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter_map(SigningAlg::from_core)
        .filter(|alg| has_secret || !alg.is_hmac())
        .collect();
    if algs.is_empty() {
        vec![SigningAlg::Rs256]
    } else {
        algs
    }
}
