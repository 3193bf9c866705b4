//! Protocol: pure functions and the one HTTP client. Nothing here knows Rocket's requests,
//! the sessions or the flows; the layers above call down into it.

pub(crate) mod access_token;
pub(crate) mod base64url;
pub(crate) mod dpop;
pub(crate) mod http;
pub(crate) mod id_token;
pub(crate) mod jarm;
pub(crate) mod jwk;
pub(crate) mod jws;
pub(crate) mod logout_token;
pub(crate) mod random;
pub(crate) mod time;
pub(crate) mod userinfo_jwt;
