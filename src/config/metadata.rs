//! Provider metadata: the shape shared by discovery documents and the static
//! `provider_metadata` table, the checks it must pass before it is used, and the
//! `endpoints` table that overrides parts of it.

//! Provider metadata: openidconnect's `ProviderMetadata` with what Core lacks
//! ([`MoreProviderMetadata`]), read with the tolerance real providers need, the checks it
//! must pass before it is used, and the `endpoints` table that overrides parts of it. The
//! same shape serves discovery documents (OpenID and RFC 8414) and the static
//! `provider_metadata` table.

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, EndSessionUrl, IntrospectionUrl, RevocationUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{bail, ConfigError};
use super::urls::{parse_url_for, UrlPolicy};

/// The members of provider metadata that OpenID Connect Discovery's core set lacks and this
/// crate reads or reports: logout (RP-Initiated, Back- and Front-Channel), revocation
/// (RFC 7009), introspection (RFC 7662), PKCE methods (RFC 8414), PAR (RFC 9126), DPoP
/// (RFC 9449), `iss` in authorization responses (RFC 9207) and mTLS aliases (RFC 8705).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(crate) struct MoreProviderMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) end_session_endpoint: Option<EndSessionUrl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) check_session_iframe: Option<String>,
    #[serde(default)]
    pub(crate) backchannel_logout_supported: bool,
    #[serde(default)]
    pub(crate) backchannel_logout_session_supported: bool,
    #[serde(default)]
    pub(crate) frontchannel_logout_supported: bool,
    #[serde(default)]
    pub(crate) frontchannel_logout_session_supported: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) revocation_endpoint: Option<RevocationUrl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) introspection_endpoint: Option<IntrospectionUrl>,
    #[serde(default)]
    pub(crate) code_challenge_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pushed_authorization_request_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) require_pushed_authorization_requests: bool,
    #[serde(default)]
    pub(crate) dpop_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    pub(crate) authorization_response_iss_parameter_supported: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mtls_endpoint_aliases: Option<Map<String, Value>>,
}

impl AdditionalProviderMetadata for MoreProviderMetadata {}

/// openidconnect's provider metadata with [`MoreProviderMetadata`].
pub(crate) type Document = openidconnect::ProviderMetadata<
    MoreProviderMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Members Discovery 1.0 requires that RFC 8414 documents and static tables often lack,
/// with the value a provider that leaves them out means.
const DEFAULTS: [(&str, &str); 3] = [
    ("response_types_supported", "code"),
    ("subject_types_supported", "public"),
    // Discovery 1.0 3: RS256 must be supported (and is the default of Core 3.1.3.7).
    ("id_token_signing_alg_values_supported", "RS256"),
];

/// Members without which the metadata is of no use: a malformed one is an error, not a
/// member left out.
const ESSENTIAL: [&str; 4] = [
    "issuer",
    "authorization_endpoint",
    "jwks_uri",
    "token_endpoint",
];

/// The provider metadata this crate uses: a discovery document, or the static
/// `provider_metadata` table.
#[derive(Debug, Clone)]
pub(crate) struct ProviderMetadata(Document);

impl ProviderMetadata {
    /// Reads metadata from JSON, `key` naming where it comes from in messages.
    pub(crate) fn from_json(bytes: &[u8], key: &str) -> Result<ProviderMetadata, ConfigError> {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(value) => ProviderMetadata::from_value(value, key),
            Err(e) => bail!(
                key,
                format!("is not JSON ({e})"),
                "check the provider's URL"
            ),
        }
    }

    /// Reads metadata. Tolerant where the duty is the provider's: required lists it leaves
    /// out get their Discovery defaults, and a malformed member the flows do not need is
    /// left out with a warning instead of refusing the whole document. Strict on the
    /// members the flows cannot do without.
    pub(crate) fn from_value(value: Value, key: &str) -> Result<ProviderMetadata, ConfigError> {
        let Value::Object(mut members) = value else {
            bail!(key, "is not a JSON object", "check the provider's URL")
        };
        for name in [
            "issuer",
            "authorization_endpoint",
            "jwks_uri",
            "token_endpoint",
        ] {
            if !members.contains_key(name) {
                bail!(
                    format!("{key}.{name}"),
                    "is missing, and the authorization code flow needs it",
                    "add it to the provider's metadata"
                );
            }
        }
        for (name, default) in DEFAULTS {
            members
                .entry(name)
                .or_insert_with(|| Value::Array(vec![Value::from(default)]));
        }
        let members = match serde_json::from_value::<Document>(Value::Object(members.clone())) {
            Ok(document) => return Ok(ProviderMetadata(document)),
            Err(_) => without_malformed(members, key)?,
        };
        serde_json::from_value::<Document>(Value::Object(members))
            .map(ProviderMetadata)
            .or_else(|e| {
                bail!(
                    key,
                    format!("cannot be read: {e}"),
                    "check the provider's metadata"
                )
            })
    }

    fn more(&self) -> &MoreProviderMetadata {
        self.0.additional_metadata()
    }

    pub(crate) fn issuer(&self) -> &str {
        self.0.issuer().as_str()
    }

    pub(crate) fn authorization_endpoint(&self) -> &str {
        self.0.authorization_endpoint().as_str()
    }

    /// The token endpoint (always present: reading metadata requires it).
    pub(crate) fn token_endpoint(&self) -> &str {
        self.0.token_endpoint().map_or("", |url| url.as_str())
    }

    pub(crate) fn jwks_uri(&self) -> &str {
        self.0.jwks_uri().as_str()
    }

    pub(crate) fn userinfo_endpoint(&self) -> Option<&str> {
        self.0.userinfo_endpoint().map(|url| url.as_str())
    }

    pub(crate) fn registration_endpoint(&self) -> Option<&str> {
        self.0.registration_endpoint().map(|url| url.as_str())
    }

    pub(crate) fn end_session_endpoint(&self) -> Option<&str> {
        self.more()
            .end_session_endpoint
            .as_ref()
            .map(|url| url.as_str())
    }

    pub(crate) fn revocation_endpoint(&self) -> Option<&str> {
        self.more()
            .revocation_endpoint
            .as_ref()
            .map(|url| url.as_str())
    }

    pub(crate) fn introspection_endpoint(&self) -> Option<&str> {
        self.more()
            .introspection_endpoint
            .as_ref()
            .map(|url| url.as_str())
    }

    pub(crate) fn pushed_authorization_request_endpoint(&self) -> Option<&str> {
        self.more().pushed_authorization_request_endpoint.as_deref()
    }

    /// RFC 8705 5: a client that presents a certificate calls the endpoints the provider
    /// lists in `mtls_endpoint_aliases` there (token, PAR, UserInfo, revocation,
    /// introspection). An alias that is not a URL `policy` allows is left out with a warning
    /// (the provider's mistake, and the plain endpoint may still work). Returns the
    /// endpoints replaced.
    pub(crate) fn use_mtls_aliases(&mut self, policy: UrlPolicy, provider: &str) -> Vec<String> {
        let Some(aliases) = self.more().mtls_endpoint_aliases.clone() else {
            return Vec::new();
        };
        let mut replaced = Vec::new();
        for (name, value) in aliases {
            let Some(text) = value.as_str() else {
                continue;
            };
            let url = match parse_url_for(policy, &format!("mtls_endpoint_aliases.{name}"), text) {
                Ok(url) => url,
                Err(e) => {
                    log::warn!("oidc: provider {provider:?}: {e}; not using that alias");
                    continue;
                }
            };
            let more = self.0.additional_metadata_mut();
            match name.as_str() {
                "token_endpoint" => {
                    self.0 = self
                        .0
                        .clone()
                        .set_token_endpoint(Some(openidconnect::TokenUrl::from_url(url)));
                }
                "pushed_authorization_request_endpoint" => {
                    more.pushed_authorization_request_endpoint = Some(url.to_string());
                }
                "revocation_endpoint" => {
                    more.revocation_endpoint = Some(RevocationUrl::from_url(url));
                }
                "introspection_endpoint" => {
                    more.introspection_endpoint = Some(IntrospectionUrl::from_url(url));
                }
                "userinfo_endpoint" => {
                    self.0 = self
                        .0
                        .clone()
                        .set_userinfo_endpoint(Some(UserInfoUrl::from_url(url)));
                }
                // Device authorization and others: endpoints this crate does not call.
                _ => continue,
            }
            replaced.push(name);
        }
        replaced
    }

    pub(crate) fn require_pushed_authorization_requests(&self) -> bool {
        self.more().require_pushed_authorization_requests
    }

    pub(crate) fn authorization_response_iss_parameter_supported(&self) -> bool {
        self.more().authorization_response_iss_parameter_supported
    }

    pub(crate) fn code_challenge_methods_supported(&self) -> &[String] {
        &self.more().code_challenge_methods_supported
    }

    pub(crate) fn dpop_signing_alg_values_supported(&self) -> &[String] {
        &self.more().dpop_signing_alg_values_supported
    }

    /// The ID token algorithms the provider lists (names it does not know are left out).
    pub(crate) fn id_token_signing_alg_values_supported(&self) -> &[CoreJwsSigningAlgorithm] {
        self.0.id_token_signing_alg_values_supported()
    }

    /// The client authentication methods the provider lists; empty when it lists none.
    pub(crate) fn token_endpoint_auth_methods_supported(&self) -> Vec<&str> {
        self.0
            .token_endpoint_auth_methods_supported()
            .map_or_else(Vec::new, |methods| {
                methods.iter().map(AsRef::as_ref).collect()
            })
    }

    /// The client assertion algorithms the provider lists, by name; empty when it lists
    /// none.
    pub(crate) fn token_endpoint_auth_signing_alg_values_supported(&self) -> Vec<String> {
        self.0
            .token_endpoint_auth_signing_alg_values_supported()
            .map_or_else(Vec::new, |algs| {
                algs.iter()
                    .filter_map(|alg| match serde_json::to_value(alg) {
                        Ok(Value::String(name)) => Some(name),
                        _ => None,
                    })
                    .collect()
            })
    }

    pub(crate) fn set_revocation_endpoint(&mut self, url: RevocationUrl) {
        self.0.additional_metadata_mut().revocation_endpoint = Some(url);
    }

    pub(crate) fn set_introspection_endpoint(&mut self, url: IntrospectionUrl) {
        self.0.additional_metadata_mut().introspection_endpoint = Some(url);
    }

    /// Checks that the endpoints the flows call are safe to call.
    pub(crate) fn check(&self, key: &str, policy: UrlPolicy) -> Result<(), ConfigError> {
        let parse_url =
            |name: &str, value: &str| parse_url_for(policy, &format!("{key}.{name}"), value);
        parse_url("issuer", self.issuer())?;
        parse_url("authorization_endpoint", self.authorization_endpoint())?;
        parse_url("token_endpoint", self.token_endpoint())?;
        parse_url("jwks_uri", self.jwks_uri())?;
        let optional = [
            ("userinfo_endpoint", self.userinfo_endpoint()),
            ("end_session_endpoint", self.end_session_endpoint()),
            ("revocation_endpoint", self.revocation_endpoint()),
            ("introspection_endpoint", self.introspection_endpoint()),
            (
                "pushed_authorization_request_endpoint",
                self.pushed_authorization_request_endpoint(),
            ),
            ("registration_endpoint", self.registration_endpoint()),
        ];
        for (name, value) in optional {
            if let Some(url) = value {
                parse_url(name, url)?;
            }
        }
        Ok(())
    }
}

/// `members` without the ones that fail openidconnect's reading on their own, each left out
/// with a warning; an error when an essential one is malformed.
fn without_malformed(
    mut members: Map<String, Value>,
    key: &str,
) -> Result<Map<String, Value>, ConfigError> {
    let minimal: Map<String, Value> = members
        .iter()
        .filter(|(name, _)| {
            ESSENTIAL.contains(&name.as_str()) || DEFAULTS.iter().any(|(d, _)| d == name)
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    if let Err(e) = serde_json::from_value::<Document>(Value::Object(minimal.clone())) {
        bail!(
            key,
            format!("cannot be read: {e}"),
            "check the provider's metadata"
        );
    }
    let names: Vec<String> = members
        .keys()
        .filter(|name| !minimal.contains_key(*name))
        .cloned()
        .collect();
    for name in names {
        let mut alone = minimal.clone();
        alone.insert(name.clone(), members[&name].clone());
        if let Err(e) = serde_json::from_value::<Document>(Value::Object(alone)) {
            log::warn!(
                "oidc: {key}.{}: malformed, left out ({e}); the provider should fix its metadata",
                crate::error::sanitize(&name, 80)
            );
            members.remove(&name);
        }
    }
    Ok(members)
}

/// `[oidc.providers.<name>.endpoints]`: endpoints that replace (or add to) what discovery
/// or `provider_metadata` says.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoints {
    userinfo_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
}

/// Endpoints set in the configuration, over the provider's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EndpointOverrides {
    pub(crate) userinfo_endpoint: Option<String>,
    pub(crate) end_session_endpoint: Option<String>,
    pub(crate) revocation_endpoint: Option<String>,
    pub(crate) introspection_endpoint: Option<String>,
}

impl EndpointOverrides {
    /// `metadata` with these endpoints in place of its own (each one checked as a URL
    /// when the configuration was read).
    pub(crate) fn apply(&self, metadata: &mut ProviderMetadata) {
        let url =
            |configured: &Option<String>| configured.clone().and_then(|u| url::Url::parse(&u).ok());
        if let Some(u) = url(&self.userinfo_endpoint) {
            metadata.0 = metadata
                .0
                .clone()
                .set_userinfo_endpoint(Some(UserInfoUrl::from_url(u)));
        }
        let more = metadata.0.additional_metadata_mut();
        if let Some(u) = url(&self.end_session_endpoint) {
            more.end_session_endpoint = Some(EndSessionUrl::from_url(u));
        }
        if let Some(u) = url(&self.revocation_endpoint) {
            more.revocation_endpoint = Some(RevocationUrl::from_url(u));
        }
        if let Some(u) = url(&self.introspection_endpoint) {
            more.introspection_endpoint = Some(IntrospectionUrl::from_url(u));
        }
    }
}

/// The `endpoints` table, each URL checked.
pub(super) fn endpoint_overrides(
    key: &str,
    e: RawEndpoints,
    policy: UrlPolicy,
) -> Result<EndpointOverrides, ConfigError> {
    for (name, value) in [
        ("userinfo_endpoint", &e.userinfo_endpoint),
        ("end_session_endpoint", &e.end_session_endpoint),
        ("revocation_endpoint", &e.revocation_endpoint),
        ("introspection_endpoint", &e.introspection_endpoint),
    ] {
        if let Some(url) = value {
            parse_url_for(policy, &format!("{key}.endpoints.{name}"), url)?;
        }
    }
    Ok(EndpointOverrides {
        userinfo_endpoint: e.userinfo_endpoint,
        end_session_endpoint: e.end_session_endpoint,
        revocation_endpoint: e.revocation_endpoint,
        introspection_endpoint: e.introspection_endpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document() -> Value {
        json!({
            "issuer": "https://op.example.com",
            "authorization_endpoint": "https://op.example.com/authorize",
            "token_endpoint": "https://op.example.com/token",
            "jwks_uri": "https://op.example.com/jwks",
        })
    }

    #[test]
    fn an_rfc_8414_document_gets_the_discovery_defaults() {
        let metadata = ProviderMetadata::from_value(document(), "doc").unwrap();
        assert_eq!(metadata.issuer(), "https://op.example.com");
        assert_eq!(
            metadata.id_token_signing_alg_values_supported(),
            [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
        );
        assert_eq!(metadata.userinfo_endpoint(), None);
    }

    #[test]
    fn what_core_lacks_is_read_too() {
        let mut doc = document();
        doc["end_session_endpoint"] = json!("https://op.example.com/logout");
        doc["revocation_endpoint"] = json!("https://op.example.com/revoke");
        doc["pushed_authorization_request_endpoint"] = json!("https://op.example.com/par");
        doc["require_pushed_authorization_requests"] = json!(true);
        doc["authorization_response_iss_parameter_supported"] = json!(true);
        doc["dpop_signing_alg_values_supported"] = json!(["ES256"]);
        doc["token_endpoint_auth_signing_alg_values_supported"] = json!(["RS256", "XX1"]);
        doc["token_endpoint_auth_methods_supported"] = json!(["private_key_jwt"]);
        doc["backchannel_logout_supported"] = json!(true);
        let metadata = ProviderMetadata::from_value(doc, "doc").unwrap();
        assert_eq!(
            metadata.end_session_endpoint(),
            Some("https://op.example.com/logout")
        );
        assert_eq!(
            metadata.revocation_endpoint(),
            Some("https://op.example.com/revoke")
        );
        assert_eq!(
            metadata.pushed_authorization_request_endpoint(),
            Some("https://op.example.com/par")
        );
        assert!(metadata.require_pushed_authorization_requests());
        assert!(metadata.authorization_response_iss_parameter_supported());
        assert_eq!(metadata.dpop_signing_alg_values_supported(), ["ES256"]);
        assert_eq!(
            metadata.token_endpoint_auth_signing_alg_values_supported(),
            ["RS256"],
            "unknown algorithms are left out"
        );
        assert_eq!(
            metadata.token_endpoint_auth_methods_supported(),
            ["private_key_jwt"]
        );
    }

    #[test]
    fn a_malformed_member_the_flows_do_not_need_is_left_out() {
        let mut doc = document();
        doc["op_tos_uri"] = json!("");
        doc["claims_parameter_supported"] = json!("yes");
        doc["userinfo_endpoint"] = json!("https://op.example.com/userinfo");
        let metadata = ProviderMetadata::from_value(doc, "doc").unwrap();
        assert_eq!(
            metadata.userinfo_endpoint(),
            Some("https://op.example.com/userinfo"),
            "the well-formed members stay"
        );
    }

    #[test]
    fn an_essential_member_missing_or_malformed_is_an_error_naming_it() {
        for name in ["jwks_uri", "token_endpoint", "issuer"] {
            let mut doc = document();
            doc.as_object_mut().unwrap().remove(name);
            let error = ProviderMetadata::from_value(doc, "doc")
                .unwrap_err()
                .to_string();
            assert!(error.contains(&format!("doc.{name} is missing")), "{error}");
        }
        let mut doc = document();
        doc["token_endpoint"] = json!("not a url");
        let error = ProviderMetadata::from_value(doc, "doc")
            .unwrap_err()
            .to_string();
        assert!(error.contains("doc"), "{error}");
        assert!(ProviderMetadata::from_json(b"[1]", "doc").is_err());
        assert!(ProviderMetadata::from_json(b"{", "doc").is_err());
    }

    #[test]
    fn configured_endpoints_replace_the_providers() {
        let mut metadata = ProviderMetadata::from_value(document(), "doc").unwrap();
        EndpointOverrides {
            userinfo_endpoint: Some("https://op.example.com/me".into()),
            revocation_endpoint: Some("https://op.example.com/r".into()),
            ..EndpointOverrides::default()
        }
        .apply(&mut metadata);
        assert_eq!(
            metadata.userinfo_endpoint(),
            Some("https://op.example.com/me")
        );
        assert_eq!(
            metadata.revocation_endpoint(),
            Some("https://op.example.com/r")
        );
        assert_eq!(metadata.end_session_endpoint(), None);
    }
}
