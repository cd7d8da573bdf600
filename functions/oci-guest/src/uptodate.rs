//! The fast no-op: which listed artifacts the target already has exactly as
//! the source does, found with manifest `HEAD`s only, all at once. Such an
//! artifact needs no pull, no blob and no `PUT`.
//!
//! An artifact is up to date when its tag has the same digest at both ends
//! and the source has no referrers of that digest to bring along. Anything
//! uncertain (an error, a registry without `Docker-Content-Digest`) counts as
//! not up to date: the full path then decides, so this check only ever saves
//! work and never skips any.

use std::collections::{HashMap, HashSet};

use crate::client::{Registry, next_link};
use crate::manifest::{OCI_INDEX, fallback_tag};
use crate::registry::Request;
use crate::{Artifact, log};

/// For each artifact (all with a tag), whether the target is up to date.
/// `source_tags` holds every tag the listing saw per source repository,
/// referrers fallback tags included.
pub fn up_to_date(
    source: &Registry,
    target: &Registry,
    artifacts: &[Artifact],
    source_tags: &HashMap<String, HashSet<String>>,
) -> Vec<bool> {
    let mut result = vec![false; artifacts.len()];
    let tagged: Vec<(usize, &str)> = artifacts
        .iter()
        .enumerate()
        .filter_map(|(i, a)| Some((i, a.tag.as_deref()?)))
        .collect();
    if tagged.is_empty() {
        return result;
    }

    // The source's digests.
    let refs: Vec<(&str, &str)> = tagged
        .iter()
        .map(|(i, t)| (artifacts[*i].repository.as_str(), *t))
        .collect();
    let digests: Vec<Option<String>> = source
        .head_many(&refs, false)
        .into_iter()
        .map(|h| h.ok().flatten().map(|h| h.digest))
        .collect();

    // The target's. The first tag of each target repository is asked of the
    // registry itself: if the host's cache is wrong about it (a repository
    // wiped since), the host drops what it knows of that repository before
    // the rest are asked.
    let mut checked = HashSet::new();
    let (spot, rest): (Vec<usize>, Vec<usize>) = (0..tagged.len())
        .partition(|&k| checked.insert(artifacts[tagged[k].0].target_repository.as_str()));
    let mut at_target: Vec<Option<String>> = vec![None; tagged.len()];
    for (ks, fresh) in [(spot, true), (rest, false)] {
        let refs: Vec<(&str, &str)> = ks
            .iter()
            .map(|&k| {
                (
                    artifacts[tagged[k].0].target_repository.as_str(),
                    tagged[k].1,
                )
            })
            .collect();
        for (k, head) in ks.iter().zip(target.head_many(&refs, fresh)) {
            at_target[*k] = head.ok().flatten().map(|h| h.digest);
        }
    }

    // Same digest at both ends: now, does the source have referrers of it?
    let same: Vec<usize> = (0..tagged.len())
        .filter(|&k| digests[k].is_some() && digests[k] == at_target[k])
        .collect();
    if same.is_empty() {
        return result;
    }
    let digest_of = |k: usize| digests[k].as_deref().unwrap_or_default();
    let first = same[0];
    let api = source
        .referrers_api(&artifacts[tagged[first].0].repository, digest_of(first))
        .ok()
        .flatten()
        .is_some();
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
        if ok {
            result[tagged[k].0] = true;
        } else {
            let a = &artifacts[tagged[k].0];
            log::debug(format!(
                "{}:{} is in place at the target but has referrers at the source: checking them",
                a.repository, tagged[k].1
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
