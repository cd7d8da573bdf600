//! Shared code of Ferry's OCI stage functions.
//!
//! The WIT bindings of world `stage` are generated here, once; a function
//! crate implements [`Guest`] and exports it with `oci_guest::export!(MyFn);`.
//! The rest is small modules a function composes:
//!
//! - [`client`]: the OCI distribution API over the host's `registry` interface;
//! - [`errors`]: WIT errors, including HTTP status mapping;
//! - [`manifest`]: manifest parsing and classification;
//! - [`filter`]: policy filters (doublestar globs);
//! - [`namespace`]: Harbor's destination namespace mapping;
//! - [`params`]: step parameters and stage outputs;
//! - [`push`]: blobs through the host, manifests, referrers fallback tags;
//! - [`referrers`]: which listed artifacts cannot have referrers;
//! - [`uptodate`]: the fast no-op (which artifacts the target already has).

/// The generated bindings (re-exported at the crate root).
#[allow(clippy::all, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "stage",
        pub_export_macro: true,
        default_bindings_module: "oci_guest::bindings",
    });
}
pub use bindings::*;

pub mod client;
pub mod collect;
pub mod errors;
pub mod filter;
pub mod log;
pub mod manifest;
pub mod namespace;
pub mod params;
pub mod push;
pub mod referrers;
pub mod uptodate;

pub use ferry::replication::host;
pub use ferry::replication::notify;
pub use ferry::replication::registry;
pub use ferry::replication::transfer;
pub use ferry::replication::types;
pub use types::{
    Decoration, Descriptor, Endpoint, ErrorKind, Filter, FilterKind, ManifestRef, Operation,
    PlanAction, PlanEntry, Role,
};

/// The WIT `error` record (named so to keep clear of `std::error::Error`).
pub type WitError = types::Error;

/// A listed artifact, before it is pulled: a tag of a repository, to copy
/// or to delete.
pub fn listed(
    operation: Operation,
    repository: &str,
    target_repository: &str,
    tag: &str,
) -> Artifact {
    Artifact {
        operation,
        repository: repository.to_owned(),
        target_repository: target_repository.to_owned(),
        tag: Some(tag.to_owned()),
        digest: None,
        media_type: None,
        manifests: vec![],
        blobs: vec![],
        referrers: vec![],
        no_referrers: false,
    }
}

/// Declares one parameter in `describe`.
pub fn param(name: &str, description: &str, required: bool, default: Option<&str>) -> ParamSpec {
    ParamSpec {
        name: name.into(),
        description: description.into(),
        required,
        default: default.map(str::to_owned),
    }
}
