//! The topology of a local X-Road network: one instance, its members and subsystems, the
//! security servers and the clients each hosts, the services providers offer with the
//! address of the information system behind each, and who may call them. Written in YAML
//! (`docs/topology.md`); [`Topology::default_demo`] is the network `xroad-sidecar demo`
//! builds when given none.
//!
//! Identifiers in the file leave out the instance: `CLASS/CODE` for a member,
//! `CLASS/CODE/SUBSYSTEM` for a subsystem.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use xroad_identifiers::{ClientId, SecurityServerId};

/// The built-in sample SOAP service (`url` / `description` of a SOAP service).
pub const SAMPLE_SOAP: &str = "sample:soap";
/// The built-in sample REST service (`url` / `description` of a REST or OpenAPI service).
pub const SAMPLE_REST: &str = "sample:rest";

/// The default topology, as `demo --print-topology` prints it (and
/// `docs/examples/topology.yaml` holds).
pub const DEFAULT_TOPOLOGY: &str = r#"# The local X-Road network of `xroad-sidecar demo` (see docs/topology.md).
# Identifiers leave out the instance: CLASS/CODE for a member, CLASS/CODE/SUBSYSTEM for a subsystem.

instance: DEV

members:
  - class: COM
    code: "1111"
    name: Consumer Ltd
    subsystems: [client]
  - class: GOV
    code: "2222"
    name: Provider Agency
    subsystems: [services]

# Security servers: the server code, the owner member, and the clients it hosts (the owner is
# always hosted too). Each runs on 127.0.0.1 with ports of its own.
security-servers:
  - code: consumer
    owner: COM/1111
    clients: [COM/1111/client]
  - code: provider
    owner: GOV/2222
    clients: [GOV/2222/services]

# Services: the provider (a hosted member or subsystem), the service code, the kind (soap,
# rest or openapi), the information system's URL (any http(s) URL; sample:soap and
# sample:rest are the built-in sample services), and who may call it.
services:
  - provider: GOV/2222/services
    code: helloService
    type: soap
    version: v1
    url: sample:soap
    title: Says hello
    allowed: [COM/1111/client]
  - provider: GOV/2222/services
    code: getRandom
    type: soap
    version: v1
    url: sample:soap
    title: A random number
    allowed: [COM/1111/client]
  - provider: GOV/2222/services
    code: petstore
    type: openapi
    url: sample:rest
    title: A small pet store
    allowed: [COM/1111/client]
"#;

/// A topology that is not acceptable, naming the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TopologyError {
    /// Where, e.g. `security-servers[1].clients[0]`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> TopologyError {
    TopologyError {
        field: field.into(),
        message: message.into(),
    }
}

/// The kind of keys the network's PKI and signers generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Keys {
    /// ECDSA P-256 (the default: fast).
    #[default]
    #[serde(rename = "ec-p256")]
    EcP256,
    /// RSA 2048 (as most production networks).
    #[serde(rename = "rsa2048")]
    Rsa2048,
}

/// A whole network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Topology {
    /// The X-Road instance identifier.
    pub instance: String,
    /// Key algorithm of the CA and the security servers (`ec-p256` or `rsa2048`).
    #[serde(default)]
    pub keys: Keys,
    /// Members and their subsystems.
    pub members: Vec<MemberSpec>,
    /// Security servers.
    pub security_servers: Vec<ServerSpec>,
    /// Services offered.
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
    /// How long the published global configuration stays valid, in seconds (default: 30
    /// days). Tests let it expire under running nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub globalconf_validity: Option<u64>,
}

/// A member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MemberSpec {
    /// Member class.
    pub class: String,
    /// Member code.
    pub code: String,
    /// Name (default: the code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Subsystem codes.
    #[serde(default)]
    pub subsystems: Vec<String>,
}

/// A security server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerSpec {
    /// The server code; also the node's name (its folder in the state directory).
    pub code: String,
    /// The owner member, `CLASS/CODE`.
    pub owner: String,
    /// Hosted members and subsystems besides the owner.
    #[serde(default)]
    pub clients: Vec<String>,
}

/// The kind of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// A SOAP service described by a WSDL.
    Soap,
    /// A REST service without a description.
    Rest,
    /// A REST service described by an OpenAPI 3 document.
    Openapi,
}

/// A service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceSpec {
    /// The provider, `CLASS/CODE[/SUBSYSTEM]`.
    pub provider: String,
    /// The service code.
    pub code: String,
    /// soap, rest or openapi.
    #[serde(rename = "type")]
    pub kind: ServiceKind,
    /// The service version (SOAP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The information system's URL, or `sample:soap` / `sample:rest`.
    pub url: String,
    /// The WSDL or OpenAPI document's URL (default: the sample's document for samples;
    /// `<url>?wsdl` for SOAP services; required for OpenAPI services elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Who may call it (`CLASS/CODE[/SUBSYSTEM]`).
    #[serde(default)]
    pub allowed: Vec<String>,
}

/// One security server of a validated topology, with identifiers resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedServer {
    /// Its identifier.
    pub id: SecurityServerId,
    /// The clients it hosts: the owner first.
    pub clients: Vec<ClientId>,
}

impl Topology {
    /// The default network of `xroad-sidecar demo`.
    pub fn default_demo() -> Topology {
        // The constant is tested to parse; fall back to an empty network rather than panic.
        Topology::parse(DEFAULT_TOPOLOGY).unwrap_or_else(|_| Topology {
            instance: "DEV".into(),
            keys: Keys::default(),
            members: Vec::new(),
            security_servers: Vec::new(),
            services: Vec::new(),
            globalconf_validity: None,
        })
    }

    /// Parses and validates a YAML topology.
    pub fn parse(text: &str) -> Result<Topology, TopologyError> {
        let t: Topology = yaml_serde::from_str(text).map_err(|e| {
            let msg = e.to_string();
            // serde's message starts with the path of the offending field when it has one.
            match msg.split_once(": ") {
                Some((field, rest)) if !field.contains(' ') && !field.is_empty() => {
                    err(field, rest)
                }
                _ => err("topology", msg),
            }
        })?;
        t.validate()?;
        Ok(t)
    }

    /// The topology as YAML (without the comments of [`DEFAULT_TOPOLOGY`]).
    pub fn to_yaml(&self) -> String {
        yaml_serde::to_string(self).unwrap_or_default()
    }

    /// The identifier `CLASS/CODE[/SUBSYSTEM]` in this instance.
    pub fn client_id(&self, field: &str, s: &str) -> Result<ClientId, TopologyError> {
        let parts: Vec<&str> = s.split('/').collect();
        let id = match parts.as_slice() {
            [class, code] => ClientId::member(self.instance.as_str(), *class, *code),
            [class, code, sub] => ClientId::subsystem(self.instance.as_str(), *class, *code, *sub),
            _ => {
                return Err(err(
                    field,
                    format!("'{s}' is not CLASS/CODE or CLASS/CODE/SUBSYSTEM"),
                ))
            }
        };
        id.map_err(|e| err(field, format!("'{s}': {e}")))
    }

    fn declared(&self) -> BTreeSet<ClientId> {
        let mut out = BTreeSet::new();
        for m in &self.members {
            if let Ok(id) =
                ClientId::member(self.instance.as_str(), m.class.as_str(), m.code.as_str())
            {
                out.insert(id);
            }
            for s in &m.subsystems {
                if let Ok(id) = ClientId::subsystem(
                    self.instance.as_str(),
                    m.class.as_str(),
                    m.code.as_str(),
                    s.as_str(),
                ) {
                    out.insert(id);
                }
            }
        }
        out
    }

    /// Checks what serde cannot: identifiers, references, duplicates, URLs.
    pub fn validate(&self) -> Result<(), TopologyError> {
        if self.globalconf_validity == Some(0) {
            return Err(err("globalconf-validity", "must be at least 1 second"));
        }
        if self.instance.trim().is_empty() || self.instance.contains('/') {
            return Err(err(
                "instance",
                "must be a non-blank identifier without '/'",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, m) in self.members.iter().enumerate() {
            let at = format!("members[{i}]");
            let id = ClientId::member(self.instance.as_str(), m.class.as_str(), m.code.as_str())
                .map_err(|e| err(&at, e.to_string()))?;
            if !seen.insert(id.clone()) {
                return Err(err(&at, format!("duplicate member {}/{}", m.class, m.code)));
            }
            let mut subs = BTreeSet::new();
            for (j, s) in m.subsystems.iter().enumerate() {
                ClientId::subsystem(
                    self.instance.as_str(),
                    m.class.as_str(),
                    m.code.as_str(),
                    s.as_str(),
                )
                .map_err(|e| err(format!("{at}.subsystems[{j}]"), e.to_string()))?;
                if !subs.insert(s) {
                    return Err(err(
                        format!("{at}.subsystems[{j}]"),
                        format!("duplicate subsystem '{s}'"),
                    ));
                }
            }
        }
        let declared = self.declared();
        if self.security_servers.is_empty() {
            return Err(err(
                "security-servers",
                "at least one security server is needed",
            ));
        }
        let mut codes = BTreeSet::new();
        for (i, s) in self.security_servers.iter().enumerate() {
            let at = format!("security-servers[{i}]");
            let safe = !s.code.is_empty()
                && s.code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !safe {
                return Err(err(
                    format!("{at}.code"),
                    format!(
                        "'{}': use letters, digits, '-' and '_' (it names a folder)",
                        s.code
                    ),
                ));
            }
            if !codes.insert(s.code.to_ascii_lowercase()) {
                return Err(err(
                    format!("{at}.code"),
                    format!("duplicate security server '{}'", s.code),
                ));
            }
            let owner = self.client_id(&format!("{at}.owner"), &s.owner)?;
            if owner.subsystem_code().is_some() || !declared.contains(&owner) {
                return Err(err(
                    format!("{at}.owner"),
                    format!("'{}' is not a member listed under members", s.owner),
                ));
            }
            for (j, c) in s.clients.iter().enumerate() {
                let f = format!("{at}.clients[{j}]");
                let id = self.client_id(&f, c)?;
                if !declared.contains(&id) {
                    return Err(err(
                        f,
                        format!("'{c}' is not a member or subsystem listed under members"),
                    ));
                }
            }
        }
        let hosted: BTreeSet<ClientId> = self
            .resolved_servers()?
            .into_iter()
            .flat_map(|s| s.clients)
            .collect();
        let mut services = BTreeSet::new();
        for (i, s) in self.services.iter().enumerate() {
            let at = format!("services[{i}]");
            let provider = self.client_id(&format!("{at}.provider"), &s.provider)?;
            if !hosted.contains(&provider) {
                return Err(err(
                    format!("{at}.provider"),
                    format!("'{}' is not hosted by any security server", s.provider),
                ));
            }
            if s.code.trim().is_empty() || s.code.contains('/') {
                return Err(err(
                    format!("{at}.code"),
                    "must be a non-blank code without '/'",
                ));
            }
            if !services.insert((provider, s.code.clone(), s.version.clone())) {
                return Err(err(
                    format!("{at}.code"),
                    format!("duplicate service '{}' of '{}'", s.code, s.provider),
                ));
            }
            match (s.kind, &s.version) {
                (ServiceKind::Soap, None) => {
                    return Err(err(
                        format!("{at}.version"),
                        "a SOAP service needs a version",
                    ))
                }
                (ServiceKind::Rest | ServiceKind::Openapi, Some(_)) => {
                    return Err(err(
                        format!("{at}.version"),
                        "REST services have no version",
                    ))
                }
                _ => {}
            }
            let sample = match s.kind {
                ServiceKind::Soap => SAMPLE_SOAP,
                _ => SAMPLE_REST,
            };
            check_url(&format!("{at}.url"), &s.url, sample)?;
            if let Some(d) = &s.description {
                if s.kind == ServiceKind::Rest {
                    return Err(err(
                        format!("{at}.description"),
                        "a rest service has no description document (use type: openapi)",
                    ));
                }
                check_url(&format!("{at}.description"), d, sample)?;
            } else if s.kind == ServiceKind::Openapi && s.url != SAMPLE_REST {
                return Err(err(
                    format!("{at}.description"),
                    "an openapi service needs the URL of its OpenAPI document",
                ));
            }
            for (j, a) in s.allowed.iter().enumerate() {
                let f = format!("{at}.allowed[{j}]");
                let id = self.client_id(&f, a)?;
                if !declared.contains(&id) {
                    return Err(err(
                        f,
                        format!("'{a}' is not a member or subsystem listed under members"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The security servers with resolved identifiers, each hosting its owner first.
    pub fn resolved_servers(&self) -> Result<Vec<ResolvedServer>, TopologyError> {
        self.security_servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let at = format!("security-servers[{i}]");
                let owner = self.client_id(&format!("{at}.owner"), &s.owner)?;
                let id = SecurityServerId::new(owner.clone(), s.code.as_str())
                    .map_err(|e| err(format!("{at}.code"), e.to_string()))?;
                let mut clients = vec![owner];
                for (j, c) in s.clients.iter().enumerate() {
                    let c = self.client_id(&format!("{at}.clients[{j}]"), c)?;
                    if !clients.contains(&c) {
                        clients.push(c);
                    }
                }
                Ok(ResolvedServer { id, clients })
            })
            .collect()
    }

    /// Every member with its display name and subsystems.
    pub fn member_name(&self, class: &str, code: &str) -> String {
        self.members
            .iter()
            .find(|m| m.class == class && m.code == code)
            .and_then(|m| m.name.clone())
            .unwrap_or_else(|| code.to_owned())
    }

    /// Whether a service uses the sample SOAP or REST information system.
    pub fn uses_samples(&self) -> bool {
        self.services.iter().any(|s| {
            s.url.starts_with("sample:")
                || s.description
                    .as_deref()
                    .is_some_and(|d| d.starts_with("sample:"))
        })
    }
}

fn check_url(field: &str, url: &str, sample: &str) -> Result<(), TopologyError> {
    if url.starts_with("sample:") {
        return if url == sample {
            Ok(())
        } else {
            Err(err(
                field,
                format!("'{url}': the sample for this kind of service is '{sample}'"),
            ))
        };
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !url.contains(char::is_whitespace) => {
            Ok(())
        }
        _ => Err(err(
            field,
            format!("'{url}' is not an http(s) URL or '{sample}'"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_parses_and_resolves() {
        let t = Topology::parse(DEFAULT_TOPOLOGY).unwrap();
        assert_eq!(t, Topology::default_demo());
        assert_eq!(t.instance, "DEV");
        let servers = t.resolved_servers().unwrap();
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].id.server_code(), "consumer");
        assert_eq!(
            servers[0].clients,
            vec![
                ClientId::member("DEV", "COM", "1111").unwrap(),
                ClientId::subsystem("DEV", "COM", "1111", "client").unwrap()
            ]
        );
        assert!(t.uses_samples());
        assert_eq!(t.member_name("GOV", "2222"), "Provider Agency");
        // The YAML form reads back the same.
        assert_eq!(Topology::parse(&t.to_yaml()).unwrap(), t);
    }

    #[test]
    fn the_documented_example_is_the_default() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/examples/topology.yaml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(
            text, DEFAULT_TOPOLOGY,
            "docs/examples/topology.yaml is out of date"
        );
    }

    fn bad(edit: impl FnOnce(&mut Topology)) -> TopologyError {
        let mut t = Topology::default_demo();
        edit(&mut t);
        t.validate().unwrap_err()
    }

    #[test]
    fn errors_name_the_field() {
        let e = Topology::parse("instance: DEV\nmembers: []\nsecurity-servers: []\ncolour: red\n")
            .unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        let e = Topology::parse(
            "instance: DEV\nmembers: []\nsecurity-servers:\n  - code: a\n    owner: X/1\n    extra: 1\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("extra"), "{e}");

        let e = bad(|t| t.security_servers[1].clients.push("GOV/2222/nope".into()));
        assert_eq!(e.field, "security-servers[1].clients[1]");
        let e = bad(|t| t.security_servers[0].owner = "COM/1111/client".into());
        assert_eq!(e.field, "security-servers[0].owner");
        let e = bad(|t| t.security_servers[0].code = "a/b".into());
        assert_eq!(e.field, "security-servers[0].code");
        let e = bad(|t| t.services[0].provider = "COM/9999".into());
        assert_eq!(e.field, "services[0].provider");
        let e = bad(|t| t.services[1].code = "helloService".into());
        assert_eq!(e.field, "services[1].code");
        let e = bad(|t| t.services[0].version = None);
        assert_eq!(e.field, "services[0].version");
        let e = bad(|t| t.services[2].url = "sample:soap".into());
        assert_eq!(e.field, "services[2].url");
        let e = bad(|t| t.services[0].url = "ftp://x".into());
        assert_eq!(e.field, "services[0].url");
        let e = bad(|t| {
            t.services[2].url = "http://127.0.0.1:9/api".into();
        });
        assert_eq!(e.field, "services[2].description");
        let e = bad(|t| t.services[0].allowed.push("COM".into()));
        assert_eq!(e.field, "services[0].allowed[1]");
        let e = bad(|t| t.members.push(t.members[0].clone()));
        assert_eq!(e.field, "members[2]");
    }

    #[test]
    fn any_url_may_stand_behind_a_service() {
        let mut t = Topology::default_demo();
        t.services[0].url = "https://soap.example.org/hello".into();
        t.services[2].kind = ServiceKind::Rest;
        t.services[2].url = "http://127.0.0.1:8080/api/v1".into();
        t.validate().unwrap();
    }
}
