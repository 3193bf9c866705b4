//! A test PKI made with `openssl` in a fresh folder: a CA, a server certificate for
//! 127.0.0.1 and localhost (the https provider's), and client certificates for mutual TLS
//! (RFC 8705): one the CA issued (`tls_client_auth`), one self-signed
//! (`self_signed_tls_client_auth`), and one the CA issued that expired in 2020.
//!
//! `openssl` is required: a missing one fails with the install hint, never skips.

use std::path::PathBuf;
use std::process::Command;

/// The PKI's folder, removed on drop. Files: `ca.pem`/`ca.key`, `op.pem`/`op.key`,
/// `client.pem`/`client.key` (RSA 2048, `CN=rocket-fapi,O=Test,C=DE`), `self.pem`/`self.key`
/// (P-256, self-signed, `CN=rocket-fapi-self`), `expired.pem`/`expired.key`.
pub struct Pki {
    pub dir: PathBuf,
}

/// The subject of `client.pem`, as RFC 4514 writes it (`tls_client_auth_subject_dn`).
pub const CLIENT_SUBJECT: &str = "CN=rocket-fapi,O=Test,C=DE";

impl Pki {
    pub fn new() -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "rocket-oidc-pki-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki { dir };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let with_ec =
            |before: &[&'static str], after: &[&'static str]| [before, &ec[..], after].concat();
        pki.openssl(&with_ec(
            &["req", "-x509"],
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Test CA",
            ],
        ));
        // The provider's certificate.
        pki.issue(
            &ec,
            "op",
            "/CN=127.0.0.1",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        );
        // The client's, issued by the CA.
        pki.issue(
            &["-newkey", "rsa:2048", "-nodes"],
            "client",
            "/C=DE/O=Test/CN=rocket-fapi",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=clientAuth\n",
        );
        // A self-signed one.
        pki.openssl(&with_ec(
            &["req", "-x509"],
            &[
                "-keyout",
                "self.key",
                "-out",
                "self.pem",
                "-days",
                "2",
                "-subj",
                "/CN=rocket-fapi-self",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
                "-addext",
                "extendedKeyUsage=clientAuth",
            ],
        ));
        // An expired one: `openssl ca` takes explicit dates (`x509 -req` only days ahead).
        pki.openssl(&with_ec(
            &["req"],
            &[
                "-keyout",
                "expired.key",
                "-out",
                "expired.csr",
                "-subj",
                "/CN=rocket-fapi-expired",
            ],
        ));
        std::fs::write(
            pki.dir.join("ca.cnf"),
            "[ca]\ndefault_ca=t\n[t]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n\
             default_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n",
        )
        .unwrap();
        std::fs::write(pki.dir.join("index.txt"), "").unwrap();
        std::fs::write(pki.dir.join("serial"), "01\n").unwrap();
        pki.openssl(&[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-in",
            "expired.csr",
            "-out",
            "expired.pem",
            "-notext",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
        ]);
        pki
    }

    /// `name`'s certificate, signed by the CA, with a new key of `key_args`.
    fn issue(&self, key_args: &[&str], name: &str, subject: &str, extensions: &str) {
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        std::fs::write(self.dir.join(&ext), extensions).unwrap();
        let mut request = vec!["req"];
        request.extend_from_slice(key_args);
        request.extend_from_slice(&["-keyout", &key, "-out", &csr, "-subj", subject]);
        self.openssl(&request);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-sha256",
            "-extfile",
            &ext,
        ]);
    }

    fn openssl(&self, args: &[&str]) -> Vec<u8> {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("openssl is required for the TLS tests (.ci/run installs it)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap()
    }

    /// The SHA-256 thumbprint of certificate `name` (RFC 8705 `x5t#S256`), base64url.
    pub fn thumbprint(&self, name: &str) -> String {
        use base64::Engine as _;
        use sha2::Digest as _;
        let der = self.openssl(&["x509", "-in", name, "-outform", "der"]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der))
    }

    /// A reqwest client trusting the CA (a browser of the https provider), with a cookie
    /// jar and no redirects followed.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.read("ca.pem")).unwrap())
            .build()
            .unwrap()
    }
}

impl Pki {
    /// The test provider on https with `op.pem`, asking every connection for a client
    /// certificate of this CA (mutual TLS), with `clients` (`OP_CLIENTS`) and `more`.
    pub fn provider(
        &self,
        clients: &serde_json::Value,
        more: &[(&str, &str)],
    ) -> super::node_op::NodeOp {
        let clients = clients.to_string();
        let (cert, key, ca) = (
            self.path("op.pem"),
            self.path("op.key"),
            self.path("ca.pem"),
        );
        let mut env = vec![
            ("OP_TLS_CERT", cert.as_str()),
            ("OP_TLS_KEY", key.as_str()),
            ("OP_TLS_CA", ca.as_str()),
            ("OP_CLIENTS", clients.as_str()),
        ];
        env.extend_from_slice(more);
        super::node_op::NodeOp::start(&env)
    }

    /// A reqwest client trusting the CA that presents certificate `name` (`client` or
    /// `self`) on its connections.
    pub fn presenting(&self, name: &str) -> reqwest::Client {
        let mut pem = self.read(&format!("{name}.pem"));
        pem.extend_from_slice(&self.read(&format!("{name}.key")));
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&self.read("ca.pem")).unwrap())
            .identity(reqwest::Identity::from_pem(&pem).unwrap())
            .build()
            .unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
