//! `ferry serve` end to end: registries, policies, executions over HTTP
//! against real registries, with SQLite (and PostgreSQL where noted).

use std::time::Duration;

use ferry_harness::*;
use reqwest::Method;
use serde_json::{Value, json};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

#[tokio::test]
async fn replicates_over_http_and_records_every_stage() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::basic("writer", "Sup3r-Secret-Pw"));
    let img = push_index(
        &src,
        "team/app",
        "v1",
        Format::Oci,
        &[("linux", "amd64"), ("linux", "arm64")],
        &[Layer::random(1, 100_000)],
    )
    .await
    .unwrap();
    push_referrer(
        &src,
        "team/app",
        &img.descriptor,
        "application/vnd.example.signature",
    )
    .await
    .unwrap();
    push_image(
        &src,
        "base/os",
        "1",
        Format::Docker,
        &[Layer::random(2, 50_000)],
    )
    .await
    .unwrap();

    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let src_id = s.add_registry("src", &src).await;
    let dst_id = s.add_registry("dst", &dst).await;

    // Credentials are write-only and sealed at rest.
    let shown = s.get(&format!("/api/v1/registries/{dst_id}")).await;
    assert_eq!(shown["credential_type"], "basic");
    assert!(!shown.to_string().contains("Sup3r-Secret-Pw"), "{shown}");
    let db = std::fs::read(s.sqlite_path()).unwrap();
    assert!(
        !db.windows(15).any(|w| w == b"Sup3r-Secret-Pw"),
        "the password is in the database in clear"
    );

    let pid = s
        .add_policy(json!({
            "name": "mirror", "src_registry": {"id": src_id}, "dest_registry": {"id": dst_id},
            "dest_namespace": "mirror", "dest_namespace_replace_count": 0,
            "filters": [{"type": "name", "value": "**"}], "trigger": {"type": "manual"},
        }))
        .await;
    let started = s.run_policy(pid).await;
    assert_eq!(started["trigger"], "manual");
    let id = started["id"].as_i64().unwrap();
    let done = s.wait_execution(id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", s.log());
    assert_eq!(done["total"], 2);
    assert_eq!(done["succeed"], 2);
    assert!(done["bytes"].as_i64().unwrap() > 150_000, "{done}");
    assert!(done["end_time"].as_i64().unwrap() >= done["start_time"].as_i64().unwrap());

    assert_replicated(&src, &dst, "team/app", "mirror/team/app", "v1").await;
    assert_replicated(&src, &dst, "base/os", "mirror/base/os", "1").await;
    assert_same_referrers(&src, &dst, "team/app", "mirror/team/app", img.digest()).await;

    let tasks = s.get(&format!("/api/v1/executions/{id}/tasks")).await;
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    for t in tasks {
        assert_eq!(t["status"], "succeeded", "{t}");
        assert_eq!(t["operation"], "copy");
        let stages: Vec<&str> = t["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["stage"].as_str().unwrap())
            .collect();
        assert_eq!(stages, ["pull", "push", "delete", "verify"], "{t}");
        // Each stage keeps what its function logged.
        let push_logs = t["stages"][1]["logs"].as_array().unwrap();
        assert!(
            push_logs
                .iter()
                .any(|l| l.as_str().unwrap().starts_with("info: ")),
            "{t}"
        );
    }
    let listed = s.get(&format!("/api/v1/policies/{pid}/executions")).await;
    assert_eq!(listed[0]["id"], id);
}

#[tokio::test]
async fn every_call_needs_the_token() {
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let (status, v) = s
        .call_with(Method::GET, "/api/v1/registries", None, None)
        .await;
    assert_eq!(status, 401);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Bearer"),
        "{v}"
    );
    let (status, v) = s
        .call_with(Method::GET, "/api/v1/policies", None, Some("wrong"))
        .await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(v["errors"][0]["code"], "UNAUTHORIZED");
    let (status, _) = s.call_with(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, 200);
    let (status, doc) = s
        .call_with(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, 200);
    assert!(
        doc["paths"]["/api/v1/policies/{id}/executions"].is_object(),
        "{doc}"
    );
}

/// Registries, the slow template and a policy using it.
async fn slow_policy(s: &Server, src: &Registry, dst: &Registry, single_active: bool) -> i64 {
    let src_id = s.add_registry("src", src).await;
    let dst_id = s.add_registry("dst", dst).await;
    s.install_slow_template(60).await;
    s.add_policy(json!({
        "name": "slow", "src_registry": {"id": src_id}, "dest_registry": {"id": dst_id},
        "single_active_replication": single_active, "template": "slow",
    }))
    .await
}

/// Fires `n` triggers at once, spread over the servers; returns the statuses.
async fn trigger_concurrently(servers: &[&Server], policy: i64, n: usize) -> Vec<Value> {
    let calls = (0..n).map(|i| {
        let s = servers[i % servers.len()];
        async move { s.run_policy(policy).await }
    });
    futures::future::join_all(calls).await
}

async fn single_active_holds_under_100_concurrent_triggers(database: Option<&str>) {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    push_image(&src, "a/app", "v1", Format::Oci, &[Layer::random(3, 1000)])
        .await
        .unwrap();
    let s = Server::start(FERRY, database, &[]).await.unwrap();
    let pid = slow_policy(&s, &src, &dst, true).await;

    let execs = trigger_concurrently(&[&s], pid, 100).await;
    let active: Vec<&Value> = execs.iter().filter(|e| e["status"] != "skipped").collect();
    assert_eq!(active.len(), 1, "{execs:?}");
    let skipped = execs.iter().filter(|e| e["status"] == "skipped").count();
    assert_eq!(skipped, 99);
    let text = execs.iter().find(|e| e["status"] == "skipped").unwrap()["status_text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("active replication still in progress"),
        "{text}"
    );

    // The one active execution runs; stopping it ends it at once.
    let id = active[0]["id"].as_i64().unwrap();
    let (status, v) = s
        .post_json(&format!("/api/v1/executions/{id}/stop"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    let done = s.wait_execution(id, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "stopped", "{done}");
    // Once it is over, the policy can run again.
    let next = s.run_policy(pid).await;
    assert_ne!(next["status"], "skipped", "{next}");
    let nid = next["id"].as_i64().unwrap();
    s.post_json(&format!("/api/v1/executions/{nid}/stop"), json!({}))
        .await;
    s.wait_execution(nid, Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_active_on_sqlite() {
    single_active_holds_under_100_concurrent_triggers(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_active_on_postgres() {
    let db = PgDatabase::create().await.unwrap();
    single_active_holds_under_100_concurrent_triggers(Some(&db.url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_coordinators_on_one_postgres_never_run_a_policy_twice() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    push_image(&src, "a/app", "v1", Format::Oci, &[Layer::random(4, 1000)])
        .await
        .unwrap();
    let db = PgDatabase::create().await.unwrap();
    let a = Server::start(FERRY, Some(&db.url), &[]).await.unwrap();
    let b = Server::start(FERRY, Some(&db.url), &[]).await.unwrap();
    let pid = slow_policy(&a, &src, &dst, true).await;

    let execs = trigger_concurrently(&[&a, &b], pid, 100).await;
    let active: Vec<&Value> = execs.iter().filter(|e| e["status"] != "skipped").collect();
    assert_eq!(active.len(), 1, "{execs:?}");
    let id = active[0]["id"].as_i64().unwrap();
    // Either coordinator may run it; both see the same state.
    let seen_by_b = b.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!(seen_by_b["policy_id"], pid);
    b.post_json(&format!("/api/v1/executions/{id}/stop"), json!({}))
        .await;
    let done = a.wait_execution(id, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "stopped", "{done}");

    // Without the flag, executions of one policy may overlap.
    let (status, p) = a
        .call(Method::GET, &format!("/api/v1/policies/{pid}"), None)
        .await;
    assert_eq!(status, 200);
    let mut open = p.clone();
    open["single_active_replication"] = json!(false);
    let (status, v) = a
        .call(
            Method::PUT,
            &format!("/api/v1/policies/{pid}"),
            Some(Body::Json(open)),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let execs = trigger_concurrently(&[&a, &b], pid, 6).await;
    assert!(execs.iter().all(|e| e["status"] != "skipped"), "{execs:?}");
    for e in &execs {
        let id = e["id"].as_i64().unwrap();
        a.post_json(&format!("/api/v1/executions/{id}/stop"), json!({}))
            .await;
    }
    for e in &execs {
        a.wait_execution(e["id"].as_i64().unwrap(), Duration::from_secs(20))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_coordinator_killed_mid_run_has_its_execution_taken_over() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    push_image(&src, "a/app", "v1", Format::Oci, &[Layer::random(5, 1000)])
        .await
        .unwrap();
    let db = PgDatabase::create().await.unwrap();
    let lease = [("FERRY_LEASE_SECS", "2")];
    let mut a = Server::start(FERRY, Some(&db.url), &lease).await.unwrap();
    let pid = slow_policy(&a, &src, &dst, true).await;
    let id = a.run_policy(pid).await["id"].as_i64().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while a.get(&format!("/api/v1/executions/{id}")).await["status"] != "running" {
        assert!(std::time::Instant::now() < deadline, "never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.kill().await;

    // Another coordinator takes it over once the lease is gone (the full
    // resume is in tests/recovery.rs); it still holds the policy's slot.
    let b = Server::start(FERRY, Some(&db.url), &lease).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let e = b.get(&format!("/api/v1/executions/{id}")).await;
        if e["resumed"] == 1 && e["status"] == "running" {
            let text = e["status_text"].as_str().unwrap();
            assert!(text.contains("stopped mid-run; resuming"), "{text}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not taken over: {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(b.run_policy(pid).await["status"], "skipped");
    b.post_json(&format!("/api/v1/executions/{id}/stop"), json!({}))
        .await;
    let done = b.wait_execution(id, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "stopped", "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blob_another_coordinator_is_moving_is_waited_for_and_not_sent_again() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let layer = Layer::random(6, 300_000);
    let img = push_image(
        &src,
        "a/app",
        "v1",
        Format::Oci,
        std::slice::from_ref(&layer),
    )
    .await
    .unwrap();
    let manifest: Value = serde_json::from_slice(&img.manifest).unwrap();
    let config = manifest["config"]["digest"].as_str().unwrap().to_string();
    let db = PgDatabase::create().await.unwrap();
    let s = Server::start(FERRY, Some(&db.url), &[]).await.unwrap();
    let src_id = s.add_registry("src", &src).await;
    let dst_id = s.add_registry("dst", &dst).await;
    let pid = s
        .add_policy(
            json!({"name": "p", "src_registry": {"id": src_id}, "dest_registry": {"id": dst_id}}),
        )
        .await;
    // Another coordinator (this test) is moving the layer into a/app at
    // the target; one that died left a lapsed claim on the config.
    let key = |digest: &str| format!("{} a/app {digest}", dst.url().trim_end_matches('/'));
    db.execute(&format!(
        "INSERT INTO blob_moves (key, holder, until) VALUES \
         ('{}', 'elsewhere/1', (extract(epoch from now()) * 1000)::bigint + 60000), \
         ('{}', 'dead/1', (extract(epoch from now()) * 1000)::bigint - 1)",
        key(layer.digest()),
        key(&config)
    ))
    .unwrap();
    let mark = dst.log_mark();
    let id = s.run_policy(pid).await["id"].as_i64().unwrap();
    let uploads_since = |mark| {
        dst.requests_since(mark)
            .into_iter()
            .filter(|(m, p, st)| m == "PUT" && p.contains("/blobs/uploads/") && *st == 201)
            .count()
    };
    // The config goes (its claim lapsed); the layer waits for its mover.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while uploads_since(mark) < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the config never went"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let running = s.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(uploads_since(mark), 1, "only the config was sent");

    // The other mover finishes and lets go: the execution finds the layer.
    push_blob(&dst, "a/app", layer.bytes().clone())
        .await
        .unwrap();
    let mark = dst.log_mark();
    db.execute(&format!(
        "DELETE FROM blob_moves WHERE key = '{}'",
        key(layer.digest())
    ))
    .unwrap();
    let done = s.wait_execution(id, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(uploads_since(mark), 0, "the layer was not sent again");
    assert_eq!(
        manifest_digest(&dst, "a/app", "v1")
            .await
            .unwrap()
            .as_deref(),
        Some(img.digest())
    );
    // Every claim this coordinator made is given up.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !db
        .query("SELECT key FROM blob_moves")
        .unwrap()
        .trim()
        .is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "claims left behind");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Counts of every listable resource, to show a rejected write wrote nothing.
async fn counts(s: &Server) -> [usize; 4] {
    let n = |v: Value| v.as_array().map(Vec::len).unwrap_or(0);
    [
        n(s.get("/api/v1/registries").await),
        n(s.get("/api/v1/policies").await),
        n(s.get("/api/v1/templates").await),
        n(s.get("/api/v1/functions").await),
    ]
}

fn error_message(v: &Value) -> String {
    v["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error document: {v}"))
        .to_string()
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_message_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferry.yaml");
    std::fs::write(&config, "max_upload_bytes: 1048576\n").unwrap();
    let s = Server::start(FERRY, None, &[("FERRY_CONFIG", config.to_str().unwrap())])
        .await
        .unwrap();
    let reg = Registry::start(Auth::None);
    let good = s.add_registry("good", &reg).await;
    let before = counts(&s).await;

    let cases: Vec<(Method, &str, Body, u16, &str)> = vec![
        (Method::POST, "/api/v1/registries", Body::Json(json!({"url": "http://127.0.0.1:1"})), 422, "name"),
        (Method::POST, "/api/v1/registries", Body::Json(json!({"name": "x", "url": "not a url"})), 400, "url"),
        (Method::POST, "/api/v1/registries", Body::Json(json!({"name": "x", "url": "http://127.0.0.1:1"})), 400, "insecure"),
        (Method::POST, "/api/v1/registries", Body::Json(json!({"name": "good", "url": reg.url(), "insecure": true})), 409, "good"),
        (Method::POST, "/api/v1/policies", Body::Json(json!({"name": "p"})), 400, "src_registry"),
        (Method::POST, "/api/v1/policies", Body::Json(json!({"name": "p", "src_registry": {"id": 999}, "dest_registry": {"id": good}})), 400, "unknown registry 999"),
        (
            Method::POST,
            "/api/v1/policies",
            Body::Json(json!({"name": "p", "src_registry": {"id": good}, "dest_registry": {"id": good},
                "trigger": {"type": "scheduled", "trigger_settings": {"cron": "every tuesday"}}})),
            400,
            "cron",
        ),
        (
            Method::POST,
            "/api/v1/policies",
            Body::Json(json!({"name": "p", "src_registry": {"id": good}, "dest_registry": {"id": good}, "template": "nope"})),
            400,
            "template",
        ),
        (
            Method::POST,
            "/api/v1/templates",
            Body::Yaml("version: 1\nname: t\nstages:\n  - name: list\n    function: nope@1.0\n    scope: execution\n".into()),
            400,
            "template:5:15: unknown function nope@1.0",
        ),
        (Method::POST, "/api/v1/functions?name=f&version=1", Body::Wasm(b"not wasm at all".to_vec()), 400, "not a WebAssembly component"),
        (Method::POST, "/api/v1/functions?name=f&version=1", Body::Wasm(b"\0asm\x01\0\0\0".to_vec()), 400, "not a WebAssembly component"),
        (Method::POST, "/api/v1/functions?name=f&version=1", Body::Wasm(b"\0asm\x0d\0\x01\0".to_vec()), 400, "not a ferry:replication/stage component"),
        (Method::POST, "/api/v1/functions?name=f&version=1", Body::Wasm(vec![0u8; 2 << 20]), 413, "at most 1 MiB"),
        (Method::POST, "/api/v1/functions?name=Bad_Name&version=1", Body::Wasm(b"x".to_vec()), 400, "name"),
        (Method::POST, "/api/v1/policies/999/executions", Body::Json(json!({})), 404, "policy 999"),
        (Method::GET, "/api/v1/executions/999", Body::Json(json!({})), 404, "execution 999"),
        (Method::GET, "/api/v1/executions/abc", Body::Json(json!({})), 400, "abc"),
        (Method::POST, "/api/v1/templates", Body::Wasm(vec![0xff, 0xfe, 0x00]), 400, "UTF-8"),
        (Method::GET, "/api/v1/policies/1/executions?page=0", Body::Json(json!({})), 400, "page starts at 1"),
    ];
    for (method, path, body, want_status, want_text) in cases {
        let (status, v) = s.call(method.clone(), path, Some(body)).await;
        assert_eq!(status, want_status, "{method} {path}: {v}");
        let msg = error_message(&v);
        assert!(
            msg.contains(want_text),
            "{method} {path}: want {want_text:?} in {msg:?}"
        );
    }
    assert_eq!(
        counts(&s).await,
        before,
        "a rejected request wrote something"
    );
}

#[tokio::test]
async fn an_uploaded_function_is_usable_at_once_and_immutable() {
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let bytes = extra_function("fault-injector@0.4.0");
    let path = "/api/v1/functions?name=my-adapter&version=1.0.0";
    let (status, f) = s
        .call(Method::POST, path, Some(Body::Wasm(bytes.clone())))
        .await;
    assert_eq!(status, 201, "{f}");
    assert_eq!(f["name"], "my-adapter");
    assert_eq!(f["digest"].as_str().unwrap(), sha256_digest(&bytes));
    assert!(f["exports"].to_string().contains("run"), "{f}");
    assert!(
        f["imports"].to_string().contains("ferry:replication/host"),
        "{f}"
    );
    let shown = s.get("/api/v1/functions/my-adapter/1.0.0").await;
    assert_eq!(shown["digest"], f["digest"]);
    // Built-ins are registered at start; test-only and uploadable
    // functions are not.
    let all = s.get("/api/v1/functions").await;
    assert!(all.to_string().contains("oci-push"), "{all}");
    for extra in ["fault-injector", "helm-list", "helm-push"] {
        assert!(
            !all.to_string().contains(extra),
            "{extra} is built in: {all}"
        );
    }

    // A template can use it right away, no restart.
    let yaml = "version: 1\nname: custom\nstages:\n  - name: list\n    function: oci-pull-prepare@0.4.0\n    scope: execution\n  - name: mine\n    function: my-adapter@1.0.0\n    scope: artifact\n    params: {mode: none}\n";
    let (status, t) = s
        .call(
            Method::POST,
            "/api/v1/templates",
            Some(Body::Yaml(yaml.into())),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    assert_eq!(t["version"], 1);
    let (status, t) = s
        .call(
            Method::PUT,
            "/api/v1/templates/custom",
            Some(Body::Yaml(yaml.into())),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["version"], 2);

    // Versions are immutable: other bytes under the same version are refused.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/functions");
    let other = std::fs::read(format!("{dir}/verify@0.4.0.wasm")).unwrap();
    let (status, v) = s.call(Method::POST, path, Some(Body::Wasm(other))).await;
    assert_eq!(status, 409, "{v}");
    assert!(error_message(&v).contains("new version"), "{v}");
}

#[tokio::test]
async fn retry_re_runs_only_the_failed_tasks() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    push_image(
        &src,
        "good/app",
        "v1",
        Format::Oci,
        &[Layer::random(6, 1000)],
    )
    .await
    .unwrap();
    push_image(
        &src,
        "bad/app",
        "v1",
        Format::Oci,
        &[Layer::random(7, 1000)],
    )
    .await
    .unwrap();
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let src_id = s.add_registry("src", &src).await;
    let dst_id = s.add_registry("dst", &dst).await;
    s.upload_extra("fault-injector@0.4.0").await;
    let yaml = "version: 1\nname: flaky\nstages:\n  - {name: pull-prepare, function: oci-pull-prepare@0.4.0, scope: execution}\n  - {name: pull, function: oci-pull@0.4.0, scope: artifact}\n  - name: break\n    function: fault-injector@0.4.0\n    scope: artifact\n    params: {mode: fail, repository: \"bad/**\"}\n  - {name: push, function: oci-push@0.4.0, scope: artifact}\n";
    let (status, v) = s
        .call(
            Method::POST,
            "/api/v1/templates",
            Some(Body::Yaml(yaml.into())),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let pid = s.add_policy(json!({"name": "p", "src_registry": {"id": src_id}, "dest_registry": {"id": dst_id}, "template": "flaky"})).await;
    let first = s.run_policy(pid).await["id"].as_i64().unwrap();
    let done = s.wait_execution(first, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(
        (
            done["total"].as_i64(),
            done["succeed"].as_i64(),
            done["failed"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(done["status_text"], "1 of 2 artifact(s) failed");
    let tasks = s.get(&format!("/api/v1/executions/{first}/tasks")).await;
    let bad = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["repository"] == "bad/app")
        .unwrap()
        .clone();
    assert_eq!(bad["status"], "failed");
    assert!(
        bad["error"].as_str().unwrap().contains("stage break"),
        "{bad}"
    );
    let outcomes: Vec<&str> = bad["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["succeeded", "failed", "not-run"]);

    let (status, retry) = s
        .post_json(&format!("/api/v1/executions/{first}/retry"), json!({}))
        .await;
    assert_eq!(status, 201, "{retry}");
    assert_eq!(retry["trigger"], "retry");
    let id = retry["id"].as_i64().unwrap();
    let done = s.wait_execution(id, Duration::from_secs(60)).await;
    assert_eq!(done["total"], 1, "only the failed task runs again: {done}");
    assert_eq!(done["status"], "failed", "the fault is still there: {done}");
    let tasks = s.get(&format!("/api/v1/executions/{id}/tasks")).await;
    assert_eq!(tasks[0]["repository"], "bad/app");
    // A retry that failed again can be retried.
    let (status, again) = s
        .post_json(&format!("/api/v1/executions/{id}/retry"), json!({}))
        .await;
    assert_eq!(status, 201, "{again}");
    let again = again["id"].as_i64().unwrap();
    let done = s.wait_execution(again, Duration::from_secs(60)).await;
    assert_eq!(
        (done["status"].as_str(), done["total"].as_i64()),
        (Some("failed"), Some(1))
    );

    // An execution where nothing failed is refused, with the reason.
    let good = s.add_policy(json!({"name": "good", "src_registry": {"id": src_id}, "dest_registry": {"id": dst_id}, "template": "flaky", "filters": [{"type": "name", "value": "good/**"}]})).await;
    let ok = s.run_policy(good).await["id"].as_i64().unwrap();
    let done = s.wait_execution(ok, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let (status, v) = s
        .post_json(&format!("/api/v1/executions/{ok}/retry"), json!({}))
        .await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(
        v["errors"][0]["message"],
        format!("execution {ok} has no failed tasks to retry")
    );
}

/// With `FERRY_REDIS`, what the target holds is kept in Redis: after a
/// first run the target's repositories are there, and a re-run copies
/// nothing and asks the target one manifest HEAD per repository (the spot
/// check); Redis answers the rest.
#[tokio::test]
async fn the_existence_cache_in_redis_spares_a_rerun() {
    let redis = RedisServer::start();
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let base = Layer::random(31, 20_000);
    let repos: [(&str, &[&str]); 2] = [("one", &["a", "b", "c"]), ("two", &["x"])];
    for (r, (repo, tags)) in repos.iter().enumerate() {
        for (i, tag) in tags.iter().enumerate() {
            let own = Layer::random(40 + 10 * r as u64 + i as u64, 5_000);
            push_image(&src, repo, tag, Format::Oci, &[base.clone(), own])
                .await
                .unwrap();
        }
    }
    let redis_url = redis.url();
    let s = Server::start(FERRY, None, &[("FERRY_REDIS", redis_url.as_str())])
        .await
        .unwrap();
    let src_id = s.add_registry("src", &src).await;
    let dst_id = s.add_registry("dst", &dst).await;
    let pid = s
        .add_policy(json!({
            "name": "cached", "src_registry": {"id": src_id}, "dest_registry": {"id": dst_id},
            "filters": [{"type": "name", "value": "**"}], "trigger": {"type": "manual"},
        }))
        .await;

    let first = s.run_policy(pid).await["id"].as_i64().unwrap();
    let done = s.wait_execution(first, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", s.log());
    assert_eq!(
        (done["total"].as_i64(), done["succeed"].as_i64()),
        (Some(4), Some(4)),
        "{done}"
    );
    for (repo, tags) in repos {
        for tag in tags {
            assert_replicated(&src, &dst, repo, repo, tag).await;
        }
    }

    // One hash per target repository, holding its tags.
    let client = ::redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = ::redis::cmd("KEYS")
        .arg("ferry:known:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    let key = |repo: &str| format!("ferry:known:{}/{repo}", dst.url());
    assert_eq!(keys, [key("one"), key("two")], "{}", s.log());
    let fields: Vec<String> = ::redis::cmd("HKEYS")
        .arg(key("one"))
        .query_async(&mut conn)
        .await
        .unwrap();
    for tag in ["m:a", "m:b", "m:c"] {
        assert!(fields.iter().any(|f| f == tag), "{tag} not in {fields:?}");
    }
    assert!(
        fields.iter().any(|f| f.starts_with("b:sha256:")),
        "{fields:?}"
    );

    // Again: everything is in place; the target lists its tags, one request
    // per repository, and Redis answers every manifest HEAD.
    let mark = dst.log_mark();
    let again = s.run_policy(pid).await["id"].as_i64().unwrap();
    let done = s.wait_execution(again, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", s.log());
    assert_eq!(
        (done["total"].as_i64(), done["bytes"].as_i64()),
        (Some(0), Some(0)),
        "{done}"
    );
    let tasks = s.get(&format!("/api/v1/executions/{again}/tasks")).await;
    assert_eq!(tasks.as_array().map(Vec::len), Some(0), "{tasks}");
    let store = ::ferry::store::Store::open(&format!("sqlite://{}", s.sqlite_path().display()))
        .await
        .unwrap();
    let report = store.execution_report(again).await.unwrap();
    store.close().await;
    let listing = report
        .as_array()
        .and_then(|stages| stages.iter().find(|st| st["stage"] == "pull-prepare"))
        .unwrap_or_else(|| panic!("no pull-prepare record in {report}"));
    assert_eq!(listing["counts"]["up-to-date"], 4, "{listing}");
    assert_eq!(listing["counts"]["artifacts"], 0, "{listing}");

    let requests = dst.requests_since(mark);
    for (method, path, _) in &requests {
        assert!(
            path == "/v2/" || (method == "GET" && path.contains("/tags/list")),
            "the target was asked {method} {path} during a no-op"
        );
    }
    let lists = requests
        .iter()
        .filter(|(_, p, _)| p.contains("/tags/list"))
        .count();
    assert_eq!(lists, 2, "{requests:?}");
}
