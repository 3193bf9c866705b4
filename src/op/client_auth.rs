//! Client authentication at the provider's endpoints (RFC 6749 2.3, Core 9):
//! `client_secret_basic`, `client_secret_post`, and the JWT assertions of
//! `client_secret_jwt` and `private_key_jwt` (RFC 7523). The assertions are the crate's own
//! because openidconnect makes none: its token requests take a secret, not a signed JWT.

use super::client::{ProviderClient, Resolved};
use crate::config::{AssertionAudience, ClientAuth};
use crate::error::OidcError;
use crate::protocol::http::{Auth, Body, Call, HttpResponse};
use crate::protocol::time::now;
use crate::signing;

/// Client assertions expire this many seconds after they are made.
const ASSERTION_LIFETIME: i64 = 60;

impl ProviderClient {
    /// POSTs `fields` to one of the provider's endpoints with the client's authentication.
    pub(super) async fn post_authenticated(
        &self,
        resolved: &Resolved,
        endpoint: &str,
        fields: &[(&str, &str)],
        call: Call<'_>,
    ) -> Result<HttpResponse, OidcError> {
        self.post_authenticated_with(resolved, endpoint, fields, &[], call)
            .await
    }

    /// [`Self::post_authenticated`] with extra headers (a DPoP proof).
    pub(super) async fn post_authenticated_with(
        &self,
        resolved: &Resolved,
        endpoint: &str,
        fields: &[(&str, &str)],
        headers: &[(&'static str, &str)],
        call: Call<'_>,
    ) -> Result<HttpResponse, OidcError> {
        let client_id = resolved.client_id();
        let secret = resolved.client_secret();
        let mut form = fields.to_vec();
        // RFC 9126 2.1: a pushed request carries client_id itself, whatever the
        // authentication; every other request gets it from here (once).
        let has_client_id = form.iter().any(|(name, _)| *name == "client_id");
        let basic = matches!(
            (self.config.client.client_auth, secret),
            (ClientAuth::Basic, Some(_))
        );
        if !basic && !has_client_id {
            form.push(("client_id", client_id));
        }
        let assertion;
        let auth = match (self.config.client.client_auth, secret) {
            (ClientAuth::Basic, Some(secret)) => Auth::Basic {
                user: client_id,
                password: secret,
            },
            (ClientAuth::Post, Some(secret)) => {
                form.push(("client_secret", secret));
                Auth::None
            }
            (ClientAuth::SecretJwt(_) | ClientAuth::PrivateKeyJwt, _) => {
                assertion = self.client_assertion(resolved, endpoint, client_id, secret)?;
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ));
                form.push(("client_assertion", &assertion));
                Auth::None
            }
            _ => Auth::None,
        };
        self.http
            .send_with(
                reqwest::Method::POST,
                endpoint,
                auth,
                Body::Form(&form),
                headers,
                call,
            )
            .await
    }

    /// A client assertion (RFC 7523 2.2, Core 9): `iss` = `sub` = client_id, `aud` = the
    /// issuer (or the token endpoint, or `endpoint`, where it is sent), a fresh `jti`, valid
    /// for a minute.
    fn client_assertion(
        &self,
        resolved: &Resolved,
        endpoint: &str,
        client_id: &str,
        secret: Option<&str>,
    ) -> Result<String, OidcError> {
        let audience = match self.config.client.assertion_audience {
            AssertionAudience::Issuer => resolved.metadata.issuer(),
            AssertionAudience::TokenEndpoint => resolved.metadata.token_endpoint(),
            AssertionAudience::Endpoint => endpoint,
        };
        let now = now();
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": crate::protocol::random::random_token(),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let signed = match (
            self.config.client.client_auth,
            &self.config.client.private_key,
        ) {
            (ClientAuth::SecretJwt(alg), _) => {
                secret.and_then(|secret| signing::sign_hmac(secret, alg, &claims))
            }
            (ClientAuth::PrivateKeyJwt, Some(key)) => Some(key.sign(Default::default(), &claims)),
            _ => None,
        };
        signed.ok_or_else(|| {
            OidcError::configuration(format!(
                "provider {:?}: no key to sign a client assertion with (check \
                 oidc.providers.{}.token_endpoint_auth_method and private_key)",
                self.name(),
                self.name()
            ))
        })
    }
}
