//! Where Ferry keeps its files, shared by the server and the CLI client.

use std::path::{Path, PathBuf};

/// The data directory the server keeps its state in: `$FERRY_DATA_DIR`,
/// else `$XDG_DATA_HOME/ferry`, else `~/.local/share/ferry`.
pub fn data_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(dir) = var("FERRY_DATA_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = var("XDG_DATA_HOME") {
        return Some(Path::new(&xdg).join("ferry"));
    }
    var("HOME").map(|home| Path::new(&home).join(".local/share/ferry"))
}

/// Where Ferry keeps caches (compiled functions, what targets hold):
/// `$FERRY_CACHE_DIR`, else `$XDG_CACHE_HOME/ferry`, else `~/.cache/ferry`.
pub fn cache_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(dir) = var("FERRY_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return Some(Path::new(&xdg).join("ferry"));
    }
    var("HOME").map(|home| Path::new(&home).join(".cache/ferry"))
}
