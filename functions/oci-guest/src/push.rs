//! Pushing to the target: blobs through the host's data plane, manifests
//! copied byte for byte from the source, referrers fallback tags.

use crate::client::{Fetched, Registry};
use crate::errors::{error, internal, invalid};
use crate::log;
use crate::manifest::{self, Descriptor, Manifest};
use crate::transfer::{self, Action, Options};
use crate::{ManifestRef, WitError};

/// What `copy_blobs` did.
#[derive(Debug, Default, Clone, Copy)]
pub struct BlobSummary {
    pub present: u64,
    pub mounted: u64,
    pub uploaded: u64,
    pub bytes: u64,
}

/// Makes every blob present in the target repository. Any failed blob
/// fails the whole call, naming each failing digest.
pub fn copy_blobs(
    source_repository: &str,
    target_repository: &str,
    blobs: &[crate::Descriptor],
    opts: &Options,
) -> Result<BlobSummary, WitError> {
    let mut sum = BlobSummary::default();
    if blobs.is_empty() {
        return Ok(sum);
    }
    log::debug(format!(
        "copying {} blob(s) {source_repository} -> {target_repository}",
        blobs.len()
    ));
    let answers = transfer::copy_blobs(source_repository, target_repository, blobs, opts);
    if answers.len() != blobs.len() {
        return Err(internal(format!(
            "copy-blobs answered {} result(s) for {} blob(s)",
            answers.len(),
            blobs.len()
        )));
    }
    let mut failures = Vec::new();
    let mut first_kind = None;
    let mut retryable = false;
    for (blob, answer) in blobs.iter().zip(answers) {
        match answer {
            Ok(o) => {
                match o.action {
                    Action::Present => sum.present += 1,
                    Action::Mounted => sum.mounted += 1,
                    Action::Uploaded => sum.uploaded += 1,
                }
                sum.bytes += o.bytes;
            }
            Err(e) => {
                first_kind.get_or_insert(e.kind);
                retryable |= e.retryable;
                failures.push(format!("{}: {}", blob.digest, e.message));
            }
        }
    }
    match first_kind {
        None => Ok(sum),
        Some(kind) => Err(error(
            kind,
            format!(
                "{} of {} blob(s) could not be copied to {target_repository}: {}",
                failures.len(),
                blobs.len(),
                failures.join("; ")
            ),
            retryable,
        )),
    }
}

/// Fetches manifests from the source by digest (verified), in order.
pub fn fetch_all(
    source: &Registry,
    repository: &str,
    refs: &[&ManifestRef],
) -> Result<Vec<Fetched>, WitError> {
    let digests: Vec<&str> = refs.iter().map(|r| r.digest.as_str()).collect();
    source
        .get_manifests(repository, &digests)
        .into_iter()
        .zip(&digests)
        .map(|(a, d)| a?.ok_or_else(|| source.missing(repository, d)))
        .collect()
}

/// Which of `refs` the target repository already has (by digest).
pub fn present_at(
    target: &Registry,
    repository: &str,
    refs: &[&ManifestRef],
) -> Result<Vec<bool>, WitError> {
    let digests: Vec<&str> = refs.iter().map(|r| r.digest.as_str()).collect();
    target
        .head_manifests(repository, &digests)
        .into_iter()
        .map(|a| a.map(|h| h.is_some()))
        .collect()
}

/// The referrers fallback tag of `subject` at the target: when the target
/// does not serve the referrers API, merges `descriptors` into the index
/// tagged `sha256-<hex>` (created when absent). Returns whether it changed.
pub fn maintain_fallback_tag(
    target: &Registry,
    repository: &str,
    subject: &str,
    descriptors: &[Descriptor],
) -> Result<bool, WitError> {
    if target.referrers_api(repository, subject)?.is_some() {
        log::debug(format!(
            "{repository}: the target serves the referrers API; no fallback tag"
        ));
        return Ok(false);
    }
    let tag = manifest::fallback_tag(subject);
    let mut index = match target.get_manifest(repository, &tag)? {
        None => manifest::empty_index(),
        Some(f) => serde_json::from_slice(&f.body).map_err(|e| {
            invalid(format!(
                "target {repository}:{tag} is not a valid referrers index: {e}"
            ))
        })?,
    };
    let changed = manifest::merge_into_index(&mut index, descriptors)
        .map_err(|e| invalid(format!("target {repository}:{tag}: {e}")))?;
    if changed {
        let body = serde_json::to_vec(&index).map_err(|e| internal(e.to_string()))?;
        target.put_manifest(repository, &tag, manifest::OCI_INDEX, body, None)?;
        log::info(format!(
            "{repository}:{tag} updated with {} referrer(s)",
            descriptors.len()
        ));
    }
    Ok(changed)
}

/// The referrer descriptors of `fetched` manifests, grouped by subject digest
/// (in first-seen order).
pub fn by_subject(refs: &[&ManifestRef], manifests: &[Manifest]) -> Vec<(String, Vec<Descriptor>)> {
    let mut groups: Vec<(String, Vec<Descriptor>)> = Vec::new();
    for (r, m) in refs.iter().zip(manifests) {
        let Some(subject) = &m.doc.subject else {
            continue;
        };
        let d = m.referrer_descriptor(&r.digest, r.size);
        match groups.iter_mut().find(|(s, _)| *s == subject.digest) {
            Some((_, list)) => list.push(d),
            None => groups.push((subject.digest.clone(), vec![d])),
        }
    }
    groups
}
