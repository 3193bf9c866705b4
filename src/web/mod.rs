//! Everything Rocket: the fairing, the request guards, the mounted routes, the per-request
//! state the fairing's response hook reads, and the launch summary.

pub(crate) mod api;
pub(crate) mod claims;
pub(crate) mod fairing;
pub(crate) mod guard;
pub(crate) mod initiate;
pub(crate) mod login;
pub(crate) mod logout;
mod ready;
mod relay;
pub(crate) mod request_state;
pub(crate) mod routes;
pub(crate) mod sentinel;
pub(crate) mod summary;
