//! Private parameters (`private-params.xml`, versions 2 and 3; later versions reuse 3): the
//! own instance's management service, time-stamping interval and federation anchors.

use xroad_fault::{ErrorCode, XRoadError};
use xroad_identifiers::{ClientId, IdField, IdFields};
use xroad_xml::{EndTag, Handler, Limits, Scanner, StartTag, SyntaxError};

const IDENTIFIERS_NS: &str = "http://x-road.eu/xsd/identifiers";

/// A federated instance's anchor inside private parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FederationAnchor {
    /// Its instance.
    pub instance: String,
    /// Download URLs of its sources.
    pub download_urls: Vec<String>,
    /// Its sources: download URL and the DER of each verification certificate (decoded from
    /// base64, not parsed: a certificate that does not parse only disqualifies itself).
    pub sources: Vec<(String, Vec<Vec<u8>>)>,
}

/// The private parameters of the own instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrivateParameters {
    /// `instanceIdentifier`.
    pub instance: String,
    /// Anchors of federated instances.
    pub federation: Vec<FederationAnchor>,
    /// `managementService/authCertRegServiceAddress`.
    pub management_service_address: String,
    /// `managementService/managementRequestServiceProviderId`.
    pub management_request_service_provider: Option<ClientId>,
    /// `timeStampingIntervalSeconds`.
    pub time_stamping_interval_seconds: Option<i64>,
}

#[derive(Default)]
struct Reader {
    path: Vec<String>,
    text: String,
    params: PrivateParameters,
    provider: Option<IdFields>,
    error: Option<String>,
}

impl Handler for Reader {
    type Error = SyntaxError;

    fn start_element(&mut self, tag: &StartTag<'_>) -> Result<(), SyntaxError> {
        if tag.depth > 1 {
            self.path.push(tag.local.to_owned());
        }
        self.text.clear();
        let p: Vec<&str> = self.path.iter().map(String::as_str).collect();
        match p.as_slice() {
            ["configurationAnchor"] => self.params.federation.push(FederationAnchor::default()),
            ["configurationAnchor", "source"] => {
                if let Some(a) = self.params.federation.last_mut() {
                    a.sources.push((String::new(), Vec::new()));
                }
            }
            ["managementService", "managementRequestServiceProviderId"] => {
                self.provider = Some(IdFields::default())
            }
            _ => {}
        }
        Ok(())
    }

    fn end_element(&mut self, tag: &EndTag<'_>) -> Result<(), SyntaxError> {
        if tag.depth == 1 {
            return Ok(());
        }
        let text = std::mem::take(&mut self.text);
        let value = text.trim().to_owned();
        let p: Vec<&str> = self.path.iter().map(String::as_str).collect();
        match p.as_slice() {
            ["instanceIdentifier"] => self.params.instance = value,
            ["configurationAnchor", "instanceIdentifier"] => {
                if let Some(a) = self.params.federation.last_mut() {
                    a.instance = value;
                }
            }
            ["configurationAnchor", "source", "downloadURL"] => {
                if let Some(a) = self.params.federation.last_mut() {
                    a.download_urls.push(value.clone());
                    if let Some(s) = a.sources.last_mut() {
                        s.0 = value;
                    }
                }
            }
            ["configurationAnchor", "source", "verificationCert"] => {
                if let Some(a) = self.params.federation.last_mut() {
                    if let Some(s) = a.sources.last_mut() {
                        s.1.push(xroad_crypto::decode_base64(&value).unwrap_or_default());
                    }
                }
            }
            ["managementService", "authCertRegServiceAddress"] => {
                self.params.management_service_address = value
            }
            ["managementService", "managementRequestServiceProviderId", _]
                if tag.namespace() == IDENTIFIERS_NS =>
            {
                if let (Some(field), Some(fields)) =
                    (IdField::from_local_name(tag.local), self.provider.as_mut())
                {
                    if let Err(e) = fields.set(field, value) {
                        self.error = Some(e.to_string());
                    }
                }
            }
            ["managementService", "managementRequestServiceProviderId"] => {
                if let Some(fields) = self.provider.take() {
                    match fields.into_client() {
                        Ok(c) => self.params.management_request_service_provider = Some(c),
                        Err(e) => {
                            self.error = Some(format!("managementRequestServiceProviderId: {e}"))
                        }
                    }
                }
            }
            ["timeStampingIntervalSeconds"] => match value.parse() {
                Ok(n) => self.params.time_stamping_interval_seconds = Some(n),
                Err(_) => {
                    self.error = Some(format!(
                        "timeStampingIntervalSeconds is not a number: {value}"
                    ))
                }
            },
            _ => {}
        }
        self.path.pop();
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), SyntaxError> {
        // Leaves are short; a runaway text is cut rather than buffered without bound (it
        // then fails as the value it should have been).
        if self.text.len() < 1 << 20 {
            self.text.push_str(text);
        }
        Ok(())
    }
}

impl PrivateParameters {
    /// Parses a `private-params.xml` document.
    pub fn parse(xml: &[u8]) -> Result<PrivateParameters, XRoadError> {
        let malformed = |m: String| XRoadError::new(ErrorCode::MalformedGlobalConf, m);
        let mut r = Reader::default();
        let mut scanner = Scanner::new(Limits::default());
        scanner
            .feed(xml, &mut r)
            .and_then(|()| scanner.finish(&mut r))
            .map_err(|e| malformed(format!("private parameters are not well-formed XML: {e}")))?;
        if let Some(e) = r.error {
            return Err(malformed(e));
        }
        if r.params.instance.is_empty() {
            return Err(malformed(
                "private parameters lack instanceIdentifier".into(),
            ));
        }
        Ok(r.params)
    }
}
