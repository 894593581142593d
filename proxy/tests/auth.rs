//! Both ends ours; peers identified through the shared parameters; refusals.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use xroad_fault::{Spelling, XRoadError};
use xroad_globalconf::{SecurityServer, SharedParameters};
use xroad_identifiers::ClientId;
use xroad_proxy::{
    AuthCredentials, AuthVerifier, SharedParamsVerifier, TlsAcceptor, TlsConnector, TlsError,
};

fn owner() -> ClientId {
    ClientId::member("EE", "GOV", "1234").unwrap()
}

/// Shared parameters (version 3: SHA-256 hashes) registering `certs` as the auth
/// certificates of security server `code`, which also hosts `hosted`.
fn params(version: u32, servers: &[(&str, &[u8])], hosted: &[ClientId]) -> SharedParameters {
    let hash = |der: &[u8]| {
        if version <= 2 {
            openssl::sha::sha1(der).to_vec()
        } else {
            openssl::sha::sha256(der).to_vec()
        }
    };
    SharedParameters {
        instance: "EE".into(),
        version,
        security_servers: servers
            .iter()
            .map(|(code, der)| SecurityServer {
                owner: owner(),
                server_code: (*code).to_owned(),
                address: Some("127.0.0.1".into()),
                auth_cert_hashes: vec![hash(der)],
                clients: hosted.to_vec(),
                in_maintenance: None,
            })
            .collect(),
        ..Default::default()
    }
}

fn verifier(p: SharedParameters) -> Arc<SharedParamsVerifier> {
    Arc::new(SharedParamsVerifier::new(vec![Arc::new(p)]))
}

struct Pair {
    _dir: tempfile::TempDir,
    server: TestCert,
    client: TestCert,
}

fn pair() -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let server = TestCert::new(dir.path(), "ss1", KeyKind::Rsa);
    let client = TestCert::new(dir.path(), "ss2", KeyKind::Rsa);
    Pair {
        _dir: dir,
        server,
        client,
    }
}

async fn listen() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

/// Both ends ours, each identifying the other through the shared parameters; bytes each way.
#[tokio::test]
async fn registered_peers_identify_each_other_and_talk() {
    let p = pair();
    let sub = ClientId::subsystem("EE", "GOV", "1234", "provider").unwrap();
    let gc = params(
        3,
        &[("ss1", &p.server.der), ("ss2", &p.client.der)],
        std::slice::from_ref(&sub),
    );
    let verify = verifier(gc);
    let acceptor =
        TlsAcceptor::new(&settings(None), &p.server.credentials(), verify.clone()).unwrap();
    let connector =
        TlsConnector::new(&settings(None), &p.client.credentials(), verify.clone()).unwrap();
    let (listener, addr) = listen().await;

    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut conn = acceptor.accept(tcp).await.unwrap();
        assert_eq!(conn.identity().server, server_id("ss2"));
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        conn.write_all(b"pong").await.unwrap();
        conn.shutdown().await.unwrap();
        conn.cipher()
    });
    let mut conn = bounded("connect", connector.connect(&addr)).await.unwrap();
    assert_eq!(conn.identity().server, server_id("ss1"));
    // The client proxy's check that it reached a server of the provider.
    verify.check_hosts(conn.identity(), &sub).unwrap();
    let other = ClientId::subsystem("EE", "GOV", "9999", "x").unwrap();
    let err = verify.check_hosts(conn.identity(), &other).unwrap_err();
    assert_eq!(
        err.fault_code(Spelling::Current),
        "ssl_authentication_failed"
    );
    assert!(err
        .message()
        .contains("is not registered at security server"));

    conn.write_all(b"ping").await.unwrap();
    let mut got = Vec::new();
    bounded("read", conn.read_to_end(&mut got)).await.unwrap();
    assert_eq!(got, b"pong");
    let server_cipher = bounded("server", server).await.unwrap();
    // Two default configurations agree on GCM (with Java peers it is CBC: see the interop
    // tests).
    assert_eq!(server_cipher, Some("ECDHE-RSA-AES256-GCM-SHA384"));
    assert_eq!(conn.cipher(), Some("ECDHE-RSA-AES256-GCM-SHA384"));
}

/// Version 2 shared parameters carry SHA-1 hashes.
#[tokio::test]
async fn version_2_sha1_hash_identifies_the_client() {
    let p = pair();
    let acceptor = TlsAcceptor::new(
        &settings(None),
        &p.server.credentials(),
        verifier(params(2, &[("ss2", &p.client.der)], &[])),
    )
    .unwrap();
    let any: Arc<dyn AuthVerifier> = accept_cert(p.server.der.clone(), "ss1");
    let connector = TlsConnector::new(&settings(None), &p.client.credentials(), any).unwrap();
    let (listener, addr) = listen().await;
    let client = tokio::spawn(async move { connector.connect(&addr).await.map(|_| ()) });
    let (tcp, _) = bounded("accept", listener.accept()).await.unwrap();
    let conn = bounded("handshake", acceptor.accept(tcp)).await.unwrap();
    assert_eq!(conn.identity().server, server_id("ss2"));
    bounded("client", client).await.unwrap().unwrap();
}

/// A client whose certificate is not registered in the shared parameters is refused with
/// `ssl_authentication_failed`, and the connection is closed.
#[tokio::test]
async fn unregistered_client_certificate_is_refused() {
    let p = pair();
    let dir = tempfile::tempdir().unwrap();
    let stranger = TestCert::new(dir.path(), "stranger", KeyKind::Rsa);
    // ss2's certificate is registered, the stranger's is not.
    let acceptor = TlsAcceptor::new(
        &settings(None),
        &p.server.credentials(),
        verifier(params(3, &[("ss2", &p.client.der)], &[])),
    )
    .unwrap();
    let any = accept_cert(p.server.der.clone(), "ss1");
    let connector = TlsConnector::new(&settings(None), &stranger.credentials(), any).unwrap();
    let (listener, addr) = listen().await;

    let client = tokio::spawn(async move {
        let mut conn = connector.connect(&addr).await.unwrap();
        // The handshake completed; the server then closes without sending data.
        let mut got = Vec::new();
        let _ = conn.read_to_end(&mut got).await;
        got
    });
    let (tcp, _) = bounded("accept", listener.accept()).await.unwrap();
    let err = bounded("handshake", acceptor.accept(tcp))
        .await
        .unwrap_err();
    assert!(matches!(err, TlsError::PeerRejected { .. }), "{err}");
    let fault = XRoadError::from(err);
    assert_eq!(
        fault.fault_code(Spelling::Current),
        "ssl_authentication_failed"
    );
    assert!(
        fault.message().contains("CN=stranger, O=Test, C=EE")
            && fault
                .message()
                .contains("is not associated with any security server"),
        "{}",
        fault.message()
    );
    assert!(bounded("client", client).await.unwrap().is_empty());
}

/// The connector refuses a server whose certificate is not registered.
#[tokio::test]
async fn connector_refuses_unregistered_server() {
    let p = pair();
    let any = accept_cert(p.client.der.clone(), "ss2");
    let acceptor = TlsAcceptor::new(&settings(None), &p.server.credentials(), any).unwrap();
    let connector = TlsConnector::new(
        &settings(None),
        &p.client.credentials(),
        verifier(params(3, &[("ss2", &p.client.der)], &[])),
    )
    .unwrap();
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let _ = acceptor.accept(tcp).await;
    });
    let err = bounded("connect", connector.connect(&addr))
        .await
        .unwrap_err();
    assert!(matches!(err, TlsError::PeerRejected { .. }), "{err}");
    assert_eq!(
        XRoadError::from(err).fault_code(Spelling::Current),
        "ssl_authentication_failed"
    );
    bounded("server", server).await.unwrap();
}

/// A client that sends no certificate fails the handshake.
#[tokio::test]
async fn client_without_certificate_is_refused() {
    let p = pair();
    let acceptor = TlsAcceptor::new(
        &settings(None),
        &p.server.credentials(),
        verifier(params(3, &[("ss2", &p.client.der)], &[])),
    )
    .unwrap();
    let (listener, addr) = listen().await;
    let port = addr.rsplit(':').next().unwrap().parse().unwrap();
    let mut child = s_client(port, "ECDHE-RSA-AES256-SHA384", None);
    let (tcp, _) = bounded("accept", listener.accept()).await.unwrap();
    let err = bounded("handshake", acceptor.accept(tcp))
        .await
        .unwrap_err();
    assert!(matches!(err, TlsError::Handshake { .. }), "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
    let status = bounded("s_client exit", child.0.wait()).await.unwrap();
    assert!(!status.success());
}

/// A peer that connects and stays silent is dropped after the handshake timeout.
#[tokio::test]
async fn silent_peer_times_out() {
    let p = pair();
    let mut s = settings(None);
    s.handshake_timeout = Duration::from_millis(300);
    let any = accept_cert(p.client.der.clone(), "ss2");
    let acceptor = TlsAcceptor::new(&s, &p.server.credentials(), any).unwrap();
    let (listener, addr) = listen().await;
    let _silent = TcpStream::connect(&addr).await.unwrap();
    let (tcp, _) = listener.accept().await.unwrap();
    let err = bounded("accept", acceptor.accept(tcp)).await.unwrap_err();
    assert!(matches!(err, TlsError::HandshakeTimeout { .. }), "{err}");
    assert_eq!(
        XRoadError::from(err).fault_code(Spelling::Current),
        "io_error"
    );
}

/// Connecting where nobody listens is a network error.
#[tokio::test]
async fn connect_failure_is_a_network_error() {
    let p = pair();
    let any = accept_cert(p.server.der.clone(), "ss1");
    let connector = TlsConnector::new(&settings(None), &p.client.credentials(), any).unwrap();
    let (listener, addr) = listen().await;
    drop(listener);
    let err = bounded("connect", connector.connect(&addr))
        .await
        .unwrap_err();
    assert!(matches!(err, TlsError::Connect { .. }), "{err}");
    assert_eq!(
        XRoadError::from(err).fault_code(Spelling::Current),
        "network_error"
    );
}

#[test]
fn credentials_key_must_match_certificate() {
    let p = pair();
    let err = AuthCredentials::new(p.client.key.clone(), vec![p.server.cert.clone()]).unwrap_err();
    assert!(matches!(err, TlsError::Credentials(_)), "{err}");
    let pem = AuthCredentials::from_pem(
        &std::fs::read(&p.server.cert_path).unwrap(),
        &std::fs::read(&p.server.key_path).unwrap(),
    );
    assert!(pem.is_ok());
    let der = AuthCredentials::from_der(
        std::slice::from_ref(&p.server.der),
        &p.server.key.private_key_to_der().unwrap(),
    );
    assert!(der.is_ok());
}

/// TLS 1.3 can be enabled for Rust-to-Rust links (Java peers only offer 1.2 here).
#[tokio::test]
async fn tls13_when_both_ends_enable_it() {
    let p = pair();
    let gc = params(3, &[("ss1", &p.server.der), ("ss2", &p.client.der)], &[]);
    let verify = verifier(gc);
    let s = settings(None).with_protocols("TLSv1.2,TLSv1.3").unwrap();
    let acceptor = TlsAcceptor::new(&s, &p.server.credentials(), verify.clone()).unwrap();
    let connector = TlsConnector::new(&s, &p.client.credentials(), verify).unwrap();
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut conn = acceptor.accept(tcp).await.unwrap();
        assert_eq!(conn.identity().server, server_id("ss2"));
        assert_eq!(conn.protocol(), "TLSv1.3");
        let mut buf = [0u8; 2];
        conn.read_exact(&mut buf).await.unwrap();
        conn.write_all(&buf).await.unwrap();
        conn.shutdown().await.unwrap();
    });
    let mut conn = bounded("connect", connector.connect(&addr)).await.unwrap();
    assert_eq!(conn.protocol(), "TLSv1.3");
    assert_eq!(conn.identity().server, server_id("ss1"));
    conn.write_all(b"hi").await.unwrap();
    let mut got = Vec::new();
    bounded("read", conn.read_to_end(&mut got)).await.unwrap();
    assert_eq!(got, b"hi");
    bounded("server", server).await.unwrap();
}
