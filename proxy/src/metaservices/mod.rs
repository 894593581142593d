//! The metaservices addon (digest §7, PR-META, PR-MREST):
//!
//! - `GET /listClients` on the client proxy ([`list_clients`]): members and subsystems of an
//!   instance from the global configuration, XML or JSON;
//! - SOAP `listMethods`, `allowedMethods`, `getWsdl` and REST `listMethods`, `allowedMethods`,
//!   `getOpenAPI`, answered by the provider's server proxy instead of an information system:
//!   no access check, but the request's signature is verified and the answer is signed like
//!   any response (the server proxy calls [`soap_handler`] and [`rest_handler`]).
//!
//! The formats are built by pure functions ([`clients`], [`soap`], [`rest`]) tested byte for
//! byte against Java's (JAXB, Jackson, SAAJ).

use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use xroad_fault::{ErrorCode, XRoadError};
use xroad_identifiers::ServiceId;
use xroad_message::rest::RestRequest;
use xroad_message::soap::SoapMessage;
use xroad_serverconf::DescriptionType;

use crate::context::ProxyContext;
use crate::transport::{self, Body, SoapPart};

pub mod clients;
mod markup;
pub mod rest;
pub mod soap;

/// `listClients` (client proxy, `GET /listClients`).
pub const LIST_CLIENTS: &str = "/listClients";
/// `listMethods` (SOAP and REST).
pub const LIST_METHODS: &str = "listMethods";
/// `allowedMethods` (SOAP and REST).
pub const ALLOWED_METHODS: &str = "allowedMethods";
/// `getWsdl` (SOAP).
pub const GET_WSDL: &str = "getWsdl";
/// `getOpenAPI` (REST).
pub const GET_OPENAPI: &str = "getOpenAPI";

/// The X-Road message namespace.
pub const NS_XROAD: &str = "http://x-road.eu/xsd/xroad.xsd";
/// The X-Road identifiers namespace.
pub const NS_IDENTIFIERS: &str = "http://x-road.eu/xsd/identifiers";

/// XML text and attribute escaping as JAXB writes it.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether the client proxy answers this request itself: `GET` on exactly `/listClients`
/// (other methods fall through to the SOAP handler, as in Java).
pub fn is_list_clients<B>(req: &Request<B>) -> bool {
    req.method() == hyper::Method::GET && req.uri().path() == LIST_CLIENTS
}

/// `GET /listClients[?xRoadInstance=…]`: the members and subsystems of the instance (the own
/// one when the parameter is absent or blank), as JSON when an `Accept` value names
/// `application/json`, else as XML.
pub fn list_clients(
    ctx: &ProxyContext,
    req: &Request<Incoming>,
) -> Result<Response<Body>, XRoadError> {
    let gc = ctx.globalconf(SystemTime::now())?;
    let dir = gc.directory();
    let param = req.uri().query().and_then(|q| {
        q.split('&').find_map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            (rest::form_decode(n) == "xRoadInstance").then(|| rest::form_decode(v))
        })
    });
    let instance = match param {
        Some(p) if !p.trim().is_empty() => p,
        _ => dir.instance().to_owned(),
    };
    let params = dir.shared(&instance).ok_or_else(|| {
        XRoadError::new(
            ErrorCode::InternalError,
            format!("Shared params for instance identifier {instance} not found"),
        )
    })?;
    let members = clients::members(params);
    let accept = req
        .headers()
        .get_all(hyper::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let (content_type, body) = if clients::accepts_json(accept) {
        (
            "application/json; charset=utf-8",
            clients::client_list_json(&members),
        )
    } else {
        (
            "text/xml; charset=UTF-8",
            clients::client_list_xml(&members),
        )
    };
    Response::builder()
        .status(200)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(transport::full_body(body))
        .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()))
}

/// Whether the server proxy answers a SOAP request itself (Java's
/// `MetadataServiceHandlerImpl#canHandle`: by service code only).
pub fn is_soap_metaservice(service: &ServiceId) -> bool {
    matches!(
        service.service_code(),
        LIST_METHODS | ALLOWED_METHODS | GET_WSDL
    )
}

/// The answer to a SOAP metaservice request, as if a provider information system had sent
/// it: the server proxy inserts `requestHash`, signs and sends it like any response.
pub async fn soap_handler(
    ctx: &ProxyContext,
    request: &SoapMessage,
    part: &SoapPart,
) -> Result<Response<Full<Bytes>>, XRoadError> {
    let service = &request.header.service;
    let provider = service.provider();
    let bytes = part
        .data
        .to_bytes()
        .await
        .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        XRoadError::new(
            ErrorCode::InternalError,
            "Metaservice requests must be encoded in UTF-8",
        )
    })?;
    let charset = xroad_mime::ContentType::parse(&part.content_type)
        .ok()
        .and_then(|c| c.charset().map(str::to_owned))
        .unwrap_or_else(|| "UTF-8".to_owned());
    let sc = ctx.serverconf();
    let wsdl_services = || {
        sc.provided_services(provider)
            .iter()
            .filter(|s| s.description_type == DescriptionType::Wsdl)
    };
    let to_id = |s: &xroad_serverconf::ProvidedService| {
        ServiceId::new(
            provider.clone(),
            s.code.as_str(),
            s.version.as_deref().map(Into::into),
        )
        .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()))
    };
    let (content_type, body) = match service.service_code() {
        LIST_METHODS => {
            let ids = wsdl_services().map(to_id).collect::<Result<Vec<_>, _>>()?;
            let xml = soap::method_list_response(text, &charset, "listMethodsResponse", &ids)?;
            ("text/xml; charset=UTF-8".to_owned(), xml.into_bytes())
        }
        ALLOWED_METHODS => {
            let client = &request.header.client;
            let ids = wsdl_services()
                .filter(|s| !sc.granted_endpoints(client, provider, &s.code).is_empty())
                .map(to_id)
                .collect::<Result<Vec<_>, _>>()?;
            let xml = soap::method_list_response(text, &charset, "allowedMethodsResponse", &ids)?;
            ("text/xml; charset=UTF-8".to_owned(), xml.into_bytes())
        }
        _ => {
            let (code, version) = soap::wsdl_request(text)?;
            let target = ServiceId::new(
                provider.clone(),
                code.as_str(),
                version.as_deref().map(Into::into),
            )
            .map_err(|e| XRoadError::new(ErrorCode::InvalidRequest, e.to_string()))?;
            let found = sc
                .provided_services(provider)
                .iter()
                .find(|s| s.code == code && s.version == version);
            let Some(found) = found else {
                return Err(XRoadError::new(
                    ErrorCode::UnknownService,
                    format!("Could not find wsdl URL for service {target}"),
                ));
            };
            if found.description_type != DescriptionType::Wsdl {
                return Err(XRoadError::new(
                    ErrorCode::InvalidServiceType,
                    "Service is a REST service and does not have a WSDL",
                ));
            }
            let wsdl = fetch(ctx, &target, &found.description_url, |status, reason| {
                format!("Received HTTP error: {status} - {reason}")
            })
            .await?
            .1;
            let wsdl = std::str::from_utf8(&wsdl)
                .map_err(|_| XRoadError::new(ErrorCode::InternalError, "The WSDL is not UTF-8"))?;
            let wsdl = soap::rewrite_wsdl(wsdl)?;
            let response = soap::to_response(text, &charset, GET_WSDL)?;
            let (ct, body) =
                soap::wsdl_multipart(&response, &charset, wsdl.as_bytes(), &boundary());
            (ct, body)
        }
    };
    Response::builder()
        .status(200)
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.to_string()))
}

/// Java's multipart boundary: `xroad` and 30 random letters.
fn boundary() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    let letters: String = a
        .as_bytes()
        .iter()
        .chain(b.as_bytes())
        .take(30)
        .map(|x| {
            let i = x % 52;
            if i < 26 {
                char::from(b'a' + i)
            } else {
                char::from(b'A' + i - 26)
            }
        })
        .collect();
    format!("xroad{letters}")
}

/// Downloads a service description (the service's TLS pinning honoured, its timeout used):
/// the content types and the bytes of a `200` answer.
async fn fetch(
    ctx: &ProxyContext,
    service: &ServiceId,
    url: &str,
    not_ok: impl Fn(u16, &str) -> String,
) -> Result<(Vec<String>, Vec<u8>), XRoadError> {
    let sc = ctx.serverconf();
    let info = sc.service(service);
    let timeout = info.map_or(std::time::Duration::from_secs(60), |i| i.timeout);
    let pinned = if info.is_some_and(|i| i.ssl_authentication) {
        sc.client(service.provider())
            .map(|c| c.certificates.clone())
    } else {
        None
    };
    let response = ctx
        .service_client()
        .send(
            "GET",
            url,
            Vec::new(),
            transport::full_body(Bytes::new()),
            timeout,
            pinned,
        )
        .await
        .map_err(|e| XRoadError::new(ErrorCode::InternalError, e.message().to_owned()))?;
    let status = response.status();
    if status.as_u16() != 200 {
        let reason = status.canonical_reason().unwrap_or("");
        return Err(XRoadError::new(
            ErrorCode::InternalError,
            not_ok(status.as_u16(), reason),
        ));
    }
    let types: Vec<String> = response
        .headers()
        .get_all(hyper::header::CONTENT_TYPE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let limits = ctx.settings().spool.clone();
    let mut data = Vec::new();
    transport::read_body(response.into_body(), |c| {
        limits.check_total((data.len() + c.len()) as u64)?;
        data.extend_from_slice(c);
        Ok(())
    })
    .await?;
    Ok((types, data))
}

/// Whether the server proxy answers a REST request itself (Java's
/// `RestMetadataServiceHandlerImpl#canHandle`: `GET` and the service code).
pub fn is_rest_metaservice(rest: &RestRequest) -> bool {
    rest.verb().as_str() == "GET"
        && matches!(
            rest.service().service_code(),
            LIST_METHODS | ALLOWED_METHODS | GET_OPENAPI
        )
}

/// The answer to a REST metaservice request: its `content-type` and body (status 200 `OK`).
pub async fn rest_handler(
    ctx: &ProxyContext,
    rest: &RestRequest,
) -> Result<(String, Bytes), XRoadError> {
    let service = rest.service();
    let provider = service.provider();
    let sc = ctx.serverconf();
    let rest_services = || {
        sc.provided_services(provider)
            .iter()
            .filter(|s| s.description_type != DescriptionType::Wsdl)
    };
    match service.service_code() {
        LIST_METHODS => {
            let list: Vec<rest::RestServiceDetails> = rest_services()
                .map(|s| rest::RestServiceDetails {
                    provider: provider.clone(),
                    code: s.code.clone(),
                    description_type: s.description_type,
                    endpoints: s.endpoints.clone(),
                })
                .collect();
            Ok((
                "application/json".to_owned(),
                Bytes::from(rest::service_list_json(&list)),
            ))
        }
        ALLOWED_METHODS => {
            let client = rest.client();
            let list: Vec<rest::RestServiceDetails> = rest_services()
                .filter_map(|s| {
                    let acl = sc.granted_endpoints(client, provider, &s.code);
                    (!acl.is_empty()).then(|| rest::RestServiceDetails {
                        provider: provider.clone(),
                        code: s.code.clone(),
                        description_type: s.description_type,
                        endpoints: s
                            .endpoints
                            .iter()
                            .filter(|e| {
                                acl.iter()
                                    .any(|a| a.matches(Some(&e.method), Some(&e.path)))
                            })
                            .cloned()
                            .collect(),
                    })
                })
                .collect();
            Ok((
                "application/json".to_owned(),
                Bytes::from(rest::service_list_json(&list)),
            ))
        }
        _ => {
            let code = rest::service_code_param(rest.query())
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    XRoadError::new(
                        ErrorCode::InvalidRequest,
                        "Missing serviceCode in message body",
                    )
                })?;
            let target = ServiceId::new(provider.clone(), code.as_str(), None)
                .map_err(|e| XRoadError::new(ErrorCode::InvalidRequest, e.to_string()))?;
            let found = sc
                .provided_services(provider)
                .iter()
                .find(|s| s.code == code && s.version.is_none())
                .ok_or_else(|| {
                    XRoadError::new(
                        ErrorCode::InternalError,
                        format!("Service not found: {target}"),
                    )
                })?;
            if found.description_type != DescriptionType::OpenApi3 {
                let name = match found.description_type {
                    DescriptionType::Wsdl => "WSDL",
                    DescriptionType::Rest => "REST",
                    DescriptionType::OpenApi3 => "OPENAPI3",
                };
                return Err(XRoadError::new(
                    ErrorCode::InternalError,
                    format!("Invalid service type: {name}"),
                ));
            }
            let url = found.description_url.clone();
            let (types, doc) = fetch(ctx, &target, &url, |status, reason| {
                format!(
                    "Failed reading service description from {url}. Status: {status} Reason: {reason}"
                )
            })
            .await?;
            let refs: Vec<&str> = types.iter().map(String::as_str).collect();
            let out = rest::anonymise_openapi(&doc, rest::is_json(&refs, &url)).map_err(|e| {
                if e.message().starts_with("Incompatible openapi version")
                    || e.message().starts_with("Can't parse url")
                {
                    e
                } else {
                    XRoadError::new(
                        ErrorCode::InternalError,
                        format!("Failed overwriting origin URL for the openapi servers for {url}"),
                    )
                }
            })?;
            let content_type = types
                .first()
                .cloned()
                .unwrap_or_else(|| "text/plain".to_owned());
            Ok((content_type, Bytes::from(out)))
        }
    }
}
