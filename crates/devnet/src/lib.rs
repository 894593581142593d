//! A local X-Road for tests and the demo network: a test PKI ([`pki`]) with its OCSP
//! responder ([`ocsp`]), a global configuration publisher that writes and signs a
//! configuration directory in the central server's format ([`publisher`]) and a small
//! loopback web server that serves it as the central server's nginx does ([`serve`]), the
//! model of a whole network ([`topology`]) and the sample information systems ([`samples`]).
//!
//! Not for production nodes: a real network's configuration comes from its central server.

mod der;
pub mod ocsp;
pub mod pki;
pub mod publisher;
pub mod samples;
pub mod serve;
pub mod topology;

pub use ocsp::{OcspResponder, ResponderState, ResponseSigner};
pub use pki::{KeyKind, Pki, PkiError};
pub use publisher::{
    anchor_xml, publish, publish_with, signed_directory, CaModel, ContentFile, GroupModel,
    InstanceModel, MemberModel, OcspModel, PublishError, ServerModel, SigningKey, SourceModel,
    TsaModel,
};
pub use samples::{SampleServices, SampleUrls};
pub use serve::ConfServer;
pub use topology::{Topology, TopologyError};
