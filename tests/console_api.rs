//! What the web console stands on, over plain HTTP: its page and assets
//! served by `ferry serve`, sign-in to an HttpOnly SameSite=Strict session
//! cookie, CSRF on the session's writes, sign-out, and the endpoints the
//! console needs (template validation, schedule and namespace previews, the
//! list of every execution).

use ferry_harness::*;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// A request with a cookie (and a CSRF token) but no Bearer token.
async fn with_cookie(
    s: &Server,
    method: Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", s.url))
        .header(COOKIE, cookie);
    if let Some(t) = csrf {
        req = req.header("x-csrf-token", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn sign_in(s: &Server, token: &str) -> (u16, Option<String>, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/session", s.url))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string());
    (status, cookie, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_console_signs_in_to_a_cookie_and_its_writes_need_the_csrf_token() {
    let s = Server::start(FERRY, None, &[]).await.unwrap();

    // A wrong token: 401, no cookie.
    let (status, cookie, body) = sign_in(&s, "not-the-token").await;
    assert_eq!(status, 401, "{body}");
    assert!(cookie.is_none());

    let (status, set, body) = sign_in(&s, server::TOKEN).await;
    assert_eq!(status, 200, "{body}");
    let set = set.expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains(server::TOKEN), "the cookie is not the token");
    let cookie = set.split(';').next().unwrap().to_string();
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    assert!(csrf.len() >= 32, "{body}");

    // Reads with the cookie alone.
    let (status, v) = with_cookie(&s, Method::GET, "/api/v1/registries", &cookie, None, None).await;
    assert_eq!((status, v), (200, json!([])));
    let (status, v) = with_cookie(&s, Method::GET, "/api/v1/session", &cookie, None, None).await;
    assert_eq!(status, 200);
    assert_eq!(v["csrf_token"], csrf.as_str());

    // A write without the CSRF token, or with another: 403, nothing stored.
    let registry = json!({"name": "r", "url": "http://127.0.0.1:1", "insecure": true});
    for token in [None, Some("not-the-csrf-token")] {
        let (status, v) = with_cookie(
            &s,
            Method::POST,
            "/api/v1/registries",
            &cookie,
            token,
            Some(registry.clone()),
        )
        .await;
        assert_eq!(status, 403, "{v}");
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("X-CSRF-Token"),
            "{v}"
        );
    }
    assert_eq!(s.get("/api/v1/registries").await, json!([]));
    let (status, v) = with_cookie(
        &s,
        Method::POST,
        "/api/v1/registries",
        &cookie,
        Some(&csrf),
        Some(registry),
    )
    .await;
    assert_eq!(status, 201, "{v}");

    // A session's rows are in the database by hash, not by cookie value.
    let value = cookie.split_once('=').unwrap().1;
    let db = std::fs::read(s.sqlite_path()).unwrap();
    assert!(
        !db.windows(value.len()).any(|w| w == value.as_bytes()),
        "the cookie itself is not stored"
    );

    // Sign out: needs the CSRF token, ends the session, clears the cookie.
    let (status, _) = with_cookie(&s, Method::DELETE, "/api/v1/session", &cookie, None, None).await;
    assert_eq!(status, 403);
    let resp = reqwest::Client::new()
        .delete(format!("{}/api/v1/session", s.url))
        .header(COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let cleared = resp.headers().get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let (status, _) = with_cookie(&s, Method::GET, "/api/v1/registries", &cookie, None, None).await;
    assert_eq!(status, 401);
    let (status, _) = with_cookie(&s, Method::GET, "/api/v1/session", &cookie, None, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_console_is_served_at_the_root_for_every_app_route() {
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let http = reqwest::Client::new();
    for path in ["/", "/registries", "/executions/7", "/templates/oci-to-oci"] {
        let resp = http.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let h = resp.headers().clone();
        assert_eq!(h[CONTENT_TYPE], "text/html", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        let page = resp.text().await.unwrap();
        assert!(page.contains("/app.js"), "{page}");
    }
    let resp = http.get(format!("{}/app.js", s.url)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()[CONTENT_TYPE], "text/javascript");
    let etag = resp.headers()["etag"].clone();
    assert!(resp.bytes().await.unwrap().len() > 10_000);
    let again = http
        .get(format!("{}/app.js", s.url))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);
    // Nothing is fetched from elsewhere: no absolute URL in the page.
    let page = http.get(&s.url).send().await.unwrap().text().await.unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    // Unknown API paths stay JSON errors.
    let (status, v) = s.call(Method::GET, "/api/v1/nothing-here", None).await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["errors"][0]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn validation_and_previews_answer_what_saving_and_running_would() {
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let builtin = s.get("/api/v1/templates/oci-to-oci").await;
    let yaml = builtin["body"].as_str().unwrap().to_string();

    // Valid: the outline the stage diagram draws, in template order.
    let (status, v) = s
        .call(
            Method::POST,
            "/api/v1/templates/validate",
            Some(Body::Yaml(yaml.clone())),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["name"], "oci-to-oci");
    let stages: Vec<&str> = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "pull-prepare",
            "push-prepare",
            "pull",
            "push",
            "delete",
            "verify"
        ]
    );
    assert_eq!(v["stages"][0]["scope"], "execution");
    assert_eq!(v["stages"][0]["function"], "oci-pull-prepare@0.4.0");
    assert_eq!(v["stages"][3]["scope"], "artifact");
    assert_eq!(v["stages"][3]["concurrency"], 8);
    assert_eq!(v["stages"][4]["operation"], "delete");

    // A mistake: 400 with its line and column; nothing stored.
    let broken = yaml.replace("function: oci-push@0.4.0", "function: oci-push@9.9.9");
    let line = broken
        .lines()
        .position(|l| l.contains("oci-push@9.9.9"))
        .unwrap()
        + 1;
    let (status, v) = s
        .call(
            Method::POST,
            "/api/v1/templates/validate",
            Some(Body::Yaml(broken)),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    let e = &v["errors"][0];
    assert_eq!(e["line"], line, "{v}");
    assert_eq!(e["column"], 15, "{v}");
    assert!(
        e["message"].as_str().unwrap().contains("oci-push@9.9.9"),
        "{v}"
    );
    let versions = s.get("/api/v1/templates/oci-to-oci/versions").await;
    assert_eq!(versions.as_array().unwrap().len(), 1, "{versions}");

    // Cron: the next fire times, UTC; a bad expression says why.
    let v = s
        .get("/api/v1/schedule/preview?cron=0%200%202%20*%20*%20*&count=5")
        .await;
    let next = v["next"].as_array().unwrap();
    assert_eq!(next.len(), 5, "{v}");
    for (i, t) in next.iter().enumerate() {
        let t = t.as_i64().unwrap();
        assert_eq!(t % 86_400_000, 2 * 3_600_000, "{v}");
        if i > 0 {
            assert_eq!(t - next[i - 1].as_i64().unwrap(), 86_400_000);
        }
    }
    let v = s
        .get("/api/v1/schedule/preview?cron=61%20*%20*%20*%20*")
        .await;
    assert_eq!(v["next"], json!([]));
    assert!(v["error"].as_str().unwrap().contains("61"), "{v}");

    // Namespace: where a sample repository lands.
    let v = s
        .get("/api/v1/namespace/preview?repository=library/nginx&namespace=mirror&replace_count=1")
        .await;
    assert_eq!(v, json!({"target": "mirror/nginx"}));
    let v = s
        .get("/api/v1/namespace/preview?repository=library/nginx&namespace=mirror&replace_count=-1")
        .await;
    assert_eq!(v, json!({"target": "mirror/nginx"}));
    let v = s
        .get("/api/v1/namespace/preview?repository=library/nginx&namespace=mirror&replace_count=0")
        .await;
    assert_eq!(v, json!({"target": "mirror/library/nginx"}));
    let v = s
        .get("/api/v1/namespace/preview?repository=nginx&namespace=mirror&replace_count=3")
        .await;
    assert!(v["error"].as_str().unwrap().contains("nginx"), "{v}");
}

#[tokio::test]
async fn every_execution_is_listed_filtered_by_policy_and_status() {
    let s = Server::start(FERRY, None, &[]).await.unwrap();
    let mut policies = Vec::new();
    for name in ["a", "b"] {
        let (_, r) = s
            .post_json(
                "/api/v1/registries",
                json!({"name": format!("{name}-src"), "url": "http://127.0.0.1:9", "insecure": true}),
            )
            .await;
        let (status, p) = s
            .post_json(
                "/api/v1/policies",
                json!({"name": name, "src_registry": {"id": r["id"]}, "dest_registry": {"id": r["id"]}}),
            )
            .await;
        assert_eq!(status, 201, "{p}");
        policies.push(p["id"].as_i64().unwrap());
    }
    let mut ids = Vec::new();
    for p in [policies[0], policies[1], policies[1]] {
        let (status, e) = s
            .post_json(&format!("/api/v1/policies/{p}/executions"), json!({}))
            .await;
        assert_eq!(status, 201, "{e}");
        ids.push(e["id"].as_i64().unwrap());
    }
    for id in &ids {
        // Nothing answers at port 9: each fails.
        let done = s
            .wait_execution(*id, std::time::Duration::from_secs(60))
            .await;
        assert_eq!(done["status"], "failed", "{done}");
    }
    let listed = |v: Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };
    let all = s.get("/api/v1/executions").await;
    assert_eq!(listed(all), [ids[2], ids[1], ids[0]]);
    let b = s
        .get(&format!("/api/v1/executions?policy_id={}", policies[1]))
        .await;
    assert_eq!(listed(b), [ids[2], ids[1]]);
    let failed = s.get("/api/v1/executions?status=failed&page_size=1").await;
    assert_eq!(listed(failed), [ids[2]]);
    let none = s.get("/api/v1/executions?status=running").await;
    assert_eq!(listed(none), Vec::<i64>::new());
    let (status, v) = s
        .call(Method::GET, "/api/v1/executions?status=sideways", None)
        .await;
    assert_eq!(status, 400, "{v}");
}
