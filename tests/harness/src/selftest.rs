//! Self-tests against real `docker-registry` processes.

use std::process::Command;

use crate::client::{check_replicated, check_same_referrers};
use crate::*;

const USER: &str = "ferry";
const PASS: &str = "s3cret";

/// Pushes one of everything and reads it back through `client`.
async fn exercise(reg: &Registry) {
    let base = Layer::random(1, 64 * 1024);
    let app = Layer::random(2, 4096);
    let files = Layer::from_files(&[("etc/motd", b"hello\n")]);

    // Docker image in a nested repository.
    let img = push_image(
        reg,
        "a/b/c/img",
        "v1",
        Format::Docker,
        &[base.clone(), app.clone()],
    )
    .await
    .unwrap();
    assert_eq!(img.descriptor.media_type, media::DOCKER_MANIFEST);
    assert_eq!(
        manifest_digest(reg, "a/b/c/img", "v1")
            .await
            .unwrap()
            .as_deref(),
        Some(img.digest())
    );
    let (mt, bytes) = get_manifest(reg, "a/b/c/img", "v1").await.unwrap();
    assert_eq!(mt, media::DOCKER_MANIFEST);
    assert_eq!(bytes, img.manifest);
    assert_eq!(
        fetch_blob_digest(reg, "a/b/c/img", base.digest())
            .await
            .unwrap(),
        base.digest()
    );

    // OCI image sharing the base layer, in another repository.
    let oci = push_image(reg, "other", "v1", Format::Oci, &[base.clone(), files])
        .await
        .unwrap();
    assert_eq!(
        manifest_digest(reg, "other", "v1")
            .await
            .unwrap()
            .as_deref(),
        Some(oci.digest())
    );

    // Multi-arch, both flavours.
    for (format, tag) in [(Format::Oci, "multi-oci"), (Format::Docker, "multi-docker")] {
        let idx = push_index(
            reg,
            "multi",
            tag,
            format,
            &[("linux", "amd64"), ("linux", "arm64")],
            std::slice::from_ref(&base),
        )
        .await
        .unwrap();
        assert_eq!(idx.children.len(), 2);
        assert_ne!(idx.children[0].digest(), idx.children[1].digest());
        let (mt, bytes) = get_manifest(reg, "multi", tag).await.unwrap();
        assert_eq!(mt, format.index_type());
        assert_eq!(sha256_digest(&bytes), idx.digest());
        for child in &idx.children {
            assert_eq!(
                manifest_digest(reg, "multi", child.digest())
                    .await
                    .unwrap()
                    .as_deref(),
                Some(child.digest())
            );
        }
    }

    // Artifact with a non-image config, and referrers of the Docker image.
    let art = push_artifact(
        reg,
        "arts",
        "sbom",
        "application/vnd.example.sbom.v1",
        "application/vnd.example.config.v1+json",
        &[(
            "application/vnd.example.sbom.layer.v1+json",
            b"{\"sbom\":true}",
        )],
    )
    .await
    .unwrap();
    let (mt, bytes) = get_manifest(reg, "arts", "sbom").await.unwrap();
    assert_eq!(mt, media::OCI_MANIFEST);
    assert_eq!(bytes, art.manifest);

    let sig = push_referrer(
        reg,
        "a/b/c/img",
        &img.descriptor,
        "application/vnd.example.sig",
    )
    .await
    .unwrap();
    let att = push_referrer(
        reg,
        "a/b/c/img",
        &img.descriptor,
        "application/vnd.example.att",
    )
    .await
    .unwrap();
    let fallback = referrers_tag(img.digest());
    let (mt, bytes) = get_manifest(reg, "a/b/c/img", &fallback).await.unwrap();
    assert_eq!(mt, media::OCI_INDEX);
    let index: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let listed: Vec<(&str, &str)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["digest"].as_str().unwrap(),
                m["artifactType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (sig.digest(), "application/vnd.example.sig"),
            (att.digest(), "application/vnd.example.att")
        ]
    );
    // Pushing the same referrer again leaves the index alone.
    push_referrer(
        reg,
        "a/b/c/img",
        &img.descriptor,
        "application/vnd.example.sig",
    )
    .await
    .unwrap();
    let (_, again) = get_manifest(reg, "a/b/c/img", &fallback).await.unwrap();
    assert_eq!(again, bytes);

    // Listing.
    let mut t = tags(reg, "a/b/c/img").await.unwrap();
    t.sort();
    assert_eq!(t, [fallback.as_str(), "v1"]);
    let mut repos = catalog(reg).await.unwrap();
    repos.sort();
    assert_eq!(repos, ["a/b/c/img", "arts", "multi", "other"]);
    assert!(tags(reg, "no/such/repo").await.unwrap().is_empty());
    assert_eq!(manifest_digest(reg, "other", "nope").await.unwrap(), None);

    // Raw manifests and deletion.
    let raw = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": oci_config_of(reg, "other", "v1").await,
        "layers": [],
        "annotations": {"strange": "yes"},
    }))
    .unwrap();
    let raw_digest = push_raw_manifest(reg, "other", "raw", media::OCI_MANIFEST, raw.clone())
        .await
        .unwrap();
    assert_eq!(raw_digest, sha256_digest(&raw));
    delete_manifest(reg, "other", &raw_digest).await.unwrap();
    assert_eq!(manifest_digest(reg, "other", "raw").await.unwrap(), None);
    // A manifest referencing a missing blob is refused.
    let bad = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#;
    assert!(
        push_raw_manifest(reg, "other", "bad", media::OCI_MANIFEST, &bad[..])
            .await
            .is_err()
    );
}

async fn oci_config_of(reg: &Registry, repo: &str, tag: &str) -> serde_json::Value {
    let (_, bytes) = get_manifest(reg, repo, tag).await.unwrap();
    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["config"].clone()
}

#[tokio::test]
async fn push_and_read_back_no_auth() {
    exercise(&Registry::start(Auth::None)).await;
}

#[tokio::test]
async fn push_and_read_back_basic_auth() {
    let reg = Registry::start(Auth::basic(USER, PASS));
    exercise(&reg).await;
    // Wrong credentials are refused.
    let bad = Client::new(&reg.url(), Some((USER.into(), "wrong".into())));
    assert!(bad.catalog().await.is_err());
    let anon = Client::new(&reg.url(), None);
    assert!(anon.catalog().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_and_read_back_token_auth() {
    let reg = Registry::start(Auth::token(USER, PASS));
    exercise(&reg).await;
    let bad = Client::new(&reg.url(), Some((USER.into(), "wrong".into())));
    assert!(bad.catalog().await.is_err());
}

/// Token auth end to end with a raw HTTP client, from a plain `#[test]`.
#[test]
fn token_server_grants_catalog() {
    let reg = Registry::start(Auth::token(USER, PASS));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let resp = http
            .get(format!("{}/v2/_catalog", reg.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        let challenge = resp.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(challenge.contains("registry:catalog:*"), "{challenge}");

        let ts = reg.token_server().unwrap();
        let query = [("service", ts.service()), ("scope", "registry:catalog:*")];
        let denied = http
            .get(ts.realm())
            .query(&query)
            .basic_auth(USER, Some("nope"))
            .send()
            .await
            .unwrap();
        assert_eq!(denied.status(), 401);
        let missing = http.get(ts.realm()).query(&query).send().await.unwrap();
        assert_eq!(missing.status(), 401);
        let body: serde_json::Value = http
            .get(ts.realm())
            .query(&query)
            .basic_auth(USER, Some(PASS))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["expires_in"], 300);
        assert_eq!(body["token"], body["access_token"]);
        assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
        let resp = http
            .get(format!("{}/v2/_catalog", reg.url()))
            .bearer_auth(body["token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", reg.log_tail(20));
        let catalog: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(catalog["repositories"], serde_json::json!([]));
    });
}

#[tokio::test]
async fn pagination() {
    let reg = Registry::start(Auth::basic(USER, PASS));
    let layer = Layer::random(3, 100);
    let img = push_image(
        &reg,
        "paged",
        "t000",
        Format::Oci,
        std::slice::from_ref(&layer),
    )
    .await
    .unwrap();
    for i in 1..150 {
        push_raw_manifest(
            &reg,
            "paged",
            &format!("t{i:03}"),
            media::OCI_MANIFEST,
            img.manifest.clone(),
        )
        .await
        .unwrap();
    }
    assert_eq!(tags(&reg, "paged").await.unwrap().len(), 150);
    for i in 0..104 {
        push_raw_manifest(
            &reg,
            &format!("r/{i:03}"),
            "t",
            media::OCI_MANIFEST,
            img.manifest.clone(),
        )
        .await
        .unwrap_err(); // blobs are per repository: refused until pushed there
        push_image(
            &reg,
            &format!("r/{i:03}"),
            "t",
            Format::Oci,
            std::slice::from_ref(&layer),
        )
        .await
        .unwrap();
    }
    assert_eq!(catalog(&reg).await.unwrap().len(), 105);
}

fn skopeo_copy(src: &Registry, dst: &Registry, from: &str, to: &str) {
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
    ]);
    if let Some((u, p)) = src.credentials() {
        cmd.arg(format!("--src-creds={u}:{p}"));
    }
    if let Some((u, p)) = dst.credentials() {
        cmd.arg(format!("--dest-creds={u}:{p}"));
    }
    cmd.arg(format!("docker://{}/{from}", src.host()));
    cmd.arg(format!("docker://{}/{to}", dst.host()));
    let out = cmd.output().expect("running skopeo");
    assert!(
        out.status.success(),
        "skopeo copy {from} -> {to}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Copies one manifest (not an index) and its blobs byte for byte.
async fn raw_copy(src: &Registry, dst: &Registry, from: &str, to: &str, reference: &str) {
    let (src, dst) = (src.client(), dst.client());
    let (mt, bytes) = src.get_manifest(from, reference).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let blobs = json.get("config").into_iter().chain(
        json.get("layers")
            .and_then(|l| l.as_array())
            .into_iter()
            .flatten(),
    );
    for desc in blobs {
        let blob = src
            .get_blob(from, desc["digest"].as_str().unwrap())
            .await
            .unwrap();
        dst.push_blob(to, blob).await.unwrap();
    }
    dst.put_manifest(to, reference, &mt, bytes).await.unwrap();
}

/// The replication assertions accept a faithful copy (made by skopeo) and reject gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assertions_accept_copies_and_catch_gaps() {
    if Command::new("skopeo").arg("--version").output().is_err() {
        eprintln!("skopeo not installed: skipping");
        return;
    }
    let src = Registry::start(Auth::token(USER, PASS));
    let dst = Registry::start(Auth::basic(USER, PASS));
    let base = Layer::random(10, 32 * 1024);
    let idx = push_index(
        &src,
        "team/app",
        "v1",
        Format::Oci,
        &[("linux", "amd64"), ("linux", "arm64")],
        &[base.clone(), Layer::random(11, 1000)],
    )
    .await
    .unwrap();
    let sig = push_referrer(
        &src,
        "team/app",
        &idx.descriptor,
        "application/vnd.example.sig",
    )
    .await
    .unwrap();
    let fallback = referrers_tag(idx.digest());

    // Nothing there yet.
    assert!(
        check_replicated(&src, &dst, "team/app", "mirror/app", "v1")
            .await
            .is_err()
    );
    assert!(
        check_same_referrers(&src, &dst, "team/app", "mirror/app", idx.digest())
            .await
            .is_err()
    );

    skopeo_copy(&src, &dst, "team/app:v1", "mirror/app:v1");
    assert_replicated(&src, &dst, "team/app", "mirror/app", "v1").await;
    assert!(
        check_same_referrers(&src, &dst, "team/app", "mirror/app", idx.digest())
            .await
            .is_err()
    );
    // skopeo 1.9 refuses this index of artifacts under --preserve-digests: copy raw.
    raw_copy(&src, &dst, "team/app", "mirror/app", sig.digest()).await;
    raw_copy(&src, &dst, "team/app", "mirror/app", &fallback).await;
    assert_same_referrers(&src, &dst, "team/app", "mirror/app", idx.digest()).await;
    assert_replicated(&src, &dst, "team/app", "mirror/app", &fallback).await;
    assert_eq!(
        manifest_digest(&dst, "mirror/app", sig.digest())
            .await
            .unwrap()
            .as_deref(),
        Some(sig.digest())
    );

    // A missing child manifest is caught.
    delete_manifest(&dst, "mirror/app", idx.children[1].digest())
        .await
        .unwrap();
    let err = check_replicated(&src, &dst, "team/app", "mirror/app", "v1")
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains(idx.children[1].digest()),
        "{err:#}"
    );
}

/// A registry that cannot start reports its log; a dropped one stops listening.
#[test]
fn start_failure_and_drop() {
    let err = Registry::try_start(Auth::None, "notifications: [not, a, map]\n")
        .err()
        .expect("bad config must fail");
    assert!(format!("{err:#}").contains("log tail"), "{err:#}");

    let mut reg = Registry::start(Auth::None);
    let addr = reg.host();
    assert!(reg.is_running());
    assert!(std::net::TcpStream::connect(&addr).is_ok());
    reg.stop();
    assert!(!reg.is_running());
    assert!(std::net::TcpStream::connect(&addr).is_err());
    let dir = reg.dir().to_path_buf();
    drop(reg);
    assert!(!dir.exists());
}
