//! Runs one execution of a template: execution-scoped stages once,
//! artifact-scoped stages per artifact in parallel, `always` stages after a
//! failure too, and every result recorded in template order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::future::BoxFuture;

use super::policy::Policy;
use super::report::{
    ExecutionReport, ExecutionStatus, Outcome, PlanAction, PlanEntry, StageRecord, TaskReport,
    TaskStatus, artifact_name,
};
use super::template::{Scope, Stage, Template, When};
use crate::runtime::{
    self, Artifact, Capabilities, ErrorKind, Events, InvokeError, Report, Runtime, StageInput,
    StageOutput, Status, WitError,
};
use crate::store::Operation;
use crate::transfer::distance::{Rule, Widening};
use crate::transfer::{Known, Limits, RegistryClient, Role, Transfer, TransferError};

/// Live counters of an execution, for progress displays.
#[derive(Debug, Default)]
pub struct Progress {
    pub planned: AtomicU64,
    pub done: AtomicU64,
    pub failed: AtomicU64,
    pub bytes: Arc<AtomicU64>,
}

/// Events that also count finished items into a `Progress`.
struct Counting {
    inner: Arc<dyn Events>,
    progress: Arc<Progress>,
}

impl Events for Counting {
    fn log(&self, scope: &str, level: crate::runtime::Level, message: &str) {
        self.inner.log(scope, level, message);
    }

    fn progress(&self, items: u64) {
        self.progress.done.fetch_add(items, Ordering::Relaxed);
    }
}

/// Where an execution's progress is recorded as it happens (the service's
/// store); `ferry copy` keeps only the final report.
pub trait Recorder: Send + Sync {
    /// The artifacts are known: after the listing stage, or from a retry.
    fn listed<'a>(&'a self, artifacts: &'a [Artifact]) -> BoxFuture<'a, ()>;
    /// Task `index` (in listing order) finished a run of artifact stages.
    fn task<'a>(&'a self, index: usize, task: &'a TaskReport) -> BoxFuture<'a, ()>;
}

/// What one invocation of a stage's function answered: its output or its
/// error, or why it produced no answer (a trap, its deadline, its code).
pub type Answer = Result<Result<StageOutput, WitError>, InvokeError>;

/// How the runner invokes a stage's function, once: the seam between the
/// runner's rules (`when`, barriers, routing, retries, records) and the
/// WebAssembly runtime. `Runtime` is the production invoker; tests answer
/// without WebAssembly or registries.
pub trait Invoke: Send + Sync {
    /// One attempt at `stage` on `input`, reaching what `caps` allows,
    /// within the stage's deadline.
    fn invoke<'a>(
        &'a self,
        stage: &'a Stage,
        caps: Arc<Capabilities>,
        input: StageInput,
    ) -> BoxFuture<'a, Answer>;
}

impl Invoke for Runtime {
    fn invoke<'a>(
        &'a self,
        stage: &'a Stage,
        caps: Arc<Capabilities>,
        input: StageInput,
    ) -> BoxFuture<'a, Answer> {
        Box::pin(self.run(&stage.function, caps, input, stage.timeout))
    }
}

/// Where a stage's `when` is asked: what it would run for (the execution,
/// or one artifact's task) stands like this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Standing {
    /// What stops `on-success` stages: for the execution, a failed
    /// execution-scoped stage; for a task, that or the task not succeeding.
    pub halted: bool,
    /// A failure that `on-failure` stages answer: for the execution, a stage
    /// or any task failed; for a task, the task failed.
    pub failed: bool,
    /// Nothing left to run for: a skipped task (never the execution).
    pub skipped: bool,
}

impl Standing {
    /// The execution's standing, before an execution-scoped stage.
    fn execution(exec_failed: bool, tasks: &[Task]) -> Self {
        Self {
            halted: exec_failed,
            failed: exec_failed || tasks.iter().any(|t| t.status == TaskStatus::Failed),
            skipped: false,
        }
    }

    /// A task's standing, before an artifact-scoped stage.
    fn task(exec_failed: bool, status: TaskStatus) -> Self {
        Self {
            halted: exec_failed || status != TaskStatus::Succeeded,
            failed: status == TaskStatus::Failed,
            skipped: status == TaskStatus::Skipped,
        }
    }
}

impl When {
    /// The `when` rule, for both scopes: `None` when the stage runs, else
    /// the reason recorded for not running it.
    pub(crate) fn excludes(self, standing: Standing) -> Option<&'static str> {
        let runs = !standing.skipped
            && match self {
                When::OnSuccess => !standing.halted,
                When::Always => true,
                When::OnFailure => standing.failed,
            };
        match (runs, standing.skipped) {
            (true, _) => None,
            (false, true) => Some("not run: the artifact was skipped"),
            (false, false) => Some("not run: an earlier stage failed"),
        }
    }
}

/// Records nothing.
pub struct NoRecorder;

impl Recorder for NoRecorder {
    fn listed<'a>(&'a self, _: &'a [Artifact]) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn task<'a>(&'a self, _: usize, _: &'a TaskReport) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// Artifacts given up front (a retry of failed tasks), skipping the listing.
pub struct Seed {
    pub artifacts: Vec<Artifact>,
    /// Recorded as the listing stage's reason for not running.
    pub reason: String,
}

/// One execution's identity and sinks.
pub struct RunContext {
    pub execution_id: String,
    pub events: Arc<dyn Events>,
    pub progress: Arc<Progress>,
    pub recorder: Arc<dyn Recorder>,
    pub seed: Option<Seed>,
    /// Run the listing stage only, asking it for its plan; write nothing.
    pub dry_run: bool,
}

impl RunContext {
    /// A context that records nothing beyond progress (for `ferry copy`).
    pub fn new(
        execution_id: impl Into<String>,
        events: Arc<dyn Events>,
        progress: Arc<Progress>,
    ) -> Self {
        Self {
            execution_id: execution_id.into(),
            events,
            progress,
            recorder: Arc::new(NoRecorder),
            seed: None,
            dry_run: false,
        }
    }
}

/// Keeps a stage invocation's log lines for its record (bounded), and
/// passes every line on.
struct Collect {
    inner: Arc<dyn Events>,
    lines: std::sync::Mutex<Vec<String>>,
}

/// Log lines kept per stage record; the rest are only passed on.
const MAX_LOG_LINES: usize = 200;

impl Events for Collect {
    fn log(&self, scope: &str, level: crate::runtime::Level, message: &str) {
        self.inner.log(scope, level, message);
        if level >= crate::runtime::Level::Info {
            let mut lines = self.lines.lock().expect("log lines lock");
            if lines.len() < MAX_LOG_LINES {
                lines.push(format!("{}: {message}", level.name()));
            }
        }
    }

    fn progress(&self, items: u64) {
        self.inner.progress(items);
    }
}

/// Shared by all executions of a process.
pub struct Runner {
    invoker: Arc<dyn Invoke>,
    /// Bounds on blob copies and requests, across the process.
    limits: Arc<Limits>,
    /// What the targets are known to hold, across runs.
    known: Arc<Known>,
    notify_http: reqwest::Client,
}

struct Task {
    artifact: Artifact,
    records: Vec<StageRecord>,
    status: TaskStatus,
    error: Option<String>,
    /// Why a skipped task was skipped.
    reason: Option<String>,
}

impl Task {
    fn new(artifact: Artifact) -> Self {
        Self {
            artifact,
            records: Vec::new(),
            status: TaskStatus::Succeeded,
            error: None,
            reason: None,
        }
    }

    fn operation(&self) -> Operation {
        operation(&self.artifact)
    }

    fn skip(&mut self, why: Option<String>) {
        self.status = TaskStatus::Skipped;
        self.reason = why;
    }

    fn fail(&mut self, why: String) {
        if self.status != TaskStatus::Failed {
            self.status = TaskStatus::Failed;
            self.error = Some(why);
        }
    }

    fn label(&self) -> String {
        let a = &self.artifact;
        artifact_name(&a.repository, a.tag.as_deref(), a.digest.as_deref())
    }
}

/// Everything one stage invocation needs besides its resources.
struct Call<'a> {
    execution_id: &'a str,
    dry_run: bool,
    policy: &'a Policy,
    transfer: &'a Arc<Transfer>,
    events: &'a Arc<dyn Events>,
}

impl Runner {
    /// A runner whose stages run in the WebAssembly runtime.
    pub fn new(runtime: Arc<Runtime>, limits: Arc<Limits>, known: Arc<Known>) -> Self {
        Self::with_invoker(runtime, limits, known)
    }

    /// A runner whose stages run through `invoker`.
    pub fn with_invoker(invoker: Arc<dyn Invoke>, limits: Arc<Limits>, known: Arc<Known>) -> Self {
        Self {
            invoker,
            limits,
            known,
            notify_http: reqwest::Client::new(),
        }
    }

    /// The data plane between a policy's registries, bounded by the
    /// process's limits and knowing what the target holds; `bytes` counts
    /// what it streams.
    pub fn transfer(
        &self,
        policy: &Policy,
        bytes: Arc<AtomicU64>,
    ) -> Result<Arc<Transfer>, TransferError> {
        let limits = |e: &crate::transfer::Endpoint| {
            self.limits.registry_bounded(&e.display_url(), e.bounds)
        };
        let network = self.limits.network();
        let source = RegistryClient::new(Role::Source, policy.source.clone(), network)?
            .with_limits(limits(&policy.source));
        let target = RegistryClient::new(Role::Target, policy.target.clone(), network)?
            .with_limits(limits(&policy.target))
            .with_known(self.known.target(&policy.target.display_url()))
            .overriding_tags(policy.override_existing);
        Ok(Arc::new(
            Transfer::new(
                Arc::new(source),
                Arc::new(target),
                self.limits.clone(),
                bytes,
            )
            .with_speed(policy.speed),
        ))
    }

    pub async fn run(
        &self,
        ctx: RunContext,
        policy: &Policy,
        template: &Template,
    ) -> Result<ExecutionReport, TransferError> {
        let RunContext {
            execution_id,
            events,
            progress,
            recorder,
            seed,
            dry_run,
        } = ctx;
        let execution_id = execution_id.as_str();
        let started = Instant::now();
        let transfer = self.transfer(policy, progress.bytes.clone())?;
        let events: Arc<dyn Events> = Arc::new(Counting {
            inner: events,
            progress: progress.clone(),
        });
        let call = Call {
            execution_id,
            dry_run,
            policy,
            transfer: &transfer,
            events: &events,
        };

        if dry_run {
            return Ok(self.plan(&call, template, &progress, started).await);
        }
        let mut exec_records: Vec<StageRecord> = Vec::new();
        let mut tasks: Vec<Task> = Vec::new();
        let mut exec_failed = false;
        let mut listed = false;
        let stages = &template.stages;
        let mut index = 0;
        if let Some(seed) = seed {
            // A retry: the artifacts are given, the listing stage is not run.
            exec_records.push(not_run(&stages[0], &seed.reason));
            tasks = seed.artifacts.into_iter().map(Task::new).collect();
            progress
                .planned
                .store(tasks.len() as u64, Ordering::Relaxed);
            recorder
                .listed(&tasks.iter().map(|t| t.artifact.clone()).collect::<Vec<_>>())
                .await;
            listed = true;
            index = 1;
        }
        while index < stages.len() {
            let stage = &stages[index];
            if stage.scope == Scope::Artifact {
                // Consecutive artifact-scoped stages form a pipeline: each
                // artifact moves on as soon as it is done, bounded per stage.
                let end = stages[index..]
                    .iter()
                    .position(|s| s.scope != Scope::Artifact)
                    .map_or(stages.len(), |n| index + n);
                let segment = &stages[index..end];
                tasks = self
                    .run_segment(
                        &call,
                        segment,
                        std::mem::take(&mut tasks),
                        exec_failed,
                        &progress,
                        &*recorder,
                    )
                    .await;
                index = end;
                continue;
            }
            index += 1;
            if let Some(why) = stage
                .when
                .excludes(Standing::execution(exec_failed, &tasks))
            {
                exec_records.push(not_run(stage, why));
                continue;
            }
            let resources: Vec<Artifact> = tasks
                .iter()
                .filter(|t| stage.when != When::OnSuccess || t.status == TaskStatus::Succeeded)
                .map(|t| t.artifact.clone())
                .collect();
            let previous = execution_previous(&exec_records, &tasks, &stages[..index - 1]);
            let (record, output) = self
                .invoke(&call, stage, "execution", resources, previous)
                .await;
            exec_records.push(record);
            // The first execution stage that runs is the listing, whether
            // it succeeds or not: a later one (a post action after a failed
            // listing) must not become it.
            let listing = !listed;
            listed = true;
            match output {
                Ok(out) if listing => {
                    recorder.listed(&out.resources).await;
                    tasks = out.resources.into_iter().map(Task::new).collect();
                    progress
                        .planned
                        .store(tasks.len() as u64, Ordering::Relaxed);
                }
                Ok(out) if stage.when == When::OnSuccess => {
                    merge(&mut tasks, out.resources, &stage.name)
                }
                Ok(_) => {}
                Err(why) => {
                    exec_failed = true;
                    for t in tasks
                        .iter_mut()
                        .filter(|t| t.status == TaskStatus::Succeeded)
                    {
                        t.fail(format!("stage {} failed: {why}", stage.name));
                    }
                }
            }
        }

        let status = if exec_failed || tasks.iter().any(|t| t.status == TaskStatus::Failed) {
            ExecutionStatus::Failed
        } else {
            ExecutionStatus::Succeeded
        };
        Ok(ExecutionReport {
            id: execution_id.to_string(),
            template: template.name.clone(),
            status,
            stages: exec_records,
            tasks: tasks.iter().map(snapshot).collect(),
            bytes: progress.bytes.load(Ordering::Relaxed),
            duration_ms: started.elapsed().as_millis() as u64,
            plan: None,
        })
    }

    /// A dry run: the listing stage alone, asked for its plan. A listing
    /// that answers none gets one made from what it selected.
    async fn plan(
        &self,
        call: &Call<'_>,
        template: &Template,
        progress: &Progress,
        started: Instant,
    ) -> ExecutionReport {
        let stages = &template.stages;
        let (record, output) = self
            .invoke(call, &stages[0], "execution", Vec::new(), Vec::new())
            .await;
        let failed = record.outcome == Outcome::Failed;
        let mut records = vec![record];
        records.extend(
            stages[1..]
                .iter()
                .filter(|s| s.scope == Scope::Execution)
                .map(|s| not_run(s, "not run: a dry run only lists")),
        );
        let plan = match output {
            Ok(out) if out.plan.is_empty() => out
                .resources
                .iter()
                .map(|a| {
                    let (action, reason) = match operation(a) {
                        Operation::Copy => (PlanAction::Copy, "selected by the listing"),
                        Operation::Delete => (PlanAction::Delete, "selected by the listing"),
                    };
                    plan_entry(a, action, reason.to_string())
                })
                .collect(),
            Ok(out) => out
                .plan
                .into_iter()
                .map(|e| {
                    let action = match e.action {
                        runtime::PlanAction::Copy => PlanAction::Copy,
                        runtime::PlanAction::Skip => PlanAction::Skip,
                        runtime::PlanAction::Delete => PlanAction::Delete,
                    };
                    plan_entry(&e.artifact, action, e.reason)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        ExecutionReport {
            id: call.execution_id.to_string(),
            template: template.name.clone(),
            status: if failed {
                ExecutionStatus::Failed
            } else {
                ExecutionStatus::Succeeded
            },
            stages: records,
            tasks: Vec::new(),
            bytes: progress.bytes.load(Ordering::Relaxed),
            duration_ms: started.elapsed().as_millis() as u64,
            plan: Some(plan),
        }
    }

    /// Runs each task through a run of artifact-scoped stages, in parallel:
    /// every stage has its own concurrency bound, and a task goes on to the
    /// next stage as soon as it is done with one.
    async fn run_segment(
        &self,
        call: &Call<'_>,
        segment: &[Stage],
        tasks: Vec<Task>,
        exec_failed: bool,
        progress: &Progress,
        recorder: &dyn Recorder,
    ) -> Vec<Task> {
        // A stage's concurrency is its figure on a LAN: over a long round
        // trip it widens by the artifacts' rule (see `distance`), unless
        // the user fixed the concurrency.
        let widens = call.transfer.widens();
        if !tasks.is_empty() {
            call.transfer.warm();
        }
        let bounds: Vec<Widening> = segment
            .iter()
            .map(|s| match widens {
                true => Widening::new(s.concurrency, Rule::ARTIFACTS),
                false => Widening::fixed(s.concurrency),
            })
            .collect();
        let in_flight = segment
            .iter()
            .map(|s| match widens {
                true => Rule::ARTIFACTS.most(s.concurrency),
                false => s.concurrency,
            })
            .sum::<usize>()
            .clamp(1, 512);
        let mut done: Vec<(usize, Task)> = futures::stream::iter(tasks.into_iter().enumerate())
            .map(|(i, mut task)| {
                let bounds = &bounds;
                async move {
                    for (stage, bound) in segment.iter().zip(bounds) {
                        if stage.operation != task.operation() {
                            task.records.push(not_run(
                                stage,
                                &format!(
                                    "not run: the stage serves {} tasks",
                                    stage.operation.as_str()
                                ),
                            ));
                            continue;
                        }
                        let standing = Standing::task(exec_failed, task.status);
                        if let Some(why) = stage.when.excludes(standing) {
                            task.records.push(not_run(stage, why));
                            continue;
                        }
                        if let Some(far) = call.transfer.farthest() {
                            bound.widen(far);
                        }
                        let _slot = bound
                            .semaphore()
                            .acquire()
                            .await
                            .expect("stage bound closed");
                        let label = task.label();
                        let (record, output) = self
                            .invoke(
                                call,
                                stage,
                                &label,
                                vec![task.artifact.clone()],
                                task_previous(&task),
                            )
                            .await;
                        let why = record.messages.last().cloned();
                        task.records.push(record);
                        match output {
                            Ok(mut out) => match out.resources.len() {
                                0 => task.skip(why),
                                _ => task.artifact = out.resources.swap_remove(0),
                            },
                            Err(why) => {
                                if task.status != TaskStatus::Failed {
                                    progress.failed.fetch_add(1, Ordering::Relaxed);
                                }
                                task.fail(format!("stage {}: {why}", stage.name));
                            }
                        }
                    }
                    recorder.task(i, &snapshot(&task)).await;
                    (i, task)
                }
            })
            .buffer_unordered(in_flight)
            .collect()
            .await;
        done.sort_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, t)| t).collect()
    }

    /// Invokes a stage with retries; returns its record and its output, or
    /// why it failed.
    async fn invoke(
        &self,
        call: &Call<'_>,
        stage: &Stage,
        label: &str,
        resources: Vec<Artifact>,
        previous: Vec<Report>,
    ) -> (StageRecord, Result<StageOutput, String>) {
        let started = Instant::now();
        let mut attempts = 0;
        let mut record = StageRecord::not_run(&stage.name, &stage.function.reference, "");
        record.messages.clear();
        let logs = Arc::new(Collect {
            inner: call.events.clone(),
            lines: std::sync::Mutex::new(Vec::new()),
        });
        // The same capabilities serve every attempt.
        let caps = Arc::new(Capabilities {
            transfer: Some(call.transfer.clone()),
            notify_urls: stage
                .params
                .iter()
                .filter(|(_, v)| v.starts_with("http://") || v.starts_with("https://"))
                .map(|(_, v)| v.clone())
                .collect(),
            notify_http: self.notify_http.clone(),
            events: logs.clone(),
            scope: format!("{} {label}", stage.name),
        });
        loop {
            attempts += 1;
            let input = StageInput {
                execution_id: call.execution_id.to_string(),
                stage: stage.name.clone(),
                policy: call.policy.view(),
                resources: resources.clone(),
                params: stage.params.clone(),
                previous: previous.clone(),
                dry_run: call.dry_run,
            };
            let result = self.invoker.invoke(stage, caps.clone(), input).await;
            record.attempts = attempts;
            record.duration_ms = started.elapsed().as_millis() as u64;
            record.logs = logs.lines.lock().expect("log lines lock").clone();
            let why = match result {
                Ok(Ok(out)) => {
                    record.counts = out.counts.iter().cloned().collect::<BTreeMap<_, _>>();
                    record.bytes = out.bytes;
                    record.messages = out.messages.clone();
                    record.outcome = match out.status {
                        Status::Succeeded => Outcome::Succeeded,
                        Status::Skipped => Outcome::Skipped,
                        Status::Failed => Outcome::Failed,
                    };
                    if out.status != Status::Failed {
                        return (record, Ok(out));
                    }
                    let why = out
                        .messages
                        .last()
                        .cloned()
                        .unwrap_or_else(|| "the stage reported failure".into());
                    record.error = Some(why.clone());
                    return (record, Err(why));
                }
                Ok(Err(e)) if e.retryable && attempts <= stage.retries.count => {
                    let wait = stage
                        .retries
                        .backoff
                        .saturating_mul(1 << (attempts - 1).min(10));
                    call.events.log(
                        &format!("{} {label}", stage.name),
                        crate::runtime::Level::Warn,
                        &format!(
                            "attempt {attempts} failed ({}); retrying in {wait:?}",
                            e.message
                        ),
                    );
                    tokio::time::sleep(wait.min(Duration::from_secs(300))).await;
                    continue;
                }
                Ok(Err(e)) => format!("{}: {}", kind_name(e.kind), e.message),
                Err(e) => format!("function {} {e}", stage.function.reference),
            };
            record.outcome = Outcome::Failed;
            record.error = Some(why.clone());
            return (record, Err(why));
        }
    }
}

/// The WIT spelling of an error kind, as messages show it.
fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Invalid => "invalid",
        ErrorKind::Unauthorized => "unauthorized",
        ErrorKind::Forbidden => "forbidden",
        ErrorKind::NotFound => "not-found",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::Rejected => "rejected",
        ErrorKind::Internal => "internal",
    }
}

fn not_run(stage: &Stage, why: &str) -> StageRecord {
    StageRecord::not_run(&stage.name, &stage.function.reference, why)
}

fn to_report(r: &StageRecord) -> Report {
    Report {
        stage: r.stage.clone(),
        function: r.function.clone(),
        status: match r.outcome {
            Outcome::Succeeded => Status::Succeeded,
            Outcome::Skipped | Outcome::NotRun => Status::Skipped,
            Outcome::Failed => Status::Failed,
        },
        counts: r.counts.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        bytes: r.bytes,
        messages: r.messages.iter().cloned().chain(r.error.clone()).collect(),
    }
}

fn task_previous(task: &Task) -> Vec<Report> {
    task.records.iter().map(to_report).collect()
}

/// For an execution-scoped stage: the execution's own records, and one
/// aggregate per artifact-scoped stage so far.
fn execution_previous(exec: &[StageRecord], tasks: &[Task], before: &[Stage]) -> Vec<Report> {
    let mut out: Vec<Report> = Vec::new();
    let mut exec_iter = exec.iter();
    for (i, stage) in before.iter().enumerate() {
        if stage.scope == Scope::Execution {
            if let Some(r) = exec_iter.next() {
                out.push(to_report(r));
            }
            continue;
        }
        let artifact_index = before[..i]
            .iter()
            .filter(|s| s.scope == Scope::Artifact)
            .count();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let (mut bytes, mut failed, mut messages) = (0, 0u64, Vec::new());
        for t in tasks {
            let Some(r) = t.records.get(artifact_index) else {
                continue;
            };
            for (k, v) in &r.counts {
                *counts.entry(k.clone()).or_default() += v;
            }
            bytes += r.bytes;
            if r.outcome == Outcome::Failed {
                failed += 1;
                if messages.len() < 20 {
                    messages.push(format!(
                        "{}: {}",
                        t.label(),
                        r.error.clone().unwrap_or_default()
                    ));
                }
            }
        }
        counts.insert("artifacts-failed".into(), failed);
        out.push(Report {
            stage: stage.name.clone(),
            function: stage.function.reference.clone(),
            status: if failed > 0 {
                Status::Failed
            } else {
                Status::Succeeded
            },
            counts: counts.into_iter().collect(),
            bytes,
            messages,
        });
    }
    out
}

fn key(a: &Artifact) -> (String, Option<String>, Option<String>) {
    (a.repository.clone(), a.tag.clone(), a.digest.clone())
}

/// Takes an execution-scoped stage's output as the new artifact set,
/// keeping each surviving artifact's history.
fn merge(tasks: &mut Vec<Task>, resources: Vec<Artifact>, stage: &str) {
    let mut by_key: BTreeMap<_, Artifact> = resources.into_iter().map(|a| (key(&a), a)).collect();
    for t in tasks
        .iter_mut()
        .filter(|t| t.status == TaskStatus::Succeeded)
    {
        match by_key.remove(&key(&t.artifact)) {
            Some(a) => t.artifact = a,
            None => t.skip(Some(format!("dropped by stage {stage}"))),
        }
    }
    tasks.extend(by_key.into_values().map(Task::new));
}

/// The task operation of an artifact.
pub fn operation(a: &Artifact) -> Operation {
    a.operation.into()
}

fn plan_entry(a: &Artifact, action: PlanAction, reason: String) -> PlanEntry {
    PlanEntry {
        action,
        repository: a.repository.clone(),
        target_repository: a.target_repository.clone(),
        tag: a.tag.clone(),
        digest: a.digest.clone(),
        reason,
    }
}

fn snapshot(t: &Task) -> TaskReport {
    TaskReport {
        operation: t.operation(),
        repository: t.artifact.repository.clone(),
        target_repository: t.artifact.target_repository.clone(),
        tag: t.artifact.tag.clone(),
        digest: t.artifact.digest.clone(),
        status: t.status,
        error: t.error.clone(),
        reason: t.reason.clone(),
        stages: t.records.clone(),
    }
}

#[cfg(test)]
mod tests;
