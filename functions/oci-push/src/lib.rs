//! `oci-push`: pushes one pulled artifact to the target: blobs first, then
//! manifests (children before their index), the tag last, then referrers and
//! their fallback tags. Nothing partial is ever tagged.

mod push;

use ferry_sdk::errors::{context, internal, invalid};
use ferry_sdk::transfer::{Options, UploadMode};
use ferry_sdk::{
    Artifact, Counts, FunctionInfo, Guest, Host, ManifestRef, Output, Policy, StageInput,
    StageOutput, Status, WitError, WitHost,
};
use oci_guest::client::{ManifestPut, Registry, check_repository, check_tag};
use oci_guest::manifest::{DOCKER_MANIFEST_LIST, OCI_INDEX, fallback_tag};
use push::{
    BlobSummary, FallbackTag, by_subject, copy_blobs, fetch_all, maintain_fallback_tag, present_at,
};
use std::collections::HashSet;

ferry_sdk::choices! {
    enum Upload {
        Monolithic = "monolithic",
        Chunked = "chunked",
    }
}

ferry_sdk::params! {
    struct Params {
        /// Blob upload mode: monolithic or chunked (the policy's copy-by-chunk also selects chunked).
        upload: Upload = Upload::Monolithic,
        /// Chunk size in bytes for chunked uploads (0: the policy's, else the host's default).
        chunk_size: u64 = 0,
    }
}

ferry_sdk::counters! {
    enum Count {
        BlobsPresent = "blobs-present",
        BlobsMounted = "blobs-mounted",
        BlobsUploaded = "blobs-uploaded",
        ManifestsPushed = "manifests-pushed",
        ManifestsPresent = "manifests-present",
        ReferrersPushed = "referrers-pushed",
        TagsSkipped = "tags-skipped",
    }
}

struct Push;

impl Guest for Push {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description: "Pushes an artifact to the target: blobs, then manifests (children first, the tag last), then referrers.".into(),
            params: Params::specs(),
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        replicate(&WitHost, input)
    }
}

fn replicate(host: &dyn Host, mut input: StageInput) -> Result<StageOutput, WitError> {
    let opts = upload_options(&Params::parse(&input.params)?, &input.policy);
    let artifact = input.single_artifact("oci-push")?;
    let result = push(host, &artifact, &input.policy, &opts);
    host.progress(1);
    let pushed = result?;
    // An artifact whose tag the target keeps goes no further: it ends
    // skipped, and later stages (verify) do not judge it.
    let resources = if pushed.kept_target {
        None
    } else {
        Some(artifact)
    };
    Ok(Output::new(pushed.status)
        .resources(resources)
        .counts(pushed.counts)
        .bytes(pushed.bytes)
        .messages(pushed.messages)
        .build())
}

fn upload_options(params: &Params, policy: &Policy) -> Options {
    // A chunk size alone does not ask for chunks: Harbor's copy_by_chunk does.
    let chunked = params.upload == Upload::Chunked || policy.copy_by_chunk;
    let chunk_size = match params.chunk_size {
        0 => policy.chunk_size,
        n => n,
    };
    Options {
        mode: if chunked {
            UploadMode::Chunked
        } else {
            UploadMode::Monolithic
        },
        chunk_size,
        mount_from: vec![],
    }
}

/// What a push did.
struct Pushed {
    status: Status,
    counts: Counts<Count>,
    bytes: u64,
    messages: Vec<String>,
    /// The target's tag points at other content and the policy does not
    /// override: nothing was pushed.
    kept_target: bool,
}

impl Pushed {
    fn skipped(counts: Counts<Count>, message: String, kept_target: bool) -> Self {
        Self {
            status: Status::Skipped,
            counts,
            bytes: 0,
            messages: vec![message],
            kept_target,
        }
    }
}

fn push(
    host: &dyn Host,
    a: &Artifact,
    policy: &Policy,
    opts: &Options,
) -> Result<Pushed, WitError> {
    let name = a.to_string();
    let mut counts = Counts::new();
    let mut messages = Vec::new();
    let (Some(digest), Some(root)) = (a.digest.as_deref(), a.manifests.last()) else {
        host.info(&format!("{name}: nothing was pulled; skipping"));
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
    let (source, target) = (Registry::source(host), Registry::target(host));
    let (repo, trepo) = (a.repository.as_str(), a.target_repository.as_str());
    let reference = a.tag.as_deref().unwrap_or(digest);
    let shown = format!(
        "{trepo}{}{reference}",
        if a.tag.is_some() { ":" } else { "@" }
    );

    // Is the subject there already? Asked of the registry itself: the
    // listing found this artifact not up to date, so what the host's cache
    // remembers of it may be stale (a tag deleted behind it). Into a
    // repository the listing found absent, the host answers for a policy
    // that overrides (see the host's `unlisted`).
    let push_subject = match target.head_manifest_fresh(trepo, reference)? {
        Some(h) if h.digest == digest => {
            host.info(&format!("{shown} is already {digest} at the target"));
            counts.add(Count::TagsSkipped, 1);
            false
        }
        Some(h) if !policy.override_ => {
            let m = format!(
                "{shown} is {} at the target, not {digest}, and the policy does not override: skipped",
                h.digest
            );
            host.warn(&m);
            return Ok(Pushed::skipped(counts, m, true));
        }
        Some(h) => {
            host.info(&format!(
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
    } = copy_blobs(host, repo, trepo, &blobs, opts).map_err(|e| context(e, &name))?;
    counts.add(Count::BlobsPresent, present);
    counts.add(Count::BlobsMounted, mounted);
    counts.add(Count::BlobsUploaded, uploaded);

    if push_subject {
        push_manifests(a, &source, &target, reference, &mut counts)?;
        messages.push(format!("pushed {shown} ({digest})"));
    }

    // Referrers after their subject, by digest.
    for ((r, f), present) in referrers.iter().zip(referrer_docs).zip(&referrer_present) {
        if *present {
            counts.add(Count::ManifestsPresent, 1);
            continue;
        }
        target.put_manifest(trepo, &r.digest, &r.media_type, f.body, Some(&r.digest))?;
        counts.add(Count::ReferrersPushed, 1);
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
    if counts.get(Count::ReferrersPushed) > 0 {
        messages.push(format!(
            "pushed {} referrer(s)",
            counts.get(Count::ReferrersPushed)
        ));
    }

    let did_something = push_subject || counts.get(Count::ReferrersPushed) > 0;
    host.info(&format!(
        "{name} -> {shown}: {} manifest(s) and {} referrer(s) pushed, {} blob(s) uploaded ({bytes} bytes), {mounted} mounted, {present} present",
        counts.get(Count::ManifestsPushed),
        counts.get(Count::ReferrersPushed),
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
    source: &Registry<'_>,
    target: &Registry<'_>,
    reference: &str,
    counts: &mut Counts<Count>,
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
    counts.add(
        Count::ManifestsPresent,
        (children.len() - missing.len()) as u64,
    );
    // Image manifests reference no manifest: all of them at once, one round
    // trip. Then the nested indexes, if any, one by one in push order
    // (children before their index).
    let docs = fetch_all(source, repo, &missing)?;
    let (indexes, leaves): (Vec<_>, Vec<_>) = missing
        .iter()
        .zip(docs)
        .map(|(m, f)| ManifestPut {
            reference: &m.digest,
            media_type: &m.media_type,
            body: f.body,
            expected_digest: Some(&m.digest),
        })
        .partition(|p| matches!(p.media_type, OCI_INDEX | DOCKER_MANIFEST_LIST));
    let waves = std::iter::once(leaves).chain(indexes.into_iter().map(|i| vec![i]));
    for wave in waves {
        for put in target.put_manifests(trepo, wave) {
            put?;
            counts.add(Count::ManifestsPushed, 1);
        }
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
    counts.add(Count::ManifestsPushed, 1);
    Ok(())
}

ferry_sdk::export!(Push);

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_sdk::fake::{BlobCopy, artifact, input, sha256};
    use ferry_sdk::registry::Response;
    use ferry_sdk::transfer::{Action, Outcome};
    use ferry_sdk::{Descriptor, FakeHost, Role};
    use oci_guest::manifest::OCI_MANIFEST;

    const CONFIG: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const LAYER: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const OTHER: &str = "sha256:4444444444444444444444444444444444444444444444444444444444444444";
    const IMAGE: &str = r#"{"schemaVersion":2,"config":{}}"#;

    fn blob(digest: &str, size: u64) -> Descriptor {
        Descriptor {
            media_type: "application/octet-stream".into(),
            digest: digest.into(),
            size,
            urls: vec![],
        }
    }

    /// `lib/app:v1`, pulled: one image manifest and its two blobs.
    fn pulled() -> StageInput {
        let mut a = artifact("lib/app", "v1");
        a.target_repository = "mirror/lib/app".into();
        a.digest = Some(sha256(IMAGE.as_bytes()));
        a.manifests = vec![ManifestRef {
            digest: sha256(IMAGE.as_bytes()),
            media_type: OCI_MANIFEST.into(),
            size: IMAGE.len() as u64,
        }];
        a.blobs = vec![blob(CONFIG, 2), blob(LAYER, 10)];
        input(vec![a])
    }

    #[test]
    fn pushes_blobs_then_the_tag() {
        let root = sha256(IMAGE.as_bytes());
        let host = FakeHost::new();
        host.answer(
            Role::Source,
            "GET",
            &format!("/v2/lib/app/manifests/{root}"),
            Response::new(200).with_body(IMAGE),
        )
        .answer(
            Role::Target,
            "PUT",
            "/v2/mirror/lib/app/manifests/v1",
            Response::new(201).with_header("Docker-Content-Digest", &root),
        )
        .blob_answer(
            CONFIG,
            Ok(Outcome {
                digest: CONFIG.into(),
                action: Action::Present,
                bytes: 0,
                size: 2,
            }),
        );
        let mut input = pulled();
        input.params = vec![("upload".into(), "chunked".into())];
        input.policy.chunk_size = 5;

        let out = replicate(&host, input.clone()).unwrap();

        assert_eq!(
            out,
            StageOutput {
                resources: input.resources,
                status: Status::Succeeded,
                counts: vec![
                    ("blobs-present".into(), 1),
                    ("blobs-mounted".into(), 0),
                    ("blobs-uploaded".into(), 1),
                    ("manifests-pushed".into(), 1),
                    ("manifests-present".into(), 0),
                    ("referrers-pushed".into(), 0),
                    ("tags-skipped".into(), 0),
                ],
                bytes: 10,
                messages: vec![format!("pushed mirror/lib/app:v1 ({root})")],
                plan: vec![],
            }
        );
        assert_eq!(
            host.requests(),
            [
                "target HEAD /v2/mirror/lib/app/manifests/v1".to_owned(),
                format!("source GET /v2/lib/app/manifests/{root}"),
                "target PUT /v2/mirror/lib/app/manifests/v1".to_owned(),
            ]
        );
        assert_eq!(
            host.copies(),
            [BlobCopy {
                source_repository: "lib/app".into(),
                target_repository: "mirror/lib/app".into(),
                blobs: vec![blob(CONFIG, 2), blob(LAYER, 10)],
                opts: Options {
                    mode: UploadMode::Chunked,
                    chunk_size: 5,
                    mount_from: vec![],
                },
            }]
        );
        let (_, put) = host.sent().pop().unwrap();
        assert_eq!(
            (put.headers, put.body),
            (
                vec![("Content-Type".to_owned(), OCI_MANIFEST.to_owned())],
                Some(IMAGE.as_bytes().to_vec())
            )
        );
        assert_eq!(host.progress_items(), 1);
    }

    /// An index whose children are two images and a nested index: the
    /// images go in one round trip, then the nested index, then the tag.
    #[test]
    fn pushes_an_index_children_at_once_nested_indexes_after() {
        let docs = [
            (r#"{"schemaVersion":2,"config":{},"a":1}"#, OCI_MANIFEST),
            (r#"{"schemaVersion":2,"config":{},"b":1}"#, OCI_MANIFEST),
            (r#"{"schemaVersion":2,"manifests":[],"n":1}"#, OCI_INDEX),
            (r#"{"schemaVersion":2,"manifests":[],"r":1}"#, OCI_INDEX),
        ];
        let digests: Vec<String> = docs.iter().map(|(d, _)| sha256(d.as_bytes())).collect();
        let host = FakeHost::new();
        for ((doc, _), digest) in docs.iter().zip(&digests) {
            host.answer(
                Role::Source,
                "GET",
                &format!("/v2/lib/app/manifests/{digest}"),
                Response::new(200).with_body(*doc),
            )
            .answer(
                Role::Target,
                "PUT",
                &format!("/v2/mirror/lib/app/manifests/{digest}"),
                Response::new(201).with_header("Docker-Content-Digest", digest),
            );
        }
        host.answer(
            Role::Target,
            "PUT",
            "/v2/mirror/lib/app/manifests/v1",
            Response::new(201).with_header("Docker-Content-Digest", &digests[3]),
        );
        let mut input = pulled();
        let a = &mut input.resources[0];
        a.digest = Some(digests[3].clone());
        a.manifests = docs
            .iter()
            .zip(&digests)
            .map(|((doc, media_type), digest)| ManifestRef {
                digest: digest.clone(),
                media_type: (*media_type).into(),
                size: doc.len() as u64,
            })
            .collect();

        let out = replicate(&host, input).unwrap();

        assert_eq!(out.status, Status::Succeeded);
        assert!(out.counts.contains(&("manifests-pushed".into(), 4)));
        let puts: Vec<Vec<String>> = host
            .rounds()
            .into_iter()
            .filter(|round| round.iter().any(|r| r.starts_with("target PUT")))
            .collect();
        let put = |reference: &str| format!("target PUT /v2/mirror/lib/app/manifests/{reference}");
        assert_eq!(
            puts,
            [
                vec![put(&digests[0]), put(&digests[1])],
                vec![put(&digests[2])],
                vec![put("v1")],
            ]
        );
    }

    #[test]
    fn keeps_a_target_tag_on_other_content_without_override() {
        let root = sha256(IMAGE.as_bytes());
        let host = FakeHost::new();
        host.answer(
            Role::Target,
            "HEAD",
            "/v2/mirror/lib/app/manifests/v1",
            Response::new(200).with_header("Docker-Content-Digest", OTHER),
        );
        let out = replicate(&host, pulled()).unwrap();
        assert_eq!(out.status, Status::Skipped);
        assert!(out.resources.is_empty(), "goes no further");
        assert_eq!(
            out.messages,
            [format!(
                "mirror/lib/app:v1 is {OTHER} at the target, not {root}, and the policy does not override: skipped"
            )]
        );
        assert_eq!(
            host.requests(),
            ["target HEAD /v2/mirror/lib/app/manifests/v1"]
        );
        assert!(host.copies().is_empty());
        assert_eq!(host.progress_items(), 1);
    }
}
