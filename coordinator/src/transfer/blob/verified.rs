//! The blob's bytes on their way to the target: hashed as they pass, and
//! failed before the last piece is released if the size or the digest is
//! wrong, so a corrupt blob never completes an upload.
//!
//! The hash is `ring`'s SHA-256, which picks the CPU's fastest code (SHA-NI,
//! AVX2, SSSE3) at run time: on a fresh copy, hashing is most of Ferry's CPU.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures::Stream;
use futures::stream::BoxStream;
use ring::digest::{Context as Hasher, SHA256};

use super::Blob;
use crate::transfer::error::{Kind, TransferError};

/// Bytes handed to the target at once. The source's reads arrive in small
/// pieces; forwarded as they come, they cost the target a read and a write
/// per piece, which on a busy machine is most of its CPU.
const FORWARD_BYTES: usize = 1 << 20;

/// A blob's first `offset` bytes, hashed: where a cut copy can go on from.
#[derive(Clone)]
pub struct Checkpoint {
    pub offset: u64,
    hasher: Hasher,
}

impl Checkpoint {
    pub fn start() -> Self {
        Self {
            offset: 0,
            hasher: Hasher::new(&SHA256),
        }
    }
}

/// Bytes counted for progress: each byte of a blob once, however many times
/// a cut copy re-reads it.
#[derive(Clone)]
pub struct Counted {
    pub total: Arc<AtomicU64>,
    /// How far into this blob `total` has counted.
    pub upto: Arc<AtomicU64>,
}

pub struct Verified {
    inner: BoxStream<'static, Result<Bytes, TransferError>>,
    buf: BytesMut,
    hasher: Hasher,
    seen: u64,
    finished: bool,
    blob: Blob,
    who: String,
    /// Keep a checkpoint every this many bytes (a chunked upload's chunk).
    every: Option<u64>,
    checkpoints: VecDeque<Checkpoint>,
    counted: Counted,
}

impl Verified {
    /// `inner` yields the blob's bytes from `from.offset` on.
    pub fn new(
        inner: BoxStream<'static, Result<Bytes, TransferError>>,
        blob: Blob,
        from: Checkpoint,
        every: Option<u64>,
        who: String,
        counted: Counted,
    ) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            hasher: from.hasher,
            seen: from.offset,
            finished: false,
            blob,
            who,
            every: every.filter(|&n| n > 0),
            checkpoints: VecDeque::new(),
            counted,
        }
    }

    /// The checkpoint at `offset`, if one was kept there; older ones are
    /// dropped (the target has acknowledged up to `offset`).
    pub fn checkpoint_at(&mut self, offset: u64) -> Option<Checkpoint> {
        while self.checkpoints.front().is_some_and(|c| c.offset < offset) {
            self.checkpoints.pop_front();
        }
        self.checkpoints
            .front()
            .filter(|c| c.offset == offset)
            .cloned()
    }

    fn hash(&mut self, mut bytes: &[u8]) {
        if let Some(every) = self.every {
            // Split at each checkpoint boundary the bytes cross.
            loop {
                let next = (self.seen / every + 1) * every;
                let room = (next - self.seen) as usize;
                if bytes.len() < room {
                    break;
                }
                self.hasher.update(&bytes[..room]);
                self.seen = next;
                bytes = &bytes[room..];
                self.checkpoints.push_back(Checkpoint {
                    offset: next,
                    hasher: self.hasher.clone(),
                });
            }
        }
        self.hasher.update(bytes);
        self.seen += bytes.len() as u64;
    }

    fn check(&mut self, chunk: &Bytes) -> Result<(), TransferError> {
        if self.seen + chunk.len() as u64 > self.blob.size {
            return Err(TransferError::new(
                Kind::Rejected,
                format!(
                    "{}: more bytes than the descriptor's size {}",
                    self.who, self.blob.size
                ),
            ));
        }
        self.hash(chunk);
        let upto = self.counted.upto.load(Ordering::Relaxed);
        if self.seen > upto {
            self.counted.upto.store(self.seen, Ordering::Relaxed);
            self.counted
                .total
                .fetch_add(self.seen - upto, Ordering::Relaxed);
        }
        if self.seen == self.blob.size {
            let got = format!("sha256:{}", hex::encode(self.hasher.clone().finish()));
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

impl Stream for Verified {
    type Item = Result<Bytes, TransferError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
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
                Poll::Ready(Some(Err(e))) => break Err(e),
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt as _;

    fn blob(bytes: &[u8]) -> Blob {
        Blob {
            digest: crate::transfer::sha256_digest(bytes),
            size: bytes.len() as u64,
            urls: vec![],
        }
    }

    fn counted() -> Counted {
        Counted {
            total: Arc::default(),
            upto: Arc::default(),
        }
    }

    fn pieces(bytes: &[u8], piece: usize) -> BoxStream<'static, Result<Bytes, TransferError>> {
        let v: Vec<_> = bytes
            .chunks(piece)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures::stream::iter(v).boxed()
    }

    #[tokio::test]
    async fn a_resumed_stream_checks_the_whole_blob_and_counts_each_byte_once() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let b = blob(&data);
        let c = counted();
        // The first pass, cut after 3 chunks of 1000, keeping checkpoints.
        let mut first = Verified::new(
            pieces(&data[..3500], 700),
            b.clone(),
            Checkpoint::start(),
            Some(1000),
            "t".into(),
            c.clone(),
        );
        while let Some(item) = first.next().await {
            if item.is_err() {
                break;
            }
        }
        let at = first.checkpoint_at(3000).expect("a checkpoint at 3000");
        assert!(
            first.checkpoint_at(2000).is_none(),
            "older ones are dropped"
        );
        // Resumed from byte 3000: verified end to end, counted once.
        let mut second = Verified::new(
            pieces(&data[3000..], 999),
            b,
            at,
            Some(1000),
            "t".into(),
            c.clone(),
        );
        let mut got = 0;
        while let Some(item) = second.next().await {
            got += item.expect("verified").len();
        }
        assert_eq!(got, 7000);
        assert_eq!(c.total.load(Ordering::Relaxed), 10_000);
    }

    #[tokio::test]
    async fn a_wrong_byte_fails_before_the_last_piece_is_released() {
        let mut data = vec![7u8; 3 << 20];
        let b = blob(&data);
        data[5] = 8;
        let mut s = Verified::new(
            pieces(&data, 64 << 10),
            b,
            Checkpoint::start(),
            None,
            "t".into(),
            counted(),
        );
        let mut released = 0;
        let err = loop {
            match s.next().await {
                Some(Ok(p)) => released += p.len(),
                Some(Err(e)) => break e,
                None => panic!("a corrupt blob completed"),
            }
        };
        assert!(err.message.contains("digest mismatch"), "{err}");
        assert!(released < data.len());
    }
}
