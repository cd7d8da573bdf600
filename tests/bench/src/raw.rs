//! What the machine can do with no replication logic at all: the floors the
//! measured tools are compared against. Each sends the bare requests, from
//! this process, with nothing checked but the status codes.
//!
//! - raw PUT: every unique blob uploaded into B from memory (the limit);
//! - raw pipe: every unique blob streamed from A into B (what any replicator must
//!   at least do: it cannot avoid reading the source);
//! - no-op floor: the requests a no-op needs, as ferry's warm no-op sends them
//!   (A's catalog, tag lists and manifest HEADs; B's tag lists), with no process
//!   start and no logic. Ferry's pings and referrers probe are left out: they
//!   count as its overhead.

use std::time::Instant;

use anyhow::{Context, Result, ensure};
use futures::{StreamExt, TryStreamExt};
use reqwest::{Client, StatusCode, header};

use crate::corpus::UniqueBlob;

/// What a manifest HEAD accepts: every kind the corpus holds (as ferry asks).
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

fn client(concurrency: usize) -> Result<Client> {
    Ok(Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(concurrency)
        .build()?)
}

/// The raw PUT limit: POST + monolithic PUT of every blob into `dst`,
/// `concurrency` at a time, bodies from memory, digests known beforehand.
/// Returns seconds.
pub async fn put(dst: &str, blobs: &[UniqueBlob], concurrency: usize) -> Result<f64> {
    each_blob(blobs, concurrency, |http, blob| async move {
        let body = reqwest::Body::from(blob.body.clone());
        upload(&http, dst, blob, body).await
    })
    .await
}

/// The raw pipe: every blob GET from `src` and streamed, as it arrives, into
/// an upload at `dst`; `concurrency` at a time, no hashing, no HEAD, no mount.
/// Returns seconds.
pub async fn pipe(src: &str, dst: &str, blobs: &[UniqueBlob], concurrency: usize) -> Result<f64> {
    each_blob(blobs, concurrency, |http, blob| async move {
        let resp = http
            .get(format!("{src}/v2/{}/blobs/{}", blob.repo, blob.digest))
            .send()
            .await?;
        ensure!(
            resp.status() == StatusCode::OK,
            "GET {} in {} at the source: {}",
            blob.digest,
            blob.repo,
            resp.status()
        );
        let body = reqwest::Body::wrap_stream(resp.bytes_stream());
        upload(&http, dst, blob, body).await
    })
    .await
}

/// Runs `one` for every blob, `concurrency` at a time, on one connection
/// pool; returns the seconds it all took.
async fn each_blob<'a, F, Fut>(blobs: &'a [UniqueBlob], concurrency: usize, one: F) -> Result<f64>
where
    F: Fn(Client, &'a UniqueBlob) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let http = client(concurrency)?;
    let started = Instant::now();
    futures::stream::iter(blobs)
        .map(|blob| one(http.clone(), blob))
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(started.elapsed().as_secs_f64())
}

/// POST an upload session, then PUT the whole body with its digest.
async fn upload(http: &Client, base: &str, blob: &UniqueBlob, body: reqwest::Body) -> Result<()> {
    let repo = &blob.repo;
    let resp = http
        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
        .send()
        .await?;
    ensure!(
        resp.status() == StatusCode::ACCEPTED,
        "POST upload in {repo}: {}",
        resp.status()
    );
    let location = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .context("upload without Location")?;
    let location = if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location.to_string()
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let resp = http
        .put(format!("{location}{sep}digest={}", blob.digest))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, blob.body.len())
        .body(body)
        .send()
        .await?;
    ensure!(
        resp.status() == StatusCode::CREATED,
        "PUT {} in {repo}: {}",
        blob.digest,
        resp.status()
    );
    Ok(())
}

/// The no-op floor: A's catalog, then every repository's tag list at A and at
/// B at once, and each of A's tags HEADed as soon as its list is in. Returns
/// seconds and the number of requests.
pub async fn noop_floor(src: &str, dst: &str) -> Result<(f64, usize)> {
    let http = client(64)?;
    let started = Instant::now();
    let catalog = get_json(&http, &format!("{src}/v2/_catalog?n=1000")).await?;
    let repos: Vec<String> = catalog["repositories"]
        .as_array()
        .context("catalog without repositories")?
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    let per_repo = futures::stream::iter(&repos)
        .map(|repo| {
            let http = &http;
            async move {
                let target = async {
                    // 404 (a repository B lacks) is an answer like any other.
                    http.get(format!("{dst}/v2/{repo}/tags/list"))
                        .send()
                        .await?
                        .bytes()
                        .await?;
                    Ok::<_, anyhow::Error>(1)
                };
                let source = async {
                    let list = get_json(http, &format!("{src}/v2/{repo}/tags/list")).await?;
                    let tags: Vec<&str> = list["tags"]
                        .as_array()
                        .map(|t| t.iter().filter_map(|v| v.as_str()).collect())
                        .unwrap_or_default();
                    futures::stream::iter(&tags)
                        .map(|tag| async move {
                            let resp = http
                                .head(format!("{src}/v2/{repo}/manifests/{tag}"))
                                .header(header::ACCEPT, MANIFEST_ACCEPT)
                                .send()
                                .await?;
                            ensure!(
                                resp.status() == StatusCode::OK,
                                "HEAD {repo}:{tag}: {}",
                                resp.status()
                            );
                            Ok(())
                        })
                        .buffer_unordered(tags.len().max(1))
                        .try_collect::<Vec<()>>()
                        .await?;
                    Ok::<_, anyhow::Error>(1 + tags.len())
                };
                let (b, a) = futures::try_join!(target, source)?;
                Ok::<_, anyhow::Error>(a + b)
            }
        })
        .buffer_unordered(repos.len().max(1))
        .try_collect::<Vec<usize>>()
        .await?;
    let requests = 1 + per_repo.iter().sum::<usize>();
    Ok((started.elapsed().as_secs_f64(), requests))
}

async fn get_json(http: &Client, url: &str) -> Result<serde_json::Value> {
    let resp = http.get(url).send().await?.error_for_status()?;
    Ok(resp.json().await?)
}
