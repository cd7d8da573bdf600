//! Replication policies.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Policy, RegistryRef, Store, StoreError, b2i, get_bool, get_json, is_foreign_key_violation,
    is_unique_violation, now_ms, to_json,
};

const COLS: &str = "id, name, description, src_registry_id, dest_registry_id, dest_namespace, \
                    dest_namespace_replace_count, filters, trigger_json, replicate_deletion, \
                    override_existing, enabled, speed, copy_by_chunk, chunk_size, \
                    single_active_replication, template, creation_time, update_time";

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
             single_active_replication, template, creation_time, update_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $17) RETURNING {COLS}"
        );
        let result = bind_fields(sqlx::query(&sql), p)?
            .bind(now)
            .fetch_one(&self.pool)
            .await;
        match result {
            Ok(row) => Ok(from_row(&row)?),
            Err(e) => Err(self.policy_write_error(e, p).await),
        }
    }

    /// Replaces policy `id`'s fields with `p`'s (its `id` and times are
    /// ignored). Executions already started keep the settings they copied.
    pub async fn update_policy(&self, id: i64, p: &Policy) -> Result<Policy, StoreError> {
        Self::check_policy(p)?;
        let sql = format!(
            "UPDATE policies SET name = $2, description = $3, src_registry_id = $4, \
             dest_registry_id = $5, dest_namespace = $6, dest_namespace_replace_count = $7, \
             filters = $8, trigger_json = $9, replicate_deletion = $10, \
             override_existing = $11, enabled = $12, speed = $13, copy_by_chunk = $14, \
             chunk_size = $15, single_active_replication = $16, template = $17, \
             update_time = $18 WHERE id = $1 RETURNING {COLS}"
        );
        let result = bind_fields(sqlx::query(&sql).bind(id), p)?
            .bind(now_ms())
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
