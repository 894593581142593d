//! The client proxy over HTTPS (8443): the internal TLS certificate as the server's, a client
//! certificate asked for but not required (Java: "wanted, not needed"); whether one is needed
//! is decided per client by its IS authentication setting.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio::net::TcpListener;

use super::IsConnection;
use crate::context::ProxyContext;
use crate::metrics::TlsSide;

/// How long an information system may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTPS client proxy's TLS: its configuration and the internal TLS certificate (DER),
/// which an information system on this host may present instead of a registered IS
/// certificate (Java's `verifyClientAuthentication` skips the check for it).
#[derive(Clone)]
pub struct InternalTls {
    /// The server configuration (client certificate wanted, not needed).
    pub config: Arc<rustls::ServerConfig>,
    /// The internal TLS certificate (DER).
    pub cert: Vec<u8>,
}

/// The TLS configuration of the HTTPS client proxy from the internal certificate chain and
/// key (PEM).
pub fn internal_tls_config(
    chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, String> {
    internal_tls(chain_pem, key_pem).map(|t| t.config)
}

/// [`internal_tls_config`] with the certificate it presents.
pub fn internal_tls(chain_pem: &[u8], key_pem: &[u8]) -> Result<InternalTls, String> {
    let chain = pem_blocks(chain_pem, "CERTIFICATE")
        .into_iter()
        .map(CertificateDer::from)
        .collect::<Vec<_>>();
    let Some(cert) = chain.first().map(|c| c.as_ref().to_vec()) else {
        return Err("the internal TLS certificate file holds no certificate".into());
    };
    let key = pem_blocks(key_pem, "PRIVATE KEY")
        .into_iter()
        .next()
        .ok_or("the internal TLS key file holds no PKCS#8 private key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(Arc::new(AnyClientCert))
        .with_single_cert(chain, PrivateKeyDer::Pkcs8(key.into()))
        .map_err(|e| format!("the internal TLS key does not fit its certificate: {e}"))?;
    Ok(InternalTls {
        config: Arc::new(config),
        cert,
    })
}

/// The base64 bodies of the PEM blocks labelled `label` (`PRIVATE KEY` for PKCS#8).
fn pem_blocks(pem: &[u8], label: &str) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(pem);
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(i) = rest.find(&begin) {
        let after = &rest[i + begin.len()..];
        let Some(j) = after.find(&end) else { break };
        let b64: String = after[..j].chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(der);
        }
        rest = &after[j + end.len()..];
    }
    out
}

/// Serves information systems over HTTPS until `shutdown` completes.
pub async fn serve_client_proxy_https(
    listener: TcpListener,
    ctx: Arc<ProxyContext>,
    tls: InternalTls,
    shutdown: impl Future<Output = ()> + Send,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config);
    let own: Arc<[u8]> = tls.cert.into();
    crate::listener::accept_loop(
        listener,
        "client proxy (HTTPS)",
        shutdown,
        move |tcp, addr, watcher| {
            let ctx = ctx.clone();
            let acceptor = acceptor.clone();
            let own = own.clone();
            async move {
                let accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
                ctx.metrics()
                    .tls_handshake(TlsSide::Is, matches!(accepted, Ok(Ok(_))));
                let tls = match accepted {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::info!("client proxy (HTTPS): TLS with {addr} failed: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::info!("client proxy (HTTPS): TLS with {addr} timed out");
                        return;
                    }
                };
                let cert = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.as_ref().to_vec());
                let conn = IsConnection {
                    plaintext: false,
                    own_cert: cert.as_deref() == Some(&*own),
                    cert,
                };
                super::serve_is_connection(ctx, conn, tls, addr, watcher).await;
            }
        },
    )
    .await;
}

/// Asks for a client certificate and takes any (the IS certificates of the client named in
/// the message decide later); the handshake signature is still checked.
#[derive(Debug)]
struct AnyClientCert;

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        crate::handshake::verify_tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        crate::handshake::verify_tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        crate::handshake::schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::pem_blocks;

    #[test]
    fn pem_blocks_are_found_by_label() {
        let pem = b"junk\n-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nAwQ=\n-----END PRIVATE KEY-----\n";
        assert_eq!(pem_blocks(pem, "CERTIFICATE"), vec![vec![0, 1, 2]]);
        assert_eq!(pem_blocks(pem, "PRIVATE KEY"), vec![vec![3, 4]]);
        assert!(pem_blocks(b"nothing", "CERTIFICATE").is_empty());
    }
}
