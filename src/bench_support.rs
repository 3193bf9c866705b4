//! Entry points for the micro-benchmarks of the bench/ workspace member (`bench/benches/micro.rs`),
//! compiled only with the `__bench` feature. Not part of the API: hidden from the docs, and free
//! to change in any release.

use rocket::figment::Figment;

use crate::protocol::jwk::KeySet;
use crate::protocol::time::now;
use crate::protocol::validation::{self, IdTokenCheck};
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

/// Validates an RS256 ID token with `keys` as the callback does; returns its `sub`.
pub fn validate_id_token(
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
        now: now(),
        clock_skew: 60,
    };
    validation::validate_id_token(jwt, &keys.0, &check)
        .map(|valid| valid.subject)
        .map_err(|rejection| rejection.into_message())
}

/// openidconnect's `IdTokenVerifier` over the crate's ring-backed keys, built once (as it
/// would be kept beside the keys it owns).
pub struct OpenIdConnectVerifier(
    openidconnect::IdTokenVerifier<'static, crate::protocol::jwk::Jwk>,
);

impl std::fmt::Debug for OpenIdConnectVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenIdConnectVerifier")
    }
}

impl OpenIdConnectVerifier {
    /// A verifier for RS256 ID tokens of `issuer` for `client_id`, with `keys`.
    pub fn new(keys: &Keys, issuer: &str, client_id: &str) -> Self {
        use openidconnect::core::CoreJwsSigningAlgorithm;
        use openidconnect::{ClientId, ClientSecret, IdTokenVerifier, IssuerUrl};
        OpenIdConnectVerifier(
            IdTokenVerifier::new_confidential_client(
                ClientId::new(client_id.into()),
                ClientSecret::new("rocket-secret".into()),
                IssuerUrl::new(issuer.into()).expect("an issuer URL"),
                keys.0.as_openidconnect_set().clone(),
            )
            .set_allowed_algs([CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]),
        )
    }

    /// Checks `jwt` (signature, iss, aud, exp, iat, nonce) and its `at_hash` against
    /// `access_token`; returns its `sub`.
    pub fn validate(&self, jwt: &str, nonce: &str, access_token: &str) -> Result<String, String> {
        use openidconnect::core::CoreIdToken;
        use openidconnect::{AccessToken, AccessTokenHash, Nonce};
        let token: CoreIdToken = jwt.parse().map_err(|e| format!("{e:?}"))?;
        let claims = token
            .claims(&self.0, &Nonce::new(nonce.into()))
            .map_err(|e| format!("{e:?}"))?;
        let alg = token.signing_alg().map_err(|e| format!("{e:?}"))?;
        let key = token.signing_key(&self.0).map_err(|e| format!("{e:?}"))?;
        let expected =
            AccessTokenHash::from_token(&AccessToken::new(access_token.into()), alg, key)
                .map_err(|e| format!("{e:?}"))?;
        if claims.access_token_hash() != Some(&expected) {
            return Err("at_hash does not match".into());
        }
        Ok(claims.subject().to_string())
    }
}
