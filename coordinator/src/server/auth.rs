//! The admin token: `FERRY_ADMIN_TOKEN`, else `<data dir>/admin-token`,
//! generated (and printed once) on first start. Every API call but
//! `/healthz` and the OpenAPI document must carry it as a Bearer token.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng as _;

use super::api::ApiError;

pub const TOKEN_FILE: &str = "admin-token";

/// The token and where it came from.
pub fn load_or_create(data_dir: &Path, from_env: Option<String>) -> anyhow::Result<String> {
    if let Some(t) = from_env.filter(|t| !t.trim().is_empty()) {
        return Ok(t.trim().to_string());
    }
    let path = data_dir.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        Ok(_) => anyhow::bail!(
            "{} is empty: delete it to generate a new token",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token: String = rand::rng()
                .sample_iter(&rand::distr::Alphanumeric)
                .take(40)
                .map(char::from)
                .collect();
            super::files::write_private(&path, token.as_bytes())?;
            eprintln!(
                "ferry: generated an admin token (stored in {}, mode 0600):\n\n    {token}\n\n\
                 Use it as `Authorization: Bearer <token>`; the ferry CLI reads it from that file.",
                path.display()
            );
            Ok(token)
        }
        Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Rejects requests without the right Bearer token, in constant time.
pub async fn require_token(
    State(token): State<Arc<String>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    match bearer(req.headers()) {
        Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => Ok(next.run(req).await),
        Some(_) => Err(ApiError::unauthorized("the token is not valid")),
        None => Err(ApiError::unauthorized(
            "missing `Authorization: Bearer <token>`",
        )),
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
