//! The provider at run time: its metadata and keys (discovered, cached, refetched), and
//! every call the flows make to it, one module per endpoint:
//!
//! - [`client`]: the [`ProviderClient`](client::ProviderClient) and its cached state, the
//!   [`Resolved`](client::Resolved) metadata, OAuth error answers
//! - `refreshing`: the one cache of what is fetched and reloaded (metadata, keys)
//! - `client_auth`: the client's authentication at every endpoint, with client assertions
//! - [`discovery`]: fetching the discovery document and the JWKS
//! - `metadata`: loading, checking and reloading the metadata; the client's identity
//! - `keys`: the JWKS, refetched for an unknown `kid`; the algorithms the client accepts
//! - `authorize`: the authorization URL, pushed first with PAR
//! - `request_object`: the authorization request as a signed request object (RFC 9101)
//! - `token`: the code exchange, refresh and client credentials grants
//! - `id_token`: validating ID tokens and back-channel logout tokens
//! - `userinfo`: the UserInfo request
//! - `introspection`: token introspection for APIs
//! - `revocation`: token revocation, bounded in time
//! - `budget`: bounds on the calls anonymous requests can cause (`[oidc.limits]`)
//! - [`registration`]: dynamic client registration and where its result is kept

mod authorize;
mod budget;
pub(crate) mod client;
mod client_auth;
pub(crate) mod discovery;
mod id_token;
mod introspection;
mod jarm;
mod keys;
mod metadata;
mod refreshing;
pub(crate) mod registration;
mod request_object;
mod revocation;
mod token;
mod userinfo;

pub(crate) use authorize::LoginParams;
pub(crate) use id_token::{FrontChannel, LoginCheck};
pub(crate) use revocation::PROVIDER_WAIT;
