//! TLS, and the only module that touches rustls: certificates from PEM files,
//! ALPN (h2, http/1.1) for clients, and the connector to TLS upstreams. The
//! cryptography is rustls' ring provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// Why TLS could not be set up; names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{}: {message}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The system's root certificates could not be loaded.
    #[error("cannot load the system's root certificates ({0}); give the upstream a `ca` file")]
    NativeRoots(std::io::Error),
    /// rustls refused the certificate and key together.
    #[error("the certificate {} and key {} do not make a TLS identity: {source}", cert.display(), key.display())]
    Identity {
        /// The certificate chain file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates in a PEM file (a chain, or CA certificates).
pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |message: String| TlsError::Pem {
        path: path.to_owned(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| pem(err.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| pem(err.to_string()))?;
    if certs.is_empty() {
        return Err(pem("holds no `BEGIN CERTIFICATE` block".into()));
    }
    Ok(certs)
}

/// Terminates client TLS with this certificate chain and key, offering h2 and http/1.1.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = certificates(cert)?;
    let private = PrivateKeyDer::from_pem_file(key).map_err(|err| TlsError::Pem {
        path: key.to_owned(),
        message: format!("no private key ({err})"),
    })?;
    let identity = |source| TlsError::Identity {
        cert: cert.to_owned(),
        key: key.to_owned(),
        source,
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(identity)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(identity)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// How the proxy verifies TLS upstreams: only `ca` when given, else the system's roots.
pub(crate) fn client_config(ca: Option<&Path>) -> Result<ClientConfig, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let builder = match ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca)? {
                roots.add(cert).map_err(|err| TlsError::Pem {
                    path: ca.to_owned(),
                    message: err.to_string(),
                })?;
            }
            builder.with_root_certificates(roots)
        }
        None => hyper_rustls::ConfigBuilderExt::with_native_roots(builder)
            .map_err(TlsError::NativeRoots)?,
    };
    Ok(builder.with_no_client_auth())
}

/// A client configuration that trusts nothing: every TLS upstream fails
/// verification (with a message that says so) rather than being trusted blindly.
pub(crate) fn client_config_without_roots() -> ClientConfig {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth()
}
