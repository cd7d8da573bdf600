//! The fast no-op: which listed artifacts the target already has exactly as
//! the source does, found with the target's tag lists and manifest `HEAD`s,
//! all at once. Such an artifact needs no pull, no blob and no `PUT`. Into a
//! fresh target this costs one tag list per target repository and no `HEAD`.
//!
//! An artifact is up to date when its tag has the same digest at both ends
//! and the source has no referrers of that digest to bring along. Anything
//! uncertain (an error, a registry without `Docker-Content-Digest`) counts as
//! not up to date: the full path then decides, so this check only ever saves
//! work and never skips any.

use std::collections::{HashMap, HashSet};

use crate::referrers::ReferrersApi;
use ferry_sdk::registry::Request;
use ferry_sdk::{Artifact, ErrorKind, Host, WitError};
use oci_guest::client::{Registry, next_link};
use oci_guest::manifest::{OCI_INDEX, fallback_tag};

/// The target's tags per target repository, as listed: `None` where the
/// listing failed (its tags are then asked by `HEAD`).
pub struct TargetTags(HashMap<String, Option<HashSet<String>>>);

impl TargetTags {
    /// From the answers of [`Registry::tags_everywhere`] for `repositories`.
    /// A repository the target does not know has no tags.
    pub fn new(
        host: &dyn Host,
        repositories: &[&str],
        listings: Vec<Result<Vec<String>, WitError>>,
    ) -> Self {
        let map = repositories
            .iter()
            .zip(listings)
            .map(|(&repo, listing)| {
                let tags = match listing {
                    Ok(tags) => Some(tags.into_iter().collect()),
                    Err(e) if e.kind == ErrorKind::NotFound => Some(HashSet::new()),
                    Err(e) => {
                        host.debug(&format!("target tags of {repo} unknown: {}", e.message));
                        None
                    }
                };
                (repo.to_string(), tags)
            })
            .collect();
        TargetTags(map)
    }

    /// The tags the target listed for `repository`; `None` when the listing
    /// failed (or the repository was not listed).
    pub fn listed(&self, repository: &str) -> Option<&HashSet<String>> {
        self.0.get(repository)?.as_ref()
    }

    /// Whether the target may hold `repository:tag` (listed, or not known).
    fn may_hold(&self, repository: &str, tag: &str) -> bool {
        self.0
            .get(repository)
            .is_none_or(|tags| tags.as_ref().is_none_or(|t| t.contains(tag)))
    }
}

/// What the listing found of an artifact at the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The target does not hold the tag.
    Absent,
    /// The tag has the source's digest and the source has no referrers of
    /// it: nothing to do.
    Current(String),
    /// The tag has the source's digest, but the source has referrers of it,
    /// which the target may lack.
    WithReferrers(String),
    /// The tag has another digest at the target.
    Differs { source: String, target: String },
    /// Not known (an error, or a registry that gave no digest).
    Unknown,
}

impl Verdict {
    pub fn is_current(&self) -> bool {
        matches!(self, Verdict::Current(_))
    }
}

/// For each artifact (all with a tag), what the target holds of it.
/// `source_tags` holds every tag the listing saw per source repository,
/// referrers fallback tags included; `target_tags` what the target listed,
/// asked of the registry itself (a listing that says a repository is gone
/// also makes the host drop what it knew of it). A tag the target does not
/// list is `Absent`, and neither end is asked about it.
pub fn up_to_date(
    source: &Registry<'_>,
    target: &Registry<'_>,
    artifacts: &[Artifact],
    source_tags: &HashMap<String, HashSet<String>>,
    target_tags: &TargetTags,
    referrers_api: &mut ReferrersApi,
) -> Vec<Verdict> {
    let mut result = vec![Verdict::Absent; artifacts.len()];
    let tagged: Vec<(usize, &str)> = artifacts
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            let tag = a.tag.as_deref()?;
            target_tags
                .may_hold(&a.target_repository, tag)
                .then_some((i, tag))
        })
        .collect();
    if tagged.is_empty() {
        return result;
    }

    // Both ends' digests of the listed tags, all at once (the host's
    // existence cache may answer for the target).
    let at_target: Vec<(&str, &str)> = tagged
        .iter()
        .map(|(i, t)| (artifacts[*i].target_repository.as_str(), *t))
        .collect();
    let at_source: Vec<(&str, &str)> = tagged
        .iter()
        .map(|(i, t)| (artifacts[*i].repository.as_str(), *t))
        .collect();
    let mut heads =
        Registry::heads_everywhere(&[(source, &at_source), (target, &at_target)], false)
            .into_iter()
            .map(|answers| {
                answers
                    .into_iter()
                    .map(|h| h.map(|h| h.map(|h| h.digest)))
                    .collect::<Vec<_>>()
            });
    let digests = heads.next().unwrap_or_default();
    let at_target = heads.next().unwrap_or_default();

    let mut same: Vec<usize> = Vec::new();
    for (k, (i, _)) in tagged.iter().enumerate() {
        result[*i] = match (digests.get(k), at_target.get(k)) {
            (_, Some(Ok(None))) => Verdict::Absent,
            (Some(Ok(Some(s))), Some(Ok(Some(t)))) if s == t => {
                same.push(k);
                Verdict::WithReferrers(s.clone())
            }
            (Some(Ok(Some(s))), Some(Ok(Some(t)))) => Verdict::Differs {
                source: s.clone(),
                target: t.clone(),
            },
            _ => Verdict::Unknown,
        };
    }
    if same.is_empty() {
        return result;
    }

    // Same digest at both ends: now, does the source have referrers of it?
    let digest_of = |k: usize| match &digests[k] {
        Ok(Some(d)) => d.as_str(),
        _ => "",
    };
    let first = same[0];
    let api = referrers_api
        .served(
            source,
            &artifacts[tagged[first].0].repository,
            digest_of(first),
        )
        .unwrap_or(false);
    let without_referrers: Vec<bool> = if api {
        let reqs = same
            .iter()
            .map(|&k| Request {
                method: "GET".into(),
                path: format!(
                    "/v2/{}/referrers/{}",
                    artifacts[tagged[k].0].repository,
                    digest_of(k)
                ),
                headers: vec![("Accept".into(), OCI_INDEX.into())],
                body: None,
            })
            .collect();
        source
            .send_all(reqs)
            .into_iter()
            .map(|r| {
                r.is_ok_and(|r| {
                    r.status == 200 && next_link(&r.headers).is_none() && empty_index(&r.body)
                })
            })
            .collect()
    } else {
        same.iter()
            .map(|&k| {
                let repo = &artifacts[tagged[k].0].repository;
                !source_tags
                    .get(repo)
                    .is_some_and(|tags| tags.contains(&fallback_tag(digest_of(k))))
            })
            .collect()
    };
    for (&k, ok) in same.iter().zip(without_referrers) {
        let i = tagged[k].0;
        if ok {
            result[i] = Verdict::Current(digest_of(k).to_string());
        } else {
            source.host().debug(&format!(
                "{}:{} is in place at the target but has referrers at the source: checking them",
                artifacts[i].repository, tagged[k].1
            ));
        }
    }
    result
}

/// Whether a referrers answer lists no manifests.
fn empty_index(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Index {
        #[serde(default)]
        manifests: Vec<serde_json::Value>,
    }
    serde_json::from_slice::<Index>(body).is_ok_and(|i| i.manifests.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_indexes_are_told_apart() {
        assert!(empty_index(br#"{"schemaVersion":2,"manifests":[]}"#));
        assert!(!empty_index(
            br#"{"manifests":[{"digest":"sha256:a","size":1,"mediaType":"x"}]}"#
        ));
        assert!(!empty_index(b"not json"));
    }
}
