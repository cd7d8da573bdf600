//! Blob copies: HEAD at the target, else mount from a repository that has
//! it, else stream it from the source (monolithic or chunked). Bytes never
//! sit whole in memory, and the digest is checked before the last byte is
//! released to the target, so a corrupt blob never completes an upload.
//! Reading the source is `source`, writing the target `upload`, the check
//! between them `verified`.

mod source;
mod upload;
mod verified;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::Bytes;
use ferry_digest::{Algorithm, Digest};
use futures::StreamExt as _;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use super::client::RegistryClient;
use super::error::{Kind, TransferError};
use super::ledger::Ledger;
use super::limits::{BlobPermit, Limits, RegistryLimits};
use super::pace::Pace;
use super::turns::Turns;

/// Blobs this small cross in a connection's first round trips (its initial
/// window is 10 segments, about 14 kB, and doubles each round trip: 64 kB
/// takes three at most): what they cost is a request, not bandwidth. Like
/// manifests, they take no blob permit, so that a config never holds one
/// for a round trip while a layer waits. The registry's own bounds (its
/// gate) still apply.
const SMALL: u64 = 64 << 10;

/// Chunk size when a chunked upload does not say: Harbor's 10 MB.
pub const DEFAULT_CHUNK: u64 = 10 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    Monolithic,
    Chunked,
}

#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub mode: UploadMode,
    pub chunk_size: u64,
    pub mount_from: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobAction {
    Present,
    Mounted,
    Uploaded,
}

#[derive(Debug, Clone)]
pub struct BlobOutcome {
    pub digest: String,
    pub action: BlobAction,
    pub bytes: u64,
    /// The blob's size (for a blob with URLs, what they answered).
    pub size: u64,
}

impl BlobOutcome {
    fn present(blob: &Blob) -> Self {
        Self {
            digest: blob.digest.clone(),
            action: BlobAction::Present,
            bytes: 0,
            size: blob.size,
        }
    }
}

/// A blob to copy.
#[derive(Debug, Clone)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
    /// Where the source serves it instead of a repository (tried in order;
    /// relative to the source's URL): OCI descriptors' `urls`, chart
    /// repositories' `.tgz` files. Empty: from the source repository.
    pub urls: Vec<String>,
}

/// The data plane of one execution.
pub struct Transfer {
    source: Arc<RegistryClient>,
    target: Arc<RegistryClient>,
    ledger: Ledger,
    /// Bounds on blob copies, shared by the process's executions.
    limits: Arc<Limits>,
    source_limits: Arc<RegistryLimits>,
    target_limits: Arc<RegistryLimits>,
    /// Bytes streamed so far, for progress.
    bytes: Arc<AtomicU64>,
    /// The policy's speed limit, over all of the execution's blobs.
    pace: Option<Arc<Pace>>,
    /// Which waiting copy takes the next permit.
    turns: Turns,
}

impl Transfer {
    /// The clients should carry the registries' limits from `limits` (see
    /// [`RegistryClient::with_limits`]); the target's may carry knowledge.
    pub fn new(
        source: Arc<RegistryClient>,
        target: Arc<RegistryClient>,
        limits: Arc<Limits>,
        bytes: Arc<AtomicU64>,
    ) -> Self {
        let of = |c: &RegistryClient| {
            c.limits()
                .cloned()
                .unwrap_or_else(|| limits.registry(&c.endpoint().display_url()))
        };
        Self {
            source_limits: of(&source),
            target_limits: of(&target),
            source,
            target,
            ledger: Ledger::default(),
            limits,
            bytes,
            pace: None,
            turns: Turns::default(),
        }
    }

    /// Bounds the execution's blob bytes to `bytes_per_second` overall.
    pub fn with_speed(mut self, bytes_per_second: Option<u64>) -> Self {
        self.pace = bytes_per_second.map(|r| Arc::new(Pace::new(r)));
        self
    }

    /// Whether concurrency grows with the round trip (the user fixed none).
    pub fn widens(&self) -> bool {
        self.limits.widens()
    }

    /// The longer of the source's and the target's round trips, once a
    /// small request to either was answered.
    pub fn farthest(&self) -> Option<Duration> {
        let (s, t) = (&self.source_limits, &self.target_limits);
        s.round_trip.shortest().max(t.round_trip.shortest())
    }

    /// There is work for a copy: opens connections ahead to a far source
    /// or target (see [`RegistryClient::warm`]).
    pub fn warm(&self) {
        self.source.warm();
        self.target.warm();
    }

    pub fn source(&self) -> &Arc<RegistryClient> {
        &self.source
    }

    pub fn target(&self) -> &Arc<RegistryClient> {
        &self.target
    }

    /// Makes every blob present in `dst_repo`, concurrently; answers in order.
    pub async fn copy_blobs(
        &self,
        src_repo: &str,
        dst_repo: &str,
        blobs: Vec<Blob>,
        opts: &CopyOptions,
    ) -> Vec<Result<BlobOutcome, TransferError>> {
        let parallel = self.limits.blob_parallelism();
        futures::stream::iter(blobs)
            .map(|b| self.copy_one(src_repo, dst_repo, b, opts))
            .buffered(parallel)
            .collect()
            .await
    }

    async fn copy_one(
        &self,
        src_repo: &str,
        dst_repo: &str,
        mut blob: Blob,
        opts: &CopyOptions,
    ) -> Result<BlobOutcome, TransferError> {
        match Digest::parse(&blob.digest) {
            Ok(d) if d.algorithm() == Algorithm::Sha256 => {}
            Ok(_) => {
                return Err(TransferError::new(
                    Kind::Invalid,
                    format!("blob {}: only sha256 digests are supported", blob.digest),
                ));
            }
            Err(e) => return Err(TransferError::new(Kind::Invalid, format!("blob: {e}"))),
        }
        if blob.size == 0 && !blob.urls.is_empty() {
            blob.size = self.size_at_urls(&blob).await?;
        }
        let outcome = self.make_present(src_repo, dst_repo, &blob, opts).await;
        if let (Err(_), Some(known)) = (&outcome, self.target.known()) {
            known.forget_repository(dst_repo).await;
        }
        outcome
    }

    async fn make_present(
        &self,
        src_repo: &str,
        dst_repo: &str,
        blob: &Blob,
        opts: &CopyOptions,
    ) -> Result<BlobOutcome, TransferError> {
        let present = || Ok(BlobOutcome::present(blob));
        // Placed by this execution already, or known from an earlier run
        // (the existence cache): not even a HEAD.
        let placed = self.ledger.placed(&blob.digest, dst_repo);
        if placed.initialized() {
            return present();
        }
        let known = self.target.known();
        if let Some(k) = known
            && k.blob(dst_repo, &blob.digest).await
        {
            self.ledger.note(&blob.digest, dst_repo);
            return present();
        }
        // One artifact per repository places it; the others wait for that.
        let mut mine = None;
        placed
            .get_or_try_init(|| async {
                mine = Some(self.place(src_repo, dst_repo, blob, opts).await?);
                Ok::<_, TransferError>(())
            })
            .await?;
        match mine {
            // Only what the registry itself answered is remembered: a cache
            // hit must not renew its own TTL.
            Some(outcome) => {
                if let Some(k) = known {
                    k.remember_blob(dst_repo, &blob.digest).await;
                }
                Ok(outcome)
            }
            None => present(),
        }
    }

    /// Makes a blob present in `dst_repo`, which the execution has not put
    /// there yet. The first artifact to need a digest anywhere copies it; the
    /// others wait for that copy (holding no permit), then mount from
    /// wherever it landed.
    async fn place(
        &self,
        src_repo: &str,
        dst_repo: &str,
        blob: &Blob,
        opts: &CopyOptions,
    ) -> Result<BlobOutcome, TransferError> {
        let cell = self.ledger.cell(&blob.digest);
        let mut mine = None;
        let holder = cell
            .get_or_try_init(|| async {
                mine = Some(
                    self.head_or_copy(src_repo, dst_repo, blob, opts, &opts.mount_from)
                        .await?,
                );
                Ok::<_, TransferError>(dst_repo.to_string())
            })
            .await?
            .clone();
        match mine {
            Some(outcome) => Ok(outcome),
            None => {
                let from = [holder];
                self.head_or_copy(src_repo, dst_repo, blob, opts, &from)
                    .await
            }
        }
    }

    /// HEAD at the target, else mount from a candidate, else upload. Into a
    /// repository the target did not know when this execution listed it, no
    /// HEAD (unless another copy of the blob was just waited for): it would
    /// almost always say 404, and at worst a blob is uploaded that the
    /// registry already had. Only the upload holds a blob permit (and not
    /// a [`SMALL`] one's): the requests before it move no blob bytes, and
    /// over a long round trip they would hold the permit a round trip each.
    async fn head_or_copy(
        &self,
        src_repo: &str,
        dst_repo: &str,
        blob: &Blob,
        opts: &CopyOptions,
        candidates: &[String],
    ) -> Result<BlobOutcome, TransferError> {
        // One copy of a blob into a repository at a time, process-wide: one
        // that waited for another finds the blob there.
        let target = self.target.endpoint().display_url();
        let (_moving, waited) = self.limits.moving(&target, dst_repo, &blob.digest).await;
        let may_have = waited || !self.target.unknown_repository(dst_repo);
        if may_have && self.exists(dst_repo, &blob.digest).await? {
            return Ok(BlobOutcome::present(blob));
        }
        let location = match self.mount_or_open(dst_repo, blob, candidates).await? {
            Opened::Mounted => {
                return Ok(BlobOutcome {
                    digest: blob.digest.clone(),
                    action: BlobAction::Mounted,
                    bytes: 0,
                    size: blob.size,
                });
            }
            Opened::Session(location) => location,
        };
        // A user who fixed the blob bounds means every blob.
        let _permit = if blob.size > SMALL || !self.limits.widens() {
            Some(self.permit(blob.size).await?)
        } else {
            None
        };
        let bytes = self
            .upload(src_repo, dst_repo, blob, opts, location)
            .await?;
        Ok(BlobOutcome {
            digest: blob.digest.clone(),
            action: BlobAction::Uploaded,
            bytes,
            size: blob.size,
        })
    }

    /// A blob permit, the execution's largest waiting blob first.
    async fn permit(&self, size: u64) -> Result<BlobPermit, TransferError> {
        let _turn = self.turns.take(size).await;
        self.limits
            .blob(&self.source_limits, &self.target_limits)
            .await
            .ok_or_else(|| TransferError::new(Kind::Internal, "transfer shut down"))
    }

    async fn exists(&self, repo: &str, digest: &str) -> Result<bool, TransferError> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let url = self.target.url(&path)?;
        let resp = self
            .target
            .execute(Method::HEAD, url, HeaderMap::new(), None)
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(TransferError::from_status(
                s.as_u16(),
                format!("{} HEAD {path}", self.target.who()),
                &[],
            )),
        }
    }

    /// Mounts the blob from a candidate repository, else opens an upload
    /// session (a refused mount opens one too).
    async fn mount_or_open(
        &self,
        dst_repo: &str,
        blob: &Blob,
        candidates: &[String],
    ) -> Result<Opened, TransferError> {
        for from in candidates.iter().filter(|r| r.as_str() != dst_repo).take(3) {
            let path = format!(
                "/v2/{dst_repo}/blobs/uploads/?mount={}&from={from}",
                blob.digest
            );
            let url = self.target.url(&path)?;
            let resp = self
                .target
                .execute(Method::POST, url, HeaderMap::new(), Some(Bytes::new()))
                .await?;
            match resp.status() {
                StatusCode::CREATED => return Ok(Opened::Mounted),
                // The registry could not mount but opened an upload instead.
                StatusCode::ACCEPTED => {
                    return Ok(Opened::Session(self.location_of(&resp, &path)?));
                }
                _ => {}
            }
        }
        Ok(Opened::Session(self.start_upload(dst_repo).await?))
    }
}

/// What a mount request led to.
enum Opened {
    Mounted,
    /// An upload session, at its location.
    Session(url::Url),
}

/// The response if it has the status wanted, else the registry's error.
async fn expect(
    resp: reqwest::Response,
    want: StatusCode,
    what: &str,
) -> Result<reqwest::Response, TransferError> {
    if resp.status() == want {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    Err(TransferError::from_status(status, what, &body))
}
