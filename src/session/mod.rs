//! Sessions: what a logged-in user's session holds ([`data`]), how it travels in sealed
//! cookies ([`codec`]), and where it lives between requests ([`store`]: in the cookie itself,
//! in this process, or in Redis).

mod codec;
mod data;
mod memory;
#[cfg(feature = "redis")]
mod redis;
mod store;

#[cfg(test)]
pub(crate) use codec::chunk_count;
pub(crate) use codec::{stored_chunks, CookieCipher, CookieFactory, CookieQueue};
pub(crate) use data::{session_cookie_name, NewSession, SessionData};
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::{RedisConfig, RedisStore};
pub use store::{SessionIndex, SessionRecord, SessionStore, SetMode, StoreError};
