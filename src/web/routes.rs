//! The routes the fairing mounts: the callback at the path of `redirect_uri`, the logout
//! route, and the return from the provider's end-session page.

use std::sync::Arc;

use rocket::data::ToByteUnit;
use rocket::http::{ContentType, Header, Method, Status};
use rocket::response::Response;
use rocket::route::{Handler, Outcome, Route};
use rocket::{Data, Request};

use super::initiate::InitiateLogin;
use super::logout::{self, see_other, Logout};
use super::ready::Ready;
use super::relay;
use super::request_state::{traceparent_of, RequestState};
use crate::config::{Config, ResponseMode};
use crate::error::{ErrorKind, OidcError};
use crate::flow::callback::{finish_login, Arrival, CallbackParams};
use crate::flow::ready::Readiness;
use crate::flow::{self, Oidc};
use crate::telemetry::trace;

/// The routes for `oidc`'s configuration.
pub(crate) fn routes(
    config: &Config,
    logout_return_paths: &[&str],
    client_jwks: Vec<(String, String)>,
) -> Vec<Route> {
    let mut routes = vec![
        named(
            Method::Get,
            &config.callback_path,
            Callback,
            "oidc_callback",
        ),
        // The form_post response mode: the provider's page posts the answer here.
        named(
            Method::Post,
            &config.callback_path,
            Callback,
            "oidc_callback",
        ),
        named(Method::Get, &config.logout_path, LogoutRoute, "oidc_logout"),
        named(
            Method::Post,
            &config.logout_path,
            LogoutRoute,
            "oidc_logout",
        ),
        named(
            Method::Post,
            &config.backchannel_logout_path,
            BackchannelLogout,
            "oidc_backchannel_logout",
        ),
        named(
            Method::Get,
            &config.frontchannel_logout_path,
            FrontchannelLogout,
            "oidc_frontchannel_logout",
        ),
    ];
    if let Some(path) = &config.initiate_login_path {
        for method in [Method::Get, Method::Post] {
            routes.push(named(method, path, InitiateLogin, "oidc_initiate_login"));
        }
    }
    if let Some(path) = &config.ready_path {
        let ready = Ready(Arc::new(Readiness::new()));
        routes.push(named(Method::Get, path, ready, "oidc_ready"));
    }
    for path in logout_return_paths {
        routes.push(named(Method::Get, path, LogoutReturn, "oidc_logout_return"));
    }
    for (path, body) in client_jwks {
        routes.push(named(Method::Get, &path, ClientJwks(body), "oidc_jwks"));
    }
    routes
}

/// The public keys of the client (`jwks_path`): a JWK Set, for providers that read the
/// client's `jwks_uri` to check its `private_key_jwt` assertions.
#[derive(Clone, Debug)]
struct ClientJwks(String);

#[rocket::async_trait]
impl Handler for ClientJwks {
    async fn handle<'r>(&self, _req: &'r Request<'_>, _data: Data<'r>) -> Outcome<'r> {
        let mut response = rocket::Response::build();
        response
            .header(rocket::http::ContentType::JSON)
            .raw_header("Cache-Control", "public, max-age=300")
            .sized_body(self.0.len(), std::io::Cursor::new(self.0.clone()));
        Outcome::Success(response.finalize())
    }
}

/// The first of the crate's `routes` that an app route already takes (same method, same
/// path), as a launch error naming the key that moves the crate's route. Rocket would
/// report it too, as a collision to solve with ranks; moving the path is the right fix.
pub(crate) fn conflict<'a>(app: impl Iterator<Item = &'a Route>, ours: &[Route]) -> Option<String> {
    let app: Vec<&Route> = app.collect();
    for route in ours {
        let path = route.uri.path();
        let taken = app
            .iter()
            .find(|other| other.method == route.method && other.uri.path() == path);
        if let Some(other) = taken {
            let key = match route.name.as_deref() {
                Some("oidc_callback") => "the path of oidc.redirect_uri",
                Some("oidc_logout") => "oidc.logout_path",
                Some("oidc_backchannel_logout") => "oidc.backchannel_logout_path",
                Some("oidc_frontchannel_logout") => "oidc.frontchannel_logout_path",
                Some("oidc_jwks") => "oidc.providers.<name>.jwks_path",
                Some("oidc_initiate_login") => "oidc.initiate_login_path",
                Some("oidc_ready") => "oidc.ready_path",
                _ => "the path of oidc.providers.<name>.post_logout_redirect_uris",
            };
            return Some(format!(
                "oidc: the app already mounts {} {path} ({}), where the crate mounts its {} \
                 route: change {key} (or move the app's route)",
                route.method,
                other.name.as_deref().unwrap_or("unnamed route"),
                route.name.as_deref().unwrap_or("oidc"),
            ));
        }
    }
    None
}

fn named<H: Handler>(method: Method, path: &str, handler: H, name: &'static str) -> Route {
    let mut route = Route::new(method, path, handler);
    route.name = Some(name.into());
    route
}

pub(super) fn oidc<'r>(req: &'r Request<'_>) -> &'r Oidc {
    req.rocket()
        .state::<Arc<Oidc>>()
        .expect("the fairing manages Oidc before mounting its routes")
}

pub(super) fn fail<'r>(req: &'r Request<'_>, err: OidcError) -> Outcome<'r> {
    let status = err.status();
    RequestState::of(req).fail(err);
    Outcome::Error(status)
}

/// The redirect URI: finishes the login and returns to the page first asked for. A `GET`
/// with nothing in its query, when a provider answers in the fragment, gets the page that
/// posts the fragment back.
#[derive(Clone, Debug)]
struct Callback;

#[rocket::async_trait]
impl Handler for Callback {
    async fn handle<'r>(&self, req: &'r Request<'_>, data: Data<'r>) -> Outcome<'r> {
        let oidc = oidc(req);
        let body;
        let (response, arrival) = if req.method() == Method::Post {
            body = match form_body(req, data, CALLBACK_BODY_LIMIT, "the login's answer").await {
                Ok(body) => body,
                Err(err) => return fail(req, err),
            };
            (body.as_str(), Arrival::Posted)
        } else {
            let query = req.uri().query().map_or("", |q| q.as_str());
            let fragment_mode = oidc.providers().any(|p| {
                p.config.response_mode.carrier(p.config.response_type) == ResponseMode::Fragment
            });
            let empty = CallbackParams::parse(query).is_ok_and(|params| params.is_empty());
            if fragment_mode && empty {
                return Outcome::Success(relay::page(&oidc.config.callback_path));
            }
            (query, Arrival::Query)
        };
        let out = RequestState::of(req).cookie_queue();
        let finished = finish_login(
            oidc,
            response,
            arrival,
            req.cookies(),
            &out,
            req.client_ip(),
        );
        match trace::with_parent(traceparent_of(req, oidc), finished).await {
            Ok(return_to) => Outcome::Success(see_other(return_to)),
            Err(err) => fail(req, err),
        }
    }
}

/// The largest authorization response posted to the callback (form_post, fragment): a
/// code, a state and an issuer, an ID token and an access token (encrypted ones are
/// larger), or an error with its description.
const CALLBACK_BODY_LIMIT: u64 = 64 * 1024;

/// A request's bounded `application/x-www-form-urlencoded` body: the callback's posted
/// answer (form_post), a back-channel logout, a login initiation. `what` starts each
/// error's description.
pub(super) async fn form_body(
    req: &Request<'_>,
    data: Data<'_>,
    limit: u64,
    what: &str,
) -> Result<String, OidcError> {
    let bad = |why: &str| invalid_request(format!("{what}: {why}"));
    if req.content_type().is_none_or(|ct| !ct.is_form()) {
        return Err(bad("the body must be application/x-www-form-urlencoded"));
    }
    let body = data
        .open(limit.bytes())
        .into_string()
        .await
        .map_err(|_| bad("the body could not be read"))?;
    if !body.is_complete() {
        return Err(bad(&format!(
            "the body is larger than {} KiB",
            limit / 1024
        )));
    }
    Ok(body.into_inner())
}

pub(super) fn invalid_request(description: String) -> OidcError {
    OidcError::new(
        ErrorKind::InvalidRequest,
        Status::BadRequest,
        "invalid_request",
        description,
    )
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
                        invalid_request(
                            "the logout names a provider that is not configured".into(),
                        ),
                    )
                }
            },
        };
        match logout::site_of(req, oidc) {
            logout::Site::Same => {}
            // A POST from another site is refused.
            logout::Site::Cross if req.method() == Method::Post => {
                return fail(req, logout::cross_site_error())
            }
            // A link from another site, or a request that does not say where it comes from
            // (a browser without Fetch Metadata, `Origin` or `Referer`): ask, and let the
            // button post from here. Built from the configuration, never from the request
            // path (`//logout` must not post to another host).
            logout::Site::Cross | logout::Site::Unknown => {
                let mut action = oidc.config.logout_path.clone();
                if let Some(client) = only {
                    action.push_str("?provider=");
                    action.push_str(client.name());
                }
                return Outcome::Success(logout::confirmation_page(&action));
            }
        }
        let out = RequestState::of(req).cookie_queue();
        let ended = flow::logout::end_sessions(req.cookies(), &out, oidc, only.map(|c| &**c));
        match trace::with_parent(traceparent_of(req, oidc), ended).await {
            Ok(location) => Outcome::from(req, Logout::to(location)),
            Err(err) => fail(req, err),
        }
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

/// Where the provider posts logout tokens (Back-Channel Logout 1.0, 2.5): answers 200 with
/// `Cache-Control: no-store`, or 400 with a JSON error (2.8); 503 when the store failed, so
/// the provider may retry.
#[derive(Clone, Debug)]
struct BackchannelLogout;

/// The largest back-channel request body read: a logout token is a few KB.
const BACKCHANNEL_BODY_LIMIT: u64 = 64 * 1024;

#[rocket::async_trait]
impl Handler for BackchannelLogout {
    async fn handle<'r>(&self, req: &'r Request<'_>, data: Data<'r>) -> Outcome<'r> {
        let oidc = oidc(req);
        let outcome = match logout_token(req, data).await {
            Ok(token) => flow::backchannel::backchannel_logout(oidc, &token)
                .await
                .map(|_| ()),
            Err(err) => Err(err),
        };
        let (status, body) = match outcome {
            Ok(()) => (Status::Ok, String::new()),
            Err(err) => {
                err.log();
                let body = serde_json::json!({
                    "error": err.error(),
                    "error_description": err.error_description(),
                })
                .to_string();
                (err.status(), body)
            }
        };
        let mut response = Response::build();
        response
            .status(status)
            .header(Header::new("Cache-Control", "no-store"));
        if !body.is_empty() {
            response.header(ContentType::JSON);
        }
        Outcome::Success(
            response
                .sized_body(body.len(), std::io::Cursor::new(body))
                .finalize(),
        )
    }
}

/// The `logout_token` of a back-channel logout request: a form with exactly one.
async fn logout_token(req: &Request<'_>, data: Data<'_>) -> Result<String, OidcError> {
    let what = "back-channel logout";
    let bad = |why: &str| invalid_request(format!("{what}: {why}"));
    let body = form_body(req, data, BACKCHANNEL_BODY_LIMIT, what).await?;
    let mut tokens = url::form_urlencoded::parse(body.as_bytes())
        .filter(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned());
    match (tokens.next(), tokens.next()) {
        (Some(token), None) if !token.is_empty() => Ok(token),
        (Some(_), Some(_)) => Err(bad("the logout_token parameter is repeated")),
        _ => Err(bad("the logout_token parameter is missing")),
    }
}

/// The page the provider loads in an iframe for a front-channel logout (Front-Channel
/// Logout 1.0): never cached, and framed only by the provider's origin.
#[derive(Clone, Debug)]
struct FrontchannelLogout;

#[rocket::async_trait]
impl Handler for FrontchannelLogout {
    async fn handle<'r>(&self, req: &'r Request<'_>, _data: Data<'r>) -> Outcome<'r> {
        let oidc = oidc(req);
        let param = |name: &str| req.query_value::<&str>(name).and_then(Result::ok);
        let out = RequestState::of(req).cookie_queue();
        match flow::backchannel::frontchannel_logout(
            oidc,
            param("iss"),
            param("sid"),
            req.cookies(),
            &out,
        )
        .await
        {
            Ok(frame_origin) => {
                let page = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Logged out</title></head><body></body></html>";
                let ancestors = frame_origin.unwrap_or_else(|| "'none'".into());
                Outcome::Success(
                    Response::build()
                        .status(Status::Ok)
                        .header(ContentType::HTML)
                        .header(Header::new("Cache-Control", "no-store"))
                        .header(Header::new(
                            "Content-Security-Policy",
                            format!("frame-ancestors {ancestors}"),
                        ))
                        .sized_body(page.len(), std::io::Cursor::new(page))
                        .finalize(),
                )
            }
            Err(err) => fail(req, err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_route_on_a_crate_path_is_named_with_the_key_to_change() {
        let ours = vec![
            named(Method::Get, "/redirect_uri", Callback, "oidc_callback"),
            named(Method::Post, "/logout", LogoutRoute, "oidc_logout"),
        ];
        let app = [named(Method::Get, "/logout", Callback, "my_logout")];
        assert_eq!(
            conflict(app.iter(), &ours),
            None,
            "another method is no conflict"
        );
        let app = [
            named(Method::Get, "/", Callback, "index"),
            named(Method::Get, "/redirect_uri", Callback, "my_callback"),
        ];
        let message = conflict(app.iter(), &ours).expect("a conflict");
        assert!(message.contains("GET /redirect_uri"), "{message}");
        assert!(message.contains("my_callback"), "{message}");
        assert!(message.contains("oidc.redirect_uri"), "{message}");
    }
}
