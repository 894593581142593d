//! SOAP `listMethods`, `allowedMethods` and `getWsdl` bodies (Java's
//! `MetadataServiceHandlerImpl`, `SoapUtils#toResponse`, `OverwriteAttributeFilter`; digest
//! §7.2). The responses are the request envelope as SAAJ writes it back (XML declaration
//! with the request's charset, the rest of the envelope as received) with the body changed;
//! the server proxy then inserts `requestHash` and signs them like a provider's response.

use xroad_fault::{ErrorCode, XRoadError};
use xroad_identifiers::ServiceId;

use super::markup::{split_qname, tags, Scope, Tag};
use super::{escape, NS_IDENTIFIERS, NS_XROAD};

const NS_SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const NS_WSDL_SOAP: &str = "http://schemas.xmlsoap.org/wsdl/soap/";

/// What SOAP endpoint addresses in a WSDL are replaced with.
pub const WSDL_ENDPOINT_ADDRESS: &str = "http://example.org/xroad-endpoint";

/// Where the parts of the request envelope are.
struct Envelope {
    /// Offset of the root element.
    root: usize,
    /// Between the body's start and end tags.
    body_content: std::ops::Range<usize>,
    /// The first element in the body: its name ranges in the start and end tag (the end
    /// tag's is `None` for `<x/>`), and whole span.
    first: Option<(
        std::ops::Range<usize>,
        Option<std::ops::Range<usize>>,
        std::ops::Range<usize>,
    )>,
    /// Prefixes in scope in the body for the X-Road and identifiers namespaces.
    xroad_prefix: Option<String>,
    id_prefix: Option<String>,
}

fn malformed() -> XRoadError {
    XRoadError::new(ErrorCode::InvalidRequest, "Malformed SOAP request message")
}

fn locate(request: &str) -> Result<Envelope, XRoadError> {
    type Range = std::ops::Range<usize>;
    let tags = tags(request).ok_or_else(malformed)?;
    let mut scope = Scope::default();
    let mut depth = 0usize;
    let mut root = None;
    let mut body_start = None;
    let mut prefixes = (None, None);
    // First body element: start tag name, end tag name, start offset, end offset.
    let mut first: Option<(Range, Option<Range>, usize, Option<usize>)> = None;
    for tag in &tags {
        match tag {
            Tag::Start {
                span,
                qname,
                name_span,
                attributes,
                empty,
            } => {
                depth += 1;
                scope.push(depth, request, attributes);
                if depth == 1 {
                    root = Some(span.start);
                }
                let (prefix, local) = split_qname(qname);
                if depth == 2 && local == "Body" && scope.resolve(prefix) == Some(NS_SOAP_ENV) {
                    if *empty {
                        return Err(missing_body());
                    }
                    body_start = Some(span.end);
                    prefixes = (
                        scope.prefix_of(NS_XROAD).map(str::to_owned),
                        scope.prefix_of(NS_IDENTIFIERS).map(str::to_owned),
                    );
                }
                if depth == 3 && body_start.is_some() && first.is_none() {
                    let end = empty.then_some(span.end);
                    first = Some((name_span.clone(), None, span.start, end));
                }
                if *empty {
                    scope.pop(depth);
                    depth -= 1;
                }
            }
            Tag::End { span, name_span } => {
                if depth == 3 && body_start.is_some() {
                    if let Some(f) = &mut first {
                        if f.3.is_none() {
                            f.1 = Some(name_span.clone());
                            f.3 = Some(span.end);
                        }
                    }
                }
                if depth == 2 {
                    if let Some(start) = body_start {
                        return Ok(Envelope {
                            root: root.unwrap_or(0),
                            body_content: start..span.start,
                            first: first.map(|(n, e, s, t)| (n, e, s..t.unwrap_or(s))),
                            xroad_prefix: prefixes.0,
                            id_prefix: prefixes.1,
                        });
                    }
                }
                scope.pop(depth);
                depth = depth.saturating_sub(1);
            }
        }
    }
    Err(missing_body())
}

fn missing_body() -> XRoadError {
    XRoadError::new(
        ErrorCode::InvalidRequest,
        "Request message has no body element",
    )
}

/// SAAJ's serialization keeps the envelope but writes its own XML declaration.
fn with_declaration(request: &str, root: usize, charset: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"{charset}\"?>{}",
        &request[root..]
    )
}

/// The `listMethodsResponse` / `allowedMethodsResponse` message for `request`: its body's
/// content replaced by the JAXB-marshalled list of `services` (prefixes in scope reused).
pub fn method_list_response(
    request: &str,
    charset: &str,
    element: &str,
    services: &[ServiceId],
) -> Result<String, XRoadError> {
    let env = locate(request)?;
    let mut decls = String::new();
    let x = match &env.xroad_prefix {
        Some(p) => p.clone(),
        None => {
            decls.push_str(&format!(" xmlns:ns2=\"{NS_XROAD}\""));
            "ns2".to_owned()
        }
    };
    let id = match &env.id_prefix {
        Some(p) => p.clone(),
        None => {
            decls.insert_str(0, &format!(" xmlns:ns1=\"{NS_IDENTIFIERS}\""));
            "ns1".to_owned()
        }
    };
    let mut body = format!("<{x}:{element}{decls}");
    if services.is_empty() {
        body.push_str("/>");
    } else {
        body.push('>');
        for s in services {
            body.push_str(&format!("<{x}:service {id}:objectType=\"SERVICE\">"));
            let p = s.provider();
            let mut field = |name: &str, v: &str| {
                body.push_str(&format!("<{id}:{name}>{}</{id}:{name}>", escape(v)));
            };
            field("xRoadInstance", p.instance());
            field("memberClass", p.member_class());
            field("memberCode", p.member_code());
            if let Some(sub) = p.subsystem_code() {
                field("subsystemCode", sub);
            }
            field("serviceCode", s.service_code());
            if let Some(v) = s.service_version() {
                field("serviceVersion", v);
            }
            body.push_str(&format!("</{x}:service>"));
        }
        body.push_str(&format!("</{x}:{element}>"));
    }
    let mut out = with_declaration(&request[..env.body_content.start], env.root, charset);
    out.push_str(&body);
    out.push_str(&request[env.body_content.end..]);
    Ok(out)
}

/// The `getWsdl` request's `serviceCode` and `serviceVersion` (children of the body element
/// in the X-Road namespace, as JAXB reads `WsdlRequestData`); a blank code is
/// `invalid_request`.
pub fn wsdl_request(request: &str) -> Result<(String, Option<String>), XRoadError> {
    let missing = || {
        XRoadError::new(
            ErrorCode::InvalidRequest,
            "Missing serviceCode in message body",
        )
    };
    let env = locate(request)?;
    let Some((_, _, within)) = &env.first else {
        return Err(missing());
    };
    let tags = tags(request).ok_or_else(malformed)?;
    let mut scope = Scope::default();
    let mut depth = 0;
    let mut code = None;
    let mut version = None;
    let mut open: Option<(&str, usize)> = None;
    for tag in &tags {
        match tag {
            Tag::Start {
                span,
                qname,
                attributes,
                empty,
                ..
            } => {
                depth += 1;
                scope.push(depth, request, attributes);
                let (prefix, local) = split_qname(qname);
                let inside = span.start > within.start && span.end <= within.end;
                if inside && depth == 4 && scope.resolve(prefix) == Some(NS_XROAD) {
                    let slot = match local {
                        "serviceCode" => Some("serviceCode"),
                        "serviceVersion" => Some("serviceVersion"),
                        _ => None,
                    };
                    match (slot, empty) {
                        (Some("serviceCode"), true) => code = Some(String::new()),
                        (Some(_), true) => version = Some(String::new()),
                        (Some(l), false) => open = Some((l, span.end)),
                        (None, _) => {}
                    }
                }
                if *empty {
                    scope.pop(depth);
                    depth -= 1;
                }
            }
            Tag::End { span, .. } => {
                if depth == 4 {
                    if let Some((local, start)) = open.take() {
                        let text = unescape(&request[start..span.start]);
                        if local == "serviceCode" {
                            code = Some(text);
                        } else {
                            version = Some(text);
                        }
                    }
                }
                scope.pop(depth);
                depth -= 1;
            }
        }
    }
    match code {
        Some(c) if !c.trim().is_empty() => Ok((c, version)),
        _ => Err(missing()),
    }
}

/// `SoapUtils#toResponse`: the request with its body element renamed to `{service
/// code}Response` (same prefix), content kept.
pub fn to_response(request: &str, charset: &str, service_code: &str) -> Result<String, XRoadError> {
    let env = locate(request)?;
    let Some((start_name, end_name, _)) = &env.first else {
        return Err(missing_body());
    };
    let qname = &request[start_name.clone()];
    let (prefix, _) = split_qname(qname);
    let new = if prefix.is_empty() {
        format!("{service_code}Response")
    } else {
        format!("{prefix}:{service_code}Response")
    };
    let mut out = String::with_capacity(request.len() + 16);
    out.push_str(&request[..start_name.start]);
    out.push_str(&new);
    match end_name {
        Some(e) => {
            out.push_str(&request[start_name.end..e.start]);
            out.push_str(&new);
            out.push_str(&request[e.end..]);
        }
        None => out.push_str(&request[start_name.end..]),
    }
    let root = env.root;
    Ok(with_declaration(&out, root, charset))
}

/// Every `soap:address/@location` (WSDL SOAP 1.1 binding namespace) set to
/// [`WSDL_ENDPOINT_ADDRESS`]; everything else kept as it was.
pub fn rewrite_wsdl(wsdl: &str) -> Result<String, XRoadError> {
    let invalid = || XRoadError::new(ErrorCode::InternalError, "The WSDL is not well-formed XML");
    let tags = tags(wsdl).ok_or_else(invalid)?;
    let mut scope = Scope::default();
    let mut depth = 0;
    let mut edits = Vec::new();
    for tag in &tags {
        match tag {
            Tag::Start {
                qname,
                attributes,
                empty,
                ..
            } => {
                depth += 1;
                scope.push(depth, wsdl, attributes);
                let (prefix, local) = split_qname(qname);
                if local == "address" && scope.resolve(prefix) == Some(NS_WSDL_SOAP) {
                    for (name, value) in attributes {
                        if *name == "location" {
                            edits.push(value.clone());
                        }
                    }
                }
                if *empty {
                    scope.pop(depth);
                    depth -= 1;
                }
            }
            Tag::End { .. } => {
                scope.pop(depth);
                depth -= 1;
            }
        }
    }
    let mut out = String::with_capacity(wsdl.len());
    let mut at = 0;
    for r in edits {
        out.push_str(&wsdl[at..r.start]);
        out.push_str(WSDL_ENDPOINT_ADDRESS);
        at = r.end;
    }
    out.push_str(&wsdl[at..]);
    Ok(out)
}

/// The `getWsdl` answer as Java's `MultipartSoapMessageEncoder` writes it: content type and
/// body with the SOAP part and the WSDL attachment (`Content-ID: <wsdl=…@x-road.eu>`).
pub fn wsdl_multipart(soap: &str, charset: &str, wsdl: &[u8], boundary: &str) -> (String, Vec<u8>) {
    let ct = format!("multipart/related; type=\"text/xml\"; charset=UTF-8; boundary={boundary}");
    let mut b = Vec::with_capacity(soap.len() + wsdl.len() + 400);
    b.extend_from_slice(
        format!("\r\n--{boundary}\r\ncontent-type:text/xml; charset={charset}\r\n\r\n").as_bytes(),
    );
    b.extend_from_slice(soap.as_bytes());
    b.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\ncontent-type:text/xml\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <wsdl={}@x-road.eu>\r\n\r\n",
            uuid::Uuid::new_v4()
        )
        .as_bytes(),
    );
    b.extend_from_slice(wsdl);
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (ct, b)
}

/// Text content with the predefined entities and character references resolved.
fn unescape(s: &str) -> String {
    if !s.contains('&') && !s.contains("<![CDATA[") {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("<![CDATA[") {
            let end = r.find("]]>").unwrap_or(r.len());
            out.push_str(&r[..end]);
            rest = r.get(end + 3..).unwrap_or("");
        } else if rest.starts_with('&') {
            let end = rest.find(';').unwrap_or(0);
            let entity = &rest[1..end.max(1)];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            match (c, end) {
                (Some(c), e) if e > 0 => {
                    out.push(c);
                    rest = &rest[e + 1..];
                }
                _ => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        } else {
            let next = rest
                .find(['&', '<'])
                .filter(|&i| i > 0)
                .unwrap_or(rest.len());
            let next = if next == 0 { 1 } else { next };
            out.push_str(&rest[..next]);
            rest = &rest[next..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use xroad_identifiers::ClientId;

    const LIST: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xroad="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">
    <SOAP-ENV:Header>
        <xroad:id>411d6755661409fed365ad8135f8210be07613da</xroad:id>
    </SOAP-ENV:Header>
    <SOAP-ENV:Body>
        <xroad:listMethods/>
    </SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#;

    fn services() -> Vec<ServiceId> {
        let p = ClientId::subsystem("Inst1", "MemberClass1", "ProviderId", "Subsystem1").unwrap();
        vec![
            ServiceId::new(p.clone(), "allowedService", Some("v1".into())).unwrap(),
            ServiceId::new(p, "other&", None).unwrap(),
        ]
    }

    #[test]
    fn method_list_replaces_the_body_with_prefixes_in_scope() {
        let out = method_list_response(LIST, "UTF-8", "listMethodsResponse", &services()).unwrap();
        assert_eq!(
            out,
            r#"<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xroad="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">
    <SOAP-ENV:Header>
        <xroad:id>411d6755661409fed365ad8135f8210be07613da</xroad:id>
    </SOAP-ENV:Header>
    <SOAP-ENV:Body><xroad:listMethodsResponse><xroad:service id:objectType="SERVICE"><id:xRoadInstance>Inst1</id:xRoadInstance><id:memberClass>MemberClass1</id:memberClass><id:memberCode>ProviderId</id:memberCode><id:subsystemCode>Subsystem1</id:subsystemCode><id:serviceCode>allowedService</id:serviceCode><id:serviceVersion>v1</id:serviceVersion></xroad:service><xroad:service id:objectType="SERVICE"><id:xRoadInstance>Inst1</id:xRoadInstance><id:memberClass>MemberClass1</id:memberClass><id:memberCode>ProviderId</id:memberCode><id:subsystemCode>Subsystem1</id:subsystemCode><id:serviceCode>other&amp;</id:serviceCode></xroad:service></xroad:listMethodsResponse></SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#
        );
        let empty = method_list_response(LIST, "UTF-8", "allowedMethodsResponse", &[]).unwrap();
        assert!(empty.contains("<SOAP-ENV:Body><xroad:allowedMethodsResponse/></SOAP-ENV:Body>"));
    }

    #[test]
    fn method_list_declares_namespaces_not_in_scope() {
        let req = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header xmlns:x="http://x-road.eu/xsd/xroad.xsd"/><s:Body><x:listMethods xmlns:x="http://x-road.eu/xsd/xroad.xsd"/></s:Body></s:Envelope>"#;
        let out =
            method_list_response(req, "UTF-8", "listMethodsResponse", &services()[..1]).unwrap();
        assert!(
            out.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope"#),
            "{out}"
        );
        assert!(out.contains(r#"<s:Body><ns2:listMethodsResponse xmlns:ns1="http://x-road.eu/xsd/identifiers" xmlns:ns2="http://x-road.eu/xsd/xroad.xsd"><ns2:service ns1:objectType="SERVICE"><ns1:xRoadInstance>"#), "{out}");
        assert!(out.ends_with("</ns2:listMethodsResponse></s:Body></s:Envelope>"));
    }

    const GET_WSDL: &str = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xro="http://x-road.eu/xsd/xroad.xsd">
    <soapenv:Header><xro:id>123</xro:id></soapenv:Header>
    <soapenv:Body>
        <xro:getWsdl>
            <xro:serviceCode>get&amp;Random</xro:serviceCode>
            <xro:serviceVersion>v1</xro:serviceVersion>
        </xro:getWsdl>
    </soapenv:Body>
</soapenv:Envelope>"#;

    #[test]
    fn get_wsdl_request_and_response() {
        assert_eq!(
            wsdl_request(GET_WSDL).unwrap(),
            ("get&Random".to_owned(), Some("v1".to_owned()))
        );
        let resp = to_response(GET_WSDL, "UTF-8", "getWsdl").unwrap();
        assert_eq!(
            resp,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>{}",
                GET_WSDL
                    .replace("<xro:getWsdl>", "<xro:getWsdlResponse>")
                    .replace("</xro:getWsdl>", "</xro:getWsdlResponse>")
            )
        );
        let no_code = GET_WSDL.replace("xro:serviceCode", "serviceCode");
        let e = wsdl_request(&no_code).unwrap_err();
        assert_eq!(e.error_code(), Some(ErrorCode::InvalidRequest));
        assert!(e.message().contains("Missing serviceCode in message body"));
        let blank = GET_WSDL.replace("get&amp;Random", "  ");
        assert!(wsdl_request(&blank).is_err());
        let only_code = GET_WSDL.replace("<xro:serviceVersion>v1</xro:serviceVersion>", "");
        assert_eq!(wsdl_request(&only_code).unwrap().1, None);
    }

    #[test]
    fn wsdl_addresses_replaced_only_for_the_soap_binding() {
        let wsdl = r#"<?xml version="1.0"?>
<!-- keep me -->
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:http="http://schemas.xmlsoap.org/wsdl/http/">
  <wsdl:service name="s">
    <wsdl:port binding="tns:b" name="p"><soap:address location="http://secret.internal:8080/svc"/></wsdl:port>
    <wsdl:port binding="tns:h" name="h"><http:address location="http://keep.example/"/></wsdl:port>
    <wsdl:port binding="tns:c" name="c"><s2:address xmlns:s2="http://schemas.xmlsoap.org/wsdl/soap/" location='http://other.internal/'></s2:address></wsdl:port>
  </wsdl:service>
</wsdl:definitions>"#;
        let out = rewrite_wsdl(wsdl).unwrap();
        assert_eq!(
            out,
            wsdl.replace("http://secret.internal:8080/svc", WSDL_ENDPOINT_ADDRESS)
                .replace("http://other.internal/", WSDL_ENDPOINT_ADDRESS)
        );
    }

    #[test]
    fn wsdl_multipart_layout() {
        let (ct, body) = wsdl_multipart("<a/>", "UTF-8", b"<w/>", "xroadABC");
        assert_eq!(
            ct,
            "multipart/related; type=\"text/xml\"; charset=UTF-8; boundary=xroadABC"
        );
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with("\r\n--xroadABC\r\ncontent-type:text/xml; charset=UTF-8\r\n\r\n<a/>\r\n--xroadABC\r\ncontent-type:text/xml\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <wsdl="));
        assert!(text.ends_with("@x-road.eu>\r\n\r\n<w/>\r\n--xroadABC--\r\n"));
    }
}
