//! Sessions: what a logged-in user's session holds ([`data`]), how it travels in sealed
//! cookies ([`codec`]), and where it lives between requests ([`backend`]: in the cookie
//! itself, or in a store of [`crate::store`]).

mod backend;
mod codec;
mod data;

pub(crate) use backend::{
    store_failed, EndedSessions, Loaded, Marks, Refreshed, SessionBackend, SessionScope,
};
#[cfg(test)]
pub(crate) use codec::chunk_count;
pub(crate) use codec::{stored_chunks, CookieCipher, CookieFactory, CookieQueue};
pub(crate) use data::{session_cookie_name, NewSession, SessionData};
