//! The command line as a user meets it: bad input gets a clear message and
//! exit code 2; credentials from the environment; a short address space.

use std::process::Stdio;

use ferry_harness::*;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

#[tokio::test]
async fn bad_input_gets_a_clear_message() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["copy", "http://127.0.0.1:1", "http://127.0.0.1:2"],
            "plain HTTP needs --insecure",
        ),
        (
            &[
                "copy",
                "--insecure",
                "ftp://127.0.0.1:1",
                "http://127.0.0.1:2",
            ],
            "scheme ftp is not http or https",
        ),
        (
            &["copy", "--insecure", "not a url", "http://127.0.0.1:2"],
            "not a URL",
        ),
        (
            &[
                "copy",
                "--insecure",
                "--src-creds",
                "nocolon",
                "http://127.0.0.1:1",
                "http://127.0.0.1:2",
            ],
            "USER:PASSWORD",
        ),
        (
            &[
                "copy",
                "--insecure",
                "--template",
                "no-such-template",
                "http://127.0.0.1:1",
                "http://127.0.0.1:2",
            ],
            "built-in templates: oci-to-oci",
        ),
        (
            &[
                "copy",
                "--insecure",
                "--concurrency",
                "0",
                "http://127.0.0.1:1",
                "http://127.0.0.1:2",
            ],
            "--concurrency",
        ),
    ];
    for (args, want) in cases {
        let run = ferry(FERRY, args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(want),
            "{args:?}: want {want:?} in:\n{}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}

/// Runs ferry through a shell, to set the environment and resource limits.
async fn sh(script: &str, envs: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = tokio::process::Command::new("bash")
        .args(["-c", script])
        .env("FERRY", FERRY)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn credentials_come_from_the_environment() {
    let src = Registry::start(Auth::basic("alice", "from-env-1"));
    let dst = Registry::start(Auth::token("bob", "from-env-2"));
    push_image(
        &src,
        "env/app",
        "v1",
        Format::Oci,
        &[Layer::random(41, 5000)],
    )
    .await
    .unwrap();
    let (code, out, err) = sh(
        &format!(
            "exec \"$FERRY\" copy --insecure {} {}",
            src.url(),
            dst.url()
        ),
        &[
            ("FERRY_SRC_CREDS", "alice:from-env-1"),
            ("FERRY_DEST_CREDS", "bob:from-env-2"),
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert_replicated(&src, &dst, "env/app", "env/app", "v1").await;
    assert!(
        !out.contains("from-env") && !err.contains("from-env"),
        "a credential was printed"
    );
}

#[tokio::test]
async fn a_short_address_space_falls_back_to_on_demand_allocation() {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    push_image(
        &src,
        "small/app",
        "v1",
        Format::Docker,
        &[Layer::random(42, 5000)],
    )
    .await
    .unwrap();
    // 6 GB of address space: too little for the instance pool's reservation.
    let (code, out, err) = sh(
        &format!(
            "ulimit -v 6000000 && exec \"$FERRY\" --log warn copy --insecure {} {}",
            src.url(),
            dst.url()
        ),
        &[],
    )
    .await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("pooling allocator unavailable"), "{err}");
    assert_replicated(&src, &dst, "small/app", "small/app", "v1").await;
}

#[tokio::test]
async fn a_start_links_only_the_functions_it_runs_and_recompiles_bad_cached_code() {
    let cache = tempfile::tempdir().unwrap();
    let components = cache.path().join("components");
    let cache_env = [("FERRY_CACHE_DIR", cache.path().to_str().unwrap())];
    let files = |ext: &str| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(&components)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .collect();
        v.sort();
        v
    };
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../templates/oci-to-oci.yaml");
    let check = format!("exec \"$FERRY\" template check {template}");

    // The first start compiles the template's six functions and records
    // what each one is.
    let (code, out, err) = sh(&check, &cache_env).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(files("cwasm").len(), 6, "{:?}", files("cwasm"));
    assert_eq!(files("json").len(), 6, "{:?}", files("json"));

    // A later start validates from those records and leaves the code alone:
    // damaged code is not even read.
    for f in files("cwasm") {
        std::fs::write(&f, b"not code").unwrap();
    }
    let (code, out, err) = sh(&check, &cache_env).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        files("cwasm")
            .iter()
            .all(|f| std::fs::read(f).unwrap() == b"not code")
    );

    // A copy links the functions it runs, recompiling damaged code; the
    // no-op below lists only, and leaves the other stages' code untouched.
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::None);
    push_image(
        &src,
        "lazy/app",
        "v1",
        Format::Oci,
        &[Layer::random(43, 5000)],
    )
    .await
    .unwrap();
    let copy = format!(
        "exec \"$FERRY\" --log warn copy --insecure {} {}",
        src.url(),
        dst.url()
    );
    let (code, out, err) = sh(&copy, &cache_env).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("cached code unusable"), "{err}");
    assert_replicated(&src, &dst, "lazy/app", "lazy/app", "v1").await;
    let rebuilt = files("cwasm")
        .iter()
        .filter(|f| std::fs::read(f).unwrap() != b"not code")
        .count();
    assert_eq!(
        rebuilt, 5,
        "every stage but delete (no deletions) ran, so their code was rebuilt"
    );

    for f in files("cwasm") {
        std::fs::write(&f, b"not code").unwrap();
    }
    let (code, out, err) = sh(&copy, &cache_env).await;
    assert_eq!(code, Some(0), "{out}{err}");
    let rebuilt = files("cwasm")
        .iter()
        .filter(|f| std::fs::read(f).unwrap() != b"not code")
        .count();
    assert_eq!(rebuilt, 2, "a no-op runs the two execution stages only");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    // `ferry functions | head -1`, with the reader gone before ferry writes.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(FERRY)
        .arg("functions")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !err.contains("no functions found"),
        "build them first: {err}"
    );
    assert_eq!(out.status.code(), Some(141), "{err}");
}
