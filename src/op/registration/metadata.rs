//! The typed documents of dynamic registration: the request body as openidconnect's
//! `ClientMetadata` and the provider's answer as its `ClientRegistrationResponse`, each with
//! the members OpenID Connect Core's types lack (logout, PAR, sender-constrained tokens).
//!
//! The request is typed when the configuration is read, so a value of the wrong type in a
//! `client_registration` table stops launch naming its key, instead of reaching the provider
//! (or worse, being registered as something else). The raw table stays beside it: the
//! request digest, the kept record and the RFC 7592 read-back work on it, so a kept client
//! registered by an earlier version is not registered again.
//!
//! The answer is read with openidconnect's types, but more leniently than it reads them: a
//! registration the provider accepted is never lost over a member only the provider could
//! get wrong (see [`credentials`]).

use openidconnect::core::{
    CoreApplicationType, CoreClientAuthMethod, CoreGrantType, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::registration::{
    AdditionalClientMetadata, AdditionalClientRegistrationResponse, ClientMetadata,
    ClientRegistrationResponse,
};
use openidconnect::PostLogoutRedirectUrl;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Credentials;
use crate::config::{ConfigError, Secret};
use crate::protocol::jwk::Jwk;

/// The request body (Registration 1.0 2, RFC 7591 2). Keys are the crate's own [`Jwk`]:
/// `jwks` can then hold exactly the public keys the crate signs with (RSA, EC P-256/P-384,
/// Ed25519), and the signing algorithms are openidconnect's, as everywhere in the crate.
pub(crate) type RegistrationMetadata = ClientMetadata<
    ExtraMetadata,
    CoreApplicationType,
    CoreClientAuthMethod,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    Jwk,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// A successful registration answer (RFC 7591 3.2.1).
pub(crate) type RegistrationAnswer = ClientRegistrationResponse<
    ExtraMetadata,
    ExtraResponse,
    CoreApplicationType,
    CoreClientAuthMethod,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    Jwk,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The client metadata names openidconnect's `StandardClientMetadata` reads, each also with
/// a `#<language tag>` (Registration 1.0 2.1). Every other name is [`ExtraMetadata`]'s.
const STANDARD: [&str; 30] = [
    "redirect_uris",
    "response_types",
    "grant_types",
    "application_type",
    "contacts",
    "client_name",
    "logo_uri",
    "client_uri",
    "policy_uri",
    "tos_uri",
    "jwks_uri",
    "jwks",
    "sector_identifier_uri",
    "subject_type",
    "id_token_signed_response_alg",
    "id_token_encrypted_response_alg",
    "id_token_encrypted_response_enc",
    "userinfo_signed_response_alg",
    "userinfo_encrypted_response_alg",
    "userinfo_encrypted_response_enc",
    "request_object_signing_alg",
    "request_object_encryption_alg",
    "request_object_encryption_enc",
    "token_endpoint_auth_method",
    "token_endpoint_auth_signing_alg",
    "default_max_age",
    "require_auth_time",
    "default_acr_values",
    "initiate_login_uri",
    "request_uris",
];

fn is_standard(name: &str) -> bool {
    STANDARD.contains(&name.split('#').next().unwrap_or(name))
}

/// Client metadata Core lacks: what the crate registers (logout) or a table may ask for.
///
/// openidconnect's standard part reads a flattened map without consuming it, so a
/// `#[serde(flatten)]` catch-all here would also get every standard member and send it
/// twice. `other` is filled by hand instead (deserialized through a whole map): what is
/// neither standard nor named, e.g. RFC 7591's `scope` and `software_id`, or a provider's
/// own members.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub(crate) struct ExtraMetadata {
    /// RP-Initiated Logout 1.0 3.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) post_logout_redirect_uris: Option<Vec<PostLogoutRedirectUrl>>,
    /// Back-Channel Logout 1.0 2.2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backchannel_logout_uri: Option<AbsoluteUri>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backchannel_logout_session_required: Option<bool>,
    /// Front-Channel Logout 1.0 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) frontchannel_logout_uri: Option<AbsoluteUri>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) frontchannel_logout_session_required: Option<bool>,
    /// RFC 9126 6.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) require_pushed_authorization_requests: Option<bool>,
    /// RFC 9449 5.2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dpop_bound_access_tokens: Option<bool>,
    /// RFC 8705 3.4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_client_certificate_bound_access_tokens: Option<bool>,
    /// Every other member that is not standard, as written.
    #[serde(flatten)]
    pub(crate) other: Map<String, Value>,
}

impl AdditionalClientMetadata for ExtraMetadata {}

impl TryFrom<Map<String, Value>> for ExtraMetadata {
    type Error = String;

    fn try_from(mut members: Map<String, Value>) -> Result<Self, String> {
        fn take<T: DeserializeOwned>(
            members: &mut Map<String, Value>,
            name: &str,
        ) -> Result<Option<T>, String> {
            match members.remove(name) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => serde_json::from_value(value)
                    .map(Some)
                    .map_err(|e| format!("{name}: {e}")),
            }
        }
        let m = &mut members;
        let named = ExtraMetadata {
            post_logout_redirect_uris: take(m, "post_logout_redirect_uris")?,
            backchannel_logout_uri: take(m, "backchannel_logout_uri")?,
            backchannel_logout_session_required: take(m, "backchannel_logout_session_required")?,
            frontchannel_logout_uri: take(m, "frontchannel_logout_uri")?,
            frontchannel_logout_session_required: take(m, "frontchannel_logout_session_required")?,
            require_pushed_authorization_requests: take(
                m,
                "require_pushed_authorization_requests",
            )?,
            dpop_bound_access_tokens: take(m, "dpop_bound_access_tokens")?,
            tls_client_certificate_bound_access_tokens: take(
                m,
                "tls_client_certificate_bound_access_tokens",
            )?,
            other: Map::new(),
        };
        members.retain(|name, _| !is_standard(name));
        Ok(ExtraMetadata {
            other: members,
            ..named
        })
    }
}

/// What the provider decides that Core's answer type lacks.
/// (`require_pushed_authorization_requests` is client metadata too, so [`ExtraMetadata`]
/// reads it as well; an answer is only read, never written, so it is never written twice.)
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ExtraResponse {
    /// The client must use PAR (RFC 9126 6), whether it asked or the provider requires it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) require_pushed_authorization_requests: Option<bool>,
}

impl AdditionalClientRegistrationResponse for ExtraResponse {}

/// An absolute URI Core has no type for, sent as written (as openidconnect's URL types are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub(crate) struct AbsoluteUri(String);

impl<'de> Deserialize<'de> for AbsoluteUri {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let uri = String::deserialize(deserializer)?;
        url::Url::parse(&uri).map_err(|e| serde::de::Error::custom(format!("{uri:?}: {e}")))?;
        Ok(AbsoluteUri(uri))
    }
}

/// A registration request: the metadata as configured (with what the app implies), and
/// typed as openidconnect's `ClientMetadata`, which is what is sent.
#[derive(Debug)]
pub(crate) struct RegistrationRequest {
    /// The request digest, the kept record and a change of configuration are about this.
    raw: Map<String, Value>,
    typed: RegistrationMetadata,
}

impl RegistrationRequest {
    /// Types `raw`, the `client_registration` table of provider `provider` with the implied
    /// keys filled in. A value openidconnect cannot read, or one that would not be sent as
    /// written, is a configuration error naming its key.
    pub(crate) fn new(provider: &str, raw: Map<String, Value>) -> Result<Self, ConfigError> {
        let table = format!("oidc.providers.{provider}.client_registration");
        let error = |name: &str, problem: String, fix: &str| {
            ConfigError::new(format!("{table}.{name}"), problem, fix)
        };
        let shown = |value: &Value| {
            let text = value.to_string();
            if text.len() <= 120 {
                format!("= {text} ")
            } else {
                String::new()
            }
        };
        let typed = match serde_json::from_value::<RegistrationMetadata>(Value::Object(raw.clone()))
        {
            Ok(typed) => typed,
            Err(e) => {
                let base = Map::from_iter([("redirect_uris".to_string(), Value::Array(vec![]))]);
                let fix = "give it a value of the type OpenID Connect Registration 1.0 (or \
                           RFC 7591) defines, or remove it";
                return Err(match culprit::<RegistrationMetadata>(&raw, &base) {
                    Some((name, e)) => error(
                        &name,
                        format!("{}is not valid client metadata: {e}", shown(&raw[&name])),
                        fix,
                    ),
                    None => {
                        ConfigError::new(&table, format!("is not valid client metadata: {e}"), fix)
                    }
                });
            }
        };
        // Each member must reach the provider as written: the digest is of `raw`.
        let sent = match serde_json::to_value(&typed) {
            Ok(Value::Object(sent)) => sent,
            _ => {
                return Err(ConfigError::new(
                    &table,
                    "cannot be written as a registration request",
                    "check its values",
                ))
            }
        };
        let names = raw
            .keys()
            .chain(sent.keys().filter(|k| !raw.contains_key(*k)));
        for name in names {
            let (configured, typed_value) = (raw.get(name), sent.get(name));
            if configured != typed_value {
                let now = typed_value.map_or("left out".into(), |v| format!("sent as {v}"));
                return Err(error(
                    name,
                    format!("{}would be {now}", configured.map_or(String::new(), shown)),
                    "write it as it should be sent (jwks: public RSA, EC P-256/P-384 or \
                     Ed25519 signing keys only; publish others at a jwks_uri)",
                ));
            }
        }
        Ok(RegistrationRequest { raw, typed })
    }

    /// The metadata as configured, implied keys included.
    pub(crate) fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    /// The HTTP body: exactly what openidconnect's own `register()` sends.
    pub(super) fn body(&self) -> serde_json::Result<String> {
        serde_json::to_string(&self.typed)
    }

    /// The typed request.
    #[cfg(test)]
    pub(super) fn typed(&self) -> &RegistrationMetadata {
        &self.typed
    }
}

/// The first member of `members` that `T` cannot read, tried one at a time beside `base`
/// (what `T` requires), with the error; none when each reads alone.
fn culprit<T: DeserializeOwned>(
    members: &Map<String, Value>,
    base: &Map<String, Value>,
) -> Option<(String, serde_json::Error)> {
    members.iter().find_map(|(name, value)| {
        let mut probe = base.clone();
        probe.insert(name.clone(), value.clone());
        let e = serde_json::from_value::<T>(Value::Object(probe)).err()?;
        Some((name.clone(), e))
    })
}

/// The credentials in a successful registration answer, read as openidconnect's
/// `ClientRegistrationResponse`; none without a `client_id`. `context` starts the log lines.
///
/// openidconnect is stricter than this where the duty is the provider's, and a registration
/// the provider accepted must not be lost over it (each deviation is logged):
/// - an answer without `redirect_uris` (which RFC 7591 3.2.1 says it returns) is read with
///   the ones sent;
/// - `client_secret_expires_at: 0` means "never" (RFC 7591 3.2.1), not 1970;
/// - a malformed member that the credentials do not need: they are read from the plain map.
pub(super) fn credentials(
    answer: &Map<String, Value>,
    request: &RegistrationRequest,
    context: &str,
) -> Option<Credentials> {
    let mut answer = answer.clone();
    if !answer.contains_key("redirect_uris") {
        log::warn!(
            "oidc: {context}: the answer leaves out redirect_uris (RFC 7591 3.2.1 returns \
             them); taking the ones sent"
        );
        let sent = request.raw.get("redirect_uris").cloned();
        answer.insert("redirect_uris".into(), sent.unwrap_or(Value::Array(vec![])));
    }
    match serde_json::from_value::<RegistrationAnswer>(Value::Object(answer.clone())) {
        Ok(typed) => from_typed(&typed),
        Err(e) => {
            let credentials = Credentials::from_response(&answer)?;
            let base = Map::from_iter([
                ("client_id".to_string(), Value::String("x".into())),
                ("redirect_uris".to_string(), Value::Array(vec![])),
            ]);
            let (member, e) = culprit::<RegistrationAnswer>(&answer, &base)
                .map_or((String::new(), e), |(name, e)| {
                    (format!(" member {name:?}"), e)
                });
            log::warn!(
                "oidc: {context}: the answer's{member} is malformed ({e}); reading the \
                 credentials from it as plain JSON"
            );
            Some(credentials)
        }
    }
}

fn from_typed(answer: &RegistrationAnswer) -> Option<Credentials> {
    let client_id = answer.client_id().as_str();
    if client_id.is_empty() {
        return None;
    }
    Some(Credentials {
        client_id: client_id.to_string(),
        client_secret: answer
            .client_secret()
            .map(|s| s.secret())
            .filter(|s| !s.is_empty())
            .map(|s| Secret(s.clone())),
        // RFC 7591 3.2.1: 0 means the secret does not expire; openidconnect reads 1970.
        expires_at: answer
            .client_secret_expires_at()
            .map(|at| at.timestamp())
            .filter(|at| *at > 0),
        require_par: answer
            .additional_response()
            .require_pushed_authorization_requests
            .unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the crate implies for a client_secret_basic app, as `registration_request` does.
    fn implied() -> Map<String, Value> {
        json!({
            "redirect_uris": ["https://app.example.com/cb"],
            "post_logout_redirect_uris": ["https://app.example.com/logout/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "backchannel_logout_uri": "https://app.example.com/logout/backchannel",
            "backchannel_logout_session_required": true,
            "id_token_signed_response_alg": "ES256",
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn with(members: Value) -> Map<String, Value> {
        let mut raw = implied();
        raw.extend(members.as_object().unwrap().clone());
        raw
    }

    #[test]
    fn the_body_sends_each_key_once_with_localized_names_and_the_implied_keys() {
        let raw = with(json!({
            "client_name": "App",
            "client_name#ja": "アプリ",
            "logo_uri#en-US": "https://app.example.com/logo.png",
            "contacts": ["ops@example.com"],
            "default_max_age": 3600,
            "scope": "openid email",
            "software_id": "4NRB1-0XZABZI9E6-5SM3R",
            "dpop_bound_access_tokens": false,
            "x_vendor_setting": {"nested": [1, 2]},
        }));
        let request = RegistrationRequest::new("default", raw.clone()).unwrap();
        let body = request.body().unwrap();
        for name in raw.keys() {
            assert_eq!(
                body.matches(&format!("\"{name}\":")).count(),
                1,
                "{name} once in {body}"
            );
        }
        let sent: Map<String, Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(sent, raw, "every key, implied and localized, as configured");

        let typed = request.typed();
        let names = typed.client_name().unwrap();
        assert_eq!(names.get(None).unwrap().as_str(), "App");
        let ja = openidconnect::LanguageTag::new("ja".into());
        assert_eq!(names.get(Some(&ja)).unwrap().as_str(), "アプリ");
        assert_eq!(typed.default_max_age().unwrap().as_secs(), 3600);
        let extra = typed.additional_metadata();
        assert_eq!(extra.backchannel_logout_session_required, Some(true));
        assert_eq!(extra.dpop_bound_access_tokens, Some(false));
        let mut unknown: Vec<&str> = extra.other.keys().map(String::as_str).collect();
        unknown.sort_unstable();
        assert_eq!(unknown, ["scope", "software_id", "x_vendor_setting"]);
        // Digest and kept record stay on the configured map.
        assert_eq!(request.raw(), &raw);
    }

    #[test]
    fn a_bad_value_is_a_configuration_error_naming_its_key() {
        let cases = [
            ("id_token_signed_response_alg", json!("XX999")),
            ("default_max_age", json!("soon")),
            ("redirect_uris", json!("x")),
            ("redirect_uris", json!(["/cb"])),
            ("backchannel_logout_session_required", json!("yes")),
            ("frontchannel_logout_uri", json!("not a uri")),
            ("client_name#ja", json!(7)),
            ("grant_types", json!("authorization_code")),
        ];
        for (name, value) in cases {
            let raw = with(json!({ name: value }));
            let err = RegistrationRequest::new("default", raw).expect_err(name);
            assert_eq!(
                err.key,
                format!("oidc.providers.default.client_registration.{name}"),
                "{err}"
            );
            assert!(!err.fix.is_empty(), "{err}");
        }
        let err = RegistrationRequest::new("p", with(json!({"default_max_age": "soon"})))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("= \"soon\" is not valid client metadata"),
            "{err}"
        );
    }

    #[test]
    fn a_jwks_is_sent_only_when_it_survives_typing() {
        let ed25519 = json!({"kty": "OKP", "crv": "Ed25519", "kid": "k1", "use": "sig",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let raw = with(json!({ "jwks": { "keys": [ed25519] } }));
        let body = RegistrationRequest::new("default", raw)
            .unwrap()
            .body()
            .unwrap();
        assert!(body.contains("\"kid\":\"k1\""), "{body}");

        let mut encryption = ed25519.clone();
        encryption["alg"] = json!("ECDH-ES");
        let raw = with(json!({ "jwks": { "keys": [encryption] } }));
        let err = RegistrationRequest::new("default", raw).unwrap_err();
        assert_eq!(err.key, "oidc.providers.default.client_registration.jwks");
        assert!(err.problem.contains("would be sent as"), "{err}");
    }

    fn request() -> RegistrationRequest {
        RegistrationRequest::new("default", implied()).unwrap()
    }

    fn answer(members: Value) -> Map<String, Value> {
        let mut answer = json!({
            "client_id": "abc",
            "client_secret": "s3",
            "redirect_uris": ["https://app.example.com/cb"],
        })
        .as_object()
        .unwrap()
        .clone();
        for (name, value) in members.as_object().unwrap() {
            if value.is_null() {
                answer.remove(name);
            } else {
                answer.insert(name.clone(), value.clone());
            }
        }
        answer
    }

    #[test]
    fn a_secret_that_expires_at_zero_never_expires() {
        let never = answer(json!({"client_secret_expires_at": 0}));
        let typed: RegistrationAnswer =
            serde_json::from_value(Value::Object(never.clone())).unwrap();
        assert_eq!(
            typed.client_secret_expires_at().map(|at| at.timestamp()),
            Some(0),
            "openidconnect reads 1970-01-01"
        );
        let read = credentials(&never, &request(), "test").unwrap();
        assert_eq!(read.expires_at, None);
        assert!(!read.expired(crate::protocol::time::now()));
        assert_eq!(read.client_secret.unwrap().expose(), "s3");

        let expiring = answer(json!({"client_secret_expires_at": 1000}));
        let read = credentials(&expiring, &request(), "test").unwrap();
        assert_eq!(read.expires_at, Some(1000));
        assert!(read.expired(1000));
    }

    #[test]
    fn an_answer_without_redirect_uris_is_read_with_the_ones_sent() {
        let without = answer(json!({
            "redirect_uris": null,
            "require_pushed_authorization_requests": true,
        }));
        assert!(
            serde_json::from_value::<RegistrationAnswer>(Value::Object(without.clone())).is_err(),
            "openidconnect requires redirect_uris"
        );
        let read = credentials(&without, &request(), "test").unwrap();
        assert_eq!(read.client_id, "abc");
        assert!(read.require_par);
    }

    #[test]
    fn a_malformed_optional_member_falls_back_to_the_plain_answer() {
        let malformed = answer(json!({
            "registration_client_uri": "not a url",
            "client_secret_expires_at": 1000,
        }));
        let base = Map::from_iter([
            ("client_id".to_string(), json!("x")),
            ("redirect_uris".to_string(), json!([])),
        ]);
        let (member, _) = culprit::<RegistrationAnswer>(&malformed, &base).unwrap();
        assert_eq!(member, "registration_client_uri");
        let read = credentials(&malformed, &request(), "test").unwrap();
        assert_eq!(read.client_id, "abc");
        assert_eq!(read.expires_at, Some(1000));

        // Without a client_id there is nothing to fall back to.
        let anonymous = answer(json!({"client_id": null}));
        assert!(credentials(&anonymous, &request(), "test").is_none());
        let empty = answer(json!({"client_id": ""}));
        assert!(credentials(&empty, &request(), "test").is_none());
    }
}
