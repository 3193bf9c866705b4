//! The token endpoint (RFC 6749 3.2): the code exchange, refresh and client credentials
//! grants, DPoP proofs and nonce challenges (RFC 9449), and the parsing of its answer.

use openidconnect::core::CoreTokenType;
use openidconnect::{ExtraTokenFields, OAuth2TokenResponse, StandardTokenResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{lock, oauth_error_code, oauth_refusal, ProviderClient, Resolved};
use crate::error::{sanitize, OidcError};
use crate::protocol::dpop;
use crate::protocol::http::{Call, HttpResponse};
use crate::signing::SigningKey;
use crate::telemetry::Endpoint;

/// The token endpoint's successful answer (RFC 6749 5.1, Core 3.1.3.3): oauth2's
/// `StandardTokenResponse`, read with the tolerance real providers need.
#[derive(Debug)]
pub(crate) struct TokenResponse(StandardTokenResponse<IdTokenText, CoreTokenType>);

/// The ID token of a token response, as text: it is checked on its own (`IdTokenVerifier`),
/// so a bad claim is a refused ID token (401), not an unreadable token response (502).
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct IdTokenText {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenText {}

impl TokenResponse {
    /// Reads a token response. `expires_in` may be a JSON number or a numeric string (some
    /// Azure AD endpoints send `"3600"`), and a fraction is cut off: the duty is the
    /// provider's, and refusing would only lock users out. Anything else there is no
    /// lifetime, not a refusal.
    pub(crate) fn from_json(body: &[u8]) -> Result<TokenResponse, serde_json::Error> {
        let mut answer: Value = serde_json::from_slice(body)?;
        if let Some(members) = answer.as_object_mut() {
            let seconds = members.remove("expires_in").and_then(|value| match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            });
            if let Some(seconds) = seconds.filter(|s| s.is_finite() && *s >= 0.0) {
                members.insert("expires_in".into(), Value::from(seconds.floor() as u64));
            }
        }
        serde_json::from_value(answer).map(TokenResponse)
    }

    pub(crate) fn access_token(&self) -> &str {
        self.0.access_token().secret()
    }

    /// The token type as RFC 6750 and RFC 9449 spell it (`Bearer`, `DPoP`); oauth2 reads
    /// it case-insensitively.
    pub(crate) fn token_type(&self) -> &str {
        match self.0.token_type() {
            CoreTokenType::Bearer => "Bearer",
            CoreTokenType::Extension(other) if other.eq_ignore_ascii_case("dpop") => "DPoP",
            other => other.as_ref(),
        }
    }

    /// Seconds the access token lives, when the provider says.
    pub(crate) fn expires_in(&self) -> Option<f64> {
        self.0
            .expires_in()
            .map(|lifetime| lifetime.as_secs() as f64)
    }

    pub(crate) fn refresh_token(&self) -> Option<&str> {
        self.0.refresh_token().map(|token| token.secret().as_str())
    }

    pub(crate) fn id_token(&self) -> Option<&str> {
        self.0.extra_fields().id_token.as_deref()
    }

    /// The granted scope, space-separated, when the provider says it (RFC 6749 5.1).
    pub(crate) fn scope(&self) -> Option<String> {
        self.0.scopes().map(|scopes| {
            scopes
                .iter()
                .map(|scope| scope.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
    }
}

impl ProviderClient {
    /// Exchanges an authorization code at the token endpoint (Core 3.1.3.1), with a DPoP
    /// proof of `dpop` when the tokens are to be bound to it.
    pub(crate) async fn exchange_code(
        &self,
        resolved: &Resolved,
        code: &str,
        code_verifier: &str,
        dpop: Option<&SigningKey>,
        caller: Option<std::net::IpAddr>,
    ) -> Result<TokenResponse, OidcError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", code_verifier),
        ];
        // A callback with a forged code but a state from an anonymous login calls here.
        let _permit = self.exchange_calls.take(self.name(), caller)?;
        let what = format!("token request to {}", resolved.metadata.token_endpoint());
        self.token_request(resolved, &form, &what, dpop).await
    }

    /// Uses a refresh token at the token endpoint (RFC 6749 6, Core 12.1); a DPoP-bound
    /// refresh token needs a proof of the same key.
    pub(crate) async fn refresh(
        &self,
        resolved: &Resolved,
        refresh_token: &str,
        dpop: Option<&SigningKey>,
    ) -> Result<TokenResponse, OidcError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        let what = format!("refresh request to {}", resolved.metadata.token_endpoint());
        self.token_request(resolved, &form, &what, dpop).await
    }

    /// One token request; with DPoP, answers a nonce challenge (`use_dpop_nonce`) once.
    async fn token_request(
        &self,
        resolved: &Resolved,
        form: &[(&str, &str)],
        what: &str,
        dpop: Option<&SigningKey>,
    ) -> Result<TokenResponse, OidcError> {
        let endpoint = resolved.metadata.token_endpoint();
        let mut challenged = false;
        let response = loop {
            let proof = dpop.map(|key| {
                let nonce = lock(&self.token_dpop_nonce).clone();
                dpop::proof(key, "POST", endpoint, nonce.as_deref(), None)
            });
            let headers: Vec<(&'static str, &str)> =
                proof.iter().map(|p| ("DPoP", p.as_str())).collect();
            let response = self
                .post_authenticated_with(
                    resolved,
                    endpoint,
                    form,
                    &headers,
                    Call::new(Endpoint::Token, what),
                )
                .await?;
            if let Some(nonce) = &response.dpop_nonce {
                *lock(&self.token_dpop_nonce) = Some(nonce.clone());
            }
            let retry = dpop.is_some()
                && !challenged
                && response.status == 400
                && response.dpop_nonce.is_some()
                && oauth_error_code(&response.body).as_deref() == Some("use_dpop_nonce");
            if !retry {
                break response;
            }
            challenged = true;
        };
        let tokens = parse_token_response(response, what, self.name(), dpop.is_some());
        if let Err(err) = &tokens {
            self.forget_refused_client(resolved, err).await;
        }
        tokens
    }

    /// Asks for a machine-to-machine access token (RFC 6749 4.4), for `resource` (RFC 8707)
    /// when given, with the client's authentication.
    pub(crate) async fn client_credentials(
        &self,
        resolved: &Resolved,
        scope: &str,
        resource: Option<&str>,
    ) -> Result<TokenResponse, OidcError> {
        // FAPI 2.0 5.3.2.1: every access token sender-constrained. A certificate binds this
        // one (every call presents it); this crate makes no DPoP proofs for machine tokens.
        if let (Some(fapi), None) = (self.config.fapi, &self.config.client.http.identity) {
            return Err(OidcError::configuration(format!(
                "provider {:?}: profile {:?} needs sender-constrained access tokens, and client \
                 credentials tokens are bound here only by mutual TLS: set \
                 oidc.providers.{}.tls_client_certificate and tls_client_key to use them",
                self.name(),
                fapi.name(),
                self.name()
            )));
        }
        let mut form = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", scope));
        }
        if let Some(resource) = resource {
            form.push(("resource", resource));
        }
        let what = format!(
            "client credentials request to {}",
            resolved.metadata.token_endpoint()
        );
        self.token_request(resolved, &form, &what, None).await
    }
}

fn parse_token_response(
    response: HttpResponse,
    what: &str,
    provider: &str,
    dpop: bool,
) -> Result<TokenResponse, OidcError> {
    match response.status {
        200 => {
            let tokens = TokenResponse::from_json(&response.body).map_err(|e| {
                OidcError::bad_provider_response(format!("{what}: not a token response: {e}"))
            })?;
            // RFC 9449 5: a DPoP-bound token is of type DPoP. A Bearer answer to a DPoP
            // request would silently drop the binding the app asked for; a DPoP answer to a
            // plain request binds to a key this client never had.
            let expected = if dpop { "DPoP" } else { "Bearer" };
            if tokens.token_type() != expected {
                let fix = if dpop {
                    format!(
                        "; the provider does not bind tokens to DPoP keys for this client: turn \
                         DPoP on at the provider, or set oidc.providers.{provider}.dpop = false"
                    )
                } else {
                    String::new()
                };
                return Err(OidcError::bad_provider_response(format!(
                    "{what}: token_type {:?} where {expected} was asked for{fix}",
                    sanitize(tokens.token_type(), 32)
                )));
            }
            Ok(tokens)
        }
        400 | 401 => Err(oauth_refusal(&response, what, provider)),
        status => Err(OidcError::bad_provider_response(format!(
            "{what}: status {status}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_may_be_a_number_or_a_numeric_string() {
        let parse = |json: &str| {
            TokenResponse::from_json(json.as_bytes())
                .unwrap()
                .expires_in()
        };
        let base = r#""access_token":"a","token_type":"Bearer""#;
        assert_eq!(
            parse(&format!("{{{base},\"expires_in\":3600}}")),
            Some(3600.0)
        );
        assert_eq!(
            parse(&format!("{{{base},\"expires_in\":\"3600\"}}")),
            Some(3600.0)
        );
        assert_eq!(parse(&format!("{{{base},\"expires_in\":\"soon\"}}")), None);
        assert_eq!(parse(&format!("{{{base}}}")), None);
    }
}
