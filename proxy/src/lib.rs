//! The X-Road proxy. For now: the mutually authenticated TLS channel between security servers
//! (server proxy port 5500 and the client proxy's outgoing connections), on OpenSSL so that
//! the Java default CBC cipher suites work, with peers identified through the global
//! configuration rather than host names or a CA store.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod settings;
mod tls;
mod verify;

pub use settings::{
    TlsProtocol, TlsSettings, DEFAULT_XROAD_TLS_CIPHERS, DEFAULT_XROAD_TLS_PROTOCOLS,
};
pub use tls::{AuthCredentials, PeerConnection, TlsAcceptor, TlsConnector, TlsError};
pub use verify::{AuthVerifier, PeerIdentity, SharedParamsVerifier};
