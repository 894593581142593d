//! The small plain-HTTP/1.1 server under the OCSP responses endpoint (5577) and the health
//! check (5588): one task per connection, stop accepting on shutdown, let requests in flight
//! finish for a short while.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

/// The response type of both endpoints: small bodies built in memory.
pub(crate) type Body = Full<Bytes>;

/// How long a client may take to send its request head (Jetty's idle timeout there is 30 s).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long requests in flight may run after shutdown was requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `handler` on every connection accepted from `listener` until `shutdown` completes.
///
/// Accept errors (e.g. out of file descriptors) do not end the server: it waits a moment and
/// accepts again, as Jetty does.
pub(crate) async fn serve<H, Fut>(
    listener: TcpListener,
    handler: H,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let handler = handler.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let response = handler(req);
                    async move { Ok::<_, Infallible>(response.await) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    // A peer that goes away mid-request is not our error to report.
                    let _ = conn.await;
                });
            }
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    Ok(())
}

/// A response with `status` and a plain body (no content type, as Jetty's
/// `Content.Sink.write` sends it).
pub(crate) fn text(status: hyper::StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}
