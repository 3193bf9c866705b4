//! Key management: how the content encryption key (CEK) is recovered. RSA-OAEP decrypts it
//! (RFC 7518 §4.3); ECDH-ES agrees on a key with the sender's ephemeral key and derives it
//! with the Concat KDF (§4.6), then uses it as the CEK or unwraps the CEK with it (AES key
//! wrap, RFC 3394).

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::cipher::{self, DecryptingKey, DecryptionContext, UnboundCipherKey};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::kdf::{get_sskdf_digest_algorithm, sskdf_digest, SskdfDigestAlgorithmId};
use aws_lc_rs::key_wrap::{KeyEncryptionKey, KeyWrap, AES_128, AES_256};
use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256};
use serde_json::{Map, Value};

use super::header::{decode, Header};
use super::key::Curve;
use super::{JweError, KeyManagementAlg};

/// RSA-OAEP: decrypts the CEK. Any failure (padding, length) gives a random CEK instead of
/// an error, so that the failure shows only at the tag check, as every other tampering
/// does, and takes the same path (RFC 7516 §11.5, against padding and timing oracles).
pub(super) fn rsa_oaep(
    key: &OaepPrivateDecryptingKey,
    alg: KeyManagementAlg,
    encrypted_key: &[u8],
    cek_len: usize,
) -> Result<Vec<u8>, JweError> {
    let padding = match alg {
        KeyManagementAlg::RsaOaep256 => &OAEP_SHA256_MGF1SHA256,
        _ => &OAEP_SHA1_MGF1SHA1,
    };
    let mut random = vec![0; cek_len];
    aws_lc_rs::rand::fill(&mut random).map_err(|_| JweError::Undecryptable)?;
    let mut out = vec![0; key.min_output_size()];
    match key.decrypt(padding, encrypted_key, &mut out, None) {
        Ok(cek) if cek.len() == cek_len => Ok(cek.to_vec()),
        _ => Ok(random),
    }
}

/// ECDH-ES and ECDH-ES+A*KW: the CEK from the header's `epk`, `apu`, `apv`.
pub(super) fn ecdh_es(
    key: &PrivateKey,
    curve: Curve,
    header: &Header,
    encrypted_key: &[u8],
) -> Result<Vec<u8>, JweError> {
    let epk = header.epk.as_ref().ok_or(JweError::Malformed(
        "ECDH-ES without an ephemeral key (epk)",
    ))?;
    let z = shared_secret(key, curve, epk)?;
    match header.alg.key_wrap_len() {
        None => {
            if !encrypted_key.is_empty() {
                return Err(JweError::Malformed("ECDH-ES carries no encrypted key"));
            }
            let id = header.enc.as_str();
            concat_kdf(&z, id, &header.apu, &header.apv, header.enc.key_len())
        }
        Some(kek_len) => {
            let id = header.alg.as_str();
            let kek = concat_kdf(&z, id, &header.apu, &header.apv, kek_len)?;
            aes_unwrap(&kek, encrypted_key)
        }
    }
}

/// The ECDH shared secret Z of this client's key and the sender's ephemeral key. aws-lc
/// checks that the point is on the curve (and refuses X25519's low-order points).
pub(super) fn shared_secret(
    key: &PrivateKey,
    curve: Curve,
    epk: &Map<String, Value>,
) -> Result<Vec<u8>, JweError> {
    let member = |name: &str| epk.get(name).and_then(Value::as_str);
    let (kty, crv) = (member("kty").unwrap_or(""), member("crv").unwrap_or(""));
    if (kty, crv) != (curve.kty(), curve.name()) {
        return Err(JweError::EpkCurveMismatch {
            epk: format!("{kty} {crv}").trim().to_owned(),
            ours: curve.name(),
        });
    }
    let coordinate = |name: &str| -> Result<Vec<u8>, JweError> {
        let bytes = decode(
            member(name).ok_or(JweError::EpkInvalid)?,
            "epk is not base64url",
        )?;
        match bytes.len() == curve.coordinate_len() {
            true => Ok(bytes),
            false => Err(JweError::EpkInvalid),
        }
    };
    let point = match curve {
        Curve::X25519 => coordinate("x")?,
        Curve::P256 | Curve::P384 | Curve::P521 => {
            let mut point = vec![0x04]; // SEC1 uncompressed
            point.extend(coordinate("x")?);
            point.extend(coordinate("y")?);
            point
        }
    };
    let peer = UnparsedPublicKey::new(curve.algorithm(), point);
    agreement::agree(key, &peer, JweError::EpkInvalid, |z| Ok(z.to_vec()))
}

/// The Concat KDF of NIST SP 800-56A §5.8.1 with SHA-256, as RFC 7518 §4.6.2 fills it in:
/// OtherInfo = AlgorithmID || PartyUInfo || PartyVInfo (each length-prefixed) ||
/// SuppPubInfo (the key length in bits). It is SP 800-56C's one-step KDF, which aws-lc
/// implements.
pub(super) fn concat_kdf(
    z: &[u8],
    algorithm_id: &str,
    apu: &[u8],
    apv: &[u8],
    len: usize,
) -> Result<Vec<u8>, JweError> {
    let mut info = Vec::with_capacity(16 + algorithm_id.len() + apu.len() + apv.len());
    for field in [algorithm_id.as_bytes(), apu, apv] {
        let field_len = u32::try_from(field.len()).map_err(|_| JweError::Undecryptable)?;
        info.extend(field_len.to_be_bytes());
        info.extend(field);
    }
    let bits = u32::try_from(len * 8).map_err(|_| JweError::Undecryptable)?;
    info.extend(bits.to_be_bytes());
    let sha256 = get_sskdf_digest_algorithm(SskdfDigestAlgorithmId::Sha256)
        .ok_or(JweError::Undecryptable)?;
    let mut key = vec![0; len];
    sskdf_digest(sha256, z, &info, &mut key).map_err(|_| JweError::Undecryptable)?;
    Ok(key)
}

/// AES key unwrap (RFC 3394). aws-lc-rs wraps with AES-128 and AES-256 only; the AES-192
/// of ECDH-ES+A192KW is unwrapped here over aws-lc's AES block cipher.
pub(super) fn aes_unwrap(kek: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, JweError> {
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        return Err(JweError::Undecryptable);
    }
    let mut out = vec![0; wrapped.len() - 8];
    let cipher = match kek.len() {
        16 => &AES_128,
        32 => &AES_256,
        24 => return rfc3394_unwrap(&cipher::AES_192, kek, wrapped),
        _ => return Err(JweError::Undecryptable),
    };
    let kek = KeyEncryptionKey::new(cipher, kek).map_err(|_| JweError::Undecryptable)?;
    let len = kek
        .unwrap(wrapped, &mut out)
        .map_err(|_| JweError::Undecryptable)?
        .len();
    out.truncate(len);
    Ok(out)
}

/// RFC 3394 §2.2.2, index-based, over an AES block cipher (`wrapped` is checked to be 24
/// bytes or more, in 8-byte blocks).
pub(super) fn rfc3394_unwrap(
    aes: &'static cipher::Algorithm,
    kek: &[u8],
    wrapped: &[u8],
) -> Result<Vec<u8>, JweError> {
    const DEFAULT_IV: [u8; 8] = [0xa6; 8];
    let key = UnboundCipherKey::new(aes, kek).map_err(|_| JweError::Undecryptable)?;
    let aes = DecryptingKey::ecb(key).map_err(|_| JweError::Undecryptable)?;
    let n = wrapped.len() / 8 - 1;
    let mut a: [u8; 8] = wrapped[..8].try_into().expect("8 bytes");
    let mut r = wrapped[8..].to_vec();
    for j in (0..6u64).rev() {
        for i in (1..=n).rev() {
            let t = (n as u64) * j + i as u64;
            let mut block = [0u8; 16];
            for (b, (x, y)) in block[..8].iter_mut().zip(a.iter().zip(t.to_be_bytes())) {
                *b = x ^ y;
            }
            block[8..].copy_from_slice(&r[(i - 1) * 8..i * 8]);
            aes.decrypt(&mut block, DecryptionContext::None)
                .map_err(|_| JweError::Undecryptable)?;
            a.copy_from_slice(&block[..8]);
            r[(i - 1) * 8..i * 8].copy_from_slice(&block[8..]);
        }
    }
    verify_slices_are_equal(&a, &DEFAULT_IV).map_err(|_| JweError::Undecryptable)?;
    Ok(r)
}
