//! The measured commands, the CPU they cost, and the replica checks.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use ferry_harness::{Registry, check_replicated, manifest_digest};
use futures::{StreamExt, TryStreamExt};

use crate::corpus::Plan;

/// GNU time (Debian package `time`), for a child's peak RSS.
const GNU_TIME: &str = "/usr/bin/time";
/// How often `/proc/PID/status` is read when GNU time is missing.
const RSS_POLL: Duration = Duration::from_millis(20);
/// Replica checks in flight at once.
const VERIFY_CONCURRENCY: usize = 4;

/// The runs' values, as a table shows them: `decimals` places, spaced.
pub fn runs(v: &[f64], decimals: usize) -> String {
    v.iter()
        .map(|x| format!("{x:.decimals$}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Median of `v` (mean of the middle two for an even count); `None` when empty.
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

/// One timed `ferry copy`.
pub struct FerryRun {
    pub secs: f64,
    pub peak_rss_kib: Option<u64>,
    /// User + system CPU seconds (with GNU time only).
    pub cpu_secs: Option<f64>,
}

/// The programs under measurement.
pub struct Tools {
    ferry: PathBuf,
    skopeo: PathBuf,
    timeout: Duration,
    gnu_time: bool,
}

impl Tools {
    pub fn new(ferry: PathBuf, skopeo: PathBuf, timeout: Duration) -> Tools {
        Tools {
            ferry,
            skopeo,
            timeout,
            gnu_time: Path::new(GNU_TIME).is_file(),
        }
    }

    /// `ferry copy --insecure EXTRA... SRC DST`, timed; its peak RSS from GNU time,
    /// or from polling `VmHWM` when GNU time is not installed.
    pub async fn ferry_copy(&self, src: &str, dst: &str, extra: &[&str]) -> Result<FerryRun> {
        let rss_file = tempfile_path("ferry-bench-rss")?;
        let mut cmd = if self.gnu_time {
            let mut c = tokio::process::Command::new(GNU_TIME);
            c.arg("-f").arg("%M %U %S").arg("-o").arg(&rss_file);
            c.arg(&self.ferry);
            c
        } else {
            tokio::process::Command::new(&self.ferry)
        };
        cmd.args(["copy", "--insecure"])
            .args(extra)
            .args([src, dst]);
        let started = Instant::now();
        let child = spawn(&mut cmd)?;
        let pid = child.id();
        let polled = (!self.gnu_time).then(|| tokio::spawn(poll_vm_hwm(pid)));
        let out = wait(child, self.timeout, "ferry copy").await?;
        let secs = started.elapsed().as_secs_f64();
        let (peak_rss_kib, cpu_secs) = if self.gnu_time {
            let text = std::fs::read_to_string(&rss_file).unwrap_or_default();
            let _ = std::fs::remove_file(&rss_file);
            let last: Vec<&str> = text
                .lines()
                .last()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            let num = |i: usize| last.get(i).and_then(|v| v.parse::<f64>().ok());
            (
                num(0).map(|k| k as u64),
                num(1).zip(num(2)).map(|(user, sys)| user + sys),
            )
        } else {
            match polled {
                Some(task) => (task.await.ok().flatten(), None),
                None => (None, None),
            }
        };
        if !out.status.success() {
            bail!(
                "ferry copy {src} {dst} failed ({}):\n{}\n{}",
                out.status,
                tail(&out.stdout, 30),
                tail(&out.stderr, 30)
            );
        }
        Ok(FerryRun {
            secs,
            peak_rss_kib,
            cpu_secs,
        })
    }

    /// The ferry binary under measurement.
    pub fn ferry_path(&self) -> &str {
        self.ferry.to_str().unwrap_or("ferry")
    }

    /// `ferry functions`: loads every stage function, which compiles it on a
    /// machine's first use and caches the code; returns the seconds it took.
    pub async fn ferry_functions(&self) -> Result<f64> {
        let started = Instant::now();
        let mut cmd = tokio::process::Command::new(&self.ferry);
        cmd.arg("functions");
        self.succeed(&mut cmd, "ferry functions").await?;
        Ok(started.elapsed().as_secs_f64())
    }

    /// `skopeo sync` of every repository, one call each, from the registry at
    /// host `src` into the same path at host `dst`; returns the total seconds.
    pub async fn skopeo_sync(&self, src: &str, dst: &str, repos: &[String]) -> Result<f64> {
        let started = Instant::now();
        for repo in repos {
            // skopeo puts the last path component of the source under the destination,
            // so team1/app03 needs the destination DST/team1.
            let dest = match repo.rsplit_once('/') {
                Some((namespace, _)) => format!("{dst}/{namespace}"),
                None => dst.to_string(),
            };
            let mut cmd = tokio::process::Command::new(&self.skopeo);
            cmd.args([
                "sync",
                "--src",
                "docker",
                "--dest",
                "docker",
                "--all",
                "--preserve-digests",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
            ]);
            cmd.arg(format!("{src}/{repo}")).arg(dest);
            self.succeed(&mut cmd, &format!("skopeo sync of {repo}"))
                .await?;
        }
        Ok(started.elapsed().as_secs_f64())
    }

    /// Runs `cmd` to its end within the timeout; fails with the tail of its
    /// stderr unless it succeeded.
    async fn succeed(&self, cmd: &mut tokio::process::Command, what: &str) -> Result<()> {
        let out = wait(spawn(cmd)?, self.timeout, what).await?;
        if !out.status.success() {
            bail!("{what} failed ({}):\n{}", out.status, tail(&out.stderr, 30));
        }
        Ok(())
    }
}

fn tempfile_path(prefix: &str) -> Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    Ok(std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id())))
}

fn spawn(cmd: &mut tokio::process::Command) -> Result<tokio::process::Child> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.as_std().get_program()))
}

async fn wait(
    child: tokio::process::Child,
    timeout: Duration,
    what: &str,
) -> Result<std::process::Output> {
    // On timeout the future (and with it the child, kill_on_drop) is dropped.
    tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .with_context(|| format!("{what} ran over {timeout:?}"))?
        .with_context(|| format!("waiting for {what}"))
}

fn tail(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The last `VmHWM` (kB) read from `/proc/PID/status` before the process went away.
async fn poll_vm_hwm(pid: Option<u32>) -> Option<u64> {
    let pid = pid?;
    let path = format!("/proc/{pid}/status");
    let mut last = None;
    // Bounded: 24 hours of polls at most (the measured command has its own timeout).
    for _ in 0..(24 * 3600 * 1000 / RSS_POLL.as_millis() as u64) {
        let Ok(status) = tokio::fs::read_to_string(&path).await else {
            break;
        };
        if status.contains("State:\tZ") {
            break;
        }
        if let Some(kib) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        {
            last = Some(kib);
        }
        tokio::time::sleep(RSS_POLL).await;
    }
    last
}

/// Writes dirty pages out (`sync`), so that a measurement does not pay for
/// the disk writes of the one before it: each fresh copy leaves about 1 GiB
/// for the kernel to write back, and registries fsync as they go.
pub fn settle() -> Result<()> {
    let status = std::process::Command::new("sync")
        .status()
        .context("running sync")?;
    ensure!(status.success(), "sync failed: {status}");
    Ok(())
}

/// Checks that every tag of the plan is at `dst` under the same repository with A's
/// digest; with `deep`, also every manifest and blob reachable from it (bytes hashed).
pub async fn verify(src: &Registry, dst: &Registry, plan: &Plan, deep: bool) -> Result<()> {
    futures::stream::iter(&plan.images)
        .map(|image| async move {
            let (repo, tag) = (image.repo.as_str(), image.tag.as_str());
            if deep {
                return check_replicated(src, dst, repo, repo, tag).await;
            }
            let want = manifest_digest(src, repo, tag)
                .await?
                .with_context(|| format!("{repo}:{tag} not at A"))?;
            let got = manifest_digest(dst, repo, tag)
                .await?
                .with_context(|| format!("{repo}:{tag} not at B"))?;
            ensure!(want == got, "{repo}:{tag} is {got} at B, {want} at A");
            Ok(())
        })
        .buffer_unordered(VERIFY_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// The CPU that processes (registries, this benchmark's own client) use from
/// a moment on.
pub struct CpuMark {
    at: Vec<(&'static str, Option<u32>, f64)>,
}

impl CpuMark {
    pub fn start(processes: &[(&'static str, Option<u32>)]) -> Self {
        Self {
            at: processes
                .iter()
                .map(|(name, pid)| (*name, *pid, cpu_secs(*pid)))
                .collect(),
        }
    }

    /// What each process used since the start, by name.
    pub fn used(&self) -> Vec<(&'static str, f64)> {
        self.at
            .iter()
            .map(|(name, pid, then)| (*name, cpu_secs(*pid) - then))
            .collect()
    }
}

/// The CPU seconds of all of them.
pub fn cpu_total(used: &[(&'static str, f64)]) -> f64 {
    used.iter().map(|(_, secs)| secs).sum()
}

/// `A 2.11 s, B 6.45 s`.
pub fn cpu_report(used: &[(&'static str, f64)]) -> String {
    let parts: Vec<String> = used
        .iter()
        .map(|(name, secs)| format!("{name} {secs:.2} s"))
        .collect();
    parts.join(", ")
}

/// CPU seconds (user + system) a process has used so far, from `/proc`.
pub fn cpu_secs(pid: Option<u32>) -> f64 {
    let Some(pid) = pid else { return 0.0 };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): utime is the
    // 14th field overall, stime the 15th, in clock ticks (100 per second).
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A registry's requests by method and kind, e.g. `HEAD manifest 60, PUT blob 208`.
pub fn request_mix(requests: &[(String, String, u16)]) -> String {
    let mut mix: std::collections::BTreeMap<(String, &str), usize> = Default::default();
    for (method, path, _) in requests {
        let kind = if path.contains("/blobs/uploads/") {
            "upload"
        } else if path.contains("/blobs/") {
            "blob"
        } else if path.contains("/manifests/") {
            "manifest"
        } else if path.contains("/tags/list") || path.starts_with("/v2/_catalog") {
            "listing"
        } else {
            "other"
        };
        *mix.entry((method.clone(), kind)).or_default() += 1;
    }
    let parts: Vec<String> = mix
        .iter()
        .map(|((m, k), n)| format!("{m} {k} {n}"))
        .collect();
    format!("{} requests ({})", requests.len(), parts.join(", "))
}

/// SHA-256 bytes per second at `openssl`'s speed on this machine (1 MiB
/// blocks, one core), or `None` without `openssl`.
pub fn openssl_sha256_rate() -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args([
            "speed", "-seconds", "2", "-bytes", "1048576", "-evp", "sha256",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    // The last line: `sha256   1439711.49k` (thousands of bytes per second).
    let text = String::from_utf8_lossy(&out.stdout);
    let k: f64 = text
        .lines()
        .last()?
        .split_whitespace()
        .last()?
        .strip_suffix('k')?
        .parse()
        .ok()?;
    Some(k * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }
}
