//! RFC 3161 time-stamp tokens from `openssl ts`, verified as X-Road's message log verifier
//! does: the imprint over the data, and the CMS signature of an approved TSA.

mod support;
use support::pki::Pki;

use std::time::{Duration, SystemTime};

use xroad_crypto::timestamp::TimeStampToken;
use xroad_fault::Spelling;

#[test]
fn tokens_from_openssl_verify_against_the_approved_tsa() {
    let pki = Pki::new();
    pki.tsa();
    let tsa = pki.cert("tsa.pem");
    let data = b"the signature value being time-stamped";
    for digest in ["sha256", "sha512"] {
        let der = pki.timestamp(data, digest);
        let token = TimeStampToken::from_der(&der).unwrap();
        let signer = token.verify(data, std::slice::from_ref(&tsa)).unwrap();
        assert_eq!(*signer, *tsa);
        let age = SystemTime::now()
            .duration_since(token.gen_time())
            .unwrap_or_default();
        assert!(
            age < Duration::from_secs(600),
            "genTime is the time of signing"
        );
        // Other data, no TSA, another certificate, a changed token.
        let code = |e: xroad_fault::XRoadError| e.fault_code(Spelling::Current);
        assert_eq!(
            code(
                token
                    .verify(b"other", std::slice::from_ref(&tsa))
                    .unwrap_err()
            ),
            "malformed_signature"
        );
        assert_eq!(
            code(token.verify(data, &[]).unwrap_err()),
            "mlog.no_timestamping_provider_found"
        );
        assert_eq!(
            code(token.verify(data, &[pki.cert("ocsp.pem")]).unwrap_err()),
            "mlog.tsp_certificate_not_found"
        );
        let mut bad = der.clone();
        let last = bad.len() - 5;
        bad[last] ^= 1;
        let tampered = TimeStampToken::from_der(&bad).unwrap();
        assert_eq!(
            code(
                tampered
                    .verify(data, std::slice::from_ref(&tsa))
                    .unwrap_err()
            ),
            "mlog.timestamp_signer_verification_failed"
        );
    }
    assert!(TimeStampToken::from_der(b"garbage").is_err());
}
