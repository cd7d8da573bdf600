//! Ferry: container-image replication as WebAssembly stage functions run by
//! a coordinator. See README.md for the architecture.

pub mod cli;
pub mod domain;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod paths;
pub mod redact;
pub mod runtime;
pub mod server;
pub mod store;
pub mod transfer;

/// The integration tests live in the workspace's `tests/`, outside this
/// package, so cargo finds them only through `[[test]]` entries: a file
/// without one would silently never run.
#[cfg(test)]
mod suite {
    #[test]
    fn every_test_file_is_registered() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let manifest = std::fs::read_to_string(format!("{root}/coordinator/Cargo.toml")).unwrap();
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(format!("{root}/tests")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".rs") && !manifest.contains(&format!("path = \"../tests/{name}\"")) {
                missing.push(name);
            }
        }
        assert!(
            missing.is_empty(),
            "tests/{missing:?} have no [[test]] entry in coordinator/Cargo.toml"
        );
    }
}
