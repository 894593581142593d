//! The accept loop shared by the client proxy (HTTP and HTTPS) and the server proxy: accept
//! until shutdown is asked for, hand each connection to its handler with a watcher for
//! graceful shutdown, then let open connections finish their messages.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};

use crate::context::SHUTDOWN_GRACE;

/// Accepts connections from `listener` until `shutdown` completes, spawning
/// `serve(stream, peer, watcher)` for each; then waits up to [`SHUTDOWN_GRACE`] for the
/// connections to end. `label` names the listener in logs.
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    label: &'static str,
    shutdown: impl Future<Output = ()> + Send,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr, Watcher) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::pin!(shutdown);
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, addr) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, as Jetty does.
                    tracing::warn!("{label}: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(serve(tcp, addr, graceful.watcher()));
    }
    // Open connections finish what they are doing (keep-alive ones close after it).
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("{label}: connections still open after the shutdown grace period");
    }
}
