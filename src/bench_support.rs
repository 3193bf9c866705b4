//! Entry points for the micro-benchmarks of the bench/ workspace member (`bench/benches/micro.rs`),
//! compiled only with the `__bench` feature. Not part of the API: hidden from the docs, and free
//! to change in any release.

use rocket::figment::Figment;

use std::sync::Arc;

use crate::protocol::id_token::{self, IdTokenCheck, IdTokenVerifier, LoginRules, ProviderRules};
use crate::protocol::jwk::KeySet;
use crate::protocol::time::now;
use crate::session::{session_cookie_name, CookieCipher, NewSession, SessionData};
use crate::signing::SigningAlg;

/// A sealed session cookie value, as the callback would set it, for `provider`.
pub fn session_cookie(
    figment: &Figment,
    provider: &str,
    subject: &str,
    access_token: &str,
    id_token: &str,
    userinfo_json: &str,
) -> String {
    let cipher = CookieCipher::from_figment(figment).expect("a valid secret_key");
    let userinfo = serde_json::value::RawValue::from_string(userinfo_json.into()).ok();
    let id = crate::protocol::random::random_token();
    let session = SessionData::new(NewSession {
        id: &id,
        sid: None,
        last_seen: now(),
        subject,
        access_token,
        access_token_expires_at: Some(now() + 3600),
        refresh_token: Some("refresh-token"),
        id_token,
        userinfo: userinfo.as_deref(),
        authenticated_at: now(),
        dpop_key: None,
    });
    let name = session_cookie_name(provider);
    cipher.seal_bytes(&name, session.encode())
}

/// A provider's JWK Set, parsed once as the crate keeps it.
#[derive(Debug)]
pub struct Keys(KeySet);

impl Keys {
    /// Parses a JWK Set document.
    pub fn from_json(json: &str) -> Keys {
        Keys(KeySet::from_json(json.as_bytes()).expect("a JWK Set"))
    }
}

/// An ID token verifier as the callback keeps it: built once per provider and key set.
#[derive(Debug)]
pub struct IdTokens(IdTokenVerifier);

impl IdTokens {
    /// A verifier for RS256 ID tokens of `issuer` for the public client `client_id`.
    pub fn new(keys: &Keys, issuer: &str, client_id: &str) -> IdTokens {
        let rules = ProviderRules {
            issuer,
            client_id,
            trusted_audiences: &[],
            allowed_algs: &[SigningAlg::Rs256],
            client_secret: None,
            clock_skew: 60,
        };
        IdTokens(IdTokenVerifier::new(&rules, &keys.0, Arc::new(now)).expect("an issuer URL"))
    }

    /// Validates an ID token as the callback does (with its nonce and the access token for
    /// `at_hash`); returns its `sub`.
    pub fn validate(&self, jwt: &str, nonce: &str, access_token: &str) -> Result<String, String> {
        let login = LoginRules {
            nonce: Some(nonce),
            max_age: None,
            acr_values: &[],
            access_token: Some(access_token),
            front_channel: None,
        };
        self.0
            .validate(jwt, &login)
            .map(|valid| valid.subject)
            .map_err(|rejection| rejection.into_message())
    }
}

/// Validates an RS256 ID token with `keys` as the callback would with a verifier built for
/// this one token; returns its `sub`.
pub fn validate_id_token_once(
    jwt: &str,
    keys: &Keys,
    issuer: &str,
    client_id: &str,
    nonce: &str,
    access_token: &str,
) -> Result<String, String> {
    let check = IdTokenCheck {
        issuer,
        client_id,
        trusted_audiences: &[],
        allowed_algs: &[SigningAlg::Rs256],
        client_secret: None,
        nonce: Some(nonce),
        max_age: None,
        acr_values: &[],
        access_token: Some(access_token),
        front_channel: None,
        now: now(),
        clock_skew: 60,
    };
    id_token::validate_id_token(jwt, &keys.0, &check)
        .map(|valid| valid.subject)
        .map_err(|rejection| rejection.into_message())
}
