//! A real Prometheus (Debian's `/usr/bin/prometheus`) on a loopback port, scraping one
//! target every second, read back through its HTTP API. The metrics test uses it, and the
//! benchmark member's dashboard run (compiled in by path).
//!
//! Prometheus is required: a missing one panics with the install hint, never skips.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const PROMETHEUS: &str = "/usr/bin/prometheus";

/// A Prometheus scraping `target` every second, stopped (and its data removed) on drop.
pub struct Prometheus {
    child: Child,
    pub url: String,
    dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus on `127.0.0.1:port`, scraping `target` (`host:port`) every second.
    pub fn start(target: &str, port: u16) -> Prometheus {
        assert!(
            Path::new(PROMETHEUS).exists(),
            "{PROMETHEUS} is missing: the metrics test needs Debian's Prometheus. Install it \
             with `apt-get install prometheus` (.ci/run does)."
        );
        let dir = std::env::temp_dir().join(format!(
            "rocket-oidc-prometheus-{}-{port}",
            std::process::id(),
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: app\n    scrape_interval: 1s\n    \
                 static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    pub async fn wait_ready(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(response) = reqwest::get(format!("{}/-/ready", self.url)).await {
                if response.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("prometheus at {} not ready within 30 s", self.url);
    }

    /// Prometheus's answer to `GET /api/v1/{api}` with `query`: its JSON, whatever the status.
    pub async fn api(&self, api: &str, query: &[(&str, &str)]) -> Result<Value, reqwest::Error> {
        reqwest::Client::new()
            .get(format!("{}/api/v1/{api}", self.url))
            .query(query)
            .timeout(Duration::from_secs(10))
            .send()
            .await?
            .json()
            .await
    }

    /// The value of the instant query `query` (one series, or the sum of all), if any.
    pub async fn value(&self, query: &str) -> Option<f64> {
        let response = self.api("query", &[("query", query)]).await.ok()?;
        let results = response["data"]["result"].as_array()?;
        if results.is_empty() {
            return None;
        }
        Some(
            results
                .iter()
                .filter_map(|r| r["value"][1].as_str()?.parse::<f64>().ok())
                .sum(),
        )
    }

    /// Waits (a few scrapes at most) until `query` is at least `at_least`.
    pub async fn expect(&self, query: &str, at_least: f64) {
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < Duration::from_secs(20) {
            last = self.value(query).await;
            if last.is_some_and(|v| v >= at_least) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("{query}: expected at least {at_least}, Prometheus has {last:?}");
    }

    /// Every label value of every `oidc_*` series Prometheus holds.
    pub async fn label_values(&self) -> Vec<String> {
        let response = self
            .api("series", &[("match[]", "{__name__=~\"oidc_.*\"}")])
            .await
            .unwrap();
        response["data"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|series| series.as_object().unwrap().values())
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
