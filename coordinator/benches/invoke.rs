//! Per-stage invocation overhead (issue 4, target: at most 50 µs): one invocation of a
//! built stage component with an empty input: fresh store, instantiate, call `run`.
//!
//! ```sh
//! functions/build                       # builds target/functions/*.wasm
//! cargo bench -p ferry --bench invoke
//! ```
//!
//! `FERRY_BENCH_FUNCTIONS` (comma-separated `name@version`) chooses the components;
//! `FERRY_FUNCTIONS_DIR` where they are (default `target/functions`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ferry::runtime::{Capabilities, Runtime, RuntimeConfig, StageInput, WitEndpoint, WitPolicy};

const DEFAULT_FUNCTIONS: &str = "oci-push-prepare@0.2.0,verify@0.2.0";

fn functions_dir() -> PathBuf {
    std::env::var_os("FERRY_FUNCTIONS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/functions"))
}

fn empty_input() -> StageInput {
    let endpoint = |url: &str| WitEndpoint {
        url: url.to_string(),
        kind: "distribution".to_string(),
        insecure: true,
    };
    StageInput {
        execution_id: "bench".to_string(),
        stage: "bench".to_string(),
        policy: WitPolicy {
            name: "bench".to_string(),
            source: endpoint("http://127.0.0.1:1"),
            target: endpoint("http://127.0.0.1:2"),
            dest_namespace: String::new(),
            dest_namespace_replace_count: 0,
            filters: Vec::new(),
            override_: true,
            replicate_deletion: false,
            copy_by_chunk: false,
            chunk_size: 0,
        },
        resources: Vec::new(),
        params: Vec::new(),
        previous: Vec::new(),
        dry_run: false,
    }
}

fn invoke(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).expect("wasmtime runtime"));
    let dir = functions_dir();
    let wanted =
        std::env::var("FERRY_BENCH_FUNCTIONS").unwrap_or_else(|_| DEFAULT_FUNCTIONS.into());
    let mut group = c.benchmark_group("invoke");
    for reference in wanted.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let path = dir.join(format!("{reference}.wasm"));
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!(
                "invoke: {} is missing; build the stage functions with `functions/build` \
                 (or set FERRY_FUNCTIONS_DIR); skipping {reference}",
                path.display()
            );
            continue;
        };
        let function = Arc::new(
            rt.block_on(runtime.load(reference, &bytes))
                .unwrap_or_else(|e| panic!("loading {}: {e}", path.display())),
        );
        let caps = Arc::new(Capabilities::none());
        // The stage's own answer (success or a stage error) does not matter here; a
        // trap or timeout would mean the measurement is not of a normal invocation.
        let once = {
            let (runtime, function, caps) = (runtime.clone(), function.clone(), caps.clone());
            move || {
                let (runtime, function, caps) = (runtime.clone(), function.clone(), caps.clone());
                async move {
                    runtime
                        .run(&function, caps, empty_input(), Duration::from_secs(5))
                        .await
                        .unwrap_or_else(|e| panic!("invoking {}: {e}", function.reference))
                }
            }
        };
        let answer = match rt.block_on(once()) {
            Ok(_) => "success".to_string(),
            Err(e) => format!("stage error {:?}", e.kind),
        };
        eprintln!("invoke: {reference} with an empty input answers {answer}");
        group.bench_function(reference, |b| b.to_async(&rt).iter(&once));
    }
    group.finish();
}

criterion_group!(benches, invoke);
criterion_main!(benches);
