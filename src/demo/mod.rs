//! `xroad-sidecar demo`: a whole X-Road instance on loopback, built from a topology
//! (`docs/topology.md`). [`network::build_network`] builds everything but the security
//! servers themselves (PKI, OCSP responder, global configuration, signers, server
//! configuration stores, node configurations, sample services); the `demo` command runs a
//! node on each [`network::NodeLayout`].

pub(crate) mod network;

use std::path::Path;

#[allow(unused_imports)] // the `demo` command uses them
pub(crate) use network::{build_network, DemoRequest, Network, NodeLayout, NodeListeners};
use xroad_devnet::topology::{Topology, DEFAULT_TOPOLOGY};

/// The default topology as `demo --print-topology` prints it (with its comments).
pub(crate) fn default_topology_yaml() -> &'static str {
    DEFAULT_TOPOLOGY
}

/// Prints the default topology (`demo --print-topology`).
pub(crate) fn print_topology() {
    print!("{DEFAULT_TOPOLOGY}");
}

/// The topology in `path` (`demo --topology FILE`), or the default one.
pub(crate) fn load_topology(path: Option<&Path>) -> Result<Topology, String> {
    let Some(path) = path else {
        return Ok(Topology::default_demo());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the topology {}: {e}", path.display()))?;
    Topology::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}
