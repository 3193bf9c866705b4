//! A store that fails, as the crate's error: the session layer's business, since a store
//! knows no HTTP.

use rocket::http::Status;

use crate::error::{ErrorKind, OidcError};
use crate::store::StoreError;

/// A store failure, mapped to the crate's error: 503 with a description fit for users,
/// and one log line that says why (the store's own error, which may name hosts).
pub(crate) fn store_failed(err: StoreError) -> OidcError {
    OidcError::new(
        ErrorKind::StoreUnavailable,
        Status::ServiceUnavailable,
        "session_store_unavailable",
        "sessions cannot be read or written right now; try again in a moment",
    )
    .with_log_detail(format!("the session store failed: {err}"))
}
