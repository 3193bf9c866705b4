//! The routes the fairing mounts: the callback at the path of `redirect_uri`, the logout
//! route, and the return from the provider's end-session page.

use std::sync::Arc;

use rocket::http::{Method, Status};
use rocket::route::{Handler, Outcome, Route};
use rocket::{Data, Request};

use super::logout::{self, see_other, Logout};
use super::request_state::RequestState;
use crate::error::{ErrorKind, OidcError};
use crate::flow::{self, Oidc};

/// The routes for `oidc`'s configuration.
pub(crate) fn routes(
    callback_path: &str,
    logout_path: &str,
    logout_return_paths: &[&str],
) -> Vec<Route> {
    let mut routes = vec![
        named(Method::Get, callback_path, Callback, "oidc_callback"),
        named(Method::Get, logout_path, LogoutRoute, "oidc_logout"),
        named(Method::Post, logout_path, LogoutRoute, "oidc_logout"),
    ];
    for path in logout_return_paths {
        routes.push(named(Method::Get, path, LogoutReturn, "oidc_logout_return"));
    }
    routes
}

fn named<H: Handler>(method: Method, path: &str, handler: H, name: &'static str) -> Route {
    let mut route = Route::new(method, path, handler);
    route.name = Some(name.into());
    route
}

fn oidc<'r>(req: &'r Request<'_>) -> &'r Oidc {
    req.rocket()
        .state::<Arc<Oidc>>()
        .expect("the fairing manages Oidc before mounting its routes")
}

fn fail<'r>(req: &'r Request<'_>, err: OidcError) -> Outcome<'r> {
    let status = err.status();
    RequestState::of(req).fail(err);
    Outcome::Error(status)
}

/// The redirect URI: finishes the login and returns to the page first asked for.
#[derive(Clone, Debug)]
struct Callback;

#[rocket::async_trait]
impl Handler for Callback {
    async fn handle<'r>(&self, req: &'r Request<'_>, _data: Data<'r>) -> Outcome<'r> {
        let query = req.uri().query().map_or("", |q| q.as_str());
        let out = RequestState::of(req).cookie_queue();
        match flow::login::finish_login(oidc(req), query, req.cookies(), &out).await {
            Ok(return_to) => Outcome::Success(see_other(return_to)),
            Err(err) => fail(req, err),
        }
    }
}

/// `GET` or `POST` the logout path, optionally with `?provider=<name>`.
#[derive(Clone, Debug)]
struct LogoutRoute;

#[rocket::async_trait]
impl Handler for LogoutRoute {
    async fn handle<'r>(&self, req: &'r Request<'_>, _data: Data<'r>) -> Outcome<'r> {
        let oidc = oidc(req);
        let only = match req.query_value::<&str>("provider") {
            None => None,
            Some(name) => match name.ok().and_then(|name| oidc.provider(name)) {
                Some(client) => Some(client),
                None => {
                    return fail(
                        req,
                        OidcError::new(
                            ErrorKind::InvalidRequest,
                            Status::BadRequest,
                            "invalid_request",
                            "the logout names a provider that is not configured",
                        ),
                    )
                }
            },
        };
        if logout::is_cross_site(req, oidc) {
            if req.method() == Method::Get {
                // A link from another site: ask, and let the button post from here.
                return Outcome::Success(logout::confirmation_page(&req.uri().to_string()));
            }
            return fail(req, logout::cross_site_error());
        }
        let out = RequestState::of(req).cookie_queue();
        let location =
            flow::logout::end_sessions(req.cookies(), &out, oidc, only.map(|c| &**c)).await;
        Outcome::from(req, Logout::to(location))
    }
}

/// Where the provider's end-session page sends the browser back.
#[derive(Clone, Debug)]
struct LogoutReturn;

#[rocket::async_trait]
impl Handler for LogoutReturn {
    async fn handle<'r>(&self, req: &'r Request<'_>, _data: Data<'r>) -> Outcome<'r> {
        Outcome::Success(logout::finish(req, oidc(req)))
    }
}
