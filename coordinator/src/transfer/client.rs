//! One registry as the host reaches it: its base URL, TLS policy, credentials
//! and auth state. Stages only ever name a role; the host owns the client.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt as _;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, WWW_AUTHENTICATE};
use url::Url;

use super::auth::{Auth, parse_challenge, scopes_for};
use super::error::{Kind, TransferError};
use super::gate::{Admission, Bounds};
use super::idle::{self, Activity};
use super::known::{KnownManifest, KnownTarget, parse_path};
use super::limits::RegistryLimits;
use super::memo::ManifestMemo;
use super::network::{self, Network};
use super::unlisted::Unlisted;
use super::warm::Warm;
use super::{MAX_DOCUMENT_BYTES, sha256_digest};
use crate::domain::RegistryKind;

/// A request body this small still measures a round trip.
const SMALL_BODY: usize = 16 << 10;

/// Which of the policy's registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Source,
    Target,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Source => "source",
            Role::Target => "target",
        })
    }
}

/// A username and password (or token as password). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}:***)", self.username)
    }
}

impl FromStr for Credentials {
    type Err = String;

    /// `user:password`; the password may itself contain `:`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((u, p)) if !u.is_empty() => Ok(Self {
                username: u.into(),
                password: p.into(),
            }),
            _ => Err("credentials must be USER:PASSWORD".into()),
        }
    }
}

/// Why a registry URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("{url}: not a URL: {reason}")]
    NotAUrl { url: String, reason: String },
    /// Plain HTTP was not allowed (the CLI's `--insecure`, the API's
    /// `"insecure": true`).
    #[error("{url}: plain HTTP needs --insecure")]
    PlainHttp { url: String },
    #[error("{url}: scheme {scheme} is not http or https")]
    Scheme { url: String, scheme: String },
    #[error("{url}: no host")]
    NoHost { url: String },
    #[error("{origin}: put credentials in the credential, not in the URL")]
    CredentialsInUrl { origin: String },
}

/// A registry's address and how to talk to it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Scheme, host, port and path (ending in `/`). OCI registries live at
    /// the root (`/v2/...`); others, such as chart repositories, often under
    /// a path, which relative request paths resolve against.
    pub url: Url,
    /// Which adapter functions serve it.
    pub kind: RegistryKind,
    /// Allow plain HTTP and self-signed certificates.
    pub insecure: bool,
    pub credentials: Option<Credentials>,
    /// The registry resource's bounds on Ferry's requests.
    pub bounds: Bounds,
}

impl Endpoint {
    /// `http(s)://host[:port][/path]`, checking that plain HTTP was allowed.
    pub fn new(
        kind: RegistryKind,
        url: &str,
        insecure: bool,
        credentials: Option<Credentials>,
    ) -> Result<Self, EndpointError> {
        let url = Url::parse(url).map_err(|e| EndpointError::NotAUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        match url.scheme() {
            "https" => {}
            "http" if insecure => {}
            "http" => return Err(EndpointError::PlainHttp { url: url.into() }),
            s => {
                return Err(EndpointError::Scheme {
                    scheme: s.to_string(),
                    url: url.into(),
                });
            }
        }
        if url.host_str().is_none() {
            return Err(EndpointError::NoHost { url: url.into() });
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EndpointError::CredentialsInUrl {
                origin: url.origin().ascii_serialization(),
            });
        }
        let mut base = url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", url.path()));
        }
        base.set_query(None);
        base.set_fragment(None);
        Ok(Self {
            url: base,
            kind,
            insecure,
            credentials,
            bounds: Bounds::default(),
        })
    }

    /// The URL without a trailing slash, as stages and reports show it.
    pub fn display_url(&self) -> String {
        self.url.as_str().trim_end_matches('/').to_string()
    }
}

/// A small HTTP request from a stage.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// A small HTTP response for a stage, with the body's digest.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub digest: String,
}

pub struct RegistryClient {
    role: Role,
    endpoint: Endpoint,
    http: reqwest::Client,
    /// Blob bodies' own pool (see [`RegistryClient::streams`]).
    streams: reqwest::Client,
    auth: Auth,
    network: Network,
    /// Bounds on requests to this registry, shared across executions.
    limits: Option<Arc<RegistryLimits>>,
    /// What this registry is known to hold (targets only).
    known: Option<KnownTarget>,
    /// Manifests already read from this registry (sources only).
    memo: Option<ManifestMemo>,
    /// Repositories whose tag list answered 404 since this client was made
    /// (per execution), and what was put there since.
    unlisted: Unlisted,
    /// Connections opened ahead, once, when the registry is far.
    warm: Warm,
}

impl RegistryClient {
    pub fn new(role: Role, endpoint: Endpoint, network: Network) -> Result<Self, TransferError> {
        // No read timeout here: `network.idle_timeout` is enforced per
        // request, counting progress both ways (see `idle`).
        let build = || {
            reqwest::Client::builder()
                .danger_accept_invalid_certs(endpoint.insecure)
                .connect_timeout(Duration::from_secs(10))
                .pool_max_idle_per_host(64)
                .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| TransferError::new(Kind::Internal, format!("HTTP client: {e}")))
        };
        let http = build()?;
        let streams = build()?;
        Ok(Self {
            role,
            endpoint,
            http,
            streams,
            auth: Auth::default(),
            network,
            limits: None,
            known: None,
            memo: (role == Role::Source).then(ManifestMemo::default),
            unlisted: Unlisted::default(),
            warm: Warm::default(),
        })
    }

    /// Shares the process's bounds on requests to this registry.
    pub fn with_limits(mut self, limits: Arc<RegistryLimits>) -> Self {
        self.limits = Some(limits);
        self
    }

    /// For a policy that overrides the target's tags: a tag `HEAD` into a
    /// repository the listing found absent is answered 404 without asking
    /// (see `Unlisted`).
    pub fn overriding_tags(mut self, overriding: bool) -> Self {
        self.unlisted = Unlisted::new(overriding);
        self
    }

    /// Answers manifest HEADs from, and teaches, the existence cache.
    pub fn with_known(mut self, known: KnownTarget) -> Self {
        self.known = Some(known);
        self
    }

    pub fn limits(&self) -> Option<&Arc<RegistryLimits>> {
        self.limits.as_ref()
    }

    pub fn known(&self) -> Option<&KnownTarget> {
        self.known.as_ref()
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn network(&self) -> &Network {
        &self.network
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// "source http://host:port", for messages.
    pub fn who(&self) -> String {
        format!("{} {}", self.role, self.endpoint.display_url())
    }

    /// Resolves a stage's path against the registry: from its root when it
    /// starts with `/`, else from its URL. Refuses anything that would leave
    /// the registry's origin (absolute URLs, `//host`).
    pub fn url(&self, path: &str) -> Result<Url, TransferError> {
        let bad = || {
            TransferError::new(
                Kind::Invalid,
                format!(
                    "{}: path {path:?} must be a path of this registry, not a URL",
                    self.who()
                ),
            )
        };
        if path.starts_with("//") || Url::parse(path).is_ok() {
            return Err(bad());
        }
        let url = self.endpoint.url.join(path).map_err(|_| bad())?;
        if url.origin() != self.endpoint.url.origin() {
            return Err(bad());
        }
        Ok(url)
    }

    /// Resolves a URL a source names for content (absolute, or relative to
    /// the registry's URL), and says whether it is of the registry's own
    /// origin: only then do its credentials go along. Plain HTTP only for
    /// an insecure registry.
    pub fn foreign_url(&self, url: &str) -> Result<(Url, bool), TransferError> {
        let resolved = self.endpoint.url.join(url).map_err(|e| {
            TransferError::new(
                Kind::Invalid,
                format!("{}: bad content URL {url:?}: {e}", self.who()),
            )
        })?;
        match resolved.scheme() {
            "https" => {}
            "http" if self.endpoint.insecure => {}
            s => {
                return Err(TransferError::new(
                    Kind::Invalid,
                    format!(
                        "{}: content URL {resolved}: scheme {s} is not allowed (https, or http for an insecure registry)",
                        self.who()
                    ),
                ));
            }
        }
        let own = resolved.origin() == self.endpoint.url.origin();
        Ok((resolved, own))
    }

    /// Resolves a `Location` header (absolute or relative) of this registry.
    pub fn location(&self, location: &str) -> Result<Url, TransferError> {
        let url = self.endpoint.url.join(location).map_err(|e| {
            TransferError::new(
                Kind::Rejected,
                format!("{}: bad Location {location:?}: {e}", self.who()),
            )
        })?;
        Ok(url)
    }

    /// Sends a stage's request and reads the (capped) body. A manifest HEAD
    /// may be answered from the existence cache, unless the request says
    /// `Cache-Control: no-cache`; every answer about a manifest teaches it.
    pub async fn send(&self, req: Request) -> Result<Response, TransferError> {
        let method = reqwest::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| {
                TransferError::new(Kind::Invalid, format!("bad HTTP method {:?}", req.method))
            })?;
        let url = self.url(&req.path)?;
        let mut headers = HeaderMap::new();
        for (k, v) in &req.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| TransferError::new(Kind::Invalid, format!("bad header name {k:?}")))?;
            if name == reqwest::header::AUTHORIZATION {
                continue; // the host owns auth
            }
            let value = HeaderValue::from_str(v).map_err(|_| {
                TransferError::new(Kind::Invalid, format!("bad value for header {k}"))
            })?;
            headers.append(name, value);
        }
        let manifest = parse_path(&req.path);
        if let (Some(memo), Some((repo, Some(reference)))) = (&self.memo, manifest)
            && method == reqwest::Method::GET
            && let Some(kept) = memo.take(repo, reference)
        {
            return Ok(kept);
        }
        if let Some((repo, Some(reference))) = manifest
            && method == reqwest::Method::HEAD
            && self.unlisted.lacks(repo, reference)
        {
            return Ok(absent());
        }
        if let (Some(known), Some((repo, Some(reference)))) = (&self.known, manifest)
            && method == reqwest::Method::HEAD
            && !no_cache(&headers)
            && let Some(m) = known.manifest(repo, reference).await
        {
            return Ok(cached_head(&m));
        }
        let answer = self.send_uncached(method.clone(), url, headers, &req).await;
        if let (Some(memo), Some((repo, Some(_))), Ok(resp)) = (&self.memo, manifest, &answer)
            && method == reqwest::Method::GET
        {
            memo.keep(repo, resp);
        }
        // A tag list answering 404: the registry does not know the
        // repository (see `Unlisted`), and what the cache knew of it is
        // stale (a repository wiped behind it).
        if let (Some((repo, None)), Ok(resp)) = (manifest, &answer)
            && resp.status == 404
            && req.path.contains("/tags/list")
        {
            self.unlisted.missing(repo);
            if let Some(known) = &self.known {
                known.forget_repository(repo).await;
            }
        }
        if let (Some((repo, Some(reference))), Ok(resp)) = (manifest, &answer)
            && method == reqwest::Method::PUT
            && matches!(resp.status, 200 | 201)
        {
            self.unlisted
                .put(repo, &[reference, &stored_digest(&req, resp)]);
        }
        if let (Some(known), Some((repo, reference))) = (&self.known, manifest) {
            learn(known, &method, repo, reference, &req, &answer).await;
        }
        answer
    }

    /// Opens connections ahead when the registry is far (see `warm`); not
    /// where the user bounds requests to the registry, which they would
    /// count against.
    pub fn warm(&self) {
        let far = self.limits.as_ref().and_then(|l| l.round_trip.shortest());
        if let Some(far) = far
            && self.endpoint.bounds == Bounds::default()
        {
            self.warm.open(&self.streams, &self.endpoint.url, far);
        }
    }

    /// Whether a tag list of `repository` answered 404 since this client was
    /// made (per execution): the registry did not know the repository then.
    pub fn unknown_repository(&self, repository: &str) -> bool {
        self.unlisted.contains(repository)
    }

    /// Grows the registry's request permits to what its round trip asks.
    fn widen_requests(&self) {
        if let Some(l) = &self.limits
            && let Some(far) = l.round_trip.shortest()
        {
            l.requests.widen(far);
        }
    }

    async fn send_uncached(
        &self,
        method: reqwest::Method,
        url: Url,
        headers: HeaderMap,
        req: &Request,
    ) -> Result<Response, TransferError> {
        let _permit =
            match &self.limits {
                Some(l) => {
                    self.widen_requests();
                    let permit = l.requests.semaphore().acquire().await;
                    Some(permit.map_err(|_| {
                        TransferError::new(Kind::Internal, "registry client shut down")
                    })?)
                }
                None => None,
            };
        let body = req.body.clone().map(Bytes::from);
        let mut retry = 0;
        loop {
            let (resp, admission) = self
                .execute_held(
                    method.clone(),
                    url.clone(),
                    headers.clone(),
                    body.clone(),
                    true,
                )
                .await;
            // A body cut or mangled on the way is asked for again (except
            // after a PATCH, which may have appended).
            let answer = self.read_answer(resp?, &method, &req.path).await;
            drop(admission);
            // The first answers tell how far the registry is: the requests
            // queued behind them need not wait for a later one to widen.
            self.widen_requests();
            match answer {
                Err(e) if e.retryable() && method != reqwest::Method::PATCH => {
                    retry += 1;
                    let Some(wait) = self.network.backoff(retry, None) else {
                        return Err(e);
                    };
                    tracing::warn!("{e}; asking again");
                    tokio::time::sleep(wait).await;
                }
                answer => return answer,
            }
        }
    }

    /// Reads an answer whole. A manifest's body must match its digest: the
    /// one asked for, else the one the registry names.
    async fn read_answer(
        &self,
        resp: reqwest::Response,
        method: &reqwest::Method,
        path: &str,
    ) -> Result<Response, TransferError> {
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = self.read_capped(resp, method, path).await?;
        let digest = sha256_digest(&body);
        if status == 200
            && method == reqwest::Method::GET
            && let Some((_, Some(reference))) = parse_path(path)
        {
            let want = match reference.starts_with("sha256:") {
                true => Some(reference),
                false => header(&headers, "docker-content-digest"),
            };
            if let Some(want) = want.filter(|w| w.starts_with("sha256:"))
                && want != digest
            {
                return Err(TransferError::new(
                    Kind::Unavailable,
                    format!(
                        "{} GET {path}: the body's digest is {digest}, not {want} (cut or changed on the way)",
                        self.who()
                    ),
                ));
            }
        }
        Ok(Response {
            status,
            headers,
            body,
            digest,
        })
    }

    async fn read_capped(
        &self,
        resp: reqwest::Response,
        method: &reqwest::Method,
        path: &str,
    ) -> Result<Vec<u8>, TransferError> {
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        let idle = self.network.idle_timeout;
        loop {
            let next = tokio::time::timeout(idle, stream.next())
                .await
                .map_err(|_| {
                    TransferError::new(
                        Kind::Unavailable,
                        format!(
                            "{} {method} {path}: reading body: nothing for {}",
                            self.who(),
                            humantime::format_duration(idle)
                        ),
                    )
                })?;
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| {
                TransferError::new(
                    Kind::Unavailable,
                    format!("{} {method} {path}: reading body: {e}", self.who()),
                )
            })?;
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(TransferError::new(
                    Kind::Rejected,
                    format!(
                        "{} {method} {path}: body over {} MiB; stages read documents, blobs go through copy-blobs",
                        self.who(),
                        MAX_DOCUMENT_BYTES >> 20
                    ),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Sends a request with auth, retrying what a retry may cure: a
    /// passing status (429, 503, ...) after a backoff or the registry's
    /// `Retry-After`, and a request that got no answer (except a PATCH,
    /// which may have appended). After the last attempt, the last answer
    /// (or failure) is returned. `body` must be replayable.
    pub async fn execute(
        &self,
        method: reqwest::Method,
        url: Url,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<reqwest::Response, TransferError> {
        let (answer, _admission) = self.execute_held(method, url, headers, body, true).await;
        answer
    }

    /// [`Self::execute`] without taking one of the registry's
    /// `max_concurrency` slots (the rate still applies): for a request made
    /// on behalf of one that holds a slot.
    pub async fn execute_unslotted(
        &self,
        method: reqwest::Method,
        url: Url,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<reqwest::Response, TransferError> {
        let (answer, _admission) = self.execute_held(method, url, headers, body, false).await;
        answer
    }

    /// [`Self::execute`], answering also the admission the request holds
    /// at the registry's gate (with a slot if `slot`): kept while its body
    /// is read, it counts toward the registry's `max_concurrency` until
    /// then.
    async fn execute_held(
        &self,
        method: reqwest::Method,
        url: Url,
        headers: HeaderMap,
        body: Option<Bytes>,
        slot: bool,
    ) -> (Result<reqwest::Response, TransferError>, Admission) {
        let mut retry = 0;
        loop {
            let admission = match slot {
                true => self.admit().await,
                false => self.admit_unslotted().await,
            };
            let answer = self
                .execute_once(method.clone(), url.clone(), headers.clone(), body.clone())
                .await;
            if let Ok(resp) = &answer {
                self.saw(resp.status());
            }
            let (asked, why) = match &answer {
                Ok(resp) if network::retryable_status(resp.status()) => (
                    resp.headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(network::retry_after),
                    format!("HTTP {}", resp.status().as_u16()),
                ),
                Err(e) if e.retryable() && method != reqwest::Method::PATCH => {
                    (None, e.message.clone())
                }
                _ => return (answer, admission),
            };
            retry += 1;
            let Some(wait) = self.network.backoff(retry, asked) else {
                return (answer, admission);
            };
            drop(admission);
            tracing::warn!(
                "{} {method} {}: {why}; retry {retry} in {}",
                self.who(),
                url.path(),
                humantime::format_duration(Duration::from_millis(wait.as_millis() as u64))
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Tells the registry's gate what it answered: a 429 slows it down.
    pub fn saw(&self, status: reqwest::StatusCode) {
        if let (reqwest::StatusCode::TOO_MANY_REQUESTS, Some(limits)) = (status, &self.limits) {
            limits.gate.too_many();
        }
    }

    /// A turn at the registry's gate (its resource's bounds): a slot, and
    /// the request's turn at the rate.
    pub async fn admit(&self) -> Admission {
        match &self.limits {
            Some(l) => l.gate.admit(true).await,
            None => Admission::none(),
        }
    }

    /// The request's turn at the registry's rate, without a slot.
    pub async fn admit_unslotted(&self) -> Admission {
        match &self.limits {
            Some(l) => l.gate.admit(false).await,
            None => Admission::none(),
        }
    }

    /// One try: with auth proactively when the scheme is known, and once
    /// more after a 401 challenge.
    async fn execute_once(
        &self,
        method: reqwest::Method,
        url: Url,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<reqwest::Response, TransferError> {
        let path = url_path(&url);
        let scopes = scopes_for(method.as_str(), &path);
        let authz = self.authorization(&scopes).await?;
        let resp = self
            .attempt(
                method.clone(),
                url.clone(),
                headers.clone(),
                body.clone(),
                authz.as_deref(),
            )
            .await?;
        if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let Some(challenge) = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge)
        else {
            return Ok(resp);
        };
        if self.endpoint.credentials.is_none() && challenge == super::auth::Challenge::Basic {
            return Ok(resp); // nothing to offer: the stage sees the 401
        }
        self.auth.learn(challenge).await;
        let authz = self.authorization(&scopes).await?;
        self.attempt(method, url, headers, body, authz.as_deref())
            .await
    }

    /// The `Authorization` header for these scopes, once the registry has
    /// said what it wants (before that, requests go out anonymous).
    pub async fn authorization(&self, scopes: &[String]) -> Result<Option<String>, TransferError> {
        if !self.auth.known().await {
            return Ok(None);
        }
        self.auth
            .header(
                &self.http,
                self.endpoint.credentials.as_ref(),
                scopes,
                &self.who(),
            )
            .await
    }

    async fn attempt(
        &self,
        method: reqwest::Method,
        url: Url,
        headers: HeaderMap,
        body: Option<Bytes>,
        authz: Option<&str>,
    ) -> Result<reqwest::Response, TransferError> {
        let path = url_path(&url);
        let mut req = self.http.request(method.clone(), url).headers(headers);
        if let Some(a) = authz {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let activity = Activity::new();
        // A small request's time to its answer's head is a round trip plus
        // the registry's work: the shortest is the registry's distance.
        let small = body.as_ref().is_none_or(|b| b.len() <= SMALL_BODY);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_LENGTH, b.len())
                .body(idle::tracked_body(b, &activity));
        }
        let idle = self.network.idle_timeout;
        let sent = Instant::now();
        let answer = match idle::watch(req.send(), &activity, idle).await {
            Some(answer) => answer.map_err(|e| self.transport_error(&method, &path, e)),
            None => Err(self.stalled(&method, &path)),
        };
        if let (true, Ok(_), Some(limits)) = (small, &answer, &self.limits) {
            limits.round_trip.saw(sent.elapsed());
        }
        answer
    }

    /// A request that made no progress for the idle timeout.
    pub fn stalled(&self, method: &reqwest::Method, path: &str) -> TransferError {
        TransferError::new(
            Kind::Unavailable,
            format!(
                "{} {method} {path}: stalled: nothing sent or received for {} (the idle timeout)",
                self.who(),
                humantime::format_duration(self.network.idle_timeout)
            ),
        )
    }

    /// A request that got no response: unreachable, reset, timed out.
    pub fn transport_error(
        &self,
        method: &reqwest::Method,
        path: &str,
        e: reqwest::Error,
    ) -> TransferError {
        let cause = std::error::Error::source(&e)
            .and_then(|s| std::error::Error::source(s).or(Some(s)))
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string());
        let what = if cause.contains("certificate") {
            "TLS certificate not trusted (--insecure accepts self-signed certificates)"
        } else if e.is_connect() {
            "unreachable"
        } else if e.is_timeout() {
            "timed out"
        } else {
            "failed"
        };
        TransferError::new(
            Kind::Unavailable,
            format!("{} {method} {path}: {what}: {cause}", self.who()),
        )
    }

    /// The raw client for blob bodies. Its pool is their own: a blob goes
    /// on a connection that carried blobs, whose TCP window grew with them,
    /// never on one that a session `POST` or a `HEAD` left at its first
    /// window. Over a long round trip a small window caps a connection's
    /// rate (a window per round trip), and a new one costs a handshake: the
    /// connections opened ahead (`warm`) are this pool's.
    pub fn streams(&self) -> &reqwest::Client {
        &self.streams
    }
}

fn no_cache(headers: &HeaderMap) -> bool {
    headers
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("no-cache"))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The digest a registry stored a PUT manifest as: what it answered, else
/// the body's.
fn stored_digest(req: &Request, resp: &Response) -> String {
    header(&resp.headers, "docker-content-digest")
        .map(str::to_owned)
        .unwrap_or_else(|| sha256_digest(req.body.as_deref().unwrap_or_default()))
}

/// A manifest HEAD's answer when the manifest is surely absent.
fn absent() -> Response {
    Response {
        status: 404,
        headers: Vec::new(),
        body: Vec::new(),
        digest: sha256_digest(&[]),
    }
}

/// The answer the registry gave last time, as a HEAD answers.
fn cached_head(m: &KnownManifest) -> Response {
    Response {
        status: 200,
        headers: vec![
            ("content-type".into(), m.media_type.clone()),
            ("docker-content-digest".into(), m.digest.clone()),
            ("content-length".into(), m.size.to_string()),
        ],
        body: Vec::new(),
        digest: sha256_digest(&[]),
    }
}

/// What an answer about a repository of the target teaches the cache: a
/// manifest it holds, or that what was known is wrong (a 404 for a known
/// manifest, another digest, any failure), which drops the repository.
async fn learn(
    known: &KnownTarget,
    method: &reqwest::Method,
    repo: &str,
    reference: Option<&str>,
    req: &Request,
    answer: &Result<Response, TransferError>,
) {
    use reqwest::Method;
    let resp = match answer {
        Ok(r) => r,
        Err(_) => return known.forget_repository(repo).await,
    };
    let Some(reference) = reference else {
        // Blobs, uploads, listings: only a failure teaches something (a tag
        // list's 404 is handled in `send`).
        if resp.status >= 400 && resp.status != 404 {
            known.forget_repository(repo).await;
        }
        return;
    };
    let seen = match (method, resp.status) {
        (&Method::HEAD | &Method::GET, 200) => header(&resp.headers, "docker-content-digest")
            .map(str::to_owned)
            .or_else(|| (method == Method::GET).then(|| resp.digest.clone()))
            .map(|digest| KnownManifest {
                digest,
                media_type: header(&resp.headers, "content-type")
                    .unwrap_or_default()
                    .to_string(),
                size: header(&resp.headers, "content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(resp.body.len() as u64),
            }),
        (&Method::PUT, 200 | 201) => {
            let body = req.body.as_deref().unwrap_or_default();
            Some(KnownManifest {
                digest: stored_digest(req, resp),
                media_type: header(&req.headers, "content-type")
                    .unwrap_or_default()
                    .to_string(),
                size: body.len() as u64,
            })
        }
        (&Method::HEAD | &Method::GET, 404) => {
            if known.manifest(repo, reference).await.is_some() {
                known.forget_repository(repo).await;
            }
            return;
        }
        (_, s) if s < 400 && method != Method::DELETE => return,
        _ => return known.forget_repository(repo).await,
    };
    if let Some(m) = seen {
        if known
            .manifest(repo, reference)
            .await
            .is_some_and(|old| old.digest != m.digest)
        {
            known.forget_repository(repo).await;
        }
        known.remember_manifest(repo, reference, &m).await;
    }
}

fn url_path(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str, insecure: bool) -> Result<Endpoint, EndpointError> {
        Endpoint::new(
            RegistryKind::parse("distribution").unwrap(),
            url,
            insecure,
            None,
        )
    }

    #[test]
    fn endpoint_requires_insecure_for_plain_http() {
        assert!(
            endpoint("http://127.0.0.1:5000", false).unwrap_err()
                == EndpointError::PlainHttp {
                    url: "http://127.0.0.1:5000/".into()
                }
        );
        let e = endpoint("http://127.0.0.1:5000/charts", true).unwrap();
        assert_eq!(e.url.as_str(), "http://127.0.0.1:5000/charts/");
        assert_eq!(e.display_url(), "http://127.0.0.1:5000/charts");
        assert!(endpoint("ftp://x", true).is_err());
        assert!(
            endpoint("http://u:p@127.0.0.1:5000", true)
                .unwrap_err()
                .to_string()
                .contains("credential")
        );
    }

    #[test]
    fn paths_cannot_leave_the_registry() {
        let c = RegistryClient::new(
            Role::Source,
            endpoint("http://127.0.0.1:5000/charts/", true).unwrap(),
            Network::default(),
        )
        .unwrap();
        assert_eq!(
            c.url("/v2/a/manifests/b").unwrap().as_str(),
            "http://127.0.0.1:5000/v2/a/manifests/b"
        );
        assert_eq!(
            c.url("index.yaml").unwrap().as_str(),
            "http://127.0.0.1:5000/charts/index.yaml"
        );
        assert!(c.url("//evil:1/v2/").is_err());
        assert!(c.url("http://evil:1/v2/").is_err());
        assert!(c.url("HTTP://127.0.0.1:5000/v2/").is_err());
    }

    #[test]
    fn credentials_parse_and_never_print() {
        let c: Credentials = "bob:pa:ss".parse().unwrap();
        assert_eq!(c.password, "pa:ss");
        assert!(!format!("{c:?}").contains("pa:ss"));
        assert!("nocolon".parse::<Credentials>().is_err());
    }
}
