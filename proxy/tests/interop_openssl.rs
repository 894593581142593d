//! Interoperability with a non-Rust peer: the `openssl` command line as client (`s_client`)
//! against our acceptor, and as server (`s_server -Verify 1`) for our connector, restricted to
//! each of Java's default CBC suites and to GCM suites. Our default list puts GCM before
//! Java's CBC suites, so a peer restricted to CBC (as Java is) negotiates CBC.

mod common;

use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use xroad_proxy::{TlsAcceptor, TlsConnector, TlsError};

/// Java's default list plus one GCM suite, in Java's (IANA) spelling.
const WITH_GCM: &str = "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,TLS_DHE_RSA_WITH_AES_256_CBC_SHA256,\
TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384";

/// `s_client` with a client certificate → our acceptor; a line each way.
async fn s_client_to_acceptor(cipher: &str, kind: KeyKind, ours: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestCert::new(dir.path(), "server", kind);
    let client = TestCert::new(dir.path(), "client", kind);
    let verifier = accept_cert(client.der.clone(), "client-ss");
    let acceptor = TlsAcceptor::new(&settings(ours), &server.credentials(), verifier).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();

    let mut child = s_client(port, cipher, Some(&client));
    let mut stdin = child.0.stdin.take().unwrap();
    stdin.write_all(b"ping from s_client\n").await.unwrap();
    let (tcp, _) = bounded("accept", listener.accept()).await.unwrap();
    let conn = bounded("handshake", acceptor.accept(tcp)).await.unwrap();
    assert_eq!(conn.cipher(), Some(cipher));
    assert_eq!(conn.protocol(), "TLSv1.2");
    assert_eq!(conn.identity().server, server_id("client-ss"));
    assert_eq!(conn.peer_chain(), std::slice::from_ref(&client.der));

    let mut conn = BufReader::new(conn);
    let mut line = String::new();
    bounded("read", conn.read_line(&mut line)).await.unwrap();
    assert_eq!(line, "ping from s_client\n");
    conn.write_all(b"pong from rust\n").await.unwrap();
    bounded("shutdown", conn.shutdown()).await.unwrap();

    let (out, err) = (child.stdout(), child.stderr());
    let out = bounded("s_client output", read_all(out)).await;
    let err = bounded("s_client log", read_all(err)).await;
    assert!(out.contains("pong from rust"), "s_client stdout: {out}");
    assert!(
        err.contains(&format!("Ciphersuite: {cipher}")),
        "s_client log: {err}"
    );
}

/// Our connector → `s_server -Verify 1 -rev` (answers each line reversed).
async fn connector_to_s_server(cipher: &str, kind: KeyKind, ours: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestCert::new(dir.path(), "server", kind);
    let client = TestCert::new(dir.path(), "client", kind);
    let (_guard, port) = s_server(cipher, &server).await;
    let verifier = accept_cert(server.der.clone(), "server-ss");
    let connector = TlsConnector::new(&settings(ours), &client.credentials(), verifier).unwrap();

    let addr = format!("127.0.0.1:{port}");
    let conn = bounded("connect", connector.connect(&addr)).await.unwrap();
    assert_eq!(conn.cipher(), Some(cipher));
    assert_eq!(conn.protocol(), "TLSv1.2");
    assert_eq!(conn.identity().server, server_id("server-ss"));
    assert_eq!(conn.peer_chain()[0], server.der);

    let mut conn = BufReader::new(conn);
    conn.write_all(b"hello from rust\n").await.unwrap();
    let mut line = String::new();
    bounded("read", conn.read_line(&mut line)).await.unwrap();
    assert_eq!(line.trim_end(), "tsur morf olleh");
}

#[tokio::test]
async fn s_client_ecdhe_rsa_aes256_sha384() {
    s_client_to_acceptor("ECDHE-RSA-AES256-SHA384", KeyKind::Rsa, None).await;
}

#[tokio::test]
async fn s_client_dhe_rsa_aes256_sha256() {
    s_client_to_acceptor("DHE-RSA-AES256-SHA256", KeyKind::Rsa, None).await;
}

#[tokio::test]
async fn s_client_ecdhe_ecdsa_aes256_sha384() {
    s_client_to_acceptor("ECDHE-ECDSA-AES256-SHA384", KeyKind::EcP256, None).await;
}

#[tokio::test]
async fn s_client_ecdhe_rsa_aes256_gcm_sha384_when_configured() {
    s_client_to_acceptor("ECDHE-RSA-AES256-GCM-SHA384", KeyKind::Rsa, Some(WITH_GCM)).await;
}

#[tokio::test]
async fn s_server_ecdhe_rsa_aes256_sha384() {
    connector_to_s_server("ECDHE-RSA-AES256-SHA384", KeyKind::Rsa, None).await;
}

#[tokio::test]
async fn s_server_dhe_rsa_aes256_sha256() {
    connector_to_s_server("DHE-RSA-AES256-SHA256", KeyKind::Rsa, None).await;
}

#[tokio::test]
async fn s_server_ecdhe_ecdsa_aes256_sha384() {
    connector_to_s_server("ECDHE-ECDSA-AES256-SHA384", KeyKind::EcP256, None).await;
}

#[tokio::test]
async fn s_server_ecdhe_rsa_aes256_gcm_sha384_when_configured() {
    connector_to_s_server("ECDHE-RSA-AES256-GCM-SHA384", KeyKind::Rsa, Some(WITH_GCM)).await;
}

/// Our default list prefers GCM: a GCM-only peer is served, with no configuration.
#[tokio::test]
async fn default_settings_accept_a_gcm_only_client() {
    s_client_to_acceptor("ECDHE-RSA-AES256-GCM-SHA384", KeyKind::Rsa, None).await;
    s_client_to_acceptor("ECDHE-ECDSA-AES256-GCM-SHA384", KeyKind::EcP256, None).await;
}

/// Java's list is CBC only, so with it a GCM-only peer finds no common suite.
#[tokio::test]
async fn java_settings_refuse_a_gcm_only_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestCert::new(dir.path(), "server", KeyKind::Rsa);
    let client = TestCert::new(dir.path(), "client", KeyKind::Rsa);
    let verifier = accept_cert(client.der.clone(), "client-ss");
    let java = settings(Some(xroad_proxy::JAVA_XROAD_TLS_CIPHERS));
    let acceptor = TlsAcceptor::new(&java, &server.credentials(), verifier).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();

    let _child = s_client(port, "ECDHE-RSA-AES256-GCM-SHA384", Some(&client));
    let (tcp, _) = bounded("accept", listener.accept()).await.unwrap();
    let err = bounded("handshake", acceptor.accept(tcp))
        .await
        .unwrap_err();
    assert!(matches!(err, TlsError::Handshake { .. }), "{err}");
    assert!(err.to_string().contains("no shared cipher"), "{err}");
}

/// A Java client resumes TLS sessions; a resumed session must still carry the client
/// certificate so that the peer is identified again.
#[tokio::test]
async fn s_client_resumed_session_is_identified_again() {
    let cipher = "ECDHE-RSA-AES256-SHA384";
    let dir = tempfile::tempdir().unwrap();
    let server = TestCert::new(dir.path(), "server", KeyKind::Rsa);
    let client = TestCert::new(dir.path(), "client", KeyKind::Rsa);
    let verifier = accept_cert(client.der.clone(), "client-ss");
    let acceptor = TlsAcceptor::new(&settings(None), &server.credentials(), verifier).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let session = dir.path().join("session.pem");

    for (round, flag) in [(0, "-sess_out"), (1, "-sess_in")] {
        let extra = [std::ffi::OsStr::new(flag), session.as_os_str()];
        let mut child = s_client_with(port, cipher, Some(&client), &extra);
        let mut stdin = child.0.stdin.take().unwrap();
        stdin.write_all(b"ping\n").await.unwrap();
        let (tcp, _) = bounded("accept", listener.accept()).await.unwrap();
        let conn = bounded("handshake", acceptor.accept(tcp)).await.unwrap();
        assert_eq!(conn.session_reused(), round == 1, "round {round}");
        assert_eq!(conn.identity().server, server_id("client-ss"));
        assert_eq!(conn.peer_chain()[0], client.der);

        let mut conn = BufReader::new(conn);
        let mut line = String::new();
        bounded("read", conn.read_line(&mut line)).await.unwrap();
        assert_eq!(line, "ping\n");
        conn.write_all(b"pong\n").await.unwrap();
        bounded("shutdown", conn.shutdown()).await.unwrap();
        let out = bounded("s_client output", read_all(child.stdout())).await;
        assert!(out.contains("pong"), "s_client stdout: {out}");
        bounded("s_client exit", child.0.wait()).await.unwrap();
    }
}
