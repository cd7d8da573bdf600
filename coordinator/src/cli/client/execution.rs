//! `ferry execution list|show|stop|retry`, and waiting for an execution
//! (shared with `ferry policy run --wait`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Subcommand;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde::Deserialize as _;
use serde_json::json;

use super::policy::find_policy;
use super::{Ctx, Failure, Outcome, print_json, table, time};
use crate::engine::{Outcome as StageOutcome, StageRecord};
use crate::server::api::ExecutionDetail;
use crate::store::{ExecStatus, Execution, Operation, Policy, Task};

#[derive(Debug, Subcommand)]
pub enum ExecutionCommand {
    /// List a policy's executions, newest first.
    List {
        /// The policy's name (or id).
        #[arg(long, value_name = "NAME")]
        policy: String,
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        page: u32,
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
        page_size: u32,
    },
    /// Show an execution and every artifact's task, stage by stage.
    Show { id: i64 },
    /// Stop a running execution.
    Stop { id: i64 },
    /// Start a new execution that retries an execution's failed artifacts.
    Retry {
        id: i64,
        /// Wait for the new execution to finish; exit 1 unless it succeeded.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up waiting after this long.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "1h", value_name = "DURATION")]
        timeout: Duration,
    },
}

/// `execution 12: skipped: another execution is running`.
pub fn headline(e: &Execution) -> String {
    if e.status_text.is_empty() {
        format!("execution {}: {}", e.id, e.status.as_str())
    } else {
        format!(
            "execution {}: {}: {}",
            e.id,
            e.status.as_str(),
            e.status_text
        )
    }
}

fn took(e: &Execution) -> String {
    match e.end_time {
        Some(end) if end >= e.start_time && e.start_time > 0 => seconds(end - e.start_time),
        _ => "-".into(),
    }
}

/// `2 artifacts: 2 succeeded, ...; 1.2 MiB moved`.
fn counts(e: &Execution) -> String {
    format!(
        "{} artifacts: {} succeeded, {} failed, {} in progress, {} stopped; {} moved",
        e.total,
        e.succeed,
        e.failed,
        e.in_progress,
        e.stopped,
        HumanBytes(e.bytes.max(0) as u64)
    )
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 3).collect();
        format!("{cut}...")
    }
}

fn seconds(ms: i64) -> String {
    if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        humantime::format_duration(Duration::from_secs((ms / 1000) as u64)).to_string()
    }
}

/// A task with its stage records decoded (the API keeps them as the
/// engine's JSON).
struct TaskStages {
    task: Task,
    stages: Vec<StageRecord>,
}

impl TaskStages {
    fn decode(tasks: Vec<Task>) -> Result<Vec<Self>, Failure> {
        tasks
            .into_iter()
            .map(|task| {
                // `null`: no stage has run yet.
                let stages = Option::<Vec<StageRecord>>::deserialize(&task.stages)
                    .map_err(|e| {
                        Failure::input(format!(
                            "unexpected answer from the server: task {} of execution {}: \
                             expected stage records: {e}",
                            task.id, task.execution_id
                        ))
                    })?
                    .unwrap_or_default();
                Ok(Self { task, stages })
            })
            .collect()
    }

    fn failed(&self) -> bool {
        self.task.status == ExecStatus::Failed
    }
}

fn reference(repo: &str, tag: Option<&str>, digest: Option<&str>) -> String {
    match (tag, digest) {
        (Some(t), _) if !t.is_empty() => format!("{repo}:{t}"),
        (_, Some(d)) if !d.is_empty() => format!("{repo}@{d}"),
        _ => repo.to_string(),
    }
}

/// `repo:tag`, with ` -> target:tag` when the target differs.
fn artifact(t: &Task) -> String {
    let src = reference(&t.repository, t.tag.as_deref(), t.digest.as_deref());
    let mut s = if t.operation == Operation::Delete {
        format!("delete {src}")
    } else {
        src
    };
    if !t.target_repository.is_empty() && t.target_repository != t.repository {
        let dst = reference(&t.target_repository, t.tag.as_deref(), t.digest.as_deref());
        let _ = write!(s, " -> {dst}");
    }
    s
}

/// A stage record as `show` prints it: `name  outcome  counts  bytes
/// (attempts)  error`.
fn stage_line(r: &StageRecord, width: usize) -> String {
    let mut line = format!("{:<width$}  {:<9}", r.stage, r.outcome.as_str());
    let counts = counts_text(&r.counts);
    if !counts.is_empty() {
        let _ = write!(line, "  {counts}");
    }
    if r.bytes > 0 {
        let _ = write!(line, "  {}", HumanBytes(r.bytes));
    }
    if r.attempts > 1 {
        let _ = write!(line, "  ({} attempts)", r.attempts);
    }
    if let Some(err) = r.error.as_deref().filter(|e| !e.is_empty()) {
        let _ = write!(line, "  error: {err}");
    }
    line.trim_end().to_string()
}

fn counts_text(counts: &BTreeMap<String, u64>) -> String {
    counts
        .iter()
        .filter(|(_, v)| **v != 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn run(ctx: Ctx, command: ExecutionCommand) -> Outcome {
    match command {
        ExecutionCommand::List {
            policy,
            page,
            page_size,
        } => {
            let (found, _) = find_policy(&ctx, &policy).await?;
            let query = [
                ("page", page.to_string()),
                ("page_size", page_size.to_string()),
            ];
            let list = ctx
                .api
                .get_query(&["policies", &found.id.to_string(), "executions"], &query)
                .await?
                .decode_list::<Execution>()?;
            if ctx.json() {
                print_json(&list.to_json());
                return Ok(ExitCode::SUCCESS);
            }
            if list.items.is_empty() {
                outln!("no executions of policy {policy} on page {page}");
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = list
                .items
                .iter()
                .map(|e| {
                    vec![
                        e.id.to_string(),
                        e.status.as_str().to_string(),
                        e.trigger.as_str().to_string(),
                        time(e.start_time),
                        took(e),
                        e.total.to_string(),
                        e.succeed.to_string(),
                        e.failed.to_string(),
                        HumanBytes(e.bytes.max(0) as u64).to_string(),
                        shorten(&e.status_text, 80),
                    ]
                })
                .collect();
            out!(
                "{}",
                table(
                    &[
                        "ID", "STATUS", "TRIGGER", "STARTED", "TOOK", "TOTAL", "SUCCEED", "FAILED",
                        "BYTES", "TEXT"
                    ],
                    &rows
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        ExecutionCommand::Show { id } => {
            let shown = ctx.api.get(&["executions", &id.to_string()]).await?;
            let detail: ExecutionDetail = shown.decode()?;
            let tasks = ctx
                .api
                .list_all::<Task>(&["executions", &id.to_string(), "tasks"])
                .await?;
            if ctx.json() {
                print_json(&json!({ "execution": shown.json, "tasks": tasks.json }));
                return Ok(ExitCode::SUCCESS);
            }
            let policy_id = detail.execution.policy_id;
            let policy: Option<Policy> =
                match ctx.api.get(&["policies", &policy_id.to_string()]).await {
                    Ok(reply) => reply.decode().ok(),
                    Err(_) => None,
                };
            let policy_name = match policy {
                Some(p) => format!("{} (id {policy_id})", p.name),
                None => format!("id {policy_id}"),
            };
            let tasks = TaskStages::decode(tasks.items)?;
            out!("{}", render_show(&detail, &policy_name, &tasks));
            Ok(ExitCode::SUCCESS)
        }
        ExecutionCommand::Stop { id } => {
            let answer = ctx
                .api
                .post_action(&["executions", &id.to_string(), "stop"])
                .await?;
            let stopped: Option<Execution> = answer.decode_opt()?;
            if ctx.json() {
                print_json(&answer.json);
            } else {
                match stopped {
                    Some(e) => outln!("stop requested; {}", headline(&e)),
                    None => outln!("execution {id}: stop requested"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ExecutionCommand::Retry { id, wait, timeout } => {
            let answer = ctx
                .api
                .post_action(&["executions", &id.to_string(), "retry"])
                .await?;
            let e: Execution = answer.decode()?;
            if ctx.json() {
                if !wait {
                    print_json(&answer.json);
                }
            } else {
                outln!("retry of execution {id}: {}", headline(&e));
            }
            if !wait {
                return Ok(started_code(&e));
            }
            wait_and_finish(&ctx, e.id, timeout).await
        }
    }
}

/// The exit code right after starting an execution without waiting: 1 when
/// it ended at once without succeeding (skipped, failed).
pub fn started_code(e: &Execution) -> ExitCode {
    if e.status.is_final() && e.status != ExecStatus::Succeeded {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Polls the execution every 500 ms until it ends (or `timeout` passes),
/// showing progress, then prints the per-stage summary. Exit 0 only when it
/// succeeded.
pub async fn wait_and_finish(ctx: &Ctx, id: i64, timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    let mut progress = Progress::new(!ctx.json());
    let mut errors = 0;
    let (json, detail) = loop {
        match ctx.api.get(&["executions", &id.to_string()]).await {
            Ok(reply) => {
                errors = 0;
                let detail: ExecutionDetail = match reply.decode() {
                    Ok(d) => d,
                    Err(err) => {
                        progress.finish();
                        return Err(err.into());
                    }
                };
                let e = &detail.execution;
                progress.update(e);
                if e.status.is_final() {
                    progress.finish();
                    break (reply.json, detail);
                }
                if Instant::now() >= deadline {
                    progress.finish();
                    return Err(Failure::operation(format!(
                        "gave up waiting after {}: execution {id} is still {}; follow it with `ferry execution show {id}`",
                        humantime::format_duration(timeout),
                        e.status.as_str()
                    )));
                }
            }
            // The server may be restarting: keep trying for a while.
            Err(err) if err.is_transient() && errors < 20 && Instant::now() < deadline => {
                errors += 1;
                if errors == 1 {
                    progress.note(&format!("warning: {err}; retrying"));
                }
            }
            Err(err) => {
                progress.finish();
                return Err(err.into());
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let tasks = ctx
        .api
        .list_all::<Task>(&["executions", &id.to_string(), "tasks"])
        .await?;
    if ctx.json() {
        print_json(&json!({ "execution": json, "tasks": tasks.json }));
    } else {
        out!(
            "{}",
            render_summary(&detail, &TaskStages::decode(tasks.items)?)
        );
    }
    Ok(if detail.execution.status == ExecStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Progress while waiting: a bar on a terminal, a line per change otherwise
/// (both on stderr), nothing with `--output json`.
struct Progress {
    enabled: bool,
    bar: Option<ProgressBar>,
    last: Option<(ExecStatus, i64, i64, i64)>,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} artifacts  {msg}",
                )
                .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Self {
            enabled,
            bar,
            last: None,
        }
    }

    fn update(&mut self, e: &Execution) {
        if !self.enabled {
            return;
        }
        let done = e.succeed + e.failed;
        if let Some(bar) = &self.bar {
            bar.set_length(e.total.max(0) as u64);
            bar.set_position(done.max(0) as u64);
            bar.set_message(format!(
                "{}  {} failed  {}",
                HumanBytes(e.bytes.max(0) as u64),
                e.failed,
                e.status.as_str()
            ));
            return;
        }
        let now = (e.status, done, e.total, e.bytes);
        if self.last != Some(now) {
            eprintln!(
                "execution {}: {}, {done}/{} artifacts, {} failed, {}",
                e.id,
                e.status.as_str(),
                e.total,
                e.failed,
                HumanBytes(e.bytes.max(0) as u64)
            );
            self.last = Some(now);
        }
    }

    fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// After waiting: the outcome, the stages summed over artifacts, then every
/// failure with its reason.
fn render_summary(d: &ExecutionDetail, tasks: &[TaskStages]) -> String {
    let e = &d.execution;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "execution {}: {} in {}; {}",
        e.id,
        if e.status == ExecStatus::Failed {
            "FAILED"
        } else {
            e.status.as_str()
        },
        took(e),
        counts(e)
    );
    if !e.status_text.is_empty() {
        let _ = writeln!(out, "{}", e.status_text);
    }
    if let Some(plan) = &d.plan {
        out.push_str(&crate::cli::summary::plan_lines(plan));
        return out;
    }
    // Stages in the order they first appear.
    struct Sum<'a> {
        function: &'a str,
        outcomes: Vec<StageOutcome>,
        counts: BTreeMap<String, u64>,
        bytes: u64,
    }
    let mut order: Vec<&str> = Vec::new();
    let mut sums: BTreeMap<&str, Sum> = BTreeMap::new();
    for t in tasks {
        for r in &t.stages {
            let sum = sums.entry(&r.stage).or_insert_with(|| {
                order.push(&r.stage);
                Sum {
                    function: &r.function,
                    outcomes: Vec::new(),
                    counts: BTreeMap::new(),
                    bytes: 0,
                }
            });
            sum.outcomes.push(r.outcome);
            sum.bytes += r.bytes;
            for (k, v) in &r.counts {
                *sum.counts.entry(k.clone()).or_default() += v;
            }
        }
    }
    if !order.is_empty() {
        let rows: Vec<Vec<String>> = order
            .iter()
            .map(|stage| {
                let s = &sums[stage];
                let n =
                    |o: StageOutcome| s.outcomes.iter().filter(|x| **x == o).count().to_string();
                vec![
                    stage.to_string(),
                    s.function.to_string(),
                    n(StageOutcome::Succeeded),
                    n(StageOutcome::Skipped),
                    n(StageOutcome::Failed),
                    n(StageOutcome::NotRun),
                    HumanBytes(s.bytes).to_string(),
                    counts_text(&s.counts),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "STAGE", "FUNCTION", "OK", "SKIP", "FAIL", "NOT-RUN", "BYTES", "COUNTS",
            ],
            &rows,
        ));
    }
    for t in tasks.iter().filter(|t| t.failed()) {
        let reason = t
            .task
            .error
            .clone()
            .or_else(|| {
                t.stages
                    .iter()
                    .find(|r| r.outcome == StageOutcome::Failed)
                    .map(|r| {
                        format!(
                            "stage {}: {}",
                            r.stage,
                            r.error.as_deref().unwrap_or_default()
                        )
                    })
            })
            .unwrap_or_else(|| "?".into());
        let _ = writeln!(out, "failed: {}: {reason}", artifact(&t.task));
    }
    out
}

/// `ferry execution show`: the execution, then each task and its stages.
fn render_show(d: &ExecutionDetail, policy: &str, tasks: &[TaskStages]) -> String {
    let e = &d.execution;
    let mut out = String::new();
    let _ = writeln!(out, "execution {}: {}", e.id, e.status.as_str());
    if !e.status_text.is_empty() {
        let _ = writeln!(out, "  {}", e.status_text);
    }
    let _ = writeln!(out, "policy:    {policy}");
    let _ = writeln!(out, "trigger:   {}", e.trigger.as_str());
    let _ = writeln!(
        out,
        "started:   {}   ended: {}   took: {}",
        time(e.start_time),
        e.end_time.map(time).unwrap_or_else(|| "-".into()),
        took(e)
    );
    let _ = writeln!(out, "progress:  {}", counts(e));
    if !d.stages.is_empty() {
        let _ = writeln!(out, "execution stages:");
        let width = d.stages.iter().map(|r| r.stage.len()).max().unwrap_or(0);
        for r in &d.stages {
            let _ = writeln!(out, "  {}", stage_line(r, width));
        }
    }
    if !d.events.is_empty() {
        let _ = writeln!(out, "registry events:");
        for ev in &d.events {
            let what = match (&ev.tag, &ev.digest) {
                (Some(t), _) => format!("{}:{t}", ev.repository),
                (None, Some(d)) => format!("{}@{d}", ev.repository),
                (None, None) => ev.repository.clone(),
            };
            let _ = writeln!(
                out,
                "  {} {what}: {}",
                ev.kind.as_str(),
                ev.outcome.as_deref().unwrap_or("pending")
            );
        }
    }
    if let Some(plan) = &d.plan {
        let _ = writeln!(out, "dry run plan (nothing was written):");
        out.push_str(&crate::cli::summary::plan_lines(plan));
        return out;
    }
    if tasks.is_empty() {
        let _ = writeln!(out, "no tasks");
        return out;
    }
    let _ = writeln!(out, "tasks:");
    for TaskStages { task: t, stages } in tasks {
        let attempts = if t.attempts > 1 {
            format!(" ({} attempts)", t.attempts)
        } else {
            String::new()
        };
        let _ = writeln!(out, "  {}  {}{attempts}", artifact(t), t.status);
        if let Some(err) = t.error.as_deref().filter(|e| !e.is_empty()) {
            let _ = writeln!(out, "    error: {err}");
        }
        if let Some(why) = t.reason.as_deref().filter(|e| !e.is_empty()) {
            let _ = writeln!(out, "    skipped: {why}");
        }
        let width = stages.iter().map(|r| r.stage.len()).max().unwrap_or(0);
        for r in stages {
            let _ = writeln!(out, "    {}", stage_line(r, width));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(status: &str) -> Execution {
        serde_json::from_value(json!({
            "id": 5, "policy_id": 2, "status": status, "status_text": "",
            "trigger": "manual", "start_time": 1_700_000_000_000i64,
            "end_time": 1_700_000_002_500i64, "total": 2, "succeed": 1,
            "failed": 1, "in_progress": 0, "stopped": 0, "bytes": 2048
        }))
        .unwrap()
    }

    fn detail(status: &str) -> ExecutionDetail {
        ExecutionDetail {
            execution: exec(status),
            stages: Vec::new(),
            plan: None,
            events: Vec::new(),
        }
    }

    fn tasks() -> Vec<TaskStages> {
        let v = json!([
            {"id": 1, "execution_id": 5, "repository": "lib/a", "target_repository": "m/lib/a",
             "tag": "1", "digest": "sha256:aa", "operation": "copy", "status": "succeeded",
             "attempts": 1, "error": null, "start_time": 0, "end_time": null,
             "stages": [
                {"stage": "copy", "function": "oci-copy@1", "outcome": "succeeded",
                 "counts": {"blobs": 3, "skipped": 0}, "bytes": 2048, "messages": [],
                 "error": null, "attempts": 1, "duration_ms": 10, "logs": []}]},
            {"id": 2, "execution_id": 5, "repository": "lib/b", "target_repository": "lib/b",
             "tag": null, "digest": "sha256:bb", "operation": "copy", "status": "failed",
             "attempts": 2, "error": null, "start_time": 0, "end_time": null,
             "stages": [
                {"stage": "copy", "function": "oci-copy@1", "outcome": "failed",
                 "counts": {"blobs": 1}, "bytes": 0, "messages": [], "error": "denied",
                 "attempts": 2, "duration_ms": 5, "logs": []}]},
            {"id": 3, "execution_id": 5, "repository": "lib/c", "target_repository": "lib/c",
             "tag": "old", "digest": null, "operation": "delete", "status": "pending",
             "attempts": 0, "error": null, "start_time": 0, "end_time": null, "stages": null}
        ]);
        TaskStages::decode(serde_json::from_value(v).unwrap()).unwrap()
    }

    #[test]
    fn summary_sums_stages_and_lists_failures() {
        let s = render_summary(&detail("failed"), &tasks());
        assert!(
            s.starts_with("execution 5: FAILED in 2.5s; 2 artifacts: 1 succeeded, 1 failed"),
            "{s}"
        );
        assert!(s.contains("copy   oci-copy@1  1   0     1     0"), "{s}");
        assert!(s.contains("blobs=4"), "{s}");
        assert!(
            s.contains("failed: lib/b@sha256:bb: stage copy: denied"),
            "{s}"
        );
    }

    #[test]
    fn show_lists_tasks_with_stages() {
        let s = render_show(&detail("succeeded"), "p (id 2)", &tasks());
        assert!(s.contains("lib/a:1 -> m/lib/a:1  succeeded"), "{s}");
        assert!(s.contains("    copy  succeeded  blobs=3  2.00 KiB"), "{s}");
        assert!(s.contains("lib/b@sha256:bb  failed (2 attempts)"), "{s}");
        assert!(s.contains("error: denied"), "{s}");
        assert!(s.contains("  delete lib/c:old  pending\n"), "{s}");
    }

    #[test]
    fn exit_codes_after_starting() {
        assert_eq!(started_code(&exec("running")), ExitCode::SUCCESS);
        assert_eq!(started_code(&exec("pending")), ExitCode::SUCCESS);
        assert_eq!(started_code(&exec("skipped")), ExitCode::FAILURE);
        assert_eq!(started_code(&exec("succeeded")), ExitCode::SUCCESS);
    }

    #[test]
    fn stage_records_that_do_not_decode_are_an_error() {
        let task: Task = serde_json::from_value(json!({
            "id": 9, "execution_id": 5, "repository": "lib/a", "target_repository": "lib/a",
            "tag": "1", "digest": null, "operation": "copy", "status": "failed",
            "attempts": 1, "error": null, "start_time": 0, "end_time": null,
            "stages": [{"stage": "copy"}]
        }))
        .unwrap();
        let Err(f) = TaskStages::decode(vec![task]) else {
            panic!("decoded")
        };
        assert_eq!(f.code, 2);
        assert!(
            f.message
                .contains("task 9 of execution 5: expected stage records"),
            "{}",
            f.message
        );
    }

    #[test]
    fn stage_outcomes_read_as_the_api_writes_them() {
        for o in [
            StageOutcome::Succeeded,
            StageOutcome::Skipped,
            StageOutcome::Failed,
            StageOutcome::NotRun,
        ] {
            assert_eq!(serde_json::to_value(o).unwrap(), json!(o.as_str()));
        }
    }
}
