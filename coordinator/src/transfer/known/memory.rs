//! In-process knowledge, optionally loaded from and saved to a file so that
//! one `ferry copy` knows what the previous one left at the target.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// field -> (value, expires at, epoch ms)
type Group = HashMap<String, (String, u64)>;

/// How often (ms) a write also sweeps out expired knowledge, so that a
/// long-running service holds at most a TTL's worth of it.
const SWEEP_EVERY_MS: u64 = 60_000;

#[derive(Default)]
pub struct Memory {
    groups: Mutex<HashMap<String, Group>>,
    /// When expired entries were last swept out (epoch ms).
    swept: AtomicU64,
    /// Groups dropped during this run: a save must not bring them back from
    /// the file another run wrote meanwhile.
    dropped: Mutex<Vec<String>>,
    /// Whether anything was learned or forgotten since the load: a run that
    /// only read its knowledge (a no-op) has nothing to write back.
    changed: AtomicBool,
    file: Option<PathBuf>,
}

#[derive(Serialize, Deserialize)]
struct FileV1 {
    version: u32,
    groups: HashMap<String, Group>,
}

impl Memory {
    /// Knowledge from `path`, if it exists and is readable; a missing or
    /// damaged file means starting with nothing (it is only a cache).
    pub fn load(path: &Path) -> Self {
        let groups = read(path, super::now_ms()).unwrap_or_else(|why| {
            if path.exists() {
                tracing::warn!("existence cache {}: {why}; starting empty", path.display());
            }
            HashMap::new()
        });
        Self {
            groups: Mutex::new(groups),
            swept: Default::default(),
            dropped: Mutex::new(Vec::new()),
            changed: AtomicBool::new(false),
            file: Some(path.to_path_buf()),
        }
    }

    pub fn describe(&self) -> String {
        match &self.file {
            Some(p) => format!("file {}", p.display()),
            None => "in process".into(),
        }
    }

    /// Writes the knowledge back to its file, merged with what another run
    /// saved meanwhile (atomically: a temporary file, then a rename).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        if !self.changed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let now = super::now_ms();
        let mut merged = read(path, now).unwrap_or_default();
        for g in self.dropped.lock().expect("cache lock").iter() {
            merged.remove(g);
        }
        for (name, group) in self.groups.lock().expect("cache lock").iter() {
            let into = merged.entry(name.clone()).or_default();
            for (field, (value, expires)) in group {
                if *expires > now {
                    into.insert(field.clone(), (value.clone(), *expires));
                }
            }
        }
        merged.retain(|_, g| !g.is_empty());
        let body = serde_json::to_vec(&FileV1 {
            version: 1,
            groups: merged,
        })
        .map_err(std::io::Error::other)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, path)
    }

    pub(super) fn get(&self, group: &str, field: &str, now: u64) -> Option<String> {
        let groups = self.groups.lock().expect("cache lock");
        let (value, expires) = groups.get(group)?.get(field)?;
        (*expires > now).then(|| value.clone())
    }

    pub(super) fn put(&self, group: &str, field: &str, value: String, expires: u64, now: u64) {
        let mut groups = self.groups.lock().expect("cache lock");
        self.changed.store(true, Ordering::Relaxed);
        let swept = self.swept.load(Ordering::Relaxed);
        if now.saturating_sub(swept) >= SWEEP_EVERY_MS {
            self.swept.store(now, Ordering::Relaxed);
            for g in groups.values_mut() {
                g.retain(|_, (_, e)| *e > now);
            }
            groups.retain(|_, g| !g.is_empty());
        }
        groups
            .entry(group.to_string())
            .or_default()
            .insert(field.to_string(), (value, expires));
    }

    pub(super) fn forget(&self, group: &str, field: Option<&str>) {
        let mut groups = self.groups.lock().expect("cache lock");
        self.changed.store(true, Ordering::Relaxed);
        match field {
            Some(f) => {
                if let Some(g) = groups.get_mut(group) {
                    g.remove(f);
                }
            }
            None => {
                groups.remove(group);
                self.dropped
                    .lock()
                    .expect("cache lock")
                    .push(group.to_string());
            }
        }
    }
}

fn read(path: &Path, now: u64) -> Result<HashMap<String, Group>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let file: FileV1 = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if file.version != 1 {
        return Err(format!("unknown version {}", file.version));
    }
    let mut groups = file.groups;
    for g in groups.values_mut() {
        g.retain(|_, (_, expires)| *expires > now);
    }
    groups.retain(|_, g| !g.is_empty());
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_merges_and_drops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known.json");
        let far = super::super::now_ms() + 60_000;

        let a = Memory::load(&path);
        a.put("t/r1", "b:x", String::new(), far, 0);
        a.put("t/r2", "b:y", String::new(), far, 0);
        a.put("t/r3", "b:old", String::new(), 1, 0);
        a.save().unwrap();

        // A second run drops r1 and learns r4; the first run's r2 stays.
        let b = Memory::load(&path);
        assert!(b.get("t/r1", "b:x", 0).is_some());
        assert!(
            b.get("t/r3", "b:old", 0).is_none(),
            "expired entries are not loaded"
        );
        b.forget("t/r1", None);
        b.put("t/r4", "b:z", String::new(), far, 0);
        b.save().unwrap();

        let c = Memory::load(&path);
        assert!(c.get("t/r1", "b:x", 0).is_none());
        assert!(c.get("t/r2", "b:y", 0).is_some());
        assert!(c.get("t/r4", "b:z", 0).is_some());

        // A run that only read (a no-op) writes nothing back.
        std::fs::remove_file(&path).unwrap();
        c.save().unwrap();
        assert!(!path.exists(), "an unchanged cache was written");

        // Writes sweep expired entries out, once a minute at most.
        let m = Memory::default();
        m.put("t/r", "b:old", String::new(), 10, 0);
        m.put("t/r", "b:new", String::new(), far, 5);
        assert_eq!(
            m.groups.lock().unwrap()["t/r"].len(),
            2,
            "no sweep within a minute"
        );
        m.put("t/s", "b:x", String::new(), far, SWEEP_EVERY_MS + 20);
        let groups = m.groups.lock().unwrap();
        assert!(!groups["t/r"].contains_key("b:old") && groups["t/r"].contains_key("b:new"));
        drop(groups);

        // A damaged file is an empty cache, not an error.
        std::fs::write(&path, b"{not json").unwrap();
        assert!(Memory::load(&path).get("t/r2", "b:y", 0).is_none());
    }
}
