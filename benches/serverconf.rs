//! Server configuration at the scale of a large security server: 1,000 clients, 10,000
//! services and 100,000 access rights (members, subsystems, local and global groups; SOAP
//! services and REST endpoints). Measures the proxy's per-request access decision and the
//! snapshot rebuild (from the document, and from an SQLite store).

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use xroad_globalconf::{GlobalGroup, SecurityServer, SharedParameters};
use xroad_identifiers::{ClientId, ServiceId};
use xroad_serverconf::{
    AccessRight, ClientConfig, Config, DescriptionType, Endpoint, Id, LocalGroup,
    ServerConfSnapshot, ServerSettings, Service, ServiceDescription, Store, Subject,
};

const CLIENTS: usize = 1_000;
const SERVICES_PER_CLIENT: usize = 10;
const RIGHTS_PER_SERVICE: usize = 10;

fn consumer(i: usize) -> ClientId {
    ClientId::subsystem(
        "EE",
        "COM",
        format!("{:08}", i % 5_000),
        format!("sub{}", i % 3),
    )
    .expect("id")
}

fn provider(c: usize) -> ClientId {
    ClientId::subsystem("EE", "GOV", format!("{c:08}"), "registry").expect("id")
}

/// Half the services are SOAP, half REST with four endpoints. Of each service's ten access
/// rights, eight name subsystems, one a local group (10 members), one a global group.
fn config() -> Config {
    let owner = ClientId::member("EE", "GOV", "00000000").expect("id");
    let mut clients = vec![ClientConfig::new(owner.clone())];
    let mut n = 0usize;
    for c in 0..CLIENTS {
        let mut client = ClientConfig::new(provider(c));
        client.local_groups.push(LocalGroup {
            code: "partners".into(),
            description: String::new(),
            members: (0..10).map(|k| Id(consumer(c * 7 + k))).collect(),
        });
        let mut soap = ServiceDescription {
            kind: DescriptionType::Wsdl,
            url: format!("http://is-{c}.example.org/service.wsdl"),
            disabled: false,
            disabled_notice: None,
            services: vec![],
        };
        for s in 0..SERVICES_PER_CLIENT {
            let code = format!("service{s}");
            let rest = s % 2 == 1;
            let (method, path) = if rest {
                ("GET", "/items/*")
            } else {
                ("*", "**")
            };
            if rest {
                client.service_descriptions.push(ServiceDescription {
                    kind: DescriptionType::OpenApi3,
                    url: format!("http://is-{c}.example.org/{code}/openapi.yaml"),
                    disabled: false,
                    disabled_notice: None,
                    services: vec![Service {
                        url: Some(format!("http://is-{c}.example.org/{code}")),
                        endpoints: vec![
                            Endpoint {
                                method: "GET".into(),
                                path: "/items".into(),
                            },
                            Endpoint {
                                method: "GET".into(),
                                path: "/items/*".into(),
                            },
                            Endpoint {
                                method: "POST".into(),
                                path: "/items".into(),
                            },
                            Endpoint {
                                method: "*".into(),
                                path: "/admin/**".into(),
                            },
                        ],
                        ..Service::new(code.as_str())
                    }],
                });
            } else {
                soap.services.push(Service {
                    version: Some("v1".into()),
                    url: Some(format!("http://is-{c}.example.org/soap")),
                    ..Service::new(code.as_str())
                });
            }
            let mut subjects: Vec<Subject> = (0..RIGHTS_PER_SERVICE - 2)
                .map(|_| {
                    n += 1;
                    Subject::Client(consumer(n))
                })
                .collect();
            subjects.push("LOCALGROUP:partners".parse().expect("subject"));
            subjects.push(
                format!("GLOBALGROUP:EE/group{}", c % 50)
                    .parse()
                    .expect("subject"),
            );
            client.access_rights.push(AccessRight {
                service: code,
                method: method.into(),
                path: path.into(),
                subjects,
            });
        }
        client.service_descriptions.push(soap);
        clients.push(client);
    }
    Config {
        server: Some(ServerSettings {
            owner: Id(owner),
            server_code: "SS1".into(),
            anchor: None,
        }),
        clients,
    }
}

fn globalconf() -> SharedParameters {
    SharedParameters {
        instance: "EE".into(),
        security_servers: vec![SecurityServer {
            owner: ClientId::member("EE", "GOV", "00000000").expect("id"),
            server_code: "SS1".into(),
            address: None,
            auth_cert_hashes: vec![],
            in_maintenance: None,
            clients: (0..CLIENTS).map(provider).collect(),
        }],
        global_groups: (0..50)
            .map(|g| GlobalGroup {
                code: format!("group{g}"),
                description: String::new(),
                members: (0..100).map(|k| consumer(g * 100 + k)).collect(),
            })
            .collect(),
        version: 3,
        ..Default::default()
    }
}

fn benches(c: &mut Criterion) {
    let config = config();
    config.validate().expect("valid benchmark configuration");
    let gc = globalconf();
    let snap = ServerConfSnapshot::build(&config, 1, Some(&gc));
    assert_eq!(
        snap.access_right_count(),
        CLIENTS * SERVICES_PER_CLIENT * RIGHTS_PER_SERVICE
    );

    // Client 500's SOAP service0 and REST service1; consumer(…) numbering as in config().
    let p = 500;
    let first = p * SERVICES_PER_CLIENT * (RIGHTS_PER_SERVICE - 2);
    let soap = ServiceId::new(provider(p), "service0", Some("v1".into())).expect("id");
    let rest = ServiceId::new(provider(p), "service1", None).expect("id");
    let direct = consumer(first + 1);
    let rest_direct = consumer(first + RIGHTS_PER_SERVICE - 2 + 1);
    let local_member = consumer(p * 7 + 3);
    let global_member = consumer((p % 50) * 100 + 42);
    let stranger = ClientId::subsystem("EE", "COM", "99999999", "x").expect("id");
    assert!(snap.is_query_allowed(&direct, &soap, None, None));
    assert!(snap.is_query_allowed(&local_member, &soap, None, None));
    assert!(snap.is_query_allowed(&global_member, &soap, None, None));
    assert!(snap.is_query_allowed(&rest_direct, &rest, Some("GET"), Some("/items/42")));
    assert!(!snap.is_query_allowed(
        &rest_direct,
        &rest,
        Some("GET"),
        Some("/items/%2e%2e/admin")
    ));
    assert!(!snap.is_query_allowed(&stranger, &soap, None, None));

    // Wall-clock figures suffer when other processes share the cores; the CPU time this
    // thread actually used per decision (from the scheduler's accounting) does not.
    for (name, client, service, method, path) in [
        ("soap_allowed_direct", &direct, &soap, None, None),
        (
            "soap_allowed_global_group",
            &global_member,
            &soap,
            None,
            None,
        ),
        ("soap_denied", &stranger, &soap, None, None),
        (
            "rest_allowed_path",
            &rest_direct,
            &rest,
            Some("GET"),
            Some("/items/42"),
        ),
        (
            "rest_denied_encoded_traversal",
            &rest_direct,
            &rest,
            Some("GET"),
            Some("/items/%2e%2e/admin/x"),
        ),
    ] {
        if let Some(ns) = cpu_ns_per_op(1_000_000, || {
            black_box(&snap).is_query_allowed(
                black_box(client),
                black_box(service),
                method,
                black_box(path),
            )
        }) {
            eprintln!("serverconf_access/{name}: {ns:.0} ns of CPU time per decision");
        }
    }

    let mut g = c.benchmark_group("serverconf_access");
    g.bench_function("soap_allowed_direct", |b| {
        b.iter(|| {
            black_box(&snap).is_query_allowed(black_box(&direct), black_box(&soap), None, None)
        })
    });
    g.bench_function("soap_allowed_global_group", |b| {
        b.iter(|| {
            black_box(&snap).is_query_allowed(
                black_box(&global_member),
                black_box(&soap),
                None,
                None,
            )
        })
    });
    g.bench_function("soap_denied", |b| {
        b.iter(|| {
            black_box(&snap).is_query_allowed(black_box(&stranger), black_box(&soap), None, None)
        })
    });
    g.bench_function("rest_allowed_path", |b| {
        b.iter(|| {
            black_box(&snap).is_query_allowed(
                black_box(&rest_direct),
                black_box(&rest),
                Some("GET"),
                Some(black_box("/items/42")),
            )
        })
    });
    g.bench_function("rest_denied_encoded_traversal", |b| {
        b.iter(|| {
            black_box(&snap).is_query_allowed(
                black_box(&rest_direct),
                black_box(&rest),
                Some("GET"),
                Some(black_box("/items/%2e%2e/admin/x")),
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("serverconf_rebuild");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("snapshot_build_100k_rights", |b| {
        b.iter(|| ServerConfSnapshot::build(black_box(&config), 1, Some(&gc)))
    });
    // The rebuild a node does when the store changed: read everything, then build.
    let dir = std::env::temp_dir().join(format!("serverconf-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = rt.block_on(Store::open(&url)).expect("store");
    rt.block_on(store.apply(&config, false)).expect("apply");
    g.bench_function("load_sqlite_and_build_100k_rights", |b| {
        b.iter(|| {
            rt.block_on(xroad_serverconf::load_snapshot(&store, Some(&gc)))
                .expect("load")
        })
    });
    g.finish();
    rt.block_on(store.close());
    let _ = std::fs::remove_dir_all(&dir);
}

/// CPU time of this thread per call of `f`, from `/proc/thread-self/schedstat` (Linux).
fn cpu_ns_per_op<R>(n: u32, mut f: impl FnMut() -> R) -> Option<f64> {
    let cpu = || -> Option<u64> {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    for _ in 0..n / 10 {
        black_box(f());
    }
    let start = cpu()?;
    for _ in 0..n {
        black_box(f());
    }
    Some((cpu()? - start) as f64 / f64::from(n))
}

criterion_group!(serverconf, benches);
criterion_main!(serverconf);
