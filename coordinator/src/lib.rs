//! Ferry: container-image replication as WebAssembly stage functions run by
//! a coordinator. See README.md for the architecture.

pub mod cli;
pub mod engine;
pub mod paths;
pub mod redact;
pub mod runtime;
pub mod server;
pub mod store;
pub mod transfer;
