//! The CLI client against a running `ferry serve`: the README's walkthrough.

use std::process::Stdio;

use ferry_harness::*;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// Runs `ferry ARGS` against the server; answers (exit code, stdout, stderr).
async fn cli(s: &Server, args: &[&str], stdin: Option<&str>) -> (Option<i32>, String, String) {
    cli_env(s, args, stdin, &[]).await
}

async fn cli_env(
    s: &Server,
    args: &[&str],
    stdin: Option<&str>,
    envs: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(FERRY)
        .args(args)
        .env("FERRY_SERVER", &s.url)
        .env("FERRY_ADMIN_TOKEN", server::TOKEN)
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        child.wait_with_output(),
    )
    .await
    .expect("ferry ran over 2 minutes")
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn walkthrough_add_registries_apply_a_policy_run_and_watch_it() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::basic("writer", "cli-Secret-9"));
    push_image(
        &src,
        "team/app",
        "v1",
        Format::Oci,
        &[Layer::random(1, 50_000)],
    )
    .await
    .unwrap();
    push_image(
        &src,
        "team/app",
        "v2-rc1",
        Format::Oci,
        &[Layer::random(2, 50_000)],
    )
    .await
    .unwrap();
    let s = Server::start(FERRY, None, &[]).await.unwrap();

    let (code, out, err) = cli(
        &s,
        &["registry", "add", "hub", &src.url(), "--insecure"],
        None,
    )
    .await;
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = cli_env(
        &s,
        &[
            "registry",
            "add",
            "mirror",
            &dst.url(),
            "--insecure",
            "--username",
            "writer",
        ],
        None,
        &[("FERRY_REGISTRY_PASSWORD", "cli-Secret-9")],
    )
    .await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!out.contains("cli-Secret-9") && !err.contains("cli-Secret-9"));
    let (code, out, err) = cli(&s, &["registry", "check", "mirror"], None).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("healthy"), "{out}");
    let (code, out, _) = cli(&s, &["registry", "list"], None).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("hub") && out.contains("mirror"), "{out}");

    let policy = "name: nightly\nsrc_registry: hub\ndest_registry: mirror\ndest_namespace: copy\ndest_namespace_replace_count: 0\nfilters:\n  - {type: tag, value: '*-rc*', decoration: excludes}\n";
    let (code, out, err) = cli(&s, &["policy", "apply", "-"], Some(policy)).await;
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = cli(&s, &["policy", "run", "nightly", "--wait"], None).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("succeeded"), "{out}");
    assert_replicated(&src, &dst, "team/app", "copy/team/app", "v1").await;
    assert_eq!(
        tags(&dst, "copy/team/app").await.unwrap(),
        vec!["v1".to_string()]
    );

    let (code, out, err) = cli(
        &s,
        &[
            "execution",
            "list",
            "--policy",
            "nightly",
            "--output",
            "json",
        ],
        None,
    )
    .await;
    assert_eq!(code, Some(0), "{out}{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = list[0]["id"].as_i64().unwrap().to_string();
    let (code, out, err) = cli(&s, &["execution", "show", &id], None).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("team/app:v1") && out.contains("push") && out.contains("verify"),
        "{out}"
    );

    // Errors come back as messages, with exit code 2.
    let (code, _, err) = cli(&s, &["policy", "run", "no-such-policy"], None).await;
    assert_eq!(code, Some(2));
    assert!(err.contains("no-such-policy"), "{err}");
}
