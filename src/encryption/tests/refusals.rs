//! Every refusal of `decrypt`, each with its specific error.

use aws_lc_rs::agreement::PrivateKey;
use serde_json::Map;

use super::*;

/// One JWE of each key management family, to tamper with.
fn samples() -> Vec<(DecryptionKey, String)> {
    let mut samples = Vec::new();
    for (key, alg, enc) in [
        (rsa_key(), Alg::RsaOaep256, Enc::A256Gcm),
        (rsa_key(), Alg::RsaOaep, Enc::A128CbcHs256),
        (p256_key(), Alg::EcdhEs, Enc::A128Gcm),
        (p256_key(), Alg::EcdhEsA192Kw, Enc::A256CbcHs512),
        (generated(Curve::P521), Alg::EcdhEsA256Kw, Enc::A192Gcm),
    ] {
        let jwe = encrypt(&key, alg, enc, b"{\"sub\":\"alice\"}");
        assert!(key.decrypt(&jwe, None).is_ok());
        samples.push((key, jwe));
    }
    samples
}

#[test]
fn a_changed_ciphertext_tag_iv_or_encrypted_key_is_undecryptable() {
    for (key, jwe) in samples() {
        let has_encrypted_key = !jwe.split('.').nth(1).unwrap().is_empty();
        for part in [1, 2, 3, 4]
            .into_iter()
            .filter(|p| *p != 1 || has_encrypted_key)
        {
            let tampered = flip(&jwe, part);
            let err = key.decrypt(&tampered, None).unwrap_err();
            assert_eq!(err, JweError::Undecryptable, "{key:?}, part {part}");
            assert_eq!(
                err.to_string(),
                "the JWE could not be decrypted: tampered, or encrypted for another key"
            );
        }
        let mut parts: Vec<&str> = jwe.split('.').collect();
        let tag = unb64(parts[4]);
        let shorter = b64(&tag[..tag.len() - 1]);
        parts[4] = &shorter;
        assert_eq!(
            key.decrypt(&parts.join("."), None),
            Err(JweError::Undecryptable)
        );
    }
}

#[test]
fn a_changed_protected_header_is_undecryptable() {
    for (key, jwe) in samples() {
        let (protected, rest) = jwe.split_once('.').unwrap();
        let mut header: Map<String, Value> = serde_json::from_slice(&unb64(protected)).unwrap();
        header.insert("typ".into(), "JWT".into());
        let forged = format!(
            "{}.{rest}",
            b64(Value::Object(header).to_string().as_bytes())
        );
        assert_eq!(
            key.decrypt(&forged, None),
            Err(JweError::Undecryptable),
            "{key:?}"
        );
    }
}

#[test]
fn a_jwe_for_another_key_of_the_same_type_is_undecryptable() {
    let no_kid = |header: &mut Map<String, Value>| {
        header.remove("kid");
    };
    let rsa = rsa_key();
    let other_rsa = DecryptionKey::from_pem(&fixture("op_key_2.pem"), None).unwrap();
    let jwe = encrypt_with(
        &rsa.published_jwk(),
        Alg::RsaOaep256,
        Enc::A128Gcm,
        b"x",
        no_kid,
    );
    assert_eq!(other_rsa.decrypt(&jwe, None), Err(JweError::Undecryptable));

    let p256 = p256_key();
    let other_p256 = generated(Curve::P256);
    for alg in [Alg::EcdhEs, Alg::EcdhEsA128Kw] {
        let jwe = encrypt_with(&p256.published_jwk(), alg, Enc::A128Gcm, b"x", no_kid);
        assert_eq!(other_p256.decrypt(&jwe, None), Err(JweError::Undecryptable));
    }
}

#[test]
fn a_kid_other_than_ours_is_refused_naming_both() {
    let key = rsa_key();
    let jwe = encrypt_with(
        &key.published_jwk(),
        Alg::RsaOaep,
        Enc::A128Gcm,
        b"x",
        |h| {
            h.insert("kid".into(), "old-key".into());
        },
    );
    let err = key.decrypt(&jwe, None).unwrap_err();
    let ours = key.kid().to_owned();
    assert_eq!(
        err,
        JweError::KidMismatch {
            jwe: "old-key".into(),
            ours: ours.clone()
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("\"old-key\"") && message.contains(&ours),
        "{message}"
    );
}

#[test]
fn an_alg_or_enc_other_than_the_registered_is_refused_naming_both() {
    let key = rsa_key();
    let jwe = encrypt(&key, Alg::RsaOaep, Enc::A128CbcHs256, b"x");
    for expected in [
        (Alg::RsaOaep256, Enc::A128CbcHs256),
        (Alg::RsaOaep, Enc::A256Gcm),
    ] {
        let err = key.decrypt(&jwe, Some(expected)).unwrap_err();
        let found = ("RSA-OAEP", "A128CBC-HS256");
        let registered = (expected.0.as_str(), expected.1.as_str());
        assert_eq!(
            err,
            JweError::UnexpectedAlgorithms {
                expected: registered,
                found
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "the JWE is encrypted with RSA-OAEP / A128CBC-HS256, not with the registered {} / {}",
                registered.0, registered.1
            )
        );
    }
}

#[test]
fn an_algorithm_for_another_key_type_is_refused() {
    let (rsa, p256) = (rsa_key(), p256_key());
    let jwe = encrypt(&rsa, Alg::RsaOaep, Enc::A128Gcm, b"x");
    let jwe = jwe.replacen(
        &b64(&unb64(jwe.split('.').next().unwrap())),
        &b64(json!({"alg": "RSA-OAEP", "enc": "A128GCM"})
            .to_string()
            .as_bytes()),
        1,
    );
    assert_eq!(
        p256.decrypt(&jwe, None),
        Err(JweError::WrongKeyType {
            alg: "RSA-OAEP",
            key: "P-256"
        })
    );
    assert!(rsa.can_decrypt(Alg::RsaOaep256) && !rsa.can_decrypt(Alg::EcdhEs));
    assert!(p256.can_decrypt(Alg::EcdhEsA256Kw) && !p256.can_decrypt(Alg::RsaOaep));
}

#[test]
fn compressed_content_and_critical_extensions_are_refused() {
    let key = p256_key();
    let jwk = key.published_jwk();
    let zipped = encrypt_with(&jwk, Alg::EcdhEs, Enc::A128Gcm, b"x", |h| {
        h.insert("zip".into(), "DEF".into());
    });
    let err = key.decrypt(&zipped, None).unwrap_err();
    assert_eq!(err, JweError::ZipRefused("DEF".into()));
    assert!(err.to_string().contains("compressed"), "{err}");

    let critical = encrypt_with(&jwk, Alg::EcdhEs, Enc::A128Gcm, b"x", |h| {
        h.insert("crit".into(), json!(["exp"]));
        h.insert("exp".into(), json!(1));
    });
    assert_eq!(
        key.decrypt(&critical, None),
        Err(JweError::CritRefused(vec!["exp".into()]))
    );
    let empty_crit = encrypt_with(&jwk, Alg::EcdhEs, Enc::A128Gcm, b"x", |h| {
        h.insert("crit".into(), json!([]));
    });
    assert_eq!(key.decrypt(&empty_crit, None).as_deref(), Ok(&b"x"[..]));
}

#[test]
fn an_ephemeral_key_on_another_curve_or_off_the_curve_is_refused() {
    let key = p256_key();
    let jwk = key.published_jwk();
    let p384 = PrivateKey::generate(Curve::P384.algorithm()).unwrap();
    let p384 = agreement_jwk(Curve::P384, p384.compute_public_key().unwrap().as_ref());
    let jwe = encrypt_with(&jwk, Alg::EcdhEs, Enc::A128Gcm, b"x", |h| {
        h.insert("epk".into(), p384);
    });
    let err = key.decrypt(&jwe, None).unwrap_err();
    assert_eq!(
        err,
        JweError::EpkCurveMismatch {
            epk: "EC P-384".into(),
            ours: "P-256"
        }
    );

    let off_curve = encrypt_with(&jwk, Alg::EcdhEsA128Kw, Enc::A128Gcm, b"x", |h| {
        let y = unb64(h["epk"]["y"].as_str().unwrap());
        let mut y = y.clone();
        y[31] ^= 1;
        h["epk"]["y"] = b64(&y).into();
    });
    assert_eq!(key.decrypt(&off_curve, None), Err(JweError::EpkInvalid));

    let x25519 = DecryptionKey::from_pem(X25519_PEM, None).unwrap();
    let low_order = encrypt_with(
        &x25519.published_jwk(),
        Alg::EcdhEs,
        Enc::A128Gcm,
        b"x",
        |h| {
            h["epk"]["x"] = b64(&[0; 32]).into();
        },
    );
    assert_eq!(x25519.decrypt(&low_order, None), Err(JweError::EpkInvalid));

    let no_epk = encrypt_with(&jwk, Alg::EcdhEs, Enc::A128Gcm, b"x", |h| {
        h.remove("epk");
    });
    assert!(matches!(
        key.decrypt(&no_epk, None),
        Err(JweError::Malformed(_))
    ));
}

#[test]
fn symmetric_unknown_and_refused_algorithms_are_named() {
    for alg in Alg::ALL {
        assert_eq!(alg.as_str().parse(), Ok(alg));
        assert_eq!(alg.to_string(), alg.as_str());
    }
    for enc in Enc::ALL {
        assert_eq!(enc.as_str().parse(), Ok(enc));
    }
    for symmetric in ["dir", "A128KW", "A256GCMKW", "PBES2-HS256+A128KW"] {
        let err = symmetric.parse::<Alg>().unwrap_err();
        assert_eq!(err, JweError::SymmetricAlg(symmetric.into()));
        assert!(err.to_string().contains("client secret"), "{err}");
    }
    assert_eq!(
        "RSA-OAEP-384".parse::<Alg>(),
        Err(JweError::UnsupportedAlg("RSA-OAEP-384".into()))
    );
    assert_eq!(
        "A128CBC".parse::<Enc>(),
        Err(JweError::UnsupportedEnc("A128CBC".into()))
    );

    let key = rsa_key();
    let dir = encrypt_with(
        &key.published_jwk(),
        Alg::RsaOaep,
        Enc::A128Gcm,
        b"x",
        |h| {
            h.insert("alg".into(), "dir".into());
        },
    );
    assert_eq!(
        key.decrypt(&dir, None),
        Err(JweError::SymmetricAlg("dir".into()))
    );
}

#[test]
fn what_is_not_a_compact_jwe_is_refused() {
    let key = rsa_key();
    let jwe = encrypt(&key, Alg::RsaOaep, Enc::A128Gcm, b"x");
    let err = key
        .decrypt("eyJhbGciOiJSUzI1NiJ9.e30.c2ln", None)
        .unwrap_err();
    assert_eq!(err, JweError::NotCompact { parts: 3 });
    assert!(err.to_string().contains("signed JWT"), "{err}");
    assert_eq!(
        key.decrypt(&format!("{jwe}.x"), None),
        Err(JweError::NotCompact { parts: 6 })
    );
    assert_eq!(
        key.decrypt("", None),
        Err(JweError::NotCompact { parts: 1 })
    );

    let too_large = "a".repeat(MAX_JWE_LEN + 1);
    let err = key.decrypt(&too_large, None).unwrap_err();
    assert_eq!(
        err,
        JweError::TooLarge {
            len: MAX_JWE_LEN + 1,
            max: MAX_JWE_LEN
        }
    );

    let (_, rest) = jwe.split_once('.').unwrap();
    for header in [
        "!!",
        &b64(b"[1]"),
        &b64(b"{\"enc\":\"A128GCM\"}"),
        &b64(b"{\"alg\":1}"),
    ] {
        let err = key.decrypt(&format!("{header}.{rest}"), None).unwrap_err();
        assert!(matches!(err, JweError::Malformed(_)), "{header}: {err:?}");
    }
    let padded = jwe.replacen('.', "=.", 1);
    assert!(matches!(
        key.decrypt(&padded, None),
        Err(JweError::Malformed(_))
    ));
}

#[test]
fn direct_ecdh_es_with_an_encrypted_key_is_refused() {
    let key = p256_key();
    let jwe = encrypt(&key, Alg::EcdhEs, Enc::A128Gcm, b"x");
    let with_key = jwe.replacen("..", &format!(".{}.", b64(&[1; 24])), 1);
    assert!(matches!(
        key.decrypt(&with_key, None),
        Err(JweError::Malformed(_))
    ));
}

#[test]
fn content_that_is_not_utf8_is_refused_as_a_string() {
    let key = p256_key();
    let jwe = encrypt(&key, Alg::EcdhEs, Enc::A128Gcm, &[0xff, 0xfe]);
    assert_eq!(key.decrypt(&jwe, None), Ok(vec![0xff, 0xfe]));
    assert_eq!(key.decrypt_to_string(&jwe, None), Err(JweError::NotUtf8));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Whatever arrives, decryption answers with an error, never a panic.
    #[test]
    fn arbitrary_input_is_refused_without_panicking(
        parts in proptest::collection::vec("[A-Za-z0-9_-]{0,40}", 0..7),
        header in "[ -~]{0,60}",
    ) {
        let key = p256_key();
        let mut parts = parts;
        parts.insert(0, b64(header.as_bytes()));
        proptest::prop_assert!(key.decrypt(&parts.join("."), None).is_err());
    }
}
