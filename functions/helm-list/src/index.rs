//! A classic chart repository's `index.yaml`: its entries, per chart, with
//! the fields the listing needs and each version's metadata (what `helm
//! push` stores as the chart's OCI config).
//!
//! The index is read twice: once typed, so that strings the YAML writes as
//! numbers keep their text (`version: 1.10` is "1.10", not 1.1), as Helm
//! reads them into its string fields; once as plain YAML, for the metadata
//! fields the listing does not know.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::{Map, Value as Json};
use serde_yaml::{Mapping, Value as Yaml};

/// Keys of an index entry that describe the repository's copy of a chart,
/// not the chart: left out of its metadata.
pub const INDEX_ONLY: &[&str] = &[
    "checksum",
    "created",
    "digest",
    "engine",
    "removed",
    "tillerVersion",
    "url",
    "urls",
];

/// A string the index may write as a YAML number or boolean: its text as
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        // A YAML scalar asked for as a string answers its text, whatever
        // it looks like.
        d.deserialize_str(V)
    }
}

/// The fields of an entry that Helm reads as strings, typed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Typed {
    name: Option<Text>,
    version: Option<Text>,
    app_version: Option<Text>,
    kube_version: Option<Text>,
    api_version: Option<Text>,
    description: Option<Text>,
    r#type: Option<Text>,
    home: Option<Text>,
    icon: Option<Text>,
    condition: Option<Text>,
    tags: Option<Text>,
    digest: Option<Text>,
    urls: Option<Vec<Text>>,
    keywords: Option<Vec<Text>>,
    sources: Option<Vec<Text>>,
    annotations: Option<BTreeMap<String, Text>>,
}

impl Typed {
    /// The string fields to set in the metadata, by key.
    fn strings(&self) -> Vec<(&'static str, Json)> {
        let one = |key, t: &Option<Text>| t.as_ref().map(|t| (key, Json::String(t.0.clone())));
        let many = |key, l: &Option<Vec<Text>>| {
            l.as_ref().map(|l| {
                let items = l.iter().map(|t| Json::String(t.0.clone())).collect();
                (key, Json::Array(items))
            })
        };
        let annotations = self.annotations.as_ref().map(|a| {
            let map: Map<String, Json> = a
                .iter()
                .map(|(k, v)| (k.clone(), Json::String(v.0.clone())))
                .collect();
            ("annotations", Json::Object(map))
        });
        [
            one("name", &self.name),
            one("version", &self.version),
            one("appVersion", &self.app_version),
            one("kubeVersion", &self.kube_version),
            one("apiVersion", &self.api_version),
            one("description", &self.description),
            one("type", &self.r#type),
            one("home", &self.home),
            one("icon", &self.icon),
            one("condition", &self.condition),
            one("tags", &self.tags),
            many("keywords", &self.keywords),
            many("sources", &self.sources),
            annotations,
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypedIndex {
    api_version: Option<Text>,
    #[serde(default)]
    entries: Option<BTreeMap<String, Option<Vec<Typed>>>>,
}

#[derive(Deserialize)]
struct PlainIndex {
    #[serde(default)]
    entries: Option<BTreeMap<String, Option<Vec<Mapping>>>>,
}

/// One version of a chart, as the index lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub version: Option<String>,
    /// The archive's sha256, as the index writes it (bare hex, usually).
    pub digest: Option<String>,
    /// Where the archive is, relative to the index or absolute.
    pub urls: Vec<String>,
    /// The chart's metadata: the entry without [`INDEX_ONLY`] keys, as
    /// JSON with sorted keys.
    pub metadata: String,
}

/// A chart and its versions, in index order.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub name: String,
    pub versions: Vec<Version>,
}

/// Reads an index: its charts by name. The error says what is wrong.
pub fn parse(body: &[u8]) -> Result<Vec<Chart>, String> {
    let typed: TypedIndex = serde_yaml::from_slice(body).map_err(|e| e.to_string())?;
    if typed.api_version.is_none() {
        return Err("no apiVersion: not a Helm chart repository index".into());
    }
    let plain: PlainIndex = serde_yaml::from_slice(body).map_err(|e| e.to_string())?;
    let mut plain = plain.entries.unwrap_or_default();
    let mut charts = Vec::new();
    for (name, entries) in typed.entries.unwrap_or_default() {
        let entries = entries.unwrap_or_default();
        let plain = plain.remove(&name).flatten().unwrap_or_default();
        if plain.len() != entries.len() {
            return Err(format!("entries of {name:?} read differently twice"));
        }
        let versions = entries
            .into_iter()
            .zip(plain)
            .map(|(typed, plain)| Version {
                metadata: metadata(&name, &typed, &plain),
                version: typed.version.map(|t| t.0),
                digest: typed.digest.map(|t| t.0),
                urls: typed
                    .urls
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| t.0)
                    .collect(),
            })
            .collect();
        charts.push(Chart { name, versions });
    }
    Ok(charts)
}

/// The chart's metadata of an entry: its keys but [`INDEX_ONLY`], Helm's
/// string fields as their text, the name from the index when the entry
/// lacks one; serialized with sorted keys, so the same entry always gives
/// the same bytes.
fn metadata(chart: &str, typed: &Typed, plain: &Mapping) -> String {
    let mut fields: BTreeMap<String, Json> = plain
        .iter()
        .map(|(k, v)| (key(k), json(v)))
        .filter(|(k, _)| !INDEX_ONLY.contains(&k.as_str()))
        .collect();
    for (k, v) in typed.strings() {
        fields.insert(k.to_owned(), v);
    }
    fields
        .entry("name".to_owned())
        .or_insert_with(|| Json::String(chart.to_owned()));
    let object: Map<String, Json> = fields.into_iter().map(|(k, v)| (k, sorted(v))).collect();
    Json::Object(object).to_string()
}

/// A mapping key as a string.
fn key(k: &Yaml) -> String {
    match k {
        Yaml::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim_end().to_owned())
            .unwrap_or_default(),
    }
}

/// A YAML value as JSON.
fn json(v: &Yaml) -> Json {
    match v {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map_or_else(|| Json::String(n.to_string()), Json::Number)
            }
        }
        Yaml::String(s) => Json::String(s.clone()),
        Yaml::Sequence(items) => Json::Array(items.iter().map(json).collect()),
        Yaml::Mapping(m) => {
            let fields: BTreeMap<String, Json> = m.iter().map(|(k, v)| (key(k), json(v))).collect();
            Json::Object(fields.into_iter().collect())
        }
        Yaml::Tagged(t) => json(&t.value),
    }
}

/// The value with every object's keys inserted in sorted order (the same
/// bytes whether or not serde_json preserves insertion order).
fn sorted(v: Json) -> Json {
    match v {
        Json::Object(m) => {
            let fields: BTreeMap<String, Json> =
                m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Json::Object(fields.into_iter().collect())
        }
        Json::Array(items) => Json::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_entries_with_versions_as_written() {
        let index = br#"
apiVersion: v1
entries:
  nginx:
    - name: nginx
      version: 1.10
      appVersion: 1.25
      apiVersion: v2
      description: Web server
      digest: abc
      urls: [charts/nginx-1.10.tgz, "https://cdn.test/nginx-1.10.tgz"]
      created: "2024-01-01T00:00:00Z"
      keywords: [web, 2]
      annotations: {category: Infra, level: 3}
      maintainers:
        - {name: Bob, email: bob@example.test}
      deprecated: false
      replicas: 2
  alpine:
    - version: 0.1.0
      urls: []
generated: "2024-01-01T00:00:00Z"
"#;
        let charts = parse(index).unwrap();
        assert_eq!(
            charts,
            [
                Chart {
                    name: "alpine".into(),
                    versions: vec![Version {
                        version: Some("0.1.0".into()),
                        digest: None,
                        urls: vec![],
                        metadata: r#"{"name":"alpine","version":"0.1.0"}"#.into(),
                    }],
                },
                Chart {
                    name: "nginx".into(),
                    versions: vec![Version {
                        version: Some("1.10".into()),
                        digest: Some("abc".into()),
                        urls: vec![
                            "charts/nginx-1.10.tgz".into(),
                            "https://cdn.test/nginx-1.10.tgz".into()
                        ],
                        metadata: concat!(
                            r#"{"annotations":{"category":"Infra","level":"3"},"apiVersion":"v2","#,
                            r#""appVersion":"1.25","deprecated":false,"description":"Web server","#,
                            r#""keywords":["web","2"],"maintainers":[{"email":"bob@example.test","name":"Bob"}],"#,
                            r#""name":"nginx","replicas":2,"version":"1.10"}"#
                        )
                        .into(),
                    }],
                },
            ]
        );
    }

    #[test]
    fn an_index_needs_an_api_version_and_valid_yaml() {
        assert_eq!(
            parse(b"entries: {}\n").unwrap_err(),
            "no apiVersion: not a Helm chart repository index"
        );
        assert!(parse(b"<html>not found</html>").is_err());
        assert!(parse(b"apiVersion: v1\nentries: {a: [x]}\n").is_err());
        assert_eq!(parse(b"apiVersion: v1\n").unwrap(), []);
        assert_eq!(
            parse(b"apiVersion: v1\nentries: {a: ~}\n").unwrap(),
            [Chart {
                name: "a".into(),
                versions: vec![]
            }]
        );
    }
}
