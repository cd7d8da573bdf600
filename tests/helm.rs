//! A classic Helm chart repository (`index.yaml` and `.tgz` files over
//! HTTP) replicated into a real OCI registry by a real `ferry serve`, with
//! the `helm-to-oci` template and its functions (helm-list, helm-push)
//! uploaded as an adapter is: they are not built in.

use std::time::Duration;

use ferry_harness::*;
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const TEMPLATE: &str = include_str!("../templates/helm-to-oci.yaml");

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const CHART_CONTENT: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// Uploads the adapter: its two functions, then its template.
async fn install(s: &Server) {
    s.upload_extra("helm-list@0.4.0").await;
    s.upload_extra("helm-push@0.4.0").await;
    let (status, v) = s
        .call(
            Method::POST,
            "/api/v1/templates",
            Some(Body::Yaml(TEMPLATE.into())),
        )
        .await;
    assert_eq!(status, 201, "{v}");
}

/// Registers the chart repository as a registry of kind `helm`.
async fn chart_registry(s: &Server, name: &str, repo: &ChartRepo) -> (u16, Value) {
    let mut body = json!({"name": name, "type": "helm", "url": repo.url(), "insecure": true});
    if let Some((u, p)) = repo.credentials() {
        body["credential"] = json!({"type": "basic", "access_key": u, "access_secret": p});
    }
    s.post_json("/api/v1/registries", body).await
}

/// Runs the policy (a dry run if asked) and waits for the end.
async fn run(s: &Server, policy: i64, dry_run: bool) -> Value {
    let (status, v) = s
        .post_json(
            &format!("/api/v1/policies/{policy}/executions"),
            json!({"dry_run": dry_run}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    s.wait_execution(id, Duration::from_secs(120)).await
}

async fn tasks(s: &Server, execution: &Value) -> Vec<Value> {
    let id = execution["id"].as_i64().unwrap();
    let tasks = s.get(&format!("/api/v1/executions/{id}/tasks")).await;
    tasks.as_array().unwrap().clone()
}

/// `(total, succeed, failed)` of an execution.
fn totals(e: &Value) -> (i64, i64, i64) {
    (
        e["total"].as_i64().unwrap(),
        e["succeed"].as_i64().unwrap(),
        e["failed"].as_i64().unwrap(),
    )
}

/// The listing stage's counters.
fn list_counts(e: &Value) -> Value {
    assert_eq!(e["stages"][0]["stage"], "list", "{e}");
    e["stages"][0]["counts"].clone()
}

fn counts(charts: u64, versions: u64, copy: u64, present: u64, skipped: u64) -> Value {
    json!({"charts": charts, "versions": versions, "versions-to-copy": copy,
           "versions-present": present, "versions-skipped": skipped})
}

async fn sorted_tags(dst: &Registry, repo: &str) -> Vec<String> {
    let mut t = tags(dst, repo).await.unwrap();
    t.sort();
    t
}

/// `repo:tag` at the target is `chart` as `helm push` stores it: an OCI
/// manifest whose one layer is the archive (the index's digest and size)
/// and whose config is the chart's metadata. Answers the manifest's digest.
async fn assert_chart(dst: &Registry, repo: &str, tag: &str, chart: &Chart) -> String {
    let client = dst.client();
    let mut accept = HeaderMap::new();
    accept.insert(ACCEPT, HeaderValue::from_static(OCI_MANIFEST));
    let path = format!("/v2/{repo}/manifests/{tag}");
    let resp = client.send(Method::GET, &path, accept, None).await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    assert_eq!(resp.headers()[CONTENT_TYPE], OCI_MANIFEST, "{path}");
    let body = resp.bytes().await.unwrap();
    let m: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(m["schemaVersion"], 2, "{m}");
    assert_eq!(m["mediaType"], OCI_MANIFEST, "{m}");
    assert_eq!(m["config"]["mediaType"], HELM_CONFIG, "{m}");
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{m}");
    assert_eq!(layers[0]["mediaType"], CHART_CONTENT, "{m}");
    assert_eq!(layers[0]["digest"], chart.digest.as_str(), "{m}");
    assert_eq!(layers[0]["size"], chart.size, "{m}");
    assert_eq!(
        m["annotations"],
        json!({
            "org.opencontainers.image.title": chart.name,
            "org.opencontainers.image.version": chart.version,
            "org.opencontainers.image.description": chart.metadata["description"],
        }),
        "{m}"
    );
    let config_digest = m["config"]["digest"].as_str().unwrap();
    let config = client.get_blob(repo, config_digest).await.unwrap();
    assert_eq!(sha256_digest(&config), config_digest);
    assert_eq!(m["config"]["size"], config.len(), "{m}");
    let config: Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(config, chart.metadata, "{repo}:{tag}");
    assert_eq!(
        fetch_blob_digest(dst, repo, &chart.digest).await.unwrap(),
        chart.digest
    );
    sha256_digest(&body)
}

#[tokio::test]
async fn charts_replicate_as_oci_artifacts_with_filters_and_a_corrupt_archive() {
    let repo = ChartRepo::start(
        RepoSpec::new()
            .prefix("stable")
            .chart("alpine", "0.2.0", UrlStyle::Absolute)
            .chart("alpine", "0.1.0", UrlStyle::Relative)
            .chart("nginx", "1.2.0+build.5", UrlStyle::Relative)
            .chart("nginx", "1.1.0", UrlStyle::Absolute)
            .chart("nginx", "1.0.0", UrlStyle::Relative)
            .chart("redis", "7.0.0", UrlStyle::Relative),
    )
    .await
    .unwrap();
    repo.corrupt("nginx", "1.0.0");
    let dst = Registry::start(Auth::None);
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let target = s.add_registry("oci", &dst).await;

    // The kind exists once its template is installed, not before.
    let (status, v) = chart_registry(&s, "stable", &repo).await;
    assert_eq!(status, 400, "{v}");
    let message = v["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("no installed template serves registries of kind \"helm\""),
        "{v}"
    );
    install(&s).await;
    let (status, v) = chart_registry(&s, "stable", &repo).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["type"], "helm");
    let source = v["id"].as_i64().unwrap();

    let pid = s
        .add_policy(json!({
            "name": "stable", "src_registry": {"id": source}, "dest_registry": {"id": target},
            "template": "helm-to-oci", "dest_namespace": "charts",
            "filters": [{"type": "name", "value": "{alpine,nginx}"},
                        {"type": "tag", "value": "0.1.*", "decoration": "excludes"}],
        }))
        .await;

    // alpine 0.2.0 (an absolute URL), nginx 1.2.0+build.5 and 1.1.0 land;
    // nginx 1.0.0, whose archive is not the index's, fails alone.
    let done = run(&s, pid, false).await;
    assert_eq!(done["status"], "failed", "{done}\n{}", s.log());
    assert_eq!(totals(&done), (4, 3, 1), "{done}");
    assert_eq!(done["status_text"], "1 of 4 artifact(s) failed");
    assert_eq!(list_counts(&done), counts(2, 4, 4, 0, 0), "{done}");
    let mut seen = Vec::new();
    for t in tasks(&s, &done).await {
        let (repository, tag) = (
            t["repository"].as_str().unwrap(),
            t["tag"].as_str().unwrap(),
        );
        seen.push(format!("{repository}:{tag} -> {}", t["target_repository"]));
        if (repository, tag) == ("nginx", "1.0.0") {
            assert_eq!(t["status"], "failed", "{t}");
            let error = t["error"].as_str().unwrap();
            assert!(error.contains("digest mismatch"), "{t}");
            assert!(error.contains(&repo.chart("nginx", "1.0.0").digest), "{t}");
        } else {
            assert_eq!(t["status"], "succeeded", "{t}");
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "alpine:0.2.0 -> \"charts/alpine\"",
            "nginx:1.0.0 -> \"charts/nginx\"",
            "nginx:1.1.0 -> \"charts/nginx\"",
            "nginx:1.2.0_build.5 -> \"charts/nginx\"",
        ]
    );
    let mut pushed = Vec::new();
    for (name, version, tag) in [
        ("alpine", "0.2.0", "0.2.0"),
        ("nginx", "1.2.0+build.5", "1.2.0_build.5"),
        ("nginx", "1.1.0", "1.1.0"),
    ] {
        let repository = format!("charts/{name}");
        let digest = assert_chart(&dst, &repository, tag, repo.chart(name, version)).await;
        pushed.push((repository, tag, digest));
    }
    for t in tasks(&s, &done).await {
        let Some((repository, tag, digest)) = pushed
            .iter()
            .find(|(r, tag, _)| t["target_repository"] == r.as_str() && t["tag"] == *tag)
        else {
            continue;
        };
        let push = &t["stages"][0];
        assert_eq!(push["stage"], "push", "{t}");
        assert_eq!(
            push["messages"],
            json!([format!("pushed {repository}:{tag} ({digest})")]),
            "{t}"
        );
        assert_eq!(push["counts"]["charts-pushed"], 1, "{t}");
    }
    assert_eq!(sorted_tags(&dst, "charts/alpine").await, ["0.2.0"]);
    assert_eq!(
        sorted_tags(&dst, "charts/nginx").await,
        ["1.1.0", "1.2.0_build.5"]
    );
    assert_eq!(
        sorted_tags(&dst, "charts/redis").await,
        Vec::<String>::new()
    );
    // What the filters leave out is never fetched.
    assert_eq!(repo.hits("charts/redis-7.0.0.tgz"), 0);
    assert_eq!(repo.hits("charts/alpine-0.1.0.tgz"), 0);

    // A dry run answers the plan, and fetches and writes nothing.
    let archives = repo.archive_hits();
    let mark = dst.log_mark();
    let dry = run(&s, pid, true).await;
    assert_eq!(dry["status"], "succeeded", "{dry}");
    assert_eq!(
        dry["status_text"],
        "dry run: 1 to copy, 3 to skip, 0 to delete"
    );
    let plan: Vec<(String, String, String, String)> = dry["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (s("target_repository"), s("tag"), s("action"), s("reason"))
        })
        .collect();
    let skip = |repository: &str, tag: &str, name: &str, version: &str| {
        (
            repository.to_owned(),
            tag.to_owned(),
            "skip".to_owned(),
            format!(
                "already at the target (chart archive {})",
                repo.chart(name, version).digest
            ),
        )
    };
    assert_eq!(
        plan,
        [
            skip("charts/alpine", "0.2.0", "alpine", "0.2.0"),
            skip("charts/nginx", "1.2.0_build.5", "nginx", "1.2.0+build.5"),
            skip("charts/nginx", "1.1.0", "nginx", "1.1.0"),
            (
                "charts/nginx".to_owned(),
                "1.0.0".to_owned(),
                "copy".to_owned(),
                "not at the target".to_owned()
            ),
        ]
    );
    assert_eq!(list_counts(&dry), counts(2, 4, 1, 3, 0), "{dry}");
    assert_eq!(tasks(&s, &dry).await, Vec::<Value>::new());
    assert_eq!(repo.archive_hits(), archives);
    let writes: Vec<_> = dst
        .requests_since(mark)
        .into_iter()
        .filter(|(m, _, _)| !matches!(m.as_str(), "GET" | "HEAD"))
        .collect();
    assert_eq!(writes, []);
}

#[tokio::test]
async fn a_private_repository_replicates_once_and_a_rerun_moves_nothing() {
    let mut repo = ChartRepo::start(
        RepoSpec::new()
            .basic_auth("helm", "s3cret")
            .chart("busybox", "1.1.0", UrlStyle::Absolute)
            .chart("busybox", "1.0.0", UrlStyle::Relative),
    )
    .await
    .unwrap();
    let dst = Registry::start(Auth::None);
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let target = s.add_registry("oci", &dst).await;
    install(&s).await;
    let (status, v) = chart_registry(&s, "private", &repo).await;
    assert_eq!(status, 201, "{v}");
    let source = v["id"].as_i64().unwrap();
    let pid = s
        .add_policy(json!({"name": "private", "src_registry": {"id": source},
               "dest_registry": {"id": target}, "template": "helm-to-oci"}))
        .await;

    let done = run(&s, pid, false).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", s.log());
    assert_eq!(totals(&done), (2, 2, 0), "{done}");
    assert_eq!(done["status_text"], "2 artifact(s) replicated");
    assert_eq!(list_counts(&done), counts(1, 2, 2, 0, 0), "{done}");
    let sizes = repo.chart("busybox", "1.0.0").size + repo.chart("busybox", "1.1.0").size;
    assert_eq!(done["bytes"], sizes, "{done}");
    for version in ["1.0.0", "1.1.0"] {
        assert_chart(&dst, "busybox", version, repo.chart("busybox", version)).await;
    }

    // Again: nothing moves, no archive is fetched.
    let archives = repo.archive_hits();
    let index = repo.hits("index.yaml");
    let again = run(&s, pid, false).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(totals(&again), (0, 0, 0), "{again}");
    assert_eq!(again["status_text"], "0 artifact(s) replicated");
    assert_eq!(again["bytes"], 0, "{again}");
    assert_eq!(list_counts(&again), counts(1, 2, 0, 2, 0), "{again}");
    assert_eq!(
        again["stages"][0]["messages"],
        json!([
            "0 chart version(s) to copy of 2 selected in 1 chart(s): 2 already at the target, 0 skipped"
        ])
    );
    assert_eq!(repo.archive_hits(), archives);
    assert_eq!(repo.hits("index.yaml"), index + 1);

    // A new release: only it moves.
    repo.publish("busybox", "1.2.0", UrlStyle::Relative);
    let next = run(&s, pid, false).await;
    assert_eq!(next["status"], "succeeded", "{next}");
    assert_eq!(totals(&next), (1, 1, 0), "{next}");
    assert_eq!(list_counts(&next), counts(1, 3, 1, 2, 0), "{next}");
    assert_eq!(next["bytes"], repo.chart("busybox", "1.2.0").size, "{next}");
    assert_chart(&dst, "busybox", "1.2.0", repo.chart("busybox", "1.2.0")).await;
    assert!(repo.hits("charts/busybox-1.2.0.tgz") >= 1);
    assert_eq!(
        repo.archive_hits() - archives,
        repo.hits("charts/busybox-1.2.0.tgz")
    );
    assert_eq!(
        sorted_tags(&dst, "busybox").await,
        ["1.0.0", "1.1.0", "1.2.0"]
    );
}

/// An index on one host whose archives live on another (a CDN): the
/// archives are fetched there, and the repository's credentials go only to
/// its own origin, as `helm` sends them by default.
#[tokio::test]
async fn archives_on_another_origin_are_fetched_without_the_credentials() {
    let cdn = ChartRepo::start(RepoSpec::new().chart("redis", "7.0.0", UrlStyle::Relative))
        .await
        .unwrap();
    let repo = ChartRepo::start(RepoSpec::new().basic_auth("helm", "s3cret").chart(
        "redis",
        "7.0.0",
        UrlStyle::At(cdn.url().to_string()),
    ))
    .await
    .unwrap();
    let dst = Registry::start(Auth::None);
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let target = s.add_registry("oci", &dst).await;
    install(&s).await;
    let (status, v) = chart_registry(&s, "private", &repo).await;
    assert_eq!(status, 201, "{v}");
    let pid = s
        .add_policy(json!({"name": "cdn", "src_registry": {"id": v["id"]},
               "dest_registry": {"id": target}, "template": "helm-to-oci"}))
        .await;

    let done = run(&s, pid, false).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", s.log());
    assert_eq!(totals(&done), (1, 1, 0), "{done}");
    assert_chart(&dst, "redis", "7.0.0", cdn.chart("redis", "7.0.0")).await;
    // The size (HEAD), then the bytes (GET), from the other origin.
    assert_eq!(cdn.hits("charts/redis-7.0.0.tgz"), 2);
    assert_eq!(cdn.credentialed(), Vec::<String>::new());
    assert_eq!(repo.archive_hits(), 0);
    assert_eq!(repo.credentialed(), ["/index.yaml"]);
}
