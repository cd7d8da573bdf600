//! Deterministic image content and builders that push it to a registry.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, Result};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::{AsClient, Client, referrers_tag, sha256_digest};
use crate::media;

/// Manifest flavour of a pushed image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Docker v2 schema2 manifests and Docker manifest lists.
    Docker,
    /// OCI image manifests and OCI indexes.
    Oci,
}

impl Format {
    /// Image manifest media type.
    pub fn manifest_type(self) -> &'static str {
        match self {
            Format::Docker => media::DOCKER_MANIFEST,
            Format::Oci => media::OCI_MANIFEST,
        }
    }

    /// Index / manifest list media type.
    pub fn index_type(self) -> &'static str {
        match self {
            Format::Docker => media::DOCKER_LIST,
            Format::Oci => media::OCI_INDEX,
        }
    }

    /// Image config media type.
    pub fn config_type(self) -> &'static str {
        match self {
            Format::Docker => media::DOCKER_CONFIG,
            Format::Oci => media::OCI_CONFIG,
        }
    }

    /// gzip'd layer media type.
    pub fn layer_type(self) -> &'static str {
        match self {
            Format::Docker => media::DOCKER_LAYER,
            Format::Oci => media::OCI_LAYER,
        }
    }
}

/// Platform of an index entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, e.g. `amd64`.
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    pub os: String,
}

/// An OCI / Docker content descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// OCI 1.1 artifact type.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub artifact_type: Option<String>,
    /// Platform (index entries).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Descriptor {
    /// A plain descriptor of `bytes`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
            artifact_type: None,
            platform: None,
            annotations: None,
        }
    }
}

/// A gzip'd tar layer with its digests; cheap to clone (shared bytes).
#[derive(Clone, Debug)]
pub struct Layer {
    bytes: Bytes,
    digest: String,
    diff_id: String,
}

impl Layer {
    /// A layer holding one file (`data/random-<seed>.bin`) of `size` pseudo-random bytes,
    /// a pure function of `(seed, size)`. The gzip stream uses stored blocks (random data
    /// does not compress), so building is fast.
    pub fn random(seed: u64, size: usize) -> Layer {
        let mut data = vec![0u8; size];
        let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
        for chunk in data.chunks_mut(8) {
            let word = splitmix64(&mut state).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        let name = format!("data/random-{seed}.bin");
        Self::build(&[(name.as_str(), &data)], Compression::none())
    }

    /// A layer holding the given `(path, contents)` files, gzip level 1.
    pub fn from_files(files: &[(&str, &[u8])]) -> Layer {
        Self::build(files, Compression::fast())
    }

    fn build(files: &[(&str, &[u8])], level: Compression) -> Layer {
        let tar = tar_archive(files);
        let diff_id = sha256_digest(&tar);
        let mut gz = GzEncoder::new(Vec::with_capacity(tar.len() + 1024), level);
        gz.write_all(&tar).expect("gzip to memory");
        let bytes = Bytes::from(gz.finish().expect("gzip to memory"));
        Layer {
            digest: sha256_digest(&bytes),
            bytes,
            diff_id,
        }
    }

    /// The gzip'd tar bytes (the blob).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Blob digest (of the compressed bytes).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// sha256 of the uncompressed tar (config `rootfs.diff_ids`).
    pub fn diff_id(&self) -> &str {
        &self.diff_id
    }

    /// Blob size in bytes.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Descriptor with the layer media type of `format`.
    pub fn descriptor(&self, format: Format) -> Descriptor {
        Descriptor {
            media_type: format.layer_type().to_string(),
            digest: self.digest.clone(),
            size: self.size(),
            artifact_type: None,
            platform: None,
            annotations: None,
        }
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A ustar archive of regular files (mode 0644, mtime 0, root-owned).
fn tar_archive(files: &[(&str, &[u8])]) -> Vec<u8> {
    let total: usize = files.iter().map(|(_, d)| d.len() + 1024).sum();
    let mut out = Vec::with_capacity(total + 1024);
    for (name, data) in files {
        let mut h = [0u8; 512];
        let name = name.as_bytes();
        assert!(name.len() <= 100, "tar member name longer than 100 bytes");
        h[..name.len()].copy_from_slice(name);
        let octal = |h: &mut [u8; 512], at: usize, width: usize, v: u64| {
            let s = format!("{v:0w$o}\0", w = width - 1);
            h[at..at + width].copy_from_slice(s.as_bytes());
        };
        octal(&mut h, 100, 8, 0o644);
        octal(&mut h, 108, 8, 0);
        octal(&mut h, 116, 8, 0);
        octal(&mut h, 124, 12, data.len() as u64);
        octal(&mut h, 136, 12, 0);
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// Image config JSON for `os`/`arch` over `layers` (fixed `created`, so deterministic).
pub fn image_config(os: &str, arch: &str, layers: &[Layer]) -> Vec<u8> {
    let diff_ids: Vec<&str> = layers.iter().map(Layer::diff_id).collect();
    let history: Vec<Value> = layers
        .iter()
        .map(|l| json!({"created": "1970-01-01T00:00:00Z", "created_by": format!("ferry-harness layer {}", l.digest())}))
        .collect();
    serde_json::to_vec(&json!({
        "architecture": arch,
        "os": os,
        "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }))
    .expect("json")
}

/// What a builder pushed: the manifest's descriptor and bytes, and pushed children.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// Descriptor of the manifest (media type, digest, size; artifact type if any).
    pub descriptor: Descriptor,
    /// The manifest bytes as pushed.
    pub manifest: Bytes,
    /// Child manifests (index entries), in index order.
    pub children: Vec<Pushed>,
}

impl Pushed {
    /// The manifest digest.
    pub fn digest(&self) -> &str {
        &self.descriptor.digest
    }

    fn new(media_type: &str, manifest: Vec<u8>) -> Pushed {
        Pushed {
            descriptor: Descriptor::of(media_type, &manifest),
            manifest: Bytes::from(manifest),
            children: Vec::new(),
        }
    }
}

/// Uploads a blob unless `repo` has it; returns its digest.
pub async fn push_blob(reg: &impl AsClient, repo: &str, bytes: Bytes) -> Result<String> {
    reg.client().push_blob(repo, bytes).await
}

/// PUTs raw manifest bytes under `reference` (tag or digest) with `media_type` as
/// Content-Type; returns the digest the registry reports. The registry validates it.
pub async fn push_raw_manifest(
    reg: &impl AsClient,
    repo: &str,
    reference: &str,
    media_type: &str,
    bytes: impl Into<Bytes>,
) -> Result<String> {
    reg.client()
        .put_manifest(repo, reference, media_type, bytes.into())
        .await
}

async fn put(client: &Client, repo: &str, reference: &str, pushed: &Pushed) -> Result<()> {
    let got = client
        .put_manifest(
            repo,
            reference,
            &pushed.descriptor.media_type,
            pushed.manifest.clone(),
        )
        .await?;
    anyhow::ensure!(
        got == pushed.descriptor.digest,
        "registry reports {got} for manifest {}",
        pushed.descriptor.digest
    );
    Ok(())
}

async fn push_platform_image(
    client: &Client,
    repo: &str,
    reference: Option<&str>,
    format: Format,
    (os, arch): (&str, &str),
    layers: &[Layer],
) -> Result<Pushed> {
    for layer in layers {
        client
            .push_blob(repo, layer.bytes().clone())
            .await
            .with_context(|| format!("pushing layer {}", layer.digest()))?;
    }
    let config = image_config(os, arch, layers);
    let config_desc = Descriptor::of(format.config_type(), &config);
    client.push_blob(repo, Bytes::from(config)).await?;
    let layer_descs: Vec<Descriptor> = layers.iter().map(|l| l.descriptor(format)).collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": format.manifest_type(),
        "config": config_desc,
        "layers": layer_descs,
    }))?;
    let pushed = Pushed::new(format.manifest_type(), manifest);
    put(client, repo, reference.unwrap_or(pushed.digest()), &pushed).await?;
    Ok(pushed)
}

/// Pushes a linux/amd64 image of `layers` (blobs first) tagged `tag`.
pub async fn push_image(
    reg: &impl AsClient,
    repo: &str,
    tag: &str,
    format: Format,
    layers: &[Layer],
) -> Result<Pushed> {
    let client = reg.client();
    push_platform_image(&client, repo, Some(tag), format, ("linux", "amd64"), layers).await
}

/// Pushes one image per `(os, arch)` over `layers` by digest, then an OCI index (or
/// Docker manifest list) of them tagged `tag`. The children differ by their configs.
pub async fn push_index(
    reg: &impl AsClient,
    repo: &str,
    tag: &str,
    format: Format,
    platforms: &[(&str, &str)],
    layers: &[Layer],
) -> Result<Pushed> {
    let client = reg.client();
    let mut children = Vec::new();
    let mut entries = Vec::new();
    for &(os, arch) in platforms {
        let child = push_platform_image(&client, repo, None, format, (os, arch), layers).await?;
        let mut desc = child.descriptor.clone();
        desc.platform = Some(Platform {
            architecture: arch.to_string(),
            os: os.to_string(),
        });
        entries.push(desc);
        children.push(child);
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": format.index_type(),
        "manifests": entries,
    }))?;
    let mut pushed = Pushed::new(format.index_type(), index);
    put(&client, repo, tag, &pushed).await?;
    pushed.children = children;
    Ok(pushed)
}

/// Pushes an OCI 1.1 artifact manifest tagged `tag`: `artifactType`, a config blob of
/// `config_media_type` (`{}` when it is the empty type), and `blobs` as
/// `(media type, bytes)` layers (the empty descriptor when there are none).
pub async fn push_artifact(
    reg: &impl AsClient,
    repo: &str,
    tag: &str,
    artifact_type: &str,
    config_media_type: &str,
    blobs: &[(&str, &[u8])],
) -> Result<Pushed> {
    let client = reg.client();
    let config = if config_media_type == media::OCI_EMPTY {
        b"{}".to_vec()
    } else {
        serde_json::to_vec(&json!({"ferry-harness-artifact": artifact_type}))?
    };
    let config_desc = Descriptor::of(config_media_type, &config);
    client.push_blob(repo, Bytes::from(config)).await?;
    let mut layers = Vec::new();
    for (media_type, bytes) in blobs {
        client
            .push_blob(repo, Bytes::copy_from_slice(bytes))
            .await?;
        layers.push(Descriptor::of(media_type, bytes));
    }
    if layers.is_empty() {
        layers.push(push_empty(&client, repo).await?);
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": config_desc,
        "layers": layers,
    }))?;
    let mut pushed = Pushed::new(media::OCI_MANIFEST, manifest);
    pushed.descriptor.artifact_type = Some(artifact_type.to_string());
    put(&client, repo, tag, &pushed).await?;
    Ok(pushed)
}

async fn push_empty(client: &Client, repo: &str) -> Result<Descriptor> {
    client.push_blob(repo, Bytes::from_static(b"{}")).await?;
    Ok(Descriptor::of(media::OCI_EMPTY, b"{}"))
}

/// Pushes (by digest) an OCI 1.1 referrer of `subject` (any manifest descriptor, e.g.
/// [`Pushed::descriptor`]) with `artifact_type` and the empty config, then creates or
/// extends the referrers fallback index tagged `sha256-<hex of subject>` (distribution
/// 2.8 has no referrers API). Returns the referrer; its descriptor carries the
/// `artifactType` and annotations listed in the fallback index.
pub async fn push_referrer(
    reg: &impl AsClient,
    repo: &str,
    subject: &Descriptor,
    artifact_type: &str,
) -> Result<Pushed> {
    let client = reg.client();
    let empty = push_empty(&client, repo).await?;
    let annotations = BTreeMap::from([(
        "dev.ferry.harness.artifact".to_string(),
        artifact_type.to_string(),
    )]);
    let subject = Descriptor {
        media_type: subject.media_type.clone(),
        digest: subject.digest.clone(),
        size: subject.size,
        artifact_type: None,
        platform: None,
        annotations: None,
    };
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": empty,
        "layers": [empty],
        "subject": subject,
        "annotations": annotations,
    }))?;
    let mut pushed = Pushed::new(media::OCI_MANIFEST, manifest);
    pushed.descriptor.artifact_type = Some(artifact_type.to_string());
    pushed.descriptor.annotations = Some(annotations);
    put(&client, repo, pushed.digest(), &pushed).await?;

    let tag = referrers_tag(&subject.digest);
    let mut entries: Vec<Value> = match client.try_get_manifest(repo, &tag).await? {
        Some((_, bytes)) => {
            let index: Value = serde_json::from_slice(&bytes)?;
            index["manifests"].as_array().cloned().unwrap_or_default()
        }
        None => Vec::new(),
    };
    if !entries
        .iter()
        .any(|e| e["digest"].as_str() == Some(pushed.digest()))
    {
        entries.push(serde_json::to_value(&pushed.descriptor)?);
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": entries,
        }))?;
        client
            .put_manifest(repo, &tag, media::OCI_INDEX, Bytes::from(index))
            .await
            .context("pushing the referrers fallback index")?;
    }
    Ok(pushed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_deterministic_tars() {
        let a = Layer::random(7, 10_000);
        let b = Layer::random(7, 10_000);
        let c = Layer::random(8, 10_000);
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), c.digest());
        assert_ne!(a.digest(), a.diff_id());
        // Un-gzip and check the tar shape: header + data padded + 2 zero blocks.
        let mut tar = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&a.bytes()[..]), &mut tar)
            .unwrap();
        assert_eq!(sha256_digest(&tar), a.diff_id());
        assert_eq!(tar.len(), 512 + 10_240 + 1024);
        assert_eq!(&tar[257..262], b"ustar");
        let small = Layer::from_files(&[("etc/hello", b"hi\n")]);
        assert!(small.size() < 200);
    }
}
