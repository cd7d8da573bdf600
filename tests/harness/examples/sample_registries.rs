//! Two local registries for trying `ferry serve`: `src` with sample
//! content, `dst` empty (Basic auth). They run until Ctrl-C.

use ferry_harness::*;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::basic("demo", "demo-password"));
    push_sample(&src).await?;
    println!("source registry: {}  (no auth; holds {SAMPLE})", src.url());
    println!(
        "target registry: {}  (user demo, password demo-password)",
        dst.url()
    );
    println!("\nTry, with `ferry serve` running:\n");
    println!("  ferry registry add hub {} --insecure", src.url());
    println!(
        "  FERRY_REGISTRY_PASSWORD=demo-password ferry registry add mirror {} --insecure --username demo",
        dst.url()
    );
    println!("\nCtrl-C stops both registries.");
    // Ctrl-C or a plain kill: either way the registries are stopped (Drop).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
