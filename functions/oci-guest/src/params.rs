//! Step parameters (strings, as the template's YAML values) and stage outputs.

use crate::errors::invalid;
use crate::{Artifact, StageOutput, Status, WitError};

/// The step's parameters.
pub struct Params<'a>(&'a [(String, String)]);

impl<'a> Params<'a> {
    pub fn new(params: &'a [(String, String)]) -> Self {
        Params(params)
    }

    /// The raw value, if the step sets it.
    pub fn raw(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn string(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or(default).to_owned()
    }

    /// A required parameter.
    pub fn required(&self, name: &str) -> Result<String, WitError> {
        self.raw(name)
            .map(str::to_owned)
            .ok_or_else(|| invalid(format!("parameter {name:?} is required")))
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool, WitError> {
        match self.raw(name).map(str::trim) {
            None | Some("") => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(true),
                "false" | "no" | "off" | "0" => Ok(false),
                _ => Err(invalid(format!(
                    "parameter {name:?} is {v:?}: expected true or false"
                ))),
            },
        }
    }

    pub fn u64(&self, name: &str, default: u64) -> Result<u64, WitError> {
        match self.raw(name).map(str::trim) {
            None | Some("") => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                invalid(format!(
                    "parameter {name:?} is {v:?}: expected a non-negative integer"
                ))
            }),
        }
    }

    /// One of `choices` (the first is the default).
    pub fn choice(&self, name: &str, choices: &[&str]) -> Result<String, WitError> {
        match self.raw(name).map(str::trim) {
            None | Some("") => Ok(choices[0].to_owned()),
            Some(v) if choices.contains(&v) => Ok(v.to_owned()),
            Some(v) => Err(invalid(format!(
                "parameter {name:?} is {v:?}: expected one of {}",
                choices.join(", ")
            ))),
        }
    }
}

/// Named counters, in declaration order.
#[derive(Debug, Default, Clone)]
pub struct Counts(Vec<(String, u64)>);

impl Counts {
    /// Counters starting at zero, so every name appears in the report.
    pub fn new(names: &[&str]) -> Self {
        Counts(names.iter().map(|n| ((*n).to_owned(), 0)).collect())
    }

    pub fn add(&mut self, name: &str, n: u64) {
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v += n,
            None => self.0.push((name.to_owned(), n)),
        }
    }

    pub fn get(&self, name: &str) -> u64 {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or(0, |(_, v)| *v)
    }

    pub fn into_vec(self) -> Vec<(String, u64)> {
        self.0
    }
}

/// A stage output.
pub fn output(
    resources: Vec<Artifact>,
    status: Status,
    counts: Counts,
    bytes: u64,
    messages: Vec<String>,
) -> StageOutput {
    StageOutput {
        resources,
        status,
        counts: counts.into_vec(),
        bytes,
        messages,
        plan: Vec::new(),
    }
}

/// A short name for an artifact in messages: `repo:tag`, `repo@digest` or `repo`.
pub fn artifact_name(a: &Artifact) -> String {
    match (&a.tag, &a.digest) {
        (Some(t), _) => format!("{}:{t}", a.repository),
        (None, Some(d)) => format!("{}@{d}", a.repository),
        (None, None) => a.repository.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        let raw = vec![
            ("page-size".to_owned(), "50".to_owned()),
            ("referrers".to_owned(), "false".to_owned()),
            ("upload".to_owned(), "chunked".to_owned()),
            ("bad".to_owned(), "x".to_owned()),
        ];
        let p = Params::new(&raw);
        assert_eq!(p.u64("page-size", 100).unwrap(), 50);
        assert_eq!(p.u64("missing", 100).unwrap(), 100);
        assert!(p.u64("bad", 1).is_err());
        assert!(!p.bool("referrers", true).unwrap());
        assert!(p.bool("missing", true).unwrap());
        assert!(p.bool("bad", true).is_err());
        assert_eq!(
            p.choice("upload", &["monolithic", "chunked"]).unwrap(),
            "chunked"
        );
        assert_eq!(
            p.choice("missing", &["monolithic", "chunked"]).unwrap(),
            "monolithic"
        );
        assert!(p.choice("bad", &["monolithic", "chunked"]).is_err());
        assert!(p.required("url").is_err());
        assert_eq!(p.string("bad", ""), "x");
    }

    #[test]
    fn counts() {
        let mut c = Counts::new(&["a", "b"]);
        c.add("b", 2);
        c.add("c", 1);
        c.add("b", 1);
        assert_eq!(c.get("b"), 3);
        assert_eq!(
            c.into_vec(),
            vec![("a".into(), 0), ("b".into(), 3), ("c".into(), 1)]
        );
    }
}
