//! Real distribution registries (`docker-registry serve`) for tests, over plain HTTP
//! or over HTTPS with a freshly generated self-signed certificate.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::Process;
use tempfile::TempDir;

use crate::client::{AsClient, Client};
use crate::token::TokenServer;

/// How long [`Registry::start`] waits for `GET /v2/` to answer.
pub const START_DEADLINE: Duration = Duration::from_secs(10);
/// File name of a TLS registry's certificate (PEM) in its temp dir.
const CERT_FILE: &str = "tls-cert.pem";
/// Environment variable overriding the registry binary (default `docker-registry`).
pub const BINARY_ENV: &str = "FERRY_DOCKER_REGISTRY";

/// Service name the token-auth registries expect in tokens.
pub const TOKEN_SERVICE: &str = "ferry-test-registry";
/// Issuer the token-auth registries trust.
pub const TOKEN_ISSUER: &str = "ferry-test-issuer";

/// Authentication a test registry requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Anonymous access.
    None,
    /// htpasswd (bcrypt) Basic auth.
    Basic {
        /// User name.
        user: String,
        /// Password.
        pass: String,
    },
    /// Distribution token auth, backed by a [`TokenServer`] owned by the registry.
    Token {
        /// User name accepted by the token server.
        user: String,
        /// Password accepted by the token server.
        pass: String,
    },
}

impl Auth {
    /// Basic auth with the given credentials.
    pub fn basic(user: &str, pass: &str) -> Auth {
        Auth::Basic {
            user: user.into(),
            pass: pass.into(),
        }
    }

    /// Token auth with the given credentials.
    pub fn token(user: &str, pass: &str) -> Auth {
        Auth::Token {
            user: user.into(),
            pass: pass.into(),
        }
    }
}

fn binary() -> String {
    std::env::var(BINARY_ENV).unwrap_or_else(|_| "docker-registry".to_string())
}

/// True when the `docker-registry` binary (or `$FERRY_DOCKER_REGISTRY`) can be run.
pub fn docker_registry_available() -> bool {
    Command::new(binary())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A running `docker-registry serve` child process with its storage in a temp dir.
/// Dropping it kills and reaps the process, stops its token server and removes the dir.
pub struct Registry {
    // Field order is drop order: process first, then the token server, then files.
    process: Process,
    token: Option<TokenServer>,
    port: u16,
    auth: Auth,
    tls: bool,
    dir: TempDir,
}

impl Registry {
    /// Starts a registry, panicking with the registry's log tail if it fails.
    pub fn start(auth: Auth) -> Registry {
        Self::try_start(auth, "").unwrap_or_else(|e| panic!("starting docker-registry: {e:#}"))
    }

    /// Starts a registry whose config gets `extra_yaml` appended at the top level
    /// (e.g. a `notifications:` section); panics on failure.
    pub fn start_with_config(auth: Auth, extra_yaml: &str) -> Registry {
        Self::try_start(auth, extra_yaml)
            .unwrap_or_else(|e| panic!("starting docker-registry: {e:#}"))
    }

    /// Starts a registry served over HTTPS with a self-signed certificate for
    /// `127.0.0.1` (IP SAN); [`Registry::url`] is then `https://127.0.0.1:PORT`.
    /// The certificate is in [`Registry::cert_path`]. Panics on failure.
    pub fn start_tls(auth: Auth) -> Registry {
        Self::try_start_tls(auth, "")
            .unwrap_or_else(|e| panic!("starting docker-registry over TLS: {e:#}"))
    }

    /// Starts a registry, returning an error (including the log tail) on failure.
    /// Retries up to 3 times if the chosen port was taken meanwhile.
    pub fn try_start(auth: Auth, extra_yaml: &str) -> Result<Registry> {
        Self::start_retrying(auth, extra_yaml, false)
    }

    /// Like [`Registry::try_start`], served over HTTPS as in [`Registry::start_tls`].
    pub fn try_start_tls(auth: Auth, extra_yaml: &str) -> Result<Registry> {
        Self::start_retrying(auth, extra_yaml, true)
    }

    /// Starts a plain-HTTP registry on a given port (for examples a person
    /// follows; tests take free ports).
    pub fn try_start_at(port: u16, auth: Auth, extra_yaml: &str) -> Result<Registry> {
        Self::start_once(auth, extra_yaml, false, Some(port))
    }

    fn start_retrying(auth: Auth, extra_yaml: &str, tls: bool) -> Result<Registry> {
        let mut last = None;
        for _ in 0..3 {
            match Self::start_once(auth.clone(), extra_yaml, tls, None) {
                Ok(reg) => return Ok(reg),
                Err(e) if format!("{e:#}").contains("address already in use") => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("loop ran"))
    }

    fn start_once(auth: Auth, extra_yaml: &str, tls: bool, port: Option<u16>) -> Result<Registry> {
        let dir = tempfile::Builder::new()
            .prefix("ferry-registry-")
            .tempdir()?;
        let port = match port {
            Some(p) => p,
            None => free_port()?,
        };
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        let q = |p: &Path| serde_json::to_string(&p.to_string_lossy()).expect("string");

        let mut token = None;
        let auth_yaml = match &auth {
            Auth::None => String::new(),
            Auth::Basic { user, pass } => {
                let htpasswd = dir.path().join("htpasswd");
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, pass])
                    .output()
                    .context("running htpasswd (apt-get install apache2-utils)")?;
                if !out.status.success() {
                    bail!("htpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
                }
                std::fs::write(&htpasswd, &out.stdout)?;
                format!(
                    "auth:\n  htpasswd:\n    realm: ferry-basic-realm\n    path: {}\n",
                    q(&htpasswd)
                )
            }
            Auth::Token { user, pass } => {
                let server = TokenServer::start(user, pass, TOKEN_SERVICE, TOKEN_ISSUER)?;
                let yaml = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    q(Path::new(&server.realm())),
                    TOKEN_SERVICE,
                    TOKEN_ISSUER,
                    q(server.cert_path())
                );
                token = Some(server);
                yaml
            }
        };
        let tls_yaml = if tls {
            let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
                .context("generating a self-signed certificate")?;
            let cert_path = dir.path().join(CERT_FILE);
            let key_path = dir.path().join("tls-key.pem");
            std::fs::write(&cert_path, cert.cert.pem())?;
            std::fs::write(&key_path, cert.signing_key.serialize_pem())?;
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                q(&cert_path),
                q(&key_path)
            )
        } else {
            String::new()
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: ferry-harness-secret\n{tls_yaml}{auth_yaml}{extra_yaml}\n",
            q(&data)
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config)?;

        let process = Process::spawn(
            Command::new(binary()).arg("serve").arg(&config_path),
            dir.path().join("registry.log"),
            &binary(),
        )?;
        let mut reg = Registry {
            process,
            token,
            port,
            auth,
            tls,
            dir,
        };
        reg.wait_ready()?;
        Ok(reg)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        let expected = if self.auth == Auth::None { 200 } else { 401 };
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            if let Some(status) = self.process.exited()? {
                bail!(
                    "docker-registry exited early ({status}); log tail:\n{}",
                    self.log_tail(40)
                );
            }
            let probed = if self.tls {
                probe_tls(self.port)
            } else {
                probe(self.port)
            };
            match probed {
                Ok(code) if code == expected => return Ok(()),
                Ok(code) => last = format!("GET /v2/ answered {code}"),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        bail!(
            "docker-registry on port {} not ready after {:?} ({last}); log tail:\n{}",
            self.port,
            START_DEADLINE,
            self.log_tail(40)
        )
    }

    /// Base URL, `http://127.0.0.1:PORT` (`https://` for [`Registry::start_tls`]).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Whether the registry is served over HTTPS (self-signed).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The PEM certificate of a TLS registry, `None` for plain HTTP.
    pub fn cert_path(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.path().join(CERT_FILE))
    }

    /// `127.0.0.1:PORT`, as used in image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port the registry listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The auth mode this registry was started with.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// `(user, pass)` for Basic or Token auth, `None` for anonymous registries.
    pub fn credentials(&self) -> Option<(String, String)> {
        match &self.auth {
            Auth::None => None,
            Auth::Basic { user, pass } | Auth::Token { user, pass } => {
                Some((user.clone(), pass.clone()))
            }
        }
    }

    /// The token server of a token-auth registry.
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token.as_ref()
    }

    /// The temp dir holding config, storage (`data/`) and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Removes one tag, keeping its manifest and the other tags on it, as a
    /// registry that deletes tags (distribution 3, Harbor) would. This
    /// registry (distribution 2.8) can delete only manifests through its
    /// API, which takes every tag on them along, so the tag's link goes
    /// from storage instead.
    pub fn remove_tag(&self, repo: &str, tag: &str) -> Result<()> {
        let dir = self
            .dir
            .path()
            .join("data/docker/registry/v2/repositories")
            .join(repo)
            .join("_manifests/tags")
            .join(tag);
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))
    }

    /// Path of the registry's combined stdout/stderr log.
    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    /// A mark in the access log: [`Registry::requests_since`] answers what
    /// came after it.
    pub fn log_mark(&self) -> u64 {
        std::fs::metadata(self.process.log_path()).map_or(0, |m| m.len())
    }

    /// The requests the registry answered since `mark`, from its access log:
    /// `(method, path, status)`.
    pub fn requests_since(&self, mark: u64) -> Vec<(String, String, u16)> {
        let text = std::fs::read(self.process.log_path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&text[(mark as usize).min(text.len())..]).into_owned();
        text.lines()
            .filter_map(|line| {
                // 127.0.0.1 - - [date] "HEAD /v2/x/manifests/y HTTP/1.1" 404 91 "" "agent"
                let (_, rest) = line.split_once("] \"")?;
                let (request, rest) = rest.split_once('"')?;
                let mut parts = request.split(' ');
                let method = parts.next()?.to_string();
                let path = parts.next()?.to_string();
                let status = rest.trim_start().split(' ').next()?.parse().ok()?;
                Some((method, path, status))
            })
            .collect()
    }

    /// The last `lines` lines of its output.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// The registry process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Whether the registry process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Kills and reaps the registry process (idempotent). Storage stays until drop.
    pub fn stop(&mut self) {
        self.process.stop();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

impl AsClient for Registry {
    fn client(&self) -> Client {
        Client::new(&self.url(), self.credentials())
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// One plain `GET /v2/` over a std socket; returns the HTTP status code.
fn probe(port: u16) -> Result<u16> {
    let timeout = Duration::from_millis(500);
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf)?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("bad HTTP answer {head:?}"))
}

/// One `GET /v2/` over TLS (self-signed certificate accepted); returns the status code.
/// Runs on its own thread and runtime so it works inside and outside async tests.
fn probe_tls(port: u16) -> Result<u16> {
    std::thread::spawn(move || -> Result<u16> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let http = reqwest::Client::builder()
                .no_proxy()
                .danger_accept_invalid_certs(true)
                .timeout(Duration::from_millis(500))
                .build()?;
            let resp = http
                .get(format!("https://127.0.0.1:{port}/v2/"))
                .send()
                .await?;
            Ok(resp.status().as_u16())
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("TLS probe thread panicked"))?
}
