//! The one HTTP client every call to a provider goes through: redirects off (SSRF), bounded
//! timeouts, bounded bodies, and failures sorted into "unreachable" versus "bad answer".

use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};

use crate::error::OidcError;

/// Largest provider response read, so a hostile endpoint cannot exhaust memory.
const MAX_BODY: usize = 1 << 20;

/// A provider's answer, read in full. Its `Debug` leaves out the body (tokens).
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
}

impl HttpResponse {
    pub(crate) fn is_json(&self) -> bool {
        let essence = self.content_type.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
    }
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .finish()
    }
}

/// A request body. Not `Debug`: forms carry secrets and tokens.
pub(crate) enum Body<'a> {
    Empty,
    Form(&'a [(&'a str, &'a str)]),
}

/// Client authentication or bearer token for one request. Not `Debug`: it holds secrets.
pub(crate) enum Auth<'a> {
    None,
    Basic { user: &'a str, password: &'a str },
    Bearer(&'a str),
}

/// The one way the crate talks to providers: every call goes through [`HttpClient::send`],
/// so a test double or another transport replaces this type alone.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    inner: reqwest::Client,
}

impl HttpClient {
    pub(crate) fn new(timeout: Duration) -> Result<Self, String> {
        let inner = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .user_agent(concat!("rocket_oidc_auth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(HttpClient { inner })
    }

    /// Sends one request; `what` names it in error messages ("token request to https://...").
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        auth: Auth<'_>,
        body: Body<'_>,
        what: &str,
    ) -> Result<HttpResponse, OidcError> {
        let mut request = self
            .inner
            .request(method, url)
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        match auth {
            Auth::None => {}
            Auth::Basic { user, password } => {
                // RFC 6749 2.3.1: both parts form-urlencoded before Basic encoding.
                let credentials = format!("{}:{}", form_encode(user), form_encode(password));
                request = request.header(
                    AUTHORIZATION,
                    format!("Basic {}", base64_standard(credentials.as_bytes())),
                );
            }
            Auth::Bearer(token) => {
                request = request.header(AUTHORIZATION, format!("Bearer {token}"));
            }
        }
        match body {
            Body::Empty => {}
            Body::Form(fields) => {
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields.iter())
                    .finish();
                request = request
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(encoded);
            }
        }
        let mut response = request.send().await.map_err(|e| transport_error(e, what))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(e, what))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(OidcError::bad_provider_response(format!(
                    "{what}: the response is larger than {MAX_BODY} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            content_type,
            body,
        })
    }
}

fn transport_error(e: reqwest::Error, what: &str) -> OidcError {
    // The URL is the provider's endpoint, never carrying tokens, so it may be logged.
    if e.is_timeout() {
        OidcError::unavailable(true, format!("{what}: the provider did not answer in time"))
    } else if e.is_connect() {
        OidcError::unavailable(false, format!("{what}: cannot connect to the provider"))
    } else if e.is_builder() {
        // A request that could not be built (a malformed URL or header value).
        OidcError::bad_provider_response(format!("{what}: {}", error_chain(&e)))
    } else {
        OidcError::unavailable(false, format!("{what}: {}", error_chain(&e)))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn base64_standard(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
