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
    /// JARM (JWT Secured Authorization Response Mode): the response is one signed (and
    /// maybe encrypted) JWT, `response`, in the default carrier of the response type: the
    /// query for a code, the fragment with tokens.
    Jwt,
    /// JARM in the query.
    QueryJwt,
    /// JARM in the fragment.
    FragmentJwt,
    /// JARM in a posted form.
    FormPostJwt,
}

impl ResponseMode {
    /// The value of the `response_mode` parameter.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
            ResponseMode::Jwt => "jwt",
            ResponseMode::QueryJwt => "query.jwt",
            ResponseMode::FragmentJwt => "fragment.jwt",
            ResponseMode::FormPostJwt => "form_post.jwt",
        }
    }

    /// The response is a JWT to check before any of its parameters is used (JARM).
    pub(crate) fn is_jwt(self) -> bool {
        matches!(
            self,
            ResponseMode::Jwt
                | ResponseMode::QueryJwt
                | ResponseMode::FragmentJwt
                | ResponseMode::FormPostJwt
        )
    }

    /// How the response reaches the callback for `response_type`: in a query, a fragment
    /// or a posted form (JARM's modes ride on these; JARM 2.3.4 picks `jwt`'s).
    pub(crate) fn carrier(self, response_type: ResponseType) -> ResponseMode {
        match self {
            ResponseMode::Query | ResponseMode::QueryJwt => ResponseMode::Query,
            ResponseMode::Fragment | ResponseMode::FragmentJwt => ResponseMode::Fragment,
            ResponseMode::FormPost | ResponseMode::FormPostJwt => ResponseMode::FormPost,
            ResponseMode::Jwt if response_type.is_front_channel() => ResponseMode::Fragment,
            ResponseMode::Jwt => ResponseMode::Query,
        }
    }

    /// The mode to ask for: `None` when it is the response type's default.
    pub(crate) fn parameter(self, response_type: ResponseType) -> Option<&'static str> {
        let default = if response_type.is_front_channel() {
            ResponseMode::Fragment
        } else {
            ResponseMode::Query
        };
        (self != default).then_some(self.as_str())
    }
}

/// Reads `response_type` and `response_mode` of the provider at `key` for an app at
/// `origin`; `encrypts`: the client has a decryption key (JARM in a query with tokens
/// needs it).
pub(super) fn validate_response(
    key: &str,
    response_type: Option<&str>,
    response_mode: Option<&str>,
    origin: &str,
    encrypts: bool,
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
        Some("jwt") => ResponseMode::Jwt,
        Some("fragment.jwt") => ResponseMode::FragmentJwt,
        // JARM 2.3.1: tokens in a query only inside an encrypted response.
        Some("query.jwt") if response_type.is_front_channel() && !encrypts => bail!(
            format!("{key}.response_mode"),
            format!(
                "= \"query.jwt\" would put the tokens of response_type {:?} in a query \
                 readable by anyone who sees the URL (JARM 2.3.1)",
                response_type.as_str()
            ),
            "use \"jwt\" or \"fragment.jwt\", or set an encryption_key so the response is \
             encrypted"
        ),
        Some("query.jwt") => ResponseMode::QueryJwt,
        Some(mode @ ("form_post" | "form_post.jwt")) => {
            // A Secure cookie is dropped over plain http, but for loopback hosts (browsers
            // treat them as secure contexts).
            let origin = url::Url::parse(origin).ok();
            if origin.is_some_and(|o| o.scheme() == "http" && !is_loopback(&o)) {
                bail!(
                    format!("{key}.response_mode"),
                    format!(
                        "= {mode:?} needs an https redirect_uri (or http on localhost or \
                         127.0.0.1): its login cookie is SameSite=None, which browsers take \
                         only when Secure"
                    ),
                    "serve the app over https, or leave response_mode out"
                );
            }
            if mode == "form_post" {
                ResponseMode::FormPost
            } else {
                ResponseMode::FormPostJwt
            }
        }
        Some(other) => bail!(
            format!("{key}.response_mode"),
            format!("= {other:?} is not supported"),
            "use \"query\", \"fragment\", \"form_post\" or, for JWT-secured responses \
             (JARM), \"jwt\", \"query.jwt\", \"fragment.jwt\" or \"form_post.jwt\"; or \
             leave it out"
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
        validate_response(KEY, t, m, HTTPS, false).map_err(|e| e.to_string())
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
        for mode in ["form_post", "form_post.jwt"] {
            assert!(validate_response(KEY, None, Some(mode), "http://app.example", false).is_err());
            assert!(
                validate_response(KEY, None, Some(mode), "http://127.0.0.1:8000", false).is_ok()
            );
        }
    }

    #[test]
    fn jarm_modes_ride_on_a_carrier() {
        let (t, m) = read(None, Some("jwt")).unwrap();
        assert!(m.is_jwt());
        assert_eq!(m.carrier(t), ResponseMode::Query);
        assert_eq!(m.parameter(t), Some("jwt"));
        let (t, m) = read(Some("code id_token"), Some("jwt")).unwrap();
        assert_eq!(m.carrier(t), ResponseMode::Fragment);
        let (t, m) = read(None, Some("form_post.jwt")).unwrap();
        assert_eq!(
            (m.carrier(t), m.as_str()),
            (ResponseMode::FormPost, "form_post.jwt")
        );
        assert_eq!(
            read(None, Some("query.jwt")).unwrap().1,
            ResponseMode::QueryJwt
        );
        assert!(!ResponseMode::Query.is_jwt());
        assert_eq!(ResponseMode::Query.parameter(ResponseType::Code), None);
        // Tokens in a query only when encrypted (JARM 2.3.1).
        let err = read(Some("code token"), Some("query.jwt")).unwrap_err();
        assert!(err.contains("JARM 2.3.1"), "{err}");
        assert!(validate_response(KEY, Some("code token"), Some("query.jwt"), HTTPS, true).is_ok());
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
