//! Blobs copied ahead of their manifest: when the source says a blob was
//! pushed (or mounted) into a repository an event-based policy covers, it
//! starts moving to the target repository at once, so that when the
//! manifest's event comes, its execution finds the blobs in place.
//!
//! These are ordinary blob copies through the engine's data plane: bounded
//! by the same limits as every other copy, one at a time per blob and
//! target repository with whatever else is moving it (an execution waits
//! for this copy rather than making its own), and remembered by the
//! existence cache; across coordinators, through the store's claims on blob
//! moves. The event records the outcome, and the execution the manifest
//! later starts lists the event.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use indicatif::HumanBytes;

use super::{App, resolve};
use crate::store::{Event, Policy};
use crate::transfer::{Blob, BlobAction, CopyOptions, UploadMode};

/// One policy's copy of the event's blob.
struct Copy {
    policy: String,
    engine: crate::engine::Policy,
    target_repository: String,
    mount_from: Vec<String>,
}

/// Starts copying the event's blob for every policy in `covering`. The
/// event stays claimed (its lease renewed) until the copies end, and is
/// then marked done with their outcome: a coordinator that dies mid-copy
/// leaves it to another.
pub async fn start(app: &Arc<App>, event: &Event, covering: &[&(Policy, ferry_scope::Filters)]) {
    let (Some(digest), Some(size)) = (event.digest.clone(), event.size) else {
        finish(
            app,
            event.id,
            "no digest and size: left to the manifest's execution",
        )
        .await;
        return;
    };
    let mut copies = Vec::new();
    let mut notes = Vec::new();
    for (policy, _) in covering {
        let map = |repository: &str| {
            ferry_scope::map_repository(
                repository,
                &policy.dest_namespace,
                policy.dest_namespace_replace_count,
            )
        };
        let target_repository = match map(&event.repository) {
            Ok(t) => t,
            Err(e) => {
                notes.push(format!("policy {}: {e}", policy.name));
                continue;
            }
        };
        match resolve::engine_policy(app, policy).await {
            Ok(engine) => copies.push(Copy {
                policy: policy.name.clone(),
                engine,
                target_repository,
                mount_from: event
                    .from_repository
                    .as_deref()
                    .and_then(|f| map(f).ok())
                    .into_iter()
                    .collect(),
            }),
            Err(e) => notes.push(format!("policy {}: {e}", policy.name)),
        }
    }
    if copies.is_empty() {
        finish(app, event.id, &notes.join("; ")).await;
        return;
    }
    let (app, id) = (app.clone(), event.id);
    let source_repository = event.repository.clone();
    let blob = Blob {
        digest,
        size: u64::try_from(size).unwrap_or(0),
        urls: Vec::new(),
    };
    tokio::spawn(async move {
        let copies = futures::future::join_all(
            copies
                .iter()
                .map(|c| copy_one(&app, c, &source_repository, blob.clone())),
        );
        let copied = holding_lease(&app, id, copies).await;
        notes.extend(copied);
        finish(&app, id, &notes.join("; ")).await;
    });
}

/// Runs `work` while renewing this coordinator's lease on event `id`.
async fn holding_lease<T>(app: &App, id: i64, work: impl Future<Output = T>) -> T {
    let lease = app.executor.lease();
    let mut renew = tokio::time::interval(lease / 3);
    renew.tick().await;
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = renew.tick() => {
                if let Err(e) = app.store.renew_event(id, app.executor.id(), lease).await {
                    tracing::warn!("renewing the lease on registry event {id}: {e}");
                }
            }
        }
    }
}

/// Copies the blob for one policy; answers what happened, for the record.
async fn copy_one(app: &App, c: &Copy, source_repository: &str, blob: Blob) -> String {
    let digest = blob.digest.clone();
    let transfer = match app.runner.transfer(&c.engine, Arc::new(AtomicU64::new(0))) {
        Ok(t) => t,
        Err(e) => return format!("policy {}: {e}", c.policy),
    };
    let opts = CopyOptions {
        mode: if c.engine.copy_by_chunk {
            UploadMode::Chunked
        } else {
            UploadMode::Monolithic
        },
        chunk_size: c.engine.chunk_size,
        mount_from: c.mount_from.clone(),
    };
    let at = format!("{}/{}", c.engine.target.display_url(), c.target_repository);
    let outcome = transfer
        .copy_blobs(source_repository, &c.target_repository, vec![blob], &opts)
        .await
        .pop();
    match outcome {
        Some(Ok(o)) => {
            let what = match o.action {
                BlobAction::Present => "already present".to_string(),
                BlobAction::Mounted => "mounted".to_string(),
                BlobAction::Uploaded => format!("uploaded ({})", HumanBytes(o.bytes)),
            };
            tracing::debug!("{digest} copied ahead to {at}: {what}");
            format!("{digest} {what} at {at} (policy {})", c.policy)
        }
        Some(Err(e)) => {
            tracing::warn!("{digest} could not be copied ahead to {at}: {e}");
            format!(
                "{digest} not copied ahead to {at} (policy {}): {e}; the execution copies it",
                c.policy
            )
        }
        None => format!("{digest}: no answer from the copy"),
    }
}

async fn finish(app: &App, id: i64, outcome: &str) {
    if let Err(e) = app.store.finish_event(id, outcome, None).await {
        tracing::warn!("registry event {id}: {e}");
    }
}
