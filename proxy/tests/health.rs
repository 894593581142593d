//! The health check port on a real listener: passing and failing checks, maintenance mode,
//! any method and path; readiness, liveness and metrics there and on the admin port.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use xroad_proxy::{health_checks, serve_admin, serve_health, HealthChecks, MAINTENANCE_MESSAGE};

const STEP: Duration = Duration::from_secs(10);

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {STEP:?}"))
}

async fn start(checks: Arc<HealthChecks>) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_health(listener, checks, async {
        let _ = rx.await;
    }));
    (port, tx)
}

async fn start_admin(checks: Arc<HealthChecks>) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_admin(listener, checks, async {
        let _ = rx.await;
    }));
    (port, tx)
}

/// Checks whose global configuration check follows `ok`, uncached, with a metrics renderer.
fn switchable(ok: Arc<AtomicBool>) -> Arc<HealthChecks> {
    Arc::new(
        HealthChecks::new()
            .with_timing(Duration::from_secs(5), Duration::ZERO, Duration::ZERO)
            .check(health_checks::GLOBAL_CONF, move || {
                if ok.load(Ordering::SeqCst) {
                    Ok(())
                } else {
                    Err(health_checks::GLOBAL_CONF_EXPIRED.into())
                }
            })
            .with_metrics(|| "xroad_up 1\n".to_owned()),
    )
}

/// Status code and body of one request.
async fn ask(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut s = bounded("connect", TcpStream::connect(("127.0.0.1", port)))
        .await
        .unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    bounded("response", s.read_to_string(&mut out))
        .await
        .unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, body.to_owned())
}

#[tokio::test]
async fn passing_failing_and_maintenance() {
    let global_conf_ok = Arc::new(AtomicBool::new(true));
    let g = global_conf_ok.clone();
    let checks = Arc::new(
        HealthChecks::new()
            // No caching, so that each request sees the current state.
            .with_timing(Duration::from_secs(5), Duration::ZERO, Duration::ZERO)
            .check(health_checks::GLOBAL_CONF, move || {
                if g.load(Ordering::SeqCst) {
                    Ok(())
                } else {
                    Err(health_checks::GLOBAL_CONF_EXPIRED.into())
                }
            })
            .check_async(health_checks::AUTH_KEY_OCSP, || async { Ok(()) }),
    );
    let (port, stop) = start(checks.clone()).await;

    assert_eq!(ask(port, "GET", "/").await, (200, String::new()));
    assert_eq!(
        ask(port, "POST", "/any/path?x=1").await,
        (200, String::new())
    );

    global_conf_ok.store(false, Ordering::SeqCst);
    assert_eq!(
        ask(port, "GET", "/").await,
        (500, "Global configuration is expired\n".to_owned())
    );

    checks.set_maintenance_mode(true);
    assert_eq!(
        ask(port, "DELETE", "/health").await,
        (503, MAINTENANCE_MESSAGE.to_owned())
    );
    checks.set_maintenance_mode(false);
    global_conf_ok.store(true, Ordering::SeqCst);
    assert_eq!(ask(port, "GET", "/").await.0, 200);
    let _ = stop.send(());
}

#[tokio::test]
async fn a_hanging_check_times_out_and_the_failure_is_cached() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let checks = Arc::new(
        HealthChecks::new()
            .with_timing(
                Duration::from_millis(200),
                Duration::from_secs(2),
                Duration::from_secs(30),
            )
            .check_async(health_checks::SERVER_CONF, move || {
                r.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(())
                }
            }),
    );
    let (port, stop) = start(checks).await;
    let expected = (
        500,
        "Fetching health check response timed out for: Server conf database status\n".to_owned(),
    );
    assert_eq!(ask(port, "GET", "/").await, expected);
    // Cached: the check is not run again.
    assert_eq!(ask(port, "GET", "/").await, expected);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let _ = stop.send(());
}

/// `GET /metrics` answers the renderer's text even while a check fails; other requests to
/// that path, and every path without a renderer, still run the checks.
#[tokio::test]
async fn metrics_are_served_beside_the_checks() {
    let checks = Arc::new(
        HealthChecks::new()
            .with_timing(Duration::from_secs(5), Duration::ZERO, Duration::ZERO)
            .check(health_checks::GLOBAL_CONF, || {
                Err(health_checks::GLOBAL_CONF_EXPIRED.into())
            })
            .with_metrics(|| "xroad_signer_batches_total 3\n".to_owned()),
    );
    let (port, stop) = start(checks).await;
    assert_eq!(
        ask(port, "GET", "/metrics").await,
        (200, "xroad_signer_batches_total 3\n".to_owned())
    );
    assert_eq!(ask(port, "POST", "/metrics").await.0, 500);
    assert_eq!(ask(port, "GET", "/").await.0, 500);
    let _ = stop.send(());

    let plain = Arc::new(HealthChecks::new().check(health_checks::GLOBAL_CONF, || Ok(())));
    let (port, stop) = start(plain).await;
    assert_eq!(ask(port, "GET", "/metrics").await, (200, String::new()));
    let _ = stop.send(());
}

/// Readiness runs the checks (503 with the failure), liveness never does; both ports answer
/// them, and `/metrics`.
#[tokio::test]
async fn readiness_and_liveness_on_both_ports() {
    let ok = Arc::new(AtomicBool::new(true));
    let checks = switchable(ok.clone());
    let (health, stop_health) = start(checks.clone()).await;
    let (admin, stop_admin) = start_admin(checks.clone()).await;
    for port in [health, admin] {
        ok.store(true, Ordering::SeqCst);
        for path in ["/health/ready", "/ready"] {
            assert_eq!(ask(port, "GET", path).await, (200, "ready\n".to_owned()));
        }
        ok.store(false, Ordering::SeqCst);
        for path in ["/health/ready", "/ready"] {
            assert_eq!(
                ask(port, "GET", path).await,
                (503, "Global configuration is expired\n".to_owned())
            );
        }
        for path in ["/health/live", "/live"] {
            assert_eq!(ask(port, "GET", path).await, (200, "live\n".to_owned()));
        }
        assert_eq!(
            ask(port, "GET", "/metrics").await,
            (200, "xroad_up 1\n".to_owned())
        );
        checks.set_maintenance_mode(true);
        assert_eq!(
            ask(port, "GET", "/health/ready").await,
            (503, MAINTENANCE_MESSAGE.to_owned())
        );
        assert_eq!(ask(port, "GET", "/health/live").await.0, 200);
        checks.set_maintenance_mode(false);
    }
    let _ = stop_health.send(());
    let _ = stop_admin.send(());
}

/// The health port keeps Java's answers for everything else; the admin port knows only its
/// three endpoints.
#[tokio::test]
async fn other_requests_keep_java_behaviour_on_the_health_port_only() {
    let ok = Arc::new(AtomicBool::new(false));
    let checks = switchable(ok.clone());
    let (health, stop_health) = start(checks.clone()).await;
    let (admin, stop_admin) = start_admin(checks).await;
    let failed = (500, "Global configuration is expired\n".to_owned());
    assert_eq!(ask(health, "GET", "/").await, failed);
    assert_eq!(ask(health, "POST", "/health/ready").await, failed);
    assert_eq!(ask(health, "GET", "/health").await, failed);
    ok.store(true, Ordering::SeqCst);
    assert_eq!(ask(health, "PUT", "/live").await, (200, String::new()));
    assert_eq!(ask(admin, "GET", "/").await.0, 404);
    assert_eq!(ask(admin, "POST", "/health/ready").await.0, 404);
    let _ = stop_health.send(());
    let _ = stop_admin.send(());
}
