//! `ferry policy apply|list|run`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use serde::Deserialize as _;
use serde_json::{Map, Value, json};

use super::http::Listing;
use super::{Ctx, Failure, Outcome, execution, names, print_json, read_input, table, time};
use crate::server::api::{PolicyInput, StartInput};
use crate::store::{Execution, Policy, Registry, TriggerKind};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Create or update a replication policy from a YAML file (Harbor's
    /// policy fields; registries may be given by name).
    Apply {
        /// The policy's YAML file (`-`: standard input).
        file: PathBuf,
    },
    /// List policies.
    List,
    /// Show a policy: registries, filters, trigger and its next run.
    Show {
        /// The policy's name (or id).
        name: String,
    },
    /// Start an execution of a policy.
    Run {
        /// The policy's name (or id).
        name: String,
        /// Wait for the execution to finish, showing progress; exit 1
        /// unless it succeeded.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up waiting after this long (e.g. `30m`, `2h`).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "1h", value_name = "DURATION")]
        timeout: Duration,
        /// Only list: show what would be copied, skipped and deleted, and
        /// why; write nothing to the target (implies --wait).
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(ctx: Ctx, command: PolicyCommand) -> Outcome {
    match command {
        PolicyCommand::Apply { file } => apply(&ctx, file).await,
        PolicyCommand::List => list(&ctx).await,
        PolicyCommand::Show { name } => show(&ctx, &name).await,
        PolicyCommand::Run {
            name,
            wait,
            timeout,
            dry_run,
        } => {
            let (policy, _) = find_policy(&ctx, &name).await?;
            let started = ctx
                .api
                .post(
                    &["policies", &policy.id.to_string(), "executions"],
                    &StartInput { dry_run },
                )
                .await?;
            let wait = wait || dry_run;
            let exec: Execution = started.decode()?;
            if ctx.json() {
                if !wait {
                    print_json(&started.json);
                }
            } else {
                outln!("{}", execution::headline(&exec));
            }
            if !wait {
                return Ok(execution::started_code(&exec));
            }
            execution::wait_and_finish(&ctx, exec.id, timeout).await
        }
    }
}

async fn apply(ctx: &Ctx, file: PathBuf) -> Outcome {
    let bytes = read_input(&file)?;
    let doc: serde_yaml::Value = serde_yaml::from_slice(&bytes)
        .map_err(|e| Failure::input(format!("{}: not YAML: {e}", file.display())))?;
    let doc: Value = serde_json::to_value(doc)
        .map_err(|e| Failure::input(format!("{}: {e}", file.display())))?;
    let registries = if needs_registry_names(&doc) {
        ctx.api.list_all::<Registry>(&["registries"]).await?.items
    } else {
        Vec::new()
    };
    let body = policy_input(doc, &registries)
        .map_err(|e| Failure::input(format!("{}: {e}", file.display())))?;
    let policies = ctx.api.list_all::<Policy>(&["policies"]).await?.items;
    let existing = policies.iter().find(|p| p.name == body.name).map(|p| p.id);
    let (answer, verb) = match existing {
        Some(id) => (
            ctx.api.put(&["policies", &id.to_string()], &body).await?,
            "updated",
        ),
        None => (ctx.api.post(&["policies"], &body).await?, "created"),
    };
    // A PUT may answer with nothing.
    let policy: Option<Policy> = answer.decode_opt()?;
    if ctx.json() {
        // Show what was sent then.
        let shown = match policy {
            Some(_) => answer.json,
            None => serde_json::to_value(&body)
                .map_err(|e| Failure::input(format!("cannot show the policy sent: {e}")))?,
        };
        print_json(&shown);
        return Ok(ExitCode::SUCCESS);
    }
    let name = &body.name;
    match policy.map(|p| p.id).or(existing) {
        Some(id) => outln!("policy {name} {verb} (id {id})"),
        None => outln!("policy {name} {verb}"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(ctx: &Ctx) -> Outcome {
    let policies = ctx.api.list_all::<Policy>(&["policies"]).await?;
    if ctx.json() {
        print_json(&policies.to_json());
        return Ok(ExitCode::SUCCESS);
    }
    // Registry names read better than ids; ids still show if that fails.
    let registries = registries_or_none(ctx).await;
    let registry = |id: i64| -> String {
        registries
            .iter()
            .find(|r| r.id == id)
            .map_or_else(|| format!("#{id}"), |r| r.name.clone())
    };
    let rows: Vec<Vec<String>> = policies
        .items
        .iter()
        .map(|p| {
            let trigger = p.trigger.kind.as_str();
            let cron = p
                .trigger
                .trigger_settings
                .cron
                .as_deref()
                .filter(|c| !c.is_empty());
            vec![
                p.id.to_string(),
                p.name.clone(),
                registry(p.src_registry.id),
                registry(p.dest_registry.id),
                match cron {
                    Some(c) => format!("{trigger} ({c})"),
                    None => trigger.to_string(),
                },
                p.enabled.to_string(),
                p.next_fire_time.map_or_else(|| "-".into(), time),
                p.template.clone(),
            ]
        })
        .collect();
    out!(
        "{}",
        table(
            &[
                "ID", "NAME", "SOURCE", "DEST", "TRIGGER", "ENABLED", "NEXT RUN", "TEMPLATE"
            ],
            &rows
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// Every registry, or none when they cannot be listed: for showing names
/// beside ids.
async fn registries_or_none(ctx: &Ctx) -> Vec<Registry> {
    ctx.api
        .list_all::<Registry>(&["registries"])
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

async fn show(ctx: &Ctx, name: &str) -> Outcome {
    let (policy, json) = find_policy(ctx, name).await?;
    if ctx.json() {
        print_json(&json);
        return Ok(ExitCode::SUCCESS);
    }
    let registries = registries_or_none(ctx).await;
    outln!("{}", render_show(&policy, &registries));
    Ok(ExitCode::SUCCESS)
}

/// `ferry policy show`'s text.
fn render_show(p: &Policy, registries: &[Registry]) -> String {
    use std::fmt::Write as _;
    let registry = |id: i64| {
        registries
            .iter()
            .find(|r| r.id == id)
            .map_or_else(|| format!("#{id}"), |r| format!("{} (#{id})", r.name))
    };
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mut out = String::new();
    let _ = writeln!(out, "policy:      {} (id {})", p.name, p.id);
    if !p.description.is_empty() {
        let _ = writeln!(out, "description: {}", p.description);
    }
    let _ = writeln!(out, "source:      {}", registry(p.src_registry.id));
    let _ = writeln!(out, "destination: {}", registry(p.dest_registry.id));
    let namespace = match p.dest_namespace.as_str() {
        "" => "(the source's paths)".to_string(),
        ns => format!("{ns}/ (replace count {})", p.dest_namespace_replace_count),
    };
    let _ = writeln!(out, "namespace:   {namespace}");
    if p.filters.is_empty() {
        let _ = writeln!(out, "filters:     none (everything)");
    }
    for (i, f) in p.filters.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}{} {} {}",
            if i == 0 {
                "filters:     "
            } else {
                "             "
            },
            f.kind.as_str(),
            f.decoration.unwrap_or_default().as_str(),
            f.value
        );
    }
    let trigger = match (p.trigger.kind, p.trigger.cron()) {
        (TriggerKind::Scheduled, Some(cron)) => format!("scheduled, cron {cron:?} (UTC)"),
        (TriggerKind::Scheduled, None) => "scheduled (no cron)".into(),
        (TriggerKind::Manual, _) => "manual".into(),
        (TriggerKind::EventBased, _) => "event_based (the source's notifications)".into(),
    };
    let _ = writeln!(out, "trigger:     {trigger}");
    if p.trigger.kind == TriggerKind::Scheduled {
        let next = match p.next_fire_time {
            Some(t) => time(t),
            None if !p.enabled => "none: the policy is disabled".into(),
            None => "none: the cron never matches again".into(),
        };
        let _ = writeln!(out, "next run:    {next}");
    }
    let _ = writeln!(out, "enabled:     {}", yes(p.enabled));
    let _ = writeln!(
        out,
        "options:     override {}, replicate deletion {}, single active {}, chunked {}, speed {}",
        yes(p.override_existing),
        yes(p.replicate_deletion),
        yes(p.single_active_replication),
        yes(p.copy_by_chunk),
        if p.speed > 0 {
            format!("{} KB/s", p.speed)
        } else {
            "unlimited".into()
        }
    );
    let _ = write!(out, "template:    {}", p.template);
    out
}

/// The policy called `name`, as the API's model and as the server sent it;
/// an all-digits argument that names no policy is taken as an id.
pub async fn find_policy(ctx: &Ctx, name: &str) -> Result<(Policy, Value), Failure> {
    let Listing { json, items } = ctx.api.list_all::<Policy>(&["policies"]).await?;
    let found = items.iter().position(|p| p.name == name).or_else(|| {
        let id = name.parse::<i64>().ok()?;
        items.iter().position(|p| p.id == id)
    });
    match found {
        Some(i) => Ok((items[i].clone(), json[i].clone())),
        None => Err(Failure::input(format!(
            "no policy named {name:?} (policies: {})",
            names(items.iter().map(|p| p.name.as_str()))
        ))),
    }
}

const REGISTRY_KEYS: [&str; 2] = ["src_registry", "dest_registry"];

fn needs_registry_names(doc: &Value) -> bool {
    REGISTRY_KEYS.iter().any(|k| match doc.get(*k) {
        Some(Value::String(_)) => true,
        Some(Value::Object(o)) => !o.contains_key("id") && o.contains_key("name"),
        _ => false,
    })
}

/// Reads a policy document (YAML, as JSON) as the API's input: registries
/// by name become `{id}`, `trigger` may be a bare type or carry `cron`, and
/// omitted fields take the API's defaults.
pub fn policy_input(doc: Value, registries: &[Registry]) -> Result<PolicyInput, String> {
    let Value::Object(mut p) = doc else {
        return Err("a policy is a mapping of Harbor policy fields".into());
    };
    match p.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => {}
        _ => return Err("the policy needs a `name`".into()),
    }
    for key in REGISTRY_KEYS {
        let id = registry_ref(key, p.get(key), registries)?;
        p.insert(key.into(), json!({ "id": id }));
    }
    let trigger = trigger(p.remove("trigger"))?;
    p.insert("trigger".into(), trigger);
    if let Some(filters) = p.get("filters")
        && !filters.is_null()
        && !filters.is_array()
    {
        return Err("`filters` is a list of {type, value, decoration}".into());
    }
    // An empty field is an omitted one: it takes the default.
    p.retain(|_, v| !v.is_null());
    decode_input(p)
}

/// The API's input from the document's fields. Errors name the field:
/// serde's from a JSON value do not, so the first field that fails alone
/// (beside the name every policy has) is the one.
fn decode_input(p: Map<String, Value>) -> Result<PolicyInput, String> {
    let decode = |m: Map<String, Value>| PolicyInput::deserialize(Value::Object(m));
    let whole = match decode(p.clone()) {
        Ok(input) => return Ok(input),
        Err(e) => e,
    };
    let name = p.get("name").cloned().unwrap_or_default();
    for (key, value) in &p {
        let mut alone = Map::new();
        alone.insert("name".into(), name.clone());
        alone.insert(key.clone(), value.clone());
        if let Err(e) = decode(alone) {
            return Err(format!("{key}: {e}"));
        }
    }
    Err(whole.to_string())
}

fn registry_ref(key: &str, v: Option<&Value>, registries: &[Registry]) -> Result<i64, String> {
    let by_name = |name: &str| -> Result<i64, String> {
        registries
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.id)
            .ok_or_else(|| {
                format!(
                    "{key}: no registry named {name:?} (registries: {}); add it with `ferry registry add`",
                    names(registries.iter().map(|r| r.name.as_str()))
                )
            })
    };
    match v {
        None | Some(Value::Null) => Err(format!("the policy needs `{key}` (a registry name)")),
        Some(Value::String(name)) => by_name(name),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("{key}: {n} is not a registry id")),
        Some(Value::Object(o)) => match (o.get("id"), o.get("name")) {
            (Some(id), _) => id
                .as_i64()
                .ok_or_else(|| format!("{key}: id {id} is not a registry id")),
            (None, Some(Value::String(name))) => by_name(name),
            _ => Err(format!(
                "{key}: give a registry name or {{name: ...}} or {{id: ...}}"
            )),
        },
        Some(other) => Err(format!("{key}: {other} is not a registry name")),
    }
}

/// `trigger: manual`, `{type, trigger_settings: {cron}}`, or `{type, cron}`;
/// omitted: manual.
fn trigger(v: Option<Value>) -> Result<Value, String> {
    let mut t = match v {
        None | Some(Value::Null) => Map::new(),
        Some(Value::String(kind)) => {
            let mut m = Map::new();
            m.insert("type".into(), Value::String(kind));
            m
        }
        Some(Value::Object(m)) => m,
        Some(other) => return Err(format!("trigger: {other} is not a trigger")),
    };
    if let Some(cron) = t.remove("cron") {
        let settings = t.entry("trigger_settings").or_insert_with(|| json!({}));
        match settings {
            Value::Object(s) => {
                s.entry("cron").or_insert(cron);
            }
            _ => return Err("trigger: trigger_settings is a mapping".into()),
        }
    }
    if !t.contains_key("type") {
        let scheduled = t
            .get("trigger_settings")
            .and_then(|s| s.get("cron"))
            .is_some();
        t.insert(
            "type".into(),
            json!(if scheduled { "scheduled" } else { "manual" }),
        );
    }
    match t.get("trigger_settings") {
        None | Some(Value::Null) => {
            t.insert("trigger_settings".into(), json!({}));
        }
        Some(Value::Object(_)) => {}
        Some(_) => return Err("trigger: trigger_settings is a mapping".into()),
    }
    Ok(Value::Object(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        let v: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
        serde_json::to_value(v).unwrap()
    }

    fn registries() -> Vec<Registry> {
        [(1, "hub"), (2, "mirror")]
            .into_iter()
            .map(|(id, name)| {
                serde_json::from_value(json!({
                    "id": id, "name": name, "url": format!("https://{name}"),
                    "type": "distribution", "insecure": false, "description": "",
                    "credential_type": null, "creation_time": 1, "update_time": 1,
                }))
                .unwrap()
            })
            .collect()
    }

    /// The request body a document becomes.
    fn body(doc: Value, registries: &[Registry]) -> Value {
        serde_json::to_value(policy_input(doc, registries).unwrap()).unwrap()
    }

    #[test]
    fn names_resolve_and_defaults_fill_in() {
        let doc = yaml(
            "name: p\nsrc_registry: hub\ndest_registry: {name: mirror}\ndescription:\nfilters:\n",
        );
        assert!(needs_registry_names(&doc));
        assert_eq!(
            body(doc, &registries()),
            json!({
                "name": "p",
                "description": "",
                "src_registry": {"id": 1},
                "dest_registry": {"id": 2},
                "dest_namespace": "",
                "dest_namespace_replace_count": -1,
                "filters": [],
                "trigger": {"type": "manual", "trigger_settings": {}},
                "replicate_deletion": false,
                "override": true,
                "enabled": true,
                "speed": -1,
                "copy_by_chunk": false,
                "chunk_size": 10485760,
                "single_active_replication": false,
                "template": "oci-to-oci",
            })
        );
    }

    #[test]
    fn given_fields_are_kept() {
        let doc = yaml(
            r#"
name: nightly
description: mirror alpine
src_registry: {id: 7}
dest_registry: 2
dest_namespace: mirror
dest_namespace_replace_count: 0
filters:
  - {type: name, value: "library/**"}
  - {type: tag, value: "v*", decoration: excludes}
trigger:
  type: scheduled
  trigger_settings: {cron: "0 0 2 * * *"}
override: false
enabled: false
speed: 1024
copy_by_chunk: true
chunk_size: 1048576
single_active_replication: true
template: oci-to-oci@2
"#,
        );
        assert!(!needs_registry_names(&doc));
        let body = body(doc, &[]);
        assert_eq!(body["src_registry"], json!({"id": 7}));
        assert_eq!(body["dest_registry"], json!({"id": 2}));
        assert_eq!(body["dest_namespace_replace_count"], json!(0));
        assert_eq!(body["filters"][1]["decoration"], json!("excludes"));
        assert_eq!(
            body["trigger"],
            json!({"type": "scheduled", "trigger_settings": {"cron": "0 0 2 * * *"}})
        );
        assert_eq!(body["override"], json!(false));
        assert_eq!(body["enabled"], json!(false));
        assert_eq!(body["speed"], json!(1024));
        assert_eq!(body["copy_by_chunk"], json!(true));
        assert_eq!(body["chunk_size"], json!(1048576));
        assert_eq!(body["single_active_replication"], json!(true));
        assert_eq!(body["template"], json!("oci-to-oci@2"));
        assert_eq!(body["description"], json!("mirror alpine"));
    }

    #[test]
    fn show_gives_the_trigger_and_next_run() {
        let mut p: Policy = serde_json::from_value(json!({
            "id": 3, "name": "nightly", "description": "", "src_registry": {"id": 1},
            "dest_registry": {"id": 2}, "dest_namespace": "copy",
            "dest_namespace_replace_count": 0,
            "filters": [{"type": "tag", "value": "*-rc*", "decoration": "excludes"}],
            "trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 0 2 * * *"}},
            "replicate_deletion": false, "override": true, "enabled": true, "speed": -1,
            "copy_by_chunk": false, "chunk_size": 10485760, "single_active_replication": true,
            "template": "oci-to-oci", "creation_time": 1, "update_time": 1,
            "next_fire_time": 1_800_000_000_000i64,
        }))
        .unwrap();
        let text = render_show(&p, &registries());
        assert!(
            text.contains("trigger:     scheduled, cron \"0 0 2 * * *\" (UTC)"),
            "{text}"
        );
        assert!(text.contains("next run:    2027-01-15T08:00:00Z"), "{text}");
        assert!(text.contains("source:      hub (#1)"), "{text}");
        assert!(
            text.contains("filters:     tag excludes \"*-rc*\""),
            "{text}"
        );
        p.enabled = false;
        p.next_fire_time = None;
        let text = render_show(&p, &registries());
        assert!(
            text.contains("next run:    none: the policy is disabled"),
            "{text}"
        );
    }

    #[test]
    fn trigger_shorthands() {
        assert_eq!(
            trigger(Some(json!("event_based"))).unwrap(),
            json!({"type": "event_based", "trigger_settings": {}})
        );
        assert_eq!(
            trigger(Some(json!({"cron": "0 * * * * *"}))).unwrap(),
            json!({"type": "scheduled", "trigger_settings": {"cron": "0 * * * * *"}})
        );
        assert!(trigger(Some(json!(3))).is_err());
    }

    #[test]
    fn bad_policies_are_explained() {
        let err = |text: &str| policy_input(yaml(text), &registries()).unwrap_err();
        assert!(err("- a\n").contains("mapping"));
        assert!(err("src_registry: hub\n").contains("name"));
        assert!(err("name: p\ndest_registry: hub\n").contains("src_registry"));
        let e = err("name: p\nsrc_registry: nope\ndest_registry: hub\n");
        assert!(e.contains("no registry named \"nope\""), "{e}");
        assert!(e.contains("hub, mirror"), "{e}");
        assert!(
            err("name: p\nsrc_registry: hub\ndest_registry: hub\nfilters: x\n").contains("filters")
        );
        let e = err("name: p\nsrc_registry: hub\ndest_registry: hub\nenabled: maybe\n");
        assert!(e.starts_with("enabled: invalid type"), "{e}");
        let e = err("name: p\nsrc_registry: hub\ndest_registry: hub\ntrigger: hourly\n");
        assert!(e.starts_with("trigger: unknown variant `hourly`"), "{e}");
        let e = err("name: p\nsrc_registry: hub\ndest_registry: hub\nrepeat: 2\n");
        assert!(e.starts_with("repeat: unknown field `repeat`"), "{e}");
    }

    #[test]
    fn trigger_kinds_read_as_the_api_writes_them() {
        for kind in [
            TriggerKind::Manual,
            TriggerKind::Scheduled,
            TriggerKind::EventBased,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
    }
}
