//! The authorization code flow: starting a login (state, nonce, PKCE in a per-login
//! transaction cookie) and finishing it at the callback.
//!
//! Each login has its own transaction cookie, `oidc_tx_<first 16 characters of state>`,
//! scoped to the callback path, sealed, `HttpOnly`, `SameSite=Lax` and short-lived, so two
//! tabs logging in at once never overwrite each other's state. The callback consumes it
//! whatever the outcome: a replayed callback finds nothing.

use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rocket::http::{Cookie, CookieJar};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{pending, Oidc, ProviderState};
use crate::config::{safe_return_path, ResponseMode};
use crate::error::{sanitize, ErrorKind, OidcError};
use crate::op::client::Resolved;
use crate::op::{LoginCheck, LoginParams};
use crate::protocol::random::{random_token, RANDOM_LEN};
use crate::protocol::time::{expires_at, now};
use crate::session::{stored_chunks, CookieQueue, NewSession, SessionData};
use crate::signing::SigningKey;

const TX_COOKIE_PREFIX: &str = "oidc_tx_";
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
struct Transaction {
    #[serde(rename = "p")]
    provider: String,
    #[serde(rename = "s")]
    state: String,
    #[serde(rename = "n")]
    nonce: String,
    #[serde(rename = "v")]
    code_verifier: String,
    #[serde(rename = "r")]
    return_to: String,
    #[serde(rename = "t")]
    created_at: i64,
    /// A silent re-authentication (`prompt=none`): falls back to an interactive login.
    #[serde(rename = "q", default, skip_serializing_if = "std::ops::Not::not")]
    silent: bool,
    /// `acr_values` a route asked for (else the configured ones apply).
    #[serde(rename = "a", default, skip_serializing_if = "Vec::is_empty")]
    acr_values: Vec<String>,
    /// `max_age` a route asked for (else the configured one applies).
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    max_age: Option<i64>,
}

/// Errors of a `prompt=none` request that mean "the user must interact" (Core 3.1.2.6).
const INTERACTION_NEEDED: &[&str] = &[
    "login_required",
    "interaction_required",
    "consent_required",
    "account_selection_required",
];

fn tx_cookie_name(state: &str) -> String {
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
        .await?;
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
    if client.config.response_mode == ResponseMode::FormPost {
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

/// The parameters of an authorization response; each may appear once.
#[derive(Default)]
pub(crate) struct CallbackParams {
    state: Option<String>,
    code: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl CallbackParams {
    pub(crate) fn parse(query: &str) -> Result<Self, OidcError> {
        let mut params = CallbackParams::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match &*name {
                "state" => &mut params.state,
                "code" => &mut params.code,
                "iss" => &mut params.iss,
                "error" => &mut params.error,
                "error_description" => &mut params.error_description,
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(OidcError::invalid_callback(
                    "invalid_request",
                    format!("the callback repeats the {name} parameter"),
                ));
            }
        }
        Ok(params)
    }
}

/// Finishes a login at the callback: on success the session cookie is queued on the
/// response and the location to send the browser to is given back (the path first asked
/// for, or the provider again when a silent re-authentication needs the user).
///
/// `query` is the callback's query string, `jar` the request's cookies; every cookie the
/// callback writes (also on failure: the transaction is consumed) goes to `out`.
pub(crate) async fn finish_login(
    oidc: &Oidc,
    query: &str,
    jar: &CookieJar<'_>,
    out: &CookieQueue,
    caller: Option<IpAddr>,
) -> Result<String, OidcError> {
    let params = CallbackParams::parse(query)?;
    let Some(state) = params.state.as_deref() else {
        return Err(OidcError::invalid_callback(
            "invalid_request",
            "the callback has no state parameter: it did not come from a login this app started",
        ));
    };
    let well_formed = state.len() == RANDOM_LEN
        && state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(OidcError::invalid_callback(
            "invalid_state",
            "the callback's state was not issued by this app",
        ));
    }

    let name = oidc.cookies.name(&tx_cookie_name(state));
    let outcome = finish(oidc, &params, state, &name, jar, out, caller).await;
    // Single use: the transaction cookie is deleted whatever happened, but when the bound
    // on code exchanges refused before the provider was asked: the code is unspent, and the
    // same callback may be loaded again after `Retry-After`.
    if !matches!(&outcome, Err(err) if err.kind() == ErrorKind::RateLimited) {
        out.extend(pending::finished(oidc, jar, name));
    }
    outcome
}

/// [`finish_login`] past the checks of its query: the transaction `name`, its provider, the
/// code exchange and the session.
async fn finish(
    oidc: &Oidc,
    params: &CallbackParams,
    state: &str,
    name: &str,
    jar: &CookieJar<'_>,
    out: &CookieQueue,
    caller: Option<IpAddr>,
) -> Result<String, OidcError> {
    let transaction = jar
        .get(name)
        .and_then(|cookie| oidc.cipher.open(name, cookie.value()))
        .and_then(|json| serde_json::from_str::<Transaction>(&json).ok())
        .ok_or_else(|| {
            OidcError::invalid_callback(
                "invalid_state",
                "this login could not be matched to this browser (it was finished already, or \
                 started on another address of this site); start it again",
            )
            .with_log_detail(
                "no login is in progress for this state: the callback was replayed or forged, \
                 or the browser did not send the login's cookie; the usual cause is a login \
                 started on another host name or scheme than oidc.redirect_uri's (localhost \
                 against 127.0.0.1, http against https)",
            )
        })?;
    if !bool::from(transaction.state.as_bytes().ct_eq(state.as_bytes())) {
        return Err(OidcError::invalid_callback(
            "invalid_state",
            "the callback's state does not match the login's",
        ));
    }
    let now = now();
    if now.saturating_sub(transaction.created_at) > oidc.config.login_timeout {
        return Err(OidcError::invalid_callback(
            "invalid_state",
            "the login took too long; start it again",
        )
        .with_log_detail("older than oidc.login_timeout"));
    }
    // A login came back: a later re-authentication may be silent again.
    out.push(oidc.cookies.removal(
        silent_attempt_cookie(oidc, &transaction.provider),
        "/".into(),
    ));
    let client = oidc.provider(&transaction.provider).ok_or_else(|| {
        OidcError::invalid_callback(
            "invalid_state",
            "the login was started for a provider that is no longer configured",
        )
    })?;
    let resolved = client.metadata().await?;

    // RFC 9207: the response must come from the provider the login was sent to.
    match params.iss.as_deref() {
        Some(iss) if iss == resolved.metadata.issuer() => {}
        Some(iss) => {
            return Err(OidcError::new(
                ErrorKind::IssuerMismatch,
                rocket::http::Status::BadRequest,
                "invalid_issuer",
                format!(
                    "the callback's iss {:?} is not provider {:?}'s issuer (mix-up attack?)",
                    sanitize(iss, 200),
                    client.name()
                ),
            ))
        }
        None if resolved
            .metadata
            .authorization_response_iss_parameter_supported() =>
        {
            return Err(OidcError::new(
                ErrorKind::IssuerMismatch,
                rocket::http::Status::BadRequest,
                "invalid_issuer",
                format!(
                    "the callback has no iss although provider {:?} advertises \
                     authorization_response_iss_parameter_supported{}",
                    client.name(),
                    // Some providers leave iss out of error redirects: say what they said.
                    params
                        .error
                        .as_deref()
                        .map_or(String::new(), |error| format!(
                            "; the provider's own answer was error={:?}{}",
                            sanitize(error, 64),
                            params
                                .error_description
                                .as_deref()
                                .map_or(String::new(), |d| format!(" ({:?})", sanitize(d, 200)))
                        ))
                ),
            ));
        }
        None => {}
    }
    if let Some(error) = params.error.as_deref() {
        if transaction.silent && INTERACTION_NEEDED.contains(&error) {
            // The provider's session is gone: end ours and log in interactively.
            log::info!(
                "oidc: silent re-authentication with provider {:?} answered {error}; \
                 falling back to an interactive login",
                client.name()
            );
            out.extend(oidc.cookies.remove_session(
                &client.session_cookie,
                stored_chunks(jar, &client.session_cookie),
            ));
            let params = LoginParams::default();
            let login = start_login(
                oidc,
                client,
                &resolved,
                &transaction.return_to,
                false,
                &params,
                caller,
            )
            .await?;
            out.extend(login.transaction_cookie.into_iter().collect());
            return Ok(login.location);
        }
        return Err(OidcError::from_provider(
            error,
            params.error_description.as_deref(),
        ));
    }
    let Some(code) = params.code.as_deref() else {
        return Err(OidcError::invalid_callback(
            "invalid_request",
            "the callback has neither code nor error",
        ));
    };

    // RFC 9449: a key of this session's own, to which the provider binds its tokens.
    let dpop_key = match client.config.client.dpop {
        Some(alg) => Some(
            SigningKey::generate(alg)
                .map_err(|e| OidcError::configuration(format!("cannot make a DPoP key: {e}")))?,
        ),
        None => None,
    };
    let tokens = client
        .exchange_code(
            &resolved,
            code,
            &transaction.code_verifier,
            dpop_key.as_ref(),
            caller,
        )
        .await?;
    let Some(id_token) = tokens.id_token() else {
        return Err(OidcError::bad_provider_response(format!(
            "provider {:?} returned no ID token: is \"openid\" in its scope?",
            client.name()
        )));
    };
    let valid = client
        .validate_id_token(
            &resolved,
            id_token,
            Some(LoginCheck {
                nonce: &transaction.nonce,
                max_age: transaction.max_age.or(client.config.max_age),
                acr_values: if transaction.acr_values.is_empty() {
                    &client.config.acr_values
                } else {
                    &transaction.acr_values
                },
            }),
            Some(tokens.access_token()),
        )
        .await?;
    let userinfo = client
        .userinfo(
            &resolved,
            tokens.access_token(),
            &valid.subject,
            dpop_key.as_ref(),
        )
        .await?;
    let dpop_key = dpop_key
        .as_ref()
        .and_then(|key| key.pkcs8())
        .map(crate::signing::b64);
    let expires_at = expires_at(tokens.expires_in(), now);
    let id = random_token();
    let session = SessionData::new(NewSession {
        id: &id,
        sid: valid.sid.as_deref(),
        last_seen: now,
        subject: &valid.subject,
        access_token: tokens.access_token(),
        access_token_expires_at: expires_at,
        refresh_token: tokens.refresh_token(),
        id_token,
        userinfo: userinfo.as_deref(),
        authenticated_at: now,
        dpop_key: dpop_key.as_deref(),
    });
    // A fresh session, with a new id, replaces whatever the browser held before (no
    // fixation).
    super::lifecycle::save_new(oidc, client, &session, jar, out).await?;
    log::info!("oidc: login with provider {:?} succeeded", client.name());
    Ok(safe_return_path(&transaction.return_to).to_string())
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

    #[test]
    fn repeated_callback_parameters_are_refused() {
        assert!(CallbackParams::parse("state=a&state=b").is_err());
        let params = CallbackParams::parse("state=a&code=c%2Bd&other=1").unwrap();
        assert_eq!(params.code.as_deref(), Some("c+d"));
    }
}
