//! The clock every time check uses.

/// When a token with `expires_in` seconds to live, received at `now`, expires.
pub(crate) fn expires_at(expires_in: Option<f64>, now: i64) -> Option<i64> {
    expires_in
        .filter(|secs| secs.is_finite() && *secs >= 0.0)
        .map(|secs| now.saturating_add(secs as i64))
}

/// Now, in Unix seconds.
pub(crate) fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
