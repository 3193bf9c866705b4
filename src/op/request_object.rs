//! Request objects (RFC 9101, OpenID Connect Core 6.1), the crate's own because
//! openidconnect has no JWT-secured authorization requests: the authorization request's
//! parameters signed as one JWT, with the client's private key or (for HS*) its secret, so
//! nobody between the app and the provider can change them.

use serde_json::{Map, Value};

use super::client::{ProviderClient, Resolved};
use crate::error::OidcError;
use crate::protocol::random::random_token;
use crate::protocol::time::now;
use crate::signing;

/// A request object lives this long: long enough for the browser's redirect, short enough
/// that a copy is soon worthless.
const LIFETIME: i64 = 300;

impl ProviderClient {
    /// `params` as a signed request object (`iss` the client, `aud` the issuer, `exp`, `nbf`,
    /// `iat`, a fresh `jti`, and every parameter inside), or `None` when the client sends
    /// plain parameters.
    pub(super) fn request_object(
        &self,
        resolved: &Resolved,
        params: &[(&str, &str)],
    ) -> Result<Option<String>, OidcError> {
        let Some(alg) = self.config.client.request_object_alg else {
            return Ok(None);
        };
        let claims = claims(
            params,
            resolved.client_id(),
            resolved.metadata.issuer(),
            now(),
        );
        let signed = if alg.is_hmac() {
            resolved
                .client_secret()
                .and_then(|secret| signing::sign_hmac(secret, alg, &claims))
        } else {
            self.config
                .client
                .private_key
                .as_ref()
                .filter(|key| key.alg() == alg)
                .map(|key| key.sign(typed(), &claims))
        };
        signed.map(Some).ok_or_else(|| {
            OidcError::configuration(format!(
                "provider {:?}: no key to sign request objects with {alg} (check \
                 oidc.providers.{}.request_object_signing_alg, private_key and client_secret)",
                self.name(),
                self.name()
            ))
        })
    }
}

/// The request object's claims: the parameters, and who it is from and for, and when.
fn claims(params: &[(&str, &str)], client_id: &str, issuer: &str, now: i64) -> Value {
    let mut claims = Map::new();
    for (name, value) in params {
        // `max_age` is a number in a request object (Core 6.1).
        let value = match (*name, value.parse::<i64>()) {
            ("max_age", Ok(seconds)) => Value::from(seconds),
            _ => Value::from(*value),
        };
        claims.insert((*name).to_string(), value);
    }
    claims.insert("iss".into(), Value::from(client_id));
    claims.insert("aud".into(), Value::from(issuer));
    claims.insert("client_id".into(), Value::from(client_id));
    claims.insert("iat".into(), Value::from(now));
    claims.insert("nbf".into(), Value::from(now));
    claims.insert("exp".into(), Value::from(now + LIFETIME));
    claims.insert("jti".into(), Value::from(random_token()));
    Value::Object(claims)
}

/// RFC 9101 10.8: explicit typing, so a request object passes for no other JWT.
fn typed() -> Map<String, Value> {
    let mut header = Map::new();
    header.insert("typ".into(), Value::from("oauth-authz-req+jwt"));
    header
}

/// The parameters that go beside a request object (Core 6.1: `response_type`,
/// `client_id` and `scope` as plain parameters too, for OAuth 2.0 processing).
pub(super) fn beside<'a>(
    params: &'a [(&'a str, &'a str)],
) -> impl Iterator<Item = (String, String)> + 'a {
    params
        .iter()
        .filter(|(name, _)| matches!(*name, "response_type" | "client_id" | "scope"))
        .map(|(name, value)| ((*name).to_string(), (*value).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_is_inside_with_who_and_when() {
        let params = [
            ("response_type", "code"),
            ("state", "s"),
            ("nonce", "n"),
            ("max_age", "60"),
        ];
        let claims = claims(&params, "app", "https://op.example.com", 1000);
        assert_eq!(claims["state"], "s");
        assert_eq!(claims["nonce"], "n");
        assert_eq!(claims["max_age"], 60);
        assert_eq!(claims["iss"], "app");
        assert_eq!(claims["aud"], "https://op.example.com");
        assert_eq!(claims["exp"], 1300);
        assert_eq!(claims["nbf"], 1000);
        assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
        let beside: Vec<_> = beside(&params).collect();
        assert_eq!(beside, [("response_type".to_string(), "code".to_string())]);
    }
}
