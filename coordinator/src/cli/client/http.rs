//! A small client for the coordinator's JSON API under `/api/v1`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::server::api::{ExecutionDetail, Health};
use crate::store::{Execution, FunctionRow, Policy, Registry, Task, TemplateRow};

/// Why a call failed; the text is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot reach the Ferry server at {0}: is `ferry serve` running?")]
    Unreachable(String),
    #[error("the server refused the token: set FERRY_ADMIN_TOKEN or --token")]
    Unauthorized,
    /// A 4xx/5xx with the server's message.
    #[error("{message}")]
    Status { status: StatusCode, message: String },
    #[error("request to {url} failed: {detail}")]
    Transport { url: String, detail: String },
    /// An answer that is not the model the endpoint serves.
    #[error("unexpected answer from {endpoint}: {detail}")]
    Decode { endpoint: String, detail: String },
}

impl ApiError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Unauthorized => Some(StatusCode::UNAUTHORIZED),
            _ => None,
        }
    }

    /// Worth another try while polling: the server may be restarting.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable(_) | Self::Transport { .. } => true,
            Self::Status { status, .. } => status.is_server_error(),
            _ => false,
        }
    }
}

/// An API model the client reads, named for error messages.
pub trait Model: DeserializeOwned {
    /// One of it: `a registry`.
    const ONE: &'static str;
    /// Several: `registries`.
    const MANY: &'static str;
}

/// A model that list endpoints answer: its id merges their pages.
pub trait Listed: Model {
    fn id(&self) -> i64;
}

macro_rules! models {
    ($($model:ty: $one:literal, $many:literal;)*) => {$(
        impl Model for $model {
            const ONE: &'static str = $one;
            const MANY: &'static str = $many;
        }
    )*};
}

models! {
    Registry: "a registry", "registries";
    Policy: "a policy", "policies";
    Execution: "an execution", "executions";
    ExecutionDetail: "an execution", "executions";
    Task: "a task", "tasks";
    FunctionRow: "a function", "functions";
    TemplateRow: "a template", "templates";
    Health: "a ping answer ({status, message})", "ping answers";
}

macro_rules! listed {
    ($($model:ty),*) => {$(
        impl Listed for $model {
            fn id(&self) -> i64 {
                self.id
            }
        }
    )*};
}

listed!(Registry, Policy, Task, FunctionRow);

/// What an endpoint answered: its JSON as it came (what `--output json`
/// prints), decoded into the API's models on demand.
#[derive(Debug)]
pub struct Reply {
    /// `GET http://.../api/v1/...`, for errors.
    endpoint: String,
    pub json: Value,
}

impl Reply {
    pub fn decode<T: Model>(&self) -> Result<T, ApiError> {
        self.decode_as(T::ONE)
    }

    /// An answer that may be empty: none then.
    pub fn decode_opt<T: Model>(&self) -> Result<Option<T>, ApiError> {
        self.decode_as(&format!("{} or nothing", T::ONE))
    }

    /// A list, kept as it came and decoded item by item.
    pub fn decode_list<T: Model>(self) -> Result<Listing<T>, ApiError> {
        let expected = format!("a list of {}", T::MANY);
        let json: Vec<Value> = self.decode_as(&expected)?;
        let items = json
            .iter()
            .enumerate()
            .map(|(i, item)| {
                T::deserialize(item)
                    .map_err(|e| self.error(&format!("expected {expected}: item {i}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Listing { json, items })
    }

    fn decode_as<T: DeserializeOwned>(&self, expected: &str) -> Result<T, ApiError> {
        T::deserialize(&self.json).map_err(|e| self.error(&format!("expected {expected}: {e}")))
    }

    fn error(&self, detail: &str) -> ApiError {
        ApiError::Decode {
            endpoint: self.endpoint.clone(),
            detail: detail.to_string(),
        }
    }
}

/// A list answer: the items as they came, and as models.
#[derive(Debug)]
pub struct Listing<T> {
    pub json: Vec<Value>,
    pub items: Vec<T>,
}

impl<T> Listing<T> {
    /// The items as the server sent them, as one JSON array.
    pub fn to_json(&self) -> Value {
        Value::Array(self.json.clone())
    }
}

pub struct Api {
    base: Url,
    token: String,
    http: reqwest::Client,
}

/// A request body.
pub enum Body<'a> {
    None,
    Json(Value),
    Raw(Vec<u8>, &'a str),
}

impl Api {
    pub fn new(server: &str, token: String) -> Result<Self, String> {
        let mut base =
            Url::parse(server).map_err(|e| format!("--server {server:?} is not a URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(format!("--server {server:?} is not an http(s) URL"));
        }
        base.set_query(None);
        base.set_fragment(None);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self { base, token, http })
    }

    /// `{base}/api/v1/{segments...}?{query}`; segments are percent-encoded.
    pub fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().expect("checked in new");
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    fn server(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_string()
    }

    pub async fn get(&self, segments: &[&str]) -> Result<Reply, ApiError> {
        self.call(Method::GET, self.url(segments, &[]), Body::None)
            .await
    }

    pub async fn get_query(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Reply, ApiError> {
        self.call(Method::GET, self.url(segments, query), Body::None)
            .await
    }

    pub async fn post(&self, segments: &[&str], body: &impl Serialize) -> Result<Reply, ApiError> {
        self.call(Method::POST, self.url(segments, &[]), json(body))
            .await
    }

    /// A POST that carries no data (actions: ping, stop, retry, run). It
    /// sends `{}` so that handlers that parse a JSON body accept it too.
    pub async fn post_action(&self, segments: &[&str]) -> Result<Reply, ApiError> {
        self.call(
            Method::POST,
            self.url(segments, &[]),
            Body::Json(Value::Object(Default::default())),
        )
        .await
    }

    pub async fn post_raw(
        &self,
        url: Url,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<Reply, ApiError> {
        self.call(Method::POST, url, Body::Raw(bytes, content_type))
            .await
    }

    pub async fn put(&self, segments: &[&str], body: &impl Serialize) -> Result<Reply, ApiError> {
        self.call(Method::PUT, self.url(segments, &[]), json(body))
            .await
    }

    pub async fn delete(&self, segments: &[&str]) -> Result<Reply, ApiError> {
        self.call(Method::DELETE, self.url(segments, &[]), Body::None)
            .await
    }

    /// Every item of a list endpoint, following `page`/`page_size` when the
    /// server pages (and stopping when it does not).
    pub async fn list_all<T: Listed>(&self, segments: &[&str]) -> Result<Listing<T>, ApiError> {
        const PAGE_SIZE: usize = 100;
        let mut all: Listing<T> = Listing {
            json: Vec::new(),
            items: Vec::new(),
        };
        for page in 1..=1000 {
            let query = [
                ("page", page.to_string()),
                ("page_size", PAGE_SIZE.to_string()),
            ];
            let Listing { json, items } =
                self.get_query(segments, &query).await?.decode_list::<T>()?;
            let n = items.len();
            let mut fresh = 0;
            for (raw, item) in json.into_iter().zip(items) {
                if !all.items.iter().any(|seen| seen.id() == item.id()) {
                    all.json.push(raw);
                    all.items.push(item);
                    fresh += 1;
                }
            }
            if n < PAGE_SIZE || fresh == 0 {
                break;
            }
        }
        Ok(all)
    }

    async fn call(&self, method: Method, url: Url, body: Body<'_>) -> Result<Reply, ApiError> {
        let endpoint = format!("{method} {url}");
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, "application/json");
        request = match body {
            Body::None => request,
            Body::Json(v) => request.json(&v),
            Body::Raw(bytes, content_type) => request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes),
        };
        let response = request.send().await.map_err(|e| self.transport(&url, e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.transport(&url, e))?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(ApiError::Unauthorized);
        }
        if !status.is_success() {
            return Err(ApiError::Status {
                status,
                message: error_message(status, &text),
            });
        }
        // An empty answer is `null`: nothing.
        let text = if text.trim().is_empty() {
            "null"
        } else {
            text.as_str()
        };
        let json = serde_json::from_str(text).map_err(|e| ApiError::Decode {
            endpoint: endpoint.clone(),
            detail: format!("expected JSON: {e}"),
        })?;
        Ok(Reply { endpoint, json })
    }

    fn transport(&self, url: &Url, e: reqwest::Error) -> ApiError {
        if e.is_connect() {
            ApiError::Unreachable(self.server())
        } else {
            let mut detail = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                detail.push_str(": ");
                detail.push_str(&s.to_string());
                source = s.source();
            }
            ApiError::Transport {
                url: url.to_string(),
                detail,
            }
        }
    }
}

fn json(body: &impl Serialize) -> Body<'static> {
    Body::Json(serde_json::to_value(body).expect("request bodies serialize"))
}

/// The messages of `{"errors":[{"code","message"}]}`, or the status and a
/// bit of the body when the server said something else.
pub fn error_message(status: StatusCode, body: &str) -> String {
    let parsed: Option<Vec<String>> = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let errors = v.get("errors")?.as_array()?;
        let messages: Vec<String> = errors
            .iter()
            .filter_map(|e| {
                let message = e.get("message").and_then(Value::as_str);
                let code = e.get("code").and_then(Value::as_str);
                match (message, code) {
                    (Some(m), _) if !m.is_empty() => Some(m.to_string()),
                    (_, Some(c)) => Some(c.to_string()),
                    _ => None,
                }
            })
            .collect();
        (!messages.is_empty()).then_some(messages)
    });
    match parsed {
        Some(messages) => messages.join("; "),
        None => {
            let body = body.trim();
            let reason = status.canonical_reason().unwrap_or("");
            if body.is_empty() {
                format!("the server answered {} {reason}", status.as_u16())
            } else {
                let short: String = body.chars().take(300).collect();
                format!("the server answered {} {reason}: {short}", status.as_u16())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_under_api_v1_and_encoded() {
        let api = Api::new("http://h:7117/", "t".into()).unwrap();
        assert_eq!(
            api.url(&["functions", "a b", "1.0"], &[]).as_str(),
            "http://h:7117/api/v1/functions/a%20b/1.0"
        );
        let api = Api::new("http://h:7117/prefix", "t".into()).unwrap();
        assert_eq!(
            api.url(&["functions"], &[("name", "n&x".into())]).as_str(),
            "http://h:7117/prefix/api/v1/functions?name=n%26x"
        );
        assert!(Api::new("ftp://h", "t".into()).is_err());
        assert!(Api::new("not a url", "t".into()).is_err());
    }

    fn reply(json: Value) -> Reply {
        Reply {
            endpoint: "GET http://h/api/v1/x".into(),
            json,
        }
    }

    #[test]
    fn answers_that_are_not_the_model_say_what_was_expected_and_where() {
        let e = reply(serde_json::json!({"id": 1}))
            .decode::<Registry>()
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "unexpected answer from GET http://h/api/v1/x: expected a registry: missing field"
            ),
            "{e}"
        );
        let e = reply(serde_json::json!({"id": 1}))
            .decode_list::<Task>()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(": expected a list of tasks: invalid type: map"),
            "{e}"
        );
        let e = reply(serde_json::json!([{"id": "x"}]))
            .decode_list::<Task>()
            .unwrap_err()
            .to_string();
        assert!(e.contains(": expected a list of tasks: item 0: "), "{e}");
        assert!(matches!(
            reply(Value::Null).decode_opt::<Execution>(),
            Ok(None)
        ));
        let e = reply(Value::Null)
            .decode::<Execution>()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("expected an execution: invalid type: null"),
            "{e}"
        );
    }

    #[test]
    fn server_errors_show_their_messages() {
        let body = r#"{"errors":[{"code":"NOT_FOUND","message":"no policy 7"}]}"#;
        assert_eq!(error_message(StatusCode::NOT_FOUND, body), "no policy 7");
        let body = r#"{"errors":[{"code":"A","message":"one"},{"code":"B","message":""}]}"#;
        assert_eq!(error_message(StatusCode::BAD_REQUEST, body), "one; B");
        assert_eq!(
            error_message(StatusCode::BAD_GATEWAY, ""),
            "the server answered 502 Bad Gateway"
        );
        assert_eq!(
            error_message(StatusCode::INTERNAL_SERVER_ERROR, "boom"),
            "the server answered 500 Internal Server Error: boom"
        );
    }
}
