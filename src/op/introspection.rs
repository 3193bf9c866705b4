//! Token introspection (RFC 7662) for APIs that take opaque access tokens, the crate's own
//! because oauth2's `IntrospectionRequest` needs its own HTTP client trait and cannot carry
//! client assertions: the request goes through the one HTTP client with the client's
//! authentication (`client_auth`), the answer is read in `protocol::access_token`.

use super::client::{oauth_error_code, oauth_refusal, ProviderClient, Resolved};
use crate::error::{sanitize, OidcError};
use crate::protocol::http::Call;
use crate::telemetry::Endpoint;

impl ProviderClient {
    /// Introspects `token` (RFC 7662) with the client's authentication. `Ok(Err(why))`: the
    /// provider refused to tell about this token (a 400): to the API, an invalid token.
    pub(crate) async fn introspect(
        &self,
        resolved: &Resolved,
        token: &str,
        caller: Option<std::net::IpAddr>,
    ) -> Result<Result<Vec<u8>, String>, OidcError> {
        let Some(endpoint) = resolved.metadata.introspection_endpoint() else {
            return Err(OidcError::configuration(format!(
                "provider {:?} has no introspection_endpoint: set oidc.providers.{}.\
                 access_token_validation = \"jwt\" for JWT access tokens, or name the endpoint \
                 in [..providers.{}.endpoints]",
                self.name(),
                self.name(),
                self.name()
            )));
        };
        // Every unknown token is introspected once: bounded.
        let _permit = self.introspection_calls.take(self.name(), caller)?;
        let what = format!("introspection request to {endpoint}");
        let form = [("token", token), ("token_type_hint", "access_token")];
        let response = self
            .post_authenticated(
                resolved,
                endpoint,
                &form,
                Call::new(Endpoint::Introspection, &what),
            )
            .await?;
        match response.status {
            200 => {
                // RFC 7662 2.2: a JSON object with a boolean `active`; anything else is the
                // provider failing, not the token (and is not cached).
                let answer = serde_json::from_slice::<serde_json::Value>(&response.body).ok();
                if answer.is_some_and(|a| a.get("active").is_some_and(|v| v.is_boolean())) {
                    Ok(Ok(response.body))
                } else {
                    Err(OidcError::bad_provider_response(format!(
                        "{what}: the answer is not an introspection response (a JSON object \
                         with a boolean active)"
                    )))
                }
            }
            400 => Ok(Err(format!(
                "the provider would not introspect it ({})",
                oauth_error_code(&response.body)
                    .map(|e| sanitize(&e, 64))
                    .unwrap_or_else(|| "status 400".into())
            ))),
            401 | 403 => {
                let err = oauth_refusal(&response, &what, self.name());
                self.forget_refused_client(resolved, &err).await;
                Err(OidcError::bad_provider_response(format!(
                    "{what}: the provider refused this client's credentials (status {}; check \
                     oidc.providers.{}.client_id, client_secret and token_endpoint_auth_method)",
                    response.status,
                    self.name()
                )))
            }
            status => Err(OidcError::bad_provider_response(format!(
                "{what}: status {status}"
            ))),
        }
    }
}
