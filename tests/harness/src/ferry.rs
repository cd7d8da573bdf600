//! Runs the `ferry` binary as a user would and reads its JSON report.

use std::process::Stdio;

use serde_json::Value;

/// The outcome of one `ferry` invocation.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `--output json` report.
    pub fn report(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON report ({e}); stdout:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The task for `repo:tag` in the report.
    pub fn task(&self, repository: &str, tag: &str) -> Value {
        let report = self.report();
        report["tasks"]
            .as_array()
            .and_then(|ts| {
                ts.iter()
                    .find(|t| t["repository"] == repository && t["tag"] == tag)
                    .cloned()
            })
            .unwrap_or_else(|| panic!("no task {repository}:{tag} in report:\n{}", self.stdout))
    }
}

/// Runs `bin args...` with a bounded wall-clock time (5 minutes), with an
/// existence cache of its own (a run that wants to share one passes
/// `--cache-file`): registries of other tests may reuse a port.
pub async fn ferry(bin: &str, args: &[&str]) -> Run {
    let cache = tempfile::tempdir().expect("temporary cache directory");
    let child = tokio::process::Command::new(bin)
        .args(args)
        .env("FERRY_CACHE_FILE", cache.path().join("known.json"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(300),
        child.wait_with_output(),
    )
    .await
    .expect("ferry ran over 5 minutes")
    .expect("ferry output");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
