//! Harbor's destination namespace mapping (see `ferry_scope`).

pub use ferry_scope::map_repository;
