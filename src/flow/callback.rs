//! Finishing a login at the callback: the authorization response (in a query, or posted by
//! the provider's form or by the callback's own fragment relay page), its transaction, the
//! ID token that came in it (hybrid, implicit), the code exchange and the new session.

use std::net::IpAddr;

use rocket::http::CookieJar;
use subtle::ConstantTimeEq;

use super::login::{silent_attempt_cookie, start_login, tx_cookie_name, Transaction};
pub(crate) use super::response::{Arrival, CallbackParams};
use super::{pending, Oidc, ProviderState};
use crate::config::safe_return_path;
use crate::error::{sanitize, ErrorKind, OidcError};
use crate::op::client::Resolved;
use crate::op::{FrontChannel, LoginCheck, LoginParams};
use crate::protocol::id_token::ValidIdToken;
use crate::protocol::random::{random_token, RANDOM_LEN};
use crate::protocol::time::{expires_at, now};
use crate::session::{stored_chunks, CookieQueue, NewSession, SessionData};
use crate::signing::SigningKey;
use crate::telemetry;
use tracing::Instrument as _;

/// Errors of a `prompt=none` request that mean "the user must interact" (Core 3.1.2.6).
const INTERACTION_NEEDED: &[&str] = &[
    "login_required",
    "interaction_required",
    "consent_required",
    "account_selection_required",
];

/// Finishes a login at the callback: on success the session cookie is queued on the
/// response and the location to send the browser to is given back (the path first asked
/// for, or the provider again when a silent re-authentication needs the user).
///
/// `response` is the callback's query string or posted form, `jar` the request's cookies;
/// every cookie the callback writes (also on failure: the transaction is consumed) goes to
/// `out`.
pub(crate) async fn finish_login(
    oidc: &Oidc,
    response: &str,
    arrival: Arrival,
    jar: &CookieJar<'_>,
    out: &CookieQueue,
    caller: Option<IpAddr>,
) -> Result<String, OidcError> {
    let span = tracing::info_span!(
        "oidc.callback",
        provider = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    let outcome = finish_callback(oidc, response, arrival, jar, out, caller)
        .instrument(span.clone())
        .await;
    span.record("outcome", telemetry::result(&outcome));
    outcome
}

/// [`finish_login`] inside its span.
async fn finish_callback(
    oidc: &Oidc,
    response: &str,
    arrival: Arrival,
    jar: &CookieJar<'_>,
    out: &CookieQueue,
    caller: Option<IpAddr>,
) -> Result<String, OidcError> {
    let unmatched = |err: OidcError| {
        // No login of this browser: which provider it was for is unknown.
        telemetry::login_finished("unknown", telemetry::result_of(&err));
        err
    };
    let params = CallbackParams::parse(response).map_err(unmatched)?;
    let state = super::jarm::login_state(oidc, &params, jar).map_err(unmatched)?;
    let state = state.as_str();
    let well_formed = state.len() == RANDOM_LEN
        && state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(unmatched(OidcError::invalid_callback(
            "invalid_state",
            "the callback's state was not issued by this app",
        )));
    }

    let name = oidc.cookies.name(&tx_cookie_name(state));
    let callback = Callback {
        oidc,
        params: &params,
        arrival,
        jar,
        out,
        caller,
    };
    let outcome = callback.finish(state, &name).await;
    // Single use: the transaction cookie is deleted whatever happened, but when the bound
    // on code exchanges refused before the provider was asked: the code is unspent, and the
    // same callback may be loaded again after `Retry-After`.
    if !matches!(&outcome, Err(err) if err.kind() == ErrorKind::RateLimited) {
        out.extend(pending::finished(oidc, jar, name));
    }
    outcome
}

/// One callback request being finished.
struct Callback<'a, 'r> {
    oidc: &'a Oidc,
    params: &'a CallbackParams,
    arrival: Arrival,
    jar: &'a CookieJar<'r>,
    out: &'a CookieQueue,
    caller: Option<IpAddr>,
}

/// Where a finished callback sends the browser.
enum Finished {
    /// Logged in: back to the page first asked for.
    LoggedIn(String),
    /// A silent re-authentication that needs the user: to the provider again.
    Restarted(String),
}

/// What a login ends with, from the token endpoint or the authorization response.
struct Tokens {
    id_token: String,
    valid: ValidIdToken,
    /// Empty for an implicit `id_token` login (no access token was issued).
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<f64>,
    dpop_key: Option<SigningKey>,
}

impl Callback<'_, '_> {
    /// [`finish_login`] past the checks of its query: the transaction `name`, its provider,
    /// the tokens and the session.
    async fn finish(&self, state: &str, name: &str) -> Result<String, OidcError> {
        let transaction = match self.transaction(state, name) {
            Ok(transaction) => transaction,
            Err(err) => {
                // No login of this browser: which provider it was for is unknown.
                telemetry::login_finished("unknown", telemetry::result_of(&err));
                return Err(err);
            }
        };
        tracing::Span::current().record("provider", transaction.provider.as_str());
        let outcome = self.finish_transaction(&transaction).await;
        match &outcome {
            Ok(Finished::LoggedIn(_)) => {
                telemetry::login_finished(&transaction.provider, "success")
            }
            // Handed back to an interactive login: counted when that one finishes.
            Ok(Finished::Restarted(_)) => {}
            Err(err) => telemetry::login_finished(&transaction.provider, telemetry::result_of(err)),
        }
        outcome.map(|finished| match finished {
            Finished::LoggedIn(location) | Finished::Restarted(location) => location,
        })
    }

    /// [`Self::finish`] once the transaction is known.
    async fn finish_transaction(&self, transaction: &Transaction) -> Result<Finished, OidcError> {
        let (oidc, out) = (self.oidc, self.out);
        // A login came back: a later re-authentication may be silent again.
        out.push(oidc.cookies.removal(
            silent_attempt_cookie(oidc, &transaction.provider),
            "/".into(),
        ));
        let client = oidc.provider(&transaction.provider).ok_or_else(|| {
            OidcError::invalid_callback(
                "invalid_state",
                "the login was started for a provider that is no longer configured",
            )
        })?;
        let resolved = client.metadata().await?;
        let opened =
            super::jarm::opened(client, &resolved, &transaction.state, self.params).await?;
        let params = opened.as_ref().unwrap_or(self.params);
        self.check_issuer(client, &resolved, params)?;
        if let Some(error) = params.error.as_deref() {
            return self
                .refused(client, &resolved, transaction, error, params)
                .await
                .map(Finished::Restarted);
        }
        let tokens = self.tokens(client, &resolved, transaction, params).await?;
        let userinfo = if tokens.access_token.is_empty() {
            None
        } else {
            client
                .userinfo(
                    &resolved,
                    &tokens.access_token,
                    &tokens.valid.subject,
                    tokens.dpop_key.as_ref(),
                )
                .await?
        };
        let dpop_key = tokens
            .dpop_key
            .as_ref()
            .and_then(|key| key.pkcs8())
            .map(crate::signing::b64);
        let now = now();
        let id = random_token();
        let session = SessionData::new(NewSession {
            id: &id,
            sid: tokens.valid.sid.as_deref(),
            last_seen: now,
            subject: &tokens.valid.subject,
            access_token: &tokens.access_token,
            access_token_expires_at: expires_at(tokens.expires_in, now),
            refresh_token: tokens.refresh_token.as_deref(),
            id_token: &tokens.id_token,
            userinfo: userinfo.as_deref(),
            authenticated_at: now,
            dpop_key: dpop_key.as_deref(),
        });
        // A fresh session, with a new id, replaces whatever the browser held before (no
        // fixation).
        super::lifecycle::save_new(oidc, client, &session, self.jar, out).await?;
        log::info!("oidc: login with provider {:?} succeeded", client.name());
        Ok(Finished::LoggedIn(
            safe_return_path(&transaction.return_to).to_string(),
        ))
    }

    /// The login's transaction, from its cookie, checked against `state` and its age.
    fn transaction(&self, state: &str, name: &str) -> Result<Transaction, OidcError> {
        let oidc = self.oidc;
        let transaction = self
            .jar
            .get(name)
            .and_then(|cookie| oidc.cipher.open(name, cookie.value()))
            .and_then(|json| serde_json::from_str::<Transaction>(&json).ok())
            .ok_or_else(|| {
                OidcError::invalid_callback(
                    "invalid_state",
                    "this login could not be matched to this browser (it was finished \
                     already, or started on another address of this site); start it again",
                )
                .with_log_detail(
                    "no login is in progress for this state: the callback was replayed or \
                     forged, or the browser did not send the login's cookie; the usual cause \
                     is a login started on another host name or scheme than \
                     oidc.redirect_uri's (localhost against 127.0.0.1, http against https)",
                )
            })?;
        if !bool::from(transaction.state.as_bytes().ct_eq(state.as_bytes())) {
            return Err(OidcError::invalid_callback(
                "invalid_state",
                "the callback's state does not match the login's",
            ));
        }
        if now().saturating_sub(transaction.created_at) > oidc.config.login_timeout {
            return Err(OidcError::invalid_callback(
                "invalid_state",
                "the login took too long; start it again",
            )
            .with_log_detail("older than oidc.login_timeout"));
        }
        Ok(transaction)
    }

    /// RFC 9207: the response must come from the provider the login was sent to.
    fn check_issuer(
        &self,
        client: &ProviderState,
        resolved: &Resolved,
        params: &CallbackParams,
    ) -> Result<(), OidcError> {
        let mismatch = |description: String| {
            OidcError::new(
                ErrorKind::IssuerMismatch,
                rocket::http::Status::BadRequest,
                "invalid_issuer",
                description,
            )
        };
        // Why a missing iss is refused, if it is.
        let required = match client.config.fapi {
            Some(fapi) => Some(format!(
                "profile {:?} requires it (FAPI 2.0 5.3.2.2)",
                fapi.name()
            )),
            None if resolved
                .metadata
                .authorization_response_iss_parameter_supported() =>
            {
                Some(
                    "the provider advertises authorization_response_iss_parameter_supported".into(),
                )
            }
            None => None,
        };
        // RFC 9207 2.4: an ID token in the response names its issuer itself (checked in
        // full before anything else); providers leave `iss` out then.
        let names_issuer = client.config.response_type.has_id_token()
            && params.id_token.is_some()
            && params.error.is_none();
        let refusal = super::response::iss_refusal(
            params.iss.as_deref(),
            resolved.metadata.issuer(),
            names_issuer,
            required.as_deref(),
        );
        let Some(refusal) = refusal else {
            return Ok(());
        };
        // Some providers leave iss out of error redirects: say what they said.
        let said = params.error.as_deref().map_or(String::new(), |error| {
            format!(
                "; the provider's own answer was error={:?}{}",
                sanitize(error, 64),
                params
                    .error_description
                    .as_deref()
                    .map_or(String::new(), |d| format!(" ({:?})", sanitize(d, 200)))
            )
        });
        Err(mismatch(format!(
            "the callback from provider {:?} {refusal}{said}",
            client.name()
        )))
    }

    /// The provider answered with `error`: a silent re-authentication that needs the user
    /// becomes an interactive login; anything else is the provider's refusal.
    async fn refused(
        &self,
        client: &ProviderState,
        resolved: &Resolved,
        transaction: &Transaction,
        error: &str,
        params: &CallbackParams,
    ) -> Result<String, OidcError> {
        if !(transaction.silent && INTERACTION_NEEDED.contains(&error)) {
            return Err(OidcError::from_provider(
                error,
                params.error_description.as_deref(),
            ));
        }
        // The provider's session is gone: end ours and log in interactively.
        log::info!(
            "oidc: silent re-authentication with provider {:?} answered {error}; falling \
             back to an interactive login",
            client.name()
        );
        let (oidc, out) = (self.oidc, self.out);
        out.extend(oidc.cookies.remove_session(
            &client.session_cookie,
            stored_chunks(self.jar, &client.session_cookie),
        ));
        let login = start_login(
            oidc,
            client,
            resolved,
            &transaction.return_to,
            false,
            &LoginParams::default(),
            self.caller,
        )
        .await?;
        out.extend(login.transaction_cookie.into_iter().collect());
        Ok(login.location)
    }

    /// The login's tokens: the ID token of the response checked first (hybrid, implicit),
    /// then the code exchanged (code, hybrid).
    async fn tokens(
        &self,
        client: &ProviderState,
        resolved: &Resolved,
        transaction: &Transaction,
        params: &CallbackParams,
    ) -> Result<Tokens, OidcError> {
        let response_type = client.config.response_type;
        let missing = |what: &str| {
            OidcError::invalid_callback(
                "invalid_request",
                format!(
                    "the callback has no {what}, which response_type {:?} promises",
                    response_type.as_str()
                ),
            )
        };
        // (JARM's query.jwt carries them encrypted: configuration allows no other.)
        let query_jwt = client.config.response_mode == crate::config::ResponseMode::QueryJwt;
        if response_type.is_front_channel() && self.arrival == Arrival::Query && !query_jwt {
            // Multiple Response Types 5: these never come in a query; one that does was
            // not sent by the provider for this login.
            return Err(OidcError::invalid_callback(
                "invalid_request",
                format!(
                    "the answer of a {:?} login came in a query, where tokens must never be",
                    response_type.as_str()
                ),
            ));
        }
        let check = LoginCheck {
            nonce: &transaction.nonce,
            max_age: transaction.max_age.or(client.config.max_age),
            acr_values: if transaction.acr_values.is_empty() {
                &client.config.acr_values
            } else {
                &transaction.acr_values
            },
            front_channel: None,
        };
        let front_access_token = match (response_type.has_token(), &params.access_token) {
            (true, Some(token)) => Some(token.as_str()),
            (true, None) => return Err(missing("access_token")),
            (false, _) => None,
        };
        // Checked in full before anything else: an invalid one ends the login here.
        let front = match (response_type.has_id_token(), &params.id_token) {
            (true, Some(id_token)) => {
                let front_check = LoginCheck {
                    front_channel: Some(FrontChannel {
                        code: params.code.as_deref(),
                    }),
                    ..check
                };
                let id_token = client.open_id_token(id_token)?;
                let valid = client
                    .validate_id_token(resolved, &id_token, Some(front_check), front_access_token)
                    .await?;
                Some((id_token.into_owned(), valid))
            }
            (true, None) => return Err(missing("id_token")),
            (false, _) => None,
        };
        if !response_type.has_code() {
            return implicit(client, front, front_access_token, params);
        }
        let Some(code) = params.code.as_deref() else {
            return Err(if response_type.is_front_channel() {
                missing("code")
            } else {
                OidcError::invalid_callback(
                    "invalid_request",
                    "the callback has neither code nor error",
                )
            });
        };

        // RFC 9449: a key of this session's own, to which the provider binds its tokens.
        let dpop_key =
            match client.config.client.dpop {
                Some(alg) => Some(SigningKey::generate(alg).map_err(|e| {
                    OidcError::configuration(format!("cannot make a DPoP key: {e}"))
                })?),
                None => None,
            };
        let tokens = client
            .exchange_code(
                resolved,
                code,
                &transaction.code_verifier,
                dpop_key.as_ref(),
                self.caller,
            )
            .await?;
        let (id_token, valid) = match (tokens.id_token(), front) {
            (Some(id_token), front) => {
                let id_token = client.open_id_token(id_token)?;
                let valid = client
                    .validate_id_token(
                        resolved,
                        &id_token,
                        Some(check),
                        Some(tokens.access_token()),
                    )
                    .await?;
                // Core 3.3.3.6: both ID tokens are about the same user of the same issuer
                // (both were checked against the provider's issuer).
                if let Some((_, front)) = front.filter(|(_, f)| f.subject != valid.subject) {
                    return Err(OidcError::invalid_id_token(format!(
                        "provider {:?}: the ID token from the token endpoint is about another \
                         user (sub {:?}) than the one in the authorization response ({:?})",
                        client.name(),
                        sanitize(&valid.subject, 100),
                        sanitize(&front.subject, 100)
                    )));
                }
                (id_token.into_owned(), valid)
            }
            // Core 3.3.3.3 has the token endpoint return one; the one already checked
            // serves (the provider's duty).
            (None, Some(front)) => {
                log::warn!(
                    "oidc: provider {:?} returned no ID token from its token endpoint in a \
                     hybrid login; the one of the authorization response is used",
                    client.name()
                );
                front
            }
            (None, None) => {
                return Err(OidcError::bad_provider_response(format!(
                    "provider {:?} returned no ID token: is \"openid\" in its scope?",
                    client.name()
                )))
            }
        };
        Ok(Tokens {
            id_token,
            valid,
            access_token: tokens.access_token().to_string(),
            refresh_token: tokens.refresh_token().map(str::to_string),
            expires_in: tokens.expires_in(),
            dpop_key,
        })
    }
}

/// The tokens of an implicit login: all in the authorization response, none refreshable.
fn implicit(
    client: &ProviderState,
    front: Option<(String, ValidIdToken)>,
    access_token: Option<&str>,
    params: &CallbackParams,
) -> Result<Tokens, OidcError> {
    let (id_token, valid) = front.expect("implicit response types all carry an ID token");
    if access_token.is_some()
        && !params
            .token_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    {
        return Err(OidcError::bad_provider_response(format!(
            "provider {:?} sent an access token of type {:?} in an implicit login; only \
             Bearer tokens can come through the browser",
            client.name(),
            sanitize(params.token_type.as_deref().unwrap_or("(none)"), 40)
        )));
    }
    // A lifetime that is not a number is no lifetime (the provider's duty).
    let expires_in = params
        .expires_in
        .as_deref()
        .and_then(|s| s.trim().parse::<f64>().ok());
    Ok(Tokens {
        id_token,
        valid,
        access_token: access_token.unwrap_or_default().to_string(),
        refresh_token: None,
        expires_in,
        dpop_key: None,
    })
}
