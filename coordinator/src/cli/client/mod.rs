//! Client subcommands: talk to a running coordinator (`ferry serve`) over
//! its JSON API. One file per resource; `http` is the API client.

mod execution;
mod function;
mod http;
mod policy;
mod registry;
mod template;

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::Value;

pub use execution::ExecutionCommand;
pub use function::FunctionCommand;
pub use policy::PolicyCommand;
pub use registry::RegistryCommand;
pub use template::TemplateApplyArgs;

use http::{Api, ApiError};

/// Where the server is, how to authenticate, how to print; global to every
/// client subcommand.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Coordinator URL.
    #[arg(
        long,
        global = true,
        env = "FERRY_SERVER",
        default_value = "http://127.0.0.1:7117",
        value_name = "URL"
    )]
    pub server: String,

    /// Admin token (default: the `admin-token` file the server writes in
    /// its data directory: $FERRY_DATA_DIR, $XDG_DATA_HOME/ferry or
    /// ~/.local/share/ferry).
    #[arg(
        long,
        global = true,
        env = "FERRY_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,

    /// Output format: human-readable text, or the server's raw JSON.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// `ferry registry ...`
#[derive(Debug, Args)]
pub struct RegistryArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: RegistryCommand,
}

/// `ferry function ...`
#[derive(Debug, Args)]
pub struct FunctionArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: FunctionCommand,
}

/// `ferry policy ...`
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// `ferry execution ...`
#[derive(Debug, Args)]
pub struct ExecutionArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: ExecutionCommand,
}

/// A failed command: its message and exit code (1: the operation failed,
/// 2: bad input or a server error).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    pub fn operation(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self::input(e.to_string())
    }
}

pub type Outcome = Result<ExitCode, Failure>;

/// What every subcommand gets: the API client and the output format.
pub struct Ctx {
    pub api: Api,
    pub output: Output,
}

impl Ctx {
    fn new(args: &ClientArgs) -> Result<Self, Failure> {
        let token = admin_token(args.token.clone(), &|k| std::env::var(k).ok())?;
        let api = Api::new(&args.server, token).map_err(Failure::input)?;
        Ok(Self {
            api,
            output: args.output,
        })
    }

    pub fn json(&self) -> bool {
        self.output == Output::Json
    }
}

async fn with_ctx<F, Fut>(args: &ClientArgs, f: F) -> ExitCode
where
    F: FnOnce(Ctx) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let outcome = match Ctx::new(args) {
        Ok(ctx) => f(ctx).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(code) => code,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

pub async fn run_registry(args: RegistryArgs) -> ExitCode {
    with_ctx(&args.client, |ctx| registry::run(ctx, args.command)).await
}

pub async fn run_function(args: FunctionArgs) -> ExitCode {
    with_ctx(&args.client, |ctx| function::run(ctx, args.command)).await
}

pub async fn run_policy(args: PolicyArgs) -> ExitCode {
    with_ctx(&args.client, |ctx| policy::run(ctx, args.command)).await
}

pub async fn run_execution(args: ExecutionArgs) -> ExitCode {
    with_ctx(&args.client, |ctx| execution::run(ctx, args.command)).await
}

pub async fn run_template_apply(args: TemplateApplyArgs) -> ExitCode {
    with_ctx(&args.client.clone(), |ctx| template::apply(ctx, args)).await
}

pub use crate::paths::data_dir;

/// The admin token: `--token` / `FERRY_ADMIN_TOKEN` (clap merges those two),
/// else the `admin-token` file in the data directory.
pub fn admin_token(
    given: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Failure> {
    if let Some(token) = given
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
    {
        return Ok(token);
    }
    let Some(dir) = data_dir(env) else {
        return Err(Failure::input(
            "no admin token: set FERRY_ADMIN_TOKEN or --token",
        ));
    };
    let path = dir.join("admin-token");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        Ok(_) => Err(Failure::input(format!(
            "no admin token: {} is empty; set FERRY_ADMIN_TOKEN or --token",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::input(format!(
            "no admin token: set FERRY_ADMIN_TOKEN or --token (no {} here)",
            path.display()
        ))),
        Err(e) => Err(Failure::input(format!(
            "cannot read the admin token from {}: {e}",
            path.display()
        ))),
    }
}

/// Reads FILE, or standard input for `-`.
pub fn read_input(file: &Path) -> Result<Vec<u8>, Failure> {
    if file == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| Failure::input(format!("cannot read standard input: {e}")))?;
        return Ok(buf);
    }
    std::fs::read(file).map_err(|e| Failure::input(format!("cannot read {}: {e}", file.display())))
}

pub fn print_json(v: &Value) {
    outln!(
        "{}",
        serde_json::to_string_pretty(v).expect("JSON values serialize")
    );
}

/// Left-aligned columns, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(cell);
                let pad = widths[i] + 2 - cell.chars().count();
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// Epoch milliseconds as RFC 3339 (UTC, seconds).
pub fn time(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `a, b, c`, or `none`: the names to choose from.
pub fn names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn data_dir_lookup_order() {
        let all = env(&[
            ("FERRY_DATA_DIR", "/d"),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(data_dir(&all), Some(PathBuf::from("/d")));
        let xdg = env(&[
            ("FERRY_DATA_DIR", ""),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(data_dir(&xdg), Some(PathBuf::from("/x/ferry")));
        let home = env(&[("HOME", "/h")]);
        assert_eq!(
            data_dir(&home),
            Some(PathBuf::from("/h/.local/share/ferry"))
        );
        assert_eq!(data_dir(&env(&[])), None);
    }

    #[test]
    fn token_from_flag_then_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("admin-token"), "from-file\n").unwrap();
        let d = dir.path().to_string_lossy().to_string();
        let lookup = move |k: &str| (k == "FERRY_DATA_DIR").then(|| d.clone());
        assert_eq!(admin_token(Some("given".into()), &lookup).unwrap(), "given");
        assert_eq!(admin_token(None, &lookup).unwrap(), "from-file");
        assert_eq!(admin_token(Some(" ".into()), &lookup).unwrap(), "from-file");

        let empty = tempfile::tempdir().unwrap();
        let e = empty.path().to_string_lossy().to_string();
        let lookup = move |k: &str| (k == "FERRY_DATA_DIR").then(|| e.clone());
        let err = admin_token(None, &lookup).unwrap_err();
        assert_eq!(err.code, 2);
        assert!(err.message.contains("FERRY_ADMIN_TOKEN"), "{}", err.message);
        assert!(err.message.contains("admin-token"), "{}", err.message);
    }

    #[test]
    fn tables_align() {
        let t = table(
            &["id", "name", "url"],
            &[
                vec!["1".into(), "hub".into(), "https://h".into()],
                vec!["10".into(), "x".into(), "".into()],
            ],
        );
        assert_eq!(t, "id  name  url\n1   hub   https://h\n10  x\n");
    }
}

#[cfg(test)]
mod clap_tests {
    use clap::{CommandFactory as _, Parser as _};

    use crate::cli::{Cli, Command};

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn client_flags_parse_anywhere_under_their_subcommand() {
        let cli = Cli::try_parse_from([
            "ferry",
            "policy",
            "--server",
            "http://s:1",
            "run",
            "p",
            "--wait",
            "--timeout",
            "5m",
            "--output",
            "json",
        ])
        .unwrap();
        let Command::Policy(args) = cli.command else {
            panic!("not a policy command")
        };
        assert_eq!(args.client.server, "http://s:1");
        assert_eq!(args.client.output, super::Output::Json);
        let cli = Cli::try_parse_from([
            "ferry",
            "function",
            "push",
            "f.wasm",
            "--name",
            "n",
            "--version",
            "1.0",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Function(_)));
        let cli =
            Cli::try_parse_from(["ferry", "template", "apply", "t.yaml", "--token", "x"]).unwrap();
        assert!(matches!(cli.command, Command::Template(_)));
    }
}
