//! The host's imports behind a trait, so that a function's logic runs
//! natively in unit tests against a fake (see `FakeHost`), and in the
//! component against [`WitHost`].

use crate::bindings::ferry::replication::{host, notify, registry, transfer};
use crate::registry::{Request, Response};
use crate::transfer::{Options, Outcome};
use crate::{Descriptor, Role, WitError};

pub use host::Level;

/// What a stage function may ask of the host.
pub trait Host {
    fn log(&self, level: Level, message: &str);

    /// Adds finished items to the execution's progress.
    fn progress(&self, items: u64);

    /// Wall-clock time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    /// One HTTP request to a registry of the policy; an `Err` means no answer.
    fn send(&self, to: Role, req: &Request) -> Result<Response, WitError>;

    /// Many requests to one registry, sent concurrently; answers in order.
    fn send_all(&self, to: Role, reqs: &[Request]) -> Vec<Result<Response, WitError>>;

    /// Requests to either registry, all sent concurrently; answers in order.
    fn send_each(&self, reqs: &[(Role, Request)]) -> Vec<Result<Response, WitError>>;

    /// Makes every blob present in the target repository, streamed inside
    /// the host from the source repository, or from the blob's `urls` when
    /// it has some; answers per blob, in order.
    fn copy_blobs(
        &self,
        source_repository: &str,
        target_repository: &str,
        blobs: &[Descriptor],
        opts: &Options,
    ) -> Vec<Result<Outcome, WitError>>;

    /// POSTs `body` to `url`, a URL the step names in its parameters; answers
    /// the HTTP status.
    fn notify_post(&self, url: &str, content_type: &str, body: &[u8]) -> Result<u16, WitError>;

    fn debug(&self, message: &str) {
        self.log(Level::Debug, message);
    }

    fn info(&self, message: &str) {
        self.log(Level::Info, message);
    }

    fn warn(&self, message: &str) {
        self.log(Level::Warn, message);
    }
}

/// The component's host: the generated imports.
pub struct WitHost;

impl Host for WitHost {
    fn log(&self, level: Level, message: &str) {
        host::log(level, message);
    }

    fn progress(&self, items: u64) {
        host::progress(items);
    }

    fn now_ms(&self) -> u64 {
        host::now_ms()
    }

    fn send(&self, to: Role, req: &Request) -> Result<Response, WitError> {
        registry::send(to, req)
    }

    fn send_all(&self, to: Role, reqs: &[Request]) -> Vec<Result<Response, WitError>> {
        registry::send_all(to, reqs)
    }

    fn send_each(&self, reqs: &[(Role, Request)]) -> Vec<Result<Response, WitError>> {
        registry::send_each(reqs)
    }

    fn copy_blobs(
        &self,
        source_repository: &str,
        target_repository: &str,
        blobs: &[Descriptor],
        opts: &Options,
    ) -> Vec<Result<Outcome, WitError>> {
        transfer::copy_blobs(source_repository, target_repository, blobs, opts)
    }

    fn notify_post(&self, url: &str, content_type: &str, body: &[u8]) -> Result<u16, WitError> {
        notify::post(url, content_type, body)
    }
}
