//! `[oidc.providers.<name>]`: where a provider's metadata comes from, the client's identity,
//! scope and authorization parameters, UserInfo, logout URLs, endpoint overrides and key
//! freshness. Client authentication (`client.rs`), the HTTP client (`http.rs`), the extra
//! authorization parameters (`auth_params.rs`), the FAPI profile (`profile.rs`) and APIs
//! (`api.rs`) have rooms of their own.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::api::{self, ApiSettings};
use super::app::seconds;
use super::auth_params::auth_request_params;
use super::client::{self, ClientSettings};
use super::defaults;
use super::encryption::{validate_protection, ProtectedResponses, RawProtection};
use super::error::{bail, ConfigError};
use super::metadata::{endpoint_overrides, EndpointOverrides, ProviderMetadata, RawEndpoints};
use super::profile::{enforce, Explicit, Fapi};
use super::response::{validate_response, ResponseMode, ResponseType};
use super::urls::{check_route_path, parse_url_for, UrlPolicy};
use super::Secret;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    pub(super) issuer: Option<String>,
    pub(super) provider_metadata: Option<serde_json::Value>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
    pub(super) token_endpoint_auth_method: Option<String>,
    scope: Option<StringOrList>,
    #[serde(default)]
    auth_request_params: BTreeMap<String, serde_json::Value>,
    userinfo_http_method: Option<String>,
    response_type: Option<String>,
    response_mode: Option<String>,
    #[serde(default)]
    trusted_audiences: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    revoke_tokens_on_logout: Option<bool>,
    session_refresh_interval_seconds: Option<u64>,
    #[serde(default)]
    endpoints: RawEndpoints,
    jwks_max_age_seconds: Option<u64>,
    profile: Option<String>,
    // Client authentication, keys, PAR, DPoP, algorithms, HTTP and registration: read by
    // `client::validate_client`.
    pub(super) private_key: Option<String>,
    pub(super) private_key_pem: Option<String>,
    // Encrypted and signed responses: read by `encryption::validate_protection`.
    id_token_encrypted_response_alg: Option<String>,
    id_token_encrypted_response_enc: Option<String>,
    userinfo_signed_response_alg: Option<String>,
    userinfo_encrypted_response_alg: Option<String>,
    userinfo_encrypted_response_enc: Option<String>,
    authorization_signed_response_alg: Option<String>,
    authorization_encrypted_response_alg: Option<String>,
    authorization_encrypted_response_enc: Option<String>,
    pub(super) encryption_key: Option<String>,
    pub(super) encryption_key_pem: Option<String>,
    encryption_key_kid: Option<String>,
    pub(super) private_key_kid: Option<String>,
    pub(super) jwks_path: Option<String>,
    pub(super) token_endpoint_auth_signing_alg: Option<String>,
    pub(super) client_assertion_audience: Option<String>,
    pub(super) use_par: Option<bool>,
    pub(super) dpop: Option<bool>,
    pub(super) dpop_alg: Option<String>,
    pub(super) id_token_signed_response_alg: Option<String>,
    pub(super) request_object_signing_alg: Option<String>,
    pub(super) discovery_url: Option<String>,
    #[serde(default)]
    pub(super) ca_certificates: Vec<String>,
    pub(super) http_proxy: Option<String>,
    pub(super) http_user_agent: Option<String>,
    pub(super) tls_client_certificate: Option<String>,
    pub(super) tls_client_key: Option<String>,
    pub(super) client_registration: Option<BTreeMap<String, serde_json::Value>>,
    pub(super) registration_file: Option<String>,
    // APIs: read by `api::validate_api`.
    access_token_validation: Option<String>,
    access_token_audience: Option<String>,
    introspection_cache_seconds: Option<u64>,
    client_credentials: Option<api::RawClientCredentials>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrList {
    String(String),
    List(Vec<String>),
}

/// One `[oidc.providers.<name>]` table, validated.
#[derive(Debug)]
pub(crate) struct ProviderConfig {
    pub(crate) name: String,
    pub(crate) source: MetadataSource,
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<Secret>,
    /// Client authentication, keys, PAR, DPoP, the ID token algorithm, HTTP, registration.
    pub(crate) client: ClientSettings,
    /// Bearer tokens and the client-credentials grant.
    pub(crate) api: ApiSettings,
    /// Space-separated, always containing `openid`.
    pub(crate) scope: String,
    pub(crate) auth_request_params: Vec<(String, String)>,
    /// `max_age` from `auth_request_params`, which makes `auth_time` mandatory.
    pub(crate) max_age: Option<i64>,
    /// `acr_values` from `auth_request_params`: the ID token's `acr` must be one of them.
    pub(crate) acr_values: Vec<String>,
    pub(crate) userinfo: UserinfoMethod,
    /// Encrypted ID tokens, signed or encrypted UserInfo, and the key to decrypt them.
    pub(crate) protected: ProtectedResponses,
    /// What the authorization response carries.
    pub(crate) response_type: ResponseType,
    /// How the provider sends the authorization response back.
    pub(crate) response_mode: ResponseMode,
    pub(crate) trusted_audiences: Vec<String>,
    /// The `post_logout_redirect_uri` sent to the provider (the first configured one, or
    /// `<origin of redirect_uri><logout_path>/callback`), and its path, where the crate
    /// mounts the route that receives the browser back.
    pub(crate) post_logout_redirect_uri: String,
    pub(crate) post_logout_return_path: String,
    pub(crate) revoke_tokens_on_logout: bool,
    /// After this long since the last authentication, a browser request re-authenticates
    /// silently (`prompt=none`).
    pub(crate) session_refresh_interval: Option<i64>,
    /// Endpoints that replace what the provider's metadata says.
    pub(crate) endpoints: EndpointOverrides,
    /// Whether the provider's URLs may be plain http beyond loopback.
    pub(crate) url_policy: UrlPolicy,
    /// How long fetched keys are trusted before they are fetched again.
    pub(crate) jwks_max_age: Duration,
    /// `profile`: the FAPI 2.0 profile the client keeps, if any.
    pub(crate) fapi: Option<Fapi>,
    /// This provider's clock skew when it differs from the app's (a profile's bound).
    pub(crate) clock_skew: Option<i64>,
}

/// Where a provider's metadata comes from.
#[derive(Debug)]
pub(crate) enum MetadataSource {
    Discovery { issuer: String },
    Static(Box<ProviderMetadata>),
}

impl MetadataSource {
    pub(crate) fn issuer(&self) -> &str {
        match self {
            MetadataSource::Discovery { issuer } => issuer,
            MetadataSource::Static(metadata) => metadata.issuer(),
        }
    }
}

/// Whether and how the UserInfo endpoint is called after login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserinfoMethod {
    Get,
    Post,
    None,
}

/// What a provider's settings are checked against.
pub(super) struct AppUrls<'a> {
    pub(super) policy: UrlPolicy,
    pub(super) origin: String,
    pub(super) callback_path: &'a str,
    pub(super) logout_path: &'a str,
    /// The app sets `clock_skew` itself (a profile's own bound does not override it).
    pub(super) clock_skew_set: bool,
}

pub(super) fn validate_provider(
    name: String,
    mut raw: RawProvider,
    app: &AppUrls<'_>,
) -> Result<ProviderConfig, ConfigError> {
    let key = format!("oidc.providers.{name}");
    if name.is_empty()
        || name.len() > 32
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!(
            &key,
            "is not a valid name: a provider name may hold only letters, digits, '_' and '-' \
             (at most 32)",
            "rename the table"
        );
    }
    let fapi = Fapi::parse(&key, raw.profile.as_deref())?;
    let explicit = Explicit {
        use_par: raw.use_par,
        authorization_signed_alg: raw.authorization_signed_response_alg.is_some(),
        clock_skew: app.clock_skew_set,
    };
    let client_secret = raw
        .client_secret
        .take()
        .filter(|s| !s.is_empty())
        .map(Secret);
    let client = client::validate_client(&key, &mut raw, client_secret.is_some(), app.policy)?;
    if let Some(uris) = client
        .registration
        .as_ref()
        .and_then(|r| r.metadata.get("redirect_uris"))
    {
        let redirect_uri = format!("{}{}", app.origin, app.callback_path);
        let listed = uris
            .as_array()
            .is_some_and(|uris| uris.iter().any(|u| u.as_str() == Some(&redirect_uri)));
        if !listed {
            bail!(
                format!("{key}.client_registration.redirect_uris"),
                format!("must list oidc.redirect_uri ({redirect_uri:?}), where logins come back"),
                "add it, or leave redirect_uris out and the crate registers it"
            );
        }
    }
    let source = match (raw.issuer.take(), raw.provider_metadata.take()) {
        (Some(issuer), None) => {
            parse_url_for(app.policy, &format!("{key}.issuer"), &issuer)?;
            MetadataSource::Discovery { issuer }
        }
        (None, Some(table)) => {
            let at = format!("{key}.provider_metadata");
            let metadata = ProviderMetadata::from_value(table, &at)?;
            metadata.check(&at, app.policy)?;
            MetadataSource::Static(Box::new(metadata))
        }
        (Some(_), Some(_)) => bail!(
            &key,
            "sets both issuer and provider_metadata",
            "set either issuer (discovery) or a provider_metadata table (static), not both"
        ),
        (None, None) => bail!(
            format!("{key}.issuer"),
            "is missing",
            format!(
                "set issuer = \"https://op.example.com\" for discovery, or a \
                 [..providers.{name}.provider_metadata] table"
            )
        ),
    };
    let client_id = match raw.client_id.take() {
        Some(id) if !id.is_empty() => {
            if client.registration.is_some() {
                bail!(
                    &key,
                    "sets both client_id and a client_registration table, which exclude each \
                     other",
                    "keep client_id (and client_secret) for a client registered beforehand, \
                     or the table to register one dynamically"
                );
            }
            id
        }
        // Filled in by dynamic registration.
        _ if client.registration.is_some() => String::new(),
        _ => bail!(
            format!("{key}.client_id"),
            "is missing",
            format!(
                "set it to the client ID registered at the provider (or add a \
                 [..providers.{name}.client_registration] table to register dynamically)"
            )
        ),
    };
    let scope: Vec<String> = match raw.scope {
        None => vec![defaults::SCOPE.into()],
        Some(StringOrList::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(StringOrList::List(list)) => list,
    };
    if !scope.iter().any(|s| s == defaults::SCOPE) {
        bail!(
            format!("{key}.scope"),
            "must contain \"openid\"",
            "add it, e.g. scope = [\"openid\", \"email\"]: without it the provider does no \
             OpenID Connect"
        );
    }
    if let Some(bad) = scope
        .iter()
        .find(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        bail!(
            format!("{key}.scope"),
            format!("has an invalid entry {bad:?}"),
            "list one scope per string"
        );
    }
    let userinfo = match raw
        .userinfo_http_method
        .as_deref()
        .unwrap_or(defaults::USERINFO_HTTP_METHOD)
    {
        m if m.eq_ignore_ascii_case("GET") => UserinfoMethod::Get,
        m if m.eq_ignore_ascii_case("POST") => UserinfoMethod::Post,
        m if m.eq_ignore_ascii_case("none") => UserinfoMethod::None,
        other => bail!(
            format!("{key}.userinfo_http_method"),
            format!("= {other:?} is not valid"),
            "use \"GET\", \"POST\" or \"none\""
        ),
    };
    let (response_type, response_mode) = validate_response(
        &key,
        raw.response_type.as_deref(),
        raw.response_mode.as_deref(),
        &app.origin,
        raw.encryption_key.is_some() || raw.encryption_key_pem.is_some(),
    )?;
    let protected = validate_protection(
        &key,
        RawProtection {
            id_token_alg: raw.id_token_encrypted_response_alg.take(),
            id_token_enc: raw.id_token_encrypted_response_enc.take(),
            userinfo_signed_alg: raw.userinfo_signed_response_alg.take(),
            userinfo_alg: raw.userinfo_encrypted_response_alg.take(),
            userinfo_enc: raw.userinfo_encrypted_response_enc.take(),
            authorization_signed_alg: raw.authorization_signed_response_alg.take(),
            authorization_alg: raw.authorization_encrypted_response_alg.take(),
            authorization_enc: raw.authorization_encrypted_response_enc.take(),
            key_file: raw.encryption_key.take(),
            key_pem: raw.encryption_key_pem.take(),
            key_kid: raw.encryption_key_kid.take(),
        },
        client_secret.is_some(),
        response_mode.is_jwt(),
    )?;
    if client.dpop.is_some() && !response_type.has_code() {
        bail!(
            format!("{key}.dpop"),
            format!(
                "cannot bind the tokens of an implicit login (response_type {:?}): they come \
                 through the browser, not from the token endpoint",
                response_type.as_str()
            ),
            "use a response_type with a code, or turn dpop off"
        );
    }
    let (auth_request_params, max_age, acr_values) =
        auth_request_params(&key, raw.auth_request_params)?;
    let (post_logout_redirect_uri, post_logout_return_path) =
        post_logout_redirect(&key, &raw.post_logout_redirect_uris, app)?;
    let endpoints = endpoint_overrides(&key, raw.endpoints, app.policy)?;
    let api = api::validate_api(
        &key,
        raw.access_token_validation.as_deref(),
        raw.access_token_audience.take(),
        raw.introspection_cache_seconds
            .unwrap_or(defaults::INTROSPECTION_CACHE_SECONDS),
        raw.client_credentials.take(),
    )?;
    let session_refresh_interval = match raw.session_refresh_interval_seconds {
        Some(0) => bail!(
            format!("{key}.session_refresh_interval_seconds"),
            "must be positive",
            "set a number of seconds above 0, or leave it out to disable silent \
             re-authentication"
        ),
        other => other.map(seconds),
    };
    let jwks_max_age = match raw
        .jwks_max_age_seconds
        .unwrap_or(defaults::JWKS_MAX_AGE_SECONDS)
    {
        0 => bail!(
            format!("{key}.jwks_max_age_seconds"),
            "must be positive",
            format!(
                "leave it out for {} seconds, or set a number above 0",
                defaults::JWKS_MAX_AGE_SECONDS
            )
        ),
        seconds => Duration::from_secs(seconds),
    };
    let mut provider = ProviderConfig {
        name,
        source,
        client_id,
        client_secret,
        client,
        api,
        scope: scope.join(" "),
        auth_request_params,
        max_age,
        acr_values,
        userinfo,
        protected,
        response_type,
        response_mode,
        trusted_audiences: raw.trusted_audiences,
        post_logout_redirect_uri,
        post_logout_return_path,
        revoke_tokens_on_logout: raw
            .revoke_tokens_on_logout
            .unwrap_or(defaults::REVOKE_TOKENS_ON_LOGOUT),
        session_refresh_interval,
        endpoints,
        url_policy: app.policy,
        jwks_max_age,
        fapi,
        clock_skew: None,
    };
    enforce(&key, &mut provider, &explicit)?;
    Ok(provider)
}

/// The `post_logout_redirect_uri` sent to the provider, and the path it comes back to.
fn post_logout_redirect(
    key: &str,
    configured: &[String],
    app: &AppUrls<'_>,
) -> Result<(String, String), ConfigError> {
    let uri = match configured.first() {
        Some(uri) => uri.clone(),
        None => format!(
            "{}{}{}",
            app.origin,
            app.logout_path.trim_end_matches('/'),
            defaults::POST_LOGOUT_CALLBACK_SUFFIX
        ),
    };
    let key = format!("{key}.post_logout_redirect_uris");
    for uri in configured {
        parse_url_for(app.policy, &key, uri)?;
    }
    let parsed = parse_url_for(app.policy, &key, &uri)?;
    if parsed.origin().ascii_serialization() != app.origin || parsed.query().is_some() {
        bail!(
            &key,
            format!(
                "has {uri:?}, which must be a URL of this app (origin {}) without a query",
                app.origin
            ),
            "the crate receives the browser back there; use a path of this app"
        );
    }
    let path = parsed.path().to_string();
    check_route_path(&key, &path)?;
    if path == app.callback_path || path == app.logout_path {
        bail!(
            &key,
            format!("has the path {path:?}, taken by redirect_uri or oidc.logout_path"),
            "the path must differ from redirect_uri's and from oidc.logout_path"
        );
    }
    Ok((uri, path))
}

#[cfg(test)]
mod tests {
    use super::super::client::ClientAuth;
    use super::super::test_support::{config, error_of, toml_with, GOOD};
    use super::*;

    #[test]
    fn accepts_a_minimal_provider_with_defaults() {
        let config = config(GOOD).unwrap();
        let provider = &config.providers[0];
        assert_eq!(provider.scope, "openid");
        assert_eq!(provider.client.client_auth, ClientAuth::Basic);
        assert_eq!(provider.userinfo, UserinfoMethod::Get);
        assert!(provider.revoke_tokens_on_logout);
        assert_eq!(provider.jwks_max_age, Duration::from_secs(3600));
        assert_eq!(
            provider.post_logout_redirect_uri,
            "http://127.0.0.1:8000/logout/callback"
        );
        assert_eq!(provider.post_logout_return_path, "/logout/callback");
        assert_eq!(provider.session_refresh_interval, None);
    }

    #[test]
    fn secret_is_redacted_in_debug_output() {
        let config = config(GOOD).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("[redacted]"));
    }

    #[test]
    fn names_each_mistake_and_its_fix() {
        let cases: &[(&str, &str)] = &[
            ("issuer = \"http://op.example.com\"", "oidc.providers.default.issuer = \"http://op.example.com\" must use https"),
            ("scope = [\"email\"]", "oidc.providers.default.scope must contain \"openid\""),
            ("scope = [\"openid\", \"two words\"]", "oidc.providers.default.scope has an invalid entry"),
            ("userinfo_http_method = \"PUT\"", "oidc.providers.default.userinfo_http_method = \"PUT\" is not valid: use \"GET\", \"POST\" or \"none\""),
            ("auth_request_params = { state = \"x\" }", "oidc.providers.default.auth_request_params.state cannot be set: the crate sets it"),
            ("auth_request_params = { scope = \"openid\" }", "oidc.providers.default.auth_request_params.scope cannot be set: use oidc.providers.default.scope instead"),
            ("auth_request_params = { response_mode = \"form_post\" }", "oidc.providers.default.auth_request_params.response_mode cannot be set: use oidc.providers.default.response_mode instead"),
            ("response_mode = \"web_message\"", "oidc.providers.default.response_mode = \"web_message\" is not supported: use \"query\", \"fragment\", \"form_post\" or, for JWT-secured responses (JARM)"),
            ("authorization_signed_response_alg = \"PS256\"", "oidc.providers.default.authorization_signed_response_alg is for JWT-secured authorization responses (JARM), and response_mode is not one"),
            ("response_mode = \"jwt\"\nauthorization_signed_response_alg = \"none\"", "oidc.providers.default.authorization_signed_response_alg = \"none\" is not a signing algorithm"),
            ("response_type = \"code token\"\nresponse_mode = \"query.jwt\"", "(JARM 2.3.1)"),
            ("authorization_encrypted_response_alg = \"RSA-OAEP\"", "oidc.providers.default.authorization_encrypted_response_alg is for JWT-secured authorization responses (JARM)"),
            ("response_mode = \"jwt\"\nauthorization_encrypted_response_alg = \"RSA-OAEP\"", "oidc.providers.default.authorization_encrypted_response_alg = \"RSA-OAEP\" needs the client's decryption key"),
            ("response_mode = \"jwt\"\nauthorization_encrypted_response_enc = \"A256GCM\"", "oidc.providers.default.authorization_encrypted_response_enc is set without its alg"),
            ("auth_request_params = { response_type = \"token\" }", "oidc.providers.default.auth_request_params.response_type cannot be set: use oidc.providers.default.response_type instead"),
            ("auth_request_params = { max_age = \"soon\" }", "oidc.providers.default.auth_request_params.max_age = \"soon\" must be a number of seconds"),
            ("session_refresh_interval_seconds = 0", "oidc.providers.default.session_refresh_interval_seconds must be positive"),
            ("jwks_max_age_seconds = 0", "oidc.providers.default.jwks_max_age_seconds must be positive"),
            ("post_logout_redirect_uris = [\"https://other.example/bye\"]", "oidc.providers.default.post_logout_redirect_uris has \"https://other.example/bye\", which must be a URL of this app"),
            ("post_logout_redirect_uris = [\"http://127.0.0.1:8000/redirect_uri\"]", "the path must differ"),
            ("endpoints = { userinfo_endpoint = \"http://op.example.com/u\" }", "oidc.providers.default.endpoints.userinfo_endpoint = \"http://op.example.com/u\" must use https"),
            ("colour = \"blue\"", "oidc.providers.default.colour is not a known key"),
            ("issuer = \"https://op.example.com\"\n[oidc.providers.default.provider_metadata]\nissuer = \"https://op.example.com\"\nauthorization_endpoint = \"https://op.example.com/a\"", "set either issuer (discovery) or a provider_metadata table"),
            ("[oidc.providers.default.provider_metadata]\nissuer = \"https://op.example.com\"\nauthorization_endpoint = \"https://op.example.com/a\"\njwks_uri = \"https://op.example.com/j\"", "oidc.providers.default.provider_metadata.token_endpoint is missing"),
        ];
        for (provider, expected) in cases {
            let message = error_of(&toml_with("", provider));
            assert!(
                message.contains(expected),
                "expected {expected:?} in {message:?}"
            );
        }
        let no_client = toml_with("", "").replace("client_id = \"app\"\n", "");
        assert!(error_of(&no_client).contains("oidc.providers.default.client_id is missing"));
        let bad_name =
            toml_with("", "").replace("providers.default]", "providers.\"my provider\"]");
        assert!(error_of(&bad_name).contains("a provider name may hold only"));
    }

    #[test]
    fn accepts_scope_as_a_string_and_loopback_variants() {
        let toml = GOOD.replace(
            "issuer = \"http://localhost:3000\"",
            "issuer = \"http://[::1]:3000\"\nscope = \"openid email\"",
        );
        let config = config(&toml).unwrap();
        assert_eq!(config.providers[0].scope, "openid email");
    }

    #[test]
    fn reads_auth_request_params_and_overrides() {
        let toml = toml_with(
            "",
            "auth_request_params = { max_age = 300, acr_values = [\"gold\", \"silver\"], \
             prompt = \"login\" }\nrevoke_tokens_on_logout = false\n\
             endpoints = { end_session_endpoint = \"https://op.example.com/bye\" }",
        );
        let provider = &config(&toml).unwrap().providers[0];
        assert_eq!(provider.max_age, Some(300));
        assert_eq!(provider.acr_values, ["gold", "silver"]);
        assert!(provider
            .auth_request_params
            .contains(&("acr_values".into(), "gold silver".into())));
        assert!(!provider.revoke_tokens_on_logout);
        assert_eq!(
            provider.endpoints.end_session_endpoint.as_deref(),
            Some("https://op.example.com/bye")
        );
    }
}
