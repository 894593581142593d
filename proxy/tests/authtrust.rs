//! `verify_auth_cert` against a PKI and OCSP responses made by the `openssl` command line.

mod pki;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pki::*;
use xroad_crypto::ocsp::OcspResponse;
use xroad_crypto::Certificate;
use xroad_fault::{Spelling, XRoadError};
use xroad_globalconf::SharedParameters;
use xroad_identifiers::ClientId;
use xroad_proxy::{is_fresh, verify_auth_cert, PeerOcspCache, OCSP_MISSING};

fn subsystem() -> ClientId {
    ClientId::subsystem("EE", "GOV", "1234", "sub").unwrap()
}

fn fault(e: XRoadError) -> (String, String) {
    (e.fault_code(Spelling::Current), e.message().to_owned())
}

struct Case {
    pki: Pki,
    params: Vec<Arc<SharedParameters>>,
}

impl Case {
    fn new() -> Case {
        let pki = Pki::new();
        let params = params(
            &[
                (
                    "ss1",
                    &[pki.cert("ss1"), pki.cert("revoked"), pki.cert("sign")],
                ),
                ("ss-ica", &[pki.cert("ss-ica"), pki.cert("ss-other")]),
            ],
            &[subsystem()],
        );
        Case {
            pki,
            params: vec![Arc::new(params)],
        }
    }

    fn verify(
        &self,
        chain: &[&str],
        ocsp: &[Arc<OcspResponse>],
        member: &ClientId,
        at: SystemTime,
    ) -> Result<xroad_identifiers::SecurityServerId, (String, String)> {
        let chain: Vec<Arc<Certificate>> = chain.iter().map(|c| self.pki.cert(c)).collect();
        verify_auth_cert(&chain, ocsp, member, &self.params, &self.pki.trust(), at).map_err(fault)
    }
}

#[test]
fn registered_auth_cert_with_good_ocsp_identifies_the_hosting_server() {
    let c = Case::new();
    let ocsp = [c.pki.ocsp("ss1", "ca", &[])];
    let now = SystemTime::now();
    assert_eq!(
        c.verify(&["ss1"], &ocsp, &owner(), now),
        Ok(server_id("ss1"))
    );
    assert_eq!(
        c.verify(&["ss1"], &ocsp, &subsystem(), now),
        Ok(server_id("ss1"))
    );

    // Each failure class.
    let other_member = ClientId::member("EE", "COM", "999").unwrap();
    let (code, msg) = c.verify(&["ss1"], &ocsp, &other_member, now).unwrap_err();
    assert_eq!(code, "ssl_authentication_failed");
    assert_eq!(
        msg,
        "Client 'MEMBER:EE/COM/999' is not registered at security server SERVER:EE/GOV/1234/ss1"
    );

    let (code, msg) = c.verify(&["ss1"], &[], &owner(), now).unwrap_err();
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("ssl_authentication_failed", OCSP_MISSING)
    );

    // Responses, but none for this certificate.
    let revoked = c.pki.ocsp("revoked", "ca", &[]);
    let (code, msg) = c
        .verify(&["ss1"], std::slice::from_ref(&revoked), &owner(), now)
        .unwrap_err();
    assert_eq!(
        code,
        "ssl_authentication_failed.invalid_cert_path.cert_validation"
    );
    assert!(
        msg.starts_with("Unable to find OCSP response for certificate"),
        "{msg}"
    );

    let (code, msg) = c
        .verify(&["revoked"], &[revoked], &owner(), now)
        .unwrap_err();
    assert_eq!(
        code,
        "ssl_authentication_failed.invalid_cert_path.cert_validation"
    );
    assert!(msg.contains("status is REVOKED"), "{msg}");

    // Fresh now, too old two hours later (freshness 3600 s).
    let later = now + Duration::from_secs(7200);
    let (code, msg) = c.verify(&["ss1"], &ocsp, &owner(), later).unwrap_err();
    assert_eq!(
        code,
        "ssl_authentication_failed.invalid_cert_path.incorrect_validation_info"
    );
    assert!(msg.starts_with("OCSP response is too old"), "{msg}");
}

#[test]
fn a_signing_certificate_is_not_an_authentication_certificate() {
    let c = Case::new();
    let ocsp = [c.pki.ocsp("sign", "ca", &[])];
    let (code, msg) = c
        .verify(&["sign"], &ocsp, &owner(), SystemTime::now())
        .unwrap_err();
    assert_eq!(code, "ssl_authentication_failed");
    assert_eq!(msg, "Peer certificate is not an authentication certificate");
}

#[test]
fn certificates_of_unapproved_cas_and_unregistered_certificates_are_refused() {
    let c = Case::new();
    let now = SystemTime::now();
    let ocsp = [c.pki.ocsp("ss1", "ca", &[])];
    let (code, msg) = c.verify(&["ss-other"], &ocsp, &owner(), now).unwrap_err();
    assert_eq!(
        code,
        "ssl_authentication_failed.cannot_create_cert_path.internal_error"
    );
    assert_eq!(
        msg,
        "Certificate is not issued by approved certification service provider."
    );

    // Approved and good, but registered nowhere.
    let c2 = Case {
        pki: c.pki,
        params: vec![Arc::new(params(&[], &[]))],
    };
    let (code, msg) = c2.verify(&["ss1"], &ocsp, &owner(), now).unwrap_err();
    assert_eq!(code, "ssl_authentication_failed");
    assert_eq!(
        msg,
        "Authentication certificate CN=ss1, O=GOV, C=EE is not associated with any security server"
    );
}

#[test]
fn intermediates_need_their_own_good_responses() {
    let c = Case::new();
    let now = SystemTime::now();
    let ee = c.pki.ocsp("ss-ica", "ica", &[]);
    let ica = c.pki.ocsp("ica", "ca", &[]);
    assert_eq!(
        c.verify(
            &["ss-ica", "ica"],
            &[ee.clone(), ica.clone()],
            &owner(),
            now
        ),
        Ok(server_id("ss-ica"))
    );
    // The root, if sent, is an anchor: no response needed for it; unrelated extras ignored.
    assert_eq!(
        c.verify(
            &["ss-ica", "ss1", "ica", "ca"],
            &[ica.clone(), ee.clone()],
            &owner(),
            now
        ),
        Ok(server_id("ss-ica"))
    );
    let (code, msg) = c
        .verify(&["ss-ica", "ica"], std::slice::from_ref(&ee), &owner(), now)
        .unwrap_err();
    assert_eq!(
        code,
        "ssl_authentication_failed.invalid_cert_path.cert_validation"
    );
    assert!(msg.contains("Test Intermediate"), "{msg}");
    // Without the intermediate in the chain, the end-entity's approved issuer is the anchor.
    assert_eq!(
        c.verify(&["ss-ica"], &[ee], &owner(), now),
        Ok(server_id("ss-ica"))
    );
}

#[test]
fn peer_cache_evicts_what_is_no_longer_fresh() {
    let pki = Pki::new();
    let trust = pki.trust();
    let now = SystemTime::now();
    let with_next = pki.ocsp("ss1", "ca", &["-nmin", "30"]);
    let without_next = pki.ocsp("revoked", "ca", &[]);
    let cache = PeerOcspCache::new();
    cache.put(pki.cert("ss1").sha1_hex(), with_next.clone());
    cache.put(pki.cert("revoked").sha1_hex(), without_next);
    assert_eq!(cache.len(), 2);
    assert!(is_fresh(&with_next, &trust, now));
    assert!(cache
        .get_fresh(&pki.cert("ss1").sha1_hex(), &trust, now)
        .is_some());

    // 40 minutes on: nextUpdate has passed for one; thisUpdate is still within the hour.
    let soon = now + Duration::from_secs(40 * 60);
    assert!(cache
        .get_fresh(&pki.cert("ss1").sha1_hex(), &trust, soon)
        .is_none());
    assert_eq!(cache.evict_stale(&trust, soon), 1);
    assert!(cache.get(&pki.cert("ss1").sha1_hex()).is_none());
    // With nextUpdate not checked, only the freshness rule counts.
    let lax = trust.clone().with_verify_next_update(false);
    assert!(is_fresh(&with_next, &lax, soon));
    assert_eq!(
        cache.evict_stale(&trust, now + Duration::from_secs(7200)),
        1
    );
    assert!(cache.is_empty());
}
