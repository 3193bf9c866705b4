//! The one error type that reaches the application's catchers.

use std::borrow::Cow;
use std::fmt;

use rocket::http::Status;

/// What went wrong, coarsely, so an application can `match` on it.
///
/// ```
/// use rocket::Request;
/// use rocket_oidc_auth::{ErrorKind, OidcError};
///
/// fn user_message(req: &Request<'_>) -> &'static str {
///     match OidcError::of(req).map(OidcError::kind) {
///         Some(ErrorKind::ProviderError) => "The login was refused at the provider.",
///         Some(ErrorKind::ProviderUnavailable) => "The login service is down; try again soon.",
///         Some(_) => "The login failed; please try again.",
///         None => "Something went wrong.",
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request has no valid session and does not accept HTML, so no login redirect was
    /// sent (401).
    Unauthenticated,
    /// The callback carried no `state`, an unknown `state` (replayed, forged or expired login),
    /// or a malformed parameter (400).
    InvalidCallback,
    /// The provider answered the authorization request with an OAuth `error`, such as
    /// `access_denied` (403) or `invalid_scope` (400).
    ProviderError,
    /// The callback's RFC 9207 `iss` did not name the provider the login was sent to, or was
    /// missing although the provider advertises it (400).
    IssuerMismatch,
    /// The token endpoint refused the code (for example `invalid_grant`) (400).
    TokenRequest,
    /// The ID token failed validation: signature, `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`,
    /// `auth_time` or `at_hash` (401).
    InvalidIdToken,
    /// The UserInfo response was unusable or named another `sub` (401).
    InvalidUserinfo,
    /// The provider answered with something that is not a valid OpenID Connect response:
    /// a 5xx status, a bad discovery document, an issuer mismatch in discovery (502).
    BadProviderResponse,
    /// The provider could not be reached (503) or did not answer in time (504).
    ProviderUnavailable,
    /// The route names a provider that is not configured (500, logged with the fix).
    Configuration,
    /// A request to one of the crate's routes was malformed, such as a logout naming an
    /// unknown provider (400).
    InvalidRequest,
    /// A logout request came from another site (403).
    CrossSiteRequest,
    /// The access token expired and could not be refreshed: no refresh token, or the
    /// provider refused it (401).
    NoValidToken,
    /// The session store (Redis) failed or did not answer in time (503). Public routes keep
    /// working; guarded ones answer this until the store is back.
    StoreUnavailable,
    /// A bearer token an API received is invalid: malformed, expired, revoked, not for this
    /// API (`aud`), or refused by the provider (401, `error="invalid_token"`).
    InvalidToken,
    /// A valid bearer token without a scope the route requires (403,
    /// `error="insufficient_scope"`).
    InsufficientScope,
    /// A bound of `[oidc.limits]` was reached: one client's DPoP key sent more proofs than
    /// the API remembers (429), or anonymous requests caused more calls to the provider than
    /// allowed (503). The response's `Retry-After` says when to try again.
    RateLimited,
}

/// An OpenID Connect failure, with a fitting HTTP status and, like Flask-pyoidc's error view,
/// an OAuth `error` code and an `error_description`.
///
/// Every failure of the login flow and of the [`Authenticated`](crate::Authenticated) guard is
/// stored on the request, so the application's catcher can render it with
/// [`OidcError::of`]. Without a catcher, Rocket's default error page shows.
///
/// ```
/// use rocket::http::Status;
/// use rocket::serde::json::{json, Json, Value};
/// use rocket::{catch, Request};
/// use rocket_oidc_auth::OidcError;
///
/// #[catch(default)]
/// fn oidc_error(status: Status, req: &Request) -> (Status, Json<Value>) {
///     let body = match OidcError::of(req) {   // like Flask-pyoidc's error view
///         Some(err) => json!({ "error": err.error(), "message": err.error_description() }),
///         None => json!({ "error": status.reason_lossy(), "message": null }),
///     };
///     (status, Json(body))
/// }
/// ```
#[derive(Clone)]
pub struct OidcError {
    kind: ErrorKind,
    status: Status,
    error: Cow<'static, str>,
    description: String,
    /// What only the log may say (hosts, a store's own error), never the description.
    log_detail: Option<std::sync::Arc<str>>,
    /// Seconds after which a retry may succeed (`Retry-After`), when the crate knows.
    retry_after: Option<u64>,
    /// A provider host that has no address (DNS: no such name): a mistake, not an outage.
    unknown_host: Option<std::sync::Arc<str>>,
}

impl OidcError {
    pub(crate) fn new(
        kind: ErrorKind,
        status: Status,
        error: impl Into<Cow<'static, str>>,
        description: impl Into<String>,
    ) -> Self {
        OidcError {
            kind,
            status,
            error: error.into(),
            description: description.into(),
            log_detail: None,
            retry_after: None,
            unknown_host: None,
        }
    }

    /// The coarse kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status the failure was answered with.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The OAuth 2.0 `error` code: the provider's own (`access_denied`, `invalid_grant`, ...)
    /// where it sent one, otherwise one of this crate's (`invalid_state`, `invalid_id_token`,
    /// `provider_unavailable`, ...).
    pub fn error(&self) -> &str {
        &self.error
    }

    /// A human-readable description fit for end users: the provider's `error_description`
    /// where it sent one, otherwise what went wrong in plain terms. Never contains tokens,
    /// secrets, configuration keys or internal URLs; those are in
    /// [`developer_detail`](Self::developer_detail).
    pub fn error_description(&self) -> &str {
        &self.description
    }

    /// Logs the failure once, at a level that fits whose fault it is.
    pub(crate) fn log(&self) {
        let detail = self.log_detail.as_deref().unwrap_or_default();
        let sep = if detail.is_empty() { "" } else { ": " };
        log::log!(self.log_level(), "oidc: {self}{sep}{detail}");
    }

    /// Errors for this app's operators (5xx: a provider or store failing) at `Error`;
    /// bad input and what a provider reported for a user's own login (even its
    /// `server_error`) at `Warn`; a bound of `[oidc.limits]` reached at `Debug` (the bound
    /// itself warns once a minute).
    fn log_level(&self) -> log::Level {
        match self.kind {
            // A flood would write a line per request: what refuses it warns once a minute.
            ErrorKind::RateLimited => log::Level::Debug,
            ErrorKind::ProviderError => log::Level::Warn,
            _ if self.status.code >= 500 => log::Level::Error,
            _ => log::Level::Warn,
        }
    }

    /// Adds what the log line (and only it) should say about the cause.
    pub(crate) fn with_log_detail(mut self, detail: impl Into<String>) -> Self {
        self.log_detail = Some(detail.into().into());
        self
    }

    /// Says when a retry may succeed (the response's `Retry-After`, at least 1 s).
    pub(crate) fn with_retry_after(mut self, after: std::time::Duration) -> Self {
        self.retry_after = Some(after.as_secs_f64().ceil().max(1.0) as u64);
        self
    }

    /// Seconds after which a retry may succeed, when the crate knows.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// Says the provider's `host` has no address (DNS answered: no such name).
    pub(crate) fn with_unknown_host(mut self, host: &str) -> Self {
        self.unknown_host = Some(host.into());
        self
    }

    /// The provider host that has no address, when that is why the call failed.
    pub(crate) fn unknown_host(&self) -> Option<&str> {
        self.unknown_host.as_deref()
    }

    /// What went wrong in terms for the app's developers and operators: configuration keys,
    /// endpoints, which claim of a token failed, a store's own error. The crate logs it with
    /// the failure; show it in your own logs or developer pages, never to end users (use
    /// [`error_description`](Self::error_description) for them).
    pub fn developer_detail(&self) -> Option<&str> {
        self.log_detail.as_deref()
    }
}

impl fmt::Display for OidcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.error, self.status.code, self.description
        )
    }
}

impl fmt::Debug for OidcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Short: Rocket prints it for every failed guard, next to the crate's own log line
        // that says it all (Display and the developer detail).
        f.debug_struct("OidcError")
            .field("kind", &self.kind)
            .field("status", &self.status.code)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl std::error::Error for OidcError {}

/// Shorthands for the errors the crate raises itself.
impl OidcError {
    pub(crate) fn invalid_callback(error: &'static str, description: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::InvalidCallback,
            Status::BadRequest,
            error,
            description,
        )
    }

    /// `detail` (which claim failed, against which issuer) goes to the log only.
    pub(crate) fn invalid_id_token(detail: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::InvalidIdToken,
            Status::Unauthorized,
            "invalid_id_token",
            "the login could not be verified: the provider's identity token was not valid",
        )
        .with_log_detail(detail)
    }

    /// `detail` goes to the log only.
    pub(crate) fn invalid_userinfo(detail: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::InvalidUserinfo,
            Status::Unauthorized,
            "invalid_userinfo",
            "the login could not be completed: the provider's user information was not usable",
        )
        .with_log_detail(detail)
    }

    /// `detail` (the endpoint, the status, what was wrong) goes to the log only.
    /// A bearer token that is not valid for this API (RFC 6750 3.1 `invalid_token`, 401).
    pub(crate) fn invalid_token(detail: impl Into<String>) -> Self {
        OidcError::new(
            ErrorKind::InvalidToken,
            Status::Unauthorized,
            "invalid_token",
            "the access token is invalid or expired",
        )
        .with_log_detail(detail)
    }

    /// A mistake in the app's setup met at run time (500); `detail` says how to fix it.
    pub(crate) fn configuration(detail: impl Into<String>) -> Self {
        OidcError::new(
            ErrorKind::Configuration,
            Status::InternalServerError,
            "server_error",
            "the login of this page is not set up correctly; tell the site's operators",
        )
        .with_log_detail(detail)
    }

    pub(crate) fn bad_provider_response(detail: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::BadProviderResponse,
            Status::BadGateway,
            "bad_provider_response",
            "the login service sent an answer this site cannot use; try again later",
        )
        .with_log_detail(detail)
    }

    pub(crate) fn unavailable(timed_out: bool, description: impl Into<String>) -> Self {
        let status = if timed_out {
            Status::GatewayTimeout
        } else {
            Status::ServiceUnavailable
        };
        let summary = if timed_out {
            "the login service did not answer in time; try again in a moment"
        } else {
            "the login service cannot be reached right now; try again in a moment"
        };
        Self::new(
            ErrorKind::ProviderUnavailable,
            status,
            "provider_unavailable",
            summary,
        )
        .with_log_detail(description)
    }

    /// An OAuth error the provider sent in the authorization response.
    pub(crate) fn from_provider(error: &str, description: Option<&str>) -> Self {
        let status = match error {
            "access_denied" => Status::Forbidden,
            "temporarily_unavailable" => Status::ServiceUnavailable,
            "server_error" => Status::BadGateway,
            _ => Status::BadRequest,
        };
        Self::new(
            ErrorKind::ProviderError,
            status,
            sanitize(error, 64),
            description
                .map(|d| sanitize(d, 512))
                .unwrap_or_else(|| "the provider refused the login".into()),
        )
    }
}

/// Every `error` code the crate itself gives its errors (beside a provider's own), as the
/// metrics' `result` label may show them.
pub(crate) const CODES: &[&str] = &[
    "bad_provider_response",
    "cross_site_request",
    "insufficient_scope",
    "invalid_authorization_response",
    "invalid_dpop_proof",
    "invalid_id_token",
    "invalid_issuer",
    "invalid_request",
    "invalid_state",
    "invalid_token",
    "invalid_userinfo",
    "login_required",
    "no_valid_token",
    "provider_unavailable",
    "rate_limited",
    "server_error",
    "session_store_unavailable",
    "session_too_large",
    "temporarily_unavailable",
    "unauthenticated",
];

/// Keeps provider-supplied text printable and short before it is logged or rendered.
pub(crate) fn sanitize(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !is_format_char(*c))
        .take(max)
        .collect()
}

/// Unicode format characters (category Cf) that can make a log line or an error page say
/// something else than it holds: bidirectional overrides (U+202E), zero-width characters,
/// soft hyphens, the byte order mark.
fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_providers_own_error_report_is_a_warning_not_an_error() {
        let reported = OidcError::from_provider("server_error", Some("oops"));
        assert_eq!(reported.status().code, 502);
        assert_eq!(reported.log_level(), log::Level::Warn);
        let failing = OidcError::unavailable(false, "connection refused");
        assert_eq!(failing.log_level(), log::Level::Error);
        let bad_input = OidcError::invalid_callback("invalid_state", "x");
        assert_eq!(bad_input.log_level(), log::Level::Warn);
    }

    #[test]
    fn sanitized_text_keeps_no_control_or_format_characters() {
        let hostile = "ok\u{202E}gnp.exe\u{200B}\r\nX-Injected: 1\u{FEFF}";
        assert_eq!(sanitize(hostile, 100), "okgnp.exeX-Injected: 1");
        assert_eq!(sanitize("abcdef", 3), "abc");
    }
}
