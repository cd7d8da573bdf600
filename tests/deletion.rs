//! Deletions replicated, dry runs and kept target tags, with `ferry copy`
//! and `ferry serve`, between real registries.

use std::time::Duration;

use ferry_harness::*;
use reqwest::Method;
use serde_json::json;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

async fn copy(src: &Registry, dst: &Registry, extra: &[&str]) -> Run {
    let (s, d) = (src.url(), dst.url());
    let mut args = vec!["copy", "--insecure"];
    args.extend(extra);
    args.extend([s.as_str(), d.as_str()]);
    ferry(FERRY, &args).await
}

async fn digest(reg: &Registry, repo: &str, tag: &str) -> Option<String> {
    manifest_digest(reg, repo, tag).await.unwrap()
}

async fn sorted_tags(reg: &Registry, repo: &str) -> Vec<String> {
    let mut t = tags(reg, repo).await.unwrap();
    t.sort();
    t
}

/// Methods that change a registry, from its access log since `mark`.
fn writes_since(reg: &Registry, mark: u64) -> Vec<(String, String, u16)> {
    reg.requests_since(mark)
        .into_iter()
        .filter(|(m, _, _)| !matches!(m.as_str(), "GET" | "HEAD"))
        .collect()
}

/// Source: team/app v1 and v3 on one image, v2 on another; other/lib:1.
/// Target: a copy of it all, plus team/app:local-1 on v1's image and
/// elsewhere/x:1, which are Ferry's to leave alone.
async fn mirrored_pair() -> (Registry, Registry, String) {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let a = push_image(
        &src,
        "team/app",
        "v1",
        Format::Oci,
        &[Layer::random(21, 2000)],
    )
    .await
    .unwrap();
    push_image(
        &src,
        "team/app",
        "v3",
        Format::Oci,
        &[Layer::random(21, 2000)],
    )
    .await
    .unwrap();
    push_image(
        &src,
        "team/app",
        "v2",
        Format::Oci,
        &[Layer::random(22, 2000)],
    )
    .await
    .unwrap();
    push_image(
        &src,
        "other/lib",
        "1",
        Format::Docker,
        &[Layer::random(23, 2000)],
    )
    .await
    .unwrap();
    let run = copy(&src, &dst, &[]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    push_image(
        &dst,
        "team/app",
        "local-1",
        Format::Oci,
        &[Layer::random(21, 2000)],
    )
    .await
    .unwrap();
    push_image(
        &dst,
        "elsewhere/x",
        "1",
        Format::Oci,
        &[Layer::random(24, 2000)],
    )
    .await
    .unwrap();
    assert_eq!(
        digest(&dst, "team/app", "local-1").await.as_deref(),
        Some(a.digest())
    );
    (src, dst, a.digest().to_string())
}

#[tokio::test]
async fn copy_delete_removes_only_the_tags_gone_at_the_source() {
    let (src, dst, shared) = mirrored_pair().await;
    // v1 goes at the source; v3 stays on the same image. other/lib goes
    // altogether (its only tag).
    src.remove_tag("team/app", "v1").unwrap();
    src.remove_tag("other/lib", "1").unwrap();
    let scope = ["--exclude-tag", "local-*"];

    // Without --delete, nothing goes.
    let run = copy(&src, &dst, &scope).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(digest(&dst, "team/app", "v1").await.is_some());

    // A dry run lists, with reasons, and writes nothing.
    let mark = dst.log_mark();
    let src_mark = src.log_mark();
    let mut args = vec!["--delete", "--dry-run"];
    args.extend(scope);
    let plan = copy(&src, &dst, &args).await;
    assert_eq!(plan.code, Some(0), "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains("nothing was written"),
        "{}",
        plan.stdout
    );
    for line in [
        "delete team/app:v1 -> team/app:v1: team/app:v1 is gone at the source",
        "delete other/lib:1 -> other/lib:1: other/lib:1 is gone at the source",
        "skip   team/app:v2 -> team/app:v2: the target has it",
        "skip   team/app:v3 -> team/app:v3: the target has it",
        "plan: 0 to copy, 2 to skip, 2 to delete",
    ] {
        assert!(plan.stdout.contains(line), "{line:?} in:\n{}", plan.stdout);
    }
    assert_eq!(
        writes_since(&dst, mark),
        [],
        "the dry run wrote to the target"
    );
    assert_eq!(writes_since(&src, src_mark), []);

    let run = copy(
        &src,
        &dst,
        &["--delete", "--exclude-tag", "local-*", "--output", "json"],
    )
    .await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let deleted = run.task("team/app", "v1");
    assert_eq!(deleted["operation"], "delete", "{deleted}");
    assert_eq!(deleted["status"], "succeeded", "{deleted}");
    let outcomes: Vec<(&str, &str)> = deleted["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("pull", "not-run"),
            ("push", "not-run"),
            ("delete", "succeeded"),
            ("verify", "not-run")
        ]
    );
    // distribution 2.8 deletes manifests, not tags: v3 (the source still
    // has it) and local-1 (out of scope) were tagged again.
    assert_eq!(
        deleted["stages"][2]["counts"]["tags-restored"], 2,
        "{deleted}"
    );
    assert_eq!(sorted_tags(&dst, "team/app").await, ["local-1", "v2", "v3"]);
    for tag in ["v3", "local-1"] {
        assert_eq!(
            digest(&dst, "team/app", tag).await.as_deref(),
            Some(shared.as_str())
        );
    }
    assert_replicated(&src, &dst, "team/app", "team/app", "v2").await;
    assert_eq!(digest(&dst, "other/lib", "1").await, None);
    assert_eq!(sorted_tags(&dst, "elsewhere/x").await, ["1"]);

    // Done: the next run deletes nothing.
    let again = copy(
        &src,
        &dst,
        &["--delete", "--exclude-tag", "local-*", "--output", "json"],
    )
    .await;
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(again.report()["tasks"], json!([]), "{}", again.stdout);
}

#[tokio::test]
async fn a_kept_target_tag_ends_skipped_with_the_reason() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    push_image(&src, "a/app", "v1", Format::Oci, &[Layer::random(31, 1000)])
        .await
        .unwrap();
    let theirs = push_image(&dst, "a/app", "v1", Format::Oci, &[Layer::random(32, 1000)])
        .await
        .unwrap();

    let plan = copy(&src, &dst, &["--no-override", "--dry-run"]).await;
    assert_eq!(plan.code, Some(0), "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains(&format!(
            "skip   a/app:v1 -> a/app:v1: the target has {}",
            theirs.digest()
        )) && plan.stdout.contains("and the policy does not override"),
        "{}",
        plan.stdout
    );

    let run = copy(&src, &dst, &["--no-override", "--output", "json"]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let task = run.task("a/app", "v1");
    assert_eq!(task["status"], "skipped", "{task}");
    let reason = task["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("is {} at the target", theirs.digest()))
            && reason.contains("does not override"),
        "{reason}"
    );
    let outcomes: Vec<(&str, &str)> = task["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("pull", "succeeded"),
            ("push", "skipped"),
            ("delete", "not-run"),
            ("verify", "not-run")
        ]
    );
    assert_eq!(
        digest(&dst, "a/app", "v1").await.as_deref(),
        Some(theirs.digest())
    );

    let text = copy(&src, &dst, &["--no-override"]).await;
    assert_eq!(text.code, Some(0));
    assert!(
        text.stdout.contains("skipped: a/app:v1: a/app:v1 is "),
        "{}",
        text.stdout
    );
}

#[tokio::test]
async fn the_service_replicates_deletions_and_plans_dry_runs() {
    let (src, dst, _) = mirrored_pair().await;
    src.remove_tag("team/app", "v1").unwrap();
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let (a, b) = (
        s.add_registry("src", &src).await,
        s.add_registry("dst", &dst).await,
    );
    let base = json!({
        "name": "mirror", "src_registry": {"id": a}, "dest_registry": {"id": b},
        "filters": [{"type": "name", "value": "team/**"},
                    {"type": "tag", "value": "local-*", "decoration": "excludes"}],
        "replicate_deletion": true,
    });

    // Write-time checks: labels, and a template that cannot delete.
    let mut labels = base.clone();
    labels["filters"] = json!([{"type": "label", "value": ["env=prod"]}]);
    let (status, v) = s.post_json("/api/v1/policies", labels).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("have no labels"),
        "{v}"
    );
    let (status, v) = s
        .call(
            Method::POST,
            "/api/v1/templates",
            Some(Body::Yaml(
                "version: 1\nname: copies-only\nstages:\n  - {name: list, function: oci-pull-prepare@0.4.0, scope: execution}\n  - {name: push, function: oci-push@0.4.0, scope: artifact}\n".into(),
            )),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let mut cannot = base.clone();
    cannot["template"] = json!("copies-only");
    let (status, v) = s.post_json("/api/v1/policies", cannot).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no stage for deletions"),
        "{v}"
    );
    let (status, policy) = s.post_json("/api/v1/policies", base).await;
    assert_eq!(status, 201, "{policy}");
    let pid = policy["id"].as_i64().unwrap();

    // A dry run: its plan, nothing written.
    let mark = dst.log_mark();
    let (status, v) = s
        .post_json(
            &format!("/api/v1/policies/{pid}/executions"),
            json!({"dry_run": true}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["dry_run"], true);
    let id = v["id"].as_i64().unwrap();
    let done = s.wait_execution(id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        done["status_text"],
        "dry run: 0 to copy, 2 to skip, 1 to delete"
    );
    let plan = done["plan"].as_array().unwrap();
    let delete = plan.iter().find(|e| e["action"] == "delete").unwrap();
    assert_eq!(
        (
            &delete["target_repository"],
            &delete["tag"],
            &delete["reason"]
        ),
        (
            &json!("team/app"),
            &json!("v1"),
            &json!("team/app:v1 is gone at the source")
        )
    );
    assert_eq!(done["stages"][0]["stage"], "pull-prepare");
    assert_eq!(done["stages"][0]["outcome"], "succeeded");
    assert_eq!(
        s.get(&format!("/api/v1/executions/{id}/tasks")).await,
        json!([])
    );
    assert_eq!(writes_since(&dst, mark), []);

    // The real run: one delete task, and every execution-scoped record.
    let (status, v) = s
        .post_json(&format!("/api/v1/policies/{pid}/executions"), json!({}))
        .await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let done = s.wait_execution(id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", s.log());
    let stages: Vec<&str> = done["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["pull-prepare", "push-prepare"]);
    assert_eq!(done["stages"][0]["counts"]["deletions"], 1, "{done}");
    let tasks = s.get(&format!("/api/v1/executions/{id}/tasks")).await;
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["operation"], "delete");
    assert_eq!(tasks[0]["tag"], "v1");
    assert_eq!(tasks[0]["status"], "succeeded", "{}", tasks[0]);
    assert_eq!(sorted_tags(&dst, "team/app").await, ["local-1", "v2", "v3"]);
    assert_eq!(sorted_tags(&dst, "other/lib").await, ["1"]);
}
