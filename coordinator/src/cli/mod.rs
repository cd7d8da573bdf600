//! The `ferry` command line.

#[macro_use]
mod out;
pub mod client;
mod copy;
mod progress;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about = "Container-image replication with WebAssembly stage functions"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log filter (tracing syntax), e.g. `info` or `ferry=debug`.
    #[arg(long, global = true, env = "FERRY_LOG", default_value = "warn")]
    pub log: String,

    /// Extra directory holding `<name>@<version>.wasm` functions (searched first).
    #[arg(long, global = true, env = "FERRY_FUNCTIONS_DIR")]
    pub functions_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replicate repositories from one registry to another, once, in-process.
    Copy(Box<copy::CopyArgs>),
    /// Run the coordinator service: HTTP API, executions, state in SQL.
    Serve(crate::server::ServeArgs),
    /// List the stage functions this binary finds, with their parameters.
    Functions,
    /// Work with process templates.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Manage the registries of a running coordinator.
    Registry(client::RegistryArgs),
    /// Upload and list stage functions on a running coordinator.
    Function(client::FunctionArgs),
    /// Manage and run replication policies on a running coordinator.
    Policy(client::PolicyArgs),
    /// Inspect, stop and retry executions on a running coordinator.
    Execution(client::ExecutionArgs),
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Validate template files (structure, functions, parameters).
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Upload a template to a running coordinator (a new version if its
    /// name exists).
    Apply(client::TemplateApplyArgs),
}

pub fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    use std::io::IsTerminal as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

pub async fn run(cli: Cli) -> ExitCode {
    let dirs = function_dirs(cli.functions_dir.as_ref());
    match cli.command {
        Command::Copy(args) => copy::run(*args, dirs).await,
        Command::Serve(args) => match crate::server::run(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Functions => list_functions(dirs).await,
        Command::Template(TemplateCommand::Check { files }) => check_templates(files, dirs).await,
        Command::Template(TemplateCommand::Apply(args)) => client::run_template_apply(args).await,
        Command::Registry(args) => client::run_registry(args).await,
        Command::Function(args) => client::run_function(args).await,
        Command::Policy(args) => client::run_policy(args).await,
        Command::Execution(args) => client::run_execution(args).await,
    }
}

async fn check_templates(files: Vec<PathBuf>, dirs: Vec<PathBuf>) -> ExitCode {
    let catalog = match copy::catalog(dirs) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut ok = true;
    for file in files {
        match crate::engine::Template::resolve(&file.to_string_lossy(), &catalog).await {
            Ok(t) => outln!(
                "{}: ok ({}, {} stages)",
                file.display(),
                t.name,
                t.stages.len()
            ),
            Err(e) => {
                eprintln!("error: {e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn function_dirs(extra: Option<&PathBuf>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = extra.into_iter().cloned().collect();
    dirs.extend(crate::runtime::Catalog::default_dirs());
    dirs
}

async fn list_functions(dirs: Vec<PathBuf>) -> ExitCode {
    let installed = crate::runtime::DirSource { dirs: dirs.clone() }.installed();
    let catalog = match copy::catalog(dirs) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if installed.is_empty() {
        eprintln!("no functions found; build them with functions/build");
        return ExitCode::FAILURE;
    }
    for reference in installed {
        match catalog.get(&reference).await {
            Ok(f) => {
                outln!("{reference}  {}  {} bytes", f.digest, f.size);
                outln!("    {}", f.info.description);
                for p in &f.info.params {
                    let default = p
                        .default
                        .as_deref()
                        .map(|d| format!(" (default {d})"))
                        .unwrap_or_default();
                    let req = if p.required { " (required)" } else { "" };
                    outln!("    --{}{req}{default}: {}", p.name, p.description);
                }
            }
            Err(e) => outln!("{reference}  error: {e}"),
        }
    }
    ExitCode::SUCCESS
}
