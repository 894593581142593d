//! SOAP header extraction: the work the client proxy does on every SOAP request before it
//! can route it (parse the X-Road headers, validate the body wrapper, hash nothing).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use xroad_message::request::SoapRequestDecoder;
use xroad_message::soap::{parse_soap, Soap, SoapParser};

#[allow(dead_code)]
mod common;
use common::request;

fn soap_header(c: &mut Criterion) {
    let msg = request();
    let mut g = c.benchmark_group("soap_header");
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("parse_{}B", msg.len()), |b| {
        b.iter(|| match parse_soap(std::hint::black_box(&msg)) {
            Ok(Soap::Message(m)) => m,
            other => panic!("unexpected {other:?}"),
        })
    });
    // The same document arriving in 512-byte chunks: scanned as it streams, not whole.
    g.bench_function(format!("parse_streamed_{}B", msg.len()), |b| {
        b.iter(|| {
            let mut p = SoapParser::new();
            for chunk in std::hint::black_box(&msg).chunks(512) {
                p.feed(chunk).unwrap_or_else(|e| panic!("{e}"));
            }
            match p.finish() {
                Ok(Soap::Message(m)) => m,
                other => panic!("unexpected {other:?}"),
            }
        })
    });
    // The client proxy's full request reading: content type, SOAPAction, parse and SHA-512.
    g.bench_function(format!("client_proxy_request_{}B", msg.len()), |b| {
        b.iter_batched(
            || SoapRequestDecoder::new("POST", Some("text/xml; charset=UTF-8"), Some("\"\"")),
            |d| {
                let mut d = d.unwrap_or_else(|e| panic!("{e}"));
                d.feed(&msg).unwrap_or_else(|e| panic!("{e}"));
                d.finish().unwrap_or_else(|e| panic!("{e}"))
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, soap_header);
criterion_main!(benches);
