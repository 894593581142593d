//! A PostgreSQL server for tests: one per test binary, started on loopback from the
//! installed `initdb` and `postgres` (as the `postgres` user when run as root), stopped and
//! removed by a watchdog once the test process has gone. Shared by the serverconf tests and
//! the binary's cluster test (included with `#[path]`), so it needs nothing but std.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A running server.
pub struct PgServer {
    /// URL of the maintenance database, used to create one database per test.
    pub admin_url: String,
}

fn find_pg_bin(name: &str) -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    versions.sort();
    if let Some(p) = versions.pop() {
        return Some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.exists())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command run as the `postgres` user when we are root (PostgreSQL refuses root).
fn pg_command(bin: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

/// Starts the server, or uses `XROAD_TEST_DATABASE_URL` when it names one.
pub fn start_pg() -> Result<PgServer, String> {
    if let Ok(url) = std::env::var("XROAD_TEST_DATABASE_URL") {
        return Ok(PgServer { admin_url: url });
    }
    let missing = |name: &str| {
        format!(
            "PostgreSQL binary '{name}' not found (looked in /usr/lib/postgresql/*/bin and PATH); \
             install the postgresql package or set XROAD_TEST_DATABASE_URL"
        )
    };
    let initdb = find_pg_bin("initdb").ok_or_else(|| missing("initdb"))?;
    let postgres = find_pg_bin("postgres").ok_or_else(|| missing("postgres"))?;
    let root = is_root();
    // Kept outside TempDir: the watchdog below removes it after this process ends.
    let dir = std::env::temp_dir().join(format!("xroad-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    if root {
        let ok = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err(format!("cannot chown {} to postgres", dir.display()));
        }
    }
    let data = dir.join("data");
    let out = pg_command(&initdb, root)
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("run initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("find a free port: {e}"))?;
    let log = std::fs::File::create(dir.join("postgres.log")).map_err(|e| e.to_string())?;
    pg_command(&postgres, root)
        .arg("-D")
        .arg(&data)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
        .arg(&dir)
        .args([
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("start postgres: {e}"))?;
    // The server outlives no test binary: a watchdog stops it (immediate shutdown) and
    // removes its files once this process has gone, whether the tests passed or panicked.
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         if [ -f '{d}/data/postmaster.pid' ]; then kill -QUIT $(head -1 '{d}/data/postmaster.pid') 2>/dev/null; fi; \
         sleep 2; rm -rf '{d}'",
        pid = std::process::id(),
        d = dir.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("start watchdog: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
            return Err(format!("postgres did not start within 30 s: {log}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(PgServer {
        admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
    })
}
