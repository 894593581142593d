//! The child elements of an identifier's XML form, collected before the identifier is built.

use std::fmt;

use crate::{
    ClientId, Code, GlobalGroupId, IdError, LocalGroupId, ObjectType, SecurityServerId, ServiceId,
    XRoadId,
};

/// A child element of `XRoadIdentifierType`, in `identifiers.xsd` schema order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdField {
    /// `xRoadInstance`
    XRoadInstance,
    /// `memberClass`
    MemberClass,
    /// `memberCode`
    MemberCode,
    /// `subsystemCode`
    SubsystemCode,
    /// `groupCode`
    GroupCode,
    /// `serviceCode`
    ServiceCode,
    /// `serviceVersion`
    ServiceVersion,
    /// `serverCode`
    ServerCode,
}

impl IdField {
    /// All fields in schema order.
    pub const ALL: [IdField; 8] = [
        IdField::XRoadInstance,
        IdField::MemberClass,
        IdField::MemberCode,
        IdField::SubsystemCode,
        IdField::GroupCode,
        IdField::ServiceCode,
        IdField::ServiceVersion,
        IdField::ServerCode,
    ];

    /// The element's local name (namespace `http://x-road.eu/xsd/identifiers`).
    pub const fn as_str(self) -> &'static str {
        match self {
            IdField::XRoadInstance => "xRoadInstance",
            IdField::MemberClass => "memberClass",
            IdField::MemberCode => "memberCode",
            IdField::SubsystemCode => "subsystemCode",
            IdField::GroupCode => "groupCode",
            IdField::ServiceCode => "serviceCode",
            IdField::ServiceVersion => "serviceVersion",
            IdField::ServerCode => "serverCode",
        }
    }

    /// The field with this local name, if any.
    pub fn from_local_name(name: &str) -> Option<IdField> {
        Some(match name {
            "xRoadInstance" => IdField::XRoadInstance,
            "memberClass" => IdField::MemberClass,
            "memberCode" => IdField::MemberCode,
            "subsystemCode" => IdField::SubsystemCode,
            "groupCode" => IdField::GroupCode,
            "serviceCode" => IdField::ServiceCode,
            "serviceVersion" => IdField::ServiceVersion,
            "serverCode" => IdField::ServerCode,
            _ => return None,
        })
    }

    /// The fields an identifier header of this type reads (others are ignored, as in Java).
    pub const fn allowed_for(object_type: ObjectType) -> &'static [IdField] {
        use IdField::*;
        match object_type {
            ObjectType::Member | ObjectType::Subsystem => {
                &[XRoadInstance, MemberClass, MemberCode, SubsystemCode]
            }
            ObjectType::Service => &[
                XRoadInstance,
                MemberClass,
                MemberCode,
                SubsystemCode,
                ServiceCode,
                ServiceVersion,
            ],
            ObjectType::Server => &[XRoadInstance, MemberClass, MemberCode, ServerCode],
            ObjectType::GlobalGroup => &[XRoadInstance, GroupCode],
            ObjectType::LocalGroup => &[GroupCode],
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for IdField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The field values of an identifier as they appear in XML, before validation.
///
/// Child order is free and values are kept untrimmed; setting a field twice is an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdFields {
    values: [Option<Code>; 8],
}

impl IdFields {
    /// Sets `field`, refusing a second value for the same field.
    pub fn set(&mut self, field: IdField, value: impl Into<Code>) -> Result<(), IdError> {
        let slot = &mut self.values[field.index()];
        if slot.is_some() {
            return Err(IdError::DuplicateField(field));
        }
        *slot = Some(value.into());
        Ok(())
    }

    /// Whether `field` has been set.
    pub fn contains(&self, field: IdField) -> bool {
        self.values[field.index()].is_some()
    }

    /// The value of `field`.
    pub fn get(&self, field: IdField) -> Option<&str> {
        self.values[field.index()].as_deref()
    }

    /// The set fields in schema order.
    pub fn iter(&self) -> impl Iterator<Item = (IdField, &str)> {
        IdField::ALL
            .into_iter()
            .filter_map(|f| self.get(f).map(|v| (f, v)))
    }

    fn take(&mut self, field: IdField) -> Option<Code> {
        self.values[field.index()].take()
    }

    fn take_required(&mut self, field: IdField) -> Code {
        // An absent field becomes "", which the constructors reject as blank with its name.
        self.take(field).unwrap_or_default()
    }

    /// A client the way the SOAP header parser builds it: the presence of `subsystemCode`
    /// decides between member and subsystem, whatever `objectType` said.
    pub fn into_client(mut self) -> Result<ClientId, IdError> {
        ClientId::new(
            self.take_required(IdField::XRoadInstance),
            self.take_required(IdField::MemberClass),
            self.take_required(IdField::MemberCode),
            self.take(IdField::SubsystemCode),
        )
    }

    /// A service identifier with Java's checks: see [`ServiceId::new_lenient`].
    pub fn into_service(mut self) -> Result<ServiceId, IdError> {
        ServiceId::new_lenient(
            self.take_required(IdField::XRoadInstance),
            self.take_required(IdField::MemberClass),
            self.take_required(IdField::MemberCode),
            self.take(IdField::SubsystemCode),
            self.take_required(IdField::ServiceCode),
            self.take(IdField::ServiceVersion),
        )
    }

    /// A security server identifier.
    pub fn into_security_server(mut self) -> Result<SecurityServerId, IdError> {
        let server_code = self.take_required(IdField::ServerCode);
        self.take(IdField::SubsystemCode);
        SecurityServerId::new(self.into_client()?, server_code)
    }

    /// The identifier of the declared `object_type`, with the strict client rules of Java's
    /// `IdentifierTypeConverter`: a `MEMBER` must not and a `SUBSYSTEM` must have a
    /// subsystem code.
    pub fn into_xroad_id(mut self, object_type: ObjectType) -> Result<XRoadId, IdError> {
        Ok(match object_type {
            ObjectType::Member if self.contains(IdField::SubsystemCode) => {
                return Err(IdError::RedundantSubsystemCode)
            }
            ObjectType::Subsystem if !self.contains(IdField::SubsystemCode) => {
                return Err(IdError::MissingSubsystemCode)
            }
            ObjectType::Member | ObjectType::Subsystem => XRoadId::Client(self.into_client()?),
            ObjectType::Service => XRoadId::Service(self.into_service()?),
            ObjectType::Server => XRoadId::SecurityServer(self.into_security_server()?),
            ObjectType::GlobalGroup => XRoadId::GlobalGroup(GlobalGroupId::new(
                self.take_required(IdField::XRoadInstance),
                self.take_required(IdField::GroupCode),
            )?),
            ObjectType::LocalGroup => {
                XRoadId::LocalGroup(LocalGroupId::new(self.take_required(IdField::GroupCode))?)
            }
        })
    }
}

impl From<&XRoadId> for IdFields {
    fn from(id: &XRoadId) -> Self {
        let mut f = IdFields::default();
        let mut put = |field: IdField, v: &str| f.values[field.index()] = Some(Code::from(v));
        let put_client = |c: &ClientId, put: &mut dyn FnMut(IdField, &str)| {
            put(IdField::XRoadInstance, c.instance());
            put(IdField::MemberClass, c.member_class());
            put(IdField::MemberCode, c.member_code());
            if let Some(s) = c.subsystem_code() {
                put(IdField::SubsystemCode, s);
            }
        };
        match id {
            XRoadId::Client(c) => put_client(c, &mut put),
            XRoadId::Service(s) => {
                put_client(s.provider(), &mut put);
                put(IdField::ServiceCode, s.service_code());
                if let Some(v) = s.service_version() {
                    put(IdField::ServiceVersion, v);
                }
            }
            XRoadId::SecurityServer(s) => {
                put_client(s.owner(), &mut put);
                put(IdField::ServerCode, s.server_code());
            }
            XRoadId::GlobalGroup(g) => {
                put(IdField::XRoadInstance, g.instance());
                put(IdField::GroupCode, g.group_code());
            }
            XRoadId::LocalGroup(g) => put(IdField::GroupCode, g.group_code()),
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(IdField, &str)]) -> IdFields {
        let mut f = IdFields::default();
        for (k, v) in pairs {
            f.set(*k, (*v).to_owned()).unwrap();
        }
        f
    }

    #[test]
    fn duplicate_fields_are_refused() {
        let mut f = IdFields::default();
        f.set(IdField::MemberCode, "a").unwrap();
        assert_eq!(
            f.set(IdField::MemberCode, "b"),
            Err(IdError::DuplicateField(IdField::MemberCode))
        );
    }

    #[test]
    fn strict_client_rules() {
        use IdField::*;
        let with_sub = fields(&[
            (XRoadInstance, "EE"),
            (MemberClass, "C"),
            (MemberCode, "M"),
            (SubsystemCode, "S"),
        ]);
        assert_eq!(
            with_sub.clone().into_xroad_id(ObjectType::Member),
            Err(IdError::RedundantSubsystemCode)
        );
        // The SOAP header parser is lenient: the subsystem code makes it a subsystem.
        assert_eq!(
            with_sub.into_client().unwrap().object_type(),
            ObjectType::Subsystem
        );
        let without = fields(&[(XRoadInstance, "EE"), (MemberClass, "C"), (MemberCode, "M")]);
        assert_eq!(
            without.into_xroad_id(ObjectType::Subsystem),
            Err(IdError::MissingSubsystemCode)
        );
    }

    #[test]
    fn missing_field_is_named() {
        use IdField::*;
        let f = fields(&[(XRoadInstance, "EE"), (MemberClass, "C")]);
        assert_eq!(f.into_client(), Err(IdError::Blank("memberCode")));
        let f = fields(&[(XRoadInstance, "EE"), (MemberClass, "C"), (MemberCode, "M")]);
        assert_eq!(f.into_service(), Err(IdError::Blank("serviceCode")));
    }

    #[test]
    fn round_trip_through_fields() {
        let svc = ServiceId::new(
            ClientId::subsystem("EE", "GOV", "1", "S").unwrap(),
            "get",
            Some("v2".into()),
        )
        .unwrap();
        let id = XRoadId::from(svc);
        let back = IdFields::from(&id)
            .into_xroad_id(ObjectType::Service)
            .unwrap();
        assert_eq!(back, id);
    }
}
