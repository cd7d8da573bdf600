//! `fault-injector`: misbehaves on purpose, for tests of the host's
//! isolation: traps, spins, hogs memory or fails, for the artifacts whose
//! repository matches a glob; the others pass through unchanged.

use oci_guest::errors::{error, invalid};
use oci_guest::filter::glob;
use oci_guest::params::{Counts, Params, output};
use oci_guest::{
    ErrorKind, FunctionInfo, Guest, StageInput, StageOutput, Status, WitError, log, param,
};
use std::hint::black_box;

struct FaultInjector;

impl Guest for FaultInjector {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description:
                "Test-only: traps, spins, sleeps, hogs memory or fails for matching artifacts."
                    .into(),
            params: vec![
                param(
                    "mode",
                    "trap (panic), spin (loop forever), sleep (wait `seconds`, then pass), hog (allocate without bound), fail (internal error) or none.",
                    false,
                    Some("none"),
                ),
                param("seconds", "How long `sleep` waits.", false, Some("1")),
                param(
                    "repository",
                    "Doublestar glob: only artifacts whose repository matches are affected (with no artifacts, only \"**\" affects).",
                    false,
                    Some("**"),
                ),
            ],
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        let params = Params::new(&input.params);
        let mode = params.choice("mode", &["none", "trap", "spin", "sleep", "hog", "fail"])?;
        let seconds = params.u64("seconds", 1)?;
        let pattern = params.string("repository", "**");
        let matcher = glob(&pattern).map_err(invalid)?;
        let affected = if input.resources.is_empty() {
            pattern == "**"
        } else {
            input
                .resources
                .iter()
                .any(|a| matcher.is_match(&a.repository))
        };
        if affected && mode != "none" {
            log::warn(format!("fault-injector: {mode}"));
            match mode.as_str() {
                "trap" => panic!("fault-injector: trap requested"),
                "spin" => spin(),
                // A long, idle stage: the host's clock wait, no CPU.
                "sleep" => std::thread::sleep(std::time::Duration::from_secs(seconds)),
                "hog" => hog(),
                "fail" => {
                    return Err(error(
                        ErrorKind::Internal,
                        "fault-injector: failure requested",
                        false,
                    ));
                }
                _ => {}
            }
        }
        Ok(output(
            input.resources,
            Status::Succeeded,
            Counts::default(),
            0,
            vec![],
        ))
    }
}

/// Busy work forever, with no host calls.
fn spin() -> ! {
    let mut x: u64 = 1;
    loop {
        x = black_box(
            x.wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407),
        );
    }
}

/// Allocates 1 MiB chunks without bound, touching every page.
fn hog() -> ! {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        for i in (0..chunk.len()).step_by(4096) {
            chunk[i] = 1;
        }
        chunks.push(black_box(chunk));
    }
}

oci_guest::export!(FaultInjector);
