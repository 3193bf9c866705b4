//! `auth_request_params`: the extra parameters of every authorization request, with the
//! ones the crate sets itself refused, and `max_age` and `acr_values` read out.

use std::collections::BTreeMap;

use super::app::seconds;
use super::error::{bail, ConfigError};

/// Parameters of the authorization request that the crate sets itself on every login.
const RESERVED_AUTH_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "scope",
    // A setting of its own (the callback and the login cookie depend on it).
    "response_mode",
    "request",
    "request_uri",
];

/// The extra authorization parameters as sent, with `max_age` and `acr_values` read out.
#[allow(clippy::type_complexity)]
pub(super) fn auth_request_params(
    key: &str,
    params: BTreeMap<String, serde_json::Value>,
) -> Result<(Vec<(String, String)>, Option<i64>, Vec<String>), ConfigError> {
    let mut sent = Vec::new();
    let mut max_age = None;
    let mut acr_values = Vec::new();
    for (param, value) in params {
        if RESERVED_AUTH_PARAMS.contains(&param.as_str()) {
            let fix = if matches!(param.as_str(), "scope" | "response_type" | "response_mode") {
                format!("use {key}.{param} instead")
            } else {
                "the crate sets it on every login; remove it".into()
            };
            bail!(
                format!("{key}.auth_request_params.{param}"),
                "cannot be set",
                fix
            );
        }
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect::<Vec<_>>()
                .join(" "),
            obj @ serde_json::Value::Object(_) => obj.to_string(),
            serde_json::Value::Null => continue,
        };
        if param == "acr_values" {
            acr_values = value.split_whitespace().map(str::to_string).collect();
        }
        if param == "max_age" {
            match value.parse::<u64>() {
                Ok(secs) => max_age = Some(seconds(secs)),
                Err(_) => bail!(
                    format!("{key}.auth_request_params.max_age"),
                    format!("= {value:?} must be a number of seconds"),
                    "e.g. max_age = 3600"
                ),
            }
        }
        sent.push((param, value));
    }
    Ok((sent, max_age, acr_values))
}
