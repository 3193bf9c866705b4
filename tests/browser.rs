//! A real browser end to end: headless Chromium (Debian's `/usr/bin/chromium`, driven by
//! `tests/browser/suite.mjs` with playwright-core) logs in to the quickstart app, running as
//! a real server on 127.0.0.1, through the real test provider on `localhost` (another site,
//! so every `SameSite` rule applies as in production).
//!
//! One test per scenario; they take turns, since one Chromium at a time is all a small
//! machine runs well. Chromium and Node are required: a missing one fails loudly, never
//! skips. On failure the screenshots of each step stay in
//! `target/browser-artifacts/<scenario>/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::server::RunningApp;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Longer than the suite's own watchdog (90 s), so the suite reports first.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

/// One scenario at a time, across the tests of this binary.
static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn suite_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `<target dir>/browser-artifacts/<scenario>`, next to the shared target's `tmp`.
fn artifacts_dir(scenario: &str) -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .unwrap_or(tmp)
        .join("browser-artifacts")
        .join(scenario)
}

fn require_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the browser tests need Debian's Chromium. Install it with \
         `apt-get install chromium` (.ci/run does); never a downloaded browser."
    );
}

/// Installs playwright-core from the lockfile once, if `node_modules` is missing.
async fn ensure_installed() {
    let dir = suite_dir();
    if dir.join("node_modules/playwright-core").exists() {
        return;
    }
    let status = tokio::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .await
        .expect("npm is required for the browser tests: install Node.js 20 (.ci/run does)");
    assert!(status.success(), "npm ci in tests/browser failed");
}

/// Starts the provider and the app (with `oidc_extra` under `[default.oidc]`), runs
/// `node suite.mjs <scenario>` against them, and fails with the suite's output unless it
/// exits 0.
async fn scenario(name: &str, oidc_extra: &str) {
    scenario_with(name, oidc_extra, &[]).await
}

/// [`scenario`] with `settings` (dotted keys) over the app's configuration.
async fn scenario_with(name: &str, oidc_extra: &str, settings: &[(&str, &str)]) {
    scenario_with_op(name, oidc_extra, settings, &[]).await;
}

/// [`scenario_with`] with more environment for the provider (`OP_*`).
async fn scenario_with_op(
    name: &str,
    oidc_extra: &str,
    settings: &[(&str, &str)],
    op_env: &[(&str, &str)],
) {
    let _turn = ONE_BROWSER_AT_A_TIME.lock().await;
    require_chromium();
    ensure_installed().await;
    let started = Instant::now();
    let app = RunningApp::start_with_op(oidc_extra, settings, op_env).await;
    let artifacts = artifacts_dir(name);
    let _ = std::fs::remove_dir_all(&artifacts);

    let child = tokio::process::Command::new("node")
        .arg("suite.mjs")
        .arg(name)
        .current_dir(suite_dir())
        .env("APP", &app.url)
        .env("OP", &app.op.issuer)
        .env("ARTIFACTS", &artifacts)
        .env("CHROMIUM", CHROMIUM)
        // The suite checks what the provider was told to do (OP_FRONTCHANNEL, ...).
        .envs(op_env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node is required for the browser tests: install Node.js 20 (.ci/run does)");
    let output = tokio::time::timeout(SCENARIO_TIMEOUT, child.wait_with_output()).await;
    app.stop().await;

    let output = match output {
        Ok(output) => output.expect("wait for node suite.mjs"),
        Err(_) => panic!(
            "browser scenario {name} still running after {SCENARIO_TIMEOUT:?}; killed. \
             Screenshots: {}",
            artifacts.display()
        ),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser scenario {name} failed ({}); screenshots: {}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        output.status,
        artifacts.display(),
    );
    // Shown with --nocapture: the steps, and for `cookies` the cookies' names and sizes.
    println!(
        "{stdout}{stderr}browser scenario {name}: {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}

/// Opens /login, logs in at the provider's login page and consents, lands on exactly /login
/// and sees the JSON of the session (`id_token.sub`, `userinfo.email`).
#[rocket::async_test]
async fn login() {
    scenario("login", "").await;
}

/// /login opened on `localhost` while `redirect_uri` is on `127.0.0.1`: the app sends the
/// browser to its own origin first, and the login succeeds.
#[rocket::async_test]
async fn other_host() {
    scenario("other-host", "").await;
}

/// Two tabs start logins (/login and /whoami) before either finishes; tab 1 logs in, tab 2
/// goes through by single sign-on with its own transaction; both end where they started.
#[rocket::async_test]
async fn two_tabs() {
    scenario("two-tabs", "").await;
}

/// Back after the login never requests the callback again, the app answers no error, and
/// the session is intact.
#[rocket::async_test]
async fn back_button() {
    scenario("back-button", "").await;
}

/// /logout goes through the provider's end-session page and lands on the app's `/`; the
/// next /login asks for credentials again.
#[rocket::async_test]
async fn logout() {
    scenario("logout", "").await;
}

/// After logout, Back must not bring the logged-in pages (and their tokens) back from the
/// browser's cache: responses to logged-in requests carry `Cache-Control: no-store`.
#[rocket::async_test]
async fn back_after_logout() {
    scenario("back-after-logout", "").await;
}

/// With `session_permanent = true` (the default) the session survives closing and
/// restarting the browser on the same profile.
#[rocket::async_test]
async fn restart_permanent() {
    scenario("restart-permanent", "").await;
}

/// With `session_permanent = false` the session cookie dies with the browser: after a
/// restart /whoami sends the browser to the provider.
#[rocket::async_test]
async fn restart_ephemeral() {
    scenario("restart-ephemeral", "session_permanent = false").await;
}

/// The transaction and session cookies' names, sizes and attributes, as documented.
#[rocket::async_test]
async fn cookies() {
    scenario("cookies", "").await;
}

/// The login scenario with `response_mode = "form_post"`: the provider's page posts the
/// answer across sites, and the `SameSite=None; Secure` login cookie (taken over plain http
/// on 127.0.0.1, a secure context) comes with it.
#[rocket::async_test]
async fn login_with_form_post() {
    scenario_with(
        "login-form-post",
        "",
        &[("oidc.providers.default.response_mode", "form_post")],
    )
    .await;
}

/// A hybrid login (`code id_token`) answered in the fragment: the callback's relay page
/// posts it back under its strict policy, in a real browser.
#[rocket::async_test]
async fn login_with_the_fragment_relay() {
    scenario_with(
        "login-fragment",
        "",
        &[
            ("oidc.providers.default.client_id", node_op_hybrid_client()),
            ("oidc.providers.default.response_type", "code id_token"),
        ],
    )
    .await;
}

fn node_op_hybrid_client() -> &'static str {
    common::node_op::HYBRID_CLIENT_ID
}

/// Front-channel logout started at the provider: its logout page frames the app's
/// `frontchannel_logout_uri` (with `iss` and the session's `sid`) across sites; with
/// `frontchannel_logout_by_sid` the app's stored session ends although its `Lax` cookie
/// does not come with the framed request.
#[rocket::async_test]
async fn frontchannel_logout_at_the_provider() {
    // The provider's back-channel logout token goes to a path the app does not serve: the
    // front channel alone must end the session.
    // Sessions in memory, ended by the front channel's sid (`frontchannel_logout_by_sid`):
    // the framed request comes without the Lax cookie.
    scenario_with_op(
        "frontchannel-logout",
        "backchannel_logout_path = \"/not-the-backchannel-uri\"\n\
         frontchannel_logout_by_sid = true\n\
         [default.oidc.session]\n\
         store = \"memory\"",
        &[],
        &[("OP_FRONTCHANNEL", "1")],
    )
    .await;
}

/// RP-initiated logout with a provider that frames every client's front-channel logout
/// URI on its logout page: the app answers the framed request (its session already ended
/// at `/logout`), and the logout lands on `/` as without it.
#[rocket::async_test]
async fn logout_with_frontchannel_frames() {
    scenario_with_op("logout", "", &[], &[("OP_FRONTCHANNEL", "1")]).await;
}

/// Every scenario again with the sessions in Redis (the cookie carries only the session's
/// id): what a browser sees must not change with the store.
#[cfg(feature = "redis")]
#[rocket::async_test]
async fn every_scenario_with_the_redis_store() {
    let redis = common::redis::RedisServer::start();
    let store = format!(
        "[default.oidc.session]\nstore = \"redis\"\n[default.oidc.session.redis]\nurl = \"{}\"",
        redis.url()
    );
    for (name, own) in [
        ("login", ""),
        ("two-tabs", ""),
        ("back-button", ""),
        ("logout", ""),
        ("back-after-logout", ""),
        ("restart-permanent", ""),
        ("restart-ephemeral", "session_permanent = false"),
        ("cookies", ""),
    ] {
        scenario(name, &format!("{own}\n{store}")).await;
    }
}
