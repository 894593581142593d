//! The element handler that turns scanner events into X-Road headers, following the checks
//! (and their order) of the Java `SaxSoapParserImpl`.

use xroad_fault::{ErrorCode, XRoadError};
use xroad_identifiers::{
    ClientId, Code, IdError, IdField, IdFields, ObjectType, SecurityServerId, ServiceId,
};
use xroad_xml::{EndTag, Handler, StartTag};

use super::{
    ParseError, RepresentedParty, RequestHash, Soap, SoapFault, SoapHeader, SoapMessage,
    NS_IDENTIFIERS, NS_REPRESENTATION, NS_SOAP_ENCODING, NS_SOAP_ENV, NS_XROAD,
};

/// Longest header value kept (an `id`, `userId`, identifier code, …). Java has no such limit;
/// ours keeps memory bounded whatever the message.
const MAX_VALUE_LEN: usize = 1 << 20;

const INVALID_BODY: &str = "Malformed SOAP message: body must have exactly one child element";

/// Which X-Road identifier header is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdHeader {
    Client,
    Service,
    SecurityServer,
}

impl IdHeader {
    /// The object types the header accepts; the first one also names the child elements it
    /// reads (a client reads the subsystem code whatever its declared type).
    const fn expected(self) -> &'static [ObjectType] {
        match self {
            IdHeader::Client => &[ObjectType::Subsystem, ObjectType::Member],
            IdHeader::Service => &[ObjectType::Service],
            IdHeader::SecurityServer => &[ObjectType::Server],
        }
    }

    /// The fields the header reads (the schema's, from the identifiers crate).
    #[cfg(test)]
    fn fields(self) -> &'static [IdField] {
        IdField::allowed_for(self.expected()[0])
    }

    /// Whether the header reads the child `field`: [`IdHeader::expected`]'s first object
    /// type's fields, as a set of bits made at compile time and tested without a search.
    fn reads(self, field: IdField) -> bool {
        const fn set(fields: &[IdField]) -> u8 {
            let mut bits = 0;
            let mut i = 0;
            while i < fields.len() {
                bits |= 1 << fields[i] as u8;
                i += 1;
            }
            bits
        }
        const fn of(header: IdHeader) -> u8 {
            set(IdField::allowed_for(header.expected()[0]))
        }
        const CLIENT: u8 = of(IdHeader::Client);
        const SERVICE: u8 = of(IdHeader::Service);
        const SERVER: u8 = of(IdHeader::SecurityServer);
        let bits = match self {
            IdHeader::Client => CLIENT,
            IdHeader::Service => SERVICE,
            IdHeader::SecurityServer => SERVER,
        };
        bits & (1 << field as u8) != 0
    }
}

/// A child of the `representedParty` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartyField {
    Class,
    Code,
}

/// A plain-text header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueField {
    Id,
    UserId,
    Issue,
    ProtocolVersion,
    RequestHash,
    FaultCode,
    FaultString,
    FaultActor,
    FaultDetail,
    /// The text directly inside `detail` (used when there is no `faultDetail`).
    DetailText,
}

/// What the element at `depth` is being read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capture {
    Value(ValueField),
    Identifier(IdHeader),
    IdentifierPart(IdField),
    Party,
    PartyPart(PartyField),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Section {
    #[default]
    Other,
    Header,
    Body,
}

#[derive(Debug, Default)]
struct Fields {
    client: Option<ClientId>,
    service: Option<ServiceId>,
    security_server: Option<SecurityServerId>,
    id: Option<Code>,
    user_id: Option<Code>,
    issue: Option<Code>,
    protocol_version: Option<Code>,
    represented_party: Option<RepresentedParty>,
    request_hash: Option<RequestHash>,
}

/// What a closed envelope held: the message itself stays in the handler's fields until it is
/// taken, so that it is moved once.
#[derive(Debug)]
enum Ended {
    Message { response: bool },
    Fault(SoapFault),
}

#[derive(Debug, Default)]
pub(crate) struct SoapHandler {
    depth: usize,
    rpc: bool,
    section: Section,
    header_finished: bool,
    fields: Fields,
    /// Open captures with the depth of their element (innermost last).
    captures: Vec<(usize, Capture)>,
    text: String,
    id_fields: IdFields,
    party: (Option<Code>, Option<Code>),
    hash_algorithm: Option<String>,
    body_seen: bool,
    service_name: Option<Code>,
    fault: Option<SoapFault>,
    in_fault: bool,
    /// What the closed envelope held, once it passed its checks.
    ended: Option<Ended>,
}

fn duplicate(namespace: &str, local: &str) -> ParseError {
    XRoadError::new(
        ErrorCode::DuplicateHeaderField,
        format!("SOAP header contains duplicate field '{{{namespace}}}{local}'"),
    )
    .into()
}

fn check_unique<T>(slot: &Option<T>, tag: &StartTag<'_>) -> Result<(), ParseError> {
    match slot {
        Some(_) => Err(duplicate(tag.namespace, tag.local)),
        None => Ok(()),
    }
}

/// An identifier that could not be built from its fields: the Java parser fails with an
/// unchecked argument error here, which surfaces as `internal_error`.
fn id_error(e: IdError) -> ParseError {
    XRoadError::new(ErrorCode::InternalError, e.to_string()).into()
}

/// The most bytes of value buffer kept for the next handler of a thread.
const KEPT_VALUE_BYTES: usize = 4096;

/// A capture stack and value buffer.
type Buffers = (Vec<(usize, Capture)>, String);

thread_local! {
    /// The buffers of the thread's last handler, kept for the next: a handler is made per
    /// message, and allocating (and freeing) both costs more than a small message's values do.
    static SPARE: std::cell::Cell<Option<Buffers>> = const { std::cell::Cell::new(None) };
}

impl Drop for SoapHandler {
    fn drop(&mut self) {
        let (mut captures, mut text) = (
            std::mem::take(&mut self.captures),
            std::mem::take(&mut self.text),
        );
        if text.capacity() <= KEPT_VALUE_BYTES {
            captures.clear();
            text.clear();
            let _ = SPARE.try_with(|s| s.set(Some((captures, text))));
        }
    }
}

impl SoapHandler {
    /// A handler for a new document, with the buffers a previous one of this thread left.
    pub(crate) fn new() -> Self {
        let mut h = SoapHandler::default();
        if let Some((captures, text)) = SPARE.try_with(std::cell::Cell::take).ok().flatten() {
            h.captures = captures;
            h.text = text;
        }
        h
    }

    pub(crate) fn header_finished(&self) -> bool {
        self.header_finished
    }

    /// The result, once the document has ended (taken, so the handler is not moved).
    pub(crate) fn take_soap(&mut self, encoding: &'static str) -> Result<Soap, XRoadError> {
        match self.ended.take() {
            Some(Ended::Message { response }) => {
                let missing = || XRoadError::new(ErrorCode::InternalError, "message taken twice");
                // Checked present by `close_envelope`.
                let f = &mut self.fields;
                Ok(Soap::Message(SoapMessage {
                    header: SoapHeader {
                        client: f.client.take().ok_or_else(missing)?,
                        service: f.service.take().ok_or_else(missing)?,
                        id: f.id.take().ok_or_else(missing)?,
                        user_id: f.user_id.take(),
                        issue: f.issue.take(),
                        protocol_version: f.protocol_version.take().ok_or_else(missing)?,
                        represented_party: f.represented_party.take(),
                        security_server: f.security_server.take(),
                        request_hash: f.request_hash.take(),
                    },
                    service_name: self.service_name.take().ok_or_else(missing)?,
                    rpc: self.rpc,
                    response,
                    encoding,
                }))
            }
            Some(Ended::Fault(fault)) => Ok(Soap::Fault(fault)),
            None => Err(XRoadError::new(
                ErrorCode::InvalidSoap,
                "Malformed SOAP message: envelope missing",
            )),
        }
    }

    fn capture(&self) -> Option<Capture> {
        match self.captures.last() {
            Some(&(d, c)) if d == self.depth => Some(c),
            _ => None,
        }
    }

    fn parent_capture(&self) -> Option<Capture> {
        match self.captures.last() {
            Some(&(d, c)) if d + 1 == self.depth => Some(c),
            _ => None,
        }
    }

    fn begin(&mut self, c: Capture) {
        self.text.clear();
        self.captures.push((self.depth, c));
    }

    /// Appends a piece of a value being read.
    fn keep_text(&mut self, text: &str) -> Result<(), ParseError> {
        if self.text.len() + text.len() > MAX_VALUE_LEN {
            return Err(XRoadError::new(
                ErrorCode::InvalidSoap,
                format!("SOAP header value longer than {MAX_VALUE_LEN} bytes"),
            )
            .into());
        }
        if self.text.capacity() == 0 {
            // Room for the usual value at once, not by doubling from a few bytes.
            self.text.reserve(64);
        }
        self.text.push_str(text);
        Ok(())
    }

    fn take_text(&mut self) -> Code {
        // Short values are stored inline; the buffer is kept for the next value.
        let text = Code::from(self.text.as_str());
        self.text.clear();
        text
    }

    fn envelope(&mut self, tag: &StartTag<'_>) -> Result<(), ParseError> {
        if tag.namespace != NS_SOAP_ENV || tag.local != "Envelope" {
            return Err(XRoadError::new(
                ErrorCode::InvalidSoap,
                "Malformed SOAP message: envelope missing",
            )
            .into());
        }
        self.rpc = tag.attribute(NS_SOAP_ENV, "encodingStyle") == Some(NS_SOAP_ENCODING);
        Ok(())
    }

    fn envelope_child(&mut self, tag: &StartTag<'_>) {
        self.section = match (tag.namespace, tag.local) {
            (NS_SOAP_ENV, "Header") => Section::Header,
            (NS_SOAP_ENV, "Body") => {
                // A second Body replaces the first, as in Java.
                self.body_seen = true;
                self.service_name = None;
                self.fault = None;
                Section::Body
            }
            _ => Section::Other,
        };
    }

    fn header_child(&mut self, tag: &StartTag<'_>) -> Result<(), ParseError> {
        let f = &self.fields;
        // The local name decides the candidate; one namespace comparison confirms it.
        let (namespace, capture) = match tag.local {
            "id" => (
                NS_XROAD,
                check_unique(&f.id, tag).map(|_| Capture::Value(ValueField::Id)),
            ),
            "userId" => (
                NS_XROAD,
                check_unique(&f.user_id, tag).map(|_| Capture::Value(ValueField::UserId)),
            ),
            "issue" => (
                NS_XROAD,
                check_unique(&f.issue, tag).map(|_| Capture::Value(ValueField::Issue)),
            ),
            "protocolVersion" => (
                NS_XROAD,
                check_unique(&f.protocol_version, tag)
                    .map(|_| Capture::Value(ValueField::ProtocolVersion)),
            ),
            "client" => (
                NS_XROAD,
                check_unique(&f.client, tag).map(|_| Capture::Identifier(IdHeader::Client)),
            ),
            "service" => (
                NS_XROAD,
                check_unique(&f.service, tag).map(|_| Capture::Identifier(IdHeader::Service)),
            ),
            "securityServer" => (
                NS_XROAD,
                check_unique(&f.security_server, tag)
                    .map(|_| Capture::Identifier(IdHeader::SecurityServer)),
            ),
            "representedParty" => (
                NS_REPRESENTATION,
                check_unique(&f.represented_party, tag).map(|_| Capture::Party),
            ),
            "requestHash" => (
                NS_XROAD,
                check_unique(&f.request_hash, tag).map(|_| Capture::Value(ValueField::RequestHash)),
            ),
            _ => return Ok(()),
        };
        if tag.namespace != namespace {
            return Ok(());
        }
        let capture = capture?;
        match capture {
            Capture::Identifier(kind) => self.open_identifier(kind, tag)?,
            Capture::Party => self.party = (None, None),
            Capture::Value(ValueField::RequestHash) => {
                self.hash_algorithm = tag.attribute("", "algorithmId").map(str::to_owned);
            }
            _ => {}
        }
        self.begin(capture);
        Ok(())
    }

    fn open_identifier(&mut self, kind: IdHeader, tag: &StartTag<'_>) -> Result<(), ParseError> {
        let object_type = tag.attribute(NS_IDENTIFIERS, "objectType").ok_or_else(|| {
            XRoadError::new(ErrorCode::InvalidXml, "Missing objectType attribute")
        })?;
        let object_type: ObjectType = object_type.parse().map_err(|_| {
            XRoadError::new(
                ErrorCode::InvalidXml,
                format!("Unknown objectType: {object_type}"),
            )
        })?;
        if !kind.expected().contains(&object_type) {
            return Err(XRoadError::new(
                ErrorCode::InvalidXml,
                format!("Unexpected objectType: {object_type}"),
            )
            .into());
        }
        self.id_fields = IdFields::default();
        Ok(())
    }

    fn identifier_child(&mut self, kind: IdHeader, tag: &StartTag<'_>) -> Result<(), ParseError> {
        let Some(field) = IdField::from_local_name(tag.local).filter(|&f| kind.reads(f)) else {
            return Ok(());
        };
        if tag.namespace != NS_IDENTIFIERS {
            return Ok(());
        }
        if self.id_fields.contains(field) {
            return Err(duplicate(tag.namespace, tag.local));
        }
        self.begin(Capture::IdentifierPart(field));
        Ok(())
    }

    fn party_child(&mut self, tag: &StartTag<'_>) -> Result<(), ParseError> {
        let field = match (tag.namespace, tag.local) {
            (NS_REPRESENTATION, "partyClass") => PartyField::Class,
            (NS_REPRESENTATION, "partyCode") => PartyField::Code,
            _ => return Ok(()),
        };
        check_unique(self.party_slot(field), tag)?;
        self.begin(Capture::PartyPart(field));
        Ok(())
    }

    fn party_slot(&mut self, field: PartyField) -> &mut Option<Code> {
        match field {
            PartyField::Class => &mut self.party.0,
            PartyField::Code => &mut self.party.1,
        }
    }

    fn body_child(&mut self, tag: &StartTag<'_>) -> Result<(), ParseError> {
        if tag.namespace == NS_SOAP_ENV && tag.local == "Fault" {
            self.fault = Some(SoapFault::default());
            self.in_fault = true;
        } else if self.service_name.is_none() {
            self.service_name = Some(Code::from(tag.local));
        } else {
            return Err(XRoadError::new(ErrorCode::InvalidBody, INVALID_BODY).into());
        }
        Ok(())
    }

    fn fault_child(&mut self, tag: &StartTag<'_>) {
        let field = match tag.local {
            "faultcode" => ValueField::FaultCode,
            "faultstring" => ValueField::FaultString,
            "faultactor" => ValueField::FaultActor,
            "detail" => ValueField::DetailText,
            _ => return,
        };
        self.begin(Capture::Value(field));
    }

    fn end_capture(&mut self, c: Capture) -> Result<(), ParseError> {
        self.captures.pop();
        match c {
            Capture::Value(field) => {
                let v = self.take_text();
                self.set_value(field, v)?;
            }
            Capture::IdentifierPart(field) => {
                let v = self.take_text();
                self.id_fields.set(field, v).map_err(id_error)?;
            }
            Capture::PartyPart(field) => {
                let v = Some(self.take_text());
                *self.party_slot(field) = v;
            }
            Capture::Party => {
                let (party_class, party_code) = std::mem::take(&mut self.party);
                self.fields.represented_party = Some(RepresentedParty {
                    party_class,
                    party_code,
                });
            }
            Capture::Identifier(kind) => {
                let fields = std::mem::take(&mut self.id_fields);
                match kind {
                    IdHeader::Client => {
                        self.fields.client = Some(fields.into_client().map_err(id_error)?)
                    }
                    IdHeader::Service => {
                        self.fields.service = Some(fields.into_service().map_err(id_error)?)
                    }
                    IdHeader::SecurityServer => {
                        self.fields.security_server =
                            Some(fields.into_security_server().map_err(id_error)?)
                    }
                }
            }
        }
        Ok(())
    }

    fn set_value(&mut self, field: ValueField, v: Code) -> Result<(), ParseError> {
        let f = &mut self.fields;
        match field {
            ValueField::Id => f.id = Some(v),
            ValueField::UserId => f.user_id = Some(v),
            ValueField::Issue => f.issue = Some(v),
            ValueField::ProtocolVersion => {
                if !v.starts_with("4.") {
                    return Err(XRoadError::new(
                        ErrorCode::InvalidProtocolVersion,
                        format!("Invalid protocol version (supported: 4.x, provided: {v})"),
                    )
                    .into());
                }
                f.protocol_version = Some(v);
            }
            ValueField::RequestHash => {
                f.request_hash = Some(RequestHash {
                    algorithm_id: self.hash_algorithm.take(),
                    value: v.into_string(),
                })
            }
            ValueField::FaultCode => self.fault_mut().code = Some(v.into_string()),
            ValueField::FaultString => self.fault_mut().string = Some(v.into_string()),
            ValueField::FaultActor => self.fault_mut().actor = Some(v.into_string()),
            ValueField::FaultDetail => self.fault_mut().detail = Some(v.into_string()),
            ValueField::DetailText => {
                let fault = self.fault_mut();
                if fault.detail.as_deref().is_none_or(str::is_empty) {
                    fault.detail = Some(v.into_string());
                }
            }
        }
        Ok(())
    }

    fn fault_mut(&mut self) -> &mut SoapFault {
        self.fault.get_or_insert_with(SoapFault::default)
    }

    /// The checks Java makes when the envelope closes, in Java's order.
    fn close_envelope(&mut self) -> Result<(), ParseError> {
        if let Some(fault) = self.fault.take() {
            self.ended = Some(Ended::Fault(fault));
            return Ok(());
        }
        let missing = |name: &str| -> ParseError {
            XRoadError::new(
                ErrorCode::MissingHeaderField,
                format!("Required field '{name}' is missing"),
            )
            .into()
        };
        if !self.header_finished {
            return Err(XRoadError::new(
                ErrorCode::MissingHeader,
                "Malformed SOAP message: header missing",
            )
            .into());
        }
        let f = &self.fields;
        if f.protocol_version.is_none() {
            return Err(missing("protocolVersion"));
        }
        if f.client.is_none() {
            return Err(missing("client"));
        }
        if f.id.is_none() {
            return Err(missing("id"));
        }
        let Some(service) = &f.service else {
            return Err(XRoadError::new(
                ErrorCode::MissingHeaderField,
                "Message header must contain service id",
            )
            .into());
        };
        if !self.body_seen {
            return Err(XRoadError::new(
                ErrorCode::MissingBody,
                "Malformed SOAP message: body missing",
            )
            .into());
        }
        let Some(service_name) = &self.service_name else {
            return Err(XRoadError::new(ErrorCode::InvalidBody, INVALID_BODY).into());
        };
        if !service_name.starts_with(service.service_code()) {
            return Err(XRoadError::new(
                ErrorCode::InconsistentHeaders,
                "Malformed SOAP message: service code does not match in header and body",
            )
            .into());
        }
        // The message is built when taken (`take_soap`), moved once.
        self.ended = Some(Ended::Message {
            response: service_name.ends_with("Response"),
        });
        Ok(())
    }
}

impl Handler for SoapHandler {
    type Error = ParseError;

    fn start_element(&mut self, tag: &StartTag<'_>) -> Result<(), ParseError> {
        self.depth = tag.depth;
        match tag.depth {
            1 => return self.envelope(tag),
            2 => {
                self.envelope_child(tag);
                return Ok(());
            }
            _ => {}
        }
        match (self.section, self.parent_capture()) {
            (Section::Header, None) if tag.depth == 3 => self.header_child(tag),
            (Section::Header, Some(Capture::Identifier(kind))) => self.identifier_child(kind, tag),
            (Section::Header, Some(Capture::Party)) => self.party_child(tag),
            (Section::Body, _) if tag.depth == 3 => {
                self.in_fault = false;
                self.body_child(tag)
            }
            (Section::Body, None) if tag.depth == 4 && self.in_fault => {
                self.fault_child(tag);
                Ok(())
            }
            (Section::Body, Some(Capture::Value(ValueField::DetailText)))
                if tag.local == "faultDetail" =>
            {
                self.begin(Capture::Value(ValueField::FaultDetail));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn end_element(&mut self, tag: &EndTag<'_>) -> Result<(), ParseError> {
        self.depth = tag.depth;
        if let Some(c) = self.capture() {
            self.end_capture(c)?;
        }
        match tag.depth {
            1 => self.close_envelope()?,
            2 => {
                if self.section == Section::Header {
                    self.header_finished = true;
                }
                self.section = Section::Other;
            }
            3 if self.section == Section::Body => self.in_fault = false,
            _ => {}
        }
        self.depth = tag.depth - 1;
        Ok(())
    }

    // Inlined into the scanner: most runs are the whitespace between tags, which only this
    // check looks at.
    #[inline]
    fn text(&mut self, text: &str) -> Result<(), ParseError> {
        // Only values are kept; text beside the children of an identifier is ignored, as in Java.
        let wanted = matches!(
            self.capture(),
            Some(Capture::Value(_) | Capture::IdentifierPart(_) | Capture::PartyPart(_))
        );
        if wanted {
            // The usual value: one piece that fits the kept buffer, appended in place.
            if self.text.is_empty() && text.len() <= self.text.capacity().min(MAX_VALUE_LEN) {
                self.text.push_str(text);
            } else {
                self.keep_text(text)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod reads_tests {
    use super::*;

    #[test]
    fn the_bit_sets_are_the_fields_each_header_reads() {
        for kind in [
            IdHeader::Client,
            IdHeader::Service,
            IdHeader::SecurityServer,
        ] {
            for field in IdField::ALL {
                assert_eq!(
                    kind.reads(field),
                    kind.fields().contains(&field),
                    "{kind:?} {field:?}"
                );
            }
        }
    }
}
