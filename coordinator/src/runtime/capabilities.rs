//! What one stage invocation may reach: the policy's two registries (through
//! the execution's transfer), the notification URLs its step names, and the
//! execution's log and progress.

use std::sync::Arc;

use crate::transfer::Transfer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Where a stage's logs and progress go.
pub trait Events: Send + Sync {
    fn log(&self, scope: &str, level: Level, message: &str);
    fn progress(&self, items: u64);
}

/// Events that go to `tracing`.
pub struct TracingEvents;

impl Events for TracingEvents {
    fn log(&self, scope: &str, level: Level, message: &str) {
        match level {
            Level::Debug => tracing::debug!(target: "ferry::stage", "{scope}: {message}"),
            Level::Info => tracing::info!(target: "ferry::stage", "{scope}: {message}"),
            Level::Warn => tracing::warn!(target: "ferry::stage", "{scope}: {message}"),
            Level::Error => tracing::error!(target: "ferry::stage", "{scope}: {message}"),
        }
    }

    fn progress(&self, _items: u64) {}
}

pub struct Capabilities {
    /// The registries; `None` for describe calls, which may reach nothing.
    pub transfer: Option<Arc<Transfer>>,
    /// URLs `notify.post` may reach: those the step's parameters name.
    pub notify_urls: Vec<String>,
    pub notify_http: reqwest::Client,
    pub events: Arc<dyn Events>,
    /// "stage repo:tag", prefixed to log lines.
    pub scope: String,
}

impl Capabilities {
    /// Reaches nothing: for `describe`.
    pub fn none() -> Self {
        Self {
            transfer: None,
            notify_urls: Vec::new(),
            notify_http: reqwest::Client::new(),
            events: Arc::new(TracingEvents),
            scope: "describe".into(),
        }
    }
}
