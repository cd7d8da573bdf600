//! The web console in a real browser: Debian's Chromium driven by
//! Playwright (`tests/console/e2e.mjs`) against a real `ferry serve` and
//! real registries. The script walks a new user's path through the pages
//! and checks what each page shows; this test then checks what the path
//! did, behind the console: digests at the target, and what the API holds.
//!
//! `FERRY_SCREENSHOTS=<dir>` also saves the README's screenshots there.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use ferry_harness::*;
use serde_json::json;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/console/e2e.mjs");
/// The whole walk, bounded.
const LIMIT: Duration = Duration::from_secs(300);

fn extra(reference: &str) -> String {
    format!("{EXTRA_FUNCTIONS}/{reference}.wasm")
}

fn chromium() -> String {
    let path = std::env::var("FERRY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&path).exists(),
        "{path} not found: run tests/scripts/setup (it installs Debian's chromium)"
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_user_replicates_in_the_browser_alone() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let app = push_image(
        &src,
        "team/app",
        "v1",
        Format::Oci,
        &[Layer::random(81, 200_000)],
    )
    .await
    .unwrap();
    push_image(
        &src,
        "team/broken",
        "v1",
        Format::Oci,
        &[Layer::random(82, 1000)],
    )
    .await
    .unwrap();
    let s = Server::start(FERRY, None, &[]).await.unwrap();

    // What the user finds installed: the fault injector (the template they
    // write uses it), and a slow policy of an operator's, to stop.
    s.install_slow_template(60).await;
    let origin = s.add_registry("origin", &src).await;
    let backup = s.add_registry("backup", &dst).await;
    let (status, v) = s
        .post_json(
            "/api/v1/policies",
            json!({"name": "slow", "src_registry": {"id": origin}, "dest_registry": {"id": backup},
                   "dest_namespace": "slow", "template": "slow"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");

    let shots = std::env::var("FERRY_SCREENSHOTS").unwrap_or_default();
    let child = tokio::process::Command::new("node")
        .arg(SCRIPT)
        .env("FERRY_URL", &s.url)
        .env("FERRY_TOKEN", server::TOKEN)
        .env("SRC_URL", src.url())
        .env("DST_URL", dst.url())
        .env("UPLOAD_WASM", extra("helm-list@0.4.0"))
        .env("DROP_WASM", extra("helm-push@0.4.0"))
        .env("CHROMIUM", chromium())
        .env("SCREENSHOTS", &shots)
        .env("NO_PROXY", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting node (run tests/scripts/setup)");
    let out = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the browser walk did not end within {LIMIT:?}; killed"))
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser walk failed ({}):\n{said}{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    assert!(said.contains("walk: done"), "{said}");

    // Behind the pages: what the walk made.
    let registries = s.get("/api/v1/registries").await;
    let names: Vec<&str> = registries
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["origin", "backup", "src", "dst"], "{registries}");
    assert_eq!(registries[2]["description"], "where images come from");
    let functions = s.get("/api/v1/functions").await;
    let uploaded: Vec<String> = functions
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["builtin"] == false)
        .map(|f| {
            format!(
                "{}@{}",
                f["name"].as_str().unwrap(),
                f["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        uploaded,
        ["fault-injector@0.4.0", "helm-list@0.4.0", "helm-push@0.4.0"],
        "the picked and the dropped file; not the rejected one"
    );
    let versions = s.get("/api/v1/templates/checked/versions").await;
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert!(
        versions[1]["body"]
            .as_str()
            .unwrap()
            .contains("description: mirror,")
    );
    let policies = s.get("/api/v1/policies").await;
    let mirror = policies
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mirror")
        .unwrap_or_else(|| panic!("{policies}"));
    assert_eq!(mirror["template"], "checked");
    assert_eq!(mirror["dest_namespace"], "copies");
    assert_eq!(mirror["dest_namespace_replace_count"], 1);
    assert_eq!(mirror["trigger"]["type"], "scheduled");
    assert_eq!(mirror["trigger"]["trigger_settings"]["cron"], "0 0 2 * * *");
    assert_eq!(mirror["enabled"], false);
    let execs = s.executions(mirror["id"].as_i64().unwrap()).await;
    assert_eq!(execs.len(), 3, "the run, its retry, a dry run: {execs:?}");
    let (dry, retry, run) = (&execs[0], &execs[1], &execs[2]);
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!(
        catalog(&dst).await.unwrap(),
        ["team/app"],
        "the dry run wrote nothing (copies/app)"
    );
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(
        (run["total"].as_i64(), run["failed"].as_i64()),
        (Some(2), Some(1)),
        "{run}"
    );
    assert_eq!(retry["total"], 1, "only the failed task again: {retry}");
    // team/app replicated with its digest; team/broken failed its check
    // and was never pushed.
    assert_eq!(
        manifest_digest(&dst, "team/app", "v1")
            .await
            .unwrap()
            .as_deref(),
        Some(app.digest())
    );
    assert_eq!(
        manifest_digest(&dst, "team/broken", "v1").await.unwrap(),
        None
    );
    let slow = policies
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "slow")
        .unwrap();
    let stopped = s.executions(slow["id"].as_i64().unwrap()).await;
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    let stopped = s
        .wait_execution(stopped[0]["id"].as_i64().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(stopped["status"], "stopped", "{stopped}");
}
