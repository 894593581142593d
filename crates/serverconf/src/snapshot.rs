//! The immutable view of the server configuration that the proxy reads on every message.
//!
//! Built from a [`Config`] and the current global configuration: client statuses come from
//! the global configuration, and local and global groups are expanded into their members so
//! that an access decision is two hash look-ups and a scan of the few endpoints granted.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::Duration;

use xroad_globalconf::SharedParameters;
use xroad_identifiers::{ClientId, Code, SecurityServerId, ServiceId};

use crate::model::{Config, DescriptionType, Endpoint, IsAuthentication, Subject};
use crate::pattern::{normalize_request_path, EndpointPattern};

/// A fast multiply-rotate hash (as rustc's FxHash) for the snapshot's maps. Their keys come
/// from the configuration, never from requests (requests only look up), so hash flooding is
/// not a concern; SipHash would double the cost of an access decision.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // Byte by byte: identifier codes are short, and a variable-length copy would be
            // a call to memmove.
            let w = rest
                .iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            self.add(w ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// What the proxy holds: a cheap, shareable handle on one snapshot.
pub type ServerConf = Arc<ServerConfSnapshot>;

/// Whether a local client may be used, as the global configuration says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientStatus {
    /// The global configuration lists the client on this security server.
    Registered,
    /// The global configuration does not list it here (not yet, or no longer, registered).
    NotRegistered,
    /// No global configuration, or no server identity yet: nothing can be said.
    Unknown,
}

/// A member or subsystem hosted by this security server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalClient {
    /// How its information systems authenticate.
    pub is_authentication: IsAuthentication,
    /// Its IS TLS certificates (DER).
    pub certificates: Vec<Vec<u8>>,
    /// Its registration status from the global configuration.
    pub status: ClientStatus,
}

impl LocalClient {
    /// Only registered clients may send or receive messages.
    pub fn is_usable(&self) -> bool {
        self.status == ClientStatus::Registered
    }

    /// Whether `der` is one of the client's IS certificates.
    pub fn has_certificate(&self, der: &[u8]) -> bool {
        self.certificates.iter().any(|c| c.as_slice() == der)
    }
}

/// How to call a provider service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// The kind of description the service comes from (SOAP when WSDL).
    pub description_type: DescriptionType,
    /// The description's URL (WSDL/OpenAPI document or REST base URL).
    pub description_url: String,
    /// The provider IS address.
    pub url: Option<String>,
    /// Connect and read timeout towards the provider IS.
    pub timeout: Duration,
    /// Whether an HTTPS provider IS must present one of the client's IS certificates.
    pub ssl_authentication: bool,
    /// `Some(notice)` when the service description is disabled.
    pub disabled_notice: Option<String>,
    /// The service title.
    pub title: Option<String>,
}

/// A service as the metaservices list it (Java's `getServicesByDescriptionType` and
/// `getServiceEndpoints`), in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvidedService {
    /// The service code.
    pub code: String,
    /// The service version (SOAP services).
    pub version: Option<String>,
    /// The kind of description the service comes from.
    pub description_type: DescriptionType,
    /// The description's URL (WSDL or OpenAPI document, or the REST base URL).
    pub description_url: String,
    /// Its REST endpoints without the base endpoint (`*` `**`).
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Default)]
struct ServiceAcl {
    endpoints: Vec<EndpointPattern>,
    /// Member, subsystem or local group member → indexes into `endpoints`.
    by_subject: FxMap<ClientId, Vec<u32>>,
    /// (global group index, endpoint index): global groups are not expanded per service, as
    /// one large group granted on many services would multiply out.
    global: Vec<(u32, u32)>,
}

#[derive(Debug, Default)]
struct Provider {
    /// Service code → versions.
    services: FxMap<Code, Vec<(Option<Code>, ServiceInfo)>>,
    /// Service code → access rights.
    acl: FxMap<Code, ServiceAcl>,
    /// The services in configuration order (metaservices).
    listed: Vec<ProvidedService>,
}

/// An immutable, fully resolved server configuration.
#[derive(Debug, Default)]
pub struct ServerConfSnapshot {
    version: i64,
    server: Option<SecurityServerId>,
    clients: FxMap<ClientId, LocalClient>,
    providers: FxMap<ClientId, Provider>,
    /// Client → the global groups (indexes) it belongs to, for the groups used in rights.
    global_members: FxMap<ClientId, Vec<u32>>,
    access_rights: usize,
}

impl ServerConfSnapshot {
    /// Resolves `config` (store version `version`) against the global configuration.
    pub fn build(config: &Config, version: i64, globalconf: Option<&SharedParameters>) -> Self {
        let server = config
            .server
            .as_ref()
            .and_then(|s| SecurityServerId::new(s.owner.0.clone(), s.server_code.as_str()).ok());
        // The clients the global configuration lists on this server (owner included).
        let listed: Option<HashSet<&ClientId>> = match (globalconf, &server) {
            (Some(gc), Some(id)) => Some(
                gc.server(id)
                    .map(|s| std::iter::once(&s.owner).chain(&s.clients).collect())
                    .unwrap_or_default(),
            ),
            _ => None,
        };
        let global_groups: HashMap<&str, &[ClientId]> = globalconf
            .map(|gc| {
                gc.global_groups
                    .iter()
                    .map(|g| (g.code.as_str(), g.members.as_slice()))
                    .collect()
            })
            .unwrap_or_default();
        let instance = globalconf.map(|gc| gc.instance.as_str());
        // Global groups used in access rights, numbered as they are first met.
        let mut group_index: HashMap<&str, u32> = HashMap::new();

        let mut snap = ServerConfSnapshot {
            version,
            server,
            ..Default::default()
        };
        for c in &config.clients {
            let status = match &listed {
                None => ClientStatus::Unknown,
                Some(l) if l.contains(&c.id.0) => ClientStatus::Registered,
                Some(_) => ClientStatus::NotRegistered,
            };
            snap.clients.insert(
                c.id.0.clone(),
                LocalClient {
                    is_authentication: c.is_authentication,
                    certificates: c.certificates.iter().map(|c| c.0.clone()).collect(),
                    status,
                },
            );
            let provider = snap.providers.entry(c.id.0.clone()).or_default();
            for d in &c.service_descriptions {
                for s in &d.services {
                    let info = ServiceInfo {
                        description_type: d.kind,
                        description_url: d.url.clone(),
                        url: s.url.clone(),
                        timeout: Duration::from_secs(u64::from(s.timeout)),
                        ssl_authentication: s.ssl_authentication,
                        disabled_notice: d
                            .disabled
                            .then(|| d.disabled_notice.clone().unwrap_or_default()),
                        title: s.title.clone(),
                    };
                    provider
                        .services
                        .entry(Code::from(s.code.as_str()))
                        .or_default()
                        .push((s.version.as_deref().map(Code::from), info));
                    provider.listed.push(ProvidedService {
                        code: s.code.clone(),
                        version: s.version.clone(),
                        description_type: d.kind,
                        description_url: d.url.clone(),
                        endpoints: s
                            .endpoints
                            .iter()
                            .filter(|e| !(e.method == "*" && e.path == "**"))
                            .cloned()
                            .collect(),
                    });
                }
            }
            let local_groups: HashMap<&str, Vec<&ClientId>> = c
                .local_groups
                .iter()
                .map(|g| (g.code.as_str(), g.members.iter().map(|m| &m.0).collect()))
                .collect();
            for r in &c.access_rights {
                let acl = provider
                    .acl
                    .entry(Code::from(r.service.as_str()))
                    .or_default();
                let pattern = EndpointPattern::new(&r.method, &r.path);
                let index = match acl.endpoints.iter().position(|e| *e == pattern) {
                    Some(i) => i,
                    None => {
                        acl.endpoints.push(pattern);
                        acl.endpoints.len() - 1
                    }
                };
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                let mut grant = |who: &ClientId| {
                    let list = acl.by_subject.entry(who.clone()).or_default();
                    if !list.contains(&index) {
                        list.push(index);
                    }
                };
                for subject in &r.subjects {
                    snap.access_rights += 1;
                    match subject {
                        Subject::Client(id) => grant(id),
                        Subject::LocalGroup(g) => local_groups
                            .get(g.group_code())
                            .into_iter()
                            .flatten()
                            .for_each(|m| grant(m)),
                        Subject::GlobalGroup(g) => {
                            if instance == Some(g.instance())
                                && global_groups.contains_key(g.group_code())
                            {
                                let next = u32::try_from(group_index.len()).unwrap_or(u32::MAX);
                                let gi = *group_index.entry(g.group_code()).or_insert(next);
                                if !acl.global.contains(&(gi, index)) {
                                    acl.global.push((gi, index));
                                }
                            }
                        }
                    }
                }
            }
        }
        for (code, gi) in group_index {
            for member in global_groups.get(code).into_iter().flat_map(|m| m.iter()) {
                let groups = snap.global_members.entry(member.clone()).or_default();
                if !groups.contains(&gi) {
                    groups.push(gi);
                }
            }
        }
        snap
    }

    /// The store version the snapshot was built from.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// This security server's identity, once initialised.
    pub fn server_id(&self) -> Option<&SecurityServerId> {
        self.server.as_ref()
    }

    /// The local client `id`, if hosted here.
    pub fn client(&self, id: &ClientId) -> Option<&LocalClient> {
        self.clients.get(id)
    }

    /// All local clients.
    pub fn clients(&self) -> impl Iterator<Item = (&ClientId, &LocalClient)> {
        self.clients.iter()
    }

    /// How to call `service` (code and version must match), if it exists here.
    pub fn service(&self, service: &ServiceId) -> Option<&ServiceInfo> {
        self.providers
            .get(service.provider())?
            .services
            .get(service.service_code())?
            .iter()
            .find(|(v, _)| v.as_deref() == service.service_version())
            .map(|(_, info)| info)
    }

    /// The services of `provider` in configuration order (empty when not hosted here).
    pub fn provided_services(&self, provider: &ClientId) -> &[ProvidedService] {
        self.providers
            .get(provider)
            .map_or(&[][..], |p| p.listed.as_slice())
    }

    /// The endpoints (method, path pattern) that access rights grant `client` on `provider`'s
    /// service `code` (Java's `getAclEndpoints`), directly, through local or global groups.
    pub fn granted_endpoints(
        &self,
        client: &ClientId,
        provider: &ClientId,
        code: &str,
    ) -> Vec<&EndpointPattern> {
        let Some(acl) = self.providers.get(provider).and_then(|p| p.acl.get(code)) else {
            return Vec::new();
        };
        let groups = self
            .global_members
            .get(client)
            .map_or(&[][..], Vec::as_slice);
        let mut out: Vec<u32> = acl.by_subject.get(client).cloned().unwrap_or_default();
        for &(g, e) in &acl.global {
            if groups.contains(&g) && !out.contains(&e) {
                out.push(e);
            }
        }
        out.sort_unstable();
        out.iter()
            .filter_map(|&i| acl.endpoints.get(i as usize))
            .collect()
    }

    /// The number of access-right rows (subjects before group expansion).
    pub fn access_right_count(&self) -> usize {
        self.access_rights
    }

    /// Whether `client` may call `service`: SOAP with `method` and `path` `None`, REST with
    /// the request method and the service path as received (percent-encoded). Paths are
    /// decoded and normalised first; one that still contains `..` is refused.
    pub fn is_query_allowed(
        &self,
        client: &ClientId,
        service: &ServiceId,
        method: Option<&str>,
        path: Option<&str>,
    ) -> bool {
        let Some(acl) = self
            .providers
            .get(service.provider())
            .and_then(|p| p.acl.get(service.service_code()))
        else {
            return false;
        };
        let direct = acl.by_subject.get(client).map_or(&[][..], Vec::as_slice);
        let groups = if acl.global.is_empty() {
            &[][..]
        } else {
            self.global_members
                .get(client)
                .map_or(&[][..], Vec::as_slice)
        };
        let in_group = |(g, _): &&(u32, u32)| groups.contains(g);
        if direct.is_empty() && !acl.global.iter().any(|x| in_group(&x)) {
            return false;
        }
        let mut granted = direct
            .iter()
            .copied()
            .chain(acl.global.iter().filter(in_group).map(|&(_, e)| e));
        let path: Option<Cow<'_, str>> = match path {
            None => None,
            Some(p) => match normalize_request_path(p) {
                Some(n) => Some(n),
                None => return false,
            },
        };
        granted.any(|i| {
            acl.endpoints
                .get(i as usize)
                .is_some_and(|e| e.matches(method, path.as_deref()))
        })
    }
}
