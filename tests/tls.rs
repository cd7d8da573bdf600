//! `ferry copy` against registries served over HTTPS with a self-signed
//! certificate: `--insecure` accepts it, without it the connection fails
//! with a certificate error.

use ferry_harness::*;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

#[tokio::test]
async fn insecure_copies_from_a_self_signed_https_registry() {
    let src = Registry::start_tls(Auth::basic("alice", "s3cret"));
    let dst = Registry::start(Auth::None);
    assert!(src.url().starts_with("https://127.0.0.1:"), "{}", src.url());
    push_image(
        &src,
        "team/app",
        "v1",
        Format::Oci,
        &[Layer::random(21, 150_000), Layer::random(22, 40_000)],
    )
    .await
    .unwrap();
    push_index(
        &src,
        "team/multi",
        "1.0",
        Format::Oci,
        &[("linux", "amd64"), ("linux", "arm64")],
        &[Layer::random(23, 80_000)],
    )
    .await
    .unwrap();

    let (s, d) = (src.url(), dst.url());
    let run = ferry(
        FERRY,
        &[
            "copy",
            "--insecure",
            "--src-creds",
            "alice:s3cret",
            "--output",
            "json",
            &s,
            &d,
        ],
    )
    .await;
    assert_eq!(
        run.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    assert_replicated(&src, &dst, "team/app", "team/app", "v1").await;
    assert_replicated(&src, &dst, "team/multi", "team/multi", "1.0").await;
    assert!(
        !run.stdout.contains("s3cret") && !run.stderr.contains("s3cret"),
        "the password was printed"
    );
}

#[tokio::test]
async fn self_signed_https_source_without_insecure_fails_on_the_certificate() {
    let src = Registry::start_tls(Auth::basic("alice", "s3cret"));
    // Plain HTTP would itself need --insecure, so the target is HTTPS too.
    let dst = Registry::start_tls(Auth::None);
    push_image(
        &src,
        "team/app",
        "v1",
        Format::Oci,
        &[Layer::random(24, 10_000)],
    )
    .await
    .unwrap();

    let (s, d) = (src.url(), dst.url());
    let run = ferry(
        FERRY,
        &[
            "copy",
            "--src-creds",
            "alice:s3cret",
            "--output",
            "json",
            &s,
            &d,
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let report = run.report();
    assert_eq!(report["status"], "failed", "{}", run.stdout);
    assert_eq!(report["stages"][0]["stage"], "pull-prepare");
    assert_eq!(report["stages"][0]["outcome"], "failed");
    let err = report["stages"][0]["error"].as_str().unwrap_or_default();
    // reqwest/rustls: "... unreachable: invalid peer certificate: UnknownIssuer".
    assert!(
        err.contains("certificate") && err.contains(&s),
        "expected a certificate error naming {s}, got: {err}"
    );
    // Nothing ran past the failed listing; nothing reached the target.
    assert_eq!(report["stages"][1]["outcome"], "not-run");
    assert!(catalog(&dst).await.unwrap().is_empty());
}
