//! The routes the fairing mounts: the callback at the path of `redirect_uri`, and logout.

use rocket::http::{Header, Method, Status};
use rocket::response::Response;
use rocket::route::{Handler, Outcome, Route};
use rocket::{Data, Request};

use crate::fairing::Oidc;
use crate::flow;
use crate::request_state::RequestState;

/// The routes for `oidc`'s configuration.
pub(crate) fn routes(callback_path: &str, logout_path: &str) -> Vec<Route> {
    let mut callback = Route::new(Method::Get, callback_path, Callback);
    callback.name = Some("oidc_callback".into());
    let mut logout_get = Route::new(Method::Get, logout_path, Logout);
    logout_get.name = Some("oidc_logout".into());
    let mut logout_post = Route::new(Method::Post, logout_path, Logout);
    logout_post.name = Some("oidc_logout".into());
    vec![callback, logout_get, logout_post]
}

/// A `303 See Other` that no cache keeps.
fn see_other<'r>(location: String) -> Response<'r> {
    Response::build()
        .status(Status::SeeOther)
        .header(Header::new("Location", location))
        .header(Header::new("Cache-Control", "no-store"))
        .finalize()
}

fn oidc<'r>(req: &'r Request<'_>) -> &'r Oidc {
    req.rocket()
        .state::<Oidc>()
        .expect("the fairing manages Oidc before mounting its routes")
}

/// The redirect URI: finishes the login and returns to the page first asked for.
#[derive(Clone, Debug)]
struct Callback;

#[rocket::async_trait]
impl Handler for Callback {
    async fn handle<'r>(&self, req: &'r Request<'_>, _data: Data<'r>) -> Outcome<'r> {
        match flow::finish_login(oidc(req), req).await {
            Ok(return_to) => Outcome::Success(see_other(return_to)),
            Err(err) => {
                let status = err.status();
                RequestState::of(req).fail(err);
                Outcome::Error(status)
            }
        }
    }
}

/// Local logout: every provider's session cookie is removed, then the browser goes to `/`.
#[derive(Clone, Debug)]
struct Logout;

#[rocket::async_trait]
impl Handler for Logout {
    async fn handle<'r>(&self, req: &'r Request<'_>, _data: Data<'r>) -> Outcome<'r> {
        let oidc = oidc(req);
        let state = RequestState::of(req);
        for client in oidc.providers() {
            if req.cookies().get(&client.session_cookie).is_some() {
                state.set_cookie(
                    oidc.cookies
                        .removal(client.session_cookie.clone(), "/".into()),
                );
            }
        }
        Outcome::Success(see_other("/".into()))
    }
}
