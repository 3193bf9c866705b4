//! The one HTTP client every call to a provider goes through: redirects off (SSRF), bounded
//! timeouts, bounded bodies, and failures sorted into "unreachable" versus "bad answer".

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use tracing::Instrument as _;

use crate::error::OidcError;
use crate::telemetry::{self, Endpoint};

/// Largest provider response read, so a hostile endpoint cannot exhaust memory.
const MAX_BODY: usize = 1 << 20;

/// A provider's answer, read in full. Its `Debug` leaves out the body (tokens).
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
    /// `DPoP-Nonce` (RFC 9449 8): the nonce the next proof must carry.
    pub(crate) dpop_nonce: Option<String>,
    pub(crate) www_authenticate: Option<String>,
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
    /// A JSON document (client registration, RFC 7591).
    Json(&'a str),
}

/// Client authentication or bearer token for one request. Not `Debug`: it holds secrets.
pub(crate) enum Auth<'a> {
    None,
    Basic {
        user: &'a str,
        password: &'a str,
    },
    Bearer(&'a str),
    /// A DPoP-bound access token (RFC 9449 7.1); the proof goes in a header of its own.
    Dpop(&'a str),
}

/// The crate's user agent unless the configuration names another.
const USER_AGENT: &str = concat!("rocket_oidc_auth/", env!("CARGO_PKG_VERSION"));

/// The one way the crate talks to providers: every call goes through [`HttpClient::send`],
/// so a test double or another transport replaces this type alone.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    inner: reqwest::Client,
    /// Bounds every request, whatever client was handed in.
    timeout: Duration,
    /// The provider this client calls, as the metrics name it (`for_provider`).
    provider: Arc<str>,
}

/// What one request is: the provider's endpoint it goes to (the metrics' `endpoint`), and
/// how error messages name it ("token request to https://...").
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    pub(crate) endpoint: Endpoint,
    pub(crate) what: &'a str,
}

impl<'a> Call<'a> {
    pub(crate) fn new(endpoint: Endpoint, what: &'a str) -> Self {
        Call { endpoint, what }
    }
}

/// How a provider's HTTP client differs from the default: extra trusted CA certificates
/// (PEM), a proxy, a user agent, a client certificate for mutual TLS.
#[derive(Default)]
pub(crate) struct HttpOptions<'a> {
    pub(crate) ca_certificates: &'a [(String, Vec<u8>)],
    pub(crate) proxy: Option<&'a str>,
    pub(crate) user_agent: Option<&'a str>,
    /// The client's certificate chain and key, PEM (RFC 8705), presented on every call.
    pub(crate) identity: Option<&'a [u8]>,
}

impl HttpClient {
    pub(crate) fn new(timeout: Duration) -> Result<Self, HttpClientError> {
        HttpClient::with_options(timeout, &HttpOptions::default())
    }

    /// A client with `options` on top of the defaults (redirects off, bounded timeouts).
    pub(crate) fn with_options(
        timeout: Duration,
        options: &HttpOptions<'_>,
    ) -> Result<Self, HttpClientError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .user_agent(options.user_agent.unwrap_or(USER_AGENT));
        for (source, pem) in options.ca_certificates {
            let certificates = reqwest::Certificate::from_pem_bundle(pem).map_err(|error| {
                HttpClientError::Certificates {
                    file: source.clone(),
                    error,
                }
            })?;
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if let Some(pem) = options.identity {
            let identity = reqwest::Identity::from_pem(pem).map_err(HttpClientError::Build)?;
            builder = builder.identity(identity);
        }
        if let Some(proxy) = options.proxy {
            // The URL may carry credentials: the error names no URL.
            let proxy = reqwest::Proxy::all(proxy).map_err(HttpClientError::Proxy)?;
            builder = builder.proxy(proxy);
        }
        let inner = builder.build().map_err(HttpClientError::Build)?;
        Ok(HttpClient {
            inner,
            timeout,
            provider: Arc::from(""),
        })
    }

    /// A client the application built. Its own settings stay (it should not follow
    /// redirects); each request is still bounded by `timeout`.
    pub(crate) fn from_reqwest(inner: reqwest::Client, timeout: Duration) -> Self {
        HttpClient {
            inner,
            timeout,
            provider: Arc::from(""),
        }
    }

    /// This client for the calls to `provider` (the same connections, its name on the
    /// metrics of each call).
    pub(crate) fn for_provider(&self, provider: &str) -> Self {
        HttpClient {
            provider: Arc::from(provider),
            ..self.clone()
        }
    }

    /// Sends one request to the provider's `endpoint`; `what` names it in error messages
    /// ("token request to https://...").
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        auth: Auth<'_>,
        body: Body<'_>,
        call: Call<'_>,
    ) -> Result<HttpResponse, OidcError> {
        self.send_with(method, url, auth, body, &[], call).await
    }

    /// [`HttpClient::send`] with extra request headers (DPoP proofs).
    pub(crate) async fn send_with(
        &self,
        method: reqwest::Method,
        url: &str,
        auth: Auth<'_>,
        body: Body<'_>,
        headers: &[(&'static str, &str)],
        call: Call<'_>,
    ) -> Result<HttpResponse, OidcError> {
        let span = tracing::info_span!(
            "oidc.provider_request",
            provider = &*self.provider,
            endpoint = call.endpoint.label(),
            status = tracing::field::Empty,
        );
        let started = Instant::now();
        let outcome = self
            .request(method, url, auth, body, headers, call.what)
            .instrument(span.clone())
            .await;
        let status = outcome.as_ref().ok().map(|response| response.status);
        match status {
            Some(status) => span.record("status", status),
            None => span.record("status", "error"),
        };
        telemetry::provider_request(&self.provider, call.endpoint, status, started.elapsed());
        outcome
    }

    async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        auth: Auth<'_>,
        body: Body<'_>,
        headers: &[(&'static str, &str)],
        what: &str,
    ) -> Result<HttpResponse, OidcError> {
        let mut request = self
            .inner
            .request(method, url)
            .timeout(self.timeout)
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(traceparent) = telemetry::trace::outgoing() {
            request = request.header("traceparent", traceparent);
        }
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
            Auth::Dpop(token) => {
                request = request.header(AUTHORIZATION, format!("DPoP {token}"));
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
            Body::Json(document) => {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(document.to_string());
            }
        }
        let mut response = request.send().await.map_err(|e| transport_error(e, what))?;
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(CONTENT_TYPE.as_str()).unwrap_or_default();
        let dpop_nonce = header("dpop-nonce");
        let www_authenticate = header("www-authenticate");
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
            dpop_nonce,
            www_authenticate,
        })
    }
}

/// Why [`HttpClient::with_options`] could not build a client.
#[derive(Debug)]
pub(crate) enum HttpClientError {
    /// A `ca_certificates` file is not a PEM certificate bundle.
    Certificates { file: String, error: reqwest::Error },
    /// The `http_proxy` URL is not usable. Its text names no URL (it may carry credentials).
    Proxy(reqwest::Error),
    /// `reqwest` refused the settings (a certificate, the user agent, ...).
    Build(reqwest::Error),
}

impl std::fmt::Display for HttpClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpClientError::Certificates { file, error } => {
                write!(f, "{file}: not a PEM certificate bundle: {error}")
            }
            HttpClientError::Proxy(e) => {
                write!(f, "the http_proxy URL is not usable: {}", error_chain(e))
            }
            HttpClientError::Build(e) => {
                write!(f, "cannot build the HTTP client: {}", error_chain(e))
            }
        }
    }
}

impl std::error::Error for HttpClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HttpClientError::Certificates { error: e, .. }
            | HttpClientError::Proxy(e)
            | HttpClientError::Build(e) => Some(e),
        }
    }
}

fn transport_error(e: reqwest::Error, what: &str) -> OidcError {
    // The URL is the provider's endpoint, never carrying tokens, so it may be logged.
    if e.is_timeout() {
        OidcError::unavailable(true, format!("{what}: the provider did not answer in time"))
    } else if e.is_connect() {
        // The chain says why: refused, unknown host, or a certificate not trusted.
        let chain = error_chain(&e);
        let host = e.url().and_then(|url| url.host_str());
        match host.filter(|_| names_no_such_host(&chain)) {
            Some(host) => OidcError::unavailable(
                false,
                format!("{what}: cannot resolve {host} (no such name)"),
            )
            .with_unknown_host(host),
            None => OidcError::unavailable(
                false,
                format!("{what}: cannot connect to the provider: {chain}"),
            ),
        }
    } else if e.is_builder() {
        // A request that could not be built (a malformed URL or header value).
        OidcError::bad_provider_response(format!("{what}: {}", error_chain(&e)))
    } else {
        OidcError::unavailable(false, format!("{what}: {}", error_chain(&e)))
    }
}

/// Whether a resolver's error says the name does not exist (as opposed to a resolver that
/// could not be asked): glibc's, musl's, macOS's and Windows' words for it.
fn names_no_such_host(chain: &str) -> bool {
    [
        "Name or service not known",
        "No address associated with hostname",
        "nodename nor servname provided",
        "No such host is known",
        "Name does not resolve",
    ]
    .iter()
    .any(|words| chain.contains(words))
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
