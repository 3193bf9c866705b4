//! Third-party-initiated login (OpenID Connect Core 4): a provider, or a portal it trusts,
//! sends the browser to `initiate_login_path` with `iss`, and this app starts a login there.
//! What such a request may ask is checked here: the issuer must be a configured provider's,
//! `login_hint` is passed on, and `target_link_uri` must be a page of this app (never a
//! redirect elsewhere).

use std::sync::Arc;

use rocket::http::Status;

use super::{Oidc, ProviderState};
use crate::config::safe_return_path;
use crate::error::{sanitize, ErrorKind, OidcError};
use crate::op::LoginParams;

/// The longest `login_hint` passed on.
const MAX_HINT: usize = 512;

/// A login to start, as an initiation asked for it.
#[derive(Debug)]
pub(crate) struct Initiation {
    pub(crate) client: Arc<ProviderState>,
    pub(crate) params: LoginParams,
    /// The path (and query) of this app to land on after the login.
    pub(crate) return_to: String,
}

/// Reads an initiation's parameters (the query of a `GET`, the form of a `POST`).
pub(crate) fn initiation(
    oidc: &Oidc,
    params: &[(String, String)],
) -> Result<Initiation, OidcError> {
    let iss = single(params, "iss")?.ok_or_else(|| bad("the request names no issuer (iss)"))?;
    let client = oidc
        .providers
        .iter()
        .find(|client| client.config.source.issuer() == iss)
        .cloned()
        .ok_or_else(|| {
            bad("the request names an issuer this app does not know").with_log_detail(format!(
                "login initiation: iss {:?} is not the issuer of a configured provider",
                sanitize(iss, 200)
            ))
        })?;
    let mut login = LoginParams::default();
    if let Some(hint) = single(params, "login_hint")? {
        let hint = hint.trim();
        if hint.is_empty() || hint.len() > MAX_HINT || hint.chars().any(char::is_control) {
            return Err(bad(&format!(
                "login_hint must be 1 to {MAX_HINT} printable characters"
            )));
        }
        login.login_hint = Some(hint.to_string());
    }
    let return_to = match single(params, "target_link_uri")? {
        None => "/".to_string(),
        Some(target) => target_path(&oidc.app_origin, target).ok_or_else(|| {
            bad("target_link_uri is not a page of this app").with_log_detail(format!(
                "login initiation: target_link_uri {:?} is not under {}",
                sanitize(target, 200),
                oidc.app_origin
            ))
        })?,
    };
    Ok(Initiation {
        client,
        params: login,
        return_to,
    })
}

/// The path and query of `target` when it is a URL of this app (`origin`), or a path of
/// it; `None` for anything else.
fn target_path(origin: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        // A path: only one that stays inside the app, unchanged.
        return (safe_return_path(target) == target).then(|| target.to_string());
    }
    let url = url::Url::parse(target).ok()?;
    if url.origin().ascii_serialization() != origin {
        return None;
    }
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    (safe_return_path(&path) == path).then_some(path)
}

/// The value of `name`, if the request has it once; repeated is an error.
fn single<'a>(params: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, OidcError> {
    let mut values = params.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
    match (values.next(), values.next()) {
        (_, Some(_)) => Err(bad(&format!("the parameter {name} is repeated"))),
        (value, None) => Ok(value.map(String::as_str)),
    }
}

fn bad(why: &str) -> OidcError {
    OidcError::new(
        ErrorKind::InvalidRequest,
        Status::BadRequest,
        "invalid_request",
        format!("this login link is not valid: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_must_be_a_page_of_this_app() {
        let origin = "https://app.example.com";
        let path = |t: &str| target_path(origin, t);
        assert_eq!(
            path("https://app.example.com/a?b=1").as_deref(),
            Some("/a?b=1")
        );
        assert_eq!(path("https://app.example.com").as_deref(), Some("/"));
        assert_eq!(path("/reports").as_deref(), Some("/reports"));
        for foreign in [
            "https://evil.example/a",
            "http://app.example.com/a",
            "https://app.example.com:8443/a",
            "https://app.example.com.evil.example/",
            "//evil.example/a",
            "/\\evil.example",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(path(foreign), None, "{foreign:?}");
        }
    }
}
