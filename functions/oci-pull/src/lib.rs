//! `oci-pull`: resolves one artifact at the source: its root manifest, the
//! children of an index, the blobs, and the referrers (signatures, SBOMs, ...).

use oci_guest::client::{Registry, check_repository, is_digest};
use oci_guest::collect::Collected;
use oci_guest::errors::{invalid, not_found};
use oci_guest::filter::{Resource, filters};
use oci_guest::params::{Counts, Params, artifact_name, output};
use oci_guest::{FunctionInfo, Guest, StageInput, StageOutput, Status, WitError, log, param};

/// How many levels of referrers of referrers are followed.
const REFERRER_DEPTH: u32 = 3;

struct Pull;

impl Guest for Pull {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description: "Resolves an artifact at the source: manifests in push order, blobs and referrers; applies the resource filter.".into(),
            params: vec![param(
                "referrers",
                "Also replicate the referrers of the artifact (signatures, SBOMs, attestations), up to 3 levels deep.",
                false,
                Some("true"),
            )],
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        let params = Params::new(&input.params);
        let with_referrers = params.bool("referrers", true)?;
        let filters = filters(&input.policy.filters)?;
        let [mut artifact] = <[_; 1]>::try_from(input.resources).map_err(|r: Vec<_>| {
            invalid(format!("oci-pull takes one artifact, got {}", r.len()))
        })?;
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
        let name = artifact_name(&artifact);
        let source = Registry::source();

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
        let mut counts =
            Counts::new(&["manifests", "blobs", "referrers", "foreign-layers-skipped"]);
        if !filters.resource(resource) {
            let kind = if resource == Resource::Image {
                "image"
            } else {
                "artifact"
            };
            let message =
                format!("{name} is an {kind} and the policy's resource filter leaves it out");
            log::info(&message);
            artifact.digest = None;
            artifact.media_type = None;
            return Ok(output(
                vec![artifact],
                Status::Skipped,
                counts,
                0,
                vec![message],
            ));
        }

        let mut collected = Collected::manifests(&source, &repository, &root, &manifest)?;
        if with_referrers && !artifact.no_referrers {
            collected.add_referrers(&source, &repository, &root.digest, REFERRER_DEPTH)?;
        }
        counts.add("manifests", collected.manifests.len() as u64);
        counts.add("blobs", collected.blobs.len() as u64);
        counts.add("referrers", collected.referrers.len() as u64);
        counts.add("foreign-layers-skipped", collected.foreign_layers_skipped);
        log::info(format!(
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
        Ok(output(
            vec![artifact],
            Status::Succeeded,
            counts,
            0,
            messages,
        ))
    }
}

oci_guest::export!(Pull);
