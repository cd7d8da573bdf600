//! Pushing to the target: blobs through the host's data plane, manifests
//! copied byte for byte from the source, referrers fallback tags.

use ferry_sdk::errors::{error, internal, invalid};
use ferry_sdk::transfer::{Action, Options};
use ferry_sdk::{Host, ManifestRef, WitError};
use oci_guest::client::{Fetched, Registry};
use oci_guest::manifest::{self, Descriptor, Manifest};

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
    host: &dyn Host,
    source_repository: &str,
    target_repository: &str,
    blobs: &[ferry_sdk::Descriptor],
    opts: &Options,
) -> Result<BlobSummary, WitError> {
    let mut sum = BlobSummary::default();
    if blobs.is_empty() {
        return Ok(sum);
    }
    host.debug(&format!(
        "copying {} blob(s) {source_repository} -> {target_repository}",
        blobs.len()
    ));
    let answers = host.copy_blobs(source_repository, target_repository, blobs, opts);
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
    source: &Registry<'_>,
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
    target: &Registry<'_>,
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

/// What [`maintain_fallback_tag`] did to the target's `sha256-<hex>` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackTag {
    /// Nothing to do: the target serves the referrers API, or its tag is
    /// already what it should be.
    Kept,
    /// The source's fallback index, copied as it is (same digest).
    Copied,
    /// Built (the source serves the referrers API) or extended.
    Written,
    /// The target's own index lists referrers the source's lacks: the two
    /// were merged, so the tag's digest differs from the source's. Those
    /// referrers, by digest.
    Merged(Vec<String>),
}

/// The referrers fallback tag of `subject` at the target, when the target
/// does not serve the referrers API. Where the source has a fallback index
/// for it, that index is copied as it is, so the tag has the source's digest;
/// only when the target's own index lists referrers the source's lacks are
/// the two merged (and the answer says which). Where the source serves the
/// referrers API instead, `descriptors` are merged into the target's index
/// (created when absent).
pub fn maintain_fallback_tag(
    source: &Registry<'_>,
    target: &Registry<'_>,
    (repository, target_repository): (&str, &str),
    subject: &str,
    descriptors: &[Descriptor],
) -> Result<FallbackTag, WitError> {
    let host = target.host();
    if target.referrers_api(target_repository, subject)?.is_some() {
        host.debug(&format!(
            "{target_repository}: the target serves the referrers API; no fallback tag"
        ));
        return Ok(FallbackTag::Kept);
    }
    let tag = manifest::fallback_tag(subject);
    let theirs = target.get_manifest(target_repository, &tag)?;
    let parse = |body: &[u8], at: &str| -> Result<serde_json::Value, WitError> {
        serde_json::from_slice(body)
            .map_err(|e| invalid(format!("{at}:{tag} is not a valid referrers index: {e}")))
    };
    let Some(ours) = source.get_manifest(repository, &tag)? else {
        // The source serves the referrers API: build the target's index.
        let mut index = match &theirs {
            None => manifest::empty_index(),
            Some(f) => parse(&f.body, target_repository)?,
        };
        let changed = manifest::merge_into_index(&mut index, descriptors)
            .map_err(|e| invalid(format!("target {target_repository}:{tag}: {e}")))?;
        if !changed {
            return Ok(FallbackTag::Kept);
        }
        let body = serde_json::to_vec(&index).map_err(|e| internal(e.to_string()))?;
        target.put_manifest(target_repository, &tag, manifest::OCI_INDEX, body, None)?;
        host.info(&format!(
            "{target_repository}:{tag} updated with {} referrer(s)",
            descriptors.len()
        ));
        return Ok(FallbackTag::Written);
    };
    let media_type = if ours.content_type.is_empty() {
        manifest::OCI_INDEX.to_string()
    } else {
        ours.content_type.clone()
    };
    let Some(theirs) = theirs else {
        target.put_manifest(
            target_repository,
            &tag,
            &media_type,
            ours.body,
            Some(&ours.digest),
        )?;
        return Ok(FallbackTag::Copied);
    };
    if theirs.digest == ours.digest {
        return Ok(FallbackTag::Kept);
    }
    let listed = |index: &serde_json::Value| -> Vec<String> {
        index["manifests"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|m| m["digest"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let source_index = parse(&ours.body, repository)?;
    let target_index = parse(&theirs.body, target_repository)?;
    let at_source = listed(&source_index);
    let extra: Vec<String> = listed(&target_index)
        .into_iter()
        .filter(|d| !at_source.contains(d))
        .collect();
    if extra.is_empty() {
        target.put_manifest(
            target_repository,
            &tag,
            &media_type,
            ours.body,
            Some(&ours.digest),
        )?;
        return Ok(FallbackTag::Copied);
    }
    // Keep the target's own referrers: the source's index, plus them.
    let mut merged = source_index;
    let theirs_only: Vec<serde_json::Value> = target_index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["digest"]
                .as_str()
                .is_some_and(|d| extra.iter().any(|e| e == d))
        })
        .cloned()
        .collect();
    if let Some(list) = merged["manifests"].as_array_mut() {
        list.extend(theirs_only);
    }
    let body = serde_json::to_vec(&merged).map_err(|e| internal(e.to_string()))?;
    target.put_manifest(target_repository, &tag, &media_type, body, None)?;
    host.warn(&format!(
        "{target_repository}:{tag}: the target's index lists {} referrer(s) the source's lacks; merged, so its digest differs from the source's",
        extra.len()
    ));
    Ok(FallbackTag::Merged(extra))
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
