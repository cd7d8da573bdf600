//! What an execution did: per stage, per artifact, in template order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::Operation;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Succeeded,
    /// Ran and had nothing to do.
    Skipped,
    Failed,
    /// Did not run (an earlier stage failed, or `when` excluded it).
    NotRun,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::NotRun => "not-run",
        }
    }
}

/// One stage's result (for one artifact, or for the execution).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StageRecord {
    pub stage: String,
    pub function: String,
    pub outcome: Outcome,
    pub counts: BTreeMap<String, u64>,
    pub bytes: u64,
    pub messages: Vec<String>,
    pub error: Option<String>,
    pub attempts: u32,
    pub duration_ms: u64,
    /// What the function logged (info and above), across its attempts.
    pub logs: Vec<String>,
}

impl StageRecord {
    pub fn not_run(stage: &str, function: &str, why: &str) -> Self {
        Self {
            stage: stage.to_string(),
            function: function.to_string(),
            outcome: Outcome::NotRun,
            counts: BTreeMap::new(),
            bytes: 0,
            messages: vec![why.to_string()],
            error: None,
            attempts: 0,
            duration_ms: 0,
            logs: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskStatus {
    Succeeded,
    Failed,
    /// Filtered out or nothing to do.
    Skipped,
    /// (Service) stopped by request before it finished.
    Stopped,
}

/// A finished task's status, as the store keeps it.
impl From<TaskStatus> for crate::store::ExecStatus {
    fn from(s: TaskStatus) -> Self {
        match s {
            TaskStatus::Succeeded => Self::Succeeded,
            TaskStatus::Failed => Self::Failed,
            TaskStatus::Skipped => Self::Skipped,
            TaskStatus::Stopped => Self::Stopped,
        }
    }
}

/// `repo:tag`, else `repo@digest`, else `repo`: how messages name an artifact.
pub fn artifact_name(repository: &str, tag: Option<&str>, digest: Option<&str>) -> String {
    match (tag, digest) {
        (Some(t), _) => format!("{repository}:{t}"),
        (None, Some(d)) => format!("{repository}@{d}"),
        (None, None) => repository.to_string(),
    }
}

/// One artifact's task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskReport {
    pub operation: Operation,
    pub repository: String,
    pub target_repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub status: TaskStatus,
    /// The first failure, for the summary.
    pub error: Option<String>,
    /// Why a skipped task was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub stages: Vec<StageRecord>,
}

impl TaskReport {
    /// `repo:tag` or `repo@digest`.
    pub fn name(&self) -> String {
        artifact_name(
            &self.repository,
            self.tag.as_deref(),
            self.digest.as_deref(),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionStatus {
    Succeeded,
    Failed,
}

/// What a dry run would do with an artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    Copy,
    /// Nothing: the target has it, or must keep what it has.
    Skip,
    Delete,
}

/// One line of a dry run's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanEntry {
    pub action: PlanAction,
    pub repository: String,
    pub target_repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub reason: String,
}

impl PlanEntry {
    /// `repo:tag` (or `@digest`) -> `target repo`.
    pub fn name(&self) -> String {
        artifact_name(
            &self.repository,
            self.tag.as_deref(),
            self.digest.as_deref(),
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecutionReport {
    pub id: String,
    pub template: String,
    pub status: ExecutionStatus,
    /// Execution-scoped stages, in template order.
    pub stages: Vec<StageRecord>,
    pub tasks: Vec<TaskReport>,
    pub bytes: u64,
    pub duration_ms: u64,
    /// A dry run's plan (only the listing ran; nothing was written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlanEntry>>,
}

impl ExecutionReport {
    pub fn failed_tasks(&self) -> impl Iterator<Item = &TaskReport> {
        self.tasks.iter().filter(|t| t.status == TaskStatus::Failed)
    }
}
