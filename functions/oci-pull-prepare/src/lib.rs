//! `oci-pull-prepare`: lists the source registry (catalog, then tags) and
//! emits one artifact per (repository, tag) that passes the policy's filters,
//! with its target repository mapped. Checks both registries (the target
//! in the round of its tag listings), and leaves out artifacts the target
//! already has as they are (the fast no-op: manifest HEADs only, see
//! `uptodate`). With the policy's
//! `replicate-deletion`, also emits a `delete` artifact per target tag, in
//! scope, whose source tag is gone. In a dry run, answers its plan: what it
//! would copy, skip and delete, and why.

mod referrers;
mod uptodate;

use std::collections::{HashMap, HashSet};

use ferry_scope::map_repository;
use ferry_sdk::errors::{context, invalid};
use ferry_sdk::{
    Artifact, Counts, ErrorKind, FunctionInfo, Guest, Host, Operation, Output, PlanAction,
    PlanEntry, Policy, StageInput, StageOutput, WitError, WitHost,
};
use oci_guest::client::{Registry, check_repository, check_tag};
use oci_guest::filter::{Filters, filters};
use oci_guest::manifest::is_fallback_tag;
use referrers::{ReferrersApi, mark_without_referrers};
use uptodate::{TargetTags, Verdict, up_to_date};

ferry_sdk::params! {
    struct Params {
        /// Entries per page when listing the catalog and tags (the n query parameter).
        page_size: u64 = 100,
        /// Leave out artifacts whose tag has the same digest at the target and no referrers at the source (found with manifest HEADs only).
        skip_up_to_date: bool = true,
    }
}

ferry_sdk::counters! {
    enum Count {
        Repositories = "repositories",
        Tags = "tags",
        Artifacts = "artifacts",
        UpToDate = "up-to-date",
        Deletions = "deletions",
    }
}

struct PullPrepare;

impl Guest for PullPrepare {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description: "Lists the source registry's repositories and tags and emits the artifacts the policy's filters select.".into(),
            params: Params::specs(),
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        list(&WitHost, input)
    }
}

fn list(host: &dyn Host, input: StageInput) -> Result<StageOutput, WitError> {
    let Params {
        page_size,
        skip_up_to_date,
    } = Params::parse(&input.params)?;
    if page_size == 0 {
        return Err(invalid("parameter \"page-size\" must be at least 1"));
    }
    let policy = &input.policy;
    let filters = filters(&policy.filters)?;
    let source = Registry::source(host);
    let target = Registry::target(host);

    host.info(&format!(
        "listing {} (page size {page_size})",
        policy.source.url
    ));
    // The target is pinged with the tag listings, not before them: a far
    // target's ping then costs no round trip of its own.
    let repositories = source
        .ping_and_catalog(page_size)?
        .map_err(|e| context(e, "listing the source repositories"))?;

    let mut counts = Counts::new();
    let mut messages = Vec::new();
    let mut artifacts = Vec::new();
    let mut all_tags: HashMap<String, HashSet<String>> = HashMap::new();
    let mut selected_repos = Vec::new();
    for repository in repositories {
        if let Err(e) = check_repository(&repository) {
            host.warn(&format!("skipping a catalog entry: {e}"));
            continue;
        }
        if !filters.repository(&repository) {
            host.debug(&format!("repository {repository} filtered out"));
            continue;
        }
        let target_repository = map_repository(
            &repository,
            &policy.dest_namespace,
            policy.dest_namespace_replace_count,
        )
        .map_err(invalid)?;
        selected_repos.push((repository, target_repository));
    }
    // Every repository's tags at once, and, for the up-to-date check and
    // deletions, the target's tags of the repositories they map to,
    // alongside.
    let names: Vec<&str> = selected_repos.iter().map(|(r, _)| r.as_str()).collect();
    let compare = skip_up_to_date || input.dry_run;
    let mut target_names: Vec<&str> = Vec::new();
    if compare || policy.replicate_deletion {
        target_names = selected_repos.iter().map(|(_, t)| t.as_str()).collect();
        target_names.sort_unstable();
        target_names.dedup();
    }
    let mut lists = Registry::ping_and_tags_everywhere(
        &target,
        &[(&source, &names), (&target, &target_names)],
        page_size,
    )?
    .into_iter();
    let (listings, target_listings) = (
        lists.next().unwrap_or_default(),
        lists.next().unwrap_or_default(),
    );
    let target_tags = TargetTags::new(host, &target_names, target_listings);
    // Per target repository: the source repositories that map to it,
    // and whether every one of them was listed.
    let mut sources_of: HashMap<&str, (Vec<&str>, bool)> = HashMap::new();
    for ((repository, target_repository), listing) in selected_repos.iter().zip(listings) {
        let entry = sources_of
            .entry(target_repository.as_str())
            .or_insert_with(|| (Vec::new(), true));
        entry.0.push(repository.as_str());
        counts.add(Count::Repositories, 1);
        let tags = match listing {
            Ok(tags) => tags,
            // Deleted between the catalog and now: nothing to replicate.
            Err(e) if e.kind == ErrorKind::NotFound => {
                host.warn(&format!(
                    "repository {repository} vanished while listing: {}",
                    e.message
                ));
                messages.push(format!("repository {repository} vanished while listing"));
                // Not a reason to delete its target's tags: a repository
                // the source still catalogs may be mid-change.
                entry.1 = false;
                continue;
            }
            Err(e) => return Err(context(e, format!("listing the tags of {repository}"))),
        };
        let mut selected = 0;
        for tag in &tags {
            counts.add(Count::Tags, 1);
            if is_fallback_tag(tag) {
                // Replicated as the referrers of its subject.
                continue;
            }
            if let Err(e) = check_tag(tag) {
                host.warn(&format!("skipping a tag of {repository}: {e}"));
                continue;
            }
            if !filters.tag(tag) {
                continue;
            }
            selected += 1;
            artifacts.push(listed(Operation::Copy, repository, target_repository, tag));
        }
        all_tags.insert(repository.clone(), tags.into_iter().collect());
        host.info(&format!(
            "{repository} -> {target_repository}: {selected} tag(s) selected"
        ));
    }

    let mut referrers_api = ReferrersApi::default();
    let mut plan = Vec::new();
    if compare && !artifacts.is_empty() {
        let verdicts = up_to_date(
            &source,
            &target,
            &artifacts,
            &all_tags,
            &target_tags,
            &mut referrers_api,
        );
        let before = artifacts.len();
        let mut kept = Vec::with_capacity(before);
        for (a, verdict) in artifacts.into_iter().zip(verdicts) {
            if input.dry_run {
                plan.push(plan_entry(&a, &verdict, policy));
            }
            if skip_up_to_date && verdict.is_current() {
                host.debug(&format!(
                    "{}:{} is up to date at the target",
                    a.target_repository,
                    a.tag.as_deref().unwrap_or_default()
                ));
            } else {
                kept.push(a);
            }
        }
        artifacts = kept;
        let skipped = (before - artifacts.len()) as u64;
        counts.add(Count::UpToDate, skipped);
        if skipped > 0 {
            messages.push(format!(
                "{skipped} artifact(s) already up to date at the target"
            ));
        }
    } else if input.dry_run {
        plan.extend(artifacts.iter().map(|a| PlanEntry {
            artifact: a.clone(),
            action: PlanAction::Copy,
            reason: "not compared with the target (skip-up-to-date is off)".into(),
        }));
    }
    mark_without_referrers(&source, &mut referrers_api, &mut artifacts, &all_tags);
    counts.add(Count::Artifacts, artifacts.len() as u64);

    if policy.replicate_deletion {
        let deletions = deletions(host, &filters, &sources_of, &all_tags, &target_tags);
        counts.add(Count::Deletions, deletions.len() as u64);
        if !deletions.is_empty() {
            messages.push(format!(
                "{} tag(s) to delete at the target: gone at the source",
                deletions.len()
            ));
        }
        if input.dry_run {
            plan.extend(deletions.iter().map(|a| PlanEntry {
                artifact: a.clone(),
                action: PlanAction::Delete,
                reason: format!(
                    "{}:{} is gone at the source",
                    a.repository,
                    a.tag.as_deref().unwrap_or_default()
                ),
            }));
        }
        artifacts.extend(deletions);
    }
    messages.push(format!(
        "{} artifact(s) to replicate from {} repositories",
        counts.get(Count::Artifacts),
        counts.get(Count::Repositories)
    ));
    host.info(messages.last().map_or("", String::as_str));
    Ok(Output::succeeded()
        .resources(artifacts)
        .counts(counts)
        .messages(messages)
        .plan(plan)
        .build())
}

/// A listed artifact, before it is pulled: a tag of a repository, to copy
/// or to delete.
fn listed(operation: Operation, repository: &str, target_repository: &str, tag: &str) -> Artifact {
    Artifact {
        operation,
        repository: repository.to_owned(),
        target_repository: target_repository.to_owned(),
        tag: Some(tag.to_owned()),
        digest: None,
        media_type: None,
        manifests: vec![],
        blobs: vec![],
        referrers: vec![],
        no_referrers: false,
        properties: vec![],
    }
}

/// What a dry run would do with a listed artifact, and why.
fn plan_entry(a: &Artifact, verdict: &Verdict, policy: &Policy) -> PlanEntry {
    let (action, reason) = match verdict {
        Verdict::Absent => (PlanAction::Copy, "not at the target".to_string()),
        Verdict::Current(d) => (PlanAction::Skip, format!("the target has it ({d})")),
        Verdict::WithReferrers(d) => (
            PlanAction::Copy,
            format!("the target has {d}; its referrers at the source are brought along"),
        ),
        Verdict::Differs { source, target } if policy.override_ => (
            PlanAction::Copy,
            format!("the target has {target}, the source {source}: replaced"),
        ),
        Verdict::Differs { source, target } => (
            PlanAction::Skip,
            format!(
                "the target has {target}, the source {source}, and the policy does not override"
            ),
        ),
        Verdict::Unknown => (
            PlanAction::Copy,
            "the target's digest could not be read".to_string(),
        ),
    };
    PlanEntry {
        artifact: a.clone(),
        action,
        reason,
    }
}

/// `delete` artifacts for the target tags, in scope, whose source tag is
/// gone: tags of target repositories that selected source repositories map
/// to, that pass the tag filters, that are not referrers fallback tags, and
/// that no source repository mapping there lists. A target repository whose
/// listing failed, or one of whose sources could not be listed, loses
/// nothing.
fn deletions(
    host: &dyn Host,
    filters: &Filters,
    sources_of: &HashMap<&str, (Vec<&str>, bool)>,
    source_tags: &HashMap<String, HashSet<String>>,
    target_tags: &TargetTags,
) -> Vec<Artifact> {
    let mut out = Vec::new();
    let mut targets: Vec<&&str> = sources_of.keys().collect();
    targets.sort();
    for target_repository in targets {
        let (sources, all_listed) = &sources_of[*target_repository];
        if !all_listed {
            continue;
        }
        let Some(at_target) = target_tags.listed(target_repository) else {
            continue;
        };
        let mut gone: Vec<&String> = at_target
            .iter()
            .filter(|t| !is_fallback_tag(t) && check_tag(t).is_ok() && filters.tag(t))
            .filter(|t| {
                !sources
                    .iter()
                    .any(|s| source_tags.get(*s).is_some_and(|tags| tags.contains(*t)))
            })
            .collect();
        gone.sort();
        for tag in gone {
            host.info(&format!(
                "{target_repository}:{tag} is gone at the source: to delete"
            ));
            out.push(listed(
                Operation::Delete,
                sources[0],
                target_repository,
                tag,
            ));
        }
    }
    out
}

ferry_sdk::export!(PullPrepare);

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_sdk::fake::input;
    use ferry_sdk::registry::Response;
    use ferry_sdk::{FakeHost, Role, Status};

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn json(body: &str) -> Response {
        Response::new(200).with_body(body)
    }

    /// The source has `lib/app:v1` and `:v2`; the target already has `v1`
    /// as it is, and `old`, gone at the source.
    fn registries() -> FakeHost {
        let host = FakeHost::new();
        let at = |d: &str| Response::new(200).with_header("Docker-Content-Digest", d);
        host.answer(Role::Source, "GET", "/v2/", Response::new(200))
            .answer(Role::Target, "GET", "/v2/", Response::new(200))
            .answer(
                Role::Source,
                "GET",
                "/v2/_catalog?n=100",
                json(r#"{"repositories":["lib/app","Not/Valid"]}"#),
            )
            .answer(
                Role::Source,
                "GET",
                "/v2/lib/app/tags/list?n=100",
                json(r#"{"name":"lib/app","tags":["v1","v2"]}"#),
            )
            .answer(
                Role::Target,
                "GET",
                "/v2/mirror/lib/app/tags/list?n=100",
                json(r#"{"name":"mirror/lib/app","tags":["v1","old"]}"#),
            )
            .answer(Role::Source, "HEAD", "/v2/lib/app/manifests/v1", at(D1))
            .answer(
                Role::Target,
                "HEAD",
                "/v2/mirror/lib/app/manifests/v1",
                at(D1),
            );
        host
    }

    #[test]
    fn lists_what_the_target_lacks_and_what_it_must_delete() {
        let host = registries();
        let mut input = input(vec![]);
        input.policy.dest_namespace = "mirror".into();
        input.policy.replicate_deletion = true;

        let out = list(&host, input).unwrap();

        let mut v2 = listed(Operation::Copy, "lib/app", "mirror/lib/app", "v2");
        // No referrers API and no fallback tag: pull need not look.
        v2.no_referrers = true;
        let old = listed(Operation::Delete, "lib/app", "mirror/lib/app", "old");
        assert_eq!(
            out,
            StageOutput {
                resources: vec![v2, old],
                status: Status::Succeeded,
                counts: vec![
                    ("repositories".into(), 1),
                    ("tags".into(), 2),
                    ("artifacts".into(), 1),
                    ("up-to-date".into(), 1),
                    ("deletions".into(), 1),
                ],
                bytes: 0,
                messages: vec![
                    "1 artifact(s) already up to date at the target".into(),
                    "1 tag(s) to delete at the target: gone at the source".into(),
                    "1 artifact(s) to replicate from 1 repositories".into(),
                ],
                plan: vec![],
            }
        );
        // The target's ping goes with the tag listings: no round of its own.
        assert_eq!(
            host.rounds(),
            [
                vec!["source GET /v2/", "source GET /v2/_catalog?n=100"],
                vec![
                    "target GET /v2/",
                    "source GET /v2/lib/app/tags/list?n=100",
                    "target GET /v2/mirror/lib/app/tags/list?n=100",
                ],
                vec![
                    "source HEAD /v2/lib/app/manifests/v1",
                    "target HEAD /v2/mirror/lib/app/manifests/v1",
                ],
                vec![&format!("source GET /v2/lib/app/referrers/{D1}")],
            ]
        );
    }

    #[test]
    fn a_target_refusing_its_ping_fails_the_listing_with_the_pings_cause() {
        let host = FakeHost::new();
        host.answer(Role::Source, "GET", "/v2/", Response::new(200))
            .answer(Role::Target, "GET", "/v2/", Response::new(401))
            .answer(
                Role::Source,
                "GET",
                "/v2/_catalog?n=100",
                json(r#"{"repositories":["lib/app"]}"#),
            )
            .answer(
                Role::Source,
                "GET",
                "/v2/lib/app/tags/list?n=100",
                json(r#"{"name":"lib/app","tags":["v1"]}"#),
            )
            .answer(
                Role::Target,
                "GET",
                "/v2/lib/app/tags/list?n=100",
                Response::new(401),
            );

        let e = list(&host, input(vec![])).unwrap_err();

        assert_eq!(e.kind, ferry_sdk::ErrorKind::Unauthorized);
        assert!(
            e.message
                .starts_with("target registry: GET /v2/ answered 401 after authentication"),
            "{}",
            e.message
        );
        assert_eq!(host.rounds().len(), 2, "{:?}", host.rounds());
    }

    #[test]
    fn a_dry_run_answers_its_plan() {
        let host = registries();
        let mut input = input(vec![]);
        input.policy.dest_namespace = "mirror".into();
        input.dry_run = true;
        input.params = vec![("skip-up-to-date".into(), "false".into())];

        let out = list(&host, input).unwrap();

        let plan: Vec<(Option<String>, PlanAction, String)> = out
            .plan
            .into_iter()
            .map(|p| (p.artifact.tag, p.action, p.reason))
            .collect();
        assert_eq!(
            plan,
            [
                (
                    Some("v1".into()),
                    PlanAction::Skip,
                    format!("the target has it ({D1})")
                ),
                (
                    Some("v2".into()),
                    PlanAction::Copy,
                    "not at the target".into()
                ),
            ]
        );
        // Not skipped: skip-up-to-date is off.
        assert_eq!(out.resources.len(), 2);
    }

    #[test]
    fn a_page_size_of_zero_is_invalid() {
        let mut input = input(vec![]);
        input.params = vec![("page-size".into(), "0".into())];
        let e = list(&FakeHost::new(), input).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                ErrorKind::Invalid,
                "parameter \"page-size\" must be at least 1"
            )
        );
    }
}
