//! The UserInfo endpoint (Core 5.3): fetched with the access token (Bearer or DPoP-bound),
//! its `sub` checked against the ID token's. The request is the crate's own (openidconnect's
//! `UserInfoRequest` has no DPoP and its own HTTP); the answer is kept as sent and read as
//! openidconnect's `StandardClaims` when the app asks (`Authenticated::claims`), so one
//! malformed claim does not fail a login.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::client::{lock, ProviderClient, Resolved};
use crate::config::UserinfoMethod;
use crate::error::{sanitize, OidcError};
use crate::protocol::dpop;
use crate::protocol::http::{Auth, Body, Call, HttpResponse};
use crate::protocol::jwk::KeySet;
use crate::protocol::time::now;
use crate::protocol::userinfo_jwt::{validate_userinfo_jwt, UserinfoJwtCheck};
use crate::signing::SigningKey;
use crate::telemetry::Endpoint;

impl ProviderClient {
    /// Fetches UserInfo (Core 5.3) unless disabled, and checks its `sub`.
    pub(crate) async fn userinfo(
        &self,
        resolved: &Resolved,
        access_token: &str,
        subject: &str,
        dpop: Option<&SigningKey>,
    ) -> Result<Option<Box<RawValue>>, OidcError> {
        let method = match self.config.userinfo {
            UserinfoMethod::None => return Ok(None),
            UserinfoMethod::Get => reqwest::Method::GET,
            UserinfoMethod::Post => reqwest::Method::POST,
        };
        let Some(endpoint) = resolved.metadata.userinfo_endpoint() else {
            return Ok(None);
        };
        let what = format!("UserInfo request to {endpoint}");
        let post = method == reqwest::Method::POST;
        let mut challenged = false;
        let response = loop {
            let (auth, proof) = match dpop {
                Some(key) => {
                    let nonce = lock(&self.userinfo_dpop_nonce).clone();
                    let proof = dpop::proof(
                        key,
                        method.as_str(),
                        endpoint,
                        nonce.as_deref(),
                        Some(access_token),
                    );
                    (Auth::Dpop(access_token), Some(proof))
                }
                None => (Auth::Bearer(access_token), None),
            };
            let headers: Vec<(&'static str, &str)> =
                proof.iter().map(|p| ("DPoP", p.as_str())).collect();
            let body = if post { Body::Form(&[]) } else { Body::Empty };
            let response = self
                .http
                .send_with(
                    method.clone(),
                    endpoint,
                    auth,
                    body,
                    &headers,
                    Call::new(Endpoint::Userinfo, &what),
                )
                .await?;
            if let Some(nonce) = &response.dpop_nonce {
                *lock(&self.userinfo_dpop_nonce) = Some(nonce.clone());
            }
            let retry = dpop.is_some()
                && !challenged
                && response.status == 401
                && response.dpop_nonce.is_some()
                && dpop::asks_for_nonce(response.www_authenticate.as_deref());
            if !retry {
                break response;
            }
            challenged = true;
        };
        if response.status != 200 {
            return Err(OidcError::bad_provider_response(format!(
                "{what}: status {}",
                response.status
            )));
        }
        let body = self.userinfo_claims(resolved, &what, response).await?;
        #[derive(Deserialize)]
        struct Subject {
            sub: Option<String>,
        }
        let parsed: Subject = serde_json::from_slice(&body)
            .map_err(|e| OidcError::invalid_userinfo(format!("{what}: not a JSON object: {e}")))?;
        // Core 5.3.2: the sub in the UserInfo response must equal the ID token's.
        if parsed.sub.as_deref() != Some(subject) {
            return Err(OidcError::invalid_userinfo(format!(
                "{what}: the response's sub does not match the ID token's sub"
            )));
        }
        let raw = String::from_utf8(body)
            .ok()
            .and_then(|text| RawValue::from_string(text).ok())
            .ok_or_else(|| OidcError::invalid_userinfo(format!("{what}: not UTF-8 JSON")))?;
        Ok(Some(raw))
    }

    /// The claims of a UserInfo response, as JSON: as sent, or out of its JWE and JWT as
    /// registered (`userinfo_encrypted_response_alg`, `userinfo_signed_response_alg`; a
    /// nested JWT when both). A provider that answers otherwise than registered is refused:
    /// the app asked for the protection.
    async fn userinfo_claims(
        &self,
        resolved: &Resolved,
        what: &str,
        response: HttpResponse,
    ) -> Result<Vec<u8>, OidcError> {
        let protected = &self.config.protected;
        if protected.userinfo_encrypted.is_none() && protected.userinfo_signed.is_none() {
            if !response.is_json() {
                return Err(OidcError::invalid_userinfo(format!(
                    "{what}: content type {:?} is not JSON; a signed or encrypted UserInfo \
                     needs userinfo_signed_response_alg or userinfo_encrypted_response_alg in \
                     oidc.providers.{}",
                    sanitize(&response.content_type, 64),
                    self.name()
                )));
            }
            return Ok(response.body);
        }
        let text = String::from_utf8(response.body)
            .map_err(|_| OidcError::invalid_userinfo(format!("{what}: not UTF-8")))?;
        let text = text.trim();
        if text.starts_with('{') {
            return Err(OidcError::invalid_userinfo(format!(
                "{what}: the response is plain JSON, but this client registered a signed or \
                 encrypted UserInfo; check the client's registration at provider {:?}",
                self.name()
            )));
        }
        let opened = match (protected.userinfo_encrypted, &protected.key) {
            (Some(jwe), Some(key)) => key
                .decrypt_to_string(text, Some((jwe.alg, jwe.enc)))
                .map_err(|e| {
                    OidcError::invalid_userinfo(format!("{what}: cannot be decrypted: {e}"))
                })?,
            _ => text.to_string(),
        };
        let Some(alg) = protected.userinfo_signed else {
            return Ok(opened.into_bytes());
        };
        let check = |keys: &KeySet| {
            validate_userinfo_jwt(
                &opened,
                keys,
                &UserinfoJwtCheck {
                    issuer: resolved.metadata.issuer(),
                    client_id: resolved.client_id(),
                    trusted_audiences: &self.config.trusted_audiences,
                    alg,
                    client_secret: resolved.client_secret(),
                    now: now(),
                    clock_skew: self.clock_skew,
                },
            )
        };
        self.with_keys(resolved, check).await?.map_err(|rejection| {
            OidcError::invalid_userinfo(format!(
                "{what}: the signed response is invalid: {}",
                rejection.into_message()
            ))
        })
    }
}
