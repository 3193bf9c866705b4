//! `--dashboard PNG`: the Grafana dashboard of `docs/grafana` fed by a real run, as a
//! picture. The quickstart (memory sessions, its `/metrics`) runs against the test provider,
//! a real Prometheus scrapes it every second, and real users come and go for a few minutes:
//! logins in waves, cancelled logins, refreshes of expired access tokens, logouts at the app
//! and at the provider (back-channel), anonymous API calls, and an incident in the middle
//! (the provider stops answering for a while: refreshes fail, logins start and do not
//! finish). Then [`crate::panels`] draws every panel of the dashboard from Prometheus's
//! `query_range` answers, and headless Chromium photographs the page.
//!
//! Grafana itself is not used: it is under the AGPL, which this project does not take in,
//! not even as a tool. The panels are drawn from the dashboard's own JSON (titles, queries,
//! legends, units, grid positions), so the picture shows what the dashboard shows.

use std::collections::VecDeque;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;

use crate::apps::{client_registration, start_rocket, wait_ready, Variant};
use crate::fixtures::{
    confirm_logout, start_provider, through_provider, AtProvider, NodeOp, Prometheus, CLIENT_ID,
    CLIENT_SECRET,
};
use crate::login::browser;
use crate::util::{absolute, free_ports, location};
use crate::{Result, MANIFEST_DIR};

/// Access tokens live this long at the provider: users who stay are refreshed (the app
/// refreshes once less than its clock skew, 60 s, is left).
const ACCESS_TOKEN_SECONDS: &str = "90";
/// The app's timeout for provider calls in this run, so the incident's failures come fast.
const HTTP_TIMEOUT_SECONDS: u32 = 2;
/// Users logged in at once, at most: beyond, the oldest one leaves.
const MAX_USERS: usize = 30;
/// Logins per second, one entry per 10 s of the run (repeated): the waves of users.
const WAVES: [usize; 8] = [1, 2, 3, 4, 3, 2, 1, 1];
const DASHBOARD: &str = "docs/grafana/rocket_oidc_auth.json";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A logged-in user: a browser with its cookies.
struct User {
    browser: reqwest::Client,
}

/// The run and the picture. Returns the report's lines.
pub(crate) async fn dashboard_run(
    quickstart: &Path,
    work_dir: &Path,
    png: &Path,
    seconds: u32,
) -> Result<String> {
    if !Path::new(CHROMIUM).exists() {
        bail!("{CHROMIUM} is required for the picture: apt-get install chromium");
    }
    let ports = free_ports(2)?;
    let (app_port, prometheus_port) = (ports[0], ports[1]);
    let origin = format!("http://127.0.0.1:{app_port}");
    let mut client = client_registration(std::slice::from_ref(&origin), CLIENT_ID, CLIENT_SECRET);
    client["backchannel_logout_uri"] = format!("{origin}/logout/backchannel").into();
    client["backchannel_logout_session_required"] = true.into();
    let provider = start_provider(
        &serde_json::Value::Array(vec![client]),
        &[("OP_TTL_ACCESS_TOKEN", ACCESS_TOKEN_SECONDS)],
    )?;
    eprintln!("==> test provider at {}", provider.issuer);
    let oidc_keys = format!(", session={{store=\"memory\"}}, http_timeout={HTTP_TIMEOUT_SECONDS}");
    let variant = Variant {
        name: "dashboard",
        oidc_keys: &oidc_keys,
        provider_keys: "",
        log_level: "critical",
    };
    let mut app = start_rocket(
        quickstart,
        app_port,
        &provider.issuer,
        work_dir,
        Some(&variant),
    )?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    wait_ready(&mut app, &http).await?;
    let prometheus = Prometheus::start(&format!("127.0.0.1:{app_port}"), prometheus_port);
    prometheus.wait_ready().await;
    eprintln!(
        "==> {seconds} s of users on {origin}, scraped by Prometheus at {}",
        prometheus.url
    );

    let start = now();
    let load = Load {
        app: origin.clone(),
        provider: &provider,
        http,
    };
    let counts = load.run(seconds).await?;
    // Two more scrapes, so the last second is in.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let end = now();

    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        Path::new(MANIFEST_DIR).join(DASHBOARD),
    )?)?;
    let page = crate::panels::render(&dashboard, &prometheus, start, end).await?;
    let html = work_dir.join("dashboard.html");
    std::fs::write(&html, &page.html)?;
    photograph(&html, png, page.width, page.height)?;
    drop(prometheus);
    drop(app);
    Ok(format!(
        "\nDashboard run: {seconds} s, {counts}; {} panels drawn from Prometheus, {} of them \
         with data; picture {} ({}x{} px)\n",
        page.panels,
        page.panels_with_data,
        png.display(),
        page.width,
        page.height
    ))
}

/// Seconds since the epoch, now.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Headless Chromium's picture of `html`, `width` by `height` CSS pixels, into `png`.
fn photograph(html: &Path, png: &Path, width: u32, height: u32) -> Result<()> {
    let html = std::fs::canonicalize(html)?;
    let png = if png.is_absolute() {
        png.to_path_buf()
    } else {
        std::env::current_dir()?.join(png)
    };
    if let Some(dir) = png.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let output = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .output()?;
    if !output.status.success() || !png.is_file() {
        bail!(
            "chromium could not photograph {}: {}",
            html.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// What the users of the run did, counted.
#[derive(Default)]
struct Counts {
    logins: u32,
    cancelled: u32,
    abandoned: u32,
    refresh_attempts: u32,
    logouts: u32,
    backchannel_logouts: u32,
    anonymous: u32,
    page_views: u32,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} logins, {} cancelled, {} abandoned during the incident, {} page views, {} token \
             requests, {} logouts at the app, {} at the provider, {} anonymous API calls",
            self.logins,
            self.cancelled,
            self.abandoned,
            self.page_views,
            self.refresh_attempts,
            self.logouts,
            self.backchannel_logouts,
            self.anonymous
        )
    }
}

/// The users' side of the run.
struct Load<'a> {
    app: String,
    provider: &'a NodeOp,
    http: reqwest::Client,
}

impl Load<'_> {
    /// `seconds` of users, second by second; the provider is stopped (SIGSTOP) for the
    /// fifth of the run after its middle.
    async fn run(&self, seconds: u32) -> Result<Counts> {
        let mut counts = Counts::default();
        let mut users: VecDeque<User> = VecDeque::new();
        let incident = (seconds / 2)..(seconds / 2 + seconds / 5);
        let mut paused = false;
        let began = Instant::now();
        let mut last = None;
        loop {
            // Seconds of the clock, not of the work: a slow second (the provider down)
            // skips the ones it took, so the load keeps its shape in time.
            let second = u32::try_from(began.elapsed().as_secs()).unwrap_or(u32::MAX);
            if second >= seconds {
                break;
            }
            if last == Some(second) {
                let next = began + Duration::from_secs(u64::from(second) + 1);
                tokio::time::sleep_until(next.into()).await;
                continue;
            }
            last = Some(second);
            let down = incident.contains(&second);
            if down && !paused {
                eprintln!("==> the provider stops answering ({} s)", incident.len());
                signal(self.provider, "STOP")?;
                paused = true;
            }
            if !down && paused {
                eprintln!("==> the provider answers again");
                signal(self.provider, "CONT")?;
                paused = false;
            }
            let wave = WAVES[(second as usize / 10) % WAVES.len()];
            if down {
                // Users arrive, are sent to the provider, and give up there.
                for _ in 0..wave {
                    let (browser, _) = browser()?;
                    self.start_login(&browser).await?;
                    counts.abandoned += 1;
                }
            } else {
                let logins = (0..wave).map(|k| self.log_in(format!("user{second}-{k}")));
                for user in join_all(logins).await {
                    users.push_back(user?);
                    counts.logins += 1;
                }
                if second % 7 == 3 {
                    self.cancelled_login().await?;
                    counts.cancelled += 1;
                }
                if second % 5 == 4 && users.len() > 2 {
                    let user = users.pop_front().expect("a user");
                    self.log_out(&user).await?;
                    counts.logouts += 1;
                }
                if second % 9 == 8 && users.len() > 2 {
                    let user = users.pop_front().expect("a user");
                    self.log_out_at_the_provider(&user).await?;
                    counts.backchannel_logouts += 1;
                }
            }
            while users.len() > MAX_USERS {
                let user = users.pop_front().expect("a user");
                self.log_out(&user).await?;
                counts.logouts += 1;
            }
            // The users who stay look at their page; some want their token (refreshed when
            // it has expired; during the incident, the refresh fails).
            let views = users.iter().map(|user| self.visit(user, "/whoami"));
            for status in join_all(views).await {
                status?;
                counts.page_views += 1;
            }
            if second % 3 == 0 {
                let tokens = users.iter().take(8).map(|user| self.visit(user, "/token"));
                for status in join_all(tokens).await {
                    status?;
                    counts.refresh_attempts += 1;
                }
            }
            if second % 2 == 0 {
                let response = self
                    .http
                    .get(format!("{}/whoami", self.app))
                    .header("Accept", "application/json")
                    .send()
                    .await?;
                if response.status() != 401 {
                    bail!("an anonymous API call answered {}", response.status());
                }
                counts.anonymous += 1;
            }
        }
        if paused {
            signal(self.provider, "CONT")?;
        }
        Ok(counts)
    }

    /// `GET /login` in `browser`: the provider's URL the app sends it to.
    async fn start_login(&self, browser: &reqwest::Client) -> Result<String> {
        let response = browser
            .get(format!("{}/login", self.app))
            .header("Accept", "text/html")
            .send()
            .await?;
        if response.status() != 303 {
            bail!("GET /login answered {}, not 303", response.status());
        }
        location(&response)
    }

    /// A whole login of `user` in a new browser.
    async fn log_in(&self, user: String) -> Result<User> {
        let (browser, _) = browser()?;
        let auth_url = self.start_login(&browser).await?;
        let (callback, _) =
            through_provider(&browser, &auth_url, &self.app, AtProvider::LogIn(&user)).await;
        let response = browser.get(&callback).send().await?;
        if response.status() != 303 {
            bail!(
                "the callback of {user}'s login answered {}",
                response.status()
            );
        }
        Ok(User { browser })
    }

    /// A login the user cancels at the provider: the app gets `error=access_denied`.
    async fn cancelled_login(&self) -> Result<()> {
        let (browser, _) = browser()?;
        let auth_url = self.start_login(&browser).await?;
        let interaction = browser.get(&auth_url).send().await?;
        let interaction = absolute(&auth_url, &location(&interaction)?)?;
        let abort = browser
            .get(format!("{}/abort", interaction.trim_end_matches('/')))
            .send()
            .await?;
        let mut next = absolute(&interaction, &location(&abort)?)?;
        for _ in 0..5 {
            if next.starts_with(&self.app) {
                break;
            }
            let response = browser.get(&next).send().await?;
            next = absolute(&next, &location(&response)?)?;
        }
        let response = browser.get(&next).send().await?;
        if response.status() != 403 {
            bail!("a cancelled login answered {}, not 403", response.status());
        }
        Ok(())
    }

    /// A logout at the app (`POST /logout`, to the provider's end-session page).
    async fn log_out(&self, user: &User) -> Result<()> {
        let response = user
            .browser
            .post(format!("{}/logout", self.app))
            .header("Sec-Fetch-Site", "same-origin")
            .send()
            .await?;
        if response.status() != 303 {
            bail!("POST /logout answered {}", response.status());
        }
        Ok(())
    }

    /// A logout at the provider's own page: the provider posts a logout token to the app.
    async fn log_out_at_the_provider(&self, user: &User) -> Result<()> {
        let issuer = &self.provider.issuer;
        let response =
            confirm_logout(&user.browser, issuer, &format!("{issuer}/session/end")).await;
        if response.status() != 303 {
            bail!("the provider's logout answered {}", response.status());
        }
        Ok(())
    }

    /// `GET path` as `user`: 200, or 502 to 504 while the provider is down and a refresh is
    /// due, or 401 for a session the provider ended.
    async fn visit(&self, user: &User, path: &str) -> Result<()> {
        let response = user
            .browser
            .get(format!("{}{path}", self.app))
            .header("Accept", "application/json")
            .send()
            .await?;
        match response.status().as_u16() {
            200 | 401 | 502..=504 => Ok(()),
            status => bail!("GET {path} answered {status}"),
        }
    }
}

/// Sends `SIG{name}` to the provider's process.
fn signal(provider: &NodeOp, name: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(provider.pid().to_string())
        .status()?;
    if !status.success() {
        bail!("kill -{name} {} failed", provider.pid());
    }
    Ok(())
}
