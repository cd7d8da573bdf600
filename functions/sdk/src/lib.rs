//! Ferry's guest SDK: what every stage function needs, whatever registries
//! it speaks to.
//!
//! The WIT bindings of world `stage` are generated here, once; a function
//! crate implements [`Guest`] and exports it with `ferry_sdk::export!(MyFn);`.
//! Its logic takes a [`Host`] rather than calling the imports, so that unit
//! tests drive it natively through `FakeHost` (feature `fake`).
//!
//! - [`params!`]: the step's parameters, declared once as a typed struct;
//! - [`counters!`] and [`Counts`]: the report's named counters;
//! - [`Output`]: a stage output, built step by step;
//! - [`errors`]: WIT errors;
//! - [`records`]: helpers on the WIT records (`input.single_artifact(..)`,
//!   an artifact's display name).

/// The generated bindings (re-exported at the crate root).
#[allow(clippy::all, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "stage",
        pub_export_macro: true,
        default_bindings_module: "ferry_sdk::bindings",
        // Tests compare outputs and recorded requests whole.
        additional_derives: [PartialEq, Eq],
    });
}
pub use bindings::{FunctionInfo, Guest, ParamSpec, StageInput, StageOutput, export};

pub mod counts;
pub mod errors;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod host;
pub mod output;
pub mod params;
pub mod records;

pub use counts::{Counter, Counts};
#[cfg(any(test, feature = "fake"))]
pub use fake::FakeHost;
pub use ferry_digest::{Algorithm, Digest, DigestError};
pub use host::{Host, WitHost};
pub use output::Output;

pub use bindings::ferry::replication::{notify, registry, transfer, types};
pub use types::{
    Artifact, Decoration, Descriptor, Endpoint, ErrorKind, Filter, FilterKind, ManifestRef,
    Operation, PlanAction, PlanEntry, Policy, Report, Role, Status,
};

/// The WIT `error` record (named so to keep clear of `std::error::Error`).
pub type WitError = types::Error;
