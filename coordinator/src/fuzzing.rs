//! Checks run on arbitrary input by the fuzz targets (`coordinator/fuzz`)
//! and by the `fuzz_corpus` test, which replays their committed corpus:
//! each feeds a parser the bytes and asserts what must hold of its answer.
//! A panic here, or in the parser, is a bug. Manifest parsing lives in the
//! guest library, whose check is `oci_guest::fuzzing::manifest`.

use std::sync::{Arc, OnceLock};

use crate::engine::Schedule;
use crate::engine::template::{Kinds, Scope, Template};
use crate::runtime::{Catalog, Function, ParamSpec, Runtime, RuntimeConfig};
use crate::server::notifications;
use crate::store::EventKind;
use crate::transfer::auth::{Challenge, parse_challenge};

/// `Template::load`, as the API and the CLI validate a template's text,
/// against stand-ins for the shipped functions; and `Kinds::declared`, which
/// must read the same kinds from any text that loads.
pub fn template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let declared = Kinds::declared(text);
    let loaded = futures::executor::block_on(Template::load("fuzz", text, catalog()));
    match loaded {
        Ok(t) => {
            assert_eq!(declared.as_ref(), Some(&t.kinds), "kinds read two ways");
            assert!(!t.kinds.source.is_empty() && !t.kinds.target.is_empty());
            assert_eq!(t.stages.first().map(|s| s.scope), Some(Scope::Execution));
            for (i, s) in t.stages.iter().enumerate() {
                assert!(!s.name.trim().is_empty());
                assert!(t.stages[..i].iter().all(|p| p.name != s.name));
                assert!((1..=256).contains(&s.concurrency));
                assert!(!s.timeout.is_zero());
                for (k, _) in &s.params {
                    assert!(s.function.info.params.iter().any(|p| &p.name == k));
                }
            }
        }
        Err(e) => {
            // Positions are 1-based and inside the text.
            assert!(e.line >= 1 && e.column >= 1, "{e}");
            // libyaml ends the text with a line break of its own: an error
            // at the end of a text without one is on the line after it.
            assert!(e.line <= yaml_lines(text) + 1, "{e}");
        }
    }
}

/// How many lines YAML (libyaml) sees: a break is CR LF, a lone CR or LF,
/// or NEL, LS or PS; `str::lines` misses the lone CR (old Mac files).
fn yaml_lines(text: &str) -> usize {
    let breaks = |c: char| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}');
    1 + text
        .replace("\r\n", "\n")
        .chars()
        .filter(|&c| breaks(c))
        .count()
}

/// Functions named as the shipped templates name them, declaring
/// parameters as the real ones do, plus one with a required parameter; no
/// code, so validation reads no file.
fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let runtime = Runtime::new(RuntimeConfig {
            memory_cap: 1 << 20,
            max_instances: 1,
            cache_dir: None,
        })
        .expect("a wasm engine");
        let param = |name: &str, default: Option<&str>| ParamSpec {
            name: name.into(),
            description: String::new(),
            required: default.is_none(),
            default: default.map(String::from),
        };
        let function = |reference: &str, params: Vec<ParamSpec>| {
            let mut f = Function::stub(reference);
            f.info.params = params;
            f
        };
        let functions = vec![
            function(
                "oci-pull-prepare@0.4.0",
                vec![
                    param("page-size", Some("100")),
                    param("skip-up-to-date", Some("true")),
                ],
            ),
            function("oci-push-prepare@0.4.0", vec![]),
            function("oci-pull@0.4.0", vec![param("referrers", Some("true"))]),
            function(
                "oci-push@0.4.0",
                vec![
                    param("upload", Some("monolithic")),
                    param("chunk-size", Some("0")),
                ],
            ),
            function("oci-delete@0.4.0", vec![]),
            function("verify@0.4.0", vec![]),
            function("helm-list@0.4.0", vec![param("index", Some("index.yaml"))]),
            function("helm-push@0.4.0", vec![]),
            function("webhook@0.4.0", vec![param("url", None)]),
        ];
        Catalog::preloaded(Arc::new(runtime), functions)
    })
}

/// `notifications::parse`, as the events endpoint reads a registry's
/// notification, with each content type that changes how it reads.
pub fn notification(data: &[u8]) {
    for content_type in [
        None,
        Some(notifications::DISTRIBUTION_EVENTS),
        Some("application/json; charset=utf-8"),
    ] {
        let Ok(notice) = notifications::parse(content_type, data) else {
            continue;
        };
        // Harbor events' ids are a hash of the body: the same body, the same ids.
        assert_eq!(
            notifications::parse(content_type, data).as_ref(),
            Ok(&notice)
        );
        assert!(notice.ignored >= 0);
        for e in &notice.events {
            assert!(!e.event_id.trim().is_empty());
            assert!(!e.repository.is_empty() && e.repository.len() <= 255);
            assert!(e.repository.split('/').all(|p| !p.is_empty()));
            if let Some(d) = &e.digest {
                assert!(ferry_digest::Digest::parse(d).is_ok(), "{d:?}");
            }
            match e.kind {
                EventKind::BlobPush => assert!(e.digest.is_some()),
                EventKind::ManifestPush | EventKind::TagDelete => {
                    assert!(e.tag.as_ref().is_some_and(|t| !t.is_empty()));
                }
            }
        }
    }
}

/// `parse_challenge`, as a registry's 401 is read; what it reads, written
/// back as a header, reads the same.
pub fn challenge(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let Some(Challenge::Bearer {
        realm,
        service,
        scopes,
    }) = parse_challenge(header)
    else {
        return;
    };
    assert!(scopes.iter().all(|s| !s.is_empty() && !s.contains(' ')));
    // A quoted value ends at the next quote: only quote-free values can be
    // written back.
    let values = std::iter::once(&realm).chain(&service).chain(&scopes);
    if values.into_iter().any(|v| v.contains('"')) {
        return;
    }
    let mut again = format!("Bearer realm=\"{realm}\"");
    if let Some(s) = &service {
        again.push_str(&format!(",service=\"{s}\""));
    }
    if !scopes.is_empty() {
        again.push_str(&format!(",scope=\"{}\"", scopes.join(" ")));
    }
    assert_eq!(
        parse_challenge(&again),
        Some(Challenge::Bearer {
            realm,
            service,
            scopes
        }),
        "{again:?}"
    );
}

/// A policy's cron text parsed as `Schedule`, then its next ticks after
/// instants a scheduler sees (the epoch, now-ish, a leap day, 2099).
pub fn cron(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(schedule) = text.parse::<Schedule>() else {
        return;
    };
    let again = schedule.to_string().parse::<Schedule>();
    assert!(again.is_ok(), "{schedule} does not parse again: {again:?}");
    for after in [0, 1_767_225_600_000, 1_709_164_800_000, 4_102_444_799_999] {
        let next = schedule.next_after(after);
        if let Some(n) = next {
            assert!(n > after, "{schedule}: {n} after {after}");
        }
        let ticks = schedule.upcoming(after, 3);
        assert_eq!(ticks.first().copied(), next);
        assert!(
            ticks.windows(2).all(|w| w[0] < w[1]),
            "{schedule}: {ticks:?}"
        );
    }
}
