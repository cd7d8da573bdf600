//! `oci-push-prepare`: nothing to prepare at a plain distribution registry
//! (repositories appear on first push). It is the hook where another
//! registry kind would create a project; here it passes the resources through.

use ferry_sdk::{
    Counts, FunctionInfo, Guest, Host, Output, StageInput, StageOutput, WitError, WitHost,
};

ferry_sdk::counters! {
    enum Count {
        Artifacts = "artifacts",
    }
}

struct PushPrepare;

impl Guest for PushPrepare {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description:
                "Prepares the target before pushing; nothing to do at a distribution registry."
                    .into(),
            params: vec![],
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        Ok(prepare(&WitHost, input))
    }
}

fn prepare(host: &dyn Host, input: StageInput) -> StageOutput {
    let n = input.resources.len() as u64;
    host.debug(&format!(
        "nothing to prepare at the target for {n} artifact(s)"
    ));
    let mut counts = Counts::new();
    counts.add(Count::Artifacts, n);
    Output::succeeded()
        .resources(input.resources)
        .counts(counts)
        .build()
}

ferry_sdk::export!(PushPrepare);

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_sdk::fake::{artifact, input};
    use ferry_sdk::{FakeHost, Status};

    #[test]
    fn passes_the_resources_through() {
        let host = FakeHost::new();
        let resources = vec![artifact("a", "1"), artifact("b", "2")];
        let out = prepare(&host, input(resources.clone()));
        assert_eq!(
            out,
            StageOutput {
                resources,
                status: Status::Succeeded,
                counts: vec![("artifacts".into(), 2)],
                bytes: 0,
                messages: vec![],
                plan: vec![],
            }
        );
        assert!(host.requests().is_empty());
    }
}
