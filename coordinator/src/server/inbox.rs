//! Acts on stored registry events. Every coordinator runs this loop; events
//! are claimed with a lease, so one that dies before acting leaves them to
//! another (or to itself, restarted). A tagged manifest push or a tag
//! delete becomes a task of the covering policy's event-based execution
//! (one still pending is joined), in the transaction that marks the event
//! done. A blob push starts copying the blob to the target at once (see
//! `eager`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::executor::ArtifactJson;
use super::{App, eager, resolve};
use crate::store::{
    Event, EventKind, ExecStatus, NewTask, Operation, Policy, StoreError, TriggerKind, now_ms,
};

/// Events taken at once.
const BATCH: i64 = 100;
/// How often to look when nobody says there is something new.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long an acted-on event is kept: a redelivery within it is a no-op.
const KEEP: Duration = Duration::from_secs(7 * 24 * 3600);

pub struct Inbox {
    wake: Notify,
}

impl Default for Inbox {
    fn default() -> Self {
        Self {
            wake: Notify::new(),
        }
    }
}

impl Inbox {
    /// Looks for events now (some were just stored).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The loop, until the returned task is aborted.
    pub fn start(self: Arc<Self>, app: Arc<App>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let me = app.executor.id().to_string();
            let lease = app.executor.lease();
            let mut pruned: Option<Instant> = None;
            loop {
                let claimed = match app.store.claim_events(&me, lease, BATCH).await {
                    Ok(events) => events,
                    Err(e) => {
                        tracing::error!("claiming registry events: {e}");
                        Vec::new()
                    }
                };
                let full = claimed.len() as i64 == BATCH;
                for event in claimed {
                    if let Err(e) = act(&app, &event).await {
                        // Left pending: tried again once the lease ends.
                        tracing::error!(
                            "registry {} event {}: {e}",
                            event.registry_id,
                            event.event_id
                        );
                    }
                }
                if pruned.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                    pruned = Some(Instant::now());
                    let before = now_ms() - KEEP.as_millis() as i64;
                    if let Err(e) = app.store.prune_events(before).await {
                        tracing::warn!("pruning old registry events: {e}");
                    }
                }
                if full {
                    continue;
                }
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(POLL_EVERY) => {}
                }
            }
        })
    }
}

/// The enabled event-based policies whose source is `registry`, with their
/// compiled scopes.
pub async fn listeners(
    app: &App,
    registry: i64,
) -> Result<Vec<(Policy, ferry_scope::Filters)>, StoreError> {
    Ok(app
        .store
        .list_policies()
        .await?
        .into_iter()
        .filter(|p| {
            p.enabled && p.trigger.kind == TriggerKind::EventBased && p.src_registry.id == registry
        })
        .filter_map(|p| match resolve::scope(&p) {
            Ok(scope) => Some((p, scope)),
            Err(e) => {
                tracing::warn!("policy {}: its filters do not compile: {e}", p.name);
                None
            }
        })
        .collect())
}

/// Whether policy `p` (with its compiled scope) acts on an event of `kind`
/// for `repository` (and `tag`).
pub fn covers(
    p: &Policy,
    scope: &ferry_scope::Filters,
    kind: EventKind,
    repository: &str,
    tag: Option<&str>,
) -> bool {
    if !scope.repository(repository) {
        return false;
    }
    match (kind, tag) {
        (EventKind::BlobPush, _) => true,
        (EventKind::ManifestPush, Some(tag)) => scope.tag(tag),
        (EventKind::TagDelete, Some(tag)) => p.replicate_deletion && scope.tag(tag),
        (_, None) => false,
    }
}

async fn act(app: &Arc<App>, event: &Event) -> Result<(), StoreError> {
    let listeners = listeners(app, event.registry_id).await?;
    let covering: Vec<&(Policy, ferry_scope::Filters)> = listeners
        .iter()
        .filter(|(p, s)| covers(p, s, event.kind, &event.repository, event.tag.as_deref()))
        .collect();
    if covering.is_empty() {
        let why = "no enabled event-based policy covers it (any more)";
        return app.store.finish_event(event.id, why, None).await;
    }
    let operation = match event.kind {
        EventKind::BlobPush => {
            eager::start(app, event, &covering).await;
            return Ok(());
        }
        EventKind::ManifestPush => Operation::Copy,
        EventKind::TagDelete => Operation::Delete,
    };
    let mut work = Vec::with_capacity(covering.len());
    for (policy, _) in &covering {
        let target_repository = match ferry_scope::map_repository(
            &event.repository,
            &policy.dest_namespace,
            policy.dest_namespace_replace_count,
        ) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("policy {}: {e}", policy.name);
                continue;
            }
        };
        let artifact = ArtifactJson {
            operation,
            repository: event.repository.clone(),
            target_repository: target_repository.clone(),
            tag: event.tag.clone(),
            properties: Vec::new(),
            located: Vec::new(),
        };
        work.push((
            policy,
            NewTask {
                repository: event.repository.clone(),
                target_repository,
                tag: event.tag.clone(),
                digest: None,
                operation,
                status: ExecStatus::Pending,
                artifact: artifact.to_value(),
            },
        ));
    }
    if work.is_empty() {
        let why = "its repository cannot be mapped to the target (see the log)";
        return app.store.finish_event(event.id, why, None).await;
    }
    let dispatched = app.store.dispatch_event(event, &work).await?;
    if dispatched.iter().any(|d| !d.joined) {
        app.executor.wake();
    }
    Ok(())
}
