//! The servers the tests use, shared with them rather than copied: the Node test provider
//! (`tests/common/node_op.rs`), `redis-server` (`tests/common/redis.rs`) and Prometheus
//! (`tests/common/prometheus.rs`) are compiled into
//! the harness from the tests' own files; this module adds what only the harness needs (all
//! of the provider's request counts at once, Redis's command counts).
//!
//! Those files find `tests/op` from `CARGO_MANIFEST_DIR`, which `bench/build.rs` points at
//! the repository root. They panic, with an install hint, when `node`, `npm` or
//! `redis-server` is missing, as the tests do.

use std::collections::BTreeMap;

use crate::Result;

#[path = "../../../tests/common/node_op.rs"]
mod node_op;
// The metrics test reads single values too; the dashboard run only ranges.
#[allow(dead_code)]
#[path = "../../../tests/common/prometheus.rs"]
mod prometheus;
#[path = "../../../tests/common/redis.rs"]
mod redis;

pub(crate) use node_op::{
    confirm_logout, through_provider, AtProvider, NodeOp, CLIENT_ID, CLIENT_SECRET,
};
pub(crate) use prometheus::Prometheus;
pub(crate) use redis::RedisServer;

/// A test provider (`tests/op`) on `localhost`, with `clients` (`OP_CLIENTS`) and more `OP_*`
/// `settings` (tests/op/README.md); stopped when dropped.
pub(crate) fn start_provider(
    clients: &serde_json::Value,
    settings: &[(&str, &str)],
) -> Result<NodeOp> {
    let clients = clients.to_string();
    let mut env = vec![("OP_HOST", "localhost"), ("OP_CLIENTS", clients.as_str())];
    env.extend_from_slice(settings);
    let op = NodeOp::start(&env);
    if !op.issuer.starts_with("http://localhost:") {
        bail!("the test provider is not on localhost: {}", op.issuer);
    }
    Ok(op)
}

/// Requests the provider served so far, by path (`GET /__test/hits`), in one request.
pub(crate) async fn hits(op: &NodeOp, http: &reqwest::Client) -> Result<BTreeMap<String, u64>> {
    Ok(http
        .get(format!("{}/__test/hits", op.issuer))
        .send()
        .await?
        .json()
        .await?)
}

/// Requests to `path` between two readings of [`hits`].
pub(crate) fn hit_delta(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    path: &str,
) -> u64 {
    after
        .get(path)
        .copied()
        .unwrap_or(0)
        .saturating_sub(before.get(path).copied().unwrap_or(0))
}

/// The server's process id (it runs until dropped).
pub(crate) fn redis_pid(redis: &RedisServer) -> Result<u32> {
    Ok(redis.pid().ok_or("redis-server is not running")?)
}

/// Keys in the server's database.
pub(crate) fn redis_keys(redis: &RedisServer) -> Result<u64> {
    Ok(redis.cli(&["DBSIZE"]).parse()?)
}

/// Calls per command so far (`INFO commandstats`), without the harness's own.
pub(crate) fn redis_command_calls(redis: &RedisServer) -> BTreeMap<String, u64> {
    let info = redis.cli(&["INFO", "commandstats"]);
    let mut calls = BTreeMap::new();
    for line in info.lines() {
        let Some((name, fields)) = line
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        if matches!(name, "info" | "ping" | "dbsize" | "command") {
            continue;
        }
        if let Some(n) = fields
            .split(',')
            .find_map(|f| f.strip_prefix("calls="))
            .and_then(|n| n.parse().ok())
        {
            calls.insert(name.to_string(), n);
        }
    }
    calls
}
