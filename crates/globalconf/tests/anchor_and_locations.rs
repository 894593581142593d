//! Configuration anchors (`ConfigurationAnchorTest`) and the download locations shared
//! parameters offer (`SharedParametersConfigurationLocationsTest`).

use std::path::PathBuf;

use xroad_crypto::DigestAlgorithm;
use xroad_globalconf::{ConfigurationAnchor, SharedParameters};

fn vector(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors/xroad-7.8")
        .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn read_anchor_v2() {
    let a = ConfigurationAnchor::parse(&vector("globalconf/configuration-anchor1.xml")).unwrap();
    assert_eq!(a.instance, "EE");
    assert_eq!(a.sources.len(), 3);
    assert_eq!(a.sources[0].download_url, "http://www.bar.com/conf");
    let sha1: Vec<String> = a.sources[0]
        .verification_certs
        .iter()
        .map(|c| c.hash(DigestAlgorithm::Sha1).to_base64())
        .collect();
    assert!(
        sha1.contains(&"t7+jfR1wnsN1EBtBpCt/q8JIasg=".to_owned()),
        "{sha1:?}"
    );
    assert!(
        sha1.contains(&"4HCV0OGOaz4mJauIZvrt7A3RdfM=".to_owned()),
        "{sha1:?}"
    );
    assert_eq!(
        a.sources[1].download_url,
        "http://node-0x.example.com/internalconf"
    );
    assert_eq!(
        a.sources[2].download_url,
        "http://node-1x.example.com/internalconf"
    );
    // equalsAnchorV2: equal to itself parsed again, not to anchor2.
    let again =
        ConfigurationAnchor::parse(&vector("globalconf/configuration-anchor1.xml")).unwrap();
    assert_eq!(a, again);
    let other =
        ConfigurationAnchor::parse(&vector("globalconf/configuration-anchor2.xml")).unwrap();
    assert_ne!(a, other);
    assert_eq!(other.sources.len(), 1);
    assert_eq!(other.sources[0].download_url, "http://www.bar.com/conf2");
    // The copy in the confclient vectors is the same anchor.
    assert_eq!(
        ConfigurationAnchor::parse(&vector("confclient/configuration-anchor1.xml")).unwrap(),
        a
    );
}

#[test]
fn broken_anchors_are_malformed_anchor() {
    for bad in [
        &b"<conf/>"[..],
        b"not xml",
        b"<a><instanceIdentifier>EE</instanceIdentifier></a>",
    ] {
        let e = ConfigurationAnchor::parse(bad).unwrap_err();
        assert_eq!(
            e.fault_code(xroad_fault::Spelling::Current),
            "malformed_anchor"
        );
    }
    let e = ConfigurationAnchor::load(std::path::Path::new("/nonexistent/anchor.xml")).unwrap_err();
    assert_eq!(
        e.fault_code(xroad_fault::Spelling::Current),
        "anchor_file_not_found"
    );
}

#[test]
fn shared_parameters_configuration_locations() {
    let v3 = SharedParameters::parse(&vector("confclient/V3/EE/shared-params.xml")).unwrap();
    let urls = |loc: &str| -> Vec<(String, usize)> {
        v3.configuration_locations(loc)
            .into_iter()
            .map(|(u, c)| (u, c.len()))
            .collect()
    };
    assert_eq!(
        urls("http://domainAddress/internalconf"),
        [
            ("https://node1/internalconf".to_owned(), 1),
            ("http://node1/internalconf".to_owned(), 1)
        ]
    );
    assert_eq!(
        urls("http://domainAddress/externalconf"),
        [
            ("https://node1/externalconf".to_owned(), 1),
            ("http://node1/externalconf".to_owned(), 1)
        ]
    );
    assert_eq!(
        urls("http://domainAddress/PROXY/conf"),
        [
            ("https://node1/PROXY/conf".to_owned(), 2),
            ("http://node1/PROXY/conf".to_owned(), 2)
        ]
    );
    assert!(urls("http://notMatchFormat").is_empty());
    let many =
        SharedParameters::parse(&vector("confclient/V3-many-nodes/EE/shared-params.xml")).unwrap();
    let got: Vec<String> = many
        .configuration_locations("http://domainAddress/internalconf")
        .into_iter()
        .map(|l| l.0)
        .collect();
    assert_eq!(got.len(), 6);
    assert!(
        got[..3].iter().all(|u| u.starts_with("https://"))
            && got[3..].iter().all(|u| u.starts_with("http://"))
    );
    let v2 = SharedParameters::parse(&vector("confclient/V2/EE/shared-params.xml")).unwrap();
    assert!(v2
        .configuration_locations("http://domainAddress/confDir")
        .is_empty());
}
