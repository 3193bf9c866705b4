//! Provider markers: one zero-sized type per configured provider, so a route names the
//! provider it needs in its signature (`Authenticated<Google>`).
//!
//! The marker of the provider named `default` is [`Default`](struct@Default): `use
//! rocket_oidc_auth::provider::Default;` hides `std::default::Default` (the trait and its
//! derive) in that module. Where you need both, name the marker through its module, or
//! rename it:
//!
//! ```
//! use rocket_oidc_auth::{provider, Authenticated};
//!
//! #[derive(Default)] // std's derive, untouched
//! struct Settings {
//!     verbose: bool,
//! }
//!
//! #[rocket::get("/me")]
//! fn me(user: Authenticated<provider::Default>) -> String {
//!     user.subject().to_string()
//! }
//! // or: use rocket_oidc_auth::provider::Default as DefaultProvider;
//! ```

/// A marker type naming one `[oidc.providers.<NAME>]` table.
///
/// Declare markers with [`oidc_provider!`](crate::oidc_provider) rather than by hand; a
/// hand-written one looks like this:
///
/// ```
/// use rocket_oidc_auth::Provider;
///
/// /// Reads `[default.oidc.providers.corporate]`.
/// struct Corporate;
///
/// impl Provider for Corporate {
///     const NAME: &'static str = "corporate";
/// }
/// ```
pub trait Provider: Send + Sync + 'static {
    /// The provider's table name under `oidc.providers`.
    const NAME: &'static str;
}

/// Declares a provider marker in one line.
///
/// ```
/// use rocket_oidc_auth::{oidc_provider, Authenticated};
///
/// // reads [default.oidc.providers.google]
/// oidc_provider!(pub Google = "google");
///
/// #[rocket::get("/calendar")]
/// fn calendar(user: Authenticated<Google>) -> String {
///     format!("hello {}", user.subject())
/// }
/// ```
#[macro_export]
macro_rules! oidc_provider {
    ($(#[$attr:meta])* $vis:vis $marker:ident = $name:literal) => {
        $(#[$attr])*
        #[doc = concat!("Marker for the provider configured under `oidc.providers.", $name, "`.")]
        #[derive(Debug, Clone, Copy)]
        $vis struct $marker;

        impl $crate::provider::Provider for $marker {
            const NAME: &'static str = $name;
        }
    };
}

oidc_provider!(pub Default = "default");
