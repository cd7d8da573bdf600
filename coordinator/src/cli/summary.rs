//! The end-of-run summary: per stage, then every failure with its reason.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::engine::{
    ExecutionReport, Outcome, PlanAction, PlanEntry, Policy, Scope, StageRecord, TaskStatus,
    Template,
};
use crate::store::Operation;

pub fn render(report: &ExecutionReport, template: &Template, policy: &Policy) -> String {
    if let Some(plan) = &report.plan {
        return render_plan(report, plan, policy);
    }
    let mut out = String::new();
    let count = |s: TaskStatus| report.tasks.iter().filter(|t| t.status == s).count();
    let _ = writeln!(
        out,
        "{} -> {} ({}): {} in {:.1}s; {} artifacts: {} succeeded, {} failed, {} skipped; {} moved",
        policy.source.display_url(),
        policy.target.display_url(),
        report.template,
        match report.status {
            crate::engine::ExecutionStatus::Succeeded => "succeeded",
            crate::engine::ExecutionStatus::Failed => "FAILED",
        },
        report.duration_ms as f64 / 1000.0,
        report.tasks.len(),
        count(TaskStatus::Succeeded),
        count(TaskStatus::Failed),
        count(TaskStatus::Skipped),
        indicatif::HumanBytes(report.bytes),
    );
    let _ = writeln!(
        out,
        "{:<16} {:<10} {:>5} {:>5} {:>5} {:>7}  counts",
        "stage", "scope", "ok", "skip", "fail", "not-run"
    );
    let mut exec = report.stages.iter();
    let mut artifact_index = 0;
    for stage in &template.stages {
        let records: Vec<&StageRecord> = match stage.scope {
            Scope::Execution => exec.next().into_iter().collect(),
            Scope::Artifact => {
                let r = report
                    .tasks
                    .iter()
                    .filter_map(|t| t.stages.get(artifact_index))
                    .collect();
                artifact_index += 1;
                r
            }
        };
        let n = |o: Outcome| records.iter().filter(|r| r.outcome == o).count();
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for r in &records {
            for (k, v) in &r.counts {
                *counts.entry(k).or_default() += v;
            }
        }
        let counts: Vec<String> = counts
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(
            out,
            "{:<16} {:<10} {:>5} {:>5} {:>5} {:>7}  {}",
            stage.name,
            match stage.scope {
                Scope::Execution => "execution",
                Scope::Artifact => "artifact",
            },
            n(Outcome::Succeeded),
            n(Outcome::Skipped),
            n(Outcome::Failed),
            n(Outcome::NotRun),
            counts.join(" "),
        );
    }
    failed_stages(&mut out, report);
    for t in report.failed_tasks() {
        let _ = writeln!(
            out,
            "failed: {}: {}",
            t.name(),
            t.error.as_deref().unwrap_or("?")
        );
    }
    for t in report
        .tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Skipped && t.reason.is_some())
    {
        let _ = writeln!(
            out,
            "skipped: {}: {}",
            t.name(),
            t.reason.as_deref().unwrap_or_default()
        );
    }
    for t in report
        .tasks
        .iter()
        .filter(|t| t.operation == Operation::Delete && t.status == TaskStatus::Succeeded)
    {
        let tag = t.tag.as_deref().unwrap_or_default();
        let _ = writeln!(out, "deleted: {}:{tag}", t.target_repository);
    }
    out
}

/// A dry run's plan: one line per artifact, then the totals.
pub fn render_plan(report: &ExecutionReport, plan: &[PlanEntry], policy: &Policy) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "dry run {} -> {} ({}): nothing was written",
        policy.source.display_url(),
        policy.target.display_url(),
        report.template,
    );
    failed_stages(&mut out, report);
    out.push_str(&plan_lines(plan));
    out
}

/// A line per failed execution-scoped stage.
fn failed_stages(out: &mut String, report: &ExecutionReport) {
    for r in report
        .stages
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
    {
        let _ = writeln!(
            out,
            "failed: stage {}: {}",
            r.stage,
            r.error.as_deref().unwrap_or("?")
        );
    }
}

/// The lines of a plan and a total, as `ferry copy --dry-run` and
/// `ferry execution show` print them.
pub fn plan_lines(plan: &[PlanEntry]) -> String {
    let mut out = String::new();
    for e in plan {
        let tag = e
            .tag
            .as_deref()
            .map_or_else(String::new, |t| format!(":{t}"));
        let _ = writeln!(
            out,
            "{:<6} {} -> {}{tag}: {}",
            action_name(e.action),
            e.name(),
            e.target_repository,
            e.reason
        );
    }
    let n = |a: PlanAction| plan.iter().filter(|e| e.action == a).count();
    let _ = writeln!(
        out,
        "plan: {} to copy, {} to skip, {} to delete",
        n(PlanAction::Copy),
        n(PlanAction::Skip),
        n(PlanAction::Delete)
    );
    out
}

fn action_name(a: PlanAction) -> &'static str {
    match a {
        PlanAction::Copy => "copy",
        PlanAction::Skip => "skip",
        PlanAction::Delete => "delete",
    }
}
