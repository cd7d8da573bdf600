//! `ferry registry add|list|check`.

use std::process::ExitCode;

use clap::Subcommand;

use super::{Ctx, Failure, Outcome, names, print_json, table};
use crate::server::api::{CredentialInput, Health, HealthStatus, RegistryInput};
use crate::store::Registry;

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Register a registry with the coordinator.
    Add {
        /// A unique name for it, used by policies.
        name: String,
        /// Its URL, `http(s)://host[:port][/path]` (a path for kinds that use one, such as chart repositories).
        url: String,
        /// Registry kind: which adapter functions serve it.
        #[arg(long = "type", value_name = "TYPE", default_value = "distribution")]
        kind: String,
        /// Allow plain HTTP and self-signed certificates.
        #[arg(long)]
        insecure: bool,
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// User name for basic authentication.
        #[arg(long, value_name = "USER")]
        username: Option<String>,
        /// Password or access token for basic authentication.
        #[arg(
            long,
            env = "FERRY_REGISTRY_PASSWORD",
            hide_env_values = true,
            value_name = "PASSWORD"
        )]
        password: Option<String>,
        /// The secret its notifications carry (`Authorization: Bearer
        /// <secret>`), for event-based policies; at least 16 characters.
        #[arg(
            long,
            env = "FERRY_EVENT_SECRET",
            hide_env_values = true,
            value_name = "SECRET"
        )]
        event_secret: Option<String>,
        /// Requests Ferry starts per second to it, across executions.
        #[arg(long, value_name = "N")]
        requests_per_second: Option<i64>,
        /// Requests Ferry has waiting for its answer at once, across executions.
        #[arg(long, value_name = "N")]
        max_concurrency: Option<i64>,
    },
    /// List registries.
    List,
    /// Show a registry, its event counts, and the `notifications` block
    /// that makes a distribution registry notify Ferry.
    Show {
        /// The registry's name.
        name: String,
    },
    /// Check that the coordinator can reach a registry (exit 1 when not).
    Check {
        /// The registry's name.
        name: String,
    },
}

pub async fn run(ctx: Ctx, command: RegistryCommand) -> Outcome {
    match command {
        RegistryCommand::Add {
            name,
            url,
            kind,
            insecure,
            description,
            username,
            password,
            event_secret,
            requests_per_second,
            max_concurrency,
        } => {
            let credential = match (username, password) {
                (Some(access_key), Some(access_secret)) => Some(CredentialInput {
                    kind: "basic".into(),
                    access_key,
                    access_secret,
                }),
                (None, None) => None,
                (Some(_), None) => {
                    return Err(Failure::input(
                        "--username needs --password (or FERRY_REGISTRY_PASSWORD)",
                    ));
                }
                (None, Some(_)) => {
                    return Err(Failure::input(
                        "a password (--password or FERRY_REGISTRY_PASSWORD) needs --username",
                    ));
                }
            };
            let body = RegistryInput {
                name,
                url,
                kind: Some(kind),
                insecure,
                description: description.unwrap_or_default(),
                credential,
                event_secret,
                requests_per_second,
                max_concurrency,
            };
            let created = ctx.api.post(&["registries"], &body).await?;
            let r: Registry = created.decode()?;
            if ctx.json() {
                print_json(&created.json);
            } else {
                outln!("registry {} added (id {}): {}", r.name, r.id, r.url);
            }
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::List => {
            let all = ctx.api.list_all::<Registry>(&["registries"]).await?;
            if ctx.json() {
                print_json(&all.to_json());
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = all
                .items
                .into_iter()
                .map(|r| {
                    vec![
                        r.id.to_string(),
                        r.name,
                        r.url,
                        r.kind.to_string(),
                        r.insecure.to_string(),
                        r.credential_type.unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            out!(
                "{}",
                table(
                    &["ID", "NAME", "URL", "TYPE", "INSECURE", "CREDENTIAL"],
                    &rows
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Show { name } => {
            let id = registry_id(&ctx, &name).await?;
            let shown = ctx.api.get(&["registries", &id.to_string()]).await?;
            let r: Registry = shown.decode()?;
            if ctx.json() {
                print_json(&shown.json);
                return Ok(ExitCode::SUCCESS);
            }
            let endpoint = ctx.api.url(&["registries", &id.to_string(), "events"], &[]);
            outln!("{}", render_show(&r, endpoint.as_str()));
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Check { name } => {
            let id = registry_id(&ctx, &name).await?;
            let answer = ctx
                .api
                .post_action(&["registries", &id.to_string(), "ping"])
                .await?;
            let ping: Health = answer.decode()?;
            let healthy = ping.status == HealthStatus::Healthy;
            if ctx.json() {
                print_json(&answer.json);
            } else if ping.message.is_empty() {
                outln!("registry {name}: {}", ping.status);
            } else {
                outln!("registry {name}: {}: {}", ping.status, ping.message);
            }
            Ok(if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// `ferry registry show`'s text: the registry, its events, and the
/// `notifications` block of a distribution registry's config.
fn render_show(r: &Registry, endpoint: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "registry:    {} (id {})", r.name, r.id);
    let _ = writeln!(out, "url:         {}", r.url);
    let _ = writeln!(out, "type:        {}", r.kind);
    let _ = writeln!(out, "insecure:    {}", r.insecure);
    let _ = writeln!(
        out,
        "credential:  {}",
        r.credential_type.as_deref().unwrap_or("none")
    );
    let _ = writeln!(out, "events:      {endpoint}");
    if !r.event_secret_set {
        let _ = write!(
            out,
            "             no event secret: notifications are refused; set one with \
             `ferry registry add ... --event-secret` (or the API's event_secret)"
        );
        return out;
    }
    let _ = writeln!(
        out,
        "             {} accepted, {} dropped (no policy covers them), {} ignored",
        r.events_accepted, r.events_dropped, r.events_ignored
    );
    let _ = write!(
        out,
        "\nTo have a distribution registry notify Ferry, add to its config.yml:\n\n\
         notifications:\n  events:\n    includereferences: true\n  endpoints:\n    \
         - name: ferry\n      url: {endpoint}\n      headers:\n        \
         Authorization: [\"Bearer <the event secret>\"]\n      \
         ignore:\n        actions: [pull]\n      timeout: 5s\n      \
         threshold: 5\n      backoff: 1s\n"
    );
    out
}

/// The id of the registry called `name`.
pub async fn registry_id(ctx: &Ctx, name: &str) -> Result<i64, Failure> {
    let all = ctx.api.list_all::<Registry>(&["registries"]).await?.items;
    match all.iter().find(|r| r.name == name) {
        Some(r) => Ok(r.id),
        None => Err(Failure::input(format!(
            "no registry named {name:?} (registries: {})",
            names(all.iter().map(|r| r.name.as_str()))
        ))),
    }
}
