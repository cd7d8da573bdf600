//! Policy filters. Repository and tag patterns are doublestar globs: `*` and
//! `?` stay within one path segment, `**` crosses segments, `{a,b}` are
//! alternatives; an empty pattern matches everything. Every filter must pass.

use crate::errors::invalid;
use crate::{Decoration, Filter, FilterKind, WitError};
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
    /// filter (distribution registries have no labels) is an `invalid` error.
    pub fn new(filters: &[Filter]) -> Result<Filters, WitError> {
        let mut out = Filters::default();
        for f in filters {
            let keep = matches!(f.decoration, Decoration::Matches);
            let pattern = f.pattern.as_str();
            match f.kind {
                FilterKind::Repository | FilterKind::Tag => {
                    let what = if pattern.is_empty() {
                        None
                    } else {
                        Some(glob(pattern).map_err(|e| invalid(format!("filter: {e}")))?)
                    };
                    let list = if f.kind == FilterKind::Repository {
                        &mut out.repository
                    } else {
                        &mut out.tag
                    };
                    list.push(Rule { what, keep });
                }
                FilterKind::Resource => {
                    let what = match pattern {
                        "" => None,
                        "image" => Some(Resource::Image),
                        "artifact" => Some(Resource::Artifact),
                        other => {
                            return Err(invalid(format!(
                                "resource filter {other:?}: the resource type is \"image\" or \"artifact\""
                            )));
                        }
                    };
                    out.resource.push(Rule { what, keep });
                }
                FilterKind::Label => {
                    // Nothing here has labels: "excludes" drops nothing, and
                    // "matches" could only ever keep nothing.
                    if keep && !pattern.is_empty() {
                        return Err(invalid(format!(
                            "label filter {pattern:?}: a distribution registry has no labels; remove the label filter from the policy"
                        )));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: FilterKind, pattern: &str, keep: bool) -> Filter {
        Filter {
            kind,
            pattern: pattern.into(),
            decoration: if keep {
                Decoration::Matches
            } else {
                Decoration::Excludes
            },
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
        let fs = Filters::new(&[
            f(FilterKind::Repository, "library/**", true),
            f(FilterKind::Repository, "library/private*", false),
            f(FilterKind::Tag, "", true),
            f(FilterKind::Tag, "*-rc*", false),
            f(FilterKind::Label, "x", false),
        ])
        .unwrap();
        assert!(fs.repository("library/nginx"));
        assert!(!fs.repository("library/private-a"));
        assert!(!fs.repository("other/nginx"));
        assert!(fs.tag("1.0"));
        assert!(!fs.tag("1.0-rc1"));
        assert!(fs.resource(Resource::Artifact));
        let none = Filters::new(&[]).unwrap();
        assert!(none.repository("x/y") && none.tag("t"));
    }

    #[test]
    fn resource_and_label_filters() {
        let fs = Filters::new(&[f(FilterKind::Resource, "image", true)]).unwrap();
        assert!(fs.resource(Resource::Image));
        assert!(!fs.resource(Resource::Artifact));
        let fs = Filters::new(&[f(FilterKind::Resource, "image", false)]).unwrap();
        assert!(!fs.resource(Resource::Image));
        assert!(fs.resource(Resource::Artifact));
        let e = Filters::new(&[f(FilterKind::Resource, "chart", true)])
            .err()
            .unwrap();
        assert_eq!(e.kind, crate::ErrorKind::Invalid);
        let e = Filters::new(&[f(FilterKind::Label, "env=prod", true)])
            .err()
            .unwrap();
        assert!(e.message.contains("no labels"));
        let e = Filters::new(&[f(FilterKind::Tag, "[", true)])
            .err()
            .unwrap();
        assert_eq!(e.kind, crate::ErrorKind::Invalid);
    }
}
