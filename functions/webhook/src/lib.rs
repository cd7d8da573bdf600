//! `webhook`: POSTs a JSON summary of the execution to a URL (meant for
//! `when: always`, after the other stages).

use ferry_sdk::errors::{error, internal};
use ferry_sdk::{
    Counts, ErrorKind, FunctionInfo, Guest, Host, Output, Report, StageInput, StageOutput, Status,
    WitError, WitHost,
};
use serde_json::{Value, json};

ferry_sdk::params! {
    struct Params {
        /// Where to POST the summary (application/json); empty: do nothing.
        url: String,
    }
}

ferry_sdk::counters! {
    enum Count {
        Notifications = "notifications",
    }
}

struct Webhook;

impl Guest for Webhook {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description:
                "POSTs a JSON summary of the execution (artifacts and stage reports) to a URL."
                    .into(),
            params: Params::specs(),
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        notify(&WitHost, input)
    }
}

fn notify(host: &dyn Host, input: StageInput) -> Result<StageOutput, WitError> {
    let Params { url } = Params::parse(&input.params)?;
    let mut counts = Counts::new();
    if url.trim().is_empty() {
        return Ok(Output::skipped("no webhook URL")
            .resources(input.resources)
            .counts(counts)
            .build());
    }
    let body = serde_json::to_vec(&summary(&input)).map_err(|e| internal(e.to_string()))?;
    host.info(&format!("posting the execution summary to {url}"));
    let status = host.notify_post(&url, "application/json", &body)?;
    if !(200..300).contains(&status) {
        return Err(error(
            ErrorKind::Unavailable,
            format!("webhook {url} answered {status}, not 2xx"),
            true,
        ));
    }
    counts.add(Count::Notifications, 1);
    Ok(Output::succeeded()
        .resources(input.resources)
        .counts(counts)
        .message(format!("notified {url} ({status})"))
        .build())
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

ferry_sdk::export!(Webhook);

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_sdk::fake::{artifact, input};
    use ferry_sdk::{FakeHost, ParamSpec};

    fn with_url(url: &str) -> StageInput {
        let mut input = input(vec![artifact("lib/app", "v1")]);
        input.params = vec![("url".into(), url.into())];
        input.previous = vec![Report {
            stage: "push".into(),
            function: "oci-push@0.4.0".into(),
            status: Status::Failed,
            counts: vec![("blobs-uploaded".into(), 2)],
            bytes: 7,
            messages: vec!["m".into()],
        }];
        input
    }

    #[test]
    fn declares_a_required_url() {
        assert_eq!(
            Params::specs(),
            [ParamSpec {
                name: "url".into(),
                description: "Where to POST the summary (application/json); empty: do nothing."
                    .into(),
                required: true,
                default: None,
            }]
        );
    }

    #[test]
    fn posts_the_summary() {
        let host = FakeHost::new();
        host.post_answer(Ok(204));
        let out = notify(&host, with_url("http://hook.test/x")).unwrap();
        assert_eq!(out.status, Status::Succeeded);
        assert_eq!(out.counts, [("notifications".to_owned(), 1)]);
        assert_eq!(out.messages, ["notified http://hook.test/x (204)"]);
        let posts = host.posts();
        assert_eq!(posts.len(), 1);
        assert_eq!(
            (posts[0].url.as_str(), posts[0].content_type.as_str()),
            ("http://hook.test/x", "application/json")
        );
        let body: Value = serde_json::from_slice(&posts[0].body).unwrap();
        assert_eq!(
            body,
            json!({
                "execution-id": "1",
                "status": "failed",
                "policy": "test",
                "source": "https://source.test",
                "target": "https://target.test",
                "artifacts": [{"repository": "lib/app", "target-repository": "lib/app", "tag": "v1", "digest": null}],
                "previous": [{"stage": "push", "function": "oci-push@0.4.0", "status": "failed",
                              "counts": {"blobs-uploaded": 2}, "bytes": 7, "messages": ["m"]}],
            })
        );
    }

    #[test]
    fn a_refusal_is_retryable() {
        let host = FakeHost::new();
        host.post_answer(Ok(503));
        let e = notify(&host, with_url("http://hook.test/x")).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str(), e.retryable),
            (
                ErrorKind::Unavailable,
                "webhook http://hook.test/x answered 503, not 2xx",
                true
            )
        );
    }

    #[test]
    fn an_empty_url_does_nothing() {
        let host = FakeHost::new();
        let out = notify(&host, with_url(" ")).unwrap();
        assert_eq!(out.status, Status::Skipped);
        assert_eq!(out.messages, ["no webhook URL"]);
        assert_eq!(out.counts, [("notifications".to_owned(), 0)]);
        assert!(host.posts().is_empty());
    }
}
