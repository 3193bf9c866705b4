//! Unguessable values: `state`, `nonce`, PKCE verifiers, session ids.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

/// Length of a [`random_token`]: 32 random bytes in base64url.
pub(crate) const RANDOM_LEN: usize = 43;

/// 32 bytes from the operating system's CSPRNG, base64url without padding.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_are_43_base64url_characters_and_differ() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), RANDOM_LEN);
        assert_ne!(a, b);
    }
}
