//! The OpenAPI document is truthful: schemathesis, run with all its checks
//! against a real `ferry serve`, finds nothing. Its version is pinned in
//! tests/schemathesis/requirements.txt and tests/scripts/setup installs it;
//! its settings are in tests/schemathesis/schemathesis.toml.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ferry_harness::Server;
use ferry_harness::server::TOKEN;
use serde_json::json;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/schemathesis");

/// Test cases per operation and phase: enough to reach every constraint,
/// few enough to stay well within `LIMIT` on two busy cores.
const EXAMPLES: &str = "100";
/// The whole run's bound; past it schemathesis is killed and the test fails.
const LIMIT: Duration = Duration::from_secs(170);

/// The `st` of the virtualenv tests/scripts/setup makes, checked to be the
/// pinned version.
fn schemathesis() -> PathBuf {
    let venv = std::env::var_os("FERRY_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/ferry/py")
        });
    let st = venv.join("bin/st");
    let pins = std::fs::read_to_string(format!("{DIR}/requirements.txt")).unwrap();
    let want = pins
        .lines()
        .find_map(|l| l.strip_prefix("schemathesis=="))
        .expect("requirements.txt pins schemathesis");
    let have = std::process::Command::new(&st)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match have {
        Some(v) if v == format!("st, version {want}") => st,
        Some(v) => panic!(
            "{} is {v:?}, not schemathesis {want}: run tests/scripts/setup",
            st.display()
        ),
        None => panic!(
            "schemathesis is not installed ({} does not run): run tests/scripts/setup",
            st.display()
        ),
    }
}

#[tokio::test]
async fn schemathesis_finds_nothing() {
    let st = schemathesis();
    // Fuzzed registries name any host: the server reaches them only through
    // a proxy on a closed loopback port, so nothing leaves the machine and
    // every registry call fails at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let proxy = format!("http://127.0.0.1:{port}");
    let p = proxy.as_str();
    let envs = [
        ("HTTP_PROXY", p),
        ("HTTPS_PROXY", p),
        ("ALL_PROXY", p),
        ("http_proxy", p),
        ("https_proxy", p),
        ("all_proxy", p),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
    ];
    let s = Server::start(FERRY, None, &envs).await.unwrap();

    // Something for the ids schemathesis draws to find: registries, a
    // policy, and an execution of it (which fails: no registry answers).
    let mut ids = Vec::new();
    for name in ["src", "dst"] {
        let (status, v) = s
            .post_json(
                "/api/v1/registries",
                json!({"name": name, "url": format!("https://{name}.registry.invalid"),
                       "event_secret": "0123456789abcdef0123"}),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        ids.push(v["id"].as_i64().unwrap());
    }
    let (status, v) = s
        .post_json(
            "/api/v1/policies",
            json!({"name": "mirror", "src_registry": {"id": ids[0]}, "dest_registry": {"id": ids[1]}}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = s
        .post_json(
            &format!("/api/v1/policies/{}/executions", v["id"]),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{v}");

    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let child = tokio::process::Command::new(&st)
        .arg("--config-file")
        .arg(format!("{DIR}/schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", s.url))
        .args(["--checks", "all"])
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .args(["--max-examples", EXAMPLES])
        .arg("--generation-deterministic")
        .args(["--request-timeout", "20"])
        .arg("--no-color")
        // Its caches and reports stay out of the work tree.
        .current_dir(work.path())
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", st.display()));
    let out = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis did not finish within {LIMIT:?}; killed"))
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("schemathesis took {:.0?}", started.elapsed());
    let log = s.log();
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    assert!(
        out.status.success(),
        "schemathesis found something ({}):\n{report}\nthe server log's last lines:\n{}",
        out.status,
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

/// Every operation the served document lists is served: without a token,
/// the open ones answer and the others ask for one. A documented route the
/// router lacked would answer 404 or 405.
#[tokio::test]
async fn every_documented_operation_is_served() {
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let (status, doc) = s
        .call_with(reqwest::Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, 200);
    // Registry 1 exists, so that its event endpoint asks for its secret.
    let (status, v) = s
        .post_json(
            "/api/v1/registries",
            json!({"name": "r", "url": "http://127.0.0.1:1", "insecure": true}),
        )
        .await;
    assert_eq!((status, v["id"].as_i64()), (201, Some(1)), "{v}");
    let mut seen = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{id}", "1")
            .replace("{name}", "x")
            .replace("{version}", "1");
        for method in item.as_object().unwrap().keys() {
            let open = path == "/healthz" || path == "/api/v1/openapi.json";
            // Sign-in is open too: without its JSON body, a 415.
            let sign_in = path == "/api/v1/session" && method == "post";
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, body) = s.call_with(m, &concrete, None, None).await;
            let expected = match (open, sign_in) {
                (true, _) => 200,
                (_, true) => 415,
                _ => 401,
            };
            assert_eq!(status, expected, "{method} {path}: {body}");
            seen.push(format!("{method} {path}"));
        }
    }
    assert_eq!(seen.len(), 37, "{seen:?}");
}
