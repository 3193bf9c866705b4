//! APIs: the [`Bearer`] guard (RFC 6750) with typed scopes, [`BearerOrSession`] for routes
//! that serve both API clients and browsers, and [`ClientCredentials`] for calling other
//! services with the app's own token.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome};
use rocket::{Ignite, Request, Rocket, Sentinel};
use serde::de::DeserializeOwned;

use super::guard::Authenticated;
use super::request_state::{provider_of, traceparent_of, RequestState};
use crate::error::{ErrorKind, OidcError};
use crate::flow::Oidc;
use crate::flow::{bearer, machine, ProviderState};
use crate::protocol::access_token::TokenInfo;
use crate::protocol::time::now;
use crate::provider::Provider;
use crate::telemetry::trace;

/// The scopes a route requires of a bearer token: a marker type, declared with
/// [`oidc_scopes!`](crate::oidc_scopes), as the second parameter of [`Bearer`].
pub trait Scopes: Send + Sync + 'static {
    /// Every one of these must be in the token's `scope`.
    const SCOPES: &'static [&'static str];
}

/// No scope required: the default of [`Bearer`]'s second parameter.
#[derive(Debug, Clone, Copy)]
pub struct NoScopes;

impl Scopes for NoScopes {
    const SCOPES: &'static [&'static str] = &[];
}

/// Declares a scope set for [`Bearer`] in one line.
///
/// ```
/// use rocket_oidc_auth::{oidc_scopes, provider::Default, Bearer};
///
/// oidc_scopes!(pub Admin = ["admin"]);
/// oidc_scopes!(pub ReadWrite = ["orders:read", "orders:write"]);
///
/// #[rocket::get("/api/admin")]
/// fn admin(token: Bearer<Default, Admin>) -> String {
///     format!("hello admin {}", token.subject().unwrap_or("(a machine)"))
/// }
/// ```
#[macro_export]
macro_rules! oidc_scopes {
    ($(#[$attr:meta])* $vis:vis $marker:ident = [$($scope:literal),+ $(,)?]) => {
        $(#[$attr])*
        #[doc = concat!("Scopes ", $("`", $scope, "` "),+, "required of a bearer token.")]
        #[derive(Debug, Clone, Copy)]
        $vis struct $marker;

        impl $crate::Scopes for $marker {
            const SCOPES: &'static [&'static str] = &[$($scope),+];
        }
    };
}

/// A valid bearer token of provider `P` carrying the scopes `S` (RFC 6750): the request
/// guard of an API route.
///
/// The token comes in `Authorization: Bearer <token>` (the scheme in any case); it is
/// validated locally when it is a JWT access token (RFC 9068: signature, `typ`, `iss`,
/// `aud`, `exp`, `nbf`, `iat`), by the provider's introspection otherwise (RFC 7662, answers
/// kept `introspection_cache_seconds`, never past the token's `exp`), as
/// `access_token_validation` says. Its audience must be `access_token_audience` (the
/// client_id when unset).
///
/// API routes never redirect. Failures, which the app's catcher renders through
/// [`OidcError::of`], carry RFC 6750's `WWW-Authenticate`:
///
/// | request | answer |
/// |---|---|
/// | no `Authorization` header, or another scheme | 401 `Bearer realm="<provider>"` (no error code; the error's [`error`](OidcError::error) is `unauthenticated`) |
/// | invalid, expired, revoked token, wrong audience, over 8 KB | 401 `error="invalid_token"` |
/// | valid token without a scope of `S` | 403 `error="insufficient_scope", scope="..."` |
/// | a token in the query string or a form body | 400 `error="invalid_request"` |
/// | provider unreachable · answering 5xx · too slow | 503 · 502 · 504 |
///
/// ```
/// use rocket::serde::json::{json, Json, Value};
/// use rocket_oidc_auth::{provider::Default, Bearer};
///
/// #[rocket::get("/api/me")]
/// fn me(token: Bearer<Default>) -> Json<Value> {
///     Json(json!({ "sub": token.subject(), "scope": token.scope() }))
/// }
/// ```
pub struct Bearer<P: Provider, S: Scopes = NoScopes> {
    info: Arc<TokenInfo>,
    marker: PhantomData<fn() -> (P, S)>,
}

impl<P: Provider, S: Scopes> fmt::Debug for Bearer<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bearer")
            .field("provider", &P::NAME)
            .field("subject", &self.info.subject)
            .field("client_id", &self.info.client_id)
            .field("scope", &self.info.scope)
            .finish_non_exhaustive()
    }
}

impl<P: Provider, S: Scopes> Bearer<P, S> {
    /// The user the token speaks for (`sub`); `None` for a client-credentials token.
    pub fn subject(&self) -> Option<&str> {
        self.info.subject.as_deref()
    }

    /// The token's scopes, space-separated as the provider gave them (empty when none).
    pub fn scope(&self) -> &str {
        self.info.scope.as_deref().unwrap_or("")
    }

    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.info.has_scopes(&[scope])
    }

    /// The client the token was issued to, as the provider reports it.
    pub fn client_id(&self) -> Option<&str> {
        self.info.client_id.as_deref()
    }

    /// When the token expires, if known.
    pub fn expires_at(&self) -> Option<time::OffsetDateTime> {
        self.info
            .expires_at
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
    }

    /// Every claim of the JWT, or every member of the introspection answer, as raw JSON.
    pub fn claims_raw(&self) -> &str {
        self.info.claims.get()
    }

    /// The claims deserialized into a type of your own.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.info.claims.get())
    }
}

/// A request's access token and how it came: `Ok(None)` when there is none (no header,
/// another scheme), an error when the request carries one where RFC 6750 says it must not
/// be.
fn token_of<'r>(req: &'r Request<'_>) -> Result<Option<(&'r str, bool)>, OidcError> {
    let invalid_request = |why: &str| {
        OidcError::new(
            ErrorKind::InvalidRequest,
            Status::BadRequest,
            "invalid_request",
            why.to_string(),
        )
    };
    if req.query_value::<&str>("access_token").is_some() || RequestState::of(req).body_token() {
        // RFC 6750 2.2, 2.3: URIs end up in logs and Referer headers; this API takes the
        // header only.
        return Err(invalid_request(
            "send the access token in the Authorization header, not in the URL or the body",
        ));
    }
    let mut headers = req.headers().get("Authorization");
    let Some(header) = headers.next() else {
        return Ok(None);
    };
    if headers.next().is_some() {
        return Err(invalid_request(
            "the request has more than one Authorization header",
        ));
    }
    match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            Ok(Some((token.trim(), false)))
        }
        // RFC 9449 7.1: a DPoP-bound token, with its proof in the DPoP header.
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("dpop") => {
            Ok(Some((token.trim(), true)))
        }
        _ => Ok(None),
    }
}

/// The RFC 6750 3 challenge for a failure of provider `name`'s bearer guard.
fn challenge(name: &str, err: &OidcError, scopes: &[&str]) -> Option<String> {
    let realm = format!("Bearer realm=\"{name}\"");
    Some(match err.kind() {
        ErrorKind::Unauthenticated => realm,
        ErrorKind::InvalidToken if err.error() == "invalid_dpop_proof" => {
            format!("DPoP realm=\"{name}\", error=\"invalid_dpop_proof\"")
        }
        ErrorKind::InvalidToken => format!("{realm}, error=\"invalid_token\""),
        ErrorKind::InvalidRequest => format!("{realm}, error=\"invalid_request\""),
        ErrorKind::InsufficientScope => {
            format!(
                "{realm}, error=\"insufficient_scope\", scope=\"{}\"",
                scopes.join(" ")
            )
        }
        _ => return None,
    })
}

async fn bearer<P: Provider>(
    req: &Request<'_>,
    scopes: &[&str],
) -> Result<Arc<TokenInfo>, OidcError> {
    let (oidc, client) = provider_of::<P>(req, "Bearer")?;
    let Some((token, dpop)) = token_of(req)? else {
        // RFC 6750 3.1: no credentials, no error code (the challenge carries none either).
        return Err(OidcError::new(
            ErrorKind::Unauthenticated,
            Status::Unauthorized,
            "unauthenticated",
            "this API needs an access token in the Authorization header (Bearer)",
        ));
    };
    let skew = client.clock_skew();
    let info = bearer::validate(client, token, skew, req.client_ip()).await?;
    let proofs: Vec<&str> = req.headers().get("DPoP").collect();
    if proofs.len() > 1 {
        return Err(OidcError::invalid_token("more than one DPoP header"));
    }
    let url = format!("{}{}", oidc.app_origin, req.uri().path());
    #[cfg(feature = "mtls")]
    let certificate = req
        .guard::<rocket::mtls::Certificate<'_>>()
        .await
        .succeeded();
    #[cfg(feature = "mtls")]
    let client_certificate = certificate.as_ref().map(|c| c.as_bytes());
    #[cfg(not(feature = "mtls"))]
    let client_certificate = None;
    let presented = bearer::Presented {
        token,
        dpop: dpop.then(|| proofs.first().copied()),
        method: req.method().as_str(),
        url: &url,
        client_certificate,
    };
    let proof = bearer::check_binding(&info, presented, skew)?;
    if !info.has_scopes(scopes) {
        return Err(OidcError::new(
            ErrorKind::InsufficientScope,
            Status::Forbidden,
            "insufficient_scope",
            format!(
                "the access token lacks a required scope ({})",
                scopes.join(" ")
            ),
        ));
    }
    if let Some(proof) = proof {
        bearer::remember_proof(oidc, proof, skew).await?;
    }
    Ok(info)
}

/// Records `err` and its challenge on the request for the catcher and the fairing.
fn failed<T>(
    req: &Request<'_>,
    name: &str,
    scopes: &[&str],
    err: OidcError,
) -> Outcome<T, OidcError> {
    let state = RequestState::of(req);
    if let Some(challenge) = challenge(name, &err, scopes) {
        state.set_challenge(challenge);
    }
    let status = err.status();
    // An API client without a token is expected traffic, not worth a warning.
    let err = if err.kind() == ErrorKind::Unauthenticated {
        state.record(err)
    } else {
        state.fail(err)
    };
    Outcome::Error((status, err))
}

#[rocket::async_trait]
impl<'r, P: Provider, S: Scopes> FromRequest<'r> for Bearer<P, S> {
    type Error = OidcError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, OidcError> {
        let checked = Box::pin(bearer::<P>(req, S::SCOPES));
        let traceparent = req
            .rocket()
            .state::<Arc<Oidc>>()
            .and_then(|oidc| traceparent_of(req, oidc));
        match trace::with_parent(traceparent, checked).await {
            Ok(info) => Outcome::Success(Bearer {
                info,
                marker: PhantomData,
            }),
            Err(err) => failed(req, P::NAME, S::SCOPES, err),
        }
    }
}

impl<P: Provider, S: Scopes> Sentinel for Bearer<P, S> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        super::sentinel::aborts::<P>(rocket, "Bearer")
    }
}

/// A bearer token or a browser session of provider `P` (Flask-pyoidc's `access_control`).
///
/// A request with an `Authorization` header is judged as an API request only: a valid
/// bearer token, or a 401 (never a redirect, even with a session cookie). Without one, the
/// browser session counts, and a browser without a session goes to the provider to log in
/// (other clients get a 401), as with [`Authenticated`].
///
/// ```
/// use rocket_oidc_auth::{provider::Default, BearerOrSession};
///
/// #[rocket::get("/api/either")]
/// fn either(caller: BearerOrSession<Default>) -> String {
///     match &caller {
///         BearerOrSession::Bearer(token) => format!("API client of {:?}", token.subject()),
///         BearerOrSession::Session(user) => format!("browser of {}", user.subject()),
///     }
/// }
/// ```
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per request, on the stack; a box would be an allocation per request"
)]
pub enum BearerOrSession<P: Provider> {
    /// A valid bearer token.
    Bearer(Bearer<P>),
    /// A logged-in browser.
    Session(Authenticated<P>),
}

impl<P: Provider> BearerOrSession<P> {
    /// The user (`sub`); `None` for a client-credentials token.
    pub fn subject(&self) -> Option<&str> {
        match self {
            BearerOrSession::Bearer(token) => token.subject(),
            BearerOrSession::Session(user) => Some(user.subject()),
        }
    }

    /// `"bearer"` or `"session"`.
    pub fn via(&self) -> &'static str {
        match self {
            BearerOrSession::Bearer(_) => "bearer",
            BearerOrSession::Session(_) => "session",
        }
    }
}

#[rocket::async_trait]
impl<'r, P: Provider> FromRequest<'r> for BearerOrSession<P> {
    type Error = OidcError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, OidcError> {
        if req.headers().contains("Authorization")
            || req.query_value::<&str>("access_token").is_some()
        {
            return Bearer::<P>::from_request(req)
                .await
                .map(BearerOrSession::Bearer);
        }
        Authenticated::<P>::from_request(req)
            .await
            .map(BearerOrSession::Session)
    }
}

impl<P: Provider> Sentinel for BearerOrSession<P> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        super::sentinel::aborts::<P>(rocket, "BearerOrSession")
    }
}

/// The app's own machine-to-machine token at provider `P` (client credentials grant,
/// RFC 6749 4.4), for calling other services: `[..providers.<name>.client_credentials]`
/// sets its `scope` and `resource`.
///
/// The token is kept and reused until shortly before it expires (a tenth of its lifetime,
/// a minute at most), and however many requests ask at once, one token request goes out.
///
/// ```
/// use rocket_oidc_auth::{provider::Default, ClientCredentials, OidcError};
///
/// #[rocket::get("/report")]
/// async fn report(machine: ClientCredentials<Default>) -> Result<String, OidcError> {
///     let token = machine.token().await?;
///     // reqwest::Client::new().get(url).bearer_auth(token.secret()) ...
///     Ok(format!("a {} token, {} s left", token.token_type(), token.expires_in()))
/// }
/// ```
pub struct ClientCredentials<P: Provider> {
    client: Arc<ProviderState>,
    marker: PhantomData<fn() -> P>,
}

impl<P: Provider> fmt::Debug for ClientCredentials<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("provider", &P::NAME)
            .finish_non_exhaustive()
    }
}

impl<P: Provider> ClientCredentials<P> {
    /// A valid token: the kept one, or a new one from the provider.
    pub async fn token(&self) -> Result<MachineToken, OidcError> {
        machine::token(&self.client).await.map(MachineToken)
    }
}

#[rocket::async_trait]
impl<'r, P: Provider> FromRequest<'r> for ClientCredentials<P> {
    type Error = OidcError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, OidcError> {
        match provider_of::<P>(req, "ClientCredentials") {
            Ok((_, client)) => Outcome::Success(ClientCredentials {
                client: client.clone(),
                marker: PhantomData,
            }),
            Err(err) => Outcome::Error((err.status(), RequestState::of(req).fail(err))),
        }
    }
}

impl<P: Provider> Sentinel for ClientCredentials<P> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        super::sentinel::aborts::<P>(rocket, "ClientCredentials")
    }
}

/// A machine-to-machine access token. Its `Debug` output never shows the token.
#[derive(Clone)]
pub struct MachineToken(Arc<machine::Issued>);

impl MachineToken {
    /// The token, for the `Authorization` header.
    pub fn secret(&self) -> &str {
        &self.0.access_token
    }

    /// As the provider said (`Bearer`).
    pub fn token_type(&self) -> &str {
        &self.0.token_type
    }

    /// The granted scope, when the provider said it.
    pub fn scope(&self) -> Option<&str> {
        self.0.scope.as_deref()
    }

    /// Seconds until it expires.
    pub fn expires_in(&self) -> i64 {
        self.0.expires_at.saturating_sub(now()).max(0)
    }

    /// When it expires.
    pub fn expires_at(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(self.0.expires_at)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }
}

impl fmt::Debug for MachineToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MachineToken")
            .field("secret", &"[redacted]")
            .field("token_type", &self.0.token_type)
            .field("expires_at", &self.0.expires_at)
            .finish()
    }
}
