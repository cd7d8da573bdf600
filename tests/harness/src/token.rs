//! A token server for the distribution registry's `token` auth.
//!
//! It runs an axum server on 127.0.0.1 on a dedicated thread with its own tokio runtime,
//! so it works from `#[test]` and `#[tokio::test]` alike, and stops on drop.
//! `GET /token?service=..&scope=..` with the right Basic credentials returns an ES256 JWT
//! (header `x5c` = the self-signed certificate written to [`TokenServer::cert_path`])
//! granting every requested scope.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Lifetime of issued tokens, in seconds.
pub const TOKEN_TTL_SECS: u64 = 300;

/// A running token server. Dropping it stops the server and joins its thread.
pub struct TokenServer {
    addr: SocketAddr,
    service: String,
    issuer: String,
    cert_path: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _dir: TempDir,
}

struct Shared {
    user: String,
    pass: String,
    service: String,
    issuer: String,
    key: EncodingKey,
    x5c: String,
}

impl TokenServer {
    /// Starts a token server on 127.0.0.1 (free port) accepting only `user`/`pass`,
    /// issuing tokens for audience `service` signed as `issuer`.
    pub fn start(user: &str, pass: &str, service: &str, issuer: &str) -> Result<TokenServer> {
        let dir = tempfile::Builder::new().prefix("ferry-token-").tempdir()?;
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = rcgen::CertificateParams::new(vec!["ferry-token-server".to_string()])?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ferry-token-server");
        let cert = params.self_signed(&key)?;
        let cert_path = dir.path().join("token-cert.pem");
        std::fs::write(&cert_path, cert.pem())?;
        let shared = Arc::new(Shared {
            user: user.to_string(),
            pass: pass.to_string(),
            service: service.to_string(),
            issuer: issuer.to_string(),
            key: EncodingKey::from_ec_pem(key.serialize_pem().as_bytes())
                .context("loading the ES256 key")?,
            x5c: B64.encode(cert.der()),
        });

        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = Router::new().route("/token", get(token)).with_state(shared);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name(format!("token-server-{}", addr.port()))
            .spawn(move || {
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => return eprintln!("token server: {e}"),
                    };
                    let shutdown = async {
                        let _ = rx.await;
                    };
                    if let Err(e) = axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                    {
                        eprintln!("token server: {e}");
                    }
                });
            })?;
        Ok(TokenServer {
            addr,
            service: service.to_string(),
            issuer: issuer.to_string(),
            cert_path,
            shutdown: Some(tx),
            thread: Some(thread),
            _dir: dir,
        })
    }

    /// The realm URL the registry points clients to: `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The service name (JWT audience).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The issuer (JWT `iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// PEM file of the signing certificate, for the registry's `rootcertbundle`.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One `access` entry of a distribution token.
#[derive(Serialize, Debug, PartialEq)]
pub struct Access {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Repository name, or `catalog`.
    pub name: String,
    /// Granted actions, e.g. `pull`, `push`, `*`.
    pub actions: Vec<String>,
}

/// Parses scopes like `repository:a/b:pull,push` and `registry:catalog:*` (several may be
/// space-separated). Malformed entries are skipped.
pub fn parse_scopes(scope: &str) -> Vec<Access> {
    scope
        .split(' ')
        .filter_map(|s| {
            let (kind, rest) = s.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            if kind.is_empty() || name.is_empty() {
                return None;
            }
            Some(Access {
                kind: kind.to_string(),
                name: name.to_string(),
                actions: actions
                    .split(',')
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

#[derive(Serialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: Vec<Access>,
}

#[derive(Serialize)]
struct TokenResponse {
    token: String,
    access_token: String,
    expires_in: u64,
    issued_at: String,
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"ferry-token\"")],
        "unauthorized\n",
    )
        .into_response()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(B64.decode(encoded.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match basic_credentials(&headers) {
        Some((u, p)) if u == shared.user && p == shared.pass => {}
        _ => return unauthorized(),
    }
    let mut access = Vec::new();
    let mut service = shared.service.clone();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "scope" => access.extend(parse_scopes(&v)),
            "service" => service = v.into_owned(),
            _ => {}
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let claims = Claims {
        iss: shared.issuer.clone(),
        sub: shared.user.clone(),
        aud: service,
        exp: now + TOKEN_TTL_SECS,
        nbf: now.saturating_sub(10),
        iat: now.saturating_sub(10),
        jti: format!("{:032x}", rand::random::<u128>()),
        access,
    };
    let mut header = Header::new(Algorithm::ES256);
    header.x5c = Some(vec![shared.x5c.clone()]);
    match jsonwebtoken::encode(&header, &claims, &shared.key) {
        Ok(jwt) => axum::Json(TokenResponse {
            token: jwt.clone(),
            access_token: jwt,
            expires_in: TOKEN_TTL_SECS,
            issued_at: rfc3339(now),
        })
        .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse() {
        let s = parse_scopes("repository:a/b/c:pull,push registry:catalog:*");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "a/b/c");
        assert_eq!(s[0].actions, ["pull", "push"]);
        assert_eq!(s[1].kind, "registry");
        assert_eq!(s[1].actions, ["*"]);
        assert!(parse_scopes("garbage").is_empty());
    }

    #[test]
    fn rfc3339_formats() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_825_600), "2000-02-29T12:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
