//! The authorization request (Core 3.1.2.1), the crate's own because openidconnect has no
//! pushed authorization requests (RFC 9126) and its `AuthorizationRequest` needs a `Client`
//! with its own HTTP: the URL that sends the browser to the provider, with the route's
//! [`LoginParams`], pushed first when logins use PAR.

use std::net::IpAddr;

use serde::Deserialize;

use super::client::{oauth_refusal, ProviderClient, Resolved};
use super::request_object;
use crate::error::OidcError;
use crate::protocol::http::Call;
use crate::telemetry::Endpoint;

/// What one login asks of the provider beyond the configuration: set by a route through
/// [`Login`](crate::Login). State, nonce, PKCE, `client_id`, `redirect_uri` and
/// `response_type` are not among them: nothing overrides those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LoginParams {
    pub(crate) prompt: Option<String>,
    pub(crate) login_hint: Option<String>,
    pub(crate) ui_locales: Option<String>,
    /// Scopes besides the configured ones.
    pub(crate) extra_scopes: Vec<String>,
    /// Replaces the configured `acr_values`; the ID token's `acr` must be one of them.
    pub(crate) acr_values: Vec<String>,
    /// Replaces the configured `max_age`; makes `auth_time` mandatory.
    pub(crate) max_age: Option<i64>,
}

impl ProviderClient {
    /// Whether logins push their parameters first (RFC 9126): configured, or required by
    /// the provider or the registered client.
    pub(crate) fn uses_par(&self, resolved: &Resolved) -> bool {
        self.config.client.use_par
            || resolved.metadata.require_pushed_authorization_requests()
            || resolved.credentials.require_par
    }

    /// The URL that sends the browser to the provider (Core 3.1.2.1) with PKCE S256: the
    /// whole request in the query, or with PAR only `client_id` and the `request_uri` the
    /// provider gave for the pushed parameters.
    #[allow(
        clippy::too_many_arguments,
        reason = "one authorization request's whole context"
    )]
    pub(crate) async fn authorization_url(
        &self,
        resolved: &Resolved,
        state: &str,
        nonce: &str,
        code_challenge: &str,
        silent: bool,
        login: &LoginParams,
        caller: Option<IpAddr>,
    ) -> Result<String, OidcError> {
        let mut scope = self.config.scope.clone();
        for extra in &login.extra_scopes {
            if !scope.split(' ').any(|s| s == extra) {
                scope.push(' ');
                scope.push_str(extra);
            }
        }
        let acr_values = login.acr_values.join(" ");
        let max_age = login.max_age.map(|m| m.to_string());
        // The route's choices replace the configured ones of the same name.
        let chosen: Vec<(&str, &str)> = [
            ("prompt", login.prompt.as_deref()),
            ("login_hint", login.login_hint.as_deref()),
            ("ui_locales", login.ui_locales.as_deref()),
            (
                "acr_values",
                (!acr_values.is_empty()).then_some(acr_values.as_str()),
            ),
            ("max_age", max_age.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect();
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", self.config.response_type.as_str()),
            ("client_id", resolved.client_id()),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &scope),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ];
        for (name, value) in &self.config.auth_request_params {
            let replaced = chosen.iter().any(|(chosen, _)| chosen == name);
            if !(replaced || silent && name == "prompt") {
                params.push((name, value));
            }
        }
        params.extend(chosen.iter().copied());
        if silent {
            params.push(("prompt", "none"));
        }
        // Each response type has its default mode (query for a code, fragment with
        // tokens): only another one is asked for.
        if let Some(mode) = self
            .config
            .response_mode
            .parameter(self.config.response_type)
        {
            params.push(("response_mode", mode));
        }
        let mut url = url::Url::parse(resolved.metadata.authorization_endpoint())
            .expect("authorization_endpoint was checked when the metadata was loaded");
        // RFC 9101: the parameters inside a signed request object, with the few OAuth 2.0
        // needs beside it (pushed, or in the URL).
        let request = self.request_object(resolved, &params)?;
        let sent: Vec<(String, String)> = match &request {
            Some(jwt) => request_object::beside(&params)
                .chain([("request".to_string(), jwt.clone())])
                .collect(),
            None => params
                .iter()
                .map(|(name, value)| ((*name).to_string(), (*value).to_string()))
                .collect(),
        };
        let sent: Vec<(&str, &str)> = sent.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        if self.uses_par(resolved) {
            let request_uri = self
                .push_authorization_request(resolved, &sent, caller)
                .await?;
            url.query_pairs_mut()
                .append_pair("client_id", resolved.client_id())
                .append_pair("request_uri", &request_uri);
        } else {
            url.query_pairs_mut().extend_pairs(sent);
        }
        Ok(url.into())
    }

    /// Pushes an authorization request (RFC 9126 2) with the client's authentication;
    /// returns its `request_uri`.
    async fn push_authorization_request(
        &self,
        resolved: &Resolved,
        params: &[(&str, &str)],
        caller: Option<IpAddr>,
    ) -> Result<String, OidcError> {
        let Some(endpoint) = resolved.metadata.pushed_authorization_request_endpoint() else {
            return Err(OidcError::configuration(format!(
                "provider {:?} has no pushed_authorization_request_endpoint, but logins must \
                 use PAR (oidc.providers.{}.use_par, or the provider requires it)",
                self.name(),
                self.name()
            )));
        };
        // Every anonymous visit of a guarded page pushes: bounded.
        let _permit = self.authorization_calls.take(self.name(), caller)?;
        let what = format!("pushed authorization request to {endpoint}");
        let response = self
            .post_authenticated(resolved, endpoint, params, Call::new(Endpoint::Par, &what))
            .await?;
        #[derive(Deserialize)]
        struct Pushed {
            request_uri: String,
        }
        match response.status {
            // RFC 9126 2.2 says 201; a 200 with the same body is taken (the provider's duty).
            200 | 201 => serde_json::from_slice::<Pushed>(&response.body)
                .ok()
                .filter(|pushed| !pushed.request_uri.is_empty())
                .map(|pushed| pushed.request_uri)
                .ok_or_else(|| {
                    OidcError::bad_provider_response(format!(
                        "{what}: the answer has no request_uri"
                    ))
                }),
            400 | 401 => {
                let err = oauth_refusal(&response, &what, self.name());
                self.forget_refused_client(resolved, &err).await;
                Err(err)
            }
            status => Err(OidcError::bad_provider_response(format!(
                "{what}: status {status}"
            ))),
        }
    }
}
