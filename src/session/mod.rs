//! Sessions: what a logged-in user's session holds ([`data`]), how it travels in sealed
//! cookies ([`codec`]), and where it lives between requests ([`backend`]: in the cookie
//! itself, with [`marks`] of the ones that ended, or in a store of [`crate::store`]).

mod backend;
mod codec;
mod data;
mod failure;
mod marks;

pub(crate) use backend::{EndedSessions, Loaded, Refreshed, SessionBackend, SessionScope};
#[cfg(test)]
pub(crate) use codec::chunk_count;
pub(crate) use codec::{stored_chunks, CookieCipher, CookieFactory, CookieQueue};
pub(crate) use data::{session_cookie_name, NewSession, SessionData};
pub(crate) use failure::store_failed;
pub(crate) use marks::{Ended, Marks};
