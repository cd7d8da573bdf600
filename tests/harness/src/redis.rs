//! A real `redis-server` for tests, on a free 127.0.0.1 port, persisting
//! nothing (`--save '' --appendonly no`), its output in a temp dir.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::process::Process;
use tempfile::TempDir;

/// How long [`RedisServer::start`] waits for `PING` to answer.
pub const START_DEADLINE: Duration = Duration::from_secs(5);
/// Environment variable overriding the server binary (default `redis-server`).
pub const BINARY_ENV: &str = "FERRY_REDIS_SERVER";

fn binary() -> String {
    std::env::var(BINARY_ENV).unwrap_or_else(|_| "redis-server".to_string())
}

/// A running `redis-server` child process. Dropping it kills and reaps the
/// process and removes its temp dir.
pub struct RedisServer {
    // Field order is drop order: process first, then files.
    process: Process,
    port: u16,
    dir: TempDir,
}

impl RedisServer {
    /// Starts a server, panicking with its output if it does not answer
    /// `PING` within [`START_DEADLINE`].
    pub fn start() -> RedisServer {
        Self::try_start().unwrap_or_else(|e| panic!("starting redis-server: {e:#}"))
    }

    /// Starts a server, returning an error (with its output) on failure.
    /// Retries up to 3 times if the chosen port was taken meanwhile.
    pub fn try_start() -> Result<RedisServer> {
        let mut last = None;
        for _ in 0..3 {
            match Self::start_once() {
                Ok(server) => return Ok(server),
                Err(e) if format!("{e:#}").contains("in use") => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("loop ran"))
    }

    fn start_once() -> Result<RedisServer> {
        let dir = tempfile::Builder::new().prefix("ferry-redis-").tempdir()?;
        let port = free_port()?;
        let process = Process::spawn(
            Command::new(binary())
                .args(["--save", "", "--appendonly", "no"])
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .arg("--dir")
                .arg(dir.path()),
            dir.path().join("redis.log"),
            &format!("{} (apt-get install redis-server)", binary()),
        )?;
        let mut server = RedisServer { process, port, dir };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            if let Some(status) = self.process.exited()? {
                bail!(
                    "redis-server exited early ({status}); output:\n{}",
                    self.log_tail(40)
                );
            }
            match ping(self.port) {
                Ok(answer) if answer.starts_with("+PONG") => return Ok(()),
                Ok(answer) => last = format!("PING answered {answer:?}"),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        self.stop();
        bail!(
            "redis-server on port {} not ready after {:?} ({last}); output:\n{}",
            self.port,
            START_DEADLINE,
            self.log_tail(40)
        )
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The temp dir holding the server's output.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of its output.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Kills and reaps the server process (idempotent), as an outage would.
    pub fn stop(&mut self) {
        self.process.stop();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// One inline `PING` over a std socket; returns the first line of the answer.
fn ping(port: u16) -> Result<String> {
    let timeout = Duration::from_millis(500);
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(b"PING\r\n")?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).trim_end().to_string())
}
