//! The apps under test, as processes: the quickstart (or the api example) and the floor,
//! configured by `ROCKET_*` variables, and Flask-pyoidc under gunicorn.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::fixtures::{CLIENT_ID, CLIENT_SECRET};
use crate::procfs::tree;
use crate::util::{random_bytes, random_token, tail};
use crate::{Result, MANIFEST_DIR};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The crate's quickstart (or api example).
    Rocket,
    /// The floor (`bench/src/floor.rs`).
    Floor,
    /// Flask-pyoidc under gunicorn.
    Flask,
}

/// Inline TOML keys the quickstart gets by default (see `E2E_OIDC_KEYS`).
const BENCH_LIMITS: &str =
    ", limits={provider_calls_per_second=1000000, provider_calls_concurrent=100000}";

/// What a browser needs to know of an app.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) name: &'static str,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub(crate) url: String,
}

pub(crate) struct App {
    pub(crate) kind: Kind,
    pub(crate) name: &'static str,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub(crate) url: String,
    pub(crate) client_id: &'static str,
    pub(crate) client_secret: &'static str,
    pub(crate) session_cookie: &'static str,
    pub(crate) log: PathBuf,
    pub(crate) child: Child,
}

impl App {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint {
            name: self.name,
            url: self.url.clone(),
        }
    }

    pub(crate) fn redirect_uri(&self) -> String {
        format!("{}/redirect_uri", self.url)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // SIGTERM first, so that gunicorn stops its workers; then SIGKILL after 5 s.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of the provider for apps at `origins` (`http://127.0.0.1:PORT`): the one-cookie
/// run's app, and each store's in turn, share one client.
pub(crate) fn client_registration(
    origins: &[String],
    client_id: &str,
    secret: &str,
) -> serde_json::Value {
    let redirect_uris: Vec<String> = origins
        .iter()
        .map(|o| format!("{o}/redirect_uri"))
        .collect();
    let post_logout: Vec<String> = origins
        .iter()
        .flat_map(|o| [format!("{o}/"), format!("{o}/logout/callback")])
        .collect();
    serde_json::json!({
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": post_logout,
    })
}

/// What sets an app of the bench apart from the one-cookie run's quickstart.
pub(crate) struct Variant<'a> {
    /// Its name in the report; made a file name, its log's.
    pub(crate) name: &'static str,
    /// Inline TOML keys added to `oidc`, each after a comma (`, session={...}`).
    pub(crate) oidc_keys: &'a str,
    /// Inline TOML keys added to `oidc.providers.default`, each after a comma.
    pub(crate) provider_keys: &'a str,
    /// `ROCKET_LOG_LEVEL`: `off`, or `critical` (warnings and errors: why a request failed).
    pub(crate) log_level: &'static str,
}

/// `binary` (the quickstart or the api example) on `port`. `variant`: a store's or a bearer
/// setup's app; `None`: the one-cookie run's (the default store).
pub(crate) fn start_rocket(
    binary: &Path,
    port: u16,
    issuer: &str,
    work_dir: &Path,
    variant: Option<&Variant<'_>>,
) -> Result<App> {
    let url = format!("http://127.0.0.1:{port}");
    let (oidc_keys, provider_keys, log_level) = variant.map_or(("", "", "off"), |v| {
        (v.oidc_keys, v.provider_keys, v.log_level)
    });
    // The bench logs in thousands of users from one address as fast as the provider lets
    // it: the bounds on provider calls (`[oidc.limits]`) are raised out of its way, unless
    // E2E_OIDC_KEYS says otherwise (empty for a build older than those bounds).
    let extra = std::env::var("E2E_OIDC_KEYS").unwrap_or_else(|_| BENCH_LIMITS.to_string());
    let oidc = format!(
        "{{redirect_uri=\"{url}/redirect_uri\", providers={{default={{issuer=\"{issuer}\", \
         client_id=\"{CLIENT_ID}\", client_secret=\"{CLIENT_SECRET}\", \
         scope=[\"openid\",\"email\",\"profile\"]{provider_keys}}}}}{oidc_keys}{extra}}}"
    );
    // An empty Rocket.toml: the repository's own (port 8000, localhost:3000) must not leak in.
    let config = work_dir.join("Rocket.toml");
    fs::write(
        &config,
        "# empty: the e2e harness (bench/) configures the app by ROCKET_* variables\n",
    )?;
    let (name, log) = match variant {
        Some(variant) => {
            let file = variant
                .name
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
            (variant.name, work_dir.join(format!("{file}.log")))
        }
        None => ("rocket_oidc_auth", work_dir.join("rocket.log")),
    };
    let child = Command::new(binary)
        .current_dir(work_dir)
        .env("ROCKET_CONFIG", &config)
        .env("ROCKET_ADDRESS", "127.0.0.1")
        .env("ROCKET_PORT", port.to_string())
        .env("ROCKET_LOG_LEVEL", log_level)
        .env("ROCKET_CLI_COLORS", "false")
        .env("ROCKET_SECRET_KEY", STANDARD.encode(random_bytes(32)))
        .env("ROCKET_OIDC", oidc)
        .stdin(Stdio::null())
        .stdout(File::create(&log)?)
        .stderr(Stdio::from(File::options().append(true).open(&log)?))
        .spawn()
        .map_err(|e| format!("cannot start {} ({e})", binary.display()))?;
    Ok(App {
        kind: Kind::Rocket,
        name,
        url,
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        session_cookie: "oidc_session_default",
        log,
        child,
    })
}

/// The floor (`binary`) on `port`, configured as the quickstart is (the same client of the
/// provider); `name`: its name in the report (and its log's).
pub(crate) fn start_floor(
    binary: &Path,
    port: u16,
    issuer: &str,
    work_dir: &Path,
    name: &'static str,
) -> Result<App> {
    let variant = Variant {
        name,
        oidc_keys: "",
        provider_keys: "",
        log_level: "off",
    };
    let mut app = start_rocket(binary, port, issuer, work_dir, Some(&variant))?;
    app.kind = Kind::Floor;
    app.session_cookie = "floor_session";
    Ok(app)
}

/// Creates (or reuses) `target/bench-venv` with bench/flask/requirements.txt installed.
pub(crate) fn ensure_venv(venv: &Path) -> Result<()> {
    let requirements = Path::new(MANIFEST_DIR).join("bench/flask/requirements.txt");
    let wanted = fs::read_to_string(&requirements)?;
    let stamp = venv.join("bench-requirements.txt");
    if venv.join("bin/gunicorn").exists() && fs::read_to_string(&stamp).ok() == Some(wanted.clone())
    {
        return Ok(());
    }
    eprintln!("==> creating {} (Flask-pyoidc, gunicorn)", venv.display());
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let status = Command::new(&python)
        .args(["-m", "venv"])
        .arg(venv)
        .status()
        .map_err(|e| format!("{python} is required for --compare ({e})"))?;
    if !status.success() {
        bail!("{python} -m venv {} failed", venv.display());
    }
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements)
        .status()?;
    if !status.success() {
        bail!("pip install -r {} failed", requirements.display());
    }
    fs::write(stamp, wanted)?;
    Ok(())
}

pub(crate) fn start_flask(venv: &Path, port: u16, issuer: &str, work_dir: &Path) -> Result<App> {
    let url = format!("http://127.0.0.1:{port}");
    let log = work_dir.join("flask.log");
    let child = Command::new(venv.join("bin/gunicorn"))
        .args(["--workers", "2", "--bind"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--control-socket")
        .arg(work_dir.join("gunicorn.ctl"))
        .args(["--log-level", "warning", "--chdir"])
        .arg(Path::new(MANIFEST_DIR).join("bench/flask"))
        .arg("app:app")
        .current_dir(work_dir)
        .env("BENCH_ISSUER", issuer)
        .env("BENCH_REDIRECT_URI", format!("{url}/redirect_uri"))
        .env("BENCH_CLIENT_ID", "flask-app")
        .env("BENCH_CLIENT_SECRET", "flask-secret")
        .env("BENCH_SECRET_KEY", random_token())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(File::create(&log)?)
        .stderr(Stdio::from(File::options().append(true).open(&log)?))
        .spawn()
        .map_err(|e| format!("cannot start gunicorn ({e})"))?;
    Ok(App {
        kind: Kind::Flask,
        name: "Flask-pyoidc 3.14.3",
        url,
        client_id: "flask-app",
        client_secret: "flask-secret",
        session_cookie: "session",
        log,
        child,
    })
}

/// Waits (at most 60 s) until `GET /` answers 200; for gunicorn, also until both workers are up.
pub(crate) async fn wait_ready(app: &mut App, http: &reqwest::Client) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = app.child.try_wait()? {
            bail!(
                "{} exited at start ({status}):\n{}",
                app.name,
                tail(&app.log, 30)
            );
        }
        if let Ok(response) = http.get(format!("{}/", app.url)).send().await {
            if response.status() == 200 && (app.kind != Kind::Flask || tree(app.pid()).len() >= 3) {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "{} did not answer within 60 s:\n{}",
        app.name,
        tail(&app.log, 30)
    )
}
