//! The provider's signing keys (its JWKS): fetched on first use, reloaded after
//! `jwks_max_age_seconds`, refetched (rate-limited) for an unknown `kid`; and the algorithms
//! the client accepts.

use std::sync::Arc;
use std::time::Duration;

use super::client::{with_context, ProviderClient, Resolved};
use super::discovery;
use crate::config::ProviderMetadata;
use crate::error::OidcError;
use crate::protocol::jwk::KeySet;
use crate::protocol::jws::Rejection;
use crate::signing::SigningAlg;

/// The JWKS is refetched for an unknown `kid` at most this often (the first load does not
/// count), so a stream of tokens naming unknown keys cannot hammer the provider.
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(5);

impl ProviderClient {
    /// The provider's keys: fetched on first use, reloaded after `jwks_max_age_seconds` (a
    /// key the provider removed must stop working).
    pub(crate) async fn keys(&self, resolved: &Resolved) -> Result<Arc<KeySet>, OidcError> {
        self.jwks
            .get_or_load(
                self.name(),
                Some(self.config.jwks_max_age),
                |_| false,
                || self.fetch_keys(resolved),
            )
            .await
    }

    /// Fetches the JWKS again because `stale` lacks a key a token names, unless another
    /// request just did (then its result is used).
    pub(crate) async fn refetch_keys(
        &self,
        resolved: &Resolved,
        stale: &Arc<KeySet>,
    ) -> Result<Arc<KeySet>, OidcError> {
        self.jwks
            .reload_unless_replaced(
                stale,
                JWKS_MIN_REFETCH,
                Some(self.config.jwks_max_age),
                || self.fetch_keys(resolved),
            )
            .await
    }

    /// `check` with the provider's keys, and once more with a fresh set when it names a key
    /// the set lacks (the provider rotated).
    pub(crate) async fn with_keys<T>(
        &self,
        resolved: &Resolved,
        check: impl Fn(&KeySet) -> Result<T, Rejection>,
    ) -> Result<Result<T, Rejection>, OidcError> {
        let keys = self.keys(resolved).await?;
        Ok(match check(&keys) {
            Err(Rejection::UnknownKey(_)) => check(&*self.refetch_keys(resolved, &keys).await?),
            outcome => outcome,
        })
    }

    async fn fetch_keys(&self, resolved: &Resolved) -> Result<KeySet, OidcError> {
        discovery::fetch_jwks(&self.http, resolved.metadata.jwks_uri())
            .await
            .map_err(|e| {
                self.log_unknown_host(&e);
                with_context(e, self.name())
            })
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
