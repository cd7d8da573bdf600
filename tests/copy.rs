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
    // Referrer fallback tags travel with their subject, not as artifacts.
    assert_eq!(run.report()["tasks"].as_array().unwrap().len(), 7);
    // The shared base layer crossed the wire once; other repositories mounted it.
    assert!(
        sum_count(&run, "push", "blobs-mounted") >= 2,
        "{}",
        run.stdout
    );

    // A second run finds everything in place and moves no bytes.
    let again = copy(&src, &dst, &[]).await;
    assert_eq!(again.code, Some(0), "{}", again.stdout);
    assert_eq!(again.report()["bytes"], 0);
    assert_eq!(sum_count(&again, "push", "tags-skipped"), 7);
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

    let back = Registry::start(Auth::basic("carol", "pw"));
    let run = copy(&token, &back, &["--chunked", "--chunk-size", "65536"]).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_replicated(&token, &back, "secure/app", "secure/app", "v1").await;
}
