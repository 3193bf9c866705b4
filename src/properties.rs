//! Property tests for everything that parses untrusted input: the callback's query, sealed
//! cookies and their chunk counts, session and transaction JSON, JWTs (ID and logout
//! tokens), return paths, provider documents. Each property runs a bounded number of cases
//! on every `cargo test` (CI included); the machine's stable toolchain cannot run
//! `cargo fuzz`, so these stand in for it. Known nasty inputs are kept as explicit seeds.

use proptest::prelude::*;

use crate::config::{safe_return_path, ProviderMetadata};
use crate::flow::backchannel::unverified_issuer;
use crate::flow::callback::CallbackParams;
use crate::protocol::id_token::{validate_id_token, IdTokenCheck};
use crate::protocol::jwk::KeySet;
use crate::protocol::jws::payload_of;
use crate::protocol::logout_token::{validate_logout_token, LogoutTokenCheck};
use crate::session::{chunk_count, CookieCipher, SessionData};
use crate::signing::SigningAlg;

/// Seeds that broke parsers elsewhere: empty parts, huge counts, odd Unicode.
const SEEDS: &[&str] = &[
    "",
    ".",
    "..",
    "a.b.c.d",
    "99999999999999999999.x",
    "eyJhbGciOiJub25lIn0.e30.",
    "state=&state=",
    "%FF%FE=%00",
    "\u{202E}/\\evil",
    "//evil.example",
    "/\u{0}",
];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A JWS-shaped string: three base64url parts holding arbitrary bytes.
fn jws_shaped() -> impl Strategy<Value = String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    (
        proptest::collection::vec(any::<u8>(), 0..200),
        proptest::collection::vec(any::<u8>(), 0..400),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(h, p, s)| {
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(h),
                URL_SAFE_NO_PAD.encode(p),
                URL_SAFE_NO_PAD.encode(s)
            )
        })
}

/// A JWS whose header and payload are JSON objects with keys a token has.
fn jwt_like() -> impl Strategy<Value = String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let value = prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
        Just(serde_json::json!(["a", 1, null])),
        Just(serde_json::json!({"http://schemas.openid.net/event/backchannel-logout": {}})),
    ];
    let keys = proptest::sample::subsequence(
        vec![
            "iss",
            "sub",
            "aud",
            "azp",
            "exp",
            "iat",
            "nbf",
            "nonce",
            "auth_time",
            "at_hash",
            "acr",
            "sid",
            "jti",
            "events",
            "alg",
            "kid",
            "typ",
            "crit",
        ],
        0..12,
    );
    (
        keys.clone(),
        proptest::collection::vec(value.clone(), 12),
        keys,
        proptest::collection::vec(value, 12),
    )
        .prop_map(|(hk, hv, pk, pv)| {
            let object = |keys: Vec<&str>, values: Vec<serde_json::Value>| {
                serde_json::Value::Object(
                    keys.into_iter().map(str::to_string).zip(values).collect(),
                )
            };
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(object(hk, hv).to_string()),
                URL_SAFE_NO_PAD.encode(object(pk, pv).to_string()),
                URL_SAFE_NO_PAD.encode(b"signature")
            )
        })
}

fn empty_keys() -> KeySet {
    KeySet::from_json(br#"{"keys":[]}"#).unwrap()
}

fn id_token_rejected(jwt: &str) -> bool {
    let algs = [SigningAlg::Rs256, SigningAlg::Hs256];
    let check = IdTokenCheck {
        issuer: "https://op.example",
        client_id: "app",
        trusted_audiences: &[],
        allowed_algs: &algs,
        client_secret: Some("secret"),
        nonce: Some("n"),
        max_age: Some(60),
        acr_values: &[],
        access_token: Some("at"),
        front_channel: None,
        now: 1_700_000_000,
        clock_skew: 60,
    };
    validate_id_token(jwt, &empty_keys(), &check).is_err()
}

fn logout_token_rejected(jwt: &str) -> bool {
    let algs = [SigningAlg::Rs256, SigningAlg::Hs256];
    let check = LogoutTokenCheck {
        issuer: "https://op.example",
        client_id: "app",
        trusted_audiences: &[],
        allowed_algs: &algs,
        client_secret: Some("secret"),
        now: 1_700_000_000,
        clock_skew: 60,
    };
    validate_logout_token(jwt, &empty_keys(), &check).is_err()
}

#[test]
fn the_seeds_are_handled() {
    let cipher = CookieCipher::for_tests();
    for seed in SEEDS {
        let _ = CallbackParams::parse(seed);
        assert!(safe_return_path(seed).starts_with('/'));
        assert!(cipher.open("oidc_session_default", seed).is_none());
        let _ = chunk_count(seed);
        assert!(SessionData::decode(seed.as_bytes().to_vec()).is_none());
        assert!(SessionData::from_text(seed).is_none());
        assert!(id_token_rejected(seed) && logout_token_rejected(seed));
        let _ = unverified_issuer(seed);
        let _ = payload_of(seed);
    }
}

proptest! {
    #![proptest_config(config())]

    /// The callback's query: any string parses or is refused, never a panic.
    #[test]
    fn any_callback_query_is_handled(query in ".{0,300}") {
        let _ = CallbackParams::parse(&query);
    }

    /// A return path is always a path of this app.
    #[test]
    fn a_return_path_never_leaves_the_app(target in ".{0,200}") {
        let path = safe_return_path(&target);
        prop_assert!(path.starts_with('/'));
        prop_assert!(!path.starts_with("//") && !path.starts_with("/\\"));
        prop_assert!(!path.chars().any(char::is_control));
    }

    /// A cookie value this key did not seal never opens, whatever it holds.
    #[test]
    fn a_foreign_cookie_never_opens(value in "[A-Za-z0-9_.-]{0,600}", bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let cipher = CookieCipher::for_tests();
        prop_assert!(cipher.open("oidc_session_default", &value).is_none());
        let lossy = String::from_utf8_lossy(&bytes);
        prop_assert!(cipher.open("oidc_session_default", &lossy).is_none());
        let count = chunk_count(&value);
        prop_assert!((1..=8).contains(&count));
    }

    /// A stored session record: it reads back exactly for its own provider and id, never for
    /// another; a record with any character changed, cut short or made up never opens; and
    /// the same session seals to the same record (the stores' compare-and-swap needs it).
    #[test]
    fn a_sealed_session_record_opens_only_whole_and_where_it_was_sealed(
        text in "\\PC{0,400}",
        at in any::<proptest::sample::Index>(),
        to in any::<char>(),
        cut in any::<proptest::sample::Index>(),
        made_up in "[A-Za-z0-9_.-]{0,600}",
    ) {
        let cipher = CookieCipher::for_tests();
        let id = "nOqTyGmv3kU2QeBsl8yZ1bX0f5hRjWcA4EiPdKtL9so";
        let sealed = cipher.seal_record("default", id, &text);
        if text.len() >= 8 {
            prop_assert!(!sealed.contains(&text), "the text shows through");
        }
        prop_assert_eq!(cipher.open_record("default", id, &sealed), Some(text.clone()));
        prop_assert_eq!(&cipher.seal_record("default", id, &text), &sealed);
        prop_assert!(cipher.open_record("other", id, &sealed).is_none());
        prop_assert!(cipher.open_record("default", "another-id", &sealed).is_none());
        prop_assert!(CookieCipher::for_tests().open_record("default", id, &sealed).is_none());
        prop_assert!(cipher.open_record("default", id, &made_up).is_none());
        let mut chars: Vec<char> = sealed.chars().collect();
        let at = at.index(chars.len());
        if chars[at] != to {
            chars[at] = to;
            let changed: String = chars.iter().collect();
            // A base64url text whose last character differs only in unused bits is the
            // same bytes: those may open, nothing else.
            let bytes = |text: &str| {
                text.strip_prefix("v1.")
                    .and_then(|body| crate::protocol::base64url::decode(body.as_bytes()))
            };
            prop_assert!(
                cipher.open_record("default", id, &changed).is_none()
                    || bytes(&changed) == bytes(&sealed)
            );
        }
        let cut = cut.index(sealed.len());
        prop_assert!(cipher.open_record("default", id, &sealed[..cut]).is_none());
    }

    /// Bytes that are not a session's encoding are no session (and no panic), also when
    /// they are an encoding with a byte changed or cut short.
    #[test]
    fn arbitrary_session_bytes_are_no_session(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        at in any::<proptest::sample::Index>(),
        to in any::<u8>(),
        cut in any::<proptest::sample::Index>(),
    ) {
        let _ = SessionData::decode(bytes);
        let encoding = SessionData::for_tests("alice", "at", Some(1), Some("rt"), "e30.e30.c2ln", None, 5).encode().to_vec();
        // A byte changed: any outcome but a panic (a changed length byte can make a
        // shorter, valid encoding of another session; the seal, not this, keeps it out).
        let mut changed = encoding.clone();
        changed[at.index(encoding.len())] = to;
        let _ = SessionData::decode(changed);
        // Cut short: never a session.
        let mut cut_short = encoding;
        cut_short.truncate(cut.index(cut_short.len()));
        prop_assert!(SessionData::decode(cut_short).is_none());
    }

    /// Whatever the provider's tokens and claims hold, a session reads back exactly.
    #[test]
    fn any_session_reads_back_exactly(
        subject in ".{0,40}",
        access_token in ".{0,80}",
        refresh_token in proptest::option::of(".{0,40}"),
        id_token in prop_oneof![".{0,120}", jws_shaped(), jwt_like()],
        times in any::<(i64, i64, Option<i64>)>(),
    ) {
        let (authenticated_at, last_seen, expires_at) = times;
        let session = SessionData::new(crate::session::NewSession {
            id: "id",
            sid: Some(&subject),
            last_seen,
            subject: &subject,
            access_token: &access_token,
            access_token_expires_at: expires_at,
            refresh_token: refresh_token.as_deref(),
            id_token: &id_token,
            userinfo: None,
            authenticated_at,
            dpop_key: None,
        });
        let back = SessionData::decode(session.encode().to_vec()).expect("reads back");
        prop_assert_eq!(back.subject(), subject.as_str());
        prop_assert_eq!(back.sid(), Some(subject.as_str()));
        prop_assert_eq!(back.access_token(), access_token.as_str());
        prop_assert_eq!(back.refresh_token(), refresh_token.as_deref());
        prop_assert_eq!(back.id_token(), id_token.as_str());
        prop_assert_eq!((back.authenticated_at, back.last_seen, back.access_token_expires_at), times);
    }

    /// Arbitrary and JWT-shaped ID and logout tokens are refused without a panic (no key
    /// in the set, so none can pass).
    #[test]
    fn arbitrary_tokens_are_refused(jwt in prop_oneof![".{0,300}", jws_shaped(), jwt_like()]) {
        prop_assert!(id_token_rejected(&jwt));
        prop_assert!(logout_token_rejected(&jwt));
        let _ = unverified_issuer(&jwt);
    }

    /// Provider documents: arbitrary bytes parse or fail, never panic.
    #[test]
    fn arbitrary_provider_documents_are_handled(bytes in proptest::collection::vec(any::<u8>(), 0..500)) {
        let _ = ProviderMetadata::from_json(&bytes, "document");
        let _ = KeySet::from_json(&bytes);
    }
}
