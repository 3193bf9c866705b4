//! The `Authenticated<P>` request guard.

use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;

use rocket::http::{Method, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::{Ignite, Request, Rocket, Sentinel};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ErrorKind, OidcError};
use crate::fairing::Oidc;
use crate::flow;
use crate::provider::Provider;
use crate::request_state::RequestState;
use crate::session::SessionData;
use crate::validation;

/// A request from a user logged in with provider `P`.
///
/// Without a valid session, a browser request (one that accepts `text/html`) is redirected
/// to the provider's login with `303 See Other` and comes back to the same path afterwards;
/// any other request gets `401 Unauthorized` with a `WWW-Authenticate` header. Neither
/// needs anything from the application's catchers. A route using the guard for a provider
/// that is not configured aborts launch (the guard is a [`Sentinel`]).
///
/// ```no_run
/// # #[macro_use] extern crate rocket;
/// use rocket::serde::json::{json, Json, Value};
/// use rocket_oidc_auth::{provider::Default, Authenticated, OidcFairing};
///
/// #[get("/login")]
/// fn login(user: Authenticated<Default>) -> Json<Value> {
///     Json(json!({
///         "access_token": user.access_token(),
///         "id_token": user.id_token(),
///         "userinfo": user.userinfo(),
///     }))
/// }
///
/// #[launch]
/// fn rocket() -> _ {
///     rocket::build()
///         .attach(OidcFairing::from_config())
///         .mount("/", routes![login])
/// }
/// ```
pub struct Authenticated<P: Provider> {
    session: SessionData,
    claims: OnceLock<Value>,
    userinfo: OnceLock<Option<Value>>,
    provider: PhantomData<fn() -> P>,
}

impl<P: Provider> Authenticated<P> {
    /// The user's subject identifier at the provider (`sub`), stable and unique per provider.
    pub fn subject(&self) -> &str {
        &self.session.subject
    }

    /// The access token issued at login.
    pub fn access_token(&self) -> &str {
        &self.session.access_token
    }

    /// The refresh token, if the provider issued one: for offline work on the user's behalf.
    /// Keep it server-side; never send it to the browser.
    pub fn refresh_token(&self) -> Option<&str> {
        self.session.refresh_token.as_deref()
    }

    /// When the access token expires, if the provider said.
    pub fn access_token_expires_at(&self) -> Option<time::OffsetDateTime> {
        self.session
            .access_token_expires_at
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
    }

    /// When the user last authenticated at the provider through this app.
    pub fn authenticated_at(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(self.session.authenticated_at)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }

    /// The validated ID token's claims, as JSON (decoded on first use).
    pub fn id_token(&self) -> &Value {
        self.claims.get_or_init(|| {
            validation::payload_of(&self.session.id_token)
                .and_then(|payload| serde_json::from_slice(&payload).ok())
                .unwrap_or(Value::Null)
        })
    }

    /// The validated ID token's claims, deserialized into your own type.
    ///
    /// ```
    /// # use rocket_oidc_auth::{provider::Default, Authenticated};
    /// #[derive(serde::Deserialize)]
    /// struct Claims {
    ///     sub: String,
    ///     auth_time: Option<i64>,
    /// }
    ///
    /// fn who(user: &Authenticated<Default>) -> Option<String> {
    ///     user.id_token_claims::<Claims>().ok().map(|c| c.sub)
    /// }
    /// ```
    pub fn id_token_claims<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        let payload = validation::payload_of(&self.session.id_token).unwrap_or_default();
        serde_json::from_slice(&payload)
    }

    /// The raw ID token (a compact JWS), for example for `id_token_hint`.
    pub fn id_token_jwt(&self) -> &str {
        &self.session.id_token
    }

    /// The UserInfo response, or `None` when UserInfo is disabled
    /// (`userinfo_http_method = "none"`) or the provider has no UserInfo endpoint.
    pub fn userinfo(&self) -> Option<&Value> {
        self.userinfo
            .get_or_init(|| {
                self.session
                    .userinfo
                    .as_ref()
                    .and_then(|raw| serde_json::from_str(raw.get()).ok())
            })
            .as_ref()
    }

    /// The UserInfo response deserialized into your own type; `None` when there is none.
    pub fn userinfo_claims<T: DeserializeOwned>(&self) -> Option<Result<T, serde_json::Error>> {
        self.session
            .userinfo
            .as_ref()
            .map(|raw| serde_json::from_str(raw.get()))
    }

    /// The name of the provider this session belongs to.
    pub fn provider(&self) -> &'static str {
        P::NAME
    }
}

impl<P: Provider> fmt::Debug for Authenticated<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticated")
            .field("provider", &P::NAME)
            .field("subject", &self.session.subject)
            .field("access_token", &"[redacted]")
            .field("id_token", &"[redacted]")
            .finish()
    }
}

#[rocket::async_trait]
impl<'r, P: Provider> FromRequest<'r> for Authenticated<P> {
    type Error = OidcError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, OidcError> {
        let Some(oidc) = req.rocket().state::<Oidc>() else {
            return fail(req, not_configured::<P>("OidcFairing is not attached"));
        };
        let Some(client) = oidc.provider(P::NAME) else {
            return fail(req, not_configured::<P>("the provider is not configured"));
        };
        if let Some(cookie) = req.cookies().get(&client.session_cookie) {
            if let Some(session) = oidc
                .cipher
                .open_session(&client.session_cookie, cookie.value())
            {
                if flow::now() - session.authenticated_at <= oidc.config.session_lifetime {
                    return Outcome::Success(Authenticated {
                        session,
                        claims: OnceLock::new(),
                        userinfo: OnceLock::new(),
                        provider: PhantomData,
                    });
                }
            }
        }

        let state = RequestState::of(req);
        if !wants_html(req) {
            state.set_challenge(format!("Bearer realm=\"{}\"", P::NAME));
            return Outcome::Error((
                Status::Unauthorized,
                state.record(OidcError::new(
                    ErrorKind::Unauthenticated,
                    Status::Unauthorized,
                    "login_required",
                    format!(
                        "this resource needs a login with provider {:?}; browsers are redirected \
                         there, other clients get this 401",
                        P::NAME
                    ),
                )),
            ));
        }
        let resolved = match client.metadata().await {
            Ok(resolved) => resolved,
            Err(err) => return fail(req, err),
        };
        let return_to = match req.method() {
            Method::Get | Method::Head => req.uri().to_string(),
            // A form post cannot be replayed after the login: return to the app's root.
            _ => "/".to_string(),
        };
        state.set_login(flow::start_login(oidc, client, &resolved, &return_to));
        Outcome::Error((
            Status::Unauthorized,
            state.record(OidcError::new(
                ErrorKind::Unauthenticated,
                Status::Unauthorized,
                "login_required",
                format!("redirecting to provider {:?} to log in", P::NAME),
            )),
        ))
    }
}

impl<P: Provider> Sentinel for Authenticated<P> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        match rocket.state::<Oidc>() {
            None => {
                log::error!(
                    "oidc: a route uses Authenticated<{}> but OidcFairing is not attached: add \
                     .attach(rocket_oidc_auth::OidcFairing::from_config())",
                    std::any::type_name::<P>()
                );
                true
            }
            Some(oidc) if oidc.provider(P::NAME).is_none() => {
                log::error!(
                    "oidc: a route uses Authenticated<{}> but oidc.providers.{} is not configured: \
                     add a [default.oidc.providers.{}] table to Rocket.toml",
                    std::any::type_name::<P>(),
                    P::NAME,
                    P::NAME
                );
                true
            }
            Some(_) => false,
        }
    }
}

fn not_configured<P: Provider>(why: &str) -> OidcError {
    OidcError::new(
        ErrorKind::Configuration,
        Status::InternalServerError,
        "server_error",
        format!(
            "Authenticated<{}> cannot work: {why} (see oidc.providers.{})",
            std::any::type_name::<P>(),
            P::NAME
        ),
    )
}

fn fail<T>(req: &Request<'_>, err: OidcError) -> Outcome<T, OidcError> {
    let status = err.status();
    Outcome::Error((status, RequestState::of(req).fail(err)))
}

/// A browser navigation: it accepts HTML, or says it navigates.
fn wants_html(req: &Request<'_>) -> bool {
    let headers = req.headers();
    headers.get_one("Sec-Fetch-Mode") == Some("navigate")
        || headers
            .get("Accept")
            .any(|accept| accept.contains("text/html") || accept.contains("application/xhtml+xml"))
}
