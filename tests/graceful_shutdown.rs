//! Graceful shutdown of `xroad-sidecar run`: both security servers of an exchange get
//! SIGTERM while the provider's information system is still working on the request; the
//! client gets the whole, successful answer, and both processes exit 0.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{run_node, ChildGuard, Demo};

/// How long the information system takes to answer.
const SLOW: Duration = Duration::from_secs(2);

fn topology(is_url: &str) -> String {
    format!(
        r#"instance: GRACE
members:
  - {{ class: COM, code: "1", subsystems: [a] }}
  - {{ class: GOV, code: "1", subsystems: [s] }}
security-servers:
  - {{ code: consumer, owner: COM/1, clients: [COM/1/a] }}
  - {{ code: provider, owner: GOV/1, clients: [GOV/1/s] }}
services:
  - {{ provider: GOV/1/s, code: slow, type: soap, version: v1, url: "{is_url}", allowed: [COM/1/a] }}
"#
    )
}

const ENVELOPE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:iden="http://x-road.eu/xsd/identifiers" xmlns:ns1="urn:grace">
  <soapenv:Header>
    <xrd:client iden:objectType="SUBSYSTEM"><iden:xRoadInstance>GRACE</iden:xRoadInstance><iden:memberClass>COM</iden:memberClass><iden:memberCode>1</iden:memberCode><iden:subsystemCode>a</iden:subsystemCode></xrd:client>
    <xrd:service iden:objectType="SERVICE"><iden:xRoadInstance>GRACE</iden:xRoadInstance><iden:memberClass>GOV</iden:memberClass><iden:memberCode>1</iden:memberCode><iden:subsystemCode>s</iden:subsystemCode><iden:serviceCode>slow</iden:serviceCode><iden:serviceVersion>v1</iden:serviceVersion></xrd:service>
    <xrd:id>graceful-1</xrd:id>
    <xrd:userId>tester</xrd:userId>
    <xrd:protocolVersion>4.0</xrd:protocolVersion>
  </soapenv:Header>
  <soapenv:Body><ns1:slow><data>in flight</data></ns1:slow></soapenv:Body>
</soapenv:Envelope>
"#;

/// Reads one HTTP request (head and body, `Content-Length` or chunked) from `s`; whether it
/// came whole.
fn read_request(s: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            if head.contains("transfer-encoding: chunked") {
                if buf.ends_with(b"\r\n0\r\n\r\n") {
                    return true;
                }
            } else {
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    return true;
                }
            }
        }
        let n = s.read(&mut chunk).unwrap_or(0);
        if n == 0 {
            return false;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The information system: says when a request came, waits, answers (the request's
/// envelope with the response element).
fn slow_is(listener: TcpListener, received: mpsc::Sender<()>) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let received = received.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                if !read_request(&mut s) {
                    return;
                }
                let _ = received.send(());
                std::thread::sleep(SLOW);
                let answer = ENVELOPE
                    .replace("<ns1:slow>", "<ns1:slowResponse>")
                    .replace("</ns1:slow>", "</ns1:slowResponse>");
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            });
        }
    });
}

/// Waits (bounded) for `node` to exit by itself.
fn exit_status(node: &mut ChildGuard, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = node.exited() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not exit within {within:?} of SIGTERM",
            node.name
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_lets_the_message_in_flight_finish() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let is_url = format!("http://{}/slow", listener.local_addr().unwrap());
    let (received_tx, received) = mpsc::channel();
    slow_is(listener, received_tx);

    let demo = Demo::start_with(&["--external-nodes"], Some(&topology(&is_url)), &[]);
    let mut provider = run_node("provider", &demo.node("provider").config);
    let mut consumer = run_node("consumer", &demo.node("consumer").config);
    let proxy = demo.node("consumer").client_http.clone();

    let client = std::thread::spawn(move || {
        let mut s = TcpStream::connect(&proxy).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            s,
            "POST / HTTP/1.1\r\nHost: {proxy}\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ENVELOPE}",
            ENVELOPE.len()
        )
        .unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    });
    received
        .recv_timeout(Duration::from_secs(30))
        .expect("the request did not reach the information system");
    for node in [&provider, &consumer] {
        let status = Command::new("kill")
            .args(["-TERM", &node.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {}", node.name);
    }

    let answer = client.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!answer.contains("faultcode"), "{answer}");
    assert!(
        answer.contains("<ns1:slowResponse><data>in flight</data></ns1:slowResponse>"),
        "{answer}"
    );
    assert!(answer.contains("</soapenv:Envelope>"), "{answer}");
    for node in [&mut provider, &mut consumer] {
        let status = exit_status(node, Duration::from_secs(30));
        assert!(status.success(), "{} exited with {status}", node.name);
    }
}
