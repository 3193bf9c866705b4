//! The checks every URL and path of the configuration passes: https (or http on loopback),
//! route paths Rocket mounts as written, and return paths that stay inside the app.

use std::net::IpAddr;

use url::{Host, Url};

use super::error::{bail, ConfigError};

/// Whether plain http is accepted beyond loopback hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum UrlPolicy {
    /// https, or http on loopback hosts only.
    #[default]
    Strict,
    /// http anywhere (`dangerously_allow_http`, development setups only).
    AllowHttp,
}

/// Parses an absolute URL that must be https, or http on a loopback host.
#[cfg(test)]
pub(crate) fn parse_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    parse_url_for(UrlPolicy::Strict, key, value)
}

/// An absolute URL that must be https, or http on a loopback host (anywhere under
/// [`UrlPolicy::AllowHttp`]).
pub(crate) fn parse_url_for(policy: UrlPolicy, key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = match Url::parse(value) {
        Ok(url) => url,
        Err(e) => bail!(
            key,
            format!("= {value:?} is not an absolute URL ({e})"),
            "write it in full, e.g. \"https://host.example/path\""
        ),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) || policy == UrlPolicy::AllowHttp => Ok(url),
        "http" => match url.host_str().filter(|host| looks_like_localhost(host)) {
            Some(host) => bail!(
                key,
                format!(
                    "= {value:?} must use https: {host:?} is not a loopback name, and looks \
                     like a misspelling of \"localhost\""
                ),
                "write localhost (or 127.0.0.1); plain http is accepted only for loopback hosts"
            ),
            None => bail!(
                key,
                format!("= {value:?} must use https"),
                "plain http is accepted only for loopback hosts (127.0.0.0/8, ::1, localhost)"
            ),
        },
        other => bail!(
            key,
            format!("= {value:?} has scheme {other:?}"),
            "use https"
        ),
    }
}

/// A host one edit (a letter added, left out, changed, or two letters swapped) away from
/// `localhost`.
fn looks_like_localhost(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host != "localhost" && edit_distance(&host, "localhost") == 1
}

/// The optimal string alignment distance of `a` and `b`: insertions, deletions,
/// substitutions and swaps of neighbours, each counting one.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

pub(super) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// A route path the fairing mounts: plain segments Rocket will not read as parameters.
pub(crate) fn check_route_path(key: &str, path: &str) -> Result<(), ConfigError> {
    let plain = path.starts_with('/')
        && !path.contains("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.~".contains(&b));
    if !plain {
        bail!(
            key,
            format!("has the path {path:?}, which Rocket cannot mount as written"),
            "the path must start with '/' and hold only letters, digits and -_.~ segments"
        );
    }
    Ok(())
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

    #[test]
    fn http_only_on_loopback_unless_allowed() {
        assert!(parse_url("k", "http://127.10.0.1/x").is_ok());
        assert!(parse_url("k", "http://[::1]:3000/x").is_ok());
        assert!(parse_url("k", "http://LOCALHOST/x").is_ok());
        assert!(parse_url("k", "http://localhost.evil.com/x").is_err());
        let lan = "http://192.168.1.5/x";
        assert_eq!(
            parse_url("oidc.k", lan).unwrap_err().to_string(),
            "oidc.k = \"http://192.168.1.5/x\" must use https: plain http is accepted only \
             for loopback hosts (127.0.0.0/8, ::1, localhost)"
        );
        assert!(parse_url_for(UrlPolicy::AllowHttp, "k", lan).is_ok());
        assert!(parse_url("k", "ftp://h/x")
            .unwrap_err()
            .to_string()
            .contains("has scheme \"ftp\": use https"));
    }

    #[test]
    fn a_misspelt_localhost_is_called_a_typo() {
        for typo in [
            "locahlost",
            "localhots",
            "locallhost",
            "lcalhost",
            "localhosr",
        ] {
            let message = parse_url(
                "oidc.providers.default.issuer",
                &format!("http://{typo}:3000"),
            )
            .unwrap_err()
            .to_string();
            assert!(
                message.starts_with("oidc.providers.default.issuer = ")
                    && message.contains(&format!("{typo:?} is not a loopback name"))
                    && message.contains("misspelling of \"localhost\""),
                "{message}"
            );
        }
        // Far from localhost: the plain message.
        let message = parse_url("k", "http://op.example.com")
            .unwrap_err()
            .to_string();
        assert!(!message.contains("misspelling"), "{message}");
        assert_eq!(edit_distance("locahlost", "localhost"), 1);
        assert_eq!(edit_distance("example", "localhost"), 8);
    }

    #[test]
    fn route_paths_are_plain_segments() {
        for good in ["/logout", "/a/b-c_d.e~f"] {
            assert!(check_route_path("k", good).is_ok(), "{good}");
        }
        for bad in ["logout", "/a//b", "/<id>", "/a b"] {
            let error = check_route_path("oidc.k", bad).unwrap_err();
            assert_eq!(error.key, "oidc.k");
            assert!(error.to_string().contains("must start with '/'"), "{error}");
        }
    }
}
