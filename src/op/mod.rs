//! The provider at run time: its metadata and keys (discovered, cached, refetched), and
//! every call the flows make to it (token, UserInfo, revocation).

pub(crate) mod client;
pub(crate) mod discovery;
pub(crate) mod registration;
mod revocation;

pub(crate) use revocation::PROVIDER_WAIT;
