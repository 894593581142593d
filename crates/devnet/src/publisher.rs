//! A global configuration publisher: from a model of an instance, the shared and private
//! parameters, and the signed directory in the central server's exact format, laid out as a
//! central server's web root (`V{n}/internalconf`, `V{n}/{timestamp}/{file}`).
//!
//! For tests and the local demo network only: a production network has a central server.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, RsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, RSA_PKCS1_SHA512};
use xroad_crypto::DigestAlgorithm;
use xroad_identifiers::ClientId;

const SHA512_URI: &str = "http://www.w3.org/2001/04/xmlenc#sha512";

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The signing key is not PKCS#8 RSA or ECDSA P-256.
    #[error("the signing key is not a PKCS#8 RSA or ECDSA P-256 key: {0}")]
    Key(String),
    /// Signing failed.
    #[error("signing failed")]
    Sign,
    /// Writing the files failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The key that signs directories (the central server's internal or external signing key).
pub struct SigningKey {
    key: Key,
    cert_der: Vec<u8>,
}

enum Key {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey { .. }")
    }
}

impl SigningKey {
    /// A key from its PKCS#8 DER and its certificate (the anchor's verification certificate).
    pub fn from_pkcs8(pkcs8: &[u8], cert_der: Vec<u8>) -> Result<SigningKey, PublishError> {
        let key = match RsaKeyPair::from_pkcs8(pkcs8) {
            Ok(k) => Key::Rsa(k),
            Err(rsa) => EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_ASN1_SIGNING,
                pkcs8,
                &SystemRandom::new(),
            )
            .map(Key::Ec)
            .map_err(|ec| PublishError::Key(format!("RSA: {rsa}; EC: {ec}")))?,
        };
        Ok(SigningKey { key, cert_der })
    }

    /// The certificate.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    fn algorithm_uri(&self) -> &'static str {
        match self.key {
            Key::Rsa(_) => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            Key::Ec(_) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        }
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, PublishError> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&RSA_PKCS1_SHA512, &rng, data, &mut sig)
                    .map_err(|_| PublishError::Sign)?;
                Ok(sig)
            }
            // DER, as configuration signatures carry ECDSA.
            Key::Ec(k) => k
                .sign(&rng, data)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| PublishError::Sign),
        }
    }
}

/// An OCSP responder of a CA.
#[derive(Debug, Clone, Default)]
pub struct OcspModel {
    /// Its URL.
    pub url: String,
    /// Its certificate, when it is not the CA itself.
    pub cert: Option<Vec<u8>>,
}

/// An approved certification authority.
#[derive(Debug, Clone, Default)]
pub struct CaModel {
    /// `name`.
    pub name: String,
    /// May issue only authentication certificates.
    pub authentication_only: bool,
    /// The top CA certificate.
    pub cert: Vec<u8>,
    /// Its OCSP responders.
    pub ocsp: Vec<OcspModel>,
    /// Intermediate CA certificates with their responders.
    pub intermediates: Vec<(Vec<u8>, Vec<OcspModel>)>,
    /// The certificate profile (Java class name).
    pub profile_class: String,
}

/// A time-stamping authority.
#[derive(Debug, Clone, Default)]
pub struct TsaModel {
    /// `name`.
    pub name: String,
    /// `url`.
    pub url: String,
    /// `cert`.
    pub cert: Vec<u8>,
}

/// A member and its subsystems.
#[derive(Debug, Clone, Default)]
pub struct MemberModel {
    /// Member class.
    pub class: String,
    /// Member code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Subsystem codes.
    pub subsystems: Vec<String>,
}

/// A security server.
#[derive(Debug, Clone, Default)]
pub struct ServerModel {
    /// The owner's member class and code.
    pub owner: (String, String),
    /// `serverCode`.
    pub code: String,
    /// `address`.
    pub address: Option<String>,
    /// DER of its authentication certificates (hashed per version: SHA-1 in V2, SHA-256).
    pub auth_certs: Vec<Vec<u8>>,
    /// Its clients (members or subsystems of the instance).
    pub clients: Vec<ClientId>,
    /// A maintenance message, when in maintenance mode (V5+).
    pub maintenance: Option<String>,
}

/// A global group.
#[derive(Debug, Clone, Default)]
pub struct GroupModel {
    /// `groupCode`.
    pub code: String,
    /// `description`.
    pub description: String,
    /// Members.
    pub members: Vec<ClientId>,
}

/// A configuration source (central server node) for V3+ `source`.
#[derive(Debug, Clone, Default)]
pub struct SourceModel {
    /// Host (and port) without scheme.
    pub address: String,
    /// Certificates verifying its internal configuration.
    pub internal_certs: Vec<Vec<u8>>,
    /// Certificates verifying its external configuration.
    pub external_certs: Vec<Vec<u8>>,
}

/// Everything the global configuration of an instance says.
#[derive(Debug, Clone, Default)]
pub struct InstanceModel {
    /// The instance identifier.
    pub instance: String,
    /// Central server nodes (V3+).
    pub sources: Vec<SourceModel>,
    /// Approved CAs.
    pub cas: Vec<CaModel>,
    /// Approved TSAs.
    pub tsas: Vec<TsaModel>,
    /// Member classes: code and description.
    pub member_classes: Vec<(String, String)>,
    /// Members.
    pub members: Vec<MemberModel>,
    /// Security servers.
    pub servers: Vec<ServerModel>,
    /// Global groups.
    pub groups: Vec<GroupModel>,
    /// `ocspFreshnessSeconds`.
    pub ocsp_freshness_seconds: u32,
    /// The management service provider and its address (private parameters).
    pub management: Option<(ClientId, String)>,
    /// `timeStampingIntervalSeconds`.
    pub time_stamping_interval_seconds: u32,
}

/// Text and attribute content escaped for XML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// An `xs:ID` (an NCName) naming a member or subsystem: everything outside `[A-Za-z0-9]`
/// encoded.
fn xml_id(parts: &[&str]) -> String {
    let mut id = String::from("id");
    for p in parts {
        id.push('.');
        for b in p.bytes() {
            if b.is_ascii_alphanumeric() {
                id.push(b as char);
            } else {
                id.push_str(&format!("_{b:02x}"));
            }
        }
    }
    id
}

fn member_xml_id(class: &str, code: &str) -> String {
    xml_id(&[class, code])
}

fn client_xml_id(c: &ClientId) -> String {
    match c.subsystem_code() {
        Some(s) => xml_id(&[c.member_class(), c.member_code(), s]),
        None => member_xml_id(c.member_class(), c.member_code()),
    }
}

/// An identifier element with `id:` children, indented by `indent` spaces.
fn id_xml(tag: &str, c: &ClientId, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let kind = if c.subsystem_code().is_some() {
        "SUBSYSTEM"
    } else {
        "MEMBER"
    };
    out.push_str(&format!("{pad}<{tag} id:objectType=\"{kind}\">\n"));
    let mut field = |name: &str, value: &str| {
        out.push_str(&format!("{pad}    <id:{name}>{}</id:{name}>\n", esc(value)));
    };
    field("xRoadInstance", c.instance());
    field("memberClass", c.member_class());
    field("memberCode", c.member_code());
    if let Some(sub) = c.subsystem_code() {
        field("subsystemCode", sub);
    }
    out.push_str(&format!("{pad}</{tag}>\n"));
}

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<tns:conf xmlns:id=\"http://x-road.eu/xsd/identifiers\" xmlns:tns=\"http://x-road.eu/xsd/xroad.xsd\">\n";

fn ocsp_xml(list: &[OcspModel], version: u32, out: &mut String) {
    for o in list {
        out.push_str(&format!(
            "            <ocsp>\n                <url>{}</url>\n",
            esc(&o.url)
        ));
        if let Some(c) = &o.cert {
            out.push_str(&format!("                <cert>{}</cert>\n", b64(c)));
        }
        if version >= 6 {
            out.push_str("                <costType>FREE</costType>\n");
        }
        out.push_str("            </ocsp>\n");
    }
}

impl InstanceModel {
    /// The shared parameters of configuration `version` (2–6).
    pub fn shared_parameters_xml(&self, version: u32) -> String {
        let mut out = String::from(HEAD);
        out.push_str(&format!(
            "    <instanceIdentifier>{}</instanceIdentifier>\n",
            esc(&self.instance)
        ));
        if version >= 3 {
            for s in &self.sources {
                out.push_str(&format!(
                    "    <source>\n        <address>{}</address>\n",
                    esc(&s.address)
                ));
                for c in &s.internal_certs {
                    out.push_str(&format!(
                        "        <internalVerificationCert>{}</internalVerificationCert>\n",
                        b64(c)
                    ));
                }
                for c in &s.external_certs {
                    out.push_str(&format!(
                        "        <externalVerificationCert>{}</externalVerificationCert>\n",
                        b64(c)
                    ));
                }
                out.push_str("    </source>\n");
            }
        }
        for ca in &self.cas {
            out.push_str(&format!(
                "    <approvedCA>\n        <name>{}</name>\n",
                esc(&ca.name)
            ));
            if ca.authentication_only {
                out.push_str("        <authenticationOnly>true</authenticationOnly>\n");
            }
            out.push_str(&format!(
                "        <topCA>\n            <cert>{}</cert>\n",
                b64(&ca.cert)
            ));
            ocsp_xml(&ca.ocsp, version, &mut out);
            out.push_str("        </topCA>\n");
            for (cert, ocsp) in &ca.intermediates {
                out.push_str(&format!(
                    "        <intermediateCA>\n            <cert>{}</cert>\n",
                    b64(cert)
                ));
                ocsp_xml(ocsp, version, &mut out);
                out.push_str("        </intermediateCA>\n");
            }
            out.push_str(&format!(
                "        <certificateProfileInfo>{}</certificateProfileInfo>\n    </approvedCA>\n",
                esc(&ca.profile_class)
            ));
        }
        for t in &self.tsas {
            out.push_str(&format!(
                "    <approvedTSA>\n        <name>{}</name>\n        <url>{}</url>\n        <cert>{}</cert>\n",
                esc(&t.name),
                esc(&t.url),
                b64(&t.cert)
            ));
            if version >= 6 {
                out.push_str("        <costType>FREE</costType>\n");
            }
            out.push_str("    </approvedTSA>\n");
        }
        self.members_xml(version, &mut out);
        self.servers_xml(version, &mut out);
        for g in &self.groups {
            out.push_str(&format!(
                "    <globalGroup>\n        <groupCode>{}</groupCode>\n        <description>{}</description>\n",
                esc(&g.code),
                esc(&g.description)
            ));
            for m in &g.members {
                id_xml("groupMember", m, 8, &mut out);
            }
            out.push_str("    </globalGroup>\n");
        }
        out.push_str("    <globalSettings>\n");
        for (code, description) in &self.member_classes {
            out.push_str(&format!(
                "        <memberClass>\n            <code>{}</code>\n            <description>{}</description>\n        </memberClass>\n",
                esc(code),
                esc(description)
            ));
        }
        out.push_str(&format!(
            "        <ocspFreshnessSeconds>{}</ocspFreshnessSeconds>\n    </globalSettings>\n</tns:conf>\n",
            self.ocsp_freshness_seconds
        ));
        out
    }

    fn members_xml(&self, version: u32, out: &mut String) {
        let class_description = |class: &str| {
            self.member_classes
                .iter()
                .find(|(c, _)| c == class)
                .map_or(class.to_owned(), |(_, d)| d.clone())
        };
        for m in &self.members {
            out.push_str(&format!(
                "    <member id=\"{}\">\n        <memberClass>\n            <code>{}</code>\n            <description>{}</description>\n        </memberClass>\n        <memberCode>{}</memberCode>\n        <name>{}</name>\n",
                member_xml_id(&m.class, &m.code),
                esc(&m.class),
                esc(&class_description(&m.class)),
                esc(&m.code),
                esc(&m.name)
            ));
            for s in &m.subsystems {
                let id = ClientId::subsystem(
                    self.instance.as_str(),
                    m.class.as_str(),
                    m.code.as_str(),
                    s.as_str(),
                )
                .map(|c| client_xml_id(&c))
                .unwrap_or_default();
                out.push_str(&format!(
                    "        <subsystem id=\"{id}\">\n            <subsystemCode>{}</subsystemCode>\n",
                    esc(s)
                ));
                if version >= 5 {
                    out.push_str(&format!(
                        "            <subsystemName>{} {}</subsystemName>\n",
                        esc(&m.name),
                        esc(s)
                    ));
                }
                out.push_str("        </subsystem>\n");
            }
            out.push_str("    </member>\n");
        }
    }

    fn servers_xml(&self, version: u32, out: &mut String) {
        let hash = if version <= 2 {
            DigestAlgorithm::Sha1
        } else {
            DigestAlgorithm::Sha256
        };
        for s in &self.servers {
            out.push_str(&format!(
                "    <securityServer>\n        <owner>{}</owner>\n        <serverCode>{}</serverCode>\n",
                member_xml_id(&s.owner.0, &s.owner.1),
                esc(&s.code)
            ));
            if let Some(a) = &s.address {
                out.push_str(&format!("        <address>{}</address>\n", esc(a)));
            }
            for c in &s.auth_certs {
                out.push_str(&format!(
                    "        <authCertHash>{}</authCertHash>\n",
                    hash.digest(c).to_base64()
                ));
            }
            for c in &s.clients {
                out.push_str(&format!("        <client>{}</client>\n", client_xml_id(c)));
            }
            if version >= 5 {
                if let Some(m) = &s.maintenance {
                    out.push_str(&format!(
                        "        <inMaintenanceMode>\n            <message>{}</message>\n        </inMaintenanceMode>\n",
                        esc(m)
                    ));
                }
            }
            out.push_str("    </securityServer>\n");
        }
    }

    /// The private parameters (V2 layout; V3+ adds nothing this model uses).
    pub fn private_parameters_xml(&self) -> String {
        let mut out = String::from(HEAD);
        out.push_str(&format!(
            "    <instanceIdentifier>{}</instanceIdentifier>\n",
            esc(&self.instance)
        ));
        if let Some((provider, address)) = &self.management {
            out.push_str(&format!(
                "    <managementService>\n        <authCertRegServiceAddress>{}</authCertRegServiceAddress>\n",
                esc(address)
            ));
            id_xml("managementRequestServiceProviderId", provider, 8, &mut out);
            out.push_str("    </managementService>\n");
        }
        out.push_str(&format!(
            "    <timeStampingIntervalSeconds>{}</timeStampingIntervalSeconds>\n</tns:conf>\n",
            self.time_stamping_interval_seconds
        ));
        out
    }
}

/// A configuration anchor for `instance` with these download URLs, verified by `cert_der`.
pub fn anchor_xml(instance: &str, urls: &[String], cert_der: &[u8]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<ns3:configurationAnchor xmlns:ns2=\"http://x-road.eu/xsd/identifiers\" xmlns:ns3=\"http://x-road.eu/xsd/xroad.xsd\">\n");
    out.push_str(&format!(
        "    <generatedAt>{}</generatedAt>\n    <instanceIdentifier>{}</instanceIdentifier>\n",
        xroad_crypto::time::format_xsd_millis(SystemTime::now()),
        esc(instance)
    ));
    for u in urls {
        out.push_str(&format!(
            "    <source>\n        <downloadURL>{}</downloadURL>\n        <verificationCert>{}</verificationCert>\n    </source>\n",
            esc(u),
            b64(cert_der)
        ));
    }
    out.push_str("</ns3:configurationAnchor>\n");
    out
}

/// One file of a directory: its content identifier, file name and bytes.
#[derive(Debug, Clone)]
pub struct ContentFile {
    /// `Content-identifier` (`SHARED-PARAMETERS`, `PRIVATE-PARAMETERS`, …).
    pub content_identifier: String,
    /// The file name under the version's timestamp folder.
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

fn boundary() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 20)
}

/// The signed directory (the `internalconf` file) listing `files` under `folder`
/// (`/V{n}/{timestamp}`), expiring at `expires`.
pub fn signed_directory(
    key: &SigningKey,
    instance: &str,
    version: u32,
    folder: &str,
    files: &[ContentFile],
    expires: SystemTime,
) -> Result<Vec<u8>, PublishError> {
    let inner = boundary();
    let outer = boundary();
    let expire = xroad_crypto::time::format_xsd_millis(expires);
    let expire = match expire.split_once('.') {
        Some((head, _)) => format!("{head}Z"),
        None => expire,
    };
    let mut signed = format!("--{inner}\r\nExpire-date: {expire}\r\nVersion: {version}\r\n\r\n");
    for f in files {
        signed.push_str(&format!(
            "--{inner}\r\nContent-type: application/octet-stream\r\nContent-transfer-encoding: base64\r\nContent-identifier: {}; instance='{instance}'\r\nContent-location: {folder}/{}\r\nHash-algorithm-id: {SHA512_URI}\r\n\r\n{}\r\n",
            f.content_identifier,
            f.name,
            DigestAlgorithm::Sha512.digest(&f.bytes).to_base64()
        ));
    }
    signed.push_str(&format!("--{inner}--\r\n"));
    let signature = b64(&key.sign(signed.as_bytes())?);
    let cert_hash = DigestAlgorithm::Sha512.digest(key.cert_der()).to_base64();
    let mut out = format!(
        "Content-Type: multipart/related; charset=UTF-8; boundary={outer}\r\n\r\n--{outer}\r\nContent-Type: multipart/mixed; charset=UTF-8; boundary={inner}\r\n\r\n"
    );
    out.push_str(&signed);
    out.push_str(&format!(
        "\r\n--{outer}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nSignature-Algorithm-Id: {}\r\nVerification-certificate-hash: {cert_hash}; hash-algorithm-id=\"{SHA512_URI}\"\r\n\r\n{signature}\r\n--{outer}--\r\n",
        key.algorithm_uri()
    ));
    Ok(out.into_bytes())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PublishError> {
    let io = |source| PublishError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    // Replace atomically so a client never fetches half a file.
    let tmp = path.with_extension("publishing");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Publishes `model` into the web root `root` for each of `versions`: the files under
/// `V{n}/{timestamp}/` and the signed `V{n}/internalconf`. Returns the timestamp folder name.
pub fn publish(
    root: &Path,
    key: &SigningKey,
    model: &InstanceModel,
    versions: &[u32],
    expires: SystemTime,
) -> Result<String, PublishError> {
    publish_with(root, key, model, versions, expires, &[])
}

/// [`publish`] with optional parts besides the private and shared parameters (e.g.
/// `FETCHINTERVAL` / `fetchinterval-params.xml`, the signer's OCSP fetch interval).
pub fn publish_with(
    root: &Path,
    key: &SigningKey,
    model: &InstanceModel,
    versions: &[u32],
    expires: SystemTime,
    extra: &[ContentFile],
) -> Result<String, PublishError> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let stamp = format!("{}{:09}", now.as_secs(), now.subsec_nanos());
    for &version in versions {
        let files = [
            ContentFile {
                content_identifier: "PRIVATE-PARAMETERS".into(),
                name: "private-params.xml".into(),
                bytes: model.private_parameters_xml().into_bytes(),
            },
            ContentFile {
                content_identifier: "SHARED-PARAMETERS".into(),
                name: "shared-params.xml".into(),
                bytes: model.shared_parameters_xml(version).into_bytes(),
            },
        ]
        .into_iter()
        .chain(extra.iter().cloned())
        .collect::<Vec<_>>();
        let folder = format!("/V{version}/{stamp}");
        for f in &files {
            write(
                &root.join(format!("V{version}/{stamp}/{}", f.name)),
                &f.bytes,
            )?;
        }
        let directory = signed_directory(key, &model.instance, version, &folder, &files, expires)?;
        write(&root.join(format!("V{version}/internalconf")), &directory)?;
    }
    Ok(stamp)
}
