//! `verify`: re-reads the target and checks that the tag (or root digest),
//! every manifest and every referrer of the artifact are there, with the
//! source's digests.

use oci_guest::client::{Head, Registry};
use oci_guest::errors::{invalid, rejected};
use oci_guest::params::{Counts, artifact_name, output};
use oci_guest::{FunctionInfo, Guest, StageInput, StageOutput, Status, WitError, log};

struct Verify;

impl Guest for Verify {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description: "Checks that the target holds the artifact's tag, manifests and referrers with the source's digests.".into(),
            params: vec![],
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        let [artifact] = <[_; 1]>::try_from(input.resources)
            .map_err(|r: Vec<_>| invalid(format!("verify takes one artifact, got {}", r.len())))?;
        let mut counts = Counts::new(&["manifests-verified", "referrers-verified"]);
        let name = artifact_name(&artifact);
        let Some(digest) = artifact.digest.clone() else {
            return Ok(output(
                vec![artifact],
                Status::Skipped,
                counts,
                0,
                vec![format!("{name}: nothing to verify")],
            ));
        };
        let target = Registry::target();
        let trepo = artifact.target_repository.as_str();
        let mut problems = Vec::new();
        let mut check = |reference: &str, expected: &str, head: Option<Head>| match head {
            None => problems.push(format!(
                "{trepo}{}{reference}: absent, expected {expected}",
                sep(reference)
            )),
            Some(h) if h.digest != expected => problems.push(format!(
                "{trepo}{}{reference}: found {}, expected {expected}",
                sep(reference),
                h.digest
            )),
            Some(_) => {}
        };

        // Asked of the registry itself, never of the host's existence cache.
        // The reference's answer already proves the root manifest is there, so
        // the root is not asked again by digest.
        let reference = artifact.tag.as_deref().unwrap_or(&digest);
        let mut refs: Vec<(&str, &str)> = vec![(trepo, reference)];
        refs.extend(
            artifact
                .manifests
                .iter()
                .chain(&artifact.referrers)
                .filter(|m| m.digest != digest)
                .map(|m| (trepo, m.digest.as_str())),
        );
        for (k, head) in target.head_many(&refs, true).into_iter().enumerate() {
            let expected = if k == 0 { digest.as_str() } else { refs[k].1 };
            check(refs[k].1, expected, head?);
        }
        if !problems.is_empty() {
            return Err(rejected(format!(
                "{name} at the target: {} problem(s): {}",
                problems.len(),
                problems.join("; ")
            )));
        }
        counts.add("manifests-verified", artifact.manifests.len() as u64);
        counts.add("referrers-verified", artifact.referrers.len() as u64);
        log::info(format!(
            "{name}: verified {trepo}{}{reference} = {digest}",
            sep(reference)
        ));
        Ok(output(vec![artifact], Status::Succeeded, counts, 0, vec![]))
    }
}

fn sep(reference: &str) -> &'static str {
    if reference.contains(':') { "@" } else { ":" }
}

oci_guest::export!(Verify);
