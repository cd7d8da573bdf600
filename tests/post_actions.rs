//! Post actions: `webhook` reports every run, failed ones too (`when:
//! always`), and `verify` re-reads the target and catches what changed.

use std::sync::{Arc, Mutex};

use ferry_harness::*;
use serde_json::Value;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// A local HTTP receiver: records JSON bodies, and runs `on_post` first.
struct Receiver {
    port: u16,
    bodies: Arc<Mutex<Vec<Value>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start<F, Fut>(on_post: F) -> Self
    where
        F: Fn() -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let store = bodies.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let (store, on_post) = (store.clone(), on_post.clone());
                async move {
                    on_post().await;
                    store
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            port,
            bodies,
            server,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn run_template(src: &Registry, dst: &Registry, template: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.yaml");
    std::fs::write(&path, template).unwrap();
    ferry(
        FERRY,
        &[
            "copy",
            "--functions-dir",
            EXTRA_FUNCTIONS,
            "--insecure",
            "--output",
            "json",
            "--template",
            path.to_str().unwrap(),
            &src.url(),
            &dst.url(),
        ],
    )
    .await
}

#[tokio::test]
async fn webhook_reports_a_failed_run_too() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    let l = Layer::random(31, 2000);
    push_image(
        &src,
        "good/app",
        "v1",
        Format::Oci,
        std::slice::from_ref(&l),
    )
    .await
    .unwrap();
    push_image(&src, "bad/app", "v1", Format::Oci, std::slice::from_ref(&l))
        .await
        .unwrap();
    let hook = Receiver::start(|| async {}).await;
    let run = run_template(
        &src,
        &dst,
        &format!(
            r#"version: 1
name: with-webhook
stages:
  - {{name: pull-prepare, function: oci-pull-prepare@0.4.0, scope: execution}}
  - {{name: pull, function: oci-pull@0.4.0, scope: artifact}}
  - name: break
    function: fault-injector@0.4.0
    scope: artifact
    params: {{mode: fail, repository: "bad/**"}}
  - {{name: push, function: oci-push@0.4.0, scope: artifact}}
  - name: notify
    function: webhook@0.4.0
    scope: execution
    when: always
    params: {{url: "{}"}}
"#,
            hook.url()
        ),
    )
    .await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let report = run.report();
    assert_eq!(report["stages"][1]["stage"], "notify");
    assert_eq!(report["stages"][1]["outcome"], "succeeded");

    let bodies = hook.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let body = &bodies[0];
    assert_eq!(body["status"], "failed");
    assert_eq!(body["source"], src.url());
    let mut repos: Vec<&str> = body["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["repository"].as_str().unwrap())
        .collect();
    repos.sort();
    assert_eq!(repos, ["bad/app", "good/app"]);
    let stages: Vec<&str> = body["previous"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["pull-prepare", "pull", "break", "push"]);
    assert_eq!(body["previous"][2]["status"], "failed");
    assert_eq!(body["previous"][2]["counts"]["artifacts-failed"], 1);
    assert_eq!(body["previous"][3]["status"], "succeeded");
}

#[tokio::test]
async fn verify_catches_a_target_tag_that_changed_after_the_push() {
    let src = Registry::start(Auth::None);
    let dst = Arc::new(Registry::start(Auth::None));
    let l = Layer::random(32, 2000);
    push_image(
        &src,
        "kept/app",
        "v1",
        Format::Oci,
        std::slice::from_ref(&l),
    )
    .await
    .unwrap();
    push_image(
        &src,
        "tampered/app",
        "v1",
        Format::Oci,
        std::slice::from_ref(&l),
    )
    .await
    .unwrap();
    // Between push and verify, someone re-points tampered/app:v1 at the target.
    let other = Layer::random(33, 2000);
    let target = dst.clone();
    let hook = Receiver::start(move || {
        let (target, other) = (target.clone(), other.clone());
        async move {
            push_image(&*target, "tampered/app", "v1", Format::Docker, &[other])
                .await
                .unwrap();
        }
    })
    .await;
    let run = run_template(
        &src,
        &dst,
        &format!(
            r#"version: 1
name: verify-after-tamper
stages:
  - {{name: pull-prepare, function: oci-pull-prepare@0.4.0, scope: execution}}
  - {{name: pull, function: oci-pull@0.4.0, scope: artifact}}
  - {{name: push, function: oci-push@0.4.0, scope: artifact}}
  - name: tamper
    function: webhook@0.4.0
    scope: execution
    params: {{url: "{}"}}
  - {{name: verify, function: verify@0.4.0, scope: artifact}}
"#,
            hook.url()
        ),
    )
    .await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let tampered = run.task("tampered/app", "v1");
    let verify = tampered["stages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(verify["stage"], "verify");
    assert_eq!(verify["outcome"], "failed");
    let err = verify["error"].as_str().unwrap();
    let want = tampered["digest"].as_str().unwrap();
    assert!(err.contains("tampered/app") && err.contains(want), "{err}");
    let kept = run.task("kept/app", "v1");
    assert_eq!(
        kept["stages"].as_array().unwrap().last().unwrap()["outcome"],
        "succeeded"
    );
}
