//! The check the `manifest` fuzz target (`coordinator/fuzz`) and the
//! coordinator's `fuzz_corpus` test run on arbitrary bytes: manifest and
//! index parsing, and what replication then does with a parsed manifest. A
//! panic here, or in the parser, is a bug.

use crate::manifest::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Descriptor, Kind, Manifest, OCI_INDEX, OCI_MANIFEST,
    check_digest, empty_index, fallback_tag, is_fallback_tag, is_manifest_type, merge_into_index,
};

/// Parses `data` as served with each content type that changes how it
/// reads, and checks what a replication relies on.
pub fn manifest(data: &[u8]) {
    for content_type in [
        "",
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
        "application/json; charset=utf-8",
    ] {
        if let Ok(m) = Manifest::parse(data, content_type) {
            parsed(&m);
        }
    }
    // A referrers fallback index as read back from a registry: merging the
    // same descriptors twice changes it once at most.
    if let (Ok(mut index), Ok(m)) = (
        serde_json::from_slice::<serde_json::Value>(data),
        Manifest::parse(data, ""),
    ) && merge_into_index(&mut index, m.children()).is_ok()
    {
        assert_eq!(merge_into_index(&mut index, m.children()), Ok(false));
    }
}

fn parsed(m: &Manifest) {
    assert!(is_manifest_type(&m.media_type), "{:?}", m.media_type);
    let (blobs, foreign) = m.blobs();
    match m.kind {
        Kind::Index => {
            assert!(m.media_type == OCI_INDEX || m.media_type == DOCKER_MANIFEST_LIST);
            assert!(blobs.is_empty() && foreign == 0);
        }
        Kind::Manifest => {
            assert!(m.media_type == OCI_MANIFEST || m.media_type == DOCKER_MANIFEST);
            assert!(m.children().is_empty());
            let layers = m.doc.layers.as_ref().map_or(0, Vec::len);
            assert_eq!(blobs.len() as u64 + foreign, 1 + layers as u64);
            assert!(m.artifact_type().is_some());
        }
    }
    for d in blobs.into_iter().chain(m.children()) {
        assert!(check_digest(&d.digest).is_ok());
        roundtrip(d);
        if d.digest.starts_with("sha256:") {
            assert!(is_fallback_tag(&fallback_tag(&d.digest)), "{}", d.digest);
        }
    }
    let mut index = empty_index();
    assert_eq!(
        merge_into_index(&mut index, m.children()),
        Ok(!m.children().is_empty())
    );
    assert_eq!(merge_into_index(&mut index, m.children()), Ok(false));
    let digest = m
        .doc
        .config
        .as_ref()
        .or(m.children().first())
        .map(|d| d.digest.as_str());
    roundtrip(&m.referrer_descriptor(digest.unwrap_or("sha256:0"), 1));
}

/// A descriptor pushed (in a fallback index) reads back as itself.
fn roundtrip(d: &Descriptor) {
    let json = serde_json::to_vec(d).expect("a descriptor serializes");
    let back: Descriptor = serde_json::from_slice(&json).expect("and reads back");
    assert_eq!(&back, d);
}
