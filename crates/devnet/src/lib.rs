//! A local X-Road for tests and the demo network: a global configuration publisher that
//! writes and signs a configuration directory in the central server's format, and a small
//! loopback web server that serves it as the central server's nginx does.
//!
//! Not for production nodes: a real network's configuration comes from its central server.

pub mod publisher;
pub mod serve;

pub use publisher::{
    anchor_xml, publish, signed_directory, CaModel, ContentFile, GroupModel, InstanceModel,
    MemberModel, OcspModel, PublishError, ServerModel, SigningKey, SourceModel, TsaModel,
};
pub use serve::ConfServer;
