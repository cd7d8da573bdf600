//! Push-to-replica lag: a source registry S notifies a `ferry serve` (the
//! release binary) with an event-based policy S -> B. An image of
//! `--lag-mib` MiB in 5 layers is pushed to S, and the time from the
//! client's manifest PUT returning to the tag answering at B is measured:
//!
//! - layers ahead: the layers go first, and the manifest only once they are
//!   at B (they were pushed at least as long before as their copy takes);
//! - all at once: layers and manifest back to back, as `docker push` does.
//!
//! Each run also times a manual `ferry copy` of the all-at-once image into
//! a fresh registry: the time of its bytes, which the all-at-once lag is
//! held against.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use ferry_harness::{
    Auth, Body, Format, Layer, Registry, Server, image_config, manifest_digest, push_blob,
    push_raw_manifest,
};
use serde_json::json;

use crate::measure::Tools;

const SECRET: &str = "bench-event-secret-0123456789";
const LAYERS: usize = 5;
/// How often the target's tag is asked for.
const POLL: Duration = Duration::from_millis(5);
/// Upper bound on waiting for one replica.
const WAIT: Duration = Duration::from_secs(120);

#[derive(Default)]
pub struct LagSamples {
    /// Manifest PUT returned -> tag at B, layers pushed ahead.
    pub ahead: Vec<f64>,
    /// The same with everything pushed at once.
    pub at_once: Vec<f64>,
    /// The client's whole push, all at once.
    pub push: Vec<f64>,
    /// A manual `ferry copy` of the all-at-once image into a fresh registry.
    pub manual: Vec<f64>,
}

/// The serving side: S notifying the server, B, and the policy between.
pub struct Stage {
    server: Server,
    src: Registry,
    dst: Registry,
}

impl Stage {
    pub async fn start(tools: &Tools) -> Result<Stage> {
        let server = Server::start(tools.ferry_path(), None, &[]).await?;
        let (status, v) = server
            .post_json(
                "/api/v1/registries",
                json!({"name": "src", "url": "http://127.0.0.1:9", "insecure": true,
                       "event_secret": SECRET}),
            )
            .await;
        ensure!(status == 201, "creating the source: {v}");
        let src_id = v["id"].as_i64().context("source id")?;
        let notify = format!(
            "notifications:\n  events:\n    includereferences: true\n  endpoints:\n    - name: ferry\n      url: {}/api/v1/registries/{src_id}/events\n      headers:\n        Authorization: [\"Bearer {SECRET}\"]\n      timeout: 5s\n      threshold: 5\n      backoff: 1s\n",
            server.url
        );
        let src = Registry::try_start(Auth::None, &notify)?;
        let (status, v) = server
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/registries/{src_id}"),
                Some(Body::Json(
                    json!({"name": "src", "url": src.url(), "insecure": true}),
                )),
            )
            .await;
        ensure!(status == 200, "updating the source: {v}");
        let dst = Registry::start(Auth::None);
        let (status, v) = server
            .post_json(
                "/api/v1/registries",
                json!({"name": "dst", "url": dst.url(), "insecure": true}),
            )
            .await;
        ensure!(status == 201, "creating the target: {v}");
        let (status, v) = server
            .post_json(
                "/api/v1/policies",
                json!({"name": "lag", "src_registry": {"id": src_id},
                       "dest_registry": {"id": v["id"]}, "trigger": {"type": "event_based"}}),
            )
            .await;
        ensure!(status == 201, "creating the policy: {v}");
        let stage = Stage { server, src, dst };
        // The first run links the stage functions: not lag.
        let warm = image(u64::MAX, 1 << 20);
        stage.push_all(&warm, "warm").await?;
        stage.replica(&warm, "warm", Instant::now()).await?;
        Ok(stage)
    }

    /// Pushes layers and config at once (3 at a time, as docker does), then
    /// the manifest; answers when the manifest PUT returned.
    async fn push_all(&self, img: &Image, tag: &str) -> Result<Instant> {
        self.push_blobs(img).await?;
        self.push_manifest(img, tag).await
    }

    async fn push_blobs(&self, img: &Image) -> Result<()> {
        use futures::StreamExt as _;
        let pushed: Vec<Result<String>> = futures::stream::iter(img.blobs.iter().cloned())
            .map(|b| push_blob(&self.src, "app", b))
            .buffer_unordered(3)
            .collect()
            .await;
        for p in pushed {
            p?;
        }
        Ok(())
    }

    async fn push_manifest(&self, img: &Image, tag: &str) -> Result<Instant> {
        push_raw_manifest(
            &self.src,
            "app",
            tag,
            Format::Oci.manifest_type(),
            img.manifest.clone(),
        )
        .await?;
        Ok(Instant::now())
    }

    /// Waits for the tag to answer at B with the image's digest; answers
    /// the seconds since `since`.
    async fn replica(&self, img: &Image, tag: &str, since: Instant) -> Result<f64> {
        let deadline = Instant::now() + WAIT;
        loop {
            if manifest_digest(&self.dst, "app", tag).await?.as_deref() == Some(&img.digest) {
                return Ok(since.elapsed().as_secs_f64());
            }
            if Instant::now() > deadline {
                bail!(
                    "app:{tag} not at the target after {WAIT:?}; server log:\n{}",
                    self.server.log()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until every blob of the image is at B.
    async fn blobs_at_target(&self, img: &Image) -> Result<()> {
        let client = ferry_harness::AsClient::client(&self.dst);
        let deadline = Instant::now() + WAIT;
        for d in &img.digests {
            while !client.blob_exists("app", d).await? {
                ensure!(
                    Instant::now() < deadline,
                    "blob {d} never reached the target"
                );
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(())
    }

    /// One run: the two lags, and a manual copy of the second image.
    pub async fn run(&self, tools: &Tools, run: usize, mib: f64, s: &mut LagSamples) -> Result<()> {
        let bytes = (mib * 1024.0 * 1024.0) as usize / LAYERS;
        let ahead = image(run as u64 * 2, bytes);
        let tag = format!("ahead-{run}");
        self.push_blobs(&ahead).await?;
        self.blobs_at_target(&ahead).await?;
        let put = self.push_manifest(&ahead, &tag).await?;
        let lag = self.replica(&ahead, &tag, put).await?;
        eprintln!("  lag, layers ahead:  {lag:7.3} s");
        s.ahead.push(lag);

        let once = image(run as u64 * 2 + 1, bytes);
        let tag = format!("once-{run}");
        let started = Instant::now();
        let put = self.push_all(&once, &tag).await?;
        let lag = self.replica(&once, &tag, put).await?;
        let push = put.duration_since(started).as_secs_f64();
        eprintln!("  lag, all at once:   {lag:7.3} s (push took {push:.2} s)");
        s.at_once.push(lag);
        s.push.push(push);

        let fresh = Registry::start(Auth::None);
        crate::measure::settle()?;
        let copy = tools
            .ferry_copy(
                &self.src.url(),
                &fresh.url(),
                &["--repo", "app", "--tag", &tag, "--no-cache"],
            )
            .await?;
        ensure!(
            manifest_digest(&fresh, "app", &tag).await?.as_deref() == Some(&once.digest),
            "the manual copy did not land"
        );
        eprintln!("  manual ferry copy:  {:7.3} s", copy.secs);
        s.manual.push(copy.secs);
        Ok(())
    }
}

/// An image of 5 random layers of `bytes` each (a pure function of `seed`).
struct Image {
    /// Layers then config.
    blobs: Vec<Bytes>,
    digests: Vec<String>,
    manifest: Bytes,
    digest: String,
}

fn image(seed: u64, bytes: usize) -> Image {
    let layers: Vec<Layer> = (0..LAYERS as u64)
        .map(|i| Layer::random(seed.wrapping_mul(101).wrapping_add(i), bytes))
        .collect();
    let config = Bytes::from(image_config("linux", "amd64", &layers));
    let config_desc = ferry_harness::Descriptor::of(Format::Oci.config_type(), &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": Format::Oci.manifest_type(),
        "config": config_desc,
        "layers": layers.iter().map(|l| l.descriptor(Format::Oci)).collect::<Vec<_>>(),
    }))
    .expect("manifest JSON");
    let mut blobs: Vec<Bytes> = layers.iter().map(|l| l.bytes().clone()).collect();
    blobs.push(config);
    let mut digests: Vec<String> = layers.iter().map(|l| l.digest().to_string()).collect();
    digests.push(config_desc.digest.clone());
    Image {
        blobs,
        digests,
        digest: ferry_harness::sha256_digest(&manifest),
        manifest: Bytes::from(manifest),
    }
}
