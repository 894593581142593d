//! The health check port (5588; Java `HealthCheckPort`, `StoppableCombinationHealthCheckProvider`,
//! `HealthChecks`): any method on any path runs the configured checks in order and answers
//!
//! * `200`, empty body, when all pass;
//! * `500` with the first failure's message and a newline;
//! * `503` "Health check interface is in maintenance mode." while in maintenance mode.
//!
//! Each check runs with a timeout (5 s; "Fetching health check response timed out for:
//! {name}"), and its result, timeouts included, is cached: a pass for 2 s, a failure for 30 s.
//! Checks after the first failure are not run.
//!
//! Not in Java, on this port and on the admin port ([`serve_admin`]):
//!
//! * `GET /health/ready` (or `/ready`): the same checks, answered `200 ready` or `503` with
//!   the failure (or the maintenance message), for orchestrators' readiness probes;
//! * `GET /health/live` (or `/live`): `200 live` whenever the process answers at all. No
//!   dependency is checked: restarting would not fix an expired global configuration;
//! * `GET /metrics`: the node's counters in the Prometheus text format, when the node gives
//!   a renderer.
//!
//! On this port every other request runs the checks as Java's port does; on the admin port
//! it is a `404`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use crate::serve;

/// The answer while in maintenance mode.
pub const MAINTENANCE_MESSAGE: &str = "Health check interface is in maintenance mode.";

/// Names (as they appear in timeout messages) and failure messages of Java's checks, in
/// Java's order: HSM status (only when `proxy.hsm-health-check-enabled`), global
/// configuration validity, authentication key OCSP status, server configuration database,
/// memory usage.
pub mod java {
    /// Name of the HSM check.
    pub const HSM: &str = "Hardware Security Modules status";
    /// Its failure.
    pub const HSM_FAILED: &str = "At least one HSM are non operational";
    /// Name of the global configuration check.
    pub const GLOBAL_CONF: &str = "Global conf validity";
    /// Its failure.
    pub const GLOBAL_CONF_EXPIRED: &str = "Global configuration is expired";
    /// Name of the authentication key check.
    pub const AUTH_KEY_OCSP: &str = "Authentication key OCSP status";
    /// Failure: no authentication key.
    pub const NO_AUTH_KEY: &str = "No authentication key available. Signer might be down.";
    /// Failure: no certificate chain.
    pub const NO_AUTH_CHAIN: &str = "No certificate chain available in authentication key.";
    /// Failure: no end-entity certificate.
    pub const NO_AUTH_CERT: &str = "No end entity certificate available for authentication key.";
    /// Failure: the OCSP response could not be read.
    pub const AUTH_OCSP_FAILED: &str = "Getting OCSP response for authentication key failed.";
    /// Failure: the OCSP response status (`OCSPResp#getStatus`, 0 = successful) is not 0.
    pub fn auth_ocsp_status(status: u8) -> String {
        format!("Authentication key OCSP response status {status}")
    }
    /// Name of the server configuration check.
    pub const SERVER_CONF: &str = "Server conf database status";
    /// Failure: not available.
    pub const SERVER_CONF_UNAVAILABLE: &str = "ServerConf is not available";
    /// Failure: the database did not answer.
    pub const SERVER_CONF_DB: &str = "Server Conf database did not respond as expected";
    /// Name of the memory check.
    pub const MEMORY: &str = "Proxy memory usage status";
    /// Its failure.
    pub const MEMORY_ABOVE_THRESHOLD: &str = "Memory usage above threshold";
}

/// What a check says: `Err(message)` is a failure reported as the response body.
pub type CheckResult = Result<(), String>;

type AsyncCheck =
    dyn Fn() -> Pin<Box<dyn Future<Output = CheckResult> + Send>> + Send + Sync + 'static;
type BlockingCheck = dyn Fn() -> CheckResult + Send + Sync + 'static;

enum Runner {
    /// Run on the blocking thread pool: it may block (e.g. a database driver call).
    Blocking(Arc<BlockingCheck>),
    Async(Box<AsyncCheck>),
}

struct Check {
    name: String,
    runner: Runner,
    /// The last result and when it was computed; the lock also makes concurrent requests
    /// wait for one evaluation rather than start several.
    cached: Mutex<Option<(Instant, CheckResult)>>,
}

/// The checks behind the health check port, with their timing and the maintenance flag.
pub struct HealthChecks {
    checks: Vec<Check>,
    timeout: Duration,
    ok_ttl: Duration,
    error_ttl: Duration,
    maintenance: AtomicBool,
    metrics: Option<MetricsRenderer>,
}

/// Renders the node's counters in the Prometheus text format (`GET /metrics`).
pub type MetricsRenderer = Box<dyn Fn() -> String + Send + Sync>;

impl Default for HealthChecks {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for HealthChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthChecks")
            .field(
                "checks",
                &self.checks.iter().map(|c| &c.name).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("maintenance", &self.is_maintenance_mode())
            .finish_non_exhaustive()
    }
}

impl HealthChecks {
    /// No checks yet; Java's timing (5 s timeout, passes cached 2 s, failures 30 s).
    pub fn new() -> Self {
        HealthChecks {
            checks: Vec::new(),
            timeout: Duration::from_secs(5),
            ok_ttl: Duration::from_secs(2),
            error_ttl: Duration::from_secs(30),
            maintenance: AtomicBool::new(false),
            metrics: None,
        }
    }

    /// Serves `GET /metrics` with what `render` returns.
    pub fn with_metrics(mut self, render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.metrics = Some(Box::new(render));
        self
    }

    /// Replaces the timeout per check and how long passes and failures are cached.
    pub fn with_timing(mut self, timeout: Duration, ok_ttl: Duration, error_ttl: Duration) -> Self {
        self.timeout = timeout;
        self.ok_ttl = ok_ttl;
        self.error_ttl = error_ttl;
        self
    }

    /// Appends a check that may block; it runs on the blocking thread pool.
    pub fn check(
        mut self,
        name: impl Into<String>,
        check: impl Fn() -> CheckResult + Send + Sync + 'static,
    ) -> Self {
        self.push(name.into(), Runner::Blocking(Arc::new(check)));
        self
    }

    /// Appends an asynchronous check (e.g. a question to the signer).
    pub fn check_async<F, Fut>(mut self, name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = CheckResult> + Send + 'static,
    {
        self.push(
            name.into(),
            Runner::Async(Box::new(move || Box::pin(check()))),
        );
        self
    }

    fn push(&mut self, name: String, runner: Runner) {
        self.checks.push(Check {
            name,
            runner,
            cached: Mutex::new(None),
        });
    }

    /// Sets maintenance mode and says what changed, as Java's admin port answers:
    /// `Maintenance mode set: false => true`.
    pub fn set_maintenance_mode(&self, on: bool) -> String {
        let old = self.maintenance.swap(on, Ordering::SeqCst);
        format!("Maintenance mode set: {old} => {on}")
    }

    /// Whether the port answers 503.
    pub fn is_maintenance_mode(&self) -> bool {
        self.maintenance.load(Ordering::SeqCst)
    }

    /// Runs the checks in order (cached results where still valid) and returns the first
    /// failure.
    pub async fn run(&self) -> CheckResult {
        for check in &self.checks {
            self.run_one(check).await?;
        }
        Ok(())
    }

    async fn run_one(&self, check: &Check) -> CheckResult {
        let mut cached = check.cached.lock().await;
        if let Some((at, result)) = cached.as_ref() {
            let ttl = if result.is_ok() {
                self.ok_ttl
            } else {
                self.error_ttl
            };
            if at.elapsed() < ttl {
                return result.clone();
            }
        }
        let result = self.evaluate(check).await;
        *cached = Some((Instant::now(), result.clone()));
        result
    }

    async fn evaluate(&self, check: &Check) -> CheckResult {
        // Spawned, so that a panicking check is a failed check and not a dead connection.
        let task = match &check.runner {
            Runner::Blocking(f) => {
                let f = f.clone();
                tokio::task::spawn_blocking(move || f())
            }
            Runner::Async(f) => tokio::spawn(f()),
        };
        let abort = task.abort_handle();
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(format!(
                "Fetching health check response failed for: {}",
                check.name
            )),
            Err(_) => {
                abort.abort();
                Err(format!(
                    "Fetching health check response timed out for: {}",
                    check.name
                ))
            }
        }
    }
}

/// Serves the health check on `listener` until `shutdown` completes.
pub async fn serve_health(
    listener: TcpListener,
    checks: Arc<HealthChecks>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_port(listener, checks, Port::Health, shutdown).await
}

/// Serves the admin port (readiness, liveness, metrics; nothing else) on `listener` until
/// `shutdown` completes.
pub async fn serve_admin(
    listener: TcpListener,
    checks: Arc<HealthChecks>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_port(listener, checks, Port::Admin, shutdown).await
}

/// Which listener a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    Health,
    Admin,
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Ready,
    Live,
    Metrics,
    Other,
}

fn route(req: &hyper::Request<hyper::body::Incoming>) -> Route {
    if req.method() != hyper::Method::GET {
        return Route::Other;
    }
    match req.uri().path() {
        "/health/ready" | "/ready" => Route::Ready,
        "/health/live" | "/live" => Route::Live,
        "/metrics" => Route::Metrics,
        _ => Route::Other,
    }
}

async fn serve_port(
    listener: TcpListener,
    checks: Arc<HealthChecks>,
    port: Port,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve::serve(
        listener,
        move |req: hyper::Request<hyper::body::Incoming>| {
            let checks = checks.clone();
            let route = route(&req);
            async move { answer(&checks, port, route).await }
        },
        shutdown,
    )
    .await
}

async fn answer(checks: &HealthChecks, port: Port, route: Route) -> hyper::Response<serve::Body> {
    match (route, &checks.metrics, port) {
        (Route::Ready, _, _) => ready(checks).await,
        (Route::Live, _, _) => serve::text(StatusCode::OK, "live\n"),
        (Route::Metrics, Some(render), _) => metrics_response(render()),
        (_, _, Port::Health) => respond(checks).await,
        (_, _, Port::Admin) => serve::text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Readiness: Java's checks, a failure (or maintenance) being `503` with its message.
async fn ready(checks: &HealthChecks) -> hyper::Response<serve::Body> {
    if checks.is_maintenance_mode() {
        return serve::text(StatusCode::SERVICE_UNAVAILABLE, MAINTENANCE_MESSAGE);
    }
    match checks.run().await {
        Ok(()) => serve::text(StatusCode::OK, "ready\n"),
        Err(message) => serve::text(StatusCode::SERVICE_UNAVAILABLE, format!("{message}\n")),
    }
}

fn metrics_response(text: String) -> hyper::Response<serve::Body> {
    let mut r = serve::text(StatusCode::OK, text);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

async fn respond(checks: &HealthChecks) -> hyper::Response<serve::Body> {
    if checks.is_maintenance_mode() {
        return serve::text(StatusCode::SERVICE_UNAVAILABLE, MAINTENANCE_MESSAGE);
    }
    match checks.run().await {
        Ok(()) => serve::text(StatusCode::OK, Bytes::new()),
        Err(message) => serve::text(StatusCode::INTERNAL_SERVER_ERROR, format!("{message}\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counter() -> (Arc<AtomicUsize>, impl Fn() -> usize) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        (n, move || m.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn first_failure_wins_and_later_checks_do_not_run() {
        let (n, runs) = counter();
        let checks = HealthChecks::new()
            .check("a", || Ok(()))
            .check("b", || Err("b is broken".into()))
            .check("c", move || {
                n.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
        assert_eq!(checks.run().await, Err("b is broken".into()));
        assert_eq!(runs(), 0);
    }

    #[tokio::test]
    async fn results_are_cached_passes_briefly_failures_longer() {
        let (n, runs) = counter();
        let fail = Arc::new(AtomicBool::new(false));
        let f = fail.clone();
        let checks = HealthChecks::new()
            .with_timing(
                Duration::from_secs(5),
                Duration::from_millis(100),
                Duration::from_secs(60),
            )
            .check_async("x", move || {
                n.fetch_add(1, Ordering::SeqCst);
                let failing = f.load(Ordering::SeqCst);
                async move {
                    if failing {
                        Err("down".into())
                    } else {
                        Ok(())
                    }
                }
            });
        assert_eq!(checks.run().await, Ok(()));
        assert_eq!(checks.run().await, Ok(()));
        assert_eq!(runs(), 1, "a pass is cached");
        fail.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(checks.run().await, Err("down".into()));
        fail.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            checks.run().await,
            Err("down".into()),
            "a failure is cached longer"
        );
        assert_eq!(runs(), 2);
    }

    #[tokio::test]
    async fn timeouts_and_panics_are_failures_named_like_java() {
        let checks = HealthChecks::new()
            .with_timing(Duration::from_millis(50), Duration::ZERO, Duration::ZERO)
            .check_async("Slow", || async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(())
            });
        assert_eq!(
            checks.run().await,
            Err("Fetching health check response timed out for: Slow".into())
        );
        #[allow(clippy::panic)]
        let checks = HealthChecks::new().check("Broken", || panic!("boom"));
        assert_eq!(
            checks.run().await,
            Err("Fetching health check response failed for: Broken".into())
        );
    }

    #[test]
    fn maintenance_transitions_as_java_reports_them() {
        let checks = HealthChecks::new();
        assert_eq!(
            checks.set_maintenance_mode(true),
            "Maintenance mode set: false => true"
        );
        assert!(checks.is_maintenance_mode());
        assert_eq!(
            checks.set_maintenance_mode(false),
            "Maintenance mode set: true => false"
        );
    }
}
