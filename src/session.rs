//! Session storage: what a logged-in user's session holds, and the encrypted, HttpOnly
//! cookies that carry it.
//!
//! The session lives in one cookie per provider (`oidc_session_<provider>`), sealed with
//! AES-256-GCM under a key derived from Rocket's `secret_key` (the cookie name is bound in,
//! so a value cannot be moved between cookies). A tampered, truncated or foreign cookie
//! fails to open and is simply "not logged in". Attributes are always explicit:
//! `HttpOnly`, `SameSite=Lax` (the login returns by a cross-site top-level redirect, which
//! `Strict` would strip), `Path=/`, and `Secure` whenever the redirect URI is https
//! (see <https://owasp.org/www-community/controls/SecureCookieAttribute>).
//!
//! The encoding is compact JSON with one-letter keys, read on every guarded request: the
//! ID token's claims and the UserInfo response stay raw until a route asks for them.

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use rocket::figment::value::Value as FigmentValue;
use rocket::figment::Figment;
use rocket::http::{Cookie, CookieJar, SameSite, Status};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use crate::config::{Config, ConfigError};
use crate::error::{ErrorKind, OidcError};

/// Version of the session encoding; other versions read as "not logged in".
const SESSION_VERSION: u8 = 1;

/// Prefix of the per-provider session cookie.
pub(crate) const SESSION_COOKIE_PREFIX: &str = "oidc_session_";

/// The name of `provider`'s session cookie.
pub(crate) fn session_cookie_name(provider: &str) -> String {
    format!("{SESSION_COOKIE_PREFIX}{provider}")
}

/// A logged-in user's session with one provider: its JSON encoding, kept whole, and where
/// each field lies in it. Reading a session on a request allocates the decrypted JSON once;
/// the tokens, the claims and the UserInfo response are sliced from it, never copied.
#[derive(Clone)]
pub(crate) struct SessionData {
    json: String,
    /// The ID token's `sub`, kept apart so the cheapest routes never decode the token.
    subject: Text,
    access_token: Text,
    refresh_token: Option<Text>,
    /// The raw ID token (compact JWS), for `id_token_hint` and the claims.
    id_token: Text,
    /// The UserInfo response, raw JSON.
    userinfo: Option<Range<usize>>,
    /// When the access token expires (Unix seconds), if the provider said.
    pub(crate) access_token_expires_at: Option<i64>,
    /// When the user last authenticated at the provider through this app (Unix seconds).
    pub(crate) authenticated_at: i64,
}

/// A string field: a slice of the session's JSON, or its own copy when the JSON had to be
/// unescaped (a `sub` with a quote in it, say).
#[derive(Clone)]
enum Text {
    At(Range<usize>),
    Owned(String),
}

/// The encoding: one-letter keys, read on every guarded request.
#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    #[serde(rename = "v")]
    version: u8,
    #[serde(rename = "s", borrow)]
    subject: Cow<'a, str>,
    #[serde(rename = "a", borrow)]
    access_token: Cow<'a, str>,
    #[serde(rename = "e", skip_serializing_if = "Option::is_none", default)]
    access_token_expires_at: Option<i64>,
    #[serde(rename = "r", skip_serializing_if = "Option::is_none", default, borrow)]
    refresh_token: Option<Cow<'a, str>>,
    #[serde(rename = "i", borrow)]
    id_token: Cow<'a, str>,
    #[serde(rename = "u", skip_serializing_if = "Option::is_none", default, borrow)]
    userinfo: Option<&'a RawValue>,
    #[serde(rename = "t")]
    authenticated_at: i64,
}

impl SessionData {
    pub(crate) fn new(
        subject: &str,
        access_token: &str,
        access_token_expires_at: Option<i64>,
        refresh_token: Option<&str>,
        id_token: &str,
        userinfo: Option<&RawValue>,
        authenticated_at: i64,
    ) -> Self {
        let wire = Wire {
            version: SESSION_VERSION,
            subject: subject.into(),
            access_token: access_token.into(),
            access_token_expires_at,
            refresh_token: refresh_token.map(Cow::from),
            id_token: id_token.into(),
            userinfo,
            authenticated_at,
        };
        let json = serde_json::to_string(&wire).expect("a session always serializes");
        SessionData::decode(json).expect("a session reads back what it wrote")
    }

    fn decode(json: String) -> Option<SessionData> {
        let wire: Wire<'_> = serde_json::from_str(&json).ok()?;
        if wire.version != SESSION_VERSION {
            return None;
        }
        let base = json.as_ptr() as usize;
        let span = |text: &str| {
            let start = text.as_ptr() as usize - base;
            start..start + text.len()
        };
        let text = |cow: Cow<'_, str>| match cow {
            Cow::Borrowed(text) => Text::At(span(text)),
            Cow::Owned(text) => Text::Owned(text),
        };
        let subject = text(wire.subject);
        let access_token = text(wire.access_token);
        let refresh_token = wire.refresh_token.map(text);
        let id_token = text(wire.id_token);
        let userinfo = wire.userinfo.map(|raw| span(raw.get()));
        let (access_token_expires_at, authenticated_at) =
            (wire.access_token_expires_at, wire.authenticated_at);
        Some(SessionData {
            json,
            subject,
            access_token,
            refresh_token,
            id_token,
            userinfo,
            access_token_expires_at,
            authenticated_at,
        })
    }

    pub(crate) fn encode(&self) -> &str {
        &self.json
    }

    fn text<'s>(&'s self, text: &'s Text) -> &'s str {
        match text {
            Text::At(range) => &self.json[range.clone()],
            Text::Owned(text) => text,
        }
    }

    pub(crate) fn subject(&self) -> &str {
        self.text(&self.subject)
    }

    pub(crate) fn access_token(&self) -> &str {
        self.text(&self.access_token)
    }

    pub(crate) fn refresh_token(&self) -> Option<&str> {
        self.refresh_token.as_ref().map(|t| self.text(t))
    }

    pub(crate) fn id_token(&self) -> &str {
        self.text(&self.id_token)
    }

    /// The UserInfo response as raw JSON.
    pub(crate) fn userinfo(&self) -> Option<&str> {
        self.userinfo.clone().map(|range| &self.json[range])
    }
}

/// Seals and opens this crate's cookies with AES-256-GCM; the key never leaves this type.
///
/// A sealed value is `base64url(nonce ‖ ciphertext ‖ tag)` with a random 96-bit nonce and the
/// cookie's name as associated data, so a value cannot be moved to another cookie.
pub(crate) struct CookieCipher {
    aead: Aes256Gcm,
}

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
        let aead = Aes256Gcm::new_from_slice(key.encryption()).expect("a 256-bit key");
        CookieCipher { aead }
    }

    #[cfg(test)]
    pub(crate) fn for_tests() -> Self {
        CookieCipher::with_key(&cookie::Key::generate())
    }

    /// Encrypts `value` for the cookie `name`.
    pub(crate) fn seal(&self, name: &str, value: &str) -> String {
        let mut data = Vec::with_capacity(NONCE_LEN + value.len() + TAG_LEN);
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        data.extend_from_slice(&nonce);
        data.extend_from_slice(value.as_bytes());
        let tag = self
            .aead
            .encrypt_in_place_detached(
                Nonce::from_slice(&nonce),
                name.as_bytes(),
                &mut data[NONCE_LEN..],
            )
            .expect("a cookie is far below AES-GCM's size limit");
        data.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(data)
    }

    /// Decrypts the cookie `name`'s value, or `None` when it was not sealed by this key.
    pub(crate) fn open(&self, name: &str, value: &str) -> Option<String> {
        let mut data = URL_SAFE_NO_PAD.decode(value).ok()?;
        if data.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let tag_at = data.len() - TAG_LEN;
        let (head, tag) = data.split_at_mut(tag_at);
        let (nonce, ciphertext) = head.split_at_mut(NONCE_LEN);
        self.aead
            .decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                name.as_bytes(),
                ciphertext,
                Tag::from_slice(tag),
            )
            .ok()?;
        data.truncate(tag_at);
        data.drain(..NONCE_LEN);
        String::from_utf8(data).ok()
    }

    /// Reads the session from the request's cookie(s) named `name`; `cache` holds the
    /// sessions recently opened from that cookie.
    pub(crate) fn read_session(
        &self,
        jar: &CookieJar<'_>,
        name: &str,
        cache: &SessionCache,
    ) -> StoredSession {
        let Some(first) = jar.get(name) else {
            return StoredSession {
                data: None,
                chunks: 0,
            };
        };
        let chunks = chunk_count(first.value());
        if chunks == 1 {
            if let Some(session) = cache.get(first.value()) {
                return StoredSession {
                    data: Some(session),
                    chunks,
                };
            }
        }
        let data = if chunks == 1 {
            self.open(name, first.value())
        } else {
            assemble(jar, name, first.value(), chunks).and_then(|sealed| self.open(name, &sealed))
        }
        .and_then(SessionData::decode)
        .map(Arc::new);
        if let (1, Some(session)) = (chunks, &data) {
            cache.insert(first.value(), session.clone());
        }
        StoredSession { data, chunks }
    }
}

/// A session as a request carried it: its data, if the cookies opened, and how many cookies
/// it took (0 when there was none), so a rewrite can delete chunks it no longer needs.
pub(crate) struct StoredSession {
    pub(crate) data: Option<Arc<SessionData>>,
    pub(crate) chunks: usize,
}

/// Sessions recently opened from one cookie name, by their exact sealed value, so a user's
/// every request does not decode, decrypt and parse the same cookie again.
///
/// Only values that opened are kept, each with its whole sealed text: a hit needs the very
/// same bytes the key sealed, so the cache can never accept what the cipher would refuse.
/// Every check of a session (lifetime, token expiry) still runs on each request. Bounded:
/// when full it starts over.
#[derive(Default)]
pub(crate) struct SessionCache {
    entries: Mutex<HashMap<[u8; CACHE_KEY_LEN], CachedSession>>,
}

/// A sealed value and the session it opened to.
type CachedSession = (Box<str>, Arc<SessionData>);

/// The cache is keyed by the end of the sealed value (the GCM tag, random per seal), and a
/// hit is confirmed against the whole value.
const CACHE_KEY_LEN: usize = 20;
const CACHE_CAPACITY: usize = 1024;

impl SessionCache {
    fn key(value: &str) -> Option<[u8; CACHE_KEY_LEN]> {
        let bytes = value.as_bytes();
        bytes
            .get(bytes.len().checked_sub(CACHE_KEY_LEN)?..)?
            .try_into()
            .ok()
    }

    fn get(&self, value: &str) -> Option<Arc<SessionData>> {
        let key = Self::key(value)?;
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (sealed, session) = entries.get(&key)?;
        (**sealed == *value).then(|| session.clone())
    }

    fn insert(&self, value: &str, session: Arc<SessionData>) {
        let Some(key) = Self::key(value) else {
            return;
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(key, (value.into(), session));
    }
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCache")
    }
}

/// How many cookies carry the session whose first cookie holds `first`: a chunked session's
/// first value is `<count>.<part>` (a sealed value never holds a `.`).
fn chunk_count(first: &str) -> usize {
    first
        .split_once('.')
        .and_then(|(count, _)| count.parse::<usize>().ok())
        .filter(|count| (2..=MAX_CHUNKS).contains(count))
        .unwrap_or(1)
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
        ConfigError(
            "secret_key: expected 44 or 88 base64 or 64 hex characters; generate one with \
             `openssl rand -base64 32`"
                .into(),
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
        let sealed = cipher.seal(name, session.encode());
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
                format!(
                    "the provider's tokens make a session of {} bytes, more than {MAX_CHUNKS} \
                     cookies can carry; set userinfo_http_method = \"none\" or ask the provider \
                     for smaller tokens",
                    sealed.len()
                ),
            ));
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

    fn session() -> SessionData {
        let userinfo = RawValue::from_string(r#"{"sub":"alice"}"#.into()).unwrap();
        SessionData::new("alice", "at", Some(10), None, "h.p.s", Some(&userinfo), 5)
    }

    #[test]
    fn a_session_round_trips_through_its_cookie() {
        let cipher = CookieCipher::for_tests();
        let sealed = cipher.seal("oidc_session_default", session().encode());
        let back =
            SessionData::decode(cipher.open("oidc_session_default", &sealed).unwrap()).unwrap();
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
    fn fields_that_need_unescaping_read_back_exactly() {
        let tricky = "a\"b\\c\u{e9}\n";
        let session = SessionData::new(tricky, "at", None, Some("r\"t"), "h.p.s", None, 1);
        let back = SessionData::decode(session.encode().to_string()).unwrap();
        assert_eq!(back.subject(), tricky);
        assert_eq!(back.refresh_token(), Some("r\"t"));
        assert_eq!(back.userinfo(), None);
    }

    #[test]
    fn tampered_truncated_moved_or_foreign_cookies_do_not_open() {
        let cipher = CookieCipher::for_tests();
        let sealed = cipher.seal("oidc_session_default", session().encode());
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
    fn the_session_cache_answers_only_for_the_exact_sealed_value() {
        let cache = SessionCache::default();
        let sealed = CookieCipher::for_tests().seal("oidc_session_default", session().encode());
        assert!(cache.get(&sealed).is_none());
        cache.insert(&sealed, Arc::new(session()));
        assert_eq!(cache.get(&sealed).unwrap().subject(), "alice");
        // Same end (the cache key), different start: a miss, never the cached session.
        let mut forged = sealed.clone().into_bytes();
        forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
        assert!(cache.get(std::str::from_utf8(&forged).unwrap()).is_none());
        assert!(cache.get("short").is_none());
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
