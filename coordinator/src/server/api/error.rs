//! The API's one error type: Harbor's `{"errors":[{"code","message"}]}`
//! with a fitting status. Details go to the log; clients get a clean line.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection, StringRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::engine::TemplateError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Where in the request's text the problem is: (line, column), from 1.
    pub at: Option<(usize, usize)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            at: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            message,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!("{} {}: {}", self.status, self.code, self.message);
        }
        let body = ErrorBody {
            errors: vec![ErrorItem {
                code: self.code.to_string(),
                message: self.message,
                line: self.at.map(|(line, _)| line),
                column: self.at.map(|(_, column)| column),
            }],
        };
        (self.status, Json(body)).into_response()
    }
}

/// Every error response's body, Harbor's shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"errors": [{"code": "NOT_FOUND", "message": "registry 7 not found"}]}))]
pub struct ErrorBody {
    pub errors: Vec<ErrorItem>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorItem {
    /// `BAD_REQUEST` | `UNAUTHORIZED` | `NOT_FOUND` | `CONFLICT` |
    /// `PAYLOAD_TOO_LARGE` | `INTERNAL_SERVER_ERROR` | …
    pub code: String,
    pub message: String,
    /// For a problem in a text body (a template's YAML): its line, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// And its column, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

/// PostgreSQL's SQLSTATE for a character its encoding cannot hold (NUL).
const PG_CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => Self::not_found(format!("{what} not found")),
            StoreError::Conflict { message } => Self::conflict(message),
            StoreError::Invalid { message } => Self::bad_request(message),
            // PostgreSQL's text holds no NUL character (SQLite's does).
            StoreError::Database(sqlx::Error::Database(e))
                if e.code().as_deref() == Some(PG_CHARACTER_NOT_IN_REPERTOIRE) =>
            {
                Self::bad_request(
                    "text may not contain NUL (\\u0000) characters with this server's database",
                )
            }
            other => {
                tracing::error!("store: {other}");
                Self::internal("the database failed; see the server log")
            }
        }
    }
}

impl From<TemplateError> for ApiError {
    fn from(e: TemplateError) -> Self {
        Self {
            at: Some((e.line, e.column)),
            ..Self::bad_request(e.to_string())
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::new(e.status(), "BAD_REQUEST", e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::bad_request(e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        Self::new(e.status(), "BAD_REQUEST", e.body_text())
    }
}

impl From<StringRejection> for ApiError {
    fn from(e: StringRejection) -> Self {
        Self::new(e.status(), "BAD_REQUEST", e.body_text())
    }
}

/// `Path<T>` whose rejections are `ApiError`s.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// A text body whose rejections (not UTF-8, too large) are `ApiError`s.
pub struct ApiText(pub String);

impl<S: Send + Sync> axum::extract::FromRequest<S> for ApiText {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(String::from_request(req, state).await?))
    }
}

/// `Json<T>` whose rejections are `ApiError`s, and whose body is not an
/// array: every body the API reads is an object (serde would also read a
/// struct from an array, by position). Nested structs are kept to objects
/// by `store::object`.
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "BAD_REQUEST",
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), "BAD_REQUEST", e.body_text()))?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "BAD_REQUEST",
                "the body must be a JSON object, not an array",
            ));
        }
        let axum::Json(v) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Self(v))
    }
}

/// `application/json` or `application/*+json`, as axum's `Json` takes.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.split_once('/').is_some_and(|(kind, sub)| {
        kind.eq_ignore_ascii_case("application")
            && (sub.eq_ignore_ascii_case("json") || sub.to_ascii_lowercase().ends_with("+json"))
    })
}

/// An optional JSON body: none without a `Content-Type`.
impl<T, S> axum::extract::OptionalFromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(
        req: axum::extract::Request,
        state: &S,
    ) -> Result<Option<Self>, ApiError> {
        if !req.headers().contains_key(axum::http::header::CONTENT_TYPE) {
            return Ok(None);
        }
        <Self as axum::extract::FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}

/// `Query<T>` whose rejections are `ApiError`s.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

pub type ApiResult<T> = Result<T, ApiError>;
