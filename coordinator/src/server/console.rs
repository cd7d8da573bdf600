//! The web console: a single-page app built from `coordinator/console` (by
//! `npm run build`, which `tests/scripts/setup` runs from the lockfile) and
//! embedded in the binary, so it works with no network and no files beside
//! the binary. Every path outside `/api` and `/healthz` serves an asset, or
//! the app's page for the app's own routes. Its only back end is the API.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "console/dist/"]
#[allow_missing = true]
struct Assets;

/// The page every app route answers with.
const PAGE: &str = "index.html";

/// What a binary built without the console says at `/`.
const NOT_BUILT: &str = "This ferry binary was built without its web console. \
    Run tests/scripts/setup (it builds coordinator/console with npm from its lockfile), \
    then build ferry again. The API is at /api/v1.";

/// CodeMirror styles itself with `<style>` elements: inline styles only;
/// scripts, connections and everything else come from this origin alone.
const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Serves the console's file at `uri`, else its page.
pub async fn asset(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    let Some((name, file)) = Assets::get(path)
        .filter(|_| !path.is_empty())
        .map(|f| (path, f))
        .or_else(|| Assets::get(PAGE).map(|f| (PAGE, f)))
    else {
        return (StatusCode::NOT_FOUND, NOT_BUILT).into_response();
    };
    // Unversioned names: the browser asks again each time, and an ETag
    // makes an unchanged file a 304.
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        file.data.into_owned().into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(file.metadata.mimetype()) {
        h.insert(CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if name == PAGE {
        h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}
