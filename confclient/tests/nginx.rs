//! A real web server serves the published configuration: nginx (Debian package) on
//! loopback, configured as the central server's `xroad-public.conf` maps versions.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use support::{in_secs, model, served_code, signing_key, TempDir};
use xroad_confclient::{ClientSettings, ConfigurationClient, GlobalConf};
use xroad_devnet::{anchor_xml, publish};
use xroad_globalconf::ConfigurationAnchor;

/// nginx in the foreground, one process, killed by PID when dropped.
struct Nginx {
    child: Child,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("nginx is not installed (.ci/run installs the nginx package)"))
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Nginx {
    fn start(dir: &Path, www: &Path) -> Nginx {
        Nginx::start_with(dir, www, None)
    }

    /// With `tls` (certificate and key files) the server speaks HTTPS only.
    fn start_with(dir: &Path, www: &Path, tls: Option<(&Path, &Path)>) -> Nginx {
        let port = free_port();
        let (listen, tls_conf) = match tls {
            Some((cert, key)) => (
                format!("{port} ssl"),
                format!(
                    "ssl_certificate {};\n        ssl_certificate_key {};",
                    cert.display(),
                    key.display()
                ),
            ),
            None => (port.to_string(), String::new()),
        };
        let tmp = dir.join("nginx-tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let conf = format!(
            r#"daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/nginx-access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    map $arg_version $conf_version {{
        "~^[0-9]+$" $arg_version;
        default 2;
    }}
    server {{
        listen 127.0.0.1:{listen};
        {tls_conf}
        root {www};
        location ~ ^/(internalconf|externalconf)$ {{
            try_files /V$conf_version$uri =404;
        }}
    }}
}}
"#,
            dir = dir.display(),
            tmp = tmp.display(),
            www = www.display(),
        );
        let conf_file = dir.join("nginx.conf");
        std::fs::write(&conf_file, conf).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-c")
            .arg(&conf_file)
            .arg("-p")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start nginx");
        let nginx = Nginx { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen within 10 s: {}",
                std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }
}

fn newest(www: &Path, name: &str) -> PathBuf {
    let mut stamps: Vec<PathBuf> = std::fs::read_dir(www.join("V6"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    stamps.sort();
    stamps.last().unwrap().join(name)
}

#[tokio::test]
async fn nginx_serves_the_configuration_and_tampering_is_detected() {
    let tmp = TempDir::new("nginx");
    let www = tmp.join("www");
    let key = signing_key(tmp.path(), "cs");
    let instance = model(key.cert_der());
    publish(&www, &key, &instance, &[2, 3, 4, 5, 6], in_secs(3600)).unwrap();
    let nginx = Nginx::start(tmp.path(), &www);
    let url = format!("http://127.0.0.1:{}/internalconf", nginx.port);
    let anchor =
        ConfigurationAnchor::parse(anchor_xml("DEV", &[url], key.cert_der()).as_bytes()).unwrap();
    let dir = tmp.join("globalconf");
    let mut client = ConfigurationClient::new(ClientSettings::new(&dir)).unwrap();

    let report = client.execute(&anchor, SystemTime::now()).await.unwrap();
    assert_eq!(report.own.version, 6);
    let stored = dir.join("DEV/shared-params.xml");
    let good = std::fs::read(&stored).unwrap();
    assert_eq!(
        good,
        std::fs::read(newest(&www, "shared-params.xml")).unwrap()
    );
    let meta = dir.join("DEV/shared-params.xml.metadata");
    let good_meta = std::fs::read(&meta).unwrap();

    // A part changed on the server (the local copy removed so it must be fetched).
    let part = newest(&www, "shared-params.xml");
    let mut changed = good.clone();
    let at = changed.len() / 2;
    changed[at] ^= 0x20;
    std::fs::write(&part, &changed).unwrap();
    std::fs::remove_file(&stored).unwrap();
    let err = client
        .execute(&anchor, SystemTime::now())
        .await
        .unwrap_err();
    assert_eq!(
        served_code(&err),
        "global_conf_part_downloaded_file_integrity_failure"
    );
    assert!(!stored.exists());
    std::fs::write(&part, &good).unwrap();
    client.execute(&anchor, SystemTime::now()).await.unwrap();
    assert_eq!(std::fs::read(&stored).unwrap(), good);

    // The signature changed.
    let directory = www.join("V6/internalconf");
    let signed = std::fs::read_to_string(&directory).unwrap();
    let body_end = signed.trim_end().rfind("\r\n--").unwrap();
    let mut forged = signed.clone();
    let pos = body_end - 10;
    let replacement = if &forged[pos..=pos] == "A" { "B" } else { "A" };
    forged.replace_range(pos..=pos, replacement);
    std::fs::write(&directory, forged).unwrap();
    let err = client
        .execute(&anchor, SystemTime::now())
        .await
        .unwrap_err();
    assert_eq!(
        served_code(&err),
        "global_conf_signature_verification_failure"
    );

    // The expiry: a properly signed directory that has expired.
    publish(
        &www,
        &key,
        &instance,
        &[6],
        SystemTime::now() - Duration::from_secs(1),
    )
    .unwrap();
    let err = client
        .execute(&anchor, SystemTime::now())
        .await
        .unwrap_err();
    assert_eq!(served_code(&err), "global_conf_outdated");

    // Through all of it the last good configuration stayed.
    assert_eq!(std::fs::read(&stored).unwrap(), good);
    assert_eq!(std::fs::read(&meta).unwrap(), good_meta);
    let conf = GlobalConf::load(&dir).unwrap();
    assert!(conf.verify_validity(SystemTime::now()).is_ok());
    drop(nginx);
}

#[tokio::test]
async fn an_https_source_is_verified_against_the_trust_store() {
    let tmp = TempDir::new("nginx-tls");
    let www = tmp.join("www");
    let key = signing_key(tmp.path(), "cs");
    publish(&www, &key, &model(key.cert_der()), &[6], in_secs(3600)).unwrap();
    // The web server's own TLS certificate, for 127.0.0.1.
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=cs",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            "tls.key",
            "-out",
            "tls.pem",
        ])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nginx = Nginx::start_with(
        tmp.path(),
        &www,
        Some((&tmp.join("tls.pem"), &tmp.join("tls.key"))),
    );
    let url = format!("https://127.0.0.1:{}/internalconf", nginx.port);
    let anchor =
        ConfigurationAnchor::parse(anchor_xml("DEV", &[url], key.cert_der()).as_bytes()).unwrap();
    let tls_der =
        xroad_crypto::Certificate::from_pem_or_der(&std::fs::read(tmp.join("tls.pem")).unwrap())
            .unwrap()
            .der()
            .to_vec();

    // Unknown issuer: refused, as the JVM trust store would.
    let mut settings = ClientSettings::new(tmp.join("gc1"));
    let mut client = ConfigurationClient::new(settings.clone()).unwrap();
    let err = client
        .execute(&anchor, SystemTime::now())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");

    // Trusted: downloaded over HTTPS.
    settings.http.extra_roots = vec![tls_der];
    let mut client = ConfigurationClient::new(settings).unwrap();
    let report = client.execute(&anchor, SystemTime::now()).await.unwrap();
    assert!(report.own.url.starts_with("https://"), "{}", report.own.url);

    // Verification switched off, as Java's global-conf-tls-cert-verification=false.
    let mut settings = ClientSettings::new(tmp.join("gc2"));
    settings.http.tls_cert_verification = false;
    let mut client = ConfigurationClient::new(settings).unwrap();
    client.execute(&anchor, SystemTime::now()).await.unwrap();
    drop(nginx);
}
