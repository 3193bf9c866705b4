//! Logout initiated by the provider: Back-Channel Logout 1.0 (the provider posts a signed
//! logout token, server to server) and Front-Channel Logout 1.0 (the provider loads a page
//! of this app in a hidden iframe of the user's browser).
//!
//! Back-channel logout ends every matching session at once, in every instance that shares
//! the store: a server-side store deletes them; the cookie store marks their `sid` (or
//! `sub`) as ended, which every instance sharing that store checks on each request.
//! Front-channel logout is the weaker option: browsers that block third-party cookies (and
//! `SameSite=Lax` session cookies) never send the session cookie into the provider's iframe,
//! so it ends only sessions whose cookie the iframe receives.

use std::time::Duration;

use rocket::http::{CookieJar, Status};

use super::{lifecycle, Oidc, ProviderState};
use crate::error::{sanitize, ErrorKind, OidcError};
use crate::protocol::jws::payload_of;
use crate::protocol::time::now;
use crate::session::store_failed;
use crate::session::{CookieQueue, Ended, EndedSessions};
use crate::store::{digest, SetMode};
use crate::telemetry::EndReason;

/// Handles one back-channel logout request's `logout_token`; returns how many sessions a
/// server-side store ended (the cookie store marks them instead and reports 0).
pub(crate) async fn backchannel_logout(
    oidc: &Oidc,
    logout_token: &str,
) -> Result<usize, OidcError> {
    let issuer = unverified_issuer(logout_token)?;
    let mut matched = false;
    let mut last_error = None;
    for client in oidc.providers() {
        // Matched on the configured issuer (discovery checks it equals the document's), so
        // a provider whose metadata cannot be loaded right now answers 503 (the provider
        // retries) rather than 400 (it gives up).
        if client.config.source.issuer() != issuer {
            continue;
        }
        matched = true;
        let resolved = client.metadata().await?;
        let valid = match client.validate_logout_token(&resolved, logout_token).await {
            Ok(valid) => valid,
            Err(err) => {
                // Several providers may share an issuer (one client each): try them all.
                last_error = Some(err);
                continue;
            }
        };
        let now = now();
        // Never accept the same token twice (2.6 step 7); remembered while it could pass.
        let ttl = Duration::from_secs(
            u64::try_from(valid.replayable_until.saturating_sub(now))
                .unwrap_or(1)
                .max(1),
        );
        let first_time = oidc
            .values
            .set_value(&jti_key(&issuer, &valid.jti), "1", ttl, SetMode::IfAbsent)
            .await
            .map_err(store_failed)?;
        if !first_time {
            return Err(invalid(
                "the logout token was used before (its jti was seen)".into(),
            ));
        }
        // A sid names one provider session; only without it does sub end all of the user's.
        let logged_out = match (valid.sid.as_deref(), valid.subject.as_deref()) {
            (Some(sid), subject) => Ended::ProviderSession {
                sid,
                subject,
                at: now,
            },
            (None, Some(subject)) => Ended::User { subject, at: now },
            (None, None) => return Err(invalid("the logout token has neither sid nor sub".into())),
        };
        let ended = match lifecycle::end_by_index(oidc, client, logged_out).await {
            Ok(ended) => ended,
            Err(err) => {
                // Forget the jti, so the provider's retry of this token is not a "replay".
                let _ = oidc
                    .values
                    .delete_value(&jti_key(&issuer, &valid.jti), None)
                    .await;
                return Err(err);
            }
        };
        count_ended(client, EndReason::Backchannel, &ended);
        log::info!(
            "oidc: back-channel logout from provider {:?} ended {} ({})",
            client.name(),
            match ended {
                EndedSessions::Deleted(count) => format!("{count} session(s)"),
                EndedSessions::Marked => "the matching sessions".to_string(),
            },
            if valid.sid.is_some() {
                "by sid"
            } else {
                "by sub"
            }
        );
        return Ok(match ended {
            EndedSessions::Deleted(count) => count,
            EndedSessions::Marked => 0,
        });
    }
    Err(last_error.unwrap_or_else(|| {
        invalid(if matched {
            "the logout token matches no configured client".into()
        } else {
            format!(
                "the logout token's iss {:?} is not the issuer of a configured provider",
                sanitize(&issuer, 200)
            )
        })
    }))
}

/// Handles a front-channel logout: ends the session of the provider whose issuer is `iss`
/// when its `sid` is the one sent. Both are required, so a page of another site that loads
/// this URL cannot log a user out (it does not know the provider session's id).
pub(crate) async fn frontchannel_logout(
    oidc: &Oidc,
    iss: Option<&str>,
    sid: Option<&str>,
    jar: &CookieJar<'_>,
    out: &CookieQueue,
) -> Result<Option<String>, OidcError> {
    let (Some(iss), Some(sid)) = (iss, sid) else {
        return Err(invalid(
            "a front-channel logout needs iss and sid: register the client with \
             frontchannel_logout_session_required = true"
                .into(),
        ));
    };
    // Every client of that issuer (two providers may be two clients of one issuer): the
    // frame's origin is the issuer's, whichever.
    let mut framed_by = None;
    for client in oidc.providers() {
        if client.config.source.issuer() != iss {
            continue;
        }
        let resolved = client.metadata().await?;
        framed_by = Some(origin_of(resolved.metadata.issuer()));
        let loaded = lifecycle::load(oidc, client, jar).await?;
        if let Some(current) = loaded.session.as_ref().filter(|s| s.sid() == Some(sid)) {
            lifecycle::end(oidc, client, Some(current), loaded.chunks, out).await?;
            crate::telemetry::session_ended(client.name(), EndReason::Frontchannel, 1);
            log::info!(
                "oidc: front-channel logout from provider {:?}",
                client.name()
            );
        } else if oidc.config.frontchannel_logout_by_sid {
            // The provider's page frames this URL from its own site, so a `Lax` session
            // cookie does not come (nor a third-party one, where browsers block them): with
            // the app's consent, the stored sessions of that provider session end by its
            // sid, as a back-channel logout ends them (never with cookie sessions: a mark
            // per request would let anyone fill the store).
            let ended = Ended::ProviderSession {
                sid,
                subject: None,
                at: now(),
            };
            let ended = lifecycle::end_by_index(oidc, client, ended).await?;
            count_ended(client, EndReason::Frontchannel, &ended);
            log::info!(
                "oidc: front-channel logout from provider {:?} ended the sessions of its \
                 session id",
                client.name()
            );
        }
    }
    match framed_by {
        Some(origin) => Ok(Some(origin)),
        None => Err(invalid(format!(
            "the front-channel logout's iss {:?} is not the issuer of a configured provider",
            sanitize(iss, 200)
        ))),
    }
}

/// Counts the sessions a logout ended (cookie sessions are marked, not counted: one).
fn count_ended(client: &ProviderState, reason: EndReason, ended: &EndedSessions) {
    let count = match ended {
        EndedSessions::Deleted(count) => *count as u64,
        EndedSessions::Marked => 1,
    };
    if count > 0 {
        crate::telemetry::session_ended(client.name(), reason, count);
    }
}

/// The provider that may frame the front-channel page: the origin of its issuer.
fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// `iss` of a token not yet validated: only to pick the provider that validates it.
pub(crate) fn unverified_issuer(token: &str) -> Result<String, OidcError> {
    #[derive(serde::Deserialize)]
    struct Issuer {
        iss: Option<String>,
    }
    payload_of(token)
        .and_then(|payload| serde_json::from_slice::<Issuer>(&payload).ok())
        .and_then(|claims| claims.iss)
        .ok_or_else(|| invalid("the logout token is not a JWT with an iss claim".into()))
}

fn jti_key(issuer: &str, jti: &str) -> String {
    format!("jti:{}", digest(issuer, jti))
}

fn invalid(description: String) -> OidcError {
    OidcError::new(
        ErrorKind::InvalidRequest,
        Status::BadRequest,
        "invalid_request",
        description,
    )
}
