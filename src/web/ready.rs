//! The readiness route (`oidc.ready_path`, off by default): `200` with
//! `{"status": "ready"}` when every provider's metadata and keys are loaded and the session
//! store answers; `503` with what is missing otherwise (which provider, which part, since
//! when, the error code). For a Kubernetes `readinessProbe`; never cached.

use std::sync::Arc;

use rocket::http::{ContentType, Header, Status};
use rocket::response::Response;
use rocket::route::{Handler, Outcome};
use rocket::{Data, Request};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::routes::oidc;
use crate::flow::ready::Readiness;

/// `GET` at `ready_path`.
#[derive(Clone, Debug)]
pub(crate) struct Ready(pub(crate) Arc<Readiness>);

#[rocket::async_trait]
impl Handler for Ready {
    async fn handle<'r>(&self, req: &'r Request<'_>, _data: Data<'r>) -> Outcome<'r> {
        let missing = self.0.check(oidc(req)).await;
        let (status, body) = if missing.is_empty() {
            (Status::Ok, json!({ "status": "ready" }))
        } else {
            let missing: Vec<_> = missing
                .iter()
                .map(|m| {
                    json!({
                        "provider": m.provider,
                        "part": m.part,
                        "since": OffsetDateTime::from_unix_timestamp(m.since)
                            .ok()
                            .and_then(|at| at.format(&Rfc3339).ok()),
                        "error": m.error,
                    })
                })
                .collect();
            (
                Status::ServiceUnavailable,
                json!({ "status": "not_ready", "missing": missing }),
            )
        };
        let body = body.to_string();
        Outcome::Success(
            Response::build()
                .status(status)
                .header(ContentType::JSON)
                .header(Header::new("Cache-Control", "no-store"))
                .sized_body(body.len(), std::io::Cursor::new(body))
                .finalize(),
        )
    }
}
