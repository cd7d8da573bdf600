//! What several OCI stage functions share, over the host of the guest SDK
//! (`ferry_sdk`):
//!
//! - [`client`]: the OCI distribution API over the host's `registry` interface;
//! - [`status`]: unexpected HTTP answers as WIT errors;
//! - [`manifest`]: manifest parsing and classification;
//! - [`filter`]: the policy's filters (doublestar globs);
//! - [`helm`]: Helm charts as OCI artifacts.

pub mod client;
pub mod filter;
#[doc(hidden)]
pub mod fuzzing;
pub mod helm;
pub mod manifest;
pub mod status;
