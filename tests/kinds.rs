//! Registry kinds come from templates: a kind exists while an installed
//! template declares it, and uploading one makes it usable at once.

use std::process::Command;

use ferry_harness::*;
use reqwest::Method;
use serde_json::{Value, json};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// A template for a kind the binary has never heard of. Its stages are the
/// OCI functions: what matters here is what it declares.
const CHARTS: &str = "\
version: 1
name: charts-to-oci
kinds: {source: [chart-repo], target: [distribution], ping: {chart-repo: index.yaml}}
stages:
  - {name: pull-prepare, function: oci-pull-prepare@0.4.0, scope: execution}
  - {name: push, function: oci-push@0.4.0, scope: artifact}
";

async fn registry(s: &Server, name: &str, kind: &str, url: &str) -> (u16, Value) {
    s.post_json(
        "/api/v1/registries",
        json!({"name": name, "url": url, "type": kind, "insecure": true}),
    )
    .await
}

#[tokio::test]
async fn kinds_are_what_installed_templates_serve() {
    let oci = Registry::start(Auth::None);
    let s = Server::start(FERRY, None, &[]).await.unwrap();

    assert_eq!(
        s.get("/api/v1/kinds").await,
        json!([{"name": "distribution", "aliases": ["docker-registry"],
                "source_templates": ["oci-to-oci"], "target_templates": ["oci-to-oci"]}])
    );

    // Unknown and malformed kinds are refused, naming what is available.
    let (status, v) = registry(&s, "charts", "chart-repo", "http://127.0.0.1:1/charts").await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["errors"][0]["message"],
        "type: no installed template serves registries of kind \"chart-repo\"; kinds \
         available: distribution (also docker-registry) (a new kind is its functions and a \
         template declaring it in `kinds`)"
    );
    let (status, v) = registry(&s, "bad", "Chart Repo", "http://127.0.0.1:1").await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("\"Chart Repo\" is not a registry kind"),
        "{v}"
    );

    // Harbor's name for a distribution registry.
    let (status, target) = registry(&s, "oci", "docker-registry", &oci.url()).await;
    assert_eq!(status, 201, "{target}");
    assert_eq!(target["type"], "distribution");
    let target = target["id"].as_i64().unwrap();

    // Upload a template that serves a new kind: usable at once.
    let (status, v) = s
        .call(
            Method::POST,
            "/api/v1/templates",
            Some(Body::Yaml(CHARTS.into())),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let kinds = s.get("/api/v1/kinds").await;
    assert_eq!(
        kinds[0],
        json!({"name": "chart-repo", "aliases": [],
               "source_templates": ["charts-to-oci"], "target_templates": []})
    );
    let doc = s.get("/api/v1/openapi.json").await;
    assert_eq!(
        doc["components"]["schemas"]["RegistryKind"]["enum"],
        json!(["chart-repo", "distribution", "docker-registry"])
    );
    let (status, source) = registry(&s, "charts", "chart-repo", "http://127.0.0.1:1/stable").await;
    assert_eq!(status, 201, "{source}");
    assert_eq!(source["type"], "chart-repo");
    assert_eq!(source["url"], "http://127.0.0.1:1/stable");
    let source = source["id"].as_i64().unwrap();

    // A policy's template must serve its registries' kinds.
    let body = |template: &str| {
        json!({"name": "charts", "src_registry": {"id": source},
               "dest_registry": {"id": target}, "template": template})
    };
    let (status, v) = s.post_json("/api/v1/policies", body("oci-to-oci")).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["errors"][0]["message"],
        "template: oci-to-oci cannot replicate from charts to oci: it reads sources of kind \
         distribution only, and the source is of kind chart-repo"
    );
    let (status, v) = s.post_json("/api/v1/policies", body("charts-to-oci")).await;
    assert_eq!(status, 201, "{v}");

    // A registry cannot change to a kind its policies' templates do not serve.
    let (status, v) = s
        .call(
            Method::PUT,
            &format!("/api/v1/registries/{source}"),
            Some(Body::Json(
                json!({"name": "charts", "url": oci.url(), "insecure": true}),
            )),
        )
        .await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(
        v["errors"][0]["message"],
        format!(
            "type: registry {source} cannot become distribution: template charts-to-oci \
             cannot serve policy \"charts\": it reads sources of kind chart-repo only, and the \
             source is of kind distribution"
        )
    );
    assert_eq!(
        s.get(&format!("/api/v1/registries/{source}")).await["type"],
        "chart-repo"
    );

    // Ping goes where the kind's template says: /v2/ for distribution,
    // index.yaml under the URL's path for the chart repository.
    let (status, v) = s
        .post_json(&format!("/api/v1/registries/{target}/ping"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({"status": "healthy", "message": format!("{}/v2/ answered 200", oci.url())})
    );
    let (status, v) = s
        .post_json(&format!("/api/v1/registries/{source}/ping"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({"status": "unhealthy", "message": "target http://127.0.0.1:1/stable GET \
               /stable/index.yaml: unreachable: tcp connect error"})
    );
}

#[tokio::test]
async fn a_template_must_name_a_kind_on_each_side() {
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let yaml = CHARTS.replace("target: [distribution]", "target: []");
    let (status, v) = s
        .call(Method::POST, "/api/v1/templates", Some(Body::Yaml(yaml)))
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["errors"][0]["message"],
        "template:3:39: kinds.target: name at least one registry kind"
    );
}

#[test]
fn copy_refuses_kinds_its_template_does_not_serve() {
    let out = Command::new(FERRY)
        .args([
            "copy",
            "--insecure",
            "--src-type",
            "chart-repo",
            "http://127.0.0.1:1/stable",
            "http://127.0.0.1:2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: template oci-to-oci cannot copy from a chart-repo to a distribution: it reads \
         sources of kind distribution only, and the source is of kind chart-repo (see \
         --src-type, --dst-type)"
    );
}
