//! The data plane: HTTP to registries with standard auth, and blob copies that
//! stream source -> target inside the host, digest-checked on the fly.

// The crate's fuzzing checks reach the challenge parser.
pub(crate) mod auth;
mod blob;
mod client;
pub mod distance;
mod error;
pub mod gate;
mod idle;
pub mod known;
mod ledger;
pub mod limits;
mod memo;
pub mod moves;
pub mod network;
pub mod pace;
mod turns;
mod unlisted;
mod warm;

pub use blob::{Blob, BlobAction, BlobOutcome, CopyOptions, Transfer, UploadMode};
pub use client::{Credentials, Endpoint, EndpointError, RegistryClient, Request, Response, Role};
pub use error::{Kind, TransferError};
pub use known::{Known, KnownTarget};
pub use ledger::Ledger;
pub use limits::Limits;
pub use network::Network;

/// Largest document (manifest, listing) a stage may read: distribution itself
/// refuses manifests over 4 MiB, so 8 MiB leaves room for big listings.
pub const MAX_DOCUMENT_BYTES: usize = 8 << 20;

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// The hex SHA-256 of some bytes, by `ring` (the CPU's fastest code).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}
