//! The authorization response as the callback receives it (Core 3.1.2.5, 3.2.2.5,
//! 3.3.2.5): its parameters, each at most once, how it arrived, and the RFC 9207 rule for
//! its `iss`.

use crate::error::{sanitize, OidcError};

/// How the authorization response reached the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// In the query of a `GET`.
    Query,
    /// In the body of a `POST`: the provider's form (form_post) or the callback's relay
    /// page (fragment).
    Posted,
}

/// The parameters of an authorization response; each may appear once.
#[derive(Default)]
pub(crate) struct CallbackParams {
    pub(super) state: Option<String>,
    pub(super) code: Option<String>,
    pub(super) iss: Option<String>,
    pub(super) error: Option<String>,
    pub(super) error_description: Option<String>,
    pub(super) id_token: Option<String>,
    pub(super) access_token: Option<String>,
    pub(super) token_type: Option<String>,
    pub(super) expires_in: Option<String>,
    /// JARM: the whole response as one JWT.
    pub(super) response: Option<String>,
}

impl CallbackParams {
    pub(crate) fn parse(query: &str) -> Result<Self, OidcError> {
        let mut params = CallbackParams::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match &*name {
                "state" => &mut params.state,
                "code" => &mut params.code,
                "iss" => &mut params.iss,
                "error" => &mut params.error,
                "error_description" => &mut params.error_description,
                "id_token" => &mut params.id_token,
                "access_token" => &mut params.access_token,
                "token_type" => &mut params.token_type,
                "expires_in" => &mut params.expires_in,
                "response" => &mut params.response,
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(OidcError::invalid_callback(
                    "invalid_request",
                    format!("the callback repeats the {name} parameter"),
                ));
            }
        }
        Ok(params)
    }

    /// Whether the response carries anything at all (a `GET` without is the browser coming
    /// back with the response in the fragment, which only the relay page can read).
    pub(crate) fn is_empty(&self) -> bool {
        self.state.is_none()
            && self.code.is_none()
            && self.error.is_none()
            && self.response.is_none()
    }
}

/// RFC 9207 on an answer's `iss` against the provider's `issuer`: `None` when it is taken,
/// else what is wrong. A missing one is taken when the answer's ID token names the issuer
/// itself (`names_issuer`), or when nothing (`required`: why) asks for it.
pub(super) fn iss_refusal(
    iss: Option<&str>,
    issuer: &str,
    names_issuer: bool,
    required: Option<&str>,
) -> Option<String> {
    match (iss, required) {
        (Some(iss), _) if iss == issuer => None,
        (Some(iss), _) => Some(format!(
            "has iss {:?}, which is not its issuer (mix-up attack?)",
            sanitize(iss, 200)
        )),
        (None, _) if names_issuer => None,
        (None, Some(why)) => Some(format!("has no iss, and {why}")),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_callback_parameters_are_refused() {
        assert!(CallbackParams::parse("state=a&state=b").is_err());
        assert!(CallbackParams::parse("id_token=a&id_token=b").is_err());
        let params = CallbackParams::parse("state=a&code=c%2Bd&other=1").unwrap();
        assert_eq!(params.code.as_deref(), Some("c+d"));
        assert!(!params.is_empty());
        assert!(CallbackParams::parse("").unwrap().is_empty());
    }

    const OP: &str = "https://op.example";

    #[test]
    fn rfc_9207_iss_is_checked_and_required_when_asked_for() {
        assert_eq!(iss_refusal(Some(OP), OP, false, Some("FAPI")), None);
        let other = iss_refusal(Some("https://evil.example"), OP, false, None).unwrap();
        assert!(other.contains("mix-up"), "{other}");
        // Missing: refused when required (advertised, or a FAPI profile) ...
        let missing = iss_refusal(None, OP, false, Some("profile \"fapi2\" requires it")).unwrap();
        assert_eq!(missing, "has no iss, and profile \"fapi2\" requires it");
        // ... taken when nothing asks for it, or when an ID token names the issuer.
        assert_eq!(iss_refusal(None, OP, false, None), None);
        assert_eq!(iss_refusal(None, OP, true, Some("advertised")), None);
    }
}
