//! Token revocation (RFC 7009), the crate's own for the reason introspection is (oauth2's
//! `RevocationRequest` needs its own HTTP client and cannot carry client assertions): the
//! request itself, and how the flows use it: bounded in time, failures logged and never
//! fatal, for a logout and for tokens a refresh issued to a session that ended.

use std::sync::Arc;
use std::time::Duration;

use super::client::{ProviderClient, Resolved};
use crate::error::OidcError;
use crate::protocol::http::Call;
use crate::telemetry::Endpoint;

/// The most a revocation waits for a provider (its metadata, each revocation request), so
/// a provider that is down never holds the user back.
pub(crate) const PROVIDER_WAIT: Duration = Duration::from_secs(3);

impl ProviderClient {
    /// Revokes `token` (RFC 7009) when the provider has a revocation endpoint.
    pub(crate) async fn revoke(
        &self,
        resolved: &Resolved,
        token: &str,
        hint: &str,
    ) -> Result<(), OidcError> {
        let Some(endpoint) = resolved.metadata.revocation_endpoint() else {
            return Ok(());
        };
        let what = format!("revocation request to {endpoint}");
        let form = [("token", token), ("token_type_hint", hint)];
        let response = self
            .post_authenticated(
                resolved,
                endpoint,
                &form,
                Call::new(Endpoint::Revocation, &what),
            )
            .await?;
        // RFC 7009 2.2: 200 whether or not the token was still valid.
        if response.status == 200 {
            Ok(())
        } else {
            Err(OidcError::bad_provider_response(format!(
                "{what}: status {}",
                response.status
            )))
        }
    }

    /// The provider's metadata from the cache, or loaded within `wait`; `None` when it
    /// cannot be had in time.
    pub(crate) async fn metadata_within(&self, wait: Duration) -> Option<Arc<Resolved>> {
        if let Some(resolved) = self.cached_metadata() {
            return Some(resolved);
        }
        tokio::time::timeout(wait, self.metadata())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Revokes the refresh token, then the access token, when the provider has a
    /// `revocation_endpoint`; failures are logged, never fatal.
    pub(crate) async fn revoke_tokens(
        &self,
        resolved: &Resolved,
        access_token: &str,
        refresh_token: Option<&str>,
    ) {
        if resolved.metadata.revocation_endpoint().is_none() {
            return;
        }
        let tokens = refresh_token
            .map(|token| (token, "refresh_token"))
            .into_iter()
            .chain([(access_token, "access_token")]);
        for (token, hint) in tokens {
            match tokio::time::timeout(PROVIDER_WAIT, self.revoke(resolved, token, hint)).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => log::warn!(
                    "oidc: revoking the {hint} at provider {:?} failed: {err}",
                    self.name()
                ),
                Err(_) => log::warn!(
                    "oidc: revoking the {hint} at provider {:?} timed out",
                    self.name()
                ),
            }
        }
    }

    /// Revokes tokens that were never stored (a refresh whose session a logout ended
    /// meanwhile, so the logout did not see them).
    pub(crate) async fn revoke_dropped(&self, access_token: &str, refresh_token: Option<&str>) {
        if let Some(resolved) = self.metadata_within(PROVIDER_WAIT).await {
            self.revoke_tokens(&resolved, access_token, refresh_token)
                .await;
        }
    }
}
