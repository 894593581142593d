//! Rendering of faults as SOAP fault documents and REST error responses.

use crate::{Spelling, XRoadError};

/// The `Content-Type` the Java servers send with a SOAP fault (HTTP status 200).
pub const SOAP_FAULT_CONTENT_TYPE: &str = "text/xml;charset=utf-8";

/// Appends `s` escaped as commons-text `escapeXml10` does: the five markup characters become
/// entities, C1 controls other than NEL become numeric references, and characters XML 1.0
/// cannot carry are dropped.
pub(crate) fn escape_xml10(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => {}
            '\u{7f}'..='\u{84}' | '\u{86}'..='\u{9f}' => {
                out.push_str(&format!("&#{};", u32::from(c)));
            }
            _ => out.push(c),
        }
    }
}

impl XRoadError {
    /// The SOAP fault document, byte for byte as Java's `SoapFault.createFaultXml`; for a
    /// relayed fault, the original document.
    pub fn soap_fault_xml(&self, spelling: Spelling) -> Vec<u8> {
        if let Some(raw) = self.raw_fault() {
            return raw.to_vec();
        }
        let mut x = String::with_capacity(400 + self.message().len());
        x.push_str(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP-ENV:Envelope \
             xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body>\
             <SOAP-ENV:Fault><faultcode>",
        );
        // Java inserts the code unescaped; X-Road codes never need escaping.
        x.push_str(&self.fault_code(spelling));
        x.push_str("</faultcode><faultstring>");
        escape_xml10(self.message(), &mut x);
        x.push_str("</faultstring><faultactor>");
        escape_xml10(self.actor(), &mut x);
        x.push_str("</faultactor><detail><faultDetail xmlns=\"\">");
        escape_xml10(self.detail(), &mut x);
        x.push_str("</faultDetail></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>");
        x.into_bytes()
    }

    /// The REST error response for an information system whose request carried the `Accept`
    /// header values `accept`.
    ///
    /// The status follows the Java client proxy of the chosen spelling's version: 500 when the
    /// code starts with `server.` (7.8) or `Server.` (7.7), otherwise 400; so a relayed fault in
    /// the other version's spelling is answered with 400, as the Java servers do.
    pub fn rest_error<'a>(
        &self,
        spelling: Spelling,
        accept: impl IntoIterator<Item = &'a str>,
    ) -> RestError {
        let code = self.fault_code(spelling);
        let server_prefix = match spelling {
            Spelling::Current => "server.",
            Spelling::Legacy => "Server.",
        };
        let status = if code.starts_with(server_prefix) {
            500
        } else {
            400
        };
        let (content_type, body) = match xml_type(accept) {
            Some(xml) => (xml, self.rest_xml_body(&code)),
            None => ("application/json", self.rest_json_body(&code)),
        };
        RestError {
            status,
            error_header: code,
            content_type,
            body,
        }
    }

    fn rest_json_body(&self, code: &str) -> Vec<u8> {
        // Field order and escaping as Jackson's generator writes them.
        let mut out = String::with_capacity(64 + code.len() + self.message().len());
        for (i, (name, value)) in [
            ("type", code),
            ("message", self.message()),
            ("detail", self.detail()),
        ]
        .into_iter()
        .enumerate()
        {
            out.push_str(if i == 0 { "{\"" } else { ",\"" });
            out.push_str(name);
            out.push_str("\":\"");
            escape_json(value, &mut out);
            out.push('"');
        }
        out.push('}');
        out.into_bytes()
    }

    /// The DOM serialization of the Java client proxy: no indentation, no newlines, empty
    /// elements self-closed.
    fn rest_xml_body(&self, code: &str) -> Vec<u8> {
        let mut x =
            String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?><error>");
        for (name, value) in [
            ("type", code),
            ("message", self.message()),
            ("detail", self.detail()),
        ] {
            if value.is_empty() {
                x.push_str(&format!("<{name}/>"));
            } else {
                x.push_str(&format!("<{name}>"));
                escape_dom_text(value, &mut x);
                x.push_str(&format!("</{name}>"));
            }
        }
        x.push_str("</error>");
        x.into_bytes()
    }
}

/// Escapes a JSON string value as Jackson does: `"` and `\\`, the short escapes for backspace,
/// tab, newline, form feed and carriage return, other control characters as `\\u00XX` with
/// upper-case hex; everything else (non-ASCII included) as is.
fn escape_json(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
}

/// Escapes text as the JDK's identity transformer serializes a DOM text node.
fn escape_dom_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{7f}' => out.push_str(&format!("&#{};", u32::from(c))),
            _ => out.push(c),
        }
    }
}

/// The XML media type the `Accept` values ask for: the first `text/xml`, `application/xml` or
/// `text/*` range anywhere decides (quality values and JSON ranges are ignored, as in Java).
fn xml_type<'a>(accept: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    accept
        .into_iter()
        .flat_map(|v| v.split(','))
        .find_map(|range| {
            let essence = range
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            match essence.as_str() {
                "text/xml" | "text/*" => Some("text/xml;charset=utf-8"),
                "application/xml" => Some("application/xml;charset=utf-8"),
                _ => None,
            }
        })
}

/// A REST error response as the client proxy sends it to the information system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestError {
    /// 500 for `server.*` codes, 400 otherwise.
    pub status: u16,
    /// The value of the `X-Road-Error` header: the fault code.
    pub error_header: String,
    /// The body's `Content-Type`.
    pub content_type: &'static str,
    /// The body: `{"type":…,"message":…,"detail":…}` or its XML form.
    pub body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use crate::{ErrorCode, Origin, Spelling, XRoadError};

    fn sample() -> XRoadError {
        XRoadError::new(
            ErrorCode::NetworkError,
            "Connection <refused> & \"gone\" 'now'\u{1}",
        )
        .with_origin(Origin::ClientProxy)
        .with_detail("5f1a6d1e-0000-4000-8000-000000000001")
    }

    #[test]
    fn soap_fault_bytes_match_java() {
        let xml = String::from_utf8(sample().soap_fault_xml(Spelling::Current)).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\">\
             <SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>server.clientproxy.network_error</faultcode>\
             <faultstring>Connection &lt;refused&gt; &amp; &quot;gone&quot; &apos;now&apos;</faultstring>\
             <faultactor></faultactor><detail><faultDetail xmlns=\"\">5f1a6d1e-0000-4000-8000-000000000001</faultDetail>\
             </detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
        );
        let legacy = String::from_utf8(sample().soap_fault_xml(Spelling::Legacy)).unwrap();
        assert!(legacy.contains("<faultcode>Server.ClientProxy.NetworkError</faultcode>"));
    }

    #[test]
    fn c1_controls_become_numeric_references() {
        let mut s = String::new();
        super::escape_xml10("a\u{80}b\u{85}c\u{ffff}", &mut s);
        assert_eq!(s, "a&#128;b\u{85}c");
    }

    #[test]
    fn rest_status_by_prefix_and_body_by_accept() {
        let e = sample();
        let r = e.rest_error(Spelling::Current, None);
        assert_eq!(r.status, 500);
        assert_eq!(r.error_header, "server.clientproxy.network_error");
        assert_eq!(r.content_type, "application/json");
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"type":"server.clientproxy.network_error","message":"Connection <refused> & \"gone\" 'now'\u0001","detail":"5f1a6d1e-0000-4000-8000-000000000001"}"#
        );
        let client = XRoadError::new(ErrorCode::InvalidHttpMethod, "m").with_origin(Origin::Client);
        assert_eq!(client.rest_error(Spelling::Current, None).status, 400);
        assert_eq!(
            client.rest_error(Spelling::Legacy, None).error_header,
            "Client.InvalidHttpMethod"
        );
        assert_eq!(e.rest_error(Spelling::Legacy, None).status, 500);
    }

    #[test]
    fn json_escapes_like_jackson() {
        let mut out = String::new();
        super::escape_json("a\"b\\c\u{8}\t\n\u{c}\r\u{1b}\u{7f}é/<&'", &mut out);
        assert_eq!(out, "a\\\"b\\\\c\\b\\t\\n\\f\\r\\u001B\u{7f}é/<&'");
    }

    #[test]
    fn xml_error_body_matches_java_dom_serialization() {
        let e = sample();
        let r = e.rest_error(Spelling::Current, ["application/json, text/*;q=0.1"]);
        assert_eq!(r.content_type, "text/xml;charset=utf-8");
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?><error><type>server.clientproxy.network_error</type>\
             <message>Connection &lt;refused&gt; &amp; \"gone\" 'now'&#1;</message>\
             <detail>5f1a6d1e-0000-4000-8000-000000000001</detail></error>"
        );
        let r = e.rest_error(Spelling::Current, ["application/json", "application/XML"]);
        assert_eq!(r.content_type, "application/xml;charset=utf-8");
        let empty = XRoadError::new(ErrorCode::InternalError, "").with_origin(Origin::ClientProxy);
        let body = empty.rest_error(Spelling::Current, ["text/xml"]).body;
        assert!(String::from_utf8(body).unwrap().contains("<message/>"));
        assert_eq!(
            e.rest_error(Spelling::Current, ["*/*"]).content_type,
            "application/json"
        );
    }

    #[test]
    fn relayed_codes_of_the_other_version_get_400() {
        let legacy =
            XRoadError::relayed("Server.ServerProxy.AccessDenied", "no", "", "d", Vec::new());
        assert_eq!(legacy.rest_error(Spelling::Current, None).status, 400);
        assert_eq!(legacy.rest_error(Spelling::Legacy, None).status, 500);
    }
}
