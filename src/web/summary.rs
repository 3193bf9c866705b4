//! The launch summary: what each provider offers and how sessions are kept, printed once at
//! liftoff so a misconfiguration shows before the first login. Never prints secrets.

use crate::config::{ClientAuth, MetadataSource, StoreConfig, UrlPolicy, UserinfoMethod};
use crate::flow::{Oidc, ProviderState};
use crate::op::client::Resolved;
use crate::session::{Marks, SessionBackend};

/// The summary lines, one block per provider.
pub(crate) fn lines(oidc: &Oidc) -> Vec<String> {
    let config = &oidc.config;
    let store = match (&oidc.sessions, &config.store) {
        (SessionBackend::Cookie(Marks::Shared(_)), _) => {
            "sealed cookies (ended sessions marked in Redis, shared by every instance)".to_string()
        }
        (SessionBackend::Cookie(Marks::Local(_)), StoreConfig::Cookie { capacity, .. }) => {
            format!(
                "sealed cookies (ended sessions marked in this process, at most {capacity} \
                 marks, one per user)"
            )
        }
        (SessionBackend::Cookie(Marks::Local(_)), _) => {
            "sealed cookies (ended sessions marked in this process)".to_string()
        }
        (SessionBackend::Stored(_), StoreConfig::Memory(memory)) => format!(
            "this process's memory (at most {} entries, {} sessions per user), sealed, id in a \
             sealed cookie",
            memory.capacity, memory.sessions_per_subject
        ),
        (SessionBackend::Stored(_), StoreConfig::Redis(redis)) => format!(
            "Redis {} (prefix {:?}), sealed, id in a sealed cookie",
            if redis.cluster.is_empty() {
                "standalone"
            } else {
                "Cluster"
            },
            redis.key_prefix
        ),
        (SessionBackend::Stored(store), StoreConfig::Cookie { .. }) => {
            format!("{store:?}, sealed, id in a sealed cookie")
        }
    };
    let origin = &oidc.app_origin;
    let mut lines = vec![format!(
        "oidc: callback {} · logout {} · back-channel logout {origin}{} · front-channel logout \
         {origin}{} · sessions in {store} (HttpOnly, SameSite=Lax, Secure={}, {}, lifetime {} s, \
         idle timeout {} s)",
        config.redirect_uri,
        config.logout_path,
        config.backchannel_logout_path,
        config.frontchannel_logout_path,
        if config.secure_cookies {
            "yes"
        } else {
            "no (http)"
        },
        if config.session_permanent {
            "persistent"
        } else {
            "browser-session"
        },
        config.session_lifetime,
        config.session_idle_timeout,
    )];
    let limits = &config.limits;
    lines.push(format!(
        "oidc: limits: DPoP replay cache of {} proofs ({} per key); calls anonymous requests \
         cause, per provider, {}/s and {} at once for logins and as many for introspections",
        limits.dpop_replay_capacity,
        limits.dpop_proofs_per_key,
        limits.provider_calls_per_second,
        limits.provider_calls_concurrent,
    ));
    if config.url_policy == UrlPolicy::AllowHttp {
        lines.push(
            "oidc: WARNING: oidc.dangerously_allow_http is on: codes, tokens and session \
             cookies may travel in clear over plain http to non-loopback hosts; development \
             setups only"
                .into(),
        );
    }
    for client in oidc.providers() {
        let backchannel_uri = format!("{origin}{}", config.backchannel_logout_path);
        lines.extend(provider_lines(client, &backchannel_uri));
        lines.push(to_register(oidc, client));
    }
    lines
}

/// The exact URIs to register at the provider for this client: a provider refuses a
/// login whose URI it does not know (`invalid_redirect_uri`), and that refusal never
/// reaches the app, so the summary says them once.
fn to_register(oidc: &Oidc, client: &ProviderState) -> String {
    let config = &oidc.config;
    let origin = &oidc.app_origin;
    let mut uris = vec![
        format!("redirect_uri {}", config.redirect_uri),
        format!(
            "post_logout_redirect_uri {}",
            client.config.post_logout_redirect_uri
        ),
        format!(
            "backchannel_logout_uri {origin}{}",
            config.backchannel_logout_path
        ),
        format!(
            "frontchannel_logout_uri {origin}{}",
            config.frontchannel_logout_path
        ),
    ];
    if let Some(path) = &client.config.client.jwks_path {
        uris.push(format!("jwks_uri {origin}{path}"));
    }
    if let Some(path) = &config.initiate_login_path {
        uris.push(format!("initiate_login_uri {origin}{path}"));
    }
    let how = if client.config.client.registration.is_some() {
        "registered by this app (client_registration)"
    } else {
        "register at the provider"
    };
    format!(
        "oidc: provider {:?}: {how}: {}",
        client.name(),
        uris.join(" · ")
    )
}

/// How the client is known and authenticates, and whether logins push (PAR) and tokens
/// are bound (DPoP).
fn client_line(client: &ProviderState, resolved: Option<&Resolved>) -> String {
    let settings = &client.config.client;
    let mut auth = settings.client_auth.name().to_string();
    match (settings.client_auth, &settings.private_key) {
        (ClientAuth::SecretJwt(alg), _) => auth.push_str(&format!(" ({alg})")),
        (ClientAuth::PrivateKeyJwt, Some(key)) => {
            auth.push_str(&format!(" ({}, kid {:?})", key.alg(), key.kid()))
        }
        _ => {}
    }
    if let Some(path) = &settings.jwks_path {
        auth.push_str(&format!(", public keys at {path}"));
    }
    if let Some(identity) = &settings.http.identity {
        auth.push_str(&format!(
            "; mutual TLS with certificate {:?} (expires {})",
            identity.subject,
            identity.expiry()
        ));
    }
    let par = match resolved {
        Some(resolved) if client.uses_par(resolved) && !settings.use_par => {
            "on (the provider requires it)"
        }
        _ if settings.use_par => "on",
        Some(_) => "off",
        None => "off unless the provider requires it",
    };
    let dpop = match settings.dpop {
        Some(alg) => format!("on ({alg})"),
        None => "off".to_string(),
    };
    let mut responses = String::new();
    let protected = &client.config.protected;
    if client.config.response_type.as_str() != "code" {
        responses.push_str(&format!(
            "; response_type {:?} ({})",
            client.config.response_type.as_str(),
            client.config.response_mode.as_str()
        ));
    }
    if let Some(jwe) = protected.id_token {
        responses.push_str(&format!("; ID tokens encrypted ({}, {})", jwe.alg, jwe.enc));
    }
    if let Some(alg) = protected.userinfo_signed {
        responses.push_str(&format!("; UserInfo signed ({alg})"));
    }
    if let Some(jwe) = protected.userinfo_encrypted {
        responses.push_str(&format!("; UserInfo encrypted ({}, {})", jwe.alg, jwe.enc));
    }
    if let Some(key) = &protected.key {
        responses.push_str(&format!(", decryption key kid {:?}", key.kid()));
    }
    if client.config.response_mode.is_jwt() {
        if let Some(alg) = protected.authorization_signed {
            responses.push_str(&format!("; authorization responses signed (JARM, {alg})"));
        }
    }
    let profile = client.config.fapi.map_or(String::new(), |fapi| {
        format!("; profile {} (FAPI 2.0, enforced)", fapi.name())
    });
    format!(
        "oidc: provider {:?}: client: {}; authentication {auth}; PAR {par}; DPoP \
         {dpop}{responses}{profile}",
        client.name(),
        client.registration_source(),
    )
}

fn provider_lines(client: &ProviderState, backchannel_uri: &str) -> Vec<String> {
    let name = client.name();
    let provider = &client.config;
    let source = match &provider.source {
        MetadataSource::Discovery { .. } => "discovery",
        MetadataSource::Static(_) => "static metadata",
    };
    let resolved = client.cached_metadata();
    let client_id = match (&resolved, provider.client_id.as_str()) {
        (Some(resolved), _) => format!("{:?}", resolved.client_id()),
        (None, "") => "not registered yet".to_string(),
        (None, id) => format!("{id:?}"),
    };
    let mut lines = vec![format!(
        "oidc: provider {name:?}: issuer {} ({source}), client_id {client_id}, scope {:?}",
        provider.source.issuer(),
        provider.scope
    )];
    lines.push(client_line(client, resolved.as_deref()));
    let Some(resolved) = resolved else {
        lines.push(format!(
            "oidc: provider {name:?}: not reachable yet; the first login will retry discovery"
        ));
        return lines;
    };
    let metadata = &resolved.metadata;
    let has = |endpoint: Option<&str>| if endpoint.is_some() { "yes" } else { "no" };
    lines.push(format!(
        "oidc: provider {name:?}: endpoints: token yes, userinfo {}, end_session {}, revocation {}, introspection {}",
        has(metadata.userinfo_endpoint()),
        has(metadata.end_session_endpoint()),
        has(metadata.revocation_endpoint()),
        has(metadata.introspection_endpoint()),
    ));
    let pkce = if metadata.code_challenge_methods_supported().is_empty()
        || metadata
            .code_challenge_methods_supported()
            .iter()
            .any(|m| m == "S256")
    {
        "PKCE S256"
    } else {
        "PKCE S256 (not advertised by the provider!)"
    };
    let algs: Vec<&str> = resolved.allowed_algs.iter().map(|alg| alg.name()).collect();
    lines.push(format!(
        "oidc: provider {name:?}: login: code flow, {pkce}, state, nonce; ID token algs {}; \
         RFC 9207 iss {}; userinfo {}",
        algs.join(", "),
        if metadata.authorization_response_iss_parameter_supported() {
            "required"
        } else {
            "checked when sent"
        },
        match provider.userinfo {
            UserinfoMethod::Get => "GET",
            UserinfoMethod::Post => "POST",
            UserinfoMethod::None => "off",
        },
    ));
    lines.push(format!(
        "oidc: provider {name:?}: logout: {}; token revocation {}; back-channel logout \
         (register backchannel_logout_uri) {}",
        if metadata.end_session_endpoint().is_some() {
            format!(
                "RP-initiated, back to {}",
                provider.post_logout_redirect_uri
            )
        } else {
            "local only (no end_session_endpoint)".into()
        },
        if provider.revoke_tokens_on_logout && metadata.revocation_endpoint().is_some() {
            "on"
        } else {
            "off"
        },
        backchannel_uri,
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::protocol::http::HttpClient;
    use crate::session::CookieCipher;
    use rocket::figment::providers::{Format, Toml};
    use rocket::figment::Figment;

    #[test]
    fn the_summary_names_each_provider_and_never_a_secret() {
        let fixture =
            |name: &str| format!("{}/tests/fixtures/mtls/{name}", env!("CARGO_MANIFEST_DIR"));
        let bank = format!(
            "[oidc.providers.bank]\nissuer = \"https://bank.example.com\"\nclient_id = \"b\"\n\
             profile = \"fapi2\"\ntoken_endpoint_auth_method = \"self_signed_tls_client_auth\"\n\
             tls_client_certificate = \"{}\"\ntls_client_key = \"{}\"\n",
            fixture("client.pem"),
            fixture("client.key")
        );
        let figment = Figment::from(Toml::string(&format!(
            r#"
            [oidc]
            redirect_uri = "https://app.example.com/cb"
            [oidc.providers.default]
            issuer = "https://op.example.com"
            client_id = "app"
            client_secret = "very-secret-value"
            [oidc.providers.google]
            issuer = "https://accounts.example.com"
            client_id = "g"
            client_secret = "another-secret"
            token_endpoint_auth_method = "client_secret_jwt"
            use_par = true
            dpop = true
            dpop_alg = "EdDSA"
            {bank}"#,
        )));
        let config = Config::from_figment(&figment).unwrap();
        let http = HttpClient::new(std::time::Duration::from_secs(1)).unwrap();
        let marks = std::sync::Arc::new(crate::store::MemoryStore::default());
        let sessions = SessionBackend::Cookie(Marks::Local(marks.clone()));
        let oidc = Oidc::new(
            config,
            CookieCipher::for_tests(),
            &http,
            false,
            sessions,
            marks,
        )
        .unwrap();
        let text = lines(&oidc).join("\n");
        assert!(text.contains("provider \"default\""), "{text}");
        assert!(text.contains("provider \"google\""), "{text}");
        assert!(text.contains("Secure=yes"), "{text}");
        assert!(
            text.contains(
                "sealed cookies (ended sessions marked in this process, at most 100000 marks, \
                 one per user)"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "limits: DPoP replay cache of 100000 proofs (10000 per key); calls anonymous \
                 requests cause, per provider, 50/s and 32 at once"
            ),
            "{text}"
        );
        assert!(text.contains("not reachable yet"), "{text}");
        assert!(
            text.contains(
                "provider \"default\": client: configured client_id; authentication \
                 client_secret_basic; PAR off unless the provider requires it; DPoP off"
            ),
            "{text}"
        );
        assert!(
            text.contains("authentication client_secret_jwt (HS256); PAR on; DPoP on (EdDSA)"),
            "{text}"
        );
        assert!(
            text.contains(
                "provider \"default\": register at the provider: redirect_uri \
                 https://app.example.com/cb · post_logout_redirect_uri \
                 https://app.example.com/logout/callback · backchannel_logout_uri \
                 https://app.example.com/logout/backchannel · frontchannel_logout_uri \
                 https://app.example.com/logout/frontchannel"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "provider \"bank\": client: configured client_id; authentication \
                 self_signed_tls_client_auth; mutual TLS with certificate \
                 \"CN=rocket-fapi-fixture,O=Test,C=DE\" (expires 2126-11-12T"
            ),
            "{text}"
        );
        assert!(
            text.contains("PAR on; DPoP off; profile fapi2 (FAPI 2.0, enforced)"),
            "{text}"
        );
        assert!(
            !text.contains("secret-value")
                && !text.contains("another-secret")
                && !text.contains("PRIVATE KEY"),
            "{text}"
        );
    }
}
