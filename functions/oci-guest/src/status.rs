//! HTTP answers a caller did not expect, as WIT errors: the kind says
//! whether to retry, the message what failed, where, and what to check.

use ferry_sdk::errors::error;
use ferry_sdk::{ErrorKind, Role, WitError};

/// The error for an HTTP answer the caller did not expect: what failed and
/// where, the registry's own error envelope, and a hint when one is obvious.
pub fn status_error(role: Role, method: &str, path: &str, status: u16, body: &[u8]) -> WitError {
    let r = role.name();
    let (kind, retryable, hint): (ErrorKind, bool, String) = match status {
        401 => (
            ErrorKind::Unauthorized,
            false,
            format!(
                "the {r} registry refused the credentials: check the credentials of the {r} registry"
            ),
        ),
        403 => (
            ErrorKind::Forbidden,
            false,
            format!(
                "the {r} credentials lack permission here: grant access or use other credentials"
            ),
        ),
        404 => (ErrorKind::NotFound, false, String::new()),
        408 | 429 => (
            ErrorKind::Unavailable,
            true,
            "the registry is throttling or timed out: retry later".into(),
        ),
        500..=599 => (
            ErrorKind::Unavailable,
            true,
            "the registry failed or is unavailable: retry later".into(),
        ),
        413 => (
            ErrorKind::Rejected,
            false,
            "the document is larger than the registry accepts".into(),
        ),
        415 => (
            ErrorKind::Rejected,
            false,
            "the registry does not accept this media type".into(),
        ),
        405 => (
            ErrorKind::Rejected,
            false,
            "the registry does not allow this operation (read-only or unsupported API?)".into(),
        ),
        300..=399 => (ErrorKind::Rejected, false, "unexpected redirect".into()),
        _ => (ErrorKind::Rejected, false, String::new()),
    };
    let mut message = format!("{r} registry: {method} {path} answered {status}");
    let detail = envelope(body);
    if !detail.is_empty() {
        message.push_str(": ");
        message.push_str(&detail);
    }
    if !hint.is_empty() {
        message.push_str(" (");
        message.push_str(&hint);
        message.push(')');
    }
    error(kind, message, retryable)
}

/// The registry's `{"errors":[{"code","message"}]}` envelope as text; else a
/// short excerpt of a textual body; else nothing.
pub fn envelope(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(default)]
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if body.is_empty() {
        return String::new();
    }
    if let Ok(env) = serde_json::from_slice::<Envelope>(body)
        && !env.errors.is_empty()
    {
        return env
            .errors
            .iter()
            .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{} {}", e.code, e.message),
                (false, true) => e.code.clone(),
                _ => e.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    match std::str::from_utf8(body) {
        Ok(text) => {
            let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if flat.chars().count() > 200 {
                format!("{}…", flat.chars().take(200).collect::<String>())
            } else {
                flat
            }
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_statuses() {
        let e = status_error(Role::Source, "GET", "/v2/", 401, b"");
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        assert!(!e.retryable);
        assert!(e.message.contains("source registry: GET /v2/ answered 401"));
        assert!(e.message.contains("check the credentials"));
        assert_eq!(
            status_error(Role::Target, "GET", "/", 403, b"").kind,
            ErrorKind::Forbidden
        );
        assert_eq!(
            status_error(Role::Target, "GET", "/", 404, b"").kind,
            ErrorKind::NotFound
        );
        for s in [429, 500, 502, 503] {
            let e = status_error(Role::Target, "PUT", "/", s, b"");
            assert_eq!(e.kind, ErrorKind::Unavailable);
            assert!(e.retryable);
        }
        for s in [400, 413, 415, 409] {
            let e = status_error(Role::Target, "PUT", "/", s, b"");
            assert_eq!(e.kind, ErrorKind::Rejected);
            assert!(!e.retryable);
        }
    }

    #[test]
    fn reads_envelope() {
        let body = br#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid","detail":{}},{"code":"X","message":""}]}"#;
        let e = status_error(Role::Target, "PUT", "/v2/a/manifests/t", 400, body);
        assert!(
            e.message.contains("MANIFEST_INVALID manifest invalid; X"),
            "{}",
            e.message
        );
        assert_eq!(
            envelope(b"<html>\n  bad   gateway</html>"),
            "<html> bad gateway</html>"
        );
        assert_eq!(envelope(&[0xff, 0xfe]), "");
        assert_eq!(envelope(&[b'x'; 300]).chars().count(), 201);
    }
}
