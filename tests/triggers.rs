//! Executions that start themselves: scheduled policies fire at each cron
//! tick, once across coordinators, with missed ticks fired once at start
//! and overlapping ticks of a single-active policy recorded `skipped`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferry_harness::*;
use reqwest::Method;
use serde_json::{Value, json};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Sleeps until the wall clock reads `at` (epoch milliseconds).
async fn sleep_until(at: i64) {
    let wait = at - now_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}

/// A policy every `period` seconds between two fresh registries; answers
/// it.
async fn every(s: &Server, period: u32, src: &Registry, dst: &Registry, extra: Value) -> Value {
    let src_id = s.add_registry("src", src).await;
    let dst_id = s.add_registry("dst", dst).await;
    let mut body = json!({
        "name": "ticking", "src_registry": {"id": src_id}, "dest_registry": {"id": dst_id},
        "trigger": {"type": "scheduled", "trigger_settings": {"cron": format!("*/{period} * * * * *")}},
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, v) = s.post_json("/api/v1/policies", body).await;
    assert_eq!(status, 201, "{v}");
    v
}

async fn set_enabled(s: &Server, policy: &Value, enabled: bool) -> Value {
    let mut p = policy.clone();
    p["enabled"] = json!(enabled);
    let id = p["id"].as_i64().unwrap();
    let (status, v) = s
        .call(
            Method::PUT,
            &format!("/api/v1/policies/{id}"),
            Some(Body::Json(p)),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// The ticks the executions fired for, sorted; every one is `scheduled`
/// and no tick appears twice.
fn ticks(execs: &[Value]) -> Vec<i64> {
    let mut ticks: Vec<i64> = execs
        .iter()
        .map(|e| {
            assert_eq!(e["trigger"], "scheduled", "{e}");
            e["tick_time"].as_i64().unwrap_or_else(|| panic!("{e}"))
        })
        .collect();
    ticks.sort_unstable();
    let n = ticks.len();
    ticks.dedup();
    assert_eq!(ticks.len(), n, "a tick fired twice: {execs:?}");
    ticks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_tick_fires_once_across_coordinators_and_missed_ticks_fire_once() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    push_image(&src, "a/app", "v1", Format::Oci, &[Layer::random(11, 1000)])
        .await
        .unwrap();
    let db = PgDatabase::create().await.unwrap();
    let mut a = Server::start(FERRY, Some(&db.url), &[]).await.unwrap();
    let mut b = Server::start(FERRY, Some(&db.url), &[]).await.unwrap();
    let policy = every(&a, 2, &src, &dst, json!({})).await;
    let pid = policy["id"].as_i64().unwrap();
    let created = policy["creation_time"].as_i64().unwrap();
    let first = policy["next_fire_time"].as_i64().unwrap();
    assert_eq!(first % 2000, 0, "{policy}");
    assert!(first > created && first <= created + 2000, "{policy}");
    // Both coordinators see the schedule.
    let seen = b.get(&format!("/api/v1/policies/{pid}")).await;
    assert_eq!(seen["next_fire_time"], first);

    // Three ticks with two coordinators racing for each, then both die.
    sleep_until(first + 5000).await;
    let before = ticks(&a.executions(pid).await);
    assert_eq!(before, [first, first + 2000, first + 4000]);
    a.kill().await;
    b.kill().await;

    // Down through the ticks at +6 s and +8 s; back up after +9.5 s.
    sleep_until(first + 9500).await;
    let restart = now_ms();
    let c = Server::start(FERRY, Some(&db.url), &[]).await.unwrap();
    let d = Server::start(FERRY, Some(&db.url), &[]).await.unwrap();
    let up = now_ms();
    // Run until two regular ticks have passed, then disable it between
    // ticks (a disabled policy does not fire).
    let last = (up / 2000 + 2) * 2000;
    sleep_until(last + 1000).await;
    let disabled = set_enabled(&d, &seen, false).await;
    assert_eq!(disabled["next_fire_time"], Value::Null);
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let all = c.executions(pid).await;
    let ticks = ticks(&all);
    // The ticks missed while both were down (+6 s, +8 s, and +10 s if the
    // start took that long) fire once, as the first one missed; then every
    // tick after the start fires, once.
    let after: Vec<i64> = ticks
        .iter()
        .copied()
        .filter(|t| *t > first + 4000)
        .collect();
    assert_eq!(after[0], first + 6000, "{ticks:?}");
    let regular = &after[1..];
    assert!(
        regular[0] > restart && regular[0] <= (up / 2000 + 1) * 2000,
        "missed ticks fired as a burst: {ticks:?} (restarted at {restart}, up at {up})"
    );
    let expected: Vec<i64> = (regular[0]..=last).step_by(2000).collect();
    assert_eq!(regular, expected.as_slice(), "{ticks:?}");
    assert!(regular.len() >= 2, "{ticks:?}");
    for e in &all {
        let e = c
            .wait_execution(e["id"].as_i64().unwrap(), Duration::from_secs(60))
            .await;
        assert_eq!(e["status"], "succeeded", "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ticks_of_a_single_active_policy_during_a_long_run_are_skipped() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    push_image(&src, "a/app", "v1", Format::Oci, &[Layer::random(12, 1000)])
        .await
        .unwrap();
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    s.install_slow_template(4).await;
    let policy = every(
        &s,
        3,
        &src,
        &dst,
        json!({"single_active_replication": true, "template": "slow"}),
    )
    .await;
    let pid = policy["id"].as_i64().unwrap();
    let first = policy["next_fire_time"].as_i64().unwrap();

    // The tick at +3 s falls within the first 4-second run; the one at
    // +6 s after it: never two at once.
    let until = Instant::now() + Duration::from_millis((first + 7000 - now_ms()) as u64);
    while Instant::now() < until {
        let execs = s.executions(pid).await;
        let active = execs
            .iter()
            .filter(|e| matches!(e["status"].as_str(), Some("pending" | "running")))
            .count();
        assert!(active <= 1, "two executions active at once: {execs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    set_enabled(&s, &policy, false).await;
    let execs = s.executions(pid).await;
    let ticks = ticks(&execs);
    assert_eq!(&ticks[..3], [first, first + 3000, first + 6000]);
    let by_tick = |t: i64| execs.iter().find(|e| e["tick_time"] == t).unwrap();
    let running = by_tick(first);
    assert_ne!(running["status"], "skipped", "{running}");
    {
        let e = by_tick(first + 3000);
        assert_eq!(e["status"], "skipped", "{e}");
        assert_eq!(
            e["status_text"],
            format!(
                "Execution skipped: active replication still in progress (execution {})",
                running["id"]
            )
        );
    }
    // The first run ended at about +4 s; the tick at +6 s ran again.
    let done = s
        .wait_execution(running["id"].as_i64().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let next = by_tick(first + 6000);
    assert_ne!(next["status"], "skipped", "{next}");
    let id = next["id"].as_i64().unwrap();
    s.post_json(&format!("/api/v1/executions/{id}/stop"), json!({}))
        .await;
    s.wait_execution(id, Duration::from_secs(30)).await;
}
