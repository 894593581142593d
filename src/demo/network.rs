//! Builds a demo network from a [`Topology`]: everything but the security servers themselves.
//!
//! Order matters only where one thing names another: the listeners are bound first (so every
//! port is known), then the PKI; the signers (key generation, certificates, first OCSP
//! responses) and the server configuration stores are filled in parallel; the global
//! configuration, which names the auth certificates and the addresses, is published last,
//! and then each node's anchor and `sidecar.yaml` are written.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use xroad_devnet::ocsp::{OcspResponder, ResponderState, ResponseSigner};
use xroad_devnet::pki::{self, KeyKind, Pki, PROFILE};
use xroad_devnet::samples::{self, SampleServices, SampleUrls};
use xroad_devnet::topology::{
    Keys, ResolvedServer, ServiceKind, ServiceSpec, Topology, SAMPLE_REST, SAMPLE_SOAP,
};
use xroad_devnet::{
    anchor_xml, publish_with, CaModel, ConfServer, ContentFile, GroupModel, InstanceModel,
    MemberModel, OcspModel, ServerModel, SigningKey, SourceModel,
};
use xroad_identifiers::{ClientId, SecurityServerId, ServiceId};
use xroad_serverconf::{
    AccessRight, ClientConfig, Config, DescriptionType, Id, IsAuthentication, ServerSettings,
    Service, ServiceDescription, Store, Subject,
};
use xroad_signer::keyconf::status;
use xroad_signer::{KeyAlgorithm, Pin, Signer, SignerConfig, SOFT_TOKEN_ID};

use crate::config::{Listen, NodeConfig};

/// The global configuration versions published (the clients negotiate the highest).
const VERSIONS: [u32; 5] = [2, 3, 4, 5, 6];
/// `ocspFreshnessSeconds` of the demo instance (X-Road's default).
const OCSP_FRESHNESS: u32 = 3600;
/// The signers' OCSP fetch interval (the smallest X-Road accepts: revocations show soon).
const OCSP_FETCH_INTERVAL: u32 = 60;
/// How long the published configuration stays valid: the demo runs unattended.
const CONF_VALIDITY: Duration = Duration::from_secs(30 * 86_400);
/// Marks a state directory as one this builder made (and may therefore empty).
const MARKER: &str = ".xroad-demo-network";

/// A node's listeners, bound on 127.0.0.1 before anything else so that their ports can be
/// written into the global configuration and the node configurations. The node takes them
/// instead of binding the addresses in the node configuration again.
pub(crate) type NodeListeners = crate::node::Listeners;

fn bind() -> Result<(TcpListener, SocketAddr), String> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot bind a port on 127.0.0.1: {e}"))?;
    let a = l
        .local_addr()
        .map_err(|e| format!("cannot read a bound address: {e}"))?;
    Ok((l, a))
}

impl NodeListeners {
    fn bind() -> Result<(NodeListeners, Listen), String> {
        let (client_http, a) = bind()?;
        let (client_https, b) = bind()?;
        let (server, c) = bind()?;
        let (ocsp_responder, d) = bind()?;
        let (health_check, e) = bind()?;
        let (admin, f) = bind()?;
        Ok((
            NodeListeners {
                client_http: Some(client_http),
                client_https: Some(client_https),
                server: Some(server),
                ocsp_responder: Some(ocsp_responder),
                health_check: Some(health_check),
                admin: Some(admin),
            },
            Listen {
                client_http: Some(a),
                client_https: Some(b),
                server: Some(c),
                ocsp_responder: Some(d),
                health_check: Some(e),
                admin: Some(f),
            },
        ))
    }
}

/// One security server of the network, ready to run.
#[derive(Debug)]
pub(crate) struct NodeLayout {
    /// The node's name: its server code (and folder under the state directory).
    pub name: String,
    /// The security server's identifier.
    pub server_id: SecurityServerId,
    /// What `xroad-sidecar run -c <config_path>` would read.
    pub config: NodeConfig,
    /// Where `config` was written (`<state-dir>/<name>/sidecar.yaml`).
    pub config_path: PathBuf,
    /// The pre-bound listeners (their addresses are in `config.listen`).
    pub listeners: NodeListeners,
    /// The hosted clients, the owner first.
    pub clients: Vec<ClientId>,
    /// The DER authentication certificate registered for it.
    pub auth_cert: Vec<u8>,
    /// The address registered in the global configuration (`127.0.0.1:<server port>`).
    pub address: String,
}

/// A request the demo can send through the network, and the `curl` command that sends it.
#[derive(Debug, Clone)]
pub(crate) struct DemoRequest {
    /// What it does, for people.
    pub title: String,
    /// The client proxy it goes to.
    pub client_proxy: SocketAddr,
    /// `POST`, `GET`, …
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: String,
    /// The same request as a ready-to-paste shell command.
    pub curl: String,
}

/// A built network. Dropping it stops the configuration server, the OCSP responder and the
/// sample services; the files stay in `state_dir`.
#[derive(Debug)]
pub(crate) struct Network {
    /// The instance identifier.
    pub instance: String,
    /// Where everything is.
    pub state_dir: PathBuf,
    /// The security servers.
    pub nodes: Vec<NodeLayout>,
    /// The sample services, when the topology uses them.
    pub samples: Option<SampleUrls>,
    /// The global configuration's download URL (the anchor's).
    pub conf_url: String,
    /// The test PKI (to issue more certificates in tests).
    pub pki: Arc<Pki>,
    /// The CA's OCSP responder (tests revoke certificates or make responses stale through it).
    pub ocsp: OcspResponder,
    /// The topology built.
    pub topology: Topology,
    /// How long building took.
    pub build_time: Duration,
    conf_server: ConfServer,
    sample_services: Option<SampleServices>,
}

impl Network {
    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&NodeLayout> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The node hosting `client` (the first, if several do).
    pub fn node_hosting(&self, client: &ClientId) -> Option<&NodeLayout> {
        self.nodes.iter().find(|n| n.clients.contains(client))
    }

    /// The configuration server (its request log shows the nodes' downloads).
    pub fn conf_server(&self) -> &ConfServer {
        &self.conf_server
    }

    /// Whether the sample services are running.
    pub fn has_samples(&self) -> bool {
        self.sample_services.is_some()
    }

    /// What was built, for people: where each part listens and where its files are.
    pub fn describe(&self) -> String {
        let addr = |a: Option<SocketAddr>| a.map_or_else(|| "off".to_owned(), |a| a.to_string());
        let mut out = format!(
            "X-Road instance {} on 127.0.0.1 (built in {} ms, state in {})\n  global configuration  {}\n  OCSP responder        {}\n",
            self.instance,
            self.build_time.as_millis(),
            self.state_dir.display(),
            self.conf_url,
            self.ocsp.url()
        );
        if let Some(s) = &self.samples {
            out.push_str(&format!(
                "  sample SOAP service   {} (WSDL {})\n  sample REST service   {} (OpenAPI {})\n",
                s.soap, s.wsdl, s.rest, s.openapi
            ));
        }
        for n in &self.nodes {
            let l = &n.config.listen;
            out.push_str(&format!(
                "  security server {}\n    client proxy http://{}  https://{}\n    server proxy {}  OCSP responses {}  health check {}  admin {}\n    clients {}\n    configuration {}\n",
                n.server_id,
                addr(l.client_http),
                addr(l.client_https),
                addr(l.server),
                addr(l.ocsp_responder),
                addr(l.health_check),
                addr(l.admin),
                n.clients
                    .iter()
                    .map(ClientId::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                n.config_path.display()
            ));
        }
        out
    }

    /// One request per service whose access rights name a client: a SOAP request for SOAP
    /// services (the samples' operations get a sample body), a GET for REST services; each
    /// sent by the first allowed client through the client proxy of a node hosting it.
    pub fn demo_requests(&self) -> Vec<DemoRequest> {
        let mut out = Vec::new();
        for s in &self.topology.services {
            let Some(client) = s
                .allowed
                .iter()
                .find_map(|a| self.topology.client_id("allowed", a).ok())
            else {
                continue;
            };
            let (Some(node), Ok(provider)) = (
                self.node_hosting(&client),
                self.topology.client_id("provider", &s.provider),
            ) else {
                continue;
            };
            let Some(proxy) = node.config.listen.client_http else {
                continue;
            };
            let Ok(service) =
                ServiceId::new(provider, s.code.as_str(), s.version.clone().map(Into::into))
            else {
                continue;
            };
            out.push(match s.kind {
                ServiceKind::Soap => soap_request(&client, &service, s, proxy),
                ServiceKind::Rest | ServiceKind::Openapi => {
                    rest_request(&client, &service, s, proxy)
                }
            });
        }
        out
    }
}

/// Escapes text for XML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn id_fields(c: &ClientId) -> String {
    let mut out = format!(
        "<iden:xRoadInstance>{}</iden:xRoadInstance><iden:memberClass>{}</iden:memberClass><iden:memberCode>{}</iden:memberCode>",
        esc(c.instance()),
        esc(c.member_class()),
        esc(c.member_code())
    );
    if let Some(s) = c.subsystem_code() {
        out.push_str(&format!(
            "<iden:subsystemCode>{}</iden:subsystemCode>",
            esc(s)
        ));
    }
    out
}

/// An X-Road SOAP 4.0 request from `client` to `service`.
pub(crate) fn soap_envelope(client: &ClientId, service: &ServiceId, body: &str) -> String {
    let version = service
        .service_version()
        .map(|v| format!("<iden:serviceVersion>{}</iden:serviceVersion>", esc(v)))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:iden="http://x-road.eu/xsd/identifiers" xmlns:ns1="{ns}">
  <soapenv:Header>
    <xrd:client iden:objectType="{ct}">{client}</xrd:client>
    <xrd:service iden:objectType="SERVICE">{provider}<iden:serviceCode>{code}</iden:serviceCode>{version}</xrd:service>
    <xrd:id>demo-{id}</xrd:id>
    <xrd:userId>demo-user</xrd:userId>
    <xrd:protocolVersion>4.0</xrd:protocolVersion>
  </soapenv:Header>
  <soapenv:Body>
    {body}
  </soapenv:Body>
</soapenv:Envelope>
"#,
        ns = samples::SOAP_NAMESPACE,
        ct = client.object_type(),
        client = id_fields(client),
        provider = id_fields(service.provider()),
        code = esc(service.service_code()),
        id = pki::random_secret(12),
    )
}

fn soap_request(
    client: &ClientId,
    service: &ServiceId,
    s: &ServiceSpec,
    proxy: SocketAddr,
) -> DemoRequest {
    let code = service.service_code();
    let body = match code {
        "helloService" => "<ns1:helloService><name>X-Road</name></ns1:helloService>".to_owned(),
        _ => format!("<ns1:{code}/>"),
    };
    let envelope = soap_envelope(client, service, &body);
    let curl = format!(
        "curl -s -H 'Content-Type: text/xml; charset=utf-8' --data-binary @- http://{proxy}/ <<'EOF'\n{}EOF",
        envelope
    );
    DemoRequest {
        title: format!("SOAP {} → {}", client, service_label(service, s)),
        client_proxy: proxy,
        method: "POST".into(),
        path: "/".into(),
        headers: vec![("Content-Type".into(), "text/xml; charset=utf-8".into())],
        body: envelope,
        curl,
    }
}

fn service_label(service: &ServiceId, s: &ServiceSpec) -> String {
    match &s.title {
        Some(t) => format!("{service} ({t})"),
        None => service.to_string(),
    }
}

fn rest_request(
    client: &ClientId,
    service: &ServiceId,
    s: &ServiceSpec,
    proxy: SocketAddr,
) -> DemoRequest {
    // The sample pet store answers /pets; other services get their root.
    let tail = if s.url == SAMPLE_REST {
        "/pets?tag=dog"
    } else {
        ""
    };
    let path = format!("/r1/{}{tail}", service.to_rest());
    let client_header = client.to_rest();
    DemoRequest {
        title: format!("REST {} → {}", client, service_label(service, s)),
        client_proxy: proxy,
        method: "GET".into(),
        path: path.clone(),
        headers: vec![("X-Road-Client".into(), client_header.clone())],
        body: String::new(),
        curl: format!("curl -s -H 'X-Road-Client: {client_header}' 'http://{proxy}{path}'"),
    }
}

/// Empties (or creates) `dir` for a new network: only a folder this builder made before, or
/// an empty or missing one, is accepted.
fn prepare_state_dir(dir: &Path) -> Result<(), String> {
    let io = |e: std::io::Error| format!("{}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(io)?;
    let marker = dir.join(MARKER);
    let mut entries = std::fs::read_dir(dir).map_err(io)?.peekable();
    if entries.peek().is_some() && !marker.exists() {
        return Err(format!(
            "{} is not empty and holds no demo network: give a new or empty folder",
            dir.display()
        ));
    }
    for e in entries {
        let path = e.map_err(io)?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        }
        .map_err(|e| format!("cannot empty {}: {e}", path.display()))?;
    }
    std::fs::write(
        &marker,
        "made by xroad-sidecar demo; emptied when a network is built here\n",
    )
    .map_err(io)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// What a node's signer ended up with.
struct SignerOutcome {
    auth_cert: Vec<u8>,
}

/// Creates the node's software token with `pin`, an authentication key and one signing key
/// per hosted member, their certificates (registered, active), and a fresh OCSP response for
/// each in the signer's cache. Blocking (key generation, PIN-derived encryption).
fn init_signer(
    dir: &Path,
    pin: &Pin,
    algorithm: KeyAlgorithm,
    pki: &Pki,
    server: &SecurityServerId,
    clients: &[ClientId],
) -> Result<SignerOutcome, String> {
    let fail = |e: xroad_signer::SignerError| format!("signer {}: {e}", dir.display());
    let config = SignerConfig::new(dir);
    let cache = config.ocsp_cache();
    let signer = Signer::open(config).map_err(fail)?;
    signer.init_software_token(pin).map_err(fail)?;

    let auth = signer
        .generate_key(SOFT_TOKEN_ID, algorithm, "auth")
        .map_err(fail)?;
    let spki = signer.public_key(&auth.key_id).map_err(fail)?;
    let auth_cert = pki
        .issue_auth_cert(&spki, server)
        .map_err(|e| e.to_string())?;
    signer
        .import_cert(&auth_cert, None, None, Some(status::REGISTERED))
        .map_err(fail)?;
    let mut certs = vec![auth_cert.clone()];

    let mut members: Vec<ClientId> = clients.iter().map(ClientId::member_id).collect();
    members.dedup();
    for (i, member) in members.iter().enumerate() {
        if members[..i].contains(member) {
            continue;
        }
        let label = format!("sign {}", member.to_rest());
        let key = signer
            .generate_key(SOFT_TOKEN_ID, algorithm, &label)
            .map_err(fail)?;
        let spki = signer.public_key(&key.key_id).map_err(fail)?;
        let cert = pki
            .issue_sign_cert(&spki, member)
            .map_err(|e| e.to_string())?;
        signer
            .import_cert(&cert, Some(member.clone()), None, Some(status::REGISTERED))
            .map_err(fail)?;
        certs.push(cert);
    }

    // The first OCSP responses, so that the node can sign at once; its OCSP manager keeps
    // them fresh from the responder the global configuration names.
    let responder = ResponseSigner::new(pki).map_err(|e| e.to_string())?;
    let ca = xroad_crypto::Certificate::from_der(&pki.ca_cert_der().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    for der in &certs {
        let cert = xroad_crypto::Certificate::from_der(der).map_err(|e| e.to_string())?;
        let request = xroad_crypto::ocsp::request(&cert, &ca);
        let response = responder.respond(&request, &ResponderState::default(), SystemTime::now());
        write_file(&cache.join(format!("{}.ocsp", cert.sha1_hex())), &response)?;
    }
    Ok(SignerOutcome { auth_cert })
}

/// Resolves `sample:soap` / `sample:rest` to the running samples.
fn resolve(url: &str, samples: Option<&SampleUrls>, document: bool) -> Result<String, String> {
    let need = |s: Option<&SampleUrls>| {
        s.cloned()
            .ok_or_else(|| format!("{url}: the sample services are not running"))
    };
    Ok(match url {
        SAMPLE_SOAP if document => need(samples)?.wsdl,
        SAMPLE_SOAP => need(samples)?.soap,
        SAMPLE_REST if document => need(samples)?.openapi,
        SAMPLE_REST => need(samples)?.rest,
        other => other.to_owned(),
    })
}

/// The server configuration of one security server: its identity, its clients (IS
/// authentication NOSSL: the demo's information systems talk plain HTTP), the services of
/// those clients grouped by description, and their access rights.
pub(crate) fn server_config(
    topology: &Topology,
    server: &ResolvedServer,
    samples: Option<&SampleUrls>,
) -> Result<Config, String> {
    let mut clients = Vec::new();
    for client in &server.clients {
        let mut c = ClientConfig::new(client.clone());
        c.is_authentication = IsAuthentication::NoSsl;
        for (i, s) in topology.services.iter().enumerate() {
            let provider = topology
                .client_id(&format!("services[{i}].provider"), &s.provider)
                .map_err(|e| e.to_string())?;
            if provider != *client {
                continue;
            }
            let is_url = resolve(&s.url, samples, false)?;
            let (kind, description) = match s.kind {
                ServiceKind::Soap => (
                    DescriptionType::Wsdl,
                    match &s.description {
                        Some(d) => resolve(d, samples, true)?,
                        None if s.url == SAMPLE_SOAP => resolve(&s.url, samples, true)?,
                        None => format!("{is_url}?wsdl"),
                    },
                ),
                ServiceKind::Openapi => (
                    DescriptionType::OpenApi3,
                    resolve(s.description.as_deref().unwrap_or(&s.url), samples, true)?,
                ),
                ServiceKind::Rest => (DescriptionType::Rest, is_url.clone()),
            };
            let mut service = Service::new(s.code.as_str());
            service.version = s.version.clone();
            service.title = s.title.clone();
            service.url = Some(is_url);
            if s.kind == ServiceKind::Openapi
                && description == resolve(SAMPLE_REST, samples, true).unwrap_or_default()
            {
                if let Some(urls) = samples {
                    let doc = samples::openapi(&urls.rest);
                    service.endpoints = xroad_serverconf::import::parse_openapi(doc.as_bytes())
                        .map_err(|e| e.to_string())?
                        .endpoints;
                }
            }
            match c
                .service_descriptions
                .iter_mut()
                .find(|d| d.kind == kind && d.url == description)
            {
                Some(d) => d.services.push(service),
                None => c.service_descriptions.push(ServiceDescription {
                    kind,
                    url: description,
                    disabled: false,
                    disabled_notice: None,
                    services: vec![service],
                }),
            }
            let subjects = s
                .allowed
                .iter()
                .enumerate()
                .map(|(j, a)| {
                    topology
                        .client_id(&format!("services[{i}].allowed[{j}]"), a)
                        .map(Subject::Client)
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            if !subjects.is_empty() {
                c.access_rights.push(AccessRight {
                    service: s.code.clone(),
                    method: xroad_serverconf::pattern::ANY_METHOD.into(),
                    path: xroad_serverconf::pattern::ANY_PATH.into(),
                    subjects,
                });
            }
        }
        clients.push(c);
    }
    let config = Config {
        server: Some(ServerSettings {
            owner: Id(server.id.owner().clone()),
            server_code: server.id.server_code().to_owned(),
            anchor: None,
        }),
        clients,
    };
    config
        .validate()
        .map_err(|e| format!("server configuration of {}: {e}", server.id.server_code()))?;
    Ok(config)
}

/// The global configuration of the network.
fn instance_model(
    topology: &Topology,
    servers: &[(ResolvedServer, String, Vec<u8>)],
    conf_addr: SocketAddr,
    conf_cert: &[u8],
    pki: &Pki,
    ocsp_url: &str,
) -> Result<InstanceModel, String> {
    let mut classes: Vec<(String, String)> = Vec::new();
    for m in &topology.members {
        if !classes.iter().any(|(c, _)| *c == m.class) {
            classes.push((m.class.clone(), m.class.clone()));
        }
    }
    let owners: Vec<ClientId> = servers
        .iter()
        .map(|(s, _, _)| s.id.owner().clone())
        .collect();
    Ok(InstanceModel {
        instance: topology.instance.clone(),
        sources: vec![SourceModel {
            address: conf_addr.to_string(),
            internal_certs: vec![conf_cert.to_vec()],
            external_certs: vec![conf_cert.to_vec()],
        }],
        cas: vec![CaModel {
            name: format!("{} Test CA", topology.instance),
            authentication_only: false,
            cert: pki.ca_cert_der().map_err(|e| e.to_string())?,
            ocsp: vec![OcspModel {
                url: ocsp_url.to_owned(),
                cert: Some(pki.ocsp_cert_der().map_err(|e| e.to_string())?),
            }],
            intermediates: Vec::new(),
            profile_class: PROFILE.into(),
        }],
        tsas: Vec::new(),
        member_classes: classes,
        members: topology
            .members
            .iter()
            .map(|m| MemberModel {
                class: m.class.clone(),
                code: m.code.clone(),
                name: m.name.clone().unwrap_or_else(|| m.code.clone()),
                subsystems: m.subsystems.clone(),
            })
            .collect(),
        servers: servers
            .iter()
            .map(|(s, address, auth)| ServerModel {
                owner: (
                    s.id.owner().member_class().to_owned(),
                    s.id.owner().member_code().to_owned(),
                ),
                code: s.id.server_code().to_owned(),
                address: Some(address.clone()),
                auth_certs: vec![auth.clone()],
                // Shared parameters list the clients besides the owner.
                clients: s
                    .clients
                    .iter()
                    .filter(|c| *c != s.id.owner())
                    .cloned()
                    .collect(),
                maintenance: None,
            })
            .collect(),
        groups: vec![GroupModel {
            code: "security-server-owners".into(),
            description: "Security server owners".into(),
            members: owners,
        }],
        ocsp_freshness_seconds: OCSP_FRESHNESS,
        management: None,
        time_stamping_interval_seconds: 60,
    })
}

/// Builds the network of `topology` in `state_dir` (a new or empty folder, or one this
/// function built before: it is emptied). Needs a tokio runtime (multi-threaded to build the
/// nodes in parallel); the servers it starts run as tasks of that runtime.
pub(crate) async fn build_network(
    topology: &Topology,
    state_dir: &Path,
) -> Result<Network, String> {
    let started = Instant::now();
    topology.validate().map_err(|e| format!("topology: {e}"))?;
    let servers = topology
        .resolved_servers()
        .map_err(|e| format!("topology: {e}"))?;
    prepare_state_dir(state_dir)?;
    let state_dir = state_dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", state_dir.display()))?;

    // Every port first.
    let mut bound = Vec::new();
    for _ in &servers {
        bound.push(NodeListeners::bind()?);
    }
    let (ocsp_listener, _) = bind()?;
    let sample_services = if topology.uses_samples() {
        Some(
            SampleServices::start()
                .map_err(|e| format!("cannot start the sample services: {e}"))?,
        )
    } else {
        None
    };
    let samples = sample_services.as_ref().map(SampleServices::urls);

    let (kind, algorithm) = match topology.keys {
        Keys::EcP256 => (KeyKind::EcP256, KeyAlgorithm::EcP256),
        Keys::Rsa2048 => (KeyKind::Rsa2048, KeyAlgorithm::Rsa(2048)),
    };
    let pki = Arc::new(
        Pki::new(&format!("{} Test CA", topology.instance), kind).map_err(|e| e.to_string())?,
    );
    let ocsp = OcspResponder::start_on(ocsp_listener, &pki)
        .map_err(|e| format!("cannot start the OCSP responder: {e}"))?;

    // Signers (blocking work, in parallel) and server configuration stores.
    let mut signer_tasks = Vec::new();
    let mut stores = Vec::new();
    for s in &servers {
        let dir = state_dir.join(s.id.server_code());
        let pin = Pin::new(pki::random_secret(20));
        let pin_file = dir.join("autologin");
        // One line: the software token's PIN (signer::autologin's PIN file format).
        write_file(&pin_file, format!("{}\n", pin.expose()).as_bytes())?;
        restrict(&pin_file)?;
        let (pki, server, clients) = (pki.clone(), s.id.clone(), s.clients.clone());
        let signer_dir = dir.join("signer");
        signer_tasks.push(tokio::task::spawn_blocking(move || {
            init_signer(&signer_dir, &pin, algorithm, &pki, &server, &clients)
        }));
        let config = server_config(topology, s, samples.as_ref())?;
        let url = format!("sqlite://{}", dir.join("serverconf.db").display());
        stores.push((url, config));
    }
    let conf_root = state_dir.join("central").join("www");
    std::fs::create_dir_all(&conf_root).map_err(|e| format!("{}: {e}", conf_root.display()))?;
    let conf_server = ConfServer::start(&conf_root)
        .await
        .map_err(|e| format!("cannot start the configuration server: {e}"))?;
    let conf_key = pki::generate_key(kind).map_err(|e| e.to_string())?;
    let conf_cert = pki::self_signed(
        &conf_key,
        &format!("{} Central Server", topology.instance),
        3650,
    )
    .and_then(|c| Ok(c.to_der()?))
    .map_err(|e| e.to_string())?;
    let signing_key = SigningKey::from_pkcs8(
        &conf_key.private_key_to_pkcs8().map_err(|e| e.to_string())?,
        conf_cert.clone(),
    )
    .map_err(|e| e.to_string())?;

    // While the signers work on blocking threads (sqlx futures cannot be spawned here).
    for (url, config) in stores {
        apply_serverconf(&url, &config).await?;
    }
    let mut auth_certs = Vec::new();
    for t in signer_tasks {
        let outcome = t.await.map_err(|e| format!("signer setup failed: {e}"))??;
        auth_certs.push(outcome.auth_cert);
    }

    // The global configuration names every server's address and auth certificate.
    let addresses: Vec<String> = bound
        .iter()
        .map(|(_, listen)| listen.server.map(|a| a.to_string()).unwrap_or_default())
        .collect();
    let registered: Vec<(ResolvedServer, String, Vec<u8>)> = servers
        .iter()
        .cloned()
        .zip(addresses.iter().cloned())
        .zip(auth_certs.iter().cloned())
        .map(|((s, a), c)| (s, a, c))
        .collect();
    let model = instance_model(
        topology,
        &registered,
        conf_server.addr(),
        &conf_cert,
        &pki,
        &ocsp.url(),
    )?;
    let fetch_interval = ContentFile {
        content_identifier: "FETCHINTERVAL".into(),
        name: "fetchinterval-params.xml".into(),
        bytes: format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<tns:conf xmlns:tns=\"http://x-road.eu/xsd/xroad.xsd\">\n    <ocspFetchInterval>{OCSP_FETCH_INTERVAL}</ocspFetchInterval>\n</tns:conf>\n"
        )
        .into_bytes(),
    };
    publish_with(
        &conf_root,
        &signing_key,
        &model,
        &VERSIONS,
        SystemTime::now()
            + topology
                .globalconf_validity
                .map_or(CONF_VALIDITY, Duration::from_secs),
        &[fetch_interval],
    )
    .map_err(|e| format!("cannot publish the global configuration: {e}"))?;
    let conf_url = conf_server.url("/internalconf");
    let anchor = anchor_xml(
        &topology.instance,
        std::slice::from_ref(&conf_url),
        &conf_cert,
    );
    write_file(
        &state_dir.join("central").join("configuration-anchor.xml"),
        anchor.as_bytes(),
    )?;
    write_file(
        &state_dir.join("central").join("test-pki.pem"),
        &pki.to_pem().map_err(|e| e.to_string())?,
    )?;

    // Each node's configuration.
    let ocsp_ports: BTreeMap<String, u16> = bound
        .iter()
        .zip(&addresses)
        .filter_map(|((_, listen), address)| Some((address.clone(), listen.ocsp_responder?.port())))
        .collect();
    let mut nodes = Vec::new();
    for (((s, (listeners, listen)), address), auth_cert) in servers
        .into_iter()
        .zip(bound)
        .zip(addresses)
        .zip(auth_certs)
    {
        let dir = state_dir.join(s.id.server_code());
        let mut config = NodeConfig {
            state_dir: dir.clone(),
            signer_dir: Some(dir.join("signer")),
            globalconf_dir: Some(dir.join("globalconf")),
            anchor: Some(dir.join("configuration-anchor.xml")),
            database_url: Some(format!("sqlite://{}", dir.join("serverconf.db").display())),
            temp_dir: Some(dir.join("tmp")),
            pin_file: Some(dir.join("autologin")),
            listen,
            ..NodeConfig::default()
        };
        config.peers.ocsp_ports = ocsp_ports.clone();
        write_file(&config.anchor(), anchor.as_bytes())?;
        let config_path = dir.join("sidecar.yaml");
        write_file(
            &config_path,
            format!(
                "# Security server {} of the demo network (xroad-sidecar run -c {}).\n{}",
                s.id,
                config_path.display(),
                config.to_yaml()
            )
            .as_bytes(),
        )?;
        nodes.push(NodeLayout {
            name: s.id.server_code().to_owned(),
            server_id: s.id,
            config,
            config_path,
            listeners,
            clients: s.clients,
            auth_cert,
            address,
        });
    }

    Ok(Network {
        instance: topology.instance.clone(),
        state_dir,
        nodes,
        samples,
        conf_url,
        pki,
        ocsp,
        topology: topology.clone(),
        build_time: started.elapsed(),
        conf_server,
        sample_services,
    })
}

/// Creates the SQLite server configuration store at `url` and applies `config` to it.
async fn apply_serverconf(url: &str, config: &Config) -> Result<(), String> {
    let store = Store::open(url).await.map_err(|e| format!("{url}: {e}"))?;
    let outcome = store.apply(config, false).await;
    store.close().await;
    outcome.map(|_| ()).map_err(|e| format!("{url}: {e}"))
}

/// Makes a secret file readable by its owner only.
fn restrict(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use xroad_confclient::{ClientSettings, ConfigurationClient, GlobalConf};
    use xroad_crypto::ocsp::CertStatus;
    use xroad_globalconf::{ConfigurationAnchor, PrioritizationStrategy};
    use xroad_signer::ocsp::{OcspManager, OcspSettings};

    use super::*;

    /// A folder under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            // Parallel tests may ask within one tick of a coarse clock: a counter keeps
            // their folders apart.
            static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos();
            let dir = std::env::temp_dir().join(format!(
                "xroad-demo-{tag}-{}-{n}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// One HTTP/1.1 exchange on loopback (blocking; run off the runtime's workers).
    async fn http(url: &str, method: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/" } else { path };
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        let host = host.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(&host).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            let status = out[9..12].parse().unwrap();
            let body = out
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_owned())
                .unwrap_or_default();
            (status, body)
        })
        .await
        .unwrap()
    }

    fn id(s: &str) -> ClientId {
        ClientId::from_rest(s).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_default_network_is_complete() {
        let tmp = TempDir::new("default");
        let topology = Topology::default_demo();
        let net = tokio::time::timeout(Duration::from_secs(120), build_network(&topology, &tmp.0))
            .await
            .expect("building timed out")
            .unwrap();
        eprintln!("the default network was built in {:?}", net.build_time);
        assert_eq!(net.nodes.len(), 2);
        let consumer = net.node("consumer").unwrap();
        let provider = net.node("provider").unwrap();
        assert_eq!(
            consumer.clients,
            vec![id("DEV/COM/1111"), id("DEV/COM/1111/client")]
        );

        // The node configurations read back, their listeners are the ports they name.
        for node in &net.nodes {
            let read = NodeConfig::load(Some(&node.config_path), &[]).unwrap();
            assert_eq!(read, node.config);
            let bound = node
                .listeners
                .server
                .as_ref()
                .unwrap()
                .local_addr()
                .unwrap();
            assert_eq!(Some(bound), node.config.listen.server);
            assert_eq!(node.address, bound.to_string());
            assert_eq!(
                node.config.peers.ocsp_ports.get(&provider.address).copied(),
                provider.config.listen.ocsp_responder.map(|a| a.port())
            );
        }

        // The global configuration downloads and verifies with each node's anchor.
        let mut shared = None;
        for node in &net.nodes {
            let anchor =
                ConfigurationAnchor::parse(&std::fs::read(node.config.anchor()).unwrap()).unwrap();
            let mut client =
                ConfigurationClient::new(ClientSettings::new(node.config.globalconf_dir()))
                    .unwrap();
            let report = client.execute(&anchor, SystemTime::now()).await.unwrap();
            assert_eq!(report.own.version, 6);
            let conf = GlobalConf::load(&node.config.globalconf_dir()).unwrap();
            conf.verify_validity(SystemTime::now()).unwrap();
            let own = conf.own().unwrap();
            assert_eq!(own.security_servers.len(), 2);
            assert_eq!(
                own.provider_addresses(&id("DEV/GOV/2222/services")),
                vec![provider.address.as_str()]
            );
            let server = own.server_by_auth_cert(&provider.auth_cert).unwrap();
            assert_eq!(server.id().as_ref(), Some(&provider.server_id));
            shared = Some(own.clone());
        }
        let shared = shared.unwrap();

        // Each signer logs in with its PIN file, signs for each hosted member, and its OCSP
        // manager fetches good responses from the responder the configuration names.
        for node in &net.nodes {
            let signer = Signer::open(SignerConfig::new(node.config.signer_dir())).unwrap();
            let pins =
                xroad_signer::autologin::collect_pins(&[], node.config.pin_file.as_ref().unwrap())
                    .unwrap();
            signer.login(&pins[0].0, &pins[0].1).unwrap();
            for client in &node.clients {
                let info = signer.member_signing_info(client).unwrap();
                assert_eq!(info.member.as_ref(), Some(&client.member_id()));
            }
            let settings = OcspSettings::from_directory(
                &node.config.globalconf_dir(),
                PrioritizationStrategy::FreeFirst,
            )
            .unwrap();
            assert_eq!(settings.fetch_interval, Duration::from_secs(60));
            let manager = OcspManager::new(node.config.signer_dir().join("ocsp-cache"), settings);
            let hashes: Vec<String> = signer
                .certs()
                .unwrap()
                .iter()
                .map(|c| c.cert.sha1_hex())
                .collect();
            assert_eq!(hashes.len(), 2); // auth + one member
            let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
            // The builder's own responses are there and fresh before any fetch.
            assert!(manager.responses(&refs).iter().all(Option::is_some));
            let report = manager.refresh(&signer).await.unwrap();
            assert!(report.failed.is_empty(), "{:?}", report.failed);
            assert_eq!(report.fetched.len(), 2);
            assert!(report.fetched.iter().all(|(_, s)| *s == CertStatus::Good));

            // Revoked at the responder: the next fetch says so.
            if node.name == "consumer" {
                net.ocsp
                    .set_revoked(&pki::serial_hex(&node.auth_cert).unwrap(), true);
                let report = manager.refresh(&signer).await.unwrap();
                assert!(report
                    .fetched
                    .iter()
                    .any(|(_, s)| matches!(s, CertStatus::Revoked(_))));
                net.ocsp
                    .set_revoked(&pki::serial_hex(&node.auth_cert).unwrap(), false);
            }
        }
        assert!(net.ocsp.request_count() >= 5);

        // The server configurations say what the topology says.
        let client = id("DEV/COM/1111/client");
        let hello = ServiceId::new(
            id("DEV/GOV/2222/services"),
            "helloService",
            Some("v1".into()),
        )
        .unwrap();
        let random =
            ServiceId::new(id("DEV/GOV/2222/services"), "getRandom", Some("v1".into())).unwrap();
        let pets = ServiceId::new(id("DEV/GOV/2222/services"), "petstore", None).unwrap();
        let store = Store::open(&provider.config.database_url()).await.unwrap();
        let snapshot = xroad_serverconf::load_snapshot(&store, Some(&shared))
            .await
            .unwrap();
        store.close().await;
        assert_eq!(snapshot.server_id(), Some(&provider.server_id));
        assert!(snapshot.is_query_allowed(&client, &hello, None, None));
        assert!(snapshot.is_query_allowed(&client, &random, None, None));
        assert!(snapshot.is_query_allowed(&client, &pets, Some("GET"), Some("/pets/1")));
        assert!(snapshot.is_query_allowed(&client, &pets, Some("DELETE"), Some("/pets/1")));
        assert!(!snapshot.is_query_allowed(&id("DEV/COM/1111"), &hello, None, None));
        assert!(!snapshot.is_query_allowed(&id("DEV/GOV/2222"), &pets, Some("GET"), Some("/pets")));
        let info = snapshot.service(&hello).unwrap();
        assert_eq!(
            info.url.as_deref(),
            Some(net.samples.as_ref().unwrap().soap.as_str())
        );
        let store = Store::open(&consumer.config.database_url()).await.unwrap();
        let snapshot = xroad_serverconf::load_snapshot(&store, Some(&shared))
            .await
            .unwrap();
        store.close().await;
        assert!(snapshot.client(&client).is_some());
        assert_eq!(snapshot.access_right_count(), 0);

        // The samples answer; the WSDL the provider registered validates.
        let urls = net.samples.clone().unwrap();
        let request = soap_envelope(
            &client,
            &hello,
            "<ns1:helloService><name>test</name></ns1:helloService>",
        );
        let (status, body) = http(
            &urls.soap,
            "POST",
            &[("Content-Type", "text/xml")],
            &request,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let header = &request
            [request.find("<soapenv:Header>").unwrap()..request.find("</soapenv:Header>").unwrap()];
        assert!(body.contains(header), "{body}");
        assert!(body.contains("Hello test!"), "{body}");
        let (status, wsdl) = http(&urls.wsdl, "GET", &[], "").await;
        assert_eq!(status, 200);
        struct NoImports;
        impl xroad_wsdl::Loader for NoImports {
            fn resolve(&self, _: &str, relative: &str) -> String {
                relative.to_owned()
            }
            fn load(&self, location: &str) -> Result<Vec<u8>, String> {
                Err(format!("{location}: not expected"))
            }
        }
        let report = xroad_wsdl::validate_bytes(wsdl.as_bytes(), &urls.wsdl, &NoImports);
        assert_eq!(
            report.verdict(),
            xroad_wsdl::Verdict::Valid,
            "{:?}",
            report.findings
        );
        let (status, body) = http(&format!("{}/pets", urls.rest), "GET", &[], "").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Rex"), "{body}");

        let text = net.describe();
        assert!(
            text.contains(&consumer.config_path.display().to_string()),
            "{text}"
        );
        assert!(text.contains(&urls.wsdl), "{text}");

        // What the demo sends, and the curl commands it prints.
        let requests = net.demo_requests();
        assert_eq!(requests.len(), 3);
        let proxy = consumer.config.listen.client_http.unwrap();
        assert!(requests.iter().all(|r| r.client_proxy == proxy));
        assert!(requests[0].curl.contains(&format!("http://{proxy}/")));
        assert!(requests[2]
            .curl
            .contains("/r1/DEV/GOV/2222/services/petstore/pets?tag=dog"));
        assert!(requests[2]
            .curl
            .contains("X-Road-Client: DEV/COM/1111/client"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_custom_topology_without_samples_and_a_rebuild_in_the_same_folder() {
        let tmp = TempDir::new("custom");
        let topology = Topology::parse(
            "instance: TEST\nkeys: rsa2048\nmembers:\n  - class: GOV\n    code: \"1\"\n    subsystems: [a, b]\nsecurity-servers:\n  - code: ss1\n    owner: GOV/1\n    clients: [GOV/1/a, GOV/1/b]\nservices:\n  - provider: GOV/1/b\n    code: echo\n    type: rest\n    url: http://127.0.0.1:9/echo\n    allowed: [GOV/1/a]\n  - provider: GOV/1/b\n    code: legacy\n    type: soap\n    version: v2\n    url: https://soap.example.org/legacy\n",
        )
        .unwrap();
        for _ in 0..2 {
            let net = build_network(&topology, &tmp.0).await.unwrap();
            assert!(net.samples.is_none() && !net.has_samples());
            let node = &net.nodes[0];
            let store = Store::open(&node.config.database_url()).await.unwrap();
            let (config, _) = store.load().await.unwrap();
            store.close().await;
            let b = config.client(&id("TEST/GOV/1/b")).unwrap();
            let (d, s) = b.service("legacy").unwrap();
            assert_eq!(d.url, "https://soap.example.org/legacy?wsdl");
            assert_eq!(s.version.as_deref(), Some("v2"));
            let (d, s) = b.service("echo").unwrap();
            assert_eq!(d.kind, DescriptionType::Rest);
            assert_eq!(s.url.as_deref(), Some("http://127.0.0.1:9/echo"));
            assert_eq!(b.access_rights.len(), 1);
            let signer = Signer::open(SignerConfig::new(node.config.signer_dir())).unwrap();
            let pins =
                xroad_signer::autologin::collect_pins(&[], node.config.pin_file.as_ref().unwrap())
                    .unwrap();
            signer.login(&pins[0].0, &pins[0].1).unwrap();
            signer.member_signing_info(&id("TEST/GOV/1/a")).unwrap();
            assert_eq!(net.demo_requests().len(), 1);
        }
    }

    #[test]
    fn a_foreign_folder_is_not_emptied() {
        let tmp = TempDir::new("foreign");
        std::fs::write(tmp.0.join("precious.txt"), "keep").unwrap();
        let e = prepare_state_dir(&tmp.0).unwrap_err();
        assert!(e.contains("not empty"), "{e}");
        assert!(tmp.0.join("precious.txt").exists());
    }

    #[test]
    fn the_printed_default_is_the_default() {
        let t = crate::demo::load_topology(None).unwrap();
        assert_eq!(
            Topology::parse(crate::demo::default_topology_yaml()).unwrap(),
            t
        );
        let e =
            crate::demo::load_topology(Some(Path::new("/nonexistent/topology.yaml"))).unwrap_err();
        assert!(e.contains("/nonexistent/topology.yaml"), "{e}");
    }
}
