//! The launch check every guard shares (a Rocket [`Sentinel`](rocket::Sentinel)): a route
//! whose guard cannot work (no fairing, no such provider) stops launch with one line
//! naming the fix, instead of answering 500 on every request.

use std::sync::Arc;

use rocket::{Ignite, Rocket};

use crate::flow::Oidc;
use crate::provider::Provider;

/// Whether `guard` (its name as a route writes it, e.g. `"Bearer"`) of provider `P` must
/// stop launch; the reason is logged.
pub(crate) fn aborts<P: Provider>(rocket: &Rocket<Ignite>, guard: &str) -> bool {
    let Some(oidc) = fairing(rocket, &format!("{guard}<{}>", marker::<P>())) else {
        return true;
    };
    if oidc.provider(P::NAME).is_none() {
        log::error!(
            "oidc: a route uses {guard}<{}> but oidc.providers.{} is not configured: add a \
             [default.oidc.providers.{}] table to Rocket.toml (configured: {})",
            marker::<P>(),
            P::NAME,
            P::NAME,
            oidc.providers()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return true;
    }
    false
}

/// Whether `guard`, which needs the fairing but no provider, must stop launch.
pub(crate) fn aborts_without_fairing(rocket: &Rocket<Ignite>, guard: &str) -> bool {
    fairing(rocket, guard).is_none()
}

fn fairing<'r>(rocket: &'r Rocket<Ignite>, guard: &str) -> Option<&'r Arc<Oidc>> {
    let oidc = rocket.state::<Arc<Oidc>>();
    if oidc.is_none() {
        log::error!(
            "oidc: a route uses {guard} but OidcFairing is not attached: add \
             .attach(rocket_oidc_auth::OidcFairing::from_config())"
        );
    }
    oidc
}

/// The marker's name as the app wrote it (`Default`, not `rocket_oidc_auth::provider::Default`).
fn marker<P: Provider>() -> &'static str {
    let name = std::any::type_name::<P>();
    name.rsplit("::").next().unwrap_or(name)
}
