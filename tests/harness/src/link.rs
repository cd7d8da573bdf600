//! An emulated WAN link in front of a TCP server: a round-trip time and a
//! bandwidth shared by every connection, in userspace (this machine has no
//! netem). It relays bytes, so it carries any protocol, and since HTTP
//! clients send their own `Host`, a registry behind it builds its upload
//! `Location`s with the link's address.
//!
//! The model, per direction of the full-duplex link:
//! - a wire that serializes bytes at the link rate, one queue for all
//!   connections; bytes arrive one-way delay (half the RTT) after they
//!   left the wire;
//! - the queue holds at most one RTT of bytes: a sender waits above that,
//!   as a congestion-controlled TCP sender backs off, rather than drops;
//! - each connection sends at most its window unacknowledged, and an
//!   acknowledgement comes back one-way delay after delivery. The window
//!   starts at 10 segments and grows by what is acknowledged (slow start,
//!   no loss), up to 4 MiB, and starts over after an idle RTO, as Linux
//!   does (`tcp_slow_start_after_idle`);
//! - a new connection's first bytes leave one RTT after it is accepted:
//!   the handshake.
//!
//! It runs on its own thread and runtime, and stops when dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

/// The first window: 10 segments of 1460 bytes (RFC 6928).
const INITIAL_WINDOW: usize = 14_600;
/// The largest window: Linux's default `tcp_wmem` maximum.
const MAX_WINDOW: usize = 4 << 20;
/// The most read from a socket at once.
const PIECE: usize = 64 << 10;
/// Linux's smallest retransmission timeout, which an idle connection
/// outlives before its window starts over.
const MIN_RTO: Duration = Duration::from_millis(200);

/// A link's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSpec {
    /// Round-trip time, both ways' delay together.
    pub rtt: Duration,
    /// Bandwidth of each direction, bits per second.
    pub bits_per_second: u64,
}

impl LinkSpec {
    pub fn new(rtt_ms: u64, mbit: f64) -> Self {
        Self {
            rtt: Duration::from_millis(rtt_ms),
            bits_per_second: (mbit * 1e6) as u64,
        }
    }

    /// Bytes per second in each direction.
    pub fn bytes_per_second(&self) -> f64 {
        self.bits_per_second as f64 / 8.0
    }

    /// The shortest time `bytes` can take to cross: `bytes / rate`.
    pub fn limit(&self, bytes: u64) -> Duration {
        Duration::from_secs_f64(bytes as f64 / self.bytes_per_second())
    }
}

/// What a link carried so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carried {
    /// Bytes from clients to the server.
    pub up: u64,
    /// Bytes from the server to clients.
    pub down: u64,
    pub connections: u64,
}

/// A running link. Dropping it stops it and joins its thread.
pub struct Link {
    addr: SocketAddr,
    spec: LinkSpec,
    counts: Arc<Counts>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Counts {
    up: AtomicU64,
    down: AtomicU64,
    connections: AtomicU64,
    started: Instant,
    /// Bytes delivered each way, per [`SLICE`] since the start.
    slices: Mutex<Vec<u64>>,
}

/// The timeline's resolution.
pub const SLICE: Duration = Duration::from_millis(100);

impl Counts {
    fn delivered(&self, up: bool, bytes: usize) {
        let counter = if up { &self.up } else { &self.down };
        counter.fetch_add(bytes as u64, Ordering::Relaxed);
        let i = (self.started.elapsed().as_micros() / SLICE.as_micros()) as usize;
        let mut slices = self.slices.lock().expect("link counts");
        if slices.len() <= i {
            slices.resize(i + 1, 0);
        }
        slices[i] += bytes as u64;
    }
}

impl Link {
    /// A link on a free 127.0.0.1 port in front of `upstream`
    /// (`http://127.0.0.1:PORT` or `127.0.0.1:PORT`).
    pub fn start(upstream: &str, spec: LinkSpec) -> Self {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("link upstream {upstream}: {e}"));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the link");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("link address");
        let counts = Arc::new(Counts {
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            started: Instant::now(),
            slices: Mutex::default(),
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("link runtime");
        let link = Shared {
            spec,
            up: Wire::new(spec),
            down: Wire::new(spec),
            counts: counts.clone(),
            upstream,
        };
        let thread = std::thread::Builder::new()
            .name(format!("link-{}", addr.port()))
            .spawn(move || rt.block_on(serve(listener, Arc::new(link), rx)))
            .expect("link thread");
        Self {
            addr,
            spec,
            counts,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn spec(&self) -> LinkSpec {
        self.spec
    }

    /// Time since the link started: [`Link::timeline`]'s origin.
    pub fn elapsed(&self) -> Duration {
        self.counts.started.elapsed()
    }

    /// Bytes delivered (both ways) in each [`SLICE`] since the link started.
    pub fn timeline(&self) -> Vec<u64> {
        self.counts.slices.lock().expect("link counts").clone()
    }

    pub fn carried(&self) -> Carried {
        Carried {
            up: self.counts.up.load(Ordering::Relaxed),
            down: self.counts.down.load(Ordering::Relaxed),
            connections: self.counts.connections.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Shared {
    spec: LinkSpec,
    /// Client to server.
    up: Wire,
    /// Server to client.
    down: Wire,
    counts: Arc<Counts>,
    upstream: SocketAddr,
}

/// One direction of the link: a queue drained at the link rate.
struct Wire {
    seconds_per_byte: f64,
    delay: Duration,
    /// The most queued, as time to drain it.
    max_queue: Duration,
    /// When the wire is done with everything queued so far.
    free_at: Mutex<Instant>,
}

impl Wire {
    fn new(spec: LinkSpec) -> Self {
        Self {
            seconds_per_byte: 1.0 / spec.bytes_per_second(),
            delay: spec.rtt / 2,
            max_queue: spec.rtt.max(Duration::from_millis(5)),
            free_at: Mutex::new(Instant::now()),
        }
    }

    /// How long a sender must wait before the queue has room.
    fn backlog(&self) -> Duration {
        let free_at = *self.free_at.lock().expect("wire lock");
        free_at.saturating_duration_since(Instant::now() + self.max_queue)
    }

    /// Queues `len` bytes; answers when they reach the far end.
    fn send(&self, len: usize) -> Instant {
        let mut free_at = self.free_at.lock().expect("wire lock");
        let start = (*free_at).max(Instant::now());
        *free_at = start + Duration::from_secs_f64(len as f64 * self.seconds_per_byte);
        *free_at + self.delay
    }
}

async fn serve(
    listener: std::net::TcpListener,
    link: Arc<Shared>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("link listener");
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                link.counts.connections.fetch_add(1, Ordering::Relaxed);
                conns.spawn(connection(link.clone(), client));
            }
        }
    }
    conns.abort_all();
}

/// Relays one connection both ways until either side is done.
async fn connection(link: Arc<Shared>, client: tokio::net::TcpStream) {
    let accepted = Instant::now();
    let Ok(server) = tokio::net::TcpStream::connect(link.upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let handshake = accepted + link.spec.rtt;
    let up = direction(link.clone(), true, client_read, server_write, handshake);
    let down = direction(link.clone(), false, server_read, client_write, accepted);
    let _ = tokio::join!(up, down);
}

/// A connection's window on one direction.
struct Window {
    state: Mutex<WindowState>,
    acked: Notify,
}

struct WindowState {
    window: usize,
    in_flight: usize,
    last_sent: Instant,
}

/// One direction of one connection: reads what the window and the wire's
/// queue allow, and delivers each piece when the wire says it arrives.
async fn direction(
    link: Arc<Shared>,
    up: bool,
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    not_before: Instant,
) {
    let window = Arc::new(Window {
        state: Mutex::new(WindowState {
            window: INITIAL_WINDOW,
            in_flight: 0,
            last_sent: Instant::now(),
        }),
        acked: Notify::new(),
    });
    let idle_restart = link.spec.rtt + MIN_RTO;
    let (pieces, mut arriving) = mpsc::unbounded_channel::<(Instant, Option<Bytes>)>();
    let delivering = {
        let link = link.clone();
        let window = window.clone();
        async move {
            while let Some((at, piece)) = arriving.recv().await {
                tokio::time::sleep_until(at).await;
                let Some(piece) = piece else {
                    let _ = to.shutdown().await;
                    return;
                };
                // Counted before the write: a reader that got these bytes
                // must see them in `carried()`.
                link.counts.delivered(up, piece.len());
                if to.write_all(&piece).await.is_err() {
                    return;
                }
                // The acknowledgement travels back: the window reopens then.
                let window = window.clone();
                let back = at + link.spec.rtt / 2;
                tokio::spawn(async move {
                    tokio::time::sleep_until(back).await;
                    let mut s = window.state.lock().expect("window lock");
                    s.in_flight -= piece.len();
                    s.window = (s.window + piece.len()).min(MAX_WINDOW);
                    drop(s);
                    window.acked.notify_one();
                });
            }
        }
    };
    let reading = async move {
        tokio::time::sleep_until(not_before).await;
        let wire = if up { &link.up } else { &link.down };
        let mut buf = vec![0u8; PIECE];
        loop {
            let room = loop {
                let acked = window.acked.notified();
                {
                    let mut s = window.state.lock().expect("window lock");
                    if s.in_flight == 0 && s.last_sent.elapsed() > idle_restart {
                        s.window = INITIAL_WINDOW;
                    }
                    if s.window > s.in_flight {
                        break s.window - s.in_flight;
                    }
                }
                acked.await;
            };
            let backlog = wire.backlog();
            if !backlog.is_zero() {
                tokio::time::sleep(backlog).await;
            }
            let n = match from.read(&mut buf[..room.min(PIECE)]).await {
                Ok(0) | Err(_) => {
                    let _ = pieces.send((wire.send(0), None));
                    return;
                }
                Ok(n) => n,
            };
            {
                let mut s = window.state.lock().expect("window lock");
                s.in_flight += n;
                s.last_sent = Instant::now();
            }
            let at = wire.send(n);
            if pieces
                .send((at, Some(Bytes::copy_from_slice(&buf[..n]))))
                .is_err()
            {
                return;
            }
        }
    };
    // Either side ending ends the other once its last piece is delivered.
    tokio::join!(reading, delivering);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    /// A server that answers every byte count it is told with that many bytes.
    fn sink_server() -> (SocketAddr, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            for stream in listener.incoming().take(4) {
                let mut s = stream.unwrap();
                std::thread::spawn(move || {
                    let mut want = [0u8; 8];
                    while s.read_exact(&mut want).is_ok() {
                        let n = u64::from_be_bytes(want) as usize;
                        if s.write_all(&vec![7u8; n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, t)
    }

    fn ask(s: &mut std::net::TcpStream, n: usize) {
        s.write_all(&(n as u64).to_be_bytes()).unwrap();
        let mut got = vec![0u8; n];
        s.read_exact(&mut got).unwrap();
    }

    #[test]
    fn delays_round_trips_and_shares_one_rate() {
        let (server, _t) = sink_server();
        let spec = LinkSpec::new(100, 40.0); // 5 MB/s each way
        let link = Link::start(&server.to_string(), spec);

        // A first small exchange: handshake, request, answer: 2 RTTs.
        let started = std::time::Instant::now();
        let mut a = std::net::TcpStream::connect(link.host()).unwrap();
        ask(&mut a, 100);
        let first = started.elapsed();
        assert!(
            first >= Duration::from_millis(200) && first < Duration::from_millis(400),
            "first exchange took {first:?}"
        );
        // The next on the same connection: one RTT.
        let again = std::time::Instant::now();
        ask(&mut a, 100);
        let second = again.elapsed();
        assert!(
            second >= Duration::from_millis(100) && second < Duration::from_millis(200),
            "second exchange took {second:?}"
        );

        // Two connections pulling 4 MB each share 5 MB/s: at least 1.6 s;
        // slow start and the delay add under a second.
        let b = std::net::TcpStream::connect(link.host()).unwrap();
        let started = std::time::Instant::now();
        let pulls: Vec<_> = [a, b]
            .into_iter()
            .map(|mut s| std::thread::spawn(move || ask(&mut s, 4_000_000)))
            .collect();
        for p in pulls {
            p.join().unwrap();
        }
        let both = started.elapsed();
        let limit = spec.limit(8_000_000);
        assert!(
            both >= limit && both < limit + Duration::from_secs(1),
            "8 MB over a shared 5 MB/s link took {both:?}"
        );
        let carried = link.carried();
        assert_eq!(carried.connections, 2);
        assert_eq!(carried.down, 8_000_200);
        assert_eq!(carried.up, 4 * 8);
    }
}
