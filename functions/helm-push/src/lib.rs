//! `helm-push`: pushes one chart version that `helm-list` listed to the
//! target as `helm push` stores a chart in an OCI registry: the `.tgz` as
//! the one layer (streamed by the host from the chart repository's URLs and
//! checked against the index's digest, never through the guest), a config
//! blob holding the chart's metadata, then the manifest under the version's
//! tag, last, once both blobs are there.

use std::collections::BTreeMap;

use ferry_sdk::errors::{context, internal, invalid};
use ferry_sdk::transfer::{Action, Options, UploadMode};
use ferry_sdk::{
    Artifact, Counts, Descriptor, FunctionInfo, Guest, Host, ManifestRef, Output, Policy,
    StageInput, StageOutput, WitError, WitHost,
};
use oci_guest::client::{BlobPut, Registry, check_repository, check_tag};
use oci_guest::manifest::OCI_MANIFEST;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use oci_guest::helm::{CHART_CONTENT, CONFIG_PROPERTY, HELM_CONFIG};

ferry_sdk::counters! {
    enum Count {
        ChartsPushed = "charts-pushed",
        BlobsUploaded = "blobs-uploaded",
        BlobsMounted = "blobs-mounted",
        BlobsPresent = "blobs-present",
    }
}

struct HelmPush;

impl Guest for HelmPush {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description: "Pushes a chart version listed by helm-list to the target as an OCI Helm chart: the .tgz as its layer, its metadata as its config, the version as its tag.".into(),
            params: vec![],
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        push(&WitHost, input)
    }
}

fn push(host: &dyn Host, mut input: StageInput) -> Result<StageOutput, WitError> {
    let artifact = input.single_artifact("helm-push")?;
    let result = push_chart(host, artifact, &input.policy);
    host.progress(1);
    result
}

/// `sha256:<hex>` of `bytes`.
fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn push_chart(host: &dyn Host, mut a: Artifact, policy: &Policy) -> Result<StageOutput, WitError> {
    let name = a.to_string();
    let config = a
        .properties
        .iter()
        .rev()
        .find(|(k, _)| k == CONFIG_PROPERTY)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| {
            invalid(format!(
                "{name}: no {CONFIG_PROPERTY:?} property (the chart's metadata, which helm-list sets): helm-push takes the artifacts of helm-list"
            ))
        })?;
    let metadata: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&config)
        .map_err(|e| {
            invalid(format!(
                "{name}: the {CONFIG_PROPERTY:?} property is not a JSON object: {e}"
            ))
        })?;
    let text = |key: &str| metadata.get(key).and_then(|v| v.as_str());
    let (Some(chart), Some(version)) = (text("name"), text("version")) else {
        return Err(invalid(format!(
            "{name}: the {CONFIG_PROPERTY:?} property has no name or no version"
        )));
    };
    let Some(tag) = a.tag.clone() else {
        return Err(invalid(format!(
            "{name}: no tag: a chart version is pushed under its version"
        )));
    };
    check_repository(&a.target_repository).map_err(invalid)?;
    check_tag(&tag).map_err(invalid)?;
    let archives: Vec<&Descriptor> = a
        .blobs
        .iter()
        .filter(|b| b.media_type == CHART_CONTENT)
        .collect();
    let [archive] = archives[..] else {
        return Err(invalid(format!(
            "{name}: expected one chart archive ({CHART_CONTENT}) among the blobs, found {}",
            archives.len()
        )));
    };
    let mut layer = archive.clone();
    let trepo = a.target_repository.clone();
    let mut counts = Counts::new();

    // The archive: streamed by the host from its URLs, checked against the
    // index's digest.
    let opts = Options {
        mode: if policy.copy_by_chunk {
            UploadMode::Chunked
        } else {
            UploadMode::Monolithic
        },
        chunk_size: policy.chunk_size,
        mount_from: vec![],
    };
    let outcome = host
        .copy_blobs("", &trepo, std::slice::from_ref(&layer), &opts)
        .pop()
        .unwrap_or_else(|| Err(internal("copy-blobs answered for no blob")))
        .map_err(|e| context(e, format!("{name}: chart archive {}", layer.digest)))?;
    counts.add(
        match outcome.action {
            Action::Present => Count::BlobsPresent,
            Action::Mounted => Count::BlobsMounted,
            Action::Uploaded => Count::BlobsUploaded,
        },
        1,
    );
    layer.size = match (outcome.size, layer.size) {
        (0, 0) => {
            return Err(internal(format!(
                "{name}: the host did not say the size of chart archive {}",
                layer.digest
            )));
        }
        (0, listed) => listed,
        (size, _) => size,
    };

    // The config: the chart's metadata, as helm-list wrote it.
    let target = Registry::target(host);
    let config = config.into_bytes();
    let config_blob = Descriptor {
        media_type: HELM_CONFIG.to_owned(),
        digest: sha256(&config),
        size: config.len() as u64,
        urls: vec![],
    };
    let put = target
        .put_blob(&trepo, &config_blob.digest, config)
        .map_err(|e| context(e, format!("{name}: chart config {}", config_blob.digest)))?;
    counts.add(
        match put {
            BlobPut::Present => Count::BlobsPresent,
            BlobPut::Uploaded => Count::BlobsUploaded,
        },
        1,
    );

    // The tag last: only now is everything it references in place.
    let description = text("description").filter(|d| !d.is_empty());
    let body = manifest(&config_blob, &layer, chart, version, description);
    let digest = sha256(&body);
    let size = body.len() as u64;
    target.put_manifest(&trepo, &tag, OCI_MANIFEST, body, Some(&digest))?;
    counts.add(Count::ChartsPushed, 1);

    let message = format!("pushed {trepo}:{tag} ({digest})");
    host.info(&format!(
        "{name} -> {message}: chart archive {} ({} bytes, {})",
        layer.digest,
        layer.size,
        match outcome.action {
            Action::Present => "present",
            Action::Mounted => "mounted",
            Action::Uploaded => "uploaded",
        }
    ));
    a.digest = Some(digest.clone());
    a.media_type = Some(OCI_MANIFEST.to_owned());
    a.manifests = vec![ManifestRef {
        digest,
        media_type: OCI_MANIFEST.to_owned(),
        size,
    }];
    a.blobs = vec![config_blob, layer];
    Ok(Output::succeeded()
        .resource(a)
        .counts(counts)
        .bytes(outcome.bytes)
        .message(message)
        .build())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: Layer<'a>,
    layers: [Layer<'a>; 1],
    annotations: BTreeMap<&'a str, &'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Layer<'a> {
    media_type: &'a str,
    digest: &'a str,
    size: u64,
}

impl<'a> From<&'a Descriptor> for Layer<'a> {
    fn from(d: &'a Descriptor) -> Self {
        Layer {
            media_type: &d.media_type,
            digest: &d.digest,
            size: d.size,
        }
    }
}

/// The chart's OCI manifest, as `helm push` writes one: the same inputs
/// always give the same bytes.
fn manifest(
    config: &Descriptor,
    layer: &Descriptor,
    chart: &str,
    version: &str,
    description: Option<&str>,
) -> Vec<u8> {
    let mut annotations = BTreeMap::from([
        ("org.opencontainers.image.title", chart),
        ("org.opencontainers.image.version", version),
    ]);
    if let Some(d) = description {
        annotations.insert("org.opencontainers.image.description", d);
    }
    let m = Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        config: config.into(),
        layers: [layer.into()],
        annotations,
    };
    serde_json::to_vec(&m).expect("a manifest serializes")
}

ferry_sdk::export!(HelmPush);

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_sdk::fake::{BlobCopy, artifact, input};
    use ferry_sdk::registry::Response;
    use ferry_sdk::transfer::Outcome;
    use ferry_sdk::{ErrorKind, FakeHost, Operation, Role, Status};

    const TGZ: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const CONFIG: &str = r#"{"apiVersion":"v2","appVersion":"3.19","description":"Alpine","name":"alpine","type":"application","version":"0.1.0+b.1"}"#;

    fn archive() -> Descriptor {
        Descriptor {
            media_type: CHART_CONTENT.into(),
            digest: TGZ.into(),
            size: 0,
            urls: vec![
                "charts/alpine-0.1.0+b.1.tgz".into(),
                "https://mirror.test/alpine-0.1.0+b.1.tgz".into(),
            ],
        }
    }

    /// alpine 0.1.0+b.1 as helm-list emits it, for `charts/alpine`.
    fn listed() -> StageInput {
        let mut a = artifact("alpine", "0.1.0_b.1");
        a.target_repository = "charts/alpine".into();
        a.media_type = Some(OCI_MANIFEST.into());
        a.blobs = vec![archive()];
        a.no_referrers = true;
        a.properties = vec![(CONFIG_PROPERTY.into(), CONFIG.into())];
        input(vec![a])
    }

    fn uploaded(size: u64) -> Result<Outcome, WitError> {
        Ok(Outcome {
            digest: TGZ.into(),
            action: Action::Uploaded,
            bytes: size,
            size,
        })
    }

    fn config_digest() -> String {
        sha256(CONFIG.as_bytes())
    }

    fn expected_manifest() -> String {
        format!(
            concat!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
                r#""config":{{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"{}","size":{}}},"#,
                r#""layers":[{{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"{}","size":1234}}],"#,
                r#""annotations":{{"org.opencontainers.image.description":"Alpine","#,
                r#""org.opencontainers.image.title":"alpine","org.opencontainers.image.version":"0.1.0+b.1"}}}}"#
            ),
            config_digest(),
            CONFIG.len(),
            TGZ
        )
    }

    /// A target that takes the config through an upload session and the
    /// manifest (the archive's copy is scripted by each test).
    fn target() -> FakeHost {
        let host = FakeHost::new();
        let manifest = sha256(expected_manifest().as_bytes());
        host.answer(
            Role::Target,
            "POST",
            "/v2/charts/alpine/blobs/uploads/",
            Response::new(202).with_header(
                "Location",
                "https://target.test/v2/charts/alpine/blobs/uploads/u1?_state=s",
            ),
        )
        .answer(
            Role::Target,
            "PUT",
            &format!(
                "/v2/charts/alpine/blobs/uploads/u1?_state=s&digest={}",
                config_digest()
            ),
            Response::new(201),
        )
        .answer(
            Role::Target,
            "PUT",
            "/v2/charts/alpine/manifests/0.1.0_b.1",
            Response::new(201).with_header("Docker-Content-Digest", &manifest),
        );
        host
    }

    #[test]
    fn pushes_the_archive_then_the_config_then_the_manifest() {
        let host = target();
        host.blob_answer(TGZ, uploaded(1234));
        let out = push(&host, listed()).unwrap();

        let manifest = expected_manifest();
        let digest = sha256(manifest.as_bytes());
        let mut pushed = listed().resources.remove(0);
        pushed.digest = Some(digest.clone());
        pushed.manifests = vec![ManifestRef {
            digest: digest.clone(),
            media_type: OCI_MANIFEST.into(),
            size: manifest.len() as u64,
        }];
        pushed.blobs = vec![
            Descriptor {
                media_type: HELM_CONFIG.into(),
                digest: config_digest(),
                size: CONFIG.len() as u64,
                urls: vec![],
            },
            Descriptor {
                size: 1234,
                ..archive()
            },
        ];
        assert_eq!(pushed.operation, Operation::Copy);
        assert_eq!(
            out,
            StageOutput {
                resources: vec![pushed],
                status: Status::Succeeded,
                counts: vec![
                    ("charts-pushed".into(), 1),
                    ("blobs-uploaded".into(), 2),
                    ("blobs-mounted".into(), 0),
                    ("blobs-present".into(), 0),
                ],
                bytes: 1234,
                messages: vec![format!("pushed charts/alpine:0.1.0_b.1 ({digest})")],
                plan: vec![],
            }
        );
        assert_eq!(
            host.copies(),
            [BlobCopy {
                source_repository: String::new(),
                target_repository: "charts/alpine".into(),
                blobs: vec![archive()],
                opts: Options {
                    mode: UploadMode::Monolithic,
                    chunk_size: 0,
                    mount_from: vec![],
                },
            }]
        );
        assert_eq!(
            host.requests(),
            [
                format!("target HEAD /v2/charts/alpine/blobs/{}", config_digest()),
                "target POST /v2/charts/alpine/blobs/uploads/".into(),
                format!(
                    "target PUT /v2/charts/alpine/blobs/uploads/u1?_state=s&digest={}",
                    config_digest()
                ),
                "target PUT /v2/charts/alpine/manifests/0.1.0_b.1".into(),
            ]
        );
        let sent = host.sent();
        assert_eq!(
            (&sent[2].1.headers, &sent[2].1.body),
            (
                &vec![(
                    "Content-Type".to_owned(),
                    "application/octet-stream".to_owned()
                )],
                &Some(CONFIG.as_bytes().to_vec())
            )
        );
        assert_eq!(
            (&sent[3].1.headers, &sent[3].1.body),
            (
                &vec![("Content-Type".to_owned(), OCI_MANIFEST.to_owned())],
                &Some(manifest.into_bytes())
            )
        );
        assert_eq!(host.progress_items(), 1);
    }

    #[test]
    fn a_config_the_target_has_is_not_uploaded_again() {
        let host = target();
        host.answer(
            Role::Target,
            "HEAD",
            &format!("/v2/charts/alpine/blobs/{}", config_digest()),
            Response::new(200),
        )
        .blob_answer(
            TGZ,
            Ok(Outcome {
                digest: TGZ.into(),
                action: Action::Present,
                bytes: 0,
                size: 1234,
            }),
        );
        let mut input = listed();
        input.policy.copy_by_chunk = true;
        input.policy.chunk_size = 512;
        let out = push(&host, input).unwrap();
        assert_eq!(
            (out.status, out.bytes, out.counts),
            (
                Status::Succeeded,
                0,
                vec![
                    ("charts-pushed".into(), 1),
                    ("blobs-uploaded".into(), 0),
                    ("blobs-mounted".into(), 0),
                    ("blobs-present".into(), 2),
                ]
            )
        );
        assert_eq!(
            host.requests(),
            [
                format!("target HEAD /v2/charts/alpine/blobs/{}", config_digest()),
                "target PUT /v2/charts/alpine/manifests/0.1.0_b.1".into(),
            ]
        );
        // The same manifest, byte for byte.
        assert_eq!(
            host.sent()[1].1.body.as_deref(),
            Some(expected_manifest().as_bytes())
        );
        assert_eq!(
            host.copies()[0].opts,
            Options {
                mode: UploadMode::Chunked,
                chunk_size: 512,
                mount_from: vec![],
            }
        );
    }

    #[test]
    fn an_archive_that_fails_its_digest_pushes_nothing() {
        let host = target();
        let mismatch = ferry_sdk::errors::rejected(format!(
            "charts/alpine-0.1.0+b.1.tgz has digest sha256:22, expected {TGZ}"
        ));
        host.blob_answer(TGZ, Err(mismatch));
        let e = push(&host, listed()).unwrap_err();
        assert_eq!(
            (e.kind, e.message),
            (
                ErrorKind::Rejected,
                format!(
                    "alpine:0.1.0_b.1: chart archive {TGZ}: charts/alpine-0.1.0+b.1.tgz has digest sha256:22, expected {TGZ}"
                )
            )
        );
        assert_eq!(host.requests(), Vec::<String>::new());
        assert_eq!(host.progress_items(), 1);
    }

    #[test]
    fn an_artifact_without_the_config_property_is_invalid() {
        let mut input = listed();
        input.resources[0].properties.clear();
        let host = FakeHost::new();
        let e = push(&host, input).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str(), e.retryable),
            (
                ErrorKind::Invalid,
                "alpine:0.1.0_b.1: no \"helm-config\" property (the chart's metadata, which helm-list sets): helm-push takes the artifacts of helm-list",
                false
            )
        );
        assert!(host.copies().is_empty());

        let mut input = listed();
        input.resources[0].blobs.clear();
        let e = push(&FakeHost::new(), input).unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "alpine:0.1.0_b.1: expected one chart archive ({CHART_CONTENT}) among the blobs, found 0"
            )
        );
    }
}
