//! Shared helpers of the black-box tests that run a demo network (`xroad-sidecar demo`) and
//! real peers (openssl, Python) beside it: processes are killed by PID when their guard drops
//! (also on panic), every wait is bounded, every address is on 127.0.0.1.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_xroad-sidecar");

/// A child process killed (SIGTERM, then SIGKILL after a grace period) when dropped.
pub struct ChildGuard {
    pub child: Child,
    pub name: String,
}

impl ChildGuard {
    pub fn spawn(name: &str, cmd: &mut Command) -> ChildGuard {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        ChildGuard {
            child,
            name: name.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (reaping it).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM, then waits up to `grace` and SIGKILLs; the exit status if it exited by itself.
    pub fn stop(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        if let Some(s) = self.exited() {
            return Some(s);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// One security server of a running demo network, from `network.json`.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub server_id: String,
    pub address: String,
    pub client_http: String,
    pub server: String,
    pub ocsp_responder: String,
    pub health_check: String,
    pub clients: Vec<String>,
    pub config: PathBuf,
}

impl NodeInfo {
    /// The first subsystem the node hosts (`INSTANCE/CLASS/CODE/SUBSYSTEM`).
    pub fn subsystem(&self) -> &str {
        self.clients
            .iter()
            .find(|c| c.matches('/').count() == 3)
            .unwrap_or_else(|| panic!("{} hosts no subsystem", self.name))
    }
}

/// A running `xroad-sidecar demo --no-requests` in a temporary state folder; stopped and the
/// folder removed when dropped.
pub struct Demo {
    /// Declared before `dir` so that the process stops before its folder goes.
    pub process: ChildGuard,
    pub dir: tempfile::TempDir,
    pub network: serde_json::Value,
    pub nodes: Vec<NodeInfo>,
}

impl Demo {
    /// Starts the default network, or the one `topology` (YAML text) describes, with `env`
    /// added to the process's environment; waits (at most 180 s) for `network.json`.
    pub fn start(topology: Option<&str>, env: &[(&str, &str)]) -> Demo {
        Self::start_with(&["--no-requests"], topology, env)
    }

    /// [`Demo::start`] with other `demo` options, e.g. `--external-nodes`.
    pub fn start_with(args: &[&str], topology: Option<&str>, env: &[(&str, &str)]) -> Demo {
        let dir = tempfile::Builder::new()
            .prefix("xroad-blackbox-")
            .tempdir()
            .unwrap();
        let state = dir.path().join("state");
        let mut cmd = Command::new(BIN);
        cmd.arg("demo")
            .args(args)
            .arg("--state-dir")
            .arg(&state)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(t) = topology {
            let path = dir.path().join("topology.yaml");
            std::fs::write(&path, t).unwrap();
            cmd.arg("--topology").arg(path);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut process = ChildGuard::spawn("xroad-sidecar demo", &mut cmd);
        let json = state.join("network.json");
        let deadline = Instant::now() + Duration::from_secs(180);
        while !json.is_file() {
            if let Some(status) = process.exited() {
                let mut err = String::new();
                if let Some(mut e) = process.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("the demo exited before it was ready ({status}): {err}");
            }
            assert!(
                Instant::now() < deadline,
                "the demo network was not up within 180 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Drain stderr in the background so that the demo never blocks on a full pipe.
        if let Some(mut e) = process.child.stderr.take() {
            std::thread::spawn(move || {
                let mut sink = Vec::new();
                let _ = e.read_to_end(&mut sink);
            });
        }
        let network: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let nodes = network["nodes"]
            .as_array()
            .expect("network.json: nodes")
            .iter()
            .map(|n| NodeInfo {
                name: s(n, "name"),
                server_id: s(n, "server_id"),
                address: s(n, "address"),
                client_http: s(n, "client_http"),
                server: s(n, "server"),
                ocsp_responder: s(n, "ocsp_responder"),
                health_check: s(n, "health_check"),
                clients: n["clients"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|c| c.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                config: PathBuf::from(s(n, "config")),
            })
            .collect();
        Demo {
            process,
            dir,
            network,
            nodes,
        }
    }

    /// The network's state folder (`--state-dir`).
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A scratch folder beside the state folder, removed with it.
    pub fn scratch(&self) -> PathBuf {
        let p = self.dir.path().join("scratch");
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    pub fn node(&self, name: &str) -> &NodeInfo {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name} in network.json"))
    }

    pub fn instance(&self) -> String {
        self.network["instance"].as_str().unwrap().to_owned()
    }

    pub fn sample(&self, key: &str) -> String {
        self.network["samples"][key]
            .as_str()
            .unwrap_or_else(|| panic!("network.json: samples.{key}"))
            .to_owned()
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

/// `VmHWM` (peak resident set) of a process, in kB.
pub fn peak_rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmHWM:")
}

/// `VmRSS` (current resident set) of a process, in kB.
pub fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:")
}

fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("/proc/{pid}/status has no {field}"))
}

/// Files (not folders) under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A free port on 127.0.0.1 (bound and released: another process could take it meanwhile,
/// which loopback tests accept).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `openssl` with `args`, panicking with its output when it fails.
pub fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl is needed (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of `key` in a node configuration file (`key: value`, any indentation).
pub fn config_value(config: &Path, key: &str) -> String {
    std::fs::read_to_string(config)
        .unwrap()
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix(&format!("{key}: "))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("{key} not in {}", config.display()))
}

/// Whether the health check at `addr` answers 200.
pub fn healthy(addr: &str) -> bool {
    use std::io::Write;
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && &head[9..12] == b"200"
}

/// `xroad-sidecar run -c config` (a node of a `demo --external-nodes` network), once its
/// health check passes (at most 60 s). Its log goes to a file beside `config`, shown if the
/// node exits while starting.
pub fn run_node(name: &str, config: &Path) -> ChildGuard {
    let log = config.with_extension(format!("{}.log", name.replace(' ', "-")));
    let mut node = ChildGuard::spawn(
        name,
        Command::new(BIN)
            .args(["run", "-c"])
            .arg(config)
            .env("XROAD_LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("node log file")),
    );
    let health = config_value(config, "health-check");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !healthy(&health) {
        assert!(
            node.exited().is_none(),
            "{name} exited while starting: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(Instant::now() < deadline, "{name} not ready within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    node
}
