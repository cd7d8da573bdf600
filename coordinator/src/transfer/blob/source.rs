//! Reading a blob at the source: from its repository, or from the first of
//! its URLs that answers. A body cut part-way (reset, stalled, short) is
//! resumed with a `Range` request from the byte it reached; a source that
//! ignores ranges sends it all again and the bytes already read are skipped.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, HeaderMap, HeaderValue, RANGE};
use reqwest::{Method, StatusCode};
use url::Url;

use super::{Blob, Transfer, expect};
use crate::transfer::client::RegistryClient;
use crate::transfer::error::{Kind, TransferError};
use crate::transfer::pace::Pace;

/// Where a blob was found at the source.
struct Found {
    url: Url,
    /// The source's own origin: its credentials go along.
    own: bool,
    /// What was asked, for messages.
    who: String,
}

impl Transfer {
    /// The size of a blob its listing did not know, from a HEAD of the
    /// first of its URLs that answers.
    pub(super) async fn size_at_urls(&self, blob: &Blob) -> Result<u64, TransferError> {
        let (resp, found) = self.at_urls(Method::HEAD, &blob.urls).await?;
        resp.headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .ok_or_else(|| {
                TransferError::new(
                    Kind::Rejected,
                    format!(
                        "{}: no Content-Length, so the blob's size is unknown",
                        found.who
                    ),
                )
            })
    }

    /// The blob's bytes from `offset` on, and what was asked (for
    /// messages). Fails now if the source will not serve it at all.
    pub(super) async fn read_source(
        &self,
        src_repo: &str,
        blob: &Blob,
        offset: u64,
    ) -> Result<(BoxStream<'static, Result<Bytes, TransferError>>, String), TransferError> {
        let (found, opened) = if blob.urls.is_empty() {
            let path = format!("/v2/{src_repo}/blobs/{}", blob.digest);
            let found = Found {
                url: self.source.url(&path)?,
                own: true,
                who: format!("{} GET {path}", self.source.who()),
            };
            (found, None)
        } else {
            // The first URL that answers; its body is read from the start.
            let (resp, found) = self.at_urls(Method::GET, &blob.urls).await?;
            (found, Some(resp))
        };
        let mut reader = Reader {
            client: self.source.clone(),
            who: found.who.clone(),
            found,
            size: blob.size,
            offset,
            skip: offset,
            body: opened.map(|r| r.bytes_stream().boxed()),
            cuts: 0,
            done: false,
            pace: self.pace.clone(),
        };
        if reader.body.is_none() {
            reader.open().await?;
        }
        let who = reader.who.clone();
        let stream = futures::stream::unfold(reader, |mut r| async move {
            let item = r.next().await?;
            Some((item, r))
        });
        Ok((stream.boxed(), who))
    }

    /// The first 200 answer to `method` among `urls`, tried in order; else
    /// the last failure. Only the source's own origin gets its credentials,
    /// as `helm` sends them unless told to pass them on.
    async fn at_urls(
        &self,
        method: Method,
        urls: &[String],
    ) -> Result<(reqwest::Response, Found), TransferError> {
        let mut last = None;
        for u in urls {
            let attempt = async {
                let (url, own) = self.source.foreign_url(u)?;
                let found = Found {
                    who: format!("{} {method} {url}", self.source.role()),
                    url,
                    own,
                };
                let resp =
                    get(&self.source, &found, method.clone(), HeaderMap::new(), true).await?;
                let resp = expect(resp, StatusCode::OK, &found.who).await?;
                Ok::<_, TransferError>((resp, found))
            };
            match attempt.await {
                Ok(answer) => return Ok(answer),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| TransferError::new(Kind::Invalid, "a blob with no URL")))
    }
}

/// A request for the blob: through the client (auth, retries, the
/// registry's gate) at the source's own origin, plainly elsewhere. A resume
/// (`slot: false`) only waits for its turn at the rate: it runs inside an
/// upload that holds a slot, maybe of the same registry.
async fn get(
    client: &RegistryClient,
    found: &Found,
    method: Method,
    headers: HeaderMap,
    slot: bool,
) -> Result<reqwest::Response, TransferError> {
    if found.own {
        let url = found.url.clone();
        return match slot {
            true => client.execute(method, url, headers, None).await,
            false => client.execute_unslotted(method, url, headers, None).await,
        };
    }
    let idle = client.network().idle_timeout;
    let send = client
        .streams()
        .request(method.clone(), found.url.clone())
        .headers(headers)
        .send();
    match tokio::time::timeout(idle, send).await {
        Ok(answer) => answer.map_err(|e| client.transport_error(&method, found.url.path(), e)),
        Err(_) => Err(client.stalled(&method, found.url.path())),
    }
}

/// Reads one blob body, reopening it where it was cut.
struct Reader {
    client: Arc<RegistryClient>,
    found: Found,
    who: String,
    size: u64,
    /// Bytes of the blob delivered so far.
    offset: u64,
    /// Bytes to drop from the current body: a source that ignored `Range`.
    skip: u64,
    body: Option<BoxStream<'static, reqwest::Result<Bytes>>>,
    /// Cuts since the last byte delivered.
    cuts: u32,
    done: bool,
    /// The execution's speed limit.
    pace: Option<Arc<Pace>>,
}

impl Reader {
    /// Opens the body at `offset`.
    async fn open(&mut self) -> Result<(), TransferError> {
        let mut headers = HeaderMap::new();
        if self.offset > 0 {
            let range = format!("bytes={}-", self.offset);
            headers.insert(RANGE, HeaderValue::from_str(&range).expect("a range"));
        }
        let first = self.body.is_none() && self.cuts == 0;
        let resp = get(&self.client, &self.found, Method::GET, headers, first).await?;
        self.skip = match resp.status() {
            StatusCode::OK => self.offset,
            StatusCode::PARTIAL_CONTENT if range_start(&resp) == Some(self.offset) => 0,
            StatusCode::PARTIAL_CONTENT => {
                return Err(TransferError::new(
                    Kind::Rejected,
                    format!(
                        "{}: asked for bytes from {}, got Content-Range {:?}",
                        self.who,
                        self.offset,
                        resp.headers().get(CONTENT_RANGE)
                    ),
                ));
            }
            _ => {
                expect(resp, StatusCode::OK, &self.who).await?;
                unreachable!("expect passes only a 200")
            }
        };
        self.body = Some(resp.bytes_stream().boxed());
        Ok(())
    }

    async fn next(&mut self) -> Option<Result<Bytes, TransferError>> {
        if self.done {
            return None;
        }
        loop {
            let cause = match self.read().await {
                Ok(Some(bytes)) => {
                    self.cuts = 0;
                    if let Some(pace) = &self.pace {
                        pace.take(bytes.len()).await;
                    }
                    return Some(Ok(bytes));
                }
                Ok(None) => {
                    self.done = true;
                    self.body = None;
                    return None;
                }
                Err(cause) => cause,
            };
            // Cut: go on from `offset`, after a backoff; give up after as
            // many cuts in a row, with no byte between them, as a request
            // has attempts.
            self.body = None;
            self.cuts += 1;
            let network = *self.client.network();
            let Some(wait) = network.backoff(self.cuts, None) else {
                self.done = true;
                return Some(Err(TransferError::new(
                    Kind::Unavailable,
                    format!(
                        "{}: cut at byte {} of {}, {} times without progress: {cause}",
                        self.who, self.offset, self.size, self.cuts
                    ),
                )));
            };
            tracing::warn!(
                "{}: {cause}; resuming from byte {} of {} in {}",
                self.who,
                self.offset,
                self.size,
                humantime::format_duration(Duration::from_millis(wait.as_millis() as u64))
            );
            tokio::time::sleep(wait).await;
            if let Err(e) = self.open().await {
                if e.retryable() {
                    continue; // counted as another cut
                }
                self.done = true;
                return Some(Err(e));
            }
        }
    }

    /// The next bytes of the blob, `None` at its end, or why the body was
    /// cut.
    async fn read(&mut self) -> Result<Option<Bytes>, String> {
        let idle = self.client.network().idle_timeout;
        loop {
            let Some(body) = &mut self.body else {
                return Err("not open".into());
            };
            let mut chunk = match tokio::time::timeout(idle, body.next()).await {
                Err(_) => {
                    return Err(format!(
                        "stalled: nothing for {} (the idle timeout)",
                        humantime::format_duration(idle)
                    ));
                }
                Ok(Some(Err(e))) => return Err(transport_cause(&e)),
                Ok(None) if self.offset < self.size => {
                    return Err(format!("body ended at byte {}", self.offset));
                }
                Ok(None) => return Ok(None),
                Ok(Some(Ok(chunk))) => chunk,
            };
            if self.skip > 0 {
                let drop = (self.skip as usize).min(chunk.len());
                let _ = chunk.split_to(drop);
                self.skip -= drop as u64;
            }
            if chunk.is_empty() {
                continue;
            }
            self.offset += chunk.len() as u64;
            return Ok(Some(chunk));
        }
    }
}

/// `bytes START-END/TOTAL` -> START.
fn range_start(resp: &reqwest::Response) -> Option<u64> {
    let v = resp.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = v.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

/// The innermost cause of a body read failure.
fn transport_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(s) = cause.source() {
        cause = s;
    }
    format!("reading body: {cause}")
}
