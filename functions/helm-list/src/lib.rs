//! `helm-list`: the listing stage of a classic Helm chart repository (an
//! `index.yaml` and chart `.tgz` files over HTTP) replicated into an OCI
//! registry. Reads the index, selects the chart versions the policy's
//! filters keep (the repository filter on chart names, the tag filter on
//! versions), maps each chart to its target repository, and emits one
//! artifact per version the target lacks: its one blob is the `.tgz`, by
//! the index's URLs and digest (the host streams and verifies it), and its
//! `helm-config` property the chart's metadata, for `helm-push`. A version
//! whose tag the target holds with the same chart archive is left out; one
//! with another archive is replaced only if the policy overrides. In a dry
//! run, answers its plan instead.

mod index;

use std::collections::{HashMap, HashSet};

use ferry_scope::map_repository;
use ferry_sdk::errors::invalid;
use ferry_sdk::registry::{Request, Response};
use ferry_sdk::{
    Artifact, Counts, Descriptor, Digest, ErrorKind, FunctionInfo, Guest, Host, Operation, Output,
    PlanAction, PlanEntry, Role, StageInput, StageOutput, WitError, WitHost,
};
use oci_guest::client::{Registry, check_repository, check_tag};
use oci_guest::filter::{Resource, filters};
use oci_guest::manifest::{ACCEPT, Document, OCI_MANIFEST};
use oci_guest::status::status_error;

pub use oci_guest::helm::{CHART_CONTENT, CONFIG_PROPERTY};
/// Entries per page of the target's tag lists.
const PAGE_SIZE: u64 = 100;

ferry_sdk::params! {
    struct Params {
        /// Path of the chart index, relative to the repository URL (one starting with / is from the server's root).
        index: String = "index.yaml",
    }
}

ferry_sdk::counters! {
    enum Count {
        /// Charts the filters select.
        Charts = "charts",
        /// Their versions the filters select.
        Versions = "versions",
        VersionsToCopy = "versions-to-copy",
        /// At the target with the same chart archive.
        VersionsPresent = "versions-present",
        /// Not copied for another reason (an unusable entry, or other
        /// content at the target that the policy keeps).
        VersionsSkipped = "versions-skipped",
    }
}

struct HelmList;

impl Guest for HelmList {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description: "Lists a classic Helm chart repository's index.yaml and emits the chart versions the policy selects and the target lacks.".into(),
            params: Params::specs(),
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        list(&WitHost, input)
    }
}

/// A selected chart version, and what to do with it.
struct Considered {
    artifact: Artifact,
    /// `chart version` as the index writes them, for messages.
    name: String,
    decision: Decision,
}

enum Decision {
    /// Usable; its fate depends on the target.
    Candidate,
    /// Skipped before asking the target: why.
    Unusable(String),
}

/// What becomes of a considered version.
enum Fate {
    Unusable(String),
    /// Not at the target: to copy.
    Absent,
    /// At the target with the same chart archive.
    Present,
    /// The target's tag holds something else: what.
    Holds(String),
}

/// What the target holds under an artifact's tag.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AtTarget {
    Absent,
    /// A Helm chart whose archive has this digest.
    Chart(String),
    /// Something else: what.
    Other(String),
}

fn list(host: &dyn Host, input: StageInput) -> Result<StageOutput, WitError> {
    let Params { index } = Params::parse(&input.params)?;
    let index = index.trim();
    if index.is_empty() || index.contains("://") {
        return Err(invalid(format!(
            "parameter \"index\" is {index:?}: expected a path relative to the repository URL, e.g. index.yaml"
        )));
    }
    let policy = &input.policy;
    let filters = filters(&policy.filters)?;
    let source = Registry::source(host);
    let target = Registry::target(host);

    host.info(&format!("reading {index} of {}", policy.source.url));
    let body = fetch_index(&source, index)?;
    let charts = index::parse(&body).map_err(|e| {
        invalid(format!(
            "source registry: {index} is not a valid chart index: {e}"
        ))
    })?;

    let mut counts = Counts::new();
    let mut messages = Vec::new();
    let mut considered = Vec::new();
    // Helm charts are OCI artifacts, not images.
    let charts = if filters.resource(Resource::Artifact) {
        charts
    } else {
        messages.push("the policy's resource filter leaves out artifacts, and charts are artifacts: nothing selected".to_owned());
        Vec::new()
    };
    let mut tags_seen: HashMap<(String, String), String> = HashMap::new();
    for chart in charts {
        if !filters.repository(&chart.name) {
            host.debug(&format!("chart {} filtered out", chart.name));
            continue;
        }
        counts.add(Count::Charts, 1);
        let target_repository = map_repository(
            &chart.name,
            &policy.dest_namespace,
            policy.dest_namespace_replace_count,
        )
        .map_err(invalid)?;
        for v in chart.versions {
            let Some(version) = v.version.clone() else {
                counts.add(Count::Versions, 1);
                let artifact = listed(index, &chart.name, &target_repository, None, &v);
                considered.push(Considered {
                    artifact,
                    name: chart.name.clone(),
                    decision: Decision::Unusable("no version in the index".into()),
                });
                continue;
            };
            if !filters.tag(&version) {
                continue;
            }
            counts.add(Count::Versions, 1);
            // What `helm push` does: a tag cannot hold `+`.
            let tag = version.replace('+', "_");
            let artifact = listed(index, &chart.name, &target_repository, Some(&tag), &v);
            let problem = check_repository(&chart.name)
                .err()
                .or_else(|| check_repository(&target_repository).err())
                .or_else(|| check_tag(&tag).err().map(|e| format!("its tag {e}")))
                .or_else(|| match &v.digest {
                    None => Some("no digest in the index: its archive cannot be verified".into()),
                    Some(d) if sha256(d).is_none() => {
                        Some(format!("digest {d:?} in the index is not a sha256 digest"))
                    }
                    Some(_) => None,
                })
                .or_else(|| v.urls.is_empty().then(|| "no urls in the index".to_owned()))
                .or_else(|| {
                    let key = (target_repository.clone(), tag.clone());
                    match tags_seen.get(&key) {
                        Some(other) => Some(format!(
                            "version {other} of the index takes tag {tag} already"
                        )),
                        None => {
                            tags_seen.insert(key, version.clone());
                            None
                        }
                    }
                });
            considered.push(Considered {
                artifact,
                name: format!("{} {version}", chart.name),
                decision: match problem {
                    Some(why) => Decision::Unusable(why),
                    None => Decision::Candidate,
                },
            });
        }
    }

    let at_target = compare(host, &target, &considered)?;
    let mut plan = Vec::new();
    let mut artifacts = Vec::new();
    for (c, found) in considered.into_iter().zip(at_target) {
        let name = c.name;
        let shown = format!(
            "{}:{}",
            c.artifact.target_repository,
            c.artifact.tag.as_deref().unwrap_or_default()
        );
        let wanted = c
            .artifact
            .blobs
            .first()
            .map(|b| b.digest.clone())
            .unwrap_or_default();
        let fate = match (c.decision, found) {
            (Decision::Unusable(why), _) => Fate::Unusable(why),
            (Decision::Candidate, AtTarget::Absent) => Fate::Absent,
            (Decision::Candidate, AtTarget::Chart(d)) if d == wanted => Fate::Present,
            (Decision::Candidate, AtTarget::Chart(d)) => {
                Fate::Holds(format!("the chart archive {d}"))
            }
            (Decision::Candidate, AtTarget::Other(what)) => Fate::Holds(what),
        };
        let (action, reason) = match fate {
            Fate::Unusable(why) => {
                let m = format!("{name}: {why}; skipped");
                host.warn(&m);
                messages.push(m);
                counts.add(Count::VersionsSkipped, 1);
                (PlanAction::Skip, why)
            }
            Fate::Absent => (PlanAction::Copy, "not at the target".to_owned()),
            Fate::Present => {
                host.debug(&format!("{name}: already at the target as {shown}"));
                counts.add(Count::VersionsPresent, 1);
                (
                    PlanAction::Skip,
                    format!("already at the target (chart archive {wanted})"),
                )
            }
            Fate::Holds(held) if policy.override_ => (
                PlanAction::Copy,
                format!("the target's {shown} holds {held}, the index {wanted}: replaced"),
            ),
            Fate::Holds(held) => {
                let why = format!(
                    "the target's {shown} holds {held}, the index {wanted}, and the policy does not override"
                );
                let m = format!("{name}: {why}; skipped");
                host.warn(&m);
                messages.push(m);
                counts.add(Count::VersionsSkipped, 1);
                (PlanAction::Skip, why)
            }
        };
        if action == PlanAction::Copy {
            counts.add(Count::VersionsToCopy, 1);
            if !input.dry_run {
                artifacts.push(c.artifact.clone());
            }
        }
        if input.dry_run {
            plan.push(PlanEntry {
                artifact: c.artifact,
                action,
                reason,
            });
        }
    }

    messages.push(format!(
        "{} chart version(s) to copy of {} selected in {} chart(s): {} already at the target, {} skipped",
        counts.get(Count::VersionsToCopy),
        counts.get(Count::Versions),
        counts.get(Count::Charts),
        counts.get(Count::VersionsPresent),
        counts.get(Count::VersionsSkipped),
    ));
    host.info(messages.last().map_or("", String::as_str));
    Ok(Output::succeeded()
        .resources(artifacts)
        .counts(counts)
        .messages(messages)
        .plan(plan)
        .build())
}

/// GETs the index from the source.
fn fetch_index(source: &Registry<'_>, path: &str) -> Result<Vec<u8>, WitError> {
    let req = Request {
        method: "GET".into(),
        path: path.to_owned(),
        headers: vec![],
        body: None,
    };
    let resp = source.send(req).map_err(|e| {
        if e.kind == ErrorKind::Rejected {
            // What the host answers for a body over its document limit.
            WitError {
                message: format!(
                    "{} (an index larger than the host reads cannot be listed)",
                    e.message
                ),
                ..e
            }
        } else {
            e
        }
    })?;
    match resp.status {
        200 => Ok(resp.body),
        404 => {
            let e = status_error(Role::Source, "GET", path, resp.status, &resp.body);
            Err(WitError {
                message: format!(
                    "{} (is the registry URL the chart repository's, the one `helm repo add` takes?)",
                    e.message
                ),
                ..e
            })
        }
        status => Err(status_error(Role::Source, "GET", path, status, &resp.body)),
    }
}

/// A chart URL of the index at `index` (a path relative to the registry
/// URL) as the host resolves it, against the registry URL: a relative one
/// is relative to the index's directory, as Helm reads it.
fn beside(index: &str, url: &str) -> String {
    if url.contains("://") || url.starts_with('/') {
        return url.to_owned();
    }
    match index.rfind('/') {
        Some(i) => format!("{}{url}", &index[..=i]),
        None => url.to_owned(),
    }
}

/// `sha256:<hex>` of an index digest (bare hex, or already prefixed); `None`
/// when it is not one.
fn sha256(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    Digest::sha256_hex(hex).ok().map(Digest::into_string)
}

/// The artifact of one index entry: its archive by URL and digest, its
/// metadata as the `helm-config` property.
fn listed(
    index: &str,
    chart: &str,
    target_repository: &str,
    tag: Option<&str>,
    v: &index::Version,
) -> Artifact {
    let digest = v
        .digest
        .as_deref()
        .map(|d| sha256(d).unwrap_or_else(|| d.to_owned()));
    Artifact {
        operation: Operation::Copy,
        repository: chart.to_owned(),
        target_repository: target_repository.to_owned(),
        tag: tag.map(str::to_owned),
        digest: None,
        media_type: Some(OCI_MANIFEST.to_owned()),
        manifests: vec![],
        blobs: vec![Descriptor {
            media_type: CHART_CONTENT.to_owned(),
            digest: digest.unwrap_or_default(),
            // Unknown: the host asks the URL.
            size: 0,
            urls: v.urls.iter().map(|u| beside(index, u)).collect(),
        }],
        referrers: vec![],
        // A chart repository has no referrers.
        no_referrers: true,
        properties: vec![(CONFIG_PROPERTY.to_owned(), v.metadata.clone())],
    }
}

/// What the target holds under each candidate's tag (`Absent` for the
/// others): its tag lists, all at once, then the manifests of the tags it
/// has, all at once. A repository the target does not have holds nothing;
/// one whose tags cannot be listed has its candidates' manifests asked.
fn compare(
    host: &dyn Host,
    target: &Registry<'_>,
    considered: &[Considered],
) -> Result<Vec<AtTarget>, WitError> {
    let candidates: Vec<&Artifact> = considered
        .iter()
        .filter(|c| matches!(c.decision, Decision::Candidate))
        .map(|c| &c.artifact)
        .collect();
    let mut repositories: Vec<&str> = candidates
        .iter()
        .map(|a| a.target_repository.as_str())
        .collect();
    repositories.sort_unstable();
    repositories.dedup();
    let mut tags: HashMap<&str, Option<HashSet<String>>> = HashMap::new();
    for (repo, listing) in repositories
        .iter()
        .zip(target.tags_of(&repositories, PAGE_SIZE))
    {
        let listed = match listing {
            Ok(list) => Some(list.into_iter().collect()),
            Err(e) if e.kind == ErrorKind::NotFound => Some(HashSet::new()),
            Err(e) => {
                host.debug(&format!(
                    "target tags of {repo} unknown ({}): asking for each version's manifest",
                    e.message
                ));
                None
            }
        };
        tags.insert(repo, listed);
    }
    let may_hold = |a: &Artifact| {
        let tag = a.tag.as_deref().unwrap_or_default();
        tags.get(a.target_repository.as_str())
            .is_none_or(|t| t.as_ref().is_none_or(|t| t.contains(tag)))
    };
    let asked: Vec<&Artifact> = candidates.into_iter().filter(|a| may_hold(a)).collect();
    let reqs: Vec<Request> = asked
        .iter()
        .map(|a| Request {
            method: "GET".into(),
            path: manifest_path(a),
            headers: vec![("Accept".into(), ACCEPT.into())],
            body: None,
        })
        .collect();
    let answers = if reqs.is_empty() {
        Vec::new()
    } else {
        Registry::send_each(vec![(target, reqs)])
            .pop()
            .unwrap_or_default()
    };
    let mut found: HashMap<(&str, &str), AtTarget> = HashMap::new();
    for (a, answer) in asked.iter().zip(answers) {
        let at = held(&answer?, &manifest_path(a))?;
        found.insert(
            (
                a.target_repository.as_str(),
                a.tag.as_deref().unwrap_or_default(),
            ),
            at,
        );
    }
    Ok(considered
        .iter()
        .map(|c| match c.decision {
            Decision::Candidate => found
                .get(&(
                    c.artifact.target_repository.as_str(),
                    c.artifact.tag.as_deref().unwrap_or_default(),
                ))
                .cloned()
                .unwrap_or(AtTarget::Absent),
            Decision::Unusable(_) => AtTarget::Absent,
        })
        .collect())
}

fn manifest_path(a: &Artifact) -> String {
    format!(
        "/v2/{}/manifests/{}",
        a.target_repository,
        a.tag.as_deref().unwrap_or_default()
    )
}

/// What a manifest GET at the target says it holds.
fn held(resp: &Response, path: &str) -> Result<AtTarget, WitError> {
    match resp.status {
        200 => {}
        404 => return Ok(AtTarget::Absent),
        status => return Err(status_error(Role::Target, "GET", path, status, &resp.body)),
    }
    let layers = serde_json::from_slice::<Document>(&resp.body)
        .ok()
        .and_then(|d| d.layers)
        .unwrap_or_default();
    let charts: Vec<&str> = layers
        .iter()
        .filter(|l| l.media_type == CHART_CONTENT)
        .map(|l| l.digest.as_str())
        .collect();
    Ok(match charts[..] {
        [digest] => AtTarget::Chart(digest.to_owned()),
        _ => AtTarget::Other(format!("{} (not a Helm chart)", resp.digest)),
    })
}

ferry_sdk::export!(HelmList);

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_sdk::fake::input;
    use ferry_sdk::{Decoration, FakeHost, Filter, FilterKind, Status};

    const A1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const A2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    const N1: &str = "3333333333333333333333333333333333333333333333333333333333333333";
    const N2: &str = "4444444444444444444444444444444444444444444444444444444444444444";
    const B1: &str = "5555555555555555555555555555555555555555555555555555555555555555";

    /// An index: alpine 0.2.0 (absolute URL) and 0.1.0 (relative), nginx
    /// 1.1.0+build.1 (a `+`) and 1.0.0 (numbers where Helm has strings),
    /// and busybox 1.0.0.
    fn index() -> String {
        format!(
            r#"apiVersion: v1
entries:
  alpine:
  - apiVersion: v2
    name: alpine
    version: 0.2.0
    appVersion: "3.19"
    description: Alpine
    type: application
    created: "2024-01-01T00:00:00Z"
    digest: {A2}
    urls: [https://cdn.test/alpine-0.2.0.tgz]
  - apiVersion: v2
    name: alpine
    version: 0.1.0
    appVersion: "3.18"
    description: Alpine
    type: application
    created: "2024-01-01T00:00:00Z"
    digest: {A1}
    urls: [charts/alpine-0.1.0.tgz]
  busybox:
  - {{apiVersion: v2, name: busybox, version: 1.0.0, digest: {B1}, urls: [busybox-1.0.0.tgz]}}
  nginx:
  - apiVersion: v2
    name: nginx
    version: 1.1.0+build.1
    appVersion: 1.25
    digest: sha256:{N2}
    urls: [charts/nginx-1.1.0+build.1.tgz]
  - apiVersion: v2
    name: nginx
    version: 1.0
    appVersion: 1.10
    digest: {N1}
    urls: [charts/nginx-1.0.tgz]
generated: "2024-01-01T00:00:00Z"
"#
        )
    }

    fn ok(body: &str) -> Response {
        Response::new(200).with_body(body)
    }

    fn helm_manifest(layer: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:{B1}","size":2}},"layers":[{{"mediaType":"{CHART_CONTENT}","digest":"sha256:{layer}","size":3}}]}}"#
        )
    }

    fn host_with_index() -> FakeHost {
        let host = FakeHost::new();
        host.answer(Role::Source, "GET", "index.yaml", ok(&index()));
        host
    }

    fn filter(kind: FilterKind, pattern: &str, decoration: Decoration) -> Filter {
        Filter {
            kind,
            pattern: pattern.into(),
            decoration,
        }
    }

    fn chart(
        name: &str,
        target: &str,
        tag: &str,
        digest: &str,
        url: &str,
        config: &str,
    ) -> Artifact {
        Artifact {
            operation: Operation::Copy,
            repository: name.into(),
            target_repository: target.into(),
            tag: Some(tag.into()),
            digest: None,
            media_type: Some(OCI_MANIFEST.into()),
            manifests: vec![],
            blobs: vec![Descriptor {
                media_type: CHART_CONTENT.into(),
                digest: format!("sha256:{digest}"),
                size: 0,
                urls: vec![url.into()],
            }],
            referrers: vec![],
            no_referrers: true,
            properties: vec![(CONFIG_PROPERTY.into(), config.into())],
        }
    }

    fn alpine_020(target: &str) -> Artifact {
        chart(
            "alpine",
            target,
            "0.2.0",
            A2,
            "https://cdn.test/alpine-0.2.0.tgz",
            r#"{"apiVersion":"v2","appVersion":"3.19","description":"Alpine","name":"alpine","type":"application","version":"0.2.0"}"#,
        )
    }

    fn alpine_010(target: &str) -> Artifact {
        chart(
            "alpine",
            target,
            "0.1.0",
            A1,
            "charts/alpine-0.1.0.tgz",
            r#"{"apiVersion":"v2","appVersion":"3.18","description":"Alpine","name":"alpine","type":"application","version":"0.1.0"}"#,
        )
    }

    fn nginx_110(target: &str) -> Artifact {
        chart(
            "nginx",
            target,
            "1.1.0_build.1",
            N2,
            "charts/nginx-1.1.0+build.1.tgz",
            r#"{"apiVersion":"v2","appVersion":"1.25","name":"nginx","version":"1.1.0+build.1"}"#,
        )
    }

    fn nginx_10(target: &str) -> Artifact {
        chart(
            "nginx",
            target,
            "1.0",
            N1,
            "charts/nginx-1.0.tgz",
            r#"{"apiVersion":"v2","appVersion":"1.10","name":"nginx","version":"1.0"}"#,
        )
    }

    fn counts(c: [u64; 5]) -> Vec<(String, u64)> {
        [
            "charts",
            "versions",
            "versions-to-copy",
            "versions-present",
            "versions-skipped",
        ]
        .into_iter()
        .map(str::to_owned)
        .zip(c)
        .collect()
    }

    #[test]
    fn lists_what_the_filters_select_under_the_namespace() {
        let host = host_with_index();
        let mut input = input(vec![]);
        input.policy.dest_namespace = "charts".into();
        input.policy.filters = vec![
            filter(
                FilterKind::Repository,
                "{alpine,nginx}",
                Decoration::Matches,
            ),
            filter(FilterKind::Tag, "0.1.*", Decoration::Excludes),
        ];

        let out = list(&host, input).unwrap();

        assert_eq!(
            out,
            StageOutput {
                resources: vec![
                    alpine_020("charts/alpine"),
                    nginx_110("charts/nginx"),
                    nginx_10("charts/nginx"),
                ],
                status: Status::Succeeded,
                counts: counts([2, 3, 3, 0, 0]),
                bytes: 0,
                messages: vec![
                    "3 chart version(s) to copy of 3 selected in 2 chart(s): 0 already at the target, 0 skipped".into()
                ],
                plan: vec![],
            }
        );
        // The target knows neither repository (404): no manifest is asked.
        assert_eq!(
            host.requests(),
            [
                "source GET index.yaml",
                "target GET /v2/charts/alpine/tags/list?n=100",
                "target GET /v2/charts/nginx/tags/list?n=100",
            ]
        );
    }

    #[test]
    fn skips_unusable_entries_with_a_warning() {
        let host = FakeHost::new();
        let index = format!(
            r#"apiVersion: v1
entries:
  Upper:
  - {{name: Upper, version: 1.0.0, digest: {A1}, urls: [u.tgz]}}
  app:
  - {{name: app, version: 1.0.0, urls: [a.tgz]}}
  - {{name: app, version: 1.1.0, digest: {A1}}}
  - {{name: app, version: 1.2.0, digest: nope, urls: [a.tgz]}}
  - {{name: app, version: 1.3.0/x, digest: {A1}, urls: [a.tgz]}}
  - {{name: app, digest: {A1}, urls: [a.tgz]}}
  - {{name: app, version: 2.0.0+1, digest: {A2}, urls: [a2.tgz]}}
  - {{name: app, version: 2.0.0_1, digest: {A2}, urls: [a2.tgz]}}
"#
        );
        host.answer(Role::Source, "GET", "/charts/index.yaml", ok(&index));
        let mut input = input(vec![]);
        input.params = vec![("index".into(), "/charts/index.yaml".into())];

        let out = list(&host, input).unwrap();

        assert_eq!(out.resources.len(), 1);
        assert_eq!(out.resources[0].tag.as_deref(), Some("2.0.0_1"));
        // Relative to the index, as the host resolves it.
        assert_eq!(out.resources[0].blobs[0].urls, ["/charts/a2.tgz"]);
        assert_eq!(out.counts, counts([2, 8, 1, 0, 7]));
        let warnings = [
            r#"Upper 1.0.0: "Upper" is not a valid repository name; skipped"#,
            "app 1.0.0: no digest in the index: its archive cannot be verified; skipped",
            "app 1.1.0: no urls in the index; skipped",
            r#"app 1.2.0: digest "nope" in the index is not a sha256 digest; skipped"#,
            r#"app 1.3.0/x: its tag "1.3.0/x" is not a valid tag; skipped"#,
            "app: no version in the index; skipped",
            "app 2.0.0_1: version 2.0.0+1 of the index takes tag 2.0.0_1 already; skipped",
        ];
        let mut messages: Vec<String> = warnings.iter().map(|w| (*w).to_owned()).collect();
        messages.push(
            "1 chart version(s) to copy of 8 selected in 2 chart(s): 0 already at the target, 7 skipped"
                .into(),
        );
        assert_eq!(out.messages, messages);
        let logged: Vec<(ferry_sdk::host::Level, String)> = host
            .logs()
            .into_iter()
            .filter(|(l, _)| *l == ferry_sdk::host::Level::Warn)
            .collect();
        assert_eq!(
            logged,
            warnings
                .iter()
                .map(|w| (ferry_sdk::host::Level::Warn, (*w).to_owned()))
                .collect::<Vec<_>>()
        );
    }

    /// The target has alpine 0.2.0 as the index has it, alpine 0.1.0 with
    /// another archive, and nginx 1.0 as something else than a chart.
    fn rerun_host() -> FakeHost {
        let host = host_with_index();
        host.answer(
            Role::Target,
            "GET",
            "/v2/alpine/tags/list?n=100",
            ok(r#"{"name":"alpine","tags":["0.2.0","0.1.0","9.9.9"]}"#),
        )
        .answer(
            Role::Target,
            "GET",
            "/v2/nginx/tags/list?n=100",
            ok(r#"{"name":"nginx","tags":["1.0"]}"#),
        )
        .answer(
            Role::Target,
            "GET",
            "/v2/alpine/manifests/0.2.0",
            ok(&helm_manifest(A2)),
        )
        .answer(
            Role::Target,
            "GET",
            "/v2/alpine/manifests/0.1.0",
            ok(&helm_manifest(N2)),
        )
        .answer(
            Role::Target,
            "GET",
            "/v2/nginx/manifests/1.0",
            ok(r#"{"schemaVersion":2,"manifests":[]}"#),
        );
        host
    }

    fn without_busybox() -> StageInput {
        let mut input = input(vec![]);
        input.policy.filters = vec![filter(
            FilterKind::Repository,
            "busybox",
            Decoration::Excludes,
        )];
        input
    }

    #[test]
    fn a_rerun_skips_what_the_target_has_and_keeps_other_content() {
        let host = rerun_host();
        let out = list(&host, without_busybox()).unwrap();
        let nginx_index = ferry_sdk::fake::sha256(br#"{"schemaVersion":2,"manifests":[]}"#);
        assert_eq!(out.resources, [nginx_110("nginx")]);
        assert_eq!(out.counts, counts([2, 4, 1, 1, 2]));
        assert_eq!(
            out.messages,
            [
                format!(
                    "alpine 0.1.0: the target's alpine:0.1.0 holds the chart archive sha256:{N2}, the index sha256:{A1}, and the policy does not override; skipped"
                ),
                format!(
                    "nginx 1.0: the target's nginx:1.0 holds {nginx_index} (not a Helm chart), the index sha256:{N1}, and the policy does not override; skipped"
                ),
                "1 chart version(s) to copy of 4 selected in 2 chart(s): 1 already at the target, 2 skipped".into(),
            ]
        );
        assert_eq!(
            host.requests(),
            [
                "source GET index.yaml",
                "target GET /v2/alpine/tags/list?n=100",
                "target GET /v2/nginx/tags/list?n=100",
                "target GET /v2/alpine/manifests/0.2.0",
                "target GET /v2/alpine/manifests/0.1.0",
                "target GET /v2/nginx/manifests/1.0",
            ]
        );
        // Manifests are asked for as the OCI accept header says.
        let (_, get) = host.sent()[3].clone();
        assert_eq!(get.headers, [("Accept".to_owned(), ACCEPT.to_owned())]);
    }

    #[test]
    fn override_replaces_other_content() {
        let host = rerun_host();
        let mut input = without_busybox();
        input.policy.override_ = true;
        let out = list(&host, input).unwrap();
        assert_eq!(
            out.resources,
            [alpine_010("alpine"), nginx_110("nginx"), nginx_10("nginx")]
        );
        assert_eq!(out.counts, counts([2, 4, 3, 1, 0]));
        assert_eq!(
            out.messages,
            [
                "3 chart version(s) to copy of 4 selected in 2 chart(s): 1 already at the target, 0 skipped"
            ]
        );
    }

    #[test]
    fn a_dry_run_answers_its_plan_and_nothing_else() {
        let host = rerun_host();
        let mut input = without_busybox();
        input.dry_run = true;
        let out = list(&host, input).unwrap();
        assert_eq!(out.resources, []);
        assert_eq!(out.counts, counts([2, 4, 1, 1, 2]));
        let plan: Vec<(Artifact, PlanAction, String)> = out
            .plan
            .into_iter()
            .map(|p| (p.artifact, p.action, p.reason))
            .collect();
        let nginx_index = ferry_sdk::fake::sha256(br#"{"schemaVersion":2,"manifests":[]}"#);
        assert_eq!(
            plan,
            [
                (
                    alpine_020("alpine"),
                    PlanAction::Skip,
                    format!("already at the target (chart archive sha256:{A2})")
                ),
                (
                    alpine_010("alpine"),
                    PlanAction::Skip,
                    format!(
                        "the target's alpine:0.1.0 holds the chart archive sha256:{N2}, the index sha256:{A1}, and the policy does not override"
                    )
                ),
                (
                    nginx_110("nginx"),
                    PlanAction::Copy,
                    "not at the target".into()
                ),
                (
                    nginx_10("nginx"),
                    PlanAction::Skip,
                    format!(
                        "the target's nginx:1.0 holds {nginx_index} (not a Helm chart), the index sha256:{N1}, and the policy does not override"
                    )
                ),
            ]
        );
        // Only reads.
        assert!(host.requests().iter().all(|r| r.contains(" GET ")));
    }

    #[test]
    fn an_unlisted_target_repository_is_asked_manifest_by_manifest() {
        let host = host_with_index();
        host.answer(
            Role::Target,
            "GET",
            "/v2/busybox/tags/list?n=100",
            Response::new(403),
        )
        .answer(
            Role::Target,
            "GET",
            "/v2/busybox/manifests/1.0.0",
            ok(&helm_manifest(B1)),
        );
        let mut input = input(vec![]);
        input.policy.filters = vec![filter(
            FilterKind::Repository,
            "busybox",
            Decoration::Matches,
        )];
        let out = list(&host, input).unwrap();
        assert_eq!(out.resources, []);
        assert_eq!(out.counts, counts([1, 1, 0, 1, 0]));
    }

    #[test]
    fn an_unauthorized_index_fails_the_listing() {
        let host = FakeHost::new();
        host.answer(Role::Source, "GET", "index.yaml", Response::new(401));
        let e = list(&host, input(vec![])).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str(), e.retryable),
            (
                ErrorKind::Unauthorized,
                "source registry: GET index.yaml answered 401 (the source registry refused the credentials: check the credentials of the source registry)",
                false
            )
        );
        assert_eq!(host.requests(), ["source GET index.yaml"]);
    }

    #[test]
    fn a_missing_or_malformed_index_says_so() {
        let host = FakeHost::new();
        let e = list(&host, input(vec![])).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                ErrorKind::NotFound,
                "source registry: GET index.yaml answered 404 (is the registry URL the chart repository's, the one `helm repo add` takes?)"
            )
        );
        host.answer(Role::Source, "GET", "index.yaml", ok("<html></html>"));
        let e = list(&host, input(vec![])).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(
            e.message
                .starts_with("source registry: index.yaml is not a valid chart index: "),
            "{}",
            e.message
        );
        let too_big = ferry_sdk::errors::rejected("source GET index.yaml: body over 8 MiB");
        let host = FakeHost::new();
        host.fail(Role::Source, "GET", "index.yaml", too_big);
        let e = list(&host, input(vec![])).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                ErrorKind::Rejected,
                "source registry: GET index.yaml: source GET index.yaml: body over 8 MiB (an index larger than the host reads cannot be listed)"
            )
        );
    }

    #[test]
    fn artifacts_excluded_by_the_resource_filter_select_nothing() {
        let host = host_with_index();
        let mut input = input(vec![]);
        input.policy.filters = vec![filter(FilterKind::Resource, "image", Decoration::Matches)];
        let out = list(&host, input).unwrap();
        assert_eq!(out.resources, []);
        assert_eq!(out.counts, counts([0, 0, 0, 0, 0]));
        assert_eq!(host.requests(), ["source GET index.yaml"]);
    }

    #[test]
    fn chart_urls_are_relative_to_the_index() {
        assert_eq!(beside("index.yaml", "charts/a.tgz"), "charts/a.tgz");
        assert_eq!(beside("sub/index.yaml", "charts/a.tgz"), "sub/charts/a.tgz");
        assert_eq!(beside("sub/index.yaml", "../a.tgz"), "sub/../a.tgz");
        assert_eq!(beside("/x/index.yaml", "a.tgz"), "/x/a.tgz");
        assert_eq!(beside("sub/index.yaml", "/a.tgz"), "/a.tgz");
        assert_eq!(
            beside("sub/index.yaml", "https://cdn.test/a.tgz"),
            "https://cdn.test/a.tgz"
        );
    }

    #[test]
    fn a_bad_index_parameter_is_invalid() {
        let mut input = input(vec![]);
        input.params = vec![("index".into(), "https://x/index.yaml".into())];
        let e = list(&FakeHost::new(), input).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
    }
}
