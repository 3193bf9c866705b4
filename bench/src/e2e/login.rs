//! Logins over HTTP, as a browser makes them: through an app (timed, its CPU read between
//! the hops), through the provider alone, many at once; and the checks of their sessions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::cookie::{CookieStore, Jar};
use sha2::{Digest, Sha256};

use crate::apps::{App, Endpoint};
use crate::fixtures::{through_provider, AtProvider};
use crate::procfs::{cpu_between, read_cpu};
use crate::util::{location, random_token};
use crate::{BoxError, Result, LOGIN_PHASE_BUDGET};

/// A browser: a cookie jar, no automatic redirects.
pub(crate) fn browser() -> Result<(reqwest::Client, Arc<Jar>)> {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()?;
    Ok((client, jar))
}

/// A login through the app, as seen from the browser.
pub(crate) struct AppLogin {
    pub(crate) elapsed: Duration,
    pub(crate) jar: Arc<Jar>,
    /// With a probe: the app's CPU seconds for each of its hops (the redirect, the callback,
    /// the final page), each read from just before that hop to just before the next.
    pub(crate) hop_cpu_s: [f64; 3],
    /// With a probe: how many times the app's threads were woken in each hop.
    pub(crate) hop_runs: [u64; 3],
}

/// One full login through the app from a fresh browser: `GET /login` → provider → callback →
/// `GET /login` (200). `probe` (the app's pid and clock ticks per second) reads the app's CPU
/// between the hops; without it, nothing but HTTP happens while the clock runs.
pub(crate) async fn login_through_app(
    app: &Endpoint,
    user: &str,
    probe: Option<(u32, u64)>,
) -> Result<AppLogin> {
    let (client, jar) = browser()?;
    let read = || probe.map(|(pid, _)| read_cpu(pid));
    let mut readings = Vec::new();
    let start = Instant::now();
    readings.push(read());
    let response = client
        .get(format!("{}/login", app.url))
        .header("Accept", "text/html")
        .send()
        .await?;
    if !response.status().is_redirection() {
        bail!(
            "{}: GET /login answered {}, not a redirect",
            app.name,
            response.status()
        );
    }
    let auth_url = location(&response)?;
    let app_prefix = format!("{}/", app.url);
    let (callback, _) =
        through_provider(&client, &auth_url, &app_prefix, AtProvider::LogIn(user)).await;
    readings.push(read());
    let response = client.get(&callback).send().await?;
    if !response.status().is_redirection() {
        let status = response.status();
        bail!(
            "{}: the callback answered {status}: {}",
            app.name,
            response.text().await.unwrap_or_default()
        );
    }
    let landing = location(&response)?;
    if url::Url::parse(&landing)?.path() != "/login" {
        bail!(
            "{}: the callback sent the browser to {landing}, not /login",
            app.name
        );
    }
    readings.push(read());
    let response = client
        .get(&landing)
        .header("Accept", "text/html")
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    let elapsed = start.elapsed();
    if status != 200 {
        bail!("{}: GET /login after the login answered {status}", app.name);
    }
    if !body.windows(12).any(|w| w == b"access_token") {
        bail!(
            "{}: GET /login after the login shows no access_token",
            app.name
        );
    }
    let mut hop_cpu_s = [0.0; 3];
    let mut hop_runs = [0; 3];
    if let Some((_, ticks_per_second)) = probe {
        // Let the app finish with the last response before the last reading.
        tokio::time::sleep(Duration::from_millis(5)).await;
        readings.push(read());
        for (hop, pair) in readings.windows(2).enumerate() {
            if let [Some(before), Some(after)] = pair {
                hop_cpu_s[hop] = cpu_between(before, after, ticks_per_second).0;
                hop_runs[hop] = after.runs.saturating_sub(before.runs);
            }
        }
    }
    drop(client);
    Ok(AppLogin {
        elapsed,
        jar,
        hop_cpu_s,
        hop_runs,
    })
}

/// The provider's front channel alone, for the same client: the same pages, then the token
/// request, with no app in between.
pub(crate) async fn login_provider_only(
    issuer: &str,
    redirect_uri: &str,
    client_id: &str,
    client_secret: &str,
    user: &str,
) -> Result<Duration> {
    let (client, _jar) = browser()?;
    let verifier = random_token() + &random_token();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut auth_url = url::Url::parse(&format!("{issuer}/auth"))?;
    auth_url
        .query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", &random_token())
        .append_pair("nonce", &random_token())
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let app_prefix = redirect_uri.trim_end_matches("redirect_uri");
    let start = Instant::now();
    let (callback, _) = through_provider(
        &client,
        auth_url.as_str(),
        app_prefix,
        AtProvider::LogIn(user),
    )
    .await;
    let callback = url::Url::parse(&callback)?;
    let Some(code) = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
    else {
        bail!("the provider answered without a code: {callback}");
    };
    let response = client
        .post(format!("{issuer}/token"))
        .basic_auth(client_id, Some(client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    let elapsed = start.elapsed();
    if status != 200 || !body.windows(8).any(|w| w == b"id_token") {
        bail!(
            "token request answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(elapsed)
}

/// What any single request costs the app when it arrives alone (as a login's hops do, a few
/// milliseconds apart) rather than in a stream: the app's CPU for an isolated `GET /`, first
/// on a new connection, then on that connection kept alive. Means over `n`, in µs.
pub(crate) async fn isolated_requests(
    app: &App,
    ticks_per_second: u64,
    n: usize,
) -> Result<(f64, f64)> {
    let pid = app.pid();
    let (mut first, mut again) = (0.0, 0.0);
    for _ in 0..n {
        let (client, _jar) = browser()?;
        for sum in [&mut first, &mut again] {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let before = read_cpu(pid);
            let response = client
                .get(format!("{}/", app.url))
                .header("Accept", "text/html")
                .send()
                .await?;
            if response.status() != 200 {
                bail!("{}: GET / answered {}", app.name, response.status());
            }
            response.bytes().await?;
            tokio::time::sleep(Duration::from_millis(5)).await;
            let after = read_cpu(pid);
            *sum += cpu_between(&before, &after, ticks_per_second).0;
        }
    }
    Ok((first * 1e6 / n as f64, again * 1e6 / n as f64))
}

pub(crate) fn session_cookie(jar: &Jar, app: &App) -> Result<String> {
    let url: url::Url = format!("{}/", app.url).parse()?;
    let header = jar
        .cookies(&url)
        .ok_or_else(|| format!("{}: no cookies after the login", app.name))?;
    let prefix = format!("{}=", app.session_cookie);
    header
        .to_str()?
        .split("; ")
        .find(|c| c.starts_with(&prefix))
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "{}: no {} cookie after the login",
                app.name, app.session_cookie
            )
            .into()
        })
}

/// One session of the store comparison.
pub(crate) struct Session {
    pub(crate) user: String,
    /// The whole Cookie header a browser sends the app after its login.
    pub(crate) cookie: String,
}

/// `job(0)` to `job(n - 1)`, `concurrency` at a time (tasks, each taking a contiguous share
/// in order), within [`LOGIN_PHASE_BUDGET`]; their results, in order. `what` names them in
/// the error when they take too long.
pub(crate) async fn in_parallel<T, F, Fut>(
    n: usize,
    concurrency: usize,
    what: &str,
    job: F,
) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<T>> + Send,
{
    let per_task = n.div_ceil(concurrency.max(1)).max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for first in (0..n).step_by(per_task) {
        let last = (first + per_task).min(n);
        let job = job.clone();
        tasks.spawn(async move {
            let mut done = Vec::with_capacity(last - first);
            for k in first..last {
                done.push((k, job(k).await?));
            }
            Ok::<_, BoxError>(done)
        });
    }
    let mut all = Vec::with_capacity(n);
    let deadline = tokio::time::Instant::now() + LOGIN_PHASE_BUDGET;
    while let Some(joined) = tokio::time::timeout_at(deadline, tasks.join_next())
        .await
        .map_err(|_| format!("{what} took too long"))?
    {
        all.extend(joined??);
    }
    all.sort_by_key(|(k, _)| *k);
    Ok(all.into_iter().map(|(_, done)| done).collect())
}

/// `n` logins through the app, `concurrency` browsers at once, users `{prefix}{0..n}`.
pub(crate) async fn many_logins(
    endpoint: &Endpoint,
    n: usize,
    concurrency: usize,
    prefix: &str,
) -> Result<Vec<Session>> {
    let app_url: url::Url = format!("{}/", endpoint.url).parse()?;
    let what = format!("{}: {n} logins", endpoint.name);
    let (endpoint, prefix) = (endpoint.clone(), prefix.to_string());
    in_parallel(n, concurrency, &what, move |k| {
        let (endpoint, app_url) = (endpoint.clone(), app_url.clone());
        let user = format!("{prefix}{k}");
        async move {
            let login = login_through_app(&endpoint, &user, None).await?;
            let Some(cookie) = login.jar.cookies(&app_url) else {
                bail!("{}: no cookies after the login of {user}", endpoint.name);
            };
            Ok(Session {
                user,
                cookie: cookie.to_str()?.to_string(),
            })
        }
    })
    .await
}

/// Every session's cookie, alone, answers `/whoami` with its own user (200, no Set-Cookie).
pub(crate) async fn check_sessions(app: &App, sessions: &[Session]) -> Result<()> {
    let distinct: std::collections::HashSet<&str> =
        sessions.iter().map(|s| s.cookie.as_str()).collect();
    if distinct.len() != sessions.len() {
        bail!(
            "{}: {} logins gave only {} distinct cookies",
            app.name,
            sessions.len(),
            distinct.len()
        );
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    for session in sessions {
        let response = http
            .get(format!("{}/whoami", app.url))
            .header("Cookie", &session.cookie)
            .header("Accept", "text/html")
            .send()
            .await?;
        let status = response.status();
        let set_cookie = response.headers().contains_key("set-cookie");
        let body = response.text().await?;
        if status != 200 || body.trim() != session.user || set_cookie {
            bail!(
                "{}: /whoami with the session of {} answered {status} {body:?}{}",
                app.name,
                session.user,
                if set_cookie { " with a Set-Cookie" } else { "" }
            );
        }
    }
    Ok(())
}
