//! The data plane: HTTP to registries with standard auth, and blob copies that
//! stream source -> target inside the host, digest-checked on the fly.

mod auth;
mod blob;
mod client;
mod error;
pub mod known;
mod ledger;
pub mod limits;
mod memo;
pub mod moves;

pub use blob::{Blob, BlobAction, BlobOutcome, CopyOptions, Transfer, UploadMode};
pub use client::{Credentials, Endpoint, EndpointError, RegistryClient, Request, Response, Role};
pub use error::{Kind, TransferError};
pub use known::{Known, KnownTarget};
pub use ledger::Ledger;
pub use limits::Limits;

/// Largest document (manifest, listing) a stage may read: distribution itself
/// refuses manifests over 4 MiB, so 8 MiB leaves room for big listings.
pub const MAX_DOCUMENT_BYTES: usize = 8 << 20;

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
