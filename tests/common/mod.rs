//! Test support, shared by the integration tests (`tests/it`) and the browser suite
//! (`tests/browser.rs`): one place for the test providers, the apps under test and the
//! browser's part of a login.
//!
//! | module | what it gives a test |
//! | --- | --- |
//! | [`app`] | [`app::TestApp`], the builder of an app under test, and the browser's requests |
//! | [`fake_op`] | a provider written in Rust that misbehaves on purpose |
//! | [`jwe`] | the provider's side of JWE: encryption to a client's key, for `fake_op` |
//! | [`node_op`] | panva's certified `oidc-provider` (Node), and its login pages |
//! | [`clients`] | clients of the Node provider (keys, client authentication) and logins at it |
//! | [`api_app`] | the API example, and tokens for it |
//! | [`pki`] | a test CA, the https provider's certificate and mutual-TLS client certificates, by `openssl` |
//! | [`prometheus`] | a real Prometheus scraping an app, read through its HTTP API |
//! | [`redis`] | real `redis-server`s: standalone and a three-master cluster |
//! | [`server`] | the quickstart on a real port, for real HTTP clients |
//!
//! `fake_op`, `node_op`, `prometheus`, `redis` and `server` are also compiled into the benchmark member by
//! path: keep their names and public items (`fake_op` needs `jwe` beside it).
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod api_app;
pub mod app;
pub mod clients;
pub mod fake_op;
pub mod jwe;
pub mod node_op;
pub mod pki;
pub mod prometheus;
pub mod redis;
pub mod server;
