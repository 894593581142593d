//! The X-Road global configuration client: download, verify, store, refresh.
