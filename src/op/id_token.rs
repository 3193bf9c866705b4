//! Validation of the provider's signed tokens with its keys: ID tokens (Core 3.1.3.7, by
//! openidconnect's verifier, kept per metadata and key set) and back-channel logout tokens
//! (Back-Channel Logout 2.6).

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use super::client::{ProviderClient, Resolved};
use crate::error::{ErrorKind, OidcError};
pub(crate) use crate::protocol::id_token::FrontChannel;
use crate::protocol::id_token::{IdTokenVerifier, LoginRules, ProviderRules, ValidIdToken};
use crate::protocol::jwk::KeySet;
use crate::protocol::jws::Rejection;
use crate::protocol::logout_token::{validate_logout_token, LogoutTokenCheck, ValidLogoutToken};
use crate::protocol::time::now;

/// What the callback checks of the login it finishes (Core 3.1.3.7 items 11 to 13).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginCheck<'a> {
    pub(crate) nonce: &'a str,
    pub(crate) max_age: Option<i64>,
    pub(crate) acr_values: &'a [String],
    /// The token came in the authorization response (hybrid, implicit).
    pub(crate) front_channel: Option<FrontChannel<'a>>,
}

impl ProviderClient {
    /// Validates an ID token, refetching the JWKS once when it names an unknown key.
    /// `login` is the login the token finishes (none for a refreshed token, which repeats
    /// the original authentication).
    pub(crate) async fn validate_id_token(
        &self,
        resolved: &Resolved,
        id_token: &str,
        login: Option<LoginCheck<'_>>,
        access_token: Option<&str>,
    ) -> Result<ValidIdToken, OidcError> {
        let rules = LoginRules {
            nonce: login.map(|l| l.nonce),
            max_age: login.and_then(|l| l.max_age),
            acr_values: login.map_or(&[], |l| l.acr_values),
            access_token,
            front_channel: login.and_then(|l| l.front_channel),
        };
        let keys = self.keys(resolved).await?;
        let outcome = match self
            .id_token_verifier(resolved, &keys)?
            .validate(id_token, &rules)
        {
            Err(Rejection::UnknownKey(_)) => {
                let fresh = self.refetch_keys(resolved, &keys).await?;
                self.id_token_verifier(resolved, &fresh)?
                    .validate(id_token, &rules)
            }
            outcome => outcome,
        };
        let valid = outcome.map_err(|rejection| {
            OidcError::invalid_id_token(format!(
                "the ID token from provider {:?} is invalid: {}",
                self.name(),
                rejection.into_message()
            ))
        })?;
        if let Some(deviation) = valid.deviation {
            log::warn!("oidc: provider {:?}: {deviation}", self.name());
        }
        Ok(valid)
    }

    /// The signed ID token inside `id_token` when this client registered encrypted ones
    /// (`id_token_encrypted_response_alg`: a nested JWT, Core 10.2), else `id_token` as
    /// is. The signed one is what is checked and kept (as `id_token_hint`, RP-Initiated
    /// Logout 1.0 2, wants it decrypted).
    pub(crate) fn open_id_token<'t>(&self, id_token: &'t str) -> Result<Cow<'t, str>, OidcError> {
        let protected = &self.config.protected;
        let (Some(jwe), Some(key)) = (protected.id_token, &protected.key) else {
            return Ok(Cow::Borrowed(id_token));
        };
        if id_token.split('.').count() != 5 {
            return Err(OidcError::invalid_id_token(format!(
                "the ID token from provider {:?} is not encrypted, although this client \
                 registered id_token_encrypted_response_alg {:?}; check its registration at \
                 the provider",
                self.name(),
                jwe.alg.as_str()
            )));
        }
        key.decrypt_to_string(id_token, Some((jwe.alg, jwe.enc)))
            .map(Cow::Owned)
            .map_err(|e| {
                OidcError::invalid_id_token(format!(
                    "the ID token from provider {:?} cannot be decrypted: {e}",
                    self.name()
                ))
            })
    }

    /// The verifier of `resolved` with `keys`: the kept one, or one built now (and kept).
    fn id_token_verifier(
        &self,
        resolved: &Resolved,
        keys: &Arc<KeySet>,
    ) -> Result<Arc<IdTokenVerifier>, OidcError> {
        let kept = &resolved.id_tokens.0;
        if let Some((for_keys, verifier)) = &*kept.read().unwrap_or_else(|e| e.into_inner()) {
            if Arc::ptr_eq(for_keys, keys) {
                return Ok(verifier.clone());
            }
        }
        let rules = ProviderRules {
            issuer: resolved.metadata.issuer(),
            client_id: resolved.client_id(),
            trusted_audiences: &self.config.trusted_audiences,
            allowed_algs: &resolved.allowed_algs,
            client_secret: resolved.client_secret(),
            clock_skew: self.clock_skew,
        };
        let verifier = IdTokenVerifier::new(&rules, keys, Arc::new(now))
            .map(Arc::new)
            .map_err(|rejection| {
                OidcError::invalid_id_token(format!(
                    "provider {:?}: {}",
                    self.name(),
                    rejection.into_message()
                ))
            })?;
        *kept.write().unwrap_or_else(|e| e.into_inner()) = Some((keys.clone(), verifier.clone()));
        Ok(verifier)
    }

    /// Validates a back-channel logout token, refetching the JWKS once when it names an
    /// unknown key.
    pub(crate) async fn validate_logout_token(
        &self,
        resolved: &Resolved,
        logout_token: &str,
    ) -> Result<ValidLogoutToken, OidcError> {
        let keys = self.keys(resolved).await?;
        let check = LogoutTokenCheck {
            issuer: resolved.metadata.issuer(),
            client_id: resolved.client_id(),
            trusted_audiences: &self.config.trusted_audiences,
            allowed_algs: &resolved.allowed_algs,
            client_secret: resolved.client_secret(),
            now: now(),
            clock_skew: self.clock_skew,
        };
        let outcome = match validate_logout_token(logout_token, &keys, &check) {
            Err(Rejection::UnknownKey(_)) => {
                let fresh = self.refetch_keys(resolved, &keys).await?;
                validate_logout_token(logout_token, &fresh, &check)
            }
            outcome => outcome,
        };
        outcome.map_err(|rejection| {
            OidcError::new(
                ErrorKind::InvalidRequest,
                rocket::http::Status::BadRequest,
                "invalid_request",
                format!("the logout token is invalid: {}", rejection.into_message()),
            )
            .with_log_detail(format!("checked for provider {:?}", self.name()))
        })
    }
}

/// The ID token verifier of one [`Resolved`] with the keys it was built for: it holds its
/// own copy of the keys, so new keys mean a new verifier.
#[derive(Debug, Default)]
pub(crate) struct KeptVerifier(RwLock<Option<(Arc<KeySet>, Arc<IdTokenVerifier>)>>);
