//! Registry events: the inbox the notification endpoint writes before it
//! answers, claimed with a lease by any coordinator, and turned into
//! executions in the same transaction that marks them done.

use std::time::Duration;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::executions::insert_execution;
use super::{
    Backend, Event, EventCounts, EventKind, EventStatus, ExecTrigger, Millis, NewEvent,
    NewExecution, NewTask, Policy, Store, StoreError, millis, now_ms, to_json,
};

const COLS: &str = "id, registry_id, event_id, kind, repository, tag, digest, size, \
                    from_repository, received_at, status, execution_id, outcome, processed_at";

fn from_row(row: &AnyRow) -> Result<Event, sqlx::Error> {
    let decode = |col: &str, text: String| sqlx::Error::ColumnDecode {
        index: col.into(),
        source: format!("unknown value {text:?}").into(),
    };
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    Ok(Event {
        id: row.try_get("id")?,
        registry_id: row.try_get("registry_id")?,
        event_id: row.try_get("event_id")?,
        kind: EventKind::parse(&kind).ok_or_else(|| decode("kind", kind))?,
        repository: row.try_get("repository")?,
        tag: row.try_get("tag")?,
        digest: row.try_get("digest")?,
        size: row.try_get("size")?,
        from_repository: row.try_get("from_repository")?,
        received_at: row.try_get("received_at")?,
        status: EventStatus::parse(&status).ok_or_else(|| decode("status", status))?,
        execution_id: row.try_get("execution_id")?,
        outcome: row.try_get("outcome")?,
        processed_at: row.try_get("processed_at")?,
    })
}

/// Where an event's artifact went, per policy (`Store::dispatch_event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatched {
    pub execution_id: i64,
    /// It joined an execution still pending (else one was started).
    pub joined: bool,
}

impl Store {
    /// Stores a registry's events, all or none, with its counters: each new
    /// one `pending`, a redelivered one (same `event_id`) once. `dropped`
    /// and `ignored` only count.
    pub async fn accept_events(
        &self,
        registry_id: i64,
        events: &[NewEvent],
        dropped: i64,
        ignored: i64,
    ) -> Result<EventCounts, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        // The counters first: on SQLite this takes the write lock at once.
        let mut counts = EventCounts {
            dropped,
            ignored,
            ..EventCounts::default()
        };
        let bumped = sqlx::query(
            "UPDATE registries SET events_dropped = events_dropped + $2, \
             events_ignored = events_ignored + $3 WHERE id = $1",
        )
        .bind(registry_id)
        .bind(dropped)
        .bind(ignored)
        .execute(&mut *tx)
        .await?;
        if bumped.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("registry {registry_id}")));
        }
        for e in events {
            let stored = sqlx::query(
                "INSERT INTO events (registry_id, event_id, kind, repository, tag, digest, size, \
                 from_repository, received_at, status) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending') \
                 ON CONFLICT (registry_id, event_id) DO NOTHING RETURNING id",
            )
            .bind(registry_id)
            .bind(&e.event_id)
            .bind(e.kind.as_str())
            .bind(&e.repository)
            .bind(e.tag.clone())
            .bind(e.digest.clone())
            .bind(e.size)
            .bind(e.from_repository.clone())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            match stored {
                Some(_) => counts.accepted += 1,
                None => counts.duplicates += 1,
            }
        }
        sqlx::query("UPDATE registries SET events_accepted = events_accepted + $2 WHERE id = $1")
            .bind(registry_id)
            .bind(counts.accepted)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Takes up to `limit` pending events, oldest first, for `coordinator`
    /// until now + `lease`: those nobody holds, or whose holder's lease
    /// ended (it died before acting on them).
    pub async fn claim_events(
        &self,
        coordinator: &str,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let now = now_ms();
        let until = now.saturating_add(millis(lease));
        let pick = "SELECT id FROM events WHERE status = 'pending' \
                    AND (lease_until IS NULL OR lease_until < $3) ORDER BY id LIMIT $4";
        let sql = match self.backend {
            Backend::Postgres => format!(
                "UPDATE events SET claimed_by = $1, lease_until = $2 \
                 WHERE id IN ({pick} FOR UPDATE SKIP LOCKED) RETURNING {COLS}"
            ),
            Backend::Sqlite => format!(
                "UPDATE events SET claimed_by = $1, lease_until = $2 \
                 WHERE id IN ({pick}) RETURNING {COLS}"
            ),
        };
        let rows = sqlx::query(&sql)
            .bind(coordinator)
            .bind(until)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut events = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        events.sort_by_key(|e| e.id);
        Ok(events)
    }

    /// Marks event `id` done, with what acting on it did.
    pub async fn finish_event(
        &self,
        id: i64,
        outcome: &str,
        execution_id: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE events SET status = 'done', outcome = $2, \
             execution_id = COALESCE($3, execution_id), processed_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(outcome)
        .bind(execution_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Extends `coordinator`'s lease on pending event `id` to now + `lease`,
    /// while it still acts on it (a blob copied ahead).
    pub async fn renew_event(
        &self,
        id: i64,
        coordinator: &str,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let until = now_ms().saturating_add(millis(lease));
        sqlx::query(
            "UPDATE events SET lease_until = $3 \
             WHERE id = $1 AND claimed_by = $2 AND status = 'pending'",
        )
        .bind(id)
        .bind(coordinator)
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Acts on event `event`, in one transaction: for each `(policy, task)`
    /// the task joins the policy's event-based execution still pending (the
    /// same artifact only once), or a new one starts with it; blob events
    /// of its repository not yet tied to an execution are tied to it; the
    /// event is marked done. A coordinator that dies midway leaves the
    /// event pending, for another to act on whole.
    pub async fn dispatch_event(
        &self,
        event: &Event,
        work: &[(&Policy, NewTask)],
    ) -> Result<Vec<Dispatched>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The event first: on SQLite this takes the write lock at once, and
        // an event another coordinator finished meanwhile is left alone.
        let mine = sqlx::query(
            "UPDATE events SET status = 'done', processed_at = $2 \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(event.id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if mine.rows_affected() == 0 {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(work.len());
        let mut notes = Vec::with_capacity(work.len());
        for (policy, task) in work {
            let pending: Option<i64> = sqlx::query(
                "SELECT id FROM executions WHERE policy_id = $1 AND status = 'pending' \
                 AND trigger_type = 'event_based' ORDER BY id DESC LIMIT 1",
            )
            .bind(policy.id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?;
            // Holding the execution's row (a no-op write) keeps a claim from
            // taking it until this transaction ends: then it sees the task.
            let held = match pending {
                Some(id) => {
                    sqlx::query(
                        "UPDATE executions SET status_text = status_text \
                     WHERE id = $1 AND status = 'pending'",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1
                }
                None => false,
            };
            let (execution_id, joined) = match pending {
                Some(id) if held => (id, true),
                _ => {
                    let new = NewExecution::new(ExecTrigger::EventBased);
                    (insert_execution(&mut tx, policy, new).await?.id, false)
                }
            };
            let duplicate: Option<i64> = sqlx::query(
                "SELECT id FROM tasks WHERE execution_id = $1 AND repository = $2 \
                 AND tag = $3 AND operation = $4 LIMIT 1",
            )
            .bind(execution_id)
            .bind(&task.repository)
            .bind(task.tag.clone())
            .bind(task.operation.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?;
            if duplicate.is_none() {
                sqlx::query(
                    "INSERT INTO tasks (execution_id, repository, target_repository, tag, \
                     digest, operation, status, attempts, stages, artifact, start_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, '[]', $7, $8)",
                )
                .bind(execution_id)
                .bind(&task.repository)
                .bind(&task.target_repository)
                .bind(task.tag.clone())
                .bind(task.digest.clone())
                .bind(task.operation.as_str())
                .bind(to_json(&task.artifact)?)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "UPDATE events SET execution_id = $1 WHERE registry_id = $2 \
                 AND repository = $3 AND kind = 'blob_push' AND execution_id IS NULL \
                 AND id < $4",
            )
            .bind(execution_id)
            .bind(event.registry_id)
            .bind(&event.repository)
            .bind(event.id)
            .execute(&mut *tx)
            .await?;
            notes.push(format!(
                "{} execution {execution_id} of policy {}",
                if joined { "joined" } else { "started" },
                policy.name
            ));
            out.push(Dispatched {
                execution_id,
                joined,
            });
        }
        sqlx::query("UPDATE events SET outcome = $2, execution_id = $3 WHERE id = $1")
            .bind(event.id)
            .bind(notes.join("; "))
            .bind(out.first().map(|d| d.execution_id))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// A registry's events, newest first.
    pub async fn list_events(
        &self,
        registry_id: i64,
        limit: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let sql =
            format!("SELECT {COLS} FROM events WHERE registry_id = $1 ORDER BY id DESC LIMIT $2");
        let rows = sqlx::query(&sql)
            .bind(registry_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// The events that started, joined or fed an execution, in order.
    pub async fn execution_events(&self, execution_id: i64) -> Result<Vec<Event>, StoreError> {
        let sql = format!("SELECT {COLS} FROM events WHERE execution_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(execution_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Forgets events acted on before `before`; a redelivery older than that
    /// would be acted on again.
    pub async fn prune_events(&self, before: Millis) -> Result<u64, StoreError> {
        let r = sqlx::query("DELETE FROM events WHERE status = 'done' AND processed_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}
