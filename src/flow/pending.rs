//! A browser's pending logins: the list (in a sealed cookie readable everywhere) of its
//! transaction cookies and their start times, so that anonymous visits cannot pile up
//! transaction cookies past a proxy's header limit, and a finished login leaves the list.

use rocket::http::{Cookie, CookieJar};

use super::login::PendingLogin;
use super::Oidc;
use crate::protocol::time::now;

/// Most logins one browser may have pending at once: starting one more drops the oldest,
/// so anonymous visits cannot pile up transaction cookies past a proxy's header limit.
const MAX_PENDING_LOGINS: usize = 4;

/// The cookie that lists a browser's pending logins (their transaction cookies' names and
/// start times), readable everywhere, whatever path the transaction cookies have.
const PENDING_COOKIE: &str = "oidc_pending";

/// The cookies that keep a browser at most `MAX_PENDING_LOGINS` pending logins once `login`
/// starts: removals of the oldest transaction cookies, and the updated list.
pub(crate) fn keep_few_pending(
    oidc: &Oidc,
    jar: &CookieJar<'_>,
    login: &PendingLogin,
) -> Vec<Cookie<'static>> {
    keep_few_of(oidc, pending_logins(oidc, jar, now()), login)
}

/// [`keep_few_pending`] with the pending list read beforehand (by a guard that starts the
/// login later).
pub(crate) fn keep_few_of(
    oidc: &Oidc,
    mut pending: Vec<(String, i64)>,
    login: &PendingLogin,
) -> Vec<Cookie<'static>> {
    let Some(started) = &login.transaction_cookie else {
        return Vec::new();
    };
    let now = now();
    pending.retain(|(name, _)| name != started.name());
    pending.push((started.name().to_string(), now));
    let mut cookies = Vec::new();
    while pending.len() > MAX_PENDING_LOGINS {
        let (oldest, _) = pending.remove(0);
        cookies.push(
            oidc.cookies
                .removal(oldest, oidc.cookies.path_for(&oidc.config.callback_path)),
        );
    }
    cookies.push(pending_cookie(oidc, &pending));
    cookies
}

/// The pending logins a browser's list names, oldest first, without those past
/// `login_timeout`.
pub(crate) fn pending_logins(oidc: &Oidc, jar: &CookieJar<'_>, now: i64) -> Vec<(String, i64)> {
    let name = oidc.cookies.name(PENDING_COOKIE);
    let mut pending: Vec<(String, i64)> = jar
        .get(&name)
        .and_then(|cookie| oidc.cipher.open(&name, cookie.value()))
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default();
    pending.retain(|(_, at)| now.saturating_sub(*at) <= oidc.config.login_timeout);
    pending.sort_by_key(|(_, at)| *at);
    pending
}

fn pending_cookie(oidc: &Oidc, pending: &[(String, i64)]) -> Cookie<'static> {
    let value = serde_json::to_string(pending).expect("names and times serialize");
    oidc.cookies.sealed(
        &oidc.cipher,
        oidc.cookies.name(PENDING_COOKIE),
        &value,
        "/".into(),
        Some(oidc.config.login_timeout),
    )
}

/// The cookies that end the login of the transaction cookie `name` (the callback came): its
/// removal, and the list without it.
pub(crate) fn finished(oidc: &Oidc, jar: &CookieJar<'_>, name: String) -> Vec<Cookie<'static>> {
    let mut cookies = vec![oidc.cookies.removal(
        name.clone(),
        oidc.cookies.path_for(&oidc.config.callback_path),
    )];
    let mut pending = pending_logins(oidc, jar, now());
    if pending.iter().any(|(pending, _)| *pending == name) {
        pending.retain(|(pending, _)| *pending != name);
        cookies.push(if pending.is_empty() {
            oidc.cookies
                .removal(oidc.cookies.name(PENDING_COOKIE), "/".into())
        } else {
            pending_cookie(oidc, &pending)
        });
    }
    cookies
}
