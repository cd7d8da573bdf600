//! Uploading a blob into the target: one streamed PUT, or chunks. A cut
//! upload goes on from the offset the registry reports, when this copy kept
//! the hash state there (a chunk boundary it acknowledged); otherwise, as
//! when the registry refuses a session that saw a partial body
//! (distribution does), it starts again in a new session.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt as _;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, LOCATION, RANGE};
use reqwest::{Method, StatusCode};
use url::Url;

use super::verified::{Checkpoint, Counted, Verified};
use super::{Blob, CopyOptions, DEFAULT_CHUNK, Transfer, UploadMode, expect};
use crate::transfer::error::{Kind, TransferError};
use crate::transfer::idle::{self, Activity, Touching};

/// Where the target stands: the session to go on in, and what it has
/// acknowledged.
struct Acked {
    location: Url,
    checkpoint: Checkpoint,
}

impl Transfer {
    pub(super) async fn start_upload(&self, dst_repo: &str) -> Result<Url, TransferError> {
        let path = format!("/v2/{dst_repo}/blobs/uploads/");
        let url = self.target.url(&path)?;
        let resp = self
            .target
            .execute(
                Method::POST,
                url,
                HeaderMap::new(),
                Some(bytes::Bytes::new()),
            )
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

    pub(super) fn location_of(
        &self,
        resp: &reqwest::Response,
        path: &str,
    ) -> Result<Url, TransferError> {
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

    /// Streams the blob from the source into the open session at
    /// `location`, going on after cuts as the module says; answers the
    /// bytes uploaded.
    pub(super) async fn upload(
        &self,
        src_repo: &str,
        dst_repo: &str,
        blob: &Blob,
        opts: &CopyOptions,
        location: Url,
    ) -> Result<u64, TransferError> {
        let counted = Counted {
            total: self.bytes.clone(),
            upto: Arc::new(AtomicU64::new(0)),
        };
        let mut acked = Acked {
            location,
            checkpoint: Checkpoint::start(),
        };
        let mut retry = 0;
        loop {
            let err = match self
                .upload_from(src_repo, dst_repo, blob, opts, &mut acked, &counted)
                .await
            {
                Ok(()) => return Ok(blob.size),
                Err(e) if !e.retryable() => return Err(e),
                Err(e) => e,
            };
            retry += 1;
            let Some(wait) = self.target.network().backoff(retry, None) else {
                return Err(err);
            };
            tokio::time::sleep(wait).await;
            match self.upload_offset(&acked.location).await {
                Some((offset, location)) if offset == acked.checkpoint.offset => {
                    tracing::warn!("{err}; going on from byte {offset} of {}", blob.size);
                    acked.location = location;
                }
                _ => {
                    tracing::warn!("{err}; starting the upload again");
                    acked = Acked {
                        location: self.start_upload(dst_repo).await?,
                        checkpoint: Checkpoint::start(),
                    };
                }
            }
        }
    }

    /// Where an upload session stands: the offset it reports, and its next
    /// location; `None` if it is gone or refuses to go on.
    async fn upload_offset(&self, location: &Url) -> Option<(u64, Url)> {
        let resp = self
            .target
            .execute(Method::GET, location.clone(), HeaderMap::new(), None)
            .await
            .ok()?;
        if resp.status() != StatusCode::NO_CONTENT {
            return None;
        }
        // `Range: 0-<last byte>`; distribution answers `0-0` for an empty
        // session too, so `0-0` is taken as 0 (at worst a new session).
        let end: u64 = resp
            .headers()
            .get(RANGE)?
            .to_str()
            .ok()?
            .trim()
            .strip_prefix("0-")?
            .parse()
            .ok()?;
        let offset = if end == 0 { 0 } else { end + 1 };
        let next = match resp.headers().get(LOCATION) {
            Some(_) => self.location_of(&resp, location.path()).ok()?,
            None => location.clone(),
        };
        Some((offset, next))
    }

    /// One go at the upload, from what the target acknowledged.
    async fn upload_from(
        &self,
        src_repo: &str,
        dst_repo: &str,
        blob: &Blob,
        opts: &CopyOptions,
        acked: &mut Acked,
        counted: &Counted,
    ) -> Result<(), TransferError> {
        let from = acked.checkpoint.clone();
        let (source, who) = self.read_source(src_repo, blob, from.offset).await?;
        let chunk = match opts.mode {
            UploadMode::Monolithic => None,
            UploadMode::Chunked if opts.chunk_size == 0 => Some(DEFAULT_CHUNK),
            UploadMode::Chunked => Some(opts.chunk_size),
        };
        let stream = Verified::new(source, blob.clone(), from, chunk, who, counted.clone());
        let push_scopes = vec![format!("repository:{dst_repo}:pull,push")];
        let authz = self.target.authorization(&push_scopes).await?;
        match chunk {
            None => self.put_rest(dst_repo, blob, acked, stream, authz).await,
            Some(chunk) => {
                self.put_chunked(dst_repo, blob, acked, stream, authz, chunk)
                    .await
            }
        }
    }

    /// The rest of the blob, from the acknowledged offset, in one PUT.
    async fn put_rest(
        &self,
        dst_repo: &str,
        blob: &Blob,
        acked: &Acked,
        stream: Verified,
        authz: Option<String>,
    ) -> Result<(), TransferError> {
        let mut location = acked.location.clone();
        location
            .query_pairs_mut()
            .append_pair("digest", &blob.digest);
        let activity = Activity::new();
        let body = Touching {
            inner: stream,
            activity: activity.clone(),
        };
        let mut req = self
            .target
            .streams()
            .put(location)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, blob.size - acked.checkpoint.offset)
            .body(reqwest::Body::wrap_stream(body));
        if let Some(a) = authz {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let what = format!(
            "{} PUT /v2/{dst_repo}/blobs/uploads/…?digest={}",
            self.target.who(),
            blob.digest
        );
        // Twice the idle timeout: a stalled source is the reader's to
        // resume, which it does after one.
        let _admission = self.target.admit().await;
        let resp = self.watched(req, &activity, 2, &what).await?;
        expect(resp, StatusCode::CREATED, &what).await.map(|_| ())
    }

    async fn put_chunked(
        &self,
        dst_repo: &str,
        blob: &Blob,
        acked: &mut Acked,
        mut stream: Verified,
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
        let mut done = false;
        while !done {
            match stream.next().await {
                Some(Ok(b)) => buf.extend_from_slice(&b),
                Some(Err(e)) => return Err(e),
                None => done = true,
            }
            while buf.len() >= chunk || (done && !buf.is_empty()) {
                let part = buf.split_to(chunk.min(buf.len())).freeze();
                let offset = acked.checkpoint.offset;
                let end = offset + part.len() as u64 - 1;
                let activity = Activity::new();
                let mut req = self
                    .target
                    .streams()
                    .patch(acked.location.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_RANGE, format!("{offset}-{end}"))
                    .header(CONTENT_LENGTH, part.len())
                    .body(idle::tracked_body(part, &activity));
                if let Some(a) = &authz {
                    req = req.header(reqwest::header::AUTHORIZATION, a);
                }
                let admission = self.target.admit().await;
                let resp = self.watched(req, &activity, 1, &what).await?;
                let resp = expect(resp, StatusCode::ACCEPTED, &what).await?;
                drop(admission);
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
                acked.location = self.target.location(loc)?;
                // The hash state at the new offset, kept when the bytes
                // passed; the last chunk's end needs none.
                if let Some(c) = stream.checkpoint_at(end + 1) {
                    acked.checkpoint = c;
                }
            }
        }
        let mut location = acked.location.clone();
        location
            .query_pairs_mut()
            .append_pair("digest", &blob.digest);
        let activity = Activity::new();
        let mut req = self
            .target
            .streams()
            .put(location)
            .header(CONTENT_LENGTH, 0);
        if let Some(a) = &authz {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let _admission = self.target.admit().await;
        let resp = self.watched(req, &activity, 1, &what).await?;
        expect(resp, StatusCode::CREATED, &what).await.map(|_| ())
    }

    /// Sends an upload request, failing it when nothing moved for `times`
    /// the idle timeout.
    async fn watched(
        &self,
        req: reqwest::RequestBuilder,
        activity: &Activity,
        times: u32,
        what: &str,
    ) -> Result<reqwest::Response, TransferError> {
        let idle = self.target.network().idle_timeout * times;
        match idle::watch(req.send(), activity, idle).await {
            Some(answer) => {
                let resp = answer.map_err(|e| stream_error(what, e))?;
                self.target.saw(resp.status());
                Ok(resp)
            }
            None => Err(TransferError::new(
                Kind::Unavailable,
                format!(
                    "{what}: stalled: nothing sent or received for {}",
                    humantime::format_duration(Duration::from_secs(idle.as_secs()))
                ),
            )),
        }
    }
}

/// A failed upload request. When our own digest check (or the source)
/// aborted the body, the cause says so; otherwise it is a transport failure.
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
