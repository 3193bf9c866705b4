//! Configuration: the `[oidc]` table of Rocket.toml, read through figment and validated once
//! at ignite, so that every mistake stops launch with one line naming the key and the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use rocket::figment::Figment;
use serde::Deserialize;
use url::{Host, Url};

mod api;
mod client;
mod metadata;

pub(crate) use api::{ApiSettings, TokenValidation};
pub(crate) use client::{AssertionAudience, ClientAuth, ClientSettings, RegistrationConfig};
pub(crate) use metadata::ProviderMetadata;

/// Parameters of the authorization request that the crate sets itself on every login.
const RESERVED_AUTH_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "scope",
    // Not supported yet: the callback takes the code from a GET query.
    "response_mode",
    "request",
    "request_uri",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    redirect_uri: Option<String>,
    #[serde(default)]
    providers: BTreeMap<String, RawProvider>,
    #[serde(default = "default_clock_skew")]
    clock_skew: u64,
    #[serde(default = "default_session_lifetime")]
    session_lifetime: u64,
    #[serde(default = "default_true")]
    session_permanent: bool,
    #[serde(default = "default_true")]
    auto_refresh: bool,
    #[serde(default = "default_login_timeout")]
    login_timeout: u64,
    #[serde(default = "default_http_timeout")]
    http_timeout: u64,
    #[serde(default = "default_logout_path")]
    logout_path: String,
    #[serde(default = "default_post_logout_path")]
    post_logout_path: String,
    #[serde(default = "default_idle_timeout")]
    session_idle_timeout: u64,
    #[serde(default = "default_true")]
    end_session_with_access_token: bool,
    backchannel_logout_path: Option<String>,
    frontchannel_logout_path: Option<String>,
    #[serde(default)]
    session: RawSession,
    #[serde(default)]
    dangerously_allow_http: bool,
    #[serde(default)]
    trust_forwarded_headers: bool,
    /// Read by the cookie cipher (see `session::codec`); listed so the key is known.
    #[serde(default)]
    #[allow(dead_code)]
    dangerously_allow_published_secret_key: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSession {
    store: Option<String>,
    #[serde(default)]
    memory: RawMemory,
    redis: Option<RawRedis>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMemory {
    capacity: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedis {
    url: Option<String>,
    #[serde(default)]
    cluster: Vec<String>,
    #[serde(default = "default_key_prefix")]
    key_prefix: String,
    #[serde(default = "default_connect_timeout_ms")]
    connect_timeout_ms: u64,
    #[serde(default = "default_response_timeout_ms")]
    response_timeout_ms: u64,
}

fn default_idle_timeout() -> u64 {
    1800
}
fn default_key_prefix() -> String {
    "rocket_oidc:".into()
}
fn default_connect_timeout_ms() -> u64 {
    2000
}
fn default_response_timeout_ms() -> u64 {
    1000
}

fn default_clock_skew() -> u64 {
    60
}
fn default_session_lifetime() -> u64 {
    8 * 3600
}
fn default_true() -> bool {
    true
}
fn default_login_timeout() -> u64 {
    600
}
fn default_http_timeout() -> u64 {
    10
}
fn default_logout_path() -> String {
    "/logout".into()
}
fn default_post_logout_path() -> String {
    "/".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    issuer: Option<String>,
    provider_metadata: Option<ProviderMetadata>,
    client_id: Option<String>,
    client_secret: Option<String>,
    token_endpoint_auth_method: Option<String>,
    scope: Option<StringOrList>,
    #[serde(default)]
    auth_request_params: BTreeMap<String, serde_json::Value>,
    userinfo_http_method: Option<String>,
    #[serde(default)]
    trusted_audiences: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default = "default_true")]
    revoke_tokens_on_logout: bool,
    session_refresh_interval_seconds: Option<u64>,
    #[serde(default)]
    endpoints: RawEndpoints,
    #[serde(default = "default_jwks_max_age")]
    jwks_max_age_seconds: u64,
    // Client authentication, keys, PAR, DPoP, algorithms, HTTP and registration: read by
    // `client::validate_client`.
    private_key: Option<String>,
    private_key_pem: Option<String>,
    private_key_kid: Option<String>,
    jwks_path: Option<String>,
    token_endpoint_auth_signing_alg: Option<String>,
    client_assertion_audience: Option<String>,
    #[serde(default)]
    use_par: bool,
    #[serde(default)]
    dpop: bool,
    dpop_alg: Option<String>,
    id_token_signed_response_alg: Option<String>,
    discovery_url: Option<String>,
    #[serde(default)]
    ca_certificates: Vec<String>,
    http_proxy: Option<String>,
    http_user_agent: Option<String>,
    client_registration: Option<BTreeMap<String, serde_json::Value>>,
    registration_file: Option<String>,
    // APIs: read by `api::validate_api`.
    access_token_validation: Option<String>,
    access_token_audience: Option<String>,
    #[serde(default = "default_introspection_cache")]
    introspection_cache_seconds: u64,
    client_credentials: Option<api::RawClientCredentials>,
}

fn default_introspection_cache() -> u64 {
    30
}

fn default_jwks_max_age() -> u64 {
    3600
}

/// `[oidc.providers.<name>.endpoints]`: endpoints that replace (or add to) what discovery
/// or `provider_metadata` says.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEndpoints {
    userinfo_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrList {
    String(String),
    List(Vec<String>),
}

/// The validated `[oidc]` configuration.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) redirect_uri: Url,
    /// The path of `redirect_uri`, where the callback route is mounted.
    pub(crate) callback_path: String,
    /// Cookies get `Secure` whenever the app is reached over https.
    pub(crate) secure_cookies: bool,
    pub(crate) providers: Vec<ProviderConfig>,
    pub(crate) clock_skew: i64,
    pub(crate) session_lifetime: i64,
    pub(crate) session_permanent: bool,
    /// Refresh an expired access token in the guard, before the route runs.
    pub(crate) auto_refresh: bool,
    pub(crate) login_timeout: i64,
    pub(crate) http_timeout: Duration,
    pub(crate) logout_path: String,
    /// Where the browser lands after a logout.
    pub(crate) post_logout_path: String,
    /// A session unused for this long ends.
    pub(crate) session_idle_timeout: i64,
    /// A session whose access token expired and cannot be refreshed ends.
    pub(crate) end_session_with_access_token: bool,
    /// Where the provider posts back-channel logout tokens.
    pub(crate) backchannel_logout_path: String,
    /// Where the provider's front-channel logout iframe points.
    pub(crate) frontchannel_logout_path: String,
    /// Where sessions live.
    pub(crate) store: StoreConfig,
    /// Plain http accepted beyond loopback hosts (development only).
    pub(crate) url_policy: UrlPolicy,
    /// `X-Forwarded-Proto` and `X-Forwarded-Host` say how the browser reached the app (a
    /// proxy in front sets them, and strips any the client sent).
    pub(crate) trust_forwarded_headers: bool,
}

/// `[oidc.session]`: where sessions live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreConfig {
    /// In the browser's sealed cookie (the default); the marks of ended sessions in this
    /// process (at most `capacity`), or in Redis when `shared` is set.
    Cookie {
        capacity: usize,
        shared: Option<RedisSettings>,
    },
    /// In this process, at most `capacity` entries.
    Memory { capacity: usize },
    /// In Redis.
    Redis(RedisSettings),
}

/// `[oidc.session.redis]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedisSettings {
    /// A standalone server: `redis://` or `rediss://` (TLS).
    pub(crate) url: Option<Secret>,
    /// Or the seed nodes of a Redis Cluster.
    pub(crate) cluster: Vec<Secret>,
    pub(crate) key_prefix: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
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
    /// `metadata` with these endpoints in place of its own.
    pub(crate) fn apply(&self, metadata: &mut ProviderMetadata) {
        let pairs = [
            (&self.userinfo_endpoint, &mut metadata.userinfo_endpoint),
            (
                &self.end_session_endpoint,
                &mut metadata.end_session_endpoint,
            ),
            (&self.revocation_endpoint, &mut metadata.revocation_endpoint),
            (
                &self.introspection_endpoint,
                &mut metadata.introspection_endpoint,
            ),
        ];
        for (configured, field) in pairs {
            if let Some(url) = configured {
                *field = Some(url.clone());
            }
        }
    }
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
            MetadataSource::Static(metadata) => &metadata.issuer,
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

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl Secret {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A configuration mistake: one line naming the key and the fix.
#[derive(Debug)]
pub(crate) struct ConfigError(pub(crate) String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! bail {
    ($($arg:tt)*) => { return Err(ConfigError(format!($($arg)*))) };
}

impl Config {
    /// Reads and validates `oidc` from Rocket's figment.
    pub(crate) fn from_figment(figment: &Figment) -> Result<Config, ConfigError> {
        if figment.find_value("oidc").is_err() {
            bail!(
                "oidc: the configuration is missing: add a [default.oidc] table to Rocket.toml with \
                 redirect_uri and a [default.oidc.providers.default] table (issuer, client_id, \
                 client_secret), or set ROCKET_OIDC"
            );
        }
        let raw: RawConfig = figment
            .extract_inner("oidc")
            .map_err(|e| ConfigError(describe_figment_error(e)))?;
        if raw.dangerously_allow_http && is_release(figment) {
            bail!(
                "oidc.dangerously_allow_http is set in the release profile: plain http carries \
                 codes and tokens in clear; use https, or keep the setting to a debug profile"
            );
        }
        Config::validate(raw)
    }

    fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
        let Some(redirect_uri) = raw.redirect_uri else {
            bail!(
                "oidc.redirect_uri is missing: set it to the absolute URL of this app's callback, \
                 e.g. redirect_uri = \"https://app.example.com/redirect_uri\" under [default.oidc]"
            );
        };
        let policy = if raw.dangerously_allow_http {
            UrlPolicy::AllowHttp
        } else {
            UrlPolicy::Strict
        };
        let redirect_uri = parse_url_for(policy, "oidc.redirect_uri", &redirect_uri)?;
        if redirect_uri.fragment().is_some() || redirect_uri.query().is_some() {
            bail!("oidc.redirect_uri must not have a query or fragment: use a plain path such as /redirect_uri");
        }
        let callback_path = redirect_uri.path().to_string();
        if callback_path == "/" {
            bail!("oidc.redirect_uri must have a path (e.g. /redirect_uri): the callback route is mounted there, not on the app's /");
        }
        check_route_path("oidc.redirect_uri", &callback_path)?;
        check_route_path("oidc.logout_path", &raw.logout_path)?;
        if raw.logout_path == callback_path {
            bail!("oidc.logout_path must differ from the path of oidc.redirect_uri");
        }
        if safe_return_path(&raw.post_logout_path) != raw.post_logout_path {
            bail!(
                "oidc.post_logout_path = {:?} must be a path of this app, such as \"/\"",
                raw.post_logout_path
            );
        }
        if raw.providers.is_empty() {
            bail!(
                "oidc.providers is empty: add a [default.oidc.providers.default] table with issuer, \
                 client_id and client_secret"
            );
        }
        if raw.login_timeout == 0 || raw.session_lifetime == 0 || raw.http_timeout == 0 {
            bail!("oidc.login_timeout, oidc.session_lifetime and oidc.http_timeout must be positive numbers of seconds");
        }
        if raw.session_idle_timeout == 0 {
            bail!("oidc.session_idle_timeout must be a positive number of seconds (it ends sessions left unused that long)");
        }
        let backchannel_logout_path = raw
            .backchannel_logout_path
            .unwrap_or_else(|| format!("{}/backchannel", raw.logout_path));
        let frontchannel_logout_path = raw
            .frontchannel_logout_path
            .unwrap_or_else(|| format!("{}/frontchannel", raw.logout_path));
        check_route_path("oidc.backchannel_logout_path", &backchannel_logout_path)?;
        check_route_path("oidc.frontchannel_logout_path", &frontchannel_logout_path)?;
        let mut paths = [
            ("oidc.redirect_uri", callback_path.as_str()),
            ("oidc.logout_path", raw.logout_path.as_str()),
            (
                "oidc.backchannel_logout_path",
                backchannel_logout_path.as_str(),
            ),
            (
                "oidc.frontchannel_logout_path",
                frontchannel_logout_path.as_str(),
            ),
        ];
        paths.sort_by_key(|(_, path)| *path);
        for pair in paths.windows(2) {
            if pair[0].1 == pair[1].1 {
                bail!(
                    "{} and {} are both {:?}: give each its own path",
                    pair[0].0,
                    pair[1].0,
                    pair[0].1
                );
            }
        }
        let store = validate_store(raw.session)?;
        let app = AppUrls {
            policy,
            origin: redirect_uri.origin().ascii_serialization(),
            callback_path: &callback_path,
            logout_path: &raw.logout_path,
        };
        let providers = raw
            .providers
            .into_iter()
            .map(|(name, provider)| validate_provider(name, provider, &app))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config {
            secure_cookies: redirect_uri.scheme() == "https",
            redirect_uri,
            callback_path,
            providers,
            clock_skew: seconds(raw.clock_skew),
            session_lifetime: seconds(raw.session_lifetime),
            session_permanent: raw.session_permanent,
            auto_refresh: raw.auto_refresh,
            login_timeout: seconds(raw.login_timeout),
            http_timeout: Duration::from_secs(raw.http_timeout),
            logout_path: raw.logout_path,
            post_logout_path: raw.post_logout_path,
            session_idle_timeout: seconds(raw.session_idle_timeout),
            end_session_with_access_token: raw.end_session_with_access_token,
            backchannel_logout_path,
            frontchannel_logout_path,
            store,
            url_policy: policy,
            trust_forwarded_headers: raw.trust_forwarded_headers,
        })
    }
}

/// A release deployment: the `release` profile, or a build without debug assertions
/// (whatever the profile is called), where the `dangerously_…` settings are refused.
pub(crate) fn is_release(figment: &Figment) -> bool {
    figment.profile() == rocket::Config::RELEASE_PROFILE || !cfg!(debug_assertions)
}

fn validate_store(raw: RawSession) -> Result<StoreConfig, ConfigError> {
    let store = raw.store.as_deref().unwrap_or("cookie");
    let capacity = raw.memory.capacity.unwrap_or(100_000);
    match (store, raw.redis) {
        ("cookie", redis) => Ok(StoreConfig::Cookie {
            capacity,
            shared: redis.map(validate_redis).transpose()?,
        }),
        ("memory", None) => Ok(StoreConfig::Memory { capacity }),
        ("memory", Some(_)) => bail!(
            "oidc.session.redis is set but oidc.session.store = \"memory\" does not use it: set store = \"redis\", or remove the table"
        ),
        ("redis", None) => bail!(
            "oidc.session.store = \"redis\" needs a [default.oidc.session.redis] table with url = \"redis://host:6379\" (or cluster = [...])"
        ),
        ("redis", Some(redis)) => Ok(StoreConfig::Redis(validate_redis(redis)?)),
        (other, _) => bail!(
            "oidc.session.store = {other:?} is not a store: use \"cookie\" (the default), \"memory\" or \"redis\""
        ),
    }
}

fn validate_redis(redis: RawRedis) -> Result<RedisSettings, ConfigError> {
    if !cfg!(feature = "redis") {
        bail!(
            "oidc.session.redis needs the crate's `redis` feature: \
             rocket_oidc_auth = {{ version = \"0.1\", features = [\"redis\"] }} in Cargo.toml \
             (or cargo run --features redis)"
        );
    }
    let key = "oidc.session.redis";
    match (&redis.url, redis.cluster.is_empty()) {
        (Some(_), false) => bail!("{key}: set either url (one server) or cluster (the nodes of a Redis Cluster), not both"),
        (None, true) => bail!("{key}.url is missing: url = \"redis://127.0.0.1:6379\" (rediss:// for TLS), or cluster = [\"redis://node1:7000\", ...]"),
        _ => {}
    }
    for url in redis.url.iter().chain(&redis.cluster) {
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        if !matches!(scheme, Some("redis" | "rediss")) {
            bail!("{key}: a Redis URL must start with redis:// or rediss:// (TLS), e.g. redis://127.0.0.1:6379");
        }
        if Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .is_none()
        {
            bail!("{key}: a Redis URL must name a host, e.g. redis://127.0.0.1:6379");
        }
    }
    if !redis.cluster.is_empty() && redis.key_prefix.contains(['{', '}']) {
        bail!("{key}.key_prefix must not contain {{ or }} on a cluster: it would be a hash tag and put every key on one node");
    }
    if redis.connect_timeout_ms == 0 || redis.response_timeout_ms == 0 {
        bail!("{key}.connect_timeout_ms and response_timeout_ms must be positive (milliseconds)");
    }
    Ok(RedisSettings {
        url: redis.url.map(Secret),
        cluster: redis.cluster.into_iter().map(Secret).collect(),
        key_prefix: redis.key_prefix,
        connect_timeout: Duration::from_millis(redis.connect_timeout_ms),
        response_timeout: Duration::from_millis(redis.response_timeout_ms),
    })
}

fn seconds(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX / 4)
}

/// What a provider's settings are checked against.
struct AppUrls<'a> {
    policy: UrlPolicy,
    origin: String,
    callback_path: &'a str,
    logout_path: &'a str,
}

fn validate_provider(
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
        bail!("{key}: a provider name may hold only letters, digits, '_' and '-' (at most 32): rename the table");
    }
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
                "{key}.client_registration.redirect_uris must list oidc.redirect_uri \
                 ({redirect_uri:?}), where logins come back; or leave it out and the crate \
                 registers it"
            );
        }
    }
    let source = match (raw.issuer.take(), raw.provider_metadata.take()) {
        (Some(issuer), None) => {
            parse_url_for(app.policy, &format!("{key}.issuer"), &issuer)?;
            MetadataSource::Discovery { issuer }
        }
        (None, Some(metadata)) => {
            metadata.check(&format!("{key}.provider_metadata"), app.policy)?;
            MetadataSource::Static(Box::new(metadata))
        }
        (Some(_), Some(_)) => bail!(
            "{key}: set either issuer (discovery) or a provider_metadata table (static), not both"
        ),
        (None, None) => bail!(
            "{key}.issuer is missing: set issuer = \"https://op.example.com\" for discovery, or a \
             [..providers.{name}.provider_metadata] table"
        ),
    };
    let client_id = match raw.client_id.take() {
        Some(id) if !id.is_empty() => {
            if client.registration.is_some() {
                bail!(
                    "{key}: client_id and a client_registration table exclude each other: keep \
                     client_id (and client_secret) for a client registered beforehand, or the \
                     table to register one dynamically"
                );
            }
            id
        }
        // Filled in by dynamic registration.
        _ if client.registration.is_some() => String::new(),
        _ => bail!(
            "{key}.client_id is missing: set it to the client ID registered at the provider (or \
             add a [..providers.{name}.client_registration] table to register dynamically)"
        ),
    };
    let scope: Vec<String> = match raw.scope {
        None => vec!["openid".into()],
        Some(StringOrList::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(StringOrList::List(list)) => list,
    };
    if !scope.iter().any(|s| s == "openid") {
        bail!("{key}.scope must contain \"openid\": without it the provider does no OpenID Connect (e.g. scope = [\"openid\", \"email\"])");
    }
    if let Some(bad) = scope
        .iter()
        .find(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        bail!("{key}.scope has an invalid entry {bad:?}: list one scope per string");
    }
    let userinfo = match raw.userinfo_http_method.as_deref() {
        None => UserinfoMethod::Get,
        Some(m) if m.eq_ignore_ascii_case("GET") => UserinfoMethod::Get,
        Some(m) if m.eq_ignore_ascii_case("POST") => UserinfoMethod::Post,
        Some(m) if m.eq_ignore_ascii_case("none") => UserinfoMethod::None,
        Some(other) => bail!(
            "{key}.userinfo_http_method = {other:?} is not valid: use \"GET\", \"POST\" or \"none\""
        ),
    };
    let mut auth_request_params = Vec::new();
    let mut max_age = None;
    let mut acr_values = Vec::new();
    for (param, value) in raw.auth_request_params {
        if RESERVED_AUTH_PARAMS.contains(&param.as_str()) {
            let fix = if param == "scope" {
                format!("use {key}.scope instead")
            } else {
                "the crate sets it on every login; remove it".into()
            };
            bail!("{key}.auth_request_params.{param} cannot be set: {fix}");
        }
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect::<Vec<_>>()
                .join(" "),
            obj @ serde_json::Value::Object(_) => obj.to_string(),
            serde_json::Value::Null => continue,
        };
        if param == "acr_values" {
            acr_values = value.split_whitespace().map(str::to_string).collect();
        }
        if param == "max_age" {
            match value.parse::<u64>() {
                Ok(secs) => max_age = Some(seconds(secs)),
                Err(_) => bail!(
                    "{key}.auth_request_params.max_age = {value:?} must be a number of seconds"
                ),
            }
        }
        auth_request_params.push((param, value));
    }
    let post_logout_redirect_uri = match raw.post_logout_redirect_uris.first() {
        Some(uri) => uri.clone(),
        None => format!(
            "{}{}/callback",
            app.origin,
            app.logout_path.trim_end_matches('/')
        ),
    };
    let key_uris = format!("{key}.post_logout_redirect_uris");
    for uri in &raw.post_logout_redirect_uris {
        parse_url_for(app.policy, &key_uris, uri)?;
    }
    let parsed = parse_url_for(app.policy, &key_uris, &post_logout_redirect_uri)?;
    if parsed.origin().ascii_serialization() != app.origin || parsed.query().is_some() {
        bail!(
            "{key_uris}: {post_logout_redirect_uri:?} must be a URL of this app (origin {}) \
             without a query: the crate receives the browser back there",
            app.origin
        );
    }
    let post_logout_return_path = parsed.path().to_string();
    check_route_path(&key_uris, &post_logout_return_path)?;
    if post_logout_return_path == app.callback_path || post_logout_return_path == app.logout_path {
        bail!("{key_uris}: the path must differ from redirect_uri's and from oidc.logout_path");
    }
    Ok(ProviderConfig {
        name,
        source,
        client_id,
        client_secret,
        client,
        api: api::validate_api(
            &key,
            raw.access_token_validation.as_deref(),
            raw.access_token_audience.take(),
            raw.introspection_cache_seconds,
            raw.client_credentials.take(),
        )?,
        scope: scope.join(" "),
        auth_request_params,
        max_age,
        acr_values,
        userinfo,
        trusted_audiences: raw.trusted_audiences,
        post_logout_redirect_uri,
        post_logout_return_path,
        revoke_tokens_on_logout: raw.revoke_tokens_on_logout,
        session_refresh_interval: match raw.session_refresh_interval_seconds {
            Some(0) => bail!("{key}.session_refresh_interval_seconds must be positive (or left out to disable silent re-authentication)"),
            other => other.map(seconds),
        },
        endpoints: {
            let e = raw.endpoints;
            for (name, value) in [
                ("userinfo_endpoint", &e.userinfo_endpoint),
                ("end_session_endpoint", &e.end_session_endpoint),
                ("revocation_endpoint", &e.revocation_endpoint),
                ("introspection_endpoint", &e.introspection_endpoint),
            ] {
                if let Some(url) = value {
                    parse_url_for(app.policy, &format!("{key}.endpoints.{name}"), url)?;
                }
            }
            EndpointOverrides {
                userinfo_endpoint: e.userinfo_endpoint,
                end_session_endpoint: e.end_session_endpoint,
                revocation_endpoint: e.revocation_endpoint,
                introspection_endpoint: e.introspection_endpoint,
            }
        },
        url_policy: app.policy,
        jwks_max_age: match raw.jwks_max_age_seconds {
            0 => bail!("{key}.jwks_max_age_seconds must be positive"),
            seconds => Duration::from_secs(seconds),
        },
    })
}

/// Parses an absolute URL that must be https, or http on a loopback host.
#[cfg(test)]
pub(crate) fn parse_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    parse_url_for(UrlPolicy::Strict, key, value)
}

/// Whether plain http is accepted beyond loopback hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum UrlPolicy {
    /// https, or http on loopback hosts only.
    #[default]
    Strict,
    /// http anywhere (`dangerously_allow_http`, development setups only).
    AllowHttp,
}

/// [`parse_url`] under `policy`.
pub(crate) fn parse_url_for(policy: UrlPolicy, key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = match Url::parse(value) {
        Ok(url) => url,
        Err(e) => bail!("{key} = {value:?} is not an absolute URL ({e}): write it in full, e.g. \"https://host.example/path\""),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) || policy == UrlPolicy::AllowHttp => Ok(url),
        "http" => bail!(
            "{key} = {value:?} must use https: plain http is accepted only for loopback hosts \
             (127.0.0.0/8, ::1, localhost)"
        ),
        other => bail!("{key} = {value:?} has scheme {other:?}: use https"),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// A route path the fairing mounts: plain segments Rocket will not read as parameters.
fn check_route_path(key: &str, path: &str) -> Result<(), ConfigError> {
    let plain = path.starts_with('/')
        && !path.contains("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b));
    if !plain {
        bail!("{key}: the path {path:?} must start with '/' and hold only letters, digits and -_.~ segments");
    }
    Ok(())
}

fn describe_figment_error(error: rocket::figment::Error) -> String {
    use rocket::figment::error::Kind;
    error
        .into_iter()
        .map(|e| {
            // `extract_inner` appends the focused key ("oidc") after the path.
            let mut path = e.path.clone();
            if path.last().map(String::as_str) == Some("oidc") {
                path.pop();
            }
            let key = std::iter::once("oidc".to_string())
                .chain(path)
                .collect::<Vec<_>>()
                .join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| format!(" (in {})", m.name))
                .unwrap_or_default();
            match &e.kind {
                Kind::UnknownField(_, expected) => format!(
                    "{key} is not a known key{source}: check the spelling; the keys here are {}",
                    expected.join(", ")
                ),
                kind => format!("{key}: {kind}{source}"),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A path of this app to return to after login, or `/` for anything else: never `//host`,
/// `/\host`, an absolute URL, or text with control characters.
pub(crate) fn safe_return_path(target: &str) -> &str {
    let bytes = target.as_bytes();
    let safe = bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/') | Some(b'\\'))
        && !target
            .chars()
            .any(|c| c.is_control() || c == '\\' || c.is_whitespace())
        && target.len() <= 1024;
    if safe {
        target
    } else {
        "/"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_inside_the_app() {
        for good in ["/", "/login", "/a/b?x=1&y=%2F%2Fevil", "/a//b"] {
            assert_eq!(safe_return_path(good), good);
        }
        for evil in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "",
            "/\t/evil.example",
            "/a\\b",
            "/a\r\nSet-Cookie: x=1",
        ] {
            assert_eq!(safe_return_path(evil), "/", "{evil:?}");
        }
    }

    use rocket::figment::providers::{Format, Toml};

    fn config(toml: &str) -> Result<Config, ConfigError> {
        Config::from_figment(&Figment::from(Toml::string(toml)))
    }

    const GOOD: &str = r#"
        [oidc]
        redirect_uri = "http://127.0.0.1:8000/redirect_uri"
        [oidc.providers.default]
        issuer = "http://localhost:3000"
        client_id = "app"
        client_secret = "s3cret"
    "#;

    fn error_of(toml: &str) -> String {
        config(toml).expect_err("config should be refused").0
    }

    #[test]
    fn accepts_a_minimal_configuration_with_defaults() {
        let config = config(GOOD).unwrap();
        assert_eq!(config.callback_path, "/redirect_uri");
        assert!(!config.secure_cookies);
        assert_eq!(config.providers[0].scope, "openid");
        assert_eq!(config.providers[0].client.client_auth, ClientAuth::Basic);
        assert_eq!(config.providers[0].userinfo, UserinfoMethod::Get);
        assert_eq!(config.clock_skew, 60);
    }

    #[test]
    fn secret_is_redacted_in_debug_output() {
        let config = config(GOOD).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("[redacted]"));
    }

    /// A configuration: `oidc` lines under `[oidc]` (a default `redirect_uri` unless they
    /// set one), `provider` lines under the default provider (a default `issuer` unless
    /// they set one).
    fn toml_with(oidc: &str, provider: &str) -> String {
        let mut toml = String::from("[oidc]\n");
        if !oidc.contains("redirect_uri =") {
            toml.push_str("redirect_uri = \"http://127.0.0.1:8000/redirect_uri\"\n");
        }
        toml.push_str(oidc);
        toml.push_str("\n[oidc.providers.default]\nclient_id = \"app\"\nclient_secret = \"s\"\n");
        if !provider.contains("issuer") && !provider.contains("provider_metadata") {
            toml.push_str("issuer = \"http://localhost:3000\"\n");
        }
        toml.push_str(provider);
        toml
    }

    #[test]
    fn names_each_mistake_and_its_fix() {
        let cases: &[(&str, &str, &str)] = &[
            ("redirect_uri = \"http://app.example.com/cb\"", "", "oidc.redirect_uri = \"http://app.example.com/cb\" must use https"),
            ("redirect_uri = \"not a url\"", "", "oidc.redirect_uri = \"not a url\" is not an absolute URL"),
            ("redirect_uri = \"https://app.example.com/\"", "", "oidc.redirect_uri must have a path"),
            ("redirect_uri = \"https://app.example.com/cb?x=1\"", "", "oidc.redirect_uri must not have a query"),
            ("logout_path = \"logout\"", "", "oidc.logout_path"),
            ("logout_path = \"/redirect_uri\"", "", "oidc.logout_path must differ"),
            ("post_logout_path = \"//evil.example\"", "", "oidc.post_logout_path"),
            ("clock_skew = \"lots\"", "", "oidc.clock_skew: invalid type"),
            ("login_timeout = 0", "", "must be positive"),
            ("colour = \"blue\"", "", "oidc.colour is not a known key"),
            ("", "issuer = \"http://op.example.com\"", "oidc.providers.default.issuer = \"http://op.example.com\" must use https"),
            ("", "scope = [\"email\"]", "oidc.providers.default.scope must contain \"openid\""),
            ("", "scope = [\"openid\", \"two words\"]", "oidc.providers.default.scope has an invalid entry"),
            ("", "userinfo_http_method = \"PUT\"", "oidc.providers.default.userinfo_http_method = \"PUT\" is not valid: use \"GET\", \"POST\" or \"none\""),
            ("", "token_endpoint_auth_method = \"tls_client_auth\"", "oidc.providers.default.token_endpoint_auth_method = \"tls_client_auth\" is not supported"),
            ("", "token_endpoint_auth_method = \"private_key_jwt\"", "\"private_key_jwt\" needs the client's private key"),
            ("", "token_endpoint_auth_method = \"private_key_jwt\"\nprivate_key = \"/nonexistent/key.pem\"", "oidc.providers.default.private_key = \"/nonexistent/key.pem\" cannot be read"),
            ("", "token_endpoint_auth_method = \"private_key_jwt\"\nprivate_key_pem = \"garbage\"", "oidc.providers.default.private_key_pem: not a PEM private key"),
            ("", "token_endpoint_auth_method = \"client_secret_jwt\"\ntoken_endpoint_auth_signing_alg = \"RS256\"", "cannot sign client_secret_jwt assertions"),
            ("", "token_endpoint_auth_signing_alg = \"HS256\"", "only applies to client_secret_jwt and private_key_jwt"),
            ("", "token_endpoint_auth_method = \"client_secret_jwt\"\ntoken_endpoint_auth_signing_alg = \"HS999\"", "token_endpoint_auth_signing_alg = \"HS999\" is not an algorithm"),
            ("", "client_assertion_audience = \"everyone\"", "client_assertion_audience = \"everyone\" is not valid"),
            ("", "jwks_path = \"/jwks\"", "jwks_path serves the client's public key"),
            ("", "dpop_alg = \"ES256\"", "dpop_alg is set but dpop is off"),
            ("", "dpop = true\ndpop_alg = \"RS256\"", "dpop_alg = \"RS256\" is not supported for DPoP"),
            ("", "id_token_signed_response_alg = \"none\"", "id_token_signed_response_alg = \"none\" is not an algorithm"),
            ("", "discovery_url = \"http://op.example.com/.well-known/openid-configuration\"", "discovery_url = \"http://op.example.com/.well-known/openid-configuration\" must use https"),
            ("", "ca_certificates = [\"/nonexistent/ca.pem\"]", "ca_certificates: \"/nonexistent/ca.pem\" cannot be read"),
            ("", "http_proxy = \"proxy:3128\"", "http_proxy must be a URL"),
            ("", "registration_file = \"/tmp/x.json\"", "registration_file is for dynamic registration"),
            ("", "[oidc.providers.default.client_registration]\nclient_name = \"app\"", "client_id and a client_registration table exclude each other"),
            ("", "[oidc.providers.default.client_registration]\ntoken_endpoint_auth_method = \"client_secret_post\"", "differs from how the client authenticates"),
            ("", "auth_request_params = { state = \"x\" }", "oidc.providers.default.auth_request_params.state cannot be set: the crate sets it"),
            ("", "auth_request_params = { scope = \"openid\" }", "use oidc.providers.default.scope instead"),
            ("", "auth_request_params = { response_mode = \"form_post\" }", "auth_request_params.response_mode cannot be set"),
            ("", "auth_request_params = { max_age = \"soon\" }", "max_age = \"soon\" must be a number of seconds"),
            ("", "session_refresh_interval_seconds = 0", "session_refresh_interval_seconds must be positive"),
            ("", "post_logout_redirect_uris = [\"https://other.example/bye\"]", "must be a URL of this app"),
            ("", "post_logout_redirect_uris = [\"http://127.0.0.1:8000/redirect_uri\"]", "the path must differ"),
            ("", "colour = \"blue\"", "oidc.providers.default.colour is not a known key"),
            ("", "issuer = \"https://op.example.com\"\n[oidc.providers.default.provider_metadata]\nissuer = \"https://op.example.com\"\nauthorization_endpoint = \"https://op.example.com/a\"", "set either issuer (discovery) or a provider_metadata table"),
            ("", "[oidc.providers.default.provider_metadata]\nissuer = \"https://op.example.com\"\nauthorization_endpoint = \"https://op.example.com/a\"\njwks_uri = \"https://op.example.com/j\"", "provider_metadata.token_endpoint is missing"),
        ];
        for (oidc, provider, expected) in cases {
            let message = error_of(&toml_with(oidc, provider));
            assert!(
                message.contains(expected),
                "expected {expected:?} in {message:?}"
            );
        }
        assert!(
            config(&toml_with("", "")).is_ok(),
            "the base configuration is valid"
        );
        let missing = "[oidc]\n[oidc.providers.default]\nclient_id = \"a\"\nclient_secret = \"s\"\nissuer = \"http://localhost:3000\"";
        assert!(
            error_of(missing).contains("oidc.redirect_uri is missing: set it to the absolute URL")
        );
        let no_client = toml_with("", "").replace("client_id = \"app\"\n", "");
        assert!(error_of(&no_client).contains("oidc.providers.default.client_id is missing"));
        let bad_name =
            toml_with("", "").replace("providers.default]", "providers.\"my provider\"]");
        assert!(error_of(&bad_name).contains("a provider name may hold only"));
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

    #[test]
    fn refuses_missing_section_and_empty_providers() {
        assert!(error_of("[other]\nx = 1").contains("[default.oidc]"));
        assert!(error_of("[oidc]\nredirect_uri = \"http://127.0.0.1/cb\"")
            .contains("oidc.providers is empty"));
    }

    #[test]
    fn accepts_scope_as_a_string_and_loopback_variants() {
        let toml = GOOD.replace(
            "issuer = \"http://localhost:3000\"",
            "issuer = \"http://[::1]:3000\"\nscope = \"openid email\"",
        );
        let config = config(&toml).unwrap();
        assert_eq!(config.providers[0].scope, "openid email");
        assert!(parse_url("k", "http://127.10.0.1/x").is_ok());
        assert!(parse_url("k", "http://localhost.evil.com/x").is_err());
    }

    #[test]
    fn session_stores_and_their_mistakes() {
        let store = |lines: &str| config(&toml_with(&format!("[oidc.session]\n{lines}"), ""));
        assert_eq!(
            config(GOOD).unwrap().store,
            StoreConfig::Cookie {
                capacity: 100_000,
                shared: None
            }
        );
        assert_eq!(
            store("store = \"memory\"\nmemory = { capacity = 500 }")
                .unwrap()
                .store,
            StoreConfig::Memory { capacity: 500 }
        );
        let defaults = config(GOOD).unwrap();
        assert_eq!(
            (defaults.session_lifetime, defaults.session_idle_timeout),
            (8 * 3600, 1800)
        );
        assert!(defaults.end_session_with_access_token);
        assert_eq!(defaults.backchannel_logout_path, "/logout/backchannel");
        assert_eq!(defaults.frontchannel_logout_path, "/logout/frontchannel");
        let cases: &[(&str, &str)] = &[
            (
                "store = \"disk\"",
                "oidc.session.store = \"disk\" is not a store",
            ),
            (
                "store = \"redis\"",
                "needs a [default.oidc.session.redis] table",
            ),
            (
                "store = \"memory\"\n[oidc.session.redis]\nurl = \"redis://127.0.0.1\"",
                "oidc.session.store = \"memory\" does not use it",
            ),
        ];
        for (lines, expected) in cases {
            let err = store(lines).expect_err(lines).0;
            assert!(err.contains(expected), "{lines}: {err}");
        }
        let redis_cases: &[(&str, &str)] = &[
            (
                "url = \"http://127.0.0.1:6379\"",
                "must start with redis:// or rediss://",
            ),
            ("url = \"redis://\"", "must name a host"),
            (
                "url = \"redis://a:1\"\ncluster = [\"redis://b:2\"]",
                "set either url (one server) or cluster",
            ),
            ("key_prefix = \"x\"", "oidc.session.redis.url is missing"),
            (
                "url = \"redis://a:1\"\nresponse_timeout_ms = 0",
                "must be positive (milliseconds)",
            ),
        ];
        for (lines, expected) in redis_cases {
            let err = store(&format!("store = \"redis\"\n[oidc.session.redis]\n{lines}"))
                .expect_err(lines)
                .0;
            let expected = if cfg!(feature = "redis") {
                *expected
            } else {
                "needs the crate's `redis` feature"
            };
            assert!(err.contains(expected), "{lines}: {err}");
        }
        if cfg!(feature = "redis") {
            let redis =
                store("store = \"redis\"\n[oidc.session.redis]\nurl = \"rediss://u:pw@host:6380\"")
                    .unwrap();
            assert!(matches!(redis.store, StoreConfig::Redis(_)));
            assert!(
                !format!("{redis:?}").contains("pw@"),
                "the password stays out of Debug"
            );
        }
    }

    #[test]
    fn the_crates_paths_must_differ() {
        let err = error_of(&toml_with(
            "backchannel_logout_path = \"/redirect_uri\"",
            "",
        ));
        assert!(
            err.contains("oidc.backchannel_logout_path") && err.contains("oidc.redirect_uri"),
            "{err}"
        );
        let err = error_of(&toml_with("session_idle_timeout = 0", ""));
        assert!(err.contains("oidc.session_idle_timeout"), "{err}");
    }

    #[test]
    fn plain_http_beyond_loopback_is_an_explicit_debug_only_choice() {
        let lan = |extra: &str| {
            format!(
                "[oidc]\nredirect_uri = \"http://192.168.1.5:8000/cb\"\n{extra}\n\
                 [oidc.providers.default]\nissuer = \"http://192.168.1.9:8080\"\n\
                 client_id = \"app\"\nclient_secret = \"s\"\n"
            )
        };
        let err = config(&lan("")).expect_err("http on a LAN").0;
        assert!(err.contains("must use https"), "{err}");
        let allowed = config(&lan("dangerously_allow_http = true")).unwrap();
        assert_eq!(allowed.url_policy, UrlPolicy::AllowHttp);
        assert_eq!(allowed.providers[0].url_policy, UrlPolicy::AllowHttp);
        let release = Config::from_figment(
            &Figment::from(Toml::string(&lan("dangerously_allow_http = true")))
                .select(rocket::Config::RELEASE_PROFILE),
        )
        .expect_err("refused in release")
        .0;
        assert!(release.contains("oidc.dangerously_allow_http"), "{release}");
    }
}
