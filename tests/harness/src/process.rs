//! A server process a test started (a registry, Redis), its output in a log
//! file. Dropping it kills and reaps the process; if the test process dies
//! first (killed, or a timeout), the kernel kills it too.

use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use anyhow::{Context, Result};

pub struct Process {
    child: Option<Child>,
    log_path: PathBuf,
}

impl Process {
    /// Spawns `cmd` with its stdout and stderr appended to `log_path`.
    pub fn spawn(cmd: &mut Command, log_path: PathBuf, what: &str) -> Result<Self> {
        let log = File::create(&log_path)?;
        // SIGKILL when the thread that spawned it ends: a test killed before
        // its drops ran (a timeout, ^C) leaves no server behind. Servers are
        // started by the thread that owns them (a test's own thread, or the
        // benchmark's main thread), which outlives them.
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawning {what}"))?;
        Ok(Self {
            child: Some(child),
            log_path,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The last `lines` lines of the process's output.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The exit status, if the process has exited.
    pub fn exited(&mut self) -> Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(c) => Ok(c.try_wait()?),
            None => Ok(None),
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills and reaps the process (idempotent).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}
