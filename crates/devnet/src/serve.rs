//! Serves a published web root on loopback the way the central server's nginx does:
//! `/internalconf?version=N` (and `/externalconf`) is the file `V{N}/internalconf`, version 2
//! when none is asked for; other paths are files under the root; anything else is 404.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct ConfServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ConfServer {
    /// Serves `root` on `127.0.0.1` at an ephemeral port.
    pub async fn start(root: impl Into<PathBuf>) -> std::io::Result<ConfServer> {
        let root: Arc<Path> = Arc::from(root.into());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let root = root.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let root = root.clone();
                        let log = log.clone();
                        async move { Ok::<_, Infallible>(respond(&root, &log, &req)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(ConfServer {
            addr,
            requests,
            task,
        })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests received so far (path and query).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for ConfServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn respond<B>(root: &Path, log: &Mutex<Vec<String>>, req: &Request<B>) -> Response<Full<Bytes>> {
    let uri = req.uri();
    if let Ok(mut l) = log.lock() {
        l.push(
            uri.path_and_query()
                .map_or_else(|| uri.path().to_owned(), |p| p.to_string()),
        );
    }
    let path = uri.path();
    let file = match path {
        "/internalconf" | "/externalconf" => {
            let version = uri
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("version="))
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .unwrap_or("2");
            Some(root.join(format!("V{version}{path}")))
        }
        _ => {
            let rel = path.trim_start_matches('/');
            let safe = !rel.is_empty() && rel.split('/').all(|s| !s.is_empty() && s != "..");
            safe.then(|| root.join(rel))
        }
    };
    match file.and_then(|f| std::fs::read(f).ok()) {
        Some(bytes) => Response::new(Full::new(Bytes::from(bytes))),
        None => {
            let mut r = Response::new(Full::new(Bytes::from_static(b"not found\n")));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    }
}
