//! The one-cookie run: each app (the crate's quickstart, the floor, with `--compare`
//! Flask-pyoidc) logged in once and loaded with that one cookie on `/`, `/whoami` and
//! `/login`; then logins, one at a time and several at a time, their CPU and the provider's
//! requests.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::apps::{start_flask, start_floor, start_rocket, wait_ready, App, Kind};
use crate::fixtures::{hit_delta, hits, through_provider, AtProvider};
use crate::login::{
    browser, isolated_requests, login_provider_only, login_through_app, session_cookie,
};
use crate::one_cookie_report::report;
use crate::options::Options;
use crate::procfs::{cpu_between, read_cpu, rss_kb};
use crate::util::{location, median};
use crate::wrk::{measured_wrk, ratio, warm_up, Credentials, RouteSamples};
use crate::{
    BoxError, Env, Result, DISCOVERY, JWKS, LOGIN_BLOCK, LOGIN_PHASE_BUDGET, ROUTES, TOKEN,
    USERINFO, WARMUP_LOGINS,
};

/// The floor's name in the report.
pub(crate) const FLOOR: &str = "floor (Rocket + reqwest)";

/// Logins through one app: their CPU, latency and provider requests.
#[derive(Debug, Default)]
pub(crate) struct LoginFigures {
    pub(crate) logins: usize,
    pub(crate) logins_per_s: f64,
    pub(crate) cpu_per_login_ms: f64,
    pub(crate) precise: bool,
    pub(crate) app_ms: Vec<f64>,
    /// Mean app CPU per hop: the redirect, the callback, the final page.
    pub(crate) hop_us: [f64; 3],
    /// Mean thread wake-ups of the app per hop (each costs this VM ~100-150 µs of CPU when
    /// the app was idle).
    pub(crate) hop_wakeups: [f64; 3],
    /// An isolated `GET /`: first on a new connection, then on that connection kept alive.
    pub(crate) isolated_us: (f64, f64),
    pub(crate) discovery: u64,
    pub(crate) jwks: u64,
    pub(crate) token: u64,
    pub(crate) userinfo: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Figures {
    pub(crate) routes: BTreeMap<&'static str, RouteSamples>,
    pub(crate) first_login_discovery: u64,
    pub(crate) first_login_jwks: u64,
    pub(crate) logins: LoginFigures,
    /// The same logins, several at a time.
    pub(crate) concurrent: LoginFigures,
    /// Protected responses checked by hand on the unchanged session, and how many had
    /// Set-Cookie.
    pub(crate) manual_checked: usize,
    pub(crate) manual_set_cookie: usize,
    pub(crate) callback_sets_cookie: bool,
    pub(crate) rss_after_load_kb: u64,
    pub(crate) rss_after_logins_kb: u64,
    pub(crate) session_cookie_bytes: usize,
}

impl Figures {
    pub(crate) fn cpu(&self, route: &str) -> f64 {
        self.routes
            .get(route)
            .map_or(f64::NAN, |r| median(&r.cpu_us))
    }
    /// Median over the rounds of this route's CPU per request ÷ that of `/` in the same round.
    pub(crate) fn ratio(&self, route: &str) -> f64 {
        ratio(&self.routes, route, "/")
    }
    pub(crate) fn rps(&self, route: &str) -> f64 {
        self.routes.get(route).map_or(f64::NAN, |r| median(&r.rps))
    }
    /// Provider requests over every login after the first (both passes): logins, discovery,
    /// JWKS, token, userinfo.
    pub(crate) fn hits(&self) -> (u64, u64, u64, u64, u64) {
        let (a, b) = (&self.logins, &self.concurrent);
        (
            (a.logins + b.logins) as u64,
            a.discovery + b.discovery,
            a.jwks + b.jwks,
            a.token + b.token,
            a.userinfo + b.userinfo,
        )
    }

    pub(crate) fn protected_set_cookie(&self) -> (u64, u64) {
        let mut seen = self.manual_set_cookie as u64;
        let mut total = self.manual_checked as u64;
        for route in ["/whoami", "/login"] {
            if let Some(r) = self.routes.get(route) {
                seen += r.set_cookie;
                total += r.requests;
            }
        }
        (seen, total)
    }
}

pub(crate) struct Subject {
    pub(crate) app: App,
    pub(crate) cookie: String,
    pub(crate) figures: Figures,
}

/// Checks, on the session the load uses, that protected responses are 200 and carry no
/// Set-Cookie, and that the cookie alone authenticates.
pub(crate) async fn check_unchanged_session(subject: &mut Subject, sub: &str) -> Result<()> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    for round in 0..5 {
        for route in ["/whoami", "/login"] {
            let response = http
                .get(format!("{}{route}", subject.app.url))
                .header("Cookie", &subject.cookie)
                .header("Accept", "text/html")
                .send()
                .await?;
            let status = response.status();
            let set_cookie = response.headers().get_all("set-cookie").iter().count();
            let body = response.text().await?;
            if status != 200 {
                bail!(
                    "{}: GET {route} with the session answered {status}",
                    subject.app.name
                );
            }
            if round == 0 && route == "/whoami" && body.trim() != sub {
                bail!(
                    "{}: /whoami answered {body:?}, not {sub:?}",
                    subject.app.name
                );
            }
            subject.figures.manual_checked += 1;
            if set_cookie > 0 {
                subject.figures.manual_set_cookie += 1;
            }
        }
    }
    Ok(())
}

/// Steps 2 to 7 (one logged-in cookie on every request): the report's text and whether every
/// target was met.
pub(crate) async fn one_cookie_run(options: &mut Options, env: &Env) -> Result<(String, bool)> {
    let mut subjects = log_in_subjects(options, env).await?;
    options.max_other_load = load(options, env, &mut subjects)?;
    let mut user_counter = 0;
    let provider_only_ms = timed_logins(options, env, &mut subjects, &mut user_counter).await?;
    probe_hops(env, &mut subjects, &mut user_counter).await?;
    concurrent_logins(options, env, &mut subjects, &mut user_counter).await?;
    check_callback_sets_cookie(&mut subjects).await?;
    Ok(report(options, &subjects, &provider_only_ms))
}

/// Step 2: each app in turn (the crate's quickstart, the floor, with `--compare` Flask-pyoidc):
/// start it, wait for it, log in once; its session cookie drives the load. One at a time, so
/// that the provider's counts up to the first login are its own.
async fn log_in_subjects(options: &Options, env: &Env) -> Result<Vec<Subject>> {
    let (provider, http, work_dir) = (env.provider()?, &env.http, &env.work_dir);
    let mut subjects = Vec::new();
    let kinds: &[Kind] = if options.compare {
        &[Kind::Rocket, Kind::Floor, Kind::Flask]
    } else {
        &[Kind::Rocket, Kind::Floor]
    };
    for (i, kind) in kinds.iter().enumerate() {
        let before = hits(provider, http).await?;
        let issuer = &provider.issuer;
        let mut app = match kind {
            Kind::Rocket => {
                start_rocket(env.quickstart()?, env.rocket_port, issuer, work_dir, None)?
            }
            Kind::Floor => start_floor(env.floor()?, env.floor_port, issuer, work_dir, FLOOR)?,
            Kind::Flask => start_flask(&env.venv, env.flask_port, issuer, work_dir)?,
        };
        wait_ready(&mut app, http).await?;
        eprintln!("==> {} at {} (pid {})", app.name, app.url, app.pid());
        let user = format!("bench-user-{i}");
        let jar = login_through_app(&app.endpoint(), &user, None).await?.jar;
        let after = hits(provider, http).await?;
        let cookie = session_cookie(&jar, &app)?;
        let mut subject = Subject {
            app,
            cookie,
            figures: Figures::default(),
        };
        subject.figures.first_login_discovery = hit_delta(&before, &after, DISCOVERY);
        subject.figures.first_login_jwks = hit_delta(&before, &after, JWKS);
        subject.figures.session_cookie_bytes = subject.cookie.len();
        check_unchanged_session(&mut subject, &user).await?;
        eprintln!(
            "==> {} logged in as {user}; session cookie {} bytes",
            subject.app.name,
            subject.cookie.len()
        );
        subjects.push(subject);
    }
    Ok(subjects)
}

/// Step 3, load: warm-up, then rounds, the apps and the routes alternating; the most CPU other
/// processes used in a round, as a share of one core.
fn load(options: &Options, env: &Env, subjects: &mut [Subject]) -> Result<f64> {
    let ticks_per_second = env.ticks_per_second;
    if options.warmup_seconds > 0 {
        eprintln!("==> warm-up: {} s per route", options.warmup_seconds);
        for subject in subjects.iter() {
            for route in ROUTES {
                warm_up(
                    subject.app.name,
                    options.shape(),
                    &format!("{}{route}", subject.app.url),
                    Credentials::One("Cookie", &subject.cookie),
                    options.warmup_seconds,
                )?;
            }
        }
    }
    eprintln!(
        "==> load: {} rounds x {} routes x {} app(s) x {} s (wrk -t{} -c{})",
        options.rounds,
        ROUTES.len(),
        subjects.len(),
        options.seconds,
        options.wrk_threads,
        options.connections
    );
    let mut max_other_load: f64 = 0.0;
    for round in 0..options.rounds as usize {
        for subject in subjects.iter_mut() {
            for k in 0..ROUTES.len() {
                // Rotate the order so that no route always runs first.
                let route = ROUTES[(round + k) % ROUTES.len()];
                let url = format!("{}{route}", subject.app.url);
                let m = measured_wrk(
                    &[subject.app.pid()],
                    ticks_per_second,
                    options.shape(),
                    &url,
                    Credentials::One("Cookie", &subject.cookie),
                    options.seconds,
                )?;
                max_other_load = max_other_load.max(m.other_load);
                eprintln!(
                    "    round {} {:<20} {:<7} {:>9.0} req/s  {:>7.1} µs CPU/req  non-200 {}  \
                     Set-Cookie {}  other load {:.0}% of a core{}",
                    round + 1,
                    subject.app.name,
                    route,
                    m.rps(),
                    m.us(0),
                    m.result.non200,
                    m.result.set_cookie,
                    m.other_load * 100.0,
                    if m.precise { "" } else { "  (ticks)" }
                );
                subject.figures.routes.entry(route).or_default().add(&m);
            }
        }
    }
    for subject in subjects.iter_mut() {
        subject.figures.rss_after_load_kb = rss_kb(subject.app.pid());
    }

    Ok(max_other_load)
}

/// Step 4, logins: blocks through each app, alternating with blocks through the provider alone
/// (whose latencies it returns), one login at a time.
async fn timed_logins(
    options: &Options,
    env: &Env,
    subjects: &mut [Subject],
    user_counter: &mut usize,
) -> Result<Vec<f64>> {
    let (provider, http) = (env.provider()?, &env.http);
    let ticks_per_second = env.ticks_per_second;
    let mut users = *user_counter;
    eprintln!(
        "==> logins: {} through each app and {} through the provider alone, in blocks of {}",
        options.logins, options.logins, LOGIN_BLOCK
    );
    // A few unrecorded logins first, through each app and the provider alone.
    for _ in 0..WARMUP_LOGINS {
        for subject in subjects.iter() {
            users += 1;
            let user = format!("user{users}");
            login_through_app(&subject.app.endpoint(), &user, None).await?;
        }
        users += 1;
        let rocket = &subjects[0].app;
        login_provider_only(
            &provider.issuer,
            &rocket.redirect_uri(),
            rocket.client_id,
            rocket.client_secret,
            &format!("user{users}"),
        )
        .await?;
    }
    let mut provider_only_ms: Vec<f64> = Vec::new();
    let mut cpu_s_total = vec![0.0f64; subjects.len()];
    let mut all_precise = vec![true; subjects.len()];
    let phase_start = Instant::now();
    let mut done = 0usize;
    while done < options.logins && phase_start.elapsed() < LOGIN_PHASE_BUDGET {
        let block = LOGIN_BLOCK.min(options.logins - done);
        for (i, subject) in subjects.iter_mut().enumerate() {
            let pid = subject.app.pid();
            let endpoint = subject.app.endpoint();
            let hits_before = hits(provider, http).await?;
            let cpu_before = read_cpu(pid);
            for _ in 0..block {
                users += 1;
                let user = format!("user{users}");
                let login = login_through_app(&endpoint, &user, None).await?;
                subject
                    .figures
                    .logins
                    .app_ms
                    .push(login.elapsed.as_secs_f64() * 1e3);
            }
            let cpu_after = read_cpu(pid);
            let hits_after = hits(provider, http).await?;
            let (cpu_s, precise) = cpu_between(&cpu_before, &cpu_after, ticks_per_second);
            cpu_s_total[i] += cpu_s;
            all_precise[i] &= precise;
            eprintln!(
                "    {:<20} {block} logins: {:.2} ms app CPU per login{}",
                subject.app.name,
                cpu_s * 1e3 / block as f64,
                if precise { "" } else { " (ticks)" }
            );
            let l = &mut subject.figures.logins;
            l.logins += block;
            l.discovery += hit_delta(&hits_before, &hits_after, DISCOVERY);
            l.jwks += hit_delta(&hits_before, &hits_after, JWKS);
            l.token += hit_delta(&hits_before, &hits_after, TOKEN);
            l.userinfo += hit_delta(&hits_before, &hits_after, USERINFO);
        }
        let rocket = &subjects[0].app;
        for _ in 0..block {
            users += 1;
            let elapsed = login_provider_only(
                &provider.issuer,
                &rocket.redirect_uri(),
                rocket.client_id,
                rocket.client_secret,
                &format!("user{users}"),
            )
            .await?;
            provider_only_ms.push(elapsed.as_secs_f64() * 1e3);
        }
        done += block;
        eprintln!(
            "    {done} logins per mode, {:.0} s",
            phase_start.elapsed().as_secs_f64()
        );
    }
    for (i, subject) in subjects.iter_mut().enumerate() {
        let l = &mut subject.figures.logins;
        l.cpu_per_login_ms = cpu_s_total[i] * 1e3 / l.logins.max(1) as f64;
        l.precise = all_precise[i];
        subject.figures.rss_after_logins_kb = rss_kb(subject.app.pid());
    }

    *user_counter = users;
    Ok(provider_only_ms)
}

/// Where a login's CPU goes: the app's CPU read between its hops, over a few more logins
/// (not timed: the readings take time); and what an isolated request costs, for scale.
async fn probe_hops(env: &Env, subjects: &mut [Subject], user_counter: &mut usize) -> Result<()> {
    let ticks_per_second = env.ticks_per_second;
    let mut users = *user_counter;
    let hop_logins = LOGIN_BLOCK;
    for subject in subjects.iter_mut() {
        let probe = Some((subject.app.pid(), ticks_per_second));
        let mut sums = [0.0; 3];
        let mut runs = [0; 3];
        for _ in 0..hop_logins {
            users += 1;
            let user = format!("user{users}");
            let login = login_through_app(&subject.app.endpoint(), &user, probe).await?;
            for (sum, hop) in sums.iter_mut().zip(login.hop_cpu_s) {
                *sum += hop;
            }
            for (sum, hop) in runs.iter_mut().zip(login.hop_runs) {
                *sum += hop;
            }
        }
        subject.figures.logins.hop_us = sums.map(|s| s * 1e6 / hop_logins as f64);
        subject.figures.logins.hop_wakeups = runs.map(|r| r as f64 / hop_logins as f64);
        subject.figures.logins.isolated_us =
            isolated_requests(&subject.app, ticks_per_second, hop_logins).await?;
    }

    *user_counter = users;
    Ok(())
}

/// The same logins with several browsers at once: the app is then busy, as under the wrk
/// load, instead of waking from idle for every hop.
async fn concurrent_logins(
    options: &Options,
    env: &Env,
    subjects: &mut [Subject],
    user_counter: &mut usize,
) -> Result<()> {
    let (provider, http) = (env.provider()?, &env.http);
    let ticks_per_second = env.ticks_per_second;
    let mut users = *user_counter;
    eprintln!(
        "==> logins, {} at a time: {} through each app",
        options.login_concurrency, options.logins
    );
    for subject in subjects.iter_mut() {
        let pid = subject.app.pid();
        let hits_before = hits(provider, http).await?;
        let cpu_before = read_cpu(pid);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let per_task = options.logins.div_ceil(options.login_concurrency);
        let mut total = 0;
        for t in 0..options.login_concurrency {
            let n = per_task.min(options.logins - total);
            total += n;
            let endpoint = subject.app.endpoint();
            let first_user = users + t * per_task;
            tasks.spawn(async move {
                for k in 0..n {
                    let user = format!("user{}", first_user + k);
                    login_through_app(&endpoint, &user, None).await?;
                }
                Ok::<usize, BoxError>(n)
            });
        }
        users += options.logins;
        let mut logins = 0;
        let deadline = tokio::time::Instant::now() + LOGIN_PHASE_BUDGET;
        while let Some(joined) = tokio::time::timeout_at(deadline, tasks.join_next())
            .await
            .map_err(|_| format!("{}: the concurrent logins took too long", subject.app.name))?
        {
            logins += joined??;
        }
        let cpu_after = read_cpu(pid);
        let hits_after = hits(provider, http).await?;
        let (cpu_s, precise) = cpu_between(&cpu_before, &cpu_after, ticks_per_second);
        let c = &mut subject.figures.concurrent;
        c.logins = logins;
        c.cpu_per_login_ms = cpu_s * 1e3 / logins.max(1) as f64;
        c.precise = precise;
        c.logins_per_s = logins as f64 / started.elapsed().as_secs_f64();
        c.discovery = hit_delta(&hits_before, &hits_after, DISCOVERY);
        c.jwks = hit_delta(&hits_before, &hits_after, JWKS);
        c.token = hit_delta(&hits_before, &hits_after, TOKEN);
        c.userinfo = hit_delta(&hits_before, &hits_after, USERINFO);
    }

    *user_counter = users;
    Ok(())
}

/// Step 5: the callback changes the session, so it must set the cookie (sanity check of the
/// Set-Cookie detection); protected responses after it must not (checked on the login and by
/// wrk on every response).
async fn check_callback_sets_cookie(subjects: &mut [Subject]) -> Result<()> {
    for subject in subjects.iter_mut() {
        let (client, _jar) = browser()?;
        let response = client
            .get(format!("{}/whoami", subject.app.url))
            .header("Accept", "text/html")
            .send()
            .await?;
        let auth_url = location(&response)?;
        let (callback, _) = through_provider(
            &client,
            &auth_url,
            &format!("{}/", subject.app.url),
            AtProvider::LogIn("carol"),
        )
        .await;
        let response = client.get(&callback).send().await?;
        subject.figures.callback_sets_cookie =
            response.headers().get_all("set-cookie").iter().any(|v| {
                v.as_bytes()
                    .starts_with(subject.app.session_cookie.as_bytes())
            });
    }
    Ok(())
}
