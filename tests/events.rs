//! Event-based replication: a real distribution registry configured to
//! notify `ferry serve`, which mirrors pushes and deletions by itself; the
//! endpoint's auth, bad payloads, redeliveries, Harbor's payloads, and
//! events acknowledged by a coordinator that dies before running them.

use std::time::{Duration, Instant};

use ferry_harness::*;
use reqwest::Method;
use serde_json::{Value, json};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const SECRET: &str = "notify-secret-0123456789abcdef";

/// The source's registry resource (id), the source registry notifying the
/// server, the target and its resource, and an event-based policy
/// mirroring into `mirror/`.
struct Setup {
    src: Registry,
    dst: Registry,
    src_id: i64,
    policy: i64,
}

async fn setup(s: &Server, extra_policy: Value) -> Setup {
    // The resource first: the registry's config names its endpoint.
    let (status, v) = s
        .post_json(
            "/api/v1/registries",
            json!({"name": "src", "url": "http://127.0.0.1:9", "insecure": true,
                   "event_secret": SECRET}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["event_secret_set"], true);
    assert!(!v.to_string().contains(SECRET), "{v}");
    let src_id = v["id"].as_i64().unwrap();
    let src = Registry::start_with_config(Auth::None, &notify_config(s, src_id, SECRET));
    let mut body = v.clone();
    body["url"] = json!(src.url());
    for k in [
        "id",
        "creation_time",
        "update_time",
        "credential_type",
        "event_secret_set",
        "events_accepted",
        "events_dropped",
        "events_ignored",
    ] {
        body.as_object_mut().unwrap().remove(k);
    }
    let (status, v) = s
        .call(
            Method::PUT,
            &format!("/api/v1/registries/{src_id}"),
            Some(Body::Json(body)),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["event_secret_set"], true, "an update without it keeps it");

    let dst = Registry::start(Auth::None);
    let (status, v) = s
        .post_json(
            "/api/v1/registries",
            json!({"name": "dst", "url": dst.url(), "insecure": true}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let dst_id = v["id"].as_i64().unwrap();
    let mut policy = json!({
        "name": "follow", "src_registry": {"id": src_id}, "dest_registry": {"id": dst_id},
        "dest_namespace": "mirror", "dest_namespace_replace_count": 0,
        "filters": [{"type": "name", "value": "team/**"}],
        "trigger": {"type": "event_based"}, "replicate_deletion": true,
    });
    for (k, v) in extra_policy.as_object().unwrap() {
        policy[k] = v.clone();
    }
    let (status, v) = s.post_json("/api/v1/policies", policy).await;
    assert_eq!(status, 201, "{v}");
    Setup {
        src,
        dst,
        src_id,
        policy: v["id"].as_i64().unwrap(),
    }
}

/// A distribution registry's `notifications` block pointing at the server.
fn notify_config(s: &Server, registry: i64, secret: &str) -> String {
    format!(
        "notifications:\n  events:\n    includereferences: true\n  endpoints:\n    - name: ferry\n      url: {}/api/v1/registries/{registry}/events\n      headers:\n        Authorization: [\"Bearer {secret}\"]\n      timeout: 2s\n      threshold: 5\n      backoff: 1s\n",
        s.url
    )
}

/// Polls until `check` holds (bounded), then answers its value.
async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post_events(s: &Server, registry: i64, token: Option<&str>, body: Value) -> (u16, Value) {
    s.call_with(
        Method::POST,
        &format!("/api/v1/registries/{registry}/events"),
        Some(Body::Json(body)),
        token,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_and_deletions_at_a_notifying_registry_are_mirrored_by_themselves() {
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let Setup {
        src,
        dst,
        src_id,
        policy,
    } = setup(&s, json!({})).await;

    // A push: the image appears at the target, no manual trigger.
    let mark = dst.log_mark();
    let layers = [Layer::random(51, 300_000), Layer::random(52, 200_000)];
    let img = push_image(&src, "team/app", "v1", Format::Oci, &layers)
        .await
        .unwrap();
    push_image(
        &src,
        "other/app",
        "v1",
        Format::Oci,
        &[Layer::random(53, 1000)],
    )
    .await
    .unwrap();
    eventually(
        "team/app:v1 at the target",
        Duration::from_secs(30),
        || async {
            manifest_digest(&dst, "mirror/team/app", "v1")
                .await
                .unwrap()
                .filter(|d| d == img.digest())
        },
    )
    .await;
    assert_replicated(&src, &dst, "team/app", "mirror/team/app", "v1").await;
    let execs = s.executions(policy).await;
    assert_eq!(execs.len(), 1, "{execs:?}");
    assert_eq!(execs[0]["trigger"], "event_based");
    let id = execs[0]["id"].as_i64().unwrap();
    let done = s.wait_execution(id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["total"], 1, "{done}");
    // The blobs were copied ahead of the manifest, once each: the config
    // and the two layers, uploaded once in all.
    let events = done["events"].as_array().unwrap();
    let manifest = events
        .iter()
        .find(|e| e["kind"] == "manifest_push")
        .unwrap_or_else(|| panic!("{done}"));
    assert_eq!(manifest["tag"], "v1");
    assert!(
        manifest["outcome"]
            .as_str()
            .unwrap()
            .contains(&format!("started execution {id}")),
        "{manifest}"
    );
    let blobs: Vec<&Value> = events.iter().filter(|e| e["kind"] == "blob_push").collect();
    assert_eq!(blobs.len(), 3, "{events:?}");
    for b in &blobs {
        let outcome = b["outcome"].as_str().unwrap_or_default();
        assert!(
            outcome.contains("at ") && outcome.contains("mirror/team/app"),
            "{b}"
        );
    }
    let uploads = dst
        .requests_since(mark)
        .into_iter()
        .filter(|(m, p, st)| m == "PUT" && p.contains("/blobs/uploads/") && *st == 201)
        .count();
    assert_eq!(uploads, 3, "every blob uploaded once");

    // other/app is outside the policy's scope: dropped, and counted.
    let reg = s.get(&format!("/api/v1/registries/{src_id}")).await;
    assert!(reg["events_dropped"].as_i64().unwrap() >= 2, "{reg}");
    assert!(reg["events_accepted"].as_i64().unwrap() >= 4, "{reg}");
    assert!(
        manifest_digest(&dst, "mirror/other/app", "v1")
            .await
            .unwrap()
            .is_none()
    );

    // A deletion at the source: the tag goes at the target.
    let v2 = push_image(
        &src,
        "team/app",
        "v2",
        Format::Oci,
        &[Layer::random(54, 1000)],
    )
    .await
    .unwrap();
    eventually(
        "team/app:v2 at the target",
        Duration::from_secs(30),
        || async {
            manifest_digest(&dst, "mirror/team/app", "v2")
                .await
                .unwrap()
        },
    )
    .await;
    delete_manifest(&src, "team/app", v2.digest())
        .await
        .unwrap();
    eventually(
        "team/app:v2 gone at the target",
        Duration::from_secs(30),
        || async {
            manifest_digest(&dst, "mirror/team/app", "v2")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        manifest_digest(&dst, "mirror/team/app", "v1")
            .await
            .unwrap()
            .as_deref(),
        Some(img.digest())
    );
    let deletion = s.executions(policy).await;
    let deletion = s
        .wait_execution(deletion[0]["id"].as_i64().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(deletion["status"], "succeeded", "{deletion}");
    let tasks = s
        .get(&format!("/api/v1/executions/{}/tasks", deletion["id"]))
        .await;
    assert_eq!(tasks[0]["operation"], "delete", "{tasks}");
    assert_eq!(tasks[0]["tag"], "v2", "{tasks}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_endpoint_wants_the_secret_reads_payloads_and_stores_once() {
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let Setup {
        src,
        dst,
        src_id,
        policy,
    } = setup(
        &s,
        json!({"filters": [{"type": "name", "value": "team/**"}, {"type": "tag", "value": "v*"}]}),
    )
    .await;
    let img = push_image(
        &src,
        "team/web",
        "v9",
        Format::Docker,
        &[Layer::random(61, 1000)],
    )
    .await
    .unwrap();
    eventually(
        "team/web:v9 at the target",
        Duration::from_secs(30),
        || async {
            manifest_digest(&dst, "mirror/team/web", "v9")
                .await
                .unwrap()
        },
    )
    .await;
    let before = s.get(&format!("/api/v1/registries/{src_id}")).await;
    let runs = s.executions(policy).await.len();
    let push = |id: &str, tag: &str| {
        json!({"events": [{"id": id, "action": "push", "target": {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": img.digest(), "repository": "team/web", "tag": tag,
            "url": format!("{}/v2/team/web/manifests/{}", src.url(), img.digest())}}]})
    };

    // No secret, a wrong one, the admin token: 401, nothing stored.
    for token in [None, Some("wrong-secret-0123456789"), Some(server::TOKEN)] {
        let (status, v) = post_events(&s, src_id, token, push("x-1", "v9")).await;
        assert_eq!(status, 401, "{token:?}: {v}");
    }
    // Malformed: 400 saying why, nothing stored.
    let (status, v) = post_events(&s, src_id, Some(SECRET), json!({"events": [{"id": "y"}]})).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("events[0]"),
        "{v}"
    );
    let (status, v) = post_events(&s, src_id, Some(SECRET), json!({"hello": "world"})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        s.get(&format!("/api/v1/registries/{src_id}")).await["events_accepted"],
        before["events_accepted"]
    );
    // An unknown registry.
    let (status, _) = post_events(&s, 999, Some(SECRET), push("z", "v9")).await;
    assert_eq!(status, 404);

    // A delivery and its redelivery: stored once, acted on once.
    let (status, first) = post_events(&s, src_id, Some(SECRET), push("redelivered-1", "v9")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        first,
        json!({"accepted": 1, "duplicates": 0, "dropped": 0, "ignored": 0})
    );
    let (status, again) = post_events(&s, src_id, Some(SECRET), push("redelivered-1", "v9")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again,
        json!({"accepted": 0, "duplicates": 1, "dropped": 0, "ignored": 0})
    );
    // A tag the policy's filters leave out: dropped.
    let (_, dropped) = post_events(&s, src_id, Some(SECRET), push("filtered-1", "latest")).await;
    assert_eq!(dropped["dropped"], 1, "{dropped}");
    let execs = eventually(
        "the redelivered event's run",
        Duration::from_secs(30),
        || async {
            let e = s.executions(policy).await;
            (e.len() > runs).then_some(e)
        },
    )
    .await;
    assert_eq!(execs.len(), runs + 1, "{execs:?}");
    let listed = s
        .get(&format!("/api/v1/registries/{src_id}/events?limit=500"))
        .await;
    let same: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_id"] == "redelivered-1")
        .collect();
    assert_eq!(same.len(), 1, "{listed}");

    // Harbor's webhook payload, with the same secret.
    let v3 = push_image(
        &src,
        "team/web",
        "v10",
        Format::Oci,
        &[Layer::random(62, 1000)],
    )
    .await
    .unwrap();
    let harbor = json!({
        "type": "PUSH_ARTIFACT", "occur_at": 1_700_000_000, "operator": "admin",
        "event_data": {
            "resources": [{"digest": v3.digest(), "tag": "v10",
                           "resource_url": format!("{}/team/web:v10", src.host())}],
            "repository": {"name": "web", "namespace": "team",
                           "repo_full_name": "team/web", "repo_type": "private"}
        }
    });
    let (status, v) = post_events(&s, src_id, Some(SECRET), harbor).await;
    assert_eq!(status, 200, "{v}");
    eventually(
        "team/web:v10 at the target",
        Duration::from_secs(30),
        || async {
            manifest_digest(&dst, "mirror/team/web", "v10")
                .await
                .unwrap()
                .filter(|d| d == v3.digest())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_acknowledged_by_a_coordinator_that_dies_still_run() {
    let db = PgDatabase::create().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A coordinator that takes events but runs no execution.
    let config = dir.path().join("ferry.yaml");
    std::fs::write(&config, "max_executions: 0\n").unwrap();
    let lease = ("FERRY_LEASE_SECS", "2");
    let mut a = Server::start(
        FERRY,
        Some(&db.url),
        &[("FERRY_CONFIG", config.to_str().unwrap()), lease],
    )
    .await
    .unwrap();
    let Setup {
        src,
        dst,
        src_id,
        policy,
    } = setup(&a, json!({})).await;
    let img = push_image(
        &src,
        "team/app",
        "v1",
        Format::Oci,
        &[Layer::random(71, 5000)],
    )
    .await
    .unwrap();
    // Acknowledged and acted on: a pending execution, which A never runs.
    let execs = eventually("the pending execution", Duration::from_secs(30), || async {
        let e = a.executions(policy).await;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(execs[0]["status"], "pending", "{execs:?}");
    let reg = a.get(&format!("/api/v1/registries/{src_id}")).await;
    assert!(reg["events_accepted"].as_i64().unwrap() >= 3, "{reg}");
    a.kill().await;
    assert!(
        manifest_digest(&dst, "mirror/team/app", "v1")
            .await
            .unwrap()
            .is_none()
    );

    let b = Server::start(FERRY, Some(&db.url), &[lease]).await.unwrap();
    let done = b
        .wait_execution(execs[0]["id"].as_i64().unwrap(), Duration::from_secs(60))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", b.log());
    assert_eq!(
        manifest_digest(&dst, "mirror/team/app", "v1")
            .await
            .unwrap()
            .as_deref(),
        Some(img.digest())
    );
    assert_replicated(&src, &dst, "team/app", "mirror/team/app", "v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_started_run_whose_coordinator_dies_is_taken_over_and_finished() {
    let db = PgDatabase::create().await.unwrap();
    let lease = ("FERRY_LEASE_SECS", "2");
    let mut a = Server::start(FERRY, Some(&db.url), &[lease]).await.unwrap();
    // The slow template waits 3 s after its listing (which an event-based
    // run skips): the run is under way when A dies.
    a.install_slow_template(3).await;
    let Setup {
        src, dst, policy, ..
    } = setup(&a, json!({"template": "slow", "replicate_deletion": false})).await;
    let img = push_image(
        &src,
        "team/app",
        "v1",
        Format::Oci,
        &[Layer::random(72, 5000)],
    )
    .await
    .unwrap();
    let id = eventually("the running execution", Duration::from_secs(30), || async {
        let e = a.executions(policy).await;
        e.first()
            .filter(|e| e["status"] == "running")
            .and_then(|e| e["id"].as_i64())
    })
    .await;
    a.kill().await;
    assert!(
        manifest_digest(&dst, "mirror/team/app", "v1")
            .await
            .unwrap()
            .is_none()
    );

    let b = Server::start(FERRY, Some(&db.url), &[lease]).await.unwrap();
    let done = b.wait_execution(id, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", b.log());
    assert_eq!(done["trigger"], "event_based");
    assert_eq!(done["resumed"], 1);
    assert_eq!(done["succeed"], 1);
    assert_replicated(&src, &dst, "team/app", "mirror/team/app", "v1").await;
    assert_eq!(
        manifest_digest(&dst, "mirror/team/app", "v1")
            .await
            .unwrap()
            .as_deref(),
        Some(img.digest())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blob_copy_ahead_cut_by_a_dying_coordinator_is_finished_by_another() {
    let db = PgDatabase::create().await.unwrap();
    let lease = ("FERRY_LEASE_SECS", "2");
    let mut a = Server::start(FERRY, Some(&db.url), &[lease]).await.unwrap();
    let Setup {
        src, dst, src_id, ..
    } = setup(&a, json!({})).await;
    // Another mover holds the blob's copy into the target repository, so
    // A's copy ahead waits behind it.
    let layer = Layer::random(72, 200_000);
    let key = format!(
        "{} mirror/team/app {}",
        dst.url().trim_end_matches('/'),
        layer.digest()
    );
    db.execute(&format!(
        "INSERT INTO blob_moves (key, holder, until) \
         VALUES ('{key}', 'elsewhere/1', (extract(epoch from now()) * 1000)::bigint + 60000)"
    ))
    .unwrap();
    push_blob(&src, "team/app", layer.bytes().clone())
        .await
        .unwrap();
    let digest = layer.digest().to_string();
    // Acknowledged, and acted on but not finished: it stays pending.
    let event = eventually("the blob event", Duration::from_secs(30), || {
        blob_event(&a, src_id, &digest)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let event = blob_event(&a, src_id, &digest).await.unwrap_or(event);
    assert_eq!(event["status"], "pending", "{event}");
    a.kill().await;
    // The other mover went away without copying; B takes the event over.
    db.execute(&format!("DELETE FROM blob_moves WHERE key = '{key}'"))
        .unwrap();
    let b = Server::start(FERRY, Some(&db.url), &[lease]).await.unwrap();
    let event = eventually(
        "the copy ahead finished",
        Duration::from_secs(30),
        || async {
            blob_event(&b, src_id, &digest)
                .await
                .filter(|e| e["status"] == "done")
        },
    )
    .await;
    let outcome = event["outcome"].as_str().unwrap();
    assert!(
        outcome.contains("uploaded") && outcome.contains("mirror/team/app"),
        "{event}"
    );
    assert!(
        dst.client()
            .blob_exists("mirror/team/app", layer.digest())
            .await
            .unwrap()
    );
}

/// The blob push event of `digest` the server stored for `registry`.
async fn blob_event(s: &Server, registry: i64, digest: &str) -> Option<Value> {
    s.get(&format!("/api/v1/registries/{registry}/events"))
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "blob_push" && e["digest"] == digest)
        .cloned()
}
