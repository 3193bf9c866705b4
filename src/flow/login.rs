//! Starting a login: state, nonce, PKCE in a per-login transaction cookie, and the redirect
//! to the provider (`callback` finishes it).
//!
//! Each login has its own transaction cookie, `oidc_tx_<first 16 characters of state>`,
//! scoped to the callback path, sealed, `HttpOnly`, `SameSite=Lax` and short-lived, so two
//! tabs logging in at once never overwrite each other's state. The callback consumes it
//! whatever the outcome: a replayed callback finds nothing.

use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rocket::http::Cookie;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use super::{Oidc, ProviderState};
use crate::config::{safe_return_path, ResponseMode};
use crate::error::OidcError;
use crate::op::client::Resolved;
use crate::op::LoginParams;
use crate::protocol::random::random_token;
use crate::protocol::time::now;

pub(super) const TX_COOKIE_PREFIX: &str = "oidc_tx_";
const TX_NAME_LEN: usize = 16;

/// A login redirect prepared by the guard, applied when the response ends up a 401.
pub(crate) struct PendingLogin {
    pub(crate) location: String,
    /// None for a redirect to the app's own origin first (see `other_host_redirect`).
    pub(crate) transaction_cookie: Option<Cookie<'static>>,
    /// Cookies that go with the redirect only (the list of pending logins, the silent
    /// attempt's marker): a route that answers anyway (`Option<Authenticated<P>>`) must
    /// not touch the browser's logins.
    pub(crate) other_cookies: Vec<Cookie<'static>>,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin").finish_non_exhaustive()
    }
}

/// How the browser reached the app, as far as the request says: its `Host` header and,
/// behind a trusted proxy, `X-Forwarded-Proto` / `X-Forwarded-Host`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestOrigin<'a> {
    pub(crate) host: Option<&'a str>,
    pub(crate) forwarded_proto: Option<&'a str>,
    pub(crate) forwarded_host: Option<&'a str>,
}

/// Where to send a browser that asks for `path_and_query` before a login starts, when it
/// reached the app under another origin than `redirect_uri`'s: the login's cookie must land
/// on the host the callback is on, or the callback cannot find it.
///
/// Without `trust_forwarded_headers`, only another loopback name on the same port is
/// recognized (`localhost` against `127.0.0.1`): behind a proxy `Host` may name the app's
/// internal address. With it, `X-Forwarded-Proto` and `X-Forwarded-Host` (their right-most
/// values, the proxy's own) are compared when present (http against https too). The target
/// is always `redirect_uri`'s origin, never the request's.
pub(crate) fn other_host_redirect(
    oidc: &Oidc,
    origin: RequestOrigin<'_>,
    path_and_query: &str,
) -> Option<String> {
    let redirect_uri = &oidc.config.redirect_uri;
    let expected_host = redirect_uri.host_str()?;
    let expected_port = redirect_uri.port_or_known_default()?;
    let target = || format!("{}{}", oidc.app_origin, safe_return_path(path_and_query));
    // A proxy appends its own value: the right-most one is the proxy's, not the client's.
    let last = |list: &str| {
        list.rsplit(',')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    if oidc.config.trust_forwarded_headers {
        // Only what the proxy says is compared: a missing header is no difference (the
        // internal `Host` behind a proxy never is), nor is a host without a port.
        let scheme_differs = origin
            .forwarded_proto
            .map(last)
            .is_some_and(|scheme| !scheme.eq_ignore_ascii_case(redirect_uri.scheme()));
        let host_differs = match origin.forwarded_host.map(last) {
            Some(host) => {
                let (name, port) = split_host(&host)?;
                !name.eq_ignore_ascii_case(expected_host)
                    || port.is_some_and(|port| port != expected_port)
            }
            None => false,
        };
        return (scheme_differs || host_differs).then(target);
    }
    let (name, port) = split_host(origin.host?)?;
    let port = port.unwrap_or(expected_port);
    let loopback = |name: &str| matches!(name, "localhost" | "127.0.0.1" | "[::1]" | "::1");
    let differs = !name.eq_ignore_ascii_case(expected_host);
    (differs && port == expected_port && loopback(name) && loopback(expected_host)).then(target)
}

/// A `Host` header's name and port.
fn split_host(host: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = host.strip_prefix('[') {
        let (name, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return Some((&host[..name.len() + 2], port));
    }
    match host.rsplit_once(':') {
        Some((name, port)) => Some((name, Some(port.parse().ok()?))),
        None => Some((host, None)),
    }
}

/// What the callback needs to finish one login.
#[derive(Serialize, Deserialize)]
pub(super) struct Transaction {
    #[serde(rename = "p")]
    pub(super) provider: String,
    #[serde(rename = "s")]
    pub(super) state: String,
    #[serde(rename = "n")]
    pub(super) nonce: String,
    #[serde(rename = "v")]
    pub(super) code_verifier: String,
    #[serde(rename = "r")]
    pub(super) return_to: String,
    #[serde(rename = "t")]
    pub(super) created_at: i64,
    /// A silent re-authentication (`prompt=none`): falls back to an interactive login.
    #[serde(rename = "q", default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) silent: bool,
    /// `acr_values` a route asked for (else the configured ones apply).
    #[serde(rename = "a", default, skip_serializing_if = "Vec::is_empty")]
    pub(super) acr_values: Vec<String>,
    /// `max_age` a route asked for (else the configured one applies).
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub(super) max_age: Option<i64>,
}

pub(super) fn tx_cookie_name(state: &str) -> String {
    format!("{TX_COOKIE_PREFIX}{}", &state[..TX_NAME_LEN])
}

/// Prepares the redirect to the provider and the transaction cookie for it (pushing the
/// request to the provider first when it uses PAR).
pub(crate) async fn start_login(
    oidc: &Oidc,
    client: &ProviderState,
    resolved: &Resolved,
    return_to: &str,
    silent: bool,
    params: &LoginParams,
    caller: Option<IpAddr>,
) -> Result<PendingLogin, OidcError> {
    let state = random_token();
    let nonce = random_token();
    let code_verifier = random_token();
    let code_challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
    let span = tracing::info_span!("oidc.login", provider = client.name(), silent);
    let location = client
        .authorization_url(
            resolved,
            &state,
            &nonce,
            &code_challenge,
            silent,
            params,
            caller,
        )
        .instrument(span)
        .await?;
    crate::telemetry::login_started(client.name());
    let transaction = Transaction {
        provider: client.name().to_string(),
        nonce,
        code_verifier,
        return_to: safe_return_path(return_to).to_string(),
        created_at: now(),
        state,
        silent,
        acr_values: params.acr_values.clone(),
        max_age: params.max_age,
    };
    let value = serde_json::to_string(&transaction).expect("a transaction always serializes");
    let mut transaction_cookie = oidc.cookies.sealed(
        &oidc.cipher,
        oidc.cookies.name(&tx_cookie_name(&transaction.state)),
        &value,
        oidc.cookies.path_for(&oidc.config.callback_path),
        Some(oidc.config.login_timeout),
    );
    let config = &client.config;
    if config.response_mode.carrier(config.response_type) == ResponseMode::FormPost {
        // The provider's page posts the answer from its own site: a Lax cookie would stay
        // behind, and the login could not be finished. None needs Secure; browsers take a
        // Secure cookie over plain http on loopback hosts (the configuration allows no
        // other http origin with form_post).
        transaction_cookie.set_same_site(rocket::http::SameSite::None);
        transaction_cookie.set_secure(true);
    }
    Ok(PendingLogin {
        location,
        transaction_cookie: Some(transaction_cookie),
        other_cookies: Vec::new(),
    })
}

/// The cookie that remembers, for a short while, that a silent re-authentication with
/// `provider` was sent: if the browser comes back without finishing it, the next login is
/// interactive (the provider could not do `prompt=none`).
pub(crate) fn silent_attempt_cookie(oidc: &Oidc, provider: &str) -> String {
    oidc.cookies.name(&format!("oidc_silent_{provider}"))
}

/// How long a silent attempt counts as one that did not come back, once it is this old.
const SILENT_ATTEMPT_FOR: i64 = 120;

/// The marker cookie for a silent re-authentication with `provider` starting now.
pub(crate) fn silent_attempt_marker(oidc: &Oidc, provider: &str) -> Cookie<'static> {
    let name = silent_attempt_cookie(oidc, provider);
    oidc.cookies.sealed(
        &oidc.cipher,
        name,
        "1",
        "/".into(),
        Some(SILENT_ATTEMPT_FOR.min(oidc.config.login_timeout)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_headers_split_into_name_and_port() {
        assert_eq!(
            split_host("localhost:8000"),
            Some(("localhost", Some(8000)))
        );
        assert_eq!(split_host("127.0.0.1"), Some(("127.0.0.1", None)));
        assert_eq!(split_host("[::1]:8000"), Some(("[::1]", Some(8000))));
        assert_eq!(split_host("host:nope"), None);
    }
}
