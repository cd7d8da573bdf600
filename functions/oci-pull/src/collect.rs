//! Resolving an artifact at the source: the manifests to push (children
//! before their index, the root last), the blobs they reference and the
//! referrers of the root.

use ferry_sdk::errors::invalid;
use ferry_sdk::{Descriptor, ManifestRef, WitError};
use oci_guest::client::{Fetched, Registry};
use oci_guest::manifest::{Kind, Manifest, check_digest};
use std::collections::{HashSet, VecDeque};

/// How deep nested indexes may go (an index of indexes of ...).
const MAX_INDEX_DEPTH: u32 = 4;

/// Everything that must reach the target for one artifact.
#[derive(Default)]
pub struct Collected {
    pub manifests: Vec<ManifestRef>,
    pub blobs: Vec<Descriptor>,
    pub referrers: Vec<ManifestRef>,
    pub foreign_layers_skipped: u64,
    seen_manifests: HashSet<String>,
    seen_blobs: HashSet<String>,
}

fn manifest_ref(digest: &str, m: &Manifest, f: &Fetched) -> ManifestRef {
    ManifestRef {
        digest: digest.to_owned(),
        media_type: m.media_type.clone(),
        size: f.body.len() as u64,
    }
}

impl Collected {
    fn add_blobs(&mut self, m: &Manifest) {
        let (blobs, foreign) = m.blobs();
        self.foreign_layers_skipped += foreign;
        for b in blobs {
            if self.seen_blobs.insert(b.digest.clone()) {
                self.blobs.push(b.to_wit());
            }
        }
    }

    /// Adds `m` (fetched as `f`, with digest `digest`) and, first, its
    /// children, fetched from `registry`. Returns the refs added, in push order.
    fn add_tree(
        &mut self,
        registry: &Registry<'_>,
        repository: &str,
        digest: &str,
        m: &Manifest,
        f: &Fetched,
        depth: u32,
    ) -> Result<Vec<ManifestRef>, WitError> {
        let mut out = Vec::new();
        if !self.seen_manifests.insert(digest.to_owned()) {
            return Ok(out);
        }
        if m.kind == Kind::Index {
            if depth >= MAX_INDEX_DEPTH {
                return Err(invalid(format!(
                    "manifest {repository}@{digest}: indexes nested deeper than {MAX_INDEX_DEPTH} levels"
                )));
            }
            let children: Vec<&str> = m
                .children()
                .iter()
                .map(|c| c.digest.as_str())
                .filter(|d| !self.seen_manifests.contains(*d))
                .collect();
            let mut unique = Vec::new();
            for c in children {
                if !unique.contains(&c) {
                    unique.push(c);
                }
            }
            let fetched = registry.get_manifests(repository, &unique);
            for (child, answer) in unique.iter().zip(fetched) {
                let cf = answer?.ok_or_else(|| registry.missing(repository, child))?;
                let cm = cf.parse(repository, child)?;
                out.extend(self.add_tree(registry, repository, child, &cm, &cf, depth + 1)?);
            }
        } else {
            self.add_blobs(m);
        }
        out.push(manifest_ref(digest, m, f));
        Ok(out)
    }

    /// Collects the root manifest `root` of `repository` and its children.
    pub fn manifests(
        registry: &Registry<'_>,
        repository: &str,
        root: &Fetched,
        m: &Manifest,
    ) -> Result<Collected, WitError> {
        let mut c = Collected::default();
        let refs = c.add_tree(registry, repository, &root.digest, m, root, 0)?;
        c.manifests = refs;
        Ok(c)
    }

    /// Adds the referrers of `root` and, up to `max_depth` levels, the
    /// referrers of those referrers, with their blobs.
    pub fn add_referrers(
        &mut self,
        registry: &Registry<'_>,
        repository: &str,
        root: &str,
        max_depth: u32,
    ) -> Result<(), WitError> {
        let host = registry.host();
        let mut queue = VecDeque::from([(root.to_owned(), 1u32)]);
        while let Some((subject, depth)) = queue.pop_front() {
            let found = registry.referrers(repository, &subject)?;
            host.debug(&format!(
                "{repository}@{subject}: {} referrer(s) ({})",
                found.descriptors.len(),
                if found.api {
                    "referrers API"
                } else {
                    "fallback tag"
                }
            ));
            for d in found.descriptors {
                if self.seen_manifests.contains(&d.digest) {
                    continue;
                }
                check_digest(&d.digest).map_err(|e| {
                    invalid(format!(
                        "referrer {:?} of {repository}@{subject}: {e}",
                        d.digest
                    ))
                })?;
                let Some(f) = registry.get_manifest(repository, &d.digest)? else {
                    host.warn(&format!(
                        "referrer {} of {repository}@{subject} is listed but absent; skipping it",
                        d.digest
                    ));
                    continue;
                };
                let m = f.parse(repository, &d.digest)?;
                let refs = self.add_tree(registry, repository, &d.digest, &m, &f, 0)?;
                self.referrers.extend(refs);
                if depth < max_depth {
                    queue.push_back((d.digest.clone(), depth + 1));
                }
            }
        }
        Ok(())
    }
}
