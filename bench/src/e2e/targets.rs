//! The targets a run is held to: each a PASS or a MISS line of the report. One place, so
//! that a target is changed knowingly and the report names what it holds.

/// `GET /whoami` (the guard alone) on one logged-in cookie: its CPU per request at most
/// this many times that of the public `GET /`.
pub(crate) const WHOAMI_MAX_X_ROOT: f64 = 1.25;

/// `GET /login` (the guard and the session's tokens as JSON): at most this many times `/`.
pub(crate) const LOGIN_ROUTE_MAX_X_ROOT: f64 = 1.6;

/// The app's CPU per full login (its redirect, callback and final page), in ms, with the
/// logins one at a time and several at a time.
pub(crate) const LOGIN_MAX_CPU_MS: f64 = 1.0;

/// The app's resident memory after the one-cookie load, in MB.
pub(crate) const RSS_AFTER_LOAD_MAX_MB: f64 = 30.0;

/// `GET /api/me` with a kept introspection answer: at most this many times `/`.
pub(crate) const KEPT_INTROSPECTION_MAX_X_ROOT: f64 = 1.5;

/// `GET /api/me` with a JWT access token checked locally: at most `/` plus this many RS256
/// verifications (ring, timed in the harness): the signature is the part no check can skip,
/// the rest (the token scan, base64url, two small JSON documents, the claims) may cost as
/// much again, no more.
pub(crate) const LOCAL_JWT_MAX_RS256_VERIFICATIONS: f64 = 2.0;
