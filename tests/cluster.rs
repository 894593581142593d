//! The cluster example (`docker/examples/cluster`) on one machine: one security server
//! identity served by two nodes that share their server configuration in PostgreSQL, behind a
//! TCP (TLS passthrough) load balancer. A change applied through one node serves on both: with
//! either node stopped, the other answers with the change.

mod support;

#[allow(dead_code)]
#[path = "../crates/serverconf/tests/common/pg_server.rs"]
mod pg_server;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{free_port, run_node, Demo, BIN};

/// A TCP load balancer: each connection goes to the first backend that accepts it, bytes are
/// relayed untouched (the TLS session is between the peer and the node).
struct Balancer {
    stop: Arc<AtomicBool>,
}

impl Balancer {
    fn start(listen: &str, backends: Vec<String>) -> Balancer {
        let listener = TcpListener::bind(listen).unwrap_or_else(|e| panic!("bind {listen}: {e}"));
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let backend = backends.iter().find_map(|b| {
                            TcpStream::connect_timeout(&b.parse().ok()?, Duration::from_secs(2))
                                .ok()
                        });
                        if let Some(backend) = backend {
                            relay(client, backend);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Balancer { stop }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn relay(a: TcpStream, b: TcpStream) {
    let pipe = |mut from: TcpStream, mut to: TcpStream| {
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        });
    };
    if let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) {
        pipe(a, b2);
        pipe(b, a2);
    }
}

fn sidecar(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xroad-sidecar {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Replaces the value of the first line whose key (after indentation) is `key`.
fn set(yaml: &str, key: &str, value: &str) -> String {
    let mut done = false;
    yaml.lines()
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            if !done && l.trim_start().starts_with(&format!("{key}: ")) {
                done = true;
                format!("{}{key}: {value}", &l[..indent])
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// A cluster node: a copy of the provider's folder (same keys, anchor and PIN) with its own
/// listeners and the shared store.
fn node_config(provider_dir: &Path, dir: &Path, db: &str, server: &str, ocsp: &str) -> PathBuf {
    let status = Command::new("cp")
        .arg("-a")
        .arg(provider_dir)
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success(), "copy the provider's folder");
    let text = std::fs::read_to_string(dir.join("sidecar.yaml")).unwrap();
    let mut text = text.replace(
        &provider_dir.display().to_string(),
        &dir.display().to_string(),
    );
    text = set(&text, "database-url", db);
    text = set(&text, "client-http", "null");
    text = set(&text, "client-https", "null");
    text = set(&text, "admin", "null");
    text = set(&text, "server", server);
    text = set(&text, "ocsp-responder", ocsp);
    text = set(&text, "health-check", &format!("127.0.0.1:{}", free_port()));
    let path = dir.join("sidecar.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `GET /pets` of the provider's REST service through the consumer: the status and the
/// `X-Road-Error` header, if any.
fn call(consumer_http: &str, client: &str, provider: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "-o",
            "/dev/null",
            "-D",
            "-",
            "-H",
        ])
        .arg(format!("X-Road-Client: {client}"))
        .arg(format!(
            "http://{consumer_http}/r1/{provider}/petstore/pets"
        ))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("none")
        .to_owned();
    let error = head
        .lines()
        .find_map(|l| l.strip_prefix("x-road-error: "))
        .unwrap_or("")
        .trim()
        .to_owned();
    format!("{status} {error}").trim().to_owned()
}

#[test]
fn two_nodes_on_one_postgresql_serve_a_change_made_on_either() {
    let pg =
        pg_server::start_pg().unwrap_or_else(|e| panic!("the cluster test needs PostgreSQL: {e}"));
    let (server_url, _) = pg.admin_url.rsplit_once('/').unwrap();
    let db = format!("{server_url}/cluster_{}_serverconf", std::process::id());

    let demo = Demo::start_with(&["--external-nodes"], None, &[]);
    let provider = demo.node("provider").clone();
    let consumer = demo.node("consumer").clone();
    let provider_dir = provider.config.parent().unwrap().to_path_buf();

    // The provider's server configuration moves into the shared store (created on first
    // use), as an operator would do with `export` and `apply`.
    let document = sidecar(&[
        "export",
        "--db",
        &format!("sqlite://{}", provider_dir.join("serverconf.db").display()),
    ]);
    let doc_path = demo.scratch().join("provider.yaml");
    std::fs::write(&doc_path, &document).unwrap();
    sidecar(&["apply", "--db", &db, "-f", doc_path.to_str().unwrap()]);

    // The registered address (server proxy) and the OCSP responses port lead to the
    // balancer; each node listens elsewhere.
    let ocsp_addr = std::fs::read_to_string(&provider.config)
        .unwrap()
        .lines()
        .find_map(|l| l.trim().strip_prefix("ocsp-responder: ").map(str::to_owned))
        .unwrap();
    let ports: Vec<String> = (0..4)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let cluster = demo.scratch();
    let n1 = node_config(
        &provider_dir,
        &cluster.join("node1"),
        &db,
        &ports[0],
        &ports[1],
    );
    let n2 = node_config(
        &provider_dir,
        &cluster.join("node2"),
        &db,
        &ports[2],
        &ports[3],
    );
    let _server_lb = Balancer::start(&provider.server, vec![ports[0].clone(), ports[2].clone()]);
    let _ocsp_lb = Balancer::start(&ocsp_addr, vec![ports[1].clone(), ports[3].clone()]);

    let mut node1 = run_node("node1", &n1);
    let mut node2 = run_node("node2", &n2);
    let _consumer = run_node("consumer", &consumer.config);
    let client = consumer.subsystem();
    let service_owner = provider.subsystem();
    assert_eq!(call(&consumer.client_http, client, service_owner), "200");

    // The change, through node 1's store: the consumer loses its right to the pet store.
    let revoked = document.replace(
        "  - service: petstore\n    subjects:\n    - SUBSYSTEM:DEV/COM/1111/client\n",
        "",
    );
    assert_ne!(
        revoked, document,
        "the exported document has the pet store's right"
    );
    std::fs::write(&doc_path, revoked).unwrap();
    let n1_db = std::fs::read_to_string(&n1).unwrap();
    assert!(n1_db.contains(&db));
    sidecar(&["apply", "--db", &db, "-f", doc_path.to_str().unwrap()]);

    // Node 2 alone serves the change ...
    node1.stop(Duration::from_secs(15));
    let denied = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = call(&consumer.client_http, client, service_owner);
            if answer.contains("access_denied") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: still not denied after 20 s: {answer}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    denied("node 2 alone");
    // ... and so does node 1 alone.
    let _node1 = run_node("node1 again", &n1);
    node2.stop(Duration::from_secs(15));
    denied("node 1 alone");
}
