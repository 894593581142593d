//! The container image (`docker/Dockerfile`), built with podman and run as operators run it:
//! non-root, read-only root file system, state in a volume, configuration mounted. It becomes
//! ready, answers a signed exchange with a security server running outside the container,
//! and stops cleanly on SIGTERM.
//!
//! The image comes from `XROAD_IMAGE` (an image name) or is built here from the Dockerfile
//! when `XROAD_BUILD_IMAGE=1`; otherwise the test says it is skipped. `XROAD_REQUIRE_IMAGE=1`
//! (set by `.ci/run`) turns a missing podman into a failure instead.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{ChildGuard, Demo, BIN};

/// The image's size limit (the target), uncompressed.
const MAX_IMAGE_BYTES: u64 = 30_000_000;
/// The uid and gid the image runs as.
const IMAGE_USER: &str = "10001:10001";

fn env_is(name: &str, value: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == value)
}

fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("podman {args:?}: {e}"))
}

fn podman_ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The image under test (built at most once per run), or `None` (with the reason printed)
/// when this machine cannot or should not build one.
fn image() -> Option<String> {
    static IMAGE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    IMAGE.get_or_init(find_or_build_image).clone()
}

fn find_or_build_image() -> Option<String> {
    if let Ok(name) = std::env::var("XROAD_IMAGE") {
        return Some(name);
    }
    let required = env_is("XROAD_REQUIRE_IMAGE", "1");
    let have_podman = Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_podman {
        assert!(
            !required,
            "XROAD_REQUIRE_IMAGE=1 but podman is not installed"
        );
        eprintln!("skipped: podman is not installed");
        return None;
    }
    if !required && !env_is("XROAD_BUILD_IMAGE", "1") {
        eprintln!("skipped: set XROAD_BUILD_IMAGE=1 (or XROAD_IMAGE=NAME) to test the image");
        return None;
    }
    let name = "localhost/xroad-sidecar:test";
    let root = repo_root();
    let base = Command::new(root.join("docker/base-image.sh"))
        .status()
        .expect("docker/base-image.sh");
    assert!(base.success(), "docker/base-image.sh failed");
    let started = Instant::now();
    let status = Command::new("podman")
        .args(["build", "-q", "-f", "docker/Dockerfile", "-t", name, "."])
        .current_dir(&root)
        .stdin(Stdio::null())
        .status()
        .expect("podman build");
    assert!(status.success(), "podman build of docker/Dockerfile failed");
    eprintln!("built {name} in {:.0} s", started.elapsed().as_secs_f64());
    Some(name.to_owned())
}

/// Polls an HTTP health endpoint every 5 ms until it answers 200; the time it took, or
/// `None` after `limit`.
fn wait_healthy(addr: &str, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if http_status(addr, "/").is_some_and(|s| s == 200) {
            return Some(started.elapsed());
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// [`wait_healthy`] for the container `name`, failing with its log.
fn wait_container(addr: &str, name: &str) -> Duration {
    wait_healthy(addr, Duration::from_secs(60)).unwrap_or_else(|| {
        let logs = podman(&["logs", name]);
        panic!(
            "the container {name} was not ready within 60 s; its log:\n{}{}",
            String::from_utf8_lossy(&logs.stdout),
            String::from_utf8_lossy(&logs.stderr)
        )
    })
}

/// The status code of a `GET path` to `addr`, or `None` when nothing answers.
fn http_status(addr: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// A container, removed (by name) when dropped.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", "-t", "5", &self.0]);
    }
}

/// The provider's folder becomes the container's state volume, its configuration is rewritten
/// for the container's paths and mounted read-only as `/etc/xroad/sidecar.yaml`.
fn container_config(node_dir: &Path, scratch: &Path) -> PathBuf {
    let text = std::fs::read_to_string(node_dir.join("sidecar.yaml")).unwrap();
    let text = text.replace(&node_dir.display().to_string(), "/var/lib/xroad");
    let path = scratch.join("container-sidecar.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Gives the state volume to the image's user, as an operator does for a bind mount.
fn give_to_image_user(dir: &Path) {
    let status = Command::new("chown")
        .args(["-R", IMAGE_USER])
        .arg(dir)
        .status()
        .expect("chown");
    assert!(status.success(), "chown -R {IMAGE_USER} {}", dir.display());
}

fn status_field(pid: &str, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_owned()))
        .unwrap_or_default()
}

#[test]
fn the_image_runs_a_security_server_that_exchanges_signed_messages() {
    let Some(image) = image() else { return };

    // The image: small, non-root, the product's ports.
    let size: u64 = podman_ok(&["image", "inspect", "-f", "{{.Size}}", &image])
        .parse()
        .expect("image size");
    eprintln!("image size: {:.1} MB", size as f64 / 1e6);
    assert!(size <= MAX_IMAGE_BYTES, "the image is {size} bytes");
    assert_eq!(
        podman_ok(&["image", "inspect", "-f", "{{.Config.User}}", &image]),
        IMAGE_USER
    );
    let ports = podman_ok(&["image", "inspect", "-f", "{{.Config.ExposedPorts}}", &image]);
    for port in ["8080", "8443", "5500", "5577", "5588", "9090"] {
        assert!(ports.contains(port), "port {port} not exposed: {ports}");
    }

    // A demo network whose provider security server runs in the container and whose
    // consumer runs as a process here; both on loopback (the container shares the host's
    // network, as the published same-number ports of X-Road require).
    let demo = Demo::start_with(&["--external-nodes"], None, &[]);
    let provider = demo.node("provider").clone();
    let consumer = demo.node("consumer").clone();
    let node_dir = provider.config.parent().expect("node folder").to_path_buf();
    let config = container_config(&node_dir, &demo.scratch());
    give_to_image_user(&node_dir);

    let name = format!("xroad-image-test-{}", std::process::id());
    let volume = format!("{}:/var/lib/xroad", node_dir.display());
    let config_mount = format!("{}:/etc/xroad/sidecar.yaml:ro", config.display());
    podman_ok(&[
        "create",
        "--name",
        &name,
        "--network",
        "host",
        "--read-only",
        "-v",
        &volume,
        "-v",
        &config_mount,
        "-e",
        "XROAD_LOG_FORMAT=json",
        &image,
        "run",
        "-c",
        "/etc/xroad/sidecar.yaml",
    ]);
    let container = Container(name.clone());
    let started = Instant::now();
    podman_ok(&["start", &name]);
    let ready = wait_container(&provider.health_check, &name);
    eprintln!(
        "provider in the container ready {} ms after `podman start` (the first start downloads the global configuration; {} ms in all)",
        ready.as_millis(),
        started.elapsed().as_millis()
    );
    let pid = podman_ok(&["inspect", "-f", "{{.State.Pid}}", &name]);
    let uid = status_field(&pid, "Uid:");
    assert!(uid.starts_with("10001"), "the server runs as uid {uid}");

    let mut consumer_process = ChildGuard::spawn(
        "consumer",
        Command::new(BIN)
            .args(["run", "-c"])
            .arg(&consumer.config)
            .env("XROAD_LOG_LEVEL", "warn")
            .stdout(Stdio::null()),
    );
    assert!(
        wait_healthy(&consumer.health_check, Duration::from_secs(60)).is_some(),
        "the consumer was not ready within 60 s"
    );

    // A REST call and a SOAP call from the consumer's information system to the provider's
    // services: each is signed by one server and verified by the other.
    let rest = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-w", "\n%{http_code}", "-H"])
        .arg(format!("X-Road-Client: {}", consumer.subsystem()))
        .arg(format!(
            "http://{}/r1/{}/petstore/pets",
            consumer.client_http,
            provider.subsystem()
        ))
        .output()
        .expect("curl");
    let rest = String::from_utf8_lossy(&rest.stdout).into_owned();
    assert!(
        rest.ends_with("\n200"),
        "REST through the container: {rest}"
    );

    let metrics = http_status(&provider.health_check, "/metrics");
    assert_eq!(metrics, Some(200), "the provider's /metrics");
    let idle_kb = status_field(&pid, "VmRSS:");
    eprintln!("provider RSS in the container after the exchange: {idle_kb}");

    // SIGTERM (the image's stop signal): the server drains and exits 0.
    let stopping = Instant::now();
    podman_ok(&["stop", "-t", "30", &name]);
    eprintln!("stopped in {} ms", stopping.elapsed().as_millis());
    let code = podman_ok(&["inspect", "-f", "{{.State.ExitCode}}", &name]);
    let logs = podman(&["logs", &name]);
    let logs =
        String::from_utf8_lossy(&logs.stderr).into_owned() + &String::from_utf8_lossy(&logs.stdout);
    assert_eq!(code, "0", "exit code after SIGTERM; logs:\n{logs}");
    assert!(
        logs.lines()
            .any(|l| l.starts_with('{') && l.contains("\"message\":\"stopping\"")),
        "JSON log lines with the stop: {logs}"
    );

    // A restart finds the global configuration it stored in the volume.
    let restarted = Instant::now();
    podman_ok(&["start", &name]);
    let ready = wait_container(&provider.health_check, &name);
    eprintln!(
        "restarted provider ready {} ms after `podman start` with its stored global configuration ({} ms in all)",
        ready.as_millis(),
        restarted.elapsed().as_millis()
    );
    podman_ok(&["stop", "-t", "30", &name]);
    drop(container);
    consumer_process.stop(Duration::from_secs(10));
}

/// The libraries `module` needs beyond those the image has (glibc and libgcc), as ldd
/// resolves them here.
fn module_dependencies(module: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(module).output().expect("ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split("=>")
                .nth(1)?
                .split_whitespace()
                .next()
                .map(PathBuf::from)
        })
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !["libc.so", "libm.so", "libgcc_s.so", "ld-linux"]
                .iter()
                .any(|base| name.starts_with(base))
        })
        .collect()
}

#[test]
fn a_pkcs11_module_mounted_into_the_image_is_loaded() {
    let Some(image) = image() else { return };
    let module = PathBuf::from("/usr/lib/softhsm/libsofthsm2.so");
    if !module.is_file() {
        assert!(
            !env_is("XROAD_REQUIRE_IMAGE", "1"),
            "SoftHSM2 (package softhsm2) is needed"
        );
        eprintln!("skipped: SoftHSM2 is not installed");
        return;
    }
    // The module and what it links to (OpenSSL, libstdc++) go to /opt/pkcs11, the image's
    // library path; a SoftHSM token is initialised here and handed to the image's user.
    let dir = tempfile::tempdir().unwrap();
    let libs = dir.path().join("pkcs11");
    let hsm = dir.path().join("hsm");
    std::fs::create_dir_all(&libs).unwrap();
    std::fs::create_dir_all(hsm.join("tokens")).unwrap();
    std::fs::create_dir_all(hsm.join("signer")).unwrap();
    for lib in std::iter::once(module.clone()).chain(module_dependencies(&module)) {
        std::fs::copy(&lib, libs.join(lib.file_name().unwrap())).unwrap();
    }
    let conf = hsm.join("softhsm2.conf");
    std::fs::write(
        &conf,
        "directories.tokendir = /hsm/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
    )
    .unwrap();
    let host_conf = hsm.join("host-softhsm2.conf");
    std::fs::write(
        &host_conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            hsm.join("tokens").display()
        ),
    )
    .unwrap();
    let init = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "image-test"])
        .args(["--pin", "1234", "--so-pin", "5678"])
        .env("SOFTHSM2_CONF", &host_conf)
        .output()
        .expect("softhsm2-util");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    std::fs::write(
        hsm.join("devices.ini"),
        "[softhsm]\nlibrary = /opt/pkcs11/libsofthsm2.so\n",
    )
    .unwrap();
    give_to_image_user(&hsm);

    let libs_mount = format!("{}:/opt/pkcs11:ro", libs.display());
    let hsm_mount = format!("{}:/hsm", hsm.display());
    let status = podman_ok(&[
        "run",
        "--rm",
        "--read-only",
        "--network",
        "none",
        "-v",
        &libs_mount,
        "-v",
        &hsm_mount,
        "-e",
        "SOFTHSM2_CONF=/hsm/softhsm2.conf",
        &image,
        "token",
        "status",
        "--signer-dir",
        "/hsm/signer",
        "--devices-ini",
        "/hsm/devices.ini",
    ]);
    assert!(
        status
            .lines()
            .any(|l| l.contains("image-test") && l.contains("initialized")),
        "the SoftHSM token seen from the image: {status}"
    );
}
