//! `ferry registry add|list|check`.

use std::process::ExitCode;

use clap::Subcommand;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Ctx, Failure, Outcome, decode, find_by_name, names, print_json, table};

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Register a registry with the coordinator.
    Add {
        /// A unique name for it, used by policies.
        name: String,
        /// Its URL, `http(s)://host[:port]`.
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

#[derive(Serialize)]
struct Credential<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    access_key: &'a str,
    access_secret: &'a str,
}

#[derive(Serialize)]
struct NewRegistry<'a> {
    name: &'a str,
    url: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    insecure: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential: Option<Credential<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_secret: Option<&'a str>,
}

/// The fields the client shows.
#[derive(Deserialize)]
struct Registry {
    id: i64,
    name: String,
    url: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    credential_type: Option<String>,
    #[serde(default)]
    event_secret_set: bool,
    #[serde(default)]
    events_accepted: i64,
    #[serde(default)]
    events_dropped: i64,
    #[serde(default)]
    events_ignored: i64,
}

#[derive(Deserialize)]
struct Ping {
    status: String,
    #[serde(default)]
    message: String,
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
        } => {
            let credential = match (&username, &password) {
                (Some(u), Some(p)) => Some(Credential {
                    kind: "basic",
                    access_key: u,
                    access_secret: p,
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
            let body = NewRegistry {
                name: &name,
                url: &url,
                kind: &kind,
                insecure,
                description: description.as_deref(),
                credential,
                event_secret: event_secret.as_deref(),
            };
            let created: Value = ctx.api.post(&["registries"], &body).await?;
            if ctx.json() {
                print_json(&created);
            } else {
                let r: Registry = decode("registry", &created)?;
                outln!("registry {} added (id {}): {}", r.name, r.id, r.url);
            }
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::List => {
            let all = ctx.api.list_all(&["registries"]).await?;
            if ctx.json() {
                print_json(&Value::Array(all));
                return Ok(ExitCode::SUCCESS);
            }
            let mut rows = Vec::new();
            for v in &all {
                let r: Registry = decode("registry", v)?;
                rows.push(vec![
                    r.id.to_string(),
                    r.name,
                    r.url,
                    r.kind,
                    r.insecure.to_string(),
                    r.credential_type.unwrap_or_else(|| "-".into()),
                ]);
            }
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
            let v: Value = ctx.api.get(&["registries", &id.to_string()]).await?;
            if ctx.json() {
                print_json(&v);
                return Ok(ExitCode::SUCCESS);
            }
            let r: Registry = decode("registry", &v)?;
            let endpoint = ctx.api.url(&["registries", &id.to_string(), "events"], &[]);
            outln!("{}", render_show(&r, endpoint.as_str()));
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Check { name } => {
            let id = registry_id(&ctx, &name).await?;
            let answer: Value = ctx
                .api
                .post_action(&["registries", &id.to_string(), "ping"])
                .await?;
            let ping: Ping = decode("ping answer", &answer)?;
            let healthy = ping.status == "healthy";
            if ctx.json() {
                print_json(&answer);
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
    let all = ctx.api.list_all(&["registries"]).await?;
    let Some(found) = find_by_name(&all, name) else {
        return Err(Failure::input(format!(
            "no registry named {name:?} (registries: {})",
            names(&all)
        )));
    };
    found
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| Failure::input(format!("registry {name:?} has no id in the answer")))
}
