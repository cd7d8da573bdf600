//! `oci-pull`: resolves one artifact at the source: its root manifest, the
//! children of an index, the blobs, and the referrers (signatures, SBOMs, ...).

mod collect;

use collect::Collected;
use ferry_sdk::errors::{invalid, not_found};
use ferry_sdk::{
    Counts, FunctionInfo, Guest, Host, Output, StageInput, StageOutput, WitError, WitHost,
};
use oci_guest::client::{Registry, check_repository, is_digest};
use oci_guest::filter::{Resource, filters};

/// How many levels of referrers of referrers are followed.
const REFERRER_DEPTH: u32 = 3;

ferry_sdk::params! {
    struct Params {
        /// Also replicate the referrers of the artifact (signatures, SBOMs, attestations), up to 3 levels deep.
        referrers: bool = true,
    }
}

ferry_sdk::counters! {
    enum Count {
        Manifests = "manifests",
        Blobs = "blobs",
        Referrers = "referrers",
        ForeignLayersSkipped = "foreign-layers-skipped",
    }
}

struct Pull;

impl Guest for Pull {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description: "Resolves an artifact at the source: manifests in push order, blobs and referrers; applies the resource filter.".into(),
            params: Params::specs(),
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        pull(&WitHost, input)
    }
}

fn pull(host: &dyn Host, mut input: StageInput) -> Result<StageOutput, WitError> {
    let params = Params::parse(&input.params)?;
    let filters = filters(&input.policy.filters)?;
    let mut artifact = input.single_artifact("oci-pull")?;
    let repository = artifact.repository.clone();
    check_repository(&repository).map_err(invalid)?;
    let reference = artifact
        .tag
        .clone()
        .or_else(|| artifact.digest.clone())
        .ok_or_else(|| {
            invalid(format!(
                "artifact of {repository} has neither a tag nor a digest"
            ))
        })?;
    let name = artifact.to_string();
    let source = Registry::source(host);

    let root = source
        .get_manifest(&repository, &reference)?
        .ok_or_else(|| {
            if is_digest(&reference) {
                not_found(format!("manifest {name} not found at the source"))
            } else {
                not_found(format!(
                    "tag {name} vanished from the source (deleted since it was listed?)"
                ))
            }
        })?;
    let manifest = root.parse(&repository, &reference)?;
    let resource = if manifest.is_image() {
        Resource::Image
    } else {
        Resource::Artifact
    };
    let mut counts = Counts::new();
    if !filters.resource(resource) {
        let kind = if resource == Resource::Image {
            "image"
        } else {
            "artifact"
        };
        let message = format!("{name} is an {kind} and the policy's resource filter leaves it out");
        host.info(&message);
        artifact.digest = None;
        artifact.media_type = None;
        return Ok(Output::skipped(message)
            .resource(artifact)
            .counts(counts)
            .build());
    }

    let mut collected = Collected::manifests(&source, &repository, &root, &manifest)?;
    if params.referrers && !artifact.no_referrers {
        collected.add_referrers(&source, &repository, &root.digest, REFERRER_DEPTH)?;
    }
    counts.add(Count::Manifests, collected.manifests.len() as u64);
    counts.add(Count::Blobs, collected.blobs.len() as u64);
    counts.add(Count::Referrers, collected.referrers.len() as u64);
    counts.add(
        Count::ForeignLayersSkipped,
        collected.foreign_layers_skipped,
    );
    host.info(&format!(
        "{name} is {} ({}): {} manifest(s), {} blob(s), {} referrer(s)",
        root.digest,
        manifest.media_type,
        collected.manifests.len(),
        collected.blobs.len(),
        collected.referrers.len()
    ));

    artifact.digest = Some(root.digest);
    artifact.media_type = Some(manifest.media_type);
    artifact.manifests = collected.manifests;
    artifact.blobs = collected.blobs;
    artifact.referrers = collected.referrers;
    let mut messages = Vec::new();
    if collected.foreign_layers_skipped > 0 {
        messages.push(format!(
            "{} foreign or non-distributable layer(s) left out",
            collected.foreign_layers_skipped
        ));
    }
    Ok(Output::succeeded()
        .resource(artifact)
        .counts(counts)
        .messages(messages)
        .build())
}

ferry_sdk::export!(Pull);

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_sdk::fake::{artifact, input, sha256};
    use ferry_sdk::registry::Response;
    use ferry_sdk::{
        Decoration, Descriptor, FakeHost, Filter, FilterKind, ManifestRef, Role, Status,
    };
    use oci_guest::manifest::{OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST};

    const CONFIG: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const LAYER: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const SIG_LAYER: &str =
        "sha256:3333333333333333333333333333333333333333333333333333333333333333";
    const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

    fn image() -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{CONFIG}","size":2}},"layers":[{{"mediaType":"{LAYER_TYPE}","digest":"{LAYER}","size":10}}]}}"#
        )
    }

    /// A signature of `subject`: an artifact manifest sharing no blob with it.
    fn signature(subject: &str, size: usize) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/vnd.dev.cosign","config":{{"mediaType":"{OCI_EMPTY}","digest":"{CONFIG}","size":2}},"layers":[{{"mediaType":"application/octet-stream","digest":"{SIG_LAYER}","size":5}}],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":{size}}}}}"#
        )
    }

    fn manifest(body: &str) -> Response {
        Response::new(200)
            .with_header("Content-Type", OCI_MANIFEST)
            .with_body(body)
    }

    fn blob(digest: &str, media_type: &str, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: digest.into(),
            size,
            urls: vec![],
        }
    }

    #[test]
    fn resolves_manifests_blobs_and_referrers() {
        let (image, root) = (image(), sha256(image().as_bytes()));
        let sig = signature(&root, image.len());
        let sig_digest = sha256(sig.as_bytes());
        let host = FakeHost::new();
        host.answer(Role::Source, "GET", "/v2/lib/app/manifests/v1", manifest(&image))
            .answer(
                Role::Source,
                "GET",
                &format!("/v2/lib/app/referrers/{root}"),
                Response::new(200).with_body(format!(
                    r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{sig_digest}","size":{}}}]}}"#,
                    sig.len()
                )),
            )
            .answer(
                Role::Source,
                "GET",
                &format!("/v2/lib/app/manifests/{sig_digest}"),
                manifest(&sig),
            );

        let out = pull(&host, input(vec![artifact("lib/app", "v1")])).unwrap();

        let mut expected = artifact("lib/app", "v1");
        expected.digest = Some(root.clone());
        expected.media_type = Some(OCI_MANIFEST.into());
        expected.manifests = vec![ManifestRef {
            digest: root.clone(),
            media_type: OCI_MANIFEST.into(),
            size: image.len() as u64,
        }];
        expected.blobs = vec![
            blob(CONFIG, OCI_CONFIG, 2),
            blob(LAYER, LAYER_TYPE, 10),
            blob(SIG_LAYER, "application/octet-stream", 5),
        ];
        expected.referrers = vec![ManifestRef {
            digest: sig_digest.clone(),
            media_type: OCI_MANIFEST.into(),
            size: sig.len() as u64,
        }];
        assert_eq!(
            out,
            StageOutput {
                resources: vec![expected],
                status: Status::Succeeded,
                counts: vec![
                    ("manifests".into(), 1),
                    ("blobs".into(), 3),
                    ("referrers".into(), 1),
                    ("foreign-layers-skipped".into(), 0),
                ],
                bytes: 0,
                messages: vec![],
                plan: vec![],
            }
        );
        let fallback = sig_digest.replace(':', "-");
        assert_eq!(
            host.requests(),
            [
                "source GET /v2/lib/app/manifests/v1".to_owned(),
                format!("source GET /v2/lib/app/referrers/{root}"),
                format!("source GET /v2/lib/app/manifests/{sig_digest}"),
                // The signature's own referrers: no API answer, no fallback tag.
                format!("source GET /v2/lib/app/referrers/{sig_digest}"),
                format!("source GET /v2/lib/app/manifests/{fallback}"),
            ]
        );
    }

    #[test]
    fn leaves_out_what_the_resource_filter_excludes() {
        let host = FakeHost::new();
        host.answer(
            Role::Source,
            "GET",
            "/v2/lib/app/manifests/v1",
            manifest(&image()),
        );
        let mut input = input(vec![artifact("lib/app", "v1")]);
        input.policy.filters = vec![Filter {
            kind: FilterKind::Resource,
            pattern: "artifact".into(),
            decoration: Decoration::Matches,
        }];
        let out = pull(&host, input).unwrap();
        assert_eq!(out.status, Status::Skipped);
        assert_eq!(out.resources, [artifact("lib/app", "v1")]);
        assert_eq!(
            out.messages,
            ["lib/app:v1 is an image and the policy's resource filter leaves it out"]
        );
        assert_eq!(host.requests(), ["source GET /v2/lib/app/manifests/v1"]);
    }

    #[test]
    fn without_referrers_reads_the_manifest_only() {
        let host = FakeHost::new();
        host.answer(
            Role::Source,
            "GET",
            "/v2/lib/app/manifests/v1",
            manifest(&image()),
        );
        let mut input = input(vec![artifact("lib/app", "v1")]);
        input.params = vec![("referrers".into(), "false".into())];
        let out = pull(&host, input).unwrap();
        assert_eq!(out.status, Status::Succeeded);
        assert_eq!(out.resources[0].blobs.len(), 2);
        assert_eq!(host.requests(), ["source GET /v2/lib/app/manifests/v1"]);
    }

    #[test]
    fn a_vanished_tag_is_not_found() {
        let e = pull(&FakeHost::new(), input(vec![artifact("lib/app", "v1")])).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                ferry_sdk::ErrorKind::NotFound,
                "tag lib/app:v1 vanished from the source (deleted since it was listed?)"
            )
        );
    }
}
