//! What a listing can tell about referrers without asking per artifact. A
//! source that serves no referrers API can carry referrers only in fallback
//! tags (`sha256-<hex>`), and the listing saw every tag: an artifact whose
//! repository lists none has no referrers, and pull need not look.

use std::collections::{HashMap, HashSet};

use ferry_sdk::Artifact;
use oci_guest::client::Registry;
use oci_guest::manifest::is_fallback_tag;

/// Whether the source serves the referrers API, asked at most once.
#[derive(Default)]
pub struct ReferrersApi {
    /// `None`: not asked yet; `Some(None)`: asked, no clear answer.
    answer: Option<Option<bool>>,
}

impl ReferrersApi {
    /// Asks with `repository@digest`, a manifest the source holds (a registry
    /// may answer 404 for an unknown subject even when it serves the API).
    pub fn served(
        &mut self,
        source: &Registry<'_>,
        repository: &str,
        digest: &str,
    ) -> Option<bool> {
        *self
            .answer
            .get_or_insert_with(|| match source.referrers_api(repository, digest) {
                Ok(api) => Some(api.is_some()),
                Err(e) => {
                    source
                        .host()
                        .debug(&format!("referrers API support unknown: {}", e.message));
                    None
                }
            })
    }

    /// Like [`Self::served`], with an artifact's tag resolved by one `HEAD`.
    fn served_for(&mut self, source: &Registry<'_>, artifact: &Artifact) -> Option<bool> {
        if let Some(known) = self.answer {
            return known;
        }
        let tag = artifact.tag.as_deref()?;
        let head = source
            .head_many(&[(artifact.repository.as_str(), tag)], false)
            .pop()?;
        let digest = head.ok().flatten()?.digest;
        self.served(source, &artifact.repository, &digest)
    }
}

/// Marks the artifacts that cannot have referrers: the source serves no
/// referrers API and their repository lists no fallback tag.
/// `source_tags` holds every tag the listing saw per source repository.
pub fn mark_without_referrers(
    source: &Registry<'_>,
    api: &mut ReferrersApi,
    artifacts: &mut [Artifact],
    source_tags: &HashMap<String, HashSet<String>>,
) {
    let Some(first) = artifacts.first() else {
        return;
    };
    if api.served_for(source, first) != Some(false) {
        return;
    }
    let mut marked = 0;
    for a in artifacts.iter_mut() {
        a.no_referrers = !source_tags
            .get(&a.repository)
            .is_some_and(|tags| tags.iter().any(|t| is_fallback_tag(t)));
        marked += u64::from(a.no_referrers);
    }
    source.host().debug(&format!(
        "the source serves no referrers API: {marked} artifact(s) without fallback tags have no referrers"
    ));
}
