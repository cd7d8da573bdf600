//! `ferry execution list|show|stop|retry`, and waiting for an execution
//! (shared with `ferry policy run --wait`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Subcommand;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::{Value, json};

use super::policy::policy_id;
use super::{Ctx, Failure, Outcome, decode, print_json, table, time};
use crate::engine::PlanEntry;
use crate::store::Event;

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

/// The fields of an execution the client reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Execution {
    pub id: i64,
    #[serde(default)]
    pub policy_id: i64,
    pub status: String,
    #[serde(default)]
    pub status_text: String,
    #[serde(default)]
    pub trigger: String,
    #[serde(default)]
    pub start_time: i64,
    #[serde(default)]
    pub end_time: Option<i64>,
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub succeed: i64,
    #[serde(default)]
    pub failed: i64,
    #[serde(default)]
    pub in_progress: i64,
    #[serde(default)]
    pub stopped: i64,
    #[serde(default)]
    pub bytes: i64,
    /// Execution-scoped stages' records (shown executions only).
    #[serde(default)]
    stages: Vec<StageRecord>,
    /// A dry run's plan.
    #[serde(default)]
    plan: Option<Vec<PlanEntry>>,
    /// The registry events that started or fed it.
    #[serde(default)]
    events: Vec<Event>,
}

impl Execution {
    pub fn is_final(&self) -> bool {
        !matches!(self.status.as_str(), "pending" | "running")
    }

    /// `execution 12: skipped: another execution is running`.
    pub fn headline(&self) -> String {
        if self.status_text.is_empty() {
            format!("execution {}: {}", self.id, self.status)
        } else {
            format!(
                "execution {}: {}: {}",
                self.id, self.status, self.status_text
            )
        }
    }

    fn took(&self) -> String {
        match self.end_time {
            Some(end) if end >= self.start_time && self.start_time > 0 => {
                seconds(end - self.start_time)
            }
            _ => "-".into(),
        }
    }

    /// `2 artifacts: 2 succeeded, ...; 1.2 MiB moved`.
    fn counts(&self) -> String {
        format!(
            "{} artifacts: {} succeeded, {} failed, {} in progress, {} stopped; {} moved",
            self.total,
            self.succeed,
            self.failed,
            self.in_progress,
            self.stopped,
            HumanBytes(self.bytes.max(0) as u64)
        )
    }
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

#[derive(Debug, Deserialize)]
struct Task {
    #[serde(default)]
    repository: String,
    #[serde(default)]
    target_repository: String,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    attempts: i64,
    #[serde(default)]
    stages: Value,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

impl Task {
    fn reference(repo: &str, tag: Option<&str>, digest: Option<&str>) -> String {
        match (tag, digest) {
            (Some(t), _) if !t.is_empty() => format!("{repo}:{t}"),
            (_, Some(d)) if !d.is_empty() => format!("{repo}@{d}"),
            _ => repo.to_string(),
        }
    }

    /// `repo:tag`, with ` -> target:tag` when the target differs.
    fn artifact(&self) -> String {
        let src = Self::reference(
            &self.repository,
            self.tag.as_deref(),
            self.digest.as_deref(),
        );
        let mut s = if self.operation == "delete" {
            format!("delete {src}")
        } else {
            src
        };
        if !self.target_repository.is_empty() && self.target_repository != self.repository {
            let dst = Self::reference(
                &self.target_repository,
                self.tag.as_deref(),
                self.digest.as_deref(),
            );
            let _ = write!(s, " -> {dst}");
        }
        s
    }

    fn stages(&self) -> Vec<StageRecord> {
        let parsed;
        let items = match &self.stages {
            Value::String(text) => {
                parsed = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
                &parsed
            }
            v => v,
        };
        items
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| serde_json::from_value(r.clone()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One stage's record, for one artifact or the execution.
#[derive(Debug, Clone, Deserialize)]
struct StageRecord {
    stage: String,
    #[serde(default)]
    function: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    counts: BTreeMap<String, Value>,
    #[serde(default)]
    bytes: u64,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    attempts: u32,
}

impl StageRecord {
    /// `name  outcome  counts  bytes  (attempts)  error`, for `show`.
    fn line(&self, width: usize) -> String {
        let mut line = format!("{:<width$}  {:<9}", self.stage, self.outcome);
        let counts = counts_text(&self.counts);
        if !counts.is_empty() {
            let _ = write!(line, "  {counts}");
        }
        if self.bytes > 0 {
            let _ = write!(line, "  {}", HumanBytes(self.bytes));
        }
        if self.attempts > 1 {
            let _ = write!(line, "  ({} attempts)", self.attempts);
        }
        if let Some(err) = self.error.as_deref().filter(|e| !e.is_empty()) {
            let _ = write!(line, "  error: {err}");
        }
        line.trim_end().to_string()
    }
}

fn counts_text(counts: &BTreeMap<String, Value>) -> String {
    counts
        .iter()
        .filter(|(_, v)| v.as_i64() != Some(0))
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            v => format!("{k}={v}"),
        })
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
            let (id, _) = policy_id(&ctx, &policy).await?;
            let query = [
                ("page", page.to_string()),
                ("page_size", page_size.to_string()),
            ];
            let list: Vec<Value> = ctx
                .api
                .get_query(&["policies", &id.to_string(), "executions"], &query)
                .await?;
            if ctx.json() {
                print_json(&Value::Array(list));
                return Ok(ExitCode::SUCCESS);
            }
            if list.is_empty() {
                outln!("no executions of policy {policy} on page {page}");
                return Ok(ExitCode::SUCCESS);
            }
            let mut rows = Vec::new();
            for v in &list {
                let e: Execution = decode("execution", v)?;
                rows.push(vec![
                    e.id.to_string(),
                    e.status.clone(),
                    e.trigger.clone(),
                    time(e.start_time),
                    e.took(),
                    e.total.to_string(),
                    e.succeed.to_string(),
                    e.failed.to_string(),
                    HumanBytes(e.bytes.max(0) as u64).to_string(),
                    shorten(&e.status_text, 80),
                ]);
            }
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
            let v: Value = ctx.api.get(&["executions", &id.to_string()]).await?;
            let tasks = ctx
                .api
                .list_all(&["executions", &id.to_string(), "tasks"])
                .await?;
            if ctx.json() {
                print_json(&json!({ "execution": v, "tasks": tasks }));
                return Ok(ExitCode::SUCCESS);
            }
            let e: Execution = decode("execution", &v)?;
            let policy: Option<Value> = ctx
                .api
                .get(&["policies", &e.policy_id.to_string()])
                .await
                .ok();
            let policy_name = policy
                .as_ref()
                .and_then(|p| p.get("name")?.as_str())
                .map(|n| format!("{n} (id {})", e.policy_id))
                .unwrap_or_else(|| format!("id {}", e.policy_id));
            out!("{}", render_show(&e, &policy_name, &decode_tasks(&tasks)?));
            Ok(ExitCode::SUCCESS)
        }
        ExecutionCommand::Stop { id } => {
            let v: Value = ctx
                .api
                .post_action(&["executions", &id.to_string(), "stop"])
                .await?;
            if ctx.json() {
                print_json(&v);
            } else {
                match serde_json::from_value::<Execution>(v) {
                    Ok(e) => outln!("stop requested; {}", e.headline()),
                    Err(_) => outln!("execution {id}: stop requested"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ExecutionCommand::Retry { id, wait, timeout } => {
            let v: Value = ctx
                .api
                .post_action(&["executions", &id.to_string(), "retry"])
                .await?;
            let e: Execution = decode("execution", &v)?;
            if ctx.json() {
                if !wait {
                    print_json(&v);
                }
            } else {
                outln!("retry of execution {id}: {}", e.headline());
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
    if e.is_final() && e.status != "succeeded" {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn decode_tasks(tasks: &[Value]) -> Result<Vec<Task>, Failure> {
    tasks.iter().map(|t| decode("task", t)).collect()
}

/// Polls the execution every 500 ms until it ends (or `timeout` passes),
/// showing progress, then prints the per-stage summary. Exit 0 only when it
/// succeeded.
pub async fn wait_and_finish(ctx: &Ctx, id: i64, timeout: Duration) -> Outcome {
    let deadline = Instant::now() + timeout;
    let mut progress = Progress::new(!ctx.json());
    let mut errors = 0;
    let final_value = loop {
        match ctx.api.get::<Value>(&["executions", &id.to_string()]).await {
            Ok(v) => {
                errors = 0;
                let e: Execution = match decode("execution", &v) {
                    Ok(e) => e,
                    Err(f) => {
                        progress.finish();
                        return Err(f);
                    }
                };
                progress.update(&e);
                if e.is_final() {
                    progress.finish();
                    break v;
                }
                if Instant::now() >= deadline {
                    progress.finish();
                    return Err(Failure::operation(format!(
                        "gave up waiting after {}: execution {id} is still {}; follow it with `ferry execution show {id}`",
                        humantime::format_duration(timeout),
                        e.status
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
        .list_all(&["executions", &id.to_string(), "tasks"])
        .await?;
    let e: Execution = decode("execution", &final_value)?;
    if ctx.json() {
        print_json(&json!({ "execution": final_value, "tasks": tasks }));
    } else {
        out!("{}", render_summary(&e, &decode_tasks(&tasks)?));
    }
    Ok(if e.status == "succeeded" {
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
    last: Option<(String, i64, i64, i64)>,
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
                e.status
            ));
            return;
        }
        let now = (e.status.clone(), done, e.total, e.bytes);
        if self.last.as_ref() != Some(&now) {
            eprintln!(
                "execution {}: {}, {done}/{} artifacts, {} failed, {}",
                e.id,
                e.status,
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
fn render_summary(e: &Execution, tasks: &[Task]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "execution {}: {} in {}; {}",
        e.id,
        if e.status == "failed" {
            "FAILED"
        } else {
            e.status.as_str()
        },
        e.took(),
        e.counts()
    );
    if !e.status_text.is_empty() {
        let _ = writeln!(out, "{}", e.status_text);
    }
    if let Some(plan) = &e.plan {
        out.push_str(&crate::cli::summary::plan_lines(plan));
        return out;
    }
    // Stages in the order they first appear.
    struct Sum {
        function: String,
        outcomes: BTreeMap<String, usize>,
        counts: BTreeMap<String, Value>,
        bytes: u64,
    }
    let mut order: Vec<String> = Vec::new();
    let mut sums: BTreeMap<String, Sum> = BTreeMap::new();
    for t in tasks {
        for r in t.stages() {
            let sum = sums.entry(r.stage.clone()).or_insert_with(|| {
                order.push(r.stage.clone());
                Sum {
                    function: r.function.clone(),
                    outcomes: BTreeMap::new(),
                    counts: BTreeMap::new(),
                    bytes: 0,
                }
            });
            *sum.outcomes.entry(r.outcome.clone()).or_default() += 1;
            sum.bytes += r.bytes;
            for (k, v) in r.counts {
                let entry = sum.counts.entry(k).or_insert(json!(0));
                match (entry.as_i64(), v.as_i64()) {
                    (Some(a), Some(b)) => *entry = json!(a + b),
                    _ => *entry = v,
                }
            }
        }
    }
    if !order.is_empty() {
        let rows: Vec<Vec<String>> = order
            .iter()
            .map(|stage| {
                let s = &sums[stage];
                let n = |o: &str| s.outcomes.get(o).copied().unwrap_or(0).to_string();
                vec![
                    stage.clone(),
                    s.function.clone(),
                    n("succeeded"),
                    n("skipped"),
                    n("failed"),
                    n("not-run"),
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
    for t in tasks.iter().filter(|t| t.status == "failed") {
        let reason = t
            .error
            .clone()
            .or_else(|| {
                t.stages()
                    .into_iter()
                    .find(|r| r.outcome == "failed")
                    .map(|r| format!("stage {}: {}", r.stage, r.error.unwrap_or_default()))
            })
            .unwrap_or_else(|| "?".into());
        let _ = writeln!(out, "failed: {}: {reason}", t.artifact());
    }
    out
}

/// `ferry execution show`: the execution, then each task and its stages.
fn render_show(e: &Execution, policy: &str, tasks: &[Task]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "execution {}: {}", e.id, e.status);
    if !e.status_text.is_empty() {
        let _ = writeln!(out, "  {}", e.status_text);
    }
    let _ = writeln!(out, "policy:    {policy}");
    let _ = writeln!(out, "trigger:   {}", e.trigger);
    let _ = writeln!(
        out,
        "started:   {}   ended: {}   took: {}",
        time(e.start_time),
        e.end_time.map(time).unwrap_or_else(|| "-".into()),
        e.took()
    );
    let _ = writeln!(out, "progress:  {}", e.counts());
    if !e.stages.is_empty() {
        let _ = writeln!(out, "execution stages:");
        let width = e.stages.iter().map(|r| r.stage.len()).max().unwrap_or(0);
        for r in &e.stages {
            let _ = writeln!(out, "  {}", r.line(width));
        }
    }
    if !e.events.is_empty() {
        let _ = writeln!(out, "registry events:");
        for ev in &e.events {
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
    if let Some(plan) = &e.plan {
        let _ = writeln!(out, "dry run plan (nothing was written):");
        out.push_str(&crate::cli::summary::plan_lines(plan));
        return out;
    }
    if tasks.is_empty() {
        let _ = writeln!(out, "no tasks");
        return out;
    }
    let _ = writeln!(out, "tasks:");
    for t in tasks {
        let attempts = if t.attempts > 1 {
            format!(" ({} attempts)", t.attempts)
        } else {
            String::new()
        };
        let _ = writeln!(out, "  {}  {}{attempts}", t.artifact(), t.status);
        if let Some(err) = t.error.as_deref().filter(|e| !e.is_empty()) {
            let _ = writeln!(out, "    error: {err}");
        }
        if let Some(why) = t.reason.as_deref().filter(|e| !e.is_empty()) {
            let _ = writeln!(out, "    skipped: {why}");
        }
        let stages = t.stages();
        let width = stages.iter().map(|r| r.stage.len()).max().unwrap_or(0);
        for r in stages {
            let _ = writeln!(out, "    {}", r.line(width));
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

    fn tasks() -> Vec<Task> {
        let v = json!([
            {"id": 1, "execution_id": 5, "repository": "lib/a", "target_repository": "m/lib/a",
             "tag": "1", "digest": "sha256:aa", "operation": "copy", "status": "succeeded",
             "attempts": 1, "error": null, "start_time": 0, "end_time": null,
             "stages": [
                {"stage": "copy", "function": "oci-copy@1", "outcome": "succeeded",
                 "counts": {"blobs": 3, "skipped": 0}, "bytes": 2048, "messages": [],
                 "error": null, "attempts": 1, "duration_ms": 10}]},
            {"id": 2, "execution_id": 5, "repository": "lib/b", "target_repository": "lib/b",
             "tag": null, "digest": "sha256:bb", "operation": "copy", "status": "failed",
             "attempts": 2, "error": null, "start_time": 0, "end_time": null,
             "stages": "[{\"stage\":\"copy\",\"function\":\"oci-copy@1\",\"outcome\":\"failed\",\"counts\":{\"blobs\":1},\"bytes\":0,\"messages\":[],\"error\":\"denied\",\"attempts\":2,\"duration_ms\":5}]"}
        ]);
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn summary_sums_stages_and_lists_failures() {
        let s = render_summary(&exec("failed"), &tasks());
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
        let s = render_show(&exec("succeeded"), "p (id 2)", &tasks());
        assert!(s.contains("lib/a:1 -> m/lib/a:1  succeeded"), "{s}");
        assert!(s.contains("    copy  succeeded  blobs=3  2.00 KiB"), "{s}");
        assert!(s.contains("lib/b@sha256:bb  failed (2 attempts)"), "{s}");
        assert!(s.contains("error: denied"), "{s}");
    }

    #[test]
    fn exit_codes_after_starting() {
        assert_eq!(started_code(&exec("running")), ExitCode::SUCCESS);
        assert_eq!(started_code(&exec("pending")), ExitCode::SUCCESS);
        assert_eq!(started_code(&exec("skipped")), ExitCode::FAILURE);
        assert_eq!(started_code(&exec("succeeded")), ExitCode::SUCCESS);
    }
}
