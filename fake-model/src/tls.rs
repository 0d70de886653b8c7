//! https for the fake: a throwaway CA made by rcgen, a server certificate it signs, and an
//! axum listener that completes the TLS handshake before handing the connection to axum.

use crate::{Shared, lock};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, server::TlsStream};

static SERIAL: AtomicU64 = AtomicU64::new(0);

/// A certificate authority that exists for one test run, and a server certificate from it.
#[derive(Clone)]
pub struct TestCa {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Arc<PrivatePkcs8KeyDer<'static>>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new CA and a server certificate for `names` (DNS names or IP addresses).
    pub fn new(names: &[&str]) -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list");
        // A name of its own: a verifier looks a certificate's issuer up by name, and two test
        // CAs with one name would make "not trusted" look like "bad signature".
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_nanos()).unwrap_or_default();
        let name = format!("todo-chatbot test CA {}-{nanos}-{serial}", std::process::id());
        ca_params.distinguished_name.push(DnType::CommonName, name);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key generation"))
            .expect("the test CA signs itself");

        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("valid names for the server certificate");
        params.distinguished_name.push(DnType::CommonName, "fake model");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("key generation");
        let server = params.signed_by(&key, &ca).expect("the test CA signs the server certificate");

        Self {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            server_chain: vec![server.der().clone(), ca.der().clone()],
            server_key: Arc::new(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }

    /// The CA certificate, PEM: what a client is given to trust (`SSL_CERT_FILE`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// Writes the CA certificate to `path`, readable by everyone (a container's non-root user
    /// reads it from a read-only mount).
    pub fn write_ca_pem(&self, path: &std::path::Path) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, &self.ca_pem)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
    }

    pub(crate) fn server_config(&self) -> Arc<ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(self.server_key.clone_key());
        // Its own provider, so the fake works whatever the test process installed as default.
        let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_single_cert(self.server_chain.clone(), key)
            .expect("the test certificate and key match");
        Arc::new(config)
    }
}

/// Accepts TCP connections and returns them once their TLS handshake has succeeded. A failed
/// handshake is recorded (a client that does not trust the CA) and the next one awaited.
pub(crate) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, config: Arc<ServerConfig>, shared: Arc<Shared>) -> Self {
        Self { tcp, acceptor: TlsAcceptor::from(config), shared }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, address)) = self.tcp.accept().await else {
                // Out of file descriptors and the like: wait instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            // Handshakes run one at a time here; the bound keeps a silent client from
            // blocking the others for long.
            match tokio::time::timeout(Duration::from_secs(5), self.acceptor.accept(stream)).await {
                Ok(Ok(tls)) => return (tls, address),
                Ok(Err(error)) => lock(&self.shared.tls_failures).push(error.to_string()),
                Err(_) => lock(&self.shared.tls_failures).push("handshake timed out".to_owned()),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
