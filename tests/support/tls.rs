//! Certificates made at test time (rcgen), and a protocol client over TLS.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::DEADLINE;
use super::protocol::{Lines, ProtocolClient};

/// A private certificate authority, and the PEM files of a server
/// certificate it signed for `localhost` and `127.0.0.1`.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// The CA's certificate, for `--tls-ca`.
    pub ca_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

impl TestCa {
    /// A new CA in `dir`, with a server certificate in `cert.pem` and
    /// `key.pem` (the CA's own in `<name>-ca.pem`).
    pub fn new(dir: &Path, name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("pipechat test CA {name}"),
        );
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA");
        let ca_pem = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&ca_pem, issuer.pem()).expect("write the CA");
        let ca = TestCa {
            issuer,
            ca_pem,
            cert_pem: dir.join("cert.pem"),
            key_pem: dir.join("key.pem"),
        };
        ca.issue_server_certificate();
        ca
    }

    /// Signs a new server certificate (a renewal) and writes it and its key
    /// over `cert.pem` and `key.pem`.
    pub fn issue_server_certificate(&self) {
        self.issue_server_certificate_for(&["localhost", "127.0.0.1"]);
    }

    /// Signs a new server certificate for `names` alone, as
    /// [`TestCa::issue_server_certificate`] does.
    pub fn issue_server_certificate_for(&self, names: &[&str]) {
        let names = names
            .iter()
            .map(|name| name.to_string())
            .collect::<Vec<_>>();
        let params = CertificateParams::new(names).expect("server params");
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        // Written beside and renamed, as certbot does, so that a reader
        // never sees half a file.
        let cert_tmp = self.cert_pem.with_extension("tmp");
        let key_tmp = self.key_pem.with_extension("tmp");
        std::fs::write(&cert_tmp, cert.pem()).expect("write the certificate");
        std::fs::write(&key_tmp, key.serialize_pem()).expect("write the key");
        std::fs::rename(&key_tmp, &self.key_pem).expect("rename the key");
        std::fs::rename(&cert_tmp, &self.cert_pem).expect("rename the certificate");
    }

    /// The server flags that turn TLS on with this CA's server certificate.
    pub fn server_args(&self) -> Vec<String> {
        vec![
            "--tls-cert".to_string(),
            self.cert_pem.display().to_string(),
            "--tls-key".to_string(),
            self.key_pem.display().to_string(),
        ]
    }

    /// A rustls client configuration trusting only this CA.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.issuer.der().to_vec()))
            .expect("add the CA");
        Arc::new(
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

/// A TLS stream to `addr`, verified as `localhost` with `config`; the
/// handshake is done (or has failed) when this returns.
pub fn tls_connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> std::io::Result<StreamOwned<ClientConnection, TcpStream>> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(DEADLINE))?;
    tcp.set_write_timeout(Some(DEADLINE))?;
    let name = ServerName::try_from("localhost").expect("a name");
    let conn = ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

/// One protocol client over TLS.
pub type TlsClient = ProtocolClient<Lines<StreamOwned<ClientConnection, TcpStream>>>;

impl TlsClient {
    /// Connects, completes the handshake and reads the greeting.
    pub fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> TlsClient {
        let stream = tls_connect(addr, config).expect("TLS connect");
        ProtocolClient::new(Lines::new(stream)).greeted()
    }

    /// The certificate the server presented.
    pub fn server_certificate(&self) -> Vec<u8> {
        self.transport
            .get_ref()
            .conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .expect("a server certificate")
            .to_vec()
    }
}
