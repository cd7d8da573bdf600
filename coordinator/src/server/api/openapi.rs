//! `/api/v1/openapi.json`: the API's OpenAPI 3.1 document, generated from
//! the handlers' `#[utoipa::path]` attributes and the types' `ToSchema`.
//!
//! A new handler goes in `paths(...)` below (and its types in `schemas`
//! when no operation references them). The Bearer requirement and the
//! errors every protected call may return (401, 500; 400 for path
//! parameters; 400, 415 and 422 for JSON bodies) are added by `Protected`
//! rather than repeated on each handler.

use std::sync::LazyLock;

use axum::Json;
use utoipa::OpenApi as _;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, OpenApi, RefOr, Response, ResponseBuilder, Schema, Type,
};

use super::error::ErrorBody;
use super::executions;
use super::registries::PlainHttp;

/// The name of the Bearer security scheme.
const BEARER: &str = "bearer";
/// The name of a registry's event secret scheme (also Bearer).
const EVENT_SECRET: &str = "event_secret";
/// The name of the console's session cookie scheme.
const SESSION: &str = "session";
/// The document's own path: open, like `/healthz`.
const DOCUMENT: &str = "/api/v1/openapi.json";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Ferry",
        version = env!("CARGO_PKG_VERSION"),
        description = "Ferry's coordinator API: registries, stage functions, process templates, \
                       replication policies and their executions. JSON with Harbor v2.0's field names; \
                       every `/api/v1` call but this document, sign-in and registry notifications needs \
                       `Authorization: Bearer <admin token>` or a web console session.",
    ),
    paths(document),
    components(schemas(ErrorBody, executions::StartInput)),
    tags(
        (name = "registries", description = "Where images come from and go to; credentials are write-only"),
        (name = "functions", description = "Stage functions: WebAssembly components"),
        (name = "templates", description = "Process templates (YAML), versioned"),
        (name = "policies", description = "What to replicate, from where to where, when, and how"),
        (name = "executions", description = "Runs of a policy and their per-artifact tasks"),
        (name = "events", description = "Registry notifications that start executions"),
        (name = "session", description = "The web console's sign-in: a session cookie and a CSRF token"),
        (name = "meta", description = "Health and this document"),
    ),
)]
struct ApiDoc;

/// The document: the routes' own (see `super::api`), with what they share.
static DOC: LazyLock<OpenApi> = LazyLock::new(|| {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::routes_document());
    let modifiers: [&dyn utoipa::Modify; 3] = [&Healthz, &Protected, &PlainHttp];
    for m in modifiers {
        m.modify(&mut doc);
    }
    doc
});

/// The OpenAPI document of the API.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object))
)]
pub async fn document(state: super::AppState) -> super::ApiResult<Json<OpenApi>> {
    // Kinds come and go with templates: the document lists today's.
    let installed = crate::server::kinds::installed(&state.store).await?;
    let names: Vec<serde_json::Value> = installed
        .keys()
        .flat_map(|k| std::iter::once(k.as_str()).chain(k.aliases()))
        .map(serde_json::Value::from)
        .collect();
    let mut doc = DOC.clone();
    // RegistryKind's own schema (its pattern and description), narrowed to
    // the kinds there are.
    if let Some(RefOr::T(Schema::Object(kind))) = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("RegistryKind"))
    {
        kind.enum_values = Some(names);
    }
    Ok(Json(doc))
}

/// `/healthz`, whose handler is a closure in the router.
struct Healthz;

impl utoipa::Modify for Healthz {
    fn modify(&self, doc: &mut OpenApi) {
        let body = ObjectBuilder::new()
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .examples(["ok"]),
            )
            .required("status");
        let op = utoipa::openapi::path::OperationBuilder::new()
            .operation_id(Some("healthz"))
            .tag("meta")
            .summary(Some("Liveness: answers while the server runs"))
            .response(
                "200",
                ResponseBuilder::new()
                    .description("The server is up")
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(body)).build(),
                    ),
            );
        doc.paths
            .add_path_operation("/healthz", vec![utoipa::openapi::HttpMethod::Get], op);
    }
}

/// Declares the Bearer scheme and, on every `/api/v1` operation but the
/// document, requires it and lists the errors any protected call may give.
struct Protected;

impl utoipa::Modify for Protected {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description =
            Some("The admin token (`FERRY_ADMIN_TOKEN`, else `<data dir>/admin-token`)".into());
        components.add_security_scheme(BEARER, SecurityScheme::Http(http));
        let mut secret = Http::new(HttpAuthScheme::Bearer);
        secret.description = Some(
            "The registry's `event_secret`: its notifications carry it, not the admin token".into(),
        );
        components.add_security_scheme(EVENT_SECRET, SecurityScheme::Http(secret));
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::auth::SESSION_COOKIE,
                "A web console session (`POST /api/v1/session`); writes made with it also \
                 carry the session's CSRF token in `X-CSRF-Token`",
            ))),
        );

        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") || path == DOCUMENT {
                continue;
            }
            let ops = [
                (&mut item.get, true),
                (&mut item.head, true),
                (&mut item.options, true),
                (&mut item.trace, true),
                (&mut item.put, false),
                (&mut item.post, false),
                (&mut item.delete, false),
                (&mut item.patch, false),
            ];
            for (op, is_read) in ops {
                if let Some(op) = op {
                    protect(op, is_read);
                }
            }
        }
    }
}

fn protect(op: &mut Operation, is_read: bool) {
    // An operation that names its own scheme (the event endpoint, the
    // session's) keeps it; the others take the token or a console session.
    let mut csrf = false;
    if op.security.is_none() {
        op.security = Some(vec![
            SecurityRequirement::new(BEARER, Vec::<String>::new()),
            SecurityRequirement::new(SESSION, Vec::<String>::new()),
        ]);
        csrf = !is_read;
    }
    // A body read as JSON (`ApiJson`) takes only `application/json`; the
    // event endpoint also takes distribution's media type, and reads bytes.
    let json_body = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.len() == 1 && b.content.contains_key("application/json"));
    let path_params = op
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Path);
    // What a 400 means when the operation does not say it: the extractors'
    // rejections, before the handler runs.
    let bad_request = match (path_params, json_body) {
        (true, true) => Some(
            "A path parameter that does not parse (an id that is not a 64-bit integer), or a body that is not JSON",
        ),
        (true, false) => {
            Some("A path parameter that does not parse (an id that is not a 64-bit integer)")
        }
        (false, true) => Some("The body is not JSON"),
        (false, false) => None,
    };
    let mut extra = vec![
        ("401", "Missing or wrong Bearer token"),
        ("500", "The server failed; see its log"),
    ];
    if csrf {
        extra.push((
            "403",
            "Made with the console's session cookie but without its CSRF token",
        ));
    }
    if let Some(description) = bad_request {
        extra.push(("400", description));
    }
    if json_body {
        extra.push(("415", "The body is not `application/json`"));
        extra.push(("422", "The JSON does not fit the schema"));
    }
    let responses = &mut op.responses.responses;
    for (status, description) in extra {
        if !responses.contains_key(status) {
            responses.insert(status.to_string(), error(description));
        }
    }
    let mut sorted: Vec<_> = std::mem::take(responses).into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    *responses = sorted.into_iter().collect();
}

/// A response with the error body.
fn error(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorBody",
                ))))
                .build(),
        )
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn doc() -> Value {
        serde_json::to_value(&*DOC).unwrap()
    }

    #[test]
    fn every_route_is_documented() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], "Ferry");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        let paths = doc["paths"].as_object().unwrap();
        for (path, methods) in [
            ("/healthz", &["get"][..]),
            ("/api/v1/openapi.json", &["get"]),
            ("/api/v1/registries", &["get", "post"]),
            ("/api/v1/registries/{id}", &["get", "put", "delete"]),
            ("/api/v1/registries/{id}/ping", &["post"]),
            ("/api/v1/kinds", &["get"]),
            ("/api/v1/functions", &["get", "post"]),
            ("/api/v1/functions/{name}/{version}", &["get"]),
            ("/api/v1/templates", &["get", "post"]),
            ("/api/v1/templates/{name}", &["get", "put"]),
            ("/api/v1/templates/{name}/versions", &["get"]),
            ("/api/v1/templates/validate", &["post"]),
            ("/api/v1/schedule/preview", &["get"]),
            ("/api/v1/namespace/preview", &["get"]),
            ("/api/v1/session", &["get", "post", "delete"]),
            ("/api/v1/executions", &["get"]),
            ("/api/v1/policies", &["get", "post"]),
            ("/api/v1/policies/{id}", &["get", "put", "delete"]),
            ("/api/v1/policies/{id}/executions", &["get", "post"]),
            ("/api/v1/executions/{id}", &["get"]),
            ("/api/v1/executions/{id}/stop", &["post"]),
            ("/api/v1/executions/{id}/retry", &["post"]),
            ("/api/v1/executions/{id}/tasks", &["get"]),
            ("/api/v1/registries/{id}/events", &["get", "post"]),
        ] {
            let item = paths
                .get(path)
                .unwrap_or_else(|| panic!("{path} is not documented"));
            let mut have: Vec<_> = item
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            have.sort_unstable();
            let mut want = methods.to_vec();
            want.sort_unstable();
            assert_eq!(have, want, "{path}");
        }
        assert_eq!(paths.len(), 24, "{:?}", paths.keys().collect::<Vec<_>>());
    }

    #[test]
    fn bodies_and_statuses() {
        let doc = doc();
        let op = &doc["paths"]["/api/v1/policies"]["post"];
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/PolicyInput"
        );
        assert_eq!(
            op["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Policy"
        );
        for status in ["400", "401", "409", "415", "422"] {
            assert_eq!(
                op["responses"][status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{status}"
            );
        }
        let template = &doc["paths"]["/api/v1/templates"]["post"];
        assert_eq!(
            template["requestBody"]["content"]["application/yaml"]["schema"]["type"],
            "string"
        );
        assert!(template["responses"]["201"].is_object());
        let upload = &doc["paths"]["/api/v1/functions"]["post"];
        assert!(upload["requestBody"]["content"]["application/wasm"].is_object());
        assert!(upload["responses"]["413"].is_object());
        let params: Vec<_> = upload["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].clone(), p["in"].clone()))
            .collect();
        assert_eq!(
            params,
            [
                ("name".into(), "query".into()),
                ("version".into(), "query".into())
            ]
        );
        for path in [
            "/api/v1/registries/{id}",
            "/api/v1/policies/{id}/executions",
        ] {
            let p = &doc["paths"][path]["get"]["parameters"][0];
            assert_eq!(
                (p["name"].as_str(), p["in"].as_str()),
                (Some("id"), Some("path")),
                "{path}"
            );
        }
        let errors = &doc["components"]["schemas"]["ErrorBody"];
        assert_eq!(
            errors["properties"]["errors"]["items"]["$ref"],
            "#/components/schemas/ErrorItem"
        );
        let item = &doc["components"]["schemas"]["ErrorItem"]["properties"];
        assert!(item["code"].is_object() && item["message"].is_object());
    }

    #[test]
    fn registry_has_no_secret() {
        let doc = doc();
        let registry = &doc["components"]["schemas"]["Registry"]["properties"];
        assert!(registry.is_object());
        assert!(registry.get("access_secret").is_none());
        assert!(registry.get("credential").is_none());
        assert!(registry.get("type").is_some());
        assert!(
            doc["components"]["schemas"]["CredentialInput"]["properties"]["access_secret"]["writeOnly"]
                == true
        );
    }

    #[test]
    fn the_token_or_a_session_everywhere_but_the_open_endpoints() {
        let doc = doc();
        assert_eq!(doc["components"]["securitySchemes"][BEARER]["type"], "http");
        assert_eq!(
            doc["components"]["securitySchemes"][SESSION]["in"],
            "cookie"
        );
        assert_eq!(
            doc["components"]["securitySchemes"][BEARER]["scheme"],
            "bearer"
        );
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let open = path == "/healthz" || path == DOCUMENT;
                assert_eq!(op.get("security").is_none(), open, "{method} {path}");
                if !open {
                    // A registry's notifications carry its event secret;
                    // the session's own operations need none (sign-in) or
                    // the cookie they read; the rest take the token or a
                    // console session, whose writes may then get a 403.
                    let security = if path.ends_with("/events") && method == "post" {
                        serde_json::json!([{EVENT_SECRET: []}])
                    } else if path == "/api/v1/session" {
                        serde_json::json!([{}])
                    } else {
                        serde_json::json!([{BEARER: []}, {SESSION: []}])
                    };
                    assert_eq!(op["security"], security, "{method} {path}");
                    assert!(op["responses"]["401"].is_object(), "{method} {path}");
                    let csrf = op["responses"]["403"].is_object();
                    let write = method != "get";
                    let session_checked = path != "/api/v1/session" || method == "delete";
                    let via_cookie = !path.ends_with("/events") || method == "get";
                    assert_eq!(
                        csrf,
                        write && session_checked && via_cookie,
                        "403 on {method} {path}"
                    );
                }
            }
        }
        assert!(doc.get("security").is_none());
    }

    #[test]
    fn malformed_path_parameters_are_declared() {
        let doc = doc();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let in_path = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path"));
                if in_path {
                    assert!(op["responses"]["400"].is_object(), "{method} {path}");
                }
            }
        }
        // The event endpoint reads bytes: no 415 or 422 from a JSON extractor.
        let receive = &doc["paths"]["/api/v1/registries/{id}/events"]["post"]["responses"];
        assert!(receive["400"].is_object() && receive["401"].is_object());
        assert!(receive.get("415").is_none() && receive.get("422").is_none());
        let start = &doc["paths"]["/api/v1/policies/{id}/executions"]["post"]["responses"];
        for status in ["400", "415", "422"] {
            assert!(start[status].is_object(), "{status}");
        }
    }

    /// The characters of a pattern's single bracketed class (`\t`, `\r`,
    /// `\xHH`, `\uHHHH`, literals and ranges).
    fn class(pattern: &str) -> (bool, Vec<char>) {
        let inner = pattern
            .strip_prefix('[')
            .unwrap()
            .strip_suffix(']')
            .unwrap();
        let (negated, inner) = match inner.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, inner),
        };
        let mut chars = inner.chars().peekable();
        let mut atoms = Vec::new();
        while let Some(c) = chars.next() {
            let atom = if c == '\\' {
                let hex = |n: usize, chars: &mut std::iter::Peekable<std::str::Chars>| {
                    let digits: String = (0..n).map(|_| chars.next().unwrap()).collect();
                    char::from_u32(u32::from_str_radix(&digits, 16).unwrap()).unwrap()
                };
                match chars.next().unwrap() {
                    't' => '\t',
                    'r' => '\r',
                    'x' => hex(2, &mut chars),
                    'u' => hex(4, &mut chars),
                    other => panic!("unexpected escape \\{other}"),
                }
            } else {
                c
            };
            atoms.push(atom);
        }
        let mut set = Vec::new();
        let mut i = 0;
        while i < atoms.len() {
            if i + 2 < atoms.len() && atoms[i + 1] == '-' {
                set.extend(atoms[i]..=atoms[i + 2]);
                i += 3;
            } else {
                set.push(atoms[i]);
                i += 1;
            }
        }
        (negated, set)
    }

    /// "Not blank" in the document is what `str::trim` leaves something of.
    #[test]
    fn not_blank_is_rusts_white_space() {
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        let registry = &schemas["RegistryInput"]["allOf"][0]["properties"];
        let white: Vec<char> = (char::MIN..=char::MAX)
            .filter(|c| c.is_whitespace())
            .collect();
        // A name: something neither white space nor NUL, amid no NUL.
        let name = registry["name"]["pattern"].as_str().unwrap();
        let middle = name
            .strip_prefix("^[^\\x00]*")
            .and_then(|p| p.strip_suffix("[^\\x00]*$"))
            .unwrap();
        let (negated, mut set) = class(middle);
        assert!(negated);
        set.sort_unstable();
        assert_eq!(set, [&['\0'][..], &white].concat());
        assert_eq!(
            schemas["PolicyInput"]["properties"]["name"]["pattern"],
            name
        );
        // An event secret: empty, or 16 characters and more without
        // surrounding white space.
        let secret = registry["event_secret"]["pattern"].as_str().unwrap();
        let edge = secret
            .strip_prefix("^$|^")
            .and_then(|p| p.split_once("[\\s\\S]{14,}"))
            .map(|(first, last)| {
                assert_eq!(format!("{first}$"), last);
                first
            })
            .unwrap();
        let (negated, mut set) = class(edge);
        assert!(negated);
        set.sort_unstable();
        assert_eq!(set, white);
    }

    #[test]
    fn plain_http_needs_insecure() {
        let doc = doc();
        let rule = &doc["components"]["schemas"]["RegistryInput"]["allOf"][1]["anyOf"];
        assert_eq!(
            rule[0]["properties"]["url"]["pattern"],
            "^[Hh][Tt][Tt][Pp][Ss]://"
        );
        assert_eq!(rule[1]["properties"]["insecure"]["enum"], json!([true]));
        assert_eq!(rule[1]["required"], json!(["insecure"]));
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = doc();
        let mut ids = Vec::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                ids.push(op["operationId"].as_str().unwrap().to_string());
            }
        }
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
