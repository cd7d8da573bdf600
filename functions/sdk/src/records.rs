//! Helpers on the generated WIT records.

use std::fmt;

use crate::errors::invalid;
use crate::{Artifact, Role, StageInput, WitError};

impl StageInput {
    /// The one artifact of an artifact-scoped stage, taken out of
    /// `resources`; `function` names the stage function in the error.
    pub fn single_artifact(&mut self, function: &str) -> Result<Artifact, WitError> {
        match self.resources.len() {
            1 => Ok(self.resources.remove(0)),
            n => Err(invalid(format!("{function} takes one artifact, got {n}"))),
        }
    }
}

/// A short name for messages: `repo:tag`, `repo@digest` or `repo`.
impl fmt::Display for Artifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.tag, &self.digest) {
            (Some(t), _) => write!(f, "{}:{t}", self.repository),
            (None, Some(d)) => write!(f, "{}@{d}", self.repository),
            (None, None) => f.write_str(&self.repository),
        }
    }
}

impl Role {
    /// The role's name in messages: `source` or `target`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Target => "target",
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ErrorKind;
    use crate::fake::{artifact, input};

    #[test]
    fn single_artifact_takes_the_one_artifact() {
        let mut one = input(vec![artifact("a/b", "v1")]);
        assert_eq!(one.single_artifact("f").unwrap(), artifact("a/b", "v1"));
        assert!(one.resources.is_empty());

        for n in [0, 2] {
            let mut other = input(vec![artifact("a/b", "v1"); n]);
            let e = other.single_artifact("oci-pull").unwrap_err();
            assert_eq!(
                (e.kind, e.message, e.retryable),
                (
                    ErrorKind::Invalid,
                    format!("oci-pull takes one artifact, got {n}"),
                    false
                )
            );
            assert_eq!(other.resources.len(), n, "left as it was");
        }
    }

    #[test]
    fn artifacts_display_by_tag_then_digest() {
        let mut a = artifact("lib/app", "v1");
        a.digest = Some("sha256:ab".into());
        assert_eq!(a.to_string(), "lib/app:v1");
        a.tag = None;
        assert_eq!(a.to_string(), "lib/app@sha256:ab");
        a.digest = None;
        assert_eq!(a.to_string(), "lib/app");
    }
}
