//! The coordinator's store, each case run against a fresh SQLite file and a
//! fresh PostgreSQL database (`postgres://postgres@127.0.0.1:5432`, or
//! `FERRY_TEST_POSTGRES`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferry::store::*;
use serde_json::json;
use sqlx::{Connection, Executor, Row};

fn admin_url() -> String {
    std::env::var("FERRY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A fresh database, dropped at the end (also when the test panics).
struct TestDb {
    store: Store,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgGuard>,
}

/// Drops its PostgreSQL database when dropped.
struct PgGuard(String);

impl TestDb {
    async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ferry.db").display());
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        // Opening again (migrations already applied) works.
        Store::open(&url).await.unwrap().close().await;
        TestDb {
            store,
            _dir: Some(dir),
            _pg: None,
        }
    }

    async fn postgres() -> TestDb {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "ferry_test_{}_{}_{}",
            std::process::id(),
            nanos,
            N.fetch_add(1, Ordering::Relaxed)
        );
        let admin = admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .unwrap();
        conn.close().await.unwrap();
        // Guard first, so a failing open still drops the database.
        let guard = PgGuard(name.clone());
        let base = admin.rsplit_once('/').unwrap().0;
        let url = format!("{base}/{name}");
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.backend(), Backend::Postgres);
        Store::open(&url).await.unwrap().close().await;
        TestDb {
            store,
            _dir: None,
            _pg: Some(guard),
        }
    }
}

impl Drop for PgGuard {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.0);
        let admin = admin_url();
        // Drop may run on the test's runtime: use a thread with its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await?;
                conn.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
                    .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database: {dropped:?}");
        }
    }
}

/// `both!(case)` runs `async fn case(Store)` on SQLite and on PostgreSQL.
macro_rules! both {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
            async fn sqlite() {
                let db = super::TestDb::sqlite().await;
                super::$case(db.store.clone()).await;
                db.store.close().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
            async fn postgres() {
                let db = super::TestDb::postgres().await;
                super::$case(db.store.clone()).await;
                db.store.close().await;
            }
        }
    )*};
}

both!(
    registries,
    functions,
    templates,
    templates_concurrent,
    policies,
    single_active_race,
    without_single_active,
    claims,
    stop,
    recover,
    tasks_and_reports,
    ticks,
    events,
);

async fn count(store: &Store, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(store.pool())
        .await
        .unwrap()
        .get("n")
}

fn new_registry(name: &str) -> NewRegistry {
    NewRegistry {
        name: name.into(),
        url: format!("https://{name}.example.com"),
        kind: "distribution".parse().unwrap(),
        insecure: false,
        description: format!("{name} registry"),
        credential_type: Some("basic".into()),
        credential_sealed: Some(vec![1, 2, 3, 0, 255]),
        event_secret_hash: None,
        requests_per_second: Some(5),
        max_concurrency: None,
    }
}

fn policy(name: &str, src: i64, dest: i64, single: bool) -> Policy {
    Policy {
        id: 0,
        name: name.into(),
        description: "mirror".into(),
        src_registry: RegistryRef { id: src },
        dest_registry: RegistryRef { id: dest },
        dest_namespace: "mirror".into(),
        dest_namespace_replace_count: 1,
        filters: vec![PolicyFilter {
            kind: PolicyFilterKind::Name,
            value: json!("library/**"),
            decoration: Some(PolicyDecoration::Matches),
        }],
        trigger: Trigger {
            kind: TriggerKind::Scheduled,
            trigger_settings: TriggerSettings {
                cron: Some("0 0 * * * *".into()),
            },
        },
        replicate_deletion: true,
        override_existing: true,
        enabled: true,
        speed: -1,
        copy_by_chunk: false,
        chunk_size: 10 << 20,
        single_active_replication: single,
        template: "oci-to-oci".into(),
        creation_time: 0,
        update_time: 0,
        next_fire_time: None,
    }
}

/// Two registries and a policy between them.
async fn setup(store: &Store, single: bool) -> Policy {
    let a = store.create_registry(new_registry("src")).await.unwrap();
    let b = store.create_registry(new_registry("dst")).await.unwrap();
    store
        .create_policy(&policy("p", a.id, b.id, single))
        .await
        .unwrap()
}

async fn registries(store: Store) {
    let a = store.create_registry(new_registry("a")).await.unwrap();
    assert_eq!(a.name, "a");
    assert_eq!(a.kind.as_str(), "distribution");
    assert_eq!(a.credential_type.as_deref(), Some("basic"));
    assert_eq!((a.requests_per_second, a.max_concurrency), (Some(5), None));
    assert!(a.creation_time > 0 && a.creation_time == a.update_time);
    assert_eq!(store.get_registry(a.id).await.unwrap(), a);
    assert_eq!(store.registry_by_name("a").await.unwrap(), a);
    assert_eq!(
        store.registry_credential(a.id).await.unwrap(),
        Some(("basic".to_string(), vec![1, 2, 3, 0, 255]))
    );

    // Duplicate name: Conflict, nothing written.
    let err = store.create_registry(new_registry("a")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("\"a\""), "{err}");
    assert_eq!(count(&store, "registries").await, 1);

    let mut b_new = new_registry("b");
    b_new.credential_type = None;
    b_new.credential_sealed = None;
    let b = store.create_registry(b_new).await.unwrap();
    assert_eq!(store.registry_credential(b.id).await.unwrap(), None);
    let ids: Vec<i64> = store
        .list_registries()
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec![a.id, b.id]);

    // Update keeping the credential.
    let mut upd = new_registry("a2");
    upd.insecure = true;
    upd.requests_per_second = None;
    upd.max_concurrency = Some(3);
    upd.credential_type = None;
    upd.credential_sealed = None;
    let a2 = store
        .update_registry(a.id, upd.clone(), true)
        .await
        .unwrap();
    assert_eq!(a2.name, "a2");
    assert!(a2.insecure);
    assert_eq!(
        (a2.requests_per_second, a2.max_concurrency),
        (None, Some(3))
    );
    assert_eq!(a2.credential_type.as_deref(), Some("basic"));
    assert_eq!(
        store.registry_credential(a.id).await.unwrap(),
        Some(("basic".to_string(), vec![1, 2, 3, 0, 255]))
    );
    // Update replacing (here: clearing) it.
    let a3 = store.update_registry(a.id, upd, false).await.unwrap();
    assert_eq!(a3.credential_type, None);
    assert_eq!(store.registry_credential(a.id).await.unwrap(), None);
    // Renaming onto another's name: Conflict, unchanged.
    let err = store
        .update_registry(a.id, new_registry("b"), false)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert_eq!(store.get_registry(a.id).await.unwrap().name, "a2");

    // NotFound.
    for err in [
        store.get_registry(999).await.unwrap_err(),
        store.registry_by_name("nope").await.unwrap_err(),
        store
            .update_registry(999, new_registry("x"), true)
            .await
            .unwrap_err(),
        store.delete_registry(999).await.unwrap_err(),
        store.registry_credential(999).await.unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    }
    assert_eq!(
        store.get_registry(999).await.unwrap_err().to_string(),
        "registry 999 not found"
    );
    let err = store
        .create_registry(NewRegistry {
            name: String::new(),
            ..new_registry("unnamed")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");

    // A registry a policy uses cannot go.
    let p = store
        .create_policy(&policy("uses-a", a.id, b.id, false))
        .await
        .unwrap();
    let err = store.delete_registry(b.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("uses-a"), "{err}");
    store.delete_policy(p.id).await.unwrap();
    store.delete_registry(b.id).await.unwrap();
    assert!(matches!(
        store.get_registry(b.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(count(&store, "registries").await, 1);
}

fn new_function(version: &str, digest: &str) -> NewFunction {
    NewFunction {
        name: "oci-source".into(),
        version: version.into(),
        digest: digest.into(),
        size: 4,
        description: "reads OCI registries".into(),
        imports: vec!["ferry:stage/http".into()],
        exports: vec!["ferry:stage/source".into()],
        params: json!([{"name": "page-size", "type": "u32"}]),
        builtin: true,
    }
}

async fn functions(store: Store) {
    let f = store
        .put_function(new_function("1.0.0", "sha256:aa"), b"\0asm")
        .await
        .unwrap();
    assert_eq!(f.name, "oci-source");
    assert_eq!(f.imports, vec!["ferry:stage/http".to_string()]);
    assert_eq!(f.params, json!([{"name": "page-size", "type": "u32"}]));
    assert!(f.builtin);
    // Same name@version and digest: idempotent.
    let again = store
        .put_function(new_function("1.0.0", "sha256:aa"), b"\0asm")
        .await
        .unwrap();
    assert_eq!(again, f);
    // Another digest: Conflict, nothing written.
    let err = store
        .put_function(new_function("1.0.0", "sha256:bb"), b"other")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("immutable"), "{err}");
    assert_eq!(count(&store, "functions").await, 1);
    assert_eq!(count(&store, "function_contents").await, 1);
    assert!(matches!(
        store.function_content("sha256:bb").await,
        Err(StoreError::NotFound { .. })
    ));
    // A second version sharing the content stores the bytes once.
    let f2 = store
        .put_function(new_function("1.0.1", "sha256:aa"), b"\0asm")
        .await
        .unwrap();
    assert_ne!(f2.id, f.id);
    assert_eq!(count(&store, "function_contents").await, 1);
    assert_eq!(store.function_content("sha256:aa").await.unwrap(), b"\0asm");
    assert_eq!(store.get_function("oci-source", "1.0.1").await.unwrap(), f2);
    assert_eq!(store.list_functions().await.unwrap(), vec![f, f2]);
    let err = store.get_function("oci-source", "9").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert_eq!(err.to_string(), "function oci-source@9 not found");
}

async fn templates(store: Store) {
    let t1 = store
        .put_template("oci", "first", "stages: []")
        .await
        .unwrap();
    let t2 = store
        .put_template("oci", "second", "stages: [a]")
        .await
        .unwrap();
    let u1 = store.put_template("other", "", "x").await.unwrap();
    assert_eq!((t1.version, t2.version, u1.version), (1, 2, 1));
    assert_eq!(store.get_template("oci", None).await.unwrap(), t2);
    assert_eq!(store.get_template("oci", Some(1)).await.unwrap(), t1);
    assert_eq!(store.list_templates().await.unwrap(), vec![t2.clone(), u1]);
    assert_eq!(store.template_versions("oci").await.unwrap(), vec![t1, t2]);
    for err in [
        store.get_template("oci", Some(3)).await.unwrap_err(),
        store.get_template("nope", None).await.unwrap_err(),
        store.template_versions("nope").await.unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    }
}

async fn templates_concurrent(store: Store) {
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .put_template("busy", &format!("writer {i}"), "stages: []")
                    .await
                    .unwrap()
                    .version
            })
        })
        .collect();
    let mut versions = Vec::new();
    for h in handles {
        versions.push(h.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=20).collect::<Vec<i64>>());
}

async fn policies(store: Store) {
    let a = store.create_registry(new_registry("a")).await.unwrap();
    let b = store.create_registry(new_registry("b")).await.unwrap();
    let mut input = policy("p1", a.id, b.id, true);
    input.id = 777;
    let p = store.create_policy(&input).await.unwrap();
    assert_ne!(p.id, 777);
    assert!(p.creation_time > 0);
    let expected = Policy {
        id: p.id,
        creation_time: p.creation_time,
        update_time: p.update_time,
        ..input.clone()
    };
    assert_eq!(p, expected);
    assert_eq!(store.get_policy(p.id).await.unwrap(), p);
    assert_eq!(store.policy_by_name("p1").await.unwrap(), p);

    // Duplicate name / unknown registry: nothing written.
    let err = store.create_policy(&input).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    let err = store
        .create_policy(&policy("p2", a.id, 4242, false))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "registry 4242 not found");
    assert_eq!(count(&store, "policies").await, 1);

    let p2 = store
        .create_policy(&policy("p2", b.id, a.id, false))
        .await
        .unwrap();
    assert_eq!(
        store.list_policies().await.unwrap(),
        vec![p.clone(), p2.clone()]
    );

    let mut changed = input.clone();
    changed.name = "p1-renamed".into();
    changed.enabled = false;
    changed.filters.clear();
    changed.trigger = Trigger::manual();
    let u = store.update_policy(p.id, &changed).await.unwrap();
    assert_eq!(u.name, "p1-renamed");
    assert!(!u.enabled);
    assert!(u.filters.is_empty());
    assert_eq!(u.trigger.kind, TriggerKind::Manual);
    assert_eq!(u.creation_time, p.creation_time);
    changed.name = "p2".into();
    let err = store.update_policy(p.id, &changed).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    changed.name = "p1".into();
    changed.dest_registry.id = 999;
    let err = store.update_policy(p.id, &changed).await.unwrap_err();
    assert_eq!(err.to_string(), "registry 999 not found");
    assert!(matches!(
        store.update_policy(999, &input).await,
        Err(StoreError::NotFound { .. })
    ));

    // A policy with an active execution cannot go; a finished one can.
    let e = store
        .start_execution(&u, NewExecution::new(ExecTrigger::Manual))
        .await
        .unwrap();
    let err = store.delete_policy(p.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    store
        .finish_execution(
            e.id,
            ExecStatus::Succeeded,
            "",
            ExecCounts::default(),
            json!([]),
        )
        .await
        .unwrap();
    store.delete_policy(p.id).await.unwrap();
    assert!(matches!(
        store.get_policy(p.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get_execution(e.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete_policy(p.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.policy_by_name("p1").await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn start_many(store: &Store, p: &Policy, n: usize) -> Vec<Execution> {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let store = store.clone();
            let p = p.clone();
            tokio::spawn(async move {
                store
                    .start_execution(&p, NewExecution::new(ExecTrigger::Manual))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn status_counts(store: &Store, policy_id: i64) -> Vec<(String, i64)> {
    sqlx::query(
        "SELECT status, COUNT(*) AS n FROM executions WHERE policy_id = $1 \
         GROUP BY status ORDER BY status",
    )
    .bind(policy_id)
    .fetch_all(store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("status"), r.get("n")))
    .collect()
}

async fn single_active_race(store: Store) {
    let p = setup(&store, true).await;
    let results = start_many(&store, &p, 100).await;
    assert_eq!(
        status_counts(&store, p.id).await,
        vec![("pending".to_string(), 1), ("skipped".to_string(), 99)]
    );
    let active = results
        .iter()
        .find(|e| e.status == ExecStatus::Pending)
        .unwrap();
    for e in results.iter().filter(|e| e.status == ExecStatus::Skipped) {
        assert!(e.end_time.is_some());
        assert_eq!(
            e.status_text,
            format!(
                "Execution skipped: active replication still in progress (execution {})",
                active.id
            )
        );
    }
    // Still active once running; free again once it ended.
    let claimed = store
        .claim_pending("c1", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, active.id);
    let e = store
        .start_execution(&p, NewExecution::new(ExecTrigger::Manual))
        .await
        .unwrap();
    assert_eq!(e.status, ExecStatus::Skipped);
    store
        .finish_execution(
            active.id,
            ExecStatus::Failed,
            "x",
            ExecCounts::default(),
            json!([]),
        )
        .await
        .unwrap();
    let retry = store
        .start_execution(&p, NewExecution::retry(active.id))
        .await
        .unwrap();
    assert_eq!(retry.status, ExecStatus::Pending);
    assert_eq!(retry.trigger, ExecTrigger::Retry);
    assert_eq!(retry.retry_of, Some(active.id));
    assert_eq!(
        store.get_execution(retry.id).await.unwrap().retry_of,
        Some(active.id)
    );
    assert_eq!(active.retry_of, None);
}

async fn without_single_active(store: Store) {
    let p = setup(&store, false).await;
    let results = start_many(&store, &p, 100).await;
    assert!(results.iter().all(|e| e.status == ExecStatus::Pending));
    assert_eq!(
        status_counts(&store, p.id).await,
        vec![("pending".to_string(), 100)]
    );
}

async fn claims(store: Store) {
    let p = setup(&store, false).await;
    let started = start_many(&store, &p, 30).await;
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let me = format!("coordinator-{i}");
                let mut got = Vec::new();
                // Bounded: at most 30 executions exist.
                for _ in 0..40 {
                    match store
                        .claim_pending(&me, Duration::from_secs(60))
                        .await
                        .unwrap()
                    {
                        Some(e) => {
                            assert_eq!(e.status, ExecStatus::Running);
                            got.push((e.id, me.clone()));
                        }
                        None => break,
                    }
                }
                got
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for h in handles {
        claimed.extend(h.await.unwrap());
    }
    let ids: HashSet<i64> = claimed.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), claimed.len(), "an execution was claimed twice");
    assert_eq!(ids, started.iter().map(|e| e.id).collect::<HashSet<_>>());
    assert!(
        store
            .claim_pending("late", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );
    let rows = sqlx::query("SELECT id, claimed_by FROM executions WHERE status = 'running'")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), 30);
    for (id, owner) in &claimed {
        let row = rows.iter().find(|r| r.get::<i64, _>("id") == *id).unwrap();
        assert_eq!(row.get::<String, _>("claimed_by"), *owner);
    }
    let (id, owner) = &claimed[0];
    assert!(
        store
            .renew_lease(*id, owner, Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert!(
        !store
            .renew_lease(*id, "someone-else", Duration::from_secs(60))
            .await
            .unwrap()
    );
    store
        .finish_execution(
            *id,
            ExecStatus::Succeeded,
            "",
            ExecCounts::default(),
            json!([]),
        )
        .await
        .unwrap();
    assert!(
        !store
            .renew_lease(*id, owner, Duration::from_secs(60))
            .await
            .unwrap()
    );
}

async fn stop(store: Store) {
    let p = setup(&store, false).await;
    let first = store
        .start_execution(&p, NewExecution::new(ExecTrigger::Manual))
        .await
        .unwrap();
    let running = store
        .claim_pending("c1", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(running.id, first.id);
    let pending = store
        .start_execution(&p, NewExecution::new(ExecTrigger::Manual))
        .await
        .unwrap();

    let stopped = store.request_stop(pending.id).await.unwrap();
    assert_eq!(stopped.status, ExecStatus::Stopped);
    assert!(stopped.end_time.is_some());
    assert!(store.stop_requested(pending.id).await.unwrap());
    // Never claimed afterwards.
    assert!(
        store
            .claim_pending("c2", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );

    assert!(!store.stop_requested(running.id).await.unwrap());
    let r = store.request_stop(running.id).await.unwrap();
    assert_eq!(r.status, ExecStatus::Running);
    assert!(r.end_time.is_none());
    assert!(store.stop_requested(running.id).await.unwrap());

    let done = store
        .start_execution(&p, NewExecution::new(ExecTrigger::Manual))
        .await
        .unwrap();
    store
        .finish_execution(
            done.id,
            ExecStatus::Succeeded,
            "ok",
            ExecCounts::default(),
            json!([]),
        )
        .await
        .unwrap();
    let before = store.get_execution(done.id).await.unwrap();
    assert_eq!(store.request_stop(done.id).await.unwrap(), before);

    assert!(matches!(
        store.request_stop(999).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.stop_requested(999).await,
        Err(StoreError::NotFound { .. })
    ));
}

fn new_task(repo: &str, status: &str) -> NewTask {
    NewTask {
        repository: repo.into(),
        target_repository: format!("mirror/{repo}"),
        tag: Some("latest".into()),
        digest: None,
        operation: Operation::Copy,
        status: ExecStatus::parse(status).expect("a status"),
        artifact: json!({"repository": repo, "tags": ["latest"]}),
    }
}

async fn recover(store: Store) {
    let p = setup(&store, true).await;
    let e = store
        .start_execution(&p, NewExecution::new(ExecTrigger::Manual))
        .await
        .unwrap();
    let claimed = store
        .claim_pending("node-a", Duration::from_millis(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, e.id);
    let ids = store
        .insert_tasks(
            e.id,
            &[
                new_task("done", "pending"),
                new_task("busy", "running"),
                new_task("waiting", "pending"),
            ],
        )
        .await
        .unwrap();
    store
        .update_task(
            ids[0],
            TaskUpdate {
                status: ExecStatus::Succeeded,
                attempts: 1,
                stages: json!([]),
                error: None,
                reason: None,
                digest: Some("sha256:11".into()),
                end_time: Some(now_ms()),
            },
        )
        .await
        .unwrap();

    // A second, healthy execution of another policy.
    let other = store
        .create_policy(&policy(
            "other",
            p.src_registry.id,
            p.dest_registry.id,
            false,
        ))
        .await
        .unwrap();
    let healthy = store
        .start_execution(&other, NewExecution::new(ExecTrigger::Manual))
        .await
        .unwrap();
    store
        .claim_pending("node-b", Duration::from_secs(600))
        .await
        .unwrap()
        .unwrap();

    // Taken over: back to pending, its start time and tasks kept.
    let recovered = store.recover_expired(now_ms() + 1, None).await.unwrap();
    assert_eq!(
        recovered,
        Recovered {
            resumed: vec![e.id],
            failed: vec![]
        }
    );
    let resumed = store.get_execution(e.id).await.unwrap();
    assert_eq!(resumed.status, ExecStatus::Pending);
    assert_eq!(resumed.resumed, 1);
    assert!(resumed.status_text.contains("node-a stopped mid-run"));
    assert!(resumed.end_time.is_none());
    assert_eq!(
        store.get_execution(healthy.id).await.unwrap().status,
        ExecStatus::Running
    );
    let states = store.task_states(e.id).await.unwrap();
    let statuses: Vec<ExecStatus> = states.iter().map(|t| t.1).collect();
    assert_eq!(
        statuses,
        [
            ExecStatus::Succeeded,
            ExecStatus::Running,
            ExecStatus::Pending
        ]
    );
    assert_eq!(
        states[1].2,
        json!({"repository": "busy", "tags": ["latest"]})
    );
    // The node that lost the execution learns it.
    assert!(
        !store
            .renew_lease(e.id, "node-a", Duration::from_secs(60))
            .await
            .unwrap()
    );
    // Claimed again, it keeps its first start time; still single-active.
    let again = store
        .claim_pending("node-c", Duration::from_millis(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, e.id);
    assert_eq!(again.start_time, claimed.start_time);
    assert_eq!(
        store
            .start_execution(&p, NewExecution::new(ExecTrigger::Manual))
            .await
            .unwrap()
            .status,
        ExecStatus::Skipped
    );
    // A coordinator restarted under its old name takes its claims back at
    // once, lease or not.
    store
        .renew_lease(e.id, "node-c", Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(
        store
            .recover_expired(now_ms(), Some("node-c"))
            .await
            .unwrap()
            .resumed,
        vec![e.id]
    );
    // Taken over MAX_RESUMES times, it is failed with its unfinished tasks.
    for _ in 3..=MAX_RESUMES {
        store
            .claim_pending("node-c", Duration::from_millis(0))
            .await
            .unwrap()
            .unwrap();
        let r = store.recover_expired(now_ms() + 1, None).await.unwrap();
        assert_eq!(r.resumed, vec![e.id]);
    }
    store
        .claim_pending("node-d", Duration::from_millis(0))
        .await
        .unwrap()
        .unwrap();
    let r = store.recover_expired(now_ms() + 1, None).await.unwrap();
    assert_eq!(
        r,
        Recovered {
            resumed: vec![],
            failed: vec![e.id]
        }
    );
    let failed = store.get_execution(e.id).await.unwrap();
    let text = format!(
        "coordinator node-d stopped mid-run, and it had been taken over {MAX_RESUMES} times already; retry re-runs the failed tasks"
    );
    assert_eq!(failed.status, ExecStatus::Failed);
    assert_eq!(failed.status_text, text);
    assert!(failed.end_time.is_some());
    let tasks = store.list_tasks(e.id).await.unwrap();
    let statuses: Vec<&str> = tasks.iter().map(|t| t.status.as_str()).collect();
    assert_eq!(statuses, vec!["succeeded", "failed", "failed"]);
    assert_eq!(tasks[0].error, None);
    assert_eq!(tasks[1].error.as_deref(), Some(text.as_str()));
    assert!(tasks[2].end_time.is_some());
    assert_eq!(
        store
            .task_artifacts(e.id, ExecStatus::Failed)
            .await
            .unwrap(),
        vec![
            json!({"repository": "busy", "tags": ["latest"]}),
            json!({"repository": "waiting", "tags": ["latest"]}),
        ]
    );
    assert_eq!(
        store.recover_expired(now_ms() + 1, None).await.unwrap(),
        Recovered::default()
    );
    // The single-active slot is free again.
    let next = store
        .start_execution(&p, NewExecution::retry(e.id))
        .await
        .unwrap();
    assert_eq!(next.status, ExecStatus::Pending);
}

async fn tasks_and_reports(store: Store) {
    let p = setup(&store, false).await;
    let mut all = Vec::new();
    for _ in 0..5 {
        all.push(
            store
                .start_execution(&p, NewExecution::new(ExecTrigger::Scheduled))
                .await
                .unwrap(),
        );
    }
    let (page1, total) = store
        .list_executions(ExecutionFilter::policy(p.id), 1, 2)
        .await
        .unwrap();
    assert_eq!(total, 5);
    assert_eq!(
        page1.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![all[4].id, all[3].id]
    );
    let (page3, _) = store
        .list_executions(ExecutionFilter::policy(p.id), 3, 2)
        .await
        .unwrap();
    assert_eq!(
        page3.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![all[0].id]
    );
    let (none, total) = store
        .list_executions(ExecutionFilter::policy(999), 1, 10)
        .await
        .unwrap();
    assert!(none.is_empty() && total == 0);
    assert!(matches!(
        store
            .list_executions(ExecutionFilter::policy(p.id), 0, 10)
            .await,
        Err(StoreError::Invalid { .. })
    ));

    let e = &all[0];
    assert_eq!(store.execution_report(e.id).await.unwrap(), json!(null));
    let ids = store
        .insert_tasks(e.id, &[new_task("a", "pending"), new_task("b", "pending")])
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    assert!(matches!(
        store.insert_tasks(999, &[new_task("x", "pending")]).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(count(&store, "tasks").await, 2);
    let stages = json!([{"stage": "copy", "status": "succeeded", "bytes": 42}]);
    store
        .update_task(
            ids[1],
            TaskUpdate {
                status: ExecStatus::Succeeded,
                attempts: 2,
                stages: stages.clone(),
                error: None,
                reason: None,
                digest: Some("sha256:cc".into()),
                end_time: Some(123),
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .update_task(
                999,
                TaskUpdate {
                    status: ExecStatus::Failed,
                    attempts: 0,
                    stages: json!([]),
                    error: None,
                    reason: None,
                    digest: None,
                    end_time: None,
                }
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
    let tasks = store.list_tasks(e.id).await.unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].id, ids[0]);
    assert_eq!(tasks[0].status, ExecStatus::Pending);
    assert_eq!(tasks[0].stages, json!([]));
    assert_eq!(tasks[0].tag.as_deref(), Some("latest"));
    assert_eq!(tasks[1].status, ExecStatus::Succeeded);
    assert_eq!(tasks[1].attempts, 2);
    assert_eq!(tasks[1].stages, stages);
    assert_eq!(tasks[1].digest.as_deref(), Some("sha256:cc"));
    assert_eq!(tasks[1].end_time, Some(123));
    assert_eq!(tasks[1].target_repository, "mirror/b");

    let counts = ExecCounts {
        total: 2,
        succeed: 1,
        failed: 0,
        in_progress: 1,
        stopped: 0,
        bytes: 42,
    };
    store.set_counts(e.id, counts).await.unwrap();
    let got = store.get_execution(e.id).await.unwrap();
    assert_eq!(
        (got.total, got.succeed, got.in_progress, got.bytes),
        (2, 1, 1, 42)
    );
    let report = json!([{"stage": "notify", "status": "succeeded"}]);
    let final_counts = ExecCounts {
        in_progress: 0,
        failed: 1,
        ..counts
    };
    store
        .finish_execution(
            e.id,
            ExecStatus::Failed,
            "1 task failed",
            final_counts,
            report.clone(),
        )
        .await
        .unwrap();
    let got = store.get_execution(e.id).await.unwrap();
    assert_eq!(got.status, ExecStatus::Failed);
    assert_eq!(got.status_text, "1 task failed");
    assert_eq!((got.failed, got.in_progress), (1, 0));
    assert!(got.end_time.is_some());
    assert_eq!(got.trigger, ExecTrigger::Scheduled);
    assert_eq!(store.execution_report(e.id).await.unwrap(), report);
    for err in [
        store.set_counts(999, counts).await.unwrap_err(),
        store
            .finish_execution(999, ExecStatus::Failed, "", counts, json!(null))
            .await
            .unwrap_err(),
        store.get_execution(999).await.unwrap_err(),
        store.execution_report(999).await.unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    }
}

/// Scheduled ticks: each fires once however many fire it at once, a
/// single-active policy with a run in progress records the tick `skipped`,
/// a disabled policy does not fire, and an edit keeps or moves the tick.
async fn ticks(store: Store) {
    let a = store.create_registry(new_registry("src")).await.unwrap();
    let b = store.create_registry(new_registry("dst")).await.unwrap();
    let mut input = policy("p", a.id, b.id, true);
    let t0 = 1_900_000_000_000;
    input.next_fire_time = Some(t0);
    let p = store.create_policy(&input).await.unwrap();
    assert_eq!(p.next_fire_time, Some(t0));
    assert!(store.due_ticks(t0 - 1).await.unwrap().is_empty());
    assert_eq!(store.due_ticks(t0).await.unwrap(), [(p.id, t0)]);
    assert_eq!(store.next_tick().await.unwrap(), Some(t0));

    // Sixteen coordinators fire the same tick: one execution.
    let fired: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.fire_tick(p.id, t0, Some(t0 + 1000)).await.unwrap() })
        })
        .collect();
    let mut started = Vec::new();
    for f in fired {
        started.extend(f.await.unwrap());
    }
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0].trigger, ExecTrigger::Scheduled);
    assert_eq!(started[0].tick_time, Some(t0));
    assert_eq!(started[0].status, ExecStatus::Pending);
    assert_eq!(
        store.get_policy(p.id).await.unwrap().next_fire_time,
        Some(t0 + 1000)
    );
    assert!(store.due_ticks(t0 + 999).await.unwrap().is_empty());

    // The next tick while that run is active: recorded skipped.
    let skipped = store
        .fire_tick(p.id, t0 + 1000, Some(t0 + 2000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(skipped.status, ExecStatus::Skipped);
    assert_eq!(
        skipped.status_text,
        format!(
            "Execution skipped: active replication still in progress (execution {})",
            started[0].id
        )
    );
    assert_eq!(skipped.trigger, ExecTrigger::Scheduled);
    assert_eq!(skipped.tick_time, Some(t0 + 1000));

    // An edit that leaves trigger and enabled alone keeps the tick; a new
    // cron takes the tick it brings.
    let mut edit = input.clone();
    edit.description = "edited".into();
    edit.next_fire_time = Some(t0 + 5555);
    assert_eq!(
        store
            .update_policy(p.id, &edit)
            .await
            .unwrap()
            .next_fire_time,
        Some(t0 + 2000)
    );
    edit.trigger.trigger_settings.cron = Some("*/5 * * * * *".into());
    assert_eq!(
        store
            .update_policy(p.id, &edit)
            .await
            .unwrap()
            .next_fire_time,
        Some(t0 + 5555)
    );
    // Disabled: no tick, and a stale one does not fire.
    edit.enabled = false;
    edit.next_fire_time = None;
    assert_eq!(
        store
            .update_policy(p.id, &edit)
            .await
            .unwrap()
            .next_fire_time,
        None
    );
    assert!(store.due_ticks(i64::MAX).await.unwrap().is_empty());
    assert_eq!(store.next_tick().await.unwrap(), None);
    assert!(
        store
            .fire_tick(p.id, t0 + 5555, None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(!store.arm_tick(p.id, t0).await.unwrap());
    // Enabled again without a tick (as a policy stored before ticks were
    // kept): armed once.
    edit.enabled = true;
    store.update_policy(p.id, &edit).await.unwrap();
    assert!(store.arm_tick(p.id, t0 + 7000).await.unwrap());
    assert!(!store.arm_tick(p.id, t0 + 8000).await.unwrap());
    assert_eq!(store.next_tick().await.unwrap(), Some(t0 + 7000));
}

fn event(id: &str, kind: EventKind, repository: &str, tag: Option<&str>) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        kind,
        repository: repository.into(),
        tag: tag.map(String::from),
        digest: Some(format!("sha256:{:0>64}", id.len())),
        size: Some(10),
        from_repository: None,
    }
}

fn copy_task(repository: &str, tag: &str) -> NewTask {
    NewTask {
        repository: repository.into(),
        target_repository: format!("mirror/{repository}"),
        tag: Some(tag.into()),
        digest: None,
        operation: Operation::Copy,
        status: ExecStatus::Pending,
        artifact: json!({"repository": repository, "tag": tag}),
    }
}

/// The event inbox: stored once per id, claimed under a lease, and acted on
/// by joining the policy's pending event-based execution or starting one.
async fn events(store: Store) {
    let a = store.create_registry(new_registry("src")).await.unwrap();
    let b = store.create_registry(new_registry("dst")).await.unwrap();
    let mut input = policy("p", a.id, b.id, false);
    input.trigger = Trigger {
        kind: TriggerKind::EventBased,
        trigger_settings: TriggerSettings::default(),
    };
    let p = store.create_policy(&input).await.unwrap();
    let batch = [
        event("m1", EventKind::ManifestPush, "team/app", Some("v1")),
        event("b1", EventKind::BlobPush, "team/app", None),
    ];
    let first = store.accept_events(a.id, &batch, 1, 2).await.unwrap();
    assert_eq!((first.accepted, first.duplicates), (2, 0));
    let again = store.accept_events(a.id, &batch, 1, 2).await.unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 2));
    let reg = store.get_registry(a.id).await.unwrap();
    assert_eq!(
        (reg.events_accepted, reg.events_dropped, reg.events_ignored),
        (2, 2, 4)
    );
    assert!(matches!(
        store.accept_events(999, &batch, 0, 0).await,
        Err(StoreError::NotFound { .. })
    ));

    // Claimed once while the lease holds; again by another once it ends.
    let lease = Duration::from_secs(60);
    let claimed = store.claim_events("c1", lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        store
            .claim_events("c2", lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let (m1, b1) = (&claimed[0], &claimed[1]);
    assert_eq!(
        (m1.kind, m1.status),
        (EventKind::ManifestPush, EventStatus::Pending)
    );

    let started = store
        .dispatch_event(m1, &[(&p, copy_task("team/app", "v1"))])
        .await
        .unwrap();
    assert_eq!(started.len(), 1);
    assert!(!started[0].joined);
    let exec = started[0].execution_id;
    assert_eq!(
        store.get_execution(exec).await.unwrap().trigger,
        ExecTrigger::EventBased
    );
    // Acting twice on one event does nothing the second time.
    assert!(
        store
            .dispatch_event(m1, &[(&p, copy_task("team/app", "v1"))])
            .await
            .unwrap()
            .is_empty()
    );

    // More pushes while it is pending join it; the same tag only once. The
    // blob event before the second push is tied to the execution.
    store
        .accept_events(
            a.id,
            &[
                event("m2", EventKind::ManifestPush, "team/app", Some("v2")),
                event("m3", EventKind::ManifestPush, "team/app", Some("v1")),
            ],
            0,
            0,
        )
        .await
        .unwrap();
    let more = store.claim_events("c1", lease, 10).await.unwrap();
    assert_eq!(more.len(), 2);
    for (e, tag) in more.iter().zip(["v2", "v1"]) {
        let d = store
            .dispatch_event(e, &[(&p, copy_task("team/app", tag))])
            .await
            .unwrap();
        assert_eq!(d[0].execution_id, exec);
        assert!(d[0].joined);
    }
    let seeded = store.seeded_tasks(exec).await.unwrap();
    assert_eq!(seeded.len(), 2, "{seeded:?}");
    let tied: Vec<String> = store
        .execution_events(exec)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(tied, ["m1", "b1", "m2", "m3"]);
    store
        .finish_event(b1.id, "copied ahead", None)
        .await
        .unwrap();

    // Once claimed it is running: the next push starts another.
    let running = store.claim_pending("runner", lease).await.unwrap().unwrap();
    assert_eq!(running.id, exec);
    store
        .accept_events(
            a.id,
            &[event("m4", EventKind::ManifestPush, "team/app", Some("v3"))],
            0,
            0,
        )
        .await
        .unwrap();
    let m4 = store.claim_events("c1", Duration::ZERO, 10).await.unwrap();
    assert_eq!(m4.len(), 1);
    // A lease of nothing: another coordinator takes it at once.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let m4 = store.claim_events("c2", lease, 10).await.unwrap();
    assert_eq!(m4.len(), 1);
    let d = store
        .dispatch_event(&m4[0], &[(&p, copy_task("team/app", "v3"))])
        .await
        .unwrap();
    assert!(!d[0].joined);
    assert_ne!(d[0].execution_id, exec);
    let all = store.list_events(a.id, 100).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.iter().all(|e| e.status == EventStatus::Done), "{all:?}");
    assert_eq!(store.prune_events(i64::MAX).await.unwrap(), 5);
}
