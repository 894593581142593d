//! TLS between security servers with a non-Rust peer, at a running node: `openssl s_client`
//! presents the consumer's registered authentication certificate (its key taken out of the
//! consumer's PKCS#12 software token with the autologin PIN) to the provider's server proxy of
//! a running `xroad-sidecar demo`, restricted to one suite at a time: Java's three default CBC
//! suites (EC P-256 keys for ECDHE-ECDSA, a `keys: rsa2048` network for the RSA suites) and a
//! GCM suite where the node is configured for it (`XROAD_TLS_CIPHERS`, `xroad-sidecar run`).
//! Over each handshake an empty POST gets an X-Road answer (a SOAP fault). A fresh
//! self-signed certificate is refused in the handshake, and so is a GCM-only client by a node
//! with Java's default list.
//!
//! The other direction: `openssl s_server` plays the provider's security server (with the
//! provider's authentication key and certificate, on the provider's registered address) and
//! the consumer's client proxy (`xroad-sidecar run` on the demo's files) reaches it: it
//! verifies the provider's certificate (OCSP from the provider node's 5577 port), sends the
//! X-Road transport message, and relays the fake provider's SOAP fault to the information
//! system.
//!
//! The TLS layer itself is tested in `proxy/tests/interop_openssl.rs`; this file tests the
//! running binary.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use support::{free_port, openssl, ChildGuard, Demo, BIN};

const RSA_TOPOLOGY_KEYS: &str = "keys: rsa2048\n";
const GCM: &str = "ECDHE-RSA-AES256-GCM-SHA384";
/// Java's `proxy.xroad-tls-ciphers` default: CBC only.
const JAVA_CIPHERS: &str = "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,\
TLS_DHE_RSA_WITH_AES_256_CBC_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384";

/// The default topology with another key algorithm.
fn topology_with(keys: &str) -> String {
    let default = Command::new(BIN)
        .args(["demo", "--print-topology"])
        .output()
        .unwrap();
    assert!(default.status.success());
    let text = String::from_utf8(default.stdout).unwrap();
    format!("{keys}{text}")
}

/// The PIN in a node's autologin file (a bare PIN or `XROAD_TOKEN_0_PIN=…`).
fn pin(node_dir: &Path) -> String {
    let text = std::fs::read_to_string(node_dir.join("autologin")).unwrap();
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap().trim();
    line.rsplit_once('=')
        .map_or(line, |(_, pin)| pin)
        .to_owned()
}

/// A node's authentication certificate and key as PEM files in `out` (certificate from
/// keyconf.xml, key from the software token's PKCS#12 file opened with the autologin PIN).
fn auth_credentials(node_dir: &Path, out: &Path) -> (PathBuf, PathBuf) {
    let keyconf = std::fs::read_to_string(node_dir.join("signer/keyconf.xml")).unwrap();
    let auth = &keyconf[keyconf
        .find("usage=\"AUTHENTICATION\"")
        .expect("keyconf.xml has an authentication key")..];
    let between = |s: &str, a: &str, b: &str| {
        let start = s.find(a).unwrap() + a.len();
        s[start..start + s[start..].find(b).unwrap()]
            .trim()
            .to_owned()
    };
    let key_id = between(auth, "<keyId>", "</keyId>");
    let contents = between(auth, "<contents>", "</contents>");
    let der = base64::engine::general_purpose::STANDARD
        .decode(&contents)
        .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    let name = node_dir.file_name().unwrap().to_str().unwrap();
    let cert = out.join(format!("{name}-auth.pem"));
    std::fs::write(&cert, pem).unwrap();
    let key = out.join(format!("{name}-auth.key"));
    let pass = out.join(format!("{name}-pin"));
    std::fs::write(&pass, pin(node_dir)).unwrap();
    let p12 = node_dir.join(format!("signer/softtoken/{key_id}.p12"));
    openssl(&[
        "pkcs12",
        "-in",
        p12.to_str().unwrap(),
        "-nocerts",
        "-nodes",
        "-passin",
        &format!("file:{}", pass.display()),
        "-out",
        key.to_str().unwrap(),
    ]);
    (cert, key)
}

/// A fresh self-signed certificate of the same key kind, registered nowhere.
fn unregistered(out: &Path, ec: bool) -> (PathBuf, PathBuf) {
    let cert = out.join("stranger.pem");
    let key = out.join("stranger.key");
    let newkey = if ec {
        "ec:".to_owned() + out.join("p256.pem").to_str().unwrap()
    } else {
        "rsa:2048".to_owned()
    };
    if ec {
        openssl(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-out",
            out.join("p256.pem").to_str().unwrap(),
        ]);
    }
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        &newkey,
        "-nodes",
        "-subj",
        "/O=DEV/CN=stranger",
        "-days",
        "2",
        "-addext",
        "extendedKeyUsage=clientAuth,serverAuth",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    (cert, key)
}

/// What one `s_client` run saw.
struct ClientRun {
    /// stdout and stderr together.
    output: String,
}

impl ClientRun {
    fn handshake_ok(&self, cipher: &str) -> bool {
        self.output.contains(&format!("Cipher is {cipher}"))
            && self.output.contains("Protocol  : TLSv1.2")
    }
}

/// `openssl s_client -tls1_2 -cipher CIPHER -cert -key` to `addr`, sending an empty POST;
/// killed after 30 s.
fn s_client(addr: &str, cipher: &str, cert: &Path, key: &Path) -> ClientRun {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client", "-connect", addr, "-tls1_2", "-cipher", cipher, "-ign_eof",
    ])
    .arg("-cert")
    .arg(cert)
    .arg("-key")
    .arg(key)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = ChildGuard::spawn("openssl s_client", &mut cmd);
    let mut stdin = child.child.stdin.take().unwrap();
    let _ = stdin.write_all(
        b"POST / HTTP/1.1\r\nHost: localhost:5500\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    // stdin stays open (-ign_eof) until the server closes the connection.
    let collect = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = collect(
        child
            .child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = collect(
        child
            .child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.exited().is_none() {
        assert!(Instant::now() < deadline, "s_client to {addr} ran 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    let output = format!("{}\n{}", out.join().unwrap(), err.join().unwrap());
    ClientRun { output }
}

/// The handshake with `cipher` succeeds and the empty POST gets the server proxy's fault.
fn assert_x_road_answer(addr: &str, cipher: &str, cert: &Path, key: &Path) {
    let run = s_client(addr, cipher, cert, key);
    assert!(
        run.handshake_ok(cipher),
        "no TLS 1.2 handshake with {cipher}: {}",
        run.output
    );
    assert!(
        run.output.contains("HTTP/1.1 200 OK") || run.output.contains("HTTP/1.1 500"),
        "{cipher}: no HTTP answer: {}",
        run.output
    );
    assert!(
        run.output
            .contains("<faultcode>server.serverproxy.internal_error</faultcode>")
            && run
                .output
                .contains("Could not get hash algorithm identifier from message"),
        "{cipher}: not the server proxy's fault for an empty POST: {}",
        run.output
    );
}

/// The handshake with `cipher` fails (no HTTP exchange at all).
fn assert_refused(addr: &str, cipher: &str, cert: &Path, key: &Path, why: &str) {
    let run = s_client(addr, cipher, cert, key);
    assert!(
        !run.output.contains("HTTP/1.1") && !run.output.contains("<faultcode>"),
        "{why}: the server proxy answered: {}",
        run.output
    );
    let lower = run.output.to_ascii_lowercase();
    assert!(
        lower.contains("alert") || lower.contains("error"),
        "{why}: s_client saw no failed handshake: {}",
        run.output
    );
}

fn wait_for_port(addr: &str, what: &str, process: &mut ChildGuard) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(addr).is_err() {
        if let Some(s) = process.exited() {
            panic!("{what} exited ({s}) before listening on {addr}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} not listening on {addr} in 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ec_node_accepts_ecdhe_ecdsa_and_refuses_strangers() {
    let demo = Demo::start(None, &[]);
    let out = demo.scratch();
    let (cert, key) = auth_credentials(&demo.state().join("consumer"), &out);
    let provider = demo.node("provider").server.clone();

    assert_x_road_answer(&provider, "ECDHE-ECDSA-AES256-SHA384", &cert, &key);

    let (scert, skey) = unregistered(&out, true);
    assert_refused(
        &provider,
        "ECDHE-ECDSA-AES256-SHA384",
        &scert,
        &skey,
        "an unregistered certificate",
    );
    // The registered certificate still works afterwards.
    assert_x_road_answer(&provider, "ECDHE-ECDSA-AES256-SHA384", &cert, &key);
}

#[test]
fn rsa_node_accepts_java_cbc_suites_and_gcm_unless_set_to_java_list() {
    let demo = Demo::start(Some(&topology_with(RSA_TOPOLOGY_KEYS)), &[]);
    let out = demo.scratch();
    let consumer_dir = demo.state().join("consumer");
    let (cert, key) = auth_credentials(&consumer_dir, &out);
    let provider = demo.node("provider").clone();

    for cipher in ["ECDHE-RSA-AES256-SHA384", "DHE-RSA-AES256-SHA256"] {
        assert_x_road_answer(&provider.server, cipher, &cert, &key);
    }
    let (scert, skey) = unregistered(&out, false);
    assert_refused(
        &provider.server,
        "ECDHE-RSA-AES256-SHA384",
        &scert,
        &skey,
        "an unregistered certificate",
    );
    // Our default list puts GCM first.
    assert_x_road_answer(&provider.server, GCM, &cert, &key);

    // The provider's node run again from its own files (`xroad-sidecar run`), its server
    // proxy on another port, set to Java's list: CBC only.
    let second = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("-c")
        .arg(&provider.config)
        .env("XROAD_TLS_CIPHERS", JAVA_CIPHERS)
        .env("XROAD_SERVER_LISTEN", &second)
        .env("XROAD_CLIENT_HTTP", "off")
        .env("XROAD_CLIENT_HTTPS", "off")
        .env("XROAD_OCSP_RESPONDER_LISTEN", "off")
        .env("XROAD_HEALTH_CHECK_LISTEN", "off")
        .env("XROAD_ADMIN_LISTEN", "off")
        .env("XROAD_GLOBALCONF_DIR", out.join("globalconf"))
        .env("XROAD_TEMP_DIR", out.join("tmp"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut node = ChildGuard::spawn("xroad-sidecar run (provider, Java's list)", &mut cmd);
    wait_for_port(&second, "the provider node", &mut node);
    assert_refused(
        &second,
        GCM,
        &cert,
        &key,
        "a GCM-only client against Java's list",
    );
    assert_x_road_answer(&second, "ECDHE-RSA-AES256-SHA384", &cert, &key);
    node.stop(Duration::from_secs(10));
}

/// Serves a published global configuration folder as the central server does
/// (`/internalconf?version=N` → `V{N}/internalconf`, other paths as files), on `listener`.
fn serve_globalconf(listener: TcpListener, root: PathBuf) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let root = root.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    match reader.read_line(&mut h) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if h == "\r\n" || h == "\n" => break,
                        Ok(_) => {}
                    }
                }
                let target = line.split_whitespace().nth(1).unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let file = if path == "/internalconf" || path == "/externalconf" {
                    let version = query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("version="))
                        .unwrap_or("2");
                    Some(root.join(format!("V{version}{path}")))
                } else {
                    let rel = path.trim_start_matches('/');
                    rel.split('/')
                        .all(|s| !s.is_empty() && s != "..")
                        .then(|| root.join(rel))
                };
                let answer = match file.and_then(|f| std::fs::read(f).ok()) {
                    Some(body) => {
                        let mut a = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        a.extend_from_slice(&body);
                        a
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = stream.write_all(&answer);
            });
        }
    });
}

const FAKE_FAULT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>Server.ServerProxy.FakeProvider</faultcode><faultstring>answered by openssl s_server</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>";

#[test]
fn client_proxy_reaches_an_openssl_s_server_as_the_provider() {
    let mut demo = Demo::start(None, &[]);
    let out = demo.scratch();
    let state = demo.state();
    let consumer = demo.node("consumer").clone();
    let provider = demo.node("provider").clone();
    let instance = demo.instance();
    let conf_url = demo.network["conf_url"].as_str().unwrap().to_owned();
    let conf_addr = conf_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let (pcert, pkey) = auth_credentials(&state.join("provider"), &out);

    // The demo stops; its files stay. The central server's files are served again on the
    // same address, the provider node runs only its OCSP responses port, openssl takes the
    // provider's registered address, and the consumer node runs its client proxy.
    assert!(
        demo.process.stop(Duration::from_secs(15)).is_some(),
        "the demo did not stop on SIGTERM"
    );
    let listener = TcpListener::bind(&conf_addr).unwrap();
    serve_globalconf(listener, state.join("central/www"));

    let node = |name: &str, cfg: &Path, env: &[(&str, &str)]| {
        let mut cmd = Command::new(BIN);
        cmd.arg("run")
            .arg("-c")
            .arg(cfg)
            .env("XROAD_CLIENT_HTTPS", "off")
            .env("XROAD_HEALTH_CHECK_LISTEN", "off")
            .env("XROAD_ADMIN_LISTEN", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        ChildGuard::spawn(name, &mut cmd)
    };
    let mut provider_node = node(
        "provider node (OCSP responses only)",
        &provider.config,
        &[("XROAD_SERVER_LISTEN", "off"), ("XROAD_CLIENT_HTTP", "off")],
    );
    wait_for_port(
        &provider.ocsp_responder,
        "the provider node",
        &mut provider_node,
    );

    let cipher = "ECDHE-ECDSA-AES256-SHA384";
    let port = provider.server.rsplit_once(':').unwrap().1.to_owned();
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_server", "-accept", &port, "-tls1_2", "-cipher", cipher, "-Verify", "1",
    ])
    .arg("-cert")
    .arg(&pcert)
    .arg("-key")
    .arg(&pkey)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut server = ChildGuard::spawn("openssl s_server", &mut cmd);
    let seen = Arc::new(Mutex::new(String::new()));
    for r in [
        server
            .child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
        server
            .child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut r = r;
            let mut buf = [0u8; 8192];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    let mut server_stdin = server.child.stdin.take().unwrap();
    wait_for_port(&provider.server, "openssl s_server", &mut server);

    // Java's default read timeout is none (the provider's service timeout bounds the wait);
    // this consumer gives up after 5 s of silence.
    let consumer_config = std::fs::read_to_string(&consumer.config).unwrap();
    let limited = consumer_config.replace("client-timeout: 0", "client-timeout: 5");
    assert_ne!(
        limited, consumer_config,
        "the node file sets client-timeout"
    );
    std::fs::write(&consumer.config, limited).unwrap();
    let mut consumer_node = node(
        "consumer node (client proxy)",
        &consumer.config,
        &[
            ("XROAD_SERVER_LISTEN", "off"),
            ("XROAD_OCSP_RESPONDER_LISTEN", "off"),
        ],
    );
    wait_for_port(
        &consumer.client_http,
        "the consumer node",
        &mut consumer_node,
    );

    // The information system's request, in a thread: the answer comes once s_server has
    // been told what to say.
    let body = format!(
        "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xrd=\"http://x-road.eu/xsd/xroad.xsd\" xmlns:id=\"http://x-road.eu/xsd/identifiers\"><SOAP-ENV:Header>\
<xrd:client id:objectType=\"SUBSYSTEM\"><id:xRoadInstance>{instance}</id:xRoadInstance><id:memberClass>COM</id:memberClass><id:memberCode>1111</id:memberCode><id:subsystemCode>client</id:subsystemCode></xrd:client>\
<xrd:service id:objectType=\"SERVICE\"><id:xRoadInstance>{instance}</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>2222</id:memberCode><id:subsystemCode>services</id:subsystemCode><id:serviceCode>helloService</id:serviceCode><id:serviceVersion>v1</id:serviceVersion></xrd:service>\
<xrd:id>tls-interop-1</xrd:id><xrd:protocolVersion>4.0</xrd:protocolVersion></SOAP-ENV:Header>\
<SOAP-ENV:Body><ns1:helloService xmlns:ns1=\"http://example.org/\"><name>openssl</name></ns1:helloService></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    );
    let client_http = consumer.client_http.clone();
    let send = move |body: String| {
        let client_http = client_http.clone();
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(&client_http).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
            let head = format!(
                "POST / HTTP/1.1\r\nHost: {client_http}\r\nContent-Type: text/xml; charset=UTF-8\r\nSOAPAction: \"\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(body.as_bytes()).unwrap();
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            String::from_utf8_lossy(&answer).into_owned()
        })
    };
    // s_server shows what our client proxy sent; the whole transport message ends with the
    // close delimiter of its top-level boundary (a small one goes with a Content-Length, a
    // large one chunked).
    let complete = |text: &str| {
        let Some(at) = text.find("boundary=xtop") else {
            return false;
        };
        let boundary: String = text[at + "boundary=".len()..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        text.contains("POST ") && text.contains(&format!("--{boundary}--\r\n"))
    };
    let wait_for_request = |seen: &Mutex<String>| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = seen.lock().unwrap().clone();
            if complete(&text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no complete X-Road request reached s_server in 60 s: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let is_request = send(body.clone());
    wait_for_request(&seen);
    let answer = format!(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/xml;charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{FAKE_FAULT}",
        FAKE_FAULT.len()
    );
    server_stdin.write_all(answer.as_bytes()).unwrap();
    server_stdin.flush().unwrap();
    let is_answer = is_request.join().unwrap();

    let log = seen.lock().unwrap().clone();
    let lower = log.to_ascii_lowercase();
    assert!(
        log.contains(&format!("CIPHER is {cipher}")),
        "s_server: {log}"
    );
    assert!(
        log.contains("CN=consumer") || log.contains("CN = consumer"),
        "s_server did not get the consumer's auth certificate: {log}"
    );
    assert!(lower.contains("x-hash-algorithm: sha-512"), "{log}");
    assert!(lower.contains("content-type: multipart/mixed"), "{log}");
    assert!(lower.contains("x-original-soapaction"), "{log}");
    assert!(log.contains("<id:memberCode>2222</id:memberCode>"), "{log}");
    assert!(
        is_answer.contains("FakeProvider") && is_answer.contains("answered by openssl s_server"),
        "the information system did not get the fake provider's fault: {is_answer}"
    );

    // A provider that reads the whole request and never answers: the client timeout (5 s,
    // counted from the end of the request body) ends the wait with Java's read time-out
    // (`SocketTimeoutException`, an `IOException`: `io_error`).
    seen.lock().unwrap().clear();
    let is_request = send(body);
    wait_for_request(&seen);
    let sent = Instant::now();
    let is_answer = is_request.join().unwrap();
    let waited = sent.elapsed();
    assert!(
        is_answer.contains("server.clientproxy.io_error") && is_answer.contains("Read timed out"),
        "no read time-out from a silent provider: {is_answer}"
    );
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(30),
        "the client timeout ended the wait after {waited:?}"
    );
    drop(server_stdin);
    consumer_node.stop(Duration::from_secs(10));
    provider_node.stop(Duration::from_secs(10));
}
