//! Helm charts as OCI artifacts, as `helm push` stores them: what the Helm
//! source's listing and push functions agree on.

/// The media type of a chart archive (the `.tgz`) as an OCI layer.
pub const CHART_CONTENT: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// The media type of a chart's config blob (its metadata as JSON).
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
/// The artifact property in which the listing hands the chart's metadata
/// to the push.
pub const CONFIG_PROPERTY: &str = "helm-config";
