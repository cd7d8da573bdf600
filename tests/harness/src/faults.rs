//! A fault-injecting HTTP proxy between Ferry and a real registry, optionally
//! reached through an emulated WAN link ([`FaultProxy::over`]).
//!
//! Every request is forwarded to the upstream registry unless a [`Rule`]
//! picks it for a [`Fault`]: an error status, a 429 with `Retry-After`, a
//! connection reset part-way through a body (in either direction), a stall,
//! or a truncated body. Which requests a rule picks is decided by the seed,
//! the rule, and the request's method, path and how many times that URL was
//! asked before, never by the order in which concurrent requests arrive, so
//! a test is repeatable; `per_url` bounds how often one URL is hit, so a
//! client that retries always gets through.
//!
//! The upstream builds its `Location`s from `X-Forwarded-Host`, so uploads
//! continue through the proxy. It runs on its own thread and runtime, and
//! stops when dropped.
//!
//! ```no_run
//! use ferry_harness::faults::{Fault, FaultProxy, Rule};
//! # fn demo(src: &ferry_harness::Registry) {
//! let proxy = FaultProxy::start(&src.url(), 7)
//!     .rule(Rule::new(Fault::Status(503)).chance(0.2).per_url(1));
//! // ... copy from proxy.url() ...
//! assert!(proxy.injected() > 0);
//! # }
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future as _;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use http_body_util::{BodyExt, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Body as _, Frame, Incoming};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use rand::{Rng as _, SeedableRng as _};

use crate::link::{Link, LinkSpec};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Body = UnsyncBoxBody<Bytes, Error>;

/// What a picked request gets instead of a faithful answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer this status (with an empty body) without forwarding.
    Status(u16),
    /// Answer 429 with `Retry-After: <seconds>` without forwarding.
    TooManyRequests { retry_after: u64 },
    /// Forward, then cut the connection after `after` bytes of the answer's
    /// body (the headers, with the full `Content-Length`, went out).
    ResetAnswer { after: u64 },
    /// Forward the request with only `after` bytes of its body, then cut
    /// both connections: the registry sees a body that stops, the client a
    /// reset. With `after: 0` nothing is forwarded: the registry never
    /// hears of the request.
    ResetRequest { after: u64 },
    /// Hold the answer for `duration`: before its headers (`after: None`)
    /// or after that many bytes of its body; then go on.
    Stall {
        after: Option<u64>,
        duration: Duration,
    },
    /// Answer with `Content-Length: after` and only that many bytes of the
    /// real body: a clean, short answer.
    Truncate { after: u64 },
}

/// Which requests get a fault, and how often.
#[derive(Debug, Clone)]
pub struct Rule {
    fault: Fault,
    method: Option<String>,
    path: Option<String>,
    chance: f64,
    per_url: u32,
    total: Option<u32>,
    nth: Option<u64>,
}

impl Rule {
    /// Every request, every time (narrow it with the other methods).
    pub fn new(fault: Fault) -> Self {
        Self {
            fault,
            method: None,
            path: None,
            chance: 1.0,
            per_url: u32::MAX,
            total: None,
            nth: None,
        }
    }

    /// Only the `n`th request (from 1) to each URL (method and path).
    pub fn nth(mut self, n: u64) -> Self {
        self.nth = Some(n);
        self
    }

    /// Only requests with this method (`GET`, `PATCH`, ...).
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only requests whose path (without the query) contains `fragment`.
    pub fn path(mut self, fragment: &str) -> Self {
        self.path = Some(fragment.to_string());
        self
    }

    /// The probability that a matching request is picked (seeded).
    pub fn chance(mut self, chance: f64) -> Self {
        self.chance = chance;
        self
    }

    /// At most this many faults per URL (method and path).
    pub fn per_url(mut self, n: u32) -> Self {
        self.per_url = n;
        self
    }

    /// At most this many faults in all.
    pub fn total(mut self, n: u32) -> Self {
        self.total = Some(n);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self.path.as_deref().is_none_or(|p| path.contains(p))
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The request's `Range` header, if any.
    pub range: Option<String>,
    /// The fault it got, if any.
    pub fault: Option<Fault>,
    /// The status the upstream answered (None: not forwarded, or no answer).
    pub status: Option<u16>,
    /// The upstream answer's `Content-Length`.
    pub length: Option<u64>,
    /// When it arrived, from the proxy's start.
    pub at: Duration,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    /// Requests seen per URL (method and path).
    asked: HashMap<String, u64>,
    /// Faults given per (rule, URL), and per rule.
    given: HashMap<(usize, String), u32>,
    given_total: HashMap<usize, u32>,
    seen: Vec<Seen>,
}

struct Shared {
    started: std::time::Instant,
    /// Requests waiting for their answer's head now, and at most.
    waiting: std::sync::atomic::AtomicUsize,
    most_waiting: std::sync::atomic::AtomicUsize,
    seed: u64,
    upstream: String,
    http: reqwest::Client,
    state: Mutex<State>,
}

impl Shared {
    /// The fault for this request, if a rule picks it; records the request.
    fn pick(
        &self,
        method: &str,
        path: &str,
        query: &str,
        range: Option<String>,
    ) -> (usize, Option<Fault>) {
        let mut st = self.state.lock().unwrap();
        let url = format!("{method} {path}");
        let nth = {
            let n = st.asked.entry(url.clone()).or_default();
            *n += 1;
            *n
        };
        let mut picked = None;
        for (i, rule) in st.rules.iter().enumerate() {
            if !rule.matches(method, path) || rule.nth.is_some_and(|n| n != nth) {
                continue;
            }
            let given = st.given.get(&(i, url.clone())).copied().unwrap_or(0);
            let total = st.given_total.get(&i).copied().unwrap_or(0);
            if given >= rule.per_url || rule.total.is_some_and(|t| total >= t) {
                continue;
            }
            let mut h = DefaultHasher::new();
            (self.seed, i, &url, nth).hash(&mut h);
            let roll: f64 = rand::rngs::StdRng::seed_from_u64(h.finish()).random();
            if roll < rule.chance {
                picked = Some((i, rule.fault.clone()));
                break;
            }
        }
        if let Some((i, _)) = &picked {
            *st.given.entry((*i, url)).or_default() += 1;
            *st.given_total.entry(*i).or_default() += 1;
        }
        let fault = picked.map(|(_, f)| f);
        st.seen.push(Seen {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            range,
            fault: fault.clone(),
            status: None,
            length: None,
            at: self.started.elapsed(),
        });
        (st.seen.len() - 1, fault)
    }

    fn answered(&self, index: usize, status: u16, length: Option<u64>) {
        let seen = &mut self.state.lock().unwrap().seen[index];
        seen.status = Some(status);
        seen.length = length;
    }
}

/// A running fault proxy. Dropping it stops it and joins its thread.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// A link clients reach the proxy through, if any.
    link: Option<Link>,
}

impl FaultProxy {
    /// A proxy on a free 127.0.0.1 port in front of `upstream`
    /// (`http://127.0.0.1:PORT`), with no rules yet.
    pub fn start(upstream: &str, seed: u64) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the fault proxy");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Shared {
            started: std::time::Instant::now(),
            waiting: Default::default(),
            most_waiting: Default::default(),
            seed,
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("proxy client"),
            state: Mutex::default(),
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let served = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || rt.block_on(serve(listener, served, rx)))
            .expect("proxy thread");
        Self {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
            link: None,
        }
    }

    /// Puts an emulated WAN link (delay, one shared bandwidth) between the
    /// clients and the proxy: [`url`](Self::url) is then the link's.
    pub fn over(mut self, spec: LinkSpec) -> Self {
        self.link = Some(Link::start(&self.addr.to_string(), spec));
        self
    }

    /// Adds a rule; earlier rules are asked first, and one fault at most
    /// applies to a request.
    pub fn rule(self, rule: Rule) -> Self {
        self.add(rule);
        self
    }

    /// Adds a rule to a running proxy.
    pub fn add(&self, rule: Rule) {
        self.shared.state.lock().unwrap().rules.push(rule);
    }

    /// Drops every rule: from now on, the proxy is faithful.
    pub fn clear(&self) {
        self.shared.state.lock().unwrap().rules.clear();
    }

    /// `http://127.0.0.1:PORT`: the link's, if there is one.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `127.0.0.1:PORT`: the link's, if there is one.
    pub fn host(&self) -> String {
        match &self.link {
            Some(link) => link.host(),
            None => self.addr.to_string(),
        }
    }

    /// Every request seen so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.state.lock().unwrap().seen.clone()
    }

    /// The most requests that were waiting for their answer's head at once.
    pub fn most_waiting(&self) -> usize {
        self.shared
            .most_waiting
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> usize {
        self.seen().iter().filter(|s| s.fault.is_some()).count()
    }

    /// How many injected faults matched `pred`.
    pub fn injected_where(&self, pred: impl Fn(&Fault) -> bool) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.fault.as_ref().is_some_and(&pred))
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("proxy listener");
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                conns.spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
                    // An error ends the connection: that is how resets are made.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
    conns.abort_all();
}

/// Headers that belong to one connection, not to the message.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "transfer-encoding" | "te" | "trailer" | "upgrade" | "host"
    )
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Error> {
    use std::sync::atomic::Ordering::SeqCst;
    let now = shared.waiting.fetch_add(1, SeqCst) + 1;
    shared.most_waiting.fetch_max(now, SeqCst);
    let answer = forward(&shared, req).await;
    shared.waiting.fetch_sub(1, SeqCst);
    answer
}

async fn forward(shared: &Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Error> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let range = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (index, fault) = shared.pick(&method, &path, &query, range);
    match &fault {
        Some(Fault::Status(s)) => return Ok(empty(*s, &[])),
        // Nothing of the request reaches the registry.
        Some(Fault::ResetRequest { after: 0 }) => return Err("fault: request reset".into()),
        Some(Fault::TooManyRequests { retry_after }) => {
            return Ok(empty(429, &[("retry-after", retry_after.to_string())]));
        }
        Some(Fault::Stall {
            after: None,
            duration,
        }) => tokio::time::sleep(*duration).await,
        _ => {}
    }
    let host = req
        .headers()
        .get(header::HOST)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("127.0.0.1"));
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in req.headers() {
        if !hop_by_hop(k) {
            headers.append(k.clone(), v.clone());
        }
    }
    headers.insert("x-forwarded-host", host);
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    let url = if query.is_empty() {
        format!("{}{path}", shared.upstream)
    } else {
        format!("{}{path}?{query}", shared.upstream)
    };
    let cut_request = match fault {
        Some(Fault::ResetRequest { after }) => Some(after),
        _ => None,
    };
    let (cut_tx, cut_rx) = tokio::sync::oneshot::channel::<()>();
    let body = RequestBody {
        inner: req.into_body(),
        left: cut_request,
        cut: Some(cut_tx),
    };
    let method = reqwest::Method::from_bytes(method.as_bytes())?;
    let upstream = shared
        .http
        .request(method, url)
        .headers(headers)
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let resp = if cut_request.is_some() {
        // The upstream sees the body stop; the client sees its connection go.
        tokio::select! {
            _ = cut_rx => {
                // Let the partial body reach the upstream before hanging up.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err("fault: request reset".into());
            }
            resp = upstream => resp?,
        }
    } else {
        upstream.await?
    };
    let status = resp.status().as_u16();
    shared.answered(index, status, resp.content_length());
    let mut out = Response::builder().status(status);
    let mut length = None;
    for (k, v) in resp.headers() {
        if hop_by_hop(k) {
            continue;
        }
        if k == header::CONTENT_LENGTH {
            length = v.to_str().ok().and_then(|s| s.parse::<u64>().ok());
            continue;
        }
        out = out.header(k, v);
    }
    let mut cut = None;
    match fault {
        Some(Fault::Truncate { after }) => {
            length = Some(length.map_or(after, |l| l.min(after)));
            cut = Some(Cut::End(after));
        }
        Some(Fault::ResetAnswer { after }) => cut = Some(Cut::Reset(after)),
        Some(Fault::Stall {
            after: Some(after),
            duration,
        }) => cut = Some(Cut::Stall(after, duration)),
        _ => {}
    }
    if let Some(l) = length {
        out = out.header(header::CONTENT_LENGTH, l);
    }
    let stream = AnswerBody {
        inner: resp.bytes_stream().boxed(),
        sent: 0,
        cut,
        sleeping: None,
        flushed: false,
        held: None,
    };
    Ok(out.body(BodyExt::boxed_unsync(StreamBody::new(stream)))?)
}

fn empty(status: u16, headers: &[(&str, String)]) -> Response<Body> {
    let mut r = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_LENGTH, 0);
    for (k, v) in headers {
        r = r.header(*k, v);
    }
    r.body(
        http_body_util::Empty::new()
            .map_err(|e: Infallible| match e {})
            .boxed_unsync(),
    )
    .expect("a plain response")
}

/// The client's body on its way upstream, cut after `left` bytes if set.
struct RequestBody {
    inner: Incoming,
    left: Option<u64>,
    cut: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Stream for RequestBody {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.left == Some(0) {
            if let Some(tx) = this.cut.take() {
                let _ = tx.send(());
            }
            return Poll::Ready(Some(Err("fault: request body cut".into())));
        }
        loop {
            let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(f))) => f,
            };
            let Ok(mut data) = frame.into_data() else {
                continue; // trailers
            };
            if let Some(left) = &mut this.left {
                if data.len() as u64 >= *left {
                    data.truncate(*left as usize);
                    *left = 0;
                } else {
                    *left -= data.len() as u64;
                }
            }
            return Poll::Ready(Some(Ok(data)));
        }
    }
}

enum Cut {
    /// End the body cleanly after this many bytes.
    End(u64),
    /// Fail (reset) after this many bytes.
    Reset(u64),
    /// Pause after this many bytes.
    Stall(u64, Duration),
}

/// The upstream's answer on its way to the client, with its fault.
struct AnswerBody {
    inner: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    sent: u64,
    cut: Option<Cut>,
    sleeping: Option<Pin<Box<tokio::time::Sleep>>>,
    flushed: bool,
    /// What a stall held back.
    held: Option<Bytes>,
}

impl Stream for AnswerBody {
    type Item = Result<Frame<Bytes>, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(sleep) = &mut this.sleeping {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleeping = None;
        }
        let limit = match this.cut {
            Some(Cut::End(n) | Cut::Reset(n) | Cut::Stall(n, _)) => Some(n),
            None => None,
        };
        if limit == Some(this.sent) {
            match this.cut.take() {
                Some(Cut::End(_)) => return Poll::Ready(None),
                Some(Cut::Reset(n)) if !this.flushed => {
                    // Let the bytes before the cut reach the client first.
                    this.flushed = true;
                    this.cut = Some(Cut::Reset(n));
                    let mut sleep = Box::pin(tokio::time::sleep(Duration::from_millis(100)));
                    let _ = sleep.as_mut().poll(cx);
                    this.sleeping = Some(sleep);
                    return Poll::Pending;
                }
                Some(Cut::Reset(_)) => {
                    return Poll::Ready(Some(Err("fault: answer reset".into())));
                }
                Some(Cut::Stall(_, d)) => {
                    let mut sleep = Box::pin(tokio::time::sleep(d));
                    if sleep.as_mut().poll(cx).is_pending() {
                        this.sleeping = Some(sleep);
                        return Poll::Pending;
                    }
                }
                None => {}
            }
        }
        if let Some(rest) = this.held.take() {
            this.sent += rest.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(rest))));
        }
        match this.inner.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(Some(Ok(mut data))) => {
                if let Some(n) = limit
                    && this.cut.is_some()
                    && this.sent + data.len() as u64 > n
                {
                    let rest = data.split_off((n - this.sent) as usize);
                    // A stall goes on with the rest; other cuts drop it.
                    if matches!(this.cut, Some(Cut::Stall(..))) {
                        this.held = Some(rest);
                    }
                }
                this.sent += data.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
        }
    }
}
