//! Each failure fails its own stage with a clear message and leaves the
//! other artifacts unaffected; nothing partial is tagged at the target.

use std::sync::Arc;

use ferry_harness::*;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

fn failed_stage(task: &serde_json::Value) -> (String, String) {
    let s = task["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["outcome"] == "failed")
        .unwrap_or_else(|| panic!("no failed stage in {task}"));
    (
        s["stage"].as_str().unwrap().to_string(),
        s["error"].as_str().unwrap_or("").to_string(),
    )
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn unreachable_source_fails_the_listing_stage() {
    let dst = Registry::start(Auth::None);
    let src = format!("http://127.0.0.1:{}", closed_port());
    let run = ferry(
        FERRY,
        &["copy", "--insecure", "--output", "json", &src, &dst.url()],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let report = run.report();
    assert_eq!(report["status"], "failed");
    assert_eq!(report["stages"][0]["stage"], "pull-prepare");
    assert_eq!(report["stages"][0]["outcome"], "failed");
    let err = report["stages"][0]["error"].as_str().unwrap();
    assert!(err.contains("unreachable") && err.contains(&src), "{err}");
    // Later execution stages did not run; nothing reached the target.
    assert_eq!(report["stages"][1]["outcome"], "not-run");
    assert!(catalog(&dst).await.unwrap().is_empty());
}

#[tokio::test]
async fn wrong_credentials_are_reported_as_such() {
    let src = Registry::start(Auth::basic("alice", "right"));
    let dst = Registry::start(Auth::None);
    push_image(&src, "x/app", "v1", Format::Oci, &[Layer::random(1, 1000)])
        .await
        .unwrap();
    let run = ferry(
        FERRY,
        &[
            "copy",
            "--insecure",
            "--output",
            "json",
            "--src-creds",
            "alice:Wr0ng-Passw0rd",
            &src.url(),
            &dst.url(),
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let err = run.report()["stages"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(err.starts_with("unauthorized"), "{err}");
    assert!(err.contains("credentials"), "{err}");
    assert!(
        !run.stdout.contains("Wr0ng-Passw0rd") && !run.stderr.contains("Wr0ng-Passw0rd"),
        "the password was printed"
    );
}

#[tokio::test]
async fn trap_deadline_and_memory_cap_fail_only_their_artifacts() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let l = Layer::random(5, 5000);
    for repo in ["good/app", "trap/app", "spin/app", "hog/app"] {
        push_image(&src, repo, "v1", Format::Oci, std::slice::from_ref(&l))
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("faults.yaml");
    std::fs::write(
        &template,
        r#"version: 1
name: faults
stages:
  - {name: pull-prepare, function: oci-pull-prepare@0.4.0, scope: execution}
  - {name: pull, function: oci-pull@0.4.0, scope: artifact}
  - name: trap
    function: fault-injector@0.4.0
    scope: artifact
    params: {mode: trap, repository: "trap/**"}
  - name: spin
    function: fault-injector@0.4.0
    scope: artifact
    timeout: 2s
    params: {mode: spin, repository: "spin/**"}
  - name: hog
    function: fault-injector@0.4.0
    scope: artifact
    params: {mode: hog, repository: "hog/**"}
  - {name: push, function: oci-push@0.4.0, scope: artifact}
"#,
    )
    .unwrap();
    let run = ferry(
        FERRY,
        &[
            "copy",
            "--functions-dir",
            EXTRA_FUNCTIONS,
            "--insecure",
            "--output",
            "json",
            "--template",
            template.to_str().unwrap(),
            &src.url(),
            &dst.url(),
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);

    let (stage, err) = failed_stage(&run.task("trap/app", "v1"));
    assert_eq!(stage, "trap");
    assert!(err.contains("trapped") && err.contains("panicked"), "{err}");
    let (stage, err) = failed_stage(&run.task("spin/app", "v1"));
    assert_eq!(stage, "spin");
    assert!(err.contains("deadline of 2s exceeded"), "{err}");
    let (stage, err) = failed_stage(&run.task("hog/app", "v1"));
    assert_eq!(stage, "hog");
    assert!(err.contains("memory cap of 256 MiB exceeded"), "{err}");
    // The failed artifacts never reached push; the good one did.
    let trap = run.task("trap/app", "v1");
    assert_eq!(
        trap["stages"].as_array().unwrap().last().unwrap()["outcome"],
        "not-run"
    );
    assert_replicated(&src, &dst, "good/app", "good/app", "v1").await;
    assert_eq!(catalog(&dst).await.unwrap(), vec!["good/app".to_string()]);
}

#[tokio::test]
async fn a_tag_that_vanishes_mid_run_fails_alone() {
    let src = Arc::new(Registry::start(Auth::None));
    let dst = Registry::start(Auth::None);
    let l = Layer::random(6, 5000);
    let gone = push_image(
        &*src,
        "gone/app",
        "v1",
        Format::Oci,
        std::slice::from_ref(&l),
    )
    .await
    .unwrap();
    push_image(
        &*src,
        "stay/app",
        "v1",
        Format::Oci,
        std::slice::from_ref(&l),
    )
    .await
    .unwrap();

    // After the listing, a webhook stage calls this server, which deletes
    // gone/app:v1 at the source: the tag vanishes between list and pull.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (src2, digest) = (src.clone(), gone.digest().to_string());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let (src, digest) = (src2.clone(), digest.clone());
            async move {
                delete_manifest(&*src, "gone/app", &digest).await.unwrap();
                "ok"
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("vanish.yaml");
    std::fs::write(
        &template,
        format!(
            r#"version: 1
name: vanish
stages:
  - {{name: pull-prepare, function: oci-pull-prepare@0.4.0, scope: execution}}
  - name: interlude
    function: webhook@0.4.0
    scope: execution
    params: {{url: "http://127.0.0.1:{port}/hook"}}
  - {{name: pull, function: oci-pull@0.4.0, scope: artifact}}
  - {{name: push, function: oci-push@0.4.0, scope: artifact}}
"#
        ),
    )
    .unwrap();
    let run = ferry(
        FERRY,
        &[
            "copy",
            "--functions-dir",
            EXTRA_FUNCTIONS,
            "--insecure",
            "--output",
            "json",
            "--template",
            template.to_str().unwrap(),
            &src.url(),
            &dst.url(),
        ],
    )
    .await;
    server.abort();
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let (stage, err) = failed_stage(&run.task("gone/app", "v1"));
    assert_eq!(stage, "pull");
    assert!(
        err.starts_with("not-found") && err.contains("gone/app"),
        "{err}"
    );
    assert_replicated(&*src, &dst, "stay/app", "stay/app", "v1").await;
    assert!(tags(&dst, "gone/app").await.unwrap().is_empty());
}

/// Flips bytes of a blob in the registry's storage, keeping its length: the
/// registry keeps serving it under the old digest, as a failing disk would.
fn corrupt_blob(reg: &Registry, digest: &str) {
    let hex = digest.trim_start_matches("sha256:");
    let path = reg
        .dir()
        .join("data/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
}

#[tokio::test]
async fn a_corrupt_layer_is_caught_while_streaming_and_never_tagged() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let bad_layer = Layer::random(21, 400_000);
    push_image(
        &src,
        "bad/app",
        "v1",
        Format::Oci,
        std::slice::from_ref(&bad_layer),
    )
    .await
    .unwrap();
    push_image(
        &src,
        "ok/app",
        "v1",
        Format::Oci,
        &[Layer::random(22, 400_000)],
    )
    .await
    .unwrap();
    corrupt_blob(&src, bad_layer.digest());

    let run = ferry(
        FERRY,
        &[
            "copy",
            "--insecure",
            "--output",
            "json",
            &src.url(),
            &dst.url(),
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let (stage, err) = failed_stage(&run.task("bad/app", "v1"));
    assert_eq!(stage, "push");
    assert!(
        err.contains("digest mismatch") && err.contains(bad_layer.digest()),
        "{err}"
    );
    // The upload never completed and the tag was never written.
    assert!(
        !dst.client()
            .blob_exists("bad/app", bad_layer.digest())
            .await
            .unwrap()
    );
    assert!(tags(&dst, "bad/app").await.unwrap().is_empty());
    assert_replicated(&src, &dst, "ok/app", "ok/app", "v1").await;
}

#[tokio::test]
async fn a_corrupt_manifest_at_the_source_fails_that_artifact_only() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let l = Layer::random(23, 3000);
    let bad = push_image(
        &src,
        "bad/img",
        "v1",
        Format::Docker,
        std::slice::from_ref(&l),
    )
    .await
    .unwrap();
    push_image(
        &src,
        "ok/img",
        "v1",
        Format::Docker,
        // Other content: identical images would share the corrupted manifest.
        &[Layer::random(24, 3000)],
    )
    .await
    .unwrap();
    corrupt_blob(&src, bad.digest());

    let run = ferry(
        FERRY,
        &[
            "copy",
            "--insecure",
            "--output",
            "json",
            &src.url(),
            &dst.url(),
        ],
    )
    .await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let (stage, err) = failed_stage(&run.task("bad/img", "v1"));
    assert_eq!(stage, "pull");
    assert!(err.contains("bad/img"), "{err}");
    assert!(tags(&dst, "bad/img").await.unwrap().is_empty());
    assert_eq!(
        run.task("ok/img", "v1")["status"],
        "succeeded",
        "{}",
        run.stdout
    );
    assert_replicated(&src, &dst, "ok/img", "ok/img", "v1").await;
}
