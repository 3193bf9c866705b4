//! JWT-secured authorization responses (JARM) at the provider's side of the callback: the
//! response JWT opened (decrypted with the client's key when the provider encrypted it)
//! and checked with the provider's keys, refetched once for a key it does not know yet.

use super::client::{ProviderClient, Resolved};
use crate::error::OidcError;
use crate::protocol::jarm::{unchecked_state, validate_jarm, JarmCheck};
use crate::protocol::jwk::KeySet;
use crate::protocol::time::now;

/// The error of a response that cannot be taken: why goes to the log only.
fn refused(detail: String) -> OidcError {
    OidcError::invalid_callback(
        "invalid_authorization_response",
        "the provider's answer to the login could not be verified; start the login again",
    )
    .with_log_detail(detail)
}

impl ProviderClient {
    /// The signed JWT of `response` (decrypted when it is a JWE and the client has a key).
    fn open_response(&self, response: &str) -> Result<String, OidcError> {
        let registered = self.config.protected.authorization_encrypted;
        if response.split('.').count() != 5 {
            if let Some(jwe) = registered {
                return Err(refused(format!(
                    "the authorization response from provider {:?} is not encrypted, although \
                     this client registered authorization_encrypted_response_alg {:?}",
                    self.name(),
                    jwe.alg.as_str()
                )));
            }
            return Ok(response.to_string());
        }
        let Some(key) = &self.config.protected.key else {
            return Err(refused(format!(
                "the authorization response from provider {:?} is encrypted, and this client \
                 has no encryption_key to open it",
                self.name()
            )));
        };
        let pinned = registered.map(|jwe| (jwe.alg, jwe.enc));
        key.decrypt_to_string(response, pinned).map_err(|e| {
            refused(format!(
                "the authorization response from provider {:?} cannot be decrypted: {e}",
                self.name()
            ))
        })
    }

    /// The `state` of a response JWT, unchecked: which login it belongs to. `None` when
    /// there is none to read (the response is refused then).
    pub(crate) fn response_state(&self, response: &str) -> Option<String> {
        unchecked_state(&self.open_response(response).ok()?)
    }

    /// The parameters of the JARM response `response` (form-encoded), once its signature,
    /// `iss`, `aud` and `exp` are checked (JARM 4.4).
    pub(crate) async fn open_authorization_response(
        &self,
        resolved: &Resolved,
        response: &str,
    ) -> Result<String, OidcError> {
        let Some(alg) = self.config.protected.authorization_signed else {
            return Err(refused(format!(
                "provider {:?} answered with a JWT (JARM), and this client asked for none: \
                 set oidc.providers.{}.response_mode to a JWT mode if it should",
                self.name(),
                self.name()
            )));
        };
        // JARM 2.3.1: tokens in a query only inside an encrypted response.
        let config = &self.config;
        if config.response_mode == crate::config::ResponseMode::QueryJwt
            && config.response_type.is_front_channel()
            && response.split('.').count() != 5
        {
            return Err(refused(format!(
                "provider {:?} put the tokens of response_type {:?} in a query without \
                 encrypting them (JARM 2.3.1)",
                self.name(),
                config.response_type.as_str()
            )));
        }
        let jwt = self.open_response(response)?;
        let check = |keys: &KeySet| {
            validate_jarm(
                &jwt,
                keys,
                &JarmCheck {
                    issuer: resolved.metadata.issuer(),
                    client_id: resolved.client_id(),
                    alg,
                    client_secret: resolved.client_secret(),
                    now: now(),
                    clock_skew: self.clock_skew,
                },
            )
        };
        self.with_keys(resolved, check).await?.map_err(|rejection| {
            refused(format!(
                "the authorization response (JARM) from provider {:?} is invalid: {}",
                self.name(),
                rejection.into_message()
            ))
        })
    }
}
