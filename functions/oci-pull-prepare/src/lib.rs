//! `oci-pull-prepare`: lists the source registry (catalog, then tags) and
//! emits one artifact per (repository, tag) that passes the policy's filters,
//! with its target repository mapped. Checks both registries first, and
//! leaves out artifacts the target already has as they are (the fast no-op:
//! manifest HEADs only, see `oci_guest::uptodate`).

use std::collections::{HashMap, HashSet};

use oci_guest::client::{Registry, check_repository, check_tag};
use oci_guest::errors::{context, invalid};
use oci_guest::filter::Filters;
use oci_guest::manifest::is_fallback_tag;
use oci_guest::namespace::map_repository;
use oci_guest::params::{Counts, Params, output};
use oci_guest::referrers::{ReferrersApi, mark_without_referrers};
use oci_guest::uptodate::{TargetTags, up_to_date};
use oci_guest::{
    Artifact, FunctionInfo, Guest, StageInput, StageOutput, Status, WitError, log, param,
};

struct PullPrepare;

impl Guest for PullPrepare {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description: "Lists the source registry's repositories and tags and emits the artifacts the policy's filters select.".into(),
            params: vec![
                param(
                    "page-size",
                    "Entries per page when listing the catalog and tags (the n query parameter).",
                    false,
                    Some("100"),
                ),
                param(
                    "skip-up-to-date",
                    "Leave out artifacts whose tag has the same digest at the target and no referrers at the source (found with manifest HEADs only).",
                    false,
                    Some("true"),
                ),
            ],
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        let params = Params::new(&input.params);
        let page_size = params.u64("page-size", 100)?;
        let skip_up_to_date = params.bool("skip-up-to-date", true)?;
        if page_size == 0 {
            return Err(invalid("parameter \"page-size\" must be at least 1"));
        }
        let policy = &input.policy;
        let filters = Filters::new(&policy.filters)?;
        let source = Registry::source();
        let target = Registry::target();

        log::info(format!(
            "listing {} (page size {page_size})",
            policy.source.url
        ));
        let repositories = Registry::ping_both_and_catalog(&source, &target, page_size)?
            .map_err(|e| context(e, "listing the source repositories"))?;

        let mut counts = Counts::new(&["repositories", "tags", "artifacts", "up-to-date"]);
        let mut messages = Vec::new();
        let mut artifacts = Vec::new();
        let mut all_tags: HashMap<String, HashSet<String>> = HashMap::new();
        let mut selected_repos = Vec::new();
        for repository in repositories {
            if let Err(e) = check_repository(&repository) {
                log::warn(format!("skipping a catalog entry: {e}"));
                continue;
            }
            if !filters.repository(&repository) {
                log::debug(format!("repository {repository} filtered out"));
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
        // Every repository's tags at once, and, for the up-to-date check, the
        // target's tags of the repositories they map to, alongside.
        let names: Vec<&str> = selected_repos.iter().map(|(r, _)| r.as_str()).collect();
        let mut target_names: Vec<&str> = Vec::new();
        if skip_up_to_date {
            target_names = selected_repos.iter().map(|(_, t)| t.as_str()).collect();
            target_names.sort_unstable();
            target_names.dedup();
        }
        let mut lists =
            Registry::tags_everywhere(&[(&source, &names), (&target, &target_names)], page_size)
                .into_iter();
        let (listings, target_listings) = (
            lists.next().unwrap_or_default(),
            lists.next().unwrap_or_default(),
        );
        let target_tags = TargetTags::new(&target_names, target_listings);
        for ((repository, target_repository), listing) in selected_repos.iter().zip(listings) {
            counts.add("repositories", 1);
            let tags = match listing {
                Ok(tags) => tags,
                // Deleted between the catalog and now: nothing to replicate.
                Err(e) if e.kind == oci_guest::ErrorKind::NotFound => {
                    log::warn(format!(
                        "repository {repository} vanished while listing: {}",
                        e.message
                    ));
                    messages.push(format!("repository {repository} vanished while listing"));
                    continue;
                }
                Err(e) => return Err(context(e, format!("listing the tags of {repository}"))),
            };
            let mut selected = 0;
            for tag in &tags {
                counts.add("tags", 1);
                if is_fallback_tag(tag) {
                    // Replicated as the referrers of its subject.
                    continue;
                }
                if let Err(e) = check_tag(tag) {
                    log::warn(format!("skipping a tag of {repository}: {e}"));
                    continue;
                }
                if !filters.tag(tag) {
                    continue;
                }
                selected += 1;
                artifacts.push(Artifact {
                    repository: repository.clone(),
                    target_repository: target_repository.clone(),
                    tag: Some(tag.clone()),
                    digest: None,
                    media_type: None,
                    manifests: vec![],
                    blobs: vec![],
                    referrers: vec![],
                    no_referrers: false,
                });
            }
            all_tags.insert(repository.clone(), tags.into_iter().collect());
            log::info(format!(
                "{repository} -> {target_repository}: {selected} tag(s) selected"
            ));
        }

        let mut referrers_api = ReferrersApi::default();
        if skip_up_to_date && !artifacts.is_empty() {
            let current = up_to_date(
                &source,
                &target,
                &artifacts,
                &all_tags,
                &target_tags,
                &mut referrers_api,
            );
            let before = artifacts.len();
            let mut flags = current.into_iter();
            artifacts.retain(|a| {
                let skip = flags.next().unwrap_or(false);
                if skip {
                    log::debug(format!(
                        "{}:{} is up to date at the target",
                        a.target_repository,
                        a.tag.as_deref().unwrap_or_default()
                    ));
                }
                !skip
            });
            let skipped = (before - artifacts.len()) as u64;
            counts.add("up-to-date", skipped);
            if skipped > 0 {
                messages.push(format!(
                    "{skipped} artifact(s) already up to date at the target"
                ));
            }
        }
        mark_without_referrers(&source, &mut referrers_api, &mut artifacts, &all_tags);
        counts.add("artifacts", artifacts.len() as u64);
        messages.push(format!(
            "{} artifact(s) to replicate from {} repositories",
            artifacts.len(),
            counts.get("repositories")
        ));
        log::info(messages.last().cloned().unwrap_or_default());
        Ok(output(artifacts, Status::Succeeded, counts, 0, messages))
    }
}

oci_guest::export!(PullPrepare);
