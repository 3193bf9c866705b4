//! What a logged-in user's session holds, and its encoding: a compact binary layout that
//! a guarded request reads without a parser (a few fixed fields, then lengths, then the
//! text), and in which the ID token takes its decoded size.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::OnceLock;

use serde_json::value::RawValue;

use crate::protocol::base64url;

/// Version of the session encoding (its first byte); other versions read as "not logged
/// in". Version 2 was JSON.
const SESSION_VERSION: u8 = 3;

/// Which optional fields a session has (its second byte).
const HAS_SID: u8 = 1;
const HAS_REFRESH_TOKEN: u8 = 1 << 1;
const HAS_USERINFO: u8 = 1 << 2;
const HAS_EXPIRY: u8 = 1 << 3;
const HAS_DPOP_KEY: u8 = 1 << 4;
/// The ID token is kept as its compact text (it did not split into canonical base64url
/// parts); otherwise as its decoded header, payload and signature.
const RAW_ID_TOKEN: u8 = 1 << 5;
const KNOWN_FLAGS: u8 = (1 << 6) - 1;

/// Prefix of the per-provider session cookie.
pub(crate) const SESSION_COOKIE_PREFIX: &str = "oidc_session_";

/// The name of `provider`'s session cookie.
pub(crate) fn session_cookie_name(provider: &str) -> String {
    format!("{SESSION_COOKIE_PREFIX}{provider}")
}

/// A logged-in user's session with one provider: its encoding, kept whole, and where each
/// field lies in it.
///
/// Reading a session from a cookie allocates nothing beyond the decrypted bytes: the fields
/// are ranges of them, each checked as UTF-8 once, when the session is read. The layout:
///
/// ```text
/// version (1) | flags (1) | last_seen, authenticated_at, [access_token_expires_at] (i64 LE)
/// | the length of each field present (u32 LE), in the order that follows
/// | id, [sid], subject, access_token, [refresh_token], ID token (compact, or its header and
///   payload JSON), [userinfo], [dpop_key] | [the ID token's signature, binary]
/// ```
#[derive(Clone)]
pub(crate) struct SessionData {
    bytes: Vec<u8>,
    /// This session's own random id: what a server-side store keys it by, and what a logout
    /// marks as ended.
    id: Range<usize>,
    /// The provider's session id (the ID token's `sid`), for back-channel logout.
    sid: Option<Range<usize>>,
    /// When a request last used the session (Unix seconds), for the idle timeout; written
    /// back at most once a minute.
    pub(crate) last_seen: i64,
    /// The ID token's `sub`, kept apart so the cheapest routes never decode the token.
    subject: Range<usize>,
    access_token: Range<usize>,
    refresh_token: Option<Range<usize>>,
    id_token: IdToken,
    /// The UserInfo response, raw JSON.
    userinfo: Option<Range<usize>>,
    /// When the access token expires (Unix seconds), if the provider said.
    pub(crate) access_token_expires_at: Option<i64>,
    /// When the user last authenticated at the provider through this app (Unix seconds).
    pub(crate) authenticated_at: i64,
    /// The session's DPoP key (PKCS#8, base64url) when its tokens are DPoP-bound.
    dpop_key: Option<Range<usize>>,
}

/// The ID token (a compact JWS), as the session keeps it.
#[derive(Clone)]
enum IdToken {
    /// The compact text, as the provider sent it.
    Compact(Range<usize>),
    /// Decoded: a quarter smaller, and the claims need no decoding to be read. The compact
    /// form is built again on first use (it encodes back to the very same text: only a
    /// token whose parts do is kept so).
    Decoded {
        header: Range<usize>,
        payload: Range<usize>,
        signature: Range<usize>,
        compact: OnceLock<String>,
    },
}

/// The fields of a session, to create one.
#[derive(Clone, Copy)]
pub(crate) struct NewSession<'a> {
    pub(crate) id: &'a str,
    pub(crate) sid: Option<&'a str>,
    pub(crate) last_seen: i64,
    pub(crate) subject: &'a str,
    pub(crate) access_token: &'a str,
    pub(crate) access_token_expires_at: Option<i64>,
    pub(crate) refresh_token: Option<&'a str>,
    pub(crate) id_token: &'a str,
    pub(crate) userinfo: Option<&'a RawValue>,
    pub(crate) authenticated_at: i64,
    pub(crate) dpop_key: Option<&'a str>,
}

/// Reads the fixed-size fields at the start of an encoding.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let field = self.bytes.get(self.at..self.at.checked_add(N)?)?;
        self.at += N;
        field.try_into().ok()
    }

    fn int(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }

    fn length(&mut self) -> Option<usize> {
        usize::try_from(u32::from_le_bytes(self.take()?)).ok()
    }
}

/// Hands out the ranges of fields of known lengths that lie one after another, each
/// checked to be UTF-8 text (but the signature), or `None` past the end.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
    /// All the text fields, checked as UTF-8 at once, from `bytes[text_start]`.
    text: &'a str,
    text_start: usize,
}

impl Fields<'_> {
    fn binary(&mut self, len: usize) -> Option<Range<usize>> {
        let end = self.at.checked_add(len)?;
        (end <= self.bytes.len()).then(|| {
            let range = self.at..end;
            self.at = end;
            range
        })
    }

    /// A text field: within the checked text, on character boundaries.
    fn text(&mut self, len: usize) -> Option<Range<usize>> {
        let range = self.binary(len)?;
        let (start, end) = (range.start - self.text_start, range.end - self.text_start);
        (end <= self.text.len()
            && self.text.is_char_boundary(start)
            && self.text.is_char_boundary(end))
        .then_some(range)
    }

    /// An optional field: `Some(None)` when absent, `None` when it does not read.
    fn optional_text(&mut self, len: Option<usize>) -> Option<Option<Range<usize>>> {
        match len {
            Some(len) => self.text(len).map(Some),
            None => Some(None),
        }
    }
}

/// An ID token's header and payload JSON and its signature, when its three parts are
/// canonical unpadded base64url (so that encoding them again gives back the same token).
fn split_id_token(jwt: &str) -> Option<(String, String, Vec<u8>)> {
    let mut parts = jwt.split('.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let text = |part: &str| {
        base64url::decode(part.as_bytes())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|text| base64url::encode(text.as_bytes()) == part)
    };
    let signature_bytes = base64url::decode(signature.as_bytes())
        .filter(|bytes| base64url::encode(bytes) == signature)?;
    Some((text(header)?, text(payload)?, signature_bytes))
}

impl SessionData {
    pub(crate) fn new(fields: NewSession<'_>) -> Self {
        let split = split_id_token(fields.id_token);
        let mut flags = 0;
        for (present, flag) in [
            (fields.sid.is_some(), HAS_SID),
            (fields.refresh_token.is_some(), HAS_REFRESH_TOKEN),
            (fields.userinfo.is_some(), HAS_USERINFO),
            (fields.access_token_expires_at.is_some(), HAS_EXPIRY),
            (fields.dpop_key.is_some(), HAS_DPOP_KEY),
            (split.is_none(), RAW_ID_TOKEN),
        ] {
            if present {
                flags |= flag;
            }
        }
        let id_token_parts: Vec<&[u8]> = match &split {
            Some((header, payload, signature)) => {
                vec![header.as_bytes(), payload.as_bytes(), signature]
            }
            None => vec![fields.id_token.as_bytes()],
        };
        let parts: Vec<&[u8]> = [Some(fields.id.as_bytes()), fields.sid.map(str::as_bytes)]
            .into_iter()
            .chain([
                Some(fields.subject.as_bytes()),
                Some(fields.access_token.as_bytes()),
                fields.refresh_token.map(str::as_bytes),
            ])
            .flatten()
            .chain(id_token_parts.iter().take(2).copied())
            .chain(
                [
                    fields.userinfo.map(|raw| raw.get().as_bytes()),
                    fields.dpop_key.map(str::as_bytes),
                ]
                .into_iter()
                .flatten(),
            )
            .chain(id_token_parts.get(2).copied())
            .collect();
        let size = parts.iter().map(|part| 4 + part.len()).sum::<usize>();
        let mut bytes = Vec::with_capacity(2 + 3 * 8 + size);
        bytes.extend([SESSION_VERSION, flags]);
        bytes.extend(fields.last_seen.to_le_bytes());
        bytes.extend(fields.authenticated_at.to_le_bytes());
        if let Some(expires_at) = fields.access_token_expires_at {
            bytes.extend(expires_at.to_le_bytes());
        }
        for part in &parts {
            // A field of 4 GiB cannot be kept: its length then reads back wrong, and the
            // session as not logged in.
            bytes.extend(u32::try_from(part.len()).unwrap_or(u32::MAX).to_le_bytes());
        }
        for part in &parts {
            bytes.extend_from_slice(part);
        }
        SessionData::decode(bytes).expect("a session reads back what it wrote")
    }

    /// This session's fields, to build a changed copy with `SessionData::new`.
    pub(crate) fn fields(&self) -> NewSession<'_> {
        NewSession {
            id: self.id(),
            sid: self.sid(),
            last_seen: self.last_seen,
            subject: self.subject(),
            access_token: self.access_token(),
            access_token_expires_at: self.access_token_expires_at,
            refresh_token: self.refresh_token(),
            id_token: self.id_token(),
            userinfo: self
                .userinfo()
                .and_then(|raw| serde_json::from_str::<&RawValue>(raw).ok()),
            authenticated_at: self.authenticated_at,
            dpop_key: self.dpop_key(),
        }
    }

    /// The session's encoding (see the type's documentation).
    pub(crate) fn encode(&self) -> &[u8] {
        &self.bytes
    }

    /// Reads a session from its encoding; `None` for anything else.
    pub(crate) fn decode(bytes: Vec<u8>) -> Option<SessionData> {
        let [version, flags, ..] = bytes[..] else {
            return None;
        };
        if version != SESSION_VERSION || flags & !KNOWN_FLAGS != 0 {
            return None;
        }
        let has = |flag: u8| flags & flag != 0;
        let mut reader = Reader {
            bytes: &bytes,
            at: 2,
        };
        let last_seen = reader.int()?;
        let authenticated_at = reader.int()?;
        let access_token_expires_at = if has(HAS_EXPIRY) {
            Some(reader.int()?)
        } else {
            None
        };
        let optional = |flag: u8, reader: &mut Reader<'_>| {
            if has(flag) {
                reader.length().map(Some)
            } else {
                Some(None)
            }
        };
        let id = reader.length()?;
        let sid = optional(HAS_SID, &mut reader)?;
        let subject = reader.length()?;
        let access_token = reader.length()?;
        let refresh_token = optional(HAS_REFRESH_TOKEN, &mut reader)?;
        let (id_token, id_token_payload) = if has(RAW_ID_TOKEN) {
            (reader.length()?, None)
        } else {
            (reader.length()?, Some(reader.length()?))
        };
        let userinfo = optional(HAS_USERINFO, &mut reader)?;
        let dpop_key = optional(HAS_DPOP_KEY, &mut reader)?;
        let signature = if has(RAW_ID_TOKEN) {
            None
        } else {
            Some(reader.length()?)
        };
        let text_len = [Some(id), Some(subject), Some(access_token), Some(id_token)]
            .into_iter()
            .chain([sid, refresh_token, id_token_payload, userinfo, dpop_key])
            .flatten()
            .try_fold(0usize, usize::checked_add)?;
        let text_start = reader.at;
        let text_bytes = bytes.get(text_start..text_start.checked_add(text_len)?)?;
        let mut fields = Fields {
            bytes: &bytes,
            at: text_start,
            text: std::str::from_utf8(text_bytes).ok()?,
            text_start,
        };
        let id = fields.text(id)?;
        let sid = fields.optional_text(sid)?;
        let subject = fields.text(subject)?;
        let access_token = fields.text(access_token)?;
        let refresh_token = fields.optional_text(refresh_token)?;
        let id_token_text = fields.text(id_token)?;
        let id_token_payload = fields.optional_text(id_token_payload)?;
        let userinfo = fields.optional_text(userinfo)?;
        let dpop_key = fields.optional_text(dpop_key)?;
        let signature = match signature {
            Some(len) => Some(fields.binary(len)?),
            None => None,
        };
        let id_token = match (id_token_payload, signature) {
            (Some(payload), Some(signature)) => IdToken::Decoded {
                header: id_token_text,
                payload,
                signature,
                compact: OnceLock::new(),
            },
            _ => IdToken::Compact(id_token_text),
        };
        if fields.at != bytes.len() {
            return None;
        }
        Some(SessionData {
            bytes,
            id,
            sid,
            last_seen,
            subject,
            access_token,
            refresh_token,
            id_token,
            userinfo,
            access_token_expires_at,
            authenticated_at,
            dpop_key,
        })
    }

    /// The encoding as text, for stores that keep strings (base64url).
    pub(crate) fn to_text(&self) -> String {
        base64url::encode(&self.bytes)
    }

    /// Reads a session that [`to_text`](Self::to_text) wrote.
    pub(crate) fn from_text(text: &str) -> Option<SessionData> {
        SessionData::decode(base64url::decode(text.as_bytes())?)
    }

    /// A text field. Every text range was checked to be UTF-8 when the session was read,
    /// so this never falls back to "".
    fn text(&self, range: &Range<usize>) -> &str {
        std::str::from_utf8(&self.bytes[range.clone()]).unwrap_or_default()
    }

    /// A session with a fixed id and no `sid`, from positional fields (unit tests).
    #[cfg(test)]
    pub(crate) fn for_tests(
        subject: &str,
        access_token: &str,
        access_token_expires_at: Option<i64>,
        refresh_token: Option<&str>,
        id_token: &str,
        userinfo: Option<&RawValue>,
        authenticated_at: i64,
    ) -> Self {
        SessionData::new(NewSession {
            id: "test-session-id",
            sid: None,
            last_seen: authenticated_at,
            subject,
            access_token,
            access_token_expires_at,
            refresh_token,
            id_token,
            userinfo,
            authenticated_at,
            dpop_key: None,
        })
    }

    pub(crate) fn id(&self) -> &str {
        self.text(&self.id)
    }

    pub(crate) fn sid(&self) -> Option<&str> {
        self.sid.as_ref().map(|t| self.text(t))
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

    /// The ID token as the provider sent it (a compact JWS), for `id_token_hint`.
    pub(crate) fn id_token(&self) -> &str {
        match &self.id_token {
            IdToken::Compact(all) => self.text(all),
            IdToken::Decoded {
                header,
                payload,
                signature,
                compact,
            } => compact.get_or_init(|| {
                let header = base64url::encode(self.text(header).as_bytes());
                let payload = base64url::encode(self.text(payload).as_bytes());
                let signature = base64url::encode(&self.bytes[signature.clone()]);
                format!("{header}.{payload}.{signature}")
            }),
        }
    }

    /// The ID token's claims as JSON text (its payload); `None` when a compact token
    /// kept as such does not decode.
    pub(crate) fn id_token_claims(&self) -> Option<Cow<'_, str>> {
        match &self.id_token {
            IdToken::Decoded { payload, .. } => Some(Cow::Borrowed(self.text(payload))),
            IdToken::Compact(all) => {
                let payload = self.text(all).split('.').nth(1)?;
                let bytes = base64url::decode(payload.as_bytes())?;
                String::from_utf8(bytes).ok().map(Cow::Owned)
            }
        }
    }

    /// The DPoP key its tokens are bound to (PKCS#8, base64url), if they are.
    pub(crate) fn dpop_key(&self) -> Option<&str> {
        self.dpop_key.as_ref().map(|t| self.text(t))
    }

    /// The UserInfo response as raw JSON.
    pub(crate) fn userinfo(&self) -> Option<&str> {
        self.userinfo.as_ref().map(|t| self.text(t))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) fn session() -> SessionData {
        let userinfo = RawValue::from_string(r#"{"sub":"alice"}"#.into()).unwrap();
        SessionData::for_tests("alice", "at", Some(10), None, "h.p.s", Some(&userinfo), 5)
    }

    /// A compact JWS with canonical parts, as providers send.
    fn jwt() -> String {
        let part = |text: &[u8]| base64url::encode(text);
        format!(
            "{}.{}.{}",
            part(br#"{"alg":"RS256","kid":"k1"}"#),
            part("{\"sub\":\"alice\",\"name\":\"Al\\u00e9\",\"n\":\"\u{e9}\"}".as_bytes()),
            part(&[0xff, 0, 7, 42, 0x80])
        )
    }

    fn every_field(id_token: &str) -> SessionData {
        let userinfo = RawValue::from_string(r#"{"sub":"alice","email":"a@x"}"#.into()).unwrap();
        SessionData::new(NewSession {
            id: "the-id",
            sid: Some("sid-1"),
            last_seen: -5,
            subject: "a\"b\\c\u{e9}\n",
            access_token: "at",
            access_token_expires_at: Some(i64::MAX),
            refresh_token: Some("rt"),
            id_token,
            userinfo: Some(&userinfo),
            authenticated_at: 1_700_000_000,
            dpop_key: Some("key"),
        })
    }

    fn assert_same(a: &SessionData, b: &SessionData) {
        assert_eq!(
            (
                a.id(),
                a.sid(),
                a.subject(),
                a.access_token(),
                a.refresh_token()
            ),
            (
                b.id(),
                b.sid(),
                b.subject(),
                b.access_token(),
                b.refresh_token()
            )
        );
        assert_eq!(
            (a.id_token(), a.userinfo(), a.dpop_key()),
            (b.id_token(), b.userinfo(), b.dpop_key())
        );
        assert_eq!(
            (a.last_seen, a.authenticated_at, a.access_token_expires_at),
            (b.last_seen, b.authenticated_at, b.access_token_expires_at)
        );
        assert_eq!(a.id_token_claims(), b.id_token_claims());
    }

    #[test]
    fn every_field_reads_back_exactly_with_and_without_the_optional_ones() {
        for id_token in [jwt(), "h.p.s".to_string(), "not a jwt".to_string()] {
            let full = every_field(&id_token);
            let back = SessionData::decode(full.encode().to_vec()).unwrap();
            assert_same(&full, &back);
            assert_eq!(back.id_token(), id_token);
            let bare = SessionData::for_tests("s", "", None, None, &id_token, None, 0);
            let back = SessionData::decode(bare.encode().to_vec()).unwrap();
            assert_same(&bare, &back);
            assert_eq!(
                (back.sid(), back.refresh_token(), back.userinfo()),
                (None, None, None)
            );
            assert_eq!(
                SessionData::from_text(&full.to_text()).unwrap().id(),
                "the-id"
            );
        }
    }

    #[test]
    fn a_canonical_id_token_is_kept_decoded_and_put_back_together_exactly() {
        let jwt = jwt();
        let session = every_field(&jwt);
        assert!(matches!(session.id_token, IdToken::Decoded { .. }));
        assert_eq!(session.id_token(), jwt);
        assert_eq!(
            session.id_token_claims().as_deref(),
            Some(r#"{"sub":"alice","name":"Al\u00e9","n":"é"}"#)
        );
        // Smaller than the compact text: the parts take their decoded size.
        let compact = every_field("h.p.s");
        assert!(session.encode().len() < compact.encode().len() + jwt.len() - 5);
    }

    #[test]
    fn an_id_token_that_would_not_encode_back_the_same_is_kept_as_sent() {
        // "YR" decodes to "a" but encodes back as "YQ": non-zero trailing bits.
        let odd = format!(
            "{}.YR.{}",
            base64url::encode(b"{}"),
            base64url::encode(b"s")
        );
        for id_token in [odd.as_str(), "a.b", "a.b.c.d", "e30.e30", "e30.e30.e30.e30"] {
            let session = every_field(id_token);
            assert!(
                matches!(session.id_token, IdToken::Compact(_)),
                "{id_token}"
            );
            let back = SessionData::decode(session.encode().to_vec()).unwrap();
            assert_eq!(back.id_token(), id_token);
        }
        let session = every_field(&odd);
        assert_eq!(session.id_token_claims(), None);
    }

    #[test]
    fn a_field_boundary_inside_a_character_reads_as_none() {
        // id "test-session-id" (15 bytes), then subject "é" (2 bytes): move one byte of
        // the subject into the id, and both would cut the character in two.
        let mut bytes = SessionData::for_tests("\u{e9}", "at", None, None, "x", None, 0)
            .encode()
            .to_vec();
        assert!(SessionData::decode(bytes.clone()).is_some());
        // No expiry: the lengths start after version, flags and two times.
        bytes[18..22].copy_from_slice(&16u32.to_le_bytes());
        bytes[22..26].copy_from_slice(&1u32.to_le_bytes());
        assert!(SessionData::decode(bytes).is_none());
    }

    #[test]
    fn anything_but_a_whole_session_of_this_version_reads_as_none() {
        let bytes = every_field(&jwt()).encode().to_vec();
        for len in 0..bytes.len() {
            assert!(
                SessionData::decode(bytes[..len].to_vec()).is_none(),
                "cut at {len}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(SessionData::decode(longer).is_none());
        let mut version = bytes.clone();
        version[0] = 2;
        assert!(SessionData::decode(version).is_none());
        let mut flags = bytes.clone();
        flags[1] |= 1 << 6;
        assert!(SessionData::decode(flags).is_none());
        // A length that points past the end, and text that is not UTF-8.
        let mut length = bytes.clone();
        length[26] = 0xff;
        assert!(SessionData::decode(length).is_none());
        let mut text = bytes;
        let at = text.len() - 5 - 3;
        text[at] = 0xff;
        assert!(SessionData::decode(text).is_none());
        assert!(SessionData::decode(br#"{"v":2}"#.to_vec()).is_none());
        assert!(SessionData::from_text("%%").is_none());
    }
}
