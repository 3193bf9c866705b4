//! What a logged-in user's session holds, and its encoding: compact JSON with one-letter
//! keys, read on every guarded request. The ID token's claims and the UserInfo response stay
//! raw until a route asks for them.

use std::borrow::Cow;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Version of the session encoding; other versions read as "not logged in".
const SESSION_VERSION: u8 = 2;

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
    /// This session's own random id: what a server-side store keys it by, and what a logout
    /// marks as ended.
    id: Text,
    /// The provider's session id (the ID token's `sid`), for back-channel logout.
    sid: Option<Text>,
    /// When a request last used the session (Unix seconds), for the idle timeout; written
    /// back at most once a minute.
    pub(crate) last_seen: i64,
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
    /// The session's DPoP key (PKCS#8, base64url) when its tokens are DPoP-bound.
    dpop_key: Option<Text>,
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
    #[serde(rename = "d", borrow)]
    id: Cow<'a, str>,
    #[serde(rename = "x", skip_serializing_if = "Option::is_none", default, borrow)]
    sid: Option<Cow<'a, str>>,
    #[serde(rename = "l")]
    last_seen: i64,
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
    #[serde(rename = "k", skip_serializing_if = "Option::is_none", default, borrow)]
    dpop_key: Option<Cow<'a, str>>,
}

impl SessionData {
    pub(crate) fn new(fields: NewSession<'_>) -> Self {
        let wire = Wire {
            version: SESSION_VERSION,
            id: fields.id.into(),
            sid: fields.sid.map(Cow::from),
            last_seen: fields.last_seen,
            subject: fields.subject.into(),
            access_token: fields.access_token.into(),
            access_token_expires_at: fields.access_token_expires_at,
            refresh_token: fields.refresh_token.map(Cow::from),
            id_token: fields.id_token.into(),
            userinfo: fields.userinfo,
            authenticated_at: fields.authenticated_at,
            dpop_key: fields.dpop_key.map(Cow::from),
        };
        let json = serde_json::to_string(&wire).expect("a session always serializes");
        SessionData::decode(json).expect("a session reads back what it wrote")
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

    pub(crate) fn decode(json: String) -> Option<SessionData> {
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
        let id = text(wire.id);
        let sid = wire.sid.map(text);
        let last_seen = wire.last_seen;
        let subject = text(wire.subject);
        let access_token = text(wire.access_token);
        let refresh_token = wire.refresh_token.map(text);
        let id_token = text(wire.id_token);
        let userinfo = wire.userinfo.map(|raw| span(raw.get()));
        let dpop_key = wire.dpop_key.map(text);
        let (access_token_expires_at, authenticated_at) =
            (wire.access_token_expires_at, wire.authenticated_at);
        Some(SessionData {
            json,
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

    pub(crate) fn encode(&self) -> &str {
        &self.json
    }

    fn text<'s>(&'s self, text: &'s Text) -> &'s str {
        match text {
            Text::At(range) => &self.json[range.clone()],
            Text::Owned(text) => text,
        }
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

    pub(crate) fn id_token(&self) -> &str {
        self.text(&self.id_token)
    }

    /// The DPoP key its tokens are bound to (PKCS#8, base64url), if they are.
    pub(crate) fn dpop_key(&self) -> Option<&str> {
        self.dpop_key.as_ref().map(|t| self.text(t))
    }

    /// The UserInfo response as raw JSON.
    pub(crate) fn userinfo(&self) -> Option<&str> {
        self.userinfo.clone().map(|range| &self.json[range])
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) fn session() -> SessionData {
        let userinfo = RawValue::from_string(r#"{"sub":"alice"}"#.into()).unwrap();
        SessionData::for_tests("alice", "at", Some(10), None, "h.p.s", Some(&userinfo), 5)
    }

    #[test]
    fn fields_that_need_unescaping_read_back_exactly() {
        let tricky = "a\"b\\c\u{e9}\n";
        let session = SessionData::for_tests(tricky, "at", None, Some("r\"t"), "h.p.s", None, 1);
        let back = SessionData::decode(session.encode().to_string()).unwrap();
        assert_eq!(back.subject(), tricky);
        assert_eq!(back.refresh_token(), Some("r\"t"));
        assert_eq!(back.userinfo(), None);
    }
}
