//! `profile`: FAPI 2.0 as one setting. `"fapi2"` (the Security Profile) and
//! `"fapi2-message-signing"` (with Message Signing) make the crate keep the client's duties
//! and refuse to launch, naming each key to change, when the configuration would break one.
//! docs/fapi.md lists every duty and where it is kept.

use super::client::{AssertionAudience, ClientAuth};
use super::error::{bail, ConfigError};
use super::provider::ProviderConfig;
use super::response::ResponseType;
use crate::signing::SigningAlg;

/// FAPI 2.0 Security Profile 5.4.1: the only JWS algorithms.
pub(crate) const FAPI_ALGS: [SigningAlg; 3] =
    [SigningAlg::Ps256, SigningAlg::Es256, SigningAlg::EdDsa];

/// FAPI 2.0 Security Profile 5.3.2.1: "clock skew ... of no more than 10 seconds" unless
/// the app sets `clock_skew` itself.
const FAPI_CLOCK_SKEW: i64 = 10;

/// A provider's FAPI 2.0 profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fapi {
    /// `"fapi2"`: the Security Profile.
    Security,
    /// `"fapi2-message-signing"`: the Security Profile with signed requests (JAR inside
    /// PAR) and signed responses (JARM).
    MessageSigning,
}

impl Fapi {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fapi::Security => "fapi2",
            Fapi::MessageSigning => "fapi2-message-signing",
        }
    }

    /// Reads `profile` at `key`.
    pub(super) fn parse(key: &str, value: Option<&str>) -> Result<Option<Fapi>, ConfigError> {
        match value {
            None => Ok(None),
            Some("fapi2") => Ok(Some(Fapi::Security)),
            Some("fapi2-message-signing") => Ok(Some(Fapi::MessageSigning)),
            Some(other) => bail!(
                format!("{key}.profile"),
                format!("= {other:?} is not a profile this crate knows"),
                "use \"fapi2\" (FAPI 2.0 Security Profile) or \"fapi2-message-signing\", or \
                 leave it out"
            ),
        }
    }

    /// Whether `alg` may sign what this profile's client receives or sends.
    pub(crate) fn allows(self, alg: SigningAlg) -> bool {
        FAPI_ALGS.contains(&alg)
    }
}

/// What the provider's configuration said itself, before defaults filled it in.
pub(super) struct Explicit {
    pub(super) use_par: Option<bool>,
    pub(super) authorization_signed_alg: bool,
    pub(super) clock_skew: bool,
}

/// Checks `provider` (the table at `key`) against its profile, and sets what the profile
/// implies: PAR on, PS256 JARM responses unless another algorithm is set, a 10 s clock
/// skew unless the app sets one.
pub(super) fn enforce(
    key: &str,
    provider: &mut ProviderConfig,
    explicit: &Explicit,
) -> Result<(), ConfigError> {
    let Some(fapi) = provider.fapi else {
        return Ok(());
    };
    let name = fapi.name();
    let issuer = provider.source.issuer();
    if !issuer.starts_with("https://") {
        bail!(
            format!("{key}.issuer"),
            format!("= {issuer:?}: profile {name:?} needs an https issuer (FAPI 2.0 5.2.2), with no development exception"),
            "use the provider's https issuer"
        );
    }
    if provider.response_type != ResponseType::Code {
        bail!(
            format!("{key}.response_type"),
            format!(
                "= {:?}: profile {name:?} allows the code flow only (FAPI 2.0 5.3.1.2)",
                provider.response_type.as_str()
            ),
            "set response_type = \"code\", or leave it out"
        );
    }
    let client = &mut provider.client;
    if explicit.use_par == Some(false) {
        bail!(
            format!("{key}.use_par"),
            format!(
                "= false: profile {name:?} pushes every authorization request (FAPI 2.0 5.3.1.2)"
            ),
            "remove it (the profile turns PAR on)"
        );
    }
    client.use_par = true;
    if !matches!(
        client.client_auth,
        ClientAuth::PrivateKeyJwt | ClientAuth::Tls | ClientAuth::SelfSignedTls
    ) {
        bail!(
            format!("{key}.token_endpoint_auth_method"),
            format!(
                "= {:?}: profile {name:?} authenticates clients by private_key_jwt or mutual TLS only (FAPI 2.0 5.3.2.1)",
                client.client_auth.name()
            ),
            "set it to \"private_key_jwt\" (with private_key), \"tls_client_auth\" or \
             \"self_signed_tls_client_auth\" (with tls_client_certificate and tls_client_key)"
        );
    }
    if client.dpop.is_none() && client.http.identity.is_none() {
        bail!(
            format!("{key}.dpop"),
            format!("is off: profile {name:?} needs sender-constrained access tokens, by DPoP or mutual TLS (FAPI 2.0 5.3.2.1)"),
            "set dpop = true, or tls_client_certificate and tls_client_key for tokens bound to \
             the certificate"
        );
    }
    if client.assertion_audience != AssertionAudience::Issuer {
        bail!(
            format!("{key}.client_assertion_audience"),
            format!("is not \"issuer\": profile {name:?} sends client assertions to the issuer (FAPI 2.0 5.3.2.1)"),
            "remove it"
        );
    }
    let not_fapi = |setting: &str, alg: SigningAlg| -> Result<(), ConfigError> {
        if fapi.allows(alg) {
            return Ok(());
        }
        bail!(
            format!("{key}.{setting}"),
            format!(
                "is {alg}: profile {name:?} allows PS256, ES256 and EdDSA only (FAPI 2.0 5.4.1)"
            ),
            "use one of them (PS256 for an RSA key)"
        )
    };
    if let (ClientAuth::PrivateKeyJwt, Some(private_key)) =
        (client.client_auth, &client.private_key)
    {
        not_fapi("token_endpoint_auth_signing_alg", private_key.alg())?;
    }
    if let Some(alg) = client.id_token_alg {
        not_fapi("id_token_signed_response_alg", alg)?;
    }
    if let Some(alg) = client.request_object_alg {
        not_fapi("request_object_signing_alg", alg)?;
    }
    if let Some(alg) = provider.protected.userinfo_signed {
        not_fapi("userinfo_signed_response_alg", alg)?;
    }
    match provider.protected.authorization_signed {
        Some(_) if !explicit.authorization_signed_alg => {
            provider.protected.authorization_signed = Some(SigningAlg::Ps256);
        }
        Some(alg) => not_fapi("authorization_signed_response_alg", alg)?,
        None => {}
    }
    // RSA keys of 2048 bits at least (5.4.1): the client's signing and decryption keys are
    // refused below that anyway; the TLS certificate's key is checked here.
    if let Some(modulus) = client
        .http
        .identity
        .as_ref()
        .and_then(|identity| identity.jwk.as_ref())
        .and_then(|jwk| jwk["n"].as_str())
    {
        if rsa_bits(modulus) < 2048 {
            bail!(
                format!("{key}.tls_client_certificate"),
                format!("has an RSA key under 2048 bits, which profile {name:?} refuses (FAPI 2.0 5.4.1)"),
                "use a certificate with an RSA key of 2048 bits or more, or an EC key"
            );
        }
    }
    if fapi == Fapi::MessageSigning {
        if client.request_object_alg.is_none() {
            bail!(
                format!("{key}.request_object_signing_alg"),
                format!("is missing: profile {name:?} signs every authorization request (FAPI 2.0 Message Signing 5.3)"),
                "set it to the private key's algorithm: \"PS256\", \"ES256\" or \"EdDSA\""
            );
        }
        if !provider.response_mode.is_jwt() {
            bail!(
                format!("{key}.response_mode"),
                format!(
                    "= {:?}: profile {name:?} takes signed authorization responses only (JARM, FAPI 2.0 Message Signing 5.4)",
                    provider.response_mode.as_str()
                ),
                "set response_mode = \"jwt\""
            );
        }
    }
    if let Some(registration) = &provider.client.registration {
        registered_within(key, fapi, &registration.metadata)?;
    }
    if !explicit.clock_skew {
        provider.clock_skew = Some(FAPI_CLOCK_SKEW);
    }
    Ok(())
}

/// A `client_registration` table may add metadata, but none that would register the
/// client outside the profile (the provider would then hold it to that).
fn registered_within(
    key: &str,
    fapi: Fapi,
    metadata: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ConfigError> {
    let name = fapi.name();
    for member in [
        "id_token_signed_response_alg",
        "token_endpoint_auth_signing_alg",
        "request_object_signing_alg",
        "userinfo_signed_response_alg",
        "authorization_signed_response_alg",
    ] {
        let Some(value) = metadata.get(member) else {
            continue;
        };
        let allowed = value
            .as_str()
            .and_then(SigningAlg::from_name)
            .is_some_and(|alg| fapi.allows(alg));
        if !allowed {
            bail!(
                format!("{key}.client_registration.{member}"),
                format!("= {value}: profile {name:?} allows PS256, ES256 and EdDSA only (FAPI 2.0 5.4.1)"),
                "use one of them, or leave it out (the crate registers what the settings imply)"
            );
        }
    }
    if let Some(types) = metadata.get("response_types") {
        if *types != serde_json::json!(["code"]) {
            bail!(
                format!("{key}.client_registration.response_types"),
                format!("= {types}: profile {name:?} registers [\"code\"] only"),
                "leave it out"
            );
        }
    }
    for member in [
        "dpop_bound_access_tokens",
        "tls_client_certificate_bound_access_tokens",
        "require_pushed_authorization_requests",
    ] {
        if metadata.get(member) == Some(&serde_json::Value::Bool(false)) {
            bail!(
                format!("{key}.client_registration.{member}"),
                format!("= false would register the client outside profile {name:?}"),
                "leave it out"
            );
        }
    }
    Ok(())
}

/// The size in bits of an RSA modulus written base64url (a JWK's `n`).
fn rsa_bits(modulus: &str) -> usize {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(modulus)
        .unwrap_or_default();
    let significant: Vec<u8> = bytes.into_iter().skip_while(|b| *b == 0).collect();
    match significant.first() {
        Some(first) => (significant.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{config, error_of, toml_with};
    use super::*;

    fn fixture(name: &str) -> String {
        format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    /// A FAPI 2.0 provider that keeps every rule: private_key_jwt with an EC key, DPoP.
    fn fapi(profile: &str, more: &str) -> String {
        toml_with(
            "",
            &format!(
                "issuer = \"https://op.example\"\nprofile = \"{profile}\"\n\
                 token_endpoint_auth_method = \"private_key_jwt\"\nprivate_key = \"{}\"\n\
                 dpop = true\n{more}",
                fixture("client_p256_sec1.pem")
            ),
        )
    }

    #[test]
    fn a_compliant_client_gets_what_the_profile_implies() {
        let read = config(&fapi("fapi2", "")).unwrap();
        let provider = &read.providers[0];
        assert_eq!(provider.fapi, Some(Fapi::Security));
        assert!(provider.client.use_par, "PAR always");
        assert_eq!(provider.clock_skew, Some(10));
        // The app's own clock_skew stands.
        let read =
            config(&fapi("fapi2", "").replace("[oidc]\n", "[oidc]\nclock_skew = 30\n")).unwrap();
        assert_eq!(read.providers[0].clock_skew, None);
        assert_eq!(read.clock_skew, 30);
        // Message signing: JAR and JARM, PS256 responses unless set.
        let read = config(&fapi(
            "fapi2-message-signing",
            "request_object_signing_alg = \"ES256\"\nresponse_mode = \"jwt\"",
        ))
        .unwrap();
        let provider = &read.providers[0];
        assert_eq!(provider.fapi, Some(Fapi::MessageSigning));
        assert_eq!(
            provider.protected.authorization_signed,
            Some(SigningAlg::Ps256)
        );
        // Without a profile nothing changes.
        let plain = config(&toml_with("", "")).unwrap();
        assert_eq!(
            (plain.providers[0].fapi, plain.providers[0].clock_skew),
            (None, None)
        );
        assert!(!plain.providers[0].client.use_par);
    }

    #[test]
    fn rsa_moduli_are_measured_in_bits() {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut n = vec![0xff; 256];
        assert_eq!(rsa_bits(&b64(&n)), 2048);
        n[0] = 0x7f;
        assert_eq!(rsa_bits(&b64(&n)), 2047);
        assert_eq!(rsa_bits(&b64(&[0, 0x80, 1])), 16);
    }

    #[test]
    fn each_violation_stops_launch_naming_its_key() {
        let key = "oidc.providers.default";
        let rsa = fixture("client_rsa_pkcs8.pem");
        let cases: Vec<(String, String)> = vec![
            (fapi("fapi3", ""), format!("{key}.profile = \"fapi3\" is not a profile")),
            (
                fapi("fapi2", "").replace("https://op.example", "http://localhost:3000"),
                format!("{key}.issuer = \"http://localhost:3000\": profile \"fapi2\" needs an https issuer"),
            ),
            (
                fapi("fapi2", "response_type = \"code id_token\""),
                format!("{key}.response_type = \"code id_token\": profile \"fapi2\" allows the code flow only"),
            ),
            (fapi("fapi2", "use_par = false"), format!("{key}.use_par = false")),
            (
                fapi("fapi2", "").replace("token_endpoint_auth_method = \"private_key_jwt\"", "token_endpoint_auth_method = \"client_secret_basic\"\njwks_path = \"/jwks\""),
                format!("{key}.token_endpoint_auth_method = \"client_secret_basic\": profile \"fapi2\" authenticates clients by private_key_jwt or mutual TLS only"),
            ),
            (
                fapi("fapi2", "").replace("dpop = true\n", ""),
                format!("{key}.dpop is off: profile \"fapi2\" needs sender-constrained access tokens"),
            ),
            (
                fapi("fapi2", "client_assertion_audience = \"endpoint\""),
                format!("{key}.client_assertion_audience is not \"issuer\""),
            ),
            (
                fapi("fapi2", "").replace(&fixture("client_p256_sec1.pem"), &rsa),
                format!("{key}.token_endpoint_auth_signing_alg is RS256: profile \"fapi2\" allows PS256, ES256 and EdDSA only"),
            ),
            (
                fapi("fapi2", "id_token_signed_response_alg = \"RS256\""),
                format!("{key}.id_token_signed_response_alg is RS256"),
            ),
            (
                fapi("fapi2", "response_mode = \"jwt\"\nauthorization_signed_response_alg = \"RS256\""),
                format!("{key}.authorization_signed_response_alg is RS256"),
            ),
            (
                fapi("fapi2-message-signing", "response_mode = \"jwt\""),
                format!("{key}.request_object_signing_alg is missing: profile \"fapi2-message-signing\" signs every authorization request"),
            ),
            (
                fapi("fapi2-message-signing", "request_object_signing_alg = \"ES256\""),
                format!("{key}.response_mode = \"query\": profile \"fapi2-message-signing\" takes signed authorization responses only"),
            ),
        ];
        let registering = |table: &str| {
            fapi("fapi2", "")
                .replace("client_id = \"app\"\nclient_secret = \"s\"\n", "")
                + &format!("registration_file = \"/tmp/x.json\"\n[oidc.providers.default.client_registration]\n{table}\n")
        };
        let mut cases = cases;
        cases.extend([
            (
                registering("id_token_signed_response_alg = \"RS256\""),
                format!("{key}.client_registration.id_token_signed_response_alg = \"RS256\": profile \"fapi2\" allows PS256, ES256 and EdDSA only"),
            ),
            (
                registering("response_types = [\"code id_token\"]"),
                format!("{key}.client_registration.response_types = [\"code id_token\"]"),
            ),
            (
                registering("dpop_bound_access_tokens = false"),
                format!("{key}.client_registration.dpop_bound_access_tokens = false would register the client outside profile \"fapi2\""),
            ),
        ]);
        assert!(
            config(&registering("client_name = \"Bank app\"")).is_ok(),
            "{}",
            error_of(&registering("client_name = \"x\""))
        );
        for (toml, expected) in cases {
            let message = error_of(&toml);
            assert!(
                message.contains(&expected),
                "expected {expected:?} in {message:?}"
            );
        }
        // PS256 with the RSA key is fine.
        let ps256 = fapi("fapi2", "token_endpoint_auth_signing_alg = \"PS256\"")
            .replace(&fixture("client_p256_sec1.pem"), &rsa);
        assert!(config(&ps256).is_ok(), "{}", error_of(&ps256));
    }
}
