//! The top of `[oidc]`: the app's own URLs and paths, timeouts, cookie and session
//! lifetimes, the URL policy; and the validated [`Config`] that gathers every table.

use std::collections::BTreeMap;
use std::time::Duration;

use rocket::figment::Figment;
use serde::Deserialize;
use url::Url;

use super::defaults;
use super::error::{bail, from_figment_error, ConfigError};
use super::limits::{validate_limits, Limits, RawLimits};
use super::provider::{validate_provider, AppUrls, ProviderConfig, RawProvider};
use super::session::{validate_store, RawSession, StoreConfig};
use super::urls::{check_route_path, parse_url_for, safe_return_path, UrlPolicy};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    redirect_uri: Option<String>,
    #[serde(default)]
    providers: BTreeMap<String, RawProvider>,
    clock_skew: Option<u64>,
    session_lifetime: Option<u64>,
    session_permanent: Option<bool>,
    auto_refresh: Option<bool>,
    login_timeout: Option<u64>,
    http_timeout: Option<u64>,
    logout_path: Option<String>,
    post_logout_path: Option<String>,
    session_idle_timeout: Option<u64>,
    end_session_with_access_token: Option<bool>,
    backchannel_logout_path: Option<String>,
    frontchannel_logout_path: Option<String>,
    initiate_login_path: Option<String>,
    ready_path: Option<String>,
    #[serde(default)]
    session: RawSession,
    #[serde(default)]
    limits: RawLimits,
    dangerously_allow_http: Option<bool>,
    trust_forwarded_headers: Option<bool>,
    propagate_traceparent: Option<bool>,
    frontchannel_logout_by_sid: Option<bool>,
    /// Read by the cookie cipher (see `session::codec`); listed so the key is known.
    #[allow(dead_code)]
    dangerously_allow_published_secret_key: Option<bool>,
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
    /// Where a provider (or another party) starts a login (Core 4); off by default.
    pub(crate) initiate_login_path: Option<String>,
    /// Where the readiness route answers (off by default).
    pub(crate) ready_path: Option<String>,
    /// Where sessions live.
    pub(crate) store: StoreConfig,
    /// What one client, or anonymous traffic, may fill or cause.
    pub(crate) limits: Limits,
    /// Plain http accepted beyond loopback hosts (development only).
    pub(crate) url_policy: UrlPolicy,
    /// `X-Forwarded-Proto` and `X-Forwarded-Host` say how the browser reached the app (a
    /// proxy in front sets them, and strips any the client sent).
    pub(crate) trust_forwarded_headers: bool,
    /// Provider calls carry a child of the incoming request's W3C `traceparent`.
    pub(crate) propagate_traceparent: bool,
    /// A front-channel logout whose framed request comes without the session cookie ends
    /// the stored sessions of its `sid` (opt-in; stored sessions only).
    pub(crate) frontchannel_logout_by_sid: bool,
}

impl Config {
    /// Reads and validates `oidc` from Rocket's figment.
    pub(crate) fn from_figment(figment: &Figment) -> Result<Config, ConfigError> {
        if figment.find_value("oidc").is_err() {
            bail!(
                "oidc",
                "is missing (no [default.oidc] table)",
                "add one to Rocket.toml with redirect_uri and a [default.oidc.providers.default] \
                 table (issuer, client_id, client_secret), or set ROCKET_OIDC"
            );
        }
        let raw: RawConfig = figment.extract_inner("oidc").map_err(from_figment_error)?;
        let allow_http = raw
            .dangerously_allow_http
            .unwrap_or(defaults::DANGEROUSLY_ALLOW_HTTP);
        if allow_http && is_release(figment) {
            bail!(
                "oidc.dangerously_allow_http",
                "is set in the release profile, where plain http would carry codes and tokens \
                 in clear",
                "use https, or keep the setting to a debug profile"
            );
        }
        Config::validate(raw, allow_http)
    }

    fn validate(raw: RawConfig, allow_http: bool) -> Result<Config, ConfigError> {
        let Some(redirect_uri) = raw.redirect_uri else {
            bail!(
                "oidc.redirect_uri",
                "is missing",
                "set it to the absolute URL of this app's callback, e.g. redirect_uri = \
                 \"https://app.example.com/redirect_uri\" under [default.oidc]"
            );
        };
        let policy = if allow_http {
            UrlPolicy::AllowHttp
        } else {
            UrlPolicy::Strict
        };
        let redirect_uri = parse_url_for(policy, "oidc.redirect_uri", &redirect_uri)?;
        if redirect_uri.fragment().is_some() || redirect_uri.query().is_some() {
            bail!(
                "oidc.redirect_uri",
                "must not have a query or fragment",
                "use a plain path such as /redirect_uri"
            );
        }
        let callback_path = redirect_uri.path().to_string();
        if callback_path == "/" {
            bail!(
                "oidc.redirect_uri",
                "must have a path (e.g. /redirect_uri)",
                "the callback route is mounted there, not on the app's /"
            );
        }
        let logout_path = raw
            .logout_path
            .unwrap_or_else(|| defaults::LOGOUT_PATH.into());
        let post_logout_path = raw
            .post_logout_path
            .unwrap_or_else(|| defaults::POST_LOGOUT_PATH.into());
        check_route_path("oidc.redirect_uri", &callback_path)?;
        check_route_path("oidc.logout_path", &logout_path)?;
        if logout_path == callback_path {
            bail!(
                "oidc.logout_path",
                "must differ from the path of oidc.redirect_uri",
                "give the logout route a path of its own, such as /logout"
            );
        }
        if safe_return_path(&post_logout_path) != post_logout_path {
            bail!(
                "oidc.post_logout_path",
                format!("= {post_logout_path:?} is not a path of this app"),
                "use a path such as \"/\""
            );
        }
        if raw.providers.is_empty() {
            bail!(
                "oidc.providers",
                "is empty",
                "add a [default.oidc.providers.default] table with issuer, client_id and \
                 client_secret"
            );
        }
        let clock_skew = raw.clock_skew.unwrap_or(defaults::CLOCK_SKEW_SECONDS);
        let session_lifetime = raw
            .session_lifetime
            .unwrap_or(defaults::SESSION_LIFETIME_SECONDS);
        let login_timeout = raw.login_timeout.unwrap_or(defaults::LOGIN_TIMEOUT_SECONDS);
        let http_timeout = raw.http_timeout.unwrap_or(defaults::HTTP_TIMEOUT_SECONDS);
        let idle_timeout = raw
            .session_idle_timeout
            .unwrap_or(defaults::SESSION_IDLE_TIMEOUT_SECONDS);
        for (key, value) in [
            ("oidc.login_timeout", login_timeout),
            ("oidc.session_lifetime", session_lifetime),
            ("oidc.http_timeout", http_timeout),
        ] {
            if value == 0 {
                bail!(key, "must be positive", "set a number of seconds above 0");
            }
        }
        if idle_timeout == 0 {
            bail!(
                "oidc.session_idle_timeout",
                "must be a positive number of seconds (it ends sessions left unused that long)",
                format!(
                    "leave it out for {} seconds, or set a number above 0",
                    defaults::SESSION_IDLE_TIMEOUT_SECONDS
                )
            );
        }
        let backchannel_logout_path = raw
            .backchannel_logout_path
            .unwrap_or_else(|| format!("{logout_path}{}", defaults::BACKCHANNEL_LOGOUT_SUFFIX));
        let frontchannel_logout_path = raw
            .frontchannel_logout_path
            .unwrap_or_else(|| format!("{logout_path}{}", defaults::FRONTCHANNEL_LOGOUT_SUFFIX));
        check_route_path("oidc.backchannel_logout_path", &backchannel_logout_path)?;
        check_route_path("oidc.frontchannel_logout_path", &frontchannel_logout_path)?;
        let initiate_login_path = raw.initiate_login_path;
        if let Some(path) = &initiate_login_path {
            check_route_path("oidc.initiate_login_path", path)?;
        }
        let mut paths = vec![
            ("oidc.redirect_uri", callback_path.as_str()),
            ("oidc.logout_path", logout_path.as_str()),
            (
                "oidc.backchannel_logout_path",
                backchannel_logout_path.as_str(),
            ),
            (
                "oidc.frontchannel_logout_path",
                frontchannel_logout_path.as_str(),
            ),
        ];
        if let Some(path) = &initiate_login_path {
            paths.push(("oidc.initiate_login_path", path.as_str()));
        }
        let ready_path = raw.ready_path;
        if let Some(path) = &ready_path {
            check_route_path("oidc.ready_path", path)?;
            paths.push(("oidc.ready_path", path.as_str()));
        }
        paths.sort_by_key(|(_, path)| *path);
        for pair in paths.windows(2) {
            if pair[0].1 == pair[1].1 {
                bail!(
                    pair[0].0,
                    format!("and {} are both {:?}", pair[1].0, pair[0].1),
                    "give each its own path"
                );
            }
        }
        let store = validate_store(raw.session)?;
        let frontchannel_logout_by_sid = raw
            .frontchannel_logout_by_sid
            .unwrap_or(defaults::FRONTCHANNEL_LOGOUT_BY_SID);
        if frontchannel_logout_by_sid && matches!(store, StoreConfig::Cookie { .. }) {
            bail!(
                "oidc.frontchannel_logout_by_sid",
                "needs sessions on the server (session.store = \"memory\" or \"redis\"): \
                 with cookie sessions each front-channel request would write a mark, and \
                 anyone could fill the store with made-up sids",
                "set oidc.session.store, or leave it out and use back-channel logout"
            );
        }
        let limits = validate_limits(raw.limits)?;
        let app = AppUrls {
            policy,
            origin: redirect_uri.origin().ascii_serialization(),
            callback_path: &callback_path,
            logout_path: &logout_path,
            clock_skew_set: raw.clock_skew.is_some(),
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
            clock_skew: seconds(clock_skew),
            session_lifetime: seconds(session_lifetime),
            session_permanent: raw.session_permanent.unwrap_or(defaults::SESSION_PERMANENT),
            auto_refresh: raw.auto_refresh.unwrap_or(defaults::AUTO_REFRESH),
            login_timeout: seconds(login_timeout),
            http_timeout: Duration::from_secs(http_timeout),
            logout_path,
            post_logout_path,
            session_idle_timeout: seconds(idle_timeout),
            end_session_with_access_token: raw
                .end_session_with_access_token
                .unwrap_or(defaults::END_SESSION_WITH_ACCESS_TOKEN),
            backchannel_logout_path,
            frontchannel_logout_path,
            initiate_login_path,
            ready_path,
            store,
            limits,
            url_policy: policy,
            trust_forwarded_headers: raw
                .trust_forwarded_headers
                .unwrap_or(defaults::TRUST_FORWARDED_HEADERS),
            propagate_traceparent: raw
                .propagate_traceparent
                .unwrap_or(defaults::PROPAGATE_TRACEPARENT),
            frontchannel_logout_by_sid,
        })
    }
}

/// A release deployment: the `release` profile, or a build without debug assertions
/// (whatever the profile is called), where the `dangerously_…` settings are refused.
pub(crate) fn is_release(figment: &Figment) -> bool {
    figment.profile() == rocket::Config::RELEASE_PROFILE || !cfg!(debug_assertions)
}

/// Seconds as the `i64` the clock works in.
pub(super) fn seconds(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use rocket::figment::providers::{Format, Toml};

    use super::super::test_support::{config, error_of, toml_with, GOOD};
    use super::*;

    #[test]
    fn accepts_a_minimal_configuration_with_defaults() {
        let config = config(GOOD).unwrap();
        assert_eq!(config.callback_path, "/redirect_uri");
        assert!(!config.secure_cookies);
        assert_eq!(config.clock_skew, 60);
        assert_eq!(
            (config.session_lifetime, config.session_idle_timeout),
            (8 * 3600, 1800)
        );
        assert_eq!(config.login_timeout, 600);
        assert_eq!(config.http_timeout, Duration::from_secs(10));
        assert!(config.session_permanent && config.auto_refresh);
        assert!(config.end_session_with_access_token);
        assert!(!config.trust_forwarded_headers);
        assert_eq!(config.logout_path, "/logout");
        assert_eq!(config.post_logout_path, "/");
        assert_eq!(config.backchannel_logout_path, "/logout/backchannel");
        assert_eq!(config.frontchannel_logout_path, "/logout/frontchannel");
        assert_eq!(config.url_policy, UrlPolicy::Strict);
    }

    #[test]
    fn names_each_mistake_and_its_fix() {
        let cases: &[(&str, &str)] = &[
            ("redirect_uri = \"http://app.example.com/cb\"", "oidc.redirect_uri = \"http://app.example.com/cb\" must use https"),
            ("redirect_uri = \"not a url\"", "oidc.redirect_uri = \"not a url\" is not an absolute URL"),
            ("redirect_uri = \"https://app.example.com/\"", "oidc.redirect_uri must have a path"),
            ("redirect_uri = \"https://app.example.com/cb?x=1\"", "oidc.redirect_uri must not have a query"),
            ("logout_path = \"logout\"", "oidc.logout_path has the path \"logout\""),
            ("logout_path = \"/redirect_uri\"", "oidc.logout_path must differ"),
            ("post_logout_path = \"//evil.example\"", "oidc.post_logout_path = \"//evil.example\" is not a path of this app"),
            ("clock_skew = \"lots\"", "oidc.clock_skew cannot be read (in TOML source string): invalid type: found string \"lots\""),
            ("login_timeout = 0", "oidc.login_timeout must be positive"),
            ("colour = \"blue\"", "oidc.colour is not a known key"),
        ];
        for (oidc, expected) in cases {
            let message = error_of(&toml_with(oidc, ""));
            assert!(
                message.starts_with(expected),
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
    }

    #[test]
    fn refuses_missing_section_and_empty_providers() {
        assert!(error_of("[other]\nx = 1").contains("[default.oidc]"));
        assert!(error_of("[oidc]\nredirect_uri = \"http://127.0.0.1/cb\"")
            .contains("oidc.providers is empty"));
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
        let err = error_of(&lan(""));
        assert!(err.contains("must use https"), "{err}");
        let allowed = config(&lan("dangerously_allow_http = true")).unwrap();
        assert_eq!(allowed.url_policy, UrlPolicy::AllowHttp);
        assert_eq!(allowed.providers[0].url_policy, UrlPolicy::AllowHttp);
        let release = Config::from_figment(
            &Figment::from(Toml::string(&lan("dangerously_allow_http = true")))
                .select(rocket::Config::RELEASE_PROFILE),
        )
        .expect_err("refused in release");
        assert_eq!(release.key, "oidc.dangerously_allow_http");
        assert!(
            release
                .to_string()
                .contains("use https, or keep the setting to a debug profile"),
            "{release}"
        );
    }
}
