//! `response_type` and `response_mode` of a provider: what the authorization response
//! carries (a code, an ID token, an access token) and how it comes back to the callback.

use super::defaults;
use super::error::{bail, ConfigError};
use super::urls::is_loopback;

/// What the authorization response carries (Core 3, OAuth 2.0 Multiple Response Types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseType {
    /// The authorization code flow (the default).
    Code,
    /// Hybrid: a code and an ID token.
    CodeIdToken,
    /// Hybrid: a code and an access token.
    CodeToken,
    /// Hybrid: a code, an ID token and an access token.
    CodeIdTokenToken,
    /// Implicit: an ID token only (no access token, so no UserInfo).
    IdToken,
    /// Implicit: an ID token and an access token.
    IdTokenToken,
}

impl ResponseType {
    const ALL: [ResponseType; 6] = [
        ResponseType::Code,
        ResponseType::CodeIdToken,
        ResponseType::CodeToken,
        ResponseType::CodeIdTokenToken,
        ResponseType::IdToken,
        ResponseType::IdTokenToken,
    ];

    /// The value of the `response_type` parameter.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ResponseType::Code => "code",
            ResponseType::CodeIdToken => "code id_token",
            ResponseType::CodeToken => "code token",
            ResponseType::CodeIdTokenToken => "code id_token token",
            ResponseType::IdToken => "id_token",
            ResponseType::IdTokenToken => "id_token token",
        }
    }

    /// Reads a configured value; the order of the words does not matter (Multiple
    /// Response Types 5).
    fn parse(value: &str) -> Option<ResponseType> {
        let mut words: Vec<&str> = value.split_whitespace().collect();
        words.sort_unstable();
        Self::ALL.into_iter().find(|t| {
            let mut ours: Vec<&str> = t.as_str().split(' ').collect();
            ours.sort_unstable();
            ours == words
        })
    }

    /// A code comes back (to be exchanged at the token endpoint).
    pub(crate) fn has_code(self) -> bool {
        matches!(
            self,
            ResponseType::Code
                | ResponseType::CodeIdToken
                | ResponseType::CodeToken
                | ResponseType::CodeIdTokenToken
        )
    }

    /// An ID token comes back in the authorization response itself.
    pub(crate) fn has_id_token(self) -> bool {
        matches!(
            self,
            ResponseType::CodeIdToken
                | ResponseType::CodeIdTokenToken
                | ResponseType::IdToken
                | ResponseType::IdTokenToken
        )
    }

    /// An access token comes back in the authorization response itself.
    pub(crate) fn has_token(self) -> bool {
        matches!(
            self,
            ResponseType::CodeToken | ResponseType::CodeIdTokenToken | ResponseType::IdTokenToken
        )
    }

    /// Tokens travel through the browser: the response must not be in a query.
    pub(crate) fn is_front_channel(self) -> bool {
        self != ResponseType::Code
    }

    /// The grant types to register for it (Registration 1.0, 2).
    pub(crate) fn grant_types(self) -> &'static [&'static str] {
        match self {
            ResponseType::Code => &["authorization_code", "refresh_token"],
            ResponseType::IdToken | ResponseType::IdTokenToken => &["implicit"],
            _ => &["authorization_code", "implicit", "refresh_token"],
        }
    }
}

/// How the authorization response comes back to the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseMode {
    /// In the query of a redirect (the code flow's default).
    Query,
    /// In the fragment of a redirect (the default with tokens in the response): the
    /// callback serves a page that posts it back, since browsers never send a fragment.
    Fragment,
    /// In a form the provider's page posts to the callback (OAuth 2.0 Form Post Response
    /// Mode): the login's cookie must come with a cross-site `POST`, so it is
    /// `SameSite=None; Secure`.
    FormPost,
}

impl ResponseMode {
    /// The value of the `response_mode` parameter.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
        }
    }
}

/// Reads `response_type` and `response_mode` of the provider at `key` for an app at
/// `origin`.
pub(super) fn validate_response(
    key: &str,
    response_type: Option<&str>,
    response_mode: Option<&str>,
    origin: &str,
) -> Result<(ResponseType, ResponseMode), ConfigError> {
    let configured = response_type.unwrap_or(defaults::RESPONSE_TYPE);
    let Some(response_type) = ResponseType::parse(configured) else {
        bail!(
            format!("{key}.response_type"),
            format!("= {configured:?} is not supported"),
            "use \"code\" (the default), a hybrid one (\"code id_token\", \"code token\", \
             \"code id_token token\") or an implicit one (\"id_token\", \"id_token token\")"
        );
    };
    let default_mode = if response_type.is_front_channel() {
        ResponseMode::Fragment
    } else {
        ResponseMode::Query
    };
    let response_mode = match response_mode {
        None => default_mode,
        Some("query") if response_type.is_front_channel() => bail!(
            format!("{key}.response_mode"),
            format!(
                "= \"query\" cannot carry the tokens of response_type {:?} (OAuth 2.0 \
                 Multiple Response Types 5: they must not be in a query)",
                response_type.as_str()
            ),
            "use \"fragment\" (the default for it) or \"form_post\""
        ),
        Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => {
            // A Secure cookie is dropped over plain http, but for loopback hosts (browsers
            // treat them as secure contexts).
            let origin = url::Url::parse(origin).ok();
            if origin.is_some_and(|o| o.scheme() == "http" && !is_loopback(&o)) {
                bail!(
                    format!("{key}.response_mode"),
                    "= \"form_post\" needs an https redirect_uri (or http on localhost or \
                     127.0.0.1): its login cookie is SameSite=None, which browsers take only \
                     when Secure",
                    "serve the app over https, or leave response_mode out"
                );
            }
            ResponseMode::FormPost
        }
        Some(other) => bail!(
            format!("{key}.response_mode"),
            format!("= {other:?} is not supported"),
            "use \"query\", \"fragment\" or \"form_post\", or leave it out"
        ),
    };
    if matches!(
        response_type,
        ResponseType::IdToken | ResponseType::IdTokenToken
    ) {
        log::warn!(
            "oidc: {key}.response_type = {:?} is the implicit flow, which RFC 9700 (OAuth 2.0 \
             Security Best Current Practice) discourages: its tokens travel through the \
             browser and cannot be refreshed; prefer \"code\" where the provider allows it",
            response_type.as_str()
        );
    }
    Ok((response_type, response_mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "oidc.providers.default";
    const HTTPS: &str = "https://app.example";

    fn read(t: Option<&str>, m: Option<&str>) -> Result<(ResponseType, ResponseMode), String> {
        validate_response(KEY, t, m, HTTPS).map_err(|e| e.to_string())
    }

    #[test]
    fn every_response_type_reads_in_any_word_order() {
        for t in ResponseType::ALL {
            assert_eq!(ResponseType::parse(t.as_str()), Some(t));
            let reversed: Vec<&str> = t.as_str().split(' ').rev().collect();
            assert_eq!(ResponseType::parse(&reversed.join(" ")), Some(t));
        }
        assert_eq!(ResponseType::parse("token"), None);
        assert_eq!(ResponseType::parse("code code"), None);
        assert_eq!(ResponseType::parse("none"), None);
    }

    #[test]
    fn the_mode_defaults_to_query_for_code_and_fragment_with_tokens() {
        assert_eq!(
            read(None, None).unwrap(),
            (ResponseType::Code, ResponseMode::Query)
        );
        assert_eq!(
            read(Some("code id_token"), None).unwrap(),
            (ResponseType::CodeIdToken, ResponseMode::Fragment)
        );
        assert_eq!(
            read(Some("id_token token"), Some("form_post")).unwrap(),
            (ResponseType::IdTokenToken, ResponseMode::FormPost)
        );
        assert_eq!(
            read(Some("code"), Some("fragment")).unwrap(),
            (ResponseType::Code, ResponseMode::Fragment)
        );
    }

    #[test]
    fn tokens_in_a_query_and_unknown_values_are_refused_naming_the_key() {
        let err = read(Some("code token"), Some("query")).unwrap_err();
        assert!(
            err.contains("oidc.providers.default.response_mode"),
            "{err}"
        );
        assert!(err.contains("must not be in a query"), "{err}");
        let err = read(Some("token"), None).unwrap_err();
        assert!(
            err.contains("oidc.providers.default.response_type"),
            "{err}"
        );
        let err = read(None, Some("web_message")).unwrap_err();
        assert!(err.contains("\"web_message\" is not supported"), "{err}");
    }

    #[test]
    fn form_post_needs_https_or_a_loopback_origin() {
        assert!(validate_response(KEY, None, Some("form_post"), "http://app.example").is_err());
        assert!(validate_response(KEY, None, Some("form_post"), "http://127.0.0.1:8000").is_ok());
    }

    #[test]
    fn the_registered_grant_types_follow_the_response_type() {
        assert_eq!(ResponseType::IdToken.grant_types(), ["implicit"]);
        assert!(ResponseType::CodeIdToken
            .grant_types()
            .contains(&"implicit"));
        assert!(!ResponseType::Code.grant_types().contains(&"implicit"));
    }
}
