//! The registry kinds this service can replicate: those its installed
//! templates declare (`kinds:`). Nothing here names a kind: uploading a
//! template that serves a new one makes it usable at once.

use std::collections::BTreeMap;

use super::resolve::{ResolveError, split_template};
use crate::domain::RegistryKind;
use crate::engine::template::Kinds;
use crate::store::{Policy, Store, StoreError};

/// The templates (latest versions) that read from and write to a kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Served {
    pub as_source: Vec<String>,
    pub as_target: Vec<String>,
    /// The path that checks a registry of the kind answers, if a template
    /// says (the first, by template name).
    pub ping: Option<String>,
}

/// Every kind some installed template serves, with those templates.
pub async fn installed(store: &Store) -> Result<BTreeMap<RegistryKind, Served>, StoreError> {
    let mut kinds: BTreeMap<RegistryKind, Served> = BTreeMap::new();
    for t in store.list_templates().await? {
        // A stored template always parsed when it was written; one that no
        // longer does serves nothing.
        let Some(declared) = Kinds::declared(&t.body) else {
            continue;
        };
        for k in declared.source {
            kinds.entry(k).or_default().as_source.push(t.name.clone());
        }
        for k in declared.target {
            kinds.entry(k).or_default().as_target.push(t.name.clone());
        }
        for (k, path) in declared.ping {
            if let Some(served) = kinds.get_mut(&k) {
                served.ping.get_or_insert(path);
            }
        }
    }
    Ok(kinds)
}

/// "distribution (also docker-registry), helm", for messages.
pub fn listing(kinds: &BTreeMap<RegistryKind, Served>) -> String {
    if kinds.is_empty() {
        return "none: no installed template declares `kinds`".into();
    }
    kinds
        .keys()
        .map(|k| match k.aliases().as_slice() {
            [] => k.to_string(),
            a => format!("{k} (also {})", a.join(", ")),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The kinds a stored template (`name` or `name@version`) declares.
pub async fn of_template(store: &Store, reference: &str) -> Result<Kinds, ResolveError> {
    let (name, version) = split_template(reference)?;
    let row = store.get_template(name, version).await?;
    Kinds::declared(&row.body).ok_or_else(|| {
        ResolveError::Invalid(format!(
            "template {}@{} no longer parses",
            row.name, row.version
        ))
    })
}

/// Why `policy` cannot run with its registries of these kinds, if it cannot.
pub async fn refusal(
    store: &Store,
    policy: &Policy,
    source: &RegistryKind,
    target: &RegistryKind,
) -> Result<Option<String>, ResolveError> {
    let kinds = of_template(store, &policy.template).await?;
    Ok(kinds.refuses(source, target).map(|why| {
        format!(
            "template {} cannot serve policy {:?}: {why}",
            policy.template, policy.name
        )
    }))
}

/// The problems that giving registry `id` the kind `kind` would cause to
/// the policies using it.
pub async fn conflicts_of_registry(
    store: &Store,
    id: i64,
    kind: &RegistryKind,
) -> Result<Vec<String>, ResolveError> {
    let mut problems = Vec::new();
    for p in store.list_policies().await? {
        let (src, dst) = (p.src_registry.id, p.dest_registry.id);
        if src != id && dst != id {
            continue;
        }
        let kind_of = async |r: i64| -> Result<RegistryKind, ResolveError> {
            Ok(if r == id {
                kind.clone()
            } else {
                store.get_registry(r).await?.kind
            })
        };
        let (source, target) = (kind_of(src).await?, kind_of(dst).await?);
        if let Some(why) = refusal(store, &p, &source, &target).await? {
            problems.push(why);
        }
    }
    Ok(problems)
}
