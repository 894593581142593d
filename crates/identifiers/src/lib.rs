//! X-Road identifiers.
//!
//! Every party and resource in X-Road is named by an identifier whose first segment is the
//! X-Road instance: members (`EE/GOV/70000001`), subsystems (`EE/GOV/70000001/registry`),
//! services (`EE/GOV/70000001/registry/getPerson/v1`), security servers, global groups and
//! local groups. This crate holds their value types and three of their encodings:
//!
//! - the display form used in logs and by the Java servers' `toString()`:
//!   `SUBSYSTEM:EE/GOV/70000001/registry` ([`std::fmt::Display`]);
//! - the REST header form (`X-Road-Client: EE/GOV/70000001/registry`), each segment
//!   percent-encoded on its own ([`rest`]);
//! - the XML form of `identifiers.xsd` is assembled from its child elements with
//!   [`IdFields`]; the XML scanning itself lives with the message parsers.
//!
//! Values are kept exactly as received: X-Road does not trim identifier codes, and the Java
//! proxy does not enforce the character restrictions of the specifications on messages.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod fields;
pub mod rest;

use std::fmt;

/// The text of one identifier segment. Codes are short, so they are stored inline (no heap
/// allocation up to 24 bytes); it dereferences to `str`.
pub type Code = compact_str::CompactString;

pub use fields::{IdField, IdFields};

/// Why an identifier could not be built or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// A required code is absent or consists of whitespace only.
    #[error("'{0}' must not be blank")]
    Blank(&'static str),
    /// The `objectType` value is not one X-Road knows.
    #[error("Unknown objectType: {0}")]
    UnknownObjectType(String),
    /// The `objectType` is known but not allowed where it was used.
    #[error("Unexpected objectType: {0}")]
    UnexpectedObjectType(ObjectType),
    /// A `SUBSYSTEM` client without a subsystem code.
    #[error("Missing required subsystem code")]
    MissingSubsystemCode,
    /// A `MEMBER` client that carries a subsystem code.
    #[error("Redundant subsystem code")]
    RedundantSubsystemCode,
    /// The same identifier field appeared twice.
    #[error("duplicate identifier field '{0}'")]
    DuplicateField(IdField),
    /// A `/`-separated encoded identifier has the wrong number of segments.
    #[error("expected {expected} segments in identifier '{value}', found {found}")]
    SegmentCount {
        /// What the identifier type needs, e.g. "3 or 4".
        expected: &'static str,
        /// How many segments were present.
        found: usize,
        /// The encoded identifier as received.
        value: String,
    },
    /// A segment contains a character that must be percent-encoded.
    #[error("Invalid character in path segment")]
    InvalidCharacter,
    /// A `%` escape is cut short at the end of a segment.
    #[error("Incomplete percent encoding")]
    IncompletePercentEncoding,
    /// A `%` escape is followed by something other than two hex digits.
    #[error("Invalid percent encoding")]
    InvalidPercentEncoding,
}

/// The `id:objectType` of an identifier (`XRoadObjectType` in `identifiers.xsd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    /// A member organisation.
    Member,
    /// A subsystem of a member.
    Subsystem,
    /// A security server.
    Server,
    /// A group defined in the global configuration.
    GlobalGroup,
    /// A group defined in one security server's configuration.
    LocalGroup,
    /// A service offered by a member or subsystem.
    Service,
}

impl ObjectType {
    /// The spelling used in XML and in the display form.
    pub const fn as_str(self) -> &'static str {
        match self {
            ObjectType::Member => "MEMBER",
            ObjectType::Subsystem => "SUBSYSTEM",
            ObjectType::Server => "SERVER",
            ObjectType::GlobalGroup => "GLOBALGROUP",
            ObjectType::LocalGroup => "LOCALGROUP",
            ObjectType::Service => "SERVICE",
        }
    }
}

impl std::str::FromStr for ObjectType {
    type Err = IdError;

    /// Exact, case-sensitive match, as Java's `XRoadObjectType.valueOf`.
    fn from_str(s: &str) -> Result<Self, IdError> {
        Ok(match s {
            "MEMBER" => ObjectType::Member,
            "SUBSYSTEM" => ObjectType::Subsystem,
            "SERVER" => ObjectType::Server,
            "GLOBALGROUP" => ObjectType::GlobalGroup,
            "LOCALGROUP" => ObjectType::LocalGroup,
            "SERVICE" => ObjectType::Service,
            other => return Err(IdError::UnknownObjectType(other.to_owned())),
        })
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whitespace as Java's `Character.isWhitespace` defines it (what `StringUtils.isBlank` uses):
/// no-break spaces are not whitespace, the information separators U+001C..U+001F are.
fn java_whitespace(c: char) -> bool {
    matches!(c, '\u{1c}'..='\u{1f}')
        || (c.is_whitespace() && !matches!(c, '\u{85}' | '\u{a0}' | '\u{2007}' | '\u{202f}'))
}

/// Rejects absent and whitespace-only codes, as Java's `Validation.validateArgument`.
fn required(field: &'static str, value: Code) -> Result<Code, IdError> {
    // Usual case first: a code starting with a visible ASCII character is not blank.
    if value
        .as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_graphic())
    {
        return Ok(value);
    }
    if value.chars().all(java_whitespace) {
        Err(IdError::Blank(field))
    } else {
        Ok(value)
    }
}

fn optional(field: &'static str, value: Option<Code>) -> Result<Option<Code>, IdError> {
    value.map(|v| required(field, v)).transpose()
}

/// A member or one of its subsystems: the `client` of a message, the provider of a service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId {
    instance: Code,
    member_class: Code,
    member_code: Code,
    subsystem_code: Option<Code>,
}

impl ClientId {
    /// A member (`MEMBER`) or, with a subsystem code, a subsystem (`SUBSYSTEM`).
    pub fn new(
        instance: impl Into<Code>,
        member_class: impl Into<Code>,
        member_code: impl Into<Code>,
        subsystem_code: Option<Code>,
    ) -> Result<Self, IdError> {
        Ok(ClientId {
            instance: required("xRoadInstance", instance.into())?,
            member_class: required("memberClass", member_class.into())?,
            member_code: required("memberCode", member_code.into())?,
            subsystem_code: optional("subsystemCode", subsystem_code)?,
        })
    }

    /// A member.
    pub fn member(
        instance: impl Into<Code>,
        member_class: impl Into<Code>,
        member_code: impl Into<Code>,
    ) -> Result<Self, IdError> {
        Self::new(instance, member_class, member_code, None)
    }

    /// A subsystem.
    pub fn subsystem(
        instance: impl Into<Code>,
        member_class: impl Into<Code>,
        member_code: impl Into<Code>,
        subsystem_code: impl Into<Code>,
    ) -> Result<Self, IdError> {
        Self::new(
            instance,
            member_class,
            member_code,
            Some(subsystem_code.into()),
        )
    }

    /// `MEMBER` or `SUBSYSTEM`.
    pub fn object_type(&self) -> ObjectType {
        if self.subsystem_code.is_some() {
            ObjectType::Subsystem
        } else {
            ObjectType::Member
        }
    }

    /// The X-Road instance, e.g. `EE`.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The member class, e.g. `GOV`.
    pub fn member_class(&self) -> &str {
        &self.member_class
    }

    /// The member code, e.g. `70000001`.
    pub fn member_code(&self) -> &str {
        &self.member_code
    }

    /// The subsystem code of a subsystem.
    pub fn subsystem_code(&self) -> Option<&str> {
        self.subsystem_code.as_deref()
    }

    /// The member this client belongs to (itself if it is a member).
    pub fn member_id(&self) -> ClientId {
        ClientId {
            subsystem_code: None,
            ..self.clone()
        }
    }

    /// Whether `self` is a subsystem of the member `member`.
    pub fn is_subsystem_of(&self, member: &ClientId) -> bool {
        self.subsystem_code.is_some()
            && member.subsystem_code.is_none()
            && self.instance == member.instance
            && self.member_class == member.member_class
            && self.member_code == member.member_code
    }

    fn segments(&self) -> impl Iterator<Item = &str> {
        [&self.instance, &self.member_class, &self.member_code]
            .into_iter()
            .map(Code::as_str)
            .chain(self.subsystem_code.as_deref())
    }
}

/// A service: its provider (member or subsystem), code and optional version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId {
    client: ClientId,
    service_code: Code,
    service_version: Option<Code>,
}

impl ServiceId {
    /// A service as Java's `ServiceId.Conf.create` builds it: instance, member class, member
    /// code and service code must not be blank (checked in that order); the subsystem code and
    /// version are taken as given, even when blank.
    pub fn new_lenient(
        instance: impl Into<Code>,
        member_class: impl Into<Code>,
        member_code: impl Into<Code>,
        subsystem_code: Option<Code>,
        service_code: impl Into<Code>,
        service_version: Option<Code>,
    ) -> Result<Self, IdError> {
        let client = ClientId {
            instance: required("xRoadInstance", instance.into())?,
            member_class: required("memberClass", member_class.into())?,
            member_code: required("memberCode", member_code.into())?,
            subsystem_code,
        };
        Ok(ServiceId {
            client,
            service_code: required("serviceCode", service_code.into())?,
            service_version,
        })
    }

    /// The service `service_code` (version `service_version`) of `provider`.
    pub fn new(
        provider: ClientId,
        service_code: impl Into<Code>,
        service_version: Option<Code>,
    ) -> Result<Self, IdError> {
        Ok(ServiceId {
            client: provider,
            service_code: required("serviceCode", service_code.into())?,
            service_version: optional("serviceVersion", service_version)?,
        })
    }

    /// The member or subsystem that provides the service.
    pub fn provider(&self) -> &ClientId {
        &self.client
    }

    /// The service code, e.g. `getPerson`.
    pub fn service_code(&self) -> &str {
        &self.service_code
    }

    /// The service version, e.g. `v1`.
    pub fn service_version(&self) -> Option<&str> {
        self.service_version.as_deref()
    }

    /// The same service without its version.
    pub fn without_version(&self) -> ServiceId {
        ServiceId {
            service_version: None,
            ..self.clone()
        }
    }

    fn segments(&self) -> impl Iterator<Item = &str> {
        self.client
            .segments()
            .chain(std::iter::once(self.service_code.as_str()))
            .chain(self.service_version.as_deref())
    }
}

/// A security server: its owner member and server code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecurityServerId {
    owner: ClientId,
    server_code: Code,
}

impl SecurityServerId {
    /// The security server `server_code` owned by the member `owner`.
    pub fn new(owner: ClientId, server_code: impl Into<Code>) -> Result<Self, IdError> {
        if owner.subsystem_code.is_some() {
            return Err(IdError::UnexpectedObjectType(ObjectType::Subsystem));
        }
        Ok(SecurityServerId {
            owner,
            server_code: required("serverCode", server_code.into())?,
        })
    }

    /// The member that owns the server.
    pub fn owner(&self) -> &ClientId {
        &self.owner
    }

    /// The server code.
    pub fn server_code(&self) -> &str {
        &self.server_code
    }

    fn segments(&self) -> impl Iterator<Item = &str> {
        self.owner
            .segments()
            .chain(std::iter::once(self.server_code.as_str()))
    }
}

/// A global group, defined in the global configuration of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GlobalGroupId {
    instance: Code,
    group_code: Code,
}

impl GlobalGroupId {
    /// The global group `group_code` of `instance`.
    pub fn new(instance: impl Into<Code>, group_code: impl Into<Code>) -> Result<Self, IdError> {
        Ok(GlobalGroupId {
            instance: required("xRoadInstance", instance.into())?,
            group_code: required("groupCode", group_code.into())?,
        })
    }

    /// The X-Road instance.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The group code.
    pub fn group_code(&self) -> &str {
        &self.group_code
    }
}

/// A local group, defined in one security server's configuration; it has no instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalGroupId {
    group_code: Code,
}

impl LocalGroupId {
    /// The local group `group_code`.
    pub fn new(group_code: impl Into<Code>) -> Result<Self, IdError> {
        Ok(LocalGroupId {
            group_code: required("groupCode", group_code.into())?,
        })
    }

    /// The group code.
    pub fn group_code(&self) -> &str {
        &self.group_code
    }
}

/// Any X-Road identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum XRoadId {
    /// A member or subsystem.
    Client(ClientId),
    /// A service.
    Service(ServiceId),
    /// A security server.
    SecurityServer(SecurityServerId),
    /// A global group.
    GlobalGroup(GlobalGroupId),
    /// A local group.
    LocalGroup(LocalGroupId),
}

impl XRoadId {
    /// The identifier's object type.
    pub fn object_type(&self) -> ObjectType {
        match self {
            XRoadId::Client(c) => c.object_type(),
            XRoadId::Service(_) => ObjectType::Service,
            XRoadId::SecurityServer(_) => ObjectType::Server,
            XRoadId::GlobalGroup(_) => ObjectType::GlobalGroup,
            XRoadId::LocalGroup(_) => ObjectType::LocalGroup,
        }
    }

    /// The segments without the object type, `/`-joined: `EE/GOV/70000001/registry`
    /// (Java's `toShortString()`).
    pub fn short_string(&self) -> String {
        let mut out = String::new();
        self.write_short(&mut out, '/');
        out
    }

    /// The segments joined with `:` (Java's `asEncodedId()`), as used by admin interfaces.
    pub fn encoded_id(&self) -> String {
        let mut out = String::new();
        self.write_short(&mut out, ':');
        out
    }

    fn write_short(&self, out: &mut String, sep: char) {
        let mut first = true;
        let mut push = |s: &str| {
            if !first {
                out.push(sep);
            }
            first = false;
            out.push_str(s);
        };
        match self {
            XRoadId::Client(c) => c.segments().for_each(&mut push),
            XRoadId::Service(s) => s.segments().for_each(&mut push),
            XRoadId::SecurityServer(s) => s.segments().for_each(&mut push),
            XRoadId::GlobalGroup(g) => [g.instance.as_str(), &g.group_code]
                .into_iter()
                .for_each(push),
            XRoadId::LocalGroup(g) => push(&g.group_code),
        }
    }
}

impl fmt::Display for XRoadId {
    /// `TYPE:segment/segment/…`, e.g. `SERVICE:EE/BUSINESS/JODA/getState/v1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.object_type(), self.short_string())
    }
}

macro_rules! id_conversions {
    ($($ty:ident => $variant:ident),*) => {$(
        impl From<$ty> for XRoadId {
            fn from(id: $ty) -> Self {
                XRoadId::$variant(id)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Identifiers are small; the clone keeps one formatting path for all types.
                fmt::Display::fmt(&XRoadId::$variant(self.clone()), f)
            }
        }
    )*};
}

id_conversions!(
    ClientId => Client,
    ServiceId => Service,
    SecurityServerId => SecurityServer,
    GlobalGroupId => GlobalGroup,
    LocalGroupId => LocalGroup
);

impl serde::Serialize for XRoadId {
    /// The XML element names of `identifiers.xsd` as JSON keys, absent fields omitted.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let fields = IdFields::from(self);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("objectType", self.object_type().as_str())?;
        for (field, value) in fields.iter() {
            map.serialize_entry(field.as_str(), value)?;
        }
        map.end()
    }
}

macro_rules! serialize_via_xroad_id {
    ($($ty:ident),*) => {$(
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                XRoadId::from(self.clone()).serialize(serializer)
            }
        }
    )*};
}

serialize_via_xroad_id!(
    ClientId,
    ServiceId,
    SecurityServerId,
    GlobalGroupId,
    LocalGroupId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms_match_java_to_string() {
        let member = ClientId::member("EE", "COMPANY", "FOOBAR").unwrap();
        assert_eq!(member.to_string(), "MEMBER:EE/COMPANY/FOOBAR");
        let sub = ClientId::subsystem("EE", "COMPANY", "FOOBAR", "SUBSYSTEM").unwrap();
        assert_eq!(sub.to_string(), "SUBSYSTEM:EE/COMPANY/FOOBAR/SUBSYSTEM");
        let provider = ClientId::member("EE", "BUSINESS", "JODA").unwrap();
        let svc = ServiceId::new(provider.clone(), "getState", Some("v1".into())).unwrap();
        assert_eq!(svc.to_string(), "SERVICE:EE/BUSINESS/JODA/getState/v1");
        let ss = SecurityServerId::new(
            ClientId::member("EE", "BUSINESS", "123456789").unwrap(),
            "bambi",
        )
        .unwrap();
        assert_eq!(ss.to_string(), "SERVER:EE/BUSINESS/123456789/bambi");
        let gg = GlobalGroupId::new("EE", "perearstid").unwrap();
        assert_eq!(gg.to_string(), "GLOBALGROUP:EE/perearstid");
        let lg = LocalGroupId::new("lokaalgrupp").unwrap();
        assert_eq!(lg.to_string(), "LOCALGROUP:lokaalgrupp");
        assert_eq!(
            XRoadId::from(svc).encoded_id(),
            "EE:BUSINESS:JODA:getState:v1"
        );
    }

    #[test]
    fn blank_codes_are_rejected_but_values_are_not_trimmed() {
        assert_eq!(
            ClientId::member("EE", " ", "X"),
            Err(IdError::Blank("memberClass"))
        );
        assert_eq!(
            ClientId::member("", "GOV", "X"),
            Err(IdError::Blank("xRoadInstance"))
        );
        let spaced = ClientId::member("EE", "GOV", " X ").unwrap();
        assert_eq!(spaced.member_code(), " X ");
        assert_eq!(
            ClientId::subsystem("EE", "GOV", "X", "\t"),
            Err(IdError::Blank("subsystemCode"))
        );
        // Java's notion of whitespace, not Rust's.
        assert!(ClientId::member("EE", "GOV", "\u{a0}").is_ok());
        assert_eq!(
            ClientId::member("EE", "GOV", "\u{1f}"),
            Err(IdError::Blank("memberCode"))
        );
    }

    #[test]
    fn member_and_subsystem_relations() {
        let sub = ClientId::subsystem("EE", "GOV", "1", "S").unwrap();
        let member = sub.member_id();
        assert_eq!(member.object_type(), ObjectType::Member);
        assert!(sub.is_subsystem_of(&member));
        assert!(!member.is_subsystem_of(&sub));
        assert!(SecurityServerId::new(sub, "ss1").is_err());
    }

    #[test]
    fn object_type_parsing_is_exact() {
        assert_eq!("SERVICE".parse::<ObjectType>(), Ok(ObjectType::Service));
        assert!("service".parse::<ObjectType>().is_err());
        assert!("SECURITYCATEGORY".parse::<ObjectType>().is_err());
    }

    #[test]
    fn json_uses_xsd_element_names() {
        let sub = ClientId::subsystem("EE", "GOV", "1", "S").unwrap();
        let json = serde_json::to_string(&XRoadId::from(sub)).unwrap();
        assert_eq!(
            json,
            r#"{"objectType":"SUBSYSTEM","xRoadInstance":"EE","memberClass":"GOV","memberCode":"1","subsystemCode":"S"}"#
        );
    }
}
