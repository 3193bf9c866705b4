//! A provider's client settings: how the client authenticates (secrets, assertions, keys),
//! pushed authorization requests, DPoP, the ID token algorithm pin, its HTTP client, and
//! dynamic registration.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::{check_route_path, parse_url_for, ConfigError, RawProvider, Secret, UrlPolicy};
use crate::protocol::signing::{SigningAlg, SigningKey};

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
        }
    }

    pub(crate) fn needs_secret(self) -> bool {
        matches!(
            self,
            ClientAuth::Basic | ClientAuth::Post | ClientAuth::SecretJwt(_)
        )
    }
}

/// The `aud` of client assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AssertionAudience {
    /// The provider's issuer identifier (the default; what RFC 7523bis and FAPI 2.0 ask).
    Issuer,
    /// The token endpoint's URL, for providers that want the older form.
    TokenEndpoint,
}

/// How this provider's HTTP client differs from the default one.
#[derive(Debug, Clone, Default)]
pub(crate) struct HttpSettings {
    /// Extra trusted CA certificates, PEM, each with the file it came from.
    pub(crate) ca_certificates: Vec<(String, Vec<u8>)>,
    /// An HTTP(S) proxy for every call to this provider.
    pub(crate) proxy: Option<Secret>,
    pub(crate) user_agent: Option<String>,
}

impl HttpSettings {
    pub(crate) fn is_default(&self) -> bool {
        self.ca_certificates.is_empty() && self.proxy.is_none() && self.user_agent.is_none()
    }
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
    pub(crate) discovery_url: Option<String>,
    pub(crate) http: HttpSettings,
    pub(crate) registration: Option<RegistrationConfig>,
}

macro_rules! bail {
    ($($arg:tt)*) => { return Err(ConfigError(format!($($arg)*))) };
}

const AUTH_METHODS: &str = "\"client_secret_basic\" (the default), \"client_secret_post\", \
                            \"client_secret_jwt\", \"private_key_jwt\" or \"none\"";

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
                    "{key}.{name} = {text:?} is not an algorithm this crate supports: use one of {}",
                    SigningAlg::ALL.map(SigningAlg::name).join(", ")
                ),
            },
        }
    };
    let assertion_alg = alg(
        "token_endpoint_auth_signing_alg",
        &raw.token_endpoint_auth_signing_alg,
    )?;
    let client_auth = match raw.token_endpoint_auth_method.as_deref() {
        None | Some("client_secret_basic") => ClientAuth::Basic,
        Some("client_secret_post") => ClientAuth::Post,
        Some("client_secret_jwt") => match assertion_alg {
            None => ClientAuth::SecretJwt(SigningAlg::Hs256),
            Some(alg) if alg.is_hmac() => ClientAuth::SecretJwt(alg),
            Some(alg) => bail!(
                "{key}.token_endpoint_auth_signing_alg = \"{alg}\" cannot sign client_secret_jwt \
                 assertions: use HS256, HS384 or HS512 (or private_key_jwt for {alg})"
            ),
        },
        Some("private_key_jwt") => ClientAuth::PrivateKeyJwt,
        Some("none") => ClientAuth::None,
        Some(other) => bail!(
            "{key}.token_endpoint_auth_method = {other:?} is not supported: use {AUTH_METHODS}"
        ),
    };
    let registering = raw.client_registration.is_some();
    if client_auth.needs_secret() && !has_secret && !registering {
        bail!(
            "{key}.client_secret is missing: set it, or set token_endpoint_auth_method = \"none\" \
             for a public client (or \"private_key_jwt\" with a private key)"
        );
    }
    let pem = match (raw.private_key.take(), raw.private_key_pem.take()) {
        (Some(_), Some(_)) => {
            bail!(
                "{key}: set either private_key (a PEM file) or private_key_pem (inline), not both"
            )
        }
        (Some(path), None) => match std::fs::read_to_string(&path) {
            Ok(pem) => Some((format!("{key}.private_key ({path})"), pem)),
            Err(e) => bail!("{key}.private_key = {path:?} cannot be read: {e}"),
        },
        (None, Some(pem)) => Some((format!("{key}.private_key_pem"), pem)),
        (None, None) => None,
    };
    let private_key = match pem {
        Some((source, pem)) => {
            let alg = match client_auth {
                ClientAuth::PrivateKeyJwt => assertion_alg,
                _ => None,
            };
            match SigningKey::from_pem(&pem, alg, raw.private_key_kid.take()) {
                Ok(key) => Some(Arc::new(key)),
                Err(e) => bail!("{source}: {e}"),
            }
        }
        None => None,
    };
    match (client_auth, &private_key) {
        (ClientAuth::PrivateKeyJwt, None) => bail!(
            "{key}: token_endpoint_auth_method = \"private_key_jwt\" needs the client's private \
             key: private_key = \"/path/to/key.pem\" or private_key_pem = \"-----BEGIN ...\""
        ),
        (ClientAuth::PrivateKeyJwt, Some(_)) => {}
        (_, Some(_)) if raw.jwks_path.is_none() => bail!(
            "{key}.private_key is set but unused: set token_endpoint_auth_method = \
             \"private_key_jwt\" (or jwks_path to publish its public key)"
        ),
        _ => {}
    }
    if assertion_alg.is_some()
        && !matches!(
            client_auth,
            ClientAuth::PrivateKeyJwt | ClientAuth::SecretJwt(_)
        )
    {
        bail!(
            "{key}.token_endpoint_auth_signing_alg only applies to client_secret_jwt and \
             private_key_jwt: set token_endpoint_auth_method, or remove it"
        );
    }
    let assertion_audience = match raw.client_assertion_audience.as_deref() {
        None | Some("issuer") => AssertionAudience::Issuer,
        Some("token_endpoint") => AssertionAudience::TokenEndpoint,
        Some(other) => bail!(
            "{key}.client_assertion_audience = {other:?} is not valid: use \"issuer\" (the \
             default) or \"token_endpoint\""
        ),
    };
    let jwks_path = match raw.jwks_path.take() {
        Some(path) => {
            check_route_path(&format!("{key}.jwks_path"), &path)?;
            if private_key.is_none() {
                bail!(
                    "{key}.jwks_path serves the client's public key: set private_key (a PEM \
                     file) or private_key_pem too"
                );
            }
            Some(path)
        }
        None => None,
    };
    let dpop = match (raw.dpop, alg("dpop_alg", &raw.dpop_alg)?) {
        (false, Some(_)) => bail!("{key}.dpop_alg is set but dpop is off: set dpop = true"),
        (false, None) => None,
        (true, None) => Some(SigningAlg::Es256),
        (true, Some(alg @ (SigningAlg::Es256 | SigningAlg::EdDsa))) => Some(alg),
        (true, Some(other)) => bail!(
            "{key}.dpop_alg = \"{other}\" is not supported for DPoP proofs: use \"ES256\" (the \
             default) or \"EdDSA\""
        ),
    };
    let id_token_alg = alg(
        "id_token_signed_response_alg",
        &raw.id_token_signed_response_alg,
    )?;
    if let Some(alg) = id_token_alg {
        if alg.is_hmac() && !has_secret && !registering {
            bail!(
                "{key}.id_token_signed_response_alg = \"{alg}\" is keyed by the client secret, \
                 and this client has none"
            );
        }
    }
    let discovery_url = match raw.discovery_url.take() {
        Some(url) => {
            parse_url_for(policy, &format!("{key}.discovery_url"), &url)?;
            if raw.provider_metadata.is_some() {
                bail!("{key}.discovery_url is for discovery: remove it, or the provider_metadata table");
            }
            Some(url)
        }
        None => None,
    };
    let mut ca_certificates = Vec::new();
    for path in std::mem::take(&mut raw.ca_certificates) {
        let pem = match std::fs::read(&path) {
            Ok(pem) => pem,
            Err(e) => bail!("{key}.ca_certificates: {path:?} cannot be read: {e}"),
        };
        if reqwest::Certificate::from_pem_bundle(&pem).map_or(true, |c| c.is_empty()) {
            bail!("{key}.ca_certificates: {path:?} holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")");
        }
        ca_certificates.push((path, pem));
    }
    let proxy = match raw.http_proxy.take() {
        Some(url) => {
            let parsed = url::Url::parse(&url).ok();
            if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https")) {
                bail!("{key}.http_proxy must be a URL such as \"http://proxy.internal:3128\"");
            }
            Some(Secret(url))
        }
        None => None,
    };
    let user_agent = raw.http_user_agent.take();
    if user_agent
        .as_deref()
        .is_some_and(|ua| ua.is_empty() || !ua.bytes().all(|b| (0x20..0x7f).contains(&b)))
    {
        bail!("{key}.http_user_agent must be printable ASCII, e.g. \"my-app/1.0\"");
    }
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
                    "{key}.registration_file is for dynamic registration: add a \
                     [..providers.<name>.client_registration] table, or remove it"
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
        use_par: raw.use_par,
        dpop,
        id_token_alg,
        discovery_url,
        http: HttpSettings {
            ca_certificates,
            proxy,
            user_agent,
        },
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
                "{key}.client_registration.token_endpoint_auth_method = {method} differs from \
                 how the client authenticates ({:?}): set {key}.token_endpoint_auth_method \
                 instead, and remove it from the table",
                client_auth.name()
            );
        }
    }
    let initial_access_token = match table.remove("initial_access_token") {
        None => None,
        Some(serde_json::Value::String(token)) if !token.is_empty() => Some(Secret(token)),
        Some(_) => {
            bail!("{key}.client_registration.initial_access_token must be a non-empty string")
        }
    };
    for reserved in ["client_id", "client_secret", "registration_access_token"] {
        if table.contains_key(reserved) {
            bail!(
                "{key}.client_registration.{reserved} is chosen by the provider at registration: \
                 remove it (for a client registered beforehand, set client_id and client_secret \
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
