//! `oci-push-prepare`: nothing to prepare at a plain distribution registry
//! (repositories appear on first push). It is the hook where another
//! registry kind would create a project; here it passes the resources through.

use oci_guest::params::{Counts, output};
use oci_guest::{FunctionInfo, Guest, StageInput, StageOutput, Status, WitError};

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
        let n = input.resources.len() as u64;
        oci_guest::log::debug(format!(
            "nothing to prepare at the target for {n} artifact(s)"
        ));
        let mut counts = Counts::new(&["artifacts"]);
        counts.add("artifacts", n);
        Ok(output(
            input.resources,
            Status::Succeeded,
            counts,
            0,
            vec![],
        ))
    }
}

oci_guest::export!(PushPrepare);
