//! The store, apply/export and snapshots, each test run against SQLite and PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestDb;
use xroad_globalconf::{GlobalGroup, SecurityServer, SharedParameters};
use xroad_identifiers::{ClientId, ServiceId};
use xroad_serverconf::{
    watch_snapshots, Change, ClientStatus, Config, IsAuthentication, ServerConfSnapshot, Store,
    StoreError, Subject, SCHEMA_VERSION,
};

const EXAMPLE: &str = include_str!("../../../docs/examples/serverconf.yaml");

fn example() -> Config {
    Config::from_yaml(EXAMPLE).expect("the documented example parses")
}

fn client(s: &str) -> ClientId {
    ClientId::from_rest(s).expect("client id")
}

fn service(s: &str, version: Option<&str>) -> ServiceId {
    let (provider, code) = s.rsplit_once('/').expect("service id");
    ServiceId::new(client(provider), code, version.map(Into::into)).expect("service id")
}

/// The global configuration of the example's instance: SS1 hosts the owner and `registry`
/// (not `consumer`); two global groups.
fn globalconf() -> SharedParameters {
    SharedParameters {
        instance: "DEV".into(),
        security_servers: vec![SecurityServer {
            owner: client("DEV/GOV/1234"),
            server_code: "SS1".into(),
            address: Some("ss1.example.org".into()),
            auth_cert_hashes: vec![],
            clients: vec![client("DEV/GOV/1234/registry")],
            in_maintenance: None,
        }],
        global_groups: vec![
            GlobalGroup {
                code: "security-server-owners".into(),
                description: String::new(),
                members: vec![client("DEV/GOV/9999")],
            },
            GlobalGroup {
                code: "statistics-readers".into(),
                description: String::new(),
                members: vec![client("DEV/COM/2222/crm")],
            },
        ],
        version: 3,
        ..Default::default()
    }
}

async fn open(db: &TestDb) -> Store {
    Store::open(&db.url).await.expect("open store")
}

async fn fresh_store_is_migrated_and_empty(db: TestDb) {
    let store = open(&db).await;
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    let (config, version) = store.load().await.unwrap();
    assert_eq!(config, Config::default());
    assert_eq!(version, 0);
    // Opening again applies nothing twice.
    store.close().await;
    let store = open(&db).await;
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
}

async fn newer_schema_is_refused(db: TestDb) {
    let store = open(&db).await;
    store.close().await;
    {
        use sqlx::Connection;
        let q = "INSERT INTO schema_version (version, description, applied_at) VALUES (99, 'future', 'now')";
        if db.url.starts_with("postgres") {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query(q).execute(&mut c).await.unwrap();
        } else {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query(q).execute(&mut c).await.unwrap();
        }
    }
    match Store::open(&db.url).await {
        Err(e @ StoreError::SchemaTooNew { found: 99, .. }) => {
            assert!(e.to_string().contains("newer"), "{e}")
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

async fn example_round_trips(db: TestDb) {
    let store = open(&db).await;
    let first = store.apply(&example(), false).await.unwrap();
    assert!(first.changes.len() > 20, "{:?}", first.changes);
    assert!(first.changes.iter().all(|c| matches!(c, Change::Add(_))));
    assert_eq!(first.version, 1);

    // Applying the same document again changes nothing.
    let again = store.apply(&example(), false).await.unwrap();
    assert_eq!(again.changes, vec![]);
    assert_eq!(again.version, 1);

    // export → apply is a no-op, and export is stable.
    let (loaded, _) = store.load().await.unwrap();
    let exported = loaded.to_yaml();
    let reparsed = Config::from_yaml(&exported).unwrap();
    let noop = store.apply(&reparsed, false).await.unwrap();
    assert_eq!(noop.changes, vec![], "{exported}");
    assert_eq!(store.load().await.unwrap().0.to_yaml(), exported);
    let mut expected = example();
    expected.normalize();
    let mut loaded = loaded;
    loaded.normalize();
    assert_eq!(loaded, expected);
}

async fn apply_reports_and_makes_changes(db: TestDb) {
    let store = open(&db).await;
    store.apply(&example(), false).await.unwrap();
    let mut changed = example();
    // Remove the consumer, change a timeout, add a subject.
    changed
        .clients
        .retain(|c| c.id.0 != client("DEV/GOV/1234/consumer"));
    let registry = changed
        .client_mut(&client("DEV/GOV/1234/registry"))
        .unwrap();
    registry.service_descriptions[0].services[0].timeout = 10;
    registry.access_rights[1]
        .subjects
        .push("SUBSYSTEM:DEV/COM/3333/web".parse().unwrap());

    let dry = store.apply(&changed, true).await.unwrap();
    let text: Vec<String> = dry.changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        vec![
            "- client DEV/GOV/1234/consumer",
            "+ access-right DEV/GOV/1234/registry listPersons * ** SUBSYSTEM:DEV/COM/3333/web",
            "~ service DEV/GOV/1234/registry getPerson/v1",
        ]
    );
    assert_eq!(
        store.version().await.unwrap(),
        1,
        "a dry run writes nothing"
    );
    let real = store.apply(&changed, false).await.unwrap();
    assert_eq!(real.changes, dry.changes);
    assert_eq!(real.version, 2);
    assert_eq!(store.apply(&changed, false).await.unwrap().changes, vec![]);
}

async fn invalid_documents_change_nothing(db: TestDb) {
    let store = open(&db).await;
    store.apply(&example(), false).await.unwrap();
    let before = store.load().await.unwrap();

    // (edit, expected field, expected words)
    type Edit = fn(&mut String);
    let cases: &[(Edit, &str, &str)] = &[
        (
            |y| *y = y.replace("owner: DEV/GOV/1234 ", "owner: DEV/GOV/4321 "),
            "server.owner",
            "unknown client",
        ),
        (
            |y| *y = y.replace("- id: DEV/GOV/1234/consumer", "- id: DEV/GOV"),
            "clients[2]",
            "invalid client identifier",
        ),
        (
            |y| *y = y.replace("code: listPersons", "code: getPerson"),
            "clients[1].service_descriptions[0].services[1].code",
            "duplicate service",
        ),
        (
            |y| {
                *y = y.replace(
                    "path: /persons/*\n        subjects",
                    "path: /persons/../*\n        subjects",
                )
            },
            "clients[1].access_rights[2].path",
            "invalid path pattern",
        ),
        (
            |y| {
                *y = y.replace(
                    "{ method: GET, path: /persons }",
                    "{ method: GET, path: persons }",
                )
            },
            "clients[1].service_descriptions[1].services[0].endpoints[0].path",
            "invalid path pattern",
        ),
        (
            |y| {
                *y = y.replace(
                    "LOCALGROUP:auditors\n      - service: listPersons",
                    "LOCALGROUP:nobody\n      - service: listPersons",
                )
            },
            "clients[1].access_rights[0].subjects[2]",
            "unknown local group",
        ),
        (
            |y| *y = y.replace("MEMBER:DEV/COM/1111", "MEMBER:DEV/COM/1111/sub"),
            "clients[1].access_rights",
            "invalid subject",
        ),
        (
            |y| *y = y.replace("- service: stats", "- service: nostats"),
            "clients[1].access_rights[5].service",
            "unknown service",
        ),
        (
            |y| *y = y.replace("is_authentication: NOSSL", "is_authentication: MAYBE"),
            "clients[2]",
            "unknown variant",
        ),
    ];
    for (i, (edit, field, words)) in cases.iter().enumerate() {
        let mut yaml = EXAMPLE.to_owned();
        edit(&mut yaml);
        assert_ne!(yaml, EXAMPLE, "case {i} edits the example");
        let err = match Config::from_yaml(&yaml) {
            Err(e) => e,
            Ok(doc) => match store.apply(&doc, false).await {
                Err(StoreError::Invalid(e)) => e,
                other => panic!("case {i}: expected an invalid document, got {other:?}"),
            },
        };
        assert!(
            err.field.starts_with(field) && err.to_string().contains(words),
            "case {i}: {err}"
        );
    }
    assert_eq!(
        store.load().await.unwrap(),
        before,
        "the store is untouched"
    );
}

async fn update_edits_one_entity(db: TestDb) {
    let store = open(&db).await;
    store.apply(&example(), false).await.unwrap();
    let consumer = client("DEV/GOV/1234/consumer");
    let out = store
        .update(|c| {
            c.client_mut(&consumer).unwrap().is_authentication = IsAuthentication::SslNoAuth;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(out.changes.len(), 1);
    let (config, version) = store.load().await.unwrap();
    assert_eq!(version, 2);
    assert_eq!(
        config.client(&consumer).unwrap().is_authentication,
        IsAuthentication::SslNoAuth
    );
    // An edit that makes the document invalid is refused as a whole.
    let err = store
        .update(|c| {
            c.client_mut(&consumer)
                .unwrap()
                .access_rights
                .push(xroad_serverconf::AccessRight {
                    service: "nothing".into(),
                    method: "*".into(),
                    path: "**".into(),
                    subjects: vec![Subject::Client(consumer.clone())],
                });
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown service"), "{err}");
    assert_eq!(store.version().await.unwrap(), 2);
}

async fn snapshot_has_clients_services_and_statuses(db: TestDb) {
    let store = open(&db).await;
    store.apply(&example(), false).await.unwrap();
    let (config, version) = store.load().await.unwrap();
    let gc = globalconf();
    let snap = ServerConfSnapshot::build(&config, version, Some(&gc));
    assert_eq!(snap.version(), 1);
    assert_eq!(snap.server_id().unwrap().server_code(), "SS1");

    let registry = snap.client(&client("DEV/GOV/1234/registry")).unwrap();
    assert_eq!(registry.status, ClientStatus::Registered);
    assert!(registry.is_usable());
    assert_eq!(registry.is_authentication, IsAuthentication::SslAuth);
    assert_eq!(registry.certificates.len(), 1);
    assert!(registry.has_certificate(&registry.certificates[0].clone()));
    assert_eq!(
        snap.client(&client("DEV/GOV/1234")).unwrap().status,
        ClientStatus::Registered,
        "the owner is listed as the server's owner"
    );
    let consumer = snap.client(&client("DEV/GOV/1234/consumer")).unwrap();
    assert_eq!(consumer.status, ClientStatus::NotRegistered);
    assert!(!consumer.is_usable());
    assert_eq!(consumer.is_authentication, IsAuthentication::NoSsl);
    assert!(snap.client(&client("DEV/GOV/1234/other")).is_none());

    let without_gc = ServerConfSnapshot::build(&config, version, None);
    assert_eq!(
        without_gc
            .client(&client("DEV/GOV/1234/registry"))
            .unwrap()
            .status,
        ClientStatus::Unknown
    );

    let get_person = snap
        .service(&service("DEV/GOV/1234/registry/getPerson", Some("v1")))
        .unwrap();
    assert_eq!(
        get_person.url.as_deref(),
        Some("https://registry.example.org/soap")
    );
    assert_eq!(get_person.timeout, Duration::from_secs(30));
    assert!(get_person.ssl_authentication);
    assert_eq!(get_person.disabled_notice, None);
    assert!(snap
        .service(&service("DEV/GOV/1234/registry/getPerson", None))
        .is_none());
    assert!(snap
        .service(&service("DEV/GOV/1234/registry/getPerson", Some("v2")))
        .is_none());
    let list = snap
        .service(&service("DEV/GOV/1234/registry/listPersons", Some("v1")))
        .unwrap();
    assert!(!list.ssl_authentication);
    assert_eq!(list.timeout, Duration::from_secs(60));
    let stats = snap
        .service(&service("DEV/GOV/1234/registry/stats", None))
        .unwrap();
    assert_eq!(
        stats.disabled_notice.as_deref(),
        Some("Statistics are under maintenance until Monday.")
    );
}

/// Access decisions as a matrix: (client, service, method, path, allowed).
async fn access_matrix(db: TestDb) {
    let store = open(&db).await;
    store.apply(&example(), false).await.unwrap();
    let (config, version) = store.load().await.unwrap();
    let gc = globalconf();
    let snap = ServerConfSnapshot::build(&config, version, Some(&gc));

    let crm = "DEV/COM/2222/crm";
    let crm_member = "DEV/COM/2222";
    let auditor = "DEV/GOV/5678/audit"; // local group auditors
    let auditor_member = "DEV/COM/1111"; // local group auditors, and a direct member grant
    let owner_group = "DEV/GOV/9999"; // global group security-server-owners
    let stranger = "DEV/COM/3333/web";
    let get_person = ("getPerson", Some("v1"));
    let list_persons = ("listPersons", Some("v1"));
    let persons = ("persons", None);
    let stats = ("stats", None);
    type Row<'a> = (
        &'a str,
        (&'a str, Option<&'a str>),
        Option<&'a str>,
        Option<&'a str>,
        bool,
    );
    let rows: &[Row] = &[
        // SOAP: subject kinds.
        (crm, get_person, None, None, true),
        (crm_member, get_person, None, None, false), // a member grant does not cover subsystems, nor the reverse
        (owner_group, get_person, None, None, true), // global group
        (auditor, get_person, None, None, true),     // local group
        (auditor_member, get_person, None, None, true),
        (stranger, get_person, None, None, false),
        (auditor_member, list_persons, None, None, true), // direct member grant
        (crm, list_persons, None, None, false),
        // Versions do not matter to access rights (they are per service code).
        (crm, ("getPerson", Some("v2")), None, None, true),
        // REST endpoints.
        (crm, persons, Some("GET"), Some("/persons/42"), true),
        (crm, persons, Some("get"), Some("/persons/42"), true), // method ignores case
        (crm, persons, Some("GET"), Some("/persons"), false),   // only /persons/* was granted
        (
            crm,
            persons,
            Some("GET"),
            Some("/persons/42/address"),
            false,
        ), // * is one segment
        (crm, persons, Some("DELETE"), Some("/persons/42"), false),
        (crm, persons, Some("POST"), Some("/persons"), true),
        (crm, persons, Some("POST"), Some("/persons/"), false),
        (crm, persons, None, None, false), // a SOAP-style check only matches the base endpoint
        (crm, persons, Some("GET"), Some("/admin/users"), false),
        (
            auditor,
            persons,
            Some("DELETE"),
            Some("/admin/users/1"),
            true,
        ), // /admin/** for auditors
        (auditor, persons, Some("GET"), Some("/persons/7"), true),
        (auditor, persons, Some("POST"), Some("/persons"), false),
        (owner_group, persons, Some("GET"), Some("/persons/7"), false),
        // Paths are decoded and normalised before matching; traversal is refused.
        (crm, persons, Some("GET"), Some("/persons/%34%32"), true),
        (crm, persons, Some("GET"), Some("/persons/./42"), true),
        (crm, persons, Some("GET"), Some("/x/../persons/42"), true), // resolved: /persons/42
        (crm, persons, Some("GET"), Some("/persons/42/.."), true), // "/persons/": * matches an empty segment
        (
            crm,
            persons,
            Some("GET"),
            Some("/persons/../admin/users"),
            false,
        ),
        (
            auditor,
            persons,
            Some("GET"),
            Some("/admin/../../etc/passwd"),
            false,
        ),
        (
            auditor,
            persons,
            Some("GET"),
            Some("/admin/%2e%2e/%2e%2e/etc/passwd"),
            false,
        ),
        (
            auditor,
            persons,
            Some("GET"),
            Some("/admin/%2E%2E/%2E%2E/x"),
            false,
        ),
        (
            auditor,
            persons,
            Some("GET"),
            Some("/admin/%252e%252e/x"),
            false,
        ),
        (
            auditor,
            persons,
            Some("GET"),
            Some("/admin/..%2f..%2fx"),
            false,
        ),
        (auditor, persons, Some("GET"), Some("/admin/a..b"), false),
        (auditor, persons, Some("GET"), Some("/admin/%2e%2e"), false), // resolves to "/", outside /admin/**
        (crm, persons, Some("GET"), Some("/persons%2F42"), true),      // %2F decodes to '/'
        (crm, persons, Some("GET"), Some("/persons/4 2"), false),      // not a valid path
        (crm, persons, Some("GET"), Some("/persons/%zz"), false),
        // Disabled services still have rights; the proxy answers with the notice.
        (crm, stats, Some("GET"), Some("/daily"), true), // global group statistics-readers
        (owner_group, stats, Some("GET"), Some("/daily"), false),
        // Unknown services and providers.
        (crm, ("nothing", None), None, None, false),
    ];
    let provider = "DEV/GOV/1234/registry";
    let mut failures = Vec::new();
    for (i, &(who, (code, version), method, path, expected)) in rows.iter().enumerate() {
        let s = service(&format!("{provider}/{code}"), version);
        let got = snap.is_query_allowed(&client(who), &s, method, path);
        if got != expected {
            failures.push(format!(
                "row {i}: {who} → {code} {method:?} {path:?}: got {got}"
            ));
        }
    }
    let other = service("DEV/GOV/1234/getPerson", Some("v1"));
    assert!(!snap.is_query_allowed(&client(crm), &other, None, None));
    assert!(failures.is_empty(), "{failures:#?}");

    // Without a global configuration, global-group grants give nothing.
    let no_gc = ServerConfSnapshot::build(&config, version, None);
    let gp = service(&format!("{provider}/getPerson"), Some("v1"));
    assert!(!no_gc.is_query_allowed(&client(owner_group), &gp, None, None));
    assert!(no_gc.is_query_allowed(&client(crm), &gp, None, None));
}

async fn two_nodes_share_changes(db: TestDb) {
    let node_a = open(&db).await;
    let node_b = open(&db).await;
    let (_gc_tx, gc_rx) = tokio::sync::watch::channel(Some(Arc::new(globalconf())));
    let (mut snap_b, task_b) = watch_snapshots(node_b, gc_rx, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(snap_b.borrow().version(), 0);
    let start = Instant::now();
    node_a.apply(&example(), false).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(2),
        snap_b.wait_for(|s| s.version() == 1),
    )
    .await
    .expect("node B sees node A's change within 2 s")
    .unwrap();
    let elapsed = start.elapsed();
    let snap = snap_b.borrow().clone();
    assert!(snap
        .client(&client("DEV/GOV/1234/registry"))
        .is_some_and(|c| c.is_usable()));
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    task_b.abort();
}

async fn snapshot_follows_global_configuration(db: TestDb) {
    let store = open(&db).await;
    store.apply(&example(), false).await.unwrap();
    let (gc_tx, gc_rx) = tokio::sync::watch::channel(None);
    // A long poll interval: only the global configuration change can trigger the rebuild.
    let (mut snaps, task) = watch_snapshots(store, gc_rx, Duration::from_secs(3600))
        .await
        .unwrap();
    let consumer = client("DEV/GOV/1234/consumer");
    assert_eq!(
        snaps.borrow().client(&consumer).unwrap().status,
        ClientStatus::Unknown
    );
    let mut gc = globalconf();
    gc_tx.send_replace(Some(Arc::new(gc.clone())));
    let snap = tokio::time::timeout(
        Duration::from_secs(2),
        snaps.wait_for(|s| {
            s.client(&consumer)
                .is_some_and(|c| c.status != ClientStatus::Unknown)
        }),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    assert_eq!(
        snap.client(&consumer).unwrap().status,
        ClientStatus::NotRegistered
    );
    // The central server approves the consumer's registration.
    gc.security_servers[0].clients.push(consumer.clone());
    gc_tx.send_replace(Some(Arc::new(gc.clone())));
    tokio::time::timeout(
        Duration::from_secs(2),
        snaps.wait_for(|s| s.client(&consumer).is_some_and(|c| c.is_usable())),
    )
    .await
    .unwrap()
    .unwrap();
    // And removes it again.
    gc.security_servers[0].clients.clear();
    gc_tx.send_replace(Some(Arc::new(gc)));
    tokio::time::timeout(
        Duration::from_secs(2),
        snaps.wait_for(|s| s.client(&consumer).is_some_and(|c| !c.is_usable())),
    )
    .await
    .unwrap()
    .unwrap();
    task.abort();
}

async fn concurrent_updates_do_not_lose_changes(db: TestDb) {
    let a = open(&db).await;
    let b = open(&db).await;
    a.apply(&example(), false).await.unwrap();
    let registry = client("DEV/GOV/1234/registry");
    let mut tasks = Vec::new();
    for (i, store) in [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
    {
        let registry = registry.clone();
        tasks.push(tokio::spawn(async move {
            store
                .update(move |c| {
                    let r = c.client_mut(&registry).unwrap();
                    r.local_groups[0]
                        .members
                        .push(format!("DEV/COM/{}", 7000 + i).parse().unwrap());
                    Ok(())
                })
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let (config, version) = a.load().await.unwrap();
    assert_eq!(version, 5);
    assert_eq!(
        config.client(&registry).unwrap().local_groups[0]
            .members
            .len(),
        6
    );
}

/// Text that JSON must escape (quotes, backslashes, line breaks, control characters,
/// non-ASCII), absent optional values and both boolean values survive the packed read.
async fn awkward_text_round_trips(db: TestDb) {
    let store = open(&db).await;
    let awkward = "q\"u\\o\te\n\r\u{1}]},[ üõ 💡";
    let mut config = example();
    for client in &mut config.clients {
        for d in &mut client.service_descriptions {
            d.disabled = !d.disabled;
            d.disabled_notice = if d.disabled {
                Some(awkward.into())
            } else {
                None
            };
            for s in &mut d.services {
                s.title = s.title.is_none().then(|| awkward.to_owned());
                s.ssl_authentication = !s.ssl_authentication;
            }
        }
        for g in &mut client.local_groups {
            g.description = awkward.into();
        }
    }
    store.apply(&config, false).await.unwrap();
    let (mut loaded, _) = store.load().await.unwrap();
    loaded.normalize();
    config.normalize();
    assert_eq!(loaded, config);
    assert!(loaded.to_yaml().contains("üõ"));
}

both_backends!(
    fresh_store_is_migrated_and_empty,
    newer_schema_is_refused,
    example_round_trips,
    apply_reports_and_makes_changes,
    invalid_documents_change_nothing,
    update_edits_one_entity,
    snapshot_has_clients_services_and_statuses,
    access_matrix,
    two_nodes_share_changes,
    snapshot_follows_global_configuration,
    concurrent_updates_do_not_lose_changes,
    awkward_text_round_trips,
);

/// The Java sidecar's first start creates its database; so does ours, also when two nodes
/// start at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_postgres_database_is_created_on_first_open() {
    let db = common::postgres().await;
    let url = format!("{}_node", db.url);
    let (a, b) = tokio::join!(Store::open(&url), Store::open(&url));
    let (a, b) = (a.expect("first node"), b.expect("second node"));
    assert!(a.is_postgres() && b.is_postgres());
    a.close().await;
    b.close().await;
    let again = Store::open(&url).await.expect("reopened");
    again.close().await;
}
