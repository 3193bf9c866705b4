//! OpenID Connect login for [Rocket](https://rocket.rs): a fairing, typed request guards,
//! and the authorization code flow with PKCE, `state`, `nonce` and full ID token
//! validation, in sealed `HttpOnly` cookies.
//!
//! # Quickstart
//!
//! 1. Add the crate (and Rocket with `secrets`) to `Cargo.toml`:
//!
//!    ```toml
//!    [dependencies]
//!    rocket = { version = "0.5", features = ["secrets", "json"] }
//!    rocket_oidc_auth = "0.1"
//!    ```
//!
//! 2. Configure the provider in `Rocket.toml`:
//!
//!    ```toml
//!    [default]
//!    secret_key = "..."   # `openssl rand -base64 32`; seals the session cookies
//!
//!    [default.oidc]
//!    redirect_uri = "https://app.example.com/redirect_uri"
//!
//!    [default.oidc.providers.default]
//!    issuer = "https://op.example.com"
//!    client_id = "my-app"
//!    client_secret = "..."
//!    scope = ["openid", "email", "profile"]
//!    ```
//!
//! 3. Attach the fairing, guard a route with [`Authenticated`], and render errors with
//!    [`OidcError::of`] in a catcher:
//!
//!    ```no_run
//!    # #[macro_use] extern crate rocket;
//!    use rocket::http::Status;
//!    use rocket::serde::json::{json, Json, Value};
//!    use rocket::Request;
//!    use rocket_oidc_auth::provider::Default;
//!    use rocket_oidc_auth::{Authenticated, OidcError, OidcFairing};
//!
//!    #[get("/login")]
//!    fn login(user: Authenticated<Default>) -> Json<Value> {
//!        Json(json!({
//!            "access_token": user.access_token(),
//!            "id_token": user.id_token(),
//!            "userinfo": user.userinfo(),
//!        }))
//!    }
//!
//!    #[catch(default)]
//!    fn oidc_error(status: Status, req: &Request) -> (Status, Json<Value>) {
//!        let body = match OidcError::of(req) {   // like Flask-pyoidc's error view
//!            Some(err) => json!({ "error": err.error(), "message": err.error_description() }),
//!            None => json!({ "error": status.reason_lossy(), "message": null }),
//!        };
//!        (status, Json(body))
//!    }
//!
//!    #[launch]
//!    fn rocket() -> _ {
//!        rocket::build()
//!            .attach(OidcFairing::from_config())
//!            .mount("/", routes![login])
//!            .register("/", catchers![oidc_error])
//!    }
//!    ```
//!
//! The user's name and email: a provider may put them in the ID token, in UserInfo, or
//! both, and many (the bundled test provider among them) put them only in UserInfo, so
//! `user.id_token()["email"]` is often `null`. [`Authenticated::claims`] gives the
//! standard claims typed, the ID token's and UserInfo's merged (UserInfo wins for a claim
//! both carry): `user.claims().email()`, `user.claims().name()`.
//!
//! A failed launch (a configuration mistake, a provider's permanent error, a port in use)
//! is logged in one line naming what to fix; `#[launch]` then panics with Rocket's
//! "aborting due to fairing failure(s)" (and a backtrace with `RUST_BACKTRACE=1`). A `main`
//! of your own ends it cleanly, with exit code 1, as the crate's examples do:
//!
//! ```no_run
//! # fn rocket() -> rocket::Rocket<rocket::Build> { rocket::build() }
//! #[rocket::main]
//! async fn main() -> std::process::ExitCode {
//!     match rocket().launch().await {
//!         Ok(_) => std::process::ExitCode::SUCCESS,
//!         Err(err) => {
//!             eprintln!("error: the app did not start: {err}");
//!             std::process::ExitCode::FAILURE
//!         }
//!     }
//! }
//! ```
//!
//! An unauthenticated browser request to `/login` is redirected to the provider; after the
//! login the callback (mounted at the path of `redirect_uri`) validates everything, stores
//! the session and sends the browser back to `/login`.
//!
//! # Configuration
//!
//! Everything sits under `[default.oidc]` (or any Rocket profile), and every key can also be
//! set the Rocket way: `ROCKET_OIDC='{redirect_uri="..."}'`, or the whole file through
//! `ROCKET_CONFIG=path/to/Rocket.toml`.
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `redirect_uri` | URL | required | this app's callback; its path is where the callback is mounted |
//! | `clock_skew` | seconds | `60` | tolerance for every time check of a token |
//! | `session_lifetime` | seconds | `28800` (8 hours) | after this long since the login a session ends (browsers log in again, silently while the provider's session lives) |
//! | `session_idle_timeout` | seconds | `1800` (30 minutes) | a session unused this long ends |
//! | `end_session_with_access_token` | bool | `true` | a session whose access token expired and that has no refresh token ends |
//! | `session.store` | string | `"cookie"` | where sessions live: `"cookie"`, `"memory"` or `"redis"` (see [Sessions and stores](#sessions-and-stores)) |
//! | `session.memory.capacity` | number | `100000` | most entries the memory store (and the cookie store's marks of ended sessions) holds |
//! | `session.memory.sessions_per_subject` | number | `16` | most sessions of one user (provider and `sub`) in the memory store: a new login past it ends that user's session closest to expiry, so one account cannot push other users out; a full store ends sessions of the users holding the most first |
//! | `limits.dpop_replay_capacity` | number | `100000` | most DPoP proofs (their `jti`s) an API remembers against replay, of every key together, apart from sessions and marks; when full, new proofs are refused with 503 until the oldest age out (a proof is never forgotten while it counts) |
//! | `limits.dpop_proofs_per_key` | number | `10000` | most proofs of one DPoP key remembered at once (a proof is remembered 2 × (60 s + `clock_skew`) + 2 s, 4 minutes at the defaults: about 41 requests a second per key): past it, that key's new proofs are refused with 429 until older ones age out, so one client cannot fill the cache |
//! | `limits.provider_calls_per_second` | number | `50` | per provider, calls that anonymous requests can cause: pushed authorization requests, code exchanges, introspections of tokens not in the cache, each kind bounded on its own, one client address to a quarter of it; beyond it, 503 with `Retry-After` (a callback refused so keeps its login, to be loaded again) |
//! | `limits.provider_calls_concurrent` | number | `32` | per provider and kind, such calls in flight at once; beyond it, 503 with `Retry-After` |
//! | `session.redis.url` | URL | — | `redis://[user:password@]host:port[/db]`, `rediss://` for TLS, `redis+unix:///path/to/socket` (and `valkey://`, `valkeys://`, `valkey+unix://`); with `store = "cookie"`, where the marks of ended sessions go (shared by instances) |
//! | `session.redis.cluster` | list of URLs | — | seed nodes of a Redis Cluster, instead of `url` (a bare `host:port` means `redis://host:port`) |
//! | `session.redis.key_prefix` | string | `"rocket_oidc:"` | in front of every key, so apps can share a Redis |
//! | `session.redis.connect_timeout_ms` | ms | `2000` | how long connecting (at launch, and each reconnection) may take |
//! | `session.redis.response_timeout_ms` | ms | `1000` | how long one Redis command may take before the request answers 503 |
//! | `trust_forwarded_headers` | bool | `false` | behind a proxy that sets `X-Forwarded-Proto`/`X-Forwarded-Host` (and strips clients' own): a login asked for under another origin than `redirect_uri`'s goes there first. Without it, only another loopback name (`localhost` against `127.0.0.1`) is sent there; the origin of every URL the crate builds is always `redirect_uri`'s |
//! | `propagate_traceparent` | bool | `false` | when a request carries a W3C `traceparent` (a tracing proxy or gateway set it), the provider calls it causes carry a child `traceparent` (same trace id, a new span id; mod_auth_openidc's `OIDCTraceParent`), so the provider's traces join the app's. Trust the header only from your own edge: a client may send any trace id and sampled flag |
//! | `frontchannel_logout_by_sid` | bool | `false` | front-channel logout: the provider's page frames `frontchannel_logout_path` from its own site, so a `SameSite=Lax` session cookie never comes with it, and by the spec only the browser's current session ends. Set it to end, on the server, every stored session of the `sid` the provider sends (memory or Redis sessions only; with cookie sessions it stops launch). A `sid` then works like a logout password: it is in ID tokens and logout URLs, so prefer back-channel logout, which the provider signs |
//! | `dangerously_allow_published_secret_key` | bool | `false` | let a debug setup run with Rocket's published example `secret_key` (anyone can forge sessions with it); refused in the release profile and in release builds |
//! | `dangerously_allow_http` | bool | `false` | accept plain http beyond loopback hosts (development setups only; refused in the release profile) |
//! | `backchannel_logout_path` | path | `<logout_path>/backchannel` | where the provider posts logout tokens (register `<origin><path>` as `backchannel_logout_uri`) |
//! | `frontchannel_logout_path` | path | `<logout_path>/frontchannel` | the front-channel logout page (register it as `frontchannel_logout_uri`, with `frontchannel_logout_session_required`) |
//! | `initiate_login_path` | path | off | third-party-initiated login (Core 4): `GET` or `POST` there with `iss` (a configured provider's issuer), optional `login_hint` and `target_link_uri` (this app's origin only) starts that provider's login; register `<origin><path>` as `initiate_login_uri` (https only; the crate registers it when it registers the client) |
//! | `ready_path` | path | off | a readiness route for load balancers and Kubernetes (`readinessProbe: httpGet: path: /ready`): `200` `{"status": "ready"}` when every provider's metadata and keys are loaded and the session store answers, else `503` `{"status": "not_ready", "missing": [{"provider", "part", "since", "error"}]}`; loads what is missing (a provider down at launch makes the instance ready once it answers), each part bounded to 2 s, never cached |
//! | `session_permanent` | bool | `true` | session cookie with `Max-Age` (survives a browser restart) |
//! | `auto_refresh` | bool | `true` | the guard refreshes an expired access token before the route runs |
//! | `login_timeout` | seconds | `600` | how long a started login (or logout) may take |
//! | `http_timeout` | seconds | `10` | timeout of every request to a provider |
//! | `logout_path` | path | `/logout` | where the logout route is mounted (`GET` and `POST`) |
//! | `post_logout_path` | path | `/` | where the browser lands after a logout |
//! | `providers.<name>` | table | required | one provider |
//! | `providers.<name>.issuer` | URL | — | discovery; or a `provider_metadata` table |
//! | `providers.<name>.provider_metadata` | table | — | static metadata (`issuer`, `authorization_endpoint`, `token_endpoint`, `jwks_uri`, `userinfo_endpoint`, `end_session_endpoint`, `revocation_endpoint`, ...) |
//! | `providers.<name>.client_id` | string | required | unless the client registers dynamically (`client_registration`) |
//! | `providers.<name>.client_secret` | string | — | required for `client_secret_basic`, `client_secret_post` and `client_secret_jwt` (unless registered dynamically) |
//! | `providers.<name>.token_endpoint_auth_method` | string | `client_secret_basic` | how the client authenticates at the token, PAR and revocation endpoints: `client_secret_basic`, `client_secret_post`, `client_secret_jwt` (assertion signed with the secret), `private_key_jwt` (assertion signed with `private_key`), `tls_client_auth` or `self_signed_tls_client_auth` (RFC 8705: the `tls_client_certificate` on the connection, `client_id` in the form), `none` (public client; PKCE carries the security) |
//! | `providers.<name>.tls_client_certificate` | path | — | the client's certificate for mutual TLS with this provider (RFC 8705), PEM (the client's certificate first, then its chain): presented on every call to the provider, whose `mtls_endpoint_aliases` are then used; access tokens the provider binds to it (`cnf.x5t#S256`) work over that connection only. Unreadable, expired or not yet valid stops launch; the launch summary shows its subject and expiry, and a warning comes 30 days before it expires |
//! | `providers.<name>.tls_client_key` | path | — | its private key, PEM (PKCS#8, PKCS#1 or SEC1, unencrypted); one that does not fit the certificate stops launch |
//! | `providers.<name>.profile` | string | off | `"fapi2"` (FAPI 2.0 Security Profile) or `"fapi2-message-signing"` (with signed requests and responses): the client keeps the profile's duties and launch stops, naming the key, when the configuration would break one; see [FAPI 2.0](#fapi-20) |
//! | `providers.<name>.private_key` | path | — | the client's private key, a PEM file (PKCS#8, PKCS#1 or SEC1; RSA of 2048 bits or more, EC P-256 or P-384, Ed25519), for `private_key_jwt` and `jwks_path` |
//! | `providers.<name>.private_key_pem` | string | — | the same key inline (a multi-line TOML string), instead of `private_key` |
//! | `providers.<name>.private_key_kid` | string | RFC 7638 thumbprint | the `kid` of the key in assertions and at `jwks_path` |
//! | `providers.<name>.token_endpoint_auth_signing_alg` | string | by key: `RS256`, `ES256`, `ES384`, `EdDSA`; `HS256` for `client_secret_jwt` | the assertions' algorithm (`PS256` for an RSA key, `HS512`, ...); one the provider does not list in `token_endpoint_auth_signing_alg_values_supported` stops launch |
//! | `providers.<name>.client_assertion_audience` | string | `"issuer"` | the assertions' `aud`: the provider's issuer, `"token_endpoint"` for providers that want its URL, or `"endpoint"`: the exact URL of the endpoint each assertion is sent to (token, PAR, revocation, introspection) |
//! | `providers.<name>.jwks_path` | path | off | the fairing serves the client's public keys there (`{"keys": [...]}` with `use`, `kid`): the signing key, and the `encryption_key` with `"use": "enc"`; registered as `jwks_uri` (`<origin><path>`) |
//! | `providers.<name>.id_token_encrypted_response_alg` | string | off | ID tokens come encrypted (a signed JWT inside a JWE): `"RSA-OAEP"`, `"RSA-OAEP-256"`, `"ECDH-ES"`, `"ECDH-ES+A128KW"`, `"ECDH-ES+A192KW"` or `"ECDH-ES+A256KW"` (`"RSA1_5"` is refused: padding-oracle attacks). Needs `encryption_key`; a provider that sends them unencrypted is refused. See [Encrypted and signed responses](#encrypted-and-signed-responses) |
//! | `providers.<name>.id_token_encrypted_response_enc` | string | `"A128CBC-HS256"` | their content encryption: `"A128CBC-HS256"`, `"A192CBC-HS384"`, `"A256CBC-HS512"`, `"A128GCM"`, `"A192GCM"` or `"A256GCM"` |
//! | `providers.<name>.userinfo_signed_response_alg` | string | off | UserInfo comes as a JWT signed with this algorithm (`RS256`, `PS256`, `ES256`, `EdDSA`, `HS256`, …): its signature, `iss` and `aud` are checked as an ID token's |
//! | `providers.<name>.userinfo_encrypted_response_alg` | string | off | UserInfo comes encrypted (around the signed JWT when `userinfo_signed_response_alg` is set too); the algorithms of `id_token_encrypted_response_alg` |
//! | `providers.<name>.userinfo_encrypted_response_enc` | string | `"A128CBC-HS256"` | as `id_token_encrypted_response_enc` |
//! | `providers.<name>.encryption_key` | path | — | the client's decryption key, a PEM file (PKCS#8, PKCS#1 or SEC1; RSA of 2048 bits or more for `RSA-OAEP*`, EC P-256, P-384, P-521 or X25519 for `ECDH-ES*`); keep it apart from `private_key` |
//! | `providers.<name>.encryption_key_pem` | string | — | the same key inline, instead of `encryption_key` |
//! | `providers.<name>.encryption_key_kid` | string | RFC 7638 thumbprint | the `kid` of the encryption key at `jwks_path`; a JWE naming another `kid` is refused |
//! | `providers.<name>.use_par` | bool | `false` | push each login's parameters to the provider first (RFC 9126) and send the browser with a `request_uri` only; on by itself when the provider (`require_pushed_authorization_requests`) or the registered client requires it |
//! | `providers.<name>.dpop` | bool | `false` | bind the session's tokens to a key of its own (DPoP, RFC 9449): proofs on the token, refresh and UserInfo requests, the provider's nonces answered; [`Authenticated::dpop_proof`] for calling APIs |
//! | `providers.<name>.dpop_alg` | string | `ES256` | or `EdDSA` |
//! | `providers.<name>.id_token_signed_response_alg` | string | what the provider advertises | pin the ID token algorithm (`RS256`, `PS256`, `ES256`, `EdDSA`, `HS256` keyed by the client secret, ...): tokens signed otherwise are refused; a pin the provider does not advertise is a launch warning |
//! | `providers.<name>.request_object_signing_alg` | string | off | send each authorization request as a request object (RFC 9101) signed with this algorithm: `private_key`'s (RS*, PS*, ES256/384, EdDSA), or HS256/384/512 with the client secret; in the URL, or inside the pushed request with `use_par`; registered when the client registers dynamically |
//! | `providers.<name>.client_registration` | table | — | register the client dynamically (Registration 1.0, RFC 7591): the table's keys are registration metadata (`client_name`, `contacts`, ...) plus `initial_access_token`; the crate adds `redirect_uris`, `post_logout_redirect_uris`, `grant_types`, `response_types`, `token_endpoint_auth_method`, `token_endpoint_auth_signing_alg` (assertions), `backchannel_logout_uri`, `frontchannel_logout_uri`, `id_token_signed_response_alg`, the encryption and UserInfo signing settings, `request_object_signing_alg`, `initiate_login_uri` (https only) and `jwks_uri` (or an inline `jwks`) unless the table sets them. Once per deployment: see [Dynamic registration](#dynamic-registration) |
//! | `providers.<name>.registration_file` | path | — | where the registered client is kept (JSON, mode 0600); required unless sessions are in Redis, which then keeps it for every instance |
//! | `providers.<name>.discovery_url` | URL | `<issuer>/.well-known/openid-configuration` | for providers whose discovery document lives elsewhere; it must still name `issuer` exactly |
//! | `providers.<name>.ca_certificates` | list of paths | `[]` | PEM CA certificates trusted for this provider besides the system's (a private CA) |
//! | `providers.<name>.http_proxy` | URL | — | an HTTP(S) proxy for every call to this provider |
//! | `providers.<name>.http_user_agent` | string | `rocket_oidc_auth/<version>` | the `User-Agent` of calls to this provider |
//! | `providers.<name>.access_token_validation` | string | `"auto"` | how [`Bearer`] checks tokens: `"introspection"` (RFC 7662), `"jwt"` (RFC 9068, locally against the provider's keys), `"auto"` (JWS-shaped tokens locally, others by introspection; a JWT that fails is not introspected). A JWT that passed is kept as checked (by its SHA-256) until its `exp`, at most 5 minutes: scopes and DPoP proofs are still checked on every request |
//! | `providers.<name>.access_token_audience` | string | the `client_id` | the `aud` a bearer token (JWT or introspection answer) must name; a token without `aud` is refused |
//! | `providers.<name>.introspection_cache_seconds` | seconds | `30` | how long an introspection answer (active or not) is used, never past the token's `exp`: a revoked token stops working within this time; `0` asks the provider every time |
//! | `providers.<name>.client_credentials.scope` | list | `[]` | the scope [`ClientCredentials`] asks for |
//! | `providers.<name>.client_credentials.resource` | URI | — | the resource indicator (RFC 8707) it asks for |
//! | `providers.<name>.scope` | list or string | `["openid"]` | must contain `openid` |
//! | `providers.<name>.auth_request_params` | table | `{}` | extra authorization parameters (`prompt`, `max_age`, `acr_values`, `claims`, ...) |
//! | `providers.<name>.userinfo_http_method` | string | `GET` | `POST`, or `none` to skip UserInfo |
//! | `providers.<name>.response_type` | string | `"code"` | what the provider's answer to the login carries: `"code"` (the authorization code flow), hybrid `"code id_token"`, `"code token"`, `"code id_token token"`, or implicit `"id_token"`, `"id_token token"` (discouraged by RFC 9700: tokens travel through the browser, none can be refreshed). An ID token in the answer is checked in full (`nonce`, `c_hash`, `at_hash`) before any other call; see [Hybrid and implicit logins](#hybrid-and-implicit-logins) |
//! | `providers.<name>.response_mode` | string | by `response_type`: `"query"` for `"code"`, else `"fragment"` | how the provider answers the login: `"query"` (a redirect), `"fragment"` (a redirect whose fragment the callback's page posts back: browsers never send fragments), or `"form_post"` (its page posts a form to the callback; the login's cookie is then `SameSite=None; Secure`, since a `Lax` cookie does not come with a cross-site `POST`, so the app must be on https or http on a loopback host). Tokens never travel in a query: `"query"` with tokens in the answer stops launch. JWT-secured responses (JARM): `"jwt"` (in the query for a code, the fragment with tokens), `"query.jwt"` (with tokens only when encrypted), `"fragment.jwt"`, `"form_post.jwt"`: the answer is one JWT whose signature, `iss`, `aud` and `exp` are checked before anything in it is used; a plain answer is then refused |
//! | `providers.<name>.authorization_signed_response_alg` | string | `RS256` (`PS256` under a FAPI profile) | with a JWT `response_mode`: the algorithm the provider signs the answer with; no other is taken. With an `encryption_key`, an encrypted answer is opened |
//! | `providers.<name>.authorization_encrypted_response_alg` | string | off | with a JWT `response_mode`: the answer comes encrypted (around the signed JWT) with this algorithm (those of `id_token_encrypted_response_alg`); a plain one, or one encrypted otherwise, is refused. Needs `encryption_key` |
//! | `providers.<name>.authorization_encrypted_response_enc` | string | `"A128CBC-HS256"` | as `id_token_encrypted_response_enc` |
//! | `providers.<name>.session_refresh_interval_seconds` | seconds | off | after this long since the last authentication, the next browser request re-authenticates silently (`prompt=none`), falling back to the login page when the provider needs the user; needs a provider that implements `prompt=none` (Django OAuth Toolkit 3.4 answers it with a 500 page of its own; a browser that comes back from such a page within two minutes gets an interactive login) |
//! | `providers.<name>.trusted_audiences` | list | `[]` | audiences besides `client_id` allowed in `aud` |
//! | `providers.<name>.post_logout_redirect_uris` | list of URLs | `["<origin of redirect_uri><logout_path>/callback"]` | the first is sent to the provider's `end_session_endpoint` and must be registered there; the crate receives the browser back at its path |
//! | `providers.<name>.endpoints` | table | `{}` | `userinfo_endpoint`, `end_session_endpoint`, `revocation_endpoint`, `introspection_endpoint` that replace (or add to) the provider's metadata; missing revocation and introspection endpoints are also looked up in its RFC 8414 metadata (`/.well-known/oauth-authorization-server`) |
//! | `providers.<name>.jwks_max_age_seconds` | seconds | `3600` | how long fetched keys are trusted before they are fetched again, so a key the provider removed stops working (a key it adds is fetched at once, on first sight of its `kid`); discovery metadata is reloaded daily. A failed reload keeps the keys in hand |
//! | `providers.<name>.revoke_tokens_on_logout` | bool | `true` | revoke the refresh and access tokens (RFC 7009) when the provider has a `revocation_endpoint` |
//!
//! Coming from Flask-pyoidc? [`coming_from_flask_pyoidc`] maps every decorator, key and
//! feature.
//!
//! `http://` URLs are accepted only for loopback hosts (`127.0.0.0/8`, `::1`, `localhost`).
//! For a development setup on a LAN or between containers, `dangerously_allow_http = true`
//! under `[debug.oidc]` accepts plain http anywhere (with a warning at every launch); the
//! release profile refuses it.
//!
//! # Client authentication, PAR and DPoP
//!
//! A client authenticates with its secret (`client_secret_basic`, `client_secret_post`), an
//! assertion signed with it (`client_secret_jwt`) or with its private key
//! (`private_key_jwt`), or not at all (`none`):
//!
//! ```toml
//! [default.oidc.providers.default]
//! issuer = "https://op.example.com"
//! client_id = "my-app"
//! token_endpoint_auth_method = "private_key_jwt"
//! private_key = "/etc/my-app/oidc-key.pem"
//! jwks_path = "/.well-known/jwks.json"   # register https://app.example.com/.well-known/jwks.json
//! use_par = true                         # RFC 9126
//! dpop = true                            # RFC 9449
//! ```
//!
//! # Dynamic registration
//!
//! Without a `client_id`, a `client_registration` table registers the client at the
//! provider's `registration_endpoint` (Flask-pyoidc's `ClientRegistrationInfo`):
//!
//! ```toml
//! [default.oidc.providers.default]
//! issuer = "https://op.example.com"
//! registration_file = "/var/lib/my-app/oidc-client.json"
//!
//! [default.oidc.providers.default.client_registration]
//! client_name = "My App"
//! initial_access_token = "..."   # when the provider wants one
//! ```
//!
//! Registration happens once per deployment, at the first launch (or the first login when
//! the provider was down then), not per instance or process: the provider's answer is kept
//! in `registration_file` (mode 0600; instances on one host that start together take turns
//! through a lock file beside it), or in Redis when sessions live there (every instance
//! shares it; a lock in Redis makes concurrent first starts register once). A kept client
//! is used while it was registered for the same issuer and the same metadata, its secret
//! has not expired (`client_secret_expires_at`) and the provider still knows it: each process
//! reads it back once at its `registration_client_uri` (RFC 7592), and a 401 or 404 there,
//! or `invalid_client` from the token endpoint later, registers a new one.
//!
//! # APIs
//!
//! [`Bearer<P, S>`](Bearer) guards an API route: a valid bearer token of provider `P` with
//! the scopes `S` (declared with [`oidc_scopes!`]), answering RFC 6750's 401 and 403 with
//! `WWW-Authenticate` otherwise, never a redirect. [`BearerOrSession`] takes a bearer token
//! or a browser session, and [`ClientCredentials`] gives the app's own token for calling
//! other services, kept until shortly before it expires. DPoP-bound tokens (RFC 9449) must
//! come with a fresh proof of their key. `examples/api.rs` shows all of it.
//!
//! ```
//! use rocket::serde::json::{json, Json, Value};
//! use rocket_oidc_auth::{oidc_scopes, provider::Default, Bearer};
//!
//! oidc_scopes!(pub Admin = ["admin"]);
//!
//! #[rocket::get("/api/admin")]
//! fn admin(token: Bearer<Default, Admin>) -> Json<Value> {
//!     Json(json!({ "sub": token.subject(), "client_id": token.client_id() }))
//! }
//! ```
//!
//! # Logins a route starts
//!
//! [`Login`] starts a login from a route with parameters of its own: a `login_hint`, a
//! `prompt`, more scopes, a `max_age`, or a step-up `acr_values` that the callback checks in
//! the ID token. State, nonce and PKCE are set as on every login and cannot be overridden.
//!
//! # Hybrid and implicit logins
//!
//! `response_type` chooses what the provider's answer carries. With an ID token in it
//! (`"code id_token"`, `"code id_token token"`, `"id_token"`, `"id_token token"`), that
//! token is checked in full before anything else: signature, `iss`, `aud`, `exp`, the
//! login's `nonce`, `c_hash` against the code and `at_hash` against the access token (each
//! the left half of the hash of the token's algorithm); a bad one ends the login before any
//! call to the token endpoint. With a code, the code is then exchanged (with PKCE) and the
//! token endpoint's ID token must be about the same user.
//!
//! These answers come in the URL's fragment by default, which browsers never send to a
//! server: the callback then serves a small page whose one script (allowed by its hash in a
//! `default-src 'none'` policy, never cached, no referrer) takes the fragment out of the
//! address bar and posts it back to the callback, same-site. Tokens never travel in a
//! query: `response_mode = "query"` with them stops launch, and such an answer in a query
//! is refused. `response_mode = "form_post"` works for them too.
//!
//! The implicit flow (`"id_token"`, `"id_token token"`) is off unless configured, and
//! [RFC 9700](https://www.rfc-editor.org/rfc/rfc9700) (OAuth 2.0 Security Best Current
//! Practice) discourages it: its tokens pass through the browser, cannot be bound with
//! DPoP (`dpop` with it stops launch) and cannot be refreshed. `"id_token"` issues no access
//! token, so UserInfo is not read and [`Authenticated::access_token`] is empty.
//!
//! ```toml
//! [default.oidc.providers.default]
//! issuer = "https://op.example.com"
//! client_id = "my-app"
//! client_secret = "..."
//! response_type = "code id_token"   # answered in the fragment
//! ```
//!
//! # Encrypted and signed responses
//!
//! eID and banking providers often encrypt ID tokens and sign (or encrypt) UserInfo. Give
//! the client a decryption key and say what was registered:
//!
//! ```toml
//! [default.oidc.providers.default]
//! encryption_key = "/etc/app/oidc-enc.pem"        # openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048
//! jwks_path = "/oidc/jwks"                        # publishes its public half, "use": "enc"
//! id_token_encrypted_response_alg = "RSA-OAEP-256"
//! id_token_encrypted_response_enc = "A256GCM"     # default A128CBC-HS256
//! userinfo_signed_response_alg = "RS256"
//! ```
//!
//! An encrypted ID token is decrypted (the `alg` and `enc` must be the registered ones, and
//! a `kid` must be this key's), then checked in full as any ID token; the session keeps the
//! signed token, which is what `id_token_hint` wants at logout. A signed UserInfo is checked
//! like an ID token (the registered algorithm only, the provider's keys, `iss` and `aud` when
//! present); an encrypted one is decrypted first. A response that comes otherwise than
//! registered (plain where encrypted was asked) is refused, since the app asked for the
//! protection. With dynamic registration these settings are registered too, with the key
//! at `jwks_uri` (or inline as `jwks` without `jwks_path`). The cryptography is aws-lc-rs's
//! (RSA-OAEP and static-key ECDH, which `ring` lacks; constant-time, unlike RustCrypto's
//! `rsa`, which has an unfixed timing advisory on private-key operations).
//!
//! # FAPI 2.0
//!
//! Open banking, health and government providers ask for the FAPI 2.0 Security Profile. One
//! setting keeps the client inside it:
//!
//! ```toml
//! [default.oidc.providers.bank]
//! issuer = "https://bank.example"
//! client_id = "my-app"
//! profile = "fapi2"                                  # or "fapi2-message-signing"
//! token_endpoint_auth_method = "tls_client_auth"     # or private_key_jwt, self_signed_tls_client_auth
//! tls_client_certificate = "/etc/app/client.pem"     # mutual TLS (RFC 8705): tokens bound to it
//! tls_client_key = "/etc/app/client.key"
//! ```
//!
//! With the profile, PAR is always on, PKCE S256 and `iss` in every answer are required,
//! only `private_key_jwt` or mutual TLS authenticate the client, tokens must be bound (DPoP,
//! or the certificate), only PS256, ES256 and EdDSA are taken, the issuer must be https,
//! and the clock skew is 10 s unless `clock_skew` is set. A setting that breaks a rule stops
//! launch naming the key to change. `"fapi2-message-signing"` adds signed requests
//! (`request_object_signing_alg`, inside PAR) and signed answers (`response_mode = "jwt"`,
//! JARM). The whole checklist, with where each duty is kept: `docs/fapi.md`. An API guard
//! ([`Bearer`]) takes a certificate-bound token only with its certificate (feature `mtls`,
//! and Rocket's `[default.tls.mutual]`).
//!
//! # Several providers
//!
//! Declare a marker per provider with [`oidc_provider!`] and guard routes with it:
//!
//! ```
//! # #[macro_use] extern crate rocket;
//! use rocket_oidc_auth::{oidc_provider, Authenticated};
//!
//! oidc_provider!(pub Google = "google"); // [default.oidc.providers.google]
//!
//! #[get("/login2")]
//! fn login2(user: Authenticated<Google>) -> String {
//!     user.subject().to_string()
//! }
//! ```
//!
//! # Extending
//!
//! - **Your own error pages**: a catcher reads [`OidcError::of`] and matches on
//!   [`OidcError::kind`]; statuses are already right (4xx for bad input, 502/503/504 when a
//!   provider fails).
//! - **Calling APIs for the user**: [`Authenticated::valid_access_token`] hands out a token
//!   that is valid now, refreshing it first when needed.
//! - **Your own claims types**: [`Authenticated::id_token_claims`] and
//!   [`Authenticated::userinfo_claims`] deserialize into any `serde` type.
//! - **Your own logout page**: the [`Logout`] guard ends the sessions; return it to finish
//!   at the provider, or return your own page.
//! - **Optional login**: `Option<Authenticated<P>>` lets a route serve both visitors and
//!   users (no redirect happens for it).
//!
//! # Token lifetime
//!
//! An access token counts as expired `clock_skew` seconds before its `expires_in` runs out
//! (tokens this app sends are renewed early; tokens it receives are accepted late by the
//! same margin). With `auto_refresh` (the default) the guard then uses the refresh token
//! before the route runs, and the renewed session goes out with the response; routes can
//! also ask with [`Authenticated::valid_access_token`] or force a refresh with
//! [`Authenticated::refreshed_access_token`]. An ID token returned on refresh is validated
//! like the first one, and must name the same `sub` (and the same `nonce` and `auth_time`
//! when it has them). A refusal (`invalid_grant`) ends the session: browsers go through a
//! fresh login, never an error page.
//!
//! Concurrent requests of one user refresh once, so a provider that rotates refresh tokens
//! never sees the old one twice. With a server-side store (`memory`, `redis`) this holds
//! across every instance sharing the store: the instance that takes the session's refresh
//! lock in the store asks the token endpoint and stores the result, the others wait for the
//! stored session to change and use it. With the cookie store it holds per process: the
//! first request asks the token endpoint, the others (and requests still carrying the old
//! cookie for 30 seconds) reuse its answer; two instances can race, and the loser's user
//! logs in again (a redirect and back while the provider's session is alive).
//!
//! A session ends `session_lifetime` seconds after the login, after `session_idle_timeout`
//! seconds without a request, and (with `end_session_with_access_token`) when its access
//! token expires with no refresh token to renew it. With `session_refresh_interval_seconds`
//! set, browsers re-authenticate silently before the lifetime runs out.
//!
//! What [`Authenticated::valid_access_token`] knows is the token's expiry as the provider
//! stated it at issue: it does not ask the provider whether the token was revoked since
//! (that takes introspection, a round trip per call). A logout through this app, or a
//! back-channel logout from the provider, ends the session itself, so the instances that
//! see that end never hand out its tokens again: every instance with a server-side store
//! (or the cookie store with its marks in Redis), only the instance that saw the logout
//! with the cookie store alone.
//!
//! # Sessions and stores
//!
//! `[default.oidc.session] store` decides where sessions live:
//!
//! | store | where | pick it when |
//! |---|---|---|
//! | `"cookie"` (default) | the browser's sealed cookie; the server keeps only marks of ended sessions: in this process, or in Redis when a `[session.redis]` table is given (shared by every instance) | no server to run, or sessions too big for nothing but Redis marks |
//! | `"memory"` | this process; the cookie carries a random id | one instance that wants small cookies and sessions it can end; tests |
//! | `"redis"` | Redis or Redis Cluster (cargo feature `redis`); the cookie carries a random id | several instances behind a load balancer |
//!
//! ```toml
//! [default.oidc.session]
//! store = "redis"
//!
//! [default.oidc.session.redis]
//! url = "redis://127.0.0.1:6379"      # rediss:// for TLS; or cluster = ["redis://n1:7000", ...]
//! key_prefix = "myapp:"
//! response_timeout_ms = 500
//! ```
//!
//! Every session has a random id, new at every login (no session fixation). A logout ends
//! the session on the server too: a server-side store deletes it, the cookie store marks
//! its id as ended (in one bounded record per user), so a copy of the cookie taken before
//! the logout is refused. A store keeps each session sealed (AES-256-GCM under a key
//! derived from `secret_key`, bound to the session's id): whoever reads Redis, or its
//! backups, reads no token. What one client, one account or anonymous traffic can fill or
//! cause is bounded (`[oidc.limits]`, the memory store's per-user cap); `SECURITY.md` lists
//! every bound. The
//! login's transaction (state, nonce, PKCE verifier) travels in its own sealed cookie, so a
//! callback may land on any instance that shares the `secret_key`.
//!
//! The Redis store runs on the [`redis`](https://docs.rs/redis) crate: maintained, async on
//! tokio, one self-reconnecting multiplexed connection (`ConnectionManager`) per server and
//! the async cluster client for Redis Cluster, TLS through rustls. One multiplexed
//! connection pipelines every request's commands, so there is no pool to size. Every
//! command is bounded by `response_timeout_ms`: while Redis is down or paused, guarded
//! routes answer `503 session_store_unavailable` (never "logged out", which would send every
//! user to the provider), public routes keep working, and the next request after Redis is
//! back succeeds. Keys are namespaced by `key_prefix`, expire with their session, and the
//! logout indexes (`sid`, `sub`) are keys of their own: no `KEYS` or `SCAN` anywhere. It
//! needs Redis 7. In code, `RedisStore::connect(&RedisConfig { url: Some(..),
//! ..RedisConfig::default() })` takes the same settings as the `[session.redis]` table, with
//! the same defaults and the same checks.
//!
//! Your own store (Postgres, DynamoDB, ...) implements [`store::SessionStore`]'s five
//! methods, and [`store::ValueStore`]'s three when several instances share it (the crate keeps
//! its refresh locks and replay caches there), and goes in with
//! `OidcFairing::from_config().with_store(..)` ([`OidcFairing::with_store`]). The
//! `test-util` feature ships the contracts both traits promise as a test suite
//! (`store_contract!`): run it against your store.
//!
//! # Back-channel and front-channel logout
//!
//! The fairing mounts `POST <logout_path>/backchannel` (OpenID Connect Back-Channel Logout
//! 1.0): register `<origin of redirect_uri>/logout/backchannel` as the client's
//! `backchannel_logout_uri` (the launch summary prints it), with
//! `backchannel_logout_session_required = true` so logout tokens name the provider session.
//! A logout token is validated like an ID token (signature with an allowed algorithm, `iss`,
//! `aud`, `iat`, `exp`), must carry the back-channel logout event, `sid` and/or `sub`, a
//! `jti` not seen before, no `nonce`, and `typ` `logout+jwt` when it has a `typ`; anything
//! else answers 400 with a JSON error and ends nothing. A valid token ends the sessions of
//! its `sid` (or, without one, every session of its `sub`) at once: a server-side store
//! deletes them for every instance; the cookie store marks them as ended, in this process
//! (so only the instance that received the token knows), or in Redis for every instance
//! when the cookie store has a `[session.redis]` table.
//!
//! Front-channel logout (`GET <logout_path>/frontchannel?iss=…&sid=…`, Front-Channel Logout
//! 1.0) is the weaker option: browsers that block third-party cookies, and the `SameSite=Lax`
//! session cookie itself, keep the session cookie out of the provider's iframe, so it ends a
//! session only when the browser sends it. It needs `iss` and `sid` (register
//! `frontchannel_logout_session_required = true`), answers `Cache-Control: no-store`, and
//! may be framed only by the provider's origin. Prefer back-channel logout.
//!
//! # Logout
//!
//! The fairing mounts `logout_path` (`/logout`). It ends the local session of every provider
//! (or only `?provider=<name>`), revokes the tokens where the provider allows it, and, when
//! the provider has an `end_session_endpoint`, sends the browser there with `id_token_hint`,
//! `client_id`, `post_logout_redirect_uri` and a fresh `state`. The way back is checked
//! (`state` must match, single use) before the browser lands on `post_logout_path`; a wrong
//! or missing `state` shows a plain logged-out page and redirects nowhere.
//!
//! Other sites cannot log your users out: only a request that shows it comes from this
//! app's pages logs out (`Sec-Fetch-Site`, else `Origin`, else `Referer`, as OWASP's CSRF
//! cheat sheet says). A cross-site `POST` is refused; a cross-site `GET`, or any request that
//! says nothing of where it comes from, gets a confirmation page whose button posts to the
//! configured `logout_path`.
//! Put a logout button in your pages as a form:
//!
//! ```html
//! <form method="post" action="/logout"><button>Log out</button></form>
//! ```
//!
//! or log out from your own route with the [`Logout`] guard and responder.
//!
//! # Security
//!
//! Every login uses PKCE S256, `state` and `nonce`, kept in a per-login transaction cookie
//! (two tabs can log in at once; a browser keeps at most four pending logins, the oldest
//! dropped first); the callback checks RFC 9207 `iss`, and the ID token is
//! validated as OpenID Connect Core 3.1.3.7 says (signature with an allow-list of
//! algorithms, `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`, `auth_time`, `at_hash`). Return
//! targets are paths of this app only. Over https every cookie of the crate is named
//! `__Host-…` (set only from a secure origin, `Path=/`, no `Domain`: a sibling subdomain
//! cannot plant a login or a session). Sessions live in cookies sealed with AES-256-GCM
//! (split into chunks of under 4 KB when the tokens are large), and responses to logged-in
//! requests carry `Cache-Control: no-store`. Tokens and secrets never appear in the crate's
//! logs or `Debug` output, and [`OidcError::error_description`] is fit for end users (the
//! developer's side is [`OidcError::developer_detail`]). Rocket's own request log prints
//! each request's URI, the callback's `code` included: run production with
//! `log_level = "critical"`.

//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `metrics` | on | the `oidc_*` metrics through the [`metrics`](https://docs.rs/metrics) facade (see the README's "Running it"); without an installed recorder each event costs one check |
//! | `redis` | off | `store::RedisStore`: sessions in Redis or Redis Cluster (`session.store = "redis"`) |
//! | `mtls` | off | [`Bearer`] takes certificate-bound access tokens (RFC 8705, `cnf.x5t#S256`) from requests that present that TLS client certificate (Rocket's `mtls`: serve TLS with `[default.tls.mutual]`); without it such tokens are refused |
//! | `test-util` | off | `store::contract` and `store_contract!`: the store contracts as tests, for your own store |
//!
//! # Architecture
//!
//! The modules sit in layers; a module imports only from the layers below it, so the
//! protocol code can be tested without Rocket or a server, and a store never knows about
//! requests:
//!
//! | layer | modules | owns |
//! |---|---|---|
//! | Rocket glue | `web::{fairing, guard, login, api, routes, logout, initiate, relay, ready, request_state, summary}` | the fairing, the guards, the mounted routes, what a request carries to the response hook |
//! | flows | `flow::{login, callback, response, lifecycle, refresh, logout, backchannel, initiate, ready, bearer, machine}` and the shared state (`flow::Oidc`) | the login and callback, a session's life across requests (the guard's one decision), token refresh, logout, provider-initiated logout, bearer tokens, the client-credentials token |
//! | provider runtime · sessions | `op::{client, refreshing, client_auth, metadata, keys, authorize, token, id_token, userinfo, introspection, revocation, discovery, registration}` · `session::{data, codec, backend}` | metadata and keys (one `Refreshing` cache), registration, client authentication and one module per call to the provider · session data, sealed cookies, where sessions live (`SessionBackend`: the cookie, or a store) |
//! | stores | `store::{memory, redis, lock, metered, contract}` | the store traits, the memory and Redis stores, a lock on a value store, the timing of every store, the contract suite |
//! | protocol | `protocol::{id_token, jws, access_token, logout_token, userinfo_jwt, jwk, dpop, http, base64url, time, random}` | token validation (ID tokens on openidconnect's verifier), key sets, DPoP proofs, the one HTTP client, base64url, the clock, randomness |
//! | floor | `config`, `signing`, `encryption`, `telemetry`, `error`, `provider` | configuration (in rooms by table: `config::{app, provider, response, encryption, client, api, session, redis, urls, metadata, defaults, error}`), the client's signing algorithms and keys (a leaf the configuration loads keys with), its decryption key and JWE decryption, the metric names and labels and the trace context, the error type, provider markers |

// The README's Rust blocks are compiled as doc tests, so the quickstart it shows builds.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// Not API: for bench/'s micro-benchmarks only, behind the `__bench` feature (off by default).
#[cfg(feature = "__bench")]
#[doc(hidden)]
#[path = "bench_support.rs"]
pub mod __bench;

// Layers, top to bottom; a module imports only from the layers below it (see
// "Architecture" above).
mod config; // configuration (floor 1, with error and provider)
pub(crate) mod encryption; // the client's decryption key, JWE decryption (floor 1)
mod error;
mod flow; // login, callback, refresh, logout
mod op; // the provider at run time: metadata, keys, calls
#[cfg(test)]
mod properties; // property tests of every parser of untrusted input
mod protocol; // ID token validation, HTTP, time, randomness
pub mod provider;
mod session; // session data, sealed cookies, where sessions live
mod signing; // algorithms and the client's signing keys (floor 1: imports nothing of the crate)
pub mod store; // the store traits, the memory and Redis stores
mod telemetry; // metric names and labels, trace context (floor 1)
mod web; // Rocket: fairing, guards, routes, request state

#[doc = include_str!("../docs/coming_from_flask_pyoidc.md")]
pub mod coming_from_flask_pyoidc {}

pub use error::{ErrorKind, OidcError};
pub use provider::Provider;
pub use web::api::{Bearer, BearerOrSession, ClientCredentials, MachineToken, NoScopes, Scopes};
pub use web::claims::Claims;
pub use web::fairing::OidcFairing;
pub use web::guard::{AccessToken, Authenticated};
pub use web::login::{Login, LoginRedirect};

/// The HTTP client crate of [`OidcFairing::with_http_client`], re-exported so that an app
/// builds its client with the same version (reqwest 0.12) without naming it in its own
/// `Cargo.toml`. It is part of this crate's public API: a reqwest release that breaks
/// compatibility comes with a new minor version of this crate (before 1.0).
pub use reqwest;

/// The OpenID Connect crate whose types [`Claims`] is made of (its `EndUserEmail`,
/// `LocalizedClaim`, `LanguageTag`, ...), re-exported so that an app names them with the same
/// version (openidconnect 4) without a line of its own in `Cargo.toml`. Part of this crate's
/// public API, like [`reqwest`].
pub use openidconnect;
pub use web::logout::Logout;
