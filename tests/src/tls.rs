//! Test certificate authorities: a CA of our own and the server certificates it signs, so a
//! client can be told to verify a server (`verify-full`) or shown a CA that did not sign it.

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::path::{Path, PathBuf};

/// A self-signed CA that lives as long as one test.
#[derive(Debug)]
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct ServerCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new(common_name: &str) -> anyhow::Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?).context("self-signing the test CA")?;
        Ok(Self { issuer })
    }

    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `dns_names` (its subject alternative names), signed by this CA.
    pub fn issue(&self, dns_names: &[&str]) -> anyhow::Result<ServerCert> {
        let names: Vec<String> = dns_names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names)?;
        params.distinguished_name.push(DnType::CommonName, dns_names.first().copied().unwrap_or("server"));
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &*self.issuer).context("signing the server certificate")?;
        Ok(ServerCert { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

/// A host directory to bind-mount read-only into containers, removed when dropped. Files are
/// written world-readable, as a Kubernetes Secret volume presents them by default, so a
/// container user other than the host's can read them.
#[derive(Debug)]
pub struct MountDir {
    path: PathBuf,
}

impl MountDir {
    pub fn new(prefix: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(crate::unique(prefix));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        set_mode(&path, 0o755)?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&self, name: &str, contents: &str) -> anyhow::Result<PathBuf> {
        let file = self.path.join(name);
        std::fs::write(&file, contents).with_context(|| format!("writing {}", file.display()))?;
        set_mode(&file, 0o644)?;
        Ok(file)
    }
}

impl Drop for MountDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}
