//! The configuration anchor: where a security server downloads its instance's global
//! configuration from, and the certificates that verify it.

use std::path::Path;
use std::sync::Arc;

use xroad_crypto::Certificate;
use xroad_fault::{ErrorCode, XRoadError};
use xroad_xml::{EndTag, Handler, Limits, Scanner, StartTag, SyntaxError};

/// A configuration source of an anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationSource {
    /// `downloadURL`.
    pub download_url: String,
    /// `verificationCert`s.
    pub verification_certs: Vec<Arc<Certificate>>,
}

/// A configuration anchor (`configurationAnchor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationAnchor {
    /// `instanceIdentifier`.
    pub instance: String,
    /// `generatedAt`, as written, if present.
    pub generated_at: Option<String>,
    /// The sources, in file order.
    pub sources: Vec<ConfigurationSource>,
}

fn malformed(msg: impl Into<String>) -> XRoadError {
    XRoadError::new(ErrorCode::MalformedAnchor, msg)
}

#[derive(Default)]
struct Reader {
    path: Vec<String>,
    text: String,
    instance: String,
    generated_at: Option<String>,
    sources: Vec<(String, Vec<Vec<u8>>)>,
    error: Option<String>,
}

impl Handler for Reader {
    type Error = SyntaxError;

    fn start_element(&mut self, tag: &StartTag<'_>) -> Result<(), SyntaxError> {
        self.path.push(tag.local.to_owned());
        self.text.clear();
        if self.path.len() == 2 && tag.local == "source" {
            self.sources.push((String::new(), Vec::new()));
        }
        Ok(())
    }

    fn end_element(&mut self, _tag: &EndTag<'_>) -> Result<(), SyntaxError> {
        let text = std::mem::take(&mut self.text);
        let p: Vec<&str> = self.path.iter().map(String::as_str).collect();
        match p.as_slice() {
            [_, "instanceIdentifier"] => self.instance = text.trim().to_owned(),
            [_, "generatedAt"] => self.generated_at = Some(text.trim().to_owned()),
            [_, "source", "downloadURL"] => {
                if let Some(s) = self.sources.last_mut() {
                    s.0 = text.trim().to_owned();
                }
            }
            [_, "source", "verificationCert"] => match xroad_crypto::decode_base64(&text) {
                Some(der) => {
                    if let Some(s) = self.sources.last_mut() {
                        s.1.push(der);
                    }
                }
                None => self.error = Some("a verificationCert is not base64".into()),
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

impl ConfigurationAnchor {
    /// Parses an anchor document.
    pub fn parse(xml: &[u8]) -> Result<ConfigurationAnchor, XRoadError> {
        let mut r = Reader::default();
        let mut scanner = Scanner::new(Limits::default());
        scanner
            .feed(xml, &mut r)
            .and_then(|()| scanner.finish(&mut r))
            .map_err(|e| {
                malformed(format!(
                    "the configuration anchor is not well-formed XML: {e}"
                ))
            })?;
        if let Some(e) = r.error {
            return Err(malformed(e));
        }
        if r.instance.is_empty() {
            return Err(malformed(
                "the configuration anchor has no instanceIdentifier",
            ));
        }
        if r.sources.is_empty() {
            return Err(malformed("the configuration anchor has no source"));
        }
        let mut sources = Vec::new();
        for (url, certs) in r.sources {
            if url.is_empty() {
                return Err(malformed(
                    "a source of the configuration anchor has no downloadURL",
                ));
            }
            let certs = certs
                .iter()
                .map(|der| Certificate::from_pem_or_der(der).map(Arc::new))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| malformed(format!("a verification certificate of {url}: {e}")))?;
            sources.push(ConfigurationSource {
                download_url: url,
                verification_certs: certs,
            });
        }
        Ok(ConfigurationAnchor {
            instance: r.instance,
            generated_at: r.generated_at,
            sources,
        })
    }

    /// Reads an anchor file.
    pub fn load(path: &Path) -> Result<ConfigurationAnchor, XRoadError> {
        let bytes = std::fs::read(path).map_err(|e| {
            XRoadError::new(
                ErrorCode::AnchorFileNotFound,
                format!(
                    "cannot read the configuration anchor {}: {e}",
                    path.display()
                ),
            )
        })?;
        Self::parse(&bytes)
    }
}
