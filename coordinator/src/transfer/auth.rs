//! Registry auth: Basic, and the distribution spec's Bearer token challenge.
//! Tokens are cached per scope set until shortly before they expire.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::sync::Mutex;

use super::client::Credentials;
use super::error::{Kind, TransferError};

/// What a registry asked for in `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scopes: Vec<String>,
    },
}

/// Parses `Basic realm="x"` or `Bearer realm="..",service="..",scope=".."`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    let realm = params.get("realm")?.clone();
    let scopes = params
        .get("scope")
        .map(|s| {
            s.split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Some(Challenge::Bearer {
        realm,
        service: params.get("service").cloned(),
        scopes,
    })
}

/// `key="value",key2=value2` with commas allowed inside quotes.
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        rest = after.trim_start_matches([',', ' ']);
    }
    out
}

/// The scopes a request needs, derived from its method and path, so that a
/// token can be fetched before the first request instead of after a 401.
pub fn scopes_for(method: &str, path_and_query: &str) -> Vec<String> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    if path == "/v2/_catalog" {
        return vec!["registry:catalog:*".into()];
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Vec::new();
    };
    let name = ["/manifests/", "/blobs/", "/tags/", "/referrers/"]
        .iter()
        .filter_map(|k| rest.rfind(k).map(|i| &rest[..i]))
        .max_by_key(|n| n.len());
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Vec::new();
    };
    let actions = match method {
        "GET" | "HEAD" => "pull",
        "DELETE" => "delete",
        _ => "pull,push",
    };
    let mut scopes = vec![format!("repository:{name}:{actions}")];
    if let Some(from) = query.split('&').find_map(|kv| kv.strip_prefix("from=")) {
        scopes.push(format!("repository:{from}:pull"));
    }
    scopes
}

/// The auth state of one registry: the scheme it asked for, and tokens.
#[derive(Default)]
pub struct Auth {
    scheme: Mutex<Option<Challenge>>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl Auth {
    /// Whether the registry has challenged us yet.
    pub async fn known(&self) -> bool {
        self.scheme.lock().await.is_some()
    }

    pub async fn learn(&self, challenge: Challenge) {
        *self.scheme.lock().await = Some(challenge);
    }

    /// The `Authorization` value for these scopes, if the registry wants one.
    pub async fn header(
        &self,
        http: &reqwest::Client,
        creds: Option<&Credentials>,
        scopes: &[String],
        who: &str,
    ) -> Result<Option<String>, TransferError> {
        let scheme = self.scheme.lock().await.clone();
        match scheme {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(creds.map(basic)),
            Some(Challenge::Bearer {
                realm,
                service,
                scopes: asked,
            }) => {
                let mut all: Vec<String> = scopes.to_vec();
                for s in asked {
                    if !all.contains(&s) {
                        all.push(s);
                    }
                }
                all.sort();
                let key = all.join(" ");
                if let Some((token, until)) = self.tokens.lock().await.get(&key)
                    && Instant::now() < *until
                {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let (token, ttl) =
                    fetch_token(http, creds, &realm, service.as_deref(), &all, who).await?;
                // Renew a little early so a token never expires mid-request.
                let until = Instant::now()
                    + ttl
                        .saturating_sub(Duration::from_secs(10))
                        .max(Duration::from_secs(1));
                self.tokens.lock().await.insert(key, (token.clone(), until));
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }
}

fn basic(c: &Credentials) -> String {
    let raw = format!("{}:{}", c.username, c.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

async fn fetch_token(
    http: &reqwest::Client,
    creds: Option<&Credentials>,
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    who: &str,
) -> Result<(String, Duration), TransferError> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(s) = service {
        query.push(("service", s));
    }
    for s in scopes {
        query.push(("scope", s));
    }
    let mut req = http.get(realm).query(&query);
    if let Some(c) = creds {
        req = req.header(reqwest::header::AUTHORIZATION, basic(c));
    }
    let resp = req.send().await.map_err(|e| {
        TransferError::new(
            Kind::Unavailable,
            format!("{who}: token server {realm} unreachable: {e}"),
        )
    })?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    if status != 200 {
        let mut err =
            TransferError::from_status(status, format!("{who}: token server {realm}"), &body);
        if status == 401 || status == 403 {
            err.kind = Kind::Unauthorized;
        }
        return Err(err);
    }
    let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
        TransferError::new(
            Kind::Unauthorized,
            format!("{who}: token server {realm} answered no token: {e}"),
        )
    })?;
    let token = parsed.token.or(parsed.access_token).ok_or_else(|| {
        TransferError::new(
            Kind::Unauthorized,
            format!("{who}: token server {realm} answered no token"),
        )
    })?;
    // The distribution spec's default lifetime is 60 s.
    Ok((token, Duration::from_secs(parsed.expires_in.unwrap_or(60))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge_with_scope() {
        let c = parse_challenge(
            r#"Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/token".into(),
                service: Some("reg".into()),
                scopes: vec!["repository:a/b:pull,push".into()],
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn derives_scopes_from_paths() {
        assert_eq!(
            scopes_for("GET", "/v2/_catalog?n=100"),
            ["registry:catalog:*"]
        );
        assert_eq!(
            scopes_for("HEAD", "/v2/a/b/c/manifests/v1"),
            ["repository:a/b/c:pull"]
        );
        assert_eq!(
            scopes_for(
                "POST",
                "/v2/team/app/blobs/uploads/?mount=sha256:1&from=base/os"
            ),
            ["repository:team/app:pull,push", "repository:base/os:pull"]
        );
        // A repository named like a keyword still resolves to the longest name.
        assert_eq!(
            scopes_for("GET", "/v2/x/tags/y/tags/list"),
            ["repository:x/tags/y:pull"]
        );
        assert!(scopes_for("GET", "/v2/").is_empty());
    }
}
