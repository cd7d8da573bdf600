//! Integration-test harness for Ferry.
//!
//! * [`registry`]: real CNCF distribution registries (`docker-registry serve`) on
//!   127.0.0.1, with no auth, htpasswd Basic auth, or token auth.
//! * [`token`]: a distribution-compatible token server (ES256 JWTs with an `x5c` header).
//! * [`image`]: deterministic layers and builders that push images, indexes, artifacts
//!   and referrers.
//! * [`client`]: a small registry client (Basic and Bearer challenges) and assertions
//!   such as [`assert_replicated`].
//! * [`charts`]: a classic Helm chart repository (`index.yaml` + `.tgz`) over HTTP.
//! * [`redis`]: a real `redis-server` on 127.0.0.1, for the existence cache.
//! * [`faults`]: a proxy that injects faults (errors, 429s, resets, stalls,
//!   truncation) between Ferry and a registry, seeded and bounded per URL.
//! * [`link`]: an emulated WAN link (round-trip time, one shared bandwidth) in
//!   front of a server; [`faults::FaultProxy::over`] puts one in front of the proxy.
//! * [`process`]: the child processes those servers run in.
//!
//! Every process and server started here stops when its handle is dropped.
//!
//! ```no_run
//! use ferry_harness::*;
//!
//! # async fn demo() -> anyhow::Result<()> {
//! let src = Registry::start(Auth::token("u", "p"));
//! let dst = Registry::start(Auth::basic("u", "p"));
//! let base = Layer::random(1, 1 << 20);
//! let idx = push_index(&src, "team/app", "v1", Format::Oci,
//!     &[("linux", "amd64"), ("linux", "arm64")], &[base]).await?;
//! push_referrer(&src, "team/app", &idx.descriptor, "application/vnd.example.sig").await?;
//! // ... run `ferry copy` from src.url() to dst.url() ...
//! assert_replicated(&src, &dst, "team/app", "team/app", "v1").await;
//! assert_same_referrers(&src, &dst, "team/app", "team/app", idx.digest()).await;
//! # Ok(()) }
//! ```

pub mod charts;
pub mod client;
pub mod faults;
pub mod ferry;
pub mod image;
pub mod link;
pub mod process;
pub mod redis;
pub mod registry;
pub mod sample;
pub mod server;
pub mod token;

pub use charts::{Chart, ChartRepo, RepoSpec, UrlStyle};
pub use client::{
    AsClient, Client, assert_replicated, assert_same_referrers, catalog, check_replicated,
    check_same_referrers, delete_manifest, fetch_blob_digest, get_manifest, manifest_digest,
    referrers_tag, sha256_digest, tags,
};
pub use ferry::{Run, ferry};
pub use image::{
    Descriptor, Format, Layer, Platform, Pushed, image_config, push_artifact, push_blob,
    push_image, push_index, push_raw_manifest, push_referrer,
};
pub use link::{Link, LinkSpec, SLICE};
pub use redis::RedisServer;
pub use registry::{Auth, Registry, docker_registry_available};
pub use sample::{SAMPLE, push_sample};
pub use server::{Body, PgDatabase, Server};
pub use token::TokenServer;

/// Where `functions/build` installs the functions that are not built in
/// (the test-only fault-injector, the Helm source): a test uploads them, or
/// names this directory with `--functions-dir`.
pub const EXTRA_FUNCTIONS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/functions/extra");

/// The component `name@version` from [`EXTRA_FUNCTIONS`].
pub fn extra_function(reference: &str) -> Vec<u8> {
    let path = format!("{EXTRA_FUNCTIONS}/{reference}.wasm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}; run functions/build"))
}

/// OCI and Docker media types used by the harness.
pub mod media {
    /// Docker v2 schema2 image manifest.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list.
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker gzip'd layer.
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// OCI gzip'd layer.
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// OCI 1.1 empty descriptor media type (blob `{}`).
    pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
    /// Every manifest media type, as sent in `Accept` headers.
    pub const ALL_MANIFESTS: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

    /// True for an OCI index or Docker manifest list.
    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_LIST
    }
}

#[cfg(test)]
mod selftest;
