//! The README's first command: two real registries on 127.0.0.1, a small
//! sample pushed to one, `ferry copy` to the other, and a byte-for-byte check.

use std::path::PathBuf;
use std::process::Command;

use ferry_harness::*;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ferry = ferry_binary();
    let src = Registry::start(Auth::None);
    let dst = Registry::start(Auth::basic("demo", "demo-password"));
    println!(
        "source registry {} (no auth), target registry {} (basic auth)",
        src.url(),
        dst.url()
    );

    let app = push_sample(&src).await?;
    println!("pushed: {SAMPLE}\n");

    let args = [
        "copy",
        "--insecure",
        "--exclude-tag",
        "*-rc*",
        "--dest-creds",
        "demo:demo-password",
        &src.url(),
        &format!("{}/mirror", dst.url()),
    ];
    println!("$ ferry {}\n", args.join(" "));
    let status = Command::new(&ferry).args(args).status()?;
    anyhow::ensure!(status.success(), "ferry copy failed ({status})");

    for (repo, tag) in [
        ("team/app", "v1"),
        ("library/base", "3.20"),
        ("a/b/c/tool", "1.0"),
    ] {
        check_replicated(&src, &dst, repo, &format!("mirror/{repo}"), tag).await?;
    }
    check_same_referrers(&src, &dst, "team/app", "mirror/team/app", app.digest()).await?;
    println!(
        "\nverified: every tag, manifest and blob at the target matches the source byte for byte"
    );
    Ok(())
}

/// `target/debug/ferry`, beside this example's own directory.
fn ferry_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("FERRY_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("ferry"))
        .expect("target dir")
}
