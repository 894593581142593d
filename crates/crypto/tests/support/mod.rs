//! Helpers shared by the integration tests: the shared vectors and an openssl test PKI.

#![allow(dead_code)]

pub mod pki;
pub mod vectors;
