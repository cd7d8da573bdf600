//! Host bindings of the `ferry:replication` world (wit/replication.wit).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "stage",
    imports: { default: async },
    exports: { default: async },
});

pub use ferry::replication::types::{
    Decoration, Descriptor, Endpoint as WitEndpoint, Error as WitError, ErrorKind, Filter,
    FilterKind, ManifestRef, Operation, PlanAction, Policy as WitPolicy,
};
