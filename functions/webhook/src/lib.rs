//! `webhook`: POSTs a JSON summary of the execution to a URL (meant for
//! `when: always`, after the other stages).

use oci_guest::errors::{error, internal};
use oci_guest::params::{Counts, Params, output};
use oci_guest::{
    ErrorKind, FunctionInfo, Guest, Report, StageInput, StageOutput, Status, WitError, log, notify,
    param,
};
use serde_json::{Value, json};

struct Webhook;

impl Guest for Webhook {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description:
                "POSTs a JSON summary of the execution (artifacts and stage reports) to a URL."
                    .into(),
            params: vec![param(
                "url",
                "Where to POST the summary (application/json); empty: do nothing.",
                true,
                None,
            )],
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        let url = Params::new(&input.params).required("url")?;
        let mut counts = Counts::new(&["notifications"]);
        if url.trim().is_empty() {
            return Ok(output(
                input.resources,
                Status::Skipped,
                counts,
                0,
                vec!["no webhook URL".into()],
            ));
        }
        let body = serde_json::to_vec(&summary(&input)).map_err(|e| internal(e.to_string()))?;
        log::info(format!("posting the execution summary to {url}"));
        let status = notify::post(&url, "application/json", &body)?;
        if !(200..300).contains(&status) {
            return Err(error(
                ErrorKind::Unavailable,
                format!("webhook {url} answered {status}, not 2xx"),
                true,
            ));
        }
        counts.add("notifications", 1);
        Ok(output(
            input.resources,
            Status::Succeeded,
            counts,
            0,
            vec![format!("notified {url} ({status})")],
        ))
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Succeeded => "succeeded",
        Status::Skipped => "skipped",
        Status::Failed => "failed",
    }
}

fn report(r: &Report) -> Value {
    json!({
        "stage": r.stage,
        "function": r.function,
        "status": status_name(r.status),
        "counts": r.counts.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<String, Value>>(),
        "bytes": r.bytes,
        "messages": r.messages,
    })
}

fn summary(input: &StageInput) -> Value {
    let artifacts: Vec<Value> = input
        .resources
        .iter()
        .map(|a| {
            json!({
                "repository": a.repository,
                "target-repository": a.target_repository,
                "tag": a.tag,
                "digest": a.digest,
            })
        })
        .collect();
    // The run so far failed if any earlier stage failed anywhere.
    let failed = input.previous.iter().any(|r| r.status == Status::Failed);
    json!({
        "execution-id": input.execution_id,
        "status": if failed { "failed" } else { "succeeded" },
        "policy": input.policy.name,
        "source": input.policy.source.url,
        "target": input.policy.target.url,
        "artifacts": artifacts,
        "previous": input.previous.iter().map(report).collect::<Vec<_>>(),
    })
}

oci_guest::export!(Webhook);
