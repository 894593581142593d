//! The WSDL validator: checks a WSDL 1.1 service description before it becomes a service
//! description of a security server, as the Java security server's `wsdlvalidator` add-on
//! (Apache CXF's `WSDL11Validator`) does, with the result in its three classes: valid,
//! warnings only (accepted, the warnings shown), errors (refused).
//!
//! Errors: not XML, not a WSDL 1.1 `definitions`; in the schemas, invalid component names,
//! imports and includes that cannot be read or are not schemas, references to undeclared
//! elements and types or to namespaces that are not imported; messages whose parts name no
//! declared element or type; operations referring to undefined messages; bindings of
//! undefined port types or operations; SOAP headers naming undefined messages or parts;
//! service ports of undefined bindings or without an address; duplicate names.
//!
//! Warnings: an operation input or output without a message; binding and port type
//! disagreeing on an input or output name; X-Road operations that do not declare the X-Road
//! headers (`client`, `service`, `id`, `protocolVersion`) or have an empty `xrd:version`.
//!
//! Every message names the element at fault (`binding "X" operation "Y" output`).

mod doc;

use std::collections::{HashMap, HashSet};

use doc::{Doc, Element};

const WSDL: &str = "http://schemas.xmlsoap.org/wsdl/";
const SOAP11: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
const SOAP12: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
const XSD: &str = "http://www.w3.org/2001/XMLSchema";
const XROAD: &str = "http://x-road.eu/xsd/xroad.xsd";

/// The X-Road headers a service's input must declare.
const XROAD_HEADERS: [&str; 4] = ["client", "service", "id", "protocolVersion"];

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The description is still usable.
    Warning,
    /// The description is refused.
    Error,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Warning or error.
    pub severity: Severity,
    /// What is wrong, naming the element.
    pub message: String,
}

/// The class of a result, as the Java validator reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing found.
    Valid,
    /// Only warnings: accepted, with the warnings shown.
    Warnings,
    /// At least one error: refused.
    Invalid,
}

/// The findings of one validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// In the order found.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The class of the result.
    pub fn verdict(&self) -> Verdict {
        if self.errors().next().is_some() {
            Verdict::Invalid
        } else if self.findings.is_empty() {
            Verdict::Valid
        } else {
            Verdict::Warnings
        }
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
    }

    fn error(&mut self, message: String) {
        self.findings.push(Finding {
            severity: Severity::Error,
            message,
        });
    }

    fn warning(&mut self, message: String) {
        self.findings.push(Finding {
            severity: Severity::Warning,
            message,
        });
    }
}

/// Where the WSDL and the schemas it imports come from.
pub trait Loader {
    /// The location of `relative` as seen from the document at `base`.
    fn resolve(&self, base: &str, relative: &str) -> String;
    /// The bytes at `location`.
    fn load(&self, location: &str) -> Result<Vec<u8>, String>;
}

/// Local files; relative locations are resolved against the importing file's folder.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileLoader;

/// The largest document read (WSDL or schema).
pub const MAX_DOCUMENT: u64 = 32 * 1024 * 1024;

impl Loader for FileLoader {
    fn resolve(&self, base: &str, relative: &str) -> String {
        if relative.contains("://") || relative.starts_with('/') {
            return relative.to_owned();
        }
        let parent = std::path::Path::new(base)
            .parent()
            .unwrap_or(std::path::Path::new(""));
        parent.join(relative).to_string_lossy().into_owned()
    }

    fn load(&self, location: &str) -> Result<Vec<u8>, String> {
        if location.contains("://") {
            return Err("only local files can be read here".into());
        }
        let file = std::fs::File::open(location).map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_DOCUMENT + 1), &mut bytes)
            .map_err(|e| e.to_string())?;
        if bytes.len() as u64 > MAX_DOCUMENT {
            return Err(format!("larger than {MAX_DOCUMENT} bytes"));
        }
        Ok(bytes)
    }
}

/// Validates the WSDL at `location`.
pub fn validate(location: &str, loader: &dyn Loader) -> Report {
    match loader.load(location) {
        Ok(bytes) => validate_bytes(&bytes, location, loader),
        Err(why) => Report {
            findings: vec![Finding {
                severity: Severity::Error,
                message: format!("cannot read the WSDL {location}: {why}"),
            }],
        },
    }
}

/// Validates a WSDL document read from `location` (against which imports are resolved).
pub fn validate_bytes(bytes: &[u8], location: &str, loader: &dyn Loader) -> Report {
    let mut report = Report::default();
    let doc = match doc::parse(bytes) {
        Ok(d) => d,
        Err(e) => {
            report.error(format!("the WSDL is not well-formed XML: {e}"));
            return report;
        }
    };
    let Some(root) = doc.root().filter(|r| r.is(WSDL, "definitions")) else {
        let found = doc
            .root()
            .map_or("nothing".to_owned(), |r| format!("{{{}}}{}", r.ns, r.local));
        report.error(format!(
            "the document is not a WSDL 1.1 description: its root is {found}, not wsdl:definitions"
        ));
        return report;
    };
    let mut v = Validator {
        report,
        loader,
        tns: root.attr("targetNamespace").unwrap_or("").to_owned(),
        schemas: Schemas::default(),
        messages: HashMap::new(),
        port_types: HashMap::new(),
        bindings: HashSet::new(),
    };
    for types in doc.children(root, WSDL, "types") {
        for schema in doc.children(types, XSD, "schema") {
            v.read_schema(&doc, schema, location, 0);
        }
    }
    v.check_schema_references();
    v.messages(&doc, root);
    v.port_types(&doc, root);
    v.bindings(&doc, root);
    v.services(&doc, root);
    if doc.children(root, WSDL, "import").next().is_some() {
        v.report.warning(
            "wsdl:import is not followed: the imported descriptions are not checked".into(),
        );
    }
    v.report
}

/// Global schema components by namespace, and the references to check once all are known.
#[derive(Default)]
struct Schemas {
    elements: HashSet<(String, String)>,
    types: HashSet<(String, String)>,
    /// Namespaces whose components are known.
    read: HashSet<String>,
    /// Namespaces imported without a readable location: their components are not checked.
    opaque: HashSet<String>,
    /// (what refers, namespace, local name, is a type reference).
    references: Vec<(String, String, String, bool)>,
    visited: HashSet<String>,
}

/// A message part: its name and the element or type it names (namespace, local name).
type Part = (String, Option<(String, String)>);

struct PortType {
    /// Operation name → (input name, output name).
    operations: HashMap<String, (Option<String>, Option<String>)>,
}

struct Validator<'l> {
    report: Report,
    loader: &'l dyn Loader,
    tns: String,
    schemas: Schemas,
    /// Message name → its part names and what each names.
    messages: HashMap<String, Vec<Part>>,
    port_types: HashMap<String, PortType>,
    bindings: HashSet<String>,
}

/// Whether `s` is an XML NCName (a name without a colon).
fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '\u{B7}'))
}

const SCHEMA_COMPONENTS: [&str; 6] = [
    "element",
    "attribute",
    "complexType",
    "simpleType",
    "group",
    "attributeGroup",
];

impl Validator<'_> {
    fn read_schema(&mut self, doc: &Doc, schema: &Element, location: &str, depth: usize) {
        let tns = schema.attr("targetNamespace").unwrap_or("").to_owned();
        let what = format!("schema \"{tns}\"");
        self.schemas.read.insert(tns.clone());
        for c in schema.children.iter().filter_map(|&i| doc.elements.get(i)) {
            if c.ns != XSD {
                continue;
            }
            if let Some(name) = c.attr("name") {
                match c.local.as_str() {
                    "element" => {
                        self.schemas.elements.insert((tns.clone(), name.to_owned()));
                    }
                    "complexType" | "simpleType" => {
                        self.schemas.types.insert((tns.clone(), name.to_owned()));
                    }
                    _ => {}
                }
            }
            if matches!(c.local.as_str(), "import" | "include") {
                self.schema_import(c, &tns, location, depth);
            }
        }
        for e in doc.descendants(schema) {
            if e.ns != XSD {
                continue;
            }
            if SCHEMA_COMPONENTS.contains(&e.local.as_str()) {
                if let Some(name) = e.attr("name") {
                    if !is_ncname(name) {
                        self.report.error(format!(
                            "{what}: <xs:{} name=\"{name}\">: the name is not a valid NCName",
                            e.local
                        ));
                    }
                }
            }
            for (attr, is_type) in [
                ("type", true),
                ("base", true),
                ("itemType", true),
                ("ref", false),
            ] {
                let Some(value) = e.attr(attr) else { continue };
                if attr == "ref" && e.local != "element" {
                    continue;
                }
                let label = format!(
                    "{what}: <xs:{}{}> {attr}=\"{value}\"",
                    e.local,
                    e.attr("name")
                        .map(|n| format!(" name=\"{n}\""))
                        .unwrap_or_default()
                );
                match e.resolve_qname(value) {
                    Ok((ns, local)) => {
                        self.schemas
                            .references
                            .push((label, ns, local.to_owned(), is_type))
                    }
                    Err(prefix) => self
                        .report
                        .error(format!("{label}: the prefix '{prefix}' is not declared")),
                }
            }
        }
    }

    fn schema_import(&mut self, c: &Element, tns: &str, location: &str, depth: usize) {
        let namespace = if c.local == "include" {
            tns.to_owned()
        } else {
            c.attr("namespace").unwrap_or("").to_owned()
        };
        let Some(schema_location) = c.attr("schemaLocation") else {
            // A namespace-only import: its components cannot be checked.
            self.schemas.opaque.insert(namespace);
            return;
        };
        let target = self.loader.resolve(location, schema_location);
        let label = format!(
            "schema \"{tns}\": <xs:{} schemaLocation=\"{schema_location}\">",
            c.local
        );
        if !self.schemas.visited.insert(target.clone()) {
            return;
        }
        if depth >= 16 {
            self.report
                .error(format!("{label}: schema imports are nested deeper than 16"));
            return;
        }
        let bytes = match self.loader.load(&target) {
            Ok(b) => b,
            Err(why) => {
                self.report
                    .error(format!("{label}: cannot read {target}: {why}"));
                self.schemas.opaque.insert(namespace);
                return;
            }
        };
        let imported = match doc::parse(&bytes) {
            Ok(d) => d,
            Err(e) => {
                self.report
                    .error(format!("{label}: {target} is not well-formed XML: {e}"));
                self.schemas.opaque.insert(namespace);
                return;
            }
        };
        match imported.root() {
            Some(root) if root.is(XSD, "schema") => {
                let declared = root.attr("targetNamespace").unwrap_or("");
                if c.local == "import" && declared != namespace {
                    self.report.error(format!(
                        "{label}: {target} declares namespace \"{declared}\", not \"{namespace}\""
                    ));
                }
                self.read_schema(&imported, root, &target, depth + 1);
            }
            _ => {
                self.report
                    .error(format!("{label}: {target} is not an XML Schema"));
                self.schemas.opaque.insert(namespace);
            }
        }
    }

    fn check_schema_references(&mut self) {
        for (label, ns, local, is_type) in std::mem::take(&mut self.schemas.references) {
            if let Some(why) = self.missing_component(&ns, &local, is_type) {
                self.report.error(format!("{label}: {why}"));
            }
        }
    }

    /// Why `{ns}local` cannot be found, if it cannot.
    fn missing_component(&self, ns: &str, local: &str, is_type: bool) -> Option<String> {
        if ns == XSD || self.schemas.opaque.contains(ns) {
            return None;
        }
        if !self.schemas.read.contains(ns) {
            return Some(format!("the namespace \"{ns}\" is not imported"));
        }
        let key = (ns.to_owned(), local.to_owned());
        let found = if is_type {
            self.schemas.types.contains(&key)
        } else {
            self.schemas.elements.contains(&key)
        };
        (!found).then(|| {
            let kind = if is_type { "type" } else { "element" };
            format!("no {kind} {local} is declared in \"{ns}\"")
        })
    }

    /// A QName attribute naming a WSDL component of this description: its local name, or
    /// an error.
    fn local_component(&mut self, e: &Element, value: &str, label: &str) -> Option<String> {
        match e.resolve_qname(value) {
            Ok((ns, local)) if ns == self.tns => Some(local.to_owned()),
            Ok((ns, _)) => {
                self.report.error(format!(
                    "{label}: \"{value}\" is in namespace \"{ns}\", not the target namespace \"{}\"",
                    self.tns
                ));
                None
            }
            Err(prefix) => {
                self.report
                    .error(format!("{label}: the prefix '{prefix}' is not declared"));
                None
            }
        }
    }

    fn named(&mut self, e: &Element, what: &str, seen: &mut HashSet<String>) -> Option<String> {
        let name = e.attr("name").unwrap_or("");
        if !is_ncname(name) {
            self.report
                .error(format!("{what} \"{name}\": the name is not a valid NCName"));
            return None;
        }
        if !seen.insert(name.to_owned()) {
            self.report
                .error(format!("{what} \"{name}\" is defined more than once"));
            return None;
        }
        Some(name.to_owned())
    }

    fn messages(&mut self, doc: &Doc, root: &Element) {
        let mut seen = HashSet::new();
        for m in doc.children(root, WSDL, "message") {
            let Some(name) = self.named(m, "message", &mut seen) else {
                continue;
            };
            let mut parts = Vec::new();
            for p in doc.children(m, WSDL, "part") {
                let part = p.attr("name").unwrap_or("").to_owned();
                let label = format!("message \"{name}\" part \"{part}\"");
                let (attr, is_type) = match (p.attr("element"), p.attr("type")) {
                    (Some(e), _) => (e, false),
                    (None, Some(t)) => (t, true),
                    (None, None) => {
                        self.report
                            .error(format!("{label}: names neither an element nor a type"));
                        parts.push((part, None));
                        continue;
                    }
                };
                match p.resolve_qname(attr) {
                    Ok((ns, local)) => {
                        if let Some(why) = self.missing_component(&ns, local, is_type) {
                            self.report.error(format!("{label}: {why}"));
                        }
                        parts.push((part, Some((ns, local.to_owned()))));
                    }
                    Err(prefix) => {
                        self.report
                            .error(format!("{label}: the prefix '{prefix}' is not declared"));
                        parts.push((part, None));
                    }
                }
            }
            self.messages.insert(name, parts);
        }
    }

    fn port_types(&mut self, doc: &Doc, root: &Element) {
        let mut seen = HashSet::new();
        for pt in doc.children(root, WSDL, "portType") {
            let Some(name) = self.named(pt, "portType", &mut seen) else {
                continue;
            };
            let mut operations = HashMap::new();
            for op in doc.children(pt, WSDL, "operation") {
                let op_name = op.attr("name").unwrap_or("").to_owned();
                let mut io_names = (None, None);
                for (kind, slot) in [("input", 0), ("output", 1), ("fault", 2)] {
                    for io in doc.children(op, WSDL, kind) {
                        let label = format!("portType \"{name}\" operation \"{op_name}\" {kind}");
                        match io.attr("message") {
                            Some(m) => {
                                if let Some(local) = self.local_component(io, m, &label) {
                                    if !self.messages.contains_key(&local) {
                                        self.report.error(format!(
                                            "{label}: the message \"{m}\" is not defined"
                                        ));
                                    }
                                }
                            }
                            None => self.report.warning(format!("{label}: has no message")),
                        }
                        let io_name = io.attr("name").map(str::to_owned);
                        match slot {
                            0 => io_names.0 = io_name,
                            1 => io_names.1 = io_name,
                            _ => {}
                        }
                    }
                }
                operations.insert(op_name, io_names);
            }
            self.port_types.insert(name, PortType { operations });
        }
    }

    fn bindings(&mut self, doc: &Doc, root: &Element) {
        let mut seen = HashSet::new();
        for b in doc.children(root, WSDL, "binding") {
            let Some(name) = self.named(b, "binding", &mut seen) else {
                continue;
            };
            self.bindings.insert(name.clone());
            let label = format!("binding \"{name}\"");
            let port_type = match b.attr("type") {
                Some(t) => self.local_component(b, t, &label).and_then(|local| {
                    let found = self.port_types.contains_key(&local);
                    if !found {
                        self.report
                            .error(format!("{label}: the portType \"{t}\" is not defined"));
                    }
                    found.then_some(local)
                }),
                None => {
                    self.report.error(format!("{label}: has no type"));
                    None
                }
            };
            for op in doc.children(b, WSDL, "operation") {
                self.binding_operation(doc, op, &name, port_type.as_deref());
            }
        }
    }

    fn binding_operation(
        &mut self,
        doc: &Doc,
        op: &Element,
        binding: &str,
        port_type: Option<&str>,
    ) {
        let op_name = op.attr("name").unwrap_or("");
        let label = format!("binding \"{binding}\" operation \"{op_name}\"");
        let declared = port_type
            .and_then(|pt| self.port_types.get(pt))
            .map(|pt| pt.operations.get(op_name).cloned());
        let io_names = match declared {
            Some(Some(names)) => Some(names),
            Some(None) => {
                self.report.error(format!(
                    "{label}: the portType \"{}\" has no such operation",
                    port_type.unwrap_or("")
                ));
                None
            }
            None => None,
        };
        for version in doc.children(op, XROAD, "version") {
            if version.text.trim().is_empty() {
                self.report
                    .warning(format!("{label}: xrd:version is empty"));
            }
        }
        for (kind, slot) in [("input", 0), ("output", 1)] {
            for io in doc.children(op, WSDL, kind) {
                let io_label = format!("{label} {kind}");
                if let Some(names) = &io_names {
                    let expected = if slot == 0 { &names.0 } else { &names.1 };
                    let given = io.attr("name");
                    if let Some(given) = given {
                        if expected.as_deref() != Some(given) {
                            self.report.warning(format!(
                                "{io_label}: the name \"{given}\" differs from the portType's ({})",
                                expected
                                    .as_deref()
                                    .map_or("none".to_owned(), |e| format!("\"{e}\""))
                            ));
                        }
                    }
                }
                let headers = self.soap_headers(doc, io, &io_label);
                // An X-Road operation (versioned, or with X-Road headers) must declare them all.
                let versioned = doc.children(op, XROAD, "version").next().is_some();
                if slot == 0 && (versioned || !headers.is_empty()) {
                    for h in XROAD_HEADERS {
                        if !headers.contains(h) {
                            self.report.warning(format!(
                                "{io_label}: the X-Road header {h} is not declared"
                            ));
                        }
                    }
                }
            }
        }
    }

    /// Checks the `soap:header`s of a binding input or output; returns the local names of
    /// the X-Road header elements they declare.
    fn soap_headers(&mut self, doc: &Doc, io: &Element, label: &str) -> HashSet<String> {
        let mut xroad = HashSet::new();
        // Also inside `mime:multipartRelated` parts (SOAP with attachments).
        let headers = doc
            .descendants(io)
            .into_iter()
            .filter(|e| (e.ns == SOAP11 || e.ns == SOAP12) && e.local == "header");
        for h in headers {
            let (Some(message), Some(part)) = (h.attr("message"), h.attr("part")) else {
                self.report
                    .error(format!("{label}: a soap:header lacks its message or part"));
                continue;
            };
            let Some(local) = self.local_component(h, message, label) else {
                continue;
            };
            let Some(parts) = self.messages.get(&local) else {
                self.report.error(format!(
                    "{label}: soap:header message \"{message}\" is not defined"
                ));
                continue;
            };
            match parts.iter().find(|(p, _)| p == part) {
                Some((_, Some((ns, element)))) if ns == XROAD => {
                    xroad.insert(element.clone());
                }
                Some(_) => {}
                None => self.report.error(format!(
                    "{label}: soap:header part \"{part}\" is not a part of message \"{message}\""
                )),
            }
        }
        xroad
    }

    fn services(&mut self, doc: &Doc, root: &Element) {
        let mut seen = HashSet::new();
        for s in doc.children(root, WSDL, "service") {
            let Some(name) = self.named(s, "service", &mut seen) else {
                continue;
            };
            for port in doc.children(s, WSDL, "port") {
                let port_name = port.attr("name").unwrap_or("");
                let label = format!("service \"{name}\" port \"{port_name}\"");
                match port.attr("binding") {
                    Some(b) => {
                        if let Some(local) = self.local_component(port, b, &label) {
                            if !self.bindings.contains(&local) {
                                self.report
                                    .error(format!("{label}: the binding \"{b}\" is not defined"));
                            }
                        }
                    }
                    None => self.report.error(format!("{label}: has no binding")),
                }
                let address = doc
                    .children(port, SOAP11, "address")
                    .chain(doc.children(port, SOAP12, "address"))
                    .next();
                match address.and_then(|a| a.attr("location")) {
                    Some(l) if !l.trim().is_empty() => {}
                    _ => self
                        .report
                        .error(format!("{label}: has no soap:address location")),
                }
            }
        }
    }
}
