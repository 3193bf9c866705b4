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
//!    fn oidc_error(status: Status, req: &Request) -> Json<Value> {
//!        let (error, message) = match OidcError::of(req) {
//!            Some(err) => (err.error().to_string(), err.description().to_string()),
//!            None => (status.reason_lossy().to_string(), String::new()),
//!        };
//!        Json(json!({ "error": error, "message": message }))
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
//! | `session_lifetime` | seconds | `604800` (7 days) | after this long a session counts as logged out |
//! | `session_permanent` | bool | `true` | session cookie with `Max-Age` (survives a browser restart) |
//! | `login_timeout` | seconds | `600` | how long a started login may take |
//! | `http_timeout` | seconds | `10` | timeout of every request to a provider |
//! | `logout_path` | path | `/logout` | where the logout route is mounted |
//! | `providers.<name>.issuer` | URL | — | discovery; or a `provider_metadata` table |
//! | `providers.<name>.provider_metadata` | table | — | static metadata (`issuer`, `authorization_endpoint`, `token_endpoint`, `jwks_uri`, ...) |
//! | `providers.<name>.client_id` | string | required | |
//! | `providers.<name>.client_secret` | string | — | required unless `token_endpoint_auth_method = "none"` |
//! | `providers.<name>.token_endpoint_auth_method` | string | `client_secret_basic` | or `client_secret_post`, `none` |
//! | `providers.<name>.scope` | list or string | `["openid"]` | must contain `openid` |
//! | `providers.<name>.auth_request_params` | table | `{}` | extra authorization parameters (`prompt`, `max_age`, `acr_values`, ...) |
//! | `providers.<name>.userinfo_http_method` | string | `GET` | `POST`, or `none` to skip UserInfo |
//! | `providers.<name>.trusted_audiences` | list | `[]` | audiences besides `client_id` allowed in `aud` |
//!
//! `http://` URLs are accepted only for loopback hosts (`127.0.0.0/8`, `::1`, `localhost`).
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
//! # Security
//!
//! Every login uses PKCE S256, `state` and `nonce`, kept in a per-login transaction cookie
//! (two tabs can log in at once); the callback checks RFC 9207 `iss`, and the ID token is
//! validated as OpenID Connect Core 3.1.3.7 says (signature with an allow-list of
//! algorithms, `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`, `auth_time`, `at_hash`). Return
//! targets are paths of this app only. Sessions live in cookies sealed with AES-256-GCM.
//! Tokens and secrets never appear in logs or `Debug` output.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod client;
mod config;
mod discovery;
mod error;
mod fairing;
mod flow;
mod guard;
mod http;
pub mod provider;
mod request_state;
mod routes;
mod session;
mod validation;

pub use error::{ErrorKind, OidcError};
pub use fairing::OidcFairing;
pub use guard::Authenticated;
pub use provider::Provider;
