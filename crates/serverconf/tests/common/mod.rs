//! Test databases: a fresh SQLite file, or a fresh database on one PostgreSQL server per test
//! binary (started here on loopback unless `XROAD_TEST_DATABASE_URL` names one).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::Connection;

#[path = "pg_server.rs"]
mod pg_server;
use pg_server::{start_pg, PgServer};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One test database; the SQLite file is removed when dropped.
pub struct TestDb {
    pub url: String,
    _dir: Option<TempDir>,
}

pub fn sqlite() -> TestDb {
    let dir = TempDir::new("xroad-serverconf-test");
    let url = format!("sqlite://{}", dir.path().join("serverconf.db").display());
    TestDb {
        url,
        _dir: Some(dir),
    }
}

static PG: OnceLock<Result<PgServer, String>> = OnceLock::new();

/// A fresh database on the shared PostgreSQL server. Fails the test (never skips it) when
/// PostgreSQL is not available.
pub async fn postgres() -> TestDb {
    let server = match PG.get_or_init(start_pg) {
        Ok(s) => s,
        Err(e) => panic!("PostgreSQL tests need a server: {e}"),
    };
    let name = format!(
        "serverconf_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    // The server may still be finishing its start-up: retry for a while.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conn = loop {
        match sqlx::PgConnection::connect(&server.admin_url).await {
            Ok(c) => break c,
            Err(e) if Instant::now() > deadline => panic!("connect to PostgreSQL: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let _ = conn.close().await;
    let base = server
        .admin_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or_default();
    TestDb {
        url: format!("{base}/{name}"),
        _dir: None,
    }
}

/// Defines each listed `async fn NAME(db: TestDb)` as a test against SQLite and against
/// PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::sqlite()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::postgres().await).await
                }
            )*
        }
    };
}
