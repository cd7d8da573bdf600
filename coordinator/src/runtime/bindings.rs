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

/// A task's operation is the WIT `operation`, one for one.
impl From<Operation> for crate::store::Operation {
    fn from(o: Operation) -> Self {
        match o {
            Operation::Copy => Self::Copy,
            Operation::Delete => Self::Delete,
        }
    }
}

impl From<crate::store::Operation> for Operation {
    fn from(o: crate::store::Operation) -> Self {
        match o {
            crate::store::Operation::Copy => Self::Copy,
            crate::store::Operation::Delete => Self::Delete,
        }
    }
}
