//! A replication policy's scope: which repositories and tags it selects
//! (its filters) and where they land at the target (Harbor's destination
//! namespace mapping). The stage functions list with it; the host routes
//! registry events with it, so both always agree.
//!
//! Repository and tag patterns are doublestar globs: `*` and `?` stay within
//! one path segment, `**` crosses segments, `{a,b}` are alternatives; an
//! empty pattern matches everything. Every filter must pass.

use globset::{GlobBuilder, GlobMatcher};

/// Compiles a doublestar glob.
pub fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("bad pattern {pattern:?}: {e}"))
}

/// What a filter looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Repository,
    Tag,
    Label,
    Resource,
}

/// One filter: `keep` is `matches` (true) or `excludes` (false).
#[derive(Debug, Clone, Copy)]
pub struct Filter<'a> {
    pub kind: Kind,
    pub pattern: &'a str,
    pub keep: bool,
}

/// The resource kinds the `resource` filter tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Image,
    Artifact,
}

struct Rule<T> {
    /// None: the empty pattern, which matches everything.
    what: Option<T>,
    keep: bool,
}

impl<T> Rule<T> {
    fn passes(&self, matches: impl FnOnce(&T) -> bool) -> bool {
        let hit = self.what.as_ref().is_none_or(matches);
        hit == self.keep
    }
}

/// A policy's filters, compiled.
#[derive(Default)]
pub struct Filters {
    repository: Vec<Rule<GlobMatcher>>,
    tag: Vec<Rule<GlobMatcher>>,
    resource: Vec<Rule<Resource>>,
}

impl Filters {
    /// Compiles the filters; a bad glob, an unknown resource type or a label
    /// filter that must match (distribution registries have no labels) is
    /// an error saying so.
    pub fn new<'a>(filters: impl IntoIterator<Item = Filter<'a>>) -> Result<Filters, String> {
        let mut out = Filters::default();
        for f in filters {
            let (keep, pattern) = (f.keep, f.pattern);
            match f.kind {
                Kind::Repository | Kind::Tag => {
                    let what = if pattern.is_empty() {
                        None
                    } else {
                        Some(glob(pattern).map_err(|e| format!("filter: {e}"))?)
                    };
                    let list = if f.kind == Kind::Repository {
                        &mut out.repository
                    } else {
                        &mut out.tag
                    };
                    list.push(Rule { what, keep });
                }
                Kind::Resource => {
                    let what = match pattern {
                        "" => None,
                        "image" => Some(Resource::Image),
                        "artifact" => Some(Resource::Artifact),
                        other => {
                            return Err(format!(
                                "resource filter {other:?}: the resource type is \"image\" or \"artifact\""
                            ));
                        }
                    };
                    out.resource.push(Rule { what, keep });
                }
                Kind::Label => {
                    // Nothing here has labels: "excludes" drops nothing, and
                    // "matches" could only ever keep nothing.
                    if keep && !pattern.is_empty() {
                        return Err(format!(
                            "label filter {pattern:?}: a distribution registry has no labels; remove the label filter from the policy"
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    pub fn repository(&self, name: &str) -> bool {
        self.repository
            .iter()
            .all(|r| r.passes(|g| g.is_match(name)))
    }

    pub fn tag(&self, tag: &str) -> bool {
        self.tag.iter().all(|r| r.passes(|g| g.is_match(tag)))
    }

    pub fn resource(&self, resource: Resource) -> bool {
        self.resource.iter().all(|r| r.passes(|k| *k == resource))
    }
}

/// The target repository of `repository` under `namespace`:
/// "" keeps the repository; otherwise `replace_count` -1 keeps only the last
/// path component (`a/b/img` -> `ns/img`), 0 keeps the whole path
/// (`ns/a/b/img`), n > 0 drops the first n components (1: `ns/b/img`); n
/// greater than the number of namespace components is an error.
pub fn map_repository(
    repository: &str,
    namespace: &str,
    replace_count: i32,
) -> Result<String, String> {
    let namespace = namespace.trim_matches('/');
    if namespace.is_empty() {
        return Ok(repository.to_owned());
    }
    let parts: Vec<&str> = repository.split('/').collect();
    let kept = match replace_count {
        n if n < 0 => parts[parts.len() - 1..].join("/"),
        0 => repository.to_owned(),
        n => {
            let n = n as usize;
            let namespaces = parts.len() - 1;
            if n > namespaces {
                return Err(format!(
                    "repository {repository:?} has {namespaces} namespace component(s) but the policy drops {n} \
                     (dest-namespace-replace-count): lower it or use -1 to keep only the last component"
                ));
            }
            parts[n..].join("/")
        }
    };
    Ok(format!("{namespace}/{kept}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: Kind, pattern: &str, keep: bool) -> Filter<'_> {
        Filter {
            kind,
            pattern,
            keep,
        }
    }

    #[test]
    fn doublestar() {
        let g = glob("library/*").unwrap();
        assert!(g.is_match("library/nginx"));
        assert!(!g.is_match("library/a/nginx"));
        let g = glob("library/**").unwrap();
        assert!(g.is_match("library/a/nginx"));
        assert!(g.is_match("library/nginx"));
        let g = glob("**").unwrap();
        assert!(g.is_match("a/b/c"));
        let g = glob("**/nginx").unwrap();
        assert!(g.is_match("a/b/nginx"));
        assert!(g.is_match("nginx"));
        let g = glob("v1.{0,1}.?").unwrap();
        assert!(g.is_match("v1.0.3"));
        assert!(g.is_match("v1.1.x"));
        assert!(!g.is_match("v1.2.3"));
        assert!(!glob("a?b").unwrap().is_match("a/b"));
        assert!(glob("[").is_err());
    }

    #[test]
    fn filters_and() {
        let fs = Filters::new([
            f(Kind::Repository, "library/**", true),
            f(Kind::Repository, "library/private*", false),
            f(Kind::Tag, "", true),
            f(Kind::Tag, "*-rc*", false),
            f(Kind::Label, "x", false),
        ])
        .unwrap();
        assert!(fs.repository("library/nginx"));
        assert!(!fs.repository("library/private-a"));
        assert!(!fs.repository("other/nginx"));
        assert!(fs.tag("1.0"));
        assert!(!fs.tag("1.0-rc1"));
        assert!(fs.resource(Resource::Artifact));
        let none = Filters::new([]).unwrap();
        assert!(none.repository("x/y") && none.tag("t"));
    }

    #[test]
    fn resource_and_label_filters() {
        let fs = Filters::new([f(Kind::Resource, "image", true)]).unwrap();
        assert!(fs.resource(Resource::Image));
        assert!(!fs.resource(Resource::Artifact));
        let fs = Filters::new([f(Kind::Resource, "image", false)]).unwrap();
        assert!(!fs.resource(Resource::Image));
        assert!(fs.resource(Resource::Artifact));
        let e = Filters::new([f(Kind::Resource, "chart", true)])
            .err()
            .unwrap();
        assert!(e.contains("resource type"), "{e}");
        let e = Filters::new([f(Kind::Label, "env=prod", true)])
            .err()
            .unwrap();
        assert!(e.contains("no labels"), "{e}");
        let e = Filters::new([f(Kind::Tag, "[", true)]).err().unwrap();
        assert!(e.contains("bad pattern"), "{e}");
    }

    #[test]
    fn harbor_semantics() {
        assert_eq!(map_repository("a/b/c/img", "", -1).unwrap(), "a/b/c/img");
        assert_eq!(map_repository("a/b/c/img", "n", -1).unwrap(), "n/img");
        assert_eq!(map_repository("a/b/c/img", "n", 0).unwrap(), "n/a/b/c/img");
        assert_eq!(map_repository("a/b/c/img", "n", 1).unwrap(), "n/b/c/img");
        assert_eq!(map_repository("a/b/c/img", "n", 3).unwrap(), "n/img");
        assert!(map_repository("a/b/c/img", "n", 4).is_err());
        assert_eq!(map_repository("img", "n/m/", -1).unwrap(), "n/m/img");
        assert!(map_repository("img", "n", 1).is_err());
    }
}
