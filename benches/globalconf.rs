//! Global configuration at the scale of a large instance: parsing shared parameters with
//! 10,000 members (and 10,000 subsystems) and 2,000 security servers, and the per-request
//! look-ups of the proxy (auth certificate hash → security server, servers hosting a
//! client), which must stay well under a microsecond.

use criterion::{criterion_group, criterion_main, Criterion};
use xroad_crypto::DigestAlgorithm;
use xroad_devnet::{InstanceModel, MemberModel, ServerModel};
use xroad_globalconf::SharedParameters;
use xroad_identifiers::ClientId;

const MEMBERS: usize = 10_000;
const SERVERS: usize = 2_000;

/// A fake certificate DER per server: only its hash is published.
fn auth_cert(i: usize) -> Vec<u8> {
    format!("auth certificate of security server {i}").into_bytes()
}

fn model() -> InstanceModel {
    let members = (0..MEMBERS)
        .map(|i| MemberModel {
            class: if i % 2 == 0 { "GOV" } else { "COM" }.into(),
            code: format!("{:08}", i),
            name: format!("Member number {i}"),
            subsystems: vec![format!("sub{i}")],
        })
        .collect::<Vec<_>>();
    let servers = (0..SERVERS)
        .map(|i| {
            // Each server is owned by member i and hosts the subsystems of five members.
            let owner = &members[i];
            let clients = (0..5)
                .map(|k| {
                    let m = &members[(i * 5 + k) % MEMBERS];
                    ClientId::subsystem(
                        "EE",
                        m.class.as_str(),
                        m.code.as_str(),
                        m.subsystems[0].as_str(),
                    )
                    .unwrap()
                })
                .collect();
            ServerModel {
                owner: (owner.class.clone(), owner.code.clone()),
                code: format!("ss{i}"),
                address: Some(format!("ss{i}.example.org")),
                auth_certs: vec![auth_cert(i)],
                clients,
                maintenance: None,
            }
        })
        .collect();
    InstanceModel {
        instance: "EE".into(),
        member_classes: vec![
            ("GOV".into(), "Government".into()),
            ("COM".into(), "Companies".into()),
        ],
        members,
        servers,
        ocsp_freshness_seconds: 600,
        ..InstanceModel::default()
    }
}

fn bench(c: &mut Criterion) {
    let xml = model().shared_parameters_xml(6);
    eprintln!("shared-params.xml: {} bytes", xml.len());
    let mut group = c.benchmark_group("globalconf");
    group.sample_size(20);
    group.bench_function("parse_10k_members_2k_servers", |b| {
        b.iter(|| SharedParameters::parse(xml.as_bytes()).unwrap())
    });
    group.finish();

    let mut params = SharedParameters::parse(xml.as_bytes()).unwrap();
    params.version = 6;
    let hash = DigestAlgorithm::Sha256
        .digest(&auth_cert(1234))
        .as_bytes()
        .to_vec();
    let client = ClientId::subsystem("EE", "GOV", "00006170", "sub6170").unwrap();
    // Build the look-up tables outside the measurement (once per configuration).
    assert_eq!(
        params.server_by_auth_cert_hash(&hash).unwrap().server_code,
        "ss1234"
    );
    assert_eq!(params.servers_hosting(&client).count(), 1);
    let mut group = c.benchmark_group("globalconf_lookup");
    group.bench_function("auth_cert_hash_to_server", |b| {
        b.iter(|| {
            params
                .server_by_auth_cert_hash(std::hint::black_box(&hash))
                .is_some()
        })
    });
    group.bench_function("servers_hosting_client", |b| {
        b.iter(|| {
            params
                .servers_hosting(std::hint::black_box(&client))
                .count()
        })
    });
    group.bench_function("provider_addresses", |b| {
        b.iter(|| {
            params
                .provider_addresses(std::hint::black_box(&client))
                .len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
