//! Registry notifications, read into the events Ferry acts on: the CNCF
//! distribution envelope (`application/vnd.docker.distribution.events.v1+json`,
//! `{"events": [...]}`) and Harbor's webhook payloads in the default format
//! (`PUSH_ARTIFACT`, `DELETE_ARTIFACT`).
//!
//! distribution sends, per event: `push` of a blob (media type
//! `application/octet-stream`) or of a manifest (with `tag` when pushed by
//! tag), `mount` of a blob, `pull` of anything, and `delete`: one with the
//! manifest's digest, then one per tag it removed (with `tag`, no digest).
//! A digest delete is the same for a blob and a manifest, so Ferry acts on
//! the tag deletes that follow it.

use serde::Deserialize;

use crate::store::{EventKind, NewEvent};

/// distribution's notification media type.
pub const DISTRIBUTION_EVENTS: &str = "application/vnd.docker.distribution.events.v1+json";

/// What a notification says: events to act on, and how many it carried
/// that Ferry does not act on (pulls, pushes by digest, other webhook
/// types).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Notice {
    pub events: Vec<NewEvent>,
    pub ignored: i64,
}

#[derive(Deserialize)]
struct Envelope {
    events: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct DistributionEvent {
    id: String,
    action: String,
    target: Target,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    repository: String,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    size: Option<i64>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    from_repository: Option<String>,
}

#[derive(Deserialize)]
struct HarborPayload {
    #[serde(rename = "type")]
    kind: String,
    event_data: HarborData,
}

#[derive(Deserialize)]
struct HarborData {
    #[serde(default)]
    resources: Vec<HarborResource>,
    repository: HarborRepository,
}

#[derive(Deserialize)]
struct HarborResource {
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    tag: Option<String>,
}

#[derive(Deserialize)]
struct HarborRepository {
    repo_full_name: String,
}

/// Reads a notification body; the error says what is wrong with it.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Notice, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let distribution = content_type
        .is_some_and(|t| t.split(';').next().unwrap_or("").trim() == DISTRIBUTION_EVENTS);
    if distribution || doc.get("events").is_some() {
        return distribution_events(doc);
    }
    if doc.get("type").is_some() && doc.get("event_data").is_some() {
        return harbor_payload(doc, body);
    }
    Err(format!(
        "neither a distribution notification ({DISTRIBUTION_EVENTS}: {{\"events\": [...]}}) \
         nor a Harbor webhook payload ({{\"type\": ..., \"event_data\": ...}})"
    ))
}

fn distribution_events(doc: serde_json::Value) -> Result<Notice, String> {
    let envelope: Envelope = serde_json::from_value(doc)
        .map_err(|e| format!("not a distribution notification envelope: {e}"))?;
    let mut notice = Notice::default();
    for (i, raw) in envelope.events.into_iter().enumerate() {
        let e: DistributionEvent =
            serde_json::from_value(raw).map_err(|err| format!("events[{i}]: {err}"))?;
        let at = |field: &str| format!("events[{i}] ({}): {field}", e.id);
        if e.id.trim().is_empty() {
            return Err(format!("events[{i}]: id: must not be empty"));
        }
        check_repository(&e.target.repository).map_err(|m| at(&m))?;
        if let Some(d) = &e.target.digest {
            check_digest(d).map_err(|m| at(&m))?;
        }
        let is_blob = match (&e.target.url, &e.target.media_type) {
            (Some(url), _) if url.contains("/blobs/") => true,
            (Some(url), _) if url.contains("/manifests/") => false,
            (_, Some(t)) => t == "application/octet-stream",
            _ => false,
        };
        let tag = e.target.tag.filter(|t| !t.is_empty());
        let kind = match (e.action.as_str(), is_blob, &tag) {
            ("mount", _, _) | ("push", true, _) => Some(EventKind::BlobPush),
            ("push", false, Some(_)) => Some(EventKind::ManifestPush),
            ("delete", _, Some(_)) => Some(EventKind::TagDelete),
            ("push" | "pull" | "delete", _, _) => None,
            (other, _, _) => {
                return Err(at(&format!(
                    "action {other:?} is not push, mount, pull or delete"
                )));
            }
        };
        let Some(kind) = kind else {
            notice.ignored += 1;
            continue;
        };
        if kind == EventKind::BlobPush && e.target.digest.is_none() {
            return Err(at("target.digest: a blob event needs one"));
        }
        notice.events.push(NewEvent {
            event_id: e.id,
            kind,
            repository: e.target.repository,
            tag,
            digest: e.target.digest,
            size: e.target.size,
            from_repository: e.target.from_repository,
        });
    }
    Ok(notice)
}

fn harbor_payload(doc: serde_json::Value, body: &[u8]) -> Result<Notice, String> {
    let p: HarborPayload =
        serde_json::from_value(doc).map_err(|e| format!("not a Harbor webhook payload: {e}"))?;
    let repository = p.event_data.repository.repo_full_name;
    let kind = match p.kind.as_str() {
        "PUSH_ARTIFACT" => EventKind::ManifestPush,
        "DELETE_ARTIFACT" => EventKind::TagDelete,
        _ => {
            return Ok(Notice {
                events: Vec::new(),
                ignored: 1,
            });
        }
    };
    check_repository(&repository)
        .map_err(|m| format!("event_data.repository.repo_full_name: {m}"))?;
    // Harbor's payloads carry no id: a redelivery is the same bytes.
    let id = crate::transfer::sha256_hex(body);
    let mut notice = Notice::default();
    for (i, r) in p.event_data.resources.into_iter().enumerate() {
        if let Some(d) = &r.digest {
            check_digest(d).map_err(|m| format!("event_data.resources[{i}]: {m}"))?;
        }
        match r.tag.filter(|t| !t.is_empty()) {
            Some(tag) => notice.events.push(NewEvent {
                event_id: format!("harbor-{}-{i}", &id[..32]),
                kind,
                repository: repository.clone(),
                tag: Some(tag),
                digest: r.digest,
                size: None,
                from_repository: None,
            }),
            None => notice.ignored += 1,
        }
    }
    Ok(notice)
}

fn check_repository(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        });
    if ok {
        Ok(())
    } else {
        Err(format!("repository {name:?} is not a repository name"))
    }
}

fn check_digest(digest: &str) -> Result<(), String> {
    ferry_digest::Digest::parse(digest)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:1046cbedfd690eea05edee7efb181bf41062ad41e2b01d901db631725b29ac75";

    fn distribution(events: serde_json::Value) -> Result<Notice, String> {
        let body = serde_json::to_vec(&serde_json::json!({ "events": events })).unwrap();
        parse(Some(DISTRIBUTION_EVENTS), &body)
    }

    #[test]
    fn distribution_events_as_a_registry_sends_them() {
        let n = distribution(serde_json::json!([
            {"id": "a", "action": "push", "target": {"mediaType": "application/octet-stream",
             "size": 248, "digest": D, "repository": "library/img1",
             "url": "http://r/v2/library/img1/blobs/sha256:1046"}},
            {"id": "b", "action": "mount", "target": {"mediaType": "application/octet-stream",
             "size": 126, "digest": D, "repository": "other", "fromRepository": "team/app"}},
            {"id": "c", "action": "push", "target": {"mediaType":
             "application/vnd.oci.image.manifest.v1+json", "digest": D, "repository": "team/app",
             "url": "http://r/v2/team/app/manifests/sha256:1046", "tag": "v2"}},
            {"id": "d", "action": "push", "target": {"mediaType":
             "application/vnd.oci.image.manifest.v1+json", "digest": D, "repository": "team/app",
             "url": "http://r/v2/team/app/manifests/sha256:1046"}},
            {"id": "e", "action": "pull", "target": {"digest": D, "repository": "team/app"}},
            {"id": "f", "action": "delete", "target": {"digest": D, "repository": "team/app"}},
            {"id": "g", "action": "delete", "target": {"repository": "team/app", "tag": "v1"}},
        ]))
        .unwrap();
        let kinds: Vec<(&str, EventKind, Option<&str>)> = n
            .events
            .iter()
            .map(|e| (e.event_id.as_str(), e.kind, e.tag.as_deref()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("a", EventKind::BlobPush, None),
                ("b", EventKind::BlobPush, None),
                ("c", EventKind::ManifestPush, Some("v2")),
                ("g", EventKind::TagDelete, Some("v1")),
            ]
        );
        assert_eq!(n.events[1].from_repository.as_deref(), Some("team/app"));
        assert_eq!(n.events[0].size, Some(248));
        // A push by digest, a pull and a digest delete are not acted on.
        assert_eq!(n.ignored, 3);
    }

    #[test]
    fn harbor_payloads() {
        let body = serde_json::to_vec(&serde_json::json!({
            "type": "PUSH_ARTIFACT", "occur_at": 1_680_501_893, "operator": "admin",
            "event_data": {
                "resources": [{"digest": D, "tag": "v1", "resource_url": "h/library/app:v1"},
                              {"digest": D, "tag": ""}],
                "repository": {"name": "app", "namespace": "library",
                               "repo_full_name": "library/app", "repo_type": "private"}
            }
        }))
        .unwrap();
        let n = parse(Some("application/json"), &body).unwrap();
        assert_eq!(n.events.len(), 1);
        assert_eq!(n.events[0].kind, EventKind::ManifestPush);
        assert_eq!(n.events[0].repository, "library/app");
        assert_eq!(n.ignored, 1);
        // A redelivery (the same bytes) has the same id.
        let again = parse(None, &body).unwrap();
        assert_eq!(again.events[0].event_id, n.events[0].event_id);
        let delete = String::from_utf8(body)
            .unwrap()
            .replace("PUSH_ARTIFACT", "DELETE_ARTIFACT");
        let n = parse(None, delete.as_bytes()).unwrap();
        assert_eq!(n.events[0].kind, EventKind::TagDelete);
        let scan = br#"{"type": "SCANNING_COMPLETED", "event_data": {"repository": {"repo_full_name": "a/b"}}}"#;
        assert_eq!(parse(None, scan).unwrap().ignored, 1);
    }

    #[test]
    fn malformed_payloads_say_why() {
        for (body, why) in [
            (&b"not json"[..], "not JSON"),
            (br#"{"hello": 1}"#, "missing field `events`"),
            (br#"{"events": 3}"#, "envelope"),
            (br#"{"events": [{"id": "x"}]}"#, "events[0]"),
            (
                br#"{"events": [{"id": "x", "action": "push", "target": {"repository": "A//b"}}]}"#,
                "not a repository name",
            ),
            (
                br#"{"events": [{"id": "x", "action": "explode", "target": {"repository": "a"}}]}"#,
                "action \"explode\"",
            ),
            (
                br#"{"events": [{"id": "x", "action": "push", "target": {"repository": "a", "mediaType": "application/octet-stream"}}]}"#,
                "needs one",
            ),
        ] {
            let e = parse(Some(DISTRIBUTION_EVENTS), body).unwrap_err();
            assert!(e.contains(why), "{why:?} in {e:?}");
        }
        let e = parse(Some("application/json"), br#"{"hello": 1}"#).unwrap_err();
        assert!(e.contains("neither a distribution notification"), "{e}");
    }
}
