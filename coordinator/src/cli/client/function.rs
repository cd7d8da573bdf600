//! `ferry function push|list`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::{Ctx, Failure, Outcome, print_json, read_input, table};
use crate::store::FunctionRow;

#[derive(Debug, Subcommand)]
pub enum FunctionCommand {
    /// Upload a stage function (a WebAssembly component).
    Push {
        /// The component file (`.wasm`).
        file: PathBuf,
        /// Function name (default: NAME of a file called `NAME@VERSION.wasm`).
        #[arg(long)]
        name: Option<String>,
        /// Function version (default: VERSION of a file called `NAME@VERSION.wasm`).
        #[arg(long)]
        version: Option<String>,
    },
    /// List the functions the coordinator knows.
    List,
}

pub async fn run(ctx: Ctx, command: FunctionCommand) -> Outcome {
    match command {
        FunctionCommand::Push {
            file,
            name,
            version,
        } => {
            let (name, version) = name_and_version(&file, name, version)?;
            let bytes = read_input(&file)?;
            let url = ctx.api.url(
                &["functions"],
                &[("name", name.clone()), ("version", version.clone())],
            );
            let pushed = ctx.api.post_raw(url, bytes, "application/wasm").await?;
            let f: FunctionRow = pushed.decode()?;
            if ctx.json() {
                print_json(&pushed.json);
                return Ok(ExitCode::SUCCESS);
            }
            outln!("function {}@{} pushed", f.name, f.version);
            outln!("digest:  {}", f.digest);
            outln!(
                "size:    {} ({} bytes)",
                indicatif::HumanBytes(f.size.max(0) as u64),
                f.size
            );
            if !f.description.is_empty() {
                outln!("about:   {}", f.description);
            }
            out!("imports:{}", list_or_none(&f.imports));
            out!("exports:{}", list_or_none(&f.exports));
            Ok(ExitCode::SUCCESS)
        }
        FunctionCommand::List => {
            let all = ctx.api.list_all::<FunctionRow>(&["functions"]).await?;
            if ctx.json() {
                print_json(&all.to_json());
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = all
                .items
                .into_iter()
                .map(|f| {
                    vec![
                        f.name,
                        f.version,
                        f.digest,
                        indicatif::HumanBytes(f.size.max(0) as u64).to_string(),
                        if f.builtin { "builtin" } else { "uploaded" }.to_string(),
                        f.description,
                    ]
                })
                .collect();
            out!(
                "{}",
                table(
                    &["NAME", "VERSION", "DIGEST", "SIZE", "SOURCE", "DESCRIPTION"],
                    &rows
                )
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// ` (none)\n`, or one item a line.
fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        " (none)\n".into()
    } else {
        items.iter().map(|i| format!("\n  {i}")).collect::<String>() + "\n"
    }
}

/// `--name`/`--version`, else taken from a file named `NAME@VERSION.wasm`.
fn name_and_version(
    file: &Path,
    name: Option<String>,
    version: Option<String>,
) -> Result<(String, String), Failure> {
    let from_file = file
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.strip_suffix(".wasm").unwrap_or(n))
        .and_then(|stem| stem.split_once('@'))
        .filter(|(n, v)| !n.is_empty() && !v.is_empty());
    let name = name.or_else(|| from_file.map(|(n, _)| n.to_string()));
    let version = version.or_else(|| from_file.map(|(_, v)| v.to_string()));
    match (name, version) {
        (Some(n), Some(v)) => Ok((n, v)),
        _ => Err(Failure::input(format!(
            "{}: give --name and --version (or name the file NAME@VERSION.wasm)",
            file.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_and_version_come_from_flags_or_the_file_name() {
        let p = Path::new("/x/tag-filter@1.2.0.wasm");
        assert_eq!(
            name_and_version(p, None, None).unwrap(),
            ("tag-filter".into(), "1.2.0".into())
        );
        assert_eq!(
            name_and_version(p, Some("f".into()), None).unwrap(),
            ("f".into(), "1.2.0".into())
        );
        let plain = Path::new("f.wasm");
        assert!(name_and_version(plain, Some("f".into()), None).is_err());
        assert_eq!(
            name_and_version(plain, Some("f".into()), Some("1".into())).unwrap(),
            ("f".into(), "1".into())
        );
    }
}
