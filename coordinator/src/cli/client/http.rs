//! A small client for the coordinator's JSON API under `/api/v1`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

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
    #[error("unexpected answer from {url}: {detail}")]
    Decode { url: String, detail: String },
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

    pub async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ApiError> {
        self.call(Method::GET, self.url(segments, &[]), Body::None)
            .await
    }

    pub async fn get_query<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<T, ApiError> {
        self.call(Method::GET, self.url(segments, query), Body::None)
            .await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &impl Serialize,
    ) -> Result<T, ApiError> {
        self.call(Method::POST, self.url(segments, &[]), json(body))
            .await
    }

    /// A POST that carries no data (actions: ping, stop, retry, run). It
    /// sends `{}` so that handlers that parse a JSON body accept it too.
    pub async fn post_action<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ApiError> {
        self.call(
            Method::POST,
            self.url(segments, &[]),
            Body::Json(Value::Object(Default::default())),
        )
        .await
    }

    pub async fn post_raw<T: DeserializeOwned>(
        &self,
        url: Url,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<T, ApiError> {
        self.call(Method::POST, url, Body::Raw(bytes, content_type))
            .await
    }

    pub async fn put<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &impl Serialize,
    ) -> Result<T, ApiError> {
        self.call(Method::PUT, self.url(segments, &[]), json(body))
            .await
    }

    pub async fn delete<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ApiError> {
        self.call(Method::DELETE, self.url(segments, &[]), Body::None)
            .await
    }

    /// Every item of a list endpoint, following `page`/`page_size` when the
    /// server pages (and stopping when it does not).
    pub async fn list_all(&self, segments: &[&str]) -> Result<Vec<Value>, ApiError> {
        const PAGE_SIZE: usize = 100;
        let mut all: Vec<Value> = Vec::new();
        for page in 1..=1000 {
            let query = [
                ("page", page.to_string()),
                ("page_size", PAGE_SIZE.to_string()),
            ];
            let items: Vec<Value> = self.get_query(segments, &query).await?;
            let n = items.len();
            let mut fresh = 0;
            for item in items {
                let id = item.get("id");
                if id.is_none() || !all.iter().any(|seen| seen.get("id") == id) {
                    all.push(item);
                    fresh += 1;
                }
            }
            if n < PAGE_SIZE || fresh == 0 {
                break;
            }
        }
        Ok(all)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Body<'_>,
    ) -> Result<T, ApiError> {
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
        let text = if text.trim().is_empty() {
            "null"
        } else {
            text.as_str()
        };
        serde_json::from_str(text).map_err(|e| ApiError::Decode {
            url: url.to_string(),
            detail: e.to_string(),
        })
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
