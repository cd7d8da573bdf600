//! `oci-delete`: replicates a deletion. Removes an artifact's tag from the
//! target repository, where the tag is gone at the source.
//!
//! Deleting a tag is optional in the distribution spec, and distribution 2.x
//! cannot: it deletes only manifests, by digest, which removes every tag on
//! that manifest. Then this deletes the manifest and tags it again under
//! each other tag that must stay: those the policy's filters leave out (out
//! of scope: never deleted) and those the source still has.

use oci_guest::client::{Deleted, Registry, check_repository, check_tag};
use oci_guest::errors::{internal, invalid, rejected};
use oci_guest::filter::filters;
use oci_guest::manifest::is_fallback_tag;
use oci_guest::params::{Counts, artifact_name, output};
use oci_guest::{
    Artifact, FunctionInfo, Guest, Operation, Policy, StageInput, StageOutput, Status, WitError,
    host, log,
};

const COUNTS: &[&str] = &["tags-deleted", "tags-absent", "tags-restored"];

struct Delete;

impl Guest for Delete {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description: "Deletes an artifact's tag at the target (a deletion replicated from the source); keeps every other tag.".into(),
            params: vec![],
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        let [artifact] = <[_; 1]>::try_from(input.resources).map_err(|r: Vec<_>| {
            invalid(format!("oci-delete takes one artifact, got {}", r.len()))
        })?;
        if artifact.operation != Operation::Delete {
            let m = format!("{}: not a deletion", artifact_name(&artifact));
            return Ok(output(
                vec![artifact],
                Status::Skipped,
                Counts::new(COUNTS),
                0,
                vec![m],
            ));
        }
        let result = delete(&artifact, &input.policy);
        host::progress(1);
        let (status, counts, messages) = result?;
        Ok(output(vec![artifact], status, counts, 0, messages))
    }
}

fn delete(a: &Artifact, policy: &Policy) -> Result<(Status, Counts, Vec<String>), WitError> {
    let mut counts = Counts::new(COUNTS);
    let trepo = a.target_repository.as_str();
    check_repository(trepo).map_err(invalid)?;
    let tag = a
        .tag
        .as_deref()
        .ok_or_else(|| invalid(format!("{}: a deletion names a tag", artifact_name(a))))?;
    check_tag(tag).map_err(invalid)?;
    let target = Registry::target();
    let Some(head) = target.head_manifest_fresh(trepo, tag)? else {
        counts.add("tags-absent", 1);
        let m = format!("{trepo}:{tag} is not at the target (deleted already)");
        log::info(&m);
        return Ok((Status::Skipped, counts, vec![m]));
    };
    let digest = head.digest;
    let mut messages = Vec::new();
    match target.delete_manifest(trepo, tag)? {
        Deleted::Done | Deleted::Absent => {}
        Deleted::Unsupported(why) => {
            log::info(format!(
                "the target does not delete tags alone ({why}): deleting manifest {digest}"
            ));
            let kept = delete_by_digest(&target, a, tag, &digest, policy)?;
            counts.add("tags-restored", kept.len() as u64);
            if !kept.is_empty() {
                messages.push(format!(
                    "the target deletes manifests, not tags: deleted {digest} and tagged it again as {}",
                    kept.join(", ")
                ));
            }
        }
    }
    if let Some(h) = target.head_manifest_fresh(trepo, tag)? {
        return Err(rejected(format!(
            "{trepo}:{tag} is still at the target ({}) after its deletion",
            h.digest
        )));
    }
    counts.add("tags-deleted", 1);
    messages.insert(0, format!("deleted {trepo}:{tag} ({digest})"));
    log::info(&messages[0]);
    Ok((Status::Succeeded, counts, messages))
}

/// Deletes manifest `digest` (and so every tag on it), then tags it again
/// under each other tag that must stay; answers those tags.
fn delete_by_digest(
    target: &Registry,
    a: &Artifact,
    tag: &str,
    digest: &str,
    policy: &Policy,
) -> Result<Vec<String>, WitError> {
    let trepo = a.target_repository.as_str();
    let filters = filters(&policy.filters)?;
    let others: Vec<String> = target
        .tags(trepo, 1000)?
        .into_iter()
        .filter(|t| t != tag && !is_fallback_tag(t))
        .collect();
    let refs: Vec<(&str, &str)> = others.iter().map(|t| (trepo, t.as_str())).collect();
    let mut sharing: Vec<&String> = Vec::new();
    for (t, head) in others.iter().zip(target.head_many(&refs, true)) {
        if head?.is_some_and(|h| h.digest == digest) {
            sharing.push(t);
        }
    }
    // What must stay: tags out of the policy's scope, and tags the source
    // still has.
    let (in_scope, out_of_scope): (Vec<&String>, Vec<&String>) =
        sharing.into_iter().partition(|t| filters.tag(t));
    let src_refs: Vec<(&str, &str)> = in_scope
        .iter()
        .map(|t| (a.repository.as_str(), t.as_str()))
        .collect();
    let mut keep: Vec<String> = out_of_scope.into_iter().cloned().collect();
    for (t, head) in in_scope
        .into_iter()
        .zip(Registry::source().head_many(&src_refs, true))
    {
        if head?.is_some() {
            keep.push(t.clone());
        }
    }
    let fetched = target.require_manifest(trepo, digest)?;
    if let Deleted::Unsupported(why) = target.delete_manifest(trepo, digest)? {
        return Err(internal(format!(
            "the target refused to delete {trepo}@{digest}: {why}"
        )));
    }
    for t in &keep {
        target.put_manifest(
            trepo,
            t,
            &fetched.content_type,
            fetched.body.clone(),
            Some(digest),
        )?;
        log::info(format!("{trepo}:{t} tagged again ({digest})"));
    }
    Ok(keep)
}

oci_guest::export!(Delete);
