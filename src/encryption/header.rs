//! The JWE protected header (RFC 7516 §4): what this client reads of it, and what it
//! refuses (`zip`, `crit`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use super::{ContentEncryption, JweError, KeyManagementAlg};

/// The members of a protected header that decryption uses.
#[derive(Debug)]
pub(super) struct Header {
    pub(super) alg: KeyManagementAlg,
    pub(super) enc: ContentEncryption,
    pub(super) kid: Option<String>,
    /// The ephemeral public key of ECDH-ES, a JWK.
    pub(super) epk: Option<Map<String, Value>>,
    /// `apu` and `apv`, decoded (empty when absent).
    pub(super) apu: Vec<u8>,
    pub(super) apv: Vec<u8>,
}

impl Header {
    /// Parses the first part of a compact JWE, as sent.
    pub(super) fn parse(encoded: &str) -> Result<Header, JweError> {
        let json = decode(encoded, "the protected header is not base64url")?;
        let members: Map<String, Value> = serde_json::from_slice(&json)
            .map_err(|_| JweError::Malformed("the protected header is not a JSON object"))?;
        if let Some(zip) = members.get("zip") {
            let zip = zip.as_str().map_or_else(|| zip.to_string(), str::to_owned);
            return Err(JweError::ZipRefused(zip));
        }
        match members.get("crit") {
            None => {}
            Some(Value::Array(names)) if names.is_empty() => {}
            Some(Value::Array(names)) => {
                let names = names
                    .iter()
                    .map(|n| n.as_str().map_or_else(|| n.to_string(), str::to_owned))
                    .collect();
                return Err(JweError::CritRefused(names));
            }
            Some(_) => return Err(JweError::Malformed("crit is not an array")),
        }
        let alg = string(&members, "alg")?
            .ok_or(JweError::Malformed("the protected header has no alg"))?
            .parse()?;
        let enc = string(&members, "enc")?
            .ok_or(JweError::Malformed("the protected header has no enc"))?
            .parse()?;
        let kid = string(&members, "kid")?.map(str::to_owned);
        let epk = match members.get("epk") {
            None => None,
            Some(Value::Object(epk)) => Some(epk.clone()),
            Some(_) => return Err(JweError::Malformed("epk is not a JSON object")),
        };
        let apu = match string(&members, "apu")? {
            Some(apu) => decode(apu, "apu is not base64url")?,
            None => Vec::new(),
        };
        let apv = match string(&members, "apv")? {
            Some(apv) => decode(apv, "apv is not base64url")?,
            None => Vec::new(),
        };
        Ok(Header {
            alg,
            enc,
            kid,
            epk,
            apu,
            apv,
        })
    }
}

/// A string member; `Err` when it is present but not a string.
fn string<'a>(members: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, JweError> {
    match members.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(JweError::Malformed(
            "a header member (alg, enc, kid, apu, apv) is not a string",
        )),
    }
}

/// Unpadded base64url, as every part of a compact JWE is (RFC 7516 §7.1).
pub(super) fn decode(text: &str, what: &'static str) -> Result<Vec<u8>, JweError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JweError::Malformed(what))
}
