//! A registry that notifies `ferry serve` of every push and delete, for
//! the README's walkthrough of event-based replication:
//!
//!     notifying_registry PORT EVENTS_URL SECRET
//!
//! EVENTS_URL and SECRET are what `ferry registry show NAME` prints for the
//! registry added as `http://127.0.0.1:PORT`. It runs until Ctrl-C.

use ferry_harness::*;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [port, url, secret] = args.as_slice() else {
        anyhow::bail!("usage: notifying-registry PORT EVENTS_URL SECRET");
    };
    let port: u16 = port.parse()?;
    let notifications = format!(
        "notifications:\n  events:\n    includereferences: true\n  endpoints:\n    - name: ferry\n      url: {url}\n      headers:\n        Authorization: [\"Bearer {secret}\"]\n      ignore:\n        actions: [pull]\n      timeout: 5s\n      threshold: 5\n      backoff: 1s\n"
    );
    let reg = Registry::try_start_at(port, Auth::None, &notifications)?;
    println!("registry {} notifies {url}", reg.url());
    println!("Ctrl-C stops it.");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
