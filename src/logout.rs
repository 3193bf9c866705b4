//! Logout: the local session ends, the tokens are revoked (RFC 7009) where the provider
//! allows it, and the browser goes through the provider's `end_session_endpoint`
//! (OpenID Connect RP-Initiated Logout 1.0) when it has one, coming back to a route of this
//! crate that checks the logout's `state` before landing on `post_logout_path`.
//!
//! Cross-site requests cannot log a user out: a `POST` must come from this app's origin, and
//! a cross-site `GET` (`Sec-Fetch-Site: cross-site`, or a foreign `Origin`) only shows a
//! confirmation page whose button posts from the app itself.

use std::sync::Arc;

use std::time::Duration;

use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::response::{self, Responder, Response};
use rocket::Request;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::client::{ProviderClient, Resolved};
use crate::error::{ErrorKind, OidcError};
use crate::fairing::Oidc;
use crate::flow;
use crate::request_state::RequestState;
use crate::session::SessionData;

/// The cookie that carries a logout's `state` to the return route.
const LOGOUT_COOKIE: &str = "oidc_logout";

/// The most a logout waits for a provider (revocation, discovery), so a provider that is
/// down never holds the user back.
const PROVIDER_WAIT: Duration = Duration::from_secs(3);

/// A finished local logout, answered with a redirect: to the provider's end-session page
/// when it has one, otherwise to `post_logout_path`.
///
/// As a request guard it ends every active session of the request (all providers), after
/// checking that the request is not cross-site (a cross-site request fails with `403`).
/// Return it from your own route to finish with the provider's logout, or return your own
/// page to log out locally only:
///
/// ```no_run
/// # #[macro_use] extern crate rocket;
/// use rocket_oidc_auth::{Logout, OidcFairing};
///
/// // <form method="post" action="/sign-out"><button>Sign out</button></form>
/// #[post("/sign-out")]
/// fn sign_out(logout: Logout) -> Logout {
///     logout
/// }
///
/// #[post("/sign-out-here")]
/// fn sign_out_here(_logout: Logout) -> &'static str {
///     "You are signed out of this app."
/// }
///
/// #[launch]
/// fn rocket() -> _ {
///     rocket::build()
///         .attach(OidcFairing::from_config())
///         .mount("/", routes![sign_out, sign_out_here])
/// }
/// ```
pub struct Logout {
    location: String,
}

impl std::fmt::Debug for Logout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The location carries the ID token (`id_token_hint`).
        f.debug_struct("Logout").finish_non_exhaustive()
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Logout {
    type Error = OidcError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, OidcError> {
        let Some(oidc) = req.rocket().state::<Arc<Oidc>>() else {
            let err = OidcError::new(
                ErrorKind::Configuration,
                Status::InternalServerError,
                "server_error",
                "Logout needs OidcFairing: add .attach(rocket_oidc_auth::OidcFairing::from_config())",
            );
            return Outcome::Error((err.status(), RequestState::of(req).fail(err)));
        };
        if is_cross_site(req, oidc) {
            let err = cross_site_error();
            return Outcome::Error((err.status(), RequestState::of(req).fail(err)));
        }
        Outcome::Success(end_sessions(req, oidc, None).await)
    }
}

impl<'r> Responder<'r, 'static> for Logout {
    fn respond_to(self, _req: &'r Request<'_>) -> response::Result<'static> {
        Ok(see_other(self.location))
    }
}

/// The state of an RP-initiated logout in flight.
#[derive(Serialize, Deserialize)]
struct LogoutState {
    #[serde(rename = "s")]
    state: String,
    #[serde(rename = "p")]
    provider: String,
    #[serde(rename = "t")]
    created_at: i64,
}

pub(crate) fn see_other(location: String) -> Response<'static> {
    Response::build()
        .status(Status::SeeOther)
        .header(Header::new("Location", location))
        .header(Header::new("Cache-Control", "no-store"))
        .finalize()
}

pub(crate) fn cross_site_error() -> OidcError {
    OidcError::new(
        ErrorKind::CrossSiteRequest,
        Status::Forbidden,
        "cross_site_request",
        "a logout must come from this app's own pages, not from another site",
    )
}

/// Whether a browser says the request comes from another site. Requests without these
/// headers (non-browser clients, which hold no victim's cookies) pass.
pub(crate) fn is_cross_site(req: &Request<'_>, oidc: &Oidc) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get_one("Sec-Fetch-Site") {
        if site != "same-origin" && site != "none" {
            return true;
        }
    }
    headers
        .get_one("Origin")
        .is_some_and(|origin| origin != oidc.app_origin)
}

/// Ends the sessions of `only` (or of every provider): removes their cookies, revokes their
/// tokens, and prepares the provider's end-session redirect for the first that has one.
pub(crate) async fn end_sessions(
    req: &Request<'_>,
    oidc: &Oidc,
    only: Option<&ProviderClient>,
) -> Logout {
    let state = RequestState::of(req);
    let mut ended: Vec<(&ProviderClient, Arc<SessionData>)> = Vec::new();
    for client in oidc.providers() {
        if only.is_some_and(|only| only.name() != client.name()) {
            continue;
        }
        let stored =
            oidc.cipher
                .read_session(req.cookies(), &client.session_cookie, &client.sessions);
        if stored.chunks == 0 {
            continue;
        }
        state.set_cookies(
            oidc.cookies
                .remove_session(&client.session_cookie, stored.chunks),
        );
        if let Some(session) = stored.data {
            ended.push((client, session));
        }
    }

    let mut location = None;
    for (client, session) in &ended {
        let Some(resolved) = metadata_within(client, PROVIDER_WAIT).await else {
            log::warn!(
                "oidc: logout: provider {:?} is unreachable; ended the local session only",
                client.name()
            );
            continue;
        };
        // A refresh that ran with this session's refresh token moments ago may have issued
        // (and rotated to) tokens this request does not carry: revoke those too.
        let refreshed = session
            .refresh_token()
            .and_then(|token| client.refresh_flights.take(token));
        if client.config.revoke_tokens_on_logout {
            revoke_tokens(client, &resolved, session).await;
            if let Some(refreshed) = &refreshed {
                revoke_tokens(client, &resolved, refreshed).await;
            }
        }
        if location.is_none() {
            location = end_session_redirect(oidc, client, &resolved, session, state);
        }
        log::info!(
            "oidc: logout: ended the session with provider {:?}",
            client.name()
        );
    }
    Logout {
        location: location.unwrap_or_else(|| oidc.config.post_logout_path.clone()),
    }
}

async fn metadata_within(
    client: &ProviderClient,
    wait: Duration,
) -> Option<std::sync::Arc<Resolved>> {
    if let Some(resolved) = client.cached_metadata() {
        return Some(resolved);
    }
    tokio::time::timeout(wait, client.metadata())
        .await
        .ok()
        .and_then(Result::ok)
}

/// Revokes the refresh token, then the access token; failures are logged, never fatal.
async fn revoke_tokens(client: &ProviderClient, resolved: &Resolved, session: &SessionData) {
    if resolved.metadata.revocation_endpoint.is_none() {
        return;
    }
    let mut tokens = Vec::with_capacity(2);
    if let Some(refresh_token) = session.refresh_token() {
        tokens.push((refresh_token, "refresh_token"));
    }
    tokens.push((session.access_token(), "access_token"));
    for (token, hint) in tokens {
        match tokio::time::timeout(PROVIDER_WAIT, client.revoke(resolved, token, hint)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => log::warn!("oidc: logout: revoking the {hint} failed: {err}"),
            Err(_) => log::warn!("oidc: logout: revoking the {hint} timed out"),
        }
    }
}

/// The provider's end-session URL, with the state cookie queued for the way back.
fn end_session_redirect(
    oidc: &Oidc,
    client: &ProviderClient,
    resolved: &Resolved,
    session: &SessionData,
    state: &RequestState,
) -> Option<String> {
    let endpoint = resolved.metadata.end_session_endpoint.as_deref()?;
    let mut url = url::Url::parse(endpoint).ok()?;
    let logout_state = LogoutState {
        state: flow::random_token(),
        provider: client.name().to_string(),
        created_at: flow::now(),
    };
    url.query_pairs_mut()
        .append_pair("id_token_hint", session.id_token())
        .append_pair("client_id", &client.config.client_id)
        .append_pair(
            "post_logout_redirect_uri",
            &client.config.post_logout_redirect_uri,
        )
        .append_pair("state", &logout_state.state);
    let value = serde_json::to_string(&logout_state).expect("a logout state serializes");
    state.set_cookie(oidc.cookies.sealed(
        &oidc.cipher,
        LOGOUT_COOKIE.into(),
        &value,
        client.config.post_logout_return_path.clone(),
        Some(oidc.config.login_timeout),
    ));
    Some(url.into())
}

/// The browser's return from the provider's end-session page.
pub(crate) fn finish(req: &Request<'_>, oidc: &Oidc) -> Response<'static> {
    let state = RequestState::of(req);
    // Single use, whatever the outcome.
    state.set_cookie(
        oidc.cookies
            .removal(LOGOUT_COOKIE.into(), req.uri().path().to_string()),
    );
    let returned = req
        .query_value::<&str>("state")
        .and_then(Result::ok)
        .unwrap_or_default();
    let expected = req
        .cookies()
        .get(LOGOUT_COOKIE)
        .and_then(|cookie| oidc.cipher.open(LOGOUT_COOKIE, cookie.value()))
        .and_then(|json| serde_json::from_str::<LogoutState>(&json).ok());
    match expected {
        Some(expected)
            if !returned.is_empty()
                && bool::from(expected.state.as_bytes().ct_eq(returned.as_bytes()))
                && flow::now() - expected.created_at <= oidc.config.login_timeout =>
        {
            log::info!("oidc: logout at provider {:?} completed", expected.provider);
            see_other(oidc.config.post_logout_path.clone())
        }
        _ => {
            log::warn!(
                "oidc: logout return with a missing, wrong or replayed state: showing the \
                 logged-out page without redirecting"
            );
            html_page(
                "Logged out",
                &format!(
                    "<p>You are logged out.</p><p><a href=\"{}\">Continue</a></p>",
                    escape(&oidc.config.post_logout_path)
                ),
            )
        }
    }
}

/// The page a cross-site `GET` of the logout route gets: a button that posts from here.
pub(crate) fn confirmation_page(action: &str) -> Response<'static> {
    html_page(
        "Log out?",
        &format!(
            "<p>Do you want to log out?</p>\
             <form method=\"post\" action=\"{}\"><button type=\"submit\">Log out</button></form>",
            escape(action)
        ),
    )
}

fn html_page(title: &str, body: &str) -> Response<'static> {
    let page = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"></head>\
         <body><h1>{title}</h1>{body}</body></html>"
    );
    Response::build()
        .status(Status::Ok)
        .header(ContentType::HTML)
        .header(Header::new("Cache-Control", "no-store"))
        .sized_body(page.len(), std::io::Cursor::new(page))
        .finalize()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
