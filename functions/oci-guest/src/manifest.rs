//! Manifests: Docker schema2 and OCI image manifests and indexes (they share
//! field names), their media types, and what a replication needs from them.

use ferry_sdk::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const OCI_NONDISTRIBUTABLE_PREFIX: &str = "application/vnd.oci.image.layer.nondistributable.";

/// The `Accept` header for manifest requests: every kind we can replicate.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A content descriptor as manifests carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
}

impl Descriptor {
    /// Foreign (Docker) or non-distributable (OCI) layers, or any descriptor
    /// with `urls`: content that lives elsewhere and is not copied.
    pub fn is_foreign(&self) -> bool {
        self.media_type == DOCKER_FOREIGN_LAYER
            || self.media_type.starts_with(OCI_NONDISTRIBUTABLE_PREFIX)
            || self.urls.as_ref().is_some_and(|u| !u.is_empty())
    }

    pub fn to_wit(&self) -> ferry_sdk::Descriptor {
        ferry_sdk::Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            // Copied from the source repository: foreign layers, the ones
            // with URLs, are left out of copies (see `is_foreign`).
            urls: Vec::new(),
        }
    }
}

/// The fields of a manifest or index document that replication uses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    #[serde(default)]
    pub schema_version: Option<i64>,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    pub subject: Option<Descriptor>,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An image manifest (Docker schema2 or OCI), image or artifact.
    Manifest,
    /// An index or Docker manifest list.
    Index,
}

/// A parsed manifest or index.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub kind: Kind,
    /// The effective media type: the document's own, else the one the
    /// registry served it as, else the one implied by its fields.
    pub media_type: String,
    pub doc: Document,
}

impl Manifest {
    /// Parses `body`, served with `content_type` (may be empty). The error
    /// says what is wrong; callers add which manifest it was.
    pub fn parse(body: &[u8], content_type: &str) -> Result<Manifest, String> {
        let doc: Document =
            serde_json::from_slice(body).map_err(|e| format!("not a valid manifest: {e}"))?;
        let served = content_type.split(';').next().unwrap_or("").trim();
        let media_type = match &doc.media_type {
            Some(m) if !m.is_empty() => m.clone(),
            _ if is_manifest_type(served) => served.to_owned(),
            _ if doc.manifests.is_some() => OCI_INDEX.to_owned(),
            _ if doc.config.is_some() => OCI_MANIFEST.to_owned(),
            _ => served.to_owned(),
        };
        if media_type == DOCKER_SCHEMA1
            || media_type == DOCKER_SCHEMA1_SIGNED
            || doc.schema_version == Some(1)
        {
            return Err("Docker schema 1 manifests are not supported (convert the image to schema 2 or OCI)".into());
        }
        if doc.schema_version != Some(2) {
            return Err(format!(
                "schemaVersion is {:?}, expected 2",
                doc.schema_version
            ));
        }
        let kind = match media_type.as_str() {
            OCI_INDEX | DOCKER_MANIFEST_LIST => Kind::Index,
            OCI_MANIFEST | DOCKER_MANIFEST => Kind::Manifest,
            other => return Err(format!("unsupported manifest media type {other:?}")),
        };
        match kind {
            Kind::Index => {
                if doc.manifests.is_none() {
                    return Err("an index without \"manifests\"".into());
                }
                if doc.config.is_some() || doc.layers.is_some() {
                    return Err("an index with \"config\" or \"layers\"".into());
                }
            }
            Kind::Manifest => {
                if doc.config.is_none() {
                    return Err("an image manifest without \"config\"".into());
                }
                if doc.manifests.is_some() {
                    return Err("an image manifest with \"manifests\"".into());
                }
            }
        }
        let m = Manifest {
            kind,
            media_type,
            doc,
        };
        for d in m.all_descriptors() {
            check_digest(&d.digest).map_err(|e| format!("descriptor {:?}: {e}", d.digest))?;
            if d.media_type.is_empty() {
                return Err(format!("descriptor {} has no mediaType", d.digest));
            }
        }
        Ok(m)
    }

    fn all_descriptors(&self) -> impl Iterator<Item = &Descriptor> {
        self.doc
            .config
            .iter()
            .chain(self.doc.layers.iter().flatten())
            .chain(self.doc.manifests.iter().flatten())
            .chain(self.doc.subject.iter())
    }

    /// The children of an index (empty for an image manifest).
    pub fn children(&self) -> &[Descriptor] {
        self.doc.manifests.as_deref().unwrap_or(&[])
    }

    /// The config and the distributable layers of an image manifest, and how
    /// many foreign layers were left out.
    pub fn blobs(&self) -> (Vec<&Descriptor>, u64) {
        let mut out = Vec::new();
        let mut foreign = 0;
        for d in self
            .doc
            .config
            .iter()
            .chain(self.doc.layers.iter().flatten())
        {
            if d.is_foreign() {
                foreign += 1;
            } else {
                out.push(d);
            }
        }
        (out, foreign)
    }

    /// Whether this is an image (an index, or a manifest with an image
    /// config) rather than some other OCI artifact.
    pub fn is_image(&self) -> bool {
        match self.kind {
            Kind::Index => true,
            Kind::Manifest => {
                let config = self
                    .doc
                    .config
                    .as_ref()
                    .map(|c| c.media_type.as_str())
                    .unwrap_or("");
                config == DOCKER_CONFIG || config == OCI_CONFIG
            }
        }
    }

    /// The artifact type a referrers index lists for this manifest:
    /// `artifactType`, else the config media type.
    pub fn artifact_type(&self) -> Option<String> {
        match &self.doc.artifact_type {
            Some(t) if !t.is_empty() => Some(t.clone()),
            _ => self.doc.config.as_ref().map(|c| c.media_type.clone()),
        }
    }

    /// The descriptor of this manifest as a referrers index lists it.
    pub fn referrer_descriptor(&self, digest: &str, size: u64) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: digest.to_owned(),
            size,
            urls: None,
            artifact_type: self.artifact_type(),
            annotations: self.doc.annotations.clone().filter(|a| !a.is_empty()),
            platform: None,
        }
    }
}

/// Whether `media_type` names a manifest or index we replicate.
pub fn is_manifest_type(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_INDEX | OCI_MANIFEST | DOCKER_MANIFEST_LIST | DOCKER_MANIFEST
    )
}

/// Checks that `digest` is `algorithm:encoded` as the OCI spec defines it,
/// strictly for sha256/sha512 (so it is safe in a URL path).
pub fn check_digest(digest: &str) -> Result<(), String> {
    Digest::parse(digest).map(drop).map_err(|e| e.to_string())
}

/// The referrers fallback tag of a digest: `sha256:abc…` -> `sha256-abc…`
/// (truncated to the 128 characters a tag may have).
pub fn fallback_tag(digest: &str) -> String {
    let tag = digest.replacen(':', "-", 1);
    tag.chars().take(128).collect()
}

/// Whether a tag is a referrers fallback tag (`sha256-` and 64 hex digits):
/// such tags are replicated as the referrers of their subject.
pub fn is_fallback_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// An empty OCI index, the start of a referrers fallback tag.
pub fn empty_index() -> serde_json::Value {
    serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
}

/// Adds `descriptors` to the index document `index` (a referrers fallback
/// index), keeping those it has, matched by digest. Returns whether it changed.
pub fn merge_into_index(
    index: &mut serde_json::Value,
    descriptors: &[Descriptor],
) -> Result<bool, String> {
    let obj = index
        .as_object_mut()
        .ok_or("the index is not a JSON object")?;
    let manifests = obj
        .entry("manifests")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    let list = manifests
        .as_array_mut()
        .ok_or("\"manifests\" is not an array")?;
    let mut changed = false;
    for d in descriptors {
        let present = list
            .iter()
            .any(|m| m.get("digest").and_then(|v| v.as_str()) == Some(d.digest.as_str()));
        if !present {
            list.push(serde_json::to_value(d).map_err(|e| e.to_string())?);
            changed = true;
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn image(config_type: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
            "config":{{"mediaType":"{config_type}","digest":"{D1}","size":2}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D2}","size":10}},
                      {{"mediaType":"{DOCKER_FOREIGN_LAYER}","digest":"{D2}","size":10}},
                      {{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{D1}","size":1,"urls":["https://x"]}}]}}"#
        )
    }

    #[test]
    fn parses_image_manifest() {
        let m = Manifest::parse(image(OCI_CONFIG).as_bytes(), "").unwrap();
        assert_eq!(m.kind, Kind::Manifest);
        assert!(m.is_image());
        let (blobs, foreign) = m.blobs();
        assert_eq!(blobs.len(), 2);
        assert_eq!(foreign, 2);
        let m = Manifest::parse(image(OCI_EMPTY).as_bytes(), "").unwrap();
        assert!(!m.is_image());
        assert_eq!(m.artifact_type().as_deref(), Some(OCI_EMPTY));
    }

    #[test]
    fn parses_index_and_infers_media_type() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","size":5,"platform":{{"os":"linux"}}}}]}}"#
        );
        let m = Manifest::parse(body.as_bytes(), DOCKER_MANIFEST_LIST).unwrap();
        assert_eq!(m.kind, Kind::Index);
        assert_eq!(m.media_type, DOCKER_MANIFEST_LIST);
        assert_eq!(m.children().len(), 1);
        let m = Manifest::parse(body.as_bytes(), "application/json").unwrap();
        assert_eq!(m.media_type, OCI_INDEX);
        assert!(m.is_image());
    }

    #[test]
    fn rejects_bad_manifests() {
        assert!(
            Manifest::parse(b"{", "")
                .unwrap_err()
                .contains("not a valid manifest")
        );
        assert!(
            Manifest::parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, "")
                .unwrap_err()
                .contains("schema 1")
        );
        let bad = image(OCI_CONFIG).replace(D2, "sha256:../../x");
        assert!(
            Manifest::parse(bad.as_bytes(), "")
                .unwrap_err()
                .contains("hex")
        );
        let no_config =
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[]}}"#);
        assert!(Manifest::parse(no_config.as_bytes(), "").is_err());
    }

    #[test]
    fn digests_and_fallback_tags() {
        assert!(check_digest(D1).is_ok());
        assert!(check_digest("sha256:ABC").is_err());
        assert!(check_digest("md5:00").is_err());
        assert!(check_digest("nocolon").is_err());
        let tag = fallback_tag(D1);
        assert_eq!(tag, D1.replace(':', "-"));
        assert!(is_fallback_tag(&tag));
        assert!(!is_fallback_tag("sha256-abc"));
        assert!(!is_fallback_tag("latest"));
    }

    #[test]
    fn merges_referrers() {
        let mut idx = empty_index();
        let d = Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: D1.into(),
            size: 3,
            urls: None,
            artifact_type: Some("application/x".into()),
            annotations: None,
            platform: None,
        };
        assert!(merge_into_index(&mut idx, std::slice::from_ref(&d)).unwrap());
        assert!(!merge_into_index(&mut idx, &[d]).unwrap());
        assert_eq!(idx["manifests"][0]["artifactType"], "application/x");
        assert!(idx["manifests"][0].get("urls").is_none());
    }
}
