//! Copies through a proxy that injects faults between Ferry and a real
//! registry: every failing request would succeed on a retry, so every copy
//! must end byte-identical to the source; a fault that persists fails only
//! its own artifact, and leaves no tag at the target.

use std::time::Duration;

use ferry_harness::faults::{Fault, FaultProxy, Rule};
use ferry_harness::*;
use serde_json::json;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// Three repositories, five tags, layers of 0.5–1.5 MiB (some shared).
async fn corpus(src: &Registry) -> Vec<(&'static str, &'static str)> {
    let base = Layer::random(100, 1_500_000);
    let images = [
        (
            "team/app",
            "v1",
            vec![base.clone(), Layer::random(101, 700_000)],
        ),
        (
            "team/app",
            "v2",
            vec![base.clone(), Layer::random(102, 900_000)],
        ),
        ("team/db", "15", vec![Layer::random(103, 1_200_000)]),
        (
            "tools/cli",
            "1.0",
            vec![base.clone(), Layer::random(104, 500_000)],
        ),
        ("tools/cli", "1.1", vec![Layer::random(105, 800_000)]),
    ];
    let mut tags = Vec::new();
    for (repo, tag, layers) in images {
        push_image(src, repo, tag, Format::Oci, &layers)
            .await
            .unwrap();
        tags.push((repo, tag));
    }
    tags
}

/// `ferry copy` from `from` to `to` (a proxy in front of `src` or `dst`),
/// which must succeed and leave every tag of `tags` at `dst` as at `src`.
async fn copy_replicating(
    from: &str,
    to: &str,
    src: &Registry,
    dst: &Registry,
    tags: &[(&str, &str)],
) {
    let run = ferry(FERRY, &["copy", "--insecure", "--output", "json", from, to]).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.report()["status"], "succeeded");
    for (repo, tag) in tags {
        assert_replicated(src, dst, repo, repo, tag).await;
    }
}

fn is_blob_get(s: &faults::Seen) -> bool {
    s.method == "GET" && s.path.contains("/blobs/sha256:")
}

/// A request's `Range: bytes=N-`, as N.
fn range_start(s: &faults::Seen) -> Option<u64> {
    s.range
        .as_deref()?
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}

/// Whether `path` was asked again from a byte in (0, cut]: where the
/// body stopped arriving (what the proxy had sent before the cut may
/// not all have reached Ferry), and answered 206.
fn resumed(seen: &[faults::Seen], path: &str, cut: u64) -> bool {
    seen.iter().any(|s| {
        s.path == path
            && s.fault.is_none()
            && s.status == Some(206)
            && range_start(s).is_some_and(|n| n > 0 && n <= cut)
    })
}

#[tokio::test]
async fn a_source_answering_503_429_and_cut_bodies_is_copied_byte_identical() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let tags = corpus(&src).await;
    let proxy = FaultProxy::start(&src.url(), 17)
        .rule(Rule::new(Fault::Status(503)).chance(0.25).per_url(1))
        .rule(
            Rule::new(Fault::TooManyRequests { retry_after: 1 })
                .chance(0.15)
                .per_url(1),
        )
        // Every layer's body is cut once, part-way.
        .rule(
            Rule::new(Fault::ResetAnswer { after: 300_000 })
                .method("GET")
                .path("/blobs/")
                .per_url(1),
        )
        // Manifests come back short once in a while.
        .rule(
            Rule::new(Fault::Truncate { after: 100 })
                .method("GET")
                .path("/manifests/")
                .chance(0.5)
                .per_url(1),
        );
    copy_replicating(&proxy.url(), &dst.url(), &src, &dst, &tags).await;
    let seen = proxy.seen();
    let count = |f: &dyn Fn(&Fault) -> bool| proxy.injected_where(f);
    assert!(count(&|f| *f == Fault::Status(503)) >= 3, "{seen:#?}");
    assert!(
        count(&|f| matches!(f, Fault::TooManyRequests { .. })) >= 2,
        "{seen:#?}"
    );
    assert!(
        count(&|f| matches!(f, Fault::Truncate { .. })) >= 1,
        "{seen:#?}"
    );
    // Each layer cut part-way was resumed from the byte it reached, and
    // the source answered the range.
    let cut: Vec<_> = seen
        .iter()
        .filter(|s| is_blob_get(s) && matches!(s.fault, Some(Fault::ResetAnswer { .. })))
        .filter(|s| s.status == Some(200) && s.length > Some(300_000))
        .map(|s| s.path.clone())
        .collect();
    assert!(cut.len() >= 6, "{seen:#?}");
    for path in &cut {
        assert!(
            resumed(&seen, path, 300_000),
            "{path} was not resumed with a Range: {:#?}",
            seen.iter().filter(|s| s.path == *path).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn a_target_that_resets_uploads_gets_every_blob() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let tags = corpus(&src).await;
    let proxy = FaultProxy::start(&dst.url(), 5)
        .rule(
            Rule::new(Fault::Status(503))
                .method("POST")
                .chance(0.5)
                .per_url(1),
        )
        // Uploads cut part-way: the registry has seen part of the body.
        .rule(
            Rule::new(Fault::ResetRequest { after: 200_000 })
                .method("PUT")
                .path("/blobs/uploads/")
                .total(4),
        );
    let run = ferry(
        FERRY,
        &[
            "copy",
            "--insecure",
            "--output",
            "json",
            &src.url(),
            &proxy.url(),
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    for (repo, tag) in &tags {
        assert_replicated(&src, &dst, repo, repo, tag).await;
    }
    let resets = proxy.injected_where(|f| matches!(f, Fault::ResetRequest { .. }));
    assert_eq!(resets, 4, "{:#?}", proxy.seen());
    assert!(proxy.injected_where(|f| *f == Fault::Status(503)) >= 2);
}

#[tokio::test]
async fn a_chunked_upload_cut_before_the_registry_saw_it_goes_on_from_its_offset() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let layer = Layer::random(7, 1_000_000);
    push_image(
        &src,
        "big/one",
        "1",
        Format::Oci,
        std::slice::from_ref(&layer),
    )
    .await
    .unwrap();
    // The layer goes in 4 chunks. The 3rd and 5th PATCH of its session
    // (chunks 3 and 4, as the retry of 3 is the 4th) never reach the
    // registry; the config's single PATCH is not touched.
    let cut = Fault::ResetRequest { after: 0 };
    let proxy = FaultProxy::start(&dst.url(), 3)
        .rule(Rule::new(cut.clone()).method("PATCH").nth(3))
        .rule(Rule::new(cut).method("PATCH").nth(5));
    let run = ferry(
        FERRY,
        &[
            "copy",
            "--insecure",
            "--output",
            "json",
            "--chunked",
            "--chunk-size",
            "262144",
            &src.url(),
            &proxy.url(),
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_replicated(&src, &dst, "big/one", "big/one", "1").await;
    let seen = proxy.seen();
    let dropped: Vec<_> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.method == "PATCH" && s.fault.is_some())
        .collect();
    assert_eq!(dropped.len(), 2, "{seen:#?}");
    for (i, cut) in dropped {
        // The same session went on (no new POST for it): a status GET, then
        // PATCHes on the same upload.
        let after = &seen[i + 1..];
        assert!(
            after
                .iter()
                .any(|s| s.method == "GET" && s.path == cut.path && s.status == Some(204)),
            "no status asked of {}: {seen:#?}",
            cut.path
        );
        assert!(
            after
                .iter()
                .any(|s| s.method == "PATCH" && s.path == cut.path && s.status == Some(202)),
            "{} did not go on: {seen:#?}",
            cut.path
        );
    }
}

#[tokio::test]
async fn a_stalled_source_is_given_up_on_at_the_idle_timeout_and_resumed() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let tags = corpus(&src).await;
    let (a, b) = (Layer::random(300, 400_000), Layer::random(301, 600_000));
    push_image(&src, "slow/one", "1", Format::Oci, &[a.clone(), b.clone()])
        .await
        .unwrap();
    // Two layers stop after 100 kB for an hour; everything else flows.
    let stall = Fault::Stall {
        after: Some(100_000),
        duration: Duration::from_secs(3600),
    };
    let proxy = FaultProxy::start(&src.url(), 11)
        .rule(
            Rule::new(stall.clone())
                .method("GET")
                .path(a.digest())
                .per_url(1),
        )
        .rule(Rule::new(stall).method("GET").path(b.digest()).per_url(1));
    let run = ferry(
        FERRY,
        &[
            "copy",
            "--insecure",
            "--output",
            "json",
            "--idle-timeout",
            "2s",
            &proxy.url(),
            &dst.url(),
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    for (repo, tag) in tags.iter().chain([&("slow/one", "1")]) {
        assert_replicated(&src, &dst, repo, repo, tag).await;
    }
    let seen = proxy.seen();
    for layer in [&a, &b] {
        let path = format!("/v2/slow/one/blobs/{}", layer.digest());
        let asked: Vec<_> = seen.iter().filter(|s| s.path == path).collect();
        assert!(
            matches!(asked[0].fault, Some(Fault::Stall { .. })),
            "{asked:#?}"
        );
        assert!(
            resumed(&seen, &path, 100_000),
            "{path} was not resumed from where it stalled: {asked:#?}"
        );
    }
}

#[tokio::test]
async fn a_persistent_failure_fails_only_its_artifact_and_tags_nothing() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let bad = Layer::random(200, 300_000);
    push_image(
        &src,
        "lib/bad",
        "1",
        Format::Oci,
        std::slice::from_ref(&bad),
    )
    .await
    .unwrap();
    push_image(
        &src,
        "lib/good",
        "1",
        Format::Oci,
        &[Layer::random(201, 300_000)],
    )
    .await
    .unwrap();
    let proxy = FaultProxy::start(&src.url(), 1).rule(
        Rule::new(Fault::Status(500))
            .method("GET")
            .path(bad.digest()),
    );
    let run = ferry(
        FERRY,
        &[
            "copy",
            "--insecure",
            "--output",
            "json",
            "--request-attempts",
            "2",
            &proxy.url(),
            &dst.url(),
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let report = run.report();
    assert_eq!(report["status"], "failed");
    let failed = run.task("lib/bad", "1");
    assert_eq!(failed["status"], "failed", "{failed}");
    let stage = failed["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["outcome"] == "failed")
        .unwrap_or_else(|| panic!("no failed stage: {failed}"));
    let error = stage["error"].as_str().unwrap();
    assert!(
        error.contains("HTTP 500") && error.contains(bad.digest()),
        "{error}"
    );
    assert_eq!(run.task("lib/good", "1")["status"], "succeeded");
    assert_replicated(&src, &dst, "lib/good", "lib/good", "1").await;
    // No tag for content that is not all there.
    assert_eq!(manifest_digest(&dst, "lib/bad", "1").await.unwrap(), None);
}

#[tokio::test]
async fn serve_finishes_an_execution_through_a_flaky_source() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let tags = corpus(&src).await;
    let proxy = FaultProxy::start(&src.url(), 23)
        .rule(Rule::new(Fault::Status(502)).chance(0.3).per_url(1))
        .rule(
            Rule::new(Fault::ResetAnswer { after: 250_000 })
                .method("GET")
                .path("/blobs/")
                .per_url(1),
        );
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let src_id = s.add_registry_at("flaky", &proxy.url(), None).await;
    let dst_id = s.add_registry("dst", &dst).await;
    let pid = s
        .add_policy(json!({
            "name": "through-faults", "src_registry": {"id": src_id},
            "dest_registry": {"id": dst_id}, "trigger": {"type": "manual"},
        }))
        .await;
    let v = s.run_policy(pid).await;
    let done = s
        .wait_execution(v["id"].as_i64().unwrap(), Duration::from_secs(120))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", s.log());
    assert_eq!(done["succeed"], tags.len());
    for (repo, tag) in &tags {
        assert_replicated(&src, &dst, repo, repo, tag).await;
    }
    assert!(proxy.injected_where(|f| *f == Fault::Status(502)) >= 3);
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|r| is_blob_get(r) && resumed(&seen, &r.path, 250_000)),
        "no cut body was resumed: {seen:#?}"
    );
}

#[tokio::test]
async fn a_policy_speed_limit_holds_within_ten_percent_across_concurrent_blobs() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    // 8 images of a 1.5 MB layer: 8 blobs in flight at once.
    for i in 0..8u64 {
        push_image(
            &src,
            &format!("paced/app{i}"),
            "1",
            Format::Oci,
            &[Layer::random(600 + i, 1_500_000)],
        )
        .await
        .unwrap();
    }
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let src_id = s.add_registry("src", &src).await;
    let dst_id = s.add_registry("dst", &dst).await;
    let kb_per_s = 1024;
    let pid = s
        .add_policy(json!({
            "name": "paced", "src_registry": {"id": src_id},
            "dest_registry": {"id": dst_id}, "trigger": {"type": "manual"},
            "speed": kb_per_s,
        }))
        .await;
    let v = s.run_policy(pid).await;
    let done = s
        .wait_execution(v["id"].as_i64().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", s.log());
    let bytes = done["bytes"].as_f64().unwrap();
    assert!(bytes >= 12_000_000.0, "{done}");
    let seconds =
        (done["end_time"].as_f64().unwrap() - done["start_time"].as_f64().unwrap()) / 1000.0;
    let rate = bytes / seconds / 1024.0;
    let limit = kb_per_s as f64;
    println!("paced: {rate:.0} KB/s over {seconds:.1} s (limit {limit} KB/s)");
    assert!(
        (0.9 * limit..=1.1 * limit).contains(&rate),
        "{rate:.0} KB/s over {seconds:.1} s, against a limit of {limit} KB/s"
    );
    for i in 0..8 {
        let repo = format!("paced/app{i}");
        assert_replicated(&src, &dst, &repo, &repo, "1").await;
    }
}

/// Registers the registry at `url` with request bounds, runs two policies
/// from it at once (into `namespaces` of `dst`), and checks the copies.
async fn run_bounded(
    s: &Server,
    url: &str,
    bounds: serde_json::Value,
    dst: &Registry,
    src: &Registry,
    namespaces: [&str; 2],
) {
    let mut body = json!({"name": namespaces.join("-"), "url": url, "insecure": true});
    for (k, v) in bounds.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, v) = s.post_json("/api/v1/registries", body).await;
    assert_eq!(status, 201, "{v}");
    for (k, want) in bounds.as_object().unwrap() {
        assert_eq!(v[k], *want, "{v}");
    }
    let src_id = v["id"].as_i64().unwrap();
    let dst_id = s
        .add_registry_at(&format!("dst-{}", namespaces[0]), &dst.url(), None)
        .await;
    let mut runs = Vec::new();
    for ns in namespaces {
        let pid = s
            .add_policy(json!({
                "name": ns, "src_registry": {"id": src_id}, "dest_registry": {"id": dst_id},
                "dest_namespace": ns, "dest_namespace_replace_count": 0,
                "trigger": {"type": "manual"},
            }))
            .await;
        runs.push(s.run_policy(pid).await["id"].as_i64().unwrap());
    }
    for id in runs {
        let done = s.wait_execution(id, Duration::from_secs(120)).await;
        assert_eq!(done["status"], "succeeded", "{done}\n{}", s.log());
    }
    for ns in namespaces {
        for (repo, tag) in [("team/app", "v1"), ("team/db", "15"), ("tools/cli", "1.1")] {
            assert_replicated(src, dst, repo, &format!("{ns}/{repo}"), tag).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_registrys_request_bounds_hold_across_executions() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    corpus(&src).await;
    let s = Server::start(FERRY, None, &[]).await.unwrap();

    // 10 requests a second, over two executions at once.
    let paced = FaultProxy::start(&src.url(), 1);
    let bounds = json!({"requests_per_second": 10});
    run_bounded(&s, &paced.url(), bounds, &dst, &src, ["one", "two"]).await;
    let at: Vec<Duration> = paced.seen().iter().map(|s| s.at).collect();
    assert!(at.len() > 40, "{} requests", at.len());
    let busiest = at
        .iter()
        .map(|t| {
            at.iter()
                .filter(|u| **u >= *t && **u < *t + Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap();
    println!(
        "paced: {} requests, at most {busiest} in a second",
        at.len()
    );
    // One more than the rate for the edges of a window.
    assert!(busiest <= 11, "{busiest} requests in one second");

    // 2 at once, against a registry slow to answer (each waits 150 ms).
    let slow = FaultProxy::start(&src.url(), 2).rule(Rule::new(Fault::Stall {
        after: None,
        duration: Duration::from_millis(150),
    }));
    let bounds = json!({"max_concurrency": 2});
    run_bounded(&s, &slow.url(), bounds, &dst, &src, ["three", "four"]).await;
    println!("slow: {} waiting at once", slow.most_waiting());
    assert_eq!(slow.most_waiting(), 2);
}

/// A far target that lacks the repositories: the copy opens its
/// connections ahead once the listing found work, pushes an
/// index's children, and asks the target no manifest by digest (those
/// repositories hold only what the copy itself put there).
#[tokio::test]
async fn a_far_target_lacking_the_repositories_is_not_asked_what_it_cannot_hold() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let mut tags = corpus(&src).await;
    let layers = [Layer::random(110, 300_000), Layer::random(111, 200_000)];
    let platforms = [("linux", "amd64"), ("linux", "arm64")];
    push_index(&src, "team/multi", "v1", Format::Oci, &platforms, &layers)
        .await
        .unwrap();
    tags.push(("team/multi", "v1"));
    // 40 ms: connections open ahead for at least 8 + 40 / 4 = 18 copies
    // (and at most the 24 blob copies ever run at once).
    let proxy = FaultProxy::start(&dst.url(), 5).over(LinkSpec::new(40, 1000.0));
    copy_replicating(&src.url(), &proxy.url(), &src, &dst, &tags).await;
    let seen = proxy.seen();
    let ahead = seen
        .iter()
        .filter(|s| s.method == "HEAD" && s.path == "/")
        .count();
    assert!(
        (18..=24).contains(&ahead),
        "{ahead} opened ahead: {seen:#?}"
    );
    // A manifest HEAD, by digest or by tag (the copy overrides tags), only
    // after the copy put that manifest (the verification): never one the
    // registry could only answer 404.
    let asked_before_put: Vec<_> = seen
        .iter()
        .filter(|s| s.method == "HEAD" && s.path.contains("/manifests/"))
        .filter(|h| {
            !seen
                .iter()
                .any(|p| p.method == "PUT" && p.path == h.path && p.at < h.at)
        })
        .collect();
    assert!(asked_before_put.is_empty(), "{asked_before_put:#?}");
    // The index's two children were pushed, by digest, before its tag.
    let puts: Vec<&str> = seen
        .iter()
        .filter(|s| s.method == "PUT" && s.path.starts_with("/v2/team/multi/manifests/"))
        .map(|s| s.path.as_str())
        .collect();
    assert_eq!(puts.len(), 3, "{puts:?}");
    assert_eq!(puts[2], "/v2/team/multi/manifests/v1", "{puts:?}");
}
