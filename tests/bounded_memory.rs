//! Memory stays bounded whatever the message size: the readers are fed tens of megabytes in
//! network-sized chunks while the heap they retain is sampled between chunks.

use std::alloc::System;

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use xroad_message::request::SoapRequestDecoder;
use xroad_message::soap::{Soap, SoapParser};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CHUNK: usize = 64 * 1024;
const TOTAL: usize = 64 << 20;
/// What the readers may retain: a few buffers, far below the message size.
const BUDGET: isize = 1 << 20;

const HEAD: &str = "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xrd=\"http://x-road.eu/xsd/xroad.xsd\" xmlns:id=\"http://x-road.eu/xsd/identifiers\"><SOAP-ENV:Header><xrd:client id:objectType=\"MEMBER\"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>1</id:memberCode></xrd:client><xrd:service id:objectType=\"SERVICE\"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>2</id:memberCode><id:serviceCode>big</id:serviceCode></xrd:service><xrd:id>1</xrd:id><xrd:protocolVersion>4.0</xrd:protocolVersion></SOAP-ENV:Header><SOAP-ENV:Body><big>";
const TAIL: &str = "</big></SOAP-ENV:Body></SOAP-ENV:Envelope>";

/// Feeds `head`, `TOTAL` bytes of `filler` and `tail` through `feed`, returning the largest
/// heap growth seen between chunks.
fn stream(head: &[u8], filler: &[u8], tail: &[u8], mut feed: impl FnMut(&[u8])) -> isize {
    let region = Region::new(GLOBAL);
    let mut chunk = Vec::with_capacity(CHUNK);
    while chunk.len() < CHUNK {
        chunk.extend_from_slice(filler);
    }
    let net = |r: &Region<System>| {
        let c = r.change();
        c.bytes_allocated as isize - c.bytes_deallocated as isize + c.bytes_reallocated
    };
    let baseline = net(&region);
    let mut peak = 0;
    feed(head);
    let mut sent = 0;
    while sent < TOTAL {
        feed(&chunk);
        sent += chunk.len();
        peak = peak.max(net(&region) - baseline);
    }
    feed(tail);
    peak
}

#[test]
fn soap_body_of_64_mib() {
    let mut parser = Some(SoapParser::new());
    let peak = stream(
        HEAD.as_bytes(),
        b"<item a='1'>text &amp; more</item>\n",
        TAIL.as_bytes(),
        |c| {
            if let Some(p) = parser.as_mut() {
                p.feed(c).expect("feed");
            }
        },
    );
    let soap = parser.take().expect("parser").finish().expect("finish");
    assert!(matches!(soap, Soap::Message(_)));
    assert!(
        peak < BUDGET,
        "retained {peak} bytes while streaming {TOTAL}"
    );
}

#[test]
fn swa_attachment_of_64_mib() {
    let head = format!(
        "--b\r\nContent-Type: text/xml\r\n\r\n{HEAD}x{TAIL}\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let mut decoder = Some(
        SoapRequestDecoder::new("POST", Some("multipart/related; boundary=b"), None)
            .expect("decoder"),
    );
    let peak = stream(
        head.as_bytes(),
        b"0123456789abcdef\r\n--bX",
        b"\r\n--b--\r\n",
        |c| {
            if let Some(d) = decoder.as_mut() {
                d.feed(c).expect("feed");
            }
        },
    );
    let request = decoder.take().expect("decoder").finish().expect("finish");
    assert_eq!(request.attachments.len(), 1);
    assert!(request.attachments[0].size >= TOTAL as u64);
    assert!(
        peak < BUDGET,
        "retained {peak} bytes while streaming {TOTAL}"
    );
}
