//! The vocabulary shared by every layer (transfer, engine, store, API and
//! CLI): values that are checked once, where they enter, and then trusted.

mod kind;

pub use kind::{KindError, RegistryKind};
