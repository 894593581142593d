//! Large messages through a running demo network, with the memory of the security servers
//! watched from outside:
//!
//! - a REST POST of 1 GiB (`XROAD_LARGE_BODY_MB` changes the size), generated while it is sent
//!   and never held by the test, to an information system of the test's own that counts the
//!   bytes and answers their count and SHA-256. Each security server runs as a process of its
//!   own (`demo --external-nodes`, then `xroad-sidecar run -c` per node), so that the peak
//!   resident set (`VmHWM`) of each is read from `/proc/PID/status`: both stay under
//!   [`NODE_RSS_BOUND_MB`] while the parts are spooled to the nodes' `temp-dir` (seen there
//!   while the message travels, gone afterwards);
//! - a SOAP request with a 20 MiB attachment (SwA) to an information system that answers with
//!   the same attachment back: both directions carry it, byte for byte (both security servers
//!   in the one `xroad-sidecar demo` process).
//!
//! Why 100 MB per node: one security server in a debug build is about 33 MB resident when
//! idle (36 MB at its peak after the 1 GiB exchange, measured on a 2-core machine); the spool threshold is 1 MiB per part and the proxies stream in 64 KiB-sized
//! buffers, so a bounded design stays well below; a proxy that buffered the body would need
//! over 1 GiB.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::digest::{Context, SHA256};
use support::{files_under, peak_rss_kb, run_node, Demo};

/// Each security server's peak resident set must stay below this (see the module docs).
const NODE_RSS_BOUND_MB: u64 = 100;
/// The whole 1 GiB exchange must finish within this.
const LARGE_DEADLINE: Duration = Duration::from_secs(170);
const ATTACHMENT: usize = 20 << 20;

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads an HTTP/1.1 message head: the start line and the headers (names lower-cased).
fn read_head(r: &mut impl BufRead) -> Option<(String, Vec<(String, String)>)> {
    let mut start = String::new();
    if r.read_line(&mut start).ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':')?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    Some((start.trim_end().to_owned(), headers))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Reads a message body (Content-Length or chunked), handing each piece to `sink`.
fn read_body(r: &mut impl BufRead, headers: &[(String, String)], mut sink: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 64 * 1024];
    let chunked = header(headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let mut copy = |r: &mut dyn BufRead, mut n: u64, sink: &mut dyn FnMut(&[u8])| {
        while n > 0 {
            let want = buf.len().min(n as usize);
            let got = r.read(&mut buf[..want]).unwrap();
            assert!(got > 0, "the body ended early");
            sink(&buf[..got]);
            n -= got as u64;
        }
    };
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let n = u64::from_str_radix(size.trim().split(';').next().unwrap(), 16).unwrap();
            if n == 0 {
                // Trailers, then the empty line.
                while read_line_nonempty(r) {}
                return;
            }
            copy(r, n, &mut sink);
            let mut crlf = String::new();
            r.read_line(&mut crlf).unwrap();
        }
    }
    let n: u64 = header(headers, "content-length").map_or(0, |v| v.parse().unwrap());
    copy(r, n, &mut sink);
}

fn read_line_nonempty(r: &mut impl BufRead) -> bool {
    let mut l = String::new();
    r.read_line(&mut l).unwrap_or(0) > 0 && !l.trim().is_empty()
}

/// Serves `handle` on a fresh 127.0.0.1 port (one thread per connection), for the rest of
/// the test process.
fn serve(
    handle: impl Fn(String, Vec<(String, String)>, &mut BufReader<TcpStream>) -> Vec<u8>
        + Send
        + Sync
        + 'static,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let handle = handle.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
                let mut out = stream.try_clone().unwrap();
                let mut r = BufReader::with_capacity(64 * 1024, stream);
                while let Some((start, headers)) = read_head(&mut r) {
                    let answer = handle(start, headers, &mut r);
                    if out.write_all(&answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn http_answer(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut a = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    a.extend_from_slice(body);
    a
}

/// The REST information system: counts the body and answers `{"count":N,"sha256":"…"}`.
fn counting_service() -> String {
    serve(|_start, headers, r| {
        let mut ctx = Context::new(&SHA256);
        let mut count = 0u64;
        read_body(r, &headers, |b| {
            count += b.len() as u64;
            ctx.update(b);
        });
        let body = format!(
            "{{\"count\":{count},\"sha256\":\"{}\"}}",
            hex(ctx.finish().as_ref())
        );
        http_answer("200 OK", "application/json", body.as_bytes())
    })
}

/// The SOAP information system: serves the sample WSDL (helloService) and answers a SwA
/// request with its X-Road header block and the request's attachment back.
fn attachment_echo_service() -> String {
    let wsdl_url = Arc::new(std::sync::OnceLock::<String>::new());
    let w = wsdl_url.clone();
    let addr = serve(move |start, headers, r| {
        let mut body = Vec::new();
        read_body(r, &headers, |b| body.extend_from_slice(b));
        if start.starts_with("GET ") {
            let endpoint = w.get().cloned().unwrap_or_default();
            return http_answer(
                "200 OK",
                "text/xml; charset=utf-8",
                xroad_devnet::samples::wsdl(&endpoint).as_bytes(),
            );
        }
        let ct = header(&headers, "content-type").unwrap_or_default();
        let boundary = ct
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_owned());
        let Some(boundary) = boundary else {
            return http_answer("500 Internal Server Error", "text/plain", b"not multipart");
        };
        let parts = split_multipart(&body, &boundary);
        let soap = String::from_utf8_lossy(part_body(parts[0])).into_owned();
        let head_start = soap.find("<SOAP-ENV:Header>").unwrap();
        let head_end = soap.find("</SOAP-ENV:Header>").unwrap() + "</SOAP-ENV:Header>".len();
        let header_block = &soap[head_start..head_end];
        let attachment = part_body(parts[1]);
        let envelope = format!(
            "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xrd=\"http://x-road.eu/xsd/xroad.xsd\" xmlns:id=\"http://x-road.eu/xsd/identifiers\">{header_block}<SOAP-ENV:Body><ns1:helloServiceResponse xmlns:ns1=\"{}\"><message>{} bytes, sha256 {}</message></ns1:helloServiceResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>",
            xroad_devnet::samples::SOAP_NAMESPACE,
            attachment.len(),
            hex(ring::digest::digest(&SHA256, attachment).as_ref())
        );
        let b = "echoboundary7bf3";
        let mut out = format!(
            "--{b}\r\nContent-Type: text/xml; charset=UTF-8\r\n\r\n{envelope}\r\n--{b}\r\nContent-Type: application/octet-stream\r\nContent-ID: <back>\r\n\r\n"
        )
        .into_bytes();
        out.extend_from_slice(attachment);
        out.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        http_answer(
            "200 OK",
            &format!("multipart/related; type=\"text/xml\"; boundary={b}"),
            &out,
        )
    });
    let _ = wsdl_url.set(format!("http://{addr}/"));
    addr
}

/// The parts of a multipart body (each with its headers).
fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while i + d.len() <= body.len() {
        if &body[i..i + d.len()] == d && (i == 0 || body[i - 1] == b'\n') {
            starts.push(i);
            i += d.len();
        } else {
            i += 1;
        }
    }
    let mut parts = Vec::new();
    for w in starts.windows(2) {
        let mut p = &body[w[0] + d.len()..w[1]];
        p = p.strip_prefix(b"\r\n").unwrap_or(p);
        p = p.strip_suffix(b"\r\n").unwrap_or(p);
        parts.push(p);
    }
    parts
}

/// The body of a part (after its headers).
fn part_body(part: &[u8]) -> &[u8] {
    let at = part
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("part headers end");
    &part[at + 4..]
}

fn topology(soap: &str, rest: &str) -> String {
    format!(
        r#"instance: DEV
members:
  - class: COM
    code: "1111"
    subsystems: [client]
  - class: GOV
    code: "2222"
    subsystems: [services]
security-servers:
  - code: consumer
    owner: COM/1111
    clients: [COM/1111/client]
  - code: provider
    owner: GOV/2222
    clients: [GOV/2222/services]
services:
  - provider: GOV/2222/services
    code: helloService
    type: soap
    version: v1
    url: http://{soap}/
    description: http://{soap}/wsdl
    allowed: [COM/1111/client]
  - provider: GOV/2222/services
    code: counter
    type: rest
    url: http://{rest}
    allowed: [COM/1111/client]
"#
    )
}

/// Bytes of block `i` of the generated body: a fixed pseudo-random block with the block
/// number written over its start, so that no two blocks are alike.
fn block(base: &[u8], i: u64, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(base);
    out[..8].copy_from_slice(&i.to_le_bytes());
}

fn spool_dirs(demo: &Demo) -> Vec<PathBuf> {
    ["consumer", "provider"]
        .iter()
        .map(|n| demo.state().join(n).join("tmp"))
        .collect()
}

fn spooled_bytes(dirs: &[PathBuf]) -> u64 {
    dirs.iter()
        .flat_map(|d| files_under(d))
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

fn assert_no_spool_left(dirs: &[PathBuf]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<PathBuf> = dirs.iter().flat_map(|d| files_under(d)).collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "spool files left behind: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_demo(args: &[&str]) -> Demo {
    let soap = attachment_echo_service();
    let rest = counting_service();
    Demo::start_with(args, Some(&topology(&soap, &rest)), &[])
}

#[test]
fn rest_post_of_one_gib_streams_through_both_servers_in_bounded_memory() {
    let mb: u64 = std::env::var("XROAD_LARGE_BODY_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let total = mb << 20;
    let demo = start_demo(&["--external-nodes"]);
    // Dropped (stopped) before the demo, whose folder holds their state.
    let nodes: Vec<_> = ["consumer", "provider"]
        .iter()
        .map(|n| run_node(n, &demo.node(n).config))
        .collect();
    let idle_kb: Vec<u64> = nodes.iter().map(|n| peak_rss_kb(n.pid())).collect();
    let dirs = spool_dirs(&demo);
    let consumer = demo.node("consumer").client_http.clone();

    // Watch the spool folders while the message travels.
    let done = Arc::new(AtomicBool::new(false));
    let max_spooled = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (done, max_spooled, dirs) = (done.clone(), max_spooled.clone(), dirs.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                max_spooled.fetch_max(spooled_bytes(&dirs), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let started = Instant::now();
    let mut s = TcpStream::connect(&consumer).unwrap();
    s.set_read_timeout(Some(LARGE_DEADLINE)).unwrap();
    s.set_write_timeout(Some(LARGE_DEADLINE)).unwrap();
    let head = format!(
        "POST /r1/DEV/GOV/2222/services/counter/count HTTP/1.1\r\nHost: {consumer}\r\nX-Road-Client: DEV/COM/1111/client\r\nContent-Type: application/octet-stream\r\nContent-Length: {total}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let base: Vec<u8> = {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..64 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let mut ctx = Context::new(&SHA256);
    let mut buf = Vec::with_capacity(base.len());
    let mut sent = 0u64;
    let mut i = 0u64;
    while sent < total {
        block(&base, i, &mut buf);
        let n = (total - sent).min(buf.len() as u64) as usize;
        ctx.update(&buf[..n]);
        s.write_all(&buf[..n]).unwrap();
        sent += n as u64;
        i += 1;
        assert!(
            started.elapsed() < LARGE_DEADLINE,
            "sent only {sent} of {total} bytes in {LARGE_DEADLINE:?}"
        );
    }
    let sent_in = started.elapsed();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let peak_kb: Vec<u64> = nodes.iter().map(|n| peak_rss_kb(n.pid())).collect();
    let answer = String::from_utf8_lossy(&answer);
    let expected = format!(
        "{{\"count\":{total},\"sha256\":\"{}\"}}",
        hex(ctx.finish().as_ref())
    );
    eprintln!(
        "{mb} MiB: sent in {sent_in:?}, answered in {elapsed:?}; VmHWM consumer {} MB (idle {} \
         MB), provider {} MB (idle {} MB); at most {} MB spooled at once",
        peak_kb[0] / 1024,
        idle_kb[0] / 1024,
        peak_kb[1] / 1024,
        idle_kb[1] / 1024,
        max_spooled.load(Ordering::Relaxed) >> 20
    );
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "not answered 200: {}",
        answer.chars().take(2000).collect::<String>()
    );
    assert!(
        answer.contains(&expected),
        "the information system did not count {expected}: {answer}"
    );
    assert!(
        elapsed < LARGE_DEADLINE,
        "{mb} MiB took {elapsed:?} (bound {LARGE_DEADLINE:?})"
    );
    for (name, peak) in ["consumer", "provider"].iter().zip(&peak_kb) {
        assert!(
            *peak < NODE_RSS_BOUND_MB * 1024,
            "the {name}'s peak RSS was {} MB with a {mb} MiB body (bound {NODE_RSS_BOUND_MB} MB)",
            peak / 1024
        );
    }
    // The parts went to disk on the way (the spool threshold is 1 MiB)…
    assert!(
        max_spooled.load(Ordering::Relaxed) > (total / 4).min(64 << 20),
        "only {} bytes were seen spooled in {dirs:?}",
        max_spooled.load(Ordering::Relaxed)
    );
    // …and nothing is left there.
    assert_no_spool_left(&dirs);
}

fn soap_request(attachment: &[u8], boundary: &str) -> Vec<u8> {
    let envelope = "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xrd=\"http://x-road.eu/xsd/xroad.xsd\" xmlns:id=\"http://x-road.eu/xsd/identifiers\"><SOAP-ENV:Header>\
<xrd:client id:objectType=\"SUBSYSTEM\"><id:xRoadInstance>DEV</id:xRoadInstance><id:memberClass>COM</id:memberClass><id:memberCode>1111</id:memberCode><id:subsystemCode>client</id:subsystemCode></xrd:client>\
<xrd:service id:objectType=\"SERVICE\"><id:xRoadInstance>DEV</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>2222</id:memberCode><id:subsystemCode>services</id:subsystemCode><id:serviceCode>helloService</id:serviceCode><id:serviceVersion>v1</id:serviceVersion></xrd:service>\
<xrd:id>large-attachment-1</xrd:id><xrd:protocolVersion>4.0</xrd:protocolVersion></SOAP-ENV:Header>\
<SOAP-ENV:Body><ns1:helloService xmlns:ns1=\"http://demo.x-road.eu/sample\"><name>attachment</name></ns1:helloService></SOAP-ENV:Body></SOAP-ENV:Envelope>";
    let mut out = format!(
        "--{boundary}\r\nContent-Type: text/xml; charset=UTF-8\r\n\r\n{envelope}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-ID: <data>\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(attachment);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

#[test]
fn soap_attachment_of_20_mib_round_trip() {
    let demo = start_demo(&["--no-requests"]);
    let dirs = spool_dirs(&demo);
    let consumer = demo.node("consumer").client_http.clone();
    let attachment: Vec<u8> = (0..ATTACHMENT as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let digest = hex(ring::digest::digest(&SHA256, &attachment).as_ref());
    let boundary = "attachmentboundary42";
    let body = soap_request(&attachment, boundary);

    let started = Instant::now();
    let s = TcpStream::connect(&consumer).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut w = s.try_clone().unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {consumer}\r\nContent-Type: multipart/related; type=\"text/xml\"; boundary={boundary}\r\nSOAPAction: \"\"\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    w.write_all(head.as_bytes()).unwrap();
    w.write_all(&body).unwrap();
    let mut r = BufReader::new(s);
    let (status, headers) = read_head(&mut r).expect("an answer");
    let mut answer = Vec::new();
    read_body(&mut r, &headers, |b| answer.extend_from_slice(b));
    eprintln!(
        "20 MiB attachment: answered in {:?}, demo VmHWM {} MB",
        started.elapsed(),
        peak_rss_kb(demo.pid()) / 1024
    );
    let ct = header(&headers, "content-type")
        .unwrap_or_default()
        .to_owned();
    assert!(
        status.starts_with("HTTP/1.1 200"),
        "{status} {ct}: {}",
        String::from_utf8_lossy(&answer[..answer.len().min(2000)])
    );
    let b = ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("not multipart: {ct}"));
    let parts = split_multipart(&answer, &b);
    assert_eq!(parts.len(), 2, "{ct}");
    let soap = String::from_utf8_lossy(part_body(parts[0]));
    assert!(
        soap.contains(&format!("{ATTACHMENT} bytes, sha256 {digest}")),
        "the provider did not get the attachment intact: {soap}"
    );
    assert!(soap.contains("large-attachment-1"), "{soap}");
    let back = part_body(parts[1]);
    assert_eq!(
        back.len(),
        ATTACHMENT,
        "the attachment back has another size"
    );
    assert!(back == attachment.as_slice(), "the attachment back differs");
    assert_no_spool_left(&dirs);
}
