//! Bearer tokens (`--bearer`): the api example's `Bearer<Default>` guard on `/api/me`, with
//! JWT access tokens checked locally and with opaque tokens by introspection.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::apps::{client_registration, start_rocket, wait_ready, App, Variant};
use crate::bearer_report::bearer_report;
use crate::fixtures::{hit_delta, hits, start_provider, NodeOp, CLIENT_ID, CLIENT_SECRET};
use crate::login::in_parallel;
use crate::options::Options;
use crate::procfs::{cpu_between, read_cpu, rss_kb};
use crate::util::{median, tail};
use crate::wrk::{measured_wrk, warm_up, Credentials, RouteSamples};
use crate::{Env, Result, JWKS, TOKEN};

/// How the API checks bearer tokens in one setup of the bearer run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Validation {
    /// JWT access tokens (RFC 9068, RS256), checked locally against the provider's keys.
    Jwt,
    /// Opaque tokens, by introspection (RFC 7662), each answer kept
    /// [`INTROSPECTION_CACHE_SECONDS`].
    Introspection,
}

pub(crate) const BEARER_SETUPS: [Validation; 2] = [Validation::Jwt, Validation::Introspection];
/// Longer than the run: no kept answer expires during it.
pub(crate) const INTROSPECTION_CACHE_SECONDS: u64 = 600;
pub(crate) const INTROSPECTION: &str = "/token/introspection";
/// The client that gets tokens for the API by the client credentials grant.
pub(crate) const CALLER_ID: &str = "bench-caller";
pub(crate) const CALLER_SECRET: &str = "bench-caller-secret";
/// The guarded route, and its load with the many tokens in rotation.
pub(crate) const ME: &str = "/api/me";
pub(crate) const ME_MANY: &str = "/api/me, many tokens";

impl Validation {
    /// The provider's `OP_RESOURCE_FORMAT`.
    pub(crate) fn token_format(self) -> &'static str {
        match self {
            Validation::Jwt => "jwt",
            Validation::Introspection => "opaque",
        }
    }

    /// The app's `access_token_validation`.
    pub(crate) fn config(self) -> &'static str {
        match self {
            Validation::Jwt => "jwt",
            Validation::Introspection => "introspection",
        }
    }

    pub(crate) fn app_name(self) -> &'static str {
        match self {
            Validation::Jwt => "rocket_oidc_auth API, JWT",
            Validation::Introspection => "rocket_oidc_auth API, introspection",
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Validation::Jwt => "JWT (RS256), checked locally",
            Validation::Introspection => "opaque, introspection kept 600 s",
        }
    }
}

/// One pass over the many tokens, each sent once to `/api/me`.
#[derive(Debug, Default)]
pub(crate) struct TokenPass {
    /// The app's CPU per request, µs.
    pub(crate) cpu_us: f64,
    pub(crate) precise: bool,
    pub(crate) latency_ms: Vec<f64>,
    pub(crate) seconds: f64,
    pub(crate) introspections: u64,
}

#[derive(Debug)]
pub(crate) struct BearerFigures {
    pub(crate) validation: Validation,
    /// `/`, [`ME`] with the one token and, with `--tokens`, [`ME_MANY`].
    pub(crate) routes: BTreeMap<&'static str, RouteSamples>,
    pub(crate) token_bytes: usize,
    /// Introspection requests of the check of the one token (its first request).
    pub(crate) check_introspections: u64,
    /// Provider requests during the warm-up and the rounds.
    pub(crate) load_introspections: u64,
    pub(crate) load_jwks: u64,
    /// `--tokens`: their number, how long getting them took, and the first and the second
    /// request with each.
    pub(crate) tokens: usize,
    pub(crate) tokens_seconds: f64,
    pub(crate) passes: Option<[TokenPass; 2]>,
    /// JWT: ring's RS256 verification of the one token in this process, µs.
    pub(crate) rs256_us: Option<f64>,
    pub(crate) rss_after_load_kb: u64,
    pub(crate) max_other_load: f64,
    pub(crate) seconds: f64,
}

impl BearerFigures {
    /// Median over the rounds of `load`'s CPU per request minus that of `/` in the same
    /// round, µs.
    pub(crate) fn extra_us(&self, load: &str) -> f64 {
        let (Some(r), Some(base)) = (self.routes.get(load), self.routes.get("/")) else {
            return f64::NAN;
        };
        let extra: Vec<f64> = r
            .cpu_us
            .iter()
            .zip(&base.cpu_us)
            .map(|(a, b)| a - b)
            .collect();
        median(&extra)
    }
}

/// A token for `resource` from the client credentials grant of [`CALLER_ID`].
pub(crate) async fn caller_token(
    http: &reqwest::Client,
    issuer: &str,
    resource: &str,
) -> Result<String> {
    let response = http
        .post(format!("{issuer}{TOKEN}"))
        .basic_auth(CALLER_ID, Some(CALLER_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "read"),
            ("resource", resource),
        ])
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await?;
    let token = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["access_token"].as_str().map(str::to_string));
    match token {
        Some(token) if status == 200 => Ok(token),
        _ => bail!("the client credentials grant answered {status}: {body}"),
    }
}

/// `GET /api/me` with `token` (`None`: no Authorization header): the status and the body.
pub(crate) async fn get_me(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> Result<(u16, String)> {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// `/api/me`'s answer to a token of [`CALLER_ID`]'s must be a 200 naming that client.
pub(crate) fn check_me(app: &str, status: u16, body: &str) -> Result<()> {
    let client_id = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["client_id"].as_str().map(str::to_string));
    if status != 200 || client_id.as_deref() != Some(CALLER_ID) {
        bail!("{app}: {ME} with a token of {CALLER_ID} answered {status}: {body}");
    }
    Ok(())
}

/// Each token once to `/api/me`, `concurrency` at a time on kept-alive connections: the
/// app's CPU per request, each request's latency and the provider's introspections; every
/// answer checked.
pub(crate) async fn token_pass(
    app: &App,
    provider: &NodeOp,
    http: &reqwest::Client,
    tokens: &Arc<Vec<String>>,
    concurrency: usize,
    ticks_per_second: u64,
) -> Result<TokenPass> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    let (url, name) = (format!("{}{ME}", app.url), app.name);
    let what = format!("{name}: {} requests to {ME}", tokens.len());
    let hits_before = hits(provider, http).await?;
    let cpu_before = read_cpu(app.pid());
    let started = Instant::now();
    let tokens = tokens.clone();
    let latency_ms = in_parallel(tokens.len(), concurrency, &what, move |k| {
        let (client, url, tokens) = (client.clone(), url.clone(), tokens.clone());
        async move {
            let start = Instant::now();
            let (status, body) = get_me(&client, &url, Some(&tokens[k])).await?;
            let ms = start.elapsed().as_secs_f64() * 1e3;
            check_me(name, status, &body)?;
            Ok(ms)
        }
    })
    .await
    .map_err(|e| format!("{e}\n{}", tail(&app.log, 20)))?;
    let seconds = started.elapsed().as_secs_f64();
    let (cpu_s, precise) = cpu_between(&cpu_before, &read_cpu(app.pid()), ticks_per_second);
    let hits_after = hits(provider, http).await?;
    Ok(TokenPass {
        cpu_us: cpu_s * 1e6 / latency_ms.len().max(1) as f64,
        precise,
        latency_ms,
        seconds,
        introspections: hit_delta(&hits_before, &hits_after, INTROSPECTION),
    })
}

/// ring's RS256 verification of `jwt` against the provider's key, in this process: the
/// median of 5 means of 400, µs. What a local check cannot do without.
pub(crate) async fn rs256_verify_us(
    http: &reqwest::Client,
    issuer: &str,
    jwt: &str,
) -> Result<f64> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts[..] else {
        bail!("the JWT access token has {} parts, not 3", parts.len());
    };
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64)?)?;
    if header["alg"] != "RS256" {
        bail!(
            "the JWT access token is signed with {}, not RS256",
            header["alg"]
        );
    }
    let jwks: serde_json::Value = http
        .get(format!("{issuer}{JWKS}"))
        .send()
        .await?
        .json()
        .await?;
    let Some(key) = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == header["kid"]))
    else {
        bail!("no key {} in the provider's JWKS", header["kid"]);
    };
    let component = |name: &str| -> Result<Vec<u8>> {
        let value = key[name].as_str().ok_or("an RSA key without n or e")?;
        Ok(URL_SAFE_NO_PAD.decode(value)?)
    };
    let public = ring::signature::RsaPublicKeyComponents {
        n: component("n")?,
        e: component("e")?,
    };
    let message = format!("{header_b64}.{payload_b64}");
    let signature = URL_SAFE_NO_PAD.decode(signature_b64)?;
    let verify = || {
        public.verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            message.as_bytes(),
            &signature,
        )
    };
    verify().map_err(|_| "the JWT access token's signature does not verify")?;
    let mut means = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..400 {
            std::hint::black_box(verify()).ok();
        }
        means.push(started.elapsed().as_secs_f64() * 1e6 / 400.0);
    }
    Ok(median(&means))
}

/// Step 9: every bearer setup in turn; the report's section and whether every target was met.
pub(crate) async fn bearer_run(options: &Options, env: &Env) -> Result<(String, bool)> {
    let started = Instant::now();
    let api = env.api.as_deref().ok_or("no api binary")?;
    eprintln!(
        "==> bearer tokens: {}; {} tokens in rotation",
        BEARER_SETUPS.map(Validation::label).join(", "),
        options.tokens
    );
    let mut figures = Vec::new();
    for (&validation, &port) in BEARER_SETUPS.iter().zip(&env.bearer_ports) {
        figures.push(measure_bearer(options, env, api, validation, port).await?);
    }
    Ok(bearer_report(options, &figures, started.elapsed()))
}

pub(crate) async fn measure_bearer(
    options: &Options,
    env: &Env,
    api: &Path,
    validation: Validation,
    port: u16,
) -> Result<BearerFigures> {
    let started = Instant::now();
    let (http, ticks_per_second) = (&env.http, env.ticks_per_second);
    let origin = format!("http://127.0.0.1:{port}");
    // The API as the provider's resource server: its tokens name it in `aud`.
    let resource = format!("{origin}/api");
    let clients = serde_json::json!([
        client_registration(&[origin], CLIENT_ID, CLIENT_SECRET),
        {
            "client_id": CALLER_ID,
            "client_secret": CALLER_SECRET,
            "grant_types": ["client_credentials"],
            "response_types": [],
            "redirect_uris": [],
        },
    ]);
    // Declared before the app, so dropped after it: the app stops first.
    let provider = start_provider(
        &clients,
        &[
            ("OP_RESOURCE", &resource),
            ("OP_RESOURCE_FORMAT", validation.token_format()),
        ],
    )?;
    let provider_keys = format!(
        ", access_token_validation=\"{}\", access_token_audience=\"{resource}\", \
         introspection_cache_seconds={INTROSPECTION_CACHE_SECONDS}",
        validation.config()
    );
    let mut app = start_rocket(
        api,
        port,
        &provider.issuer,
        &env.work_dir,
        Some(&Variant {
            name: validation.app_name(),
            oidc_keys: "",
            provider_keys: &provider_keys,
            // Only failures log: the load sees none, the checks say why.
            log_level: "critical",
        }),
    )?;
    wait_ready(&mut app, http).await?;
    let pid = app.pid();
    eprintln!(
        "==> {} at {} (pid {}), its provider at {} (OP_RESOURCE_FORMAT={})",
        app.name,
        app.url,
        pid,
        provider.issuer,
        validation.token_format()
    );

    // The one token: the guard refuses a request without it and takes it, at the cost of one
    // introspection (none for a JWT).
    let token = caller_token(http, &provider.issuer, &resource).await?;
    if (token.split('.').count() == 3) != (validation == Validation::Jwt) {
        bail!(
            "the provider (OP_RESOURCE_FORMAT={}) issued {token:?}",
            validation.token_format()
        );
    }
    let me_url = format!("{}{ME}", app.url);
    let (status, body) = get_me(http, &me_url, None).await?;
    if status != 401 {
        bail!(
            "{}: {ME} without a token answered {status}: {body}",
            app.name
        );
    }
    let before = hits(&provider, http).await?;
    let (status, body) = get_me(http, &me_url, Some(&token)).await?;
    check_me(app.name, status, &body).map_err(|e| format!("{e}\n{}", tail(&app.log, 20)))?;
    let check_introspections = hit_delta(&before, &hits(&provider, http).await?, INTROSPECTION);
    let rs256_us = match validation {
        Validation::Jwt => Some(rs256_verify_us(http, &provider.issuer, &token).await?),
        Validation::Introspection => None,
    };

    // The many tokens: each sent once (a cache miss: an introspection) and once again (a
    // hit); a file of their Authorization headers for wrk.
    let mut passes = None;
    let mut tokens_file = None;
    let mut tokens_seconds = 0.0;
    if options.tokens > 0 {
        let fetch_started = Instant::now();
        let tokens = {
            let (http, issuer, resource) =
                (http.clone(), provider.issuer.clone(), resource.clone());
            in_parallel(
                options.tokens,
                options.login_concurrency,
                "the client credentials grants",
                move |_| {
                    let (http, issuer, resource) = (http.clone(), issuer.clone(), resource.clone());
                    async move { caller_token(&http, &issuer, &resource).await }
                },
            )
            .await?
        };
        tokens_seconds = fetch_started.elapsed().as_secs_f64();
        let distinct: std::collections::HashSet<&String> = tokens.iter().collect();
        if distinct.len() != tokens.len() {
            bail!(
                "{} client credentials grants gave only {} distinct tokens",
                tokens.len(),
                distinct.len()
            );
        }
        let tokens = Arc::new(tokens);
        let pass = || {
            token_pass(
                &app,
                &provider,
                http,
                &tokens,
                options.connections as usize,
                ticks_per_second,
            )
        };
        let (first, second) = (pass().await?, pass().await?);
        for (n, p) in [("first", &first), ("second", &second)] {
            eprintln!(
                "    {} tokens, the {n} request of each: {:.1} µs app CPU/req{}, latency median \
                 {:.2} ms, {} introspections, {:.1} s",
                tokens.len(),
                p.cpu_us,
                if p.precise { "" } else { " (ticks)" },
                median(&p.latency_ms),
                p.introspections,
                p.seconds
            );
        }
        passes = Some([first, second]);
        // Named by pid: two runs at once must not send each other's tokens.
        let file = env.work_dir.join(format!(
            "tokens-{}-{}.txt",
            validation.config(),
            std::process::id()
        ));
        let lines: String = tokens.iter().map(|t| format!("Bearer {t}\n")).collect();
        fs::write(&file, lines)?;
        tokens_file = Some(file);
    }

    // Load: `/` with no header, `/api/me` with the one token, and with the many in turn.
    let bearer = format!("Bearer {token}");
    let mut loads = vec![
        ("/", "/", Credentials::None),
        (ME, ME, Credentials::One("Authorization", &bearer)),
    ];
    if let Some(file) = &tokens_file {
        loads.push((ME_MANY, ME, Credentials::Rotate("Authorization", file)));
    }
    let hits_before = hits(&provider, http).await?;
    if options.bearer_warmup_seconds > 0 {
        for &(_, path, credentials) in &loads {
            let url = format!("{}{path}", app.url);
            let seconds = options.bearer_warmup_seconds;
            warm_up(app.name, options.shape(), &url, credentials, seconds)?;
        }
    }
    let mut routes: BTreeMap<&'static str, RouteSamples> = BTreeMap::new();
    let mut max_other_load: f64 = 0.0;
    for round in 0..options.bearer_rounds as usize {
        for k in 0..loads.len() {
            // Rotate the order so that no load always runs first.
            let (name, path, credentials) = loads[(round + k) % loads.len()];
            let m = measured_wrk(
                &[pid],
                ticks_per_second,
                options.shape(),
                &format!("{}{path}", app.url),
                credentials,
                options.bearer_seconds,
            )?;
            max_other_load = max_other_load.max(m.other_load);
            eprintln!(
                "    round {} {:<12} {:<20} {:>8.0} req/s  {:>6.1} µs CPU/req  non-200 {}  other \
                 load {:.0}% of a core{}",
                round + 1,
                validation.token_format(),
                name,
                m.rps(),
                m.us(0),
                m.result.non200,
                m.other_load * 100.0,
                if m.precise { "" } else { "  (ticks)" }
            );
            routes.entry(name).or_default().add(&m);
        }
    }
    let hits_after = hits(&provider, http).await?;
    let rss_after_load_kb = rss_kb(pid);
    drop(app);
    drop(provider);
    if let Some(file) = &tokens_file {
        let _ = fs::remove_file(file);
    }
    Ok(BearerFigures {
        validation,
        routes,
        token_bytes: token.len(),
        check_introspections,
        load_introspections: hit_delta(&hits_before, &hits_after, INTROSPECTION),
        load_jwks: hit_delta(&hits_before, &hits_after, JWKS),
        tokens: options.tokens,
        tokens_seconds,
        passes,
        rs256_us,
        rss_after_load_kb,
        max_other_load,
        seconds: started.elapsed().as_secs_f64(),
    })
}
