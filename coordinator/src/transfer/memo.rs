//! Manifests an execution has already read from its source, kept by digest
//! so that push does not fetch again what pull read. Content-addressed: an
//! entry answers only a `GET` by the digest its body hashes to, which is
//! exactly what the registry would send, so it can never be stale.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Response;

/// Bytes of manifests one execution keeps at most. An entry is handed out
/// once (push reads each manifest once), so only the artifacts in flight
/// between pull and push are held.
const MAX_BYTES: usize = 16 << 20;

#[derive(Default)]
pub struct ManifestMemo {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By (repository, digest).
    entries: HashMap<(String, String), Response>,
    bytes: usize,
}

impl ManifestMemo {
    /// Keeps a manifest the source answered with 200; ignored when full.
    pub fn keep(&self, repository: &str, resp: &Response) {
        if resp.status != 200 || resp.body.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.bytes + resp.body.len() > MAX_BYTES {
            return;
        }
        let key = (repository.to_string(), resp.digest.clone());
        if let Some(old) = inner.entries.insert(key, resp.clone()) {
            inner.bytes -= old.body.len();
        }
        inner.bytes += resp.body.len();
    }

    /// Hands out (and forgets) the manifest `repository@digest`, if kept.
    pub fn take(&self, repository: &str, digest: &str) -> Option<Response> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let resp = inner
            .entries
            .remove(&(repository.to_string(), digest.to_string()))?;
        inner.bytes -= resp.body.len();
        Some(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::sha256_digest;

    fn answer(status: u16, body: &[u8]) -> Response {
        Response {
            status,
            headers: vec![],
            body: body.to_vec(),
            digest: sha256_digest(body),
        }
    }

    #[test]
    fn a_kept_manifest_is_handed_out_once_by_its_digest() {
        let memo = ManifestMemo::default();
        let r = answer(200, b"{}");
        memo.keep("a", &r);
        assert!(memo.take("b", &r.digest).is_none(), "other repository");
        assert_eq!(memo.take("a", &r.digest).unwrap().body, b"{}");
        assert!(memo.take("a", &r.digest).is_none(), "handed out once");
    }

    #[test]
    fn failures_and_overflow_are_not_kept() {
        let memo = ManifestMemo::default();
        let missing = answer(404, b"not found");
        memo.keep("a", &missing);
        assert!(memo.take("a", &missing.digest).is_none());
        let big = answer(200, &vec![b' '; MAX_BYTES]);
        let small = answer(200, b"[]");
        memo.keep("a", &small);
        memo.keep("a", &big);
        assert!(memo.take("a", &big.digest).is_none(), "over the bound");
        assert!(memo.take("a", &small.digest).is_some());
    }
}
