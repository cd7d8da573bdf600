//! The engine: templates, policies, and the runner that executes them.

mod locate;
pub mod policy;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod template;

pub use policy::Policy;
pub use report::{
    ExecutionReport, ExecutionStatus, Outcome, PlanAction, PlanEntry, StageRecord, TaskReport,
    TaskStatus,
};
pub use runner::{Answer, Invoke, NoRecorder, Progress, Recorder, RunContext, Runner, Seed};
pub use schedule::Schedule;
pub use template::{Scope, Stage, Template, TemplateError, When};
