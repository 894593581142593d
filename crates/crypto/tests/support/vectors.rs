//! Locating the shared X-Road 7.8 vectors.

use std::path::PathBuf;

/// The path of a vector file under `vectors/xroad-7.8/`.
pub fn path(rel: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/xroad-7.8");
    assert!(
        dir.is_dir(),
        "the X-Road 7.8 vectors are missing: expected {} (clone ../shared beside this repository)",
        dir.display()
    );
    dir.join(rel)
}

/// The bytes of a vector file.
pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(path(rel)).unwrap_or_else(|e| panic!("cannot read vector {rel}: {e}"))
}
