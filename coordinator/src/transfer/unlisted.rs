//! Repositories a target did not know when this execution listed it (their
//! tag list answered 404), and the manifests this execution has put there
//! since. Such a repository holds only what this execution put in it, so
//! asking it for anything else would cost a round trip to learn "404":
//! blob copies skip the HEAD, and a manifest HEAD by digest is answered
//! without asking. At worst, when someone else filled the repository in
//! between, content-addressed bytes are sent that the registry already had.
//! Tags are asked too unless the policy overrides: a tag pushed in between
//! must not be overwritten by a policy that does not, while one that does
//! would push over it anyway.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use ferry_digest::Digest;

#[derive(Debug, Default)]
pub struct Unlisted {
    /// Repository -> the manifest references this execution put there.
    repositories: Mutex<HashMap<String, HashSet<String>>>,
    /// The policy overrides the target's tags: tags are known absent too.
    overriding: bool,
}

impl Unlisted {
    /// For a policy that overrides the target's tags (`true`) or not.
    pub fn new(overriding: bool) -> Self {
        Self {
            overriding,
            ..Self::default()
        }
    }

    /// The repository's tag list answered 404.
    pub fn missing(&self, repository: &str) {
        self.lock().entry(repository.to_string()).or_default();
    }

    /// Whether the repository was unknown at the listing.
    pub fn contains(&self, repository: &str) -> bool {
        self.lock().contains_key(repository)
    }

    /// A manifest was put into the repository, by `references` (its tag or
    /// digest, and the digest the registry answered).
    pub fn put(&self, repository: &str, references: &[&str]) {
        if let Some(put) = self.lock().get_mut(repository) {
            put.extend(references.iter().map(|r| r.to_string()));
        }
    }

    /// Whether the repository surely lacks the manifest `reference`: it was
    /// unknown at the listing, `reference` is a digest (or a tag, for a
    /// policy that overrides), and this execution has not put it there.
    pub fn lacks(&self, repository: &str, reference: &str) -> bool {
        (self.overriding || Digest::parse(reference).is_ok())
            && self
                .lock()
                .get(repository)
                .is_some_and(|put| !put.contains(reference))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.repositories.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

    #[test]
    fn only_digests_in_unlisted_repositories_not_put_since_are_surely_absent() {
        let u = Unlisted::default();
        assert!(!u.lacks("r", D), "a repository the listing knew is asked");
        u.missing("r");
        assert!(u.contains("r"));
        assert!(u.lacks("r", D));
        assert!(!u.lacks("r", "v1"), "a tag is always asked");
        u.put("r", &["v1", D]);
        assert!(!u.lacks("r", D), "what this execution put is asked");
        // A second 404 for the repository does not forget what was put.
        u.missing("r");
        assert!(!u.lacks("r", D));
        u.put("other", &[D]);
        assert!(!u.contains("other"));
    }

    #[test]
    fn for_a_policy_that_overrides_tags_are_known_absent_too() {
        let u = Unlisted::new(true);
        u.missing("r");
        assert!(u.lacks("r", "v1"));
        assert!(u.lacks("r", D));
        assert!(
            !u.lacks("listed", "v1"),
            "a repository the listing knew is asked"
        );
        u.put("r", &["v1", D]);
        assert!(!u.lacks("r", "v1"), "what this execution put is asked");
        assert!(!u.lacks("r", D));
    }
}
