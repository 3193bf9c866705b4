//! Validation of the provider's signed tokens with its keys: ID tokens (Core 3.1.3.7) and
//! back-channel logout tokens (Back-Channel Logout 2.6).

use super::client::{ProviderClient, Resolved};
use crate::error::{ErrorKind, OidcError};
use crate::protocol::logout_token::{validate_logout_token, LogoutTokenCheck, ValidLogoutToken};
use crate::protocol::time::now;
use crate::protocol::validation::{self, IdTokenCheck, Rejection, ValidIdToken};

/// What the callback checks of the login it finishes (Core 3.1.3.7 items 11 to 13).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginCheck<'a> {
    pub(crate) nonce: &'a str,
    pub(crate) max_age: Option<i64>,
    pub(crate) acr_values: &'a [String],
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
        let keys = self.keys(resolved).await?;
        // The time the token is checked at, after every network call that led to it.
        let now = now();
        let check = IdTokenCheck {
            issuer: &resolved.metadata.issuer,
            client_id: resolved.client_id(),
            trusted_audiences: &self.config.trusted_audiences,
            allowed_algs: &resolved.allowed_algs,
            client_secret: resolved.client_secret(),
            nonce: login.map(|l| l.nonce),
            max_age: login.and_then(|l| l.max_age),
            acr_values: login.map_or(&[], |l| l.acr_values),
            access_token,
            now,
            clock_skew: self.clock_skew,
        };
        let outcome = match validation::validate_id_token(id_token, &keys, &check) {
            Err(Rejection::UnknownKey(_)) => {
                let fresh = self.refetch_keys(resolved, Some(&keys)).await?;
                validation::validate_id_token(id_token, &fresh, &check)
            }
            outcome => outcome,
        };
        outcome.map_err(|rejection| {
            OidcError::invalid_id_token(format!(
                "the ID token from provider {:?} is invalid: {}",
                self.name(),
                rejection.into_message()
            ))
        })
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
            issuer: &resolved.metadata.issuer,
            client_id: resolved.client_id(),
            trusted_audiences: &self.config.trusted_audiences,
            allowed_algs: &resolved.allowed_algs,
            client_secret: resolved.client_secret(),
            now: now(),
            clock_skew: self.clock_skew,
        };
        let outcome = match validate_logout_token(logout_token, &keys, &check) {
            Err(Rejection::UnknownKey(_)) => {
                let fresh = self.refetch_keys(resolved, Some(&keys)).await?;
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
