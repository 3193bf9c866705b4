//! Sealed cookies: the encrypted, HttpOnly cookies that carry a session (or, with a
//! server-side store, its id), split into chunks when large.
//!
//! The session lives in one cookie per provider (`oidc_session_<provider>`), sealed with
//! AES-256-GCM under a key derived from Rocket's `secret_key` (the cookie name is bound in,
//! so a value cannot be moved between cookies). A tampered, truncated or foreign cookie
//! fails to open and is simply "not logged in". Attributes are always explicit:
//! `HttpOnly`, `SameSite=Lax` (the login returns by a cross-site top-level redirect, which
//! `Strict` would strip), `Path=/`, and `Secure` whenever the redirect URI is https
//! (see <https://owasp.org/www-community/controls/SecureCookieAttribute>).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use rocket::figment::value::Value as FigmentValue;
use rocket::figment::Figment;
use rocket::http::{Cookie, CookieJar, SameSite, Status};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

use super::data::SessionData;
use crate::config::{Config, ConfigError};
use crate::error::{ErrorKind, OidcError};
use crate::protocol::base64url;

/// Seals and opens this crate's cookies with AES-256-GCM; the key never leaves this type.
///
/// A sealed value is `base64url(nonce ‖ ciphertext ‖ tag)` with a random 96-bit nonce and the
/// cookie's name as associated data, so a value cannot be moved to another cookie.
pub(crate) struct CookieCipher {
    /// `ring`'s AES-256-GCM (assembly with AES-NI and CLMUL where the CPU has them).
    aead: LessSafeKey,
    /// The key of sessions kept in a store (derived from the cookie key with a label of
    /// its own, so cookies and records never share a key or a nonce space).
    records: LessSafeKey,
    /// Derives a record's nonce from what it seals (see [`CookieCipher::seal_record`]).
    record_nonces: ring::hmac::Key,
}

/// The version in front of a sealed session record.
const RECORD_VERSION: &str = "v1.";

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

impl std::fmt::Debug for CookieCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieCipher(REDACTED)")
    }
}

impl CookieCipher {
    /// Derives the cookie key from Rocket's `secret_key` (same formats Rocket accepts), with
    /// a label of its own so this crate's cookies and the app's private cookies never share a
    /// key. Without a `secret_key` (debug builds) a random key is used, as Rocket does.
    pub(crate) fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let master = match figment.find_value("secret_key") {
            Ok(value) => secret_key_bytes(&value)?,
            Err(_) => None,
        };
        if let Some(master) = &master {
            if is_published_key(master) {
                let allowed = figment
                    .find_value("oidc.dangerously_allow_published_secret_key")
                    .ok()
                    .and_then(|v| v.to_bool())
                    .unwrap_or(crate::config::defaults::DANGEROUSLY_ALLOW_PUBLISHED_SECRET_KEY);
                if !allowed || crate::config::is_release(figment) {
                    return Err(ConfigError::new(
                        "secret_key",
                        "is a published key (Rocket's documentation shows it): anyone can \
                         seal sessions with it and log in as anyone",
                        "generate your own with `openssl rand -base64 32` and keep it out of \
                         version control (for a throwaway debug setup only: \
                         oidc.dangerously_allow_published_secret_key = true)",
                    ));
                }
                log::warn!(
                    "oidc: secret_key is a published key, allowed by \
                     oidc.dangerously_allow_published_secret_key: anyone can forge sessions"
                );
            }
        }
        let key = match master {
            Some(master) => {
                let mut hasher = Sha256::new();
                hasher.update(b"rocket_oidc_auth cookie key v1\0");
                hasher.update(&master);
                cookie::Key::derive_from(&hasher.finalize())
            }
            None => {
                log::warn!(
                    "oidc: no secret_key configured: sessions are sealed with a random key and \
                     end when the app restarts; set secret_key (e.g. `openssl rand -base64 32`)"
                );
                cookie::Key::generate()
            }
        };
        Ok(CookieCipher::with_key(&key))
    }

    fn with_key(key: &cookie::Key) -> Self {
        let cookies = UnboundKey::new(&AES_256_GCM, key.encryption()).expect("a 256-bit key");
        let mut hasher = Sha256::new();
        hasher.update(b"rocket_oidc_auth store record key v1\0");
        hasher.update(key.encryption());
        let records = UnboundKey::new(&AES_256_GCM, &hasher.finalize()).expect("a 256-bit key");
        let mut hasher = Sha256::new();
        hasher.update(b"rocket_oidc_auth store record nonce key v1\0");
        hasher.update(key.encryption());
        CookieCipher {
            aead: LessSafeKey::new(cookies),
            records: LessSafeKey::new(records),
            record_nonces: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &hasher.finalize()),
        }
    }

    /// Seals a session for a store: `v1.` and `base64url(nonce ‖ ciphertext ‖ tag)`, with
    /// the provider and the session id bound in, so a record moved to another id (or
    /// another provider's session) does not open, and one written without the key neither.
    ///
    /// The nonce is an HMAC of the associated data and the text (a synthetic IV, as in
    /// RFC 5297): the same session seals to the same record, which the stores' compare-and-
    /// swap (`SessionStore::replace`) needs, and two different records never share a nonce.
    pub(crate) fn seal_record(&self, provider: &str, id: &str, text: &str) -> String {
        let aad = record_aad(provider, id);
        let mut context = ring::hmac::Context::with_key(&self.record_nonces);
        context.update(&(aad.len() as u64).to_be_bytes());
        context.update(&aad);
        context.update(text.as_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&context.sign().as_ref()[..NONCE_LEN]);
        let mut sealed = String::from(RECORD_VERSION);
        sealed.push_str(&seal_with(&self.records, nonce, &aad, text.as_bytes()));
        sealed
    }

    /// Opens a record [`seal_record`](Self::seal_record) sealed for `provider` and `id`.
    pub(crate) fn open_record(&self, provider: &str, id: &str, sealed: &str) -> Option<String> {
        let body = sealed.strip_prefix(RECORD_VERSION)?;
        String::from_utf8(open_with(&self.records, &record_aad(provider, id), body)?).ok()
    }

    #[cfg(test)]
    pub(crate) fn for_tests() -> Self {
        CookieCipher::with_key(&cookie::Key::generate())
    }

    /// Encrypts `value` for the cookie `name`.
    pub(crate) fn seal(&self, name: &str, value: &str) -> String {
        self.seal_bytes(name, value.as_bytes())
    }

    /// Encrypts `value` for the cookie `name`.
    pub(crate) fn seal_bytes(&self, name: &str, value: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        seal_with(&self.aead, nonce, name.as_bytes(), value)
    }

    /// Decrypts the cookie `name`'s value, or `None` when it was not sealed by this key.
    pub(crate) fn open(&self, name: &str, value: &str) -> Option<String> {
        String::from_utf8(self.open_bytes(name, value)?).ok()
    }

    /// Decrypts the cookie `name`'s value, or `None` when it was not sealed by this key.
    pub(crate) fn open_bytes(&self, name: &str, value: &str) -> Option<Vec<u8>> {
        open_with(&self.aead, name.as_bytes(), value)
    }

    /// Reads the session from the request's cookie(s) named `name`.
    ///
    /// Every request opens its cookie: with base64url in SIMD, AES-GCM in hardware and a
    /// session that reads without a parser, that costs less than a cache keyed by the
    /// cookie did once thousands of users take turns (it missed nearly always).
    pub(crate) fn read_session(&self, jar: &CookieJar<'_>, name: &str) -> StoredSession {
        let Some(first) = jar.get(name) else {
            return StoredSession {
                data: None,
                chunks: 0,
            };
        };
        let chunks = chunk_count(first.value());
        let data = if chunks == 1 {
            self.open_bytes(name, first.value())
        } else {
            assemble(jar, name, first.value(), chunks)
                .and_then(|sealed| self.open_bytes(name, &sealed))
        }
        .and_then(SessionData::decode);
        StoredSession { data, chunks }
    }
}

/// `base64url(nonce ‖ ciphertext ‖ tag)` of `value` under `key`, with `aad` bound in.
fn seal_with(key: &LessSafeKey, nonce: [u8; NONCE_LEN], aad: &[u8], value: &[u8]) -> String {
    let mut data = Vec::with_capacity(NONCE_LEN + value.len() + TAG_LEN);
    data.extend_from_slice(&nonce);
    data.extend_from_slice(value);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut data[NONCE_LEN..],
        )
        .expect("a session is far below AES-GCM's size limit");
    data.extend_from_slice(tag.as_ref());
    base64url::encode(&data)
}

/// Opens what [`seal_with`] sealed under `key` with `aad`, or `None`.
fn open_with(key: &LessSafeKey, aad: &[u8], value: &str) -> Option<Vec<u8>> {
    let mut data = base64url::decode(value.as_bytes())?;
    if data.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let nonce = Nonce::try_assume_unique_for_key(&data[..NONCE_LEN]).ok()?;
    let plain_len = key
        .open_in_place(nonce, Aad::from(aad), &mut data[NONCE_LEN..])
        .ok()?
        .len();
    data.truncate(NONCE_LEN + plain_len);
    data.drain(..NONCE_LEN);
    Some(data)
}

/// What a stored session's seal binds: the provider and the session id.
fn record_aad(provider: &str, id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + provider.len() + id.len());
    aad.extend_from_slice(b"rocket_oidc_auth session record\0");
    aad.extend_from_slice(provider.as_bytes());
    aad.push(0);
    aad.extend_from_slice(id.as_bytes());
    aad
}

/// A session as a request carried it: its data, if the cookies opened, and how many cookies
/// it took (0 when there was none), so a rewrite can delete chunks it no longer needs.
pub(crate) struct StoredSession {
    pub(crate) data: Option<SessionData>,
    pub(crate) chunks: usize,
}

/// The cookies queued for one response; shared with guards that may renew the session
/// while the route runs.
#[derive(Default, Clone)]
pub(crate) struct CookieQueue(Arc<Mutex<Vec<Cookie<'static>>>>);

impl std::fmt::Debug for CookieQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: the values are sealed sessions.
        let cookies = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_list()
            .entries(cookies.iter().map(|c| c.name().to_string()))
            .finish()
    }
}

impl CookieQueue {
    pub(crate) fn push(&self, cookie: Cookie<'static>) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(cookie);
    }

    pub(crate) fn take(&self) -> Vec<Cookie<'static>> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    pub(crate) fn extend(&self, cookies: Vec<Cookie<'static>>) {
        for cookie in cookies {
            self.push(cookie);
        }
    }
}

/// How many cookies carry the session whose first cookie holds `first`: a chunked session's
/// first value is `<count>.<part>` (a sealed value never holds a `.`).
pub(crate) fn chunk_count(first: &str) -> usize {
    // MAX_CHUNKS has one digit: the first two bytes say it all (a sealed value can be long).
    match first.as_bytes() {
        [count @ b'2'..=b'9', b'.', ..] if usize::from(count - b'0') <= MAX_CHUNKS => {
            usize::from(count - b'0')
        }
        _ => 1,
    }
}

/// The number of session cookies the request carries under `name`.
pub(crate) fn stored_chunks(jar: &CookieJar<'_>, name: &str) -> usize {
    jar.get(name).map_or(0, |first| chunk_count(first.value()))
}

fn assemble(jar: &CookieJar<'_>, name: &str, first: &str, chunks: usize) -> Option<String> {
    let mut sealed = String::with_capacity(chunks * CHUNK_VALUE);
    sealed.push_str(first.split_once('.')?.1);
    for index in 1..chunks {
        sealed.push_str(jar.get(&chunk_name(name, index))?.value());
    }
    Some(sealed)
}

fn chunk_name(name: &str, index: usize) -> String {
    format!("{name}.{index}")
}

/// Largest cookie value written; with the name and attributes a cookie stays under the
/// 4096 bytes browsers keep (RFC 6265 6.1).
const CHUNK_VALUE: usize = 3800;
/// Chunks a session may take: ~30 KB, beyond any real set of tokens.
const MAX_CHUNKS: usize = 8;

fn secret_key_bytes(value: &FigmentValue) -> Result<Option<Vec<u8>>, ConfigError> {
    let invalid = || {
        ConfigError::new(
            "secret_key",
            "is not a key: expected 44 or 88 base64 or 64 hex characters",
            "generate one with `openssl rand -base64 32`",
        )
    };
    let bytes = if let Some(text) = value.as_str() {
        match text.len() {
            44 | 88 => STANDARD.decode(text).map_err(|_| invalid())?,
            64 => decode_hex(text).ok_or_else(invalid)?,
            _ => return Err(invalid()),
        }
    } else if let Some(items) = value.as_array() {
        items
            .iter()
            .map(|v| v.to_u128().and_then(|n| u8::try_from(n).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(invalid)?
    } else {
        return Err(invalid());
    };
    if bytes.len() < 32 {
        return Err(invalid());
    }
    Ok((!bytes.iter().all(|b| *b == 0)).then_some(bytes))
}

/// Keys published in documentation, which sessions must never be sealed with: Rocket's own
/// example key (Rocket itself only warns about it).
const PUBLISHED_KEYS: &[&str] = &["hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk="];

fn is_published_key(master: &[u8]) -> bool {
    PUBLISHED_KEYS
        .iter()
        .filter_map(|key| STANDARD.decode(key).ok())
        .any(|published| published == master)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Builds this crate's cookies with explicit attributes.
#[derive(Debug)]
pub(crate) struct CookieFactory {
    secure: bool,
    session_permanent: bool,
    session_lifetime: i64,
}

impl CookieFactory {
    pub(crate) fn new(config: &Config) -> Self {
        CookieFactory {
            secure: config.secure_cookies,
            session_permanent: config.session_permanent,
            session_lifetime: config.session_lifetime,
        }
    }

    /// The name of the crate's cookie `base`: `__Host-<base>` over https, so that no sibling
    /// subdomain or plain-http page can set one for the browser (RFC 6265bis 4.1.3.2;
    /// such a cookie must be `Secure`, `Path=/`, without `Domain`).
    pub(crate) fn name(&self, base: &str) -> String {
        if self.secure {
            format!("__Host-{base}")
        } else {
            base.to_string()
        }
    }

    /// The path of a cookie only `path` needs: `path` over http, `/` over https (where the
    /// `__Host-` prefix demands it).
    pub(crate) fn path_for(&self, path: &str) -> String {
        if self.secure {
            "/".into()
        } else {
            path.to_string()
        }
    }

    /// A sealed cookie with `HttpOnly`, `SameSite=Lax`, `Secure` when over https.
    pub(crate) fn sealed(
        &self,
        cipher: &CookieCipher,
        name: String,
        value: &str,
        path: String,
        max_age: Option<i64>,
    ) -> Cookie<'static> {
        let sealed = cipher.seal(&name, value);
        let mut cookie = Cookie::build((name, sealed))
            .path(path)
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .build();
        if let Some(seconds) = max_age {
            cookie.set_max_age(rocket::time::Duration::seconds(seconds));
        }
        cookie
    }

    /// The cookies that store `session` under `name`: one, or several chunks when the
    /// sealed session is larger than a cookie may be; chunks left from a larger session the
    /// request carried (`previous_chunks`) are deleted. Also says how many chunks the
    /// session takes now.
    pub(crate) fn session(
        &self,
        cipher: &CookieCipher,
        name: &str,
        session: &SessionData,
        previous_chunks: usize,
    ) -> Result<(Vec<Cookie<'static>>, usize), OidcError> {
        let sealed = cipher.seal_bytes(name, session.encode());
        let parts: Vec<&str> = sealed
            .as_bytes()
            .chunks(CHUNK_VALUE)
            .map(|part| std::str::from_utf8(part).expect("a sealed value is ASCII"))
            .collect();
        if parts.len() > MAX_CHUNKS {
            return Err(OidcError::new(
                ErrorKind::BadProviderResponse,
                Status::BadGateway,
                "session_too_large",
                "the login service's tokens are too large for this site's session cookies",
            )
            .with_log_detail(format!(
                "the provider's tokens make a session of {} bytes, more than {MAX_CHUNKS} \
                 cookies can carry; set userinfo_http_method = \"none\", ask the provider for \
                 smaller tokens, or keep sessions on the server (oidc.session.store)",
                sealed.len()
            )));
        }
        let mut cookies = Vec::with_capacity(parts.len().max(previous_chunks));
        for (index, part) in parts.iter().enumerate() {
            let (cookie_name, value) = match (index, parts.len()) {
                (0, 1) => (name.to_string(), part.to_string()),
                (0, count) => (name.to_string(), format!("{count}.{part}")),
                (index, _) => (chunk_name(name, index), part.to_string()),
            };
            cookies.push(self.plain(cookie_name, value));
        }
        for index in parts.len()..previous_chunks {
            cookies.push(self.removal(chunk_name(name, index), "/".into()));
        }
        Ok((cookies, parts.len()))
    }

    /// The cookie that carries a server-side session's id.
    pub(crate) fn session_id(
        &self,
        cipher: &CookieCipher,
        name: &str,
        id: &str,
    ) -> Cookie<'static> {
        self.plain(name.to_string(), cipher.seal(name, id))
    }

    /// The cookies that delete a session stored in `chunks` cookies under `name`.
    pub(crate) fn remove_session(&self, name: &str, chunks: usize) -> Vec<Cookie<'static>> {
        (0..chunks.max(1))
            .map(|index| match index {
                0 => self.removal(name.to_string(), "/".into()),
                index => self.removal(chunk_name(name, index), "/".into()),
            })
            .collect()
    }

    /// A session cookie carrying an already sealed value.
    fn plain(&self, name: String, value: String) -> Cookie<'static> {
        let mut cookie = Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .build();
        if self.session_permanent {
            cookie.set_max_age(rocket::time::Duration::seconds(self.session_lifetime));
        }
        cookie
    }

    /// A cookie that tells the browser to delete `name` at `path`.
    pub(crate) fn removal(&self, name: String, path: String) -> Cookie<'static> {
        let mut cookie = Cookie::build((name, ""))
            .path(path)
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .build();
        cookie.make_removal();
        cookie
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::data::tests::session;

    #[test]
    fn a_session_round_trips_through_its_cookie() {
        let cipher = CookieCipher::for_tests();
        let sealed = cipher.seal_bytes("oidc_session_default", session().encode());
        let back = SessionData::decode(cipher.open_bytes("oidc_session_default", &sealed).unwrap())
            .unwrap();
        assert_eq!(back.subject(), "alice");
        assert_eq!(back.access_token(), "at");
        assert_eq!(back.refresh_token(), None);
        assert_eq!(back.id_token(), "h.p.s");
        assert_eq!(back.userinfo(), Some(r#"{"sub":"alice"}"#));
        assert_eq!(
            (back.access_token_expires_at, back.authenticated_at),
            (Some(10), 5)
        );
    }

    #[test]
    fn tampered_truncated_moved_or_foreign_cookies_do_not_open() {
        let cipher = CookieCipher::for_tests();
        let sealed = cipher.seal_bytes("oidc_session_default", session().encode());
        let mut tampered = sealed.clone().into_bytes();
        tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(cipher.open("oidc_session_default", &tampered).is_none());
        assert!(cipher
            .open("oidc_session_default", &sealed[..sealed.len() - 4])
            .is_none());
        assert!(cipher.open("oidc_session_google", &sealed).is_none());
        assert!(CookieCipher::for_tests()
            .open("oidc_session_default", &sealed)
            .is_none());
        assert!(cipher.open("oidc_session_default", "").is_none());
    }

    #[test]
    fn chunk_counts_come_from_the_first_cookie_only() {
        assert_eq!(chunk_count("c2VhbGVk"), 1);
        assert_eq!(chunk_count("3.c2VhbGVk"), 3);
        assert_eq!(
            chunk_count("1.x"),
            1,
            "one chunk is written without a count"
        );
        assert_eq!(
            chunk_count("99.x"),
            1,
            "more than MAX_CHUNKS is not a count"
        );
        assert_eq!(chunk_count("9.x"), 1);
        assert_eq!(chunk_count("8.x"), 8);
        assert_eq!(chunk_count("2x"), 1);
        assert_eq!(chunk_count("a.b"), 1);
    }

    #[test]
    fn reads_rocket_secret_key_formats() {
        let b64 = FigmentValue::from("hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=");
        assert_eq!(secret_key_bytes(&b64).unwrap().unwrap().len(), 32);
        let hex = FigmentValue::from("00".repeat(31) + "01");
        assert_eq!(secret_key_bytes(&hex).unwrap().unwrap()[31], 1);
        let zero = FigmentValue::from("0".repeat(64));
        assert!(secret_key_bytes(&zero).unwrap().is_none());
        assert!(secret_key_bytes(&FigmentValue::from("short")).is_err());
    }
}
