//! `verify`: re-reads the target and checks that the tag (or root digest),
//! every manifest and every referrer of the artifact are there, with the
//! source's digests.

use ferry_sdk::errors::rejected;
use ferry_sdk::{
    Counts, FunctionInfo, Guest, Host, Output, StageInput, StageOutput, WitError, WitHost,
};
use oci_guest::client::{Head, Registry};

ferry_sdk::counters! {
    enum Count {
        ManifestsVerified = "manifests-verified",
        ReferrersVerified = "referrers-verified",
    }
}

struct Verify;

impl Guest for Verify {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description: "Checks that the target holds the artifact's tag, manifests and referrers with the source's digests.".into(),
            params: vec![],
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        verify(&WitHost, input)
    }
}

fn verify(host: &dyn Host, mut input: StageInput) -> Result<StageOutput, WitError> {
    let artifact = input.single_artifact("verify")?;
    let mut counts = Counts::new();
    let name = artifact.to_string();
    let Some(digest) = artifact.digest.clone() else {
        return Ok(Output::skipped(format!("{name}: nothing to verify"))
            .resource(artifact)
            .counts(counts)
            .build());
    };
    let target = Registry::target(host);
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
    counts.add(Count::ManifestsVerified, artifact.manifests.len() as u64);
    counts.add(Count::ReferrersVerified, artifact.referrers.len() as u64);
    host.info(&format!(
        "{name}: verified {trepo}{}{reference} = {digest}",
        sep(reference)
    ));
    Ok(Output::succeeded()
        .resource(artifact)
        .counts(counts)
        .build())
}

fn sep(reference: &str) -> &'static str {
    if reference.contains(':') { "@" } else { ":" }
}

ferry_sdk::export!(Verify);

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_sdk::fake::{artifact, input};
    use ferry_sdk::registry::Response;
    use ferry_sdk::{ErrorKind, FakeHost, ManifestRef, Role, Status};

    const ROOT: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const CHILD: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const SIG: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
    const OTHER: &str = "sha256:4444444444444444444444444444444444444444444444444444444444444444";

    fn manifest(digest: &str) -> ManifestRef {
        ManifestRef {
            digest: digest.into(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 10,
        }
    }

    /// `lib/app:v1` pulled: an index with one child, and one signature.
    fn pulled() -> StageInput {
        let mut a = artifact("lib/app", "v1");
        a.target_repository = "mirror/lib/app".into();
        a.digest = Some(ROOT.into());
        a.manifests = vec![manifest(CHILD), manifest(ROOT)];
        a.referrers = vec![manifest(SIG)];
        input(vec![a])
    }

    fn at(digest: &str) -> Response {
        Response::new(200).with_header("Docker-Content-Digest", digest)
    }

    const HEADS: [&str; 3] = [
        "target HEAD /v2/mirror/lib/app/manifests/v1",
        "target HEAD /v2/mirror/lib/app/manifests/sha256:2222222222222222222222222222222222222222222222222222222222222222",
        "target HEAD /v2/mirror/lib/app/manifests/sha256:3333333333333333333333333333333333333333333333333333333333333333",
    ];

    #[test]
    fn counts_what_the_target_holds() {
        let host = FakeHost::new();
        let path = |r: &str| format!("/v2/mirror/lib/app/manifests/{r}");
        host.answer(Role::Target, "HEAD", &path("v1"), at(ROOT))
            .answer(Role::Target, "HEAD", &path(CHILD), at(CHILD))
            .answer(Role::Target, "HEAD", &path(SIG), at(SIG));
        let input = pulled();
        let out = verify(&host, input.clone()).unwrap();
        assert_eq!(
            out,
            Output::succeeded()
                .resources(input.resources)
                .counts({
                    let mut c = Counts::new();
                    c.add(Count::ManifestsVerified, 2);
                    c.add(Count::ReferrersVerified, 1);
                    c
                })
                .build()
        );
        assert_eq!(host.requests(), HEADS);
        // Every HEAD bypasses the host's existence cache.
        for (_, req) in host.sent() {
            assert!(
                req.headers
                    .contains(&("Cache-Control".into(), "no-cache".into())),
                "{req:?}"
            );
        }
    }

    #[test]
    fn names_every_problem() {
        let host = FakeHost::new();
        let path = |r: &str| format!("/v2/mirror/lib/app/manifests/{r}");
        host.answer(Role::Target, "HEAD", &path("v1"), at(OTHER))
            .answer(Role::Target, "HEAD", &path(CHILD), at(CHILD));
        let e = verify(&host, pulled()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Rejected);
        assert_eq!(
            e.message,
            format!(
                "lib/app:v1 at the target: 2 problem(s): mirror/lib/app:v1: found {OTHER}, expected {ROOT}; mirror/lib/app@{SIG}: absent, expected {SIG}"
            )
        );
        assert_eq!(host.requests(), HEADS);
    }

    #[test]
    fn skips_an_artifact_that_was_not_pulled() {
        let host = FakeHost::new();
        let out = verify(&host, input(vec![artifact("lib/app", "v1")])).unwrap();
        assert_eq!(out.status, Status::Skipped);
        assert_eq!(out.messages, vec!["lib/app:v1: nothing to verify"]);
        assert_eq!(
            out.counts,
            vec![
                ("manifests-verified".into(), 0),
                ("referrers-verified".into(), 0)
            ]
        );
        assert!(host.requests().is_empty());
    }

    #[test]
    fn takes_one_artifact() {
        let e = verify(&FakeHost::new(), input(vec![])).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Invalid, "verify takes one artifact, got 0")
        );
    }
}
