//! A small sample registry content for demos: a multi-arch image with a
//! signature, a release candidate, a Docker image, a nested repository.

use anyhow::Result;

use crate::client::AsClient;
use crate::image::{Format, Layer, Pushed, push_image, push_index, push_referrer};

/// Pushes the sample; answers the multi-arch index (it has a referrer).
pub async fn push_sample(reg: &impl AsClient) -> Result<Pushed> {
    let base = Layer::random(1, 2 << 20);
    let app = push_index(
        reg,
        "team/app",
        "v1",
        Format::Oci,
        &[("linux", "amd64"), ("linux", "arm64")],
        &[base.clone(), Layer::random(2, 1 << 20)],
    )
    .await?;
    push_referrer(
        reg,
        "team/app",
        &app.descriptor,
        "application/vnd.example.signature",
    )
    .await?;
    push_image(
        reg,
        "team/app",
        "v2-rc1",
        Format::Oci,
        std::slice::from_ref(&base),
    )
    .await?;
    push_image(
        reg,
        "library/base",
        "3.20",
        Format::Docker,
        std::slice::from_ref(&base),
    )
    .await?;
    push_image(
        reg,
        "a/b/c/tool",
        "1.0",
        Format::Docker,
        &[base, Layer::random(3, 512 << 10)],
    )
    .await?;
    Ok(app)
}

/// What `push_sample` pushed, for messages.
pub const SAMPLE: &str =
    "team/app:v1 (multi-arch + signature), team/app:v2-rc1, library/base:3.20, a/b/c/tool:1.0";
