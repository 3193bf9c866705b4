//! `scripts/quickstart.sh --provider-only`: the bundled test provider alone, for the user's
//! own app. The Rocket.toml lines it prints configure the API example against the provider
//! it started, and one provider serves both a browser login and the API; `kill <pid>`
//! (TERM) or an INT of the script stops the provider too, also when the provider runs in a
//! process group of its own (the script under job control).
//!
//! Node is required (as for every `*_real_op` test): without it these tests fail.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rocket::figment::providers::{Format, Toml};
use rocket::figment::value::Value;
use rocket::figment::{Figment, Provider};
use rocket::http::{Header, Status};

use crate::common::api_app::client_token;
use crate::common::app::{finish_login, json, provider_browser, secret_key, start_login, TestApp};
use crate::common::node_op::{through_provider, AtProvider, NodeOp};
use crate::common::server::free_port;

/// The lines around the Rocket.toml lines the script prints.
const BEGIN: &str = "# ---- Rocket.toml: paste from here ----";
const END: &str = "# ---- to here ----";
/// The app the provider knows, and the API's resource indicator.
const APP: &str = "http://127.0.0.1:8000";
const RESOURCE: &str = "http://127.0.0.1:8000/api";

/// Generous: a loaded two-core machine may also be building and running other tests.
const START_TIMEOUT: Duration = Duration::from_secs(180);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// How the script is run.
#[derive(Clone, Copy, PartialEq)]
enum Shell {
    /// `bash scripts/quickstart.sh --provider-only`, as from a terminal.
    Plain,
    /// The same script with job control on (`set -m`): the provider gets a process group of
    /// its own, so only the script's own signal can stop it.
    JobControl,
}

/// The script, started in a process group of its own (nothing sent to the test's group
/// reaches it), with its stdout read line by line.
struct Script {
    child: Child,
    lines: Receiver<String>,
    output: Vec<String>,
    provider_pid: Option<u32>,
    stopped: bool,
}

/// What the script printed once the provider was ready.
struct Printed {
    /// The pid it named in "stop with Ctrl-C or kill <pid>".
    pid: u32,
    /// The provider's pid, from "runs at <issuer> (pid <pid>)".
    provider_pid: u32,
    /// The issuer of the `issuer = "..."` line.
    issuer: String,
    /// The lines between the markers.
    toml: String,
    /// The curl line for an API token.
    curl: String,
}

impl Script {
    fn start(port: u16, shell: Shell) -> Script {
        // Installs the npm packages (under the lock every provider of this test binary
        // takes), so that the script never runs `npm ci` while a test does.
        drop(NodeOp::start(&[]));

        let mut command = Command::new("bash");
        match shell {
            Shell::Plain => command.args(["scripts/quickstart.sh", "--provider-only"]),
            // `$0` as when run by name: the script finds the repository through it.
            Shell::JobControl => command.args([
                "-c",
                "set -m; source scripts/quickstart.sh --provider-only",
                "scripts/quickstart.sh",
            ]),
        };
        let mut child = std::os::unix::process::CommandExt::process_group(&mut command, 0)
            .current_dir(root())
            .env("OP_PORT", port.to_string())
            .env_remove("OP_VERBOSE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bash runs scripts/quickstart.sh");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Script {
            child,
            lines,
            output: Vec::new(),
            provider_pid: None,
            stopped: false,
        }
    }

    /// Reads lines until `done` accepts one; panics (with all the output) on a timeout or
    /// when the script ends first.
    fn read_until(&mut self, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = done(&line);
                    self.output.push(line);
                    if found {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no {what} from the script in {START_TIMEOUT:?}; it printed:\n{}",
                    self.output.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the script ended ({:?}) before printing {what}; it printed:\n{}",
                    self.child.wait(),
                    self.output.join("\n")
                ),
            }
        }
    }

    /// Waits for the Rocket.toml lines and the stop line, and reads them.
    fn printed(&mut self) -> Printed {
        self.read_until("the Rocket.toml lines", |line| line == END);
        self.read_until("the stop line", |line| {
            line.contains("stop with Ctrl-C or kill ")
        });
        let output = self.output.join("\n");
        let begin = self
            .output
            .iter()
            .position(|line| line == BEGIN)
            .unwrap_or_else(|| panic!("no {BEGIN:?} line:\n{output}"));
        let end = self.output.iter().position(|line| line == END).unwrap();
        assert!(begin < end, "the markers are in order:\n{output}");
        let toml = self.output[begin + 1..end].join("\n");

        let stop = self.output.last().unwrap();
        let pid = stop
            .rsplit_once("kill ")
            .and_then(|(_, pid)| pid.trim().parse().ok())
            .unwrap_or_else(|| panic!("a pid in {stop:?}"));
        let runs_at = self
            .output
            .iter()
            .find(|line| line.contains("the test provider runs at "))
            .unwrap_or_else(|| panic!("no line with the provider's pid:\n{output}"));
        let provider_pid: u32 = runs_at
            .split_once("(pid ")
            .and_then(|(_, rest)| rest.split_once(')'))
            .and_then(|(pid, _)| pid.parse().ok())
            .unwrap_or_else(|| panic!("a pid in {runs_at:?}"));
        self.provider_pid = Some(provider_pid);
        let issuer = Figment::from(Toml::string(&toml))
            .extract_inner::<String>("default.oidc.providers.default.issuer")
            .unwrap_or_else(|e| panic!("an issuer in the printed lines ({e}):\n{toml}"));
        let curl = self
            .output
            .iter()
            .find(|line| line.trim_start().starts_with("curl -s -u "))
            .unwrap_or_else(|| panic!("no curl line for a token:\n{output}"))
            .trim()
            .to_owned();
        Printed {
            pid,
            provider_pid,
            issuer,
            toml,
            curl,
        }
    }

    /// Sends `signal` to the script's pid alone (`kill -<signal> <pid>`), and asserts that
    /// the script exits, the provider's port refuses connections, the provider process is
    /// gone, and nothing the script started still holds its stdout.
    fn stop_with(&mut self, signal: &str, port: u16) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("the kill command runs");
        assert!(sent.success(), "kill -{signal} {pid}");

        let status = wait_until(&format!("the script exits on {signal}"), || {
            self.child.try_wait().unwrap()
        });
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        wait_until(&format!("port {port} refuses connections"), || {
            TcpStream::connect_timeout(&address, Duration::from_secs(1))
                .is_err()
                .then_some(())
        });
        let provider = self.provider_pid.expect("the provider's pid was printed");
        wait_until(&format!("the provider (pid {provider}) is gone"), || {
            (!Path::new(&format!("/proc/{provider}")).exists()).then_some(())
        });
        wait_until("the script's stdout is closed", || {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    self.output.push(line);
                    None
                }
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(()),
            }
        });
        self.stopped = true;
        status
    }
}

impl Drop for Script {
    /// A safety net for a failed test: kills what is left of the script's process group
    /// and the provider (the test's own processes, by id).
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        if let Some(provider) = self.provider_pid {
            let _ = Command::new("kill")
                .args(["-KILL", &provider.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.wait();
    }
}

/// Polls `check` every 50 ms until it gives a value; panics after [`STOP_TIMEOUT`].
fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {STOP_TIMEOUT:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts that the provider answers discovery with `issuer` (polling: it may still be
/// coming up on a loaded machine).
async fn assert_discovery(issuer: &str) {
    let url = format!("{issuer}/.well-known/openid-configuration");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let deadline = Instant::now() + STOP_TIMEOUT;
    let discovery = loop {
        match http.get(&url).send().await {
            Ok(response) if response.status().is_success() => {
                break json(&response.text().await.unwrap())
            }
            other if Instant::now() > deadline => panic!("no discovery at {url}: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert_eq!(
        discovery["issuer"], issuer,
        "discovery names the printed issuer"
    );
}

/// Every leaf key of `value` (at `prefix`), dotted: `default.oidc.redirect_uri`.
fn keys(prefix: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Dict(_, dict) => {
            for (key, value) in dict {
                keys(&format!("{prefix}.{key}"), value, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

#[rocket::async_test]
async fn provider_only_prints_the_config_of_an_app_and_an_api_and_stops_on_term() {
    let port = free_port();
    let mut script = Script::start(port, Shell::Plain);
    let printed = script.printed();
    assert_eq!(
        printed.pid,
        script.child.id(),
        "the script prints its own pid"
    );
    assert_eq!(printed.issuer, format!("http://localhost:{port}"));
    assert_discovery(&printed.issuer).await;

    // The printed lines: TOML, exactly these keys, and the quickstart's client.
    let toml = Figment::from(Toml::string(&printed.toml));
    let mut found = Vec::new();
    for (_, dict) in toml.data().expect("the printed lines are TOML") {
        for (key, value) in dict {
            keys(&key, &value, &mut found);
        }
    }
    found.sort();
    let provider = "default.oidc.providers.default";
    let mut expected = vec![
        "default.oidc.redirect_uri".to_owned(),
        format!("{provider}.issuer"),
        format!("{provider}.client_id"),
        format!("{provider}.client_secret"),
        format!("{provider}.scope"),
        format!("{provider}.access_token_audience"),
        format!("{provider}.client_credentials.scope"),
        format!("{provider}.client_credentials.resource"),
    ];
    expected.sort();
    assert_eq!(found, expected, "the printed keys:\n{}", printed.toml);
    let text = |key: &str| toml.extract_inner::<String>(key).unwrap();
    assert_eq!(
        text("default.oidc.redirect_uri"),
        format!("{APP}/redirect_uri")
    );
    assert_eq!(text(&format!("{provider}.access_token_audience")), RESOURCE);
    assert_eq!(
        text(&format!("{provider}.client_credentials.resource")),
        RESOURCE
    );
    let quickstart = Figment::from(Toml::file(root().join("Rocket.toml")));
    for key in ["client_id", "client_secret"] {
        let key = format!("{provider}.{key}");
        assert_eq!(
            text(&key),
            quickstart.extract_inner::<String>(&key).unwrap(),
            "{key} as in the quickstart's Rocket.toml"
        );
    }
    assert_eq!(
        printed.curl,
        format!(
            "curl -s -u caller:caller-secret -d grant_type=client_credentials \
             -d 'scope=read admin' -d resource={RESOURCE} {}/token",
            printed.issuer
        )
    );

    // The lines (and a secret_key) configure the API example; the one provider serves
    // its API and its browser login.
    let log_level = std::env::var("ROCKET_LOG_LEVEL").unwrap_or_else(|_| "critical".into());
    let config = Figment::from(rocket::Config::debug_default())
        .merge(Toml::string(&printed.toml).nested())
        .merge(("secret_key", secret_key()))
        .merge(("log_level", log_level))
        .merge(("cli_colors", false));
    let client = TestApp::api().config(config).start().await;

    // What the curl line gets: a token the API takes, scopes and all.
    let token = client_token(
        &printed.issuer,
        "caller",
        "caller-secret",
        "read admin",
        Some(RESOURCE),
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for uri in ["/api/me", "/api/admin"] {
        let response = client
            .get(uri)
            .header(Header::new("Authorization", format!("Bearer {token}")))
            .dispatch()
            .await;
        assert_eq!(
            response.status(),
            Status::Ok,
            "{uri} with the caller's token"
        );
        let body = json(&response.into_string().await.unwrap());
        assert_eq!(body["sub"], "caller", "{uri}: {body}");
    }
    // The app's own client-credentials token (`client_credentials` lines).
    let response = client.get("/api/outgoing").dispatch().await;
    assert_eq!(response.status(), Status::Ok, "the app's own token");
    let body = json(&response.into_string().await.unwrap());
    assert_eq!(body["token_type"], "Bearer", "{body}");

    // A browser login at the same provider, back at the printed redirect_uri.
    let auth_url = start_login(&client, "/login").await;
    assert!(
        auth_url.starts_with(&format!("{}/auth?", printed.issuer)),
        "{auth_url}"
    );
    let (callback, login_pages) = through_provider(
        &provider_browser(),
        &auth_url,
        &format!("{APP}/redirect_uri?"),
        AtProvider::LogIn("alice"),
    )
    .await;
    assert_eq!(login_pages, 1);
    let session = finish_login(&client, &callback).await;
    assert_eq!(session["sub"], "alice");
    drop(client);

    // `kill <pid>`: the script and the provider stop.
    let status = script.stop_with("TERM", port);
    assert_eq!(
        status.code(),
        Some(143),
        "the script exits as TERM'd: {status}"
    );
}

#[rocket::async_test]
async fn provider_only_stops_its_provider_in_another_process_group_on_int() {
    let port = free_port();
    let mut script = Script::start(port, Shell::JobControl);
    let printed = script.printed();
    assert_eq!(
        printed.pid,
        script.child.id(),
        "the script prints its own pid"
    );
    assert_discovery(&printed.issuer).await;

    // Under job control the provider leads a process group of its own: a signal to the
    // script's group would miss it, the script's own stop must not.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", printed.provider_pid))
        .expect("the provider runs");
    // pid (comm) state ppid pgrp ...: the fields after the parenthesised command.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    assert_eq!(
        fields[1],
        printed.pid.to_string(),
        "the script started the provider"
    );
    assert_ne!(
        fields[2],
        printed.pid.to_string(),
        "the provider is in another process group than the script"
    );

    // Ctrl-C reaches the script alone here (a terminal's would reach its group).
    let status = script.stop_with("INT", port);
    assert_eq!(
        status.code(),
        Some(130),
        "the script exits as INT'd: {status}"
    );
}
