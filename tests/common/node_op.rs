//! panva's `oidc-provider` (tests/op), a certified OpenID Provider, started on 127.0.0.1 for
//! the happy paths, and a browser-like driver for its login and consent pages.
//!
//! Node is required: a missing `node` fails the test loudly, never skips it.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

pub const CLIENT_ID: &str = "rocket-app";
pub const CLIENT_SECRET: &str = "rocket-secret";

/// A running provider; killed when dropped (and it exits by itself when the test process
/// dies, since it watches its stdin pipe).
pub struct NodeOp {
    pub issuer: String,
    pub port: u16,
    child: Child,
}

impl Drop for NodeOp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn op_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/op")
}

/// Installs the provider's npm packages once, from the lockfile.
fn ensure_installed() {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if *installed || op_dir().join("node_modules/oidc-provider").exists() {
        *installed = true;
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(op_dir())
        .status()
        .expect("npm is required for the test provider: install Node.js 20 (.ci/run does)");
    assert!(status.success(), "npm ci in tests/op failed");
    *installed = true;
}

impl NodeOp {
    /// Starts the provider with the default client (`rocket-app`, redirect URI
    /// `http://127.0.0.1:8000/redirect_uri`) and `env` on top.
    pub fn start(env: &[(&str, &str)]) -> NodeOp {
        ensure_installed();
        let mut command = Command::new("node");
        command
            .arg("op.mjs")
            .current_dir(op_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .expect("node is required for the test provider: install Node.js 20 (.ci/run does)");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the provider's ready line");
        let ready = line
            .strip_prefix("OP_READY ")
            .unwrap_or_else(|| panic!("the test provider did not start: {line:?}"));
        let ready: serde_json::Value = serde_json::from_str(ready).unwrap();
        NodeOp {
            issuer: ready["issuer"].as_str().unwrap().to_string(),
            port: ready["port"].as_u64().unwrap() as u16,
            child,
        }
    }

    /// The status of the provider's UserInfo for `token` sent as a plain Bearer token by
    /// `client` (which may present a TLS client certificate).
    pub async fn userinfo_status(&self, client: &reqwest::Client, token: &str) -> u16 {
        client
            .get(format!("{}/me", self.issuer))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// The provider's process id (to pause it: `kill -STOP`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Requests the provider served per path.
    pub async fn hits(&self, path: &str) -> u64 {
        let hits: serde_json::Value = reqwest::get(format!("{}/__test/hits", self.issuer))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        hits[path].as_u64().unwrap_or(0)
    }

    /// The `traceparent` header of the last request to `path` (`None`: it had none).
    pub async fn traceparent(&self, path: &str) -> Option<String> {
        let seen: serde_json::Value = reqwest::get(format!("{}/__test/traceparents", self.issuer))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen[path].as_str().map(str::to_string)
    }
}

/// A `OP_CLIENTS` value with the default client registered for `redirect_uri`.
pub fn clients_for(redirect_uri: &str) -> String {
    let origin = redirect_uri
        .split('/')
        .take(3)
        .collect::<Vec<_>>()
        .join("/");
    serde_json::json!([{
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [redirect_uri],
        "post_logout_redirect_uris": [format!("{origin}/"), format!("{origin}/logout/callback")],
        "backchannel_logout_uri": format!("{origin}/logout/backchannel"),
        "backchannel_logout_session_required": true,
        // Framed by the provider's logout page only with OP_FRONTCHANNEL=1.
        "frontchannel_logout_uri": format!("{origin}/logout/frontchannel"),
        "frontchannel_logout_session_required": true,
    }, {
        // Hybrid logins (tokens in the fragment): the provider allows them over plain-http
        // loopback URIs for native clients only.
        "client_id": HYBRID_CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "application_type": "native",
        "redirect_uris": [redirect_uri],
        "post_logout_redirect_uris": [format!("{origin}/"), format!("{origin}/logout/callback")],
        "response_types": ["code id_token"],
        "grant_types": ["authorization_code", "implicit", "refresh_token"],
    }])
    .to_string()
}

/// The client of [`clients_for`] that may log in with `response_type = "code id_token"`.
pub const HYBRID_CLIENT_ID: &str = "rocket-hybrid";

fn absolute(base: &str, location: &str) -> String {
    url::Url::parse(base)
        .unwrap()
        .join(location)
        .unwrap()
        .to_string()
}

/// What the user does at the provider.
pub enum AtProvider<'a> {
    /// Logs in as this user and consents.
    LogIn(&'a str),
    /// Expects no page at all (single sign-on): any login form fails the driver.
    NoPages,
}

/// Follows the provider's pages from `auth_url` like a browser with `browser`'s cookie jar,
/// until the provider redirects to `app_prefix`; returns that callback URL and how many
/// login forms were shown.
pub async fn through_provider(
    browser: &reqwest::Client,
    auth_url: &str,
    app_prefix: &str,
    user: AtProvider<'_>,
) -> (String, usize) {
    let mut next = auth_url.to_string();
    let mut login_pages = 0;
    for _ in 0..12 {
        let response = browser.get(&next).send().await.unwrap();
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            let location = absolute(&next, response.headers()["location"].to_str().unwrap());
            if location.starts_with(app_prefix) {
                return (location, login_pages);
            }
            next = location;
            continue;
        }
        let page = response.text().await.unwrap();
        assert_eq!(status, 200, "unexpected provider page at {next}: {page}");
        let form: Vec<(&str, &str)> = if page.contains("value=\"login\"") {
            login_pages += 1;
            match user {
                AtProvider::LogIn(login) => {
                    vec![("prompt", "login"), ("login", login), ("password", "test")]
                }
                AtProvider::NoPages => panic!("the provider asked for a login: {page}"),
            }
        } else if page.contains("value=\"consent\"") {
            vec![("prompt", "consent")]
        } else {
            panic!("unknown provider page at {next}: {page}");
        };
        let response = browser.post(&next).form(&form).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 303, "the form was accepted");
        next = absolute(&next, response.headers()["location"].to_str().unwrap());
    }
    panic!("too many redirects at the provider");
}

/// Confirms a logout at the provider's end-session page `end_session` (the page's form
/// with its `xsrf`, "Yes, sign me out") in `browser`; returns the provider's answer (a 303,
/// to the post-logout URI when the request named one).
pub async fn confirm_logout(
    browser: &reqwest::Client,
    issuer: &str,
    end_session: &str,
) -> reqwest::Response {
    let page = browser
        .get(end_session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let xsrf = page
        .split("name=\"xsrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no xsrf in the provider's logout page: {page}"))
        .to_string();
    browser
        .post(format!("{issuer}/session/end/confirm"))
        .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
        .send()
        .await
        .unwrap()
}
