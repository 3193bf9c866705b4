//! The `Authenticated<P>` request guard.

use std::sync::Arc;

use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;

use rocket::http::{Method, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::{Ignite, Request, Rocket, Sentinel};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;

use super::claims::Claims;
use super::request_state::{other_host_of, provider_of, traceparent_of, RequestState};
use crate::error::{ErrorKind, OidcError};
use crate::flow::lifecycle::{self, Check, Decision, Visit};
use crate::flow::{self, refresh, Oidc, ProviderState};
use crate::op::LoginParams;
use crate::protocol::time::now;
use crate::provider::Provider;
use crate::session::{CookieQueue, SessionData};
use crate::telemetry::trace::{self, TraceParent};
use crate::telemetry::GuardOutcome;

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
    claims_raw: OnceLock<Box<RawValue>>,
    userinfo: OnceLock<Option<Value>>,
    /// The typed standard claims (see `claims.rs`), boxed: most requests never ask.
    pub(super) standard: OnceLock<Box<Claims>>,
    oidc: Arc<Oidc>,
    client: Arc<ProviderState>,
    /// This request's response cookies, for sessions renewed by the route.
    cookies: CookieQueue,
    /// How many cookies the session takes now.
    chunks: usize,
    /// The request's trace, for the provider calls of a refresh the route asks for.
    traceparent: Option<TraceParent>,
    provider: PhantomData<fn() -> P>,
}

/// An access token that was valid when it was handed out.
///
/// Its `Debug` output never shows the token.
#[derive(Clone)]
pub struct AccessToken {
    secret: String,
    expires_at: Option<time::OffsetDateTime>,
    token_type: &'static str,
}

impl AccessToken {
    /// The token, for an `Authorization: Bearer` header (`Authorization: DPoP` when
    /// [`token_type`](Self::token_type) says so).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `"Bearer"`, or `"DPoP"` for a token bound to the session's DPoP key: the scheme of
    /// the `Authorization` header that carries it.
    pub fn token_type(&self) -> &str {
        self.token_type
    }

    /// When it expires, if the provider said.
    pub fn expires_at(&self) -> Option<time::OffsetDateTime> {
        self.expires_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("token_type", &self.token_type)
            .finish()
    }
}

impl<P: Provider> Authenticated<P> {
    /// The user's subject identifier at the provider (`sub`), stable and unique per provider.
    pub fn subject(&self) -> &str {
        self.session.subject()
    }

    /// The access token issued at login.
    pub fn access_token(&self) -> &str {
        self.session.access_token()
    }

    /// The refresh token, if the provider issued one: for offline work on the user's behalf.
    /// Keep it server-side; never send it to the browser.
    pub fn refresh_token(&self) -> Option<&str> {
        self.session.refresh_token()
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
        self.claims
            .get_or_init(|| serde_json::from_str(self.id_token_raw().get()).unwrap_or(Value::Null))
    }

    /// The validated ID token's claims as raw JSON, for responses that pass them on
    /// unchanged: serializing it copies the text, without building a [`Value`].
    ///
    /// ```
    /// # use rocket::serde::json::Json;
    /// # use rocket_oidc_auth::{provider::Default, Authenticated};
    /// use serde_json::value::RawValue;
    ///
    /// #[derive(serde::Serialize)]
    /// struct Me<'a> {
    ///     id_token: &'a RawValue,
    ///     userinfo: Option<&'a RawValue>,
    /// }
    ///
    /// #[rocket::get("/me")]
    /// fn me(user: Authenticated<Default>) -> String {
    ///     let me = Me { id_token: user.id_token_raw(), userinfo: user.userinfo_raw() };
    ///     serde_json::to_string(&me).unwrap_or_default()
    /// }
    /// ```
    pub fn id_token_raw(&self) -> &RawValue {
        self.claims_raw.get_or_init(|| {
            self.session
                .id_token_claims()
                .and_then(|json| RawValue::from_string(json.into_owned()).ok())
                .unwrap_or_else(|| RawValue::from_string("null".into()).expect("null is JSON"))
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
        let claims = self.session.id_token_claims().unwrap_or_default();
        serde_json::from_str(&claims)
    }

    /// The raw ID token (a compact JWS), for example for `id_token_hint`.
    pub fn id_token_jwt(&self) -> &str {
        self.session.id_token()
    }

    /// The UserInfo response, or `None` when UserInfo is disabled
    /// (`userinfo_http_method = "none"`) or the provider has no UserInfo endpoint.
    pub fn userinfo(&self) -> Option<&Value> {
        self.userinfo
            .get_or_init(|| {
                self.session
                    .userinfo()
                    .and_then(|raw| serde_json::from_str(raw).ok())
            })
            .as_ref()
    }

    /// The UserInfo response as raw JSON (see [`id_token_raw`](Self::id_token_raw)).
    pub fn userinfo_raw(&self) -> Option<&RawValue> {
        self.session
            .userinfo()
            .and_then(|raw| serde_json::from_str(raw).ok())
    }

    /// The UserInfo response deserialized into your own type; `None` when there is none.
    pub fn userinfo_claims<T: DeserializeOwned>(&self) -> Option<Result<T, serde_json::Error>> {
        self.session.userinfo().map(serde_json::from_str)
    }

    /// The access token, refreshed first when it has expired (or expires within
    /// `clock_skew`), the renewed session going out with this response.
    ///
    /// Fails with [`ErrorKind::NoValidToken`] when there is no refresh token or the provider
    /// refuses it (the session then ends), and with the provider's error when it cannot be
    /// reached.
    ///
    /// "Valid" means: not expired by the `expires_in` the provider gave when it issued the
    /// token. It does not ask the provider whether the token was revoked since. A logout
    /// through this app or a back-channel logout ends the whole session where the store
    /// shares it (every instance with Redis or the memory store's one process; with the
    /// cookie store alone, only the instance that saw the logout).
    ///
    /// ```
    /// # use rocket::serde::json::{json, Json, Value};
    /// # use rocket_oidc_auth::{provider::Default, Authenticated};
    /// #[rocket::get("/token")]
    /// async fn token(mut user: Authenticated<Default>) -> Option<Json<Value>> {
    ///     let token = user.valid_access_token().await.ok()?;
    ///     Some(Json(json!({ "access_token": token.secret() })))
    /// }
    /// ```
    pub async fn valid_access_token(&mut self) -> Result<AccessToken, OidcError> {
        self.access_token_refreshed(false).await
    }

    /// Like [`valid_access_token`](Self::valid_access_token), but always refreshes
    /// (Flask-pyoidc's `force_refresh=True`).
    pub async fn refreshed_access_token(&mut self) -> Result<AccessToken, OidcError> {
        self.access_token_refreshed(true).await
    }

    async fn access_token_refreshed(&mut self, force: bool) -> Result<AccessToken, OidcError> {
        let traceparent = self.traceparent;
        trace::with_parent(traceparent, self.refreshed_now(force)).await
    }

    async fn refreshed_now(&mut self, force: bool) -> Result<AccessToken, OidcError> {
        let expired =
            refresh::access_token_expired(&self.session, now(), self.oidc.config.clock_skew);
        if force || expired {
            match lifecycle::refresh(
                &self.oidc,
                &self.client,
                &self.session,
                self.chunks,
                force,
                &self.cookies,
            )
            .await
            {
                Ok((refreshed, chunks)) => {
                    self.chunks = chunks;
                    self.session = refreshed;
                    self.claims = OnceLock::new();
                    self.claims_raw = OnceLock::new();
                    self.userinfo = OnceLock::new();
                }
                Err(err) if refresh::is_refusal(&err) => {
                    lifecycle::end(
                        &self.oidc,
                        &self.client,
                        Some(&self.session),
                        self.chunks,
                        &self.cookies,
                    )
                    .await?;
                    crate::telemetry::session_ended(
                        self.client.name(),
                        crate::telemetry::EndReason::RefreshFailed,
                        1,
                    );
                    return Err(refresh::no_valid_token(format!(
                        "the provider refused to refresh the access token, so the session ended: {}",
                        err.error_description()
                    )));
                }
                Err(err) => return Err(err),
            }
        }
        Ok(AccessToken {
            secret: self.session.access_token().to_string(),
            expires_at: self.access_token_expires_at(),
            token_type: self.access_token_type(),
        })
    }

    /// `"DPoP"` when the session's tokens are bound to its DPoP key
    /// (`oidc.providers.<name>.dpop = true`), `"Bearer"` otherwise: the scheme of the
    /// `Authorization` header that carries the access token.
    pub fn access_token_type(&self) -> &'static str {
        if self.session.dpop_key().is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }

    /// A DPoP proof (RFC 9449 7) for calling an API with the session's DPoP-bound access
    /// token: `method` and `url` of that request, and the API's nonce when its `DPoP-Nonce`
    /// header asked for one. Send it as the `DPoP` header, with `Authorization: DPoP
    /// <token>`. `None` when the tokens are not DPoP-bound.
    ///
    /// ```
    /// # use rocket_oidc_auth::{provider::Default, Authenticated};
    /// #[rocket::get("/orders")]
    /// async fn orders(mut user: Authenticated<Default>) -> Option<String> {
    ///     let url = "https://api.example/orders";
    ///     let token = user.valid_access_token().await.ok()?;
    ///     let mut request = reqwest::Client::new().get(url).header(
    ///         "Authorization",
    ///         format!("{} {}", token.token_type(), token.secret()),
    ///     );
    ///     if let Some(proof) = user.dpop_proof("GET", url, None) {
    ///         request = request.header("DPoP", proof);
    ///     }
    ///     request.send().await.ok()?.text().await.ok()
    /// }
    /// ```
    pub fn dpop_proof(&self, method: &str, url: &str, nonce: Option<&str>) -> Option<String> {
        let key = match crate::flow::refresh::open_dpop_key(self.session.dpop_key()?) {
            Ok(key) => key,
            Err(err) => {
                err.log();
                return None;
            }
        };
        Some(crate::protocol::dpop::proof(
            &key,
            method,
            url,
            nonce,
            Some(self.session.access_token()),
        ))
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
            .field("subject", &self.session.subject())
            .field("access_token", &"[redacted]")
            .field("id_token", &"[redacted]")
            .finish()
    }
}

#[rocket::async_trait]
impl<'r, P: Provider> FromRequest<'r> for Authenticated<P> {
    type Error = OidcError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, OidcError> {
        let (oidc, client) = match provider_of::<P>(req, "Authenticated") {
            Ok(found) => found,
            Err(err) => return fail(req, err),
        };
        // The guard's future is allocated on every request: the trace context (rarely
        // on) is boxed apart rather than widening it.
        let mut outcome = match traceparent_of(req, oidc) {
            None => guard::<P>(req, oidc, client).await,
            parent => Box::pin(trace::with_parent(parent, guard::<P>(req, oidc, client))).await,
        };
        let answer = match &mut outcome {
            Outcome::Success(user) => {
                user.traceparent = traceparent_of(req, oidc);
                GuardOutcome::Ok
            }
            Outcome::Error((status, _)) if status.code >= 500 => GuardOutcome::Unavailable,
            _ if RequestState::of(req).login().is_some() => GuardOutcome::LoginRedirect,
            _ => GuardOutcome::Unauthorized,
        };
        client.guard_counters.count(client.name(), answer);
        outcome
    }
}

/// [`Authenticated`]'s guard for `client`, before its outcome is counted.
async fn guard<P: Provider>(
    req: &Request<'_>,
    oidc: &Arc<Oidc>,
    client: &Arc<ProviderState>,
) -> Outcome<Authenticated<P>, OidcError> {
    let state = RequestState::of(req);
    let out = state.cookie_queue();
    let browser_get = || matches!(req.method(), Method::Get | Method::Head) && wants_html(req);
    let visit = Visit {
        jar: req.cookies(),
        browser_get: &browser_get,
        now: now(),
    };
    // The session lives in blocks that end before the login's await: a local that an
    // async fn ever held keeps its place in the future across its later awaits, and the
    // guard's future is allocated on every request.
    let silent = {
        let decision = 'decided: {
            let pending = match lifecycle::check(oidc, client, visit, &out) {
                Check::Now(decision) => break 'decided decision,
                Check::Later(pending) => pending,
            };
            // The slow paths (a store, a refresh), boxed apart.
            Box::pin(pending.run(oidc, client, visit, &out)).await
        };
        match decision {
            Decision::Ready(session, chunks) => {
                state.mark_personal();
                return Outcome::Success(authenticated((oidc, client), session, chunks, out));
            }
            Decision::LogIn { silent } => silent,
            Decision::Failed(err) => return fail(req, err),
        }
    };
    Box::pin(login_or_401(req, oidc, client, silent)).await
}

/// A 401 for a request without a usable session, recorded for the catcher (not logged as
/// a failure: a login redirect or a challenge follows). `why` is for users; the provider's
/// name goes to the developer detail only.
fn unauthenticated<T>(
    state: &RequestState,
    why: &'static str,
    provider: &str,
) -> Outcome<T, OidcError> {
    Outcome::Error((
        Status::Unauthorized,
        state.record(
            OidcError::new(
                ErrorKind::Unauthenticated,
                Status::Unauthorized,
                "login_required",
                why,
            )
            .with_log_detail(format!("provider {provider:?}")),
        ),
    ))
}

/// No usable session: a browser is sent to log in (`silent`: with `prompt=none`), any other
/// client gets a 401.
async fn login_or_401<P: Provider>(
    req: &Request<'_>,
    oidc: &Oidc,
    client: &ProviderState,
    silent: bool,
) -> Outcome<Authenticated<P>, OidcError> {
    let state = RequestState::of(req);
    if !wants_html(req) {
        state.set_challenge(format!("Bearer realm=\"{}\"", P::NAME));
        return unauthenticated(
            state,
            "please log in: this page needs a login (browsers are sent to the login page, \
             other clients get this 401)",
            P::NAME,
        );
    }
    if matches!(req.method(), Method::Get | Method::Head) {
        if let Some(location) = other_host_of(req, oidc) {
            // Another name for this app (localhost against 127.0.0.1): go to redirect_uri's
            // first, so the login's cookie lands where the callback will look for it.
            state.set_login(flow::PendingLogin {
                location,
                transaction_cookie: None,
                other_cookies: Vec::new(),
            });
            return unauthenticated(
                state,
                "redirecting to this app's own host name before the login",
                P::NAME,
            );
        }
    }
    // Boxed: the slow paths' futures are large, and the guard's own future is allocated
    // on every request.
    let resolved = match Box::pin(client.metadata()).await {
        Ok(resolved) => resolved,
        Err(err) => return fail(req, err),
    };
    let return_to = match req.method() {
        Method::Get | Method::Head => req.uri().to_string(),
        // A form post cannot be replayed after the login: return to the app's root.
        _ => "/".to_string(),
    };
    let params = LoginParams::default();
    let started = flow::login::start_login(
        oidc,
        client,
        &resolved,
        &return_to,
        silent,
        &params,
        req.client_ip(),
    );
    let mut login = match Box::pin(started).await {
        Ok(login) => login,
        Err(err) => return fail(req, err),
    };
    login.other_cookies = flow::pending::keep_few_pending(oidc, req.cookies(), &login);
    if silent {
        login
            .other_cookies
            .push(flow::login::silent_attempt_marker(oidc, client.name()));
    }
    state.set_login(login);
    unauthenticated(state, "redirecting to the login page", P::NAME)
}

/// The guard's answer for a user whose session is ready.
fn authenticated<P: Provider>(
    (oidc, client): (&Arc<Oidc>, &Arc<ProviderState>),
    session: SessionData,
    chunks: usize,
    cookies: CookieQueue,
) -> Authenticated<P> {
    Authenticated {
        session,
        claims: OnceLock::new(),
        claims_raw: OnceLock::new(),
        userinfo: OnceLock::new(),
        standard: OnceLock::new(),
        oidc: oidc.clone(),
        client: client.clone(),
        cookies,
        chunks,
        traceparent: None,
        provider: PhantomData,
    }
}

impl<P: Provider> Sentinel for Authenticated<P> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        super::sentinel::aborts::<P>(rocket, "Authenticated")
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_guard_future_stays_small() {
        // The guard's future is boxed on every request: the slow paths (discovery, refresh)
        // are boxed apart so that it stays small.
        let rocket = rocket::local::blocking::Client::untracked(rocket::build()).unwrap();
        let req = rocket.get("/");
        let future = <super::Authenticated<crate::provider::Default> as rocket::request::FromRequest>::from_request(req.inner());
        let size = std::mem::size_of_val(&*future);
        assert!(size < 256, "the guard's future takes {size} bytes");
    }
}
