//! What the guard and the routes leave on a request for the fairing's response hook.
//!
//! Rocket drops cookies set by a failing route or guard (`reset_delta` before a catcher runs),
//! yet a login redirect must set its transaction cookie and a rejected callback must still
//! consume its transaction. So everything this crate writes to a response goes through here
//! and is applied in `on_response`, whatever the outcome and whatever the app's catcher did.

use std::sync::OnceLock;

use std::sync::Arc;

use rocket::http::Cookie;
use rocket::Request;

use crate::error::OidcError;
use crate::flow::{self, Oidc, PendingLogin, ProviderState};
use crate::provider::Provider;
use crate::session::CookieQueue;
use crate::telemetry::trace::TraceParent;

/// Per-request scratch space; one allocation per request at most.
#[derive(Debug, Default)]
pub(crate) struct RequestState {
    error: OnceLock<OidcError>,
    login: OnceLock<PendingLogin>,
    challenge: OnceLock<String>,
    cookies: CookieQueue,
    /// A guard let a logged-in user through: the response is personal.
    personal: OnceLock<()>,
    /// The form body carries an `access_token` (RFC 6750 2.2), which API guards refuse.
    body_token: OnceLock<()>,
}

impl RequestState {
    pub(crate) fn of<'r>(req: &'r Request<'_>) -> &'r RequestState {
        req.local_cache(RequestState::default)
    }

    /// Records `err` for the catcher (the first error of a request wins), logs it, and
    /// hands it back for the `Outcome`.
    pub(crate) fn fail(&self, err: OidcError) -> OidcError {
        err.log();
        let _ = self.error.set(err.clone());
        err
    }

    /// Records `err` for the catcher without logging it: an expected outcome, such as a
    /// login redirect.
    pub(crate) fn record(&self, err: OidcError) -> OidcError {
        log::debug!("oidc: {err}");
        let _ = self.error.set(err.clone());
        err
    }

    pub(crate) fn error(&self) -> Option<&OidcError> {
        self.error.get()
    }

    pub(crate) fn set_login(&self, login: PendingLogin) {
        let _ = self.login.set(login);
    }

    pub(crate) fn login(&self) -> Option<&PendingLogin> {
        self.login.get()
    }

    /// A `WWW-Authenticate` challenge for a 401 answered to a non-browser client.
    pub(crate) fn set_challenge(&self, challenge: String) {
        let _ = self.challenge.set(challenge);
    }

    pub(crate) fn challenge(&self) -> Option<&str> {
        self.challenge.get().map(String::as_str)
    }

    /// Marks the response as showing a user's data, so no cache keeps it (a Back button
    /// after logout must not show the previous user's page).
    pub(crate) fn mark_personal(&self) {
        let _ = self.personal.set(());
    }

    pub(crate) fn is_personal(&self) -> bool {
        self.personal.get().is_some()
    }

    pub(crate) fn set_body_token(&self) {
        let _ = self.body_token.set(());
    }

    pub(crate) fn body_token(&self) -> bool {
        self.body_token.get().is_some()
    }

    pub(crate) fn cookie_queue(&self) -> CookieQueue {
        self.cookies.clone()
    }

    /// The queued cookies; a later cookie of the same name and path replaces an earlier one.
    pub(crate) fn take_cookies(&self) -> Vec<Cookie<'static>> {
        let mut cookies = self.cookies.take();
        if cookies.len() < 2 {
            return cookies;
        }
        let mut seen = std::collections::HashSet::new();
        cookies.reverse();
        cookies.retain(|c| seen.insert((c.name().to_string(), c.path().map(str::to_string))));
        cookies.reverse();
        cookies
    }
}

/// The shared state and provider `P` for a guard of the request, or the configuration
/// error that says what is missing (`guard` names the guard in the log line).
pub(crate) fn provider_of<'r, P: Provider>(
    req: &'r Request<'_>,
    guard: &str,
) -> Result<(&'r Arc<Oidc>, &'r Arc<ProviderState>), OidcError> {
    let oidc = req.rocket().state::<Arc<Oidc>>().ok_or_else(|| {
        OidcError::configuration(format!(
            "{guard}<{}> needs OidcFairing: add \
             .attach(rocket_oidc_auth::OidcFairing::from_config())",
            P::NAME
        ))
    })?;
    let client = oidc.provider(P::NAME).ok_or_else(|| {
        OidcError::configuration(format!(
            "{guard}<{}>: no provider {:?} in the configuration (add a \
             [default.oidc.providers.{}] table)",
            P::NAME,
            P::NAME,
            P::NAME
        ))
    })?;
    Ok((oidc, client))
}

/// Where to send a browser that reached this app by another name than `redirect_uri`'s
/// (`localhost` against `127.0.0.1`, or a proxy's forwarded host), so that a login's
/// cookie lands where the callback looks for it.
pub(crate) fn other_host_of(req: &Request<'_>, oidc: &Oidc) -> Option<String> {
    let headers = req.headers();
    let origin = flow::login::RequestOrigin {
        host: headers.get_one("Host"),
        forwarded_proto: headers.get_one("X-Forwarded-Proto"),
        forwarded_host: headers.get_one("X-Forwarded-Host"),
    };
    flow::login::other_host_redirect(oidc, origin, &req.uri().to_string())
}

impl OidcError {
    /// The error stored on this request by the guard or the callback, if any.
    ///
    /// Call it from a catcher: it returns `None` when the failure had nothing to do with
    /// OpenID Connect (a 404, another guard).
    pub fn of<'r>(req: &'r Request<'_>) -> Option<&'r OidcError> {
        RequestState::of(req).error()
    }
}

/// The request's W3C `traceparent`, when the app propagates them to its provider calls
/// (`propagate_traceparent`).
pub(crate) fn traceparent_of(req: &Request<'_>, oidc: &Oidc) -> Option<TraceParent> {
    if !oidc.config.propagate_traceparent {
        return None;
    }
    req.headers()
        .get_one("traceparent")
        .and_then(TraceParent::parse)
}
