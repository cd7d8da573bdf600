//! `fault-injector`: misbehaves on purpose, for tests of the host's
//! isolation: traps, spins, hogs memory or fails, for the artifacts whose
//! repository matches a glob; the others pass through unchanged.

use ferry_scope::glob;
use ferry_sdk::errors::{error, invalid};
use ferry_sdk::{
    ErrorKind, FunctionInfo, Guest, Host, Output, StageInput, StageOutput, WitError, WitHost,
};
use std::hint::black_box;

ferry_sdk::choices! {
    enum Mode {
        None = "none",
        Trap = "trap",
        Spin = "spin",
        Sleep = "sleep",
        Hog = "hog",
        Fail = "fail",
    }
}

ferry_sdk::params! {
    struct Params {
        /// trap (panic), spin (loop forever), sleep (wait `seconds`, then pass), hog (allocate without bound), fail (internal error) or none.
        mode: Mode = Mode::None,
        /// How long `sleep` waits.
        seconds: u64 = 1,
        /// Doublestar glob: only artifacts whose repository matches are affected (with no artifacts, only "**" affects).
        repository: String = "**",
    }
}

struct FaultInjector;

impl Guest for FaultInjector {
    fn describe() -> FunctionInfo {
        FunctionInfo {
            description:
                "Test-only: traps, spins, sleeps, hogs memory or fails for matching artifacts."
                    .into(),
            params: Params::specs(),
        }
    }

    fn run(input: StageInput) -> Result<StageOutput, WitError> {
        misbehave(&WitHost, input)
    }
}

fn misbehave(host: &dyn Host, input: StageInput) -> Result<StageOutput, WitError> {
    let Params {
        mode,
        seconds,
        repository: pattern,
    } = Params::parse(&input.params)?;
    let matcher = glob(&pattern).map_err(invalid)?;
    let affected = if input.resources.is_empty() {
        pattern == "**"
    } else {
        input
            .resources
            .iter()
            .any(|a| matcher.is_match(&a.repository))
    };
    if affected && mode != Mode::None {
        host.warn(&format!("fault-injector: {}", mode.name()));
        match mode {
            Mode::Trap => panic!("fault-injector: trap requested"),
            Mode::Spin => spin(),
            // A long, idle stage: the host's clock wait, no CPU.
            Mode::Sleep => std::thread::sleep(std::time::Duration::from_secs(seconds)),
            Mode::Hog => hog(),
            Mode::Fail => {
                return Err(error(
                    ErrorKind::Internal,
                    "fault-injector: failure requested",
                    false,
                ));
            }
            Mode::None => {}
        }
    }
    Ok(Output::succeeded().resources(input.resources).build())
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

ferry_sdk::export!(FaultInjector);

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_sdk::fake::{artifact, input};
    use ferry_sdk::host::Level;
    use ferry_sdk::{FakeHost, ParamSpec, Status};

    fn with(params: &[(&str, &str)]) -> StageInput {
        let mut input = input(vec![artifact("bad/app", "1"), artifact("good/app", "1")]);
        input.params = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        input
    }

    #[test]
    fn declares_its_parameters_as_before() {
        let spec = |name: &str, description: &str, default: &str| ParamSpec {
            name: name.into(),
            description: description.into(),
            required: false,
            default: Some(default.into()),
        };
        assert_eq!(
            Params::specs(),
            [
                spec(
                    "mode",
                    "trap (panic), spin (loop forever), sleep (wait `seconds`, then pass), hog (allocate without bound), fail (internal error) or none.",
                    "none"
                ),
                spec("seconds", "How long `sleep` waits.", "1"),
                spec(
                    "repository",
                    "Doublestar glob: only artifacts whose repository matches are affected (with no artifacts, only \"**\" affects).",
                    "**"
                ),
            ]
        );
    }

    #[test]
    fn fails_for_matching_artifacts_only() {
        let host = FakeHost::new();
        let e = misbehave(&host, with(&[("mode", "fail"), ("repository", "bad/**")])).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Internal, "fault-injector: failure requested")
        );
        assert_eq!(
            host.logs(),
            [(Level::Warn, "fault-injector: fail".to_owned())]
        );

        let input = with(&[("mode", "fail"), ("repository", "other/**")]);
        let out = misbehave(&host, input.clone()).unwrap();
        assert_eq!(out, Output::succeeded().resources(input.resources).build());
        assert_eq!(out.status, Status::Succeeded);
    }

    #[test]
    fn an_unknown_mode_is_invalid() {
        let e = misbehave(&FakeHost::new(), with(&[("mode", "explode")])).unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                ErrorKind::Invalid,
                r#"parameter "mode" is "explode": expected one of none, trap, spin, sleep, hog, fail"#
            )
        );
    }
}
