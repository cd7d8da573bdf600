//! `oci-push`: pushes one pulled artifact to the target: blobs first, then
//! manifests (children before their index), the tag last, then referrers and
//! their fallback tags. Nothing partial is ever tagged.

use oci_guest::client::{Registry, check_repository, check_tag};
use oci_guest::errors::{context, internal, invalid};
use oci_guest::manifest::fallback_tag;
use oci_guest::params::{Counts, Params, artifact_name, output};
use oci_guest::push::{
    BlobSummary, FallbackTag, by_subject, copy_blobs, fetch_all, maintain_fallback_tag, present_at,
};
use oci_guest::transfer::{Options, UploadMode};
use oci_guest::{
    Artifact, FunctionInfo, Guest, ManifestRef, Policy, StageInput, StageOutput, Status, WitError,
    host, log, param,
};
use std::collections::HashSet;

const COUNTS: &[&str] = &[
    "blobs-present",
    "blobs-mounted",
    "blobs-uploaded",
    "manifests-pushed",
    "manifests-present",
    "referrers-pushed",
    "tags-skipped",
];

struct Push;

impl Guest for Push {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description: "Pushes an artifact to the target: blobs, then manifests (children first, the tag last), then referrers.".into(),
            params: vec![
                param(
                    "upload",
                    "Blob upload mode: monolithic or chunked (the policy's copy-by-chunk also selects chunked).",
                    false,
                    Some("monolithic"),
                ),
                param(
                    "chunk-size",
                    "Chunk size in bytes for chunked uploads (0: the policy's, else the host's default).",
                    false,
                    Some("0"),
                ),
            ],
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        let opts = upload_options(&Params::new(&input.params), &input.policy)?;
        let [artifact] = <[_; 1]>::try_from(input.resources).map_err(|r: Vec<_>| {
            invalid(format!("oci-push takes one artifact, got {}", r.len()))
        })?;
        let result = push(&artifact, &input.policy, &opts);
        host::progress(1);
        let pushed = result?;
        // An artifact whose tag the target keeps goes no further: it ends
        // skipped, and later stages (verify) do not judge it.
        let resources = if pushed.kept_target {
            vec![]
        } else {
            vec![artifact]
        };
        Ok(output(
            resources,
            pushed.status,
            pushed.counts,
            pushed.bytes,
            pushed.messages,
        ))
    }
}

fn upload_options(params: &Params, policy: &Policy) -> Result<Options, WitError> {
    // A chunk size alone does not ask for chunks: Harbor's copy_by_chunk does.
    let chunked =
        params.choice("upload", &["monolithic", "chunked"])? == "chunked" || policy.copy_by_chunk;
    let chunk_size = match params.u64("chunk-size", 0)? {
        0 => policy.chunk_size,
        n => n,
    };
    Ok(Options {
        mode: if chunked {
            UploadMode::Chunked
        } else {
            UploadMode::Monolithic
        },
        chunk_size,
        mount_from: vec![],
    })
}

/// What a push did.
struct Pushed {
    status: Status,
    counts: Counts,
    bytes: u64,
    messages: Vec<String>,
    /// The target's tag points at other content and the policy does not
    /// override: nothing was pushed.
    kept_target: bool,
}

impl Pushed {
    fn skipped(counts: Counts, message: String, kept_target: bool) -> Self {
        Self {
            status: Status::Skipped,
            counts,
            bytes: 0,
            messages: vec![message],
            kept_target,
        }
    }
}

fn push(a: &Artifact, policy: &Policy, opts: &Options) -> Result<Pushed, WitError> {
    let name = artifact_name(a);
    let mut counts = Counts::new(COUNTS);
    let mut messages = Vec::new();
    let (Some(digest), Some(root)) = (a.digest.as_deref(), a.manifests.last()) else {
        log::info(format!("{name}: nothing was pulled; skipping"));
        return Ok(Pushed::skipped(
            counts,
            format!("{name}: nothing to push"),
            false,
        ));
    };
    if root.digest != digest {
        return Err(internal(format!(
            "{name}: the last manifest {} is not the root {digest}",
            root.digest
        )));
    }
    check_repository(&a.repository).map_err(invalid)?;
    check_repository(&a.target_repository).map_err(invalid)?;
    if let Some(tag) = &a.tag {
        check_tag(tag).map_err(invalid)?;
    }
    let (source, target) = (Registry::source(), Registry::target());
    let (repo, trepo) = (a.repository.as_str(), a.target_repository.as_str());
    let reference = a.tag.as_deref().unwrap_or(digest);
    let shown = format!(
        "{trepo}{}{reference}",
        if a.tag.is_some() { ":" } else { "@" }
    );

    // Is the subject there already? Asked of the registry itself: the
    // listing found this artifact not up to date, so what the host's cache
    // remembers of it may be stale (a tag deleted behind it).
    let push_subject = match target.head_manifest_fresh(trepo, reference)? {
        Some(h) if h.digest == digest => {
            log::info(format!("{shown} is already {digest} at the target"));
            counts.add("tags-skipped", 1);
            false
        }
        Some(h) if !policy.override_ => {
            let m = format!(
                "{shown} is {} at the target, not {digest}, and the policy does not override: skipped",
                h.digest
            );
            log::warn(&m);
            return Ok(Pushed::skipped(counts, m, true));
        }
        Some(h) => {
            log::info(format!(
                "{shown} is {} at the target; overriding with {digest}",
                h.digest
            ));
            true
        }
        None => true,
    };

    // Referrers: which the target lacks, and their documents.
    let referrers: Vec<&ManifestRef> = a.referrers.iter().collect();
    let referrer_docs = fetch_all(&source, repo, &referrers)?;
    let referrer_manifests = referrer_docs
        .iter()
        .zip(&referrers)
        .map(|(f, r)| f.parse(repo, &r.digest))
        .collect::<Result<Vec<_>, _>>()?;
    let referrer_present = present_at(&target, trepo, &referrers)?;

    // Blobs first: all of them, or only those of the missing referrers.
    let blobs = if push_subject {
        a.blobs.clone()
    } else {
        let mut seen = HashSet::new();
        referrer_manifests
            .iter()
            .zip(&referrer_present)
            .filter(|(_, present)| !**present)
            .flat_map(|(m, _)| m.blobs().0)
            .filter(|d| seen.insert(d.digest.clone()))
            .map(|d| d.to_wit())
            .collect()
    };
    let BlobSummary {
        present,
        mounted,
        uploaded,
        bytes,
    } = copy_blobs(repo, trepo, &blobs, opts).map_err(|e| context(e, &name))?;
    counts.add("blobs-present", present);
    counts.add("blobs-mounted", mounted);
    counts.add("blobs-uploaded", uploaded);

    if push_subject {
        push_manifests(a, &source, &target, reference, &mut counts)?;
        messages.push(format!("pushed {shown} ({digest})"));
    }

    // Referrers after their subject, by digest.
    for ((r, f), present) in referrers.iter().zip(referrer_docs).zip(&referrer_present) {
        if *present {
            counts.add("manifests-present", 1);
            continue;
        }
        target.put_manifest(trepo, &r.digest, &r.media_type, f.body, Some(&r.digest))?;
        counts.add("referrers-pushed", 1);
    }
    for (subject, descriptors) in by_subject(&referrers, &referrer_manifests) {
        let done = maintain_fallback_tag(&source, &target, (repo, trepo), &subject, &descriptors)?;
        if let FallbackTag::Merged(extra) = done {
            messages.push(format!(
                "{trepo}:{}: merged with the target's own index, which lists {} referrer(s) the source's lacks ({}): its digest differs from the source's",
                fallback_tag(&subject),
                extra.len(),
                extra.join(", ")
            ));
        }
    }
    if counts.get("referrers-pushed") > 0 {
        messages.push(format!(
            "pushed {} referrer(s)",
            counts.get("referrers-pushed")
        ));
    }

    let did_something = push_subject || counts.get("referrers-pushed") > 0;
    log::info(format!(
        "{name} -> {shown}: {} manifest(s) and {} referrer(s) pushed, {} blob(s) uploaded ({bytes} bytes), {mounted} mounted, {present} present",
        counts.get("manifests-pushed"),
        counts.get("referrers-pushed"),
        uploaded
    ));
    let status = if did_something {
        Status::Succeeded
    } else {
        Status::Skipped
    };
    Ok(Pushed {
        status,
        counts,
        bytes,
        messages,
        kept_target: false,
    })
}

/// Pushes the subject's manifests in order: those the target lacks by
/// digest, then the root by tag (or digest), last.
fn push_manifests(
    a: &Artifact,
    source: &Registry,
    target: &Registry,
    reference: &str,
    counts: &mut Counts,
) -> Result<(), WitError> {
    let (repo, trepo) = (a.repository.as_str(), a.target_repository.as_str());
    let (root, children) = a
        .manifests
        .split_last()
        .expect("checked: manifests is not empty");
    let children: Vec<&ManifestRef> = children.iter().collect();
    let present = present_at(target, trepo, &children)?;
    let missing: Vec<&ManifestRef> = children
        .iter()
        .zip(&present)
        .filter(|(_, p)| !**p)
        .map(|(c, _)| *c)
        .collect();
    counts.add("manifests-present", (children.len() - missing.len()) as u64);
    let docs = fetch_all(source, repo, &missing)?;
    for (m, f) in missing.iter().zip(docs) {
        target.put_manifest(trepo, &m.digest, &m.media_type, f.body, Some(&m.digest))?;
        counts.add("manifests-pushed", 1);
    }
    // The tag last: only now is everything it references in place.
    let f = source.require_manifest(repo, &root.digest)?;
    target.put_manifest(
        trepo,
        reference,
        &root.media_type,
        f.body,
        Some(&root.digest),
    )?;
    counts.add("manifests-pushed", 1);
    Ok(())
}

oci_guest::export!(Push);
