//! The server configuration as a document: what `apply` reads and `export` writes.
//!
//! One [`Config`] is the whole state of the store. Identifiers are typed values in memory and
//! strings in YAML: clients in the REST form (`EE/GOV/70000001/registry`), access-right
//! subjects with their type (`SUBSYSTEM:EE/GOV/70000001/registry`, `GLOBALGROUP:EE/admins`,
//! `LOCALGROUP:readers`). [`Config::validate`] checks what serde cannot (references,
//! duplicates, patterns) and names the offending field.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use xroad_identifiers::{rest::decode_segment, ClientId, GlobalGroupId, LocalGroupId};

use crate::pattern::{validate_method, validate_path_pattern, ANY_METHOD, ANY_PATH};

/// The service timeout (seconds) a service gets when none is given (the Java UI default).
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 60;

/// A configuration document that is not acceptable, naming the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Where the problem is, e.g. `clients[1].access_rights[0].subjects[2]`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The whole server configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Owner, server code and anchor; absent until `server init`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerSettings>,
    /// The members and subsystems this security server hosts (the owner included).
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
}

/// Who this security server is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// The owner member (`INSTANCE/CLASS/CODE`); it must also be listed among the clients.
    pub owner: Id,
    /// The server code.
    pub server_code: String,
    /// The configuration anchor (XML text), if stored here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
}

/// How a client's information systems authenticate to this security server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IsAuthentication {
    /// Plain HTTP or HTTPS, no client certificate check (also what Java's NULL means).
    #[serde(rename = "NOSSL")]
    NoSsl,
    /// HTTPS required, no client certificate required.
    #[serde(rename = "SSLNOAUTH")]
    SslNoAuth,
    /// HTTPS with a client certificate equal to one of the client's IS certificates (the
    /// default for new clients, as in the Java UI).
    #[default]
    #[serde(rename = "SSLAUTH")]
    SslAuth,
}

impl IsAuthentication {
    /// The stored spelling (as Java's `CLIENT.isauthentication`).
    pub fn as_str(self) -> &'static str {
        match self {
            IsAuthentication::NoSsl => "NOSSL",
            IsAuthentication::SslNoAuth => "SSLNOAUTH",
            IsAuthentication::SslAuth => "SSLAUTH",
        }
    }
}

impl FromStr for IsAuthentication {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "NOSSL" => Ok(IsAuthentication::NoSsl),
            "SSLNOAUTH" => Ok(IsAuthentication::SslNoAuth),
            "SSLAUTH" => Ok(IsAuthentication::SslAuth),
            other => Err(format!(
                "unknown IS authentication '{other}' (expected NOSSL, SSLNOAUTH or SSLAUTH)"
            )),
        }
    }
}

/// A local client: a member or subsystem hosted by this security server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// `INSTANCE/CLASS/MEMBER` or `INSTANCE/CLASS/MEMBER/SUBSYSTEM`.
    pub id: Id,
    /// IS authentication mode.
    #[serde(default)]
    pub is_authentication: IsAuthentication,
    /// IS TLS certificates (PEM), for `SSLAUTH` and for pinning provider TLS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<Certificate>,
    /// WSDL, OpenAPI and REST service descriptions with their services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_descriptions: Vec<ServiceDescription>,
    /// Local groups usable as access-right subjects of this client's services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_groups: Vec<LocalGroup>,
    /// Who may call this client's services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_rights: Vec<AccessRight>,
}

impl ClientConfig {
    /// A client with no services, rights or certificates.
    pub fn new(id: ClientId) -> Self {
        ClientConfig {
            id: Id(id),
            is_authentication: IsAuthentication::default(),
            certificates: Vec::new(),
            service_descriptions: Vec::new(),
            local_groups: Vec::new(),
            access_rights: Vec::new(),
        }
    }

    /// The service with this code (any version), with its description.
    pub fn service(&self, code: &str) -> Option<(&ServiceDescription, &Service)> {
        self.service_descriptions
            .iter()
            .find_map(|d| d.services.iter().find(|s| s.code == code).map(|s| (d, s)))
    }
}

/// The kind of a service description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DescriptionType {
    /// A WSDL 1.1 document: SOAP services.
    #[serde(rename = "WSDL")]
    Wsdl,
    /// An OpenAPI 3 document: one REST service with its endpoints.
    #[serde(rename = "OPENAPI3")]
    OpenApi3,
    /// A REST service declared by hand.
    #[serde(rename = "REST")]
    Rest,
}

impl DescriptionType {
    /// The stored spelling (as Java's `SERVICEDESCRIPTION.type`).
    pub fn as_str(self) -> &'static str {
        match self {
            DescriptionType::Wsdl => "WSDL",
            DescriptionType::OpenApi3 => "OPENAPI3",
            DescriptionType::Rest => "REST",
        }
    }
}

impl FromStr for DescriptionType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "WSDL" => Ok(DescriptionType::Wsdl),
            "OPENAPI3" => Ok(DescriptionType::OpenApi3),
            "REST" => Ok(DescriptionType::Rest),
            other => Err(format!(
                "unknown description type '{other}' (expected WSDL, OPENAPI3 or REST)"
            )),
        }
    }
}

/// A service description and the services it defines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDescription {
    /// WSDL, OPENAPI3 or REST.
    #[serde(rename = "type")]
    pub kind: DescriptionType,
    /// Where the description is (WSDL or OpenAPI document), or the REST base URL.
    pub url: String,
    /// Disabled descriptions' services answer with the disabled notice.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    /// The notice given to callers of a disabled service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_notice: Option<String>,
    /// The services.
    #[serde(default)]
    pub services: Vec<Service>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_true(b: &bool) -> bool {
    *b
}

fn yes() -> bool {
    true
}

fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_SECONDS
}

fn is_default_timeout(t: &u32) -> bool {
    *t == DEFAULT_TIMEOUT_SECONDS
}

/// A callable service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The service code.
    pub code: String,
    /// The service version (SOAP services, from `xrd:version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// A human-readable title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The address of the provider information system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Timeout in seconds when calling the provider IS.
    #[serde(
        default = "default_timeout",
        skip_serializing_if = "is_default_timeout"
    )]
    pub timeout: u32,
    /// Whether an HTTPS provider IS must present one of the client's IS certificates
    /// (Java: `sslauthentication`, NULL meaning true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub ssl_authentication: bool,
    /// REST endpoints besides the base endpoint (`*` `**`) every service has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
}

impl Service {
    /// A service with defaults for everything but its code.
    pub fn new(code: impl Into<String>) -> Self {
        Service {
            code: code.into(),
            version: None,
            title: None,
            url: None,
            timeout: DEFAULT_TIMEOUT_SECONDS,
            ssl_authentication: true,
            endpoints: Vec::new(),
        }
    }

    /// Whether the service has this endpoint (the base endpoint always exists).
    pub fn has_endpoint(&self, method: &str, path: &str) -> bool {
        (method == ANY_METHOD && path == ANY_PATH)
            || self
                .endpoints
                .iter()
                .any(|e| e.method == method && e.path == path)
    }
}

/// A REST endpoint: a method (or `*`) and a path pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// `GET`, `POST`, … or `*`.
    pub method: String,
    /// A path pattern: `*` one segment's characters, `**` anything, `\*` a literal `*`.
    pub path: String,
}

/// A local group of a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalGroup {
    /// The group code, unique within the client.
    pub code: String,
    /// A description.
    #[serde(default)]
    pub description: String,
    /// The members and subsystems in the group.
    #[serde(default)]
    pub members: Vec<Id>,
}

/// Access to one endpoint of one service, for a list of subjects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRight {
    /// The service code of one of the client's services.
    pub service: String,
    /// Method of the endpoint; `*` (the default) for the base endpoint.
    #[serde(default = "any_method", skip_serializing_if = "is_any_method")]
    pub method: String,
    /// Path of the endpoint; `**` (the default) for the base endpoint.
    #[serde(default = "any_path", skip_serializing_if = "is_any_path")]
    pub path: String,
    /// Who gets access.
    pub subjects: Vec<Subject>,
}

fn any_method() -> String {
    ANY_METHOD.to_owned()
}
fn any_path() -> String {
    ANY_PATH.to_owned()
}
fn is_any_method(s: &String) -> bool {
    s == ANY_METHOD
}
fn is_any_path(s: &String) -> bool {
    s == ANY_PATH
}

/// A client identifier written in the REST form: `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`, each
/// segment percent-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub ClientId);

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rest())
    }
}

impl FromStr for Id {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ClientId::from_rest(s)
            .map(Id)
            .map_err(|e| format!("invalid client identifier '{s}': {e}"))
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rest())
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The subject of an access right.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// A member or subsystem (a member grant does not cover its subsystems).
    Client(ClientId),
    /// A global group of the global configuration.
    GlobalGroup(GlobalGroupId),
    /// A local group of the service's client.
    LocalGroup(LocalGroupId),
}

impl fmt::Display for Subject {
    /// `MEMBER:EE/GOV/1`, `SUBSYSTEM:EE/GOV/1/sub`, `GLOBALGROUP:EE/code`, `LOCALGROUP:code`
    /// (segments percent-encoded as in the REST form).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut seg = String::new();
        match self {
            Subject::Client(c) => write!(f, "{}:{}", c.object_type(), c.to_rest()),
            Subject::GlobalGroup(g) => {
                xroad_identifiers::rest::encode_segment(g.instance(), &mut seg);
                seg.push('/');
                xroad_identifiers::rest::encode_segment(g.group_code(), &mut seg);
                write!(f, "GLOBALGROUP:{seg}")
            }
            Subject::LocalGroup(g) => {
                xroad_identifiers::rest::encode_segment(g.group_code(), &mut seg);
                write!(f, "LOCALGROUP:{seg}")
            }
        }
    }
}

impl FromStr for Subject {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = |e: &dyn fmt::Display| format!("invalid subject '{s}': {e}");
        let Some((kind, rest)) = s.split_once(':') else {
            return Err(err(
                &"expected TYPE:ID, e.g. SUBSYSTEM:EE/GOV/70000001/registry, \
                 GLOBALGROUP:EE/admins or LOCALGROUP:readers",
            ));
        };
        match kind {
            "MEMBER" | "SUBSYSTEM" => {
                let id = ClientId::from_rest(rest).map_err(|e| err(&e))?;
                if id.object_type().as_str() != kind {
                    return Err(err(&format!(
                        "a {} identifier is written {}",
                        id.object_type(),
                        if kind == "MEMBER" {
                            "INSTANCE/CLASS/MEMBER"
                        } else {
                            "INSTANCE/CLASS/MEMBER/SUBSYSTEM"
                        }
                    )));
                }
                Ok(Subject::Client(id))
            }
            "GLOBALGROUP" => {
                let parts: Vec<&str> = rest.split('/').collect();
                let [instance, code] = parts.as_slice() else {
                    return Err(err(&"expected GLOBALGROUP:INSTANCE/CODE"));
                };
                let instance = decode_segment(instance).map_err(|e| err(&e))?;
                let code = decode_segment(code).map_err(|e| err(&e))?;
                GlobalGroupId::new(instance, code)
                    .map(Subject::GlobalGroup)
                    .map_err(|e| err(&e))
            }
            "LOCALGROUP" => {
                let code = decode_segment(rest).map_err(|e| err(&e))?;
                LocalGroupId::new(code)
                    .map(Subject::LocalGroup)
                    .map_err(|e| err(&e))
            }
            other => Err(err(&format!(
                "unknown subject type '{other}' (expected MEMBER, SUBSYSTEM, GLOBALGROUP or LOCALGROUP)"
            ))),
        }
    }
}

impl Serialize for Subject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A DER certificate, written as PEM.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Certificate(pub Vec<u8>);

impl Certificate {
    /// PEM text with 64-character lines.
    pub fn to_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.0);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// Reads one PEM certificate (or bare base64 of the DER).
    pub fn from_pem(text: &str) -> Result<Self, String> {
        let body: String = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| format!("invalid certificate: not PEM or base64 ({e})"))?;
        // A certificate is a DER SEQUENCE; anything else is certainly not one.
        if der.first() != Some(&0x30) || der.len() < 16 {
            return Err("invalid certificate: not a DER certificate".to_owned());
        }
        Ok(Certificate(der))
    }
}

impl Serialize for Certificate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_pem())
    }
}

impl<'de> Deserialize<'de> for Certificate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Certificate::from_pem(&s).map_err(serde::de::Error::custom)
    }
}

fn check_url(field: &str, url: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| ConfigError::new(field, format!("invalid URL '{url}': {e}")))?;
    if !schemes.contains(&parsed.scheme()) {
        return Err(ConfigError::new(
            field,
            format!(
                "URL '{url}' must use {}",
                schemes
                    .iter()
                    .map(|s| format!("{s}://"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ));
    }
    Ok(())
}

fn check_code(field: &str, code: &str) -> Result<(), ConfigError> {
    if code.trim().is_empty() {
        return Err(ConfigError::new(field, "must not be blank"));
    }
    if code.chars().any(char::is_control) {
        return Err(ConfigError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

impl Config {
    /// Parses a YAML document (without validating references; see [`Config::validate`]).
    pub fn from_yaml(text: &str) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        yaml_serde::from_str(text).map_err(|e| {
            // serde's message starts with the path of the offending field when it has one.
            let msg = e.to_string();
            match msg.split_once(": ") {
                Some((field, rest))
                    if !field.contains(' ') && !field.is_empty() && field != "invalid type" =>
                {
                    ConfigError::new(field, rest)
                }
                _ => ConfigError::new("document", msg),
            }
        })
    }

    /// The document as YAML, in canonical order.
    pub fn to_yaml(&self) -> String {
        let mut c = self.clone();
        c.normalize();
        yaml_serde::to_string(&c).unwrap_or_default()
    }

    /// The client `id`, if hosted here.
    pub fn client(&self, id: &ClientId) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.id.0 == *id)
    }

    /// The client `id` for changing, if hosted here.
    pub fn client_mut(&mut self, id: &ClientId) -> Option<&mut ClientConfig> {
        self.clients.iter_mut().find(|c| c.id.0 == *id)
    }

    /// Sorts every list and merges access rights to the same endpoint, so that equal
    /// configurations compare equal whatever order they were written in.
    pub fn normalize(&mut self) {
        self.clients.sort_by(|a, b| a.id.cmp(&b.id));
        for c in &mut self.clients {
            c.certificates.sort();
            c.certificates.dedup();
            c.service_descriptions.sort_by(|a, b| a.url.cmp(&b.url));
            for d in &mut c.service_descriptions {
                d.services
                    .sort_by(|a, b| (&a.code, &a.version).cmp(&(&b.code, &b.version)));
                for s in &mut d.services {
                    s.endpoints.sort();
                    s.endpoints.dedup();
                }
            }
            c.local_groups.sort_by(|a, b| a.code.cmp(&b.code));
            for g in &mut c.local_groups {
                g.members.sort();
                g.members.dedup();
            }
            let mut merged: BTreeMap<(String, String, String), BTreeSet<Subject>> = BTreeMap::new();
            for r in c.access_rights.drain(..) {
                merged
                    .entry((r.service, r.method, r.path))
                    .or_default()
                    .extend(r.subjects);
            }
            c.access_rights = merged
                .into_iter()
                .filter(|(_, s)| !s.is_empty())
                .map(|((service, method, path), subjects)| AccessRight {
                    service,
                    method,
                    path,
                    subjects: subjects.into_iter().collect(),
                })
                .collect();
        }
    }

    /// Checks references, uniqueness, URLs and endpoint patterns. The first problem found
    /// is returned with the path of the offending field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen_clients = BTreeSet::new();
        for (ci, c) in self.clients.iter().enumerate() {
            let at = format!("clients[{ci}]");
            if !seen_clients.insert(&c.id) {
                return Err(ConfigError::new(
                    format!("{at}.id"),
                    format!("duplicate client '{}'", c.id),
                ));
            }
            let mut urls = BTreeSet::new();
            let mut services = BTreeSet::new();
            let mut codes = BTreeMap::new();
            for (di, d) in c.service_descriptions.iter().enumerate() {
                let at = format!("{at}.service_descriptions[{di}]");
                let schemes: &[&str] = match d.kind {
                    DescriptionType::Rest => &["http", "https"],
                    _ => &["http", "https", "file"],
                };
                check_url(&format!("{at}.url"), &d.url, schemes)?;
                if !urls.insert(d.url.as_str()) {
                    return Err(ConfigError::new(
                        format!("{at}.url"),
                        format!("duplicate service description '{}'", d.url),
                    ));
                }
                if d.kind != DescriptionType::Wsdl && d.services.len() > 1 {
                    return Err(ConfigError::new(
                        format!("{at}.services"),
                        "a REST or OpenAPI description defines exactly one service",
                    ));
                }
                for (si, s) in d.services.iter().enumerate() {
                    let at = format!("{at}.services[{si}]");
                    check_code(&format!("{at}.code"), &s.code)?;
                    if let Some(v) = &s.version {
                        check_code(&format!("{at}.version"), v)?;
                        if d.kind != DescriptionType::Wsdl {
                            return Err(ConfigError::new(
                                format!("{at}.version"),
                                "REST services have no version",
                            ));
                        }
                    }
                    if !services.insert((&s.code, &s.version)) {
                        return Err(ConfigError::new(
                            format!("{at}.code"),
                            format!(
                                "duplicate service '{}{}' of client '{}'",
                                s.code,
                                s.version
                                    .as_deref()
                                    .map(|v| format!("/{v}"))
                                    .unwrap_or_default(),
                                c.id
                            ),
                        ));
                    }
                    // Access rights name a service code; one code must mean one kind.
                    if let Some(kind) = codes.insert(s.code.as_str(), d.kind) {
                        if (kind == DescriptionType::Wsdl) != (d.kind == DescriptionType::Wsdl) {
                            return Err(ConfigError::new(
                                format!("{at}.code"),
                                format!(
                                    "duplicate service '{}': used by a SOAP and a REST service",
                                    s.code
                                ),
                            ));
                        }
                    }
                    if let Some(u) = &s.url {
                        check_url(&format!("{at}.url"), u, &["http", "https"])?;
                    }
                    if s.timeout == 0 || s.timeout > 86_400 {
                        return Err(ConfigError::new(
                            format!("{at}.timeout"),
                            "must be between 1 and 86400 seconds",
                        ));
                    }
                    if d.kind == DescriptionType::Wsdl && !s.endpoints.is_empty() {
                        return Err(ConfigError::new(
                            format!("{at}.endpoints"),
                            "SOAP services have no REST endpoints",
                        ));
                    }
                    let mut eps = BTreeSet::new();
                    for (ei, e) in s.endpoints.iter().enumerate() {
                        let at = format!("{at}.endpoints[{ei}]");
                        validate_method(&e.method)
                            .map_err(|m| ConfigError::new(format!("{at}.method"), m))?;
                        validate_path_pattern(&e.path)
                            .map_err(|m| ConfigError::new(format!("{at}.path"), m))?;
                        if !eps.insert(e) {
                            return Err(ConfigError::new(
                                at,
                                format!("duplicate endpoint {} {}", e.method, e.path),
                            ));
                        }
                    }
                }
            }
            let mut groups = BTreeSet::new();
            for (gi, g) in c.local_groups.iter().enumerate() {
                let at = format!("{at}.local_groups[{gi}]");
                check_code(&format!("{at}.code"), &g.code)?;
                if !groups.insert(g.code.as_str()) {
                    return Err(ConfigError::new(
                        format!("{at}.code"),
                        format!("duplicate local group '{}'", g.code),
                    ));
                }
            }
            // One look-up per access right, however many services the client has.
            let by_code: BTreeMap<&str, &Service> = c
                .service_descriptions
                .iter()
                .flat_map(|d| d.services.iter())
                .rev()
                .map(|s| (s.code.as_str(), s))
                .collect();
            for (ai, r) in c.access_rights.iter().enumerate() {
                let at = format!("{at}.access_rights[{ai}]");
                let Some(service) = by_code.get(r.service.as_str()) else {
                    return Err(ConfigError::new(
                        format!("{at}.service"),
                        format!("unknown service '{}' of client '{}'", r.service, c.id),
                    ));
                };
                validate_method(&r.method)
                    .map_err(|m| ConfigError::new(format!("{at}.method"), m))?;
                validate_path_pattern(&r.path)
                    .map_err(|m| ConfigError::new(format!("{at}.path"), m))?;
                if !service.has_endpoint(&r.method, &r.path) {
                    return Err(ConfigError::new(
                        format!("{at}.path"),
                        format!(
                            "unknown endpoint {} {} of service '{}' (declare it under the service's endpoints)",
                            r.method, r.path, r.service
                        ),
                    ));
                }
                if r.subjects.is_empty() {
                    return Err(ConfigError::new(
                        format!("{at}.subjects"),
                        "must name at least one subject",
                    ));
                }
                for (si, s) in r.subjects.iter().enumerate() {
                    if let Subject::LocalGroup(g) = s {
                        if !groups.contains(g.group_code()) {
                            return Err(ConfigError::new(
                                format!("{at}.subjects[{si}]"),
                                format!(
                                    "unknown local group '{}' of client '{}'",
                                    g.group_code(),
                                    c.id
                                ),
                            ));
                        }
                    }
                }
            }
        }
        if let Some(server) = &self.server {
            if server.owner.0.subsystem_code().is_some() {
                return Err(ConfigError::new(
                    "server.owner",
                    "the owner must be a member, not a subsystem",
                ));
            }
            check_code("server.server_code", &server.server_code)?;
            if !seen_clients.contains(&server.owner) {
                return Err(ConfigError::new(
                    "server.owner",
                    format!(
                        "unknown client '{}': the owner must be listed among the clients",
                        server.owner
                    ),
                ));
            }
            if let Some(anchor) = &server.anchor {
                let parsed = xroad_globalconf::ConfigurationAnchor::parse(anchor.as_bytes())
                    .map_err(|e| {
                        ConfigError::new("server.anchor", format!("invalid anchor: {e}"))
                    })?;
                if parsed.instance != server.owner.0.instance() {
                    return Err(ConfigError::new(
                        "server.anchor",
                        format!(
                            "the anchor is for instance '{}', the owner is in '{}'",
                            parsed.instance,
                            server.owner.0.instance()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The configuration as a flat, sorted list of entities (key → value), which is what
    /// `apply` compares to say what it changes.
    pub(crate) fn items(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let json = |v: serde_json::Value| v.to_string();
        if let Some(s) = &self.server {
            out.insert(
                "server".to_owned(),
                json(serde_json::json!({
                    "owner": s.owner.to_string(),
                    "server_code": s.server_code,
                    "anchor": s.anchor,
                })),
            );
        }
        for c in &self.clients {
            let id = c.id.to_string();
            let certs: Vec<String> = {
                let mut v: Vec<String> = c.certificates.iter().map(Certificate::to_pem).collect();
                v.sort();
                v
            };
            out.insert(
                format!("client {id}"),
                json(serde_json::json!({
                    "is_authentication": c.is_authentication.as_str(),
                    "certificates": certs,
                })),
            );
            for d in &c.service_descriptions {
                out.insert(
                    format!("service-description {id} {}", d.url),
                    json(serde_json::json!({
                        "type": d.kind.as_str(),
                        "disabled": d.disabled,
                        "disabled_notice": d.disabled_notice,
                    })),
                );
                for s in &d.services {
                    let sv = match &s.version {
                        Some(v) => format!("{}/{v}", s.code),
                        None => s.code.clone(),
                    };
                    out.insert(
                        format!("service {id} {sv}"),
                        json(serde_json::json!({
                            "description": d.url,
                            "title": s.title,
                            "url": s.url,
                            "timeout": s.timeout,
                            "ssl_authentication": s.ssl_authentication,
                        })),
                    );
                    for e in &s.endpoints {
                        out.insert(
                            format!("endpoint {id} {sv} {} {}", e.method, e.path),
                            String::new(),
                        );
                    }
                }
            }
            for g in &c.local_groups {
                out.insert(
                    format!("local-group {id} {}", g.code),
                    json(serde_json::json!({ "description": g.description })),
                );
                for m in &g.members {
                    out.insert(
                        format!("local-group-member {id} {} {m}", g.code),
                        String::new(),
                    );
                }
            }
            for r in &c.access_rights {
                for s in &r.subjects {
                    out.insert(
                        format!(
                            "access-right {id} {} {} {} {s}",
                            r.service, r.method, r.path
                        ),
                        String::new(),
                    );
                }
            }
        }
        out
    }
}

/// One difference between the stored configuration and a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", content = "item", rename_all = "lowercase")]
pub enum Change {
    /// Present in the document only.
    Add(String),
    /// Present in both, with different settings.
    Update(String),
    /// Present in the store only.
    Remove(String),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Add(s) => write!(f, "+ {s}"),
            Change::Update(s) => write!(f, "~ {s}"),
            Change::Remove(s) => write!(f, "- {s}"),
        }
    }
}

/// What changes turn `from` into `to`, removals first.
pub fn diff(from: &Config, to: &Config) -> Vec<Change> {
    let a = from.items();
    let b = to.items();
    let mut out: Vec<Change> = a
        .keys()
        .filter(|k| !b.contains_key(*k))
        .map(|k| Change::Remove(k.clone()))
        .collect();
    for (k, v) in &b {
        match a.get(k) {
            None => out.push(Change::Add(k.clone())),
            Some(old) if old != v => out.push(Change::Update(k.clone())),
            Some(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip() {
        for s in [
            "MEMBER:EE/GOV/70000001",
            "SUBSYSTEM:EE/GOV/70000001/registry",
            "GLOBALGROUP:EE/security-server-owners",
            "LOCALGROUP:readers",
            "SUBSYSTEM:EE/GOV/a%2Fb/c",
        ] {
            let parsed: Subject = s.parse().unwrap();
            assert_eq!(parsed.to_string(), s);
        }
        for bad in [
            "EE/GOV/1",
            "MEMBER:EE/GOV/1/sub",
            "SUBSYSTEM:EE/GOV/1",
            "GLOBALGROUP:code",
            "LOCALGROUP:",
            "SERVER:EE/GOV/1/ss",
            "MEMBER:EE/ /1",
        ] {
            assert!(bad.parse::<Subject>().is_err(), "{bad}");
        }
    }

    #[test]
    fn yaml_errors_name_the_field() {
        let e = Config::from_yaml("clients:\n  - id: EE/GOV\n").unwrap_err();
        assert!(e.field.starts_with("clients[0]"), "{e}");
        assert!(e.message.contains("EE/GOV"), "{e}");
        let e = Config::from_yaml("clients:\n  - id: EE/GOV/1\n    colour: red\n").unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
    }

    #[test]
    fn certificates_round_trip_as_pem() {
        let der: Vec<u8> = [0x30, 0x82, 0x01, 0x00]
            .iter()
            .copied()
            .chain(0..100)
            .collect();
        let c = Certificate(der);
        assert_eq!(Certificate::from_pem(&c.to_pem()).unwrap(), c);
        assert!(Certificate::from_pem("not base64!").is_err());
        assert!(Certificate::from_pem("AAAA").is_err());
    }
}
