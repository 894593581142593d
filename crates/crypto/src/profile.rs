//! Certificate profiles: how the CA that issued a signing certificate puts the member's
//! identity into the subject name. Global configuration names the profile of each approved
//! CA by the Java class that implements it (`approvedCA/certificateProfileInfo`).

use xroad_fault::{ErrorCode, XRoadError};
use xroad_identifiers::ClientId;

use crate::cert::{attr, Certificate, Name};

/// The package of the profiles X-Road ships.
const PACKAGE: &str = "ee.ria.xroad.common.certificateprofile.impl.";

/// A certificate profile X-Road ships (and the test profile of its test suite).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateProfile {
    /// `EjbcaCertificateProfileInfoProvider`: `C` = instance, `O` = class, `CN` = code.
    Ejbca,
    /// `BasicCertificateProfileInfoProvider`: class = `businessCategory`, code = `serialNumber`.
    Basic,
    /// `BasicACMECertificateProfileInfoProvider`: as [`Basic`](Self::Basic).
    BasicAcme,
    /// `FiVRKCertificateProfileInfoProvider`: `serialNumber` = `instance/serverCode/class`,
    /// `CN` = code, `C` = `FI` (with the legacy forms of `FISubjectClientIdDecoder`).
    FiVrk,
    /// `FoCertificateProfileInfoProvider`: `C` = `FO`, `O` = instance, `OU` = class, `CN` = code.
    Fo,
    /// `IsCertificateProfileInfoProvider`: as Faroese with `C` = `IS`, else the EJBCA form.
    Is,
    /// `SkEsteIdCertificateProfileInfoProvider`: personal ID cards, class `PERSON`.
    SkEsteId,
    /// `SkKlass3CertificateProfileInfoProvider`: Estonian organisation certificates.
    SkKlass3,
    /// `TestCertificateProfileInfoProvider` (X-Road's test suite): class `BUSINESS`, code = `CN`.
    Test,
}

const NAMES: &[(CertificateProfile, &str)] = &[
    (
        CertificateProfile::Ejbca,
        "EjbcaCertificateProfileInfoProvider",
    ),
    (
        CertificateProfile::Basic,
        "BasicCertificateProfileInfoProvider",
    ),
    (
        CertificateProfile::BasicAcme,
        "BasicACMECertificateProfileInfoProvider",
    ),
    (
        CertificateProfile::FiVrk,
        "FiVRKCertificateProfileInfoProvider",
    ),
    (CertificateProfile::Fo, "FoCertificateProfileInfoProvider"),
    (CertificateProfile::Is, "IsCertificateProfileInfoProvider"),
    (
        CertificateProfile::SkEsteId,
        "SkEsteIdCertificateProfileInfoProvider",
    ),
    (
        CertificateProfile::SkKlass3,
        "SkKlass3CertificateProfileInfoProvider",
    ),
    (
        CertificateProfile::Test,
        "TestCertificateProfileInfoProvider",
    ),
];

fn incorrect(msg: &str) -> XRoadError {
    XRoadError::new(ErrorCode::IncorrectCertificate, msg)
}

fn invalid(msg: &str) -> XRoadError {
    XRoadError::new(ErrorCode::InvalidCertificate, msg)
}

impl CertificateProfile {
    /// The profile named by a Java class name as global configuration writes it
    /// (`ee.ria.xroad.common.certificateprofile.impl.FiVRKCertificateProfileInfoProvider`).
    pub fn from_class_name(fqcn: &str) -> Result<Self, XRoadError> {
        let simple = fqcn.trim().strip_prefix(PACKAGE).unwrap_or("");
        NAMES
            .iter()
            .find(|(_, n)| *n == simple)
            .map(|(p, _)| *p)
            .ok_or_else(|| {
                XRoadError::new(
                    ErrorCode::InternalError,
                    format!("{} could not be found in classpath", fqcn.trim()),
                )
            })
    }

    /// The Java class name.
    pub fn class_name(self) -> String {
        let simple = NAMES
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("", |(_, n)| n);
        format!("{PACKAGE}{simple}")
    }

    /// The member a signing certificate belongs to. `instance` is the instance of the member
    /// the message claims as signer (profiles that do not carry the instance use it).
    pub fn subject_member(
        self,
        cert: &Certificate,
        instance: &str,
    ) -> Result<ClientId, XRoadError> {
        let name = cert.subject();
        let get = |oid: &[u8]| name.value(oid).filter(|v| !v.is_empty());
        let (inst, class, code) = match self {
            CertificateProfile::Test => (
                instance.to_owned(),
                "BUSINESS".to_owned(),
                get(attr::CN).ok_or_else(|| {
                    incorrect("Certificate subject name does not contain common name")
                })?,
            ),
            CertificateProfile::Ejbca => ejbca(name)?,
            CertificateProfile::Basic | CertificateProfile::BasicAcme => {
                let err = if self == CertificateProfile::Basic {
                    incorrect
                } else {
                    invalid
                };
                let class = get(attr::BUSINESS_CATEGORY).ok_or_else(|| {
                    err("Certificate subject name does not contain business category")
                })?;
                let code = get(attr::SERIAL_NUMBER).ok_or_else(|| {
                    err(if self == CertificateProfile::Basic {
                        "Certificate subject name does not contain serial number"
                    } else {
                        "Subject name does not contain serial number"
                    })
                })?;
                (instance.to_owned(), class, code)
            }
            CertificateProfile::FiVrk => fi(name)?,
            CertificateProfile::Fo => nordic(name, "FO")?,
            CertificateProfile::Is => {
                if get(attr::SERIAL_NUMBER).is_none() && get(attr::OU).is_none() {
                    ejbca(name)?
                } else {
                    nordic(name, "IS")?
                }
            }
            CertificateProfile::SkEsteId => (
                instance.to_owned(),
                "PERSON".to_owned(),
                get(attr::SERIAL_NUMBER)
                    .ok_or_else(|| invalid("Subject name does not contain serial number"))?,
            ),
            CertificateProfile::SkKlass3 => sk_klass3(name, instance)?,
        };
        ClientId::member(inst.as_str(), class.as_str(), code.as_str())
            .map_err(|e| incorrect(&format!("Certificate subject does not name a member: {e}")))
    }
}

fn ejbca(name: &Name) -> Result<(String, String, String), XRoadError> {
    let get = |oid: &[u8]| name.value(oid).filter(|v| !v.is_empty());
    let c = get(attr::C)
        .ok_or_else(|| incorrect("Certificate subject name does not contain country code"))?;
    let o = get(attr::O)
        .ok_or_else(|| incorrect("Certificate subject name does not contain organization"))?;
    let cn = get(attr::CN)
        .ok_or_else(|| incorrect("Certificate subject name does not contain common name"))?;
    Ok((c, o, cn))
}

/// Finnish (VRK/DVV) subjects, in the three forms `FISubjectClientIdDecoder` accepts.
fn fi(name: &Name) -> Result<(String, String, String), XRoadError> {
    let get = |oid: &[u8]| name.value(oid).filter(|v| !v.is_empty());
    let country_fi = || {
        (get(attr::C).as_deref() == Some("FI"))
            .then_some(())
            .ok_or_else(|| {
                incorrect("Certificate subject name does not contain valid country code")
            })
    };
    if let Some(serial) = get(attr::SERIAL_NUMBER) {
        country_fi()?;
        get(attr::O)
            .ok_or_else(|| incorrect("Certificate subject name does not contain organization"))?;
        let cn = get(attr::CN)
            .ok_or_else(|| incorrect("Certificate subject name does not contain common name"))?;
        // Java's String.split drops trailing empty parts: "DEV/SS1/COM/" has three.
        let mut parts: Vec<&str> = serial.split('/').collect();
        while parts.last() == Some(&"") {
            parts.pop();
        }
        let [instance, _server, class] = parts.as_slice() else {
            return Err(incorrect(
                "Certificate subject name's attribute serialNumber has invalid value",
            ));
        };
        return Ok(((*instance).to_owned(), (*class).to_owned(), cn));
    }
    if let Some(ou) = get(attr::OU) {
        country_fi()?;
        let o = get(attr::O)
            .ok_or_else(|| incorrect("Certificate subject name does not contain organization"))?;
        let cn = get(attr::CN)
            .ok_or_else(|| incorrect("Certificate subject name does not contain common name"))?;
        return Ok((o, ou, cn));
    }
    ejbca(name)
}

/// Faroese and Icelandic subjects: `C`, `O` = instance, `OU` = class, `CN` = code, and a
/// `serialNumber` that must be present.
fn nordic(name: &Name, country: &str) -> Result<(String, String, String), XRoadError> {
    let get = |oid: &[u8]| name.value(oid).filter(|v| !v.is_empty());
    if get(attr::C).as_deref() != Some(country) {
        return Err(incorrect(
            "Certificate subject name does not contain valid country code",
        ));
    }
    let o = get(attr::O)
        .ok_or_else(|| incorrect("Certificate subject name does not contain organization"))?;
    let ou = get(attr::OU)
        .ok_or_else(|| incorrect("Certificate subject name does not contain organization unit"))?;
    let cn = get(attr::CN)
        .ok_or_else(|| incorrect("Certificate subject name does not contain common name"))?;
    get(attr::SERIAL_NUMBER)
        .ok_or_else(|| incorrect("Certificate subject name does not contain serial number"))?;
    Ok((o, ou, cn))
}

/// SK ID Solutions' organisation certificates (Estonia).
fn sk_klass3(name: &Name, instance: &str) -> Result<(String, String, String), XRoadError> {
    if let Some(id) = name
        .value(attr::ORGANIZATION_IDENTIFIER)
        .filter(|v| !v.is_empty())
    {
        for (prefix, class) in [("NTREE-", "COM"), ("GO:EE-", "GOV"), ("NP:EE-", "NGO")] {
            if let Some(code) = id.strip_prefix(prefix) {
                return Ok((instance.to_owned(), class.to_owned(), code.to_owned()));
            }
        }
        return Ok((instance.to_owned(), "NEE".to_owned(), id));
    }
    let sn = name
        .value(attr::SERIAL_NUMBER)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid("Subject name does not contain serial number"))?;
    if !sn.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("Serial number is not an integer"));
    }
    if sn.len() != 8 {
        return Err(invalid("Serial number must be 8 digits long"));
    }
    let class = match sn.as_bytes()[0] {
        b'1'..=b'6' => "COM",
        b'7' => "GOV",
        b'8' | b'9' => "NGO",
        _ => {
            return Err(XRoadError::new(
                ErrorCode::InternalError,
                format!("Malformed serial number: {sn}"),
            ));
        }
    };
    Ok((instance.to_owned(), class.to_owned(), sn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_round_trip() {
        for (p, _) in NAMES {
            assert_eq!(
                CertificateProfile::from_class_name(&p.class_name()).unwrap(),
                *p
            );
        }
        let e = CertificateProfile::from_class_name("com.example.Nope").unwrap_err();
        assert_eq!(e.error_code(), Some(ErrorCode::InternalError));
    }
}
