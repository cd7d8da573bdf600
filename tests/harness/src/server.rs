//! A real `ferry serve` process on a free 127.0.0.1 port, with its own data
//! directory, and a small JSON client for its API. Stopped on drop.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};

pub const TOKEN: &str = "test-admin-token-0123456789";

/// A template named `slow` whose execution-scoped `wait` stage sleeps
/// `seconds` after the listing: a run that lasts, to overlap or stop. It
/// needs the `fault-injector@0.4.0` extra function uploaded (see
/// [`Server::install_slow_template`]).
pub fn slow_template(seconds: u64) -> String {
    format!(
        "version: 1
name: slow
description: lists, then waits {seconds} s before copying
stages:
  - {{name: pull-prepare, function: oci-pull-prepare@0.4.0, scope: execution}}
  - name: wait
    function: fault-injector@0.4.0
    scope: execution
    timeout: 2m
    params: {{mode: sleep, seconds: {seconds}}}
  - {{name: pull, function: oci-pull@0.4.0, scope: artifact}}
  - {{name: push, function: oci-push@0.4.0, scope: artifact}}
"
    )
}

pub struct Server {
    child: tokio::process::Child,
    pub url: String,
    data: tempfile::TempDir,
    http: reqwest::Client,
}

impl Server {
    /// Starts `bin serve` with SQLite in a temp dir, or `database` if given.
    pub async fn start(bin: &str, database: Option<&str>, envs: &[(&str, &str)]) -> Result<Server> {
        let data = tempfile::Builder::new().prefix("ferry-serve-").tempdir()?;
        let mut cmd = tokio::process::Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env("FERRY_ADMIN_TOKEN", TOKEN)
            .env("FERRY_LOG", "warn")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(db) = database {
            cmd.args(["--database", db]);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {bin} serve"))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let log_path = data.path().join("serve.log");
        let mut log = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
                .await
                .context("ferry serve did not start within 60 s")??;
            let Some(line) = line else {
                bail!("ferry serve exited:\n{log}")
            };
            log.push_str(&line);
            log.push('\n');
            if let Some(rest) = line.split("serving on ").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        };
        // Keep draining stderr into a file, so the server never blocks on it.
        tokio::spawn(async move {
            let mut out = log;
            while let Ok(Some(line)) = lines.next_line().await {
                out.push_str(&line);
                out.push('\n');
                let _ = std::fs::write(&log_path, &out);
            }
        });
        Ok(Server {
            child,
            url,
            data,
            // A fresh connection per request: after an early answer (413
            // before the whole upload was read) the server closes the
            // connection, and a pooled client would reuse it and fail.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()?,
        })
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The server's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("serve.log")).unwrap_or_default()
    }

    /// Kills the process at once (as a crash would).
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.data.path().join("ferry.db")
    }

    /// A request with the admin token; answers (status, JSON body).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Body>,
    ) -> (u16, Value) {
        self.call_with(method, path, body, Some(TOKEN)).await
    }

    pub async fn call_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Body>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .timeout(Duration::from_secs(60));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req = match body {
            Some(Body::Json(v)) => req.json(&v),
            Some(Body::Yaml(s)) => req.header("content-type", "application/yaml").body(s),
            Some(Body::Wasm(b)) => req.header("content-type", "application/wasm").body(b),
            None => req,
        };
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("request to {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, v) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    pub async fn post_json(&self, path: &str, v: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(Body::Json(v)))
            .await
    }

    /// Registers `reg` as registry `name`, with its credentials; answers its
    /// id.
    pub async fn add_registry(&self, name: &str, reg: &crate::Registry) -> i64 {
        self.add_registry_at(name, &reg.url(), reg.credentials())
            .await
    }

    /// Registers the registry at `url` (such as a proxy in front of one)
    /// as `name`, with `(user, password)` if given; answers its id.
    pub async fn add_registry_at(
        &self,
        name: &str,
        url: &str,
        credentials: Option<(String, String)>,
    ) -> i64 {
        let mut body = serde_json::json!({"name": name, "url": url, "insecure": true});
        if let Some((u, p)) = credentials {
            body["credential"] =
                serde_json::json!({"type": "basic", "access_key": u, "access_secret": p});
        }
        let (status, v) = self.post_json("/api/v1/registries", body).await;
        assert_eq!(status, 201, "registering {name}: {v}");
        v["id"].as_i64().expect("registry id")
    }

    /// Creates a policy from `body`; answers its id.
    pub async fn add_policy(&self, body: Value) -> i64 {
        let (status, v) = self.post_json("/api/v1/policies", body).await;
        assert_eq!(status, 201, "creating a policy: {v}");
        v["id"].as_i64().expect("policy id")
    }

    /// Starts an execution of `policy`; answers it as created (pending, or
    /// skipped when single-active holds it back).
    pub async fn run_policy(&self, policy: i64) -> Value {
        let (status, v) = self
            .post_json(
                &format!("/api/v1/policies/{policy}/executions"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(status, 201, "starting policy {policy}: {v}");
        v
    }

    /// Uploads `name@version` from [`crate::EXTRA_FUNCTIONS`] under its
    /// own name and version.
    pub async fn upload_extra(&self, reference: &str) {
        let (name, version) = reference.split_once('@').expect("name@version");
        let path = format!("/api/v1/functions?name={name}&version={version}");
        let body = Body::Wasm(crate::extra_function(reference));
        let (status, v) = self.call(reqwest::Method::POST, &path, Some(body)).await;
        assert_eq!(status, 201, "uploading {reference}: {v}");
    }

    /// Uploads the fault injector and stores [`slow_template`]`(seconds)`
    /// as template `slow`.
    pub async fn install_slow_template(&self, seconds: u64) {
        self.upload_extra("fault-injector@0.4.0").await;
        let body = Body::Yaml(slow_template(seconds));
        let (status, v) = self
            .call(reqwest::Method::POST, "/api/v1/templates", Some(body))
            .await;
        assert_eq!(status, 201, "storing the slow template: {v}");
    }

    /// A policy's executions, newest first (the last 100).
    pub async fn executions(&self, policy: i64) -> Vec<Value> {
        self.get(&format!(
            "/api/v1/policies/{policy}/executions?page_size=100"
        ))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
    }

    /// Polls an execution until it is final (bounded: `limit`).
    pub async fn wait_execution(&self, id: i64, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let e = self.get(&format!("/api/v1/executions/{id}")).await;
            if !matches!(e["status"].as_str(), Some("pending" | "running")) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "execution {id} not final after {limit:?}: {e}\nserver log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

pub enum Body {
    Json(Value),
    Yaml(String),
    Wasm(Vec<u8>),
}

/// A fresh PostgreSQL database on 127.0.0.1:5432, dropped with the guard.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create() -> Result<PgDatabase> {
        let name = format!("ferry_it_{}_{}", std::process::id(), rand::random::<u32>());
        psql(&format!("CREATE DATABASE {name}"))?;
        Ok(PgDatabase {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
        })
    }
}

impl PgDatabase {
    /// Runs `sql` in this database (a test standing in for another
    /// coordinator, say).
    pub fn execute(&self, sql: &str) -> Result<()> {
        psql_in(&self.name, sql).map(drop)
    }

    /// The rows `sql` answers in this database, a line each, fields
    /// separated by `|`.
    pub fn query(&self, sql: &str) -> Result<String> {
        psql_in(&self.name, sql)
    }
}

fn psql(sql: &str) -> Result<()> {
    psql_in("postgres", sql).map(drop)
}

fn psql_in(database: &str, sql: &str) -> Result<String> {
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-c",
            sql,
        ])
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!("psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}
