//! Runs executions: claims pending ones from the store (any coordinator on
//! the same database may), runs them through the engine, records tasks as
//! they finish, keeps a lease while running, and honours stop requests by
//! dropping the run, which cancels transfers in flight.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{Mutex, Notify, Semaphore};

use super::{App, resolve};
use crate::engine::runner::operation;
use crate::engine::{
    ExecutionReport, ExecutionStatus, Outcome, PlanAction, Progress, Recorder, RunContext, Runner,
    Seed, TaskReport, TaskStatus,
};
use crate::runtime::{Artifact, Descriptor, TracingEvents};
use crate::store::{
    ExecCounts, ExecStatus, ExecTrigger, Execution, MAX_RESUMES, NewTask, Operation, Store,
    StoreError, TaskUpdate, now_ms,
};

const POLL_EVERY: Duration = Duration::from_secs(1);
const STOP_POLL: Duration = Duration::from_millis(300);
/// Attempts at a write whose loss would lose a final state (an execution's
/// end, a task's last status), and the wait before the first retry
/// (doubling after).
const WRITE_ATTEMPTS: u32 = 4;
const WRITE_BACKOFF: Duration = Duration::from_millis(250);

/// Runs a store write that must not be lost, trying again while the
/// database fails (other errors will not change), and answers its last
/// error. `what` names the write in the log.
async fn persist<F, Fut>(what: &str, mut write: F) -> Result<(), StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), StoreError>>,
{
    let (mut attempt, mut wait) = (1, WRITE_BACKOFF);
    loop {
        match write().await {
            Err(StoreError::Database(e)) if attempt < WRITE_ATTEMPTS => {
                tracing::warn!(
                    "{what} (attempt {attempt} of {WRITE_ATTEMPTS}): {e}; retrying in {wait:?}"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
                wait *= 2;
            }
            result => return result,
        }
    }
}

/// Ends execution `id` in the store, retrying; logs when it could not.
async fn finish(
    store: &Store,
    id: i64,
    status: ExecStatus,
    text: &str,
    counts: ExecCounts,
    report: serde_json::Value,
) {
    let what = format!("recording the end of execution {id}");
    let write = || store.finish_execution(id, status, text, counts, report.clone());
    if let Err(e) = persist(&what, write).await {
        tracing::error!("{what} ({} with {counts:?}): {e}", status.as_str());
    }
}

pub struct Executor {
    id: String,
    /// How long a claim lasts without renewal: a coordinator that dies is
    /// noticed after this, and its executions are failed (renewed every third).
    lease: Duration,
    slots: Arc<Semaphore>,
    wake: Notify,
    runner: Arc<Runner>,
}

impl Executor {
    pub fn new(id: String, max_executions: usize, lease: Duration, runner: Arc<Runner>) -> Self {
        Self {
            id,
            lease,
            slots: Arc::new(Semaphore::new(max_executions)),
            wake: Notify::new(),
            runner,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// How long a claim lasts without renewal.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Looks for pending executions now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The claim loop, until the returned task is aborted.
    pub fn start(self: Arc<Self>, app: Arc<App>) -> tokio::task::JoinHandle<()> {
        let runner = self.runner.clone();
        tokio::spawn(async move {
            let renew = self.lease / 3;
            let mut last_recovery: Option<std::time::Instant> = None;
            loop {
                if last_recovery.is_none_or(|t| t.elapsed() >= renew) {
                    // The first pass also takes back what this coordinator
                    // held before it restarted under the same name.
                    let mine = last_recovery.is_none().then_some(self.id.as_str());
                    last_recovery = Some(std::time::Instant::now());
                    match app.store.recover_expired(now_ms(), mine).await {
                        Ok(r) => {
                            if !r.resumed.is_empty() {
                                tracing::warn!(
                                    "resuming executions {:?}: their coordinator stopped",
                                    r.resumed
                                );
                            }
                            if !r.failed.is_empty() {
                                tracing::warn!(
                                    "failed executions {:?}: their coordinator stopped {MAX_RESUMES} times",
                                    r.failed
                                );
                            }
                        }
                        Err(e) => tracing::error!("recovering expired executions: {e}"),
                    }
                }
                while let Ok(slot) = self.slots.clone().try_acquire_owned() {
                    match app.store.claim_pending(&self.id, self.lease).await {
                        Ok(Some(exec)) => {
                            let (app, me, runner) = (app.clone(), self.clone(), runner.clone());
                            tokio::spawn(async move {
                                me.run_one(&app, &runner, exec).await;
                                drop(slot);
                            });
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::error!("claiming executions: {e}");
                            break;
                        }
                    }
                }
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(POLL_EVERY) => {}
                }
            }
        })
    }

    async fn run_one(&self, app: &Arc<App>, runner: &Runner, exec: Execution) {
        let id = exec.id;
        let mut seeded = Vec::new();
        let mut finished = Vec::new();
        let prepared = async {
            let policy = app.store.get_policy(exec.policy_id).await?;
            let engine_policy = resolve::engine_policy(app, &policy).await?;
            let template = resolve::template(app, &policy.template).await?;
            let recorded = match exec.resumed {
                0 => Vec::new(),
                _ => app.store.task_states(id).await?,
            };
            let seed = match (exec.retry_of, exec.trigger) {
                // Taken over after its coordinator stopped, with tasks
                // recorded: the unfinished ones run, the rest stand.
                _ if !recorded.is_empty() => {
                    let mut artifacts = Vec::new();
                    for (task, status, v) in recorded {
                        match finished_status(status) {
                            Some(done) => finished.push((task, Some(done))),
                            None => {
                                if let Ok(a) = serde_json::from_value::<ArtifactJson>(v) {
                                    seeded.push(task);
                                    artifacts.push(Artifact::from(a));
                                }
                            }
                        }
                    }
                    Some(Seed {
                        reason: format!(
                            "not run: resumed after its coordinator stopped, with the {} unfinished of the {} task(s) the listing recorded",
                            artifacts.len(),
                            artifacts.len() + finished.len()
                        ),
                        artifacts,
                    })
                }
                (Some(of), _) => {
                    let artifacts = app
                        .store
                        .task_artifacts(of, ExecStatus::Failed)
                        .await?
                        .into_iter()
                        .filter_map(|v| {
                            serde_json::from_value::<ArtifactJson>(v)
                                .ok()
                                .map(Artifact::from)
                        })
                        .collect();
                    Some(Seed {
                        artifacts,
                        reason: format!(
                            "not run: retry of execution {of} re-runs its failed artifacts"
                        ),
                    })
                }
                // Its tasks came with the registry's events.
                (None, ExecTrigger::EventBased) => {
                    let (ids, artifacts): (Vec<i64>, Vec<Artifact>) = app
                        .store
                        .seeded_tasks(id)
                        .await?
                        .into_iter()
                        .filter_map(|(task, v)| {
                            serde_json::from_value::<ArtifactJson>(v)
                                .ok()
                                .map(|a| (task, Artifact::from(a)))
                        })
                        .unzip();
                    seeded = ids;
                    Some(Seed {
                        reason: format!(
                            "not run: the registry's notifications named the {} artifact(s)",
                            artifacts.len()
                        ),
                        artifacts,
                    })
                }
                (None, _) => None,
            };
            Ok::<_, resolve::ResolveError>((engine_policy, template, seed))
        }
        .await;
        let (policy, template, seed) = match prepared {
            Ok(p) => p,
            Err(e) => {
                let text = format!("cannot start: {e}");
                tracing::warn!("execution {id}: {text}");
                finish(
                    &app.store,
                    id,
                    ExecStatus::Failed,
                    &text,
                    ExecCounts::default(),
                    serde_json::json!([]),
                )
                .await;
                return;
            }
        };
        let progress = Arc::new(Progress::default());
        // A resumed execution counts on from what it had moved.
        progress
            .bytes
            .store(exec.bytes.max(0) as u64, Ordering::Relaxed);
        let recorder = Arc::new(StoreRecorder::new(
            app.store.clone(),
            id,
            progress.clone(),
            seeded,
            finished,
        ));
        let ctx = RunContext {
            execution_id: id.to_string(),
            events: Arc::new(TracingEvents),
            progress: progress.clone(),
            recorder: recorder.clone(),
            seed,
            dry_run: exec.dry_run,
        };
        let run = runner.run(ctx, &policy, &template);
        tokio::select! {
            result = run => {
                let (status, text, report) = match result {
                    Ok(report) => {
                        if let Some(plan) = &report.plan
                            && let Err(e) = app.store.set_plan(id, serde_json::to_value(plan).unwrap_or_default()).await
                        {
                            tracing::error!("recording the plan of execution {id}: {e}");
                        }
                        summarize(&report)
                    }
                    Err(e) => (ExecStatus::Failed, e.to_string(), serde_json::json!([])),
                };
                let counts = recorder.counts().await;
                finish(&app.store, id, status, &text, counts, report).await;
            }
            _ = stop_requested(&app.store, id) => {
                // Dropping the run cancelled every transfer in flight.
                recorder.stop_unfinished().await;
                let counts = recorder.counts().await;
                finish(&app.store, id, ExecStatus::Stopped, "stopped by request", counts, serde_json::json!([])).await;
            }
            _ = keep_lease(&app.store, id, &self.id, self.lease) => {
                tracing::error!("execution {id}: lease lost to recovery; stopping here");
            }
        }
    }
}

/// The status a recorded task ended with; `None` while it is unfinished.
fn finished_status(status: ExecStatus) -> Option<TaskStatus> {
    match status {
        ExecStatus::Succeeded => Some(TaskStatus::Succeeded),
        ExecStatus::Failed => Some(TaskStatus::Failed),
        ExecStatus::Skipped => Some(TaskStatus::Skipped),
        ExecStatus::Stopped => Some(TaskStatus::Stopped),
        ExecStatus::Pending | ExecStatus::Running => None,
    }
}

/// Resolves when a stop was requested for the execution.
async fn stop_requested(store: &Store, id: i64) {
    loop {
        tokio::time::sleep(STOP_POLL).await;
        if let Ok(true) = store.stop_requested(id).await {
            return;
        }
    }
}

/// Renews the lease; resolves only when it was lost.
async fn keep_lease(store: &Store, id: i64, me: &str, lease: Duration) {
    loop {
        tokio::time::sleep(lease / 3).await;
        match store.renew_lease(id, me, lease).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => tracing::warn!("renewing the lease of execution {id}: {e}"),
        }
    }
}

/// The execution's status and text from the engine's report.
fn summarize(report: &ExecutionReport) -> (ExecStatus, String, serde_json::Value) {
    let json = serde_json::to_value(&report.stages).unwrap_or_default();
    if let Some(failed) = report.stages.iter().find(|s| s.outcome == Outcome::Failed) {
        let why = failed.error.clone().unwrap_or_default();
        return (
            ExecStatus::Failed,
            format!("stage {} failed: {why}", failed.stage),
            json,
        );
    }
    if let Some(plan) = &report.plan {
        let n = |a: PlanAction| plan.iter().filter(|e| e.action == a).count();
        return (
            ExecStatus::Succeeded,
            format!(
                "dry run: {} to copy, {} to skip, {} to delete",
                n(PlanAction::Copy),
                n(PlanAction::Skip),
                n(PlanAction::Delete)
            ),
            json,
        );
    }
    let total = report.tasks.len();
    let failed = report
        .tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Failed)
        .count();
    let deletions = report
        .tasks
        .iter()
        .filter(|t| t.operation == Operation::Delete)
        .count();
    match report.status {
        ExecutionStatus::Succeeded if deletions > 0 => (
            ExecStatus::Succeeded,
            format!(
                "{} artifact(s) replicated, {deletions} deletion(s) replicated",
                total - deletions
            ),
            json,
        ),
        ExecutionStatus::Succeeded => (
            ExecStatus::Succeeded,
            format!("{total} artifact(s) replicated"),
            json,
        ),
        ExecutionStatus::Failed => (
            ExecStatus::Failed,
            format!("{failed} of {total} artifact(s) failed"),
            json,
        ),
    }
}

/// An artifact as stored in a task row, to run it (again).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ArtifactJson {
    #[serde(default)]
    pub operation: Operation,
    pub repository: String,
    pub target_repository: String,
    pub tag: Option<String>,
    /// What the listing handed on (see the WIT's `artifact.properties`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<(String, String)>,
    /// Blobs the listing found at URLs: a retry could not find them again
    /// in a repository.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub located: Vec<LocatedJson>,
}

/// A blob at URLs, as a task row keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct LocatedJson {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub urls: Vec<String>,
}

impl ArtifactJson {
    /// The part of a listed artifact that a task row keeps.
    pub fn of(a: &Artifact) -> Self {
        Self {
            operation: a.operation.into(),
            repository: a.repository.clone(),
            target_repository: a.target_repository.clone(),
            tag: a.tag.clone(),
            properties: a.properties.clone(),
            located: a
                .blobs
                .iter()
                .filter(|b| !b.urls.is_empty())
                .map(|b| LocatedJson {
                    media_type: b.media_type.clone(),
                    digest: b.digest.clone(),
                    size: b.size,
                    urls: b.urls.clone(),
                })
                .collect(),
        }
    }
}

impl ArtifactJson {
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl From<ArtifactJson> for Artifact {
    fn from(a: ArtifactJson) -> Self {
        // A retry resolves the tag again: the source may have moved on.
        Artifact {
            operation: a.operation.into(),
            repository: a.repository,
            target_repository: a.target_repository,
            tag: a.tag,
            digest: None,
            media_type: None,
            manifests: Vec::new(),
            referrers: Vec::new(),
            no_referrers: false,
            blobs: a
                .located
                .into_iter()
                .map(|b| Descriptor {
                    media_type: b.media_type,
                    digest: b.digest,
                    size: b.size,
                    urls: b.urls,
                })
                .collect(),
            properties: a.properties,
        }
    }
}

/// Writes tasks to the store as the engine reports them.
struct StoreRecorder {
    store: Store,
    execution: i64,
    progress: Arc<Progress>,
    /// Task ids and last known status, in listing order.
    tasks: Mutex<Vec<(i64, Option<TaskStatus>)>>,
}

impl StoreRecorder {
    /// `seeded`: the ids of tasks recorded before the run (an event-based
    /// run's, or a resumed one's unfinished tasks), which the run's
    /// artifacts are, in order; `finished`: tasks that ended before (a
    /// resumed run's), counted but not run.
    fn new(
        store: Store,
        execution: i64,
        progress: Arc<Progress>,
        seeded: Vec<i64>,
        finished: Vec<(i64, Option<TaskStatus>)>,
    ) -> Self {
        let mut tasks: Vec<_> = seeded.into_iter().map(|id| (id, None)).collect();
        tasks.extend(finished);
        Self {
            store,
            execution,
            progress,
            tasks: Mutex::new(tasks),
        }
    }

    async fn counts(&self) -> ExecCounts {
        let tasks = self.tasks.lock().await;
        let n = |s: TaskStatus| tasks.iter().filter(|(_, t)| *t == Some(s)).count() as i64;
        let total = tasks.len() as i64;
        let (succeed, failed) = (
            n(TaskStatus::Succeeded) + n(TaskStatus::Skipped),
            n(TaskStatus::Failed),
        );
        ExecCounts {
            total,
            succeed,
            failed,
            in_progress: total - succeed - failed - n(TaskStatus::Stopped),
            stopped: n(TaskStatus::Stopped),
            bytes: self.progress.bytes.load(Ordering::Relaxed) as i64,
        }
    }

    async fn stop_unfinished(&self) {
        let mut tasks = self.tasks.lock().await;
        for (id, status) in tasks.iter_mut().filter(|(_, s)| s.is_none()) {
            *status = Some(TaskStatus::Stopped);
            let update = TaskUpdate {
                status: ExecStatus::Stopped,
                attempts: 0,
                stages: serde_json::json!([]),
                error: Some("stopped by request".into()),
                reason: None,
                digest: None,
                end_time: Some(now_ms()),
            };
            self.record_task(*id, update).await;
        }
    }

    /// Writes a task's final state, retrying; logs when it could not.
    async fn record_task(&self, task: i64, update: TaskUpdate) {
        let what = format!("execution {}: recording task {task}", self.execution);
        let write = || self.store.update_task(task, update.clone());
        if let Err(e) = persist(&what, write).await {
            tracing::error!("{what} as {}: {e}", update.status);
        }
    }

    /// Writes the execution's counters; the next write (every task's end,
    /// and the execution's) carries them again, so a failure is only logged.
    async fn record_counts(&self) {
        let counts = self.counts().await;
        if let Err(e) = self.store.set_counts(self.execution, counts).await {
            tracing::warn!(
                "execution {}: recording task counts {counts:?}: {e}",
                self.execution
            );
        }
    }
}

impl Recorder for StoreRecorder {
    fn listed<'a>(&'a self, artifacts: &'a [Artifact]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if !self.tasks.lock().await.is_empty() {
                // Recorded already, before the run.
                self.record_counts().await;
                return;
            }
            let rows: Vec<NewTask> = artifacts
                .iter()
                .map(|a| NewTask {
                    repository: a.repository.clone(),
                    target_repository: a.target_repository.clone(),
                    tag: a.tag.clone(),
                    digest: a.digest.clone(),
                    operation: operation(a),
                    status: ExecStatus::Running,
                    artifact: ArtifactJson::of(a).to_value(),
                })
                .collect();
            match self.store.insert_tasks(self.execution, &rows).await {
                Ok(ids) => {
                    *self.tasks.lock().await = ids.into_iter().map(|id| (id, None)).collect()
                }
                Err(e) => tracing::error!("execution {}: recording tasks: {e}", self.execution),
            }
            self.record_counts().await;
        })
    }

    fn task<'a>(&'a self, index: usize, task: &'a TaskReport) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let id = {
                let mut tasks = self.tasks.lock().await;
                let Some(entry) = tasks.get_mut(index) else {
                    return;
                };
                entry.1 = Some(task.status);
                entry.0
            };
            let update = TaskUpdate {
                status: task.status.into(),
                attempts: task
                    .stages
                    .iter()
                    .map(|s| s.attempts as i64)
                    .max()
                    .unwrap_or(0),
                stages: serde_json::to_value(&task.stages).unwrap_or_default(),
                error: task.error.clone(),
                reason: task.reason.clone(),
                digest: task.digest.clone(),
                end_time: Some(now_ms()),
            };
            self.record_task(id, update).await;
            self.record_counts().await;
        })
    }
}
