//! Template validation through the CLI: errors carry a line and column.

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

use ferry_harness::{EXTRA_FUNCTIONS, ferry};

async fn check(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.yaml");
    std::fs::write(&path, text).unwrap();
    let run = ferry(FERRY, &["template", "check", path.to_str().unwrap()]).await;
    (run.code, format!("{}{}", run.stdout, run.stderr))
}

const HEAD: &str = "version: 1\nname: t\nstages:\n  - name: list\n    function: oci-pull-prepare@0.4.0\n    scope: execution\n";

#[tokio::test]
async fn shipped_templates_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../templates");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // Some ship as uploads (the Helm source): their functions are in
        // the extra directory.
        let args = [
            "--functions-dir",
            EXTRA_FUNCTIONS,
            "template",
            "check",
            path.to_str().unwrap(),
        ];
        let run = ferry(FERRY, &args).await;
        assert_eq!(
            run.code,
            Some(0),
            "{}: {}{}",
            path.display(),
            run.stdout,
            run.stderr
        );
    }
}

#[tokio::test]
async fn unknown_function_is_located() {
    let (code, out) = check(&format!(
        "{HEAD}  - name: push\n    function: nope@1.0\n    scope: artifact\n"
    ))
    .await;
    assert_eq!(code, Some(2));
    assert!(
        out.contains("t.yaml:8:15: unknown function nope@1.0"),
        "{out}"
    );
}

#[tokio::test]
async fn unknown_parameter_is_located_and_known_ones_listed() {
    let (code, out) = check(&format!(
        "{HEAD}  - name: push\n    function: oci-push@0.4.0\n    scope: artifact\n    params:\n      uplod: chunked\n"
    ))
    .await;
    assert_eq!(code, Some(2));
    assert!(
        out.contains("t.yaml:11:14: unknown parameter \"uplod\""),
        "{out}"
    );
    assert!(out.contains("upload"), "{out}");
}

#[tokio::test]
async fn structural_errors_are_located() {
    let (code, out) = check(&format!("{HEAD}    retries: {{count: 2, bakoff: 1s}}\n")).await;
    assert_eq!(code, Some(2));
    assert!(
        out.contains("t.yaml:7:") && out.contains("unknown field `bakoff`"),
        "{out}"
    );

    let (code, out) = check(&format!("{HEAD}    timeout: soon\n")).await;
    assert_eq!(code, Some(2));
    assert!(
        out.contains("t.yaml:7:") && out.contains("bad duration"),
        "{out}"
    );

    let (code, out) = check("version: 1\nname: t\nstages:\n  - name: x\n    function: oci-push@0.4.0\n    scope: artifact\n").await;
    assert_eq!(code, Some(2));
    assert!(
        out.contains("t.yaml:6:12: the first stage must have scope `execution`"),
        "{out}"
    );

    let (code, out) = check(&format!(
        "{HEAD}  - name: list\n    function: verify@0.4.0\n    scope: artifact\n"
    ))
    .await;
    assert_eq!(code, Some(2));
    assert!(
        out.contains("t.yaml:7:11: stage name \"list\" is used twice"),
        "{out}"
    );
}
