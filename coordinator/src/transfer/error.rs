use std::fmt;

/// How a failure should be treated; maps onto the WIT `error-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invalid,
    Unauthorized,
    Forbidden,
    NotFound,
    Unavailable,
    Rejected,
    Internal,
}

/// A data-plane failure: what failed, where, and whether a retry may help.
#[derive(Debug, Clone)]
pub struct TransferError {
    pub kind: Kind,
    pub message: String,
}

impl TransferError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub fn retryable(&self) -> bool {
        self.kind == Kind::Unavailable
    }

    /// Classifies an HTTP status the registry answered with.
    pub fn from_status(status: u16, context: impl fmt::Display, body: &[u8]) -> Self {
        let kind = match status {
            401 => Kind::Unauthorized,
            403 => Kind::Forbidden,
            404 => Kind::NotFound,
            408 | 429 | 500..=599 => Kind::Unavailable,
            _ => Kind::Rejected,
        };
        let mut message = format!("{context}: HTTP {status}");
        if let Some(detail) = error_envelope(body) {
            message.push_str(": ");
            message.push_str(&detail);
        }
        if kind == Kind::Unauthorized {
            message.push_str(" (check the credentials)");
        }
        Self { kind, message }
    }
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransferError {}

/// The registry's `{"errors":[{"code","message"}]}` envelope, as one line.
pub fn error_envelope(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let env: Envelope = serde_json::from_slice(body).ok()?;
    let parts: Vec<String> = env
        .errors
        .iter()
        .map(|e| format!("{} {}", e.code, e.message).trim().to_string())
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}
