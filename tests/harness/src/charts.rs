//! A classic Helm chart repository (`index.yaml` plus chart `.tgz` files over
//! HTTP, as GitHub Pages, S3 or ChartMuseum serve them) on 127.0.0.1.
//!
//! Archives are real, deterministic charts (fixed mtimes, gzip without a
//! timestamp), so their digests repeat from run to run. The server can live
//! under a path prefix, require Basic auth, count requests per path and serve
//! a corrupted archive; it stops when dropped.
//!
//! ```no_run
//! use ferry_harness::charts::{ChartRepo, RepoSpec, UrlStyle};
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let repo = ChartRepo::start(
//!     RepoSpec::new()
//!         .prefix("stable")
//!         .basic_auth("u", "p")
//!         .chart("alpine", "0.1.0", UrlStyle::Relative)
//!         .chart("alpine", "0.2.0", UrlStyle::Absolute),
//! )
//! .await?;
//! // ... replicate repo.url() (`http://127.0.0.1:PORT/stable/`) ...
//! assert_eq!(repo.hits("charts/alpine-0.1.0.tgz"), 1);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::client::sha256_digest;

/// mtime of every archive member (2024-01-01T00:00:00Z), for repeatable digests.
const MTIME: u64 = 1_704_067_200;
/// `created` of every index entry and the index's `generated`.
const CREATED: &str = "2024-01-01T00:00:00Z";
/// Realm in the `WWW-Authenticate` challenge.
pub const REALM: &str = "ferry-charts";

const TEMPLATE: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
data:
  chartVersion: {{ .Chart.Version | quote }}
  appVersion: {{ .Chart.AppVersion | quote }}
";

/// Where an index entry's `urls` point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlStyle {
    /// `charts/<name>-<version>.tgz`, resolved against the index URL.
    Relative,
    /// `http://127.0.0.1:PORT/<prefix>/charts/<name>-<version>.tgz`.
    Absolute,
    /// `<base>charts/<name>-<version>.tgz`: on another server (another
    /// repository's `url()`, which serves the same chart), as an index on
    /// one host may point at archives on a CDN. Not served here.
    At(String),
}

/// One chart version to publish.
#[derive(Clone, Debug)]
pub struct ChartSpec {
    pub name: String,
    pub version: String,
    pub app_version: String,
    pub url: UrlStyle,
}

/// What [`ChartRepo::start`] serves.
#[derive(Clone, Debug, Default)]
pub struct RepoSpec {
    /// Path the repository lives under (`"stable"`), or empty for the root.
    pub prefix: String,
    /// Basic auth credentials every request must carry.
    pub auth: Option<(String, String)>,
    /// Chart versions, listed in the index in this order (Helm lists newest first).
    pub charts: Vec<ChartSpec>,
}

impl RepoSpec {
    pub fn new() -> RepoSpec {
        RepoSpec::default()
    }

    /// Serves the repository under `/<prefix>/`.
    pub fn prefix(mut self, prefix: &str) -> RepoSpec {
        self.prefix = prefix.trim_matches('/').to_string();
        self
    }

    /// Requires HTTP Basic auth with these credentials.
    pub fn basic_auth(mut self, user: &str, pass: &str) -> RepoSpec {
        self.auth = Some((user.into(), pass.into()));
        self
    }

    /// Adds `name` at `version` (appVersion `version` too).
    pub fn chart(mut self, name: &str, version: &str, url: UrlStyle) -> RepoSpec {
        self.charts.push(ChartSpec {
            name: name.into(),
            version: version.into(),
            app_version: version.into(),
            url,
        });
        self
    }
}

/// A published chart version.
#[derive(Clone, Debug)]
pub struct Chart {
    pub name: String,
    pub version: String,
    /// `sha256:<hex>` of the archive (the index holds the bare hex).
    pub digest: String,
    pub size: u64,
    /// Chart.yaml's fields, as in the index entry: apiVersion, name, version,
    /// description, appVersion, type.
    pub metadata: Value,
    /// The archive's path relative to [`ChartRepo::url`]: `charts/<name>-<version>.tgz`.
    pub path: String,
    /// The index entry's URL, relative or absolute.
    pub url: String,
}

/// Chart.yaml's fields for a chart.
pub fn chart_metadata(name: &str, version: &str, app_version: &str) -> Value {
    json!({
        "apiVersion": "v2",
        "name": name,
        "version": version,
        "description": format!("A Helm chart for {name} (Ferry test fixture)"),
        "appVersion": app_version,
        "type": "application",
    })
}

/// A chart archive (`.tgz`) with `<name>/Chart.yaml` from `metadata`,
/// `<name>/values.yaml` and `<name>/templates/configmap.yaml`. Same input,
/// same bytes.
pub fn chart_archive(metadata: &Value) -> Vec<u8> {
    let name = metadata["name"].as_str().expect("metadata.name");
    let app_version = metadata["appVersion"].as_str().unwrap_or_default();
    let chart_yaml = serde_yaml::to_string(metadata).expect("Chart.yaml");
    let values =
        format!("replicaCount: 1\nimage:\n  repository: {name}\n  tag: \"{app_version}\"\n");
    let files = [
        ("Chart.yaml", chart_yaml.as_bytes()),
        ("values.yaml", values.as_bytes()),
        ("templates/configmap.yaml", TEMPLATE.as_bytes()),
    ];
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(MTIME);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, format!("{name}/{path}"), data)
            .expect("tar to memory");
    }
    let tar = tar.into_inner().expect("tar to memory");
    // GzBuilder writes mtime 0 and no file name: nothing varies between runs.
    let mut gz = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("gzip to memory");
    gz.finish().expect("gzip to memory")
}

/// An `index.yaml` as `helm repo index` writes it, for `charts` in order.
pub fn index_yaml(charts: &[Chart]) -> String {
    let mut entries = serde_json::Map::new();
    for c in charts {
        let mut entry = c.metadata.clone();
        entry["created"] = json!(CREATED);
        entry["digest"] = json!(c.digest.trim_start_matches("sha256:"));
        entry["urls"] = json!([c.url]);
        entries
            .entry(c.name.clone())
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("entries are lists")
            .push(entry);
    }
    let index = json!({"apiVersion": "v1", "entries": entries, "generated": CREATED});
    serde_yaml::to_string(&index).expect("index.yaml")
}

/// A chart repository served on 127.0.0.1 by an axum task, aborted on drop.
pub struct ChartRepo {
    url: String,
    base_path: String,
    auth: Option<(String, String)>,
    charts: Vec<Chart>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    /// Served bytes by full request path (`/stable/index.yaml`).
    files: Mutex<HashMap<String, Bytes>>,
    /// Authorized requests by full request path.
    hits: Mutex<HashMap<String, usize>>,
    /// Expected `Authorization` header value, if auth is on.
    authorization: Option<String>,
    /// Requests that carried an `Authorization` header, by full path.
    credentialed: Mutex<Vec<String>>,
}

impl ChartRepo {
    /// Builds the archives and index of `spec` and serves them on a free port.
    pub async fn start(spec: RepoSpec) -> Result<ChartRepo> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let base_path = match spec.prefix.as_str() {
            "" => "/".to_string(),
            p => format!("/{p}/"),
        };
        let shared = Arc::new(Shared {
            authorization: spec
                .auth
                .as_ref()
                .map(|(u, p)| format!("Basic {}", B64.encode(format!("{u}:{p}")))),
            ..Shared::default()
        });
        let app = Router::new()
            .fallback(serve)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("chart repo: {e}");
            }
        });
        let mut repo = ChartRepo {
            url: format!("http://127.0.0.1:{port}{base_path}"),
            base_path,
            auth: spec.auth,
            charts: Vec::new(),
            shared,
            task,
        };
        for c in spec.charts {
            repo.add(c);
        }
        repo.write_index();
        Ok(repo)
    }

    /// Adds a chart version and rewrites the index (a release after a first sync).
    pub fn publish(&mut self, name: &str, version: &str, url: UrlStyle) {
        self.add(ChartSpec {
            name: name.into(),
            version: version.into(),
            app_version: version.into(),
            url,
        });
        self.write_index();
    }

    fn add(&mut self, spec: ChartSpec) {
        let metadata = chart_metadata(&spec.name, &spec.version, &spec.app_version);
        let bytes = chart_archive(&metadata);
        let path = format!("charts/{}-{}.tgz", spec.name, spec.version);
        let url = match &spec.url {
            UrlStyle::Relative => path.clone(),
            UrlStyle::Absolute => format!("{}{path}", self.url),
            UrlStyle::At(base) => format!("{base}{path}"),
        };
        if !matches!(spec.url, UrlStyle::At(_)) {
            self.set_file(&path, bytes.clone());
        }
        self.charts.push(Chart {
            name: spec.name,
            version: spec.version,
            digest: sha256_digest(&bytes),
            size: bytes.len() as u64,
            metadata,
            path,
            url,
        });
    }

    fn write_index(&self) {
        self.set_file("index.yaml", index_yaml(&self.charts).into_bytes());
    }

    fn set_file(&self, path: &str, bytes: Vec<u8>) {
        let key = format!("{}{path}", self.base_path);
        self.shared
            .files
            .lock()
            .unwrap()
            .insert(key, Bytes::from(bytes));
    }

    /// Base URL, prefix and trailing slash included: `http://127.0.0.1:PORT/stable/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `<url>index.yaml`.
    pub fn index_url(&self) -> String {
        format!("{}index.yaml", self.url)
    }

    /// The Basic auth credentials, if required.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// Every published chart version, in index order.
    pub fn charts(&self) -> &[Chart] {
        &self.charts
    }

    /// One chart version; panics if it was not published.
    pub fn chart(&self, name: &str, version: &str) -> &Chart {
        self.charts
            .iter()
            .find(|c| c.name == name && c.version == version)
            .unwrap_or_else(|| panic!("no chart {name} {version}"))
    }

    /// Authorized GET/HEAD requests for `path`, relative to [`ChartRepo::url`]
    /// (`"index.yaml"`, `"charts/alpine-0.1.0.tgz"`). Requests refused with
    /// 401 are not counted.
    pub fn hits(&self, path: &str) -> usize {
        let key = format!("{}{path}", self.base_path);
        self.shared
            .hits
            .lock()
            .unwrap()
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    /// Authorized requests for any `.tgz`, to assert a re-run fetched none.
    /// The full paths of the requests that carried credentials.
    pub fn credentialed(&self) -> Vec<String> {
        self.shared.credentialed.lock().unwrap().clone()
    }

    pub fn archive_hits(&self) -> usize {
        let hits = self.shared.hits.lock().unwrap();
        hits.iter()
            .filter(|(path, _)| path.ends_with(".tgz"))
            .map(|(_, n)| n)
            .sum()
    }

    /// Serves a different, still valid archive for `name` `version`: its sha256
    /// no longer matches the index's digest.
    pub fn corrupt(&self, name: &str, version: &str) {
        let chart = self.chart(name, version);
        let mut metadata = chart.metadata.clone();
        metadata["description"] = json!("tampered with");
        let path = chart.path.clone();
        self.set_file(&path, chart_archive(&metadata));
    }
}

impl Drop for ChartRepo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if let Some(expected) = &shared.authorization {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        // The scheme is case-insensitive; the credentials are not.
        let ok = given
            .and_then(|g| g.split_once(' '))
            .zip(expected.split_once(' '))
            .is_some_and(|((gs, gc), (es, ec))| gs.eq_ignore_ascii_case(es) && gc.trim() == ec);
        if !ok {
            let challenge = format!("Basic realm=\"{REALM}\"");
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, challenge)],
            )
                .into_response();
        }
    }
    let path = uri.path();
    if headers.contains_key(header::AUTHORIZATION) {
        shared.credentialed.lock().unwrap().push(path.to_string());
    }
    *shared
        .hits
        .lock()
        .unwrap()
        .entry(path.to_string())
        .or_default() += 1;
    let Some(bytes) = shared.files.lock().unwrap().get(path).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // What GitHub Pages and ChartMuseum answer.
    let content_type = if path.ends_with(".yaml") {
        "application/x-yaml"
    } else {
        "application/gzip"
    };
    ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    /// The contents of `member` in a chart archive.
    fn read_member(tgz: &[u8], member: &str) -> Option<String> {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
        for entry in tar.entries().expect("tar") {
            let mut entry = entry.expect("tar entry");
            if entry.path().expect("path").to_str() == Some(member) {
                let mut s = String::new();
                entry.read_to_string(&mut s).expect("member");
                return Some(s);
            }
        }
        None
    }

    async fn get(http: &reqwest::Client, url: &str) -> (u16, Bytes) {
        let resp = http.get(url).send().await.expect(url);
        (resp.status().as_u16(), resp.bytes().await.expect(url))
    }

    fn four_charts() -> RepoSpec {
        RepoSpec::new()
            .chart("alpine", "0.2.0", UrlStyle::Absolute)
            .chart("alpine", "0.1.0", UrlStyle::Relative)
            .chart("nginx", "1.1.0", UrlStyle::Relative)
            .chart("nginx", "1.0.0", UrlStyle::Absolute)
    }

    #[test]
    fn charts_archives_are_deterministic() {
        let m = chart_metadata("alpine", "0.1.0", "3.19");
        let a = chart_archive(&m);
        assert_eq!(a, chart_archive(&m));
        assert_ne!(a, chart_archive(&chart_metadata("alpine", "0.1.1", "3.19")));
        for member in ["Chart.yaml", "values.yaml", "templates/configmap.yaml"] {
            assert!(read_member(&a, &format!("alpine/{member}")).is_some());
        }
    }

    #[tokio::test]
    async fn charts_index_and_archives_under_prefix() {
        let mut repo = ChartRepo::start(four_charts().prefix("stable"))
            .await
            .unwrap();
        assert!(repo.url().ends_with("/stable/"), "{}", repo.url());
        let http = reqwest::Client::new();
        let (status, body) = get(&http, &repo.index_url()).await;
        assert_eq!(status, 200);
        let index: Value = serde_yaml::from_slice(&body).unwrap();
        assert_eq!(index["apiVersion"], "v1");
        assert!(index["generated"].is_string());
        let entries = index["entries"].as_object().unwrap();
        assert_eq!(entries.len(), 2);
        let index_url = url::Url::parse(&repo.index_url()).unwrap();

        assert_eq!(repo.charts().len(), 4);
        for chart in repo.charts() {
            let entry = entries[&chart.name]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["version"] == chart.version.as_str())
                .unwrap();
            let digest = entry["digest"].as_str().unwrap();
            assert_eq!(format!("sha256:{digest}"), chart.digest);
            for field in [
                "apiVersion",
                "name",
                "version",
                "description",
                "appVersion",
                "type",
            ] {
                assert_eq!(entry[field], chart.metadata[field], "{field}");
            }
            let url = entry["urls"][0].as_str().unwrap();
            assert_eq!(url, chart.url);
            let absolute = url.starts_with("http://");
            assert_eq!(absolute, chart.url != chart.path, "{url}");

            let (status, tgz) = get(&http, index_url.join(url).unwrap().as_str()).await;
            assert_eq!(status, 200, "{url}");
            assert_eq!(sha256_digest(&tgz), chart.digest);
            assert_eq!(tgz.len() as u64, chart.size);
            let chart_yaml = read_member(&tgz, &format!("{}/Chart.yaml", chart.name)).unwrap();
            let meta: Value = serde_yaml::from_str(&chart_yaml).unwrap();
            assert_eq!(meta["version"], chart.version.as_str());
            assert_eq!(meta, chart.metadata);
            assert_eq!(repo.hits(&chart.path), 1);
        }
        assert_eq!(repo.hits("index.yaml"), 1);
        assert_eq!(repo.archive_hits(), 4);

        // Outside the prefix, or unknown: 404.
        let root = format!("http://127.0.0.1:{}/index.yaml", index_url.port().unwrap());
        assert_eq!(get(&http, &root).await.0, 404);
        assert_eq!(
            get(&http, &format!("{}charts/none-1.0.0.tgz", repo.url()))
                .await
                .0,
            404
        );

        // A later release shows up in the index.
        repo.publish("alpine", "0.3.0", UrlStyle::Relative);
        let (_, body) = get(&http, &repo.index_url()).await;
        let index: Value = serde_yaml::from_slice(&body).unwrap();
        assert_eq!(index["entries"]["alpine"].as_array().unwrap().len(), 3);
        let (status, tgz) = get(&http, &format!("{}charts/alpine-0.3.0.tgz", repo.url())).await;
        assert_eq!(status, 200);
        assert_eq!(sha256_digest(&tgz), repo.chart("alpine", "0.3.0").digest);
    }

    #[tokio::test]
    async fn charts_basic_auth() {
        let repo = ChartRepo::start(four_charts().basic_auth("ferry", "s3cret"))
            .await
            .unwrap();
        assert_eq!(repo.credentials(), Some(("ferry", "s3cret")));
        let http = reqwest::Client::new();
        let tgz = format!("{}{}", repo.url(), repo.charts()[0].path);
        for url in [repo.index_url(), tgz.clone()] {
            let resp = http.get(&url).send().await.unwrap();
            assert_eq!(resp.status(), 401, "{url}");
            let challenge = resp.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
            assert_eq!(challenge, format!("Basic realm=\"{REALM}\""));
            let wrong = http.get(&url).basic_auth("ferry", Some("nope")).send();
            assert_eq!(wrong.await.unwrap().status(), 401, "{url}");
            let right = http.get(&url).basic_auth("ferry", Some("s3cret")).send();
            assert_eq!(right.await.unwrap().status(), 200, "{url}");
        }
        // Only the authorized requests count.
        assert_eq!(repo.hits("index.yaml"), 1);
        assert_eq!(repo.archive_hits(), 1);
    }

    #[tokio::test]
    async fn charts_corrupt_archive() {
        let repo = ChartRepo::start(four_charts()).await.unwrap();
        repo.corrupt("nginx", "1.0.0");
        let http = reqwest::Client::new();
        for chart in repo.charts() {
            let (status, tgz) = get(&http, &format!("{}{}", repo.url(), chart.path)).await;
            assert_eq!(status, 200);
            let corrupted = chart.name == "nginx" && chart.version == "1.0.0";
            assert_eq!(
                sha256_digest(&tgz) != chart.digest,
                corrupted,
                "{}",
                chart.path
            );
            // Still a readable chart: only the digest check can catch it.
            assert!(read_member(&tgz, &format!("{}/Chart.yaml", chart.name)).is_some());
        }
    }

    #[tokio::test]
    async fn charts_stop_on_drop() {
        let repo = ChartRepo::start(four_charts()).await.unwrap();
        let url = repo.index_url();
        drop(repo);
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        // The abort takes effect when the runtime next polls the task.
        for _ in 0..50 {
            if http.get(&url).send().await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("{url} still answers after the repo was dropped");
    }
}
