//! A replication policy as the engine runs it: endpoints with credentials
//! (host-only) and the view a stage gets (without them).

use crate::runtime::{Decoration, Filter, FilterKind, WitEndpoint, WitPolicy};
use crate::transfer::Endpoint;

#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub source: Endpoint,
    pub target: Endpoint,
    pub dest_namespace: String,
    /// Harbor's meaning: -1 keeps the last path component, 0 all, n drops n.
    pub dest_namespace_replace_count: i32,
    pub filters: Vec<Filter>,
    pub override_existing: bool,
    /// Delete target tags, in scope, whose source tag is gone.
    pub replicate_deletion: bool,
    pub copy_by_chunk: bool,
    pub chunk_size: u64,
    /// Bytes per second for all of an execution's blobs; `None`: unlimited.
    pub speed: Option<u64>,
}

impl Policy {
    /// What a stage sees: no credentials.
    pub fn view(&self) -> WitPolicy {
        let endpoint = |e: &Endpoint| WitEndpoint {
            url: e.display_url(),
            kind: e.kind.to_string(),
            insecure: e.insecure,
        };
        WitPolicy {
            name: self.name.clone(),
            source: endpoint(&self.source),
            target: endpoint(&self.target),
            dest_namespace: self.dest_namespace.clone(),
            dest_namespace_replace_count: self.dest_namespace_replace_count,
            filters: self.filters.clone(),
            override_: self.override_existing,
            replicate_deletion: self.replicate_deletion,
            copy_by_chunk: self.copy_by_chunk,
            chunk_size: self.chunk_size,
        }
    }
}

/// A `matches` filter.
pub fn matches(kind: FilterKind, pattern: &str) -> Filter {
    Filter {
        kind,
        pattern: pattern.to_string(),
        decoration: Decoration::Matches,
    }
}

/// An `excludes` filter.
pub fn excludes(kind: FilterKind, pattern: &str) -> Filter {
    Filter {
        kind,
        pattern: pattern.to_string(),
        decoration: Decoration::Excludes,
    }
}
