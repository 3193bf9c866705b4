//! The logout the browser sees: the [`Logout`] guard and responder, the checks that keep
//! other sites from logging users out, the confirmation page, and the return from the
//! provider's end-session page.
//!
//! Cross-site requests cannot log a user out: a `POST` must come from this app's origin, and
//! a cross-site `GET` (`Sec-Fetch-Site: cross-site`, or a foreign `Origin`) only shows a
//! confirmation page whose button posts from the app itself.

use std::sync::Arc;

use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::response::{self, Responder, Response};
use rocket::{Ignite, Request, Rocket, Sentinel};

use super::request_state::RequestState;
use crate::error::{ErrorKind, OidcError};
use crate::flow::logout::{end_sessions, finish_return};
use crate::flow::Oidc;

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
        if site_of(req, oidc) != Site::Same {
            // Only a request that shows it comes from this app's pages logs out.
            let err = cross_site_error();
            return Outcome::Error((err.status(), RequestState::of(req).fail(err)));
        }
        let state = RequestState::of(req);
        match end_sessions(req.cookies(), &state.cookie_queue(), oidc, None).await {
            Ok(location) => Outcome::Success(Logout { location }),
            Err(err) => Outcome::Error((err.status(), state.fail(err))),
        }
    }
}

impl Sentinel for Logout {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        super::sentinel::aborts_without_fairing(rocket, "Logout")
    }
}

impl Logout {
    pub(crate) fn to(location: String) -> Self {
        Logout { location }
    }
}

impl<'r> Responder<'r, 'static> for Logout {
    fn respond_to(self, _req: &'r Request<'_>) -> response::Result<'static> {
        Ok(see_other(self.location))
    }
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
        "a logout must come from this site's own pages",
    )
}

/// Where a request says it comes from (OWASP's CSRF cheat sheet: Fetch Metadata first,
/// then `Origin`, then `Referer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// This app's own pages (or the user typing the URL: `Sec-Fetch-Site: none`).
    Same,
    /// Another site.
    Cross,
    /// The request says nothing (an old browser, a stripped `Referer`, a non-browser client).
    Unknown,
}

/// Where `req` says it comes from.
pub(crate) fn site_of(req: &Request<'_>, oidc: &Oidc) -> Site {
    let headers = req.headers();
    if let Some(site) = headers.get_one("Sec-Fetch-Site") {
        return match site {
            "same-origin" | "none" => Site::Same,
            _ => Site::Cross,
        };
    }
    if let Some(origin) = headers.get_one("Origin") {
        return if origin == oidc.app_origin {
            Site::Same
        } else {
            Site::Cross
        };
    }
    if let Some(referer) = headers.get_one("Referer") {
        let same = url::Url::parse(referer)
            .is_ok_and(|url| url.origin().ascii_serialization() == oidc.app_origin);
        return if same { Site::Same } else { Site::Cross };
    }
    Site::Unknown
}

/// The browser's return from the provider's end-session page.
pub(crate) fn finish(req: &Request<'_>, oidc: &Oidc) -> Response<'static> {
    let state = RequestState::of(req);
    let returned = req
        .query_value::<&str>("state")
        .and_then(Result::ok)
        .unwrap_or_default();
    let provider = finish_return(
        oidc,
        req.cookies(),
        returned,
        &state.cookie_queue(),
        // The route's configured path, never the request's own (`//logout/callback`).
        req.route()
            .map(|route| route.uri.path())
            .unwrap_or(&oidc.config.post_logout_path),
    );
    match provider {
        Some(provider) => {
            log::info!("oidc: logout at provider {provider:?} completed");
            see_other(oidc.config.post_logout_path.clone())
        }
        None => {
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

/// The page a logout that does not show it comes from this app gets: a button that posts
/// from here. `action` is the configured logout path (never the request's own path).
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
