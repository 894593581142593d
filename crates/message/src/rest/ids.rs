//! Identifiers in the request path and in X-Road headers, decoded with the checks, in the
//! order, and with the messages of the Java `RestRequest` / `RestMessage`.
//!
//! Java splits with a limit, percent-decodes every segment (left to right), and only then
//! checks for blank codes, so a bad escape in a later segment wins over a blank earlier one.

use xroad_fault::XRoadError;
use xroad_identifiers::{ClientId, IdError, SecurityServerId, ServiceId};

use super::java::{decode_segment, split_dropping_trailing_empty};
use super::{internal, RepresentedParty};

fn id_error(e: IdError) -> XRoadError {
    internal(e.to_string())
}

/// Decodes every segment, in order.
fn decode_all<const N: usize>(
    parts: &[&str],
    count_error: &str,
) -> Result<[String; N], XRoadError> {
    let decoded = parts
        .iter()
        .map(|p| decode_segment(p))
        .collect::<Result<Vec<_>, _>>()?;
    decoded.try_into().map_err(|_| internal(count_error))
}

/// The service identifier, checked as `ServiceId.Conf.create` checks it: instance, member
/// class, member code and service code must not be blank. The subsystem code is not checked
/// there; Java fails on a blank one only when it first builds the provider's client id, so it
/// comes back as a separate, deferred result.
fn service_id(
    [instance, class, member, subsystem, code]: [String; 5],
) -> Result<Result<ServiceId, XRoadError>, XRoadError> {
    let member_id = ClientId::member(instance.as_str(), class.as_str(), member.as_str());
    let checked = ServiceId::new(member_id.map_err(id_error)?, code, None).map_err(id_error)?;
    Ok(ClientId::subsystem(instance, class, member, subsystem)
        .and_then(|provider| ServiceId::new(provider, checked.service_code(), None))
        .map_err(id_error))
}

/// The identifiers in an `/r1/` request path (`RestRequest.decodeIdentifiers`).
pub(super) struct PathIds {
    /// The service, or the deferred error of a blank subsystem code.
    pub(super) service: Result<ServiceId, XRoadError>,
    /// `"/" + rest` after the service code (still percent-encoded), or `""`.
    pub(super) service_path: String,
}

/// Splits the raw path as `split("/", 8)`: `["", "r1", inst, class, member, subsystem,
/// service, rest]`.
pub(super) fn decode_path(path: &str) -> Result<PathIds, XRoadError> {
    const INVALID: &str = "Invalid request URI";
    let parts: Vec<&str> = path.splitn(8, '/').collect();
    if parts.len() < 7 {
        return Err(internal(INVALID));
    }
    check_protocol(parts[1])?;
    let service = service_id(decode_all(&parts[2..7], INVALID)?)?;
    let service_path = parts
        .get(7)
        .map_or_else(String::new, |rest| format!("/{rest}"));
    Ok(PathIds {
        service,
        service_path,
    })
}

/// The protocol segment must be `r` and one digit, and the digit must be 1. (Java's
/// `Character.digit` would also take non-ASCII digits; no Java client proxy sends them.)
fn check_protocol(segment: &str) -> Result<(), XRoadError> {
    let mut chars = segment.chars();
    match (
        chars.next(),
        chars.next().and_then(|c| c.to_digit(10)),
        chars.next(),
    ) {
        (Some('r'), Some(1), None) => Ok(()),
        (Some('r'), Some(version), None) => {
            Err(internal(format!("Unsupported protocol version {version}")))
        }
        _ => Err(internal(format!("Invalid protocol version {segment}"))),
    }
}

/// An identifier error with Java's message: a wrong number of segments is reported as the
/// header's own "Invalid … Id".
fn header_error(e: IdError, count_error: &str) -> XRoadError {
    match e {
        IdError::SegmentCount { .. } => internal(count_error),
        e => id_error(e),
    }
}

/// `X-Road-Client`: 3 or 4 segments (`RestMessage.decodeClientId`; its `split("/", 5)` accepts
/// exactly what counting every `/` accepts).
pub(super) fn decode_client(value: &str) -> Result<ClientId, XRoadError> {
    ClientId::from_rest(value).map_err(|e| header_error(e, "Invalid Client Id"))
}

/// `X-Road-Service` of a response part: `split("/", 6)` into exactly 5 parts
/// (`RestMessage.decodeServiceId`).
pub(super) fn decode_service(value: &str) -> Result<ServiceId, XRoadError> {
    const INVALID: &str = "Invalid Service Id";
    let parts: Vec<&str> = value.splitn(6, '/').collect();
    if parts.len() != 5 {
        return Err(internal(INVALID));
    }
    service_id(decode_all(&parts, INVALID)?)?
}

/// `X-Road-Security-Server`: exactly 4 segments (`RestRequest.decodeServerId`).
pub(super) fn decode_security_server(value: &str) -> Result<SecurityServerId, XRoadError> {
    SecurityServerId::from_rest(value).map_err(|e| header_error(e, "Invalid SecurityServer Id"))
}

/// `X-Road-Represented-Party`: `{class}/{code}` or `{code}`, split as `split("/")` (trailing
/// empty parts dropped, so `/` means no party) and not checked for blanks
/// (`RestRequest.decodeRepresentedParty`).
pub(super) fn decode_represented_party(
    value: &str,
) -> Result<Option<RepresentedParty>, XRoadError> {
    match split_dropping_trailing_empty(value)[..] {
        [] => Ok(None),
        [code] => Ok(Some(RepresentedParty {
            party_class: None,
            party_code: Some(decode_segment(code)?.into()),
        })),
        [class, code] => {
            let party_class = Some(decode_segment(class)?.into());
            Ok(Some(RepresentedParty {
                party_class,
                party_code: Some(decode_segment(code)?.into()),
            }))
        }
        _ => Err(internal("Invalid RepresentedParty Id")),
    }
}
