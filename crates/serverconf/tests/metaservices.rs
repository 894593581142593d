//! What the metaservices read from a snapshot: services in configuration order with their
//! endpoints, and the endpoints access rights grant a client.

use xroad_serverconf::{Config, DescriptionType, Endpoint, ServerConfSnapshot};

const YAML: &str = r#"
server: { owner: DEV/GOV/1234, server_code: SS1 }
clients:
  - id: DEV/GOV/1234
  - id: DEV/GOV/1234/registry
    service_descriptions:
      - type: WSDL
        url: http://is.example/persons.wsdl
        services:
          - { code: getPerson, version: v1, url: http://is.example/soap }
          - { code: listPersons, url: http://is.example/soap }
      - type: OPENAPI3
        url: http://is.example/openapi.yaml
        services:
          - code: persons
            url: http://is.example/api
            endpoints:
              - { method: GET, path: /persons }
              - { method: GET, path: /persons/* }
              - { method: POST, path: /persons }
    local_groups:
      - { code: auditors, members: [DEV/COM/1111] }
    access_rights:
      - { service: getPerson, subjects: [SUBSYSTEM:DEV/COM/2222/crm] }
      - { service: persons, method: GET, path: /persons/*, subjects: [SUBSYSTEM:DEV/COM/2222/crm, LOCALGROUP:auditors] }
      - { service: persons, method: POST, path: /persons, subjects: [LOCALGROUP:auditors] }
"#;

fn id(s: &str) -> xroad_identifiers::ClientId {
    let p: Vec<&str> = s.split('/').collect();
    match p.as_slice() {
        [i, c, m] => xroad_identifiers::ClientId::member(*i, *c, *m).unwrap(),
        [i, c, m, sub] => xroad_identifiers::ClientId::subsystem(*i, *c, *m, *sub).unwrap(),
        _ => panic!("bad id {s}"),
    }
}

#[test]
fn provided_services_keep_configuration_order_and_endpoints() {
    let config = Config::from_yaml(YAML).unwrap();
    let snap = ServerConfSnapshot::build(&config, 1, None);
    let list = snap.provided_services(&id("DEV/GOV/1234/registry"));
    let codes: Vec<(&str, Option<&str>, DescriptionType)> = list
        .iter()
        .map(|s| (s.code.as_str(), s.version.as_deref(), s.description_type))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("getPerson", Some("v1"), DescriptionType::Wsdl),
            ("listPersons", None, DescriptionType::Wsdl),
            ("persons", None, DescriptionType::OpenApi3),
        ]
    );
    assert_eq!(list[0].description_url, "http://is.example/persons.wsdl");
    assert_eq!(
        list[2].endpoints,
        vec![
            Endpoint {
                method: "GET".into(),
                path: "/persons".into()
            },
            Endpoint {
                method: "GET".into(),
                path: "/persons/*".into()
            },
            Endpoint {
                method: "POST".into(),
                path: "/persons".into()
            },
        ]
    );
    assert!(snap.provided_services(&id("DEV/GOV/1234")).is_empty());
    assert!(snap.provided_services(&id("DEV/GOV/9999")).is_empty());
}

#[test]
fn granted_endpoints_follow_clients_and_local_groups() {
    let config = Config::from_yaml(YAML).unwrap();
    let snap = ServerConfSnapshot::build(&config, 1, None);
    let provider = id("DEV/GOV/1234/registry");
    let crm = id("DEV/COM/2222/crm");
    let auditor = id("DEV/COM/1111");
    assert_eq!(
        snap.granted_endpoints(&crm, &provider, "getPerson").len(),
        1
    );
    assert!(snap.granted_endpoints(&crm, &provider, "getPerson")[0].matches(None, None));
    assert!(snap
        .granted_endpoints(&crm, &provider, "listPersons")
        .is_empty());
    assert!(snap
        .granted_endpoints(&auditor, &provider, "getPerson")
        .is_empty());
    let crm_rest = snap.granted_endpoints(&crm, &provider, "persons");
    assert_eq!(crm_rest.len(), 1);
    assert!(crm_rest[0].matches(Some("GET"), Some("/persons/*")));
    assert!(!crm_rest[0].matches(Some("GET"), Some("/persons")));
    assert_eq!(
        snap.granted_endpoints(&auditor, &provider, "persons").len(),
        2
    );
}
