//! Rows of the coordinator's state. Field names follow Harbor v2.0's API
//! where Harbor has the field, so these serialize as the API's JSON.

use serde::{Deserialize, Serialize};

use crate::domain::RegistryKind;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// A duration in milliseconds, for adding to a time (capped far out, so
/// the sum cannot overflow).
pub fn millis(d: std::time::Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A registry. The credential is stored sealed and never leaves the store
/// except to the engine (see `Store::registry_credential`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Registry {
    pub id: i64,
    pub name: String,
    pub url: String,
    /// Registry kind: which templates and functions serve it.
    #[serde(rename = "type")]
    pub kind: RegistryKind,
    pub insecure: bool,
    pub description: String,
    /// `basic` or `bearer`, when a credential is set (its secret never shows).
    pub credential_type: Option<String>,
    #[schema(value_type = i64, format = Int64)]
    pub creation_time: Millis,
    #[schema(value_type = i64, format = Int64)]
    pub update_time: Millis,
    /// Whether an event secret is set: the registry's notifications are
    /// then accepted at `/api/v1/registries/{id}/events` (the secret never
    /// shows).
    #[serde(default)]
    pub event_secret_set: bool,
    /// Notification events stored for event-based policies.
    #[serde(default)]
    pub events_accepted: i64,
    /// Events for repositories no enabled event-based policy covers.
    #[serde(default)]
    pub events_dropped: i64,
    /// Events Ferry does not act on (pulls, pushes by digest, ...).
    #[serde(default)]
    pub events_ignored: i64,
    /// Requests Ferry starts per second to this registry, across every
    /// execution on a coordinator; `null`: no bound.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub requests_per_second: Option<i64>,
    /// Requests Ferry has waiting for this registry's answer at once, across
    /// every execution on a coordinator; `null`: no bound.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub max_concurrency: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewRegistry {
    pub name: String,
    pub url: String,
    pub kind: RegistryKind,
    pub insecure: bool,
    pub description: String,
    pub credential_type: Option<String>,
    /// AEAD-sealed `access_key` + `access_secret` (see `crate::secrets`).
    pub credential_sealed: Option<Vec<u8>>,
    /// The event secret's SHA-256 (hex): `None` keeps the stored one on an
    /// update, `Some(None)` clears it.
    pub event_secret_hash: Option<Option<String>>,
    pub requests_per_second: Option<i64>,
    pub max_concurrency: Option<i64>,
}

/// An uploaded or built-in stage function.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct FunctionRow {
    pub id: i64,
    pub name: String,
    pub version: String,
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
    pub size: i64,
    pub description: String,
    /// Interface names the component imports / exports.
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// Declared parameters, as `describe` returned them (JSON array).
    #[schema(value_type = Vec<Object>)]
    pub params: serde_json::Value,
    pub builtin: bool,
    #[schema(value_type = i64, format = Int64)]
    pub creation_time: Millis,
}

/// A version of a process template.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct TemplateRow {
    pub id: i64,
    pub name: String,
    pub version: i64,
    pub description: String,
    /// The YAML text, as written.
    pub body: String,
    #[schema(value_type = i64, format = Int64)]
    pub creation_time: Millis,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RegistryRef {
    #[serde(deserialize_with = "whole::int")]
    pub id: i64,
}

/// Structs read only from JSON objects: serde would also read one from an
/// array, by position, which the API's document does not allow.
pub mod object {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize as _, Deserializer};
    use serde_json::{Map, Value};

    fn from<T: DeserializeOwned, E: serde::de::Error>(map: Map<String, Value>) -> Result<T, E> {
        T::deserialize(Value::Object(map)).map_err(E::custom)
    }

    /// A struct field.
    pub fn one<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<T, D::Error> {
        from(Map::deserialize(d)?)
    }

    /// An optional struct field (`null` or absent: none).
    pub fn opt<'de, D: Deserializer<'de>, T: DeserializeOwned>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        Option::<Map<String, Value>>::deserialize(d)?
            .map(from)
            .transpose()
    }

    /// A list of structs.
    pub fn vec<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
        Vec::<Map<String, Value>>::deserialize(d)?
            .into_iter()
            .map(from)
            .collect()
    }
}

/// Integers as JSON Schema counts them: `3` and `3.0` alike, so a body
/// valid for the API's OpenAPI document is read as it says.
pub mod whole {
    use serde::{Deserialize as _, Deserializer, de::Error as _};

    /// An integer field.
    pub fn int<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i64>,
    {
        let n = serde_json::Number::deserialize(d)?;
        // 2^63: the first float past i64::MAX.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        let v = n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && (-LIMIT..LIMIT).contains(f))
                    .map(|f| f as i64)
            })
            .ok_or_else(|| D::Error::custom(format!("{n} is not an integer in range")))?;
        T::try_from(v).map_err(|_| D::Error::custom(format!("{n} is out of range")))
    }

    /// An optional integer field (`null` or absent: none).
    pub fn opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i64>,
    {
        #[derive(serde::Deserialize)]
        struct Int<T: TryFrom<i64>>(#[serde(deserialize_with = "int")] T);
        Ok(Option::<Int<T>>::deserialize(d)?.map(|Int(v)| v))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PolicyFilter {
    /// `name` (repository; `repository` is the same) | `tag` | `resource`.
    /// Harbor's `label` has nothing to match in a distribution registry.
    #[serde(rename = "type")]
    #[schema(value_type = FilterType)]
    pub kind: PolicyFilterKind,
    /// A glob (name, tag), or `image`/`artifact` (resource); null, empty
    /// or absent: everything.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub value: serde_json::Value,
    /// `matches` (default) | `excludes`.
    #[serde(default)]
    #[schema(value_type = Option<FilterDecoration>)]
    pub decoration: Option<PolicyDecoration>,
}

/// A filter's `type`, as Harbor spells them (`name` and `repository` are
/// one; each is kept as it was given).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PolicyFilterKind {
    Name,
    Repository,
    Tag,
    /// Harbor's labels: refused at write time for kinds that have none.
    Label,
    Resource,
}

impl PolicyFilterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Repository => "repository",
            Self::Tag => "tag",
            Self::Label => "label",
            Self::Resource => "resource",
        }
    }
}

/// A filter's `decoration`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PolicyDecoration {
    #[default]
    Matches,
    Excludes,
}

impl PolicyDecoration {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Matches => "matches",
            Self::Excludes => "excludes",
        }
    }
}

/// A filter's `type`, as the document lists them (a label filter is
/// refused: no kind has labels yet).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum FilterType {
    Name,
    Repository,
    Tag,
    Resource,
}

/// A filter's `decoration`, as the document lists them.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum FilterDecoration {
    Matches,
    Excludes,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, utoipa::ToSchema)]
pub struct TriggerSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
}

/// What starts a policy's executions.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// Only by hand (API, CLI).
    Manual,
    /// At each tick of `trigger_settings.cron` (UTC).
    Scheduled,
    /// By the source registry's push and delete notifications.
    EventBased,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Scheduled => "scheduled",
            Self::EventBased => "event_based",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Trigger {
    #[serde(rename = "type")]
    pub kind: TriggerKind,
    #[serde(default, deserialize_with = "object::one")]
    pub trigger_settings: TriggerSettings,
}

impl Trigger {
    pub fn manual() -> Self {
        Self {
            kind: TriggerKind::Manual,
            trigger_settings: TriggerSettings::default(),
        }
    }

    /// The cron expression of a scheduled trigger.
    pub fn cron(&self) -> Option<&str> {
        match self.kind {
            TriggerKind::Scheduled => self.trigger_settings.cron.as_deref(),
            _ => None,
        }
    }
}

/// What a task does with its artifact (Harbor's task `operation`).
#[derive(
    Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Make the target hold the source's artifact.
    #[default]
    Copy,
    /// Remove the artifact's tag from the target: it is gone at the source.
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Copy => "copy",
            Self::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "copy" => Self::Copy,
            "delete" => Self::Delete,
            _ => return None,
        })
    }
}

/// Why an execution started.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecTrigger {
    Manual,
    Scheduled,
    EventBased,
    /// A re-run of another execution's failed tasks.
    Retry,
}

impl ExecTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Scheduled => "scheduled",
            Self::EventBased => "event_based",
            Self::Retry => "retry",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "manual" => Self::Manual,
            "scheduled" => Self::Scheduled,
            "event_based" => Self::EventBased,
            "retry" => Self::Retry,
            _ => return None,
        })
    }
}

/// A replication policy, Harbor's fields plus Ferry's `template` and
/// `chunk_size`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Policy {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub src_registry: RegistryRef,
    pub dest_registry: RegistryRef,
    pub dest_namespace: String,
    pub dest_namespace_replace_count: i32,
    pub filters: Vec<PolicyFilter>,
    pub trigger: Trigger,
    pub replicate_deletion: bool,
    #[serde(rename = "override")]
    pub override_existing: bool,
    pub enabled: bool,
    /// KB/s; -1 or 0: unlimited.
    pub speed: i64,
    pub copy_by_chunk: bool,
    pub chunk_size: i64,
    pub single_active_replication: bool,
    /// `name` or `name@version` of a template (default `oci-to-oci`).
    pub template: String,
    #[schema(value_type = i64, format = Int64)]
    pub creation_time: Millis,
    #[schema(value_type = i64, format = Int64)]
    pub update_time: Millis,
    /// When a scheduled, enabled policy fires next (epoch milliseconds,
    /// UTC); null otherwise. Read-only.
    #[serde(default)]
    #[schema(value_type = Option<i64>, format = Int64, read_only)]
    pub next_fire_time: Option<Millis>,
}

/// Which executions a listing picks: all, or those of one policy, or in
/// one status, or both.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecutionFilter {
    pub policy_id: Option<i64>,
    pub status: Option<ExecStatus>,
}

impl ExecutionFilter {
    pub fn policy(id: i64) -> Self {
        Self {
            policy_id: Some(id),
            status: None,
        }
    }
}

/// The status of an execution, and of each of its tasks: one vocabulary.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Stopped,
    Skipped,
}

impl ExecStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "stopped" => Self::Stopped,
            "skipped" => Self::Skipped,
            _ => return None,
        })
    }

    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }
}

impl std::fmt::Display for ExecStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An execution, with Harbor's field names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Execution {
    pub id: i64,
    pub policy_id: i64,
    pub status: ExecStatus,
    pub status_text: String,
    pub trigger: ExecTrigger,
    #[schema(value_type = i64, format = Int64)]
    pub start_time: Millis,
    #[schema(value_type = Option<i64>, format = Int64)]
    pub end_time: Option<Millis>,
    pub total: i64,
    pub succeed: i64,
    pub failed: i64,
    pub in_progress: i64,
    pub stopped: i64,
    pub bytes: i64,
    /// The execution whose failed tasks this one re-runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<i64>,
    /// The scheduled tick this execution fired for (epoch milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>, format = Int64)]
    pub tick_time: Option<Millis>,
    /// A dry run: only the listing ran, and nothing was written.
    #[serde(default)]
    pub dry_run: bool,
    /// Times another coordinator (or this one, restarted) took the
    /// execution over after its coordinator stopped mid-run.
    #[serde(default)]
    pub resumed: i64,
}

/// How an execution comes to be (`Store::start_execution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewExecution {
    pub trigger: ExecTrigger,
    /// The execution whose failed tasks this one re-runs.
    pub retry_of: Option<i64>,
    /// The scheduled tick it fires for.
    pub tick_time: Option<Millis>,
    /// List only, write nothing: the plan is kept (never single-active).
    pub dry_run: bool,
}

impl NewExecution {
    pub fn new(trigger: ExecTrigger) -> Self {
        Self {
            trigger,
            retry_of: None,
            tick_time: None,
            dry_run: false,
        }
    }

    /// A re-run of execution `of`'s failed tasks.
    pub fn retry(of: i64) -> Self {
        Self {
            retry_of: Some(of),
            ..Self::new(ExecTrigger::Retry)
        }
    }
}

/// One artifact's task within an execution.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Task {
    pub id: i64,
    pub execution_id: i64,
    pub repository: String,
    pub target_repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub operation: Operation,
    pub status: ExecStatus,
    /// Why a skipped task was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub attempts: i64,
    /// Every stage's record, in template order (`engine::StageRecord` JSON).
    #[schema(value_type = Vec<Object>)]
    pub stages: serde_json::Value,
    pub error: Option<String>,
    #[schema(value_type = i64, format = Int64)]
    pub start_time: Millis,
    #[schema(value_type = Option<i64>, format = Int64)]
    pub end_time: Option<Millis>,
}

/// A function version to store (`Store::put_function`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewFunction {
    pub name: String,
    pub version: String,
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
    pub size: i64,
    pub description: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    pub params: serde_json::Value,
    pub builtin: bool,
}

/// An execution's task counters (`Store::set_counts`, `finish_execution`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecCounts {
    pub total: i64,
    pub succeed: i64,
    pub failed: i64,
    pub in_progress: i64,
    pub stopped: i64,
    pub bytes: i64,
}

/// A task to insert (`Store::insert_tasks`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub repository: String,
    pub target_repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub operation: Operation,
    pub status: ExecStatus,
    /// What the engine needs to run this task again (for retries).
    pub artifact: serde_json::Value,
}

/// A task's new state (`Store::update_task`).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskUpdate {
    pub status: ExecStatus,
    pub attempts: i64,
    pub stages: serde_json::Value,
    pub error: Option<String>,
    /// Why a skipped task was skipped.
    pub reason: Option<String>,
    /// Replaces the stored digest when set (kept otherwise).
    pub digest: Option<String>,
    pub end_time: Option<Millis>,
}

/// A registry notification, as Ferry acts on it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A manifest pushed under a tag: replicate that artifact.
    ManifestPush,
    /// A blob pushed or mounted: copy it ahead of its manifest.
    BlobPush,
    /// A tag deleted: replicate the deletion.
    TagDelete,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ManifestPush => "manifest_push",
            Self::BlobPush => "blob_push",
            Self::TagDelete => "tag_delete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "manifest_push" => Self::ManifestPush,
            "blob_push" => Self::BlobPush,
            "tag_delete" => Self::TagDelete,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Stored, not acted on yet.
    Pending,
    /// Acted on: see its outcome.
    Done,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "done" => Self::Done,
            _ => return None,
        })
    }
}

/// An event to store (`Store::accept_events`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The sender's id for it: a redelivery carries the same.
    pub event_id: String,
    pub kind: EventKind,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub size: Option<i64>,
    /// A mount's source repository.
    pub from_repository: Option<String>,
}

/// A stored registry event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Event {
    pub id: i64,
    pub registry_id: i64,
    /// The sender's id.
    pub event_id: String,
    pub kind: EventKind,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub size: Option<i64>,
    pub from_repository: Option<String>,
    #[schema(value_type = i64, format = Int64)]
    pub received_at: Millis,
    pub status: EventStatus,
    /// The execution it started, joined or fed (blobs copied ahead).
    pub execution_id: Option<i64>,
    /// What acting on it did.
    pub outcome: Option<String>,
    #[schema(value_type = Option<i64>, format = Int64)]
    pub processed_at: Option<Millis>,
}

/// What `Store::accept_events` stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EventCounts {
    /// Stored, to act on.
    pub accepted: i64,
    /// Already stored (a redelivery): acted on once.
    pub duplicates: i64,
    /// For repositories no enabled event-based policy covers.
    pub dropped: i64,
    /// Not acted on by Ferry (pulls, pushes by digest, ...).
    pub ignored: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Ints {
        #[serde(deserialize_with = "whole::int")]
        small: i32,
        #[serde(default, deserialize_with = "whole::opt")]
        big: Option<i64>,
    }

    fn ints(json: &str) -> Result<Ints, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_are_integers_however_written() {
        let v = ints(r#"{"small": 3.0, "big": -9.0e18}"#).unwrap();
        assert_eq!((v.small, v.big), (3, Some(-9_000_000_000_000_000_000)));
        let v = ints(r#"{"small": -1, "big": null}"#).unwrap();
        assert_eq!((v.small, v.big), (-1, None));
        assert_eq!(ints(r#"{"small": 7}"#).unwrap().big, None);
        assert_eq!(
            ints(r#"{"small": 0, "big": 9223372036854775807}"#)
                .unwrap()
                .big,
            Some(i64::MAX)
        );
        for bad in [
            r#"{"small": 1.5}"#,
            r#"{"small": 2147483648}"#,
            r#"{"small": "1"}"#,
            r#"{"small": 1, "big": 9223372036854775808}"#,
            r#"{"small": 1, "big": 9.3e18}"#,
            r#"{"small": 1, "big": 1e400}"#,
        ] {
            assert!(ints(bad).is_err(), "{bad}");
        }
        // Read exactly (serde_json's float_roundtrip), not as the float
        // beside it, 3996587667422694.5.
        assert_eq!(
            ints(r#"{"small": 0, "big": 3996587667422694.0}"#)
                .unwrap()
                .big,
            Some(3_996_587_667_422_694)
        );
        let r: RegistryRef = serde_json::from_str(r#"{"id": 12.0}"#).unwrap();
        assert_eq!(r.id, 12);
    }

    #[test]
    fn nested_structs_are_objects_not_arrays() {
        let t: Trigger = serde_json::from_str(
            r#"{"type": "scheduled", "trigger_settings": {"cron": "* * * * *"}}"#,
        )
        .unwrap();
        assert_eq!(t.cron(), Some("* * * * *"));
        let t: Trigger = serde_json::from_str(r#"{"type": "manual"}"#).unwrap();
        assert_eq!(t, Trigger::manual());
        let e = serde_json::from_str::<Trigger>(
            r#"{"type": "scheduled", "trigger_settings": ["* * * * *"]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("expected a map"), "{e}");
    }
}
