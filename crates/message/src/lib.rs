//! The X-Road message protocols between an information system and its security server.
//!
//! - [`soap`]: X-Road Message Protocol 4.0 (SOAP), parsed as a stream;
//! - [`request`]: how the client proxy reads an information system's SOAP request (HTTP
//!   method, content type, `SOAPAction`, SOAP with attachments and MTOM);
//! - [`response`]: the provider's re-serialization of SOAP responses (`requestHash`) and the
//!   consumer's checks of them;
//! - [`rest`]: X-Road Message Protocol for REST (r1);
//! - [`check`]: the operator's message checker, running the client proxy's checks offline.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod check;
pub mod identifier_xml;
pub mod request;
pub mod response;
pub mod rest;
pub mod soap;
