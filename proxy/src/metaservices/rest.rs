//! REST `listMethods`, `allowedMethods` and `getOpenAPI` bodies (Java's
//! `RestMetadataServiceHandlerImpl`, `Openapi3Anonymiser`; digest §7.3).

use xroad_fault::{ErrorCode, XRoadError};
use xroad_identifiers::ClientId;
use xroad_serverconf::{DescriptionType, Endpoint};

use super::clients::json;

/// One service of the list (Java's `XRoadRestServiceDetailsType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestServiceDetails {
    /// The provider.
    pub provider: ClientId,
    /// The service code.
    pub code: String,
    /// OPENAPI3 or REST.
    pub description_type: DescriptionType,
    /// The endpoints listed.
    pub endpoints: Vec<Endpoint>,
}

/// The `RestServiceDetailsListType` JSON as Jackson writes it (snake_case, nulls left out, the
/// field order of PR-MREST's examples).
pub fn service_list_json(services: &[RestServiceDetails]) -> String {
    let mut j = String::from("{\"service\":[");
    for (i, s) in services.iter().enumerate() {
        if i > 0 {
            j.push(',');
        }
        let p = &s.provider;
        j.push_str(&format!(
            "{{\"member_class\":{},\"member_code\":{},\"object_type\":\"SERVICE\",\"service_code\":{},\"service_type\":\"{}\"",
            json(p.member_class()),
            json(p.member_code()),
            json(&s.code),
            if s.description_type == DescriptionType::Rest { "REST" } else { "OPENAPI" }
        ));
        if let Some(sub) = p.subsystem_code() {
            j.push_str(&format!(",\"subsystem_code\":{}", json(sub)));
        }
        j.push_str(&format!(
            ",\"xroad_instance\":{},\"endpoint_list\":[",
            json(p.instance())
        ));
        for (k, e) in s.endpoints.iter().enumerate() {
            if k > 0 {
                j.push(',');
            }
            j.push_str(&format!(
                "{{\"method\":{},\"path\":{}}}",
                json(&e.method),
                json(&e.path)
            ));
        }
        j.push_str("]}");
    }
    j.push_str("]}");
    j
}

/// The `serviceCode` query parameter (name matched case-insensitively, last one wins, as
/// Java's loop over `URLEncodedUtils.parse`).
pub fn service_code_param(query: Option<&str>) -> Option<String> {
    let mut found = None;
    for pair in query.unwrap_or("").split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if form_decode(name).eq_ignore_ascii_case("serviceCode") {
            found = Some(form_decode(value));
        }
    }
    found
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space), lenient with bad escapes.
pub(crate) fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Whether the description is read as JSON (Java's `getFileType`): a `Content-Type`
/// containing `application/json`, else YAML for `application/x-yaml`, else by the URL path's
/// `.json` ending.
pub fn is_json(content_types: &[&str], url: &str) -> bool {
    if content_types.iter().any(|c| c.contains("application/json")) {
        return true;
    }
    if content_types.contains(&"application/x-yaml") {
        return false;
    }
    uri_path(url).unwrap_or_default().ends_with(".json")
}

/// `java.net.URI#getPath` for the URLs found in descriptions: the decoded path of a
/// hierarchical URI (`""` when it has none), `None` for an opaque one.
fn uri_path(url: &str) -> Option<String> {
    let url = url.split(['?', '#']).next().unwrap_or("");
    let scheme_end = url.find(':').filter(|&i| {
        i > 0
            && url[..i].chars().enumerate().all(|(k, c)| {
                c.is_ascii_alphabetic() || (k > 0 && (c.is_ascii_digit() || "+-.".contains(c)))
            })
    });
    let rest = match scheme_end {
        Some(i) => &url[i + 1..],
        None => url,
    };
    let path = if let Some(r) = rest.strip_prefix("//") {
        r.find('/').map_or("", |i| &r[i..])
    } else if scheme_end.is_some() && !rest.starts_with('/') {
        return None;
    } else {
        rest
    };
    Some(percent_decode(path))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

type Value = yaml_serde::Value;

/// Java's `Openapi3Anonymiser`: checks that `openapi` (when present) is a 3.x string, replaces
/// every `servers[].url` without `{variables}` by its path, and writes the document back as
/// JSON (compact) or YAML (with Jackson's `---` document start).
pub fn anonymise_openapi(doc: &[u8], json_format: bool) -> Result<Vec<u8>, XRoadError> {
    let failed = |m: String| XRoadError::new(ErrorCode::InternalError, m);
    let mut tree: Value = if json_format {
        serde_json::from_slice(doc).map_err(|e| failed(format!("Invalid JSON document: {e}")))?
    } else {
        let text =
            std::str::from_utf8(doc).map_err(|e| failed(format!("Invalid YAML document: {e}")))?;
        yaml_serde::from_str(text).map_err(|e| failed(format!("Invalid YAML document: {e}")))?
    };
    if let Some(v) = tree.get("openapi") {
        let ok = matches!(v, Value::String(s) if s.starts_with("3."));
        if !ok {
            let shown = match v {
                Value::String(s) => json(s),
                other => serde_json::to_string(other).unwrap_or_default(),
            };
            return Err(failed(format!(
                "Incompatible openapi version. Openapi version 3 or greater expected. Given openapi document is of version {shown}"
            )));
        }
    }
    if let Some(Value::Sequence(servers)) = tree.get_mut("servers") {
        for server in servers.iter_mut() {
            let Some(Value::String(url)) = server.get("url") else {
                continue;
            };
            if url.contains('{') && url.contains('}') {
                continue;
            }
            let path =
                uri_path(url).ok_or_else(|| failed(format!("Can't parse url string: {url}")))?;
            if let Value::Mapping(m) = server {
                m.insert(Value::String("url".into()), Value::String(path));
            }
        }
    }
    if json_format {
        serde_json::to_vec(&tree).map_err(|e| failed(e.to_string()))
    } else {
        let text = yaml_serde::to_string(&tree).map_err(|e| failed(e.to_string()))?;
        Ok(format!("---\n{text}").into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(m: &str, p: &str) -> Endpoint {
        Endpoint {
            method: m.into(),
            path: p.into(),
        }
    }

    #[test]
    fn list_as_pr_mrest_shows_it() {
        let provider = ClientId::subsystem("INSTANCE", "CLASS2", "MEMBER2", "SUBSYSTEM2").unwrap();
        let list = vec![
            RestServiceDetails {
                provider: provider.clone(),
                code: "payloadgen".into(),
                description_type: DescriptionType::OpenApi3,
                endpoints: vec![ep("GET", "/pet/findByStatus"), ep("GET", "/pet/*")],
            },
            RestServiceDetails {
                provider,
                code: "kore".into(),
                description_type: DescriptionType::Rest,
                endpoints: vec![],
            },
        ];
        assert_eq!(
            service_list_json(&list),
            concat!(
                r#"{"service":[{"member_class":"CLASS2","member_code":"MEMBER2","object_type":"SERVICE","service_code":"payloadgen","service_type":"OPENAPI","subsystem_code":"SUBSYSTEM2","xroad_instance":"INSTANCE","endpoint_list":[{"method":"GET","path":"/pet/findByStatus"},{"method":"GET","path":"/pet/*"}]},"#,
                r#"{"member_class":"CLASS2","member_code":"MEMBER2","object_type":"SERVICE","service_code":"kore","service_type":"REST","subsystem_code":"SUBSYSTEM2","xroad_instance":"INSTANCE","endpoint_list":[]}]}"#
            )
        );
        assert_eq!(service_list_json(&[]), r#"{"service":[]}"#);
    }

    #[test]
    fn service_code_parameter() {
        assert_eq!(
            service_code_param(Some("servicecode=a%20b")),
            Some("a b".into())
        );
        assert_eq!(
            service_code_param(Some("x=1&serviceCode=p+q&y")),
            Some("p q".into())
        );
        assert_eq!(service_code_param(None), None);
        assert_eq!(service_code_param(Some("serviceCode")), Some(String::new()));
    }

    #[test]
    fn file_type_as_java_guesses_it() {
        assert!(is_json(
            &["application/json; charset=utf-8"],
            "http://a/x.yaml"
        ));
        assert!(!is_json(&["application/x-yaml"], "http://a/x.json"));
        assert!(is_json(&["text/plain"], "http://a/openapi.json?x=1"));
        assert!(!is_json(&[], "http://a/openapi.yaml"));
    }

    #[test]
    fn servers_reduced_to_their_paths() {
        let doc = br#"{"openapi":"3.0.0","info":{"title":"t","version":"1"},"servers":[{"url":"https://example.com"},{"url":"https://h.example:8443/api/v1/"},{"url":"https://{host}/v2"},{"url":"/rel"}],"paths":{}}"#;
        let out = anonymise_openapi(doc, true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"openapi":"3.0.0","info":{"title":"t","version":"1"},"servers":[{"url":""},{"url":"/api/v1/"},{"url":"https://{host}/v2"},{"url":"/rel"}],"paths":{}}"#
        );
        let yaml = b"openapi: 3.0.1\nservers:\n  - url: http://pets.internal:8080/api\npaths: {}\n";
        let out = String::from_utf8(anonymise_openapi(yaml, false).unwrap()).unwrap();
        assert!(out.starts_with("---\n"), "{out}");
        assert!(out.contains("url: /api"), "{out}");
        assert!(!out.contains("pets.internal"), "{out}");
        let e = anonymise_openapi(br#"{"openapi":"2.0"}"#, true).unwrap_err();
        assert!(
            e.message()
                .contains("Given openapi document is of version \"2.0\""),
            "{}",
            e.message()
        );
        let e = anonymise_openapi(b"openapi: 3.0\n", false).unwrap_err();
        assert!(e.message().contains("version 3.0"), "{}", e.message());
        assert!(anonymise_openapi(b"not json", true).is_err());
    }
}
