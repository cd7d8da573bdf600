//! Replication policies.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::executions::insert_execution;
use super::{
    ExecTrigger, Execution, Millis, NewExecution, Policy, RegistryRef, Store, StoreError, b2i,
    get_bool, get_json, is_foreign_key_violation, is_unique_violation, now_ms, to_json,
};

const COLS: &str = "id, name, description, src_registry_id, dest_registry_id, dest_namespace, \
                    dest_namespace_replace_count, filters, trigger_json, replicate_deletion, \
                    override_existing, enabled, speed, copy_by_chunk, chunk_size, \
                    single_active_replication, template, creation_time, update_time, next_fire_at";

fn from_row(row: &AnyRow) -> Result<Policy, sqlx::Error> {
    let replace_count: i64 = row.try_get("dest_namespace_replace_count")?;
    Ok(Policy {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        src_registry: RegistryRef {
            id: row.try_get("src_registry_id")?,
        },
        dest_registry: RegistryRef {
            id: row.try_get("dest_registry_id")?,
        },
        dest_namespace: row.try_get("dest_namespace")?,
        dest_namespace_replace_count: replace_count.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        filters: get_json(row, "filters")?,
        trigger: get_json(row, "trigger_json")?,
        replicate_deletion: get_bool(row, "replicate_deletion")?,
        override_existing: get_bool(row, "override_existing")?,
        enabled: get_bool(row, "enabled")?,
        speed: row.try_get("speed")?,
        copy_by_chunk: get_bool(row, "copy_by_chunk")?,
        chunk_size: row.try_get("chunk_size")?,
        single_active_replication: get_bool(row, "single_active_replication")?,
        template: row.try_get("template")?,
        creation_time: row.try_get("creation_time")?,
        update_time: row.try_get("update_time")?,
        next_fire_time: row.try_get("next_fire_at")?,
    })
}

fn name_taken(name: &str) -> StoreError {
    StoreError::conflict(format!(
        "a policy named {name:?} already exists: choose another name or update that policy"
    ))
}

impl Store {
    /// Turns a failed policy write into `Conflict` (name) or `NotFound`
    /// (a registry id that does not exist).
    async fn policy_write_error(&self, e: sqlx::Error, p: &Policy) -> StoreError {
        if is_unique_violation(&e) {
            return name_taken(&p.name);
        }
        if is_foreign_key_violation(&e) {
            for id in [p.src_registry.id, p.dest_registry.id] {
                if let Err(StoreError::NotFound { .. }) = self.get_registry(id).await {
                    return StoreError::not_found(format!("registry {id}"));
                }
            }
        }
        e.into()
    }

    fn check_policy(p: &Policy) -> Result<(), StoreError> {
        if p.name.trim().is_empty() {
            return Err(StoreError::invalid("a policy needs a non-empty name"));
        }
        Ok(())
    }

    /// Creates a policy (its `id` and times are ignored). `Conflict` on a
    /// duplicate name, `NotFound` for an unknown source or destination.
    pub async fn create_policy(&self, p: &Policy) -> Result<Policy, StoreError> {
        Self::check_policy(p)?;
        let now = now_ms();
        let sql = format!(
            "INSERT INTO policies (name, description, src_registry_id, dest_registry_id, \
             dest_namespace, dest_namespace_replace_count, filters, trigger_json, \
             replicate_deletion, override_existing, enabled, speed, copy_by_chunk, chunk_size, \
             single_active_replication, template, creation_time, update_time, next_fire_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $17, $18) RETURNING {COLS}"
        );
        let result = bind_fields(sqlx::query(&sql), p)?
            .bind(now)
            .bind(p.next_fire_time)
            .fetch_one(&self.pool)
            .await;
        match result {
            Ok(row) => Ok(from_row(&row)?),
            Err(e) => Err(self.policy_write_error(e, p).await),
        }
    }

    /// Replaces policy `id`'s fields with `p`'s (its `id` and times are
    /// ignored). Executions already started keep the settings they copied.
    /// The next tick is `p.next_fire_time` when the trigger or `enabled`
    /// changed (a new cron reschedules at once); otherwise the stored one
    /// stays, so an unrelated edit never drops a tick that is due.
    pub async fn update_policy(&self, id: i64, p: &Policy) -> Result<Policy, StoreError> {
        Self::check_policy(p)?;
        let sql = format!(
            "UPDATE policies SET name = $2, description = $3, src_registry_id = $4, \
             dest_registry_id = $5, dest_namespace = $6, dest_namespace_replace_count = $7, \
             filters = $8, trigger_json = $9, replicate_deletion = $10, \
             override_existing = $11, enabled = $12, speed = $13, copy_by_chunk = $14, \
             chunk_size = $15, single_active_replication = $16, template = $17, \
             update_time = $18, next_fire_at = CASE WHEN trigger_json = $9 AND enabled = $12 \
             AND next_fire_at IS NOT NULL THEN next_fire_at ELSE $19 END \
             WHERE id = $1 RETURNING {COLS}"
        );
        let result = bind_fields(sqlx::query(&sql).bind(id), p)?
            .bind(now_ms())
            .bind(p.next_fire_time)
            .fetch_optional(&self.pool)
            .await;
        match result {
            Ok(Some(row)) => Ok(from_row(&row)?),
            Ok(None) => Err(StoreError::not_found(format!("policy {id}"))),
            Err(e) => Err(self.policy_write_error(e, p).await),
        }
    }

    pub async fn get_policy(&self, id: i64) -> Result<Policy, StoreError> {
        let sql = format!("SELECT {COLS} FROM policies WHERE id = $1");
        match sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => Ok(from_row(&row)?),
            None => Err(StoreError::not_found(format!("policy {id}"))),
        }
    }

    pub async fn policy_by_name(&self, name: &str) -> Result<Policy, StoreError> {
        let sql = format!("SELECT {COLS} FROM policies WHERE name = $1");
        match sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => Ok(from_row(&row)?),
            None => Err(StoreError::not_found(format!("policy {name:?}"))),
        }
    }

    /// All policies, by id.
    pub async fn list_policies(&self) -> Result<Vec<Policy>, StoreError> {
        let sql = format!("SELECT {COLS} FROM policies ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Deletes a policy with its finished executions and their tasks;
    /// `Conflict` while one of its executions is pending or running.
    pub async fn delete_policy(&self, id: i64) -> Result<(), StoreError> {
        let result = sqlx::query(
            "DELETE FROM policies WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM executions \
             WHERE policy_id = $1 AND status IN ('pending', 'running'))",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 1 {
            return Ok(());
        }
        self.get_policy(id).await?;
        Err(StoreError::conflict(format!(
            "policy {id} has an execution in progress: stop it (or wait for it to end), \
             then delete the policy"
        )))
    }
}

impl Store {
    /// Scheduled, enabled policies whose next tick is due at `now`, with
    /// that tick.
    pub async fn due_ticks(&self, now: Millis) -> Result<Vec<(i64, Millis)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, next_fire_at FROM policies WHERE next_fire_at IS NOT NULL \
             AND next_fire_at <= $1 AND enabled = 1 ORDER BY next_fire_at, id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("next_fire_at")?)))
            .collect()
    }

    /// The earliest next tick of any scheduled, enabled policy.
    pub async fn next_tick(&self) -> Result<Option<Millis>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(next_fire_at) AS t FROM policies \
             WHERE next_fire_at IS NOT NULL AND enabled = 1",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("t")?)
    }

    /// Fires policy `id`'s tick `due`: moves its next tick to `next` and
    /// records a `scheduled` execution (or a `skipped` one, for a
    /// single-active policy with a run in progress), in one transaction.
    /// The move is conditional on the tick still being `due`, so of any
    /// number of coordinators that saw it, exactly one fires it; the others
    /// get `None`. A disabled policy does not fire.
    pub async fn fire_tick(
        &self,
        id: i64,
        due: Millis,
        next: Option<Millis>,
    ) -> Result<Option<Execution>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE policies SET next_fire_at = $3 \
             WHERE id = $1 AND next_fire_at = $2 AND enabled = 1 RETURNING {COLS}"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(id)
            .bind(due)
            .bind(next)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let policy = from_row(&row)?;
        let new = NewExecution {
            tick_time: Some(due),
            ..NewExecution::new(ExecTrigger::Scheduled)
        };
        let exec = insert_execution(&mut tx, &policy, new).await?;
        tx.commit().await?;
        Ok(Some(exec))
    }

    /// Sets policy `id`'s next tick where it has none (a policy stored
    /// before ticks were kept); true when it was set here.
    pub async fn arm_tick(&self, id: i64, next: Millis) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE policies SET next_fire_at = $2 \
             WHERE id = $1 AND next_fire_at IS NULL AND enabled = 1",
        )
        .bind(id)
        .bind(next)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}

/// Binds a policy's sixteen stored fields, in column order, after whatever
/// the query bound already (create and update share them).
fn bind_fields<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    p: &'q Policy,
) -> Result<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>, StoreError> {
    Ok(q.bind(&p.name)
        .bind(&p.description)
        .bind(p.src_registry.id)
        .bind(p.dest_registry.id)
        .bind(&p.dest_namespace)
        .bind(i64::from(p.dest_namespace_replace_count))
        .bind(to_json(&p.filters)?)
        .bind(to_json(&p.trigger)?)
        .bind(b2i(p.replicate_deletion))
        .bind(b2i(p.override_existing))
        .bind(b2i(p.enabled))
        .bind(p.speed)
        .bind(b2i(p.copy_by_chunk))
        .bind(p.chunk_size)
        .bind(b2i(p.single_active_replication))
        .bind(&p.template))
}
