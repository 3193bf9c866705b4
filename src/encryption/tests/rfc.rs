//! The published test vectors: RFC 7516 Appendix A.1 and A.2, RFC 7518 Appendix B and C,
//! RFC 3394 §4, RFC 7748 §6.1, RFC 7638 §3.1 (with the key of RFC 7517 Appendix A.2).

use aws_lc_rs::agreement::{PrivateKey, ECDH_P256, X25519};
use aws_lc_rs::cipher;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::key_wrap::{KeyEncryptionKey, KeyWrap};
use aws_lc_rs::rsa::{KeyPair, KeyPairComponents, PublicKeyComponents};

use super::*;

fn hex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// A PKCS#8 PEM from a private RSA JWK's members.
fn rsa_pem(jwk: &Value) -> String {
    let member = |name: &str| unb64(jwk[name].as_str().unwrap());
    let components = KeyPairComponents {
        public_key: PublicKeyComponents {
            n: member("n"),
            e: member("e"),
        },
        d: member("d"),
        p: member("p"),
        q: member("q"),
        dP: member("dp"),
        dQ: member("dq"),
        qInv: member("qi"),
    };
    let pair = KeyPair::from_components(&components).unwrap();
    pem("PRIVATE KEY", pair.as_der().unwrap().as_ref())
}

/// RFC 7516 Appendix A.1.3.
fn rfc7516_a1_key() -> Value {
    json!({
        "kty": "RSA",
        "n": "oahUIoWw0K0usKNuOR6H4wkf4oBUXHTxRvgb48E-BVvxkeDNjbC4he8rUWcJoZmds2h7M70imEVhRU5djINXtqllXI4DFqcI1DgjT9LewND8MW2Krf3Spsk_ZkoFnilakGygTwpZ3uesH-PFABNIUYpOiN15dsQRkgr0vEhxN92i2asbOenSZeyaxziK72UwxrrKoExv6kc5twXTq4h-QChLOln0_mtUZwfsRaMStPs6mS6XrgxnxbWhojf663tuEQueGC-FCMfra36C9knDFGzKsNa7LZK2djYgyD3JR_MB_4NUJW_TqOQtwHYbxevoJArm-L5StowjzGy-_bq6Gw",
        "e": "AQAB",
        "d": "kLdtIj6GbDks_ApCSTYQtelcNttlKiOyPzMrXHeI-yk1F7-kpDxY4-WY5NWV5KntaEeXS1j82E375xxhWMHXyvjYecPT9fpwR_M9gV8n9Hrh2anTpTD93Dt62ypW3yDsJzBnTnrYu1iwWRgBKrEYY46qAZIrA2xAwnm2X7uGR1hghkqDp0Vqj3kbSCz1XyfCs6_LehBwtxHIyh8Ripy40p24moOAbgxVw3rxT_vlt3UVe4WO3JkJOzlpUf-KTVI2Ptgm-dARxTEtE-id-4OJr0h-K-VFs3VSndVTIznSxfyrj8ILL6MG_Uv8YAu7VILSB3lOW085-4qE3DzgrTjgyQ",
        "p": "1r52Xk46c-LsfB5P442p7atdPUrxQSy4mti_tZI3Mgf2EuFVbUoDBvaRQ-SWxkbkmoEzL7JXroSBjSrK3YIQgYdMgyAEPTPjXv_hI2_1eTSPVZfzL0lffNn03IXqWF5MDFuoUYE0hzb2vhrlN_rKrbfDIwUbTrjjgieRbwC6Cl0",
        "q": "wLb35x7hmQWZsWJmB_vle87ihgZ19S8lBEROLIsZG4ayZVe9Hi9gDVCOBmUDdaDYVTSNx_8Fyw1YYa9XGrGnDew00J28cRUoeBB_jKI1oma0Orv1T9aXIWxKwd4gvxFImOWr3QRL9KEBRzk2RatUBnmDZJTIAfwTs0g68UZHvtc",
        "dp": "ZK-YwE7diUh0qR1tR7w8WHtolDx3MZ_OTowiFvgfeQ3SiresXjm9gZ5KLhMXvo-uz-KUJWDxS5pFQ_M0evdo1dKiRTjVw_x4NyqyXPM5nULPkcpU827rnpZzAJKpdhWAgqrXGKAECQH0Xt4taznjnd_zVpAmZZq60WPMBMfKcuE",
        "dq": "Dq0gfgJ1DdFGXiLvQEZnuKEN0UUmsJBxkjydc3j4ZYdBiMRAy86x0vHCjywcMlYYg4yoC4YZa9hNVcsjqA3FeiL19rk8g6Qn29Tt0cj8qqyFpz9vNDBUfCAiJVeESOjJDZPYHdHY8v1b-o-Z2X5tvLx-TCekf7oxyeKDUqKWjis",
        "qi": "VIMpMYbPf47dT1w_zDUXfPimsSegnMOA1zTaX7aGk_8urY6R8-ZW1FxU7AlWAyLWybqq6t16VFd7hQd0y6flUK4SlOydB61gwanOsXGOAOv82cHq0E3eL4HrtZkUuKvnPrMnsUUFlfUdybVzxyjz9JF_XyaY14ardLSjf4L_FNY"
    })
}

/// RFC 7516 Appendix A.1.7.
const RFC7516_A1_JWE: &str = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGeipsEdY3mx_etLbbWSrFr05kLzcSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDbSv04uVuxIp5Zms1gNxKKK2Da14B8S4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaVmqgfwX7XWRxv2322i-vDxRfqNzo_tETKzpVLzfiwQyeyPGLBIO56YJ7eObdv0je81860ppamavo35UgoRdbYaBcoh9QcfylQr66oc6vFWXRcZ_ZT2LawVCWTIy3brGPi6UklfCpIMfIjf7iGdXKHzg.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A.XFBoMYUZodetZdvTiFvSkQ";

/// RFC 7516 Appendix A.2.3.
fn rfc7516_a2_key() -> Value {
    json!({
        "kty": "RSA",
        "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
        "e": "AQAB",
        "d": "VFCWOqXr8nvZNyaaJLXdnNPXZKRaWCjkU5Q2egQQpTBMwhprMzWzpR8Sxq1OPThh_J6MUD8Z35wky9b8eEO0pwNS8xlh1lOFRRBoNqDIKVOku0aZb-rynq8cxjDTLZQ6Fz7jSjR1Klop-YKaUHc9GsEofQqYruPhzSA-QgajZGPbE_0ZaVDJHfyd7UUBUKunFMScbflYAAOYJqVIVwaYR5zWEEceUjNnTNo_CVSj-VvXLO5VZfCUAVLgW4dpf1SrtZjSt34YLsRarSb127reG_DUwg9Ch-KyvjT1SkHgUWRVGcyly7uvVGRSDwsXypdrNinPA4jlhoNdizK2zF2CWQ",
        "p": "9gY2w6I6S6L0juEKsbeDAwpd9WMfgqFoeA9vEyEUuk4kLwBKcoe1x4HG68ik918hdDSE9vDQSccA3xXHOAFOPJ8R9EeIAbTi1VwBYnbTp87X-xcPWlEPkrdoUKW60tgs1aNd_Nnc9LEVVPMS390zbFxt8TN_biaBgelNgbC95sM",
        "q": "uKlCKvKv_ZJMVcdIs5vVSU_6cPtYI1ljWytExV_skstvRSNi9r66jdd9-yBhVfuG4shsp2j7rGnIio901RBeHo6TPKWVVykPu1iYhQXw1jIABfw-MVsN-3bQ76WLdt2SDxsHs7q7zPyUyHXmps7ycZ5c72wGkUwNOjYelmkiNS0",
        "dp": "w0kZbV63cVRvVX6yk3C8cMxo2qCM4Y8nsq1lmMSYhG4EcL6FWbX5h9yuvngs4iLEFk6eALoUS4vIWEwcL4txw9LsWH_zKI-hwoReoP77cOdSL4AVcraHawlkpyd2TWjE5evgbhWtOxnZee3cXJBkAi64Ik6jZxbvk-RR3pEhnCs",
        "dq": "o_8V14SezckO6CNLKs_btPdFiO9_kC1DsuUTd2LAfIIVeMZ7jn1Gus_Ff7B7IVx3p5KuBGOVF8L-qifLb6nQnLysgHDh132NDioZkhH7mI7hPG-PYE_odApKdnqECHWw0J-F0JWnUd6D2B_1TvF9mXA2Qx-iGYn8OVV1Bsmp6qU",
        "qi": "eNho5yRBEBxhGBtQRww9QirZsB66TrfFReG_CcteI1aCneT0ELGhYlRlCtUkTRclIfuEPmNsNDPbLoLqqCVznFbvdB7x-Tl-m0l_eFTj2KiqwGqE9PZB9nNTwMVvH3VRRSLWACvPnSiwP8N5Usy-WRXS-V7TbpxIhvepTfE0NNo"
    })
}

/// RFC 7516 Appendix A.2.7 (RSA1_5 with A128CBC-HS256).
const RFC7516_A2_JWE: &str = "eyJhbGciOiJSU0ExXzUiLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0.UGhIOguC7IuEvf_NPVaXsGMoLOmwvc1GyqlIKOK1nN94nHPoltGRhWhw7Zx0-kFm1NJn8LE9XShH59_i8J0PH5ZZyNfGy2xGdULU7sHNF6Gp2vPLgNZ__deLKxGHZ7PcHALUzoOegEI-8E66jX2E4zyJKx-YxzZIItRzC5hlRirb6Y5Cl_p-ko3YvkkysZIFNPccxRU7qve1WYPxqbb2Yw8kZqa2rMWI5ng8OtvzlV7elprCbuPhcCdZ6XDP0_F8rkXds2vE4X-ncOIM8hAYHHi29NX0mcKiRaD0-D-ljQTP-cFPgwCp6X-nZZd9OHBv-B3oWh2TbqmScqXMR4gp_A.AxY8DCtDaGlsbGljb3RoZQ.KDlTtXchhZTGufMYmOYGS4HffxPSUrfmqCHXaI9wOGY.9hH0vgRfYgPnAHOd8stkvw";

#[test]
fn rfc7516_a1_rsa_oaep_a256gcm_decrypts_to_the_published_plaintext() {
    let key = DecryptionKey::from_pem(&rsa_pem(&rfc7516_a1_key()), None).unwrap();
    let plaintext = key.decrypt_to_string(RFC7516_A1_JWE, Some((Alg::RsaOaep, Enc::A256Gcm)));
    assert_eq!(
        plaintext.unwrap(),
        "The true sign of intelligence is not knowledge but imagination."
    );
    assert_eq!(key.published_jwk()["n"], rfc7516_a1_key()["n"]);

    let another = DecryptionKey::from_pem(&rsa_pem(&rfc7516_a2_key()), None).unwrap();
    assert_eq!(
        another.decrypt(RFC7516_A1_JWE, None),
        Err(JweError::Undecryptable),
        "a JWE for another RSA key"
    );
}

#[test]
fn rfc7516_a2_rsa1_5_is_refused_saying_why() {
    let key = DecryptionKey::from_pem(&rsa_pem(&rfc7516_a2_key()), None).unwrap();
    let err = key.decrypt(RFC7516_A2_JWE, None).unwrap_err();
    assert_eq!(err, JweError::Rsa1_5Refused);
    assert!(err.to_string().contains("padding-oracle"), "{err}");
    assert!(err.to_string().contains("RFC 7518 §4.2"), "{err}");
    assert_eq!("RSA1_5".parse::<Alg>(), Err(JweError::Rsa1_5Refused));
}

#[test]
fn rfc7638_thumbprint_is_the_default_kid() {
    // RFC 7517 Appendix A.2's RSA key; its thumbprint is RFC 7638 §3.1's.
    let jwk = json!({
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "d": "X4cTteJY_gn4FYPsXB8rdXix5vwsg1FLN5E3EaG6RJoVH-HLLKD9M7dx5oo7GURknchnrRweUkC7hT5fJLM0WbFAKNLWY2vv7B6NqXSzUvxT0_YSfqijwp3RTzlBaCxWp4doFk5N2o8Gy_nHNKroADIkJ46pRUohsXywbReAdYaMwFs9tv8d_cPVY3i07a3t8MN6TNwm0dSawm9v47UiCl3Sk5ZiG7xojPLu4sbg1U2jx4IBTNBznbJSzFHK66jT8bgkuqsk0GjskDJk19Z4qwjwbsnn4j2WBii3RL-Us2lGVkY8fkFzme1z0HbIkfz0Y6mqnOYtqc0X4jfcKoAC8Q",
        "p": "83i-7IvMGXoMXCskv73TKr8637FiO7Z27zv8oj6pbWUQyLPQBQxtPVnwD20R-60eTDmD2ujnMt5PoqMrm8RfmNhVWDtjjMmCMjOpSXicFHj7XOuVIYQyqVWlWEh6dN36GVZYk93N8Bc9vY41xy8B9RzzOGVQzXvNEvn7O0nVbfs",
        "q": "3dfOR9cuYq-0S-mkFLzgItgMEfFzB2q3hWehMuG0oCuqnb3vobLyumqjVZQO1dIrdwgTnCdpYzBcOfW5r370AFXjiWft_NGEiovonizhKpo9VVS78TzFgxkIdrecRezsZ-1kYd_s1qDbxtkDEgfAITAG9LUnADun4vIcb6yelxk",
        "dp": "G4sPXkc6Ya9y8oJW9_ILj4xuppu0lzi_H7VTkS8xj5SdX3coE0oimYwxIi2emTAue0UOa5dpgFGyBJ4c8tQ2VF402XRugKDTP8akYhFo5tAA77Qe_NmtuYZc3C3m3I24G2GvR5sSDxUyAN2zq8Lfn9EUms6rY3Ob8YeiKkTiBj0",
        "dq": "s9lAH9fggBsoFR8Oac2R_E2gw282rT2kGOAhvIllETE1efrA6huUUvMfBcMpn8lqeW6vzznYY5SSQF7pMdC_agI3nG8Ibp1BUb0JUiraRNqUfLhcQb_d9GF4Dh7e74WbRsobRonujTYN1xCaP6TO61jvWrX-L18txXw494Q_cgk",
        "qi": "GyM_p6JrXySiz1toFgKbWV-JdI3jQ4ypu9rbMWx3rQJBfmt0FoYzgUIZEVFEcOqwemRN81zoDAaa-Bk0KWNGDjJHZDdDmFhW3AN7lI-puxk_mHZGJ11rxyR8O55XLSe3SPmRfKwZI6yU24ZxvQKFYItdldUKGzO6Ia6zTKhAVRU"
    });
    let key = DecryptionKey::from_pem(&rsa_pem(&jwk), None).unwrap();
    assert_eq!(key.kid(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_eq!(key.published_jwk()["kid"], key.kid());
}

#[test]
fn rfc7518_c_ecdh_es_agreement_and_concat_kdf_give_the_published_key() {
    // Bob's static key and Alice's ephemeral key; header {"alg":"ECDH-ES","enc":"A128GCM",
    // "apu":"QWxpY2U","apv":"Qm9i"}.
    let bob_d = unb64("VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw");
    let bob = PrivateKey::from_private_key(&ECDH_P256, &bob_d).unwrap();
    let der: Pkcs8V1Der = bob.as_der().unwrap();
    let key = DecryptionKey::from_pem(&pem("PRIVATE KEY", der.as_ref()), None).unwrap();
    let jwk = key.published_jwk();
    assert_eq!(jwk["x"], "weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ");
    assert_eq!(jwk["y"], "e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck");

    let epk = json!({
        "kty": "EC",
        "crv": "P-256",
        "x": "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0",
        "y": "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"
    });
    let KeyKind::Agreement(private, curve) = &key.kind else {
        panic!("an EC key")
    };
    let z = cek::shared_secret(private, *curve, epk.as_object().unwrap()).unwrap();
    let published_z = [
        158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110,
        163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
    ];
    assert_eq!(z, published_z);
    let derived = cek::concat_kdf(&z, "A128GCM", b"Alice", b"Bob", 16).unwrap();
    assert_eq!(b64(&derived), "VqqN6vgjbSBcIijNcacQGg");
}

#[test]
fn rfc7748_x25519_agreement_gives_the_published_secret() {
    // §6.1: Bob's key is this client's, Alice's public key the sender's ephemeral one.
    let bob_private = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let raw = PrivateKey::from_private_key(&X25519, &bob_private).unwrap();
    let key = DecryptionKey {
        kind: KeyKind::Agreement(raw, Curve::X25519),
        kid: "bob".into(),
        public_jwk: Value::Null,
    };
    let alice = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    let epk = json!({"kty": "OKP", "crv": "X25519", "x": b64(&alice)});
    let KeyKind::Agreement(private, curve) = &key.kind else {
        unreachable!()
    };
    let z = cek::shared_secret(private, *curve, epk.as_object().unwrap()).unwrap();
    let expected = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_eq!(z, expected);

    // Bob's public key as RFC 8037 Appendix A.6 publishes it, through the PEM path.
    let pkcs8 = [
        &[
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22,
            0x04, 0x20,
        ][..],
        &bob_private,
    ]
    .concat();
    let key = DecryptionKey::from_pem(&pem("PRIVATE KEY", &pkcs8), None).unwrap();
    assert_eq!(
        key.published_jwk()["x"],
        "3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08"
    );
}

/// RFC 7518 Appendix B: K, P, IV and A are shared; E and T per algorithm.
const B_P: &str = "41206369706865722073797374656d206d757374206e6f7420626520726571756972656420746f206265207365637265742c20616e64206974206d7573742062652061626c6520746f2066616c6c20696e746f207468652068616e6473206f662074686520656e656d7920776974686f757420696e636f6e76656e69656e6365";
const B_IV: &str = "1af38c2dc2b96ffdd86694092341bc04";
const B_A: &str =
    "546865207365636f6e64207072696e6369706c65206f662041756775737465204b6572636b686f666673";
const B_K: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";

#[test]
fn rfc7518_b_cbc_hmac_vectors_decrypt_and_tags_match() {
    let cases = [
        (
            Enc::A128CbcHs256,
            "c80edfa32ddf39d5ef00c0b468834279a2e46a1b8049f792f76bfe54b903a9c9a94ac9b47ad2655c5f10f9aef71427e2fc6f9b3f399a221489f16362c703233609d45ac69864e3321cf82935ac4096c86e133314c54019e8ca7980dfa4b9cf1b384c486f3a54c51078158ee5d79de59fbd34d848b3d69550a67646344427ade54b8851ffb598f7f80074b9473c82e2db",
            "652c3fa36b0a7c5b3219fab3a30bc1c4",
        ),
        (
            Enc::A192CbcHs384,
            "ea65da6b59e61edb419be62d19712ae5d303eeb50052d0dfd6697f77224c8edb000d279bdc14c1072654bd30944230c657bed4ca0c9f4a8466f22b226d1746214bf8cfc2400add9f5126e479663fc90b3bed787a2f0ffcbf3904be2a641d5c2105bfe591bae23b1d7449e532eef60a9ac8bb6c6b01d35d49787bcd57ef484927f280adc91ac0c4e79c7b11efc60054e3",
            "8490ac0e58949bfe51875d733f93ac2075168039ccc733d7",
        ),
        (
            Enc::A256CbcHs512,
            "4affaaadb78c31c5da4b1b590d10ffbd3dd8d5d302423526912da037ecbcc7bd822c301dd67c373bccb584ad3e9279c2e6d12a1374b77f077553df829410446b36ebd97066296ae6427ea75c2e0846a11a09ccf5370dc80bfecbad28c73f09b3a3b75e662a2594410ae496b2e2e6609e31e6e02cc837f053d21f37ff4f51950bbe2638d09dd7a4930930806d0703b1f6",
            "4dd3b4c088a7f45c216839645b2012bf2e6269a8c56a816dbc1b267761955bc5",
        ),
    ];
    let (iv, aad) = (hex(B_IV), hex(B_A));
    for (enc, e, t) in cases {
        let k = &hex(B_K)[..enc.key_len()];
        let (e, t) = (hex(e), hex(t));
        let opened = content::decrypt(enc, k, &iv, &e, &t, &aad);
        assert_eq!(opened, Ok(hex(B_P)), "{enc}");

        let mut tampered = e.clone();
        tampered[e.len() - 1] ^= 1; // the padding block: caught by the tag, not the padding
        let refused = content::decrypt(enc, k, &iv, &tampered, &t, &aad);
        assert_eq!(refused, Err(JweError::Undecryptable), "{enc}");
        let mut truncated_tag = t.clone();
        truncated_tag.pop();
        let refused = content::decrypt(enc, k, &iv, &e, &truncated_tag, &aad);
        assert_eq!(refused, Err(JweError::Undecryptable), "{enc}");
    }
}

#[test]
fn rfc3394_key_unwrap_vectors_and_aws_lc_agree() {
    // §4.1, §4.2, §4.3: 128 bits of key data with a 128-, 192- and 256-bit KEK.
    let kek = hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    let key_data = hex("00112233445566778899AABBCCDDEEFF");
    for (kek_len, wrapped) in [
        (16, "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"),
        (24, "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"),
        (32, "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"),
    ] {
        let kek = &kek[..kek_len];
        assert_eq!(cek::aes_unwrap(kek, &hex(wrapped)), Ok(key_data.clone()));
        assert_eq!(
            rfc3394_wrap(kek, &key_data),
            hex(wrapped),
            "the test's own wrap"
        );
        let mut tampered = hex(wrapped);
        tampered[5] ^= 1;
        assert_eq!(
            cek::aes_unwrap(kek, &tampered),
            Err(JweError::Undecryptable)
        );
    }
    // The hand-written unwrap (AES-192's) against aws-lc's, on random keys of CEK sizes.
    for (cipher, wrapper, kek_len) in [
        (&cipher::AES_128, &aws_lc_rs::key_wrap::AES_128, 16),
        (&cipher::AES_256, &aws_lc_rs::key_wrap::AES_256, 32),
    ] {
        for len in [16, 24, 32, 48, 64] {
            let (kek, cek) = (random(kek_len), random(len));
            let mut out = vec![0; len + 8];
            let wrapper = KeyEncryptionKey::new(wrapper, &kek).unwrap();
            let wrapped = wrapper.wrap(&cek, &mut out).unwrap();
            assert_eq!(cek::rfc3394_unwrap(cipher, &kek, wrapped), Ok(cek));
        }
    }
}
