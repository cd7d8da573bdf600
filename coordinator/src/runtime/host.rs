//! The host side of the world's imports: log/progress/time, registry HTTP,
//! blob transfer and notifications, all scoped by the stage's capabilities.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt as _;

use super::bindings::ferry::replication::{host, notify, registry, transfer, types};
use super::capabilities::Level;
use super::state::StageState;
use crate::transfer::distance::Rule;
use crate::transfer::{self as data, Kind, RegistryClient, Role, TransferError};

impl From<TransferError> for types::Error {
    fn from(e: TransferError) -> Self {
        let retryable = e.retryable();
        let kind = match e.kind {
            Kind::Invalid => types::ErrorKind::Invalid,
            Kind::Unauthorized => types::ErrorKind::Unauthorized,
            Kind::Forbidden => types::ErrorKind::Forbidden,
            Kind::NotFound => types::ErrorKind::NotFound,
            Kind::Unavailable => types::ErrorKind::Unavailable,
            Kind::Rejected => types::ErrorKind::Rejected,
            Kind::Internal => types::ErrorKind::Internal,
        };
        types::Error {
            kind,
            message: e.message,
            retryable,
        }
    }
}

fn no_registries() -> types::Error {
    types::Error {
        kind: types::ErrorKind::Internal,
        message: "no registries are reachable here (describe reaches nothing)".into(),
        retryable: false,
    }
}

impl types::Host for StageState {}

impl host::Host for StageState {
    async fn log(&mut self, level: host::Level, message: String) {
        let level = match level {
            host::Level::Debug => Level::Debug,
            host::Level::Info => Level::Info,
            host::Level::Warn => Level::Warn,
            host::Level::Error => Level::Error,
        };
        self.caps.events.log(&self.caps.scope, level, &message);
    }

    async fn progress(&mut self, items: u64) {
        self.caps.events.progress(items);
    }

    async fn now_ms(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

fn role(r: types::Role) -> Role {
    match r {
        types::Role::Source => Role::Source,
        types::Role::Target => Role::Target,
    }
}

fn request(r: registry::Request) -> data::Request {
    data::Request {
        method: r.method,
        path: r.path,
        headers: r.headers,
        body: r.body,
    }
}

fn response(r: data::Response) -> registry::Response {
    registry::Response {
        status: r.status,
        headers: r.headers,
        body: r.body,
        digest: r.digest,
    }
}

/// Concurrent requests per `send-all` call on a LAN; more to a far registry
/// (the registry's own request bound still applies).
const SEND_ALL_PARALLEL: usize = 16;

impl registry::Host for StageState {
    async fn send(
        &mut self,
        to: types::Role,
        req: registry::Request,
    ) -> Result<registry::Response, types::Error> {
        let t = self.caps.transfer.clone().ok_or_else(no_registries)?;
        let client = match role(to) {
            Role::Source => t.source(),
            Role::Target => t.target(),
        };
        Ok(response(client.send(request(req)).await?))
    }

    async fn send_all(
        &mut self,
        to: types::Role,
        reqs: Vec<registry::Request>,
    ) -> Vec<Result<registry::Response, types::Error>> {
        let Some(t) = self.caps.transfer.clone() else {
            return reqs.iter().map(|_| Err(no_registries())).collect();
        };
        let client = match role(to) {
            Role::Source => t.source().clone(),
            Role::Target => t.target().clone(),
        };
        send_many(client, reqs).await
    }

    async fn send_each(
        &mut self,
        reqs: Vec<(types::Role, registry::Request)>,
    ) -> Vec<Result<registry::Response, types::Error>> {
        let Some(t) = self.caps.transfer.clone() else {
            return reqs.iter().map(|_| Err(no_registries())).collect();
        };
        let roles: Vec<Role> = reqs.iter().map(|(to, _)| role(*to)).collect();
        let (mut to_source, mut to_target) = (Vec::new(), Vec::new());
        for (to, req) in reqs {
            match role(to) {
                Role::Source => to_source.push(req),
                Role::Target => to_target.push(req),
            }
        }
        // Both registries at once, each within its own bound.
        let (source, target) = futures::join!(
            send_many(t.source().clone(), to_source),
            send_many(t.target().clone(), to_target)
        );
        let (mut source, mut target) = (source.into_iter(), target.into_iter());
        roles
            .into_iter()
            .filter_map(|r| match r {
                Role::Source => source.next(),
                Role::Target => target.next(),
            })
            .collect()
    }
}

/// Sends requests to one registry concurrently; answers in order.
async fn send_many(
    client: Arc<RegistryClient>,
    reqs: Vec<registry::Request>,
) -> Vec<Result<registry::Response, types::Error>> {
    let parallel = match client.limits().and_then(|l| l.round_trip.shortest()) {
        Some(far) => Rule::REQUESTS.widened(SEND_ALL_PARALLEL, far),
        // The first requests to the registry: how far it is shows only
        // when they are answered, so a far registry's first round (a
        // listing with its ping) is not cut in two. The registry's own
        // request bound applies, and widens with the first answers.
        None if client.limits().is_some() => reqs.len().max(1),
        None => SEND_ALL_PARALLEL,
    };
    futures::stream::iter(reqs)
        .map(|r| {
            let client = client.clone();
            async move {
                client
                    .send(request(r))
                    .await
                    .map(response)
                    .map_err(Into::into)
            }
        })
        .buffered(parallel)
        .collect()
        .await
}

impl transfer::Host for StageState {
    /// Blobs without URLs come from the source repository, the others from
    /// where the source serves them.
    async fn copy_blobs(
        &mut self,
        source_repository: String,
        target_repository: String,
        blobs: Vec<types::Descriptor>,
        opts: transfer::Options,
    ) -> Vec<Result<transfer::Outcome, types::Error>> {
        let Some(t) = self.caps.transfer.clone() else {
            return blobs.iter().map(|_| Err(no_registries())).collect();
        };
        let opts = data::CopyOptions {
            mode: match opts.mode {
                transfer::UploadMode::Monolithic => data::UploadMode::Monolithic,
                transfer::UploadMode::Chunked => data::UploadMode::Chunked,
            },
            chunk_size: opts.chunk_size,
            mount_from: opts.mount_from,
        };
        let blobs = blobs
            .into_iter()
            .map(|d| data::Blob {
                digest: d.digest,
                size: d.size,
                urls: d.urls,
            })
            .collect();
        t.copy_blobs(&source_repository, &target_repository, blobs, &opts)
            .await
            .into_iter()
            .map(|r| {
                r.map(|o| transfer::Outcome {
                    digest: o.digest,
                    action: match o.action {
                        data::BlobAction::Present => transfer::Action::Present,
                        data::BlobAction::Mounted => transfer::Action::Mounted,
                        data::BlobAction::Uploaded => transfer::Action::Uploaded,
                    },
                    bytes: o.bytes,
                    size: o.size,
                })
                .map_err(Into::into)
            })
            .collect()
    }
}

impl notify::Host for StageState {
    async fn post(
        &mut self,
        url: String,
        content_type: String,
        body: Vec<u8>,
    ) -> Result<u16, types::Error> {
        if !self.caps.notify_urls.iter().any(|u| u == &url) {
            return Err(types::Error {
                kind: types::ErrorKind::Forbidden,
                message: format!("{url}: not a URL this step's parameters name"),
                retryable: false,
            });
        }
        let resp = self
            .caps
            .notify_http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| types::Error {
                kind: types::ErrorKind::Unavailable,
                message: format!("POST {url}: {e}"),
                retryable: true,
            })?;
        Ok(resp.status().as_u16())
    }
}
