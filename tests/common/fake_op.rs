//! A deliberately misbehaving OpenID Provider for integration tests.
//!
//! `FakeOp::start()` binds a hand-written HTTP/1.1 server to `127.0.0.1:0` and
//! serves just enough of OpenID Connect for the authorization-code flow:
//!
//! | path | what it does |
//! | --- | --- |
//! | `GET /.well-known/openid-configuration` | discovery document |
//! | `GET /custom/openid-configuration` | the same document, for `discovery_url` |
//! | `GET /jwks` | the public key of the current signing key |
//! | `GET /authorize` | `303` back to `redirect_uri` with `code`, `state`, `iss` (no login page); a pushed request by `client_id` + `request_uri` |
//! | `POST /par` | pushed authorization requests (RFC 9126), with `par` |
//! | `POST /token` | `grant_type=authorization_code`, client auth (secret or assertion), single-use codes, PKCE S256, DPoP proofs |
//! | `GET`/`POST /userinfo` | needs `Authorization: Bearer <access token from /token>` (or `DPoP` with a proof); JSON, or a signed and/or encrypted JWT with `userinfo_form` |
//! | `POST /register` | dynamic registration (RFC 7591) of `registered-app`, with `registration` |
//! | `GET /register/registered-app` | its configuration (RFC 7592), with its registration access token |
//! | `GET /logout` | `303` to `post_logout_redirect_uri` (with `state`), else `200` |
//! | `POST /revoke` | `200` (listed only in RFC 8414 metadata, with `oauth_metadata`, or configured) |
//! | `POST /introspect` | token introspection (RFC 7662) for an authenticated client, with `introspection` |
//!
//! `/token` also takes `grant_type=client_credentials` when `client_credentials` says how to
//! answer, and [`FakeOp::access_token`] makes RFC 9068 JWT access tokens signed like the ID
//! tokens, for APIs that check them locally. ID tokens come encrypted (nested JWTs) with
//! `id_token_encryption`; the JWEs are made by [`super::jwe`].
//!
//! Every deviation from a well-behaved provider is switched on through
//! [`Behaviour`] (see [`FakeOp::set`]); with `Behaviour::default()` the fake
//! OP behaves correctly. Every request is counted ([`FakeOp::hits`]) and the
//! last one per path is kept ([`FakeOp::last_request`]).
//!
//! The server is deliberately simple: one request per connection, answered
//! with `Connection: close`; `Content-Length` bodies only (no chunked bodies);
//! malformed requests get a `400` and never a panic.
//!
//! The RSA keys under `tests/fixtures/` are test-only keys committed on purpose.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use openidconnect::core::{CoreHmacKey, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use rand::RngCore as _;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::jwe;

/// The only client the fake OP knows.
pub const CLIENT_ID: &str = "test-client";
/// Its secret (`client_secret_basic` or `client_secret_post`).
pub const CLIENT_SECRET: &str = "test-secret";

/// The client `/register` registers (with `Behaviour::registration`); known to `/authorize`
/// and `/token` once registered.
pub const REGISTERED_CLIENT_ID: &str = "registered-app";
/// Its secret.
pub const REGISTERED_CLIENT_SECRET: &str = "registered-secret";
/// Its registration access token (RFC 7592), for `GET /register/registered-app`.
pub const REGISTRATION_ACCESS_TOKEN: &str = "registration-access-token";
/// `client_assertion_type` of client assertions (RFC 7523 2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `client_id` of the client that [`FakeOp::access_token`] tokens and active introspection
/// answers were issued to: an API's caller, not the app.
pub const API_CALLER: &str = "api-caller";

/// Kid of `op_key_1.pem`, the default signing key.
pub const KID_1: &str = "key-1";
/// Kid of `op_key_2.pem`, the signing key after `rotate_keys`.
pub const KID_2: &str = "key-2";

// TEST-ONLY keys (see tests/fixtures/README.md). They protect nothing.
const KEY_1_PEM: &str = include_str!("../fixtures/op_key_1.pem");
const KEY_2_PEM: &str = include_str!("../fixtures/op_key_2.pem");
/// SubjectPublicKeyInfo PEM of key 1: its exact bytes are the HMAC secret of
/// [`Signing::Hs256WithPublicKey`].
pub const KEY_1_PUBLIC_PEM: &str = include_str!("../fixtures/op_key_1.pub.pem");

/// Largest request head (request line + headers) and body accepted.
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 1024 * 1024;

// ---------------------------------------------------------------------------
// Behaviour knobs
// ---------------------------------------------------------------------------

/// What the `iss` parameter of the authorization response (RFC 9207) holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CallbackIss {
    /// The real issuer.
    #[default]
    Correct,
    /// `"https://evil.example"`.
    Wrong,
    /// No `iss` parameter at all.
    Missing,
    /// The real issuer on success, none on error redirects (Django OAuth Toolkit 3.4).
    MissingOnErrors,
}

/// How `/token` answers once the request itself was valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TokenResponse {
    /// `200` with access, refresh and ID token.
    #[default]
    Ok,
    /// `400 {"error": <this>, "error_description": "test error"}`.
    OAuthError(String),
    /// `500` with a `text/html` body.
    ServerError,
    /// Never answers (sleeps for an hour): for client timeouts.
    Hang,
    /// Like `Ok` but without `id_token`.
    NoIdToken,
}

/// How the ID token is signed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Signing {
    /// RS256 with the current key, its kid in the header.
    #[default]
    Good,
    /// Like `Good`, then one byte of the signature is flipped.
    BadSignature,
    /// Header `alg: "none"` (kid kept), empty signature: `h.p.`.
    AlgNone,
    /// Header `alg: "HS256"` (kid kept), HMAC-SHA256 keyed with the bytes of
    /// [`KEY_1_PUBLIC_PEM`]: the classic algorithm-confusion attack.
    Hs256WithPublicKey,
    /// RS256 with the current key but kid `"nope"` in the header.
    UnknownKid,
    /// RS256 with the key that `/jwks` does NOT publish, but the kid of the
    /// published one (by default: signed with key 2, header kid `"key-1"`).
    OtherKey,
    /// RS256 with the key that `/jwks` no longer publishes, under its own kid: a key the
    /// provider retired (with `rotate_keys`: key 1, kid `"key-1"`).
    RetiredKey,
    /// Header `alg: "HS256"` (kid kept), HMAC-SHA256 keyed with [`CLIENT_SECRET`]: valid for
    /// an ID token when the provider advertises HS256, never for an access token another
    /// client presents.
    Hs256WithClientSecret,
    /// ES256 with the provider's EC P-256 key, kid [`EC_KID`]: a correct signature, which
    /// `/jwks` verifies when [`Behaviour::publish_ec_key`] is on. For a client that pinned
    /// RS256, the wrong algorithm all the same.
    Es256,
    /// RS256 with the current key and no `kid` in the header (the conformance suite's
    /// `kid-absent` tests).
    NoKid,
}

/// The kid of the provider's EC P-256 key (see [`Signing::Es256`]).
pub const EC_KID: &str = "ec-1";

/// How `/par` answers (RFC 9126) once the provider advertises it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ParResponse {
    /// `201 {"request_uri": "urn:ietf:params:oauth:request_uri:...", "expires_in": 60}` for
    /// an authenticated client whose form carries its `client_id`; `/authorize` then takes
    /// `client_id` + `request_uri` once and goes on with the pushed parameters.
    #[default]
    Created,
    /// `201 {"expires_in": 60}`: no `request_uri`.
    NoRequestUri,
    /// This status with an HTML body, before any check (a broken endpoint: 404, 500, ...).
    Status(u16),
    /// `400 {"error": <this>, "error_description": "test error"}` for an authenticated client.
    OAuthError(String),
}

/// How `/register` answers (RFC 7591 3) once the provider advertises it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RegistrationResponse {
    /// `201` with the requested metadata plus `client_id` `registered-app`, its secret,
    /// `registration_client_uri` `<issuer>/register/registered-app` and a
    /// `registration_access_token` (a request without `redirect_uris` gets a `400
    /// invalid_redirect_uri`, as from a real provider).
    #[default]
    Created,
    /// `400 {"error": "invalid_redirect_uri", "error_description": ...}`.
    InvalidRedirectUri,
    /// `500` with an HTML body.
    ServerError,
    /// Like `Created` but without `client_id` (and nothing registered).
    NoClientId,
}

/// How `/introspect` answers (RFC 7662 2.2) once the provider advertises it.
#[derive(Debug, Clone, PartialEq)]
pub enum IntrospectionResponse {
    /// For an authenticated client: `200` with an active answer for `token` — `active`,
    /// `iss`, `sub` ([`Behaviour::sub`]), `aud` ([`CLIENT_ID`]), `scope` `"read"`,
    /// `client_id` ([`API_CALLER`]), `token_type` `"Bearer"`, `iat` now and `exp` in five
    /// minutes, then `members` (a `Value::Null` removes one) — and `{"active": false}` for
    /// any other token. See [`IntrospectionResponse::active`].
    Active {
        token: String,
        members: Map<String, Value>,
    },
    /// `200 {"active": false}` for an authenticated client.
    Inactive,
    /// `400 {"error": <this>, "error_description": "test error"}` for an authenticated
    /// client, e.g. `unsupported_token_type`.
    OAuthError(String),
    /// `500` with an HTML body, before any check.
    ServerError,
    /// Never answers (sleeps for an hour): for client timeouts.
    Hang,
    /// `401 invalid_client` whatever the credentials: the provider refuses the client.
    RefuseClient,
    /// `200` with an HTML page (a proxy's or a login page) for an authenticated client.
    NotJson,
}

impl IntrospectionResponse {
    /// [`IntrospectionResponse::Active`] for `token`, with the members of the JSON object
    /// `members` over the usual ones (`null` removes one).
    pub fn active(token: &str, members: Value) -> Self {
        IntrospectionResponse::Active {
            token: token.to_owned(),
            members: members.as_object().cloned().unwrap_or_default(),
        }
    }
}

/// How `/token` answers the client-credentials grant (RFC 6749 4.4) of an authenticated
/// client.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientCredentialsResponse {
    /// `200 {"access_token", "token_type", "expires_in": <this>, "scope"}`: `token_type` is
    /// [`Behaviour::token_type`] (default `Bearer`), `scope` the requested one; a
    /// `Value::Null` leaves `expires_in` out, and a string is sent as a string.
    Issued { expires_in: Value },
    /// `500` with an HTML body.
    ServerError,
    /// `400 {"error": "invalid_client", "error_description": "test error"}`.
    InvalidClient,
}

/// A JWE the provider makes: to the client's public JWK `jwk`, with `alg` and `enc` (those
/// [`jwe::encrypt`] knows).
#[derive(Debug, Clone, PartialEq)]
pub struct Encryption {
    pub alg: String,
    pub enc: String,
    pub jwk: Value,
}

impl Encryption {
    /// A JWE to `jwk` with `alg` and `enc`.
    pub fn to(jwk: Value, alg: &str, enc: &str) -> Self {
        Encryption {
            alg: alg.to_owned(),
            enc: enc.to_owned(),
            jwk,
        }
    }
}

/// How `/userinfo` answers a valid access token (Core 5.3.2).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum UserinfoForm {
    /// `application/json`: the claims as they are.
    #[default]
    Json,
    /// `application/jwt`: the claims with `iss` (the issuer) and `aud` ([`CLIENT_ID`]), then
    /// `userinfo_jwt_claims`, signed as `userinfo_signing` (by default `signing`) says.
    Signed,
    /// `application/jwt`: a JWE of the JSON claims.
    Encrypted(Encryption),
    /// `application/jwt`: a JWE (`cty: "JWT"`) of the `Signed` JWT.
    SignedThenEncrypted(Encryption),
}

/// How every JWE of the provider (ID tokens, UserInfo) is spoiled once made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JweTamper {
    /// One bit of the ciphertext flipped.
    Ciphertext,
    /// One bit of the authentication tag flipped.
    Tag,
    /// The protected header sent with one more member (`alg`, `enc`, `kid` unchanged): the
    /// authenticated data is no longer what was encrypted.
    ProtectedHeader,
    /// One bit of the encrypted key flipped (RSA and `ECDH-ES+A*KW`); direct `ECDH-ES`, which
    /// has none, gets one byte.
    EncryptedKey,
}

impl JweTamper {
    fn apply(self, jwe: &str) -> String {
        let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
        let index = match self {
            JweTamper::ProtectedHeader => 0,
            JweTamper::EncryptedKey => 1,
            JweTamper::Ciphertext => 3,
            JweTamper::Tag => 4,
        };
        let mut bytes = URL_SAFE_NO_PAD.decode(&parts[index]).unwrap_or_default();
        if self == JweTamper::ProtectedHeader {
            let mut header: Map<String, Value> = serde_json::from_slice(&bytes).unwrap_or_default();
            header.insert("x-tampered".into(), json!(true));
            bytes = Value::Object(header).to_string().into_bytes();
        } else if bytes.is_empty() {
            bytes.push(0x01);
        } else {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
        }
        parts[index] = URL_SAFE_NO_PAD.encode(bytes);
        parts.join(".")
    }
}

/// Everything a test can change; public fields, `Default` is a correct OP.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// `issuer` in the discovery document (default: the real issuer).
    pub discovery_issuer: Option<String>,
    /// Discovery answers this status with an HTML page instead of the document.
    pub discovery_status: Option<u16>,
    /// Serve RFC 8414 metadata (`/.well-known/oauth-authorization-server`) naming the
    /// revocation endpoint `/revoke`, which the OpenID document never lists (Django OAuth
    /// Toolkit 3.4); without it that path is a 404.
    pub oauth_metadata: bool,
    /// `/revoke` never answers.
    pub revoke_hangs: bool,
    /// `authorization_response_iss_parameter_supported` in discovery (default `true`).
    pub advertise_iss_param: bool,
    /// Sign with and publish key 2 (kid `"key-2"`) instead of key 1 (default `false`).
    pub rotate_keys: bool,
    /// `Some((error, description))`: `/authorize` redirects back with this error.
    pub authorize_error: Option<(String, String)>,
    /// The `iss` of the authorization response (default `Correct`).
    pub callback_iss: CallbackIss,
    /// How `/token` answers (default `Ok`).
    pub token_response: TokenResponse,
    /// `sub` of the ID token and, unless `userinfo_sub` is set, of userinfo (default `"alice"`).
    pub sub: String,
    /// Claim overrides applied last to the ID token: each key replaces the
    /// claim, a `Value::Null` removes it (default: none).
    pub id_token_claims: Map<String, Value>,
    /// How the ID token is signed (default `Good`).
    pub signing: Signing,
    /// `sub` returned by `/userinfo` (default: `sub`).
    pub userinfo_sub: Option<String>,
    /// Forces `/userinfo` to answer with this status, before any token check (default `None`).
    pub userinfo_status: Option<u16>,
    /// `expires_in` of access tokens (default 3600).
    pub expires_in: i64,
    /// Claim overrides applied after `id_token_claims` to ID tokens issued on refresh.
    pub refresh_id_token_claims: Map<String, Value>,
    /// `Some(error)`: the refresh_token grant answers 400 with this OAuth error.
    pub refresh_error: Option<String>,
    /// Issue a new refresh token on each refresh and refuse the old one (default `false`).
    pub rotate_refresh_tokens: bool,
    /// How long a refresh takes, to make concurrent refreshes overlap (default 0).
    pub refresh_delay_ms: u64,
    /// Refreshed ID tokens carry the time of the refresh as `auth_time`, as if the user had
    /// logged in again (Django OAuth Toolkit 3.4 after a new login elsewhere).
    pub refresh_auth_time_now: bool,
    /// `/authorize` with `prompt=none` answers a 500 page of its own instead of redirecting
    /// back (Django OAuth Toolkit 3.4).
    pub prompt_none_error_page: bool,
    /// The code grant issues no refresh token (default `false`: it issues one).
    pub no_refresh_token: bool,
    /// The refresh_token grant answers 500 (a provider failing for a moment).
    pub refresh_server_error: bool,
    /// `Some`: discovery names `pushed_authorization_request_endpoint` (`<issuer>/par`),
    /// which answers as this says; `None` (default): no PAR endpoint (`/par` is a 404).
    pub par: Option<ParResponse>,
    /// Discovery says `require_pushed_authorization_requests: true`, and `/authorize` refuses
    /// (400) a request that was not pushed (default `false`: not advertised).
    pub require_par: bool,
    /// `token_type` of every token response (code and refresh grants), right or wrong;
    /// default `None`: `DPoP` when the request carried a `DPoP` proof, else `Bearer`.
    pub token_type: Option<String>,
    /// `dpop_signing_alg_values_supported` in discovery (default `None`: not advertised).
    pub dpop_algs: Option<Vec<String>>,
    /// `token_endpoint_auth_signing_alg_values_supported` in discovery (default `None`: not
    /// advertised).
    pub assertion_algs: Option<Vec<String>>,
    /// The public JWK (EC P-256 or Ed25519) that verifies `test-client`'s `private_key_jwt`
    /// assertions (default `None`: assertions signed with a private key are refused;
    /// `client_secret_jwt` ones are checked with the client's secret).
    pub client_jwk: Option<Value>,
    /// `Some`: discovery names `registration_endpoint` (`<issuer>/register`), which answers as
    /// this says; `None` (default): no registration (`/register` is a 404).
    pub registration: Option<RegistrationResponse>,
    /// Members set in a successful registration response after the usual ones (a
    /// `Value::Null` removes one), e.g. `require_pushed_authorization_requests` (default none).
    pub registration_extra: Map<String, Value>,
    /// `/register` needs `Authorization: Bearer <this>` (RFC 7591 3); default `None`: open.
    pub initial_access_token: Option<String>,
    /// Members left out of the client configuration that `GET /register/<id>` answers, as
    /// RFC 7592 3 allows for an unchanged `client_secret` (default none).
    pub client_configuration_omits: Vec<String>,
    /// `Some`: discovery names `introspection_endpoint` (`<issuer>/introspect`), which
    /// answers as this says; `None` (default): no introspection (`/introspect` is a 404).
    pub introspection: Option<IntrospectionResponse>,
    /// `Some`: `/token` answers `grant_type=client_credentials` as this says; `None`
    /// (default): that grant is an `unsupported_grant_type`.
    pub client_credentials: Option<ClientCredentialsResponse>,
    /// `id_token_signing_alg_values_supported` in discovery (default `None`: `["RS256"]`).
    pub id_token_algs: Option<Vec<String>>,
    /// `/jwks` also publishes the provider's EC P-256 key ([`EC_KID`], ES256), beside the
    /// RSA one (default off).
    pub publish_ec_key: bool,
    /// `/jwks` publishes the other RSA key too (key 2 beside key 1), so a token without
    /// `kid` matches two keys (default off).
    pub publish_both_rsa_keys: bool,
    /// Claims set on (or, with `null`, removed from) the ID token of an authorization
    /// response (hybrid, implicit) only: `c_hash`, `at_hash`, `nonce`, `sub`, ...
    pub front_id_token_claims: Map<String, Value>,
    /// `Some`: every ID token (code, refresh and authorization responses) is a nested JWT,
    /// the signed one inside a JWE (`cty: "JWT"`) as this says; `None` (default): signed only.
    pub id_token_encryption: Option<Encryption>,
    /// How `/userinfo` answers (default `Json`).
    pub userinfo_form: UserinfoForm,
    /// Claims set on (or, with `null`, removed from) a signed UserInfo after the usual ones:
    /// `aud`, `iss`, ... (default none).
    pub userinfo_jwt_claims: Map<String, Value>,
    /// How a signed UserInfo is signed (default `None`: as `signing` says).
    pub userinfo_signing: Option<Signing>,
    /// `Some`: every JWE is spoiled so (default `None`).
    pub jwe_tamper: Option<JweTamper>,
    /// JARM (`response_mode` `jwt`, `*.jwt`): claims set on (or, with `null`, removed from)
    /// the response JWT after `iss`, `aud` and `exp` (default none).
    pub jarm_claims: Map<String, Value>,
    /// How the response JWT is signed (default `None`: as `signing` says).
    pub jarm_signing: Option<Signing>,
    /// `Some`: the response JWT is encrypted so (a nested JWT, JARM 2.3) (default `None`).
    pub jarm_encryption: Option<Encryption>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            discovery_issuer: None,
            discovery_status: None,
            oauth_metadata: false,
            revoke_hangs: false,
            advertise_iss_param: true,
            rotate_keys: false,
            authorize_error: None,
            callback_iss: CallbackIss::Correct,
            token_response: TokenResponse::Ok,
            sub: "alice".to_owned(),
            id_token_claims: Map::new(),
            front_id_token_claims: Map::new(),
            publish_ec_key: false,
            publish_both_rsa_keys: false,
            signing: Signing::Good,
            userinfo_sub: None,
            userinfo_status: None,
            expires_in: 3600,
            refresh_id_token_claims: Map::new(),
            refresh_error: None,
            rotate_refresh_tokens: false,
            no_refresh_token: false,
            refresh_auth_time_now: false,
            prompt_none_error_page: false,
            refresh_delay_ms: 0,
            refresh_server_error: false,
            par: None,
            require_par: false,
            token_type: None,
            dpop_algs: None,
            assertion_algs: None,
            client_jwk: None,
            registration: None,
            registration_extra: Map::new(),
            initial_access_token: None,
            client_configuration_omits: Vec::new(),
            introspection: None,
            client_credentials: None,
            id_token_algs: None,
            id_token_encryption: None,
            userinfo_form: UserinfoForm::Json,
            userinfo_jwt_claims: Map::new(),
            userinfo_signing: None,
            jwe_tamper: None,
            jarm_claims: Map::new(),
            jarm_signing: None,
            jarm_encryption: None,
        }
    }
}

/// One request as the fake OP received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `"GET"`, `"POST"`, ...
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Raw query string without `?` (empty if none).
    pub query: String,
    /// Headers in order, names lowercased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// Body as (lossy) UTF-8.
    pub body: String,
}

impl Recorded {
    /// First header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Decoded query parameters (last one wins).
    pub fn query_params(&self) -> HashMap<String, String> {
        form_pairs(&self.query)
    }

    /// Decoded `application/x-www-form-urlencoded` body parameters (last one wins).
    pub fn form_params(&self) -> HashMap<String, String> {
        form_pairs(&self.body)
    }
}

// ---------------------------------------------------------------------------
// Server state
// ---------------------------------------------------------------------------

/// What `/authorize` remembers about an issued code.
struct Grant {
    nonce: Option<String>,
    code_challenge: Option<String>,
    redirect_uri: String,
    client_id: String,
}

/// A pushed authorization request, until `/authorize` uses it.
struct Pushed {
    client_id: String,
    params: HashMap<String, String>,
}

#[derive(Default)]
struct Log {
    hits: HashMap<String, usize>,
    last: HashMap<String, Recorded>,
}

struct Shared {
    issuer: String,
    key_1: CoreRsaPrivateSigningKey,
    key_2: CoreRsaPrivateSigningKey,
    /// The EC P-256 key of [`Signing::Es256`] (PKCS#8), made at start.
    ec_key: Vec<u8>,
    behaviour: Mutex<Behaviour>,
    log: Mutex<Log>,
    /// Unused authorization codes.
    codes: Mutex<HashMap<String, Grant>>,
    /// Access tokens issued by `/token`, accepted by `/userinfo`.
    access_tokens: Mutex<HashSet<String>>,
    /// Live refresh tokens, with the nonce and auth_time of their original login.
    refresh_tokens: Mutex<HashMap<String, (Option<String>, u64)>>,
    /// Pushed authorization requests by `request_uri` (single use).
    pushed: Mutex<HashMap<String, Pushed>>,
    /// The registration response of the registered client, once `/register` created it.
    registered: Mutex<Option<Map<String, Value>>>,
    /// `jti`s of the client assertions used so far: a replay is refused (RFC 7523 3).
    assertion_jtis: Mutex<HashSet<String>>,
}

/// Locks a mutex, ignoring poisoning (a test's panicking `set` closure must
/// not take the whole server down).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn behaviour(&self) -> Behaviour {
        lock(&self.behaviour).clone()
    }

    /// The key published in `/jwks` and used for good signatures, with its kid.
    fn current_key(&self, b: &Behaviour) -> (&CoreRsaPrivateSigningKey, &'static str) {
        if b.rotate_keys {
            (&self.key_2, KID_2)
        } else {
            (&self.key_1, KID_1)
        }
    }

    /// The secret of a client this provider knows: `test-client`, or the registered one.
    fn client_secret(&self, client_id: &str) -> Option<String> {
        if client_id == CLIENT_ID {
            return Some(CLIENT_SECRET.to_owned());
        }
        let registered = lock(&self.registered);
        let client = registered.as_ref()?;
        (client.get("client_id").and_then(Value::as_str) == Some(client_id)).then(|| {
            client
                .get("client_secret")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        })
    }

    /// The key that is NOT published.
    fn other_key(&self, b: &Behaviour) -> &CoreRsaPrivateSigningKey {
        if b.rotate_keys {
            &self.key_1
        } else {
            &self.key_2
        }
    }
}

// ---------------------------------------------------------------------------
// Public handle
// ---------------------------------------------------------------------------

/// A running fake OP. Dropping it does not stop the server task; that ends
/// with the test's runtime.
pub struct FakeOp {
    /// `"http://127.0.0.1:PORT"`, no trailing slash.
    pub issuer: String,
    shared: Arc<Shared>,
}

impl fmt::Debug for FakeOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeOp")
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl FakeOp {
    /// Binds `127.0.0.1:0` and spawns the server on the current tokio runtime.
    pub async fn start() -> FakeOp {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake OP: bind 127.0.0.1:0");
        let port = listener.local_addr().expect("fake OP: local_addr").port();
        let issuer = format!("http://127.0.0.1:{port}");
        let load = |pem: &str, kid: &str| {
            CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.to_owned())))
                .expect("fake OP: fixture key must be a PKCS#1 PEM RSA key")
        };
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            key_1: load(KEY_1_PEM, KID_1),
            key_2: load(KEY_2_PEM, KID_2),
            ec_key: ring::signature::EcdsaKeyPair::generate_pkcs8(
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &ring::rand::SystemRandom::new(),
            )
            .expect("fake OP: an EC key")
            .as_ref()
            .to_vec(),
            behaviour: Mutex::new(Behaviour::default()),
            log: Mutex::new(Log::default()),
            codes: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(HashSet::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            pushed: Mutex::new(HashMap::new()),
            registered: Mutex::new(None),
            assertion_jtis: Mutex::new(HashSet::new()),
        });

        let server = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(serve_connection(Arc::clone(&server), stream));
                    }
                    // E.g. too many open files: back off a little and go on.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        });

        FakeOp { issuer, shared }
    }

    /// Changes the behaviour, e.g. `op.set(|b| b.signing = Signing::AlgNone)`.
    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut lock(&self.shared.behaviour));
    }

    /// A back-channel logout token (Back-Channel Logout 1.0, 2.4) for `sub` and `sid`, valid
    /// and fresh, with `overrides` applied (a `Value::Null` removes a claim), header `typ`,
    /// signed as `signing` says.
    pub fn logout_token(
        &self,
        sid: Option<&str>,
        sub: Option<&str>,
        overrides: Value,
        typ: &str,
        signing: Signing,
    ) -> String {
        let now = now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("aud".into(), json!(CLIENT_ID));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 120));
        claims.insert("jti".into(), json!(format!("jti-{}", random_token())));
        claims.insert(
            "events".into(),
            json!({ "http://schemas.openid.net/event/backchannel-logout": {} }),
        );
        if let Some(sid) = sid {
            claims.insert("sid".into(), json!(sid));
        }
        if let Some(sub) = sub {
            claims.insert("sub".into(), json!(sub));
        }
        for (name, value) in overrides.as_object().cloned().unwrap_or_default() {
            if value.is_null() {
                claims.remove(&name);
            } else {
                claims.insert(name, value);
            }
        }
        let b = lock(&self.shared.behaviour).clone();
        sign(&self.shared, &b, &signing, typ, claims).expect("fake OP: sign a logout token")
    }

    /// An RFC 9068 JWT access token: `iss` this provider, `aud` [`CLIENT_ID`] (the app's
    /// API), `sub` ([`Behaviour::sub`]), `client_id` [`API_CALLER`], `scope` `"read"`, `iat`
    /// now, `exp` in five minutes and a `jti`, with the members of the JSON object
    /// `overrides` applied (a `Value::Null` removes a claim), header `typ` (`"at+jwt"` for a
    /// good one), signed as `signing` says.
    pub fn access_token(&self, overrides: Value, typ: &str, signing: Signing) -> String {
        let b = lock(&self.shared.behaviour).clone();
        let now = now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("aud".into(), json!(CLIENT_ID));
        claims.insert("sub".into(), json!(b.sub));
        claims.insert("client_id".into(), json!(API_CALLER));
        claims.insert("scope".into(), json!("read"));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 300));
        claims.insert("jti".into(), json!(format!("jti-{}", random_token())));
        for (name, value) in overrides.as_object().cloned().unwrap_or_default() {
            if value.is_null() {
                claims.remove(&name);
            } else {
                claims.insert(name, value);
            }
        }
        sign(&self.shared, &b, &signing, typ, claims).expect("fake OP: sign an access token")
    }

    /// Number of requests received for `path` (query string ignored).
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.shared.log).hits.get(path).copied().unwrap_or(0)
    }

    /// The last request received for `path` (query string ignored).
    pub fn last_request(&self, path: &str) -> Option<Recorded> {
        lock(&self.shared.log).last.get(path).cloned()
    }
}

// ---------------------------------------------------------------------------
// HTTP plumbing
// ---------------------------------------------------------------------------

struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, value: &Value) -> Response {
        Response {
            status,
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("Cache-Control", "no-store".to_owned()),
            ],
            body: value.to_string().into_bytes(),
        }
    }

    fn text(status: u16, content_type: &str, body: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_owned())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn redirect(location: &str) -> Response {
        Response {
            status: 303,
            headers: vec![("Location", location.to_owned())],
            body: Vec::new(),
        }
    }

    fn error(status: u16, error: &str) -> Response {
        Response::json(status, &json!({ "error": error }))
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Reads one request, answers it, closes the connection.
async fn serve_connection(shared: Arc<Shared>, mut stream: TcpStream) {
    let response = match read_request(&mut stream).await {
        Ok(Some(req)) => handle(&shared, req).await,
        Ok(None) => return, // peer closed (or timed out) before sending anything useful
        Err(status) => Response::text(status, "text/plain", "malformed request"),
    };

    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        response.body.len()
    ));
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&response.body).await;
    let _ = stream.shutdown().await;
    // Drain whatever the client still sends until it closes, so that closing
    // with unread data does not turn into a TCP reset that eats the response.
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// `Ok(None)`: nothing to answer; `Err(status)`: malformed, answer `status`.
async fn read_request(stream: &mut TcpStream) -> Result<Option<Recorded>, u16> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];

    // 1. Read until the blank line that ends the head.
    let head_end = loop {
        if let Some(pos) = find(&buf, b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD {
            return Err(413);
        }
        let n = match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            _ => return Ok(None),
        };
        if n == 0 {
            return if buf.is_empty() { Ok(None) } else { Err(400) };
        }
        buf.extend_from_slice(&chunk[..n]);
    };

    // 2. Request line and headers.
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| 400u16)?;
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or("").split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && t.starts_with('/') => (m, t, v),
        _ => return Err(400),
    };
    if !version.starts_with("HTTP/1.") {
        return Err(400);
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(400u16)?;
        if name.is_empty() || name.contains(' ') {
            return Err(400);
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    if headers.iter().any(|(n, _)| n == "transfer-encoding") {
        return Err(400); // chunked bodies are not supported by this tiny server
    }
    let content_length = match headers.iter().find(|(n, _)| n == "content-length") {
        Some((_, v)) => v.parse::<usize>().map_err(|_| 400u16)?,
        None => 0,
    };
    if content_length > MAX_BODY {
        return Err(413);
    }

    // 3. Body: what came with the head, then the rest.
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < content_length {
        let n = match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            _ => return Ok(None),
        };
        if n == 0 {
            return Err(400);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(content_length);

    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Some(Recorded {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes `a=b&c=d` (form / query encoding), last value wins.
fn form_pairs(s: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(s.as_bytes())
        .into_owned()
        .collect()
}

/// Decodes one form-urlencoded component (`+` is a space, `%XX` a byte).
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `base` with the given query parameters appended (properly encoded).
fn with_query(base: &str, params: &[(&str, String)]) -> Option<String> {
    let mut url = url::Url::parse(base).ok()?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Some(url.into())
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------

async fn handle(shared: &Shared, req: Recorded) -> Response {
    {
        let mut log = lock(&shared.log);
        *log.hits.entry(req.path.clone()).or_insert(0) += 1;
        log.last.insert(req.path.clone(), req.clone());
    }
    let b = shared.behaviour();
    let method = req.method.as_str();
    match req.path.as_str() {
        "/.well-known/openid-configuration" | "/custom/openid-configuration" if method == "GET" => {
            discovery(shared, &b)
        }
        "/.well-known/oauth-authorization-server" if method == "GET" && b.oauth_metadata => {
            Response::json(
                200,
                &json!({
                    "issuer": shared.issuer,
                    "authorization_endpoint": format!("{}/authorize", shared.issuer),
                    "token_endpoint": format!("{}/token", shared.issuer),
                    "revocation_endpoint": format!("{}/revoke", shared.issuer),
                }),
            )
        }
        // RFC 7009: 200 whatever the token.
        "/revoke" if method == "POST" => {
            if b.revoke_hangs {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Response::text(200, "text/plain", "")
        }
        "/jwks" if method == "GET" => jwks(shared, &b),
        "/authorize" if method == "GET" => authorize(shared, &b, &req),
        "/token" if method == "POST" => token(shared, &b, &req).await,
        "/userinfo" if method == "GET" || method == "POST" => userinfo(shared, &b, &req),
        "/logout" if method == "GET" => logout(&req),
        "/par" if method == "POST" && b.par.is_some() => par(shared, &b, &req),
        "/register" if method == "POST" && b.registration.is_some() => register(shared, &b, &req),
        "/introspect" if method == "POST" && b.introspection.is_some() => {
            introspect(shared, &b, &req).await
        }
        path if method == "GET" && path.starts_with("/register/") => {
            client_configuration(shared, &b, &req)
        }
        "/.well-known/openid-configuration"
        | "/jwks"
        | "/authorize"
        | "/token"
        | "/userinfo"
        | "/logout" => Response::error(405, "invalid_request"),
        _ => Response::error(404, "not_found"),
    }
}

fn discovery(shared: &Shared, b: &Behaviour) -> Response {
    if let Some(status) = b.discovery_status {
        return Response::text(status, "text/html", "<html><body>not here</body></html>");
    }
    let base = &shared.issuer;
    let mut document = json!({
            "issuer": b.discovery_issuer.as_deref().unwrap_or(base),
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "userinfo_endpoint": format!("{base}/userinfo"),
            "jwks_uri": format!("{base}/jwks"),
            "end_session_endpoint": format!("{base}/logout"),
            "response_types_supported": ["code", "code id_token", "code token",
                "code id_token token", "id_token", "id_token token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported":
                b.id_token_algs.clone().unwrap_or_else(|| vec!["RS256".to_owned()]),
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email", "profile"],
            "authorization_response_iss_parameter_supported": b.advertise_iss_param,
    });
    // Listed only when switched on, so the default document stays as it always was.
    let optional = [
        (
            "pushed_authorization_request_endpoint",
            b.par.as_ref().map(|_| json!(format!("{base}/par"))),
        ),
        (
            "require_pushed_authorization_requests",
            b.require_par.then_some(json!(true)),
        ),
        (
            "dpop_signing_alg_values_supported",
            b.dpop_algs.as_ref().map(|algs| json!(algs)),
        ),
        (
            "token_endpoint_auth_signing_alg_values_supported",
            b.assertion_algs.as_ref().map(|algs| json!(algs)),
        ),
        (
            "registration_endpoint",
            b.registration
                .as_ref()
                .map(|_| json!(format!("{base}/register"))),
        ),
        (
            "introspection_endpoint",
            b.introspection
                .as_ref()
                .map(|_| json!(format!("{base}/introspect"))),
        ),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            document[name] = value;
        }
    }
    Response::json(200, &document)
}

fn jwks(shared: &Shared, b: &Behaviour) -> Response {
    let (key, _) = shared.current_key(b);
    let mut jwk = serde_json::to_value(key.as_verification_key()).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut jwk {
        fields.retain(|_, v| !v.is_null()); // openidconnect serializes unset fields as null
        fields.insert("use".into(), json!("sig"));
        fields.insert("alg".into(), json!("RS256"));
    }
    let mut keys = vec![jwk];
    if b.publish_both_rsa_keys {
        let other = shared.other_key(b);
        let mut jwk = serde_json::to_value(other.as_verification_key()).unwrap_or(Value::Null);
        if let Value::Object(fields) = &mut jwk {
            fields.retain(|_, v| !v.is_null());
            fields.insert("use".into(), json!("sig"));
            fields.insert("alg".into(), json!("RS256"));
        }
        keys.push(jwk);
    }
    if b.publish_ec_key {
        let point = ring::signature::KeyPair::public_key(&ec_key_pair(shared))
            .as_ref()
            .to_vec();
        keys.push(json!({
            "kty": "EC", "crv": "P-256", "kid": EC_KID, "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }));
    }
    Response::json(200, &json!({ "keys": keys }))
}

/// The provider's EC P-256 key pair.
fn ec_key_pair(shared: &Shared) -> ring::signature::EcdsaKeyPair {
    ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &shared.ec_key,
        &ring::rand::SystemRandom::new(),
    )
    .expect("fake OP: its EC key")
}

fn authorize(shared: &Shared, b: &Behaviour, req: &Recorded) -> Response {
    let mut q = req.query_params();
    if let Some(request_uri) = q.get("request_uri") {
        // RFC 9126 4: the pushed parameters, once, for the client that pushed them.
        let Some(pushed) = lock(&shared.pushed).remove(request_uri) else {
            return Response::text(400, "text/plain", "unknown or used request_uri");
        };
        if q.get("client_id") != Some(&pushed.client_id) {
            return Response::text(400, "text/plain", "client_id is not the pushing client");
        }
        q = pushed.params;
    } else if b.require_par {
        return Response::text(400, "text/plain", "pushed authorization requests only");
    }
    let Some(redirect_uri) = q.get("redirect_uri").filter(|u| url::Url::parse(u).is_ok()) else {
        return Response::text(400, "text/plain", "missing or invalid redirect_uri");
    };
    let Some(client_id) = q
        .get("client_id")
        .filter(|id| shared.client_secret(id).is_some())
        .cloned()
    else {
        return Response::text(400, "text/plain", "unknown client_id");
    };
    if b.prompt_none_error_page && q.get("prompt").map(String::as_str) == Some("none") {
        return Response::text(
            500,
            "text/html",
            "<html><body>Server Error (500)</body></html>",
        );
    }
    let audience = client_id.clone();
    // The query of the redirect back to the client, in order.
    let mut params: Vec<(&str, String)> = Vec::new();
    if let Some((error, description)) = &b.authorize_error {
        params.push(("error", error.clone()));
        params.push(("error_description", description.clone()));
    } else {
        let code = random_token();
        // Only S256 is supported: a challenge sent with any other method
        // is stored in a form that can never verify.
        let code_challenge = q.get("code_challenge").map(|c| {
            match q.get("code_challenge_method").map(String::as_str) {
                Some("S256") => c.clone(),
                _ => format!("unsupported-method:{c}"),
            }
        });
        let grant = Grant {
            nonce: q.get("nonce").cloned(),
            code_challenge,
            redirect_uri: redirect_uri.clone(),
            client_id,
        };
        // Hybrid and implicit (Core 3.3, 3.2): the code, an access token and an ID token
        // that binds them (c_hash, at_hash) as the response type asks.
        let response_type: Vec<&str> = q
            .get("response_type")
            .map_or(vec!["code"], |t| t.split(' ').collect());
        let access_token = response_type.contains(&"token").then(|| {
            let token = random_token();
            lock(&shared.access_tokens).insert(token.clone());
            token
        });
        if response_type.contains(&"id_token") {
            let half =
                |value: &str| URL_SAFE_NO_PAD.encode(&Sha256::digest(value.as_bytes())[..16]);
            let mut claims = Map::new();
            if response_type.contains(&"code") {
                claims.insert("c_hash".into(), json!(half(&code)));
            }
            claims.insert(
                "at_hash".into(),
                access_token
                    .as_deref()
                    .map_or(Value::Null, |t| json!(half(t))),
            );
            claims.extend(b.front_id_token_claims.clone());
            let front = id_token(
                shared,
                b,
                &grant.client_id,
                grant.nonce.as_deref(),
                "",
                now(),
                &claims,
            );
            params.push(("id_token", front.unwrap_or_default()));
        }
        if let Some(token) = access_token {
            params.push(("access_token", token));
            params.push(("token_type", "Bearer".into()));
            params.push(("expires_in", b.expires_in.to_string()));
        }
        if response_type.contains(&"code") {
            lock(&shared.codes).insert(code.clone(), grant);
            params.push(("code", code));
        }
    }
    if let Some(state) = q.get("state") {
        params.push(("state", state.clone()));
    }
    match b.callback_iss {
        CallbackIss::Correct => params.push(("iss", shared.issuer.clone())),
        CallbackIss::MissingOnErrors if b.authorize_error.is_none() => {
            params.push(("iss", shared.issuer.clone()))
        }
        CallbackIss::Wrong => params.push(("iss", "https://evil.example".to_owned())),
        CallbackIss::Missing | CallbackIss::MissingOnErrors => {}
    }
    let mode = q.get("response_mode").map(String::as_str);
    // JARM: every parameter inside one signed JWT, `response` (no `iss` beside it).
    if mode.is_some_and(|m| m == "jwt" || m.ends_with(".jwt")) {
        let mut claims: Map<String, Value> = params
            .iter()
            .map(|(name, value)| (name.to_string(), json!(value)))
            .collect();
        claims.insert("iss".into(), json!(shared.issuer));
        claims.insert("aud".into(), json!(audience));
        claims.insert("exp".into(), json!(now() + 120));
        for (name, value) in &b.jarm_claims {
            match value {
                Value::Null => claims.remove(name),
                value => claims.insert(name.clone(), value.clone()),
            };
        }
        let signing = b.jarm_signing.clone().unwrap_or_else(|| b.signing.clone());
        let jwt = sign(shared, b, &signing, "JWT", claims).unwrap_or_default();
        let jwt = match &b.jarm_encryption {
            Some(to) => encrypted(b, to, Some("JWT"), &jwt),
            None => jwt,
        };
        params = vec![("response", jwt)];
    }
    // The fragment when asked, or by default when tokens come back (form_post answers
    // come as a query too: the tests post them as the provider's page would).
    let front_channel = q.get("response_type").is_some_and(|t| t != "code");
    let fragment = match mode {
        Some("fragment" | "fragment.jwt") => true,
        Some("jwt") => front_channel,
        Some(_) => false,
        None => front_channel,
    };
    match with_query(redirect_uri, &params) {
        Some(location) if fragment => match location.split_once('?') {
            Some((base, query)) => Response::redirect(&format!("{base}#{query}")),
            None => Response::redirect(&location),
        },
        Some(location) => Response::redirect(&location),
        None => Response::text(400, "text/plain", "invalid redirect_uri"),
    }
}

/// The client id authenticated by HTTP Basic (RFC 6749 2.3.1: both parts
/// form-urlencoded), by `client_id`/`client_secret` in the body, or by a client assertion
/// (RFC 7523, Core 9) for a request to `endpoint`. Two methods at once are refused.
fn authenticated_client(
    shared: &Shared,
    b: &Behaviour,
    req: &Recorded,
    form: &HashMap<String, String>,
    endpoint: &str,
) -> Option<String> {
    if form.contains_key("client_assertion") || form.contains_key("client_assertion_type") {
        if req.header("authorization").is_some() || form.contains_key("client_secret") {
            return None;
        }
        return assertion_client(shared, b, form, endpoint);
    }
    let (id, secret) = match req.header("authorization") {
        Some(auth) => {
            let (scheme, creds) = auth.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return None;
            }
            let decoded = String::from_utf8(STANDARD.decode(creds.trim()).ok()?).ok()?;
            let (id, secret) = decoded.split_once(':')?;
            let id = form_decode(id)?;
            // A body client_id, if also sent, must name the same client.
            if form.get("client_id").is_some_and(|body_id| *body_id != id) {
                return None;
            }
            (id, form_decode(secret)?)
        }
        None => (
            form.get("client_id")?.clone(),
            form.get("client_secret")?.clone(),
        ),
    };
    (shared.client_secret(&id).as_deref() == Some(secret.as_str())).then_some(id)
}

/// The client a client assertion authenticates: `iss` = `sub` = the client, `aud` the
/// issuer, the token endpoint or `endpoint`, not expired, a `jti` never seen, signed with
/// the client's secret (HS256/384/512) or with `Behaviour::client_jwk`.
fn assertion_client(
    shared: &Shared,
    b: &Behaviour,
    form: &HashMap<String, String>,
    endpoint: &str,
) -> Option<String> {
    if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
        return None;
    }
    let jws = form.get("client_assertion")?;
    let (header, claims) = jwt_parts(jws)?;
    let client_id = claims["iss"].as_str()?.to_owned();
    if claims["sub"].as_str() != Some(client_id.as_str())
        || form.get("client_id").is_some_and(|id| *id != client_id)
    {
        return None;
    }
    let token_endpoint = format!("{}/token", shared.issuer);
    let audiences: Vec<&str> = match &claims["aud"] {
        Value::String(aud) => vec![aud.as_str()],
        Value::Array(auds) => auds.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    if !audiences
        .iter()
        .any(|aud| [shared.issuer.as_str(), &token_endpoint, endpoint].contains(aud))
    {
        return None;
    }
    if claims["exp"].as_u64().is_none_or(|exp| exp <= now()) {
        return None;
    }
    let jti = claims["jti"].as_str()?;
    let (input, signature) = jws.rsplit_once('.')?;
    let hmac = match header["alg"].as_str()? {
        "HS256" => Some(ring::hmac::HMAC_SHA256),
        "HS384" => Some(ring::hmac::HMAC_SHA384),
        "HS512" => Some(ring::hmac::HMAC_SHA512),
        _ => None,
    };
    let verified = match hmac {
        Some(alg) => {
            let secret = shared.client_secret(&client_id)?;
            let tag = URL_SAFE_NO_PAD.decode(signature).ok()?;
            ring::hmac::verify(
                &ring::hmac::Key::new(alg, secret.as_bytes()),
                input.as_bytes(),
                &tag,
            )
            .is_ok()
        }
        None => client_id == CLIENT_ID && b.client_jwk.as_ref().is_some_and(|k| verify_jws(k, jws)),
    };
    // A replayed assertion is refused; a forged one does not use up its jti.
    (verified && lock(&shared.assertion_jtis).insert(jti.to_owned())).then_some(client_id)
}

/// Whether `proof` is a DPoP proof (RFC 9449 4.2) for `method` on `url`: `typ` `dpop+jwt`,
/// a public `jwk` that verifies it, `htm`, `htu`, a `jti` and a recent `iat`.
fn dpop_proof_ok(proof: &str, method: &str, url: &str) -> bool {
    let Some((header, claims)) = jwt_parts(proof) else {
        return false;
    };
    let jwk = &header["jwk"];
    header["typ"] == "dpop+jwt"
        && jwk.is_object()
        && jwk.get("d").is_none()
        && verify_jws(jwk, proof)
        && claims["htm"] == method
        && claims["htu"] == url
        && claims["jti"].is_string()
        && claims["iat"]
            .as_u64()
            .is_some_and(|iat| iat.abs_diff(now()) <= 300)
}

/// The decoded header and claims of a compact JWS (signature not checked).
pub fn jwt_parts(jws: &str) -> Option<(Value, Value)> {
    let mut parts = jws.split('.');
    let mut part = || -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next()?).ok()?).ok()
    };
    let header = part()?;
    let claims = part()?;
    Some((header, claims))
}

/// Whether `jwk` (EC P-256 with `alg` ES256, or Ed25519 with EdDSA) verifies the compact
/// JWS `jws`, whose header `alg` must fit the key.
pub fn verify_jws(jwk: &Value, jws: &str) -> bool {
    let Some((header, _)) = jwt_parts(jws) else {
        return false;
    };
    let Some((input, signature)) = jws.rsplit_once('.') else {
        return false;
    };
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    let member = |name: &str| {
        jwk[name]
            .as_str()
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
    };
    let (alg, public): (&dyn ring::signature::VerificationAlgorithm, Vec<u8>) = match (
        jwk["kty"].as_str(),
        jwk["crv"].as_str(),
        header["alg"].as_str(),
    ) {
        (Some("EC"), Some("P-256"), Some("ES256")) => {
            let (Some(x), Some(y)) = (member("x"), member("y")) else {
                return false;
            };
            // An uncompressed SEC1 point.
            let mut point = vec![0x04];
            point.extend(x);
            point.extend(y);
            (&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        }
        (Some("OKP"), Some("Ed25519"), Some("EdDSA")) => match member("x") {
            Some(x) => (&ring::signature::ED25519, x),
            None => return false,
        },
        _ => return false,
    };
    ring::signature::UnparsedPublicKey::new(alg, public)
        .verify(input.as_bytes(), &signature)
        .is_ok()
}

/// `401 invalid_client` with a Basic challenge.
fn invalid_client() -> Response {
    let mut r = Response::error(401, "invalid_client");
    r.headers
        .push(("WWW-Authenticate", "Basic realm=\"fake-op\"".to_owned()));
    r
}

async fn token(shared: &Shared, b: &Behaviour, req: &Recorded) -> Response {
    let form = req.form_params();
    let endpoint = format!("{}/token", shared.issuer);
    let Some(client_id) = authenticated_client(shared, b, req, &form, &endpoint) else {
        return invalid_client();
    };
    let dpop = req.header("dpop");
    if dpop.is_some_and(|proof| !dpop_proof_ok(proof, "POST", &endpoint)) {
        return Response::error(400, "invalid_dpop_proof");
    }
    let token_type = match (&b.token_type, dpop) {
        (Some(forced), _) => forced.clone(),
        (None, Some(_)) => "DPoP".to_owned(),
        (None, None) => "Bearer".to_owned(),
    };
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {}
        Some("refresh_token") => return refresh(shared, b, &form, &client_id, &token_type).await,
        Some("client_credentials") if b.client_credentials.is_some() => {
            return machine_token(b, &form, &token_type)
        }
        _ => return Response::error(400, "unsupported_grant_type"),
    }
    // Single use: the code is consumed by the first attempt, good or bad.
    let grant = form
        .get("code")
        .and_then(|code| lock(&shared.codes).remove(code));
    let Some(grant) = grant else {
        return Response::error(400, "invalid_grant");
    };
    if grant.client_id != client_id
        || form.get("redirect_uri") != Some(&grant.redirect_uri)
        || !pkce_ok(grant.code_challenge.as_deref(), form.get("code_verifier"))
    {
        return Response::error(400, "invalid_grant");
    }

    match &b.token_response {
        TokenResponse::OAuthError(error) => {
            return Response::json(
                400,
                &json!({ "error": error, "error_description": "test error" }),
            )
        }
        TokenResponse::ServerError => {
            return Response::text(
                500,
                "text/html",
                "<html><body><h1>500 Internal Server Error</h1></body></html>",
            )
        }
        TokenResponse::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Response::error(500, "server_error");
        }
        TokenResponse::Ok | TokenResponse::NoIdToken => {}
    }

    let access_token = random_token();
    lock(&shared.access_tokens).insert(access_token.clone());
    let refresh_token = random_token();
    let auth_time = now();
    lock(&shared.refresh_tokens).insert(refresh_token.clone(), (grant.nonce.clone(), auth_time));
    let mut body = json!({
        "access_token": access_token,
        "token_type": token_type,
        "expires_in": b.expires_in,
        "refresh_token": refresh_token,
        "scope": "openid email profile",
    });
    if b.no_refresh_token {
        body.as_object_mut().unwrap().remove("refresh_token");
    }
    if b.token_response == TokenResponse::Ok {
        match id_token(
            shared,
            b,
            &client_id,
            grant.nonce.as_deref(),
            &access_token,
            auth_time,
            &Map::new(),
        ) {
            Some(jwt) => body["id_token"] = json!(jwt),
            None => return Response::error(500, "server_error"),
        }
    }
    Response::json(200, &body)
}

/// The refresh_token grant: a new access token and ID token (for `client_id`) for a live
/// refresh token.
async fn refresh(
    shared: &Shared,
    b: &Behaviour,
    form: &HashMap<String, String>,
    client_id: &str,
    token_type: &str,
) -> Response {
    if b.refresh_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(b.refresh_delay_ms)).await;
    }
    if b.refresh_server_error {
        return Response::text(500, "text/html", "<h1>500</h1>");
    }
    if let Some(error) = &b.refresh_error {
        return Response::json(
            400,
            &json!({ "error": error, "error_description": "test refusal" }),
        );
    }
    let Some(old) = form.get("refresh_token") else {
        return Response::error(400, "invalid_request");
    };
    let grant = if b.rotate_refresh_tokens {
        lock(&shared.refresh_tokens).remove(old)
    } else {
        lock(&shared.refresh_tokens).get(old).cloned()
    };
    let Some((nonce, auth_time)) = grant else {
        return Response::error(400, "invalid_grant");
    };
    let access_token = random_token();
    lock(&shared.access_tokens).insert(access_token.clone());
    let mut body = json!({
        "access_token": access_token,
        "token_type": token_type,
        "expires_in": b.expires_in,
    });
    if b.rotate_refresh_tokens {
        let new = random_token();
        lock(&shared.refresh_tokens).insert(new.clone(), (nonce.clone(), auth_time));
        body["refresh_token"] = json!(new);
    }
    let auth_time = if b.refresh_auth_time_now {
        now()
    } else {
        auth_time
    };
    match id_token(
        shared,
        b,
        client_id,
        nonce.as_deref(),
        &access_token,
        auth_time,
        &b.refresh_id_token_claims,
    ) {
        Some(jwt) => body["id_token"] = json!(jwt),
        None => return Response::error(500, "server_error"),
    }
    Response::json(200, &body)
}

/// PKCE S256: `BASE64URL-NOPAD(SHA256(verifier)) == challenge`. Without a
/// stored challenge there is nothing to check.
fn pkce_ok(challenge: Option<&str>, verifier: Option<&String>) -> bool {
    match (challenge, verifier) {
        (None, _) => true,
        (Some(challenge), Some(verifier)) => {
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
        }
        (Some(_), None) => false,
    }
}

/// Builds and signs the ID token according to `b`.
fn id_token(
    shared: &Shared,
    b: &Behaviour,
    client_id: &str,
    nonce: Option<&str>,
    access_token: &str,
    auth_time: u64,
    extra_claims: &Map<String, Value>,
) -> Option<String> {
    let now = now();
    let digest = Sha256::digest(access_token.as_bytes());
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(shared.issuer));
    claims.insert("sub".into(), json!(b.sub));
    claims.insert("aud".into(), json!(client_id));
    claims.insert("exp".into(), json!(now + 300));
    claims.insert("iat".into(), json!(now));
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    claims.insert(
        "at_hash".into(),
        json!(URL_SAFE_NO_PAD.encode(&digest[..16])),
    );
    claims.insert("auth_time".into(), json!(auth_time));
    for (name, value) in b.id_token_claims.iter().chain(extra_claims) {
        if value.is_null() {
            claims.remove(name);
        } else {
            claims.insert(name.clone(), value.clone());
        }
    }

    let jws = sign(shared, b, &b.signing, "JWT", claims)?;
    Some(match &b.id_token_encryption {
        Some(to) => encrypted(b, to, Some("JWT"), &jws),
        None => jws,
    })
}

/// A JWE of `plaintext` as `to` says, spoiled as `b.jwe_tamper` says.
fn encrypted(b: &Behaviour, to: &Encryption, cty: Option<&str>, plaintext: &str) -> String {
    let jwe = jwe::encrypt(&to.jwk, &to.alg, &to.enc, cty, plaintext.as_bytes());
    match b.jwe_tamper {
        Some(tamper) => tamper.apply(&jwe),
        None => jwe,
    }
}

/// Signs `claims` as the provider would, with header `typ`, or breaks the signature as
/// `signing` says.
fn sign(
    shared: &Shared,
    b: &Behaviour,
    signing: &Signing,
    typ: &str,
    claims: Map<String, Value>,
) -> Option<String> {
    let (key, kid) = shared.current_key(b);
    let (alg, kid) = match signing {
        Signing::AlgNone => ("none", kid),
        Signing::Hs256WithPublicKey | Signing::Hs256WithClientSecret => ("HS256", kid),
        Signing::UnknownKid => ("RS256", "nope"),
        Signing::Good | Signing::BadSignature | Signing::OtherKey | Signing::NoKid => {
            ("RS256", kid)
        }
        Signing::RetiredKey => ("RS256", if b.rotate_keys { KID_1 } else { KID_2 }),
        Signing::Es256 => ("ES256", EC_KID),
    };
    let mut header = json!({ "alg": alg, "typ": typ, "kid": kid });
    if *signing == Signing::NoKid {
        header.as_object_mut().map(|h| h.remove("kid"));
    }
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
    );

    let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    let input = signing_input.as_bytes();
    let signature = match signing {
        Signing::Good | Signing::UnknownKid | Signing::NoKid => key.sign(&rs256, input).ok()?,
        Signing::BadSignature => {
            let mut sig = key.sign(&rs256, input).ok()?;
            sig[0] ^= 0x01;
            sig
        }
        Signing::AlgNone => Vec::new(),
        Signing::Hs256WithPublicKey => CoreHmacKey::new(KEY_1_PUBLIC_PEM.as_bytes())
            .sign(&CoreJwsSigningAlgorithm::HmacSha256, input)
            .ok()?,
        Signing::Hs256WithClientSecret => CoreHmacKey::new(CLIENT_SECRET.as_bytes())
            .sign(&CoreJwsSigningAlgorithm::HmacSha256, input)
            .ok()?,
        Signing::OtherKey | Signing::RetiredKey => shared.other_key(b).sign(&rs256, input).ok()?,
        Signing::Es256 => ec_key_pair(shared)
            .sign(&ring::rand::SystemRandom::new(), input)
            .ok()?
            .as_ref()
            .to_vec(),
    };
    Some(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

fn userinfo(shared: &Shared, b: &Behaviour, req: &Recorded) -> Response {
    if let Some(status) = b.userinfo_status {
        return Response::error(status, "forced_status");
    }
    let endpoint = format!("{}/userinfo", shared.issuer);
    // A DPoP-bound token comes with a proof for this request (RFC 9449 7.1).
    let proven = || {
        req.header("dpop")
            .is_some_and(|proof| dpop_proof_ok(proof, &req.method, &endpoint))
    };
    let token = req
        .header("authorization")
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop") && proven()
        })
        .map(|(_, token)| token.trim());
    let valid = token.is_some_and(|t| lock(&shared.access_tokens).contains(t));
    if !valid {
        let mut r = Response::error(401, "invalid_token");
        r.headers.push((
            "WWW-Authenticate",
            "Bearer error=\"invalid_token\"".to_owned(),
        ));
        return r;
    }
    let claims = json!({
        "sub": b.userinfo_sub.as_deref().unwrap_or(&b.sub),
        "email": "alice@example.com",
        "name": "Alice",
    });
    let signed = || {
        let mut claims = claims.as_object().cloned().unwrap_or_default();
        claims.insert("iss".into(), json!(shared.issuer));
        claims.insert("aud".into(), json!(CLIENT_ID));
        for (name, value) in &b.userinfo_jwt_claims {
            if value.is_null() {
                claims.remove(name);
            } else {
                claims.insert(name.clone(), value.clone());
            }
        }
        let signing = b.userinfo_signing.as_ref().unwrap_or(&b.signing);
        sign(shared, b, signing, "JWT", claims)
    };
    let jwt = match &b.userinfo_form {
        UserinfoForm::Json => return Response::json(200, &claims),
        UserinfoForm::Signed => signed(),
        UserinfoForm::Encrypted(to) => Some(encrypted(b, to, None, &claims.to_string())),
        UserinfoForm::SignedThenEncrypted(to) => {
            signed().map(|jws| encrypted(b, to, Some("JWT"), &jws))
        }
    };
    match jwt {
        Some(jwt) => Response::text(200, "application/jwt", &jwt),
        None => Response::error(500, "server_error"),
    }
}

/// A pushed authorization request (RFC 9126 2): answered as `Behaviour::par` says; the
/// parameters are kept for `/authorize` under a fresh `request_uri`.
fn par(shared: &Shared, b: &Behaviour, req: &Recorded) -> Response {
    let Some(answer) = &b.par else {
        return Response::error(404, "not_found");
    };
    if let ParResponse::Status(status) = answer {
        return Response::text(*status, "text/html", "<html><body>PAR failed</body></html>");
    }
    let form = req.form_params();
    let endpoint = format!("{}/par", shared.issuer);
    let Some(client_id) = authenticated_client(shared, b, req, &form, &endpoint) else {
        return invalid_client();
    };
    // RFC 9126 2.1: client_id is in the form whatever the authentication; no request_uri.
    if form.get("client_id") != Some(&client_id) || form.contains_key("request_uri") {
        return Response::json(
            400,
            &json!({ "error": "invalid_request", "error_description": "bad pushed request" }),
        );
    }
    match answer {
        ParResponse::OAuthError(error) => Response::json(
            400,
            &json!({ "error": error, "error_description": "test error" }),
        ),
        ParResponse::NoRequestUri => Response::json(201, &json!({ "expires_in": 60 })),
        ParResponse::Created | ParResponse::Status(_) => {
            let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", random_token());
            let params = form
                .into_iter()
                .filter(|(name, _)| {
                    !matches!(
                        name.as_str(),
                        "client_secret" | "client_assertion" | "client_assertion_type"
                    )
                })
                .collect();
            lock(&shared.pushed).insert(request_uri.clone(), Pushed { client_id, params });
            Response::json(
                201,
                &json!({ "request_uri": request_uri, "expires_in": 60 }),
            )
        }
    }
}

/// Dynamic registration (RFC 7591 3): answered as `Behaviour::registration` says.
fn register(shared: &Shared, b: &Behaviour, req: &Recorded) -> Response {
    let Some(answer) = &b.registration else {
        return Response::error(404, "not_found");
    };
    if let Some(expected) = &b.initial_access_token {
        if req.header("authorization") != Some(format!("Bearer {expected}").as_str()) {
            return Response::error(401, "invalid_token");
        }
    }
    let invalid_redirect_uri = || {
        Response::json(
            400,
            &json!({
                "error": "invalid_redirect_uri",
                "error_description": "redirect_uris are not allowed for this client",
            }),
        )
    };
    let metadata = match serde_json::from_str::<Value>(&req.body) {
        Ok(Value::Object(metadata)) => metadata,
        _ => return Response::error(400, "invalid_client_metadata"),
    };
    match answer {
        RegistrationResponse::ServerError => {
            return Response::text(500, "text/html", "<html><body>Server Error</body></html>")
        }
        RegistrationResponse::InvalidRedirectUri => return invalid_redirect_uri(),
        RegistrationResponse::Created | RegistrationResponse::NoClientId => {}
    }
    let redirect_uris_ok = metadata
        .get("redirect_uris")
        .and_then(Value::as_array)
        .is_some_and(|uris| {
            !uris.is_empty()
                && uris
                    .iter()
                    .all(|u| u.as_str().is_some_and(|u| url::Url::parse(u).is_ok()))
        });
    if !redirect_uris_ok {
        return invalid_redirect_uri();
    }
    let mut client = metadata;
    let issued = [
        ("client_id", json!(REGISTERED_CLIENT_ID)),
        ("client_secret", json!(REGISTERED_CLIENT_SECRET)),
        ("client_id_issued_at", json!(now())),
        ("client_secret_expires_at", json!(0)),
        (
            "registration_client_uri",
            json!(format!("{}/register/{REGISTERED_CLIENT_ID}", shared.issuer)),
        ),
        (
            "registration_access_token",
            json!(REGISTRATION_ACCESS_TOKEN),
        ),
    ];
    for (name, value) in issued {
        client.insert(name.into(), value);
    }
    for (name, value) in &b.registration_extra {
        if value.is_null() {
            client.remove(name);
        } else {
            client.insert(name.clone(), value.clone());
        }
    }
    if *answer == RegistrationResponse::NoClientId {
        client.remove("client_id");
    } else {
        *lock(&shared.registered) = Some(client.clone());
    }
    Response::json(201, &Value::Object(client))
}

/// The registered client's configuration (RFC 7592 2.1) at its `registration_client_uri`,
/// for its registration access token; `401` otherwise (also for unknown clients).
fn client_configuration(shared: &Shared, b: &Behaviour, req: &Recorded) -> Response {
    let registered = lock(&shared.registered).clone();
    let found = registered.filter(|client| {
        let uri = client
            .get("registration_client_uri")
            .and_then(Value::as_str);
        let token = client
            .get("registration_access_token")
            .and_then(Value::as_str);
        uri == Some(format!("{}{}", shared.issuer, req.path).as_str())
            && token.is_some_and(|t| req.header("authorization") == Some(&format!("Bearer {t}")))
    });
    match found {
        Some(mut client) => {
            for name in &b.client_configuration_omits {
                client.remove(name);
            }
            Response::json(200, &Value::Object(client))
        }
        None => Response::error(401, "invalid_token"),
    }
}

/// Token introspection (RFC 7662 2): answered as `Behaviour::introspection` says, for an
/// authenticated client and a `token` in the form.
async fn introspect(shared: &Shared, b: &Behaviour, req: &Recorded) -> Response {
    let Some(answer) = &b.introspection else {
        return Response::error(404, "not_found");
    };
    match answer {
        IntrospectionResponse::ServerError => {
            return Response::text(500, "text/html", "<html><body>Server Error</body></html>")
        }
        IntrospectionResponse::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Response::error(500, "server_error");
        }
        IntrospectionResponse::RefuseClient => return invalid_client(),
        _ => {}
    }
    let form = req.form_params();
    let endpoint = format!("{}/introspect", shared.issuer);
    if authenticated_client(shared, b, req, &form, &endpoint).is_none() {
        return invalid_client();
    }
    let Some(token) = form.get("token") else {
        return Response::error(400, "invalid_request");
    };
    match answer {
        IntrospectionResponse::NotJson => {
            Response::text(200, "text/html", "<html><body>Please log in</body></html>")
        }
        IntrospectionResponse::OAuthError(error) => Response::json(
            400,
            &json!({ "error": error, "error_description": "test error" }),
        ),
        IntrospectionResponse::Active {
            token: active,
            members,
        } if active == token => {
            let now = now();
            let mut body = Map::new();
            body.insert("active".into(), json!(true));
            body.insert("iss".into(), json!(shared.issuer));
            body.insert("sub".into(), json!(b.sub));
            body.insert("aud".into(), json!(CLIENT_ID));
            body.insert("scope".into(), json!("read"));
            body.insert("client_id".into(), json!(API_CALLER));
            body.insert("token_type".into(), json!("Bearer"));
            body.insert("iat".into(), json!(now));
            body.insert("exp".into(), json!(now + 300));
            for (name, value) in members {
                if value.is_null() {
                    body.remove(name);
                } else {
                    body.insert(name.clone(), value.clone());
                }
            }
            Response::json(200, &Value::Object(body))
        }
        _ => Response::json(200, &json!({ "active": false })),
    }
}

/// The client-credentials grant of an authenticated client: answered as
/// `Behaviour::client_credentials` says.
fn machine_token(b: &Behaviour, form: &HashMap<String, String>, token_type: &str) -> Response {
    match &b.client_credentials {
        Some(ClientCredentialsResponse::Issued { expires_in }) => {
            let mut body = json!({
                "access_token": random_token(),
                "token_type": token_type,
                "scope": form.get("scope").map(String::as_str).unwrap_or(""),
            });
            if !expires_in.is_null() {
                body["expires_in"] = expires_in.clone();
            }
            Response::json(200, &body)
        }
        Some(ClientCredentialsResponse::ServerError) => Response::text(
            500,
            "text/html",
            "<html><body><h1>500 Internal Server Error</h1></body></html>",
        ),
        Some(ClientCredentialsResponse::InvalidClient) => Response::json(
            400,
            &json!({ "error": "invalid_client", "error_description": "test error" }),
        ),
        None => Response::error(400, "unsupported_grant_type"),
    }
}

/// RP-initiated logout: back to `post_logout_redirect_uri` (with `state`) if
/// given, else a plain page.
fn logout(req: &Recorded) -> Response {
    let q = req.query_params();
    let Some(target) = q.get("post_logout_redirect_uri") else {
        return Response::text(200, "text/plain", "logged out");
    };
    let params: Vec<(&str, String)> = q
        .get("state")
        .map(|s| vec![("state", s.clone())])
        .unwrap_or_default();
    match with_query(target, &params) {
        Some(location) => Response::redirect(&location),
        None => Response::text(400, "text/plain", "invalid post_logout_redirect_uri"),
    }
}
