//! The runner's rules, with stages answered by a script instead of
//! WebAssembly functions, and no registry: `when` at both scopes, barriers
//! between scopes, operation routing, skipping, retries, and reports in
//! template order.

use std::collections::HashMap;
use std::sync::Mutex;

use super::*;
use crate::domain::RegistryKind;
use crate::engine::template::{Kinds, Retries};
use crate::runtime::Function;
use crate::transfer::Endpoint;

/// Answers one invocation, given its input and which attempt it is (from 1)
/// for the same stage and resources.
type Rule = Box<dyn Fn(&StageInput, u32) -> Answer + Send + Sync>;

/// One invocation the script answered.
#[derive(Debug, Clone)]
struct Seen {
    stage: String,
    /// The resources' repositories, joined with commas.
    resources: String,
    previous: Vec<Report>,
    dry_run: bool,
}

/// Stages answered by rules, per stage and artifact (or per stage); a stage
/// without a rule succeeds and passes its resources on.
#[derive(Default)]
struct Script {
    rules: HashMap<(String, Option<String>), Rule>,
    delays: HashMap<(String, String), Duration>,
    seen: Mutex<Vec<Seen>>,
    /// "start STAGE RESOURCES" and "end STAGE RESOURCES", as they happened.
    timeline: Mutex<Vec<String>>,
    attempts: Mutex<HashMap<(String, String), u32>>,
}

impl Script {
    /// `stage` on the artifact of repository `artifact` (`None`: on any
    /// resources) answers by `rule`.
    fn on(
        mut self,
        stage: &str,
        artifact: Option<&str>,
        rule: impl Fn(&StageInput, u32) -> Answer + Send + Sync + 'static,
    ) -> Self {
        self.rules.insert(
            (stage.to_string(), artifact.map(str::to_string)),
            Box::new(rule),
        );
        self
    }

    /// `stage` on `artifact` takes `wait` before answering.
    fn slow(mut self, stage: &str, artifact: &str, wait: Duration) -> Self {
        self.delays
            .insert((stage.to_string(), artifact.to_string()), wait);
        self
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// `(stage, resources)` of every invocation, sorted (artifact stages
    /// run in parallel).
    fn calls(&self) -> Vec<(String, String)> {
        let mut calls: Vec<_> = self
            .seen()
            .into_iter()
            .map(|s| (s.stage, s.resources))
            .collect();
        calls.sort();
        calls
    }

    /// The invocations of one stage, in the order they happened.
    fn of(&self, stage: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.stage == stage)
            .collect()
    }

    fn timeline(&self) -> Vec<String> {
        self.timeline.lock().unwrap().clone()
    }
}

impl Invoke for Script {
    fn invoke<'a>(
        &'a self,
        stage: &'a Stage,
        _caps: Arc<Capabilities>,
        input: StageInput,
    ) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let resources = input
                .resources
                .iter()
                .map(|a| a.repository.as_str())
                .collect::<Vec<_>>()
                .join(",");
            let attempt = {
                let mut attempts = self.attempts.lock().unwrap();
                let n = attempts
                    .entry((stage.name.clone(), resources.clone()))
                    .or_default();
                *n += 1;
                *n
            };
            self.seen.lock().unwrap().push(Seen {
                stage: stage.name.clone(),
                resources: resources.clone(),
                previous: input.previous.clone(),
                dry_run: input.dry_run,
            });
            let at = format!("{} {resources}", stage.name);
            self.timeline.lock().unwrap().push(format!("start {at}"));
            if let Some(wait) = self.delays.get(&(stage.name.clone(), resources.clone())) {
                tokio::time::sleep(*wait).await;
            }
            let rule = self
                .rules
                .get(&(stage.name.clone(), Some(resources.clone())))
                .or_else(|| self.rules.get(&(stage.name.clone(), None)));
            let answer = match rule {
                Some(rule) => rule(&input, attempt),
                None => Ok(Ok(output(input.resources.clone(), Status::Succeeded, &[]))),
            };
            self.timeline.lock().unwrap().push(format!("end {at}"));
            answer
        })
    }
}

/// What the runner told its recorder.
#[derive(Default)]
struct Log {
    listed: Mutex<Vec<Vec<String>>>,
    tasks: Mutex<Vec<(usize, String, TaskStatus)>>,
}

impl Recorder for Log {
    fn listed<'a>(&'a self, artifacts: &'a [Artifact]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let names = artifacts.iter().map(|a| a.repository.clone()).collect();
            self.listed.lock().unwrap().push(names);
        })
    }

    fn task<'a>(&'a self, index: usize, task: &'a TaskReport) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let entry = (index, task.repository.clone(), task.status);
            self.tasks.lock().unwrap().push(entry);
        })
    }
}

fn artifact(repository: &str, operation: Operation) -> Artifact {
    Artifact {
        operation: operation.into(),
        repository: repository.to_string(),
        target_repository: format!("mirror/{repository}"),
        tag: Some("1".into()),
        digest: None,
        media_type: None,
        manifests: Vec::new(),
        blobs: Vec::new(),
        referrers: Vec::new(),
        no_referrers: false,
        properties: Vec::new(),
    }
}

fn output(resources: Vec<Artifact>, status: Status, messages: &[&str]) -> StageOutput {
    StageOutput {
        resources,
        status,
        counts: Vec::new(),
        bytes: 0,
        messages: messages.iter().map(|m| m.to_string()).collect(),
        plan: Vec::new(),
    }
}

/// A listing that answers copies of these repositories.
fn lists(repositories: &[&str]) -> impl Fn(&StageInput, u32) -> Answer + Send + Sync + 'static {
    let artifacts: Vec<Artifact> = repositories
        .iter()
        .map(|r| artifact(r, Operation::Copy))
        .collect();
    move |_, _| Ok(Ok(output(artifacts.clone(), Status::Succeeded, &[])))
}

/// The function answered an error.
fn error(kind: ErrorKind, retryable: bool, message: &str) -> Answer {
    Ok(Err(WitError {
        kind,
        message: message.to_string(),
        retryable,
    }))
}

/// The function answered, reporting failure.
fn reports_failure(message: &str) -> Answer {
    Ok(Ok(output(Vec::new(), Status::Failed, &[message])))
}

fn stage(name: &str, scope: Scope, when: When) -> Stage {
    Stage {
        name: name.to_string(),
        function: Arc::new(Function::stub(&format!("{name}@1.0.0"))),
        scope,
        concurrency: 4,
        params: Vec::new(),
        timeout: Duration::from_secs(10),
        retries: Retries::default(),
        when,
        operation: Operation::Copy,
    }
}

fn exec(name: &str) -> Stage {
    stage(name, Scope::Execution, When::OnSuccess)
}

fn each(name: &str) -> Stage {
    stage(name, Scope::Artifact, When::OnSuccess)
}

fn policy() -> Policy {
    let endpoint = |url: &str| {
        Endpoint::new(
            RegistryKind::parse("distribution").unwrap(),
            url,
            true,
            None,
        )
        .unwrap()
    };
    Policy {
        name: "p".into(),
        source: endpoint("http://127.0.0.1:9/"),
        target: endpoint("http://127.0.0.1:10/"),
        dest_namespace: String::new(),
        dest_namespace_replace_count: 0,
        filters: Vec::new(),
        override_existing: false,
        replicate_deletion: false,
        copy_by_chunk: false,
        chunk_size: 0,
        speed: None,
    }
}

struct Run {
    report: ExecutionReport,
    script: Arc<Script>,
    progress: Arc<Progress>,
    log: Arc<Log>,
}

async fn run(script: Script, stages: Vec<Stage>) -> Run {
    run_with(script, stages, None, false).await
}

async fn run_with(script: Script, stages: Vec<Stage>, seed: Option<Seed>, dry_run: bool) -> Run {
    run_limited(script, stages, seed, dry_run, Limits::default()).await
}

async fn run_limited(
    script: Script,
    stages: Vec<Stage>,
    seed: Option<Seed>,
    dry_run: bool,
    limits: Limits,
) -> Run {
    let script = Arc::new(script);
    let runner = Runner::with_invoker(script.clone(), Arc::new(limits), Known::off());
    let progress = Arc::new(Progress::default());
    let log = Arc::new(Log::default());
    let ctx = RunContext {
        execution_id: "e1".into(),
        events: Arc::new(runtime::TracingEvents),
        progress: progress.clone(),
        recorder: log.clone(),
        seed,
        dry_run,
    };
    let template = Template {
        name: "t".into(),
        description: String::new(),
        kinds: Kinds::default(),
        stages,
    };
    let report = runner.run(ctx, &policy(), &template).await.unwrap();
    Run {
        report,
        script,
        progress,
        log,
    }
}

/// "stage Outcome detail": the error, else the last message.
fn show(records: &[StageRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            let detail = r.error.clone().or_else(|| r.messages.last().cloned());
            format!("{} {:?} {}", r.stage, r.outcome, detail.unwrap_or_default())
                .trim_end()
                .to_string()
        })
        .collect()
}

/// "repository Status" of each task, in report order.
fn tasks(report: &ExecutionReport) -> Vec<String> {
    report
        .tasks
        .iter()
        .map(|t| format!("{} {:?}", t.repository, t.status))
        .collect()
}

fn task<'r>(report: &'r ExecutionReport, repository: &str) -> &'r TaskReport {
    report
        .tasks
        .iter()
        .find(|t| t.repository == repository)
        .unwrap_or_else(|| panic!("no task of {repository}"))
}

fn pairs(calls: &[(&str, &str)]) -> Vec<(String, String)> {
    calls
        .iter()
        .map(|(s, r)| (s.to_string(), r.to_string()))
        .collect()
}

const EARLIER: &str = "not run: an earlier stage failed";
const SKIPPED: &str = "not run: the artifact was skipped";

#[test]
fn the_when_rule_for_each_standing() {
    let standing = |halted, failed, skipped| Standing {
        halted,
        failed,
        skipped,
    };
    let all = |s: Standing| [When::OnSuccess, When::Always, When::OnFailure].map(|w| w.excludes(s));
    // Nothing failed.
    assert_eq!(
        all(standing(false, false, false)),
        [None, None, Some(EARLIER)]
    );
    // Some task failed, the execution goes on.
    assert_eq!(all(standing(false, true, false)), [None, None, None]);
    // An execution-scoped stage failed, or this task did.
    assert_eq!(
        all(standing(true, true, false)),
        [Some(EARLIER), None, None]
    );
    // A skipped task runs nothing more.
    assert_eq!(all(standing(true, false, true)), [Some(SKIPPED); 3]);

    // How each scope stands.
    let task_of = |status| {
        let mut t = Task::new(artifact("a", Operation::Copy));
        t.status = status;
        t
    };
    assert_eq!(
        Standing::task(false, TaskStatus::Succeeded),
        standing(false, false, false)
    );
    assert_eq!(
        Standing::task(false, TaskStatus::Failed),
        standing(true, true, false)
    );
    assert_eq!(
        Standing::task(true, TaskStatus::Succeeded),
        standing(true, false, false)
    );
    assert_eq!(
        Standing::task(false, TaskStatus::Skipped),
        standing(true, false, true)
    );
    let some_failed = [
        task_of(TaskStatus::Succeeded),
        task_of(TaskStatus::Failed),
        task_of(TaskStatus::Skipped),
    ];
    assert_eq!(
        Standing::execution(false, &some_failed),
        standing(false, true, false)
    );
    assert_eq!(
        Standing::execution(false, &some_failed[..1]),
        standing(false, false, false)
    );
    assert_eq!(Standing::execution(true, &[]), standing(true, true, false));
}

#[tokio::test]
async fn after_a_failed_listing_only_always_and_on_failure_stages_run() {
    // `cleanup` answers artifacts: after a failed listing they must not be
    // taken for the listing's.
    let script = Script::default()
        .on("list", None, |_, _| {
            error(ErrorKind::Unavailable, false, "registry down")
        })
        .on("cleanup", None, lists(&["stray"]));
    let run = run(
        script,
        vec![
            exec("list"),
            each("pull"),
            exec("publish"),
            stage("cleanup", Scope::Execution, When::Always),
            stage("alert", Scope::Execution, When::OnFailure),
        ],
    )
    .await;

    assert_eq!(run.report.status, ExecutionStatus::Failed);
    assert_eq!(
        show(&run.report.stages),
        [
            "list Failed unavailable: registry down".to_string(),
            format!("publish NotRun {EARLIER}"),
            "cleanup Succeeded".into(),
            "alert Succeeded".into(),
        ]
    );
    assert!(run.report.tasks.is_empty());
    assert!(
        run.log.listed.lock().unwrap().is_empty(),
        "nothing was listed"
    );
    let seen = run.script.seen();
    let order: Vec<_> = seen.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(order, ["list", "cleanup", "alert"]);
    assert!(seen.iter().all(|s| s.resources.is_empty()));
}

#[tokio::test]
async fn after_an_artifact_failure_execution_stages_run_by_when() {
    let script = Script::default()
        .on("list", None, lists(&["a", "b", "c"]))
        .on("pull", Some("b"), |_, _| {
            error(ErrorKind::Internal, false, "boom")
        });
    let run = run(
        script,
        vec![
            exec("list"),
            each("pull"),
            exec("publish"),
            stage("cleanup", Scope::Execution, When::Always),
            stage("alert", Scope::Execution, When::OnFailure),
        ],
    )
    .await;

    assert_eq!(run.report.status, ExecutionStatus::Failed);
    assert_eq!(
        show(&run.report.stages),
        [
            "list Succeeded",
            "publish Succeeded",
            "cleanup Succeeded",
            "alert Succeeded"
        ]
    );
    assert_eq!(
        tasks(&run.report),
        ["a Succeeded", "b Failed", "c Succeeded"]
    );
    assert_eq!(
        task(&run.report, "b").error.as_deref(),
        Some("stage pull: internal: boom")
    );
    // An on-success stage sees the tasks still succeeding; the others all.
    let resources = |stage| run.script.of(stage)[0].resources.clone();
    assert_eq!(resources("publish"), "a,c");
    assert_eq!(resources("cleanup"), "a,b,c");
    assert_eq!(resources("alert"), "a,b,c");
    assert_eq!(run.progress.planned.load(Ordering::Relaxed), 3);
    assert_eq!(run.progress.failed.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn an_on_failure_execution_stage_does_not_run_when_nothing_failed() {
    let script = Script::default().on("list", None, lists(&["a"]));
    let run = run(
        script,
        vec![
            exec("list"),
            each("pull"),
            stage("alert", Scope::Execution, When::OnFailure),
            stage("cleanup", Scope::Execution, When::Always),
        ],
    )
    .await;

    assert_eq!(run.report.status, ExecutionStatus::Succeeded);
    assert_eq!(
        show(&run.report.stages),
        [
            "list Succeeded".to_string(),
            format!("alert NotRun {EARLIER}"),
            "cleanup Succeeded".into(),
        ]
    );
    assert_eq!(
        run.script.calls(),
        pairs(&[("cleanup", "a"), ("list", ""), ("pull", "a")])
    );
}

#[tokio::test]
async fn artifact_stages_run_by_when_for_each_task() {
    let script = Script::default()
        .on("list", None, lists(&["a", "b"]))
        .on("pull", Some("b"), |_, _| {
            error(ErrorKind::Rejected, false, "no")
        })
        .on("alert", Some("b"), |_, _| {
            reports_failure("could not notify")
        });
    let run = run(
        script,
        vec![
            exec("list"),
            each("pull"),
            each("push"),
            stage("tidy", Scope::Artifact, When::Always),
            stage("alert", Scope::Artifact, When::OnFailure),
        ],
    )
    .await;

    assert_eq!(run.report.status, ExecutionStatus::Failed);
    assert_eq!(tasks(&run.report), ["a Succeeded", "b Failed"]);
    assert_eq!(
        show(&task(&run.report, "a").stages),
        [
            "pull Succeeded".to_string(),
            "push Succeeded".into(),
            "tidy Succeeded".into(),
            format!("alert NotRun {EARLIER}"),
        ]
    );
    let b = task(&run.report, "b");
    assert_eq!(
        show(&b.stages),
        [
            "pull Failed rejected: no".to_string(),
            format!("push NotRun {EARLIER}"),
            "tidy Succeeded".into(),
            "alert Failed could not notify".into(),
        ]
    );
    // The first failure is the task's; a task fails once in the counts.
    assert_eq!(b.error.as_deref(), Some("stage pull: rejected: no"));
    assert_eq!(run.progress.failed.load(Ordering::Relaxed), 1);
    // An artifact stage sees its task's reports so far, not-run as skipped.
    let tidy_b = &run
        .script
        .of("tidy")
        .into_iter()
        .find(|s| s.resources == "b");
    let previous: Vec<_> = tidy_b
        .as_ref()
        .unwrap()
        .previous
        .iter()
        .map(|r| (r.stage.as_str(), r.status))
        .collect();
    assert_eq!(
        previous,
        [("pull", Status::Failed), ("push", Status::Skipped)]
    );
    assert_eq!(
        run.script.calls(),
        pairs(&[
            ("alert", "b"),
            ("list", ""),
            ("pull", "a"),
            ("pull", "b"),
            ("push", "a"),
            ("tidy", "a"),
            ("tidy", "b"),
        ])
    );
}

#[tokio::test]
async fn an_artifact_stage_answering_no_resources_skips_its_task_with_its_reason() {
    let script =
        Script::default()
            .on("list", None, lists(&["a", "b"]))
            .on("check", Some("a"), |_, _| {
                Ok(Ok(output(
                    Vec::new(),
                    Status::Skipped,
                    &["looked", "a:1 is up to date"],
                )))
            });
    let run = run(
        script,
        vec![
            exec("list"),
            each("check"),
            each("push"),
            stage("tidy", Scope::Artifact, When::Always),
            stage("alert", Scope::Artifact, When::OnFailure),
            exec("done"),
        ],
    )
    .await;

    assert_eq!(run.report.status, ExecutionStatus::Succeeded);
    assert_eq!(tasks(&run.report), ["a Skipped", "b Succeeded"]);
    let a = task(&run.report, "a");
    assert_eq!(a.reason.as_deref(), Some("a:1 is up to date"));
    assert_eq!(a.error, None);
    assert_eq!(
        show(&a.stages),
        [
            "check Skipped a:1 is up to date".to_string(),
            format!("push NotRun {SKIPPED}"),
            format!("tidy NotRun {SKIPPED}"),
            format!("alert NotRun {SKIPPED}"),
        ]
    );
    assert_eq!(
        show(&task(&run.report, "b").stages),
        [
            "check Succeeded".to_string(),
            "push Succeeded".into(),
            "tidy Succeeded".into(),
            format!("alert NotRun {EARLIER}"),
        ]
    );
    // The execution-scoped stage after them sees the task still to do.
    assert_eq!(run.script.of("done")[0].resources, "b");
    assert_eq!(run.progress.failed.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn an_execution_stage_between_artifact_stages_waits_for_every_task() {
    let script = Script::default()
        .on("list", None, lists(&["a", "b", "c"]))
        .slow("pull", "a", Duration::from_millis(50));
    let run = run(
        script,
        vec![exec("list"), each("pull"), exec("gate"), each("push")],
    )
    .await;

    let timeline = run.script.timeline();
    let at = |event: &str| {
        timeline
            .iter()
            .position(|e| e == event)
            .unwrap_or_else(|| panic!("no {event} in {timeline:?}"))
    };
    let gate = at("start gate a,b,c");
    // The slow pull ended last: the barrier had something to wait for.
    assert!(at("end pull a") > at("end pull b") && at("end pull a") > at("end pull c"));
    for r in ["a", "b", "c"] {
        assert!(at(&format!("end pull {r}")) < gate, "{timeline:?}");
        assert!(
            at(&format!("start push {r}")) > at("end gate a,b,c"),
            "{timeline:?}"
        );
    }
    assert_eq!(run.script.of("gate").len(), 1);
    // Tasks are reported in listing order, whatever order they finished in.
    assert_eq!(
        tasks(&run.report),
        ["a Succeeded", "b Succeeded", "c Succeeded"]
    );
    // The recorder hears of each task by its listing index, once per run
    // of artifact stages.
    let mut recorded = run.log.tasks.lock().unwrap().clone();
    recorded.sort_by_key(|(i, r, _)| (*i, r.clone()));
    let recorded: Vec<_> = recorded.iter().map(|(i, r, _)| (*i, r.as_str())).collect();
    assert_eq!(
        recorded,
        [(0, "a"), (0, "a"), (1, "b"), (1, "b"), (2, "c"), (2, "c")]
    );
    assert_eq!(*run.log.listed.lock().unwrap(), [["a", "b", "c"]]);
}

#[tokio::test]
async fn an_execution_stage_sees_every_report_so_far_in_template_order() {
    let counted = |counts: &[(&str, u64)], bytes: u64| {
        let counts: Vec<(String, u64)> = counts.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        move |input: &StageInput, _: u32| {
            let mut out = output(input.resources.clone(), Status::Succeeded, &[]);
            out.counts = counts.clone();
            out.bytes = bytes;
            Ok(Ok(out))
        }
    };
    let listing = lists(&["a", "b"]);
    let script = Script::default()
        .on("list", None, move |input, attempt| {
            let mut answer = listing(input, attempt);
            if let Ok(Ok(out)) = &mut answer {
                out.counts = vec![("listed".into(), 2)];
            }
            answer
        })
        .on("pull", Some("a"), counted(&[("blobs", 3)], 100))
        .on(
            "pull",
            Some("b"),
            counted(&[("blobs", 4), ("layers", 1)], 50),
        )
        .on("push", Some("b"), |_, _| {
            error(ErrorKind::Internal, false, "x")
        });
    let run = run(
        script,
        vec![
            exec("list"),
            each("pull"),
            exec("gate"),
            each("push"),
            stage("summary", Scope::Execution, When::Always),
        ],
    )
    .await;

    let previous: Vec<_> = run.script.of("summary")[0]
        .previous
        .iter()
        .map(|r| {
            (
                r.stage.clone(),
                r.status,
                r.counts.clone(),
                r.bytes,
                r.messages.clone(),
            )
        })
        .collect();
    let counts = |c: &[(&str, u64)]| -> Vec<(String, u64)> {
        c.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    assert_eq!(
        previous,
        [
            (
                "list".to_string(),
                Status::Succeeded,
                counts(&[("listed", 2)]),
                0,
                Vec::<String>::new()
            ),
            (
                "pull".into(),
                Status::Succeeded,
                counts(&[("artifacts-failed", 0), ("blobs", 7), ("layers", 1)]),
                150,
                vec![]
            ),
            ("gate".into(), Status::Succeeded, counts(&[]), 0, vec![]),
            (
                "push".into(),
                Status::Failed,
                counts(&[("artifacts-failed", 1)]),
                0,
                vec!["b:1: internal: x".to_string()]
            ),
        ]
    );
    // The gate, between the two, saw the listing and the pulls only.
    let gate: Vec<_> = run.script.of("gate")[0]
        .previous
        .iter()
        .map(|r| r.stage.clone())
        .collect();
    assert_eq!(gate, ["list", "pull"]);
    assert_eq!(
        show(&run.report.stages),
        ["list Succeeded", "gate Succeeded", "summary Succeeded"]
    );
    assert_eq!(
        show(&task(&run.report, "b").stages),
        ["pull Succeeded", "push Failed internal: x"]
    );
    assert_eq!(run.report.status, ExecutionStatus::Failed);
}

#[tokio::test]
async fn artifact_stages_serve_the_tasks_of_their_operation_only() {
    let script = Script::default()
        .on("list", None, |_, _| {
            let artifacts = vec![
                artifact("a", Operation::Copy),
                artifact("d", Operation::Delete),
                artifact("f", Operation::Copy),
            ];
            Ok(Ok(output(artifacts, Status::Succeeded, &[])))
        })
        .on("pull", Some("f"), |_, _| {
            error(ErrorKind::NotFound, false, "gone")
        });
    let delete = Stage {
        operation: Operation::Delete,
        ..each("delete")
    };
    let run = run(
        script,
        vec![exec("list"), each("pull"), delete, each("push")],
    )
    .await;

    let serves = |op: &str| format!("not run: the stage serves {op} tasks");
    assert_eq!(
        show(&task(&run.report, "a").stages),
        [
            "pull Succeeded".to_string(),
            format!("delete NotRun {}", serves("delete")),
            "push Succeeded".into(),
        ]
    );
    assert_eq!(
        show(&task(&run.report, "d").stages),
        [
            format!("pull NotRun {}", serves("copy")),
            "delete Succeeded".into(),
            format!("push NotRun {}", serves("copy")),
        ]
    );
    // Routing comes before `when`: a failed copy is not a delete's business.
    assert_eq!(
        show(&task(&run.report, "f").stages),
        [
            "pull Failed not-found: gone".to_string(),
            format!("delete NotRun {}", serves("delete")),
            format!("push NotRun {EARLIER}"),
        ]
    );
    let operations: Vec<_> = run.report.tasks.iter().map(|t| t.operation).collect();
    assert_eq!(
        operations,
        [Operation::Copy, Operation::Delete, Operation::Copy]
    );
    assert_eq!(
        tasks(&run.report),
        ["a Succeeded", "d Succeeded", "f Failed"]
    );
    assert_eq!(
        run.script.calls(),
        pairs(&[
            ("delete", "d"),
            ("list", ""),
            ("pull", "a"),
            ("pull", "f"),
            ("push", "a"),
        ])
    );
}

#[tokio::test]
async fn only_retryable_errors_are_retried_up_to_the_stage_count() {
    let script = Script::default()
        .on("list", None, lists(&["a", "b", "c", "d", "e"]))
        .on("pull", Some("a"), |input, attempt| match attempt {
            1 | 2 => error(ErrorKind::Unavailable, true, "busy"),
            _ => Ok(Ok(output(input.resources.clone(), Status::Succeeded, &[]))),
        })
        .on("pull", Some("b"), |_, _| {
            error(ErrorKind::Unavailable, true, "busy")
        })
        .on("pull", Some("c"), |_, _| {
            error(ErrorKind::Invalid, false, "bad")
        })
        .on("pull", Some("d"), |_, _| {
            Err(InvokeError::Trap("boom".into()))
        })
        .on("pull", Some("e"), |_, _| reports_failure("refused"))
        .on("push", Some("a"), |_, _| {
            error(ErrorKind::Unavailable, true, "busy")
        });
    let pull = Stage {
        retries: Retries {
            count: 2,
            backoff: Duration::ZERO,
        },
        ..each("pull")
    };
    let run = run(script, vec![exec("list"), pull, each("push")]).await;

    let pull_of = |r: &str| task(&run.report, r).stages[0].clone();
    let attempts: Vec<_> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|r| {
            let p = pull_of(r);
            (p.attempts, show(&[p])[0].clone())
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (3, "pull Succeeded".to_string()),
            (3, "pull Failed unavailable: busy".into()),
            (1, "pull Failed invalid: bad".into()),
            (1, "pull Failed function pull@1.0.0 trapped: boom".into()),
            (1, "pull Failed refused".into()),
        ]
    );
    // The invocations match the attempts recorded.
    let pulls = |r: &str| {
        run.script
            .of("pull")
            .iter()
            .filter(|s| s.resources == r)
            .count()
    };
    assert_eq!(["a", "b", "c", "d", "e"].map(pulls), [3, 3, 1, 1, 1]);
    // A stage without retries does not retry a retryable error.
    let push_a = &task(&run.report, "a").stages[1];
    assert_eq!((push_a.attempts, push_a.outcome), (1, Outcome::Failed));
    assert_eq!(run.script.of("push").len(), 1);
    assert_eq!(
        tasks(&run.report),
        ["a Failed", "b Failed", "c Failed", "d Failed", "e Failed"]
    );
    assert_eq!(run.progress.failed.load(Ordering::Relaxed), 5);
}

#[tokio::test]
async fn an_on_success_execution_stage_answers_the_artifacts_to_go_on_with() {
    let script = Script::default()
        .on("list", None, lists(&["a", "b", "c"]))
        .on("pull", Some("b"), |_, _| {
            error(ErrorKind::Internal, false, "boom")
        })
        .on("filter", None, lists(&["a", "x"]))
        // Not on-success: its answer changes nothing.
        .on("audit", None, lists(&[]));
    let run = run(
        script,
        vec![
            exec("list"),
            each("pull"),
            exec("filter"),
            stage("audit", Scope::Execution, When::Always),
            each("push"),
        ],
    )
    .await;

    assert_eq!(run.script.of("filter")[0].resources, "a,c");
    assert_eq!(
        tasks(&run.report),
        ["a Succeeded", "b Failed", "c Skipped", "x Succeeded"]
    );
    assert_eq!(
        task(&run.report, "c").reason.as_deref(),
        Some("dropped by stage filter")
    );
    assert_eq!(
        show(&task(&run.report, "c").stages),
        [
            "pull Succeeded".to_string(),
            format!("push NotRun {SKIPPED}")
        ]
    );
    assert_eq!(
        run.script
            .calls()
            .iter()
            .filter(|(s, _)| s == "push")
            .count(),
        2
    );
    assert_eq!(
        run.script.calls(),
        pairs(&[
            ("audit", "a,b,c,x"),
            ("filter", "a,c"),
            ("list", ""),
            ("pull", "a"),
            ("pull", "b"),
            ("pull", "c"),
            ("push", "a"),
            ("push", "x"),
        ])
    );
}

#[tokio::test]
async fn a_failed_execution_stage_fails_the_tasks_still_succeeding() {
    let script = Script::default()
        .on("list", None, lists(&["a", "b"]))
        .on("check", Some("b"), |_, _| {
            Ok(Ok(output(Vec::new(), Status::Skipped, &["up to date"])))
        })
        .on("gate", None, |_, _| reports_failure("quota"));
    let run = run(
        script,
        vec![
            exec("list"),
            each("check"),
            exec("gate"),
            each("push"),
            stage("tidy", Scope::Artifact, When::Always),
        ],
    )
    .await;

    assert_eq!(run.report.status, ExecutionStatus::Failed);
    assert_eq!(tasks(&run.report), ["a Failed", "b Skipped"]);
    assert_eq!(
        task(&run.report, "a").error.as_deref(),
        Some("stage gate failed: quota")
    );
    assert_eq!(
        show(&task(&run.report, "a").stages),
        [
            "check Succeeded".to_string(),
            format!("push NotRun {EARLIER}"),
            "tidy Succeeded".into(),
        ]
    );
    assert_eq!(task(&run.report, "b").error, None);
    assert_eq!(
        show(&task(&run.report, "b").stages),
        [
            "check Skipped up to date".to_string(),
            format!("push NotRun {SKIPPED}"),
            format!("tidy NotRun {SKIPPED}"),
        ]
    );
    assert_eq!(
        show(&run.report.stages),
        ["list Succeeded", "gate Failed quota"]
    );
}

#[tokio::test]
async fn a_seeded_run_skips_the_listing() {
    let script = Script::default().on("list", None, |_, _| {
        error(ErrorKind::Internal, false, "the listing must not run")
    });
    let seed = Seed {
        artifacts: vec![
            artifact("a", Operation::Copy),
            artifact("b", Operation::Copy),
        ],
        reason: "not run: a retry".into(),
    };
    let run = run_with(script, vec![exec("list"), each("pull")], Some(seed), false).await;

    assert_eq!(run.report.status, ExecutionStatus::Succeeded);
    assert_eq!(show(&run.report.stages), ["list NotRun not run: a retry"]);
    assert_eq!(tasks(&run.report), ["a Succeeded", "b Succeeded"]);
    assert_eq!(run.script.calls(), pairs(&[("pull", "a"), ("pull", "b")]));
    assert_eq!(*run.log.listed.lock().unwrap(), [["a", "b"]]);
    assert_eq!(run.progress.planned.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_dry_run_runs_the_listing_alone_and_plans_from_its_answer() {
    let script = Script::default().on("list", None, |_, _| {
        let artifacts = vec![
            artifact("a", Operation::Copy),
            artifact("d", Operation::Delete),
        ];
        Ok(Ok(output(artifacts, Status::Succeeded, &[])))
    });
    let run = run_with(
        script,
        vec![exec("list"), each("pull"), exec("notify")],
        None,
        true,
    )
    .await;

    assert_eq!(run.report.status, ExecutionStatus::Succeeded);
    assert_eq!(
        show(&run.report.stages),
        [
            "list Succeeded",
            "notify NotRun not run: a dry run only lists"
        ]
    );
    assert!(run.report.tasks.is_empty());
    let seen = run.script.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].dry_run);
    let plan: Vec<_> = run
        .report
        .plan
        .unwrap()
        .iter()
        .map(|e| (e.action, e.name(), e.reason.clone()))
        .collect();
    assert_eq!(
        plan,
        [
            (
                PlanAction::Copy,
                "a:1".to_string(),
                "selected by the listing".to_string()
            ),
            (
                PlanAction::Delete,
                "d:1".into(),
                "selected by the listing".into()
            ),
        ]
    );
}

/// The most invocations of `stage` running at once.
fn peak(timeline: &[String], stage: &str) -> usize {
    let (mut now, mut most) = (0usize, 0);
    for event in timeline {
        match event.split_once(' ') {
            Some(("start", at)) if at.starts_with(&format!("{stage} ")) => {
                now += 1;
                most = most.max(now);
            }
            Some(("end", at)) if at.starts_with(&format!("{stage} ")) => now -= 1,
            _ => {}
        }
    }
    most
}

#[tokio::test]
async fn artifact_stages_widen_for_a_far_registry_unless_fixed() {
    let names: Vec<String> = (0..12).map(|i| format!("r{i:02}")).collect();
    let slow = |names: &[String]| {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        names.iter().fold(
            Script::default().on("list", None, lists(&refs)),
            |script, n| script.slow("push", n, Duration::from_millis(100)),
        )
    };
    let far = |limits: Limits| {
        // The target answered a small request in 200 ms at best.
        let target = policy().target.display_url();
        let rt = limits.registry(&target).round_trip.clone();
        rt.saw(Duration::from_millis(200));
        limits
    };
    // The template's 4 is the LAN figure: at 200 ms, 4 + 50 run at once,
    // so all 12.
    let stages = || vec![exec("list"), each("push")];
    let run = run_limited(slow(&names), stages(), None, false, far(Limits::default())).await;
    assert_eq!(run.report.status, ExecutionStatus::Succeeded);
    assert_eq!(peak(&run.script.timeline(), "push"), 12);
    // Concurrency the user fixed stays as set, however far.
    let fixed = far(Limits::default().with_fixed_blobs());
    let run = run_limited(slow(&names), stages(), None, false, fixed).await;
    assert_eq!(run.report.status, ExecutionStatus::Succeeded);
    assert_eq!(peak(&run.script.timeline(), "push"), 4);
    // Near (no round trip seen), the template's figure.
    let run = run_limited(slow(&names), stages(), None, false, Limits::default()).await;
    assert_eq!(peak(&run.script.timeline(), "push"), 4);
}
