//! Process templates: YAML that composes stage functions. Loading validates
//! the structure (serde) and the meaning (functions exist, parameters are
//! declared, scopes make sense); every error names a line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::locate::{Seg, locate};
use crate::domain::RegistryKind;
use crate::runtime::{Catalog, Function};
use crate::store::Operation;

/// Templates shipped in the binary, by name.
pub const BUILTIN: &[(&str, &str)] = &[(
    "oci-to-oci",
    include_str!("../../../templates/oci-to-oci.yaml"),
)];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Once per execution, over all artifacts.
    Execution,
    /// Once per artifact, artifacts in parallel.
    Artifact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    /// Only while nothing has failed (for an artifact: that artifact).
    OnSuccess,
    /// After success or failure: post actions.
    Always,
    /// Only after a failure.
    OnFailure,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// Further attempts after the first, for errors that say retrying helps.
    #[serde(default)]
    pub count: u32,
    /// Wait before the first retry; doubles each time.
    #[serde(default, with = "humantime_serde_opt")]
    pub backoff: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: String,
    function: String,
    scope: Scope,
    #[serde(default)]
    concurrency: Option<usize>,
    #[serde(default)]
    params: BTreeMap<String, serde_yaml::Value>,
    #[serde(default, with = "humantime_serde_opt")]
    timeout: Duration,
    #[serde(default)]
    retries: Retries,
    #[serde(default = "on_success")]
    when: When,
    /// Which tasks an artifact-scoped stage serves: copies (default) or
    /// deletions.
    #[serde(default)]
    operation: Option<Operation>,
}

fn on_success() -> When {
    When::OnSuccess
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    version: u32,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    kinds: Option<Kinds>,
    stages: Vec<RawStage>,
}

/// The registry kinds a template serves: what makes a kind exist, and
/// which policies may use the template.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kinds {
    pub source: Vec<RegistryKind>,
    pub target: Vec<RegistryKind>,
    /// How to check that a registry of a kind answers (the API's ping): a
    /// path, from the registry's root when it starts with `/`, else from
    /// its URL. A kind without one is pinged at its URL.
    #[serde(default)]
    pub ping: BTreeMap<RegistryKind, String>,
}

impl Default for Kinds {
    /// Templates written before `kinds` existed served OCI distribution
    /// registries only; they keep meaning that.
    fn default() -> Self {
        let distribution = RegistryKind::parse("distribution").expect("a valid kind");
        Self {
            source: vec![distribution.clone()],
            target: vec![distribution.clone()],
            ping: BTreeMap::from([(distribution, "/v2/".to_string())]),
        }
    }
}

impl Kinds {
    /// Reads only a template's `kinds`, without loading its functions: how
    /// the service learns the kinds its templates serve. `None` when the
    /// text is not a template.
    pub fn declared(text: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct Head {
            version: u32,
            #[serde(default)]
            kinds: Option<Kinds>,
        }
        let head: Head = serde_yaml::from_str(text).ok()?;
        (head.version == 1).then(|| head.kinds.unwrap_or_default())
    }

    /// Why a policy from `source` to `target` cannot use this template, if
    /// it cannot.
    pub fn refuses(&self, source: &RegistryKind, target: &RegistryKind) -> Option<String> {
        let list = |k: &[RegistryKind]| {
            k.iter()
                .map(RegistryKind::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.source.contains(source) {
            Some(format!(
                "it reads sources of kind {} only, and the source is of kind {source}",
                list(&self.source)
            ))
        } else if !self.target.contains(target) {
            Some(format!(
                "it writes targets of kind {} only, and the target is of kind {target}",
                list(&self.target)
            ))
        } else {
            None
        }
    }
}

/// A validated stage.
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: String,
    pub function: Arc<Function>,
    pub scope: Scope,
    pub concurrency: usize,
    pub params: Vec<(String, String)>,
    pub timeout: Duration,
    pub retries: Retries,
    pub when: When,
    /// The tasks it serves (artifact scope): copies or deletions.
    pub operation: Operation,
}

/// A validated template, its functions loaded.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    pub description: String,
    pub kinds: Kinds,
    pub stages: Vec<Stage>,
}

/// Default artifact concurrency of a stage.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Default stage deadline.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub source_name: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.source_name, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for TemplateError {}

impl Template {
    /// Parses and validates a template; `source_name` names it in errors.
    pub async fn load(
        source_name: &str,
        text: &str,
        catalog: &Catalog,
    ) -> Result<Self, TemplateError> {
        let at = |path: &[Seg], message: String| {
            let (line, column) = locate(text, path).unwrap_or((1, 1));
            TemplateError {
                source_name: source_name.to_string(),
                line,
                column,
                message,
            }
        };
        let raw: RawTemplate = serde_yaml::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            TemplateError {
                source_name: source_name.to_string(),
                line,
                column,
                message: e
                    .to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            }
        })?;
        let key = |s: &str| Seg::Key(s.to_string());
        if raw.version != 1 {
            return Err(at(
                &[key("version")],
                format!("version {} is not supported (use 1)", raw.version),
            ));
        }
        let kinds = raw.kinds.unwrap_or_default();
        for (side, list) in [("source", &kinds.source), ("target", &kinds.target)] {
            if list.is_empty() {
                return Err(at(
                    &[key("kinds"), key(side)],
                    format!("kinds.{side}: name at least one registry kind"),
                ));
            }
        }
        if raw.stages.is_empty() {
            return Err(at(
                &[key("stages")],
                "a template needs at least one stage".into(),
            ));
        }
        if raw.stages[0].scope != Scope::Execution {
            return Err(at(
                &[key("stages"), Seg::Index(0), key("scope")],
                "the first stage must have scope `execution`: it lists the artifacts".into(),
            ));
        }
        catalog
            .preload(raw.stages.iter().map(|s| s.function.as_str()))
            .await;
        let mut stages = Vec::with_capacity(raw.stages.len());
        for (i, s) in raw.stages.into_iter().enumerate() {
            let here = |field: &str| vec![key("stages"), Seg::Index(i), key(field)];
            if s.name.trim().is_empty() {
                return Err(at(&here("name"), "a stage needs a name".into()));
            }
            if stages.iter().any(|p: &Stage| p.name == s.name) {
                return Err(at(
                    &here("name"),
                    format!("stage name {:?} is used twice", s.name),
                ));
            }
            let function = catalog
                .get(&s.function)
                .await
                .map_err(|e| at(&here("function"), e.to_string()))?;
            let concurrency = match (s.scope, s.concurrency) {
                (Scope::Execution, Some(_)) => {
                    return Err(at(
                        &here("concurrency"),
                        "concurrency applies to artifact-scoped stages only".into(),
                    ));
                }
                (_, Some(n)) if !(1..=256).contains(&n) => {
                    return Err(at(
                        &here("concurrency"),
                        format!("concurrency {n} is outside 1..=256"),
                    ));
                }
                (_, n) => n.unwrap_or(DEFAULT_CONCURRENCY),
            };
            if s.scope == Scope::Execution && s.operation.is_some() {
                return Err(at(
                    &here("operation"),
                    "operation applies to artifact-scoped stages only: an execution-scoped \
                     stage sees every task"
                        .into(),
                ));
            }
            let declared = &function.info.params;
            let mut params = Vec::new();
            for (k, v) in &s.params {
                let mut path = here("params");
                path.push(key(k));
                if !declared.iter().any(|p| &p.name == k) {
                    let known: Vec<&str> = declared.iter().map(|p| p.name.as_str()).collect();
                    return Err(at(
                        &path,
                        format!(
                            "unknown parameter {k:?} for {} (it takes: {})",
                            s.function,
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
                let value = scalar(v).ok_or_else(|| {
                    at(
                        &path,
                        format!("parameter {k:?} must be a string, number or boolean"),
                    )
                })?;
                params.push((k.clone(), value));
            }
            for p in declared {
                if p.required && p.default.is_none() && !s.params.contains_key(&p.name) {
                    return Err(at(
                        &here("function"),
                        format!("{} needs parameter {:?}", s.function, p.name),
                    ));
                }
            }
            stages.push(Stage {
                name: s.name,
                function,
                scope: s.scope,
                concurrency,
                params,
                timeout: if s.timeout.is_zero() {
                    DEFAULT_TIMEOUT
                } else {
                    s.timeout
                },
                retries: s.retries,
                when: s.when,
                operation: s.operation.unwrap_or_default(),
            });
        }
        Ok(Self {
            name: raw.name,
            description: raw.description,
            kinds,
            stages,
        })
    }

    /// Whether some stage carries out deletions (`operation: delete`).
    pub fn deletes(&self) -> bool {
        self.stages
            .iter()
            .any(|s| s.scope == Scope::Artifact && s.operation == Operation::Delete)
    }

    /// A built-in template by name, or a file by path.
    pub async fn resolve(name_or_path: &str, catalog: &Catalog) -> Result<Self, TemplateError> {
        if let Some((name, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::load(&format!("{name} (built-in)"), text, catalog).await;
        }
        let text = std::fs::read_to_string(name_or_path).map_err(|e| TemplateError {
            source_name: name_or_path.to_string(),
            line: 1,
            column: 1,
            message: format!(
                "cannot read template ({e}); built-in templates: {}",
                BUILTIN
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
        Self::load(name_or_path, &text, catalog).await
    }
}

fn scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `timeout: 5m`, `backoff: 500ms` (humantime syntax); absent means zero.
mod humantime_serde_opt {
    use std::fmt;
    use std::time::Duration;

    use serde::Deserializer;
    use serde::de::{self, Visitor};

    /// Parsing inside `visit_str` lets serde_yaml mark a bad value's own
    /// line and column.
    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration such as 500ms, 30s or 5m")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
            humantime::parse_duration(s)
                .map_err(|e| E::custom(format!("bad duration {s:?}: {e} (e.g. 500ms, 30s, 5m)")))
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_str(DurationVisitor)
    }
}
