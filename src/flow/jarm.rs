//! The callback's part of JWT-secured authorization responses (JARM): which login a
//! response JWT belongs to, and its parameters once its provider has checked it.

use rocket::http::CookieJar;
use subtle::ConstantTimeEq;

use super::response::CallbackParams;
use super::{Oidc, ProviderState};
use crate::error::OidcError;
use crate::op::client::Resolved;

/// The state of the login an answer belongs to. In a JWT answer it is read unchecked, only
/// to find this browser's login, whose provider then checks the JWT before anything of it
/// is used; a browser without any login's cookie has no login to finish, so no decryption
/// is spent on its answer.
pub(super) fn login_state(
    oidc: &Oidc,
    params: &CallbackParams,
    jar: &CookieJar<'_>,
) -> Result<String, OidcError> {
    let Some(jwt) = &params.response else {
        return params.state.clone().ok_or_else(|| {
            OidcError::invalid_callback(
                "invalid_request",
                "the callback has no state parameter: it did not come from a login this app \
                 started",
            )
        });
    };
    let prefix = oidc.cookies.name(super::login::TX_COOKIE_PREFIX);
    let state = if jar.iter().any(|c| c.name().starts_with(&prefix)) {
        oidc.providers()
            .filter(|p| p.config.response_mode.is_jwt())
            .find_map(|p| p.response_state(jwt))
    } else {
        None
    };
    state.ok_or_else(|| {
        OidcError::invalid_callback(
            "invalid_authorization_response",
            "the provider's answer to the login could not be read; start the login again",
        )
        .with_log_detail(
            "a JWT response (JARM) without a readable state: no provider with a JWT \
             response_mode can open it (encrypted to another key, or spoiled)",
        )
    })
}

/// The parameters inside the response JWT, checked, when `client` answers with one; `None`
/// for a plain answer. Each way round with the configured `response_mode` is refused: a
/// plain answer where a JWT was asked for (a downgrade) and a JWT nobody asked for.
/// `login_state` is the state of the login the answer was matched to.
pub(super) async fn opened(
    client: &ProviderState,
    resolved: &Resolved,
    login_state: &str,
    params: &CallbackParams,
) -> Result<Option<CallbackParams>, OidcError> {
    let mode = client.config.response_mode;
    let refused = |description: &'static str, detail: String| {
        OidcError::invalid_callback("invalid_authorization_response", description)
            .with_log_detail(detail)
    };
    let jwt = match (&params.response, mode.is_jwt()) {
        (None, false) => return Ok(None),
        (Some(jwt), true) => jwt,
        (None, true) => {
            return Err(refused(
                "the provider's answer to the login is not the signed one it was asked for",
                format!(
                    "provider {:?} answered without a JWT, although the login asked for \
                     response_mode {:?} (a downgrade, or a forged callback)",
                    client.name(),
                    mode.as_str()
                ),
            ))
        }
        (Some(_), false) => {
            return Err(refused(
                "the provider's answer to the login is a JWT, which it was not asked for",
                format!(
                    "provider {:?}'s response_mode is {:?}: set a JWT mode if it answers with \
                     JARM",
                    client.name(),
                    mode.as_str()
                ),
            ))
        }
    };
    let form = client.open_authorization_response(resolved, jwt).await?;
    let opened = CallbackParams::parse(&form)?;
    // The login was found by the unchecked state: the checked one must be the same.
    let same = opened
        .state
        .as_deref()
        .is_some_and(|state| bool::from(login_state.as_bytes().ct_eq(state.as_bytes())));
    if !same {
        return Err(OidcError::invalid_callback(
            "invalid_state",
            "the state inside the response JWT does not match the login's",
        ));
    }
    Ok(Some(opened))
}
