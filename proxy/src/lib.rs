//! The X-Road proxy: the client proxy (information systems call it), the server proxy (other
//! security servers call it over mutual TLS), and the transport message between them. The
//! channel between security servers runs on OpenSSL so that the Java default CBC cipher suites
//! work, with peers identified through the global configuration rather than host names.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod settings;
pub mod spool;
mod tls;
pub mod transport;
mod verify;

pub use settings::{
    TlsProtocol, TlsSettings, DEFAULT_XROAD_TLS_CIPHERS, DEFAULT_XROAD_TLS_PROTOCOLS,
};
pub use tls::{AuthCredentials, PeerConnection, TlsAcceptor, TlsConnector, TlsError};
pub use verify::{AuthVerifier, PeerIdentity, SharedParamsVerifier};
