//! HTTPS for the API and the page, when `[web] tls_cert_file` and
//! `tls_key_file` are set (docs/security.md, "TLS on the HTTP API").
//!
//! Handshakes run in tasks of their own, each with a timeout, so a client
//! that opens a connection and says nothing delays no one else's. Every
//! handshake holds a connection slot ([`LimitedListener`]), which bounds
//! how many run at once.

use super::limits::{LimitedListener, LimitedStream};
use axum::serve::Listener;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A client must finish its TLS handshake within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {key} {}: {source}", path.display())]
    Read {
        key: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{key} {}: {message}", path.display())]
    Bad {
        key: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("web.tls_cert_file and web.tls_key_file do not make a TLS server: {0}")]
    Config(#[from] rustls::Error),
}

/// The acceptor for a PEM certificate chain and its private key.
pub fn acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, TlsError> {
    let read = |key, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            key,
            path: path.to_path_buf(),
            source,
        })
    };
    let bad = |key, path: &Path, message: String| TlsError::Bad {
        key,
        path: path.to_path_buf(),
        message,
    };
    let pem = read("web.tls_cert_file", cert_file)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("web.tls_cert_file", cert_file, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(
            "web.tls_cert_file",
            cert_file,
            "holds no PEM certificate".into(),
        ));
    }
    let pem = read("web.tls_key_file", key_file)?;
    let key = rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| bad("web.tls_key_file", key_file, e.to_string()))?
        .ok_or_else(|| {
            bad(
                "web.tls_key_file",
                key_file,
                "holds no PEM private key".into(),
            )
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    // The server speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

type Handshake = Option<(TlsStream<LimitedStream>, SocketAddr)>;

/// [`LimitedListener`]'s connections, returned once their handshake is done.
pub struct TlsListener {
    inner: LimitedListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Handshake>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("inner", &self.inner)
            .field("handshakes", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    pub fn new(inner: LimitedListener, acceptor: TlsAcceptor) -> TlsListener {
        TlsListener {
            inner,
            acceptor,
            handshakes: JoinSet::new(),
        }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<LimitedStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, SocketAddr) {
        loop {
            // Both branches are cancel safe: a TCP accept, and a join.
            tokio::select! {
                (io, addr) = self.inner.accept() => {
                    let acceptor = self.acceptor.clone();
                    self.handshakes.spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                            Ok(Ok(tls)) => Some((tls, addr)),
                            // Plain HTTP on the HTTPS port, a scanner, a
                            // client that distrusts our certificate: debug
                            // only, or a flood would flood the journal.
                            Ok(Err(e)) => {
                                tracing::debug!(client = %addr, error = %e, "TLS handshake failed");
                                None
                            }
                            Err(_) => {
                                tracing::debug!(client = %addr, "TLS handshake timed out");
                                None
                            }
                        }
                    });
                }
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(ready)) = done {
                        return ready;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn missing_or_empty_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let e = acceptor(&cert, &key).err().unwrap().to_string();
        assert!(
            e.contains("web.tls_cert_file") && e.contains("cert.pem"),
            "{e}"
        );
        std::fs::write(&cert, "not a certificate\n").unwrap();
        let e = acceptor(&cert, &key).err().unwrap().to_string();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        // A certificate-shaped block whose body is not DER: rustls refuses
        // it when it builds the server, or the key is missing first.
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = acceptor(&cert, &key).err().unwrap().to_string();
        assert!(
            e.contains("web.tls_key_file") && e.contains("key.pem"),
            "{e}"
        );
        std::fs::write(
            &key,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = acceptor(&cert, &key).err().unwrap().to_string();
        assert!(e.contains("holds no PEM private key"), "{e}");
    }
}
