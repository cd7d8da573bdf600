//! `ferry copy SRC DST`: one execution of a template, in-process, state in
//! memory, no server and no database.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};

use super::{progress, summary};
use crate::domain::RegistryKind;
use crate::engine::policy::{excludes, matches};
use crate::engine::{ExecutionStatus, Policy, Progress, RunContext, Runner, Scope, Template};
use crate::runtime::{Catalog, FilterKind, Runtime, RuntimeConfig, TracingEvents};
use crate::transfer::known::Memory;
use crate::transfer::limits::{DEFAULT_BLOBS, DEFAULT_REQUESTS_PER_REGISTRY};
use crate::transfer::network::DEFAULT_ATTEMPTS;
use crate::transfer::{Credentials, Endpoint, Known, Limits, Network};

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Source registry, `http(s)://host[:port][/namespace]`. A namespace
    /// limits the copy to repositories under it.
    pub src: String,
    /// Target registry, `http(s)://host[:port][/namespace]`. A namespace is
    /// prepended to every target repository.
    pub dst: String,

    /// Copy only repositories matching this glob (`**`, `*`, `?`, `{a,b}`); repeatable.
    #[arg(long = "repo", value_name = "PATTERN")]
    pub repos: Vec<String>,
    /// Skip repositories matching this glob; repeatable.
    #[arg(long = "exclude-repo", value_name = "PATTERN")]
    pub exclude_repos: Vec<String>,
    /// Copy only tags matching this glob; repeatable.
    #[arg(long = "tag", value_name = "PATTERN")]
    pub tags: Vec<String>,
    /// Skip tags matching this glob; repeatable.
    #[arg(long = "exclude-tag", value_name = "PATTERN")]
    pub exclude_tags: Vec<String>,

    /// Namespace prepended to target repositories (after DST's own namespace).
    #[arg(long, value_name = "NS")]
    pub dest_namespace: Option<String>,
    /// With a destination namespace: -1 keeps only the last path component,
    /// 0 the whole path, n drops the first n components. Default: drop the
    /// source namespace, if SRC has one.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub dest_namespace_replace_count: Option<i32>,

    /// Kind of the source registry: one the template serves.
    #[arg(long, value_name = "KIND", default_value = "distribution")]
    pub src_type: RegistryKind,
    /// Kind of the target registry: one the template serves.
    #[arg(long, value_name = "KIND", default_value = "distribution")]
    pub dst_type: RegistryKind,
    /// Template: a built-in name (oci-to-oci) or a YAML file.
    #[arg(long, default_value = "oci-to-oci", value_name = "FILE|NAME")]
    pub template: String,
    /// Artifacts in flight per stage and blobs in flight (default: the
    /// template's, and 8 blobs).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: Option<u16>,
    /// The existence cache: what targets were seen to hold, so that a re-run
    /// skips the HEAD storm [default: known.json in $FERRY_CACHE_DIR, else
    /// $XDG_CACHE_HOME/ferry, else ~/.cache/ferry].
    #[arg(long, env = "FERRY_CACHE_FILE", value_name = "FILE")]
    pub cache_file: Option<PathBuf>,
    /// Ask the target about everything; read and write no existence cache.
    #[arg(long)]
    pub no_cache: bool,
    /// How long what the target holds is trusted without asking it again.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "1h")]
    pub cache_ttl: std::time::Duration,
    /// Allow plain HTTP and self-signed certificates.
    #[arg(long)]
    pub insecure: bool,
    /// Keep target tags that point at other content instead of replacing them.
    #[arg(long)]
    pub no_override: bool,
    /// Delete target tags, in scope (filters and namespace), whose source
    /// tag is gone.
    #[arg(long)]
    pub delete: bool,
    /// List what would be copied, skipped and deleted, and why; write
    /// nothing to the target.
    #[arg(long)]
    pub dry_run: bool,
    /// Upload blobs in chunks (for targets that refuse large single PUTs).
    #[arg(long)]
    pub chunked: bool,
    /// Chunk size in bytes for chunked uploads.
    #[arg(long, value_name = "BYTES", default_value_t = 10 * 1024 * 1024)]
    pub chunk_size: u64,
    /// Speed limit in KB/s (1024 bytes) for all blobs together.
    #[arg(long, value_name = "KB/S", value_parser = clap::value_parser!(u64).range(1..))]
    pub speed: Option<u64>,
    /// Tries per request, and per blob upload, before giving up: with
    /// backoff and jitter, honouring a registry's Retry-After up to 60 s.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ATTEMPTS,
          value_parser = clap::value_parser!(u32).range(1..=50))]
    pub request_attempts: u32,
    /// A request that sends or receives nothing for this long fails (and
    /// is retried, or resumed); a long transfer that moves is never cut.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "60s")]
    pub idle_timeout: std::time::Duration,

    /// Source credentials `user:password`.
    #[arg(
        long,
        env = "FERRY_SRC_CREDS",
        value_name = "USER:PASS",
        hide_env_values = true
    )]
    pub src_creds: Option<Credentials>,
    /// Target credentials `user:password`.
    #[arg(
        long,
        env = "FERRY_DEST_CREDS",
        value_name = "USER:PASS",
        hide_env_values = true
    )]
    pub dest_creds: Option<Credentials>,

    /// Summary format on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

pub fn catalog(dirs: Vec<PathBuf>) -> Result<Catalog, ExitCode> {
    let runtime = Runtime::new(RuntimeConfig::default()).map_err(|e| {
        eprintln!("error: cannot start the WebAssembly runtime: {e:#}");
        ExitCode::from(2)
    })?;
    Ok(Catalog::new(Arc::new(runtime), dirs))
}

/// Splits `http://host:port/a/b` into the registry URL and `a/b`.
fn split_namespace(url: &str) -> (String, String) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (url.to_string(), String::new());
    };
    match url[scheme_end..].find('/') {
        Some(i) => {
            let (base, path) = url.split_at(scheme_end + i);
            (base.to_string(), path.trim_matches('/').to_string())
        }
        None => (url.to_string(), String::new()),
    }
}

fn policy(args: &CopyArgs) -> Result<Policy, String> {
    let (src_url, src_ns) = split_namespace(&args.src);
    let (dst_url, dst_ns) = split_namespace(&args.dst);
    let source = Endpoint::new(
        args.src_type.clone(),
        &src_url,
        args.insecure,
        args.src_creds.clone(),
    )
    .map_err(|e| format!("SRC {e}"))?;
    let target = Endpoint::new(
        args.dst_type.clone(),
        &dst_url,
        args.insecure,
        args.dest_creds.clone(),
    )
    .map_err(|e| format!("DST {e}"))?;
    let mut filters = Vec::new();
    if !src_ns.is_empty() {
        filters.push(matches(FilterKind::Repository, &format!("{src_ns}/**")));
    }
    filters.extend(
        args.repos
            .iter()
            .map(|p| matches(FilterKind::Repository, p)),
    );
    filters.extend(
        args.exclude_repos
            .iter()
            .map(|p| excludes(FilterKind::Repository, p)),
    );
    filters.extend(args.tags.iter().map(|p| matches(FilterKind::Tag, p)));
    filters.extend(
        args.exclude_tags
            .iter()
            .map(|p| excludes(FilterKind::Tag, p)),
    );
    let dest_namespace = [
        dst_ns.as_str(),
        args.dest_namespace
            .as_deref()
            .unwrap_or("")
            .trim_matches('/'),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join("/");
    let src_depth = if src_ns.is_empty() {
        0
    } else {
        src_ns.split('/').count() as i32
    };
    Ok(Policy {
        name: "copy".into(),
        source,
        target,
        dest_namespace,
        dest_namespace_replace_count: args.dest_namespace_replace_count.unwrap_or(src_depth),
        filters,
        override_existing: !args.no_override,
        replicate_deletion: args.delete,
        copy_by_chunk: args.chunked,
        // The chunk size means something only for chunked uploads.
        chunk_size: if args.chunked { args.chunk_size } else { 0 },
        speed: args.speed.map(|kb| kb.saturating_mul(1024)),
    })
}

pub async fn run(args: CopyArgs, dirs: Vec<PathBuf>) -> ExitCode {
    let policy = match policy(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let catalog = match catalog(dirs) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut template = match Template::resolve(&args.template, &catalog).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: template {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(why) = template
        .kinds
        .refuses(&policy.source.kind, &policy.target.kind)
    {
        eprintln!(
            "error: template {} cannot copy from a {} to a {}: {why} (see --src-type, --dst-type)",
            template.name, policy.source.kind, policy.target.kind
        );
        return ExitCode::from(2);
    }
    if policy.replicate_deletion && !template.deletes() {
        eprintln!(
            "error: --delete: template {} has no stage for deletions (an artifact-scoped stage with `operation: delete`)",
            template.name
        );
        return ExitCode::from(2);
    }
    let blob_concurrency = match args.concurrency {
        Some(n) => {
            for s in template
                .stages
                .iter_mut()
                .filter(|s| s.scope == Scope::Artifact)
            {
                s.concurrency = n as usize;
            }
            n as usize
        }
        None => DEFAULT_BLOBS,
    };
    let mut limits = Limits::new(
        blob_concurrency,
        blob_concurrency,
        DEFAULT_REQUESTS_PER_REGISTRY,
    )
    .with_network(Network {
        attempts: args.request_attempts,
        idle_timeout: args.idle_timeout,
        ..Network::default()
    });
    if args.concurrency.is_some() {
        limits = limits.with_fixed_blobs();
    }
    let known = known(&args);
    let runner = Runner::new(catalog.runtime().clone(), Arc::new(limits), known.clone());
    let progress = Arc::new(Progress::default());
    let bar = progress::start(progress.clone());
    let mut ctx = RunContext::new(execution_id(), Arc::new(TracingEvents), progress.clone());
    ctx.dry_run = args.dry_run;
    let result = runner.run(ctx, &policy, &template).await;
    bar.finish().await;
    if let Some(m) = known.as_memory()
        && let Err(e) = m.save()
    {
        tracing::warn!("existence cache {}: not saved: {e}", m.describe());
    }
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match args.output {
        Output::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        ),
        Output::Text => out!("{}", summary::render(&report, &template, &policy)),
    }
    match report.status {
        ExecutionStatus::Succeeded => ExitCode::SUCCESS,
        ExecutionStatus::Failed => ExitCode::FAILURE,
    }
}

/// The existence cache of this run: loaded from its file, saved at the end.
fn known(args: &CopyArgs) -> Arc<Known> {
    if args.no_cache || args.cache_ttl.is_zero() {
        return Known::off();
    }
    let file = args.cache_file.clone().or_else(|| {
        crate::paths::cache_dir(&|k| std::env::var(k).ok()).map(|d| d.join("known.json"))
    });
    match file {
        Some(f) => Known::memory(Memory::load(&f), args.cache_ttl),
        None => Known::memory(Memory::default(), args.cache_ttl),
    }
}

fn execution_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("copy-{:x}", nanos ^ ((std::process::id() as u128) << 64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_split_off_urls() {
        assert_eq!(
            split_namespace("http://h:1"),
            ("http://h:1".into(), "".into())
        );
        assert_eq!(
            split_namespace("http://h:1/a/b/"),
            ("http://h:1".into(), "a/b".into())
        );
    }
}
