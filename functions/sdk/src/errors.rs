//! WIT errors: a kind, a message, and whether running again may help.

use crate::{ErrorKind, WitError};

/// Builds an error.
pub fn error(kind: ErrorKind, message: impl Into<String>, retryable: bool) -> WitError {
    WitError {
        kind,
        message: message.into(),
        retryable,
    }
}

/// A malformed input or document; never retryable.
pub fn invalid(message: impl Into<String>) -> WitError {
    error(ErrorKind::Invalid, message, false)
}

/// Content the registry refused, or that does not match what was expected.
pub fn rejected(message: impl Into<String>) -> WitError {
    error(ErrorKind::Rejected, message, false)
}

pub fn not_found(message: impl Into<String>) -> WitError {
    error(ErrorKind::NotFound, message, false)
}

pub fn internal(message: impl Into<String>) -> WitError {
    error(ErrorKind::Internal, message, false)
}

/// The same error, its message prefixed with context.
pub fn context(e: WitError, what: impl std::fmt::Display) -> WitError {
    WitError {
        message: format!("{what}: {}", e.message),
        ..e
    }
}
