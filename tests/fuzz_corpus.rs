//! Replays each fuzz target's committed corpus (coordinator/fuzz/corpus/)
//! through the checks the targets run, as ordinary tests: no nightly, no
//! sanitizer, a second or so. Every seed, and every input that once found
//! a bug, keeps passing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus");

/// A fuzz target's check of one input.
type Check = fn(&[u8]);

/// Each target with its check, as `coordinator/fuzz/fuzz_targets/` has them.
const TARGETS: &[(&str, Check)] = &[
    ("template", ferry::fuzzing::template),
    ("notification", ferry::fuzzing::notification),
    ("manifest", oci_guest::fuzzing::manifest),
    ("challenge", ferry::fuzzing::challenge),
    ("cron", ferry::fuzzing::cron),
];

fn replay(target: &str) {
    let check = TARGETS.iter().find(|(t, _)| *t == target).unwrap().1;
    let dir = Path::new(CORPUS).join(target);
    let mut failed = Vec::new();
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        count += 1;
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(count > 0, "{} has no seeds", dir.display());
    assert!(failed.is_empty(), "{target} fails on {failed:?}");
}

#[test]
fn template() {
    replay("template");
}

#[test]
fn notification() {
    replay("notification");
}

#[test]
fn manifest() {
    replay("manifest");
}

#[test]
fn challenge() {
    replay("challenge");
}

#[test]
fn cron() {
    replay("cron");
}

/// A target added without a corpus, or a corpus without a target, is a
/// mistake this list would hide.
#[test]
fn every_target_is_replayed() {
    let names = |dir: &str, ext: &str| {
        let mut v: Vec<String> = std::fs::read_dir(Path::new(CORPUS).join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter_map(|n| n.strip_suffix(ext).map(String::from))
            .collect();
        v.sort();
        v
    };
    let mut listed: Vec<String> = TARGETS.iter().map(|(t, _)| t.to_string()).collect();
    listed.sort();
    assert_eq!(names("../fuzz_targets", ".rs"), listed);
    assert_eq!(names(".", ""), listed);
}
