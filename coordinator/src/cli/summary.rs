//! The end-of-run summary: per stage, then every failure with its reason.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::engine::{ExecutionReport, Outcome, Policy, Scope, StageRecord, TaskStatus, Template};

pub fn render(report: &ExecutionReport, template: &Template, policy: &Policy) -> String {
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
    for t in report.failed_tasks() {
        let _ = writeln!(
            out,
            "failed: {}: {}",
            t.name(),
            t.error.as_deref().unwrap_or("?")
        );
    }
    out
}
