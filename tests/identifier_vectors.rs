//! The identifier vectors of the Java implementation (`identifiers/` in the shared vectors),
//! each behaving as `IdentifierTypeConverterTest` expects.

use std::path::PathBuf;

use xroad_fault::ErrorCode;
use xroad_identifiers::{ObjectType, XRoadId};
use xroad_message::identifier_xml::{parse_identifier, write_identifier};

fn vector(name: &str) -> Vec<u8> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors/xroad-7.8/identifiers");
    assert!(
        dir.is_dir(),
        "the X-Road 7.8 vectors are missing: expected {} (clone ../shared beside this repository)",
        dir.display()
    );
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("cannot read vector {name}: {e}"))
}

fn parsed(name: &str) -> XRoadId {
    parse_identifier(&vector(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn client_ids() {
    let member = parsed("clientid.xml");
    assert_eq!(member.object_type(), ObjectType::Member);
    assert_eq!(member.to_string(), "MEMBER:EE/COMPANY/FOOBAR");
    let sub = parsed("clientid-subsystem.xml");
    assert_eq!(sub.object_type(), ObjectType::Subsystem);
    assert_eq!(sub.to_string(), "SUBSYSTEM:EE/COMPANY/FOOBAR/SUBSYSTEM");
    let XRoadId::Client(c) = sub else {
        panic!("not a client")
    };
    assert_eq!(
        (c.instance(), c.member_class(), c.member_code()),
        ("EE", "COMPANY", "FOOBAR")
    );
    assert_eq!(c.subsystem_code(), Some("SUBSYSTEM"));
}

#[test]
fn invalid_client_ids() {
    for name in [
        "invalid-clientid-member.xml",
        "invalid-clientid-subsystem.xml",
    ] {
        let e = parse_identifier(&vector(name)).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::InvalidClientIdentifier, "{name}");
        assert_eq!(e.error_code().as_str(), "invalid_client_identifier");
    }
}

#[test]
fn service_ids() {
    let svc = parsed("serviceid.xml");
    assert_eq!(svc.to_string(), "SERVICE:EE/BUSINESS/JODA/getState");
    let XRoadId::Service(s) = svc else {
        panic!("not a service")
    };
    assert_eq!((s.service_code(), s.service_version()), ("getState", None));
    let v = parsed("serviceid-version.xml");
    assert_eq!(v.to_string(), "SERVICE:EE/BUSINESS/JODA/getState/v1");
    let XRoadId::Service(s) = v else {
        panic!("not a service")
    };
    assert_eq!(s.service_version(), Some("v1"));
}

#[test]
fn security_server_and_group_ids() {
    assert_eq!(
        parsed("securityserverid.xml").to_string(),
        "SERVER:EE/BUSINESS/123456789/bambi"
    );
    assert_eq!(
        parsed("globalgroupid.xml").to_string(),
        "GLOBALGROUP:EE/perearstid"
    );
    let local = parsed("localgroupid.xml");
    assert_eq!(local.to_string(), "LOCALGROUP:lokaalgrupp");
    assert_eq!(local.object_type(), ObjectType::LocalGroup);
}

#[test]
fn every_valid_vector_round_trips_through_our_xml() {
    for name in [
        "clientid.xml",
        "clientid-subsystem.xml",
        "serviceid.xml",
        "serviceid-version.xml",
        "securityserverid.xml",
        "globalgroupid.xml",
        "localgroupid.xml",
    ] {
        let id = parsed(name);
        let xml = write_identifier(
            &id,
            "xroad:client",
            &[("xroad", "http://x-road.eu/xsd/xroad.xsd")],
        );
        assert_eq!(parse_identifier(xml.as_bytes()).unwrap(), id, "{name}");
    }
}
