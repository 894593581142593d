//! The XML form of identifiers (`identifiers.xsd`): an element of an `XRoadIdentifierType`
//! with the `id:objectType` attribute and the identifier fields as child elements.
//!
//! Reading follows Java's `IdentifierTypeConverter` (the strict rules: a `MEMBER` must not and
//! a `SUBSYSTEM` must carry a subsystem code); writing produces the schema's element order.

use xroad_identifiers::{IdError, IdField, IdFields, ObjectType, XRoadId};
use xroad_xml::{EndTag, Handler, Scanner, StartTag, SyntaxError};

use crate::soap::NS_IDENTIFIERS;

/// Why an identifier document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierXmlError {
    /// The document is not well-formed XML.
    #[error("invalid XML: {0}")]
    Xml(#[from] SyntaxError),
    /// The root element has no `id:objectType` attribute.
    #[error("missing objectType attribute")]
    MissingObjectType,
    /// The fields do not make an identifier of the declared type.
    #[error("invalid_client_identifier: {0}")]
    Invalid(#[from] IdError),
}

impl IdentifierXmlError {
    /// The X-Road error code Java reports for this failure.
    pub fn error_code(&self) -> xroad_fault::ErrorCode {
        use xroad_fault::ErrorCode;
        match self {
            IdentifierXmlError::Invalid(
                IdError::MissingSubsystemCode | IdError::RedundantSubsystemCode,
            ) => ErrorCode::InvalidClientIdentifier,
            IdentifierXmlError::Invalid(IdError::UnknownObjectType(_)) => ErrorCode::InvalidXml,
            IdentifierXmlError::Invalid(_) => ErrorCode::InternalError,
            _ => ErrorCode::InvalidXml,
        }
    }
}

#[derive(Default)]
struct Collector {
    object_type: Option<Result<ObjectType, IdError>>,
    fields: IdFields,
    current: Option<IdField>,
    text: String,
}

impl Handler for Collector {
    type Error = IdentifierXmlError;

    fn start_element(&mut self, tag: &StartTag<'_>) -> Result<(), IdentifierXmlError> {
        match tag.depth {
            1 => {
                let ot = tag
                    .attribute(NS_IDENTIFIERS, "objectType")
                    .ok_or(IdentifierXmlError::MissingObjectType)?;
                self.object_type = Some(ot.parse());
            }
            2 if tag.namespace == NS_IDENTIFIERS => {
                self.current = IdField::from_local_name(tag.local);
                self.text.clear();
            }
            _ => {}
        }
        Ok(())
    }

    fn end_element(&mut self, tag: &EndTag<'_>) -> Result<(), IdentifierXmlError> {
        if tag.depth == 2 {
            if let Some(field) = self.current.take() {
                let value = std::mem::take(&mut self.text);
                self.fields.set(field, value)?;
            }
        }
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), IdentifierXmlError> {
        if self.current.is_some() {
            self.text.push_str(text);
        }
        Ok(())
    }
}

/// Reads an identifier from its XML form.
pub fn parse_identifier(document: &[u8]) -> Result<XRoadId, IdentifierXmlError> {
    let mut scanner = Scanner::default();
    let mut c = Collector::default();
    let body = document.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(document);
    scanner.feed(body, &mut c)?;
    scanner.finish(&mut c)?;
    let object_type = c
        .object_type
        .ok_or(IdentifierXmlError::MissingObjectType)??;
    Ok(c.fields.into_xroad_id(object_type)?)
}

/// Writes `id` as the element `qname` (e.g. `xroad:client`), declaring the identifiers
/// namespace as `id`; `ns_decls` are further namespace declarations for the element's prefix.
pub fn write_identifier(id: &XRoadId, qname: &str, ns_decls: &[(&str, &str)]) -> String {
    let mut out = format!("<{qname} id:objectType=\"{}\"", id.object_type());
    for (prefix, uri) in ns_decls {
        out.push_str(&format!(" xmlns:{prefix}=\"{}\"", escape(uri)));
    }
    out.push_str(&format!(" xmlns:id=\"{NS_IDENTIFIERS}\">"));
    for (field, value) in IdFields::from(id).iter() {
        out.push_str(&format!(
            "<id:{0}>{1}</id:{0}>",
            field.as_str(),
            escape(value)
        ));
    }
    out.push_str(&format!("</{qname}>"));
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use xroad_identifiers::ClientId;

    #[test]
    fn round_trip_with_awkward_characters() {
        let id = XRoadId::from(ClientId::subsystem("EE", "GOV", "a&<b>\"c", " s ").unwrap());
        let xml = write_identifier(
            &id,
            "xroad:client",
            &[("xroad", "http://x-road.eu/xsd/xroad.xsd")],
        );
        assert_eq!(parse_identifier(xml.as_bytes()).unwrap(), id);
    }

    #[test]
    fn errors() {
        let e = parse_identifier(b"<a/>").unwrap_err();
        assert_eq!(e, IdentifierXmlError::MissingObjectType);
        let e =
            parse_identifier(b"<a xmlns:id='http://x-road.eu/xsd/identifiers' id:objectType='X'/>")
                .unwrap_err();
        assert_eq!(e.error_code(), xroad_fault::ErrorCode::InvalidXml);
        let blank = b"<a xmlns:id='http://x-road.eu/xsd/identifiers' id:objectType='LOCALGROUP'><id:groupCode/></a>";
        assert_eq!(
            parse_identifier(blank).unwrap_err().error_code(),
            xroad_fault::ErrorCode::InternalError
        );
        assert!(matches!(
            parse_identifier(b"<a"),
            Err(IdentifierXmlError::Xml(_))
        ));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_documents_never_panic(doc in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = super::parse_identifier(&doc);
        }
    }
}
