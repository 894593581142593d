//! Shared parameters (`shared-params.xml`, versions 2 to 6): the parts verification needs,
//! read with the streaming scanner (the file lists every member; no tree is built).

use xroad_fault::{ErrorCode, XRoadError};
use xroad_xml::{EndTag, Handler, Limits, Scanner, StartTag, SyntaxError};

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
}

/// The shared parameters of one instance, as far as this crate reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedParameters {
    /// `instanceIdentifier`.
    pub instance: String,
    /// `approvedCA`s in file order.
    pub approved_cas: Vec<ApprovedCaParams>,
    /// `approvedTSA`s in file order.
    pub approved_tsas: Vec<TsaInfo>,
    /// `globalSettings/ocspFreshnessSeconds`.
    pub ocsp_freshness_seconds: Option<i64>,
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
        Ok(reader.params)
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
#[derive(Default)]
struct Reader {
    root_local: String,
    path: Vec<String>,
    text: String,
    params: SharedParameters,
}

fn decode_cert(text: &str) -> Result<Vec<u8>, ReadError> {
    use base64::Engine;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| {
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
        let p: Vec<&str> = self.path.iter().map(String::as_str).collect();
        match p.as_slice() {
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
                        _ => {}
                    }
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
        self.path.push(tag.local.to_owned());
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
        }
        Ok(())
    }

    fn end_element(&mut self, tag: &EndTag<'_>) -> Result<(), ReadError> {
        if tag.depth == 1 {
            return Ok(());
        }
        let text = std::mem::take(&mut self.text);
        self.leaf(&text)?;
        self.path.pop();
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
