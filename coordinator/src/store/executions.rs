//! Executions: the single-active rule, claiming with leases, stopping and
//! recovery of executions whose coordinator went away.

use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Backend, ExecCounts, ExecStatus, ExecTrigger, Execution, ExecutionFilter, Millis, NewExecution,
    Policy, Store, StoreError, b2i, get_json, millis, now_ms, to_json,
};

/// Times an execution is taken over after its coordinator stopped before
/// it is failed instead: an execution that kills its coordinator must not
/// go round forever.
pub const MAX_RESUMES: i64 = 3;

/// What [`Store::recover_expired`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Back to pending, to be resumed.
    pub resumed: Vec<i64>,
    /// Failed: taken over too often.
    pub failed: Vec<i64>,
}

pub(crate) const COLS: &str = "id, policy_id, status, status_text, trigger_type, start_time, \
                               end_time, total, succeed, failed, in_progress, stopped, bytes, retry_of, \
                               tick_at, dry_run, resumed";

fn from_row(row: &AnyRow) -> Result<Execution, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let trigger: String = row.try_get("trigger_type")?;
    Ok(Execution {
        id: row.try_get("id")?,
        policy_id: row.try_get("policy_id")?,
        status: ExecStatus::parse(&status).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "status".into(),
            source: format!("unknown execution status {status:?}").into(),
        })?,
        status_text: row.try_get("status_text")?,
        trigger: ExecTrigger::parse(&trigger).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "trigger_type".into(),
            source: format!("unknown execution trigger {trigger:?}").into(),
        })?,
        start_time: row.try_get("start_time")?,
        end_time: row.try_get("end_time")?,
        total: row.try_get("total")?,
        succeed: row.try_get("succeed")?,
        failed: row.try_get("failed")?,
        in_progress: row.try_get("in_progress")?,
        stopped: row.try_get("stopped")?,
        bytes: row.try_get("bytes")?,
        retry_of: row.try_get("retry_of")?,
        tick_time: row.try_get("tick_at")?,
        dry_run: super::get_bool(row, "dry_run")?,
        resumed: row.try_get("resumed")?,
    })
}

/// Inserts an execution of `policy` on `conn` (a transaction's, or a pool
/// connection): `pending`, or `skipped` when the policy is single-active and
/// another execution of it is pending or running. `ON CONFLICT DO NOTHING`
/// lets the partial unique index decide without an error, so this works
/// inside a larger transaction on both databases.
pub(crate) async fn insert_execution(
    conn: &mut AnyConnection,
    policy: &Policy,
    new: NewExecution,
) -> Result<Execution, StoreError> {
    // A dry run writes nothing at the target: it neither waits for nor
    // holds the single-active slot.
    let single = policy.single_active_replication && !new.dry_run;
    let now = now_ms();
    let sql = format!(
        "INSERT INTO executions (policy_id, status, status_text, trigger_type, \
         single_active, retry_of, tick_at, start_time, end_time, dry_run) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING \
         RETURNING {COLS}"
    );
    let pending = sqlx::query(&sql)
        .bind(policy.id)
        .bind(ExecStatus::Pending.as_str())
        .bind("")
        .bind(new.trigger.as_str())
        .bind(b2i(single))
        .bind(new.retry_of)
        .bind(new.tick_time)
        .bind(now)
        .bind(None::<i64>)
        .bind(b2i(new.dry_run))
        .fetch_optional(&mut *conn)
        .await;
    match pending {
        Ok(Some(row)) => return Ok(from_row(&row)?),
        Ok(None) => {}
        Err(e) if super::is_foreign_key_violation(&e) => {
            return Err(StoreError::not_found(format!("policy {}", policy.id)));
        }
        Err(e) => return Err(e.into()),
    }
    let active: Option<i64> = sqlx::query(
        "SELECT id FROM executions WHERE policy_id = $1 AND single_active = 1 \
         AND status IN ('pending', 'running') ORDER BY id LIMIT 1",
    )
    .bind(policy.id)
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| r.try_get("id"))
    .transpose()?;
    let text = match active {
        Some(id) => {
            format!("Execution skipped: active replication still in progress (execution {id})")
        }
        None => "Execution skipped: active replication still in progress \
                 (it ended just now)"
            .to_string(),
    };
    tracing::debug!(policy = policy.id, "single active replication: {text}");
    let skipped = format!(
        "INSERT INTO executions (policy_id, status, status_text, trigger_type, \
         single_active, retry_of, tick_at, start_time, end_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLS}"
    );
    let row = sqlx::query(&skipped)
        .bind(policy.id)
        .bind(ExecStatus::Skipped.as_str())
        .bind(text)
        .bind(new.trigger.as_str())
        .bind(b2i(single))
        .bind(new.retry_of)
        .bind(new.tick_time)
        .bind(now)
        .bind(Some(now_ms()))
        .fetch_one(&mut *conn)
        .await?;
    Ok(from_row(&row)?)
}

impl Store {
    /// Records a new execution of `policy`. It is `pending`, unless the
    /// policy allows a single active replication and one is pending or
    /// running: then it is recorded `skipped`, naming the active one. The
    /// database's partial unique index decides, so concurrent starts (on
    /// any coordinator) yield one active execution.
    pub async fn start_execution(
        &self,
        policy: &Policy,
        new: NewExecution,
    ) -> Result<Execution, StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_execution(&mut conn, policy, new).await
    }

    /// Takes the oldest pending execution for `coordinator`: it becomes
    /// `running`, with a lease until now + `lease`. No row is ever handed
    /// to two claimers.
    pub async fn claim_pending(
        &self,
        coordinator: &str,
        lease: Duration,
    ) -> Result<Option<Execution>, StoreError> {
        let now = now_ms();
        let sql = match self.backend {
            Backend::Postgres => format!(
                "WITH next AS (SELECT id AS claim_id FROM executions WHERE status = 'pending' \
                 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 UPDATE executions SET status = 'running', \
                 start_time = CASE WHEN resumed = 0 THEN $2 ELSE start_time END, claimed_by = $1, \
                 lease_until = $3 FROM next WHERE id = next.claim_id AND status = 'pending' \
                 RETURNING {COLS}"
            ),
            // One writer at a time: the sub-select and the update see the
            // same state.
            Backend::Sqlite => format!(
                "UPDATE executions SET status = 'running', \
                 start_time = CASE WHEN resumed = 0 THEN $2 ELSE start_time END, claimed_by = $1, \
                 lease_until = $3 WHERE id = (SELECT id FROM executions \
                 WHERE status = 'pending' ORDER BY id LIMIT 1) AND status = 'pending' \
                 RETURNING {COLS}"
            ),
        };
        let row = sqlx::query(&sql)
            .bind(coordinator)
            .bind(now)
            .bind(now.saturating_add(millis(lease)))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Extends `coordinator`'s lease on execution `id` to now + `lease`;
    /// false when the execution is no longer running under it.
    pub async fn renew_lease(
        &self,
        id: i64,
        coordinator: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE executions SET lease_until = $3 \
             WHERE id = $1 AND claimed_by = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(coordinator)
        .bind(now_ms().saturating_add(millis(lease)))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn get_execution(&self, id: i64) -> Result<Execution, StoreError> {
        let sql = format!("SELECT {COLS} FROM executions WHERE id = $1");
        match sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => Ok(from_row(&row)?),
            None => Err(StoreError::not_found(format!("execution {id}"))),
        }
    }

    /// A page of the executions `filter` picks, newest first, and how many
    /// it picks in all.
    pub async fn list_executions(
        &self,
        filter: ExecutionFilter,
        page: i64,
        page_size: i64,
    ) -> Result<(Vec<Execution>, i64), StoreError> {
        if page < 1 || page_size < 1 {
            return Err(StoreError::invalid(format!(
                "page ({page}) and page_size ({page_size}) must be at least 1"
            )));
        }
        let mut conditions = Vec::new();
        if filter.policy_id.is_some() {
            conditions.push(format!("policy_id = ${}", conditions.len() + 1));
        }
        if filter.status.is_some() {
            conditions.push(format!("status = ${}", conditions.len() + 1));
        }
        let scope = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let n = conditions.len();
        let count = format!("SELECT COUNT(*) AS n FROM executions {scope}");
        let list = format!(
            "SELECT {COLS} FROM executions {scope} ORDER BY id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut count = sqlx::query(&count);
        let mut list = sqlx::query(&list);
        if let Some(id) = filter.policy_id {
            count = count.bind(id);
            list = list.bind(id);
        }
        if let Some(status) = filter.status {
            count = count.bind(status.as_str());
            list = list.bind(status.as_str());
        }
        let total: i64 = count.fetch_one(&self.pool).await?.try_get("n")?;
        let rows = list
            .bind(page_size)
            .bind((page - 1).saturating_mul(page_size))
            .fetch_all(&self.pool)
            .await?;
        let list = rows.iter().map(from_row).collect::<Result<_, _>>()?;
        Ok((list, total))
    }

    /// Records an execution's progress counters.
    pub async fn set_counts(&self, id: i64, c: ExecCounts) -> Result<(), StoreError> {
        let r = sqlx::query(
            "UPDATE executions SET total = $2, succeed = $3, failed = $4, in_progress = $5, \
             stopped = $6, bytes = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(c.total)
        .bind(c.succeed)
        .bind(c.failed)
        .bind(c.in_progress)
        .bind(c.stopped)
        .bind(c.bytes)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("execution {id}")));
        }
        Ok(())
    }

    /// Ends an execution: its final status, text, counters and report
    /// (execution-level stage records); `end_time` is now.
    pub async fn finish_execution(
        &self,
        id: i64,
        status: ExecStatus,
        status_text: &str,
        c: ExecCounts,
        report: serde_json::Value,
    ) -> Result<(), StoreError> {
        let r = sqlx::query(
            "UPDATE executions SET status = $2, status_text = $3, total = $4, succeed = $5, \
             failed = $6, in_progress = $7, stopped = $8, bytes = $9, report = $10, \
             end_time = $11 WHERE id = $1",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(status_text)
        .bind(c.total)
        .bind(c.succeed)
        .bind(c.failed)
        .bind(c.in_progress)
        .bind(c.stopped)
        .bind(c.bytes)
        .bind(to_json(&report)?)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("execution {id}")));
        }
        Ok(())
    }

    /// Asks execution `id` to stop. A pending one is stopped at once; a
    /// running one is flagged for its coordinator (see `stop_requested`);
    /// a finished one is left as it is.
    pub async fn request_stop(&self, id: i64) -> Result<Execution, StoreError> {
        sqlx::query(
            "UPDATE executions SET stop_requested = 1, \
             status = CASE WHEN status = 'pending' THEN 'stopped' ELSE status END, \
             status_text = CASE WHEN status = 'pending' \
               THEN 'Execution stopped before it started' ELSE status_text END, \
             end_time = CASE WHEN status = 'pending' THEN $2 ELSE end_time END \
             WHERE id = $1 AND status IN ('pending', 'running')",
        )
        .bind(id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.get_execution(id).await
    }

    /// Whether a stop of execution `id` was requested.
    pub async fn stop_requested(&self, id: i64) -> Result<bool, StoreError> {
        match sqlx::query("SELECT stop_requested FROM executions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => Ok(row.try_get::<i64, _>("stop_requested")? != 0),
            None => Err(StoreError::not_found(format!("execution {id}"))),
        }
    }

    /// Takes over the running executions whose lease expired before `now`
    /// (their coordinator stopped), and also, with `mine`, those that
    /// coordinator had claimed (it restarted under the same name). Each goes
    /// back to `pending`, to be claimed and resumed with the tasks its
    /// listing recorded, up to [`MAX_RESUMES`] times; one that has been
    /// taken over that often is failed, with its unfinished tasks.
    pub async fn recover_expired(
        &self,
        now: Millis,
        mine: Option<&str>,
    ) -> Result<Recovered, StoreError> {
        let mut tx = self.pool.begin().await?;
        let stale = "status = 'running' AND (lease_until < $1 OR claimed_by = $2)";
        // The writes come first (SQLite then holds the write lock).
        let resumed = sqlx::query(&format!(
            "UPDATE executions SET status = 'pending', resumed = resumed + 1, \
             status_text = 'coordinator ' || COALESCE(claimed_by, '?') || \
               ' stopped mid-run; resuming its unfinished tasks', \
             claimed_by = NULL, lease_until = NULL \
             WHERE {stale} AND resumed < $3 RETURNING id"
        ))
        .bind(now)
        .bind(mine.unwrap_or(""))
        .bind(MAX_RESUMES)
        .fetch_all(&mut *tx)
        .await?;
        let failed = sqlx::query(&format!(
            "UPDATE executions SET status = 'failed', \
             status_text = 'coordinator ' || COALESCE(claimed_by, '?') || \
               ' stopped mid-run, and it had been taken over ' || resumed || \
               ' times already; retry re-runs the failed tasks', \
             end_time = $1 \
             WHERE {stale} RETURNING id, status_text"
        ))
        .bind(now)
        .bind(mine.unwrap_or(""))
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Recovered::default();
        for row in &resumed {
            out.resumed.push(row.try_get("id")?);
        }
        for row in &failed {
            let id: i64 = row.try_get("id")?;
            let text: String = row.try_get("status_text")?;
            sqlx::query(
                "UPDATE tasks SET status = 'failed', error = $2, end_time = $3 \
                 WHERE execution_id = $1 AND status IN ('pending', 'running')",
            )
            .bind(id)
            .bind(text)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            out.failed.push(id);
        }
        tx.commit().await?;
        out.resumed.sort_unstable();
        out.failed.sort_unstable();
        Ok(out)
    }

    /// Keeps a dry run's plan.
    pub async fn set_plan(&self, id: i64, plan: serde_json::Value) -> Result<(), StoreError> {
        let r = sqlx::query("UPDATE executions SET plan = $2 WHERE id = $1")
            .bind(id)
            .bind(to_json(&plan)?)
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("execution {id}")));
        }
        Ok(())
    }

    /// A dry run's plan (JSON null for other executions).
    pub async fn execution_plan(&self, id: i64) -> Result<serde_json::Value, StoreError> {
        match sqlx::query("SELECT plan FROM executions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => Ok(get_json(&row, "plan")?),
            None => Err(StoreError::not_found(format!("execution {id}"))),
        }
    }

    /// The report `finish_execution` stored (JSON null before).
    pub async fn execution_report(&self, id: i64) -> Result<serde_json::Value, StoreError> {
        match sqlx::query("SELECT report FROM executions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => Ok(get_json(&row, "report")?),
            None => Err(StoreError::not_found(format!("execution {id}"))),
        }
    }
}
