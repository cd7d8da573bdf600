//! A small registry client (Basic and Bearer challenges, bearer tokens cached per scope)
//! and replication assertions.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::media;

/// Upper bound on pages followed by [`Client::tags`] and [`Client::catalog`].
const MAX_PAGES: usize = 10_000;
/// Upper bound on manifests visited by one replication check.
const MAX_MANIFESTS: usize = 10_000;

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The OCI referrers tag-schema fallback tag of a subject: `sha256-<hex>`.
pub fn referrers_tag(subject_digest: &str) -> String {
    subject_digest.replacen(':', "-", 1)
}

/// Anything that can hand out a [`Client`]: a [`crate::Registry`] or a `Client` itself.
pub trait AsClient {
    /// A client for this registry (cheap; clones share the token cache).
    fn client(&self) -> Client;
}

impl AsClient for Client {
    fn client(&self) -> Client {
        self.clone()
    }
}

#[derive(Default)]
struct AuthState {
    basic: bool,
    tokens: HashMap<String, String>,
}

/// A registry client over reqwest. It answers `WWW-Authenticate: Basic` and `Bearer`
/// challenges itself and caches bearer tokens per (repository, read/write).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    creds: Option<(String, String)>,
    state: Arc<Mutex<AuthState>>,
}

impl Client {
    /// A client for the registry at `url` (`http://127.0.0.1:PORT`), with optional
    /// `(user, pass)`. For `https://127.0.0.1` (the harness's self-signed TLS
    /// registries) certificates are not verified.
    pub fn new(url: &str, creds: Option<(String, String)>) -> Client {
        let http = reqwest::Client::builder()
            .no_proxy()
            .danger_accept_invalid_certs(url.starts_with("https://127.0.0.1:"))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .expect("building reqwest client");
        Client {
            http,
            base: url.trim_end_matches('/').to_string(),
            creds,
            state: Arc::default(),
        }
    }

    /// The registry base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Sends a request to `path` (e.g. `/v2/`) or an absolute URL, answering auth
    /// challenges (at most two retries). Non-401 statuses are returned as they are.
    pub async fn send(
        &self,
        method: Method,
        path_or_url: &str,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<Response> {
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{}", self.base, path_or_url)
        };
        let key = scope_key(&method, &url);
        for attempt in 0..3 {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .headers(headers.clone());
            if let Some(body) = &body {
                req = req.body(body.clone());
            }
            req = self.authorize(req, &key);
            let resp = req
                .send()
                .await
                .with_context(|| format!("{method} {url}"))?;
            if resp.status() != StatusCode::UNAUTHORIZED || attempt == 2 || self.creds.is_none() {
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let (scheme, params) = parse_challenge(&challenge);
            match scheme.to_ascii_lowercase().as_str() {
                "basic" => {
                    let mut state = self.state.lock().expect("auth state");
                    if state.basic {
                        return Ok(resp); // credentials were sent and refused
                    }
                    state.basic = true;
                }
                "bearer" => {
                    let token = self.fetch_token(&params).await?;
                    self.state
                        .lock()
                        .expect("auth state")
                        .tokens
                        .insert(key.clone(), token);
                }
                _ => return Ok(resp),
            }
        }
        unreachable!("the last attempt returns")
    }

    fn authorize(&self, req: reqwest::RequestBuilder, key: &str) -> reqwest::RequestBuilder {
        let state = self.state.lock().expect("auth state");
        if let Some(token) = state.tokens.get(key) {
            req.bearer_auth(token)
        } else if let (true, Some((user, pass))) = (state.basic, &self.creds) {
            req.basic_auth(user, Some(pass))
        } else {
            req
        }
    }

    async fn fetch_token(&self, params: &HashMap<String, String>) -> Result<String> {
        let realm = params
            .get("realm")
            .context("Bearer challenge without realm")?;
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = params.get("service") {
            query.push(("service", service));
        }
        if let Some(scope) = params.get("scope") {
            query.extend(scope.split(' ').map(|s| ("scope", s)));
        }
        let mut req = self.http.get(realm).query(&query);
        if let Some((user, pass)) = &self.creds {
            req = req.basic_auth(user, Some(pass));
        }
        let resp = req.send().await.with_context(|| format!("GET {realm}"))?;
        let status = resp.status();
        ensure!(
            status.is_success(),
            "token server {realm} answered {status}"
        );
        let body: Value = resp.json().await?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .context("token response without token")
    }

    async fn send_ok(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Option<Bytes>,
        expect: &[StatusCode],
    ) -> Result<Response> {
        let resp = self.send(method.clone(), path, headers, body).await?;
        let status = resp.status();
        if expect.contains(&status) {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        bail!("{method} {path}: {status}: {}", text.trim())
    }

    /// Digest of the manifest `reference` (tag or digest) in `repo`, `None` if absent.
    pub async fn manifest_digest(&self, repo: &str, reference: &str) -> Result<Option<String>> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = self
            .send(Method::HEAD, &path, accept_manifests(), None)
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => return Ok(None),
            s if s.is_success() => {}
            s => bail!("HEAD {path}: {s}"),
        }
        if let Some(d) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
        {
            return Ok(Some(d.to_string()));
        }
        let (_, bytes) = self.get_manifest(repo, reference).await?;
        Ok(Some(sha256_digest(&bytes)))
    }

    /// `(media type, raw bytes)` of a manifest, `None` if absent.
    pub async fn try_get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<(String, Bytes)>> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = self
            .send(Method::GET, &path, accept_manifests(), None)
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => return Ok(None),
            s if s.is_success() => {}
            s => bail!("GET {path}: {s}: {}", resp.text().await.unwrap_or_default()),
        }
        let media_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Ok(Some((media_type, resp.bytes().await?)))
    }

    /// `(media type, raw bytes)` of a manifest; an error if absent.
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Result<(String, Bytes)> {
        self.try_get_manifest(repo, reference)
            .await?
            .with_context(|| format!("manifest {repo}:{reference} not found at {}", self.base))
    }

    /// PUTs a manifest and returns the digest the registry reports.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<String> {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(media_type)?);
        let path = format!("/v2/{repo}/manifests/{reference}");
        let digest = sha256_digest(&bytes);
        let resp = self
            .send_ok(
                Method::PUT,
                &path,
                headers,
                Some(bytes),
                &[StatusCode::CREATED],
            )
            .await?;
        Ok(resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map_or(digest, str::to_string))
    }

    /// Deletes a manifest by digest (the registry must have deletes enabled).
    pub async fn delete_manifest(&self, repo: &str, digest: &str) -> Result<()> {
        let path = format!("/v2/{repo}/manifests/{digest}");
        self.send_ok(
            Method::DELETE,
            &path,
            HeaderMap::new(),
            None,
            &[StatusCode::ACCEPTED],
        )
        .await?;
        Ok(())
    }

    /// Whether `repo` has the blob `digest` (HEAD).
    pub async fn blob_exists(&self, repo: &str, digest: &str) -> Result<bool> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let resp = self
            .send(Method::HEAD, &path, HeaderMap::new(), None)
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            s => bail!("HEAD {path}: {s}"),
        }
    }

    /// Uploads a blob unless present (HEAD, then POST + monolithic PUT); returns its digest.
    pub async fn push_blob(&self, repo: &str, bytes: Bytes) -> Result<String> {
        let digest = sha256_digest(&bytes);
        if self.blob_exists(repo, &digest).await? {
            return Ok(digest);
        }
        let start = format!("/v2/{repo}/blobs/uploads/");
        let resp = self
            .send_ok(
                Method::POST,
                &start,
                HeaderMap::new(),
                None,
                &[StatusCode::ACCEPTED],
            )
            .await?;
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .context("upload without Location")?;
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        self.send_ok(
            Method::PUT,
            &put,
            headers,
            Some(bytes),
            &[StatusCode::CREATED],
        )
        .await?;
        Ok(digest)
    }

    /// Downloads a whole blob into memory.
    pub async fn get_blob(&self, repo: &str, digest: &str) -> Result<Bytes> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let resp = self
            .send_ok(
                Method::GET,
                &path,
                HeaderMap::new(),
                None,
                &[StatusCode::OK],
            )
            .await?;
        Ok(resp.bytes().await?)
    }

    /// Downloads a blob and returns the `sha256:` digest of what came back.
    pub async fn fetch_blob_digest(&self, repo: &str, digest: &str) -> Result<String> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let mut resp = self
            .send_ok(
                Method::GET,
                &path,
                HeaderMap::new(),
                None,
                &[StatusCode::OK],
            )
            .await?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = resp.chunk().await? {
            hasher.update(&chunk);
        }
        Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
    }

    async fn paginate(&self, first: String, field: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut next = Some(first);
        for _ in 0..MAX_PAGES {
            let Some(path) = next.take() else {
                return Ok(out);
            };
            let resp = self
                .send(Method::GET, &path, HeaderMap::new(), None)
                .await?;
            let status = resp.status();
            if status == StatusCode::NOT_FOUND {
                return Ok(out);
            }
            ensure!(status.is_success(), "GET {path}: {status}");
            next = resp
                .headers()
                .get(header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let body: Value = resp.json().await?;
            if let Some(items) = body.get(field).and_then(Value::as_array) {
                out.extend(items.iter().filter_map(Value::as_str).map(str::to_string));
            }
        }
        bail!("more than {MAX_PAGES} pages at {}", self.base)
    }

    /// All tags of `repo` (follows `Link` pagination); empty if the repo is unknown.
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>> {
        self.paginate(format!("/v2/{repo}/tags/list?n=100"), "tags")
            .await
    }

    /// All repositories (follows `Link` pagination of `/v2/_catalog`).
    pub async fn catalog(&self) -> Result<Vec<String>> {
        self.paginate("/v2/_catalog?n=100".to_string(), "repositories")
            .await
    }
}

fn accept_manifests() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_str(&media::ALL_MANIFESTS.join(", ")).expect("header value"),
    );
    headers
}

/// Token-cache key of a request: the repository (or `catalog`) plus read/write.
fn scope_key(method: &Method, url: &str) -> String {
    let path = url
        .split_once("/v2/")
        .map_or("", |(_, p)| p)
        .split('?')
        .next()
        .unwrap_or_default();
    let repo = ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .filter_map(|m| path.rfind(m).map(|i| &path[..i]))
        .max_by_key(|r| r.len())
        .unwrap_or(path);
    let write = !matches!(*method, Method::GET | Method::HEAD);
    format!("{repo}|{}", if write { "push" } else { "pull" })
}

/// Parses `Bearer realm="..",service="..",scope=".."` into scheme and parameters.
fn parse_challenge(value: &str) -> (String, HashMap<String, String>) {
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next().is_none() {
            break;
        }
        let mut val = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => val.extend(chars.next()),
                    c => val.push(c),
                }
            }
        } else {
            val.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ',')));
        }
        params.insert(key.trim().to_ascii_lowercase(), val);
    }
    (scheme.to_string(), params)
}

/// The target of a `Link: <...>; rel="next"` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',')
        .find(|part| part.contains("rel=\"next\""))
        .and_then(|part| {
            let start = part.find('<')? + 1;
            let end = part.find('>')?;
            Some(part[start..end].to_string())
        })
}

/// See [`Client::manifest_digest`].
pub async fn manifest_digest(
    reg: &impl AsClient,
    repo: &str,
    reference: &str,
) -> Result<Option<String>> {
    reg.client().manifest_digest(repo, reference).await
}

/// See [`Client::get_manifest`].
pub async fn get_manifest(
    reg: &impl AsClient,
    repo: &str,
    reference: &str,
) -> Result<(String, Bytes)> {
    reg.client().get_manifest(repo, reference).await
}

/// See [`Client::tags`].
pub async fn tags(reg: &impl AsClient, repo: &str) -> Result<Vec<String>> {
    reg.client().tags(repo).await
}

/// See [`Client::catalog`].
pub async fn catalog(reg: &impl AsClient) -> Result<Vec<String>> {
    reg.client().catalog().await
}

/// See [`Client::delete_manifest`].
pub async fn delete_manifest(reg: &impl AsClient, repo: &str, digest: &str) -> Result<()> {
    reg.client().delete_manifest(repo, digest).await
}

/// See [`Client::fetch_blob_digest`].
pub async fn fetch_blob_digest(reg: &impl AsClient, repo: &str, digest: &str) -> Result<String> {
    reg.client().fetch_blob_digest(repo, digest).await
}

/// Checks that the manifest `digest` and everything reachable from it (index children,
/// config, layers) is at `dst` with identical bytes and digests.
pub async fn check_tree(
    src: &Client,
    dst: &Client,
    src_repo: &str,
    dst_repo: &str,
    digest: &str,
) -> Result<()> {
    let mut stack = vec![digest.to_string()];
    let mut seen = BTreeSet::new();
    let mut blobs = BTreeSet::new();
    while let Some(d) = stack.pop() {
        if !seen.insert(d.clone()) {
            continue;
        }
        ensure!(
            seen.len() <= MAX_MANIFESTS,
            "more than {MAX_MANIFESTS} manifests"
        );
        let (src_mt, src_bytes) = src.get_manifest(src_repo, &d).await?;
        let (dst_mt, dst_bytes) = dst
            .get_manifest(dst_repo, &d)
            .await
            .with_context(|| format!("manifest {d} missing at destination {dst_repo}"))?;
        ensure!(
            sha256_digest(&dst_bytes) == d,
            "destination manifest bytes of {dst_repo}@{d} hash to {}",
            sha256_digest(&dst_bytes)
        );
        ensure!(src_bytes == dst_bytes, "manifest {d} differs");
        ensure!(
            src_mt == dst_mt,
            "manifest {d}: media type {src_mt} at source, {dst_mt} at destination"
        );
        let json: Value = serde_json::from_slice(&dst_bytes)
            .with_context(|| format!("manifest {d} is not JSON"))?;
        if media::is_index(&dst_mt) || json.get("manifests").is_some() {
            for child in json["manifests"].as_array().into_iter().flatten() {
                let cd = child["digest"].as_str().context("child without digest")?;
                stack.push(cd.to_string());
            }
            continue;
        }
        let refs = json.get("config").into_iter().chain(
            json.get("layers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
        for desc in refs {
            if desc
                .get("urls")
                .and_then(Value::as_array)
                .is_some_and(|u| !u.is_empty())
            {
                continue; // foreign layer: not expected in the registry
            }
            let bd = desc["digest"]
                .as_str()
                .context("descriptor without digest")?;
            if blobs.insert(bd.to_string()) {
                let got = dst
                    .fetch_blob_digest(dst_repo, bd)
                    .await
                    .with_context(|| format!("blob {bd} of manifest {d} at destination"))?;
                ensure!(got == bd, "blob {bd} at destination hashes to {got}");
            }
        }
    }
    Ok(())
}

/// Non-panicking [`assert_replicated`].
pub async fn check_replicated(
    src: &impl AsClient,
    dst: &impl AsClient,
    src_repo: &str,
    dst_repo: &str,
    tag: &str,
) -> Result<()> {
    let (src, dst) = (src.client(), dst.client());
    let digest = src
        .manifest_digest(src_repo, tag)
        .await?
        .with_context(|| format!("{src_repo}:{tag} not found at source"))?;
    let at_dst = dst
        .manifest_digest(dst_repo, tag)
        .await?
        .with_context(|| format!("{dst_repo}:{tag} not found at destination"))?;
    ensure!(
        digest == at_dst,
        "{dst_repo}:{tag} is {at_dst} at destination, {digest} at source"
    );
    check_tree(&src, &dst, src_repo, dst_repo, &digest).await
}

/// Panics unless `dst_repo:tag` has the digest of `src_repo:tag`, and every manifest and
/// blob reachable from it is at `dst` with matching sha256.
pub async fn assert_replicated(
    src: &impl AsClient,
    dst: &impl AsClient,
    src_repo: &str,
    dst_repo: &str,
    tag: &str,
) {
    if let Err(e) = check_replicated(src, dst, src_repo, dst_repo, tag).await {
        panic!("{src_repo}:{tag} not replicated to {dst_repo}: {e:#}");
    }
}

/// Non-panicking [`assert_same_referrers`].
pub async fn check_same_referrers(
    src: &impl AsClient,
    dst: &impl AsClient,
    src_repo: &str,
    dst_repo: &str,
    subject_digest: &str,
) -> Result<()> {
    let (src, dst) = (src.client(), dst.client());
    let tag = referrers_tag(subject_digest);
    let Some((_, src_index)) = src.try_get_manifest(src_repo, &tag).await? else {
        return Ok(()); // no referrers at the source
    };
    let (_, dst_index) = dst
        .try_get_manifest(dst_repo, &tag)
        .await?
        .with_context(|| format!("referrers tag {dst_repo}:{tag} missing at destination"))?;
    let entries = |bytes: &Bytes| -> Result<Vec<(String, Value)>> {
        let json: Value = serde_json::from_slice(bytes)?;
        Ok(json["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["digest"].as_str().unwrap_or_default().to_string(),
                    m["artifactType"].clone(),
                )
            })
            .collect())
    };
    let dst_entries = entries(&dst_index)?;
    for (digest, artifact_type) in entries(&src_index)? {
        ensure!(
            dst_entries.contains(&(digest.clone(), artifact_type.clone())),
            "referrer {digest} ({artifact_type}) missing from {dst_repo}:{tag}"
        );
        check_tree(&src, &dst, src_repo, dst_repo, &digest).await?;
    }
    Ok(())
}

/// Panics unless every referrer of `subject_digest` listed in the source's fallback tag
/// (`sha256-<hex>`) is listed in the destination's, with its manifest and blobs present.
pub async fn assert_same_referrers(
    src: &impl AsClient,
    dst: &impl AsClient,
    src_repo: &str,
    dst_repo: &str,
    subject_digest: &str,
) {
    if let Err(e) = check_same_referrers(src, dst, src_repo, dst_repo, subject_digest).await {
        panic!("referrers of {src_repo}@{subject_digest} not replicated to {dst_repo}: {e:#}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parses() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="http://127.0.0.1:1/token",service="svc",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "http://127.0.0.1:1/token");
        assert_eq!(p["service"], "svc");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let (s, p) = parse_challenge(r#"Basic realm="basic-realm""#);
        assert_eq!(s, "Basic");
        assert_eq!(p["realm"], "basic-realm");
    }

    #[test]
    fn keys_and_links() {
        assert_eq!(
            scope_key(&Method::HEAD, "http://h/v2/a/b/blobs/sha256:1"),
            "a/b|pull"
        );
        assert_eq!(
            scope_key(&Method::PUT, "http://h/v2/a/blobs/uploads/x?_state=1"),
            "a|push"
        );
        assert_eq!(
            scope_key(&Method::GET, "http://h/v2/_catalog?n=1"),
            "_catalog|pull"
        );
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=100>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=100")
        );
        assert_eq!(referrers_tag("sha256:ab"), "sha256-ab");
    }
}
