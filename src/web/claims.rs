//! Typed standard claims for [`Authenticated`]: openidconnect's `StandardClaims` (the
//! shared vocabulary of OpenID Connect in Rust) over the ID token's claims merged with
//! UserInfo's, since many providers put `name` and `email` in UserInfo only.

use openidconnect::core::CoreGenderClaim;
use openidconnect::{StandardClaims, SubjectIdentifier};
use serde_json::{Map, Value};

use super::guard::Authenticated;
use crate::provider::Provider;

/// The standard claims of a logged-in user (OpenID Connect Core 5.1): `email`,
/// `email_verified`, `name`, `given_name`, `locale`, `picture`, ... as typed accessors.
///
/// Its types come from the re-exported [`openidconnect`](crate::openidconnect) crate.
/// Claims that may come in several languages (`name`, `given_name`, `family_name`,
/// `nickname`, `profile`, `picture`, `website`, ...) are `LocalizedClaim`s: `get(None)` is
/// the one without a language tag.
pub type Claims = StandardClaims<CoreGenderClaim>;

impl<P: Provider> Authenticated<P> {
    /// The user's standard claims: the validated ID token's, with the UserInfo response's
    /// on top (UserInfo wins for a claim both carry; its `sub` was checked against the ID
    /// token's at the login). Read on first use; claims a provider sends in a shape Core
    /// does not allow are left out (the raw JSON stays in [`id_token`](Self::id_token) and
    /// [`userinfo`](Self::userinfo)).
    ///
    /// ```
    /// use rocket_oidc_auth::{provider::Default, Authenticated};
    ///
    /// #[rocket::get("/hello")]
    /// fn hello(user: Authenticated<Default>) -> String {
    ///     let claims = user.claims();
    ///     let name = claims.name().and_then(|name| name.get(None));
    ///     match (name, claims.email()) {
    ///         (Some(name), Some(email)) => format!("Hello {}, {}", name.as_str(), email.as_str()),
    ///         _ => format!("Hello {}", claims.subject().as_str()),
    ///     }
    /// }
    /// ```
    pub fn claims(&self) -> &Claims {
        self.standard.get_or_init(|| {
            let userinfo = self.userinfo_raw().map(|raw| raw.get());
            Box::new(merged(self.id_token_raw().get(), userinfo, self.subject()))
        })
    }
}

/// The standard claims of `id_token` (JSON) with `userinfo`'s on top when it names the same
/// `subject`. What does not read as Core's claims falls back to the ID token's alone, then
/// to the subject alone, with a debug line (a provider's odd claim never fails a route).
fn merged(id_token: &str, userinfo: Option<&str>, subject: &str) -> Claims {
    let mut claims: Map<String, Value> = serde_json::from_str(id_token).unwrap_or_default();
    let from_id_token = claims.clone();
    if let Some(Ok(extra)) = userinfo.map(serde_json::from_str::<Map<String, Value>>) {
        if extra.get("sub").and_then(Value::as_str) == Some(subject) {
            claims.extend(extra);
        }
    }
    claims.insert("sub".into(), Value::String(subject.into()));
    serde_json::from_value(Value::Object(claims))
        .or_else(|e| {
            log::debug!("oidc: the merged claims are not Core's standard claims ({e})");
            let mut alone = from_id_token;
            alone.insert("sub".into(), Value::String(subject.into()));
            serde_json::from_value(Value::Object(alone))
        })
        .unwrap_or_else(|e| {
            log::debug!("oidc: the ID token's claims are not Core's standard claims ({e})");
            StandardClaims::new(SubjectIdentifier::new(subject.into()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_fills_in_and_wins_for_the_same_subject_only() {
        let id_token = r#"{"iss":"https://op","sub":"alice","aud":"app","exp":9,"iat":1,
            "email":"old@example.com","name":"Alice"}"#;
        let userinfo = r#"{"sub":"alice","email":"alice@example.com","email_verified":"true",
            "locale":"fr-FR","updated_at":"2024-05-01T10:00:00Z"}"#;
        let claims = merged(id_token, Some(userinfo), "alice");
        assert_eq!(claims.subject().as_str(), "alice");
        assert_eq!(
            claims.email().unwrap().as_str(),
            "alice@example.com",
            "UserInfo wins"
        );
        assert_eq!(
            claims.email_verified(),
            Some(true),
            "a string boolean reads"
        );
        assert_eq!(claims.name().unwrap().get(None).unwrap().as_str(), "Alice");
        assert_eq!(claims.locale().unwrap().as_str(), "fr-FR");
        assert!(claims.updated_at().is_some(), "an RFC 3339 time reads");

        let other = r#"{"sub":"mallory","email":"mallory@example.com"}"#;
        let claims = merged(id_token, Some(other), "alice");
        assert_eq!(
            claims.email().unwrap().as_str(),
            "old@example.com",
            "another subject's UserInfo is not used"
        );
    }

    #[test]
    fn odd_claims_never_fail_and_the_subject_always_stays() {
        let id_token = r#"{"sub":"alice","email_verified":{"odd":1},"name":"Alice"}"#;
        let claims = merged(id_token, None, "alice");
        assert_eq!(claims.subject().as_str(), "alice");
        let userinfo = r#"{"sub":"alice","email":42}"#;
        let claims = merged(r#"{"sub":"alice","name":"Alice"}"#, Some(userinfo), "alice");
        assert_eq!(
            claims.name().unwrap().get(None).unwrap().as_str(),
            "Alice",
            "a bad UserInfo claim falls back to the ID token's"
        );
        assert_eq!(merged("not json", None, "bob").subject().as_str(), "bob");
    }
}
