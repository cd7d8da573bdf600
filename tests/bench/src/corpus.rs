//! The deterministic benchmark corpus: a plan (names, seeds, sizes; cheap) and its
//! layers (the bytes, built from the plan).
//!
//! At scale 1: 20 repositories × 3 tags; every image is
//! `[base layer, repository layer, two tag layers]`, where the 4 base layers are shared
//! across repositories and the repository layer across its tags; 144 unique gzip layers,
//! about 1 GiB. The first tag of 4 repositories is a 2-platform multi-arch image; even
//! repositories use Docker manifests, odd ones OCI.

use std::collections::{BTreeMap, HashSet};

use anyhow::{Context, Result};
use bytes::Bytes;
use ferry_harness::{Format, Layer, Registry, image_config, push_image, push_index};
use futures::{StreamExt, TryStreamExt};

const MIB: f64 = 1024.0 * 1024.0;
/// Smallest layer payload, whatever the scale.
const MIN_LAYER: usize = 4096;
/// Base layers shared across repositories.
const BASES: usize = 4;
/// Base layer payload at scale 1, MiB.
const BASE_MIB: f64 = 32.0;
/// Per-repository layer payload at scale 1, MiB.
const REPO_MIB: f64 = 12.0;
/// Layers of its own in every tag.
const TAG_LAYERS: usize = 2;
/// Platforms of a multi-arch image.
pub const PLATFORMS: [(&str, &str); 2] = [("linux", "amd64"), ("linux", "arm64")];

/// One layer to build: `Layer::random(seed, size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerSpec {
    pub seed: u64,
    pub size: usize,
}

/// One tag to push.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    pub repo: String,
    pub tag: String,
    pub format: Format,
    pub multi_arch: bool,
    pub layers: Vec<LayerSpec>,
}

/// The whole corpus, without its bytes.
#[derive(Clone, Debug)]
pub struct Plan {
    pub images: Vec<ImageSpec>,
}

impl Plan {
    /// `repos` repositories × `tags` tags, layer sizes × `scale`.
    pub fn new(scale: f64, repos: usize, tags: usize) -> Plan {
        let size = |mib: f64| ((mib * scale * MIB) as usize).max(MIN_LAYER);
        let mut images = Vec::new();
        for r in 0..repos {
            let base = LayerSpec {
                seed: 1000 + (r % BASES) as u64,
                size: size(BASE_MIB),
            };
            let common = LayerSpec {
                seed: 2000 + r as u64,
                size: size(REPO_MIB),
            };
            for t in 0..tags {
                let mut layers = vec![base, common];
                for j in 0..TAG_LAYERS {
                    // 3..=8 MiB, spread deterministically (mean about 5.5).
                    let mib = 3 + (r * 7 + t * 3 + j * 5) % 6;
                    layers.push(LayerSpec {
                        seed: 3000 + (r * 100 + t * 10 + j) as u64,
                        size: size(mib as f64),
                    });
                }
                images.push(ImageSpec {
                    repo: format!("team{}/app{r:02}", r % 4),
                    tag: format!("v{}", t + 1),
                    format: if r % 2 == 0 {
                        Format::Docker
                    } else {
                        Format::Oci
                    },
                    multi_arch: t == 0 && r % 5 == 0,
                    layers,
                });
            }
        }
        Plan { images }
    }

    /// Repository names, in order, each once.
    pub fn repos(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.images
            .iter()
            .filter(|i| seen.insert(i.repo.clone()))
            .map(|i| i.repo.clone())
            .collect()
    }

    /// Every distinct layer.
    pub fn unique_layers(&self) -> Vec<LayerSpec> {
        let mut seen = HashSet::new();
        self.images
            .iter()
            .flat_map(|i| i.layers.iter().copied())
            .filter(|l| seen.insert(*l))
            .collect()
    }

    /// Sum of the distinct layers' payload sizes (gzip adds a little).
    pub fn unique_layer_bytes(&self) -> u64 {
        self.unique_layers().iter().map(|l| l.size as u64).sum()
    }

    /// Tags pushed as multi-arch images.
    pub fn multi_arch(&self) -> usize {
        self.images.iter().filter(|i| i.multi_arch).count()
    }
}

/// A distinct blob with the first repository that references it.
pub struct UniqueBlob {
    pub repo: String,
    pub digest: String,
    pub body: Bytes,
}

/// A plan with its layers built.
pub struct Corpus {
    pub plan: Plan,
    layers: BTreeMap<LayerSpec, Layer>,
}

impl Corpus {
    /// Builds every distinct layer (on blocking threads, in parallel).
    pub async fn build(plan: Plan) -> Result<Corpus> {
        let specs = plan.unique_layers();
        let built: Vec<(LayerSpec, Layer)> = futures::stream::iter(specs)
            .map(|spec| {
                tokio::task::spawn_blocking(move || (spec, Layer::random(spec.seed, spec.size)))
            })
            .buffer_unordered(std::thread::available_parallelism().map_or(2, |n| n.get()))
            .try_collect()
            .await
            .context("building layers")?;
        Ok(Corpus {
            plan,
            layers: built.into_iter().collect(),
        })
    }

    fn layers_of(&self, image: &ImageSpec) -> Vec<Layer> {
        image
            .layers
            .iter()
            .map(|s| self.layers[s].clone())
            .collect()
    }

    /// Every distinct blob (layers and image configs) with the first repository that
    /// references it: what the raw-limit measurements move.
    pub fn unique_blobs(&self) -> Vec<UniqueBlob> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for image in &self.plan.images {
            let layers = self.layers_of(image);
            let platforms: &[(&str, &str)] = if image.multi_arch {
                &PLATFORMS
            } else {
                &PLATFORMS[..1]
            };
            let configs = platforms
                .iter()
                .map(|(os, arch)| Bytes::from(image_config(os, arch, &layers)));
            let blobs = layers.iter().map(|l| l.bytes().clone()).chain(configs);
            for body in blobs {
                let digest = ferry_harness::sha256_digest(&body);
                if seen.insert(digest.clone()) {
                    out.push(UniqueBlob {
                        repo: image.repo.clone(),
                        digest,
                        body,
                    });
                }
            }
        }
        out
    }

    /// Pushes every image to `reg`, `concurrency` repositories at a time (tags of one
    /// repository in order).
    pub async fn push(&self, reg: &Registry, concurrency: usize) -> Result<()> {
        let repos = self.plan.repos();
        futures::stream::iter(repos.iter())
            .map(|repo| async move {
                for image in self.plan.images.iter().filter(|i| &i.repo == repo) {
                    let layers = self.layers_of(image);
                    let pushed = if image.multi_arch {
                        push_index(reg, repo, &image.tag, image.format, &PLATFORMS, &layers).await
                    } else {
                        push_image(reg, repo, &image.tag, image.format, &layers).await
                    };
                    pushed.with_context(|| format!("pushing {repo}:{}", image.tag))?;
                }
                Ok::<_, anyhow::Error>(())
            })
            .buffer_unordered(concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_plan_matches_the_issue() {
        let plan = Plan::new(1.0, 20, 3);
        assert_eq!(plan.images.len(), 60);
        assert_eq!(plan.repos().len(), 20);
        assert_eq!(plan.multi_arch(), 4);
        assert!(plan.images.iter().any(|i| i.format == Format::Docker));
        assert!(plan.images.iter().any(|i| i.format == Format::Oci));
        let layers = plan.unique_layers();
        assert_eq!(layers.len(), BASES + 20 + 20 * 3 * TAG_LAYERS);
        let gib = plan.unique_layer_bytes() as f64 / (1024.0 * MIB);
        assert!((0.9..1.1).contains(&gib), "{gib} GiB");
        // Base layers are shared across repositories.
        let base = plan.images[0].layers[0];
        let users: HashSet<&str> = plan
            .images
            .iter()
            .filter(|i| i.layers.contains(&base))
            .map(|i| i.repo.as_str())
            .collect();
        assert!(users.len() > 1);
    }

    #[test]
    fn plan_is_deterministic_and_scales() {
        let a = Plan::new(0.05, 20, 3);
        let b = Plan::new(0.05, 20, 3);
        assert_eq!(a.unique_layers(), b.unique_layers());
        let full = Plan::new(1.0, 20, 3).unique_layer_bytes() as f64;
        let ratio = a.unique_layer_bytes() as f64 / full;
        assert!((0.045..0.055).contains(&ratio), "{ratio}");
    }
}
