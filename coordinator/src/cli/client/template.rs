//! `ferry template apply FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{ClientArgs, Ctx, Failure, Outcome, print_json, read_input};
use crate::store::TemplateRow;

#[derive(Debug, Args)]
pub struct TemplateApplyArgs {
    /// The template's YAML file (`-`: standard input). A template of an
    /// existing name becomes its next version.
    pub file: PathBuf,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn apply(ctx: Ctx, args: TemplateApplyArgs) -> Outcome {
    let bytes = read_input(&args.file)?;
    // Catch files that are not YAML at all here; the server judges the rest.
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::input(format!("{}: not UTF-8 text", args.file.display())))?;
    serde_yaml::from_str::<serde_yaml::Value>(&text)
        .map_err(|e| Failure::input(format!("{}: not YAML: {e}", args.file.display())))?;
    let url = ctx.api.url(&["templates"], &[]);
    let row = ctx
        .api
        .post_raw(url, text.into_bytes(), "application/yaml")
        .await?;
    let t: TemplateRow = row.decode()?;
    if ctx.json() {
        print_json(&row.json);
    } else {
        outln!("template {} version {}", t.name, t.version);
    }
    Ok(ExitCode::SUCCESS)
}
