//! Harbor's destination namespace mapping.

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
    use super::map_repository as m;

    #[test]
    fn harbor_semantics() {
        assert_eq!(m("a/b/c/img", "", -1).unwrap(), "a/b/c/img");
        assert_eq!(m("a/b/c/img", "n", -1).unwrap(), "n/img");
        assert_eq!(m("a/b/c/img", "n", 0).unwrap(), "n/a/b/c/img");
        assert_eq!(m("a/b/c/img", "n", 1).unwrap(), "n/b/c/img");
        assert_eq!(m("a/b/c/img", "n", 3).unwrap(), "n/img");
        assert!(m("a/b/c/img", "n", 4).is_err());
        assert_eq!(m("img", "n/m/", -1).unwrap(), "n/m/img");
        assert!(m("img", "n", 1).is_err());
    }
}
