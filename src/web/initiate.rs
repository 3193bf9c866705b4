//! The route of third-party-initiated login (`initiate_login_path`, Core 4): reads the
//! initiation (`GET` query or `POST` form), and starts that provider's login as a
//! [`Login`](super::login::Login) guard would.

use rocket::http::Method;
use rocket::route::{Handler, Outcome};
use rocket::{Data, Request};

use super::logout::see_other;
use super::request_state::RequestState;
use super::routes::form_body;
use crate::error::OidcError;
use crate::flow::{self, Oidc};
use crate::protocol::time::now;

/// The largest initiation form read: three short parameters.
const BODY_LIMIT: u64 = 8 * 1024;

/// `GET` or `POST` at `initiate_login_path`.
#[derive(Clone, Debug)]
pub(crate) struct InitiateLogin;

#[rocket::async_trait]
impl Handler for InitiateLogin {
    async fn handle<'r>(&self, req: &'r Request<'_>, data: Data<'r>) -> Outcome<'r> {
        let oidc = super::routes::oidc(req);
        match initiate(req, data, oidc).await {
            Ok(location) => Outcome::Success(see_other(location)),
            Err(err) => super::routes::fail(req, err),
        }
    }
}

async fn initiate(req: &Request<'_>, data: Data<'_>, oidc: &Oidc) -> Result<String, OidcError> {
    let params = params_of(req, data).await?;
    let initiation = flow::initiate::initiation(oidc, &params)?;
    let client = &initiation.client;
    let resolved = client.metadata().await?;
    let pending = flow::pending::pending_logins(oidc, req.cookies(), now());
    let login = flow::login::start_login(
        oidc,
        client,
        &resolved,
        &initiation.return_to,
        false,
        &initiation.params,
        req.client_ip(),
    )
    .await?;
    let cookies = RequestState::of(req).cookie_queue();
    for cookie in flow::pending::keep_few_of(oidc, pending, &login) {
        cookies.push(cookie);
    }
    if let Some(cookie) = login.transaction_cookie {
        cookies.push(cookie);
    }
    Ok(login.location)
}

/// The initiation's parameters: the query of a `GET`, the form body of a `POST`.
async fn params_of(req: &Request<'_>, data: Data<'_>) -> Result<Vec<(String, String)>, OidcError> {
    let text = if req.method() == Method::Post {
        form_body(req, data, BODY_LIMIT, "this login link is not valid").await?
    } else {
        req.uri()
            .query()
            .map_or_else(String::new, |q| q.as_str().to_string())
    };
    Ok(url::form_urlencoded::parse(text.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect())
}
