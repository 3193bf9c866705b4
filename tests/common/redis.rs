//! Real Redis servers for tests: a standalone `redis-server` and a three-master Redis
//! Cluster, each on free loopback ports with its own temporary directory, killed (by their
//! `Child` handles) when dropped.
//!
//! Needs Debian's `redis-server` and `redis-cli` (`apt-get install -y redis-server`); it
//! panics, with that hint, when they are missing: tests never skip. `REDIS_SERVER` and
//! `REDIS_CLI` may name other binaries.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long a server may take to start answering `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a new cluster may take to agree that it is whole.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

fn server_bin() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

fn cli_bin() -> String {
    std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".to_owned())
}

/// Panics with an install hint unless `bin --version` runs.
fn require(bin: &str) {
    match Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => {}
        other => panic!(
            "`{bin}` is needed by the Redis tests but can't be run ({other:?}): install it \
             with `apt-get install -y redis-server` (Debian), or point REDIS_SERVER / \
             REDIS_CLI at the binaries"
        ),
    }
}

/// A fresh, empty directory under the system's temp dir.
fn temp_dir(tag: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "redis-test-{}-{}-{tag}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temp dir for redis-server");
    dir
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// A loopback port that is free now; with `bus`, port + 10000 (a cluster node's bus
/// port) is free too. Both lie below the kernel's ephemeral range (32768 and up on Linux),
/// so that no server listening on port 0 (a test provider) and no outgoing connection
/// takes them before redis-server binds them; each call in this process gets another.
fn free_port(bus: bool) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(104_729);
    for _ in 0..2_700 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (start.wrapping_add(n) % 2_700) as u16;
        if port_is_free(port) && (!bus || port_is_free(port + 10_000)) {
            return port;
        }
    }
    panic!("found no free loopback port between 20000 and 22700");
}

/// Sends `PING` the plain-RESP way; true when the server answers it.
fn pings(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    // `+PONG`, or `-NOAUTH …` from a server with a password: either way it answers.
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && (&buf == b"+PONG\r\n" || buf.starts_with(b"-NOAUTH"))
}

/// Sends a signal by `kill(1)`, to a process of ours, by PID.
fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {pid} failed");
}

/// One `redis-server` process of ours (standalone, or one cluster node).
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    cluster: bool,
    extra: Vec<String>,
}

impl RedisServer {
    /// A standalone server on a free port, without persistence.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// A standalone server with extra `redis-server` arguments (e.g.
    /// `["--requirepass", "secret"]`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        RedisServer::launch(false, extra)
    }

    fn launch(cluster: bool, extra: &[&str]) -> RedisServer {
        require(&server_bin());
        let mut last_log = String::new();
        // A port found free can be taken before redis-server binds it: try another.
        for _ in 0..5 {
            let mut server = RedisServer {
                child: None,
                port: free_port(cluster),
                dir: temp_dir(if cluster { "node" } else { "standalone" }),
                cluster,
                extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!("redis-server did not start; its last log:\n{last_log}");
    }

    /// Starts the process on `self.port`; Err(log) when it exits or never answers.
    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = Command::new(server_bin());
        cmd.arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.log_path());
        if self.cluster {
            cmd.args(["--cluster-enabled", "yes"])
                .arg("--cluster-config-file")
                .arg(self.dir.join("nodes.conf"))
                // Long enough that a test's short pause doesn't get a node failed over.
                .args(["--cluster-node-timeout", "15000"]);
        }
        cmd.args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("could not run {}: {e}", server_bin()));
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status}\n{}", self.log()));
            }
            if pings(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no PONG within {START_TIMEOUT:?}\n{}", self.log()));
            }
            sleep(Duration::from_millis(10));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Its directory (logs, `nodes.conf`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Freezes the process (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        signal(self.pid().expect("server is not running"), "STOP");
    }

    /// Unfreezes it (SIGCONT).
    pub fn resume(&self) {
        signal(self.pid().expect("server is not running"), "CONT");
    }

    /// Kills the process (SIGKILL) and waits for it; the port is then refused.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a stopped server again on the same port and directory (a cluster node
    /// keeps its identity and slots through `nodes.conf`; data is gone).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "server is still running");
        let started = Instant::now();
        // The port was just ours, but give the kernel a moment if it disagrees.
        let mut last = String::new();
        while started.elapsed() < START_TIMEOUT {
            match self.spawn() {
                Ok(()) => return,
                Err(log) => last = log,
            }
            sleep(Duration::from_millis(50));
        }
        panic!(
            "redis-server did not restart on port {}:\n{last}",
            self.port
        );
    }

    /// [`Self::stop`] then [`Self::start_again`].
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Runs `redis-cli -p PORT args…` (following cluster redirects) and returns its
    /// trimmed output.
    pub fn cli(&self, args: &[&str]) -> String {
        require(&cli_bin());
        let out = Command::new(cli_bin())
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-c"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("could not run {}: {e}", cli_bin()));
        assert!(
            out.status.success(),
            "redis-cli {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL also ends a stopped (paused) process.
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of three masters (no replicas) on loopback.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, joins them with `redis-cli --cluster create`,
    /// and waits until every node reports `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        require(&cli_bin());
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::launch(true, &[])).collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new(cli_bin())
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("could not run {}: {e}", cli_bin()));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_ok();
        cluster
    }

    /// Waits until every running node says `cluster_state:ok` and knows all three nodes.
    pub fn wait_ok(&self) {
        let started = Instant::now();
        loop {
            let infos: Vec<String> = self
                .nodes
                .iter()
                .filter(|n| n.child.is_some())
                .map(|n| n.cli(&["CLUSTER", "INFO"]))
                .collect();
            if infos.iter().all(|info| {
                info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
            }) {
                return;
            }
            assert!(
                started.elapsed() < CLUSTER_TIMEOUT,
                "cluster not ok after {CLUSTER_TIMEOUT:?}: {infos:#?}"
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// `redis://127.0.0.1:{port}/` of each node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes, to pause or restart one.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// One node, mutably (for [`RedisServer::restart`]).
    pub fn node_mut(&mut self, i: usize) -> &mut RedisServer {
        &mut self.nodes[i]
    }

    /// The node that serves `key`'s hash slot.
    pub fn node_for_key(&self, key: &str) -> &RedisServer {
        let slot: u16 = self.nodes[0]
            .cli(&["CLUSTER", "KEYSLOT", key])
            .parse()
            .expect("CLUSTER KEYSLOT answers a number");
        // Lines of `CLUSTER NODES`: id ip:port@bus flags master ping pong epoch link slots…
        let table = self.nodes[0].cli(&["CLUSTER", "NODES"]);
        for line in table.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let owns = fields.iter().skip(8).any(|range| {
                let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                match (lo.parse::<u16>(), hi.parse::<u16>()) {
                    (Ok(lo), Ok(hi)) => (lo..=hi).contains(&slot),
                    _ => false,
                }
            });
            if !owns {
                continue;
            }
            let port: u16 = fields[1]
                .split('@')
                .next()
                .and_then(|addr| addr.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .expect("CLUSTER NODES names ip:port");
            if let Some(node) = self.nodes.iter().find(|n| n.port == port) {
                return node;
            }
        }
        panic!("no node owns slot {slot}:\n{table}");
    }
}
