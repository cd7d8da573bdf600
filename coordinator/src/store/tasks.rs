//! Tasks: one artifact's copy or deletion within an execution.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    ExecStatus, NewTask, Operation, Store, StoreError, Task, TaskUpdate, get_json, now_ms, to_json,
};

const COLS: &str = "id, execution_id, repository, target_repository, tag, digest, operation, \
                    status, reason, attempts, stages, error, start_time, end_time";

fn from_row(row: &AnyRow) -> Result<Task, sqlx::Error> {
    let operation: String = row.try_get("operation")?;
    Ok(Task {
        id: row.try_get("id")?,
        execution_id: row.try_get("execution_id")?,
        repository: row.try_get("repository")?,
        target_repository: row.try_get("target_repository")?,
        tag: row.try_get("tag")?,
        digest: row.try_get("digest")?,
        operation: Operation::parse(&operation).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "operation".into(),
            source: format!("unknown task operation {operation:?}").into(),
        })?,
        status: {
            let status: String = row.try_get("status")?;
            ExecStatus::parse(&status).ok_or_else(|| sqlx::Error::ColumnDecode {
                index: "status".into(),
                source: format!("unknown task status {status:?}").into(),
            })?
        },
        reason: row.try_get("reason")?,
        attempts: row.try_get("attempts")?,
        stages: get_json(row, "stages")?,
        error: row.try_get("error")?,
        start_time: row.try_get("start_time")?,
        end_time: row.try_get("end_time")?,
    })
}

impl Store {
    /// Adds execution `execution_id`'s tasks (all or none); returns their
    /// ids in order.
    pub async fn insert_tasks(
        &self,
        execution_id: i64,
        tasks: &[NewTask],
    ) -> Result<Vec<i64>, StoreError> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(tasks.len());
        for t in tasks {
            let result = sqlx::query(
                "INSERT INTO tasks (execution_id, repository, target_repository, tag, digest, \
                 operation, status, attempts, stages, artifact, start_time) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 0, '[]', $8, $9) RETURNING id",
            )
            .bind(execution_id)
            .bind(&t.repository)
            .bind(&t.target_repository)
            .bind(t.tag.clone())
            .bind(t.digest.clone())
            .bind(t.operation.as_str())
            .bind(t.status.as_str())
            .bind(to_json(&t.artifact)?)
            .bind(now)
            .fetch_one(&mut *tx)
            .await;
            match result {
                Ok(row) => ids.push(row.try_get("id")?),
                Err(e) if super::is_foreign_key_violation(&e) => {
                    return Err(StoreError::not_found(format!("execution {execution_id}")));
                }
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Records a task's progress. `digest` replaces the stored one only
    /// when set; the other fields are replaced as given.
    pub async fn update_task(&self, task_id: i64, u: TaskUpdate) -> Result<(), StoreError> {
        let r = sqlx::query(
            "UPDATE tasks SET status = $2, attempts = $3, stages = $4, error = $5, \
             digest = COALESCE($6, digest), end_time = $7, reason = $8 WHERE id = $1",
        )
        .bind(task_id)
        .bind(u.status.as_str())
        .bind(u.attempts)
        .bind(to_json(&u.stages)?)
        .bind(u.error.clone())
        .bind(u.digest.clone())
        .bind(u.end_time)
        .bind(u.reason.clone())
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("task {task_id}")));
        }
        Ok(())
    }

    /// Execution `execution_id`'s tasks, in insertion order.
    pub async fn list_tasks(&self, execution_id: i64) -> Result<Vec<Task>, StoreError> {
        let sql = format!("SELECT {COLS} FROM tasks WHERE execution_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(execution_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// The ids and `artifact` JSON of execution `execution_id`'s tasks
    /// recorded before it ran (an event-based run's), in insertion order.
    pub async fn seeded_tasks(
        &self,
        execution_id: i64,
    ) -> Result<Vec<(i64, serde_json::Value)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, artifact FROM tasks WHERE execution_id = $1 AND status = 'pending' \
             ORDER BY id",
        )
        .bind(execution_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, get_json(r, "artifact")?)))
            .collect()
    }

    /// Every task of execution `execution_id`: id, status and `artifact`
    /// JSON, in insertion order (to resume it).
    pub async fn task_states(
        &self,
        execution_id: i64,
    ) -> Result<Vec<(i64, ExecStatus, serde_json::Value)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, status, artifact FROM tasks WHERE execution_id = $1 ORDER BY id",
        )
        .bind(execution_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get("status")?;
                let status = ExecStatus::parse(&status).ok_or_else(|| StoreError::Invalid {
                    message: format!("task status {status:?} is unknown"),
                })?;
                Ok((r.try_get("id")?, status, get_json(r, "artifact")?))
            })
            .collect()
    }

    /// The `artifact` JSON of execution `execution_id`'s tasks in `status`
    /// (e.g. `failed`, to retry them), in insertion order.
    pub async fn task_artifacts(
        &self,
        execution_id: i64,
        status: ExecStatus,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows = sqlx::query(
            "SELECT artifact FROM tasks WHERE execution_id = $1 AND status = $2 ORDER BY id",
        )
        .bind(execution_id)
        .bind(status.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| get_json(r, "artifact"))
            .collect::<Result<_, _>>()?)
    }
}
