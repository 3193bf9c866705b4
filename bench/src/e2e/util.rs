//! Small helpers: free ports, random tokens, URLs, statistics, how figures are written.

use std::fs;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;

use crate::procfs::loadavg;
use crate::Result;

/// `n` distinct free ports (all bound at once, then released).
pub(crate) fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

pub(crate) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(32))
}

pub(crate) fn absolute(base: &str, location: &str) -> Result<String> {
    Ok(url::Url::parse(base)?.join(location)?.to_string())
}

pub(crate) fn location(response: &reqwest::Response) -> Result<String> {
    let Some(value) = response.headers().get("location") else {
        bail!(
            "{} from {} without a Location",
            response.status(),
            response.url()
        );
    };
    absolute(response.url().as_str(), value.to_str()?)
}

pub(crate) fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

/// Nearest-rank percentile.
pub(crate) fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub(crate) fn us(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v >= 100.0 {
        format!("{v:.0} µs")
    } else {
        format!("{v:.1} µs")
    }
}

pub(crate) fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{v:.2} ms")
    }
}

pub(crate) fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

/// The load average now, and `max_other`: the most CPU other processes used in a round, as a
/// share of one core.
pub(crate) fn load_note(max_other: f64) -> String {
    format!(
        "Load average (1 min) at the end: {}. Other processes during these rounds: at most \
         {:.0}% of a core{}",
        loadavg(),
        max_other * 100.0,
        if max_other > 0.1 {
            " (more than 10%: the figures are disturbed, rerun on a quiet machine)"
        } else {
            ""
        }
    )
}
