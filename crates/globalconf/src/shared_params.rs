//! Shared parameters (`shared-params.xml`, versions 2 to 6): the parts verification needs,
//! read with the streaming scanner (the file lists every member; no tree is built).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use xroad_fault::{ErrorCode, XRoadError};
use xroad_identifiers::{ClientId, IdField, IdFields, SecurityServerId, ServiceId};
use xroad_xml::{EndTag, Handler, Limits, Scanner, StartTag, SyntaxError};

const IDENTIFIERS_NS: &str = "http://x-road.eu/xsd/identifiers";

/// An OCSP responder of a CA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OcspInfo {
    /// Its URL.
    pub url: String,
    /// Its certificate (DER), when global configuration names one.
    pub cert: Option<Vec<u8>>,
    /// `FREE` or `PAID` (version 6), if given.
    pub cost_type: Option<String>,
}

/// A CA certificate with its OCSP responders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaInfo {
    /// The CA certificate (DER).
    pub cert: Vec<u8>,
    /// Its OCSP responders.
    pub ocsp: Vec<OcspInfo>,
}

/// An approved certification service provider (`approvedCA`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovedCaParams {
    /// Its name.
    pub name: String,
    /// Whether it issues authentication certificates only.
    pub authentication_only: bool,
    /// The top CA.
    pub top: CaInfo,
    /// Intermediate CAs.
    pub intermediates: Vec<CaInfo>,
    /// The Java class name of its certificate profile.
    pub certificate_profile_info: String,
}

/// An approved time-stamping authority (`approvedTSA`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TsaInfo {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// Its certificate (DER).
    pub cert: Vec<u8>,
    /// `FREE`, `PAID` or `UNDEFINED` (version 6), if given.
    pub cost_type: Option<String>,
}

/// A security server (`securityServer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityServer {
    /// The owner member.
    pub owner: ClientId,
    /// `serverCode`.
    pub server_code: String,
    /// `address` (host name, IP or URL), if registered.
    pub address: Option<String>,
    /// `authCertHash` values (SHA-1 of the DER in version 2, SHA-256 from version 3).
    pub auth_cert_hashes: Vec<Vec<u8>>,
    /// The clients it hosts besides its owner.
    pub clients: Vec<ClientId>,
    /// `inMaintenanceMode` (version 5): `Some(message)` while in maintenance (the message may
    /// be empty).
    pub in_maintenance: Option<String>,
}

impl SecurityServer {
    /// Its identifier.
    pub fn id(&self) -> Option<SecurityServerId> {
        SecurityServerId::new(self.owner.clone(), self.server_code.as_str()).ok()
    }
}

/// A configuration source of the instance (`source`, version 3 and later).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// `address`: a host name, no scheme.
    pub address: String,
    /// `internalVerificationCert`s (DER).
    pub internal_verification_certs: Vec<Vec<u8>>,
    /// `externalVerificationCert`s (DER).
    pub external_verification_certs: Vec<Vec<u8>>,
}

/// A global group (`globalGroup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalGroup {
    /// `groupCode`.
    pub code: String,
    /// `description`.
    pub description: String,
    /// Its members (members and subsystems).
    pub members: Vec<ClientId>,
}

/// The shared parameters of one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedParameters {
    /// `instanceIdentifier`.
    pub instance: String,
    /// `source`s (version 3 and later).
    pub sources: Vec<Source>,
    /// `approvedCA`s in file order.
    pub approved_cas: Vec<ApprovedCaParams>,
    /// `approvedTSA`s in file order.
    pub approved_tsas: Vec<TsaInfo>,
    /// Members and their subsystems, in file order (each member before its subsystems).
    pub members: Vec<ClientId>,
    /// Security servers in file order.
    pub security_servers: Vec<SecurityServer>,
    /// Global groups in file order.
    pub global_groups: Vec<GlobalGroup>,
    /// Central services: service code and implementing service.
    pub central_services: Vec<(String, ServiceId)>,
    /// `globalSettings/ocspFreshnessSeconds`.
    pub ocsp_freshness_seconds: Option<i64>,
    /// The configuration version of the file (from its metadata; 2 when not given).
    pub version: u32,
    /// The expiry from the file's metadata (`expirationDate`), as written.
    pub expires: Option<String>,
    /// Member names and subsystem names (version 5), by identifier.
    pub names: HashMap<ClientId, String>,
    /// Look-up tables, built on first use (so a value built by hand works too).
    #[doc(hidden)]
    pub index: LookupIndex,
}

/// Hash tables over the lists of [`SharedParameters`] for the per-request queries.
#[derive(Debug, Clone, Default)]
pub struct LookupIndex(OnceLock<Index>);

impl PartialEq for LookupIndex {
    fn eq(&self, _: &Self) -> bool {
        true // derived data
    }
}

impl Eq for LookupIndex {}

#[derive(Debug, Clone, Default)]
struct Index {
    by_auth_hash: HashMap<Vec<u8>, usize>,
    by_server: HashMap<(ClientId, String), usize>,
    by_client: HashMap<ClientId, Vec<usize>>,
    groups: HashMap<String, HashSet<ClientId>>,
}

impl Index {
    fn build(p: &SharedParameters) -> Index {
        let mut index = Index::default();
        for (i, s) in p.security_servers.iter().enumerate() {
            for h in &s.auth_cert_hashes {
                index.by_auth_hash.entry(h.clone()).or_insert(i);
            }
            index
                .by_server
                .entry((s.owner.clone(), s.server_code.clone()))
                .or_insert(i);
            for c in std::iter::once(&s.owner).chain(&s.clients) {
                let list = index.by_client.entry(c.clone()).or_default();
                if !list.contains(&i) {
                    list.push(i);
                }
            }
        }
        for g in &p.global_groups {
            index
                .groups
                .entry(g.code.clone())
                .or_default()
                .extend(g.members.iter().cloned());
        }
        index
    }
}

/// How OCSP responders and TSAs are ordered by their cost type (version 6;
/// `signer.ocsp-prioritization-strategy`, `message-log.timestamping-prioritization-strategy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PrioritizationStrategy {
    /// File order (the default).
    #[default]
    None,
    /// Only `FREE` ones.
    OnlyFree,
    /// Only `PAID` ones.
    OnlyPaid,
    /// `FREE`, then `PAID`, then the rest, each in file order.
    FreeFirst,
    /// `PAID`, then `FREE`, then the rest.
    PaidFirst,
}

impl std::str::FromStr for PrioritizationStrategy {
    type Err = std::convert::Infallible;

    /// Case-insensitive; anything unknown is `None`, as Java reads it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_uppercase().as_str() {
            "ONLY_FREE" => PrioritizationStrategy::OnlyFree,
            "ONLY_PAID" => PrioritizationStrategy::OnlyPaid,
            "FREE_FIRST" => PrioritizationStrategy::FreeFirst,
            "PAID_FIRST" => PrioritizationStrategy::PaidFirst,
            _ => PrioritizationStrategy::None,
        })
    }
}

/// `items` (URL, cost type) ordered by `strategy`: blank URLs dropped; cost types apply
/// only from configuration version 6 (Java's `CostTypePrioritizer`, a stable sort).
fn prioritize<'a>(
    items: impl Iterator<Item = (&'a str, Option<&'a str>)>,
    strategy: PrioritizationStrategy,
    version: u32,
) -> Vec<&'a str> {
    let mut list: Vec<(&str, Option<&str>)> =
        items.filter(|(url, _)| !url.trim().is_empty()).collect();
    if version < 6 {
        return list.into_iter().map(|(u, _)| u).collect();
    }
    let rank = |first: &str, cost: Option<&str>| match cost {
        Some(c) if c == first => 0,
        Some("FREE" | "PAID") => 1,
        _ => 2,
    };
    match strategy {
        PrioritizationStrategy::None => {}
        PrioritizationStrategy::FreeFirst => list.sort_by_key(|(_, c)| rank("FREE", *c)),
        PrioritizationStrategy::PaidFirst => list.sort_by_key(|(_, c)| rank("PAID", *c)),
        PrioritizationStrategy::OnlyFree => list.retain(|(_, c)| *c == Some("FREE")),
        PrioritizationStrategy::OnlyPaid => list.retain(|(_, c)| *c == Some("PAID")),
    }
    list.into_iter().map(|(u, _)| u).collect()
}

fn malformed(msg: impl Into<String>) -> XRoadError {
    XRoadError::new(ErrorCode::MalformedGlobalConf, msg)
}

impl SharedParameters {
    /// Parses a `shared-params.xml` document.
    pub fn parse(xml: &[u8]) -> Result<SharedParameters, XRoadError> {
        let mut reader = Reader::default();
        let mut scanner = Scanner::new(Limits::default());
        let result = scanner
            .feed(xml, &mut reader)
            .and_then(|()| scanner.finish(&mut reader));
        match result {
            Ok(()) => {}
            Err(ReadError::Syntax(e)) => {
                return Err(malformed(format!(
                    "shared parameters are not well-formed XML: {e}"
                )))
            }
            Err(ReadError::Invalid(m)) => return Err(malformed(m)),
        }
        if reader.root_local != "conf" {
            return Err(malformed(format!(
                "shared parameters root is {}, not conf",
                reader.root_local
            )));
        }
        if reader.params.instance.is_empty() {
            return Err(malformed("shared parameters lack instanceIdentifier"));
        }
        reader.params.version = 2;
        reader.resolve().map_err(|e| match e {
            ReadError::Syntax(e) => malformed(e.to_string()),
            ReadError::Invalid(m) => malformed(m),
        })?;
        Ok(reader.params)
    }

    /// The download locations this instance's sources offer for a configuration last fetched
    /// from `location` (`scheme://host/path`): the same path on every source address, all over
    /// HTTPS first, then all over HTTP, with the internal (`internalconf`), external
    /// (`externalconf`) or both sets of verification certificates (Java's
    /// `SharedParametersConfigurationLocations`).
    pub fn configuration_locations(&self, location: &str) -> Vec<(String, Vec<Vec<u8>>)> {
        let Some(path) = location
            .strip_prefix("http://")
            .or_else(|| location.strip_prefix("https://"))
            .and_then(|rest| rest.split_once('/'))
            .map(|(_, path)| path)
            .filter(|p| !p.is_empty())
        else {
            return Vec::new();
        };
        let certs = |s: &Source| -> Vec<Vec<u8>> {
            match path.rsplit('/').next().unwrap_or("") {
                "internalconf" => s.internal_verification_certs.clone(),
                "externalconf" => s.external_verification_certs.clone(),
                _ => s
                    .internal_verification_certs
                    .iter()
                    .chain(&s.external_verification_certs)
                    .cloned()
                    .collect(),
            }
        };
        ["https", "http"]
            .iter()
            .flat_map(|scheme| {
                self.sources
                    .iter()
                    .map(move |s| (format!("{scheme}://{}/{path}", s.address), certs(s)))
            })
            .collect()
    }

    /// The security server whose authentication certificate is `cert_der`: its hash is
    /// SHA-1 in version 2 files and SHA-256 from version 3.
    pub fn server_by_auth_cert(&self, cert_der: &[u8]) -> Option<&SecurityServer> {
        let alg = if self.version <= 2 {
            xroad_crypto::DigestAlgorithm::Sha1
        } else {
            xroad_crypto::DigestAlgorithm::Sha256
        };
        self.server_by_auth_cert_hash(alg.digest(cert_der).as_bytes())
    }

    fn index(&self) -> &Index {
        self.index.0.get_or_init(|| Index::build(self))
    }

    /// The security server whose registered authentication certificate hash is `hash`.
    pub fn server_by_auth_cert_hash(&self, hash: &[u8]) -> Option<&SecurityServer> {
        let i = *self.index().by_auth_hash.get(hash)?;
        self.security_servers.get(i)
    }

    /// The security server `code` owned by `owner`.
    pub fn server(&self, id: &SecurityServerId) -> Option<&SecurityServer> {
        let key = (id.owner().clone(), id.server_code().to_owned());
        let i = *self.index().by_server.get(&key)?;
        self.security_servers.get(i)
    }

    /// Whether `server` hosts `client` (as its owner or one of its clients).
    pub fn is_security_server_client(&self, client: &ClientId, server: &SecurityServerId) -> bool {
        self.server(server)
            .is_some_and(|s| s.owner == *client || s.clients.contains(client))
    }

    /// The security servers hosting `client` (as owner or client), in file order.
    pub fn servers_hosting(&self, client: &ClientId) -> impl Iterator<Item = &SecurityServer> {
        self.index()
            .by_client
            .get(client)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|&i| self.security_servers.get(i))
    }

    /// The addresses of the security servers hosting `client`.
    pub fn provider_addresses(&self, client: &ClientId) -> Vec<&str> {
        self.servers_hosting(client)
            .filter_map(|s| s.address.as_deref())
            .collect()
    }

    /// Whether `subject` is a member of the global group `code`.
    pub fn is_in_global_group(&self, subject: &ClientId, code: &str) -> bool {
        self.index()
            .groups
            .get(code)
            .is_some_and(|members| members.contains(subject))
    }

    /// Whether `client` is a member or subsystem of this instance.
    pub fn has_member(&self, client: &ClientId) -> bool {
        self.names.contains_key(client) || self.members.contains(client)
    }

    /// The name of `client`'s member (for a subsystem, of the member it belongs to).
    pub fn member_name(&self, client: &ClientId) -> Option<&str> {
        self.names.get(&client.member_id()).map(String::as_str)
    }

    /// The subsystem name of `client` (version 5 `subsystemName`), if given.
    pub fn subsystem_name(&self, client: &ClientId) -> Option<&str> {
        client.subsystem_code()?;
        self.names.get(client).map(String::as_str)
    }

    /// The maintenance message of `server` when it is in maintenance mode.
    pub fn maintenance(&self, server: &SecurityServerId) -> Option<&str> {
        self.server(server)?.in_maintenance.as_deref()
    }

    /// The OCSP responder URLs of the CA whose certificate is `ca_cert_der` (top or
    /// intermediate), ordered by `strategy`.
    pub fn ocsp_responder_urls(
        &self,
        ca_cert_der: &[u8],
        strategy: PrioritizationStrategy,
    ) -> Vec<&str> {
        let responders = self
            .approved_cas
            .iter()
            .flat_map(|ca| std::iter::once(&ca.top).chain(&ca.intermediates))
            .filter(|ca| ca.cert == ca_cert_der)
            .flat_map(|ca| &ca.ocsp)
            .map(|o| (o.url.as_str(), o.cost_type.as_deref()));
        prioritize(responders, strategy, self.version)
    }

    /// The TSA URLs ordered by `strategy`.
    pub fn tsa_urls(&self, strategy: PrioritizationStrategy) -> Vec<&str> {
        let tsas = self
            .approved_tsas
            .iter()
            .map(|t| (t.url.as_str(), t.cost_type.as_deref()));
        prioritize(tsas, strategy, self.version)
    }
}

#[derive(Debug)]
enum ReadError {
    Syntax(SyntaxError),
    Invalid(String),
}

impl From<SyntaxError> for ReadError {
    fn from(e: SyntaxError) -> Self {
        ReadError::Syntax(e)
    }
}

/// Collects the elements of interest by their path of local names below the root.
/// A member as written, before its `id` references are resolved.
#[derive(Default)]
struct RawMember {
    xml_id: String,
    class: String,
    code: String,
    name: String,
    /// `id`, `subsystemCode`, `subsystemName`.
    subsystems: Vec<(String, String, Option<String>)>,
}

#[derive(Default)]
struct RawServer {
    owner: String,
    code: String,
    address: Option<String>,
    hashes: Vec<Vec<u8>>,
    clients: Vec<String>,
    maintenance: Option<String>,
}

/// The local names of the open elements below the root, reusing their buffers: a file of
/// 10,000 members has hundreds of thousands of elements, and allocating per element showed.
#[derive(Default)]
struct ElementPath {
    names: Vec<String>,
    len: usize,
}

impl ElementPath {
    fn push(&mut self, name: &str) {
        if let Some(buf) = self.names.get_mut(self.len) {
            buf.clear();
            buf.push_str(name);
        } else {
            self.names.push(name.to_owned());
        }
        self.len += 1;
    }

    fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }
}

impl std::ops::Deref for ElementPath {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.names[..self.len]
    }
}

#[derive(Default)]
struct Reader {
    root_local: String,
    path: ElementPath,
    text: String,
    params: SharedParameters,
    members: Vec<RawMember>,
    servers: Vec<RawServer>,
    /// Groups with their members as identifier fields.
    groups: Vec<(String, String, Vec<IdFields>)>,
    /// The identifier being read (`groupMember`, `implementingService`).
    id_fields: Option<IdFields>,
    central: Vec<(String, IdFields)>,
}

fn decode_cert(text: &str) -> Result<Vec<u8>, ReadError> {
    let bytes = xroad_crypto::decode_base64(text).ok_or_else(|| {
        ReadError::Invalid("a certificate in shared parameters is not base64".into())
    })?;
    // Some central servers store base64 of the PEM text rather than of the DER.
    if bytes.starts_with(b"-----BEGIN") {
        let cert = xroad_crypto::Certificate::from_pem_or_der(&bytes)
            .map_err(|e| ReadError::Invalid(format!("a certificate in shared parameters: {e}")))?;
        return Ok(cert.der().to_vec());
    }
    Ok(bytes)
}

impl Reader {
    /// Turns `id` references into identifiers.
    fn resolve(&mut self) -> Result<(), ReadError> {
        let instance = self.params.instance.clone();
        let bad =
            |what: &str, e: &dyn std::fmt::Display| ReadError::Invalid(format!("{what}: {e}"));
        let mut by_id: HashMap<String, ClientId> = HashMap::new();
        for m in &self.members {
            let member = ClientId::member(instance.as_str(), m.class.as_str(), m.code.as_str())
                .map_err(|e| bad("a member", &e))?;
            by_id.insert(m.xml_id.clone(), member.clone());
            self.params.names.insert(member.clone(), m.name.clone());
            self.params.members.push(member);
            for (xml_id, code, name) in &m.subsystems {
                let sub = ClientId::subsystem(
                    instance.as_str(),
                    m.class.as_str(),
                    m.code.as_str(),
                    code.as_str(),
                )
                .map_err(|e| bad("a subsystem", &e))?;
                by_id.insert(xml_id.clone(), sub.clone());
                if let Some(name) = name {
                    self.params.names.insert(sub.clone(), name.clone());
                }
                self.params.members.push(sub);
            }
        }
        let lookup = |r: &str| {
            by_id.get(r.trim()).cloned().ok_or_else(|| {
                ReadError::Invalid(format!("no member or subsystem has the id {}", r.trim()))
            })
        };
        for s in std::mem::take(&mut self.servers) {
            self.params.security_servers.push(SecurityServer {
                owner: lookup(&s.owner)?,
                server_code: s.code,
                address: s.address.filter(|a| !a.is_empty()),
                auth_cert_hashes: s.hashes,
                clients: s
                    .clients
                    .iter()
                    .map(|c| lookup(c))
                    .collect::<Result<_, _>>()?,
                in_maintenance: s.maintenance,
            });
        }
        for (code, description, members) in std::mem::take(&mut self.groups) {
            let members = members
                .into_iter()
                .map(|f| {
                    f.into_client()
                        .map_err(|e| bad("a global group member", &e))
                })
                .collect::<Result<_, _>>()?;
            self.params.global_groups.push(GlobalGroup {
                code,
                description,
                members,
            });
        }
        for (code, fields) in std::mem::take(&mut self.central) {
            let service = fields
                .into_service()
                .map_err(|e| bad("a central service", &e))?;
            self.params.central_services.push((code, service));
        }
        Ok(())
    }

    fn path_is(&self, expected: &[&str]) -> bool {
        self.path.len() == expected.len() && self.path.iter().zip(expected).all(|(a, b)| a == b)
    }

    /// The CA being read: the top CA or the last intermediate of the last approved CA.
    fn current_ca(&mut self) -> Option<&mut CaInfo> {
        let ca = self.params.approved_cas.last_mut()?;
        match self.path.get(1).map(String::as_str) {
            Some("topCA") => Some(&mut ca.top),
            Some("intermediateCA") => ca.intermediates.last_mut(),
            _ => None,
        }
    }

    fn leaf(&mut self, text: &str) -> Result<(), ReadError> {
        // Paths are at most a few levels deep; deeper ones match nothing below.
        let mut names = [""; 8];
        for (slot, name) in names.iter_mut().zip(self.path.iter()) {
            *slot = name.as_str();
        }
        let p = &names[..self.path.len().min(names.len())];
        match p {
            ["instanceIdentifier"] => self.params.instance = text.trim().to_owned(),
            ["approvedCA", "name"] => {
                if let Some(ca) = self.params.approved_cas.last_mut() {
                    ca.name = text.trim().to_owned();
                }
            }
            ["approvedCA", "authenticationOnly"] => {
                if let Some(ca) = self.params.approved_cas.last_mut() {
                    ca.authentication_only = text.trim() == "true";
                }
            }
            ["approvedCA", "certificateProfileInfo"] => {
                if let Some(ca) = self.params.approved_cas.last_mut() {
                    ca.certificate_profile_info = text.trim().to_owned();
                }
            }
            ["approvedCA", "topCA" | "intermediateCA", "cert"] => {
                let der = decode_cert(text)?;
                if let Some(ca) = self.current_ca() {
                    ca.cert = der;
                }
            }
            ["approvedCA", "topCA" | "intermediateCA", "ocsp", field] => {
                let field = (*field).to_owned();
                let value = if field == "cert" {
                    Some(decode_cert(text)?)
                } else {
                    None
                };
                if let Some(o) = self.current_ca().and_then(|ca| ca.ocsp.last_mut()) {
                    match field.as_str() {
                        "url" => o.url = text.trim().to_owned(),
                        "cert" => o.cert = value,
                        "costType" => o.cost_type = Some(text.trim().to_owned()),
                        _ => {}
                    }
                }
            }
            ["approvedTSA", field] => {
                let field = (*field).to_owned();
                let value = if field == "cert" {
                    Some(decode_cert(text)?)
                } else {
                    None
                };
                if let Some(t) = self.params.approved_tsas.last_mut() {
                    match field.as_str() {
                        "name" => t.name = text.trim().to_owned(),
                        "url" => t.url = text.trim().to_owned(),
                        "cert" => t.cert = value.unwrap_or_default(),
                        "costType" => t.cost_type = Some(text.trim().to_owned()),
                        _ => {}
                    }
                }
            }
            ["source", field] => {
                let field = (*field).to_owned();
                let cert = if field.ends_with("VerificationCert") {
                    Some(decode_cert(text)?)
                } else {
                    None
                };
                if let Some(src) = self.params.sources.last_mut() {
                    match (field.as_str(), cert) {
                        ("address", _) => src.address = text.trim().to_owned(),
                        ("internalVerificationCert", Some(c)) => {
                            src.internal_verification_certs.push(c)
                        }
                        ("externalVerificationCert", Some(c)) => {
                            src.external_verification_certs.push(c)
                        }
                        _ => {}
                    }
                }
            }
            ["member", "memberClass", "code"] => {
                if let Some(m) = self.members.last_mut() {
                    m.class = text.trim().to_owned();
                }
            }
            ["member", "memberCode"] => {
                if let Some(m) = self.members.last_mut() {
                    m.code = text.trim().to_owned();
                }
            }
            ["member", "name"] => {
                if let Some(m) = self.members.last_mut() {
                    m.name = text.trim().to_owned();
                }
            }
            ["member", "subsystem", "subsystemName"] => {
                if let Some(s) = self
                    .members
                    .last_mut()
                    .and_then(|m| m.subsystems.last_mut())
                {
                    s.2 = Some(text.trim().to_owned());
                }
            }
            ["securityServer", "inMaintenanceMode", "message"] => {
                if let Some(s) = self.servers.last_mut() {
                    s.maintenance = Some(text.trim().to_owned());
                }
            }
            ["member", "subsystem", "subsystemCode"] => {
                if let Some(s) = self
                    .members
                    .last_mut()
                    .and_then(|m| m.subsystems.last_mut())
                {
                    s.1 = text.trim().to_owned();
                }
            }
            ["securityServer", field] => {
                let field = (*field).to_owned();
                let Some(s) = self.servers.last_mut() else {
                    return Ok(());
                };
                match field.as_str() {
                    "owner" => s.owner = text.trim().to_owned(),
                    "serverCode" => s.code = text.trim().to_owned(),
                    "address" => s.address = Some(text.trim().to_owned()),
                    "client" => s.clients.push(text.trim().to_owned()),
                    "authCertHash" => {
                        let hash = xroad_crypto::decode_base64(text).ok_or_else(|| {
                            ReadError::Invalid("an authCertHash is not base64".into())
                        })?;
                        s.hashes.push(hash);
                    }
                    _ => {}
                }
            }
            ["globalGroup", "groupCode"] => {
                if let Some(g) = self.groups.last_mut() {
                    g.0 = text.trim().to_owned();
                }
            }
            ["globalGroup", "description"] => {
                if let Some(g) = self.groups.last_mut() {
                    g.1 = text.trim().to_owned();
                }
            }
            ["centralService", "serviceCode"] => {
                if let Some(c) = self.central.last_mut() {
                    c.0 = text.trim().to_owned();
                }
            }
            ["globalSettings", "ocspFreshnessSeconds"] => {
                let n = text.trim().parse::<i64>().map_err(|_| {
                    ReadError::Invalid(format!(
                        "ocspFreshnessSeconds is not a number: {}",
                        text.trim()
                    ))
                })?;
                self.params.ocsp_freshness_seconds = Some(n);
            }
            _ => {}
        }
        Ok(())
    }
}

impl Handler for Reader {
    type Error = ReadError;

    fn start_element(&mut self, tag: &StartTag<'_>) -> Result<(), ReadError> {
        if tag.depth == 1 {
            self.root_local = tag.local.to_owned();
            return Ok(());
        }
        self.path.push(tag.local);
        self.text.clear();
        if self.path_is(&["approvedCA"]) {
            self.params.approved_cas.push(ApprovedCaParams::default());
        } else if self.path_is(&["approvedCA", "intermediateCA"]) {
            if let Some(ca) = self.params.approved_cas.last_mut() {
                ca.intermediates.push(CaInfo::default());
            }
        } else if self.path.len() == 3 && self.path[0] == "approvedCA" && self.path[2] == "ocsp" {
            if let Some(ca) = self.current_ca() {
                ca.ocsp.push(OcspInfo::default());
            }
        } else if self.path_is(&["approvedTSA"]) {
            self.params.approved_tsas.push(TsaInfo::default());
        } else if self.path_is(&["source"]) {
            self.params.sources.push(Source::default());
        } else if self.path_is(&["member"]) {
            self.members.push(RawMember {
                xml_id: tag.attribute("", "id").unwrap_or("").to_owned(),
                ..RawMember::default()
            });
        } else if self.path_is(&["member", "subsystem"]) {
            let xml_id = tag.attribute("", "id").unwrap_or("").to_owned();
            if let Some(m) = self.members.last_mut() {
                m.subsystems.push((xml_id, String::new(), None));
            }
        } else if self.path_is(&["securityServer"]) {
            self.servers.push(RawServer::default());
        } else if self.path_is(&["securityServer", "inMaintenanceMode"]) {
            if let Some(s) = self.servers.last_mut() {
                s.maintenance = Some(String::new());
            }
        } else if self.path_is(&["globalGroup"]) {
            self.groups.push((String::new(), String::new(), Vec::new()));
        } else if self.path_is(&["globalGroup", "groupMember"])
            || self.path_is(&["centralService", "implementingService"])
        {
            self.id_fields = Some(IdFields::default());
        } else if self.path_is(&["centralService"]) {
            self.central.push((String::new(), IdFields::default()));
        }
        Ok(())
    }

    fn end_element(&mut self, tag: &EndTag<'_>) -> Result<(), ReadError> {
        if tag.depth == 1 {
            return Ok(());
        }
        let text = std::mem::take(&mut self.text);
        if tag.namespace() == IDENTIFIERS_NS && self.id_fields.is_some() {
            if let (Some(field), Some(fields)) =
                (IdField::from_local_name(tag.local), self.id_fields.as_mut())
            {
                fields.set(field, text.trim()).map_err(|e| {
                    ReadError::Invalid(format!("an identifier in shared parameters: {e}"))
                })?;
            }
        } else if self.path_is(&["globalGroup", "groupMember"]) {
            if let (Some(fields), Some(g)) = (self.id_fields.take(), self.groups.last_mut()) {
                g.2.push(fields);
            }
        } else if self.path_is(&["centralService", "implementingService"]) {
            if let (Some(fields), Some(c)) = (self.id_fields.take(), self.central.last_mut()) {
                c.1 = fields;
            }
        } else {
            self.leaf(&text)?;
        }
        self.path.pop();
        // Keep the buffer for the next element.
        self.text = text;
        self.text.clear();
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), ReadError> {
        // Only leaves matter, and their text is short; the member lists are skipped cheaply.
        if self.text.len() < 1 << 20 {
            self.text.push_str(text);
        }
        Ok(())
    }
}
