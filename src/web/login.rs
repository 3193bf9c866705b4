//! A login a route starts itself, with parameters of its choosing: a `login_hint`, a
//! `prompt`, more scopes, a step-up `acr_values` or a `max_age`. State, nonce and PKCE are
//! the crate's, as on every login; nothing here can set or weaken them.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use rocket::request::{FromRequest, Outcome};
use rocket::response::{self, Responder};
use rocket::{Ignite, Request, Rocket, Sentinel};

use super::logout::see_other;
use super::request_state::{other_host_of, provider_of, RequestState};
use crate::config::safe_return_path;
use crate::error::{ErrorKind, OidcError};
use crate::flow::{self, Oidc, ProviderState};
use crate::op::LoginParams;
use crate::protocol::time::now;
use crate::provider::Provider;
use crate::session::CookieQueue;

/// Starts a login with provider `P` from a route of the app, with parameters the route
/// chooses; the answer is a redirect to the provider.
///
/// [`Authenticated`](crate::Authenticated) starts logins by itself with the configured
/// parameters. Use `Login` when a route knows more: who is logging in (`login_hint`), that
/// the user must authenticate again (`prompt = "login"`, `max_age`), a stronger
/// authentication for a sensitive page (step-up `acr_values`: the callback then refuses an ID
/// token whose `acr` is not one of them), or more scopes. Values given here replace the
/// configured `auth_request_params` of the same name for this login.
///
/// ```
/// # use rocket::get;
/// use rocket_oidc_auth::{provider::Default, Login, LoginRedirect, OidcError};
///
/// // <a href="/admin/step-up">Confirm it is you</a>
/// #[get("/admin/step-up")]
/// async fn step_up(login: Login<Default>) -> Result<LoginRedirect, OidcError> {
///     login
///         .acr_values(["urn:example:mfa"])
///         .prompt("login")
///         .return_to("/admin")
///         .redirect()
///         .await
/// }
///
/// #[get("/login?<email>")]
/// async fn login_as(login: Login<Default>, email: Option<&str>) -> Result<LoginRedirect, OidcError> {
///     match email {
///         Some(email) => login.login_hint(email),
///         None => login,
///     }
///     .scope("profile")
///     .redirect()
///     .await
/// }
/// ```
///
/// A failure (the provider is down, a value is not allowed) is an [`OidcError`], which as a
/// responder hands the request to the app's catcher, where [`OidcError::of`] finds it.
pub struct Login<P: Provider> {
    oidc: Arc<Oidc>,
    client: Arc<ProviderState>,
    /// The browser's pending logins, read when the guard ran.
    pending: Vec<(String, i64)>,
    /// The request's host differs from `redirect_uri`'s: go there first.
    other_host: Option<String>,
    cookies: CookieQueue,
    params: LoginParams,
    return_to: String,
    /// The first value refused by a builder method, reported by `redirect`.
    refused: Option<String>,
    /// The client's address, for the bound on pushed authorization requests.
    caller: Option<std::net::IpAddr>,
    provider: PhantomData<fn() -> P>,
}

impl<P: Provider> fmt::Debug for Login<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("provider", &P::NAME)
            .field("params", &self.params)
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

/// The redirect that sends the browser to the provider (`303 See Other`).
#[derive(Debug)]
pub struct LoginRedirect {
    location: String,
}

impl LoginRedirect {
    /// Where the browser goes: the provider's authorization endpoint.
    pub fn location(&self) -> &str {
        &self.location
    }
}

impl<'r> Responder<'r, 'static> for LoginRedirect {
    fn respond_to(self, _req: &'r Request<'_>) -> response::Result<'static> {
        Ok(see_other(self.location))
    }
}

/// Answers with the app's catcher for the error's status; [`OidcError::of`] finds the
/// error there. Return `Result<_, OidcError>` from a route that starts a login or calls
/// [`Authenticated::valid_access_token`](crate::Authenticated::valid_access_token).
impl<'r> Responder<'r, 'static> for OidcError {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let status = self.status();
        RequestState::of(req).fail(self);
        Err(status)
    }
}

#[rocket::async_trait]
impl<'r, P: Provider> FromRequest<'r> for Login<P> {
    type Error = OidcError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, OidcError> {
        let state = RequestState::of(req);
        let (oidc, client) = match provider_of::<P>(req, "Login") {
            Ok(found) => found,
            Err(err) => return Outcome::Error((err.status(), state.fail(err))),
        };
        let other_host = other_host_of(req, oidc);
        Outcome::Success(Login {
            oidc: oidc.clone(),
            client: client.clone(),
            pending: flow::pending::pending_logins(oidc, req.cookies(), now()),
            other_host,
            cookies: state.cookie_queue(),
            params: LoginParams::default(),
            return_to: "/".into(),
            refused: None,
            caller: req.client_ip(),
            provider: PhantomData,
        })
    }
}

impl<P: Provider> Sentinel for Login<P> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        super::sentinel::aborts::<P>(rocket, "Login")
    }
}

/// Longest value a route may give one parameter.
const MAX_VALUE: usize = 512;

impl<P: Provider> Login<P> {
    /// `prompt` (Core 3.1.2.1): `"login"` (authenticate again), `"consent"`,
    /// `"select_account"`, or `"none"` (no page at all: the callback then fails with
    /// `login_required` when the user would have to interact). Several space-separated.
    pub fn prompt(mut self, prompt: &str) -> Self {
        let known = ["none", "login", "consent", "select_account"];
        let words: Vec<&str> = prompt.split_whitespace().collect();
        if words.is_empty()
            || !words.iter().all(|w| known.contains(w))
            || (words.len() > 1 && words.contains(&"none"))
        {
            self.refuse(format!(
                "prompt {prompt:?}: use login, consent, select_account, or none alone"
            ));
        } else {
            self.params.prompt = Some(words.join(" "));
        }
        self
    }

    /// `login_hint`: the user's identifier at the provider (an email address, say).
    pub fn login_hint(mut self, hint: &str) -> Self {
        if let Some(hint) = self.checked("login_hint", hint) {
            self.params.login_hint = Some(hint);
        }
        self
    }

    /// `ui_locales`: the user's preferred languages, space-separated BCP 47 tags.
    pub fn ui_locales(mut self, locales: &str) -> Self {
        if let Some(locales) = self.checked("ui_locales", locales) {
            self.params.ui_locales = Some(locales);
        }
        self
    }

    /// One scope besides the configured ones (`openid` always stays).
    pub fn scope(mut self, scope: &str) -> Self {
        let valid = !scope.is_empty()
            && scope.len() <= MAX_VALUE
            && scope
                .bytes()
                .all(|b| b > 0x20 && b < 0x7f && b != b'"' && b != b'\\');
        if valid {
            if !self.params.extra_scopes.iter().any(|s| s == scope) {
                self.params.extra_scopes.push(scope.to_string());
            }
        } else {
            self.refuse(format!(
                "scope {scope:?}: one scope token (RFC 6749 3.3) per call"
            ));
        }
        self
    }

    /// Step-up: `acr_values` to ask for, most preferred first. The callback refuses an ID
    /// token whose `acr` is not one of them (Core 3.1.2.1 asks for them as voluntary;
    /// this crate makes them essential, as a step-up needs).
    pub fn acr_values<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut acr = Vec::new();
        for value in values {
            match self.checked("acr_values", value.as_ref()) {
                Some(v) if !v.contains(' ') => acr.push(v),
                Some(v) => self.refuse(format!(
                    "acr_values: {v:?} holds a space; pass each value apart"
                )),
                None => {}
            }
        }
        if acr.is_empty() && self.refused.is_none() {
            self.refuse("acr_values: give at least one value".into());
        }
        self.params.acr_values = acr;
        self
    }

    /// `max_age`: the user must have authenticated at the provider within this many
    /// seconds; the callback checks the ID token's `auth_time`.
    pub fn max_age(mut self, seconds: u32) -> Self {
        self.params.max_age = Some(i64::from(seconds));
        self
    }

    /// The path of this app to return to after the login (default `/`). Anything that is
    /// not a path of this app (`//host`, an absolute URL) becomes `/`.
    pub fn return_to(mut self, path: &str) -> Self {
        self.return_to = safe_return_path(path).to_string();
        self
    }

    /// Starts the login: a transaction (state, nonce, PKCE verifier) in a sealed cookie, the
    /// request pushed to the provider first when it uses PAR, and the redirect there.
    pub async fn redirect(self) -> Result<LoginRedirect, OidcError> {
        if let Some(why) = self.refused {
            return Err(OidcError::new(
                ErrorKind::Configuration,
                rocket::http::Status::InternalServerError,
                "server_error",
                "the login of this page is not set up correctly; tell the site's operators",
            )
            .with_log_detail(format!("Login<{}>: {why}", P::NAME)));
        }
        if let Some(location) = self.other_host {
            // Another name for this app: go to redirect_uri's host first, and start there.
            return Ok(LoginRedirect { location });
        }
        let resolved = self.client.metadata().await?;
        let login = flow::login::start_login(
            &self.oidc,
            &self.client,
            &resolved,
            &self.return_to,
            false,
            &self.params,
            self.caller,
        )
        .await?;
        for cookie in flow::pending::keep_few_of(&self.oidc, self.pending, &login) {
            self.cookies.push(cookie);
        }
        if let Some(cookie) = login.transaction_cookie {
            self.cookies.push(cookie);
        }
        Ok(LoginRedirect {
            location: login.location,
        })
    }

    fn checked(&mut self, name: &str, value: &str) -> Option<String> {
        let value = value.trim();
        if value.is_empty() || value.len() > MAX_VALUE || value.chars().any(char::is_control) {
            self.refuse(format!(
                "{name}: the value must be 1 to {MAX_VALUE} printable characters"
            ));
            return None;
        }
        Some(value.to_string())
    }

    fn refuse(&mut self, why: String) {
        self.refused.get_or_insert(why);
    }
}
