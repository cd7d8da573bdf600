//! `ferry copy` between real distribution registries: every kind of
//! manifest, shared layers, nested paths, referrers, pagination, auth.

use ferry_harness::*;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

async fn copy(src: &Registry, dst: &Registry, extra: &[&str]) -> Run {
    let mut args = vec!["copy", "--insecure", "--output", "json"];
    let src_creds;
    let dst_creds;
    if let Some((u, p)) = src.credentials() {
        src_creds = format!("{u}:{p}");
        args.extend(["--src-creds", &src_creds]);
    }
    if let Some((u, p)) = dst.credentials() {
        dst_creds = format!("{u}:{p}");
        args.extend(["--dest-creds", &dst_creds]);
    }
    let (s, d) = (src.url(), dst.url());
    args.extend(extra);
    args.push(&s);
    args.push(&d);
    ferry(FERRY, &args).await
}

fn sum_count(run: &Run, stage: &str, key: &str) -> u64 {
    let report = run.report();
    let stage_index = report["tasks"][0]["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .position(|s| s["stage"] == stage)
        .expect("stage in report");
    report["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t["stages"][stage_index]["counts"][key]
                .as_u64()
                .unwrap_or(0)
        })
        .sum()
}

#[tokio::test]
async fn copies_every_manifest_kind_byte_identically() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let base = Layer::random(1, 300_000);
    let app = Layer::random(2, 120_000);
    push_image(
        &src,
        "library/base",
        "3.20",
        Format::Docker,
        std::slice::from_ref(&base),
    )
    .await
    .unwrap();
    let app_v1 = push_image(
        &src,
        "team/app",
        "v1",
        Format::Oci,
        &[base.clone(), app.clone()],
    )
    .await
    .unwrap();
    push_image(
        &src,
        "team/app",
        "v2",
        Format::Oci,
        &[base.clone(), Layer::random(3, 50_000)],
    )
    .await
    .unwrap();
    push_image(
        &src,
        "a/b/c/img",
        "v1",
        Format::Docker,
        std::slice::from_ref(&base),
    )
    .await
    .unwrap();
    let multi = push_index(
        &src,
        "team/multi",
        "1.0",
        Format::Oci,
        &[("linux", "amd64"), ("linux", "arm64")],
        std::slice::from_ref(&app),
    )
    .await
    .unwrap();
    push_index(
        &src,
        "legacy/list",
        "latest",
        Format::Docker,
        &[("linux", "amd64"), ("linux", "arm/v7")],
        std::slice::from_ref(&base),
    )
    .await
    .unwrap();
    push_artifact(
        &src,
        "charts/demo",
        "0.1.0",
        "application/vnd.example.chart",
        "application/vnd.example.config.v1+json",
        &[("application/vnd.example.chart.layer.v1.tar", b"chart bytes")],
    )
    .await
    .unwrap();
    push_referrer(
        &src,
        "team/app",
        &app_v1.descriptor,
        "application/vnd.example.signature",
    )
    .await
    .unwrap();
    push_referrer(
        &src,
        "team/multi",
        &multi.descriptor,
        "application/vnd.example.sbom",
    )
    .await
    .unwrap();

    let run = copy(&src, &dst, &[]).await;
    assert_eq!(
        run.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    for (repo, tag) in [
        ("library/base", "3.20"),
        ("team/app", "v1"),
        ("team/app", "v2"),
        ("a/b/c/img", "v1"),
        ("team/multi", "1.0"),
        ("legacy/list", "latest"),
        ("charts/demo", "0.1.0"),
    ] {
        assert_replicated(&src, &dst, repo, repo, tag).await;
    }
    assert_same_referrers(&src, &dst, "team/app", "team/app", app_v1.digest()).await;
    assert_same_referrers(&src, &dst, "team/multi", "team/multi", multi.digest()).await;
    // Every tag at the target has the source's digest, fallback tags too.
    for (repo, subject) in [
        ("team/app", app_v1.digest()),
        ("team/multi", multi.digest()),
    ] {
        let tag = referrers_tag(subject);
        let theirs = manifest_digest(&dst, repo, &tag).await.unwrap();
        assert!(theirs.is_some(), "{repo}:{tag} missing at the target");
        assert_eq!(
            theirs,
            manifest_digest(&src, repo, &tag).await.unwrap(),
            "{repo}:{tag}"
        );
    }
    // Referrer fallback tags travel with their subject, not as artifacts.
    assert_eq!(run.report()["tasks"].as_array().unwrap().len(), 7);
    // The shared base layer crossed the wire once; other repositories mounted it.
    assert!(
        sum_count(&run, "push", "blobs-mounted") >= 2,
        "{}",
        run.stdout
    );
    // No blob was uploaded twice (the digest is in each upload's final PUT).
    let mut uploads = std::collections::HashMap::<String, usize>::new();
    for (method, path, _) in dst.requests_since(0) {
        if method == "PUT"
            && let Some((_, digest)) = path.split_once("digest=")
        {
            *uploads.entry(digest.to_string()).or_default() += 1;
        }
    }
    assert!(!uploads.is_empty());
    assert!(
        uploads.values().all(|&n| n == 1),
        "blobs uploaded more than once: {uploads:?}"
    );

    // A second run finds everything in place and moves no bytes. The five
    // artifacts without referrers are left out by the listing; the two with
    // referrers are checked in full and found in place.
    let again = copy(&src, &dst, &[]).await;
    assert_eq!(again.code, Some(0), "{}", again.stdout);
    assert_eq!(again.report()["bytes"], 0);
    assert_eq!(exec_count(&again, "pull-prepare", "up-to-date"), 5);
    assert_eq!(again.report()["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(sum_count(&again, "push", "tags-skipped"), 2);
    assert_eq!(sum_count(&again, "push", "referrers-pushed"), 0);
}

/// A count of an execution-scoped stage.
fn exec_count(run: &Run, stage: &str, key: &str) -> u64 {
    let report = run.report();
    report["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["stage"] == stage)
        .unwrap_or_else(|| panic!("no stage {stage} in {report}"))["counts"][key]
        .as_u64()
        .unwrap_or(0)
}

/// The fast no-op and the existence cache: a re-run asks only tag lists and
/// manifest HEADs (none at the target once the cache knows them), moves no
/// blob and PUTs nothing; a tag deleted at the target behind the cache's
/// back is noticed and copied again. Into a fresh target, the source is
/// asked no HEAD per tag, no referrers per artifact and no manifest twice,
/// and the target no blob HEAD.
#[tokio::test]
async fn reruns_ask_only_manifest_heads_and_the_cache_spares_most_of_them() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let base = Layer::random(11, 200_000);
    for (repo, tags) in [
        ("one", &["a", "b", "c"][..]),
        ("two", &["x"][..]),
        ("three", &["p", "q"][..]),
    ] {
        for (i, tag) in tags.iter().enumerate() {
            let layer = Layer::random(20 + i as u64 + repo.len() as u64 * 7, 30_000);
            push_image(&src, repo, tag, Format::Oci, &[base.clone(), layer])
                .await
                .unwrap();
        }
    }
    let cache = tempfile::tempdir().unwrap();
    let cache_file = cache.path().join("known.json");
    let cache_file = cache_file.to_str().unwrap();
    let (s0, d0) = (src.log_mark(), dst.log_mark());
    let fresh = copy(&src, &dst, &["--cache-file", cache_file]).await;
    assert_eq!(fresh.code, Some(0), "{}\n{}", fresh.stdout, fresh.stderr);
    let (sreq, dreq) = (src.requests_since(s0), dst.requests_since(d0));
    let count = |reqs: &[(String, String, u16)], method: &str, part: &str| {
        reqs.iter()
            .filter(|(m, p, _)| m == method && p.contains(part))
            .count()
    };
    // One HEAD and one referrers request find that the source serves no
    // referrers API; its listing shows no fallback tag, so none per artifact.
    assert_eq!(count(&sreq, "HEAD", "/manifests/"), 1, "{sreq:?}");
    assert_eq!(count(&sreq, "GET", "/referrers/"), 1, "{sreq:?}");
    // Each manifest is read once: pull reads it by tag, push reuses it.
    assert_eq!(count(&sreq, "GET", "/manifests/"), 6, "{sreq:?}");
    // The target's repositories were unknown: no blob is asked about first.
    assert_eq!(count(&dreq, "HEAD", "/blobs/"), 0, "{dreq:?}");
    assert_eq!(count(&dreq, "PUT", "/manifests/"), 6, "{dreq:?}");
    assert!(
        std::path::Path::new(cache_file).exists(),
        "the cache was saved"
    );

    let only_heads = |reqs: &[(String, String, u16)], who: &str| {
        for (method, path, _) in reqs {
            let ok = path == "/v2/"
                || (method == "HEAD" && path.contains("/manifests/"))
                || (method == "GET" && path.contains("/tags/list"))
                || (who == "source" && method == "GET" && path.starts_with("/v2/_catalog"))
                || (who == "source" && method == "GET" && path.contains("/referrers/"));
            assert!(ok, "{who} was asked {method} {path} during a no-op");
        }
    };
    let heads = |reqs: &[(String, String, u16)]| {
        reqs.iter()
            .filter(|(m, p, _)| m == "HEAD" && p.contains("/manifests/"))
            .count()
    };

    // Without the cache: the target's tag lists, one HEAD per tag at each
    // end, and nothing else.
    let (s0, d0) = (src.log_mark(), dst.log_mark());
    let cold = copy(&src, &dst, &["--no-cache"]).await;
    assert_eq!(cold.code, Some(0), "{}", cold.stdout);
    assert_eq!(exec_count(&cold, "pull-prepare", "up-to-date"), 6);
    assert_eq!(cold.report()["tasks"].as_array().unwrap().len(), 0);
    let (sreq, dreq) = (src.requests_since(s0), dst.requests_since(d0));
    only_heads(&sreq, "source");
    only_heads(&dreq, "target");
    assert_eq!(heads(&sreq), 6, "{sreq:?}");
    assert_eq!(heads(&dreq), 6, "{dreq:?}");
    assert_eq!(count(&dreq, "GET", "/tags/list"), 3, "{dreq:?}");

    // With the cache of the first run: the target lists its tags (one
    // request per repository), the cache answers every HEAD.
    // It learns nothing new, so it leaves the cache file as it was.
    let modified = || std::fs::metadata(cache_file).unwrap().modified().unwrap();
    let saved = modified();
    let d1 = dst.log_mark();
    let warm = copy(&src, &dst, &["--cache-file", cache_file]).await;
    assert_eq!(warm.code, Some(0), "{}", warm.stdout);
    assert_eq!(exec_count(&warm, "pull-prepare", "up-to-date"), 6);
    let dreq = dst.requests_since(d1);
    only_heads(&dreq, "target");
    assert_eq!(heads(&dreq), 0, "{dreq:?}");
    assert_eq!(count(&dreq, "GET", "/tags/list"), 3, "{dreq:?}");
    assert_eq!(modified(), saved, "a no-op rewrote the existence cache");

    // Delete `one`'s tags at the target behind the cache's back: every tag
    // of `one` is gone, its tag list says so, and they are copied again.
    for tag in ["a", "b", "c"] {
        let digest = manifest_digest(&dst, "one", tag).await.unwrap().unwrap();
        let _ = delete_manifest(&dst, "one", &digest).await;
    }
    let repaired = copy(&src, &dst, &["--cache-file", cache_file]).await;
    assert_eq!(
        repaired.code,
        Some(0),
        "{}\n{}",
        repaired.stdout,
        repaired.stderr
    );
    assert_eq!(exec_count(&repaired, "pull-prepare", "up-to-date"), 3);
    for tag in ["a", "b", "c"] {
        assert_replicated(&src, &dst, "one", "one", tag).await;
    }
}

#[tokio::test]
async fn filters_and_namespaces_select_and_place_repositories() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let l = Layer::random(7, 10_000);
    for (repo, tag) in [
        ("team1/app", "v1.0"),
        ("team1/app", "v1.1-rc1"),
        ("team1/tools/cli", "v2"),
        ("team2/app", "v1.0"),
    ] {
        push_image(&src, repo, tag, Format::Oci, std::slice::from_ref(&l))
            .await
            .unwrap();
    }
    let src_ns = format!("{}/team1", src.url());
    let dst_ns = format!("{}/mirror", dst.url());
    let run = ferry(
        FERRY,
        &[
            "copy",
            "--insecure",
            "--output",
            "json",
            "--exclude-tag",
            "*-rc*",
            &src_ns,
            &dst_ns,
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_replicated(&src, &dst, "team1/app", "mirror/app", "v1.0").await;
    assert_replicated(&src, &dst, "team1/tools/cli", "mirror/tools/cli", "v2").await;
    assert_eq!(
        tags(&dst, "mirror/app").await.unwrap(),
        vec!["v1.0".to_string()]
    );
    let mut repos = catalog(&dst).await.unwrap();
    repos.sort();
    assert_eq!(repos, ["mirror/app", "mirror/tools/cli"]);

    // Harbor's -1: keep only the last path component under the namespace.
    let run = ferry(
        FERRY,
        &[
            "copy",
            "--insecure",
            "--output",
            "json",
            "--repo",
            "team2/**",
            "--dest-namespace",
            "flat",
            "--dest-namespace-replace-count",
            "-1",
            &src.url(),
            &dst.url(),
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_replicated(&src, &dst, "team2/app", "flat/app", "v1.0").await;
}

#[tokio::test]
async fn pages_through_a_catalog_of_more_than_100_repositories() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let l = Layer::random(9, 1_000);
    for i in 0..105 {
        push_image(
            &src,
            &format!("many/r{i:03}"),
            "t",
            Format::Oci,
            std::slice::from_ref(&l),
        )
        .await
        .unwrap();
    }
    let run = copy(&src, &dst, &[]).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.report()["tasks"].as_array().unwrap().len(), 105);
    assert_eq!(catalog(&dst).await.unwrap().len(), 105);
    assert_replicated(&src, &dst, "many/r104", "many/r104", "t").await;
}

#[tokio::test]
async fn basic_auth_source_to_token_auth_target_and_back() {
    let basic = Registry::start(Auth::basic("alice", "s3cret"));
    let token = Registry::start(Auth::token("bob", "t0ken"));
    let img = push_index(
        &basic,
        "secure/app",
        "v1",
        Format::Oci,
        &[("linux", "amd64"), ("linux", "arm64")],
        &[Layer::random(11, 200_000)],
    )
    .await
    .unwrap();
    push_referrer(
        &basic,
        "secure/app",
        &img.descriptor,
        "application/vnd.example.signature",
    )
    .await
    .unwrap();

    let run = copy(&basic, &token, &[]).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_replicated(&basic, &token, "secure/app", "secure/app", "v1").await;
    assert_same_referrers(&basic, &token, "secure/app", "secure/app", img.digest()).await;
    assert!(
        !run.stdout.contains("s3cret") && !run.stderr.contains("t0ken"),
        "a credential was printed"
    );

    // Uploads are one streamed PUT per blob unless chunks are asked for.
    let patches = |r: &Registry| {
        r.requests_since(0)
            .iter()
            .filter(|(m, _, _)| m == "PATCH")
            .count()
    };
    assert_eq!(patches(&token), 0, "a default copy sent chunks");

    let back = Registry::start(Auth::basic("carol", "pw"));
    let run = copy(&token, &back, &["--chunked", "--chunk-size", "65536"]).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_replicated(&token, &back, "secure/app", "secure/app", "v1").await;
    assert!(patches(&back) > 1, "--chunked sent no chunks");
}

/// What the existence cache believes expires on time: a blob it answered
/// for is not remembered again (which would renew its TTL forever); a blob
/// the registry was asked about is.
#[tokio::test]
async fn cache_hits_do_not_renew_their_own_ttl() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let (shared, first, second) = (
        Layer::random(61, 40_000),
        Layer::random(62, 30_000),
        Layer::random(63, 30_000),
    );
    push_image(&src, "app", "v1", Format::Oci, &[shared.clone(), first])
        .await
        .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let file = cache.path().join("known.json");
    let args = ["--cache-file", file.to_str().unwrap()];
    let run = copy(&src, &dst, &args).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let expiry = |digest: &str| -> Option<u64> {
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let group = format!("{}/app", dst.url());
        doc["groups"][&group][format!("b:{digest}")][1].as_u64()
    };
    let before = expiry(shared.digest()).expect("the shared layer is remembered");

    // Millisecond expiries: make sure a renewal would show.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    push_image(
        &src,
        "app",
        "v2",
        Format::Oci,
        &[shared.clone(), second.clone()],
    )
    .await
    .unwrap();
    let run = copy(&src, &dst, &args).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_replicated(&src, &dst, "app", "app", "v2").await;
    assert_eq!(
        expiry(shared.digest()),
        Some(before),
        "a cache hit renewed its TTL"
    );
    assert!(expiry(second.digest()).is_some_and(|e| e > before));
}

#[tokio::test]
async fn a_fallback_tag_is_merged_only_when_the_target_has_referrers_of_its_own() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let img = push_image(&src, "a/app", "v1", Format::Oci, &[Layer::random(81, 1000)])
        .await
        .unwrap();
    let sig = "application/vnd.example.signature";
    let sbom = "application/vnd.example.sbom";
    push_referrer(&src, "a/app", &img.descriptor, sig)
        .await
        .unwrap();
    let run = copy(&src, &dst, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let tag = referrers_tag(img.digest());
    assert_eq!(
        manifest_digest(&dst, "a/app", &tag).await.unwrap(),
        manifest_digest(&src, "a/app", &tag).await.unwrap()
    );

    // The target gets a referrer of its own; the source a new one.
    let own = push_referrer(
        &dst,
        "a/app",
        &img.descriptor,
        "application/vnd.example.local",
    )
    .await
    .unwrap();
    push_referrer(&src, "a/app", &img.descriptor, sbom)
        .await
        .unwrap();
    let run = copy(&src, &dst, &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let push = &run.task("a/app", "v1")["stages"][1];
    let said = push["messages"].to_string();
    assert!(
        said.contains("merged with the target's own index") && said.contains(own.digest()),
        "{push}"
    );
    let (_, index) = get_manifest(&dst, "a/app", &tag).await.unwrap();
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
    let listed: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["artifactType"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(listed, [sig, sbom, "application/vnd.example.local"]);
}
