//! The admin token: `FERRY_ADMIN_TOKEN`, else `<data dir>/admin-token`,
//! generated (and printed once) on first start. Every API call but
//! `/healthz`, the OpenAPI document, sign-in and registry notifications must
//! carry it as a Bearer token, or come from a signed-in console: its
//! HttpOnly session cookie, and on writes the session's CSRF token in
//! `X-CSRF-Token` (the cookie alone is what a forged cross-site request
//! would carry; SameSite=Strict already keeps it home, this is the second
//! lock).

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng as _;

use super::ApiError;
use crate::store::{Session, Store};

/// The console's session cookie.
pub const SESSION_COOKIE: &str = "ferry_session";
/// The header a session's writes carry its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What protected calls are checked against.
#[derive(Clone)]
pub struct Guard {
    pub token: Arc<String>,
    pub store: Store,
}

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
            let token = random_token(40);
            crate::server::files::write_private(&path, token.as_bytes())?;
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

/// Lets through requests with the right Bearer token, or a live console
/// session (with its CSRF token on writes); rejects the rest.
pub async fn require_auth(
    State(guard): State<Guard>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    match bearer(req.headers()) {
        Some(g) if constant_time_eq(g.as_bytes(), guard.token.as_bytes()) => {
            Ok(next.run(req).await)
        }
        Some(_) => Err(ApiError::unauthorized("the token is not valid")),
        None if session_cookie(req.headers()).is_some() => {
            let write = !req.method().is_safe();
            session(&guard.store, req.headers(), write).await?;
            Ok(next.run(req).await)
        }
        None => Err(ApiError::unauthorized(
            "missing `Authorization: Bearer <token>` (or sign in to the console)",
        )),
    }
}

/// The console session the request's cookie names, with its cookie's
/// hash; for a `write`, the request must also carry the session's CSRF
/// token.
pub async fn session(
    store: &Store,
    headers: &axum::http::HeaderMap,
    write: bool,
) -> Result<(String, Session), ApiError> {
    let cookie = session_cookie(headers)
        .ok_or_else(|| ApiError::unauthorized("no console session: sign in"))?;
    let id_hash = crate::transfer::sha256_digest(cookie.as_bytes());
    let session = store
        .session(&id_hash)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the console session ended: sign in again"))?;
    if write {
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !sent.is_some_and(|s| constant_time_eq(s.as_bytes(), session.csrf_token.as_bytes())) {
            return Err(ApiError::forbidden(
                "a change made with the console's session cookie must carry the session's \
                 CSRF token in the X-CSRF-Token header",
            ));
        }
    }
    Ok((id_hash, session))
}

/// The value of the session cookie, if the request has one.
fn session_cookie(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

/// A random token of `len` URL-safe characters.
pub fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
