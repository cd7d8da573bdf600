//! A stage output, built step by step:
//! `Output::succeeded().resource(a).counts(c).bytes(n).message(m).build()`.

use crate::{Artifact, Counter, Counts, PlanEntry, StageOutput, Status};

/// A stage output under construction.
#[must_use]
pub struct Output(StageOutput);

impl Output {
    /// An output with `status` and nothing else yet.
    pub fn new(status: Status) -> Self {
        Output(StageOutput {
            resources: Vec::new(),
            status,
            counts: Vec::new(),
            bytes: 0,
            messages: Vec::new(),
            plan: Vec::new(),
        })
    }

    pub fn succeeded() -> Self {
        Self::new(Status::Succeeded)
    }

    /// Skipped, the first message saying why.
    pub fn skipped(reason: impl Into<String>) -> Self {
        Self::new(Status::Skipped).message(reason)
    }

    /// Adds resources for the next stage.
    pub fn resources(mut self, resources: impl IntoIterator<Item = Artifact>) -> Self {
        self.0.resources.extend(resources);
        self
    }

    /// Adds one resource for the next stage.
    pub fn resource(mut self, artifact: Artifact) -> Self {
        self.0.resources.push(artifact);
        self
    }

    /// Sets the counters.
    pub fn counts<K: Counter>(mut self, counts: Counts<K>) -> Self {
        self.0.counts = counts.into_wit();
        self
    }

    /// Sets the bytes moved.
    pub fn bytes(mut self, bytes: u64) -> Self {
        self.0.bytes = bytes;
        self
    }

    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.0.messages.push(message.into());
        self
    }

    pub fn messages(mut self, messages: impl IntoIterator<Item = String>) -> Self {
        self.0.messages.extend(messages);
        self
    }

    /// Sets a dry run's plan.
    pub fn plan(mut self, plan: Vec<PlanEntry>) -> Self {
        self.0.plan = plan;
        self
    }

    pub fn build(self) -> StageOutput {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Operation, PlanAction};

    crate::counters! {
        enum Count {
            Tags = "tags",
            Bytes = "bytes-seen",
        }
    }

    fn artifact(tag: &str) -> Artifact {
        Artifact {
            operation: Operation::Copy,
            repository: "a/b".into(),
            target_repository: "x/a/b".into(),
            tag: Some(tag.into()),
            digest: None,
            media_type: None,
            manifests: vec![],
            blobs: vec![],
            referrers: vec![],
            no_referrers: false,
            properties: vec![],
        }
    }

    #[test]
    fn builds_every_field() {
        let mut counts = Counts::new();
        counts.add(Count::Bytes, 9);
        let plan = vec![PlanEntry {
            artifact: artifact("p"),
            action: PlanAction::Skip,
            reason: "r".into(),
        }];
        let out = Output::succeeded()
            .resources(vec![artifact("1"), artifact("2")])
            .resource(artifact("3"))
            .counts(counts)
            .bytes(42)
            .message("one")
            .messages(vec!["two".to_owned(), "three".to_owned()])
            .plan(plan.clone())
            .build();
        assert_eq!(
            out,
            StageOutput {
                resources: vec![artifact("1"), artifact("2"), artifact("3")],
                status: Status::Succeeded,
                counts: vec![("tags".into(), 0), ("bytes-seen".into(), 9)],
                bytes: 42,
                messages: vec!["one".into(), "two".into(), "three".into()],
                plan,
            }
        );
    }

    #[test]
    fn skipped_says_why_first() {
        let out = Output::skipped("nothing to do").message("and more").build();
        assert_eq!(out.status, Status::Skipped);
        assert_eq!(out.messages, vec!["nothing to do", "and more"]);
        assert_eq!(
            (
                out.resources.len(),
                out.counts.len(),
                out.bytes,
                out.plan.len()
            ),
            (0, 0, 0, 0)
        );
        assert_eq!(Output::new(Status::Failed).build().status, Status::Failed);
    }
}
