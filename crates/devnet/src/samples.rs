//! The sample information systems behind the demo network's provider, on 127.0.0.1:
//!
//! - a SOAP service (X-Road message protocol 4.0) with two operations, `helloService` and
//!   `getRandom`, that answers with the request's X-Road header block copied verbatim (client,
//!   service, id, userId, issue, protocolVersion, …), a SOAP fault for other operations and
//!   for requests that are not X-Road messages, and its WSDL at `/wsdl` (or `?wsdl`);
//! - a REST service, a small pet store in JSON (GET, POST, PUT, DELETE) that echoes each
//!   request (method, path, query, `X-Road-*` headers, body), with its OpenAPI 3 document
//!   at `/openapi.json`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use xroad_message::soap::{parse_soap, Soap};

/// The target namespace of the sample SOAP service.
pub const SOAP_NAMESPACE: &str = "http://demo.x-road.eu/sample";

/// The largest request body the samples read.
const MAX_BODY: usize = 16 * 1024 * 1024;

type Handler = Arc<dyn Fn(&Parts, Bytes) -> Response<Full<Bytes>> + Send + Sync>;

/// A running HTTP server; dropping it stops it.
#[derive(Debug)]
struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn serve(listener: std::net::TcpListener, handler: Handler) -> std::io::Result<Server> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<_>| {
                    let handler = handler.clone();
                    respond(req, handler)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Server { addr, task })
}

async fn respond(
    req: Request<hyper::body::Incoming>,
    handler: Handler,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                "request body too large\n".into(),
            ))
        }
    };
    Ok(handler(&parts, body))
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}

/// The addresses of the running samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleUrls {
    /// The SOAP endpoint (`http://127.0.0.1:PORT/`).
    pub soap: String,
    /// Its WSDL.
    pub wsdl: String,
    /// The REST base URL (`http://127.0.0.1:PORT`, paths `/pets…` below it).
    pub rest: String,
    /// Its OpenAPI document.
    pub openapi: String,
}

/// The running sample services; dropping them stops them.
#[derive(Debug)]
pub struct SampleServices {
    soap: Server,
    rest: Server,
}

impl SampleServices {
    /// Starts both samples at ephemeral loopback ports (inside a tokio runtime).
    pub fn start() -> std::io::Result<SampleServices> {
        Self::start_on(
            std::net::TcpListener::bind("127.0.0.1:0")?,
            std::net::TcpListener::bind("127.0.0.1:0")?,
        )
    }

    /// Starts the SOAP sample on `soap` and the REST sample on `rest` (inside a tokio
    /// runtime).
    pub fn start_on(
        soap: std::net::TcpListener,
        rest: std::net::TcpListener,
    ) -> std::io::Result<SampleServices> {
        let soap_url = format!("http://{}/", soap.local_addr()?);
        let wsdl_text: Arc<str> = Arc::from(wsdl(&soap_url));
        let soap = serve(
            soap,
            Arc::new(move |parts: &Parts, body: Bytes| soap_service(parts, &body, &wsdl_text)),
        )?;
        let rest_url = format!("http://{}", rest.local_addr()?);
        let openapi_text: Arc<str> = Arc::from(openapi(&rest_url));
        let store = Arc::new(Mutex::new(PetStore::new()));
        let rest = serve(
            rest,
            Arc::new(move |parts: &Parts, body: Bytes| {
                rest_service(parts, &body, &openapi_text, &store)
            }),
        )?;
        Ok(SampleServices { soap, rest })
    }

    /// Where they are.
    pub fn urls(&self) -> SampleUrls {
        SampleUrls {
            soap: format!("http://{}/", self.soap.addr),
            wsdl: format!("http://{}/wsdl", self.soap.addr),
            rest: format!("http://{}", self.rest.addr),
            openapi: format!("http://{}/openapi.json", self.rest.addr),
        }
    }
}

// ---------------------------------------------------------------------------------------
// SOAP

/// Text and attribute values escaped for XML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A SOAP 1.1 fault (HTTP 500).
fn soap_fault(code: &str, message: &str) -> Response<Full<Bytes>> {
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/xml; charset=utf-8",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>{}</faultcode><faultstring>{}</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>",
            esc(code),
            esc(message)
        ),
    )
}

/// An element start tag found in a document: its span and qualified name.
struct Tag<'a> {
    start: usize,
    end: usize,
    name: &'a str,
}

impl Tag<'_> {
    fn local(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(self.name)
    }

    fn self_closing(&self, doc: &str) -> bool {
        doc[..self.end].ends_with("/>")
    }
}

/// The next element start tag at or after `from` (skipping the XML declaration, comments
/// and processing instructions); `None` at an end tag or the end of the document.
fn next_tag(doc: &str, mut from: usize) -> Option<Tag<'_>> {
    loop {
        let lt = doc.get(from..)?.find('<')? + from;
        let rest = &doc[lt..];
        if rest.starts_with("<?") {
            from = lt + rest.find("?>")? + 2;
        } else if rest.starts_with("<!--") {
            from = lt + rest.find("-->")? + 3;
        } else if rest.starts_with("</") {
            return None;
        } else if rest.starts_with("<!") {
            from = lt + rest.find('>')? + 1;
        } else {
            let mut quote = None;
            for (k, c) in rest.char_indices() {
                match (quote, c) {
                    (None, '"' | '\'') => quote = Some(c),
                    (Some(q), c) if c == q => quote = None,
                    (None, '>') => {
                        let name_end = rest[1..]
                            .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
                            .map_or(k, |n| n + 1);
                        return Some(Tag {
                            start: lt,
                            end: lt + k + 1,
                            name: &rest[1..name_end],
                        });
                    }
                    _ => {}
                }
            }
            return None;
        }
    }
}

/// The end of the element whose start tag is `tag` (just after its end tag).
fn element_end(doc: &str, tag: &Tag<'_>) -> Option<usize> {
    if tag.self_closing(doc) {
        return Some(tag.end);
    }
    // SOAP Header and Body do not nest in themselves: the first end tag closes them.
    let close = format!("</{}", tag.name);
    let at = doc[tag.end..].find(&close)? + tag.end;
    Some(at + doc[at..].find('>')? + 1)
}

/// The parts of a request envelope the response reuses.
struct Envelope<'a> {
    /// The envelope start tag, with every namespace declaration of the request.
    start_tag: &'a str,
    /// The envelope's qualified name.
    name: &'a str,
    /// `prefix:` of the SOAP envelope namespace, or empty.
    prefix: &'a str,
    /// The Header element as sent.
    header: &'a str,
    /// What is inside Body.
    body: &'a str,
}

fn envelope(doc: &str) -> Option<Envelope<'_>> {
    let env = next_tag(doc, 0)?;
    let prefix = env.name.find(':').map_or("", |i| &env.name[..=i]);
    let first = next_tag(doc, env.end)?;
    let (header, body_tag) = if first.local() == "Header" {
        let end = element_end(doc, &first)?;
        (&doc[first.start..end], next_tag(doc, end)?)
    } else {
        ("", first)
    };
    if body_tag.local() != "Body" {
        return None;
    }
    let body_end = element_end(doc, &body_tag)?;
    let inner_end = doc[..body_end].rfind("</")?.max(body_tag.end);
    Some(Envelope {
        start_tag: &doc[env.start..env.end],
        name: env.name,
        prefix,
        header,
        body: &doc[body_tag.end..inner_end],
    })
}

/// The text of the first element with local name `local` in `xml`, unescaped.
fn child_text(xml: &str, local: &str) -> Option<String> {
    let mut from = 0;
    while let Some(lt) = xml.get(from..)?.find('<').map(|i| i + from) {
        let tag = next_tag(xml, lt);
        match tag {
            Some(t) if t.local() == local => {
                if t.self_closing(xml) {
                    return Some(String::new());
                }
                let end = xml[t.end..].find("</")? + t.end;
                return Some(unescape(&xml[t.end..end]));
            }
            Some(t) => from = t.end,
            None => from = lt + 1,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn soap_service(parts: &Parts, body: &[u8], wsdl_text: &str) -> Response<Full<Bytes>> {
    let wants_wsdl = parts.uri.path() == "/wsdl" || parts.uri.query() == Some("wsdl");
    if parts.method == Method::GET && wants_wsdl {
        return text(
            StatusCode::OK,
            "text/xml; charset=utf-8",
            wsdl_text.to_owned(),
        );
    }
    if parts.method != Method::POST {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "POST an X-Road SOAP request here; the WSDL is at /wsdl\n".into(),
        );
    }
    let message = match parse_soap(body) {
        Ok(Soap::Message(m)) => m,
        Ok(Soap::Fault(_)) => return soap_fault("Client", "a fault is not a request"),
        Err(e) => {
            return soap_fault(
                "Client",
                &format!("not an X-Road SOAP request: {}", e.message()),
            )
        }
    };
    let Some(env) = std::str::from_utf8(body).ok().and_then(envelope) else {
        return soap_fault("Client", "the sample reads UTF-8 SOAP envelopes only");
    };
    let operation = message.service_name.as_str();
    let payload = match operation {
        "helloService" => {
            let name = child_text(env.body, "name").unwrap_or_default();
            let name = if name.trim().is_empty() {
                "stranger"
            } else {
                name.trim()
            };
            format!(
                "<message>Hello {}! Greetings from the X-Road demo provider.</message>",
                esc(name)
            )
        }
        "getRandom" => format!("<data>{}</data>", rand::random::<u32>() % 100 + 1),
        other => {
            return soap_fault(
                "Server.UnknownOperation",
                &format!("the sample service has no operation '{other}' (helloService, getRandom)"),
            )
        }
    };
    let p = env.prefix;
    text(
        StatusCode::OK,
        "text/xml; charset=utf-8",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}{}<{p}Body><ns1:{operation}Response xmlns:ns1=\"{SOAP_NAMESPACE}\">{payload}</ns1:{operation}Response></{p}Body></{}>",
            env.start_tag, env.header, env.name
        ),
    )
}

/// The X-Road WSDL of the sample SOAP service at `endpoint`: the X-Road header elements and
/// identifier types declared inline, so that it stands alone (no schema imports to fetch).
pub fn wsdl(endpoint: &str) -> String {
    let header = |parts: &[&str]| {
        parts
            .iter()
            .map(|p| {
                format!(
                    "                <soap:header message=\"tns:requestHeader\" part=\"{p}\" use=\"literal\"/>\n"
                )
            })
            .collect::<String>()
    };
    let input_headers = header(&[
        "client",
        "service",
        "id",
        "userId",
        "issue",
        "protocolVersion",
    ]);
    let output_headers = header(&[
        "client",
        "service",
        "id",
        "userId",
        "issue",
        "protocolVersion",
    ]);
    let operation = |name: &str| {
        format!(
            r#"        <wsdl:operation name="{name}">
            <soap:operation soapAction="" style="document"/>
            <xrd:version>v1</xrd:version>
            <wsdl:input>
                <soap:body use="literal"/>
{input_headers}            </wsdl:input>
            <wsdl:output>
                <soap:body use="literal"/>
{output_headers}            </wsdl:output>
        </wsdl:operation>
"#
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- The X-Road demo network's sample SOAP service: helloService and getRandom (v1). -->
<wsdl:definitions name="sample" targetNamespace="{SOAP_NAMESPACE}"
        xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
        xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
        xmlns:xs="http://www.w3.org/2001/XMLSchema"
        xmlns:xrd="http://x-road.eu/xsd/xroad.xsd"
        xmlns:id="http://x-road.eu/xsd/identifiers"
        xmlns:tns="{SOAP_NAMESPACE}">
    <wsdl:types>
        <xs:schema targetNamespace="http://x-road.eu/xsd/identifiers" elementFormDefault="qualified">
            <xs:simpleType name="XRoadObjectType">
                <xs:restriction base="xs:string">
                    <xs:enumeration value="MEMBER"/>
                    <xs:enumeration value="SUBSYSTEM"/>
                    <xs:enumeration value="SERVER"/>
                    <xs:enumeration value="GLOBALGROUP"/>
                    <xs:enumeration value="LOCALGROUP"/>
                    <xs:enumeration value="SERVICE"/>
                </xs:restriction>
            </xs:simpleType>
            <xs:attribute name="objectType" type="id:XRoadObjectType"/>
            <xs:element name="xRoadInstance" type="xs:string"/>
            <xs:element name="memberClass" type="xs:string"/>
            <xs:element name="memberCode" type="xs:string"/>
            <xs:element name="subsystemCode" type="xs:string"/>
            <xs:element name="serviceCode" type="xs:string"/>
            <xs:element name="serviceVersion" type="xs:string"/>
            <xs:complexType name="XRoadClientIdentifierType">
                <xs:sequence>
                    <xs:element ref="id:xRoadInstance"/>
                    <xs:element ref="id:memberClass"/>
                    <xs:element ref="id:memberCode"/>
                    <xs:element ref="id:subsystemCode" minOccurs="0"/>
                </xs:sequence>
                <xs:attribute ref="id:objectType" use="required"/>
            </xs:complexType>
            <xs:complexType name="XRoadServiceIdentifierType">
                <xs:sequence>
                    <xs:element ref="id:xRoadInstance"/>
                    <xs:element ref="id:memberClass"/>
                    <xs:element ref="id:memberCode"/>
                    <xs:element ref="id:subsystemCode" minOccurs="0"/>
                    <xs:element ref="id:serviceCode"/>
                    <xs:element ref="id:serviceVersion" minOccurs="0"/>
                </xs:sequence>
                <xs:attribute ref="id:objectType" use="required"/>
            </xs:complexType>
        </xs:schema>
        <xs:schema targetNamespace="http://x-road.eu/xsd/xroad.xsd" elementFormDefault="qualified">
            <xs:import namespace="http://x-road.eu/xsd/identifiers"/>
            <xs:element name="client" type="id:XRoadClientIdentifierType"/>
            <xs:element name="service" type="id:XRoadServiceIdentifierType"/>
            <xs:element name="id" type="xs:string"/>
            <xs:element name="userId" type="xs:string"/>
            <xs:element name="issue" type="xs:string"/>
            <xs:element name="protocolVersion" type="xs:string"/>
            <xs:element name="version" type="xs:string"/>
            <xs:element name="title" type="xs:string"/>
        </xs:schema>
        <xs:schema targetNamespace="{SOAP_NAMESPACE}">
            <xs:element name="helloService">
                <xs:complexType>
                    <xs:sequence>
                        <xs:element name="name" type="xs:string"/>
                    </xs:sequence>
                </xs:complexType>
            </xs:element>
            <xs:element name="helloServiceResponse">
                <xs:complexType>
                    <xs:sequence>
                        <xs:element name="message" type="xs:string"/>
                    </xs:sequence>
                </xs:complexType>
            </xs:element>
            <xs:element name="getRandom">
                <xs:complexType>
                    <xs:sequence/>
                </xs:complexType>
            </xs:element>
            <xs:element name="getRandomResponse">
                <xs:complexType>
                    <xs:sequence>
                        <xs:element name="data" type="xs:int"/>
                    </xs:sequence>
                </xs:complexType>
            </xs:element>
        </xs:schema>
    </wsdl:types>

    <wsdl:message name="requestHeader">
        <wsdl:part name="client" element="xrd:client"/>
        <wsdl:part name="service" element="xrd:service"/>
        <wsdl:part name="id" element="xrd:id"/>
        <wsdl:part name="userId" element="xrd:userId"/>
        <wsdl:part name="issue" element="xrd:issue"/>
        <wsdl:part name="protocolVersion" element="xrd:protocolVersion"/>
    </wsdl:message>
    <wsdl:message name="helloService"><wsdl:part name="body" element="tns:helloService"/></wsdl:message>
    <wsdl:message name="helloServiceResponse"><wsdl:part name="body" element="tns:helloServiceResponse"/></wsdl:message>
    <wsdl:message name="getRandom"><wsdl:part name="body" element="tns:getRandom"/></wsdl:message>
    <wsdl:message name="getRandomResponse"><wsdl:part name="body" element="tns:getRandomResponse"/></wsdl:message>

    <wsdl:portType name="samplePortType">
        <wsdl:operation name="helloService">
            <wsdl:input message="tns:helloService"/>
            <wsdl:output message="tns:helloServiceResponse"/>
        </wsdl:operation>
        <wsdl:operation name="getRandom">
            <wsdl:input message="tns:getRandom"/>
            <wsdl:output message="tns:getRandomResponse"/>
        </wsdl:operation>
    </wsdl:portType>

    <wsdl:binding name="sampleBinding" type="tns:samplePortType">
        <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
{}{}    </wsdl:binding>

    <wsdl:service name="sampleService">
        <wsdl:port name="samplePort" binding="tns:sampleBinding">
            <soap:address location="{}"/>
        </wsdl:port>
    </wsdl:service>
</wsdl:definitions>
"#,
        operation("helloService"),
        operation("getRandom"),
        esc(endpoint)
    )
}

// ---------------------------------------------------------------------------------------
// REST

/// The OpenAPI 3 document of the REST sample served at `server`.
pub fn openapi(server: &str) -> String {
    let pet = json!({"$ref": "#/components/schemas/Pet"});
    let id_param =
        json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}]);
    let answer = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"type": "object"}}}});
    let doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Pet store (X-Road demo sample)",
            "version": "1.0.0",
            "description": "Every answer also echoes the request: method, path, query, X-Road headers and body."
        },
        "servers": [{"url": server}],
        "paths": {
            "/pets": {
                "get": {"operationId": "listPets", "summary": "List the pets",
                        "parameters": [{"name": "tag", "in": "query", "required": false, "schema": {"type": "string"}}],
                        "responses": {"200": answer("The pets")}},
                "post": {"operationId": "createPet", "summary": "Add a pet",
                         "requestBody": {"required": true, "content": {"application/json": {"schema": pet}}},
                         "responses": {"201": answer("The new pet"), "400": answer("Not a pet")}}
            },
            "/pets/{id}": {
                "parameters": id_param,
                "get": {"operationId": "getPet", "summary": "One pet",
                        "responses": {"200": answer("The pet"), "404": answer("No such pet")}},
                "put": {"operationId": "updatePet", "summary": "Replace a pet",
                        "requestBody": {"required": true, "content": {"application/json": {"schema": pet}}},
                        "responses": {"200": answer("The pet"), "404": answer("No such pet")}},
                "delete": {"operationId": "deletePet", "summary": "Remove a pet",
                           "responses": {"200": answer("Removed"), "404": answer("No such pet")}}
            }
        },
        "components": {"schemas": {"Pet": {
            "type": "object",
            "required": ["name"],
            "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "tag": {"type": "string"}}
        }}}
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

struct PetStore {
    pets: BTreeMap<u64, Value>,
    next: u64,
}

impl PetStore {
    fn new() -> PetStore {
        let mut pets = BTreeMap::new();
        pets.insert(1, json!({"id": 1, "name": "Rex", "tag": "dog"}));
        pets.insert(2, json!({"id": 2, "name": "Tom", "tag": "cat"}));
        PetStore { pets, next: 3 }
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_string_pretty(value).unwrap_or_default();
    body.push('\n');
    text(status, "application/json", body)
}

/// What the sample saw of a request.
fn echo(parts: &Parts, body: &[u8]) -> Value {
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-road-"))
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
    };
    json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "body": body,
    })
}

/// A pet from a request body: a JSON object with a string `name`.
fn pet_from(body: &[u8], id: u64) -> Option<Value> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object_mut()?;
    obj.get("name")?.as_str()?;
    obj.insert("id".into(), json!(id));
    Some(v)
}

fn rest_service(
    parts: &Parts,
    body: &[u8],
    openapi_text: &str,
    store: &Mutex<PetStore>,
) -> Response<Full<Bytes>> {
    let path = parts.uri.path().trim_end_matches('/');
    if path == "/openapi.json" && parts.method == Method::GET {
        return text(StatusCode::OK, "application/json", openapi_text.to_owned());
    }
    let request = echo(parts, body);
    let reply = |status: StatusCode, mut v: Value| {
        if let Some(o) = v.as_object_mut() {
            o.insert("request".into(), request.clone());
        }
        json_response(status, &v)
    };
    let Ok(mut store) = store.lock() else {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "store unavailable"}),
        );
    };
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match (&parts.method, segments.as_slice()) {
        (&Method::GET, ["pets"]) => {
            let tag = parts.uri.query().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("tag="))
                    .map(str::to_owned)
            });
            let pets: Vec<&Value> = store
                .pets
                .values()
                .filter(|p| tag.as_deref().is_none_or(|t| p["tag"] == t))
                .collect();
            reply(StatusCode::OK, json!({ "pets": pets }))
        }
        (&Method::POST, ["pets"]) => {
            let id = store.next;
            match pet_from(body, id) {
                Some(pet) => {
                    store.next += 1;
                    store.pets.insert(id, pet.clone());
                    reply(StatusCode::CREATED, json!({ "pet": pet }))
                }
                None => reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "expected a JSON object with a string 'name'"}),
                ),
            }
        }
        (method, ["pets", id]) => {
            let Some(id) = id
                .parse::<u64>()
                .ok()
                .filter(|i| store.pets.contains_key(i))
            else {
                return reply(
                    StatusCode::NOT_FOUND,
                    json!({"error": format!("no pet {id}")}),
                );
            };
            match *method {
                Method::GET => reply(StatusCode::OK, json!({ "pet": store.pets[&id] })),
                Method::PUT => match pet_from(body, id) {
                    Some(pet) => {
                        store.pets.insert(id, pet.clone());
                        reply(StatusCode::OK, json!({ "pet": pet }))
                    }
                    None => reply(
                        StatusCode::BAD_REQUEST,
                        json!({"error": "expected a JSON object with a string 'name'"}),
                    ),
                },
                Method::DELETE => {
                    let pet = store.pets.remove(&id);
                    reply(StatusCode::OK, json!({ "deleted": pet }))
                }
                _ => reply(
                    StatusCode::METHOD_NOT_ALLOWED,
                    json!({"error": "GET, PUT or DELETE a pet"}),
                ),
            }
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({"error": "no such resource: try GET /pets or /openapi.json"}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A whole HTTP/1.1 exchange over a fresh connection: status and body.
    async fn http(
        addr: &str,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nX-Road-Client: DEV/COM/1111/client\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let out = String::from_utf8(out).unwrap();
        let status = out[9..12].parse().unwrap();
        let body = out.split_once("\r\n\r\n").unwrap().1.to_owned();
        (status, body)
    }

    fn host(url: &str) -> String {
        url.trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned()
    }

    const REQUEST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xro="http://x-road.eu/xsd/xroad.xsd" xmlns:iden="http://x-road.eu/xsd/identifiers" xmlns:prod="http://demo.x-road.eu/sample">
  <soapenv:Header>
    <xro:client iden:objectType="SUBSYSTEM"><iden:xRoadInstance>DEV</iden:xRoadInstance><iden:memberClass>COM</iden:memberClass><iden:memberCode>1111</iden:memberCode><iden:subsystemCode>client</iden:subsystemCode></xro:client>
    <xro:service iden:objectType="SERVICE"><iden:xRoadInstance>DEV</iden:xRoadInstance><iden:memberClass>GOV</iden:memberClass><iden:memberCode>2222</iden:memberCode><iden:subsystemCode>services</iden:subsystemCode><iden:serviceCode>OPERATION</iden:serviceCode><iden:serviceVersion>v1</iden:serviceVersion></xro:service>
    <xro:id>id-4711</xro:id>
    <xro:userId>EE12345678901</xro:userId>
    <xro:protocolVersion>4.0</xro:protocolVersion>
  </soapenv:Header>
  <soapenv:Body>
    <prod:OPERATION><name>World &amp; Co</name></prod:OPERATION>
  </soapenv:Body>
</soapenv:Envelope>"#;

    #[tokio::test]
    async fn soap_answers_with_the_echoed_header_and_faults_unknown_operations() {
        let samples = SampleServices::start().unwrap();
        let urls = samples.urls();
        let addr = host(&urls.soap);
        let hello = REQUEST.replace("OPERATION", "helloService");
        let (status, body) = http(&addr, "POST", "/", "text/xml; charset=utf-8", &hello).await;
        assert_eq!(status, 200, "{body}");
        let header = &hello[hello.find("<soapenv:Header>").unwrap()
            ..hello.find("</soapenv:Header>").unwrap() + "</soapenv:Header>".len()];
        assert!(body.contains(header), "{body}");
        assert!(body.contains("Hello World &amp; Co!"), "{body}");
        // The answer is itself a valid X-Road response.
        match parse_soap(body.as_bytes()).unwrap() {
            Soap::Message(m) => {
                assert!(m.response);
                assert_eq!(m.header.id.as_str(), "id-4711");
                assert_eq!(m.header.user_id.as_ref().unwrap().as_str(), "EE12345678901");
                assert_eq!(m.header.client.to_string(), "SUBSYSTEM:DEV/COM/1111/client");
            }
            other => panic!("{other:?}"),
        }

        let random = REQUEST.replace("OPERATION", "getRandom");
        let (status, body) = http(&addr, "POST", "/", "text/xml", &random).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("<data>"), "{body}");

        let unknown = REQUEST.replace("OPERATION", "launchRocket");
        let (status, body) = http(&addr, "POST", "/", "text/xml", &unknown).await;
        assert_eq!(status, 500);
        assert!(
            body.contains("<faultcode>Server.UnknownOperation</faultcode>"),
            "{body}"
        );
        assert!(matches!(
            parse_soap(body.as_bytes()).unwrap(),
            Soap::Fault(_)
        ));

        let (status, body) = http(&addr, "POST", "/", "text/xml", "<not-soap/>").await;
        assert_eq!(status, 500);
        assert!(body.contains("not an X-Road SOAP request"), "{body}");

        let (status, wsdl_text) = http(&addr, "GET", "/?wsdl", "text/plain", "").await;
        assert_eq!(status, 200);
        assert!(wsdl_text.contains(&format!("location=\"{}\"", urls.soap)));
    }

    #[test]
    fn the_wsdl_is_valid_and_lists_both_services() {
        struct NoFetch;
        impl xroad_wsdl::Loader for NoFetch {
            fn resolve(&self, _: &str, relative: &str) -> String {
                relative.to_owned()
            }
            fn load(&self, location: &str) -> Result<Vec<u8>, String> {
                Err(format!("{location} should not be needed"))
            }
        }
        let text = wsdl("http://127.0.0.1:1/");
        let report =
            xroad_wsdl::validate_bytes(text.as_bytes(), "http://127.0.0.1:1/wsdl", &NoFetch);
        assert_eq!(
            report.verdict(),
            xroad_wsdl::Verdict::Valid,
            "{:?}",
            report.findings
        );
    }

    #[tokio::test]
    async fn rest_covers_get_post_put_delete_and_echoes() {
        let samples = SampleServices::start().unwrap();
        let urls = samples.urls();
        let addr = host(&urls.rest);
        let (status, body) = http(&addr, "GET", "/pets?tag=dog", "text/plain", "").await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["pets"].as_array().unwrap().len(), 1);
        assert_eq!(v["request"]["query"], "tag=dog");
        assert_eq!(
            v["request"]["headers"]["x-road-client"],
            "DEV/COM/1111/client"
        );

        let (status, body) = http(
            &addr,
            "POST",
            "/pets",
            "application/json",
            r#"{"name":"Nemo","tag":"fish"}"#,
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["pet"]["id"], 3);
        assert_eq!(v["request"]["body"]["name"], "Nemo");

        let (status, body) = http(
            &addr,
            "PUT",
            "/pets/3",
            "application/json",
            r#"{"name":"Dory"}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = http(&addr, "GET", "/pets/3", "text/plain", "").await;
        assert_eq!(status, 200);
        assert!(body.contains("Dory"));
        let (status, _) = http(&addr, "DELETE", "/pets/3", "text/plain", "").await;
        assert_eq!(status, 200);
        let (status, _) = http(&addr, "GET", "/pets/3", "text/plain", "").await;
        assert_eq!(status, 404);
        let (status, _) = http(&addr, "POST", "/pets", "application/json", "[1]").await;
        assert_eq!(status, 400);

        let (status, doc) = http(&addr, "GET", "/openapi.json", "text/plain", "").await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["openapi"], "3.0.3");
        assert_eq!(v["servers"][0]["url"], urls.rest);
    }
}
