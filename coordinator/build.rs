//! The web console's built assets are embedded (see `src/server/console.rs`).
//! Cargo sees changes to the files it embeds, but not files appearing in or
//! leaving the directory (a first `npm run build` after a build without
//! it): watching the directory itself covers those.

fn main() {
    println!("cargo:rerun-if-changed=console/dist");
}
