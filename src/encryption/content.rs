//! Content decryption with the CEK: AES-GCM (RFC 7518 §5.3) and AES-CBC with HMAC-SHA-2
//! (§5.2), the tag checked before anything is decrypted.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{self, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

use super::{ContentEncryption, JweError};

/// Decrypts `ciphertext` with `cek`, authenticating it with `aad` (the protected header's
/// base64url, as sent) and `tag`. Every failure is [`JweError::Undecryptable`].
pub(super) fn decrypt(
    enc: ContentEncryption,
    cek: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, JweError> {
    if cek.len() != enc.key_len() || iv.len() != enc.iv_len() {
        return Err(JweError::Undecryptable);
    }
    if enc.is_gcm() {
        gcm(enc, cek, iv, ciphertext, tag, aad)
    } else {
        cbc_hmac(enc, cek, iv, ciphertext, tag, aad)
    }
}

fn gcm(
    enc: ContentEncryption,
    cek: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, JweError> {
    let algorithm = match enc {
        ContentEncryption::A128Gcm => &aead::AES_128_GCM,
        ContentEncryption::A192Gcm => &aead::AES_192_GCM,
        _ => &aead::AES_256_GCM,
    };
    let key = UnboundKey::new(algorithm, cek).map_err(|_| JweError::Undecryptable)?;
    let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| JweError::Undecryptable)?;
    let mut plaintext = ciphertext.to_vec();
    LessSafeKey::new(key)
        .open_in_place_separate_tag(nonce, Aad::from(aad), tag, &mut plaintext)
        .map_err(|_| JweError::Undecryptable)?;
    Ok(plaintext)
}

/// RFC 7518 §5.2.2.2: the CEK is MAC_KEY || ENC_KEY; the tag is the first half of
/// HMAC(MAC_KEY, AAD || IV || ciphertext || AL), AL the bit length of AAD as 64 bits.
fn cbc_hmac(
    enc: ContentEncryption,
    cek: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, JweError> {
    let (hmac_alg, aes) = match enc {
        ContentEncryption::A128CbcHs256 => (hmac::HMAC_SHA256, &cipher::AES_128),
        ContentEncryption::A192CbcHs384 => (hmac::HMAC_SHA384, &cipher::AES_192),
        _ => (hmac::HMAC_SHA512, &cipher::AES_256),
    };
    let (mac_key, enc_key) = cek.split_at(cek.len() / 2);
    let expected = cbc_hmac_tag(hmac_alg, mac_key, iv, ciphertext, aad)?;
    verify_slices_are_equal(&expected, tag).map_err(|_| JweError::Undecryptable)?;

    // Authentic from here on: padding errors cannot serve as an oracle.
    let key = UnboundCipherKey::new(aes, enc_key).map_err(|_| JweError::Undecryptable)?;
    let key = PaddedBlockDecryptingKey::cbc_pkcs7(key).map_err(|_| JweError::Undecryptable)?;
    let iv = FixedLength::try_from(iv).map_err(|_| JweError::Undecryptable)?;
    let mut plaintext = ciphertext.to_vec();
    let len = key
        .decrypt(&mut plaintext, DecryptionContext::Iv128(iv))
        .map_err(|_| JweError::Undecryptable)?
        .len();
    plaintext.truncate(len);
    Ok(plaintext)
}

/// The CBC-HS authentication tag (the first half of the HMAC).
pub(super) fn cbc_hmac_tag(
    algorithm: hmac::Algorithm,
    mac_key: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, JweError> {
    let aad_bits = u64::try_from(aad.len())
        .ok()
        .and_then(|len| len.checked_mul(8))
        .ok_or(JweError::Undecryptable)?;
    let mut mac = hmac::Context::with_key(&hmac::Key::new(algorithm, mac_key));
    mac.update(aad);
    mac.update(iv);
    mac.update(ciphertext);
    mac.update(&aad_bits.to_be_bytes());
    let full = mac.sign();
    Ok(full.as_ref()[..mac_key.len()].to_vec())
}
