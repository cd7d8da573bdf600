//! `oci-delete`: replicates a deletion. Removes an artifact's tag from the
//! target repository, where the tag is gone at the source.
//!
//! Deleting a tag is optional in the distribution spec, and distribution 2.x
//! cannot: it deletes only manifests, by digest, which removes every tag on
//! that manifest. Then this deletes the manifest and tags it again under
//! each other tag that must stay: those the policy's filters leave out (out
//! of scope: never deleted) and those the source still has.

use ferry_sdk::errors::{internal, invalid, rejected};
use ferry_sdk::{
    Artifact, Counts, FunctionInfo, Guest, Host, Operation, Output, Policy, StageInput,
    StageOutput, Status, WitError, WitHost,
};
use oci_guest::client::{Deleted, Registry, check_repository, check_tag};
use oci_guest::filter::filters;
use oci_guest::manifest::is_fallback_tag;

ferry_sdk::counters! {
    enum Count {
        Deleted = "tags-deleted",
        Absent = "tags-absent",
        Restored = "tags-restored",
    }
}

struct Delete;

impl Guest for Delete {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description: "Deletes an artifact's tag at the target (a deletion replicated from the source); keeps every other tag.".into(),
            params: vec![],
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        replicate_deletion(&WitHost, input)
    }
}

fn replicate_deletion(host: &dyn Host, mut input: StageInput) -> Result<StageOutput, WitError> {
    let artifact = input.single_artifact("oci-delete")?;
    if artifact.operation != Operation::Delete {
        return Ok(Output::skipped(format!("{artifact}: not a deletion"))
            .resource(artifact)
            .counts(Counts::<Count>::new())
            .build());
    }
    let result = delete(host, &artifact, &input.policy);
    host.progress(1);
    let (status, counts, messages) = result?;
    Ok(Output::new(status)
        .resource(artifact)
        .counts(counts)
        .messages(messages)
        .build())
}

fn delete(
    host: &dyn Host,
    a: &Artifact,
    policy: &Policy,
) -> Result<(Status, Counts<Count>, Vec<String>), WitError> {
    let mut counts = Counts::new();
    let trepo = a.target_repository.as_str();
    check_repository(trepo).map_err(invalid)?;
    let tag = a
        .tag
        .as_deref()
        .ok_or_else(|| invalid(format!("{a}: a deletion names a tag")))?;
    check_tag(tag).map_err(invalid)?;
    let target = Registry::target(host);
    let Some(head) = target.head_manifest_fresh(trepo, tag)? else {
        counts.add(Count::Absent, 1);
        let m = format!("{trepo}:{tag} is not at the target (deleted already)");
        host.info(&m);
        return Ok((Status::Skipped, counts, vec![m]));
    };
    let digest = head.digest;
    let mut messages = Vec::new();
    match target.delete_manifest(trepo, tag)? {
        Deleted::Done | Deleted::Absent => {}
        Deleted::Unsupported(why) => {
            host.info(&format!(
                "the target does not delete tags alone ({why}): deleting manifest {digest}"
            ));
            let kept = delete_by_digest(host, a, tag, &digest, policy)?;
            counts.add(Count::Restored, kept.len() as u64);
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
    counts.add(Count::Deleted, 1);
    messages.insert(0, format!("deleted {trepo}:{tag} ({digest})"));
    host.info(&messages[0]);
    Ok((Status::Succeeded, counts, messages))
}

/// Deletes manifest `digest` (and so every tag on it), then tags it again
/// under each other tag that must stay; answers those tags.
fn delete_by_digest(
    host: &dyn Host,
    a: &Artifact,
    tag: &str,
    digest: &str,
    policy: &Policy,
) -> Result<Vec<String>, WitError> {
    let trepo = a.target_repository.as_str();
    let target = Registry::target(host);
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
        .zip(Registry::source(host).head_many(&src_refs, true))
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
        host.info(&format!("{trepo}:{t} tagged again ({digest})"));
    }
    Ok(keep)
}

ferry_sdk::export!(Delete);

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_sdk::fake::{artifact, input, sha256};
    use ferry_sdk::registry::Response;
    use ferry_sdk::{Decoration, FakeHost, Filter, FilterKind, Role};

    const MANIFEST: &[u8] = br#"{"schemaVersion":2}"#;
    const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    const OTHER: &str = "sha256:4444444444444444444444444444444444444444444444444444444444444444";

    /// The deletion of `app:old`, replicated to `mirror/app`.
    fn deletion() -> StageInput {
        let mut a = artifact("app", "old");
        a.operation = Operation::Delete;
        a.target_repository = "mirror/app".into();
        input(vec![a])
    }

    fn at(digest: &str) -> Response {
        Response::new(200).with_header("Docker-Content-Digest", digest)
    }

    fn path(reference: &str) -> String {
        format!("/v2/mirror/app/manifests/{reference}")
    }

    fn counts(deleted: u64, absent: u64, restored: u64) -> Vec<(String, u64)> {
        vec![
            ("tags-deleted".into(), deleted),
            ("tags-absent".into(), absent),
            ("tags-restored".into(), restored),
        ]
    }

    #[test]
    fn deletes_the_tag() {
        let d = sha256(MANIFEST);
        let host = FakeHost::new();
        host.answer(Role::Target, "HEAD", &path("old"), at(&d))
            .answer(Role::Target, "HEAD", &path("old"), Response::new(404))
            .answer(Role::Target, "DELETE", &path("old"), Response::new(202));
        let input = deletion();
        let out = replicate_deletion(&host, input.clone()).unwrap();
        assert_eq!(
            out,
            StageOutput {
                resources: input.resources,
                status: Status::Succeeded,
                counts: counts(1, 0, 0),
                bytes: 0,
                messages: vec![format!("deleted mirror/app:old ({d})")],
                plan: vec![],
            }
        );
        assert_eq!(
            host.requests(),
            [
                "target HEAD /v2/mirror/app/manifests/old",
                "target DELETE /v2/mirror/app/manifests/old",
                "target HEAD /v2/mirror/app/manifests/old",
            ]
        );
        assert_eq!(host.progress_items(), 1);
    }

    #[test]
    fn a_tag_already_gone_is_skipped() {
        let host = FakeHost::new();
        let out = replicate_deletion(&host, deletion()).unwrap();
        assert_eq!(out.status, Status::Skipped);
        assert_eq!(out.counts, counts(0, 1, 0));
        assert_eq!(
            out.messages,
            ["mirror/app:old is not at the target (deleted already)"]
        );
        assert_eq!(
            host.requests(),
            ["target HEAD /v2/mirror/app/manifests/old"]
        );
        assert_eq!(host.progress_items(), 1);
    }

    #[test]
    fn a_copy_is_not_a_deletion() {
        let host = FakeHost::new();
        let out = replicate_deletion(&host, input(vec![artifact("app", "v1")])).unwrap();
        assert_eq!(out.status, Status::Skipped);
        assert_eq!(out.messages, ["app:v1: not a deletion"]);
        assert_eq!(out.counts, counts(0, 0, 0));
        assert!(host.requests().is_empty());
        assert_eq!(host.progress_items(), 0);
    }

    /// Distribution 2.x deletes manifests only: the manifest goes, and the
    /// tags that must stay on it are put back: those out of the policy's
    /// scope, and those the source still has.
    #[test]
    fn where_tags_cannot_be_deleted_deletes_the_manifest_and_restores_the_others() {
        let d = sha256(MANIFEST);
        let fallback = format!("sha256-{}", "a".repeat(64));
        let mut input = deletion();
        input.policy.filters = vec![Filter {
            kind: FilterKind::Tag,
            pattern: "o*".into(),
            decoration: Decoration::Matches,
        }];
        let host = FakeHost::new();
        host.answer(Role::Target, "HEAD", &path("old"), at(&d))
            .answer(Role::Target, "HEAD", &path("old"), Response::new(404))
            .answer(
                Role::Target,
                "DELETE",
                &path("old"),
                Response::new(400).with_body(
                    r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#,
                ),
            )
            .answer(
                Role::Target,
                "GET",
                "/v2/mirror/app/tags/list?n=1000",
                Response::new(200).with_body(format!(
                    r#"{{"name":"mirror/app","tags":["old","keep","odd","other","ogone","{fallback}"]}}"#
                )),
            )
            .answer(Role::Target, "HEAD", &path("keep"), at(&d))
            .answer(Role::Target, "HEAD", &path("odd"), at(&d))
            .answer(Role::Target, "HEAD", &path("other"), at(OTHER))
            .answer(Role::Target, "HEAD", &path("ogone"), at(&d))
            .answer(Role::Source, "HEAD", "/v2/app/manifests/odd", at(&d))
            .answer(
                Role::Target,
                "GET",
                &path(&d),
                Response::new(200)
                    .with_header("Content-Type", OCI_MANIFEST)
                    .with_body(MANIFEST),
            )
            .answer(Role::Target, "DELETE", &path(&d), Response::new(202))
            .answer(Role::Target, "PUT", &path("keep"), Response::new(201))
            .answer(Role::Target, "PUT", &path("odd"), Response::new(201));

        let out = replicate_deletion(&host, input).unwrap();
        assert_eq!(out.status, Status::Succeeded);
        assert_eq!(out.counts, counts(1, 0, 2));
        assert_eq!(
            out.messages,
            [
                format!("deleted mirror/app:old ({d})"),
                format!(
                    "the target deletes manifests, not tags: deleted {d} and tagged it again as keep, odd"
                ),
            ]
        );
        assert_eq!(
            host.requests(),
            [
                "target HEAD /v2/mirror/app/manifests/old".to_owned(),
                "target DELETE /v2/mirror/app/manifests/old".to_owned(),
                "target GET /v2/mirror/app/tags/list?n=1000".to_owned(),
                "target HEAD /v2/mirror/app/manifests/keep".to_owned(),
                "target HEAD /v2/mirror/app/manifests/odd".to_owned(),
                "target HEAD /v2/mirror/app/manifests/other".to_owned(),
                "target HEAD /v2/mirror/app/manifests/ogone".to_owned(),
                "source HEAD /v2/app/manifests/odd".to_owned(),
                "source HEAD /v2/app/manifests/ogone".to_owned(),
                format!("target GET /v2/mirror/app/manifests/{d}"),
                format!("target DELETE /v2/mirror/app/manifests/{d}"),
                "target PUT /v2/mirror/app/manifests/keep".to_owned(),
                "target PUT /v2/mirror/app/manifests/odd".to_owned(),
                "target HEAD /v2/mirror/app/manifests/old".to_owned(),
            ]
        );
        // The tags are put back with the very bytes and media type.
        let puts: Vec<_> = host
            .sent()
            .into_iter()
            .filter(|(_, r)| r.method == "PUT")
            .map(|(_, r)| (r.headers, r.body))
            .collect();
        let put = (
            vec![("Content-Type".to_owned(), OCI_MANIFEST.to_owned())],
            Some(MANIFEST.to_vec()),
        );
        assert_eq!(puts, [put.clone(), put]);
    }
}
