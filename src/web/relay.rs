//! The fragment relay page: a browser never sends a URL's fragment, so when a provider
//! answers in it (`response_mode = "fragment"`, the default of hybrid and implicit logins),
//! the callback serves this page, whose one script posts the fragment back to the callback
//! as a form, same-site (the login's `Lax` cookie goes with it).
//!
//! The page is static: no parameter of the request is written into it. Its policy allows
//! that one script (by hash) and nothing else (no third-party content, no frames, no
//! `<base>`); `form-action` is left out because Chrome applies it to the redirects after
//! the post too, and a silent re-authentication may redirect to the provider.

use std::sync::LazyLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rocket::http::{ContentType, Header, Status};
use rocket::response::Response;
use sha2::{Digest, Sha256};

/// Reads the fragment, drops it from the address bar and history (it holds tokens), and
/// posts its parameters.
const SCRIPT: &str = "(function(){var f=document.forms[0],\
p=new URLSearchParams(location.hash.slice(1));\
history.replaceState(null,\"\",location.pathname);\
p.forEach(function(v,k){var i=document.createElement(\"input\");\
i.type=\"hidden\";i.name=k;i.value=v;f.appendChild(i)});f.submit()})();";

/// The page's Content Security Policy, with the script's hash.
static POLICY: LazyLock<String> = LazyLock::new(|| {
    let hash = STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; base-uri 'none'; \
         frame-ancestors 'none'"
    )
});

/// The relay page for a callback at `callback_path` (the configured path, never the
/// request's).
pub(crate) fn page(callback_path: &str) -> Response<'static> {
    let page = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Signing in</title>\
         <meta name=\"viewport\" content=\"width=device-width\"></head><body>\
         <form method=\"post\" action=\"{}\"></form>\
         <noscript>Signing in with this provider needs JavaScript: turn it on and try \
         again.</noscript><script>{SCRIPT}</script></body></html>",
        escape(callback_path)
    );
    Response::build()
        .status(Status::Ok)
        .header(ContentType::HTML)
        .header(Header::new("Content-Security-Policy", POLICY.as_str()))
        .header(Header::new("Referrer-Policy", "no-referrer"))
        .header(Header::new("Cache-Control", "no-store"))
        .header(Header::new("X-Content-Type-Options", "nosniff"))
        .sized_body(page.len(), std::io::Cursor::new(page))
        .finalize()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_exactly_the_page_script() {
        let policy = POLICY.as_str();
        assert!(policy.starts_with("default-src 'none'; script-src 'sha256-"));
        // The hash is of the script as written into the page.
        let hash = policy
            .split("'sha256-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap();
        let digest = STANDARD.decode(hash).unwrap();
        assert_eq!(digest, Sha256::digest(SCRIPT.as_bytes()).to_vec());
        assert!(!policy.contains("unsafe-inline"));
    }

    #[test]
    fn the_page_posts_to_the_configured_path_and_is_never_kept() {
        let response = page("/auth/\"callback\"");
        let header = |name: &str| response.headers().get_one(name).map(str::to_string);
        assert_eq!(header("Cache-Control").as_deref(), Some("no-store"));
        assert_eq!(header("Referrer-Policy").as_deref(), Some("no-referrer"));
        assert!(header("Content-Security-Policy").is_some());
    }
}
