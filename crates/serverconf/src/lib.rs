//! The X-Road server configuration store: clients, services, access rights, local groups; SQLite or PostgreSQL; declarative apply/export.
