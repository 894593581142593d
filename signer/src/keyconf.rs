//! `keyconf.xml`: the signer's record of tokens, keys, certificate requests and certificates,
//! in the schema of Java's signer (`keyconf.xsd`, namespace `http://x-road.eu/xsd/xroad.xsd`).
//!
//! We keep our own state in this very file, with the software token's keys beside it in
//! `softtoken/<keyId>.p12` as Java does. A Java server's signer directory is then our signer
//! directory: migration copies files and checks them, and a move back stays possible.

use std::path::Path;

use base64::Engine;
use xroad_identifiers::ClientId;

use crate::error::{Result, SignerError};
use crate::xml::{escape, Element};

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    /// Signing messages for members.
    Signing,
    /// The security server's TLS identity.
    Authentication,
}

impl KeyUsage {
    /// The schema's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyUsage::Signing => "SIGNING",
            KeyUsage::Authentication => "AUTHENTICATION",
        }
    }

    /// Parses `SIGNING` / `AUTHENTICATION` (also `sign` / `auth`, case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "signing" | "sign" => Some(KeyUsage::Signing),
            "authentication" | "auth" => Some(KeyUsage::Authentication),
            _ => None,
        }
    }
}

impl std::fmt::Display for KeyUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyConf {
    /// Tokens ("devices").
    pub devices: Vec<Device>,
}

/// A token.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Device {
    /// `softToken` or the PKCS#11 module id (a `devices.ini` section).
    pub device_type: String,
    /// Display name.
    pub friendly_name: Option<String>,
    /// Token id used in APIs (`0` for the software token).
    pub id: String,
    /// Token serial number (PKCS#11).
    pub token_id: Option<String>,
    /// Slot label (PKCS#11).
    pub slot_id: Option<String>,
    /// PIN index.
    pub pin_index: Option<i32>,
    /// Keys on the token.
    pub keys: Vec<Key>,
    /// Default signing mechanism of the token.
    pub sign_mechanism: Option<String>,
}

/// A key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Key {
    /// Usage, fixed by the first CSR or certificate.
    pub usage: Option<KeyUsage>,
    /// Display name.
    pub friendly_name: String,
    /// Label.
    pub label: Option<String>,
    /// Key id: 40 upper-case hex digits (the soft-token file name; PKCS#11 `CKA_ID`).
    pub key_id: String,
    /// DER `SubjectPublicKeyInfo`.
    pub public_key: Option<Vec<u8>>,
    /// Outstanding certificate requests.
    pub cert_requests: Vec<CertRequest>,
    /// Certificates.
    pub certs: Vec<CertEntry>,
    /// Signing mechanism (`CKM_RSA_PKCS`, `CKM_RSA_PKCS_PSS`, `CKM_ECDSA`).
    pub sign_mechanism: Option<String>,
}

/// An outstanding certificate request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CertRequest {
    /// Element id.
    pub id: Option<String>,
    /// The member (signing keys only).
    pub member_id: Option<ClientId>,
    /// The subject DN as a string.
    pub subject_name: String,
    /// The subject alternative name.
    pub subject_alt_name: Option<String>,
    /// The certificate profile class.
    pub certificate_profile: Option<String>,
}

/// A certificate of a key.
#[derive(Debug, Clone, PartialEq)]
pub struct CertEntry {
    /// Used by the proxy (with status `registered`).
    pub active: bool,
    /// Element id (Java: the SHA-1 hex of the certificate).
    pub id: Option<String>,
    /// The member (signing certificates).
    pub member_id: Option<ClientId>,
    /// DER.
    pub contents: Vec<u8>,
    /// `saved`, `registration in progress`, `registered`, `deletion in progress`, `global error`.
    pub status: Option<String>,
    /// Fields this implementation keeps but does not interpret: `nextRenewalTime`,
    /// `renewedCertHash`, `renewalError`, `ocspVerifyBeforeActivationError`.
    pub other: Vec<(String, String)>,
}

/// Certificate status values.
pub mod status {
    /// Imported, not yet registered.
    pub const SAVED: &str = "saved";
    /// Registration requested.
    pub const REGISTRATION_IN_PROGRESS: &str = "registration in progress";
    /// Registered in the global configuration.
    pub const REGISTERED: &str = "registered";
    /// Deletion requested.
    pub const DELETION_IN_PROGRESS: &str = "deletion in progress";
    /// Global configuration disagrees.
    pub const GLOBAL_ERROR: &str = "global error";
}

const NS: &str = "http://x-road.eu/xsd/xroad.xsd";
const ID_NS: &str = "http://x-road.eu/xsd/identifiers";
const CERT_OTHER: [&str; 4] = [
    "nextRenewalTime",
    "renewedCertHash",
    "renewalError",
    "ocspVerifyBeforeActivationError",
];

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str, what: &str) -> Result<Vec<u8>> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|_| SignerError::Config(format!("keyconf.xml: {what} is not base64")))
}

fn client_id(el: &Element) -> Result<ClientId> {
    let field = |n: &str| {
        el.child_text(n)
            .ok_or_else(|| SignerError::Config(format!("keyconf.xml: {} lacks {n}", el.name)))
    };
    let (instance, class, code) = (
        field("xRoadInstance")?,
        field("memberClass")?,
        field("memberCode")?,
    );
    let id = match el.child_text("subsystemCode") {
        Some(sub) => ClientId::subsystem(
            instance.as_str(),
            class.as_str(),
            code.as_str(),
            sub.as_str(),
        ),
        None => ClientId::member(instance.as_str(), class.as_str(), code.as_str()),
    };
    id.map_err(|e| SignerError::Config(format!("keyconf.xml: {}: {e}", el.name)))
}

fn write_client_id(out: &mut String, name: &str, id: &ClientId, indent: &str) {
    let kind = if id.subsystem_code().is_some() {
        "SUBSYSTEM"
    } else {
        "MEMBER"
    };
    out.push_str(&format!(
        "{indent}<{name} ns2:objectType=\"{kind}\">\n{indent}    <ns2:xRoadInstance>{}</ns2:xRoadInstance>\n\
         {indent}    <ns2:memberClass>{}</ns2:memberClass>\n{indent}    <ns2:memberCode>{}</ns2:memberCode>\n",
        escape(id.instance()),
        escape(id.member_class()),
        escape(id.member_code())
    ));
    if let Some(sub) = id.subsystem_code() {
        out.push_str(&format!(
            "{indent}    <ns2:subsystemCode>{}</ns2:subsystemCode>\n",
            escape(sub)
        ));
    }
    out.push_str(&format!("{indent}</{name}>\n"));
}

fn opt(out: &mut String, indent: &str, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        out.push_str(&format!("{indent}<{name}>{}</{name}>\n", escape(v)));
    }
}

impl KeyConf {
    /// Parses `keyconf.xml`.
    pub fn parse(bytes: &[u8]) -> Result<KeyConf> {
        let root = Element::parse(bytes, "keyconf.xml")?;
        if root.name != "keyConf" {
            return Err(SignerError::Config(format!(
                "keyconf.xml: the root element is {}, not keyConf",
                root.name
            )));
        }
        let devices = root
            .children_named("device")
            .map(Device::from_xml)
            .collect::<Result<_>>()?;
        Ok(KeyConf { devices })
    }

    /// Reads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<KeyConf> {
        match std::fs::read(path) {
            Ok(bytes) => KeyConf::parse(&bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KeyConf::default()),
            Err(e) => Err(SignerError::io(path, e)),
        }
    }

    /// Writes `path` atomically (temporary file and rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::fsutil::write_atomic(path, self.to_xml().as_bytes(), false)
    }

    /// Serializes as Java's signer writes it.
    pub fn to_xml(&self) -> String {
        let mut s = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<ns3:keyConf xmlns:ns2=\"{ID_NS}\" xmlns:ns3=\"{NS}\">\n"
        );
        for d in &self.devices {
            d.write(&mut s);
        }
        s.push_str("</ns3:keyConf>\n");
        s
    }

    /// The device with token id `id`.
    pub fn device(&self, id: &str) -> Option<&Device> {
        self.devices.iter().find(|d| d.id == id)
    }

    /// The device with token id `id`, mutable.
    pub fn device_mut(&mut self, id: &str) -> Option<&mut Device> {
        self.devices.iter_mut().find(|d| d.id == id)
    }

    /// The key `key_id` and the id of its token.
    pub fn key(&self, key_id: &str) -> Option<(&Device, &Key)> {
        self.devices.iter().find_map(|d| {
            d.keys
                .iter()
                .find(|k| k.key_id.eq_ignore_ascii_case(key_id))
                .map(|k| (d, k))
        })
    }

    /// The key `key_id`, mutable.
    pub fn key_mut(&mut self, key_id: &str) -> Option<&mut Key> {
        self.devices
            .iter_mut()
            .flat_map(|d| d.keys.iter_mut())
            .find(|k| k.key_id.eq_ignore_ascii_case(key_id))
    }
}

impl Device {
    fn from_xml(el: &Element) -> Result<Device> {
        let pin_index = match el.child_text("pinIndex") {
            Some(t) => Some(t.parse().map_err(|_| {
                SignerError::Config(format!("keyconf.xml: pinIndex {t:?} is not a number"))
            })?),
            None => None,
        };
        Ok(Device {
            device_type: el.child_text("deviceType").ok_or_else(|| {
                SignerError::Config("keyconf.xml: a device lacks deviceType".into())
            })?,
            friendly_name: el.child_text("friendlyName"),
            id: el
                .child_text("id")
                .ok_or_else(|| SignerError::Config("keyconf.xml: a device lacks id".into()))?,
            token_id: el.child_text("tokenId"),
            slot_id: el.child_text("slotId"),
            pin_index,
            keys: el
                .children_named("key")
                .map(Key::from_xml)
                .collect::<Result<_>>()?,
            sign_mechanism: el.child_text("signMechanismName"),
        })
    }

    fn write(&self, s: &mut String) {
        s.push_str("    <device>\n");
        let i = "        ";
        opt(s, i, "deviceType", Some(&self.device_type));
        opt(s, i, "friendlyName", self.friendly_name.as_deref());
        opt(s, i, "id", Some(&self.id));
        opt(s, i, "tokenId", self.token_id.as_deref());
        opt(s, i, "slotId", self.slot_id.as_deref());
        opt(
            s,
            i,
            "pinIndex",
            self.pin_index.map(|p| p.to_string()).as_deref(),
        );
        for k in &self.keys {
            k.write(s);
        }
        opt(s, i, "signMechanismName", self.sign_mechanism.as_deref());
        s.push_str("    </device>\n");
    }
}

impl Key {
    fn from_xml(el: &Element) -> Result<Key> {
        let usage = match el.attr("usage") {
            Some(u) => Some(KeyUsage::parse(u).ok_or_else(|| {
                SignerError::Config(format!("keyconf.xml: unknown key usage {u:?}"))
            })?),
            None => None,
        };
        let key_id = el
            .child_text("keyId")
            .ok_or_else(|| SignerError::Config("keyconf.xml: a key lacks keyId".into()))?;
        let public_key = match el.child_text("publicKey") {
            Some(t) if !t.is_empty() => Some(unb64(&t, "publicKey")?),
            _ => None,
        };
        let cert_requests = el
            .children_named("certRequest")
            .map(|r| {
                Ok(CertRequest {
                    id: r.attr("id").map(str::to_owned),
                    member_id: r.child("memberId").map(client_id).transpose()?,
                    subject_name: r.child_text("subjectName").unwrap_or_default(),
                    subject_alt_name: r.child_text("subjectAlternativeName"),
                    certificate_profile: r.child_text("certificateProfile"),
                })
            })
            .collect::<Result<_>>()?;
        let certs = el
            .children_named("cert")
            .map(|c| {
                Ok(CertEntry {
                    active: c.attr("active").is_none_or(|a| a.trim() == "true"),
                    id: c.attr("id").map(str::to_owned),
                    member_id: c.child("memberId").map(client_id).transpose()?,
                    contents: unb64(
                        &c.child_text("contents").unwrap_or_default(),
                        "cert contents",
                    )?,
                    status: c.child_text("status"),
                    other: CERT_OTHER
                        .iter()
                        .filter_map(|n| c.child_text(n).map(|v| ((*n).to_owned(), v)))
                        .collect(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Key {
            usage,
            friendly_name: el.child_text("friendlyName").unwrap_or_default(),
            label: el.child_text("label"),
            key_id,
            public_key,
            cert_requests,
            certs,
            sign_mechanism: el.child_text("signMechanismName"),
        })
    }

    fn write(&self, s: &mut String) {
        match self.usage {
            Some(u) => s.push_str(&format!("        <key usage=\"{u}\">\n")),
            None => s.push_str("        <key>\n"),
        }
        let i = "            ";
        opt(s, i, "friendlyName", Some(&self.friendly_name));
        opt(s, i, "label", self.label.as_deref());
        opt(s, i, "keyId", Some(&self.key_id));
        opt(
            s,
            i,
            "publicKey",
            self.public_key.as_deref().map(b64).as_deref(),
        );
        for r in &self.cert_requests {
            match &r.id {
                Some(id) => s.push_str(&format!("{i}<certRequest id=\"{}\">\n", escape(id))),
                None => s.push_str(&format!("{i}<certRequest>\n")),
            }
            let j = "                ";
            if let Some(m) = &r.member_id {
                write_client_id(s, "memberId", m, j);
            }
            opt(s, j, "subjectName", Some(&r.subject_name));
            opt(
                s,
                j,
                "subjectAlternativeName",
                r.subject_alt_name.as_deref(),
            );
            opt(s, j, "certificateProfile", r.certificate_profile.as_deref());
            s.push_str(&format!("{i}</certRequest>\n"));
        }
        for c in &self.certs {
            s.push_str(&format!("{i}<cert active=\"{}\"", c.active));
            if let Some(id) = &c.id {
                s.push_str(&format!(" id=\"{}\"", escape(id)));
            }
            s.push_str(">\n");
            let j = "                ";
            if let Some(m) = &c.member_id {
                write_client_id(s, "memberId", m, j);
            }
            opt(s, j, "contents", Some(&b64(&c.contents)));
            opt(s, j, "status", c.status.as_deref());
            for name in CERT_OTHER {
                let v = c
                    .other
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str());
                opt(s, j, name, v);
            }
            s.push_str(&format!("{i}</cert>\n"));
        }
        opt(s, i, "signMechanismName", self.sign_mechanism.as_deref());
        s.push_str("        </key>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ns3:keyConf xmlns:ns2="http://x-road.eu/xsd/identifiers" xmlns:ns3="http://x-road.eu/xsd/xroad.xsd">
    <device>
        <deviceType>softToken</deviceType>
        <friendlyName>softToken-0</friendlyName>
        <id>0</id>
        <pinIndex>0</pinIndex>
        <key usage="SIGNING">
            <friendlyName>Sign key</friendlyName>
            <label>Sign key</label>
            <keyId>1342B84B4829BB79226AB268B4D8E70B01068613</keyId>
            <publicKey>AQID</publicKey>
            <certRequest id="r1">
                <memberId ns2:objectType="MEMBER">
                    <ns2:xRoadInstance>DEV</ns2:xRoadInstance>
                    <ns2:memberClass>COM</ns2:memberClass>
                    <ns2:memberCode>1234</ns2:memberCode>
                </memberId>
                <subjectName>C=FI, O=Test, CN=1234</subjectName>
            </certRequest>
            <cert active="false" id="15A0">
                <memberId ns2:objectType="SUBSYSTEM">
                    <ns2:xRoadInstance>DEV</ns2:xRoadInstance>
                    <ns2:memberClass>COM</ns2:memberClass>
                    <ns2:memberCode>1234</ns2:memberCode>
                    <ns2:subsystemCode>S &amp; 1</ns2:subsystemCode>
                </memberId>
                <contents>BAUG</contents>
                <status>registered</status>
                <nextRenewalTime>2045-10-17T22:11:04.000Z</nextRenewalTime>
            </cert>
            <signMechanismName>CKM_RSA_PKCS</signMechanismName>
        </key>
    </device>
</ns3:keyConf>
"#;

    #[test]
    fn reads_java_keyconf_and_round_trips() {
        let conf = KeyConf::parse(SAMPLE.as_bytes()).unwrap();
        let d = &conf.devices[0];
        assert_eq!(d.device_type, "softToken");
        assert_eq!(d.pin_index, Some(0));
        let k = &d.keys[0];
        assert_eq!(k.usage, Some(KeyUsage::Signing));
        assert_eq!(k.public_key.as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!(k.cert_requests[0].subject_name, "C=FI, O=Test, CN=1234");
        let c = &k.certs[0];
        assert!(!c.active);
        assert_eq!(c.contents, vec![4, 5, 6]);
        assert_eq!(
            c.member_id.as_ref().unwrap().subsystem_code(),
            Some("S & 1")
        );
        assert_eq!(c.other.len(), 1);
        let again = KeyConf::parse(conf.to_xml().as_bytes()).unwrap();
        assert_eq!(again, conf);
    }

    #[test]
    fn rejects_bad_input_clearly() {
        let err = KeyConf::parse(b"<other/>").unwrap_err().to_string();
        assert!(err.contains("keyConf"), "{err}");
        let err = KeyConf::parse(SAMPLE.replace("AQID", "%%%").as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("publicKey"), "{err}");
        assert!(KeyConf::parse(b"<keyConf><device>").is_err());
    }
}
