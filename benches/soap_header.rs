//! SOAP header extraction: the work the client proxy does on every SOAP request before it
//! can route it (parse the X-Road headers, validate the body wrapper, hash nothing).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use xroad_message::request::SoapRequestDecoder;
use xroad_message::soap::{parse_soap, Soap};

/// A typical X-Road 4.0 request of about 1.2 KB.
fn request() -> Vec<u8> {
    let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">
  <SOAP-ENV:Header>
    <xrd:client id:objectType="SUBSYSTEM">
      <id:xRoadInstance>EE</id:xRoadInstance>
      <id:memberClass>GOV</id:memberClass>
      <id:memberCode>70000001</id:memberCode>
      <id:subsystemCode>consumer</id:subsystemCode>
    </xrd:client>
    <xrd:service id:objectType="SERVICE">
      <id:xRoadInstance>EE</id:xRoadInstance>
      <id:memberClass>GOV</id:memberClass>
      <id:memberCode>70000002</id:memberCode>
      <id:subsystemCode>population</id:subsystemCode>
      <id:serviceCode>getPerson</id:serviceCode>
      <id:serviceVersion>v1</id:serviceVersion>
    </xrd:service>
    <xrd:id>4894e35d-bf0f-44a6-867a-8e51f1daa7e0</xrd:id>
    <xrd:userId>EE37702211234</xrd:userId>
    <xrd:protocolVersion>4.0</xrd:protocolVersion>
  </SOAP-ENV:Header>
  <SOAP-ENV:Body>
    <ns1:getPerson xmlns:ns1="http://pop.x-road.eu">
      <ns1:request>
        <ns1:personalCode>37702211234</ns1:personalCode>
      </ns1:request>
    </ns1:getPerson>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"#;
    doc.as_bytes().to_vec()
}

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
