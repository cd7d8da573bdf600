//! A coordinator killed with `kill -9` loses no work: once its lease
//! expires, another coordinator on the same PostgreSQL takes the execution
//! over and completes it, running only the unfinished tasks and sending no
//! blob the target already has.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferry_harness::faults::{Fault, FaultProxy, Rule};
use ferry_harness::*;
use serde_json::{Value, json};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const LEASE: [(&str, &str); 1] = [("FERRY_LEASE_SECS", "2")];

/// Six images of 0.6–1 MiB layers, one tag each.
async fn corpus(src: &Registry) -> Vec<String> {
    let mut repos = Vec::new();
    for i in 0..6u64 {
        let repo = format!("fleet/app{i}");
        let layers = [
            Layer::random(400 + i, 600_000),
            Layer::random(500 + i, 400_000),
        ];
        push_image(src, &repo, "1", Format::Oci, &layers)
            .await
            .unwrap();
        repos.push(repo);
    }
    repos
}

/// Registries (the source, and the target through a faithful proxy that
/// records uploads) and a manual policy on `s`.
async fn policy(s: &Server, src: &str, dst: &str) -> i64 {
    with_fields(s, src, dst, json!({"trigger": {"type": "manual"}})).await
}

/// The same with more `fields` (the trigger among them).
async fn with_fields(s: &Server, src: &str, dst: &str, fields: Value) -> i64 {
    let src_id = s.add_registry_at("src", src, None).await;
    let dst_id = s.add_registry_at("dst", dst, None).await;
    let mut body = json!({
        "name": "fleet", "src_registry": {"id": src_id}, "dest_registry": {"id": dst_id},
    });
    for (k, v) in fields.as_object().unwrap() {
        body[k] = v.clone();
    }
    s.add_policy(body).await
}

/// Every layer's body pauses once for 1.5 s, so that a copy lasts long
/// enough to be killed in the middle of.
fn slowed(src: &Registry) -> FaultProxy {
    FaultProxy::start(&src.url(), 9).rule(
        Rule::new(Fault::Stall {
            after: Some(100_000),
            duration: Duration::from_millis(1500),
        })
        .method("GET")
        .path("/blobs/")
        .per_url(1),
    )
}

async fn start(s: &Server, policy: i64) -> i64 {
    s.run_policy(policy).await["id"].as_i64().unwrap()
}

/// Polls `id` until `ready` holds (bounded).
async fn wait_until(s: &Server, id: i64, what: &str, ready: impl Fn(&Value, &Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let e = s.get(&format!("/api/v1/executions/{id}")).await;
        let tasks = s.get(&format!("/api/v1/executions/{id}/tasks")).await;
        if ready(&e, &tasks) {
            return;
        }
        assert!(Instant::now() < deadline, "never {what}: {e}\n{tasks}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn count(tasks: &Value, status: &str) -> usize {
    tasks
        .as_array()
        .map_or(0, |t| t.iter().filter(|t| t["status"] == status).count())
}

/// Blob uploads the target completed, by digest.
fn uploads(target: &FaultProxy) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for s in target.seen() {
        if s.method == "PUT" && s.status == Some(201) && s.path.contains("/blobs/uploads/") {
            let digest = s
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("digest="))
                .unwrap_or_default()
                .replace("%3A", ":");
            *n.entry(digest).or_default() += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_coordinator_killed_mid_copy_is_finished_by_another() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let repos = corpus(&src).await;
    let slow = slowed(&src);
    let target = FaultProxy::start(&dst.url(), 9);
    let db = PgDatabase::create().await.unwrap();
    let envs = [LEASE[0], ("FERRY_BLOB_CONCURRENCY", "2")];
    let mut a = Server::start(FERRY, Some(&db.url), &envs).await.unwrap();
    let pid = policy(&a, &slow.url(), &target.url()).await;
    let id = start(&a, pid).await;
    // Killed once some tasks are done and others are not.
    wait_until(&a, id, "partly done", |_, t| {
        (1..6).contains(&count(t, "succeeded"))
    })
    .await;
    a.kill().await;
    // What the dead coordinator had finished: (task id, end time).
    let finished: Vec<(String, String)> = db
        .query(&format!(
            "SELECT id, end_time FROM tasks WHERE execution_id = {id} AND status = 'succeeded'"
        ))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert!(!finished.is_empty() && finished.len() < 6, "{finished:?}");

    let b = Server::start(FERRY, Some(&db.url), &envs).await.unwrap();
    let done = b.wait_execution(id, Duration::from_secs(90)).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", b.log());
    assert_eq!(done["resumed"], 1, "{done}");
    assert_eq!(done["total"], 6);
    assert_eq!(done["succeed"], 6);
    let tasks = b.get(&format!("/api/v1/executions/{id}/tasks")).await;
    assert_eq!(count(&tasks, "succeeded"), 6, "{tasks}");
    // The tasks done before the kill were not run again.
    for (task, end) in &finished {
        let after = tasks
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"].as_i64().map(|i| i.to_string()).as_ref() == Some(task))
            .unwrap();
        assert_eq!(
            after["end_time"].to_string(),
            *end,
            "task {task} ran again: {after}"
        );
    }
    for repo in &repos {
        assert_replicated(&src, &dst, repo, repo, "1").await;
    }
    // No blob went into the target twice.
    let sent = uploads(&target);
    assert!(!sent.is_empty());
    assert!(sent.values().all(|&n| n == 1), "{sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_coordinator_killed_during_the_listing_is_relisted_and_finished() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let repos = corpus(&src).await;
    // The catalog answers only after 30 s: the listing is under way when
    // the coordinator dies.
    let slow = FaultProxy::start(&src.url(), 2).rule(
        Rule::new(Fault::Stall {
            after: None,
            duration: Duration::from_secs(30),
        })
        .path("/_catalog")
        .total(1),
    );
    let db = PgDatabase::create().await.unwrap();
    let mut a = Server::start(FERRY, Some(&db.url), &LEASE).await.unwrap();
    let pid = policy(&a, &slow.url(), &dst.url()).await;
    let id = start(&a, pid).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !slow.seen().iter().any(|s| s.path == "/v2/_catalog") {
        assert!(Instant::now() < deadline, "the listing never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.kill().await;

    let b = Server::start(FERRY, Some(&db.url), &LEASE).await.unwrap();
    let done = b.wait_execution(id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", b.log());
    assert_eq!(done["resumed"], 1);
    assert_eq!(done["succeed"], 6);
    for repo in &repos {
        assert_replicated(&src, &dst, repo, repo, "1").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scheduled_run_killed_mid_copy_is_finished_by_another_and_holds_its_slot() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let repos = corpus(&src).await;
    let slow = slowed(&src);
    let db = PgDatabase::create().await.unwrap();
    let envs = [LEASE[0], ("FERRY_BLOB_CONCURRENCY", "2")];
    let mut a = Server::start(FERRY, Some(&db.url), &envs).await.unwrap();
    let fields = json!({
        "trigger": {"type": "scheduled", "trigger_settings": {"cron": "*/2 * * * * *"}},
        "single_active_replication": true,
    });
    let pid = with_fields(&a, &slow.url(), &dst.url(), fields).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let id = loop {
        if let Some(e) = a.executions(pid).await.first() {
            break e["id"].as_i64().unwrap();
        }
        assert!(Instant::now() < deadline, "the schedule never fired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    wait_until(&a, id, "partly done", |_, t| {
        (1..6).contains(&count(t, "succeeded"))
    })
    .await;
    a.kill().await;

    // The ticks go on firing at the new coordinator meanwhile.
    let b = Server::start(FERRY, Some(&db.url), &envs).await.unwrap();
    let done = b.wait_execution(id, Duration::from_secs(90)).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", b.log());
    assert_eq!(done["trigger"], "scheduled", "{done}");
    assert_eq!(done["resumed"], 1, "{done}");
    assert_eq!((&done["total"], &done["succeed"]), (&json!(6), &json!(6)));
    for repo in &repos {
        assert_replicated(&src, &dst, repo, repo, "1").await;
    }
    // The taken-over run kept the policy's single active slot: every tick
    // before it ended was skipped.
    let ended = done["end_time"].as_i64().unwrap();
    let others = b.executions(pid).await;
    let during: Vec<&Value> = others
        .iter()
        .filter(|o| o["id"] != json!(id) && o["start_time"].as_i64().unwrap() < ended)
        .collect();
    assert!(
        !during.is_empty(),
        "no tick fell during the run: {others:?}"
    );
    for other in during {
        assert_eq!(other["status"], "skipped", "{other} started while {id} ran");
    }
}
