//! The policy's filters, from its WIT records (see `ferry_scope`).

pub use ferry_scope::{Filters, Resource};
use ferry_sdk::errors::invalid;
use ferry_sdk::{Decoration, Filter, FilterKind, WitError};

/// Compiles the policy's filters; a bad one is an `invalid` error.
pub fn filters(list: &[Filter]) -> Result<Filters, WitError> {
    Filters::new(list.iter().map(|f| ferry_scope::Filter {
        kind: match f.kind {
            FilterKind::Repository => ferry_scope::Kind::Repository,
            FilterKind::Tag => ferry_scope::Kind::Tag,
            FilterKind::Label => ferry_scope::Kind::Label,
            FilterKind::Resource => ferry_scope::Kind::Resource,
        },
        pattern: &f.pattern,
        keep: matches!(f.decoration, Decoration::Matches),
    }))
    .map_err(invalid)
}
