//! `ferry-bench`: the replication benchmark of issue 4.
//!
//! On this machine, on 127.0.0.1 only: builds a deterministic corpus (see [`corpus`]),
//! pushes it to a registry A, then measures, each into a fresh registry B and `--runs`
//! times: `ferry copy` (fresh and no-op re-run, with ferry's peak RSS), `skopeo sync`
//! one call per repository (fresh and no-op), and the floors with no replication logic
//! (see [`raw`]). Within a run, the measurements a ratio compares are taken back to
//! back. Prints the medians, the ratios against its targets, and how far
//! ferry is from the floors. `--rtt-ms` and `--link-mbit` measure fresh copies
//! across an emulated WAN link instead (see [`wan`]).
//! Run it with `tests/scripts/bench` (it builds what it needs first).

mod corpus;
mod lag;
mod measure;
mod raw;
mod wan;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use ferry_harness::{Auth, Registry, docker_registry_available};

use corpus::{Corpus, Plan};
use measure::{CpuMark, Tools, median};

#[derive(Parser, Debug)]
#[command(
    name = "ferry-bench",
    about = "Replication benchmark: ferry vs skopeo vs raw PUT"
)]
struct Args {
    /// Fraction of the full corpus's layer bytes (1.0: about 1 GiB); the number of
    /// repositories, tags and layers stays the same.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Times each measurement is repeated (the table shows medians).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Repositories in the corpus.
    #[arg(long, default_value_t = 20)]
    repos: usize,
    /// Tags per repository.
    #[arg(long, default_value_t = 3)]
    tags: usize,
    /// The ferry binary (release build).
    #[arg(long, env = "FERRY_BENCH_FERRY", default_value_os_t = default_ferry())]
    ferry: PathBuf,
    /// The skopeo binary.
    #[arg(long, default_value = "skopeo")]
    skopeo: PathBuf,
    /// Parallel uploads of the raw-limit measurement.
    #[arg(long, default_value_t = 8)]
    raw_concurrency: usize,
    /// Upper bound on any one measured command, in seconds.
    #[arg(long, default_value_t = 1800)]
    timeout: u64,
    /// Skip the skopeo measurements (ratios against skopeo are then not shown).
    #[arg(long)]
    no_skopeo: bool,
    /// Exit with status 1 when a target is missed.
    #[arg(long)]
    require_targets: bool,
    /// Only push the corpus to A, print A's URL, and keep A up this many seconds
    /// (for profiling runs by hand); measures nothing.
    #[arg(long, value_name = "SECONDS")]
    hold: Option<u64>,
    /// Only the push-to-replica lag (no corpus, no copies).
    #[arg(long)]
    lag_only: bool,
    /// Skip the push-to-replica lag.
    #[arg(long, conflicts_with = "lag_only")]
    no_lag: bool,
    /// Size of the image the lag is measured with, in MiB (5 layers).
    #[arg(long, default_value_t = 100.0)]
    lag_mib: f64,
    /// WAN mode: fresh copies only, into a B behind an emulated link with
    /// this round-trip time (skopeo's in the first run only: it is slow).
    #[arg(long, requires = "link_mbit", conflicts_with = "lag_only")]
    rtt_ms: Option<u64>,
    /// WAN mode: the link's bandwidth, Mbit/s, shared by every connection.
    #[arg(long, requires = "rtt_ms")]
    link_mbit: Option<f64>,
    /// WAN mode: one more argument to every `ferry copy` (repeatable), to
    /// compare settings: `--ferry-arg=--concurrency=8`.
    #[arg(long, requires = "rtt_ms", allow_hyphen_values = true)]
    ferry_arg: Vec<String>,
}

/// `$CARGO_TARGET_DIR/release/ferry`, else the workspace's `target/release/ferry`.
fn default_ferry() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("release/ferry")
}

#[derive(Default)]
struct Samples {
    ferry_fresh: Vec<f64>,
    ferry_noop: Vec<f64>,
    ferry_noop_cold: Vec<f64>,
    ferry_rss_mib: Vec<f64>,
    /// CPU seconds of ferry, A and B during the fresh copy.
    ferry_cpu: Vec<f64>,
    /// CPU seconds of B and this benchmark's own client during the raw PUT.
    raw_cpu: Vec<f64>,
    skopeo_fresh: Vec<f64>,
    skopeo_noop: Vec<f64>,
    raw: Vec<f64>,
    /// The raw pipe A -> B, and the CPU seconds of A, B and this process meanwhile.
    pipe: Vec<f64>,
    pipe_cpu: Vec<f64>,
    /// CPU seconds of ferry alone in the fresh copy, and of the pipe's client.
    ferry_own_cpu: Vec<f64>,
    pipe_client_cpu: Vec<f64>,
    /// The requests a no-op needs, as ferry's warm no-op sends them, sent
    /// bare from this process.
    noop_floor: Vec<f64>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("ferry-bench: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<bool> {
    if !(args.scale > 0.0 && args.scale <= 16.0) {
        bail!("--scale must be in (0, 16]");
    }
    if args.runs == 0 || args.runs > 100 || args.repos == 0 || args.tags == 0 {
        bail!("--runs must be 1..=100, --repos and --tags at least 1");
    }
    if !docker_registry_available() {
        bail!("docker-registry is not installed (run tests/scripts/setup)");
    }
    let ferry = std::fs::canonicalize(&args.ferry).with_context(|| {
        format!(
            "{} not found: build it with `cargo build --release -p ferry`",
            args.ferry.display()
        )
    })?;
    let tools = Tools::new(
        ferry,
        args.skopeo.clone(),
        Duration::from_secs(args.timeout),
    );

    if args.lag_only {
        let lag = measure_lag(&args, &tools).await?;
        return Ok(print_lag(&args, &lag) || !args.require_targets);
    }
    let plan = Plan::new(args.scale, args.repos, args.tags);
    let started = Instant::now();
    let corpus = Corpus::build(plan).await?;
    let blobs = corpus.unique_blobs();
    let blob_bytes: u64 = blobs.iter().map(|b| b.body.len() as u64).sum();
    let mib = blob_bytes as f64 / (1024.0 * 1024.0);
    eprintln!(
        "corpus: {} repositories, {} tags ({} multi-arch), {} unique layers ({:.1} MiB of payload), {} unique blobs ({mib:.1} MiB), built in {:.1} s",
        corpus.plan.repos().len(),
        corpus.plan.images.len(),
        corpus.plan.multi_arch(),
        corpus.plan.unique_layers().len(),
        corpus.plan.unique_layer_bytes() as f64 / (1024.0 * 1024.0),
        blobs.len(),
        started.elapsed().as_secs_f64()
    );

    let a = Registry::start(Auth::None);
    let started = Instant::now();
    corpus
        .push(&a, 4)
        .await
        .context("pushing the corpus to A")?;
    eprintln!(
        "pushed to A ({}) in {:.1} s",
        a.url(),
        started.elapsed().as_secs_f64()
    );

    if let Some(secs) = args.hold {
        println!("{}", a.url());
        eprintln!("holding A at {} for {secs} s", a.url());
        tokio::time::sleep(Duration::from_secs(secs)).await;
        return Ok(true);
    }

    // The first use of a function compiles it (seconds, and memory); that
    // is not replication, so it happens here, once, outside the timings.
    let warm = tools.ferry_functions().await?;
    eprintln!("ferry's stage functions loaded (compiled on first use, then cached) in {warm:.1} s");

    if let (Some(rtt), Some(mbit)) = (args.rtt_ms, args.link_mbit) {
        if rtt > 10_000 || !(0.1..=100_000.0).contains(&mbit) {
            bail!("--rtt-ms must be at most 10000, --link-mbit in [0.1, 100000]");
        }
        let spec = ferry_harness::LinkSpec::new(rtt, mbit);
        let mut s = wan::WanSamples::default();
        for run in 1..=args.runs {
            eprintln!("WAN run {run}/{}", args.runs);
            let skopeo = !args.no_skopeo && run == 1;
            wan::run(&tools, &a, &corpus, spec, skopeo, &args.ferry_arg, &mut s).await?;
        }
        return Ok(wan::print(spec, blob_bytes, args.runs, &s) || !args.require_targets);
    }

    let mut s = Samples::default();
    let bench = Bench {
        tools: &tools,
        a: &a,
        corpus: &corpus,
        blobs: &blobs,
        mib,
        concurrency: args.raw_concurrency,
    };
    for run in 1..=args.runs {
        eprintln!("run {run}/{}", args.runs);
        // The measurements a ratio compares run back to back, so that the
        // machine's speed, which drifts on a shared host, moves it little:
        // skopeo's fresh copy, the raw PUT, ferry's, the raw pipe; then the
        // no-ops, ferry's warm one next to skopeo's.
        let skopeo_b = if args.no_skopeo {
            None
        } else {
            Some(bench.skopeo_fresh(&mut s).await?)
        };
        bench.raw_put(&mut s).await?;
        let (ferry_b, _cache_dir, cache) = bench.ferry_fresh(&mut s).await?;
        bench.raw_pipe(&mut s).await?;
        let with_cache = ["--cache-file", cache.as_str()];
        let noop = bench
            .ferry_noop(&ferry_b, &with_cache, "existence cache warm")
            .await?;
        s.ferry_noop.push(noop);
        if let Some(b) = &skopeo_b {
            bench.skopeo_noop(b, &mut s).await?;
        }
        let noop = bench
            .ferry_noop(&ferry_b, &["--no-cache"], "no cache")
            .await?;
        s.ferry_noop_cold.push(noop);
        bench.noop_floor(&ferry_b, &mut s).await?;
    }
    drop(a);
    let hash_rate = measure::openssl_sha256_rate();
    let met = print_table(&args, &s, mib, hash_rate);
    if args.no_lag {
        return Ok(met);
    }
    let lag = measure_lag(&args, &tools).await?;
    Ok(met && (print_lag(&args, &lag) || !args.require_targets))
}

/// The push-to-replica lag, `--runs` times (see [`lag`]).
async fn measure_lag(args: &Args, tools: &Tools) -> Result<lag::LagSamples> {
    if !(1.0..=4096.0).contains(&args.lag_mib) {
        bail!("--lag-mib must be in [1, 4096]");
    }
    tools.ferry_functions().await?;
    eprintln!("push-to-replica lag, {:.0} MiB in 5 layers", args.lag_mib);
    let stage = lag::Stage::start(tools).await?;
    let mut s = lag::LagSamples::default();
    for run in 1..=args.runs {
        eprintln!("lag run {run}/{}", args.runs);
        stage.run(tools, run, args.lag_mib, &mut s).await?;
    }
    Ok(s)
}

/// The lag table; whether both targets were met.
fn print_lag(args: &Args, s: &lag::LagSamples) -> bool {
    println!();
    println!(
        "push-to-replica lag: {:.0} MiB image in 5 layers, {} run(s); medians",
        args.lag_mib, args.runs
    );
    println!();
    println!("{:<40} {:>9}  runs", "measurement", "median");
    for (name, v) in [
        ("lag after the manifest PUT, layers ahead", &s.ahead),
        ("lag after the manifest PUT, all at once", &s.at_once),
        ("the client's push, all at once", &s.push),
        ("manual ferry copy of the image", &s.manual),
    ] {
        if let Some(m) = median(v) {
            println!("{name:<40} {m:>7.3} s  {}", measure::runs(v, 3));
        }
    }
    let bound: Vec<f64> = s.manual.iter().map(|m| 1.2 * m + 0.5).collect();
    let checks = [
        ("lag, layers ahead", median(&s.ahead), median(&[0.5])),
        ("lag, all at once", median(&s.at_once), median(&bound)),
    ];
    println!();
    println!("{:<40} {:>9}  {:>12}  result", "target", "value", "bound");
    let mut met = true;
    for (name, value, bound) in checks {
        if let (Some(v), Some(b)) = (value, bound) {
            met &= v <= b;
            println!(
                "{name:<40} {v:>7.3} s  {:>10}  {}",
                format!("<= {b:.3} s"),
                if v <= b { "met" } else { "MISSED" }
            );
        }
    }
    println!("(all at once: the bound is 1.2 x the manual copy's median + 0.5 s)");
    met
}

/// What every measurement needs: the tools, registry A with the corpus,
/// and the corpus's unique blobs for the floors.
struct Bench<'a> {
    tools: &'a Tools,
    a: &'a Registry,
    corpus: &'a Corpus,
    blobs: &'a [corpus::UniqueBlob],
    mib: f64,
    concurrency: usize,
}

impl Bench<'_> {
    /// `skopeo sync` into a fresh B, checked against A; returns that B.
    async fn skopeo_fresh(&self, s: &mut Samples) -> Result<Registry> {
        let b = Registry::start(Auth::None);
        let repos = self.corpus.plan.repos();
        measure::settle()?;
        let fresh = self
            .tools
            .skopeo_sync(&self.a.host(), &b.host(), &repos)
            .await?;
        eprintln!("  skopeo sync fresh:  {fresh:7.2} s");
        measure::verify(self.a, &b, &self.corpus.plan, false)
            .await
            .context("skopeo's copy does not match A (destination names?)")?;
        s.skopeo_fresh.push(fresh);
        Ok(b)
    }

    /// `skopeo sync` again into the B it filled.
    async fn skopeo_noop(&self, b: &Registry, s: &mut Samples) -> Result<()> {
        measure::settle()?;
        let noop = self
            .tools
            .skopeo_sync(&self.a.host(), &b.host(), &self.corpus.plan.repos())
            .await?;
        eprintln!("  skopeo sync no-op:  {noop:7.2} s");
        s.skopeo_noop.push(noop);
        Ok(())
    }

    /// `ferry copy` into a fresh B, verified blob by blob; returns that B and
    /// ferry's existence cache for it (its directory and file), which the
    /// no-op re-run reads as a user re-running the same copy gets it.
    async fn ferry_fresh(&self, s: &mut Samples) -> Result<(Registry, tempfile::TempDir, String)> {
        let (a, b) = (self.a, Registry::start(Auth::None));
        let cache_dir = tempfile::tempdir().context("cache directory")?;
        let cache = cache_dir.path().join("known.json");
        let cache = cache.to_str().context("cache path")?.to_string();
        measure::settle()?;
        let cpu = CpuMark::start(&[("A", a.pid()), ("B", b.pid())]);
        let (a_mark, b_mark) = (a.log_mark(), b.log_mark());
        let fresh = self
            .tools
            .ferry_copy(&a.url(), &b.url(), &["--cache-file", &cache])
            .await?;
        let registries = cpu.used();
        eprintln!(
            "  ferry copy fresh:   {:7.2} s  peak RSS {}, CPU {}, registry CPU {}",
            fresh.secs,
            fresh.peak_rss_kib.map_or("unknown".into(), |k| format!(
                "{:.1} MiB",
                k as f64 / 1024.0
            )),
            secs_or_unknown(fresh.cpu_secs),
            measure::cpu_report(&registries),
        );
        if let Some(own) = fresh.cpu_secs {
            s.ferry_cpu.push(own + measure::cpu_total(&registries));
            s.ferry_own_cpu.push(own);
        }
        eprintln!(
            "    requests: A {}; B {}",
            measure::request_mix(&a.requests_since(a_mark)),
            measure::request_mix(&b.requests_since(b_mark))
        );
        let started = Instant::now();
        measure::verify(a, &b, &self.corpus.plan, true)
            .await
            .context("ferry's fresh copy is not a faithful replica")?;
        eprintln!(
            "  verified every tag, manifest and blob at B ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        s.ferry_fresh.push(fresh.secs);
        if let Some(k) = fresh.peak_rss_kib {
            s.ferry_rss_mib.push(k as f64 / 1024.0);
        }
        Ok((b, cache_dir, cache))
    }

    /// `ferry copy` again into the B it filled; returns its seconds.
    async fn ferry_noop(&self, b: &Registry, extra: &[&str], label: &str) -> Result<f64> {
        measure::settle()?;
        let cpu = CpuMark::start(&[("A", self.a.pid()), ("B", b.pid())]);
        let noop = self
            .tools
            .ferry_copy(&self.a.url(), &b.url(), extra)
            .await?;
        eprintln!(
            "  ferry copy no-op:   {:7.2} s  ({label}), CPU {}, registry CPU {}",
            noop.secs,
            secs_or_unknown(noop.cpu_secs),
            measure::cpu_report(&cpu.used())
        );
        Ok(noop.secs)
    }

    /// The requests a no-op needs, sent bare to A and to ferry's B.
    async fn noop_floor(&self, b: &Registry, s: &mut Samples) -> Result<()> {
        measure::settle()?;
        let cpu = CpuMark::start(&[("A", self.a.pid()), ("B", b.pid())]);
        let (floor, requests) = raw::noop_floor(self.a, b).await?;
        eprintln!(
            "  no-op floor:        {floor:7.2} s  ({requests} requests, bare), registry CPU {}",
            measure::cpu_report(&cpu.used())
        );
        s.noop_floor.push(floor);
        Ok(())
    }

    /// The raw limit: every unique blob PUT into a fresh B. The client is
    /// this process, where nothing else runs meanwhile.
    async fn raw_put(&self, s: &mut Samples) -> Result<()> {
        let b = Registry::start(Auth::None);
        measure::settle()?;
        let cpu = CpuMark::start(&[("B", b.pid()), client()]);
        let b_mark = b.log_mark();
        let raw = raw::put(&b.url(), self.blobs, self.concurrency).await?;
        let used = cpu.used();
        eprintln!(
            "  raw PUT ({}):        {raw:7.2} s  ({:.0} MiB/s), CPU {}",
            self.concurrency,
            self.mib / raw,
            measure::cpu_report(&used)
        );
        eprintln!(
            "    requests: B {}",
            measure::request_mix(&b.requests_since(b_mark))
        );
        s.raw_cpu.push(measure::cpu_total(&used));
        s.raw.push(raw);
        Ok(())
    }

    /// The raw pipe: every unique blob streamed from A into a fresh B.
    async fn raw_pipe(&self, s: &mut Samples) -> Result<()> {
        let b = Registry::start(Auth::None);
        measure::settle()?;
        let cpu = CpuMark::start(&[("A", self.a.pid()), ("B", b.pid()), client()]);
        let pipe = raw::pipe(&self.a.url(), &b.url(), self.blobs, self.concurrency).await?;
        let used = cpu.used();
        eprintln!(
            "  raw pipe A->B ({}):  {pipe:7.2} s  ({:.0} MiB/s), CPU {}",
            self.concurrency,
            self.mib / pipe,
            measure::cpu_report(&used)
        );
        s.pipe_cpu.push(measure::cpu_total(&used));
        if let Some((_, client)) = used.iter().find(|(name, _)| *name == "client") {
            s.pipe_client_cpu.push(*client);
        }
        s.pipe.push(pipe);
        Ok(())
    }
}

/// This benchmark's own process, the client of the floors.
fn client() -> (&'static str, Option<u32>) {
    ("client", Some(std::process::id()))
}

fn secs_or_unknown(secs: Option<f64>) -> String {
    secs.map_or("unknown (no GNU time)".into(), |t| format!("{t:.2} s"))
}

/// Prints the table; returns whether every target shown was met.
/// `hash_rate`: SHA-256 bytes per second at `openssl`'s speed, if measured.
fn print_table(args: &Args, s: &Samples, mib: f64, hash_rate: Option<f64>) -> bool {
    println!();
    println!(
        "ferry-bench: {} repositories x {} tags, {mib:.1} MiB of unique blobs, scale {}, {} run(s); medians",
        args.repos, args.tags, args.scale, args.runs
    );
    println!();
    println!("{:<34} {:>10}  runs", "measurement", "median");
    let row = |name: &str, v: &[f64], unit: &str| {
        if let Some(m) = median(v) {
            let rate = if unit == "s" && !name.contains("no-op") && !name.starts_with("CPU") {
                format!("  ({:.0} MiB/s)", mib / m)
            } else {
                String::new()
            };
            println!(
                "{name:<34} {:>8.2} {unit:<4} {}{rate}",
                m,
                measure::runs(v, 2)
            );
        }
    };
    row("ferry copy, fresh", &s.ferry_fresh, "s");
    row("skopeo sync, fresh", &s.skopeo_fresh, "s");
    let raw_name = format!("raw parallel PUT ({}), fresh", args.raw_concurrency);
    row(&raw_name, &s.raw, "s");
    let pipe_name = format!("raw pipe A->B ({}), fresh", args.raw_concurrency);
    row(&pipe_name, &s.pipe, "s");
    row("ferry copy, no-op (cache warm)", &s.ferry_noop, "s");
    row("ferry copy, no-op (no cache)", &s.ferry_noop_cold, "s");
    row("skopeo sync, no-op", &s.skopeo_noop, "s");
    row("no-op floor (needed requests, bare)", &s.noop_floor, "s");
    row("ferry peak RSS, fresh copy", &s.ferry_rss_mib, "MiB");
    row("CPU, ferry fresh (ferry+A+B)", &s.ferry_cpu, "s");
    row("CPU, raw PUT (client+B)", &s.raw_cpu, "s");
    row("CPU, raw pipe (client+A+B)", &s.pipe_cpu, "s");
    row("CPU, ferry alone, fresh", &s.ferry_own_cpu, "s");
    row("CPU, raw pipe's client alone", &s.pipe_client_cpu, "s");

    // Each run's ratio, then their median: the two sides of a ratio ran
    // seconds apart, while runs can be minutes apart on a machine whose
    // speed drifts.
    let ratio = |x: &[f64], y: &[f64]| {
        let per_run: Vec<f64> = x.iter().zip(y).map(|(a, b)| a / b).collect();
        median(&per_run)
    };
    let checks = [
        (
            "ferry / skopeo, fresh",
            ratio(&s.ferry_fresh, &s.skopeo_fresh),
            0.6,
            "",
        ),
        (
            "ferry / raw PUT limit, fresh",
            ratio(&s.ferry_fresh, &s.raw),
            1.2,
            "",
        ),
        (
            "ferry / skopeo, no-op",
            ratio(&s.ferry_noop, &s.skopeo_noop),
            0.1,
            "",
        ),
        (
            "ferry / skopeo, no-op, no cache",
            ratio(&s.ferry_noop_cold, &s.skopeo_noop),
            0.1,
            "",
        ),
        ("ferry peak RSS", median(&s.ferry_rss_mib), 150.0, " MiB"),
        (
            "ferry / raw pipe A->B, fresh",
            ratio(&s.ferry_fresh, &s.pipe),
            1.1,
            "",
        ),
        (
            "ferry CPU / (2 x pipe's + hash)",
            hash_rate.and_then(|rate| {
                let budget: Vec<f64> = s
                    .pipe_client_cpu
                    .iter()
                    .map(|c| 2.0 * c + mib * 1024.0 * 1024.0 / rate)
                    .collect();
                ratio(&s.ferry_own_cpu, &budget)
            }),
            1.0,
            "",
        ),
    ];
    println!();
    println!(
        "{:<34} {:>10}  {:>12}  result",
        "ratio (median of the runs' ratios)", "value", "target"
    );
    let mut all_met = true;
    for (name, value, target, unit) in checks {
        match value {
            Some(v) => {
                let met = v <= target;
                all_met &= met;
                println!(
                    "{name:<34} {:>10}  {:>12}  {}",
                    if unit.is_empty() {
                        format!("{v:.3}")
                    } else {
                        format!("{v:.1}{unit}")
                    },
                    format!("<= {target}{unit}"),
                    if met { "met" } else { "MISSED" }
                );
            }
            None => println!(
                "{name:<34} {:>10}  {:>12}  not measured",
                "-",
                format!("<= {target}{unit}")
            ),
        }
    }
    // No targets here: how far ferry is from what the machine does with no
    // replication logic, doing what ferry must at least do.
    let floors = [
        ("raw pipe / raw PUT, fresh", ratio(&s.pipe, &s.raw)),
        ("ferry / no-op floor", ratio(&s.ferry_noop, &s.noop_floor)),
        (
            "no-op floor / skopeo, no-op",
            ratio(&s.noop_floor, &s.skopeo_noop),
        ),
    ];
    if floors.iter().any(|(_, v)| v.is_some()) {
        println!();
        println!("{:<34} {:>10}", "against the floors (no target)", "value");
        for (name, value) in floors {
            if let Some(v) = value {
                println!("{name:<34} {v:>10.3}");
            }
        }
    }
    if let Some(work) = ratio(&s.ferry_cpu, &s.raw_cpu) {
        // Every process here shares the machine's cores, so when they are
        // all busy the time ratio cannot go far under the work ratio.
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!();
        println!(
            "work: the fresh copy costs {work:.2}x the raw PUT's CPU seconds (all processes, {cores} cores shared)"
        );
    }
    match hash_rate {
        Some(rate) => println!(
            "hash: openssl sha256 at {:.0} MiB/s, {:.2} s for the unique blobs",
            rate / (1024.0 * 1024.0),
            mib * 1024.0 * 1024.0 / rate
        ),
        None => println!("hash: `openssl speed` unavailable; the CPU budget is not checked"),
    }
    println!();
    println!(
        "per-stage invocation overhead (target <= 50 us): cargo bench -p ferry --bench invoke"
    );
    all_met || !args.require_targets
}
