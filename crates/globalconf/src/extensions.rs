//! The optional configuration parts a security server reads besides the shared and private
//! parameters, each checked against its schema's content model as Java's validators do:
//! `fetchinterval-params.xml` (the signer's OCSP fetch interval), `nextupdate-params.xml`
//! (whether OCSP `nextUpdate` is verified) and `monitoring-params.xml` (the client allowed to
//! query every server's operational data).

use xroad_fault::{ErrorCode, XRoadError};
use xroad_identifiers::{ClientId, IdField, IdFields};
use xroad_xml::{EndTag, Handler, Limits, Scanner, StartTag, SyntaxError};

const XROAD_NS: &str = "http://x-road.eu/xsd/xroad.xsd";
const IDENTIFIERS_NS: &str = "http://x-road.eu/xsd/identifiers";

/// Elements below the root: (depth, namespace, local name, text).
#[derive(Default)]
struct Flat {
    root: Option<(String, String)>,
    elements: Vec<(usize, String, String, String)>,
    open: Vec<usize>,
}

impl Handler for Flat {
    type Error = SyntaxError;

    fn start_element(&mut self, tag: &StartTag<'_>) -> Result<(), SyntaxError> {
        if tag.depth == 1 {
            self.root = Some((tag.namespace.to_owned(), tag.local.to_owned()));
        } else if self.elements.len() < 10_000 {
            self.open.push(self.elements.len());
            self.elements.push((
                tag.depth,
                tag.namespace.to_owned(),
                tag.local.to_owned(),
                String::new(),
            ));
        }
        Ok(())
    }

    fn end_element(&mut self, tag: &EndTag<'_>) -> Result<(), SyntaxError> {
        if tag.depth > 1 {
            self.open.pop();
        }
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), SyntaxError> {
        if let Some(e) = self.open.last().and_then(|&i| self.elements.get_mut(i)) {
            if e.3.len() < 4096 {
                e.3.push_str(text);
            }
        }
        Ok(())
    }
}

fn invalid(file: &str, why: impl std::fmt::Display) -> XRoadError {
    XRoadError::new(ErrorCode::MalformedGlobalConf, format!("{file}: {why}"))
}

fn read(file: &str, xml: &[u8]) -> Result<Vec<(usize, String, String, String)>, XRoadError> {
    let mut flat = Flat::default();
    let mut scanner = Scanner::new(Limits::default());
    scanner
        .feed(xml, &mut flat)
        .and_then(|()| scanner.finish(&mut flat))
        .map_err(|e| invalid(file, format!("not well-formed XML: {e}")))?;
    match &flat.root {
        Some((ns, local)) if ns == XROAD_NS && local == "conf" => Ok(flat.elements),
        Some((ns, local)) => Err(invalid(
            file,
            format!("the root element is {{{ns}}}{local}, not {{{XROAD_NS}}}conf"),
        )),
        None => Err(invalid(file, "no root element")),
    }
}

/// The single unqualified child `name` of the root, and nothing else.
fn single_value(file: &str, xml: &[u8], name: &str) -> Result<String, XRoadError> {
    let elements = read(file, xml)?;
    match elements.as_slice() {
        [(2, ns, local, text)] if ns.is_empty() && local == name => Ok(text.trim().to_owned()),
        [] => Err(invalid(file, format!("{name} is missing"))),
        _ => {
            let names: Vec<&str> = elements.iter().map(|e| e.2.as_str()).collect();
            Err(invalid(
                file,
                format!("expected only {name}, found {}", names.join(", ")),
            ))
        }
    }
}

/// `fetchinterval-params.xml`: the signer's OCSP fetch interval in seconds.
pub fn parse_ocsp_fetch_interval(xml: &[u8]) -> Result<u32, XRoadError> {
    let file = "fetchinterval-params.xml";
    let text = single_value(file, xml, "ocspFetchInterval")?;
    text.parse()
        .map_err(|_| invalid(file, format!("ocspFetchInterval '{text}' is not a number")))
}

/// `nextupdate-params.xml`: whether OCSP responses' `nextUpdate` is verified.
pub fn parse_verify_next_update(xml: &[u8]) -> Result<bool, XRoadError> {
    let file = "nextupdate-params.xml";
    match single_value(file, xml, "verifyNextUpdate")?.as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(invalid(
            file,
            format!("verifyNextUpdate '{other}' is not a boolean"),
        )),
    }
}

/// `monitoring-params.xml`: the monitoring client, if one is named (an empty
/// `monitoringClient` is valid).
pub fn parse_monitoring_client(xml: &[u8]) -> Result<Option<ClientId>, XRoadError> {
    let file = "monitoring-params.xml";
    let elements = read(file, xml)?;
    let mut fields: Option<IdFields> = None;
    for (depth, ns, local, text) in &elements {
        match (depth, ns.as_str(), local.as_str()) {
            (2, "", "monitoringClient") => {}
            (3, "", "monitoringClientId") if fields.is_none() => fields = Some(IdFields::default()),
            (4, IDENTIFIERS_NS, name) => {
                let field = IdField::from_local_name(name)
                    .ok_or_else(|| invalid(file, format!("unknown identifier field id:{name}")))?;
                if let Some(f) = fields.as_mut() {
                    f.set(field, text.trim())
                        .map_err(|e| invalid(file, format!("monitoringClientId: {e}")))?;
                }
            }
            _ => {
                return Err(invalid(
                    file,
                    format!("unexpected element {local} at depth {depth}"),
                ))
            }
        }
    }
    fields
        .map(|f| {
            f.into_client()
                .map_err(|e| invalid(file, format!("monitoringClientId: {e}")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn vector(name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/vectors/xroad-7.8/globalconf")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn schema_validator_vectors() {
        assert_eq!(
            parse_ocsp_fetch_interval(&vector("valid-fetchinterval-params.xml")).unwrap(),
            500
        );
        assert!(parse_ocsp_fetch_interval(&vector("empty-fetchinterval-params.xml")).is_err());
        assert!(parse_ocsp_fetch_interval(&vector("invalid-fetchinterval-params.xml")).is_err());
        assert!(!parse_verify_next_update(&vector("valid-nextupdate-params.xml")).unwrap());
        assert!(parse_verify_next_update(&vector("empty-nextupdate-params.xml")).is_err());
        assert!(parse_verify_next_update(&vector("invalid-nextupdate-params.xml")).is_err());
        let client = parse_monitoring_client(&vector("valid-monitoring-params.xml")).unwrap();
        assert_eq!(client.unwrap().to_string(), "MEMBER:fdev/GOV/66655666");
        assert_eq!(
            parse_monitoring_client(&vector("empty-monitoring-params.xml")).unwrap(),
            None
        );
        let e = parse_monitoring_client(&vector("invalid-monitoring-params.xml")).unwrap_err();
        assert!(e.message().contains("broken"), "{}", e.message());
    }
}
