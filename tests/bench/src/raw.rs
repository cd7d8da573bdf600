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

use ferry_harness::AsClient;

use crate::corpus::UniqueBlob;

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
/// B at once, and each of A's tags HEADed as soon as its list is in, through
/// the harness's plain client. Returns seconds and the number of requests
/// (every list here fits one page).
pub async fn noop_floor(src: &impl AsClient, dst: &impl AsClient) -> Result<(f64, usize)> {
    let (src, dst) = (&src.client(), &dst.client());
    let started = Instant::now();
    let repos = src.catalog().await?;
    let per_repo = futures::stream::iter(&repos)
        .map(|repo| async move {
            // A repository B lacks lists no tags: an answer like any other.
            let target = dst.tags(repo);
            let source = async {
                let tags = src.tags(repo).await?;
                futures::stream::iter(&tags)
                    .map(|tag| async move {
                        src.manifest_digest(repo, tag)
                            .await?
                            .with_context(|| format!("{repo}:{tag} listed but not at the source"))
                    })
                    .buffer_unordered(tags.len().max(1))
                    .try_collect::<Vec<String>>()
                    .await?;
                Ok::<_, anyhow::Error>(1 + tags.len())
            };
            let (_, source_requests) = futures::try_join!(target, source)?;
            Ok::<_, anyhow::Error>(source_requests + 1)
        })
        .buffer_unordered(repos.len().max(1))
        .try_collect::<Vec<usize>>()
        .await?;
    let requests = 1 + per_repo.iter().sum::<usize>();
    Ok((started.elapsed().as_secs_f64(), requests))
}
