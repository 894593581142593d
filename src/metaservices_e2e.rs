//! The metaservices end to end (issue 8): two of our security servers on 127.0.0.1, a
//! provider with SOAP and REST services of which access rights allow some, and the
//! consumer's information system asking through its client proxy: `listClients`, SOAP
//! `listMethods`, `allowedMethods`, `getWsdl`, REST `listMethods`, `allowedMethods`,
//! `getOpenAPI`, and their faults.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use xroad_devnet::topology::Topology;
use xroad_identifiers::{ClientId, ServiceId};
use xroad_serverconf::pattern::EndpointPattern;
use xroad_serverconf::{AccessRight, DescriptionType, Service, ServiceDescription, Store, Subject};

use crate::demo::network::soap_envelope;
use crate::node;

const TOPOLOGY: &str = r#"
instance: DEV
members:
  - class: COM
    code: "1111"
    name: Consumer Ltd
    subsystems: [client, other]
  - class: GOV
    code: "2222"
    name: Provider Agency
    subsystems: [services]
security-servers:
  - code: consumer
    owner: COM/1111
    clients: [COM/1111/client, COM/1111/other]
  - code: provider
    owner: GOV/2222
    clients: [GOV/2222/services]
services:
  - provider: GOV/2222/services
    code: helloService
    type: soap
    version: v1
    url: sample:soap
    allowed: [COM/1111/client]
  - provider: GOV/2222/services
    code: getRandom
    type: soap
    version: v1
    url: sample:soap
  - provider: GOV/2222/services
    code: petstore
    type: openapi
    url: sample:rest
    allowed: [COM/1111/client]
  - provider: GOV/2222/services
    code: pets
    type: rest
    url: sample:rest
"#;

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

async fn send(
    proxy: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: Vec<(&'static str, &'static str)>,
    body: String,
) -> Answer {
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{proxy}{path}"));
    for (n, v) in headers {
        req = req.header(n, v);
    }
    let req = req.body(Full::new(bytes::Bytes::from(body))).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(30), client.request(req))
        .await
        .expect("answer within 30 s")
        .expect("HTTP exchange");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = tokio::time::timeout(Duration::from_secs(30), resp.into_body().collect())
        .await
        .expect("body within 30 s")
        .expect("body")
        .to_bytes();
    Answer {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn id(s: &str) -> ClientId {
    ClientId::from_rest(s).unwrap()
}

/// The `<xrd:service>` element JAXB writes for one service (prefixes of `soap_envelope`).
fn service_xml(code: &str) -> String {
    format!(
        "<xrd:service iden:objectType=\"SERVICE\"><iden:xRoadInstance>DEV</iden:xRoadInstance><iden:memberClass>GOV</iden:memberClass><iden:memberCode>2222</iden:memberCode><iden:subsystemCode>services</iden:subsystemCode><iden:serviceCode>{code}</iden:serviceCode><iden:serviceVersion>v1</iden:serviceVersion></xrd:service>"
    )
}

/// The WSDL attachment of a `getWsdl` answer: after the part headers with the
/// `Content-ID: <wsdl=…>`, up to the closing delimiter.
fn wsdl_attachment(body: &str) -> String {
    let at = body.find("Content-ID: <wsdl=").expect("a WSDL part");
    let start = at + body[at..].find("\r\n\r\n").expect("part headers end") + 4;
    let end = start + body[start..].find("\r\n--").expect("closing delimiter");
    body[start..end].to_owned()
}

/// A Python with zeep: `XROAD_PYTHON`, else `/opt/xroad-venv/bin/python` or `python3` if
/// they can import it.
fn zeep_python() -> Option<String> {
    let ok = |p: &str| {
        std::process::Command::new(p)
            .args(["-c", "import zeep"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let env = std::env::var("XROAD_PYTHON").ok();
    env.into_iter()
        .chain([
            "/opt/xroad-venv/bin/python".to_owned(),
            "python3".to_owned(),
        ])
        .find(|p| ok(p))
}

/// `tests/zeep/call.py` with the WSDL from getWsdl: zeep calls helloService through the
/// consumer's client proxy. Without zeep the step is reported and skipped, unless
/// `XROAD_REQUIRE_ZEEP=1` (as `.ci/run` sets) makes it a failure.
async fn zeep_call(wsdl: &std::path::Path, proxy: std::net::SocketAddr) {
    let Some(python) = zeep_python() else {
        assert!(
            std::env::var("XROAD_REQUIRE_ZEEP").as_deref() != Ok("1"),
            "zeep is required (XROAD_REQUIRE_ZEEP=1) but no python with zeep was found"
        );
        eprintln!("note: no python with zeep; the zeep call through getWsdl's WSDL is skipped");
        return;
    };
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zeep/call.py");
    let args = [
        script.display().to_string(),
        wsdl.display().to_string(),
        format!("http://{proxy}/"),
        "DEV/COM/1111/client".to_owned(),
        "DEV/GOV/2222/services/helloService/v1".to_owned(),
        "zeep".to_owned(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        let mut child = std::process::Command::new(python)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            if child.try_wait().expect("wait").is_some() {
                break child.wait_with_output().expect("output");
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the zeep client did not finish in 90 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "zeep failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.first().is_some_and(|l| l.contains("zeep")),
        "{stdout}"
    );
    assert_eq!(lines.get(2).copied(), Some("same-id"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metaservices_through_two_security_servers() {
    let dir = tempfile::Builder::new()
        .prefix("xroad-meta-e2e-")
        .tempdir()
        .unwrap();
    let topology = Topology::parse(TOPOLOGY).unwrap();
    let mut network = crate::demo::build_network(&topology, dir.path())
        .await
        .unwrap();

    // An endpoint-level right: COM/1111/other may GET /pets/* of petstore only.
    let provider_node = network.node("provider").unwrap();
    let store = Store::open(&provider_node.config.database_url())
        .await
        .unwrap();
    store
        .update(|c| {
            let client = c
                .clients
                .iter_mut()
                .find(|c| c.id.0 == id("DEV/GOV/2222/services"))
                .unwrap();
            client.access_rights.push(AccessRight {
                service: "petstore".into(),
                method: "GET".into(),
                path: "/pets/*".into(),
                subjects: vec![Subject::Client(id("DEV/COM/1111/other"))],
            });
            // A SOAP service whose WSDL cannot be downloaded (nothing listens on port 9).
            let mut broken = Service::new("broken");
            broken.version = Some("v1".into());
            broken.url = Some("http://127.0.0.1:9/soap".into());
            client.service_descriptions.push(ServiceDescription {
                kind: DescriptionType::Wsdl,
                url: "http://127.0.0.1:9/broken.wsdl".into(),
                disabled: false,
                disabled_notice: None,
                services: vec![broken],
            });
            Ok(())
        })
        .await
        .unwrap();
    store.close().await;

    let mut nodes = Vec::new();
    for layout in &mut network.nodes {
        let listeners = std::mem::take(&mut layout.listeners);
        nodes.push(node::start(&layout.config, listeners).await.unwrap());
    }
    let proxy = network
        .node("consumer")
        .unwrap()
        .config
        .listen
        .client_http
        .unwrap();
    let samples = network.samples.clone().unwrap();

    let checks = async {
        // --- listClients -------------------------------------------------------------
        let xml = send(proxy, "GET", "/listClients", vec![], String::new()).await;
        assert_eq!(xml.status, 200);
        assert_eq!(xml.content_type, "text/xml; charset=UTF-8");
        assert!(xml.body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<ns2:clientList xmlns:ns1=\"http://x-road.eu/xsd/identifiers\" xmlns:ns2=\"http://x-road.eu/xsd/xroad.xsd\">\n"), "{}", xml.body);
        assert!(xml.body.contains("    <ns2:member>\n        <ns2:id ns1:objectType=\"SUBSYSTEM\">\n            <ns1:xRoadInstance>DEV</ns1:xRoadInstance>\n            <ns1:memberClass>GOV</ns1:memberClass>\n            <ns1:memberCode>2222</ns1:memberCode>\n            <ns1:subsystemCode>services</ns1:subsystemCode>\n        </ns2:id>\n        <ns2:name>Provider Agency</ns2:name>\n"), "{}", xml.body);
        assert_eq!(xml.body.matches("<ns2:member>").count(), 5, "{}", xml.body);

        let json = send(
            proxy,
            "GET",
            "/listClients?xRoadInstance=DEV",
            vec![("Accept", "text/xml;q=1.0, application/json;q=0.5")],
            String::new(),
        )
        .await;
        assert_eq!(json.content_type, "application/json; charset=utf-8");
        assert!(json.body.starts_with(r#"{"member":[{"id":{"member_class":"COM","member_code":"1111","object_type":"MEMBER","xroad_instance":"DEV"},"name":"Consumer Ltd"},{"id":{"member_class":"COM","member_code":"1111","subsystem_code":"client","object_type":"SUBSYSTEM","xroad_instance":"DEV"},"name":"Consumer Ltd""#), "{}", json.body);
        let v: serde_json::Value = serde_json::from_str(&json.body).unwrap();
        assert_eq!(v["member"].as_array().unwrap().len(), 5);

        let unknown = send(
            proxy,
            "GET",
            "/listClients?xRoadInstance=NOPE",
            vec![],
            String::new(),
        )
        .await;
        assert!(
            unknown.body.contains("<faultcode>") && unknown.body.contains("internal_error"),
            "{}",
            unknown.body
        );
        assert!(unknown
            .body
            .contains("Shared params for instance identifier NOPE not found"));

        // --- SOAP ----------------------------------------------------------------------
        let soap = |client: &str, code: &str, body: &str| {
            let service = ServiceId::new(id("DEV/GOV/2222/services"), code, None).unwrap();
            soap_envelope(&id(client), &service, body)
        };
        let post = |envelope: String| {
            send(
                proxy,
                "POST",
                "/",
                vec![("Content-Type", "text/xml; charset=utf-8")],
                envelope,
            )
        };
        let list = post(soap(
            "DEV/COM/1111/client",
            "listMethods",
            "<xrd:listMethods/>",
        ))
        .await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert!(!list.body.contains("<faultcode>"), "{}", list.body);
        assert!(
            list.content_type.starts_with("text/xml"),
            "{}",
            list.content_type
        );
        assert!(
            list.body
                .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope"),
            "{}",
            list.body
        );
        assert!(
            list.body.contains(&format!(
            "<soapenv:Body><xrd:listMethodsResponse>{}{}{}</xrd:listMethodsResponse></soapenv:Body>",
            // Descriptions in store order, services sorted by code within each.
            service_xml("getRandom"),
            service_xml("helloService"),
            service_xml("broken")
        )),
            "{}",
            list.body
        );
        assert!(
            list.body.contains(
                "<xrd:requestHash algorithmId=\"http://www.w3.org/2001/04/xmlenc#sha512\">"
            ),
            "{}",
            list.body
        );

        let allowed = post(soap(
            "DEV/COM/1111/client",
            "allowedMethods",
            "<xrd:allowedMethods/>",
        ))
        .await;
        assert!(allowed.body.contains(&format!(
            "<soapenv:Body><xrd:allowedMethodsResponse>{}</xrd:allowedMethodsResponse></soapenv:Body>",
            service_xml("helloService")
        )), "{}", allowed.body);
        let none = post(soap(
            "DEV/COM/1111/other",
            "allowedMethods",
            "<xrd:allowedMethods/>",
        ))
        .await;
        assert!(
            none.body
                // Java's response re-serialization writes the empty element out in full.
                .contains("<soapenv:Body><xrd:allowedMethodsResponse></xrd:allowedMethodsResponse></soapenv:Body>"),
            "{}",
            none.body
        );

        let wsdl = post(soap(
            "DEV/COM/1111/other",
            "getWsdl",
            "<xrd:getWsdl><xrd:serviceCode>helloService</xrd:serviceCode><xrd:serviceVersion>v1</xrd:serviceVersion></xrd:getWsdl>",
        ))
        .await;
        assert!(
            wsdl.content_type.starts_with("multipart/related"),
            "{} {}",
            wsdl.content_type,
            wsdl.body
        );
        assert!(wsdl.body.contains("<xrd:getWsdlResponse><xrd:serviceCode>helloService</xrd:serviceCode><xrd:serviceVersion>v1</xrd:serviceVersion></xrd:getWsdlResponse>"), "{}", wsdl.body);
        assert!(
            wsdl.body.contains("<wsdl=") && wsdl.body.contains("@x-road.eu>"),
            "{}",
            wsdl.body
        );
        assert!(
            wsdl.body
                .contains("location=\"http://example.org/xroad-endpoint\""),
            "{}",
            wsdl.body
        );
        assert!(
            !wsdl.body.contains(&samples.soap),
            "the IS address leaks: {}",
            wsdl.body
        );
        assert!(wsdl.body.contains("helloService") && wsdl.body.contains("definitions"));
        // A real SOAP client builds itself from the WSDL that getWsdl returned.
        let attachment = wsdl_attachment(&wsdl.body);
        let wsdl_file = dir.path().join("hello-from-getwsdl.wsdl");
        std::fs::write(&wsdl_file, attachment).unwrap();
        zeep_call(&wsdl_file, proxy).await;

        let missing = post(soap("DEV/COM/1111/client", "getWsdl", "<xrd:getWsdl/>")).await;
        assert!(
            missing.body.contains("invalid_request")
                && missing.body.contains("Missing serviceCode in message body"),
            "{}",
            missing.body
        );
        let unknown = post(soap(
            "DEV/COM/1111/client",
            "getWsdl",
            "<xrd:getWsdl><xrd:serviceCode>nothing</xrd:serviceCode></xrd:getWsdl>",
        ))
        .await;
        assert!(unknown.body.contains("unknown_service"), "{}", unknown.body);
        let broken = post(soap(
            "DEV/COM/1111/client",
            "getWsdl",
            "<xrd:getWsdl><xrd:serviceCode>broken</xrd:serviceCode><xrd:serviceVersion>v1</xrd:serviceVersion></xrd:getWsdl>",
        ))
        .await;
        assert!(broken.body.contains("network_error"), "{}", broken.body);
        let rest_service = post(soap(
            "DEV/COM/1111/client",
            "getWsdl",
            "<xrd:getWsdl><xrd:serviceCode>petstore</xrd:serviceCode></xrd:getWsdl>",
        ))
        .await;
        assert!(
            rest_service.body.contains("service_type"),
            "{}",
            rest_service.body
        );

        // --- REST ----------------------------------------------------------------------
        let rest = |client: &'static str, path: &'static str| {
            send(
                proxy,
                "GET",
                path,
                vec![("X-Road-Client", client), ("Accept", "application/json")],
                String::new(),
            )
        };
        let base = "/r1/DEV/GOV/2222/services";
        let listed = rest(
            "DEV/COM/1111/client",
            "/r1/DEV/GOV/2222/services/listMethods",
        )
        .await;
        assert_eq!(listed.status, 200, "{}", listed.body);
        assert!(
            listed.content_type.starts_with("application/json"),
            "{}",
            listed.content_type
        );
        let v: serde_json::Value = serde_json::from_str(&listed.body).unwrap();
        let services = v["service"].as_array().unwrap();
        let mut codes: Vec<&str> = services
            .iter()
            .map(|s| s["service_code"].as_str().unwrap())
            .collect();
        codes.sort_unstable();
        assert_eq!(codes, ["pets", "petstore"], "{}", listed.body);
        let by_code = |code: &str| {
            services
                .iter()
                .find(|s| s["service_code"] == code)
                .unwrap()
                .clone()
        };
        assert_eq!(by_code("petstore")["service_type"], "OPENAPI");
        assert_eq!(by_code("pets")["service_type"], "REST");
        assert_eq!(by_code("pets")["endpoint_list"], serde_json::json!([]));
        let pet_endpoints = by_code("petstore")["endpoint_list"]
            .as_array()
            .unwrap()
            .clone();
        assert!(pet_endpoints.len() >= 3, "{}", listed.body);
        assert!(
            listed.body.contains(r#"{"member_class":"GOV","member_code":"2222","object_type":"SERVICE","service_code":"petstore","service_type":"OPENAPI","subsystem_code":"services","xroad_instance":"DEV","endpoint_list":[{"method":"#),
            "{}",
            listed.body
        );

        // The service lists are JSON whatever Accept asks (PR-MREST, Java's handler); only
        // listClients answers XML.
        let as_xml = send(
            proxy,
            "GET",
            "/r1/DEV/GOV/2222/services/listMethods",
            vec![
                ("X-Road-Client", "DEV/COM/1111/client"),
                ("Accept", "application/xml"),
            ],
            String::new(),
        )
        .await;
        assert_eq!(as_xml.status, 200, "{}", as_xml.body);
        assert!(
            as_xml.content_type.starts_with("application/json"),
            "{}",
            as_xml.content_type
        );
        assert_eq!(as_xml.body, listed.body);

        let allowed = rest(
            "DEV/COM/1111/client",
            "/r1/DEV/GOV/2222/services/allowedMethods",
        )
        .await;
        let v: serde_json::Value = serde_json::from_str(&allowed.body).unwrap();
        assert_eq!(
            v["service"].as_array().unwrap().len(),
            1,
            "{}",
            allowed.body
        );
        assert_eq!(v["service"][0]["service_code"], "petstore");
        assert_eq!(
            v["service"][0]["endpoint_list"].as_array().unwrap(),
            &pet_endpoints
        );

        let other = rest(
            "DEV/COM/1111/other",
            "/r1/DEV/GOV/2222/services/allowedMethods",
        )
        .await;
        let v: serde_json::Value = serde_json::from_str(&other.body).unwrap();
        let granted = EndpointPattern::new("GET", "/pets/*");
        let expected: Vec<serde_json::Value> = pet_endpoints
            .iter()
            .filter(|e| granted.matches(e["method"].as_str(), e["path"].as_str()))
            .cloned()
            .collect();
        assert!(!expected.is_empty() && expected.len() < pet_endpoints.len());
        assert_eq!(v["service"].as_array().unwrap().len(), 1, "{}", other.body);
        assert_eq!(
            v["service"][0]["endpoint_list"].as_array().unwrap(),
            &expected,
            "{}",
            other.body
        );

        let openapi = rest(
            "DEV/COM/1111/other",
            "/r1/DEV/GOV/2222/services/getOpenAPI?serviceCode=petstore",
        )
        .await;
        assert_eq!(openapi.status, 200, "{}", openapi.body);
        assert!(
            openapi.content_type.starts_with("application/json"),
            "{}",
            openapi.content_type
        );
        let doc: serde_json::Value = serde_json::from_str(&openapi.body).unwrap();
        assert_eq!(doc["openapi"], "3.0.3");
        assert_eq!(
            doc["servers"],
            serde_json::json!([{"url": ""}]),
            "{}",
            openapi.body
        );
        assert!(!openapi.body.contains(&samples.rest));

        let not_openapi = rest(
            "DEV/COM/1111/client",
            "/r1/DEV/GOV/2222/services/getOpenAPI?serviceCode=pets",
        )
        .await;
        assert!(
            not_openapi.body.contains("internal_error")
                && not_openapi.body.contains("Invalid service type: REST"),
            "{}",
            not_openapi.body
        );
        let no_code = rest(
            "DEV/COM/1111/client",
            "/r1/DEV/GOV/2222/services/getOpenAPI",
        )
        .await;
        assert!(no_code.body.contains("invalid_request"), "{}", no_code.body);
        let _ = base;
    };
    tokio::time::timeout(Duration::from_secs(240), checks)
        .await
        .expect("metaservice checks within 240 s");
    let stops: Vec<_> = nodes
        .into_iter()
        .map(|n| tokio::spawn(n.stop(Duration::from_secs(5))))
        .collect();
    for s in stops {
        let _ = s.await;
    }
    drop(network);
    dir.close().unwrap();
}
