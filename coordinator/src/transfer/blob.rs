//! Blob copies: HEAD at the target, else mount from a repository that has
//! it, else stream it from the source (monolithic or chunked). Bytes never
//! sit whole in memory, and the digest is checked before the last byte is
//! released to the target, so a corrupt blob never completes an upload.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use ferry_digest::{Algorithm, Digest};
use futures::{Stream, StreamExt as _};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, LOCATION};
use reqwest::{Method, StatusCode};
use sha2::Digest as _;
use url::Url;

use super::client::RegistryClient;
use super::error::{Kind, TransferError};
use super::ledger::Ledger;
use super::limits::{BlobPermit, Limits, RegistryLimits};

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
        }
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
    /// registry already had.
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
        let _permit = self.permit().await?;
        let may_have = waited || !self.target.unknown_repository(dst_repo);
        if may_have && self.exists(dst_repo, &blob.digest).await? {
            return Ok(BlobOutcome::present(blob));
        }
        self.mount_or_upload(src_repo, dst_repo, blob, opts, candidates)
            .await
    }

    async fn permit(&self) -> Result<BlobPermit, TransferError> {
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

    async fn mount_or_upload(
        &self,
        src_repo: &str,
        dst_repo: &str,
        blob: &Blob,
        opts: &CopyOptions,
        candidates: &[String],
    ) -> Result<BlobOutcome, TransferError> {
        let mut session = None;
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
                StatusCode::CREATED => {
                    return Ok(BlobOutcome {
                        digest: blob.digest.clone(),
                        action: BlobAction::Mounted,
                        bytes: 0,
                        size: blob.size,
                    });
                }
                // The registry could not mount but opened an upload instead.
                StatusCode::ACCEPTED => {
                    session = Some(self.location_of(&resp, &path)?);
                    break;
                }
                _ => {}
            }
        }
        let location = match session {
            Some(l) => l,
            None => self.start_upload(dst_repo).await?,
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

    async fn start_upload(&self, dst_repo: &str) -> Result<Url, TransferError> {
        let path = format!("/v2/{dst_repo}/blobs/uploads/");
        let url = self.target.url(&path)?;
        let resp = self
            .target
            .execute(Method::POST, url, HeaderMap::new(), Some(Bytes::new()))
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            let status = resp.status().as_u16();
            let body = resp.bytes().await.unwrap_or_default();
            return Err(TransferError::from_status(
                status,
                format!("{} POST {path}", self.target.who()),
                &body,
            ));
        }
        self.location_of(&resp, &path)
    }

    fn location_of(&self, resp: &reqwest::Response, path: &str) -> Result<Url, TransferError> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                TransferError::new(
                    Kind::Rejected,
                    format!(
                        "{} {path}: upload answer has no Location",
                        self.target.who()
                    ),
                )
            })?;
        self.target.location(loc)
    }

    /// The size of a blob its listing did not know, from a HEAD of the
    /// first of its URLs that answers.
    async fn size_at_urls(&self, blob: &Blob) -> Result<u64, TransferError> {
        let (resp, who) = self.at_urls(Method::HEAD, &blob.urls).await?;
        resp.headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .ok_or_else(|| {
                TransferError::new(
                    Kind::Rejected,
                    format!("{who}: no Content-Length, so the blob's size is unknown"),
                )
            })
    }

    /// Opens the blob's body at the source: from its repository, or from
    /// the first of its URLs that answers.
    async fn open_source(
        &self,
        src_repo: &str,
        blob: &Blob,
    ) -> Result<(reqwest::Response, String), TransferError> {
        if !blob.urls.is_empty() {
            return self.at_urls(Method::GET, &blob.urls).await;
        }
        let src_path = format!("/v2/{src_repo}/blobs/{}", blob.digest);
        let url = self.source.url(&src_path)?;
        let resp = self
            .source
            .execute(Method::GET, url, HeaderMap::new(), None)
            .await?;
        ok_or_status(resp, format!("{} GET {src_path}", self.source.who())).await
    }

    /// The first 200 answer to `method` among `urls`, tried in order, with
    /// what was asked (for messages); else the last failure. Only the
    /// source's own origin gets its credentials, as `helm` sends them
    /// unless told to pass them on.
    async fn at_urls(
        &self,
        method: Method,
        urls: &[String],
    ) -> Result<(reqwest::Response, String), TransferError> {
        let mut last = None;
        for u in urls {
            let attempt = async {
                let (url, own) = self.source.foreign_url(u)?;
                let who = format!("{} {method} {url}", self.source.role());
                let resp = if own {
                    self.source
                        .execute(method.clone(), url, HeaderMap::new(), None)
                        .await?
                } else {
                    self.source
                        .http()
                        .request(method.clone(), url)
                        .send()
                        .await
                        .map_err(|e| stream_error(&who, e))?
                };
                ok_or_status(resp, who).await
            };
            match attempt.await {
                Ok(answer) => return Ok(answer),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| TransferError::new(Kind::Invalid, "a blob with no URL")))
    }

    /// Streams the blob from the source into the open upload session.
    async fn upload(
        &self,
        src_repo: &str,
        dst_repo: &str,
        blob: &Blob,
        opts: &CopyOptions,
        location: Url,
    ) -> Result<u64, TransferError> {
        let (resp, who) = self.open_source(src_repo, blob).await?;
        let stream = verified(resp.bytes_stream(), blob.clone(), who, self.bytes.clone());
        let push_scopes = vec![format!("repository:{dst_repo}:pull,push")];
        let authz = self.target.authorization(&push_scopes).await?;
        match opts.mode {
            UploadMode::Monolithic => {
                self.put_whole(dst_repo, blob, location, stream, authz)
                    .await?
            }
            UploadMode::Chunked => {
                let chunk = if opts.chunk_size == 0 {
                    DEFAULT_CHUNK
                } else {
                    opts.chunk_size
                };
                self.put_chunked(dst_repo, blob, location, stream, authz, chunk)
                    .await?
            }
        }
        Ok(blob.size)
    }

    async fn put_whole(
        &self,
        dst_repo: &str,
        blob: &Blob,
        mut location: Url,
        stream: VerifiedStream,
        authz: Option<String>,
    ) -> Result<(), TransferError> {
        location
            .query_pairs_mut()
            .append_pair("digest", &blob.digest);
        let mut req = self
            .target
            .http()
            .put(location)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, blob.size)
            .body(reqwest::Body::wrap_stream(stream));
        if let Some(a) = authz {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let what = format!(
            "{} PUT /v2/{dst_repo}/blobs/uploads/…?digest={}",
            self.target.who(),
            blob.digest
        );
        let resp = req.send().await.map_err(|e| stream_error(&what, e))?;
        expect(resp, StatusCode::CREATED, &what).await.map(|_| ())
    }

    async fn put_chunked(
        &self,
        dst_repo: &str,
        blob: &Blob,
        mut location: Url,
        mut stream: VerifiedStream,
        authz: Option<String>,
        chunk: u64,
    ) -> Result<(), TransferError> {
        let chunk = usize::try_from(chunk).unwrap_or(usize::MAX);
        let what = format!(
            "{} /v2/{dst_repo}/blobs/uploads/ (chunked {})",
            self.target.who(),
            blob.digest
        );
        let mut buf = BytesMut::new();
        let mut offset = 0u64;
        let mut done = false;
        while !done {
            match stream.next().await {
                Some(Ok(b)) => buf.extend_from_slice(&b),
                Some(Err(e)) => return Err(e),
                None => done = true,
            }
            while buf.len() >= chunk || (done && !buf.is_empty()) {
                let part = buf.split_to(chunk.min(buf.len())).freeze();
                let end = offset + part.len() as u64 - 1;
                let mut req = self
                    .target
                    .http()
                    .patch(location.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_RANGE, format!("{offset}-{end}"))
                    .header(CONTENT_LENGTH, part.len())
                    .body(part);
                if let Some(a) = &authz {
                    req = req.header(reqwest::header::AUTHORIZATION, a);
                }
                let resp = req.send().await.map_err(|e| stream_error(&what, e))?;
                let resp = expect(resp, StatusCode::ACCEPTED, &what).await?;
                let loc = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        TransferError::new(
                            Kind::Rejected,
                            format!("{what}: PATCH answer has no Location"),
                        )
                    })?;
                location = self.target.location(loc)?;
                offset = end + 1;
            }
        }
        location
            .query_pairs_mut()
            .append_pair("digest", &blob.digest);
        let mut req = self.target.http().put(location).header(CONTENT_LENGTH, 0);
        if let Some(a) = &authz {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let resp = req.send().await.map_err(|e| stream_error(&what, e))?;
        expect(resp, StatusCode::CREATED, &what).await.map(|_| ())
    }
}

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

/// The response when it is a 200, with what was asked for messages.
async fn ok_or_status(
    resp: reqwest::Response,
    who: String,
) -> Result<(reqwest::Response, String), TransferError> {
    let resp = expect(resp, StatusCode::OK, &who).await?;
    Ok((resp, who))
}

/// A failed upload request. When our own digest check aborted the body, the
/// cause says so; otherwise it is a transport failure.
fn stream_error(what: &str, e: reqwest::Error) -> TransferError {
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<TransferError>() {
            return t.clone();
        }
        source = s.source();
    }
    TransferError::new(Kind::Unavailable, format!("{what}: {e}"))
}

type VerifiedStream = Pin<Box<dyn Stream<Item = Result<Bytes, TransferError>> + Send>>;

/// Bytes handed to the target at once. The source's reads arrive in small
/// pieces; forwarded as they come, they cost the target a read and a write
/// per piece, which on a busy machine is most of its CPU.
const FORWARD_BYTES: usize = 1 << 20;

/// Passes bytes through while hashing them, gathered into pieces of
/// [`FORWARD_BYTES`]; fails before releasing the last piece if the size or
/// the sha256 does not match the descriptor.
fn verified<S>(inner: S, blob: Blob, who: String, counter: Arc<AtomicU64>) -> VerifiedStream
where
    S: Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
{
    Box::pin(Verified {
        inner: Box::pin(inner),
        buf: BytesMut::new(),
        hasher: sha2::Sha256::new(),
        seen: 0,
        finished: false,
        blob,
        who,
        counter,
    })
}

struct Verified<S> {
    inner: Pin<Box<S>>,
    buf: BytesMut,
    hasher: sha2::Sha256,
    seen: u64,
    finished: bool,
    blob: Blob,
    who: String,
    counter: Arc<AtomicU64>,
}

impl<S> Verified<S> {
    fn check(&mut self, chunk: &Bytes) -> Result<(), TransferError> {
        self.seen += chunk.len() as u64;
        if self.seen > self.blob.size {
            return Err(TransferError::new(
                Kind::Rejected,
                format!(
                    "{}: more bytes than the descriptor's size {}",
                    self.who, self.blob.size
                ),
            ));
        }
        self.hasher.update(chunk);
        self.counter
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        if self.seen == self.blob.size {
            let got = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
            if got != self.blob.digest {
                return Err(TransferError::new(
                    Kind::Rejected,
                    format!(
                        "{}: digest mismatch: got {got}, want {}",
                        self.who, self.blob.digest
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl<S> Stream for Verified<S>
where
    S: Stream<Item = reqwest::Result<Bytes>>,
{
    type Item = Result<Bytes, TransferError>;

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        let mut ended = false;
        let item = loop {
            match this.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Err(e) = this.check(&chunk) {
                        break Err(e);
                    }
                    if this.buf.is_empty() && chunk.len() >= FORWARD_BYTES {
                        break Ok(chunk);
                    }
                    if this.buf.capacity() == 0 {
                        this.buf.reserve(FORWARD_BYTES);
                    }
                    this.buf.extend_from_slice(&chunk);
                    if this.buf.len() >= FORWARD_BYTES {
                        break Ok(this.buf.split().freeze());
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    break Err(TransferError::new(
                        Kind::Unavailable,
                        format!("{}: {e}", this.who),
                    ));
                }
                Poll::Ready(None) if this.seen < this.blob.size => {
                    break Err(TransferError::new(
                        Kind::Unavailable,
                        format!(
                            "{}: stream ended at {} of {} bytes",
                            this.who, this.seen, this.blob.size
                        ),
                    ));
                }
                Poll::Ready(None) if this.buf.is_empty() => return Poll::Ready(None),
                Poll::Ready(None) => {
                    // The inner stream is done: this last piece ends ours.
                    ended = true;
                    break Ok(this.buf.split().freeze());
                }
            }
        };
        this.finished = item.is_err() || ended;
        Poll::Ready(Some(item))
    }
}
