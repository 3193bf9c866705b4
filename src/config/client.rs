//! A provider's client settings: how the client authenticates (secrets, assertions, keys,
//! a TLS certificate), pushed authorization requests, DPoP, the algorithm pins, and dynamic
//! registration. Its HTTP client's settings have a room of their own (`http.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::defaults;
use super::error::{bail, ConfigError};
use super::http::{validate_http, HttpSettings};
use super::provider::RawProvider;
use super::urls::{check_route_path, parse_url_for, UrlPolicy};
use super::Secret;
use crate::signing::{SigningAlg, SigningKey};

/// How the client authenticates at the token, revocation, PAR and introspection endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the client secret (the default).
    Basic,
    /// `client_secret_post`: the secret in the form.
    Post,
    /// `client_secret_jwt`: an assertion signed with the client secret (an HMAC algorithm).
    SecretJwt(SigningAlg),
    /// `private_key_jwt`: an assertion signed with the client's private key.
    PrivateKeyJwt,
    /// `none`: a public client (PKCE carries the security).
    None,
    /// `tls_client_auth` (RFC 8705 2.1): the client's certificate, issued by a CA the
    /// provider trusts, on the mutual-TLS connection; `client_id` in the form.
    Tls,
    /// `self_signed_tls_client_auth` (RFC 8705 2.2): a self-signed certificate the provider
    /// knows from the client's registered keys.
    SelfSignedTls,
}

impl ClientAuth {
    /// The registered name (RFC 7591 `token_endpoint_auth_method`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            ClientAuth::Basic => "client_secret_basic",
            ClientAuth::Post => "client_secret_post",
            ClientAuth::SecretJwt(_) => "client_secret_jwt",
            ClientAuth::PrivateKeyJwt => "private_key_jwt",
            ClientAuth::None => "none",
            ClientAuth::Tls => "tls_client_auth",
            ClientAuth::SelfSignedTls => "self_signed_tls_client_auth",
        }
    }

    pub(crate) fn needs_secret(self) -> bool {
        matches!(
            self,
            ClientAuth::Basic | ClientAuth::Post | ClientAuth::SecretJwt(_)
        )
    }

    /// Whether the client authenticates with its TLS certificate (RFC 8705 2).
    pub(crate) fn is_mutual_tls(self) -> bool {
        matches!(self, ClientAuth::Tls | ClientAuth::SelfSignedTls)
    }
}

/// The `aud` of client assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AssertionAudience {
    /// The provider's issuer identifier (the default; what RFC 7523bis and FAPI 2.0 ask).
    Issuer,
    /// The token endpoint's URL, for providers that want the older form.
    TokenEndpoint,
    /// The exact URL of the endpoint each assertion is sent to (token, PAR, revocation,
    /// introspection), for providers that refuse anything else.
    Endpoint,
}

/// `[..providers.<name>.client_registration]`: register the client dynamically.
#[derive(Debug, Clone)]
pub(crate) struct RegistrationConfig {
    /// Registration metadata (RFC 7591 2); the crate fills in what is missing.
    pub(crate) metadata: serde_json::Map<String, serde_json::Value>,
    pub(crate) initial_access_token: Option<Secret>,
    /// Where the registered client is kept when the session store is not shared.
    pub(crate) file: Option<PathBuf>,
}

/// The client part of a provider's configuration.
#[derive(Debug)]
pub(crate) struct ClientSettings {
    pub(crate) client_auth: ClientAuth,
    pub(crate) private_key: Option<Arc<SigningKey>>,
    pub(crate) assertion_audience: AssertionAudience,
    pub(crate) jwks_path: Option<String>,
    pub(crate) use_par: bool,
    pub(crate) dpop: Option<SigningAlg>,
    pub(crate) id_token_alg: Option<SigningAlg>,
    /// Authorization requests go as a request object signed with this (RFC 9101).
    pub(crate) request_object_alg: Option<SigningAlg>,
    pub(crate) discovery_url: Option<String>,
    pub(crate) http: HttpSettings,
    pub(crate) registration: Option<RegistrationConfig>,
}

impl ClientSettings {
    /// The self-signed certificate's key with `x5c`, which the client's JWK Set carries
    /// for `self_signed_tls_client_auth` (RFC 8705 2.2).
    pub(crate) fn certificate_jwk(&self) -> Option<&serde_json::Value> {
        match self.client_auth {
            ClientAuth::SelfSignedTls => self.http.identity.as_ref()?.jwk.as_ref(),
            _ => None,
        }
    }
}

const AUTH_METHODS: &str = "\"client_secret_basic\" (the default), \"client_secret_post\", \
                            \"client_secret_jwt\", \"private_key_jwt\", \"tls_client_auth\", \
                            \"self_signed_tls_client_auth\" or \"none\"";

/// Validates the client settings of `raw` (the table at `key`), taking them out of it.
pub(super) fn validate_client(
    key: &str,
    raw: &mut RawProvider,
    has_secret: bool,
    policy: UrlPolicy,
) -> Result<ClientSettings, ConfigError> {
    let alg = |name: &str, value: &Option<String>| -> Result<Option<SigningAlg>, ConfigError> {
        match value.as_deref() {
            None => Ok(None),
            Some(text) => match SigningAlg::from_name(text) {
                Some(alg) => Ok(Some(alg)),
                None => bail!(
                    format!("{key}.{name}"),
                    format!("= {text:?} is not an algorithm this crate supports"),
                    format!(
                        "use one of {}",
                        SigningAlg::ALL.map(SigningAlg::name).join(", ")
                    )
                ),
            },
        }
    };
    let assertion_alg = alg(
        "token_endpoint_auth_signing_alg",
        &raw.token_endpoint_auth_signing_alg,
    )?;
    let method = raw
        .token_endpoint_auth_method
        .as_deref()
        .unwrap_or(defaults::TOKEN_ENDPOINT_AUTH_METHOD);
    let client_auth = match method {
        "client_secret_basic" => ClientAuth::Basic,
        "client_secret_post" => ClientAuth::Post,
        "client_secret_jwt" => match assertion_alg {
            None => ClientAuth::SecretJwt(SigningAlg::Hs256),
            Some(alg) if alg.is_hmac() => ClientAuth::SecretJwt(alg),
            Some(alg) => bail!(
                format!("{key}.token_endpoint_auth_signing_alg"),
                format!("= \"{alg}\" cannot sign client_secret_jwt assertions"),
                format!("use HS256, HS384 or HS512 (or private_key_jwt for {alg})")
            ),
        },
        "private_key_jwt" => ClientAuth::PrivateKeyJwt,
        "none" => ClientAuth::None,
        "tls_client_auth" => ClientAuth::Tls,
        "self_signed_tls_client_auth" => ClientAuth::SelfSignedTls,
        other => bail!(
            format!("{key}.token_endpoint_auth_method"),
            format!("= {other:?} is not supported"),
            format!("use {AUTH_METHODS}")
        ),
    };
    let registering = raw.client_registration.is_some();
    let http = validate_http(key, raw)?;
    let identity = &http.identity;
    if client_auth.is_mutual_tls() && identity.is_none() {
        bail!(
            format!("{key}.tls_client_certificate"),
            format!(
                "is missing: token_endpoint_auth_method = \"{}\" authenticates with it",
                client_auth.name()
            ),
            "set tls_client_certificate and tls_client_key (PEM files)"
        );
    }
    if client_auth == ClientAuth::SelfSignedTls
        && identity
            .as_ref()
            .is_some_and(|identity| identity.jwk.is_none())
    {
        bail!(
            format!("{key}.tls_client_certificate"),
            "holds a key that cannot be published as a JWK, which \
             self_signed_tls_client_auth registers",
            "use an RSA, EC (P-256, P-384, P-521) or Ed25519 certificate"
        );
    }
    if client_auth.needs_secret() && !has_secret && !registering {
        bail!(
            format!("{key}.client_secret"),
            "is missing",
            "set it, or set token_endpoint_auth_method = \"none\" for a public client (or \
             \"private_key_jwt\" with a private key)"
        );
    }
    let pem = match (raw.private_key.take(), raw.private_key_pem.take()) {
        (Some(_), Some(_)) => {
            bail!(
                key,
                "sets both private_key and private_key_pem",
                "set either private_key (a PEM file) or private_key_pem (inline), not both"
            )
        }
        (Some(path), None) => match std::fs::read_to_string(&path) {
            Ok(pem) => Some((format!("{key}.private_key"), format!("= {path:?} "), pem)),
            Err(e) => bail!(
                format!("{key}.private_key"),
                format!("= {path:?} cannot be read: {e}"),
                "check the path, and that the app may read the file"
            ),
        },
        (None, Some(pem)) => Some((format!("{key}.private_key_pem"), String::new(), pem)),
        (None, None) => None,
    };
    let private_key = match pem {
        Some((source, shown, pem)) => {
            let alg = match client_auth {
                ClientAuth::PrivateKeyJwt => assertion_alg,
                _ => None,
            };
            match SigningKey::from_pem(&pem, alg, raw.private_key_kid.take()) {
                Ok(key) => Some(Arc::new(key)),
                Err(e) => bail!(
                    source,
                    format!("{shown}does not hold a key this crate can use: {e}"),
                    "use a PEM private key (PKCS#8, PKCS#1 or SEC1): RSA of 2048 bits or more, \
                     EC P-256 or P-384, or Ed25519"
                ),
            }
        }
        None => None,
    };
    match (client_auth, &private_key) {
        (ClientAuth::PrivateKeyJwt, None) => bail!(
            format!("{key}.token_endpoint_auth_method"),
            "= \"private_key_jwt\" needs the client's private key",
            "set private_key = \"/path/to/key.pem\" or private_key_pem = \"-----BEGIN ...\""
        ),
        (ClientAuth::PrivateKeyJwt, Some(_)) => {}
        (_, Some(_)) if raw.jwks_path.is_none() && raw.request_object_signing_alg.is_none() => {
            bail!(
                format!("{key}.private_key"),
                "is set but unused",
                "set token_endpoint_auth_method = \"private_key_jwt\" or \
                 request_object_signing_alg (or jwks_path to publish its public key)"
            )
        }
        _ => {}
    }
    if assertion_alg.is_some()
        && !matches!(
            client_auth,
            ClientAuth::PrivateKeyJwt | ClientAuth::SecretJwt(_)
        )
    {
        bail!(
            format!("{key}.token_endpoint_auth_signing_alg"),
            "only applies to client_secret_jwt and private_key_jwt",
            "set token_endpoint_auth_method, or remove it"
        );
    }
    let assertion_audience = match raw
        .client_assertion_audience
        .as_deref()
        .unwrap_or(defaults::CLIENT_ASSERTION_AUDIENCE)
    {
        "issuer" => AssertionAudience::Issuer,
        "token_endpoint" => AssertionAudience::TokenEndpoint,
        "endpoint" => AssertionAudience::Endpoint,
        other => bail!(
            format!("{key}.client_assertion_audience"),
            format!("= {other:?} is not valid"),
            "use \"issuer\" (the default), \"token_endpoint\" or \"endpoint\""
        ),
    };
    let jwks_path = match raw.jwks_path.take() {
        Some(path) => {
            check_route_path(&format!("{key}.jwks_path"), &path)?;
            let encrypts = raw.encryption_key.is_some() || raw.encryption_key_pem.is_some();
            if private_key.is_none() && !encrypts {
                bail!(
                    format!("{key}.jwks_path"),
                    "serves the client's public keys, and there is none",
                    "set private_key (a PEM file) or private_key_pem, or an encryption_key"
                );
            }
            Some(path)
        }
        None => None,
    };
    let dpop_on = raw.dpop.unwrap_or(defaults::DPOP);
    let dpop = match (dpop_on, alg("dpop_alg", &raw.dpop_alg)?) {
        (false, Some(_)) => bail!(
            format!("{key}.dpop_alg"),
            "is set but dpop is off",
            "set dpop = true"
        ),
        (false, None) => None,
        (true, None) => SigningAlg::from_name(defaults::DPOP_ALG),
        (true, Some(alg @ (SigningAlg::Es256 | SigningAlg::EdDsa))) => Some(alg),
        (true, Some(other)) => bail!(
            format!("{key}.dpop_alg"),
            format!("= \"{other}\" is not supported for DPoP proofs"),
            "use \"ES256\" (the default) or \"EdDSA\""
        ),
    };
    let id_token_alg = alg(
        "id_token_signed_response_alg",
        &raw.id_token_signed_response_alg,
    )?;
    if let Some(alg) = id_token_alg {
        if alg.is_hmac() && !has_secret && !registering {
            bail!(
                format!("{key}.id_token_signed_response_alg"),
                format!("= \"{alg}\" is keyed by the client secret, and this client has none"),
                "set client_secret, or pin an asymmetric algorithm such as RS256"
            );
        }
    }
    let request_object_alg = alg(
        "request_object_signing_alg",
        &raw.request_object_signing_alg,
    )?;
    let request_object_key = format!("{key}.request_object_signing_alg");
    match (request_object_alg, &private_key) {
        (Some(alg), _) if alg.is_hmac() && !has_secret && !registering => bail!(
            request_object_key,
            format!("= \"{alg}\" is keyed by the client secret, and this client has none"),
            "set client_secret, or an asymmetric algorithm with private_key"
        ),
        (Some(alg), None) if !alg.is_hmac() => bail!(
            request_object_key,
            format!("= \"{alg}\" signs with the client's private key, and none is set"),
            "set private_key (or private_key_pem) to a key of that algorithm"
        ),
        (Some(alg), Some(key)) if !alg.is_hmac() && key.alg() != alg => bail!(
            request_object_key,
            format!("= \"{alg}\" does not fit the private key ({})", key.alg()),
            format!(
                "set it to \"{}\", or use a key of that algorithm",
                key.alg()
            )
        ),
        _ => {}
    }
    let discovery_url = match raw.discovery_url.take() {
        Some(url) => {
            parse_url_for(policy, &format!("{key}.discovery_url"), &url)?;
            if raw.provider_metadata.is_some() {
                bail!(
                    format!("{key}.discovery_url"),
                    "is for discovery, and the provider has a provider_metadata table",
                    "remove it, or the provider_metadata table"
                );
            }
            Some(url)
        }
        None => None,
    };
    let registration = match raw.client_registration.take() {
        Some(table) => Some(validate_registration(
            key,
            table,
            raw.registration_file.take(),
            client_auth,
        )?),
        None => {
            if raw.registration_file.is_some() {
                bail!(
                    format!("{key}.registration_file"),
                    "is for dynamic registration",
                    "add a [..providers.<name>.client_registration] table, or remove it"
                );
            }
            None
        }
    };
    Ok(ClientSettings {
        client_auth,
        private_key,
        assertion_audience,
        jwks_path,
        use_par: raw.use_par.unwrap_or(defaults::USE_PAR),
        dpop,
        id_token_alg,
        request_object_alg,
        discovery_url,
        http,
        registration,
    })
}

fn validate_registration(
    key: &str,
    mut table: BTreeMap<String, serde_json::Value>,
    file: Option<String>,
    client_auth: ClientAuth,
) -> Result<RegistrationConfig, ConfigError> {
    // The table may add to what the crate registers, but not contradict how the client
    // will authenticate: that would register one method and use another.
    if let Some(method) = table.get("token_endpoint_auth_method") {
        if method.as_str() != Some(client_auth.name()) {
            bail!(
                format!("{key}.client_registration.token_endpoint_auth_method"),
                format!(
                    "= {method} differs from how the client authenticates ({:?})",
                    client_auth.name()
                ),
                format!(
                    "set {key}.token_endpoint_auth_method instead, and remove it from the table"
                )
            );
        }
    }
    let initial_access_token = match table.remove("initial_access_token") {
        None => None,
        Some(serde_json::Value::String(token)) if !token.is_empty() => Some(Secret(token)),
        Some(_) => {
            bail!(
                format!("{key}.client_registration.initial_access_token"),
                "must be a non-empty string",
                "set the token the provider issued for registration, or remove it"
            )
        }
    };
    for reserved in ["client_id", "client_secret", "registration_access_token"] {
        if table.contains_key(reserved) {
            bail!(
                format!("{key}.client_registration.{reserved}"),
                "is chosen by the provider at registration",
                "remove it (for a client registered beforehand, set client_id and client_secret \
                 on the provider table and drop client_registration)"
            );
        }
    }
    Ok(RegistrationConfig {
        metadata: table.into_iter().collect(),
        initial_access_token,
        file: file.map(PathBuf::from),
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{config, error_of, toml_with, GOOD};
    use super::*;

    #[test]
    fn names_each_mistake_and_its_fix() {
        let cases: &[(&str, &str)] = &[
            ("token_endpoint_auth_method = \"mtls\"", "oidc.providers.default.token_endpoint_auth_method = \"mtls\" is not supported"),
            ("token_endpoint_auth_method = \"tls_client_auth\"", "oidc.providers.default.tls_client_certificate is missing: token_endpoint_auth_method = \"tls_client_auth\" authenticates with it"),
            ("tls_client_certificate = \"/nonexistent/client.pem\"", "oidc.providers.default.tls_client_key is missing"),
            ("tls_client_key = \"/nonexistent/client.key\"", "oidc.providers.default.tls_client_certificate is missing"),
            ("tls_client_certificate = \"/nonexistent/client.pem\"\ntls_client_key = \"/nonexistent/client.key\"", "oidc.providers.default.tls_client_certificate = \"/nonexistent/client.pem\" cannot be read"),
            ("token_endpoint_auth_method = \"private_key_jwt\"", "oidc.providers.default.token_endpoint_auth_method = \"private_key_jwt\" needs the client's private key"),
            ("token_endpoint_auth_method = \"private_key_jwt\"\nprivate_key = \"/nonexistent/key.pem\"", "oidc.providers.default.private_key = \"/nonexistent/key.pem\" cannot be read"),
            ("token_endpoint_auth_method = \"private_key_jwt\"\nprivate_key_pem = \"garbage\"", "oidc.providers.default.private_key_pem does not hold a key this crate can use: not a PEM private key"),
            ("private_key = \"a.pem\"\nprivate_key_pem = \"garbage\"", "oidc.providers.default sets both private_key and private_key_pem"),
            ("token_endpoint_auth_method = \"client_secret_jwt\"\ntoken_endpoint_auth_signing_alg = \"RS256\"", "token_endpoint_auth_signing_alg = \"RS256\" cannot sign client_secret_jwt assertions"),
            ("token_endpoint_auth_signing_alg = \"HS256\"", "token_endpoint_auth_signing_alg only applies to client_secret_jwt and private_key_jwt"),
            ("token_endpoint_auth_method = \"client_secret_jwt\"\ntoken_endpoint_auth_signing_alg = \"HS999\"", "token_endpoint_auth_signing_alg = \"HS999\" is not an algorithm"),
            ("client_assertion_audience = \"everyone\"", "client_assertion_audience = \"everyone\" is not valid"),
            ("jwks_path = \"/jwks\"", "jwks_path serves the client's public key"),
            ("dpop_alg = \"ES256\"", "dpop_alg is set but dpop is off: set dpop = true"),
            ("dpop = true\ndpop_alg = \"RS256\"", "dpop_alg = \"RS256\" is not supported for DPoP"),
            ("id_token_signed_response_alg = \"none\"", "id_token_signed_response_alg = \"none\" is not an algorithm"),
            ("request_object_signing_alg = \"ES256\"", "request_object_signing_alg = \"ES256\" signs with the client's private key, and none is set"),
            ("request_object_signing_alg = \"none\"", "request_object_signing_alg = \"none\" is not an algorithm"),
            ("discovery_url = \"http://op.example.com/.well-known/openid-configuration\"", "discovery_url = \"http://op.example.com/.well-known/openid-configuration\" must use https"),
            ("ca_certificates = [\"/nonexistent/ca.pem\"]", "oidc.providers.default.ca_certificates has \"/nonexistent/ca.pem\", which cannot be read"),
            ("http_proxy = \"proxy:3128\"", "http_proxy must be a URL"),
            ("http_user_agent = \"\"", "http_user_agent must be printable ASCII"),
            ("registration_file = \"/tmp/x.json\"", "registration_file is for dynamic registration"),
            ("[oidc.providers.default.client_registration]\nclient_name = \"app\"", "oidc.providers.default sets both client_id and a client_registration table, which exclude each other"),
            ("[oidc.providers.default.client_registration]\ntoken_endpoint_auth_method = \"client_secret_post\"", "differs from how the client authenticates"),
        ];
        for (provider, expected) in cases {
            let message = error_of(&toml_with("", provider));
            assert!(
                message.contains(expected),
                "expected {expected:?} in {message:?}"
            );
        }
    }

    #[test]
    fn client_settings_of_issue_12_are_read() {
        let key = format!(
            "{}/tests/fixtures/client_p256_sec1.pem",
            env!("CARGO_MANIFEST_DIR")
        );
        let toml = toml_with(
            "",
            &format!(
                "token_endpoint_auth_method = \"private_key_jwt\"\nprivate_key = \"{key}\"\n\
                 jwks_path = \"/jwks.json\"\nuse_par = true\ndpop = true\n\
                 id_token_signed_response_alg = \"ES256\"\n\
                 client_assertion_audience = \"token_endpoint\"\n\
                 discovery_url = \"https://op.example.com/custom\"\n\
                 http_user_agent = \"my-app/1.0\""
            ),
        );
        let read = config(&toml).unwrap();
        let client = &read.providers[0].client;
        assert_eq!(client.client_auth, ClientAuth::PrivateKeyJwt);
        assert_eq!(client.private_key.as_ref().unwrap().alg().name(), "ES256");
        assert_eq!(client.jwks_path.as_deref(), Some("/jwks.json"));
        assert!(client.use_par);
        assert_eq!(client.dpop.map(|a| a.name()), Some("ES256"));
        assert_eq!(client.id_token_alg.map(|a| a.name()), Some("ES256"));
        assert_eq!(client.assertion_audience, AssertionAudience::TokenEndpoint);
        assert_eq!(
            client.discovery_url.as_deref(),
            Some("https://op.example.com/custom")
        );
        assert_eq!(client.http.user_agent.as_deref(), Some("my-app/1.0"));

        // Dynamic registration: no client_id, no secret; the table's keys are metadata.
        let registering = "[oidc]\nredirect_uri = \"http://127.0.0.1:8000/cb\"\n\
             [oidc.providers.default]\nissuer = \"http://localhost:3000\"\n\
             registration_file = \"/tmp/client.json\"\n\
             [oidc.providers.default.client_registration]\nclient_name = \"App\"\n\
             initial_access_token = \"iat\"\n";
        let read = config(registering).unwrap();
        let provider = &read.providers[0];
        assert_eq!(provider.client_id, "");
        let registration = provider.client.registration.as_ref().unwrap();
        assert_eq!(registration.metadata["client_name"], "App");
        assert!(!registration.metadata.contains_key("initial_access_token"));
        assert_eq!(
            registration.initial_access_token.as_ref().unwrap().expose(),
            "iat"
        );
    }

    #[test]
    fn the_client_defaults() {
        let client = &config(GOOD).unwrap().providers[0].client;
        assert_eq!(client.client_auth, ClientAuth::Basic);
        assert_eq!(client.assertion_audience, AssertionAudience::Issuer);
        assert!(!client.use_par);
        assert_eq!(client.dpop, None);
        let dpop = config(&toml_with("", "dpop = true")).unwrap();
        assert_eq!(
            dpop.providers[0].client.dpop.map(|a| a.name()),
            Some("ES256")
        );
    }

    #[test]
    fn refuses_a_missing_client_secret_for_a_confidential_client() {
        let toml = GOOD.replace("client_secret = \"s3cret\"", "");
        assert!(error_of(&toml).contains("client_secret is missing"));
        let public = toml.replace(
            "client_id = \"app\"",
            "client_id = \"app\"\ntoken_endpoint_auth_method = \"none\"",
        );
        assert_eq!(
            config(&public).unwrap().providers[0].client.client_auth,
            ClientAuth::None
        );
    }
}
