//! The integration tests, in one binary: each module drives a real Rocket app (mostly the
//! quickstart example) against a real OpenID Provider: `fake_op_*`, `callback_security`,
//! `launch`… against the misbehaving provider in Rust, `*_real_op` against panva's
//! certified `oidc-provider` (Node), and the Redis ones against real `redis-server`s.
//!
//! `cargo test --test it` runs them all; `cargo test --test it logout::` one module. The
//! shared support (providers, `TestApp`, the browser's requests) is in `tests/common/`.

#[path = "../common/mod.rs"]
mod common;

mod api_real_op;
mod backchannel_real_op;
mod callback_security;
mod client_auth_real_op;
mod config_env;
mod dpop_real_op;
mod encrypted_responses;
mod encryption_real_op;
mod fake_op_api;
mod fake_op_client;
mod fake_op_selftest;
mod fapi_real_op;
mod form_post;
mod front_channel_real_op;
mod http_client_real_op;
mod initiate_login;
mod jarm;
mod large_sessions;
mod launch;
mod limits;
mod login_params_real_op;
mod login_real_op;
mod logout;
mod profile_backchannel_logout;
mod profile_basic;
mod profile_config;
mod profile_dynamic;
mod profile_form_post;
mod profile_frontchannel_logout;
mod profile_hybrid;
mod profile_implicit;
mod profile_rp_initiated_logout;
mod profile_third_party_init;
// Several instances on one Redis: needs the Redis store (`--features redis`).
#[cfg(feature = "redis")]
mod mtls_real_op;
mod multi_instance;
mod provider_script;
mod readiness;
mod registration_real_op;
mod sessions;
mod support;
mod token_lifetime;
mod traceparent_real_op;
