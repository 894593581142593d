//! The global configuration directories of the Java implementation's tests
//! (`GlobalConfTest`, `GlobalConfVer3Test`, `GlobalConfVer4Test`), read and queried.

use std::path::PathBuf;

use xroad_globalconf::ConfigurationDirectory;
use xroad_identifiers::{ClientId, SecurityServerId};

fn dir(name: &str) -> ConfigurationDirectory {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/xroad-7.8/globalconf")
        .join(name);
    assert!(
        path.is_dir(),
        "the X-Road 7.8 vectors are missing: expected {}",
        path.display()
    );
    ConfigurationDirectory::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn client(s: &str) -> ClientId {
    ClientId::from_rest(s).unwrap()
}

fn server(owner: &str, code: &str) -> SecurityServerId {
    SecurityServerId::new(client(owner), code).unwrap()
}

fn cert(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/xroad-7.8/certs")
        .join(name);
    xroad_crypto::Certificate::from_pem_or_der(&std::fs::read(path).unwrap())
        .unwrap()
        .der()
        .to_vec()
}

#[test]
fn every_good_directory_reads_with_its_versions() {
    for (name, instance, own_version) in [
        ("globalconf_good_v2", "EE", 2),
        ("globalconf_good_v3", "EE", 3),
        ("globalconf_good_v4", "EE", 4),
        ("globalconf_good_v5", "EE", 5),
        ("globalconf_good_v6", "EE", 6),
        ("globalconf_good2_v3", "DEV", 3),
    ] {
        let d = dir(name);
        assert_eq!(d.instance(), instance, "{name}");
        assert_eq!(d.own().map(|p| p.version), Some(own_version), "{name}");
        assert!(d.skipped.is_empty(), "{name}: {:?}", d.skipped);
        d.trust_context().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn global_conf_test_queries_on_v2() {
    let d = dir("globalconf_good_v2");
    let ee = d.own().unwrap();
    let members: Vec<String> = ee.members.iter().map(|m| m.to_rest()).collect();
    assert_eq!(
        members,
        [
            "EE/BUSINESS/producer",
            "EE/BUSINESS/consumer",
            "EE/BUSINESS/foo",
            "EE/BUSINESS/foo/foosubsystem"
        ]
    );
    let mut consumer = ee.provider_addresses(&client("EE/BUSINESS/consumer"));
    consumer.sort_unstable();
    assert_eq!(consumer, ["127.0.0.1", "https://www.foo.com/bar"]);
    assert_eq!(
        ee.provider_addresses(&client("EE/BUSINESS/producer")),
        ["127.0.0.1"]
    );
    let codes: Vec<&str> = ee
        .security_servers
        .iter()
        .map(|s| s.server_code.as_str())
        .collect();
    assert_eq!(
        codes,
        [
            "producerServerCode",
            "consumerServerCode",
            "fooServerCode",
            "FooBarServerCode"
        ]
    );
    // getServerId: the v2 authCertHash is the SHA-1 of the certificate.
    let by_cert = ee.server_by_auth_cert(&cert("producer.pem")).unwrap();
    assert_eq!(
        by_cert.id().unwrap().to_string(),
        "SERVER:EE/BUSINESS/foo/fooServerCode"
    );
    // getServerOwner.
    assert_eq!(
        ee.server(&server("EE/BUSINESS/producer", "producerServerCode"))
            .map(|s| s.owner.to_rest()),
        Some("EE/BUSINESS/producer".into())
    );
    assert!(ee.server(&server("EE/BUSINESS/producer", "foo")).is_none());
    // isSecurityServerClient.
    let on = |c: &str, owner: &str, code: &str| {
        ee.is_security_server_client(&client(c), &server(owner, code))
    };
    assert!(on(
        "EE/BUSINESS/consumer",
        "EE/BUSINESS/producer",
        "producerServerCode"
    ));
    assert!(on(
        "EE/BUSINESS/producer",
        "EE/BUSINESS/producer",
        "producerServerCode"
    ));
    assert!(on(
        "EE/BUSINESS/foo/foosubsystem",
        "EE/BUSINESS/producer",
        "producerServerCode"
    ));
    assert!(!on(
        "EE/xx/foo/foosubsystem",
        "EE/BUSINESS/producer",
        "producerServerCode"
    ));
    assert!(!on("EE/BUSINESS/consumer", "EE/BUSINESS/producer", "foo"));
    assert!(!on(
        "EE/BUSINESS/foo/foosubsystem",
        "EE/BUSINESS/foo",
        "FooBarServerCode"
    ));
    // Central services and global settings.
    assert_eq!(ee.central_services[0].0, "central1");
    assert_eq!(
        ee.central_services[0].1.to_string(),
        "SERVICE:EE/BUSINESS/foobar/bazservice"
    );
    assert_eq!(ee.ocsp_freshness_seconds, Some(42));
}

#[test]
fn global_group_membership_in_v2_v3_and_v4() {
    for name in [
        "globalconf_good_v2",
        "globalconf_good_v3",
        "globalconf_good_v4",
    ] {
        let d = dir(name);
        let ee = d.own().unwrap();
        assert!(
            ee.is_in_global_group(&client("EE/BUSINESS/member1/subsys"), "Test group"),
            "{name}"
        );
        assert!(
            ee.is_in_global_group(&client("EE/BUSINESS/member2"), "Test group"),
            "{name}"
        );
        assert!(
            !ee.is_in_global_group(&client("EE/BUSINESS/member2/subsys"), "Test group"),
            "{name}"
        );
        assert!(
            !ee.is_in_global_group(&client("EE/BUSINESS/member2"), "non-existent-group"),
            "{name}"
        );
        assert_eq!(ee.global_groups[0].description, "Description", "{name}");
    }
}

#[test]
fn broken_directories_are_reported() {
    let malformed = dir("globalconf_malformed");
    assert_eq!(
        malformed.skipped.len(),
        1,
        "the unparseable part is skipped"
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/xroad-7.8/globalconf/globalconf_missing_identifier");
    let e = ConfigurationDirectory::load(&path).unwrap_err();
    assert_eq!(
        e.fault_code(xroad_fault::Spelling::Current),
        "malformed_global_conf"
    );
    assert!(
        e.message().contains("instance-identifier"),
        "{}",
        e.message()
    );
    let empty = dir("globalconf_empty");
    assert!(empty.own().is_none());
}

#[test]
fn private_parameters_of_v2() {
    let d = dir("globalconf_good_v2");
    let p = d.own_private().unwrap().unwrap();
    assert_eq!(p.instance, "EE");
    assert_eq!(p.management_service_address, "http://mgmt.com:1234");
    assert_eq!(
        p.management_request_service_provider.unwrap().to_string(),
        "MEMBER:EE/BUSINESS/servicemember2"
    );
    assert_eq!(p.time_stamping_interval_seconds, Some(123));
    assert_eq!(p.federation.len(), 1);
    assert_eq!(p.federation[0].instance, "bar");
    assert_eq!(p.federation[0].download_urls, ["http://www.bar.com/conf"]);
    for name in [
        "globalconf_good_v3",
        "globalconf_good_v4",
        "globalconf_good_v5",
        "globalconf_good_v6",
    ] {
        let p = dir(name).own_private().unwrap().unwrap();
        assert_eq!(p.instance, "EE", "{name}");
    }
}

#[test]
fn version_6_names_maintenance_and_cost_types() {
    use xroad_globalconf::PrioritizationStrategy as S;
    let d = dir("globalconf_good_v6");
    let ee = d.own().unwrap();
    let foo = client("EE/BUSINESS/foo");
    assert_eq!(ee.member_name(&foo), Some("Org with no address"));
    let sub = client("EE/BUSINESS/foo/foosubsystem");
    assert_eq!(ee.subsystem_name(&sub), Some("FOO Subsystem"));
    assert_eq!(ee.member_name(&sub), Some("Org with no address"));
    assert_eq!(
        ee.subsystem_name(&client("EE/BUSINESS/foo/barsubsystemId")),
        None
    );
    assert!(ee.has_member(&sub));

    assert_eq!(
        ee.maintenance(&server("EE/BUSINESS/foo", "FooBarServerCode")),
        Some("Test maintenance mode")
    );
    assert_eq!(
        ee.maintenance(&server("EE/BUSINESS/foo", "fooServerCode")),
        None
    );
    // The servers hosting a client, in file order: as owner and as client.
    let hosting: Vec<&str> = ee
        .servers_hosting(&foo)
        .map(|s| s.server_code.as_str())
        .collect();
    assert_eq!(
        hosting,
        ["producerServerCode", "fooServerCode", "FooBarServerCode"]
    );
    assert_eq!(
        ee.provider_addresses(&foo),
        ["127.0.0.1", "https://foo.bar.baz"]
    );

    // pki1's top CA lists: 8082 FREE, ocsp PAID, ocsp2 PAID, ocsp3 (none), ocsp4 FREE.
    let top = &ee.approved_cas[0].top.cert;
    let urls = |s: S| -> Vec<String> {
        ee.ocsp_responder_urls(top, s)
            .into_iter()
            .map(|u| u.trim_start_matches("http://").to_owned())
            .collect()
    };
    let n = "www.example.net/";
    assert_eq!(
        urls(S::None),
        [
            "127.0.0.1:8082/ocsp".to_owned(),
            format!("{n}ocsp"),
            format!("{n}ocsp2"),
            format!("{n}ocsp3"),
            format!("{n}ocsp4")
        ]
    );
    assert_eq!(
        urls(S::FreeFirst),
        [
            "127.0.0.1:8082/ocsp".to_owned(),
            format!("{n}ocsp4"),
            format!("{n}ocsp"),
            format!("{n}ocsp2"),
            format!("{n}ocsp3")
        ]
    );
    assert_eq!(
        urls(S::PaidFirst),
        [
            format!("{n}ocsp"),
            format!("{n}ocsp2"),
            "127.0.0.1:8082/ocsp".to_owned(),
            format!("{n}ocsp4"),
            format!("{n}ocsp3")
        ]
    );
    assert_eq!(
        urls(S::OnlyFree),
        ["127.0.0.1:8082/ocsp".to_owned(), format!("{n}ocsp4")]
    );
    assert_eq!(
        urls("only_paid".parse().unwrap()),
        [format!("{n}ocsp"), format!("{n}ocsp2")]
    );
    assert_eq!(ee.tsa_urls(S::OnlyFree), Vec::<&str>::new());
    assert_eq!(ee.tsa_urls(S::PaidFirst), ["http://www.foo.bar"]);
    // Before version 6 cost types do not exist: file order whatever the strategy.
    let v5 = dir("globalconf_good_v5");
    let v5ee = v5.own().unwrap();
    let top5 = &v5ee.approved_cas[0].top.cert;
    assert_eq!(
        v5ee.ocsp_responder_urls(top5, S::OnlyPaid),
        v5ee.ocsp_responder_urls(top5, S::None)
    );
}
