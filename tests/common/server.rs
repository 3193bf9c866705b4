//! The quickstart example as a real HTTP server on a free 127.0.0.1 port, with the Node test
//! provider on `localhost` (another site, as in real life), for tests that drive a real
//! browser or any other real HTTP client.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::time::Duration;

use rocket::Shutdown;

use super::app;
use super::node_op::{self, clients_for, NodeOp};

/// A running quickstart app and its provider; call [`RunningApp::stop`] at the end.
pub struct RunningApp {
    /// The app's origin, `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
    /// The provider, with issuer `http://localhost:PORT`.
    pub op: NodeOp,
    shutdown: Shutdown,
    server: tokio::task::JoinHandle<Result<rocket::Rocket<rocket::Ignite>, rocket::Error>>,
}

/// A free port on 127.0.0.1 for a server a test starts later, below the kernel's ephemeral
/// range (32768 and up on Linux): no provider listening on port 0 and no outgoing
/// connection can take it between this call and the server's bind, as one did when ports
/// came from binding port 0. Each call in this process gets another port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919);
    for _ in 0..12_000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (start.wrapping_add(n) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("found no free port between 20000 and 32000 on 127.0.0.1");
}

/// A quickstart app served on a real port (without a provider of its own).
pub struct Served {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shutdown: Shutdown,
    server: tokio::task::JoinHandle<Result<rocket::Rocket<rocket::Ignite>, rocket::Error>>,
}

impl Served {
    /// Serves the quickstart on `port` for the provider at `issuer`, with `redirect_uri`
    /// and `oidc_extra` lines under `[default.oidc]`; waits until it answers `GET /`.
    pub async fn start(issuer: &str, port: u16, redirect_uri: &str, oidc_extra: &str) -> Served {
        Served::start_with(issuer, port, redirect_uri, oidc_extra, &[]).await
    }

    /// [`Served::start`] with `settings` (dotted keys, e.g.
    /// `oidc.providers.default.response_mode`) over the configuration.
    pub async fn start_with(
        issuer: &str,
        port: u16,
        redirect_uri: &str,
        oidc_extra: &str,
        settings: &[(&str, &str)],
    ) -> Served {
        let url = format!("http://127.0.0.1:{port}");
        let mut app = app::TestApp::quickstart();
        for (key, value) in settings {
            app = app.set(key, *value);
        }
        let rocket = app
            .issuer(issuer)
            .client(node_op::CLIENT_ID, node_op::CLIENT_SECRET)
            .oidc(oidc_extra)
            .set("port", port)
            .set("address", "127.0.0.1")
            .set("oidc.redirect_uri", redirect_uri)
            .rocket()
            .ignite()
            .await
            .expect("the quickstart ignites");
        let shutdown = rocket.shutdown();
        let server = tokio::spawn(rocket.launch());

        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let mut status = None;
        for _ in 0..100 {
            if server.is_finished() {
                let result = server.await;
                panic!("the quickstart stopped at launch: {result:?}");
            }
            if let Ok(response) = client.get(format!("{url}/")).send().await {
                status = Some(response.status().as_u16());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            status,
            Some(200),
            "the quickstart should answer GET / at {url}"
        );
        Served {
            url,
            shutdown,
            server,
        }
    }

    /// Stops the app (gracefully, bounded).
    pub async fn stop(self) {
        self.shutdown.notify();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
    }
}

impl RunningApp {
    /// Starts the provider (`OP_HOST=localhost`, the client registered for this app's port)
    /// and the quickstart with `oidc_extra` lines under `[default.oidc]`; waits until the
    /// app answers `GET /`.
    pub async fn start(oidc_extra: &str) -> RunningApp {
        RunningApp::start_with(oidc_extra, &[]).await
    }

    /// [`RunningApp::start`] with `settings` (dotted keys) over the configuration.
    pub async fn start_with(oidc_extra: &str, settings: &[(&str, &str)]) -> RunningApp {
        RunningApp::start_with_op(oidc_extra, settings, &[]).await
    }

    /// [`RunningApp::start_with`] with more environment for the provider (`OP_*`).
    pub async fn start_with_op(
        oidc_extra: &str,
        settings: &[(&str, &str)],
        op_env: &[(&str, &str)],
    ) -> RunningApp {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let redirect_uri = format!("{url}/redirect_uri");
        let clients = clients_for(&redirect_uri);
        let mut env = vec![("OP_HOST", "localhost"), ("OP_CLIENTS", clients.as_str())];
        env.extend_from_slice(op_env);
        let op = NodeOp::start(&env);
        assert!(
            op.issuer.starts_with("http://localhost:"),
            "the provider should be on localhost: {}",
            op.issuer
        );
        let served =
            Served::start_with(&op.issuer, port, &redirect_uri, oidc_extra, settings).await;
        RunningApp {
            url,
            op,
            shutdown: served.shutdown,
            server: served.server,
        }
    }

    /// Stops the app (gracefully, bounded) and then the provider.
    pub async fn stop(self) {
        self.shutdown.notify();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
    }
}
