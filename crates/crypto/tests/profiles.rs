//! Certificate profiles: how each CA's signing certificates name their member, on
//! certificates made by openssl with the subjects those CAs issue.

mod support;
use support::pki::Pki;

use xroad_crypto::{Certificate, CertificateProfile};
use xroad_fault::Spelling;

/// A self-signed signing certificate with `subject`, parsed.
fn cert(pki: &Pki, name: &str, subject: &str) -> Certificate {
    pki.openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &format!("{name}.key"),
        "-out",
        &format!("{name}.pem"),
        "-days",
        "30",
        "-subj",
        subject,
        "-addext",
        "keyUsage=critical,nonRepudiation",
    ]);
    Certificate::from_pem_or_der(&std::fs::read(pki.path(&format!("{name}.pem"))).unwrap()).unwrap()
}

fn profile(simple: &str) -> CertificateProfile {
    CertificateProfile::from_class_name(&format!(
        "ee.ria.xroad.common.certificateprofile.impl.{simple}"
    ))
    .unwrap()
}

fn member(p: &str, c: &Certificate, instance: &str) -> String {
    match profile(p).subject_member(c, instance) {
        Ok(id) => id.to_string(),
        Err(e) => format!("{}: {}", e.fault_code(Spelling::Current), e.message()),
    }
}

#[test]
fn each_profile_maps_its_subjects() {
    let pki = Pki::new();
    let cases = [
        ("TestCertificateProfileInfoProvider", "/C=EE/O=Cybernetica/CN=consumer", "MEMBER:EE/BUSINESS/consumer"),
        ("EjbcaCertificateProfileInfoProvider", "/C=EE/O=GOV/CN=70000001", "MEMBER:EE/GOV/70000001"),
        ("EjbcaCertificateProfileInfoProvider", "/O=GOV/CN=70000001", "incorrect_certificate: Certificate subject name does not contain country code"),
        ("BasicCertificateProfileInfoProvider", "/C=FI/O=Org/businessCategory=COM/serialNumber=1234567-8/CN=Org", "MEMBER:EE/COM/1234567-8"),
        ("BasicCertificateProfileInfoProvider", "/C=FI/O=Org/serialNumber=1234567-8", "incorrect_certificate: Certificate subject name does not contain business category"),
        ("FiVRKCertificateProfileInfoProvider", "/C=FI/O=Test client/CN=4321/serialNumber=DEV\\/SS1\\/COM", "MEMBER:DEV/COM/4321"),
        ("FiVRKCertificateProfileInfoProvider", "/C=FI/O=Test client/CN=4321/serialNumber=DEV\\/SS1\\/COM\\/", "MEMBER:DEV/COM/4321"),
        ("FiVRKCertificateProfileInfoProvider", "/C=SE/O=Test client/CN=4321/serialNumber=DEV\\/SS1\\/COM", "incorrect_certificate: Certificate subject name does not contain valid country code"),
        ("FiVRKCertificateProfileInfoProvider", "/C=FI/O=Test client/CN=4321/serialNumber=DEV\\/COM", "incorrect_certificate: Certificate subject name's attribute serialNumber has invalid value"),
        ("FiVRKCertificateProfileInfoProvider", "/C=FI/O=FI-TEST/OU=GOV/CN=0245437-2", "MEMBER:FI-TEST/GOV/0245437-2"),
        ("FiVRKCertificateProfileInfoProvider", "/C=FI/O=FI/CN=1234", "MEMBER:FI/FI/1234"),
        ("FoCertificateProfileInfoProvider", "/C=FO/O=FO/OU=GOV/CN=1234/serialNumber=x", "MEMBER:FO/GOV/1234"),
        ("FoCertificateProfileInfoProvider", "/C=FO/O=FO/OU=GOV/CN=1234", "incorrect_certificate: Certificate subject name does not contain serial number"),
        ("IsCertificateProfileInfoProvider", "/C=IS/O=IS/OU=COM/CN=5555/serialNumber=x", "MEMBER:IS/COM/5555"),
        ("IsCertificateProfileInfoProvider", "/C=IS/O=COM/CN=5555", "MEMBER:IS/COM/5555"),
        ("SkEsteIdCertificateProfileInfoProvider", "/C=EE/CN=MANNETJE,JAAN,37702211234/serialNumber=37702211234", "MEMBER:EE/PERSON/37702211234"),
        ("SkKlass3CertificateProfileInfoProvider", "/C=EE/O=Firma/organizationIdentifier=NTREE-10000001/CN=Firma", "MEMBER:EE/COM/10000001"),
        ("SkKlass3CertificateProfileInfoProvider", "/C=EE/O=Amet/organizationIdentifier=GO:EE-70000001/CN=Amet", "MEMBER:EE/GOV/70000001"),
        ("SkKlass3CertificateProfileInfoProvider", "/C=EE/O=MTU/organizationIdentifier=NP:EE-80000001/CN=MTU", "MEMBER:EE/NGO/80000001"),
        ("SkKlass3CertificateProfileInfoProvider", "/C=LV/O=X/organizationIdentifier=VATLV-40003000000/CN=X", "MEMBER:EE/NEE/VATLV-40003000000"),
        ("SkKlass3CertificateProfileInfoProvider", "/C=EE/O=Firma/serialNumber=10000001/CN=Firma", "MEMBER:EE/COM/10000001"),
        ("SkKlass3CertificateProfileInfoProvider", "/C=EE/O=Amet/serialNumber=70000001/CN=Amet", "MEMBER:EE/GOV/70000001"),
        ("SkKlass3CertificateProfileInfoProvider", "/C=EE/O=Firma/serialNumber=1000000/CN=Firma", "invalid_certificate: Serial number must be 8 digits long"),
        ("SkKlass3CertificateProfileInfoProvider", "/C=EE/O=Firma/serialNumber=1000000A/CN=Firma", "invalid_certificate: Serial number is not an integer"),
    ];
    for (i, (p, subject, expected)) in cases.iter().enumerate() {
        let c = cert(&pki, &format!("c{i}"), subject);
        assert_eq!(member(p, &c, "EE"), *expected, "{p} {subject}");
    }
}

#[test]
fn signing_and_authentication_certificates_are_told_apart_like_java() {
    let pki = Pki::new();
    let sign =
        Certificate::from_pem_or_der(&std::fs::read(pki.path("member.pem")).unwrap()).unwrap();
    assert!(sign.is_signing_cert().unwrap());
    pki.issue("auth", "ca", "/CN=ss1", "20", "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth,serverAuth\n");
    let auth = pki.cert("auth.pem");
    assert!(!auth.is_signing_cert().unwrap());
    assert!(auth.is_auth_cert().unwrap());
    pki.issue(
        "nokeyusage",
        "ca",
        "/CN=plain",
        "21",
        "basicConstraints=CA:FALSE\n",
    );
    let plain = pki.cert("nokeyusage.pem");
    let e = plain.is_signing_cert().unwrap_err();
    assert_eq!(e.fault_code(Spelling::Current), "internal_error");
    assert_eq!(
        e.message(),
        "Certificate does not contain keyUsage extension"
    );
    assert_eq!(
        plain
            .is_auth_cert()
            .unwrap_err()
            .fault_code(Spelling::Current),
        "incorrect_certificate"
    );
    // OCSP cache keys and hashes.
    assert_eq!(sign.sha1_hex().len(), 40);
    assert!(sign
        .sha1_hex()
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
}
