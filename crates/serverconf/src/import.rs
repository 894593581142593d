//! Reading service descriptions: WSDL 1.1 (operations and `xrd:version` become services)
//! and OpenAPI 3 (operations become endpoints), and merging them into a client.
//!
//! What is read follows the Java admin service: WSDL services are the operations of every
//! port whose binding is SOAP (1.1 or 1.2) over HTTP, with the port's address as the service
//! URL, the binding operation's `version` child as the version and the port type
//! operation's `documentation/title` as the title. OpenAPI endpoints are every operation of
//! `paths`, with `{parameter}` segments turned into `*`; the service URL is the first
//! server's URL resolved against the document's URL.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::time::Duration;

use xroad_xml::{EndTag, Handler, Limits, Scanner, StartTag, SyntaxError};

use crate::model::{ClientConfig, DescriptionType, Endpoint, Service, ServiceDescription};
use crate::pattern::validate_path_pattern;

/// Largest description read (as Java's 10 MiB).
pub const MAX_DESCRIPTION_SIZE: u64 = 10 * 1024 * 1024;

/// Why a description could not be read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The document could not be fetched.
    #[error("cannot read '{url}': {reason}")]
    Read {
        /// Where it was looked for.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The WSDL is malformed or defines no SOAP service.
    #[error("invalid WSDL: {0}")]
    Wsdl(String),
    /// The OpenAPI document is malformed or not version 3.
    #[error("invalid OpenAPI document: {0}")]
    OpenApi(String),
    /// The import does not fit the client's configuration.
    #[error("{0}")]
    Conflict(String),
}

/// A SOAP service found in a WSDL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WsdlService {
    /// The operation name: the service code.
    pub code: String,
    /// The `xrd:version` of the binding operation.
    pub version: Option<String>,
    /// The `xrd:title` in the operation's documentation.
    pub title: Option<String>,
    /// The port's SOAP address.
    pub url: Option<String>,
}

const WSDL_NS: &str = "http://schemas.xmlsoap.org/wsdl/";
const SOAP_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
const SOAP12_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
const HTTP_TRANSPORT: &str = "http://schemas.xmlsoap.org/soap/http";

fn local(qname: &str) -> &str {
    qname.rsplit_once(':').map_or(qname, |(_, l)| l)
}

#[derive(Default)]
struct Binding {
    port_type: String,
    soap_http: bool,
    operations: Vec<(String, Option<String>)>,
}

#[derive(Default)]
struct WsdlReader {
    // Where we are.
    port_type: Option<String>,
    port_type_op: Option<String>,
    in_documentation: bool,
    binding: Option<String>,
    binding_op: Option<String>,
    port_binding: Option<String>,
    capture: Option<String>,
    // What was found.
    titles: HashMap<(String, String), String>,
    bindings: HashMap<String, Binding>,
    ports: Vec<(String, Option<String>)>,
}

#[derive(Debug)]
struct WsdlFail(String);

impl From<SyntaxError> for WsdlFail {
    fn from(e: SyntaxError) -> Self {
        WsdlFail(e.to_string())
    }
}

impl Handler for WsdlReader {
    type Error = WsdlFail;

    fn start_element(&mut self, tag: &StartTag<'_>) -> Result<(), WsdlFail> {
        let attr = |name: &str| tag.attribute("", name).map(str::to_owned);
        match (tag.depth, tag.namespace, tag.local) {
            (1, ns, "definitions") if ns == WSDL_NS => {}
            (1, _, _) => return Err(WsdlFail("the root element is not wsdl:definitions".into())),
            (2, WSDL_NS, "portType") => self.port_type = attr("name"),
            (2, WSDL_NS, "binding") => {
                let name = attr("name").unwrap_or_default();
                let port_type = local(tag.attribute("", "type").unwrap_or_default()).to_owned();
                self.bindings.insert(
                    name.clone(),
                    Binding {
                        port_type,
                        ..Binding::default()
                    },
                );
                self.binding = Some(name);
            }
            (3, WSDL_NS, "operation") if self.port_type.is_some() => {
                self.port_type_op = attr("name")
            }
            (4, WSDL_NS, "documentation") if self.port_type_op.is_some() => {
                self.in_documentation = true
            }
            (5, _, "title") if self.in_documentation => self.capture = Some(String::new()),
            (3, SOAP_NS | SOAP12_NS, "binding") => {
                if let Some(b) = self.binding.as_ref().and_then(|b| self.bindings.get_mut(b)) {
                    b.soap_http = tag.attribute("", "transport") == Some(HTTP_TRANSPORT);
                }
            }
            (3, WSDL_NS, "operation") if self.binding.is_some() => {
                let name = attr("name").unwrap_or_default();
                if let Some(b) = self.binding.as_ref().and_then(|b| self.bindings.get_mut(b)) {
                    b.operations.push((name.clone(), None));
                }
                self.binding_op = Some(name);
            }
            (4, _, "version") if self.binding_op.is_some() => self.capture = Some(String::new()),
            (3, WSDL_NS, "port") => {
                let binding = local(tag.attribute("", "binding").unwrap_or_default()).to_owned();
                self.ports.push((binding.clone(), None));
                self.port_binding = Some(binding);
            }
            (4, SOAP_NS | SOAP12_NS, "address") if self.port_binding.is_some() => {
                if let Some(port) = self.ports.last_mut() {
                    port.1 = attr("location");
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn end_element(&mut self, tag: &EndTag<'_>) -> Result<(), WsdlFail> {
        match tag.depth {
            2 => {
                self.port_type = None;
                self.binding = None;
            }
            3 => {
                self.port_type_op = None;
                self.binding_op = None;
                self.port_binding = None;
            }
            4 => {
                self.in_documentation = false;
                if let (Some(text), Some(b)) = (self.capture.take(), &self.binding) {
                    let text = text.trim().to_owned();
                    if let Some(op) = self
                        .bindings
                        .get_mut(b)
                        .and_then(|b| b.operations.last_mut())
                    {
                        op.1 = (!text.is_empty()).then_some(text);
                    }
                }
            }
            5 => {
                if let (Some(text), Some(pt), Some(op)) =
                    (self.capture.take(), &self.port_type, &self.port_type_op)
                {
                    self.titles
                        .insert((pt.clone(), op.clone()), text.trim().to_owned());
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), WsdlFail> {
        if let Some(c) = &mut self.capture {
            c.push_str(text);
        }
        Ok(())
    }
}

/// The SOAP services of a WSDL 1.1 document, sorted by code and version.
pub fn parse_wsdl(document: &[u8]) -> Result<Vec<WsdlService>, ImportError> {
    let mut reader = WsdlReader::default();
    let mut scanner = Scanner::new(Limits::default());
    scanner
        .feed(document, &mut reader)
        .and_then(|()| scanner.finish(&mut reader))
        .map_err(|e| ImportError::Wsdl(e.0))?;
    let mut found = BTreeMap::new();
    for (binding, url) in &reader.ports {
        let Some(b) = reader.bindings.get(binding) else {
            continue;
        };
        if !b.soap_http {
            continue;
        }
        for (op, version) in &b.operations {
            let title = reader
                .titles
                .get(&(b.port_type.clone(), op.clone()))
                .filter(|t| !t.is_empty())
                .cloned();
            found.insert(
                (op.clone(), version.clone()),
                WsdlService {
                    code: op.clone(),
                    version: version.clone(),
                    title,
                    url: url.clone(),
                },
            );
        }
    }
    if found.is_empty() {
        return Err(ImportError::Wsdl(
            "it defines no SOAP-over-HTTP service operations".into(),
        ));
    }
    Ok(found.into_values().collect())
}

/// What an OpenAPI 3 document defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenApi {
    /// The first server's URL, if any.
    pub server_url: Option<String>,
    /// Every operation, `{parameter}` segments as `*`, sorted.
    pub endpoints: Vec<Endpoint>,
}

const OPENAPI_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Reads an OpenAPI 3.0.x or 3.1.0 document (YAML or JSON).
pub fn parse_openapi(document: &[u8]) -> Result<OpenApi, ImportError> {
    let fail = |m: String| ImportError::OpenApi(m);
    let text = std::str::from_utf8(document).map_err(|_| fail("not UTF-8".into()))?;
    let doc: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| fail(e.to_string()))?;
    let version = doc
        .get("openapi")
        .and_then(|v| v.as_str())
        .ok_or_else(|| fail("no 'openapi' version field".into()))?;
    if !(version.starts_with("3.0") || version == "3.1.0") {
        return Err(fail(format!("OpenAPI version {version} not supported")));
    }
    let server_url = doc
        .get("servers")
        .and_then(|s| s.as_sequence())
        .and_then(|s| s.first())
        .and_then(|s| s.get("url"))
        .and_then(|u| u.as_str())
        .map(str::to_owned);
    let mut endpoints = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(|p| p.as_mapping()) {
        for (path, item) in paths {
            let Some(path) = path.as_str() else {
                return Err(fail("a key of 'paths' is not a string".into()));
            };
            let pattern = replace_parameters(path);
            validate_path_pattern(&pattern).map_err(|e| fail(format!("paths.{path}: {e}")))?;
            let Some(item) = item.as_mapping() else {
                continue;
            };
            for (method, _) in item {
                if let Some(m) = method.as_str().filter(|m| OPENAPI_METHODS.contains(m)) {
                    endpoints.push(Endpoint {
                        method: m.to_ascii_uppercase(),
                        path: pattern.clone(),
                    });
                }
            }
        }
    }
    endpoints.sort();
    endpoints.dedup();
    Ok(OpenApi {
        server_url,
        endpoints,
    })
}

/// `{` up to the last `}` of its segment becomes `*` (Java: `\{[^/]*}`).
fn replace_parameters(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        // Greedy within the segment, as the regular expression.
        let segment = &after[..after.find('/').unwrap_or(after.len())];
        match segment.rfind('}') {
            Some(end) => {
                out.push_str(&rest[..start]);
                out.push('*');
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(&rest[..=start]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Reads a description from a file path, a `file://` URL or an `http://` URL (plain HTTP
/// only: HTTPS descriptions are fetched by other means and given as a file).
pub fn read_source(location: &str) -> Result<Vec<u8>, ImportError> {
    let fail = |reason: String| ImportError::Read {
        url: location.to_owned(),
        reason,
    };
    let limited = |r: &mut dyn Read| -> Result<Vec<u8>, ImportError> {
        let mut buf = Vec::new();
        r.take(MAX_DESCRIPTION_SIZE + 1)
            .read_to_end(&mut buf)
            .map_err(|e| fail(e.to_string()))?;
        if buf.len() as u64 > MAX_DESCRIPTION_SIZE {
            return Err(fail(format!("larger than {MAX_DESCRIPTION_SIZE} bytes")));
        }
        Ok(buf)
    };
    if location.starts_with("http://") {
        return http_get(location).map_err(fail).and_then(|b| {
            if b.len() as u64 > MAX_DESCRIPTION_SIZE {
                Err(ImportError::Read {
                    url: location.to_owned(),
                    reason: format!("larger than {MAX_DESCRIPTION_SIZE} bytes"),
                })
            } else {
                Ok(b)
            }
        });
    }
    if location.starts_with("https://") {
        return Err(fail(
            "HTTPS is not fetched by this tool; download the document and give it with --file"
                .into(),
        ));
    }
    let path = match location.strip_prefix("file://") {
        Some(p) => p.to_owned(),
        None => location.to_owned(),
    };
    let mut f = std::fs::File::open(&path).map_err(|e| fail(e.to_string()))?;
    limited(&mut f)
}

/// A minimal HTTP/1.1 GET (no redirects, `Connection: close`), bounded in size and time.
fn http_get(url: &str) -> Result<Vec<u8>, String> {
    let u = url::Url::parse(url).map_err(|e| e.to_string())?;
    let host = u.host_str().ok_or("no host")?;
    let port = u.port_or_known_default().unwrap_or(80);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("host not found")?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut target = u.path().to_owned();
    if let Some(q) = u.query() {
        target.push('?');
        target.push_str(q);
    }
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream
        .take(MAX_DESCRIPTION_SIZE + 64 * 1024)
        .read_to_end(&mut raw)
        .map_err(|e| e.to_string())?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!(
            "HTTP status {}",
            head.lines().next().unwrap_or_default()
        ));
    }
    let body = &raw[split + 4..];
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if !chunked {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("malformed chunked body")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "malformed chunk size")?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = rest.get(..size).ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        rest = rest.get(size + 2..).ok_or("truncated chunk")?;
    }
}

/// Adds the WSDL at `url` to `client`, or refreshes it if the client has it already: new
/// operations become services (with the port address and the default timeout), services
/// that remain keep their address, timeout and TLS setting (their title is updated), and
/// services that disappeared are removed with their access rights.
pub fn merge_wsdl(
    client: &mut ClientConfig,
    url: &str,
    found: &[WsdlService],
) -> Result<(), ImportError> {
    let index = description_index(client, url, DescriptionType::Wsdl)?;
    let old = std::mem::take(&mut client.service_descriptions[index].services);
    let services: Vec<Service> = found
        .iter()
        .map(|f| {
            match old
                .iter()
                .find(|s| s.code == f.code && s.version == f.version)
            {
                Some(s) => Service {
                    title: f.title.clone(),
                    ..s.clone()
                },
                None => Service {
                    version: f.version.clone(),
                    title: f.title.clone(),
                    url: f.url.clone(),
                    ..Service::new(f.code.as_str())
                },
            }
        })
        .collect();
    client.service_descriptions[index].services = services;
    drop_dangling_rights(client);
    Ok(())
}

/// Adds the OpenAPI description at `url` to `client` as the service `code`, or refreshes
/// it: the endpoints become the document's; access rights to endpoints that disappeared are
/// removed. A new service's address is the document's first server URL resolved against
/// `url` (kept as it is when it has `{variables}`).
pub fn merge_openapi(
    client: &mut ClientConfig,
    url: &str,
    code: Option<&str>,
    api: &OpenApi,
) -> Result<(), ImportError> {
    let index = description_index(client, url, DescriptionType::OpenApi3)?;
    let description = &mut client.service_descriptions[index];
    let base = match &api.server_url {
        Some(s) if s.contains('{') => Some(s.clone()),
        Some(s) => url::Url::parse(url)
            .and_then(|u| u.join(s))
            .map(|u| u.to_string())
            .ok(),
        None => Some(url.to_owned()),
    };
    match description.services.first_mut() {
        Some(s) => {
            if code.is_some_and(|c| c != s.code) {
                return Err(ImportError::Conflict(format!(
                    "the description '{url}' already defines service '{}'",
                    s.code
                )));
            }
            s.endpoints = api.endpoints.clone();
        }
        None => {
            let Some(code) = code else {
                return Err(ImportError::Conflict(
                    "a new OpenAPI description needs a service code".into(),
                ));
            };
            description.services.push(Service {
                url: base,
                endpoints: api.endpoints.clone(),
                ..Service::new(code)
            });
        }
    }
    drop_dangling_rights(client);
    Ok(())
}

fn description_index(
    client: &mut ClientConfig,
    url: &str,
    kind: DescriptionType,
) -> Result<usize, ImportError> {
    match client
        .service_descriptions
        .iter()
        .position(|d| d.url == url)
    {
        Some(i) if client.service_descriptions[i].kind == kind => Ok(i),
        Some(i) => Err(ImportError::Conflict(format!(
            "the description '{url}' is of type {}, not {}",
            client.service_descriptions[i].kind.as_str(),
            kind.as_str()
        ))),
        None => {
            client.service_descriptions.push(ServiceDescription {
                kind,
                url: url.to_owned(),
                disabled: false,
                disabled_notice: None,
                services: Vec::new(),
            });
            Ok(client.service_descriptions.len() - 1)
        }
    }
}

/// Access rights whose service or endpoint no longer exists are removed, as Java deletes
/// them with their endpoint.
fn drop_dangling_rights(client: &mut ClientConfig) {
    let mut rights = std::mem::take(&mut client.access_rights);
    rights.retain(|r| {
        client
            .service(&r.service)
            .is_some_and(|(_, s)| s.has_endpoint(&r.method, &r.path))
    });
    client.access_rights = rights;
}

#[cfg(test)]
mod tests {
    use super::*;

    const WSDL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:http="http://schemas.xmlsoap.org/wsdl/http/"
    xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:tns="http://example.org/persons"
    targetNamespace="http://example.org/persons">
  <wsdl:portType name="PersonsPort">
    <wsdl:operation name="getPerson">
      <wsdl:documentation><xrd:title> Find a person </xrd:title></wsdl:documentation>
      <wsdl:input message="tns:getPerson"/>
    </wsdl:operation>
    <wsdl:operation name="listPersons"/>
  </wsdl:portType>
  <wsdl:binding name="PersonsBinding" type="tns:PersonsPort">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="getPerson">
      <soap:operation soapAction="" style="document"/>
      <xrd:version>v1</xrd:version>
    </wsdl:operation>
    <wsdl:operation name="listPersons">
      <xrd:version>v2</xrd:version>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:binding name="HttpBinding" type="tns:PersonsPort">
    <http:binding verb="GET"/>
    <wsdl:operation name="notSoap"/>
  </wsdl:binding>
  <wsdl:service name="Persons">
    <wsdl:port name="PersonsSoap" binding="tns:PersonsBinding">
      <soap:address location="http://persons.example.org/soap"/>
    </wsdl:port>
    <wsdl:port name="PersonsHttp" binding="tns:HttpBinding">
      <http:address location="http://persons.example.org/http"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>"#;

    #[test]
    fn wsdl_operations_and_versions_become_services() {
        let found = parse_wsdl(WSDL.as_bytes()).unwrap();
        assert_eq!(
            found,
            vec![
                WsdlService {
                    code: "getPerson".into(),
                    version: Some("v1".into()),
                    title: Some("Find a person".into()),
                    url: Some("http://persons.example.org/soap".into()),
                },
                WsdlService {
                    code: "listPersons".into(),
                    version: Some("v2".into()),
                    title: None,
                    url: Some("http://persons.example.org/soap".into()),
                },
            ]
        );
    }

    #[test]
    fn bad_wsdls_are_refused() {
        assert!(matches!(parse_wsdl(b"<a>"), Err(ImportError::Wsdl(_))));
        assert!(matches!(parse_wsdl(b"<a/>"), Err(ImportError::Wsdl(_))));
        let no_soap = WSDL.replace("http://schemas.xmlsoap.org/soap/http", "urn:smtp");
        let e = parse_wsdl(no_soap.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("no SOAP"), "{e}");
    }

    #[test]
    fn openapi_operations_become_endpoints() {
        let doc = r#"
openapi: 3.0.3
servers: [{url: /api/v1}]
paths:
  /persons:
    get: {}
    post: {}
    parameters: []
  /persons/{id}:
    get: {}
    delete: {}
  /persons/{id}/address/{kind}.json:
    get: {}
"#;
        let api = parse_openapi(doc.as_bytes()).unwrap();
        assert_eq!(api.server_url.as_deref(), Some("/api/v1"));
        let eps: Vec<String> = api
            .endpoints
            .iter()
            .map(|e| format!("{} {}", e.method, e.path))
            .collect();
        assert_eq!(
            eps,
            vec![
                "DELETE /persons/*",
                "GET /persons",
                "GET /persons/*",
                "GET /persons/*/address/*.json",
                "POST /persons",
            ]
        );
        let json = r#"{"openapi": "3.1.0", "paths": {"/x": {"put": {}}}}"#;
        assert_eq!(parse_openapi(json.as_bytes()).unwrap().endpoints.len(), 1);
        assert!(parse_openapi(b"swagger: '2.0'").is_err());
        assert!(parse_openapi(b"openapi: 3.2.0").is_err());
        assert!(parse_openapi(b"openapi: [").is_err());
    }

    #[test]
    fn merging_keeps_settings_and_drops_dangling_rights() {
        let mut client =
            ClientConfig::new(xroad_identifiers::ClientId::from_rest("EE/GOV/1/sub").unwrap());
        let url = "file:///tmp/p.wsdl";
        let found = parse_wsdl(WSDL.as_bytes()).unwrap();
        merge_wsdl(&mut client, url, &found).unwrap();
        client.service_descriptions[0].services[0].timeout = 5;
        client.access_rights.push(crate::model::AccessRight {
            service: "listPersons".into(),
            method: "*".into(),
            path: "**".into(),
            subjects: vec!["MEMBER:EE/GOV/2".parse().unwrap()],
        });
        // The next version drops listPersons.
        merge_wsdl(&mut client, url, &found[..1]).unwrap();
        let d = &client.service_descriptions[0];
        assert_eq!(d.services.len(), 1);
        assert_eq!(d.services[0].timeout, 5);
        assert!(client.access_rights.is_empty());

        let api = parse_openapi(b"openapi: 3.0.0\nservers: [{url: /v1}]\npaths: {/a: {get: {}}}")
            .unwrap();
        merge_openapi(&mut client, "http://h/doc.yaml", Some("api"), &api).unwrap();
        let s = &client.service_descriptions[1].services[0];
        assert_eq!(s.url.as_deref(), Some("http://h/v1"));
        assert_eq!(s.endpoints.len(), 1);
        assert!(merge_openapi(&mut client, "http://h/doc.yaml", Some("other"), &api).is_err());
        assert!(merge_wsdl(&mut client, "http://h/doc.yaml", &found).is_err());
    }

    #[test]
    fn reads_files_and_refuses_https() {
        let dir = std::env::temp_dir().join(format!("sc-import-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.wsdl");
        std::fs::write(&f, WSDL).unwrap();
        assert_eq!(
            read_source(&f.display().to_string()).unwrap(),
            WSDL.as_bytes()
        );
        assert_eq!(
            read_source(&format!("file://{}", f.display())).unwrap(),
            WSDL.as_bytes()
        );
        assert!(read_source("https://example.org/x.wsdl").is_err());
        assert!(read_source(&dir.join("missing").display().to_string()).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
