//! `xroad-sidecar demo`: a whole X-Road instance on loopback, one request of each service sent
//! through it, and ready-to-paste `curl` commands; runs until Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::demo::{self, DemoRequest, Network};
use crate::node;

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Build the network from this topology (see docs/topology.md) instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    topology: Option<PathBuf>,
    /// Print the built-in topology (a starting point for --topology) and exit.
    #[arg(long)]
    print_topology: bool,
    /// Where the network's files go (emptied first; default: a fresh temporary folder).
    #[arg(long, value_name = "DIR", env = "XROAD_DEMO_DIR")]
    state_dir: Option<PathBuf>,
    /// Send the demo requests, then stop (exit 1 if one failed) instead of running until
    /// Ctrl-C.
    #[arg(long)]
    once: bool,
    /// Do not send the demo requests.
    #[arg(long)]
    no_requests: bool,
    /// Build the network and run its central parts (global configuration, OCSP responder,
    /// sample services), but not the security servers: print the `xroad-sidecar run`
    /// command of each, to run them as processes of their own.
    #[arg(long, conflicts_with = "once")]
    external_nodes: bool,
}

pub(crate) fn run(args: &DemoArgs) -> ExitCode {
    if args.print_topology {
        demo::print_topology();
        return ExitCode::SUCCESS;
    }
    let topology = match demo::load_topology(args.topology.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    crate::logging::init_from_env(tracing_subscriber::filter::LevelFilter::ERROR);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (_tmp, state_dir) = match &args.state_dir {
        Some(d) => (None, d.clone()),
        None => match tempfile::Builder::new().prefix("xroad-demo-").tempdir() {
            Ok(t) => {
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
            Err(e) => {
                eprintln!("error: cannot create a temporary folder: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    rt.block_on(async move {
        let started = Instant::now();
        let mut network = match demo::build_network(&topology, &state_dir).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        if args.external_nodes {
            // Free the ports the nodes' own processes will bind.
            for layout in &mut network.nodes {
                let l = &mut layout.listeners;
                for slot in [
                    &mut l.client_http,
                    &mut l.client_https,
                    &mut l.server,
                    &mut l.ocsp_responder,
                    &mut l.health_check,
                    &mut l.admin,
                ] {
                    slot.take();
                }
            }
            print_network(&network, started.elapsed());
            write_summary(&network);
            println!("Start each security server in a process of its own:");
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "xroad-sidecar".into());
            for n in &network.nodes {
                println!("  {exe} run -c {}", n.config_path.display());
            }
            println!("\nRunning the central parts until Ctrl-C.");
            crate::run_cmd::wait_for_stop().await;
            return ExitCode::SUCCESS;
        }
        // The nodes start side by side (each logs its token in and downloads the
        // configuration).
        let mut starting = Vec::new();
        for layout in &mut network.nodes {
            let listeners = std::mem::take(&mut layout.listeners);
            let config = layout.config.clone();
            let name = layout.name.clone();
            starting.push(async move {
                node::start(&config, listeners)
                    .await
                    .map_err(|e| format!("security server {name}: {e}"))
            });
        }
        let mut nodes = Vec::new();
        for started in futures_util::future::join_all(starting).await {
            match started {
                Ok(n) => nodes.push(n),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        let ready = started.elapsed();
        print_network(&network, ready);
        let mut failed = 0;
        if !args.no_requests {
            for r in network.demo_requests() {
                if !send(&r).await {
                    failed += 1;
                }
            }
        }
        write_summary(&network);
        if !args.once {
            println!(
                "Running until Ctrl-C. Files are in {}.",
                network.state_dir.display()
            );
            crate::run_cmd::wait_for_stop().await;
        }
        for n in nodes {
            n.stop(Duration::from_secs(5)).await;
        }
        if failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    })
}

fn print_network(network: &Network, ready: Duration) {
    println!(
        "X-Road instance {} ready in {} ms ({} security servers)",
        network.instance,
        ready.as_millis(),
        network.nodes.len()
    );
    println!("  global configuration: {}", network.conf_url);
    for n in &network.nodes {
        let l = &n.config.listen;
        let show = |a: Option<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or("-".into());
        println!(
            "  {} ({}): client proxy http://{} https://{}  server proxy {}  OCSP responses {}  health http://{}  admin http://{}",
            n.name,
            n.server_id,
            show(l.client_http),
            show(l.client_https),
            show(l.server),
            show(l.ocsp_responder),
            show(l.health_check),
            show(l.admin),
        );
    }
    println!();
}

/// `network.json` in the state folder: where every node listens (for scripts and tests).
fn write_summary(network: &Network) {
    let nodes: Vec<serde_json::Value> = network
        .nodes
        .iter()
        .map(|n| {
            let l = &n.config.listen;
            serde_json::json!({
                "name": n.name,
                "server_id": n.server_id.to_string(),
                "address": n.address,
                "client_http": l.client_http.map(|a| a.to_string()),
                "client_https": l.client_https.map(|a| a.to_string()),
                "server": l.server.map(|a| a.to_string()),
                "ocsp_responder": l.ocsp_responder.map(|a| a.to_string()),
                "health_check": l.health_check.map(|a| a.to_string()),
                "admin": l.admin.map(|a| a.to_string()),
                "clients": n.clients.iter().map(|c| c.to_rest()).collect::<Vec<_>>(),
                "config": n.config_path,
            })
        })
        .collect();
    let samples = network.samples.as_ref().map(|s| {
        serde_json::json!({"soap": s.soap, "wsdl": s.wsdl, "rest": s.rest, "openapi": s.openapi})
    });
    let doc = serde_json::json!({
        "instance": network.instance,
        "conf_url": network.conf_url,
        "nodes": nodes,
        "samples": samples,
    });
    let path = network.state_dir.join("network.json");
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    let tmp = path.with_extension("json.tmp");
    if std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .is_err()
    {
        eprintln!("warning: cannot write {}", path.display());
    }
}

/// Sends one demo request and prints what happened; whether it succeeded.
async fn send(r: &DemoRequest) -> bool {
    println!("== {}", r.title);
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::builder()
        .method(r.method.as_str())
        .uri(format!("http://{}{}", r.client_proxy, r.path));
    for (n, v) in &r.headers {
        req = req.header(n.as_str(), v.as_str());
    }
    let Ok(req) = req.body(Full::new(bytes::Bytes::from(r.body.clone()))) else {
        println!("   cannot build the request");
        return false;
    };
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(30), async {
        let resp = client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let error = resp
            .headers()
            .get("x-road-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((status, error, body))
    })
    .await;
    let ok = match result {
        Err(_) => {
            println!("   no answer in 30 s");
            false
        }
        Ok(Err(e)) => {
            println!("   failed: {e}");
            false
        }
        Ok(Ok((status, error, body))) => {
            let text = String::from_utf8_lossy(&body);
            let fault = text.contains("<faultcode>") || error.is_some() || !status.is_success();
            println!(
                "   HTTP {} in {} ms{}",
                status.as_u16(),
                started.elapsed().as_millis(),
                if fault { " (X-Road fault)" } else { "" }
            );
            let shown: String = text.chars().take(600).collect();
            println!("   {}", shown.replace('\n', "\n   "));
            !fault
        }
    };
    println!("   try it yourself:\n{}\n", indent(&r.curl));
    ok
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("     {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
