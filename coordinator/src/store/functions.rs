//! Stage functions: name@version rows over content-addressed bytes.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    FunctionRow, NewFunction, Store, StoreError, b2i, get_bool, get_json, now_ms, to_json,
};

const COLS: &str = "id, name, version, digest, size, description, imports, exports, params, \
                    builtin, creation_time";

fn from_row(row: &AnyRow) -> Result<FunctionRow, sqlx::Error> {
    Ok(FunctionRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        digest: row.try_get("digest")?,
        size: row.try_get("size")?,
        description: row.try_get("description")?,
        imports: get_json(row, "imports")?,
        exports: get_json(row, "exports")?,
        params: get_json(row, "params")?,
        builtin: get_bool(row, "builtin")?,
        creation_time: row.try_get("creation_time")?,
    })
}

impl Store {
    /// Stores a function version and its bytes (kept once per digest).
    /// Idempotent when `name@version` exists with the same digest;
    /// `Conflict` when it exists with another one.
    pub async fn put_function(
        &self,
        f: NewFunction,
        content: &[u8],
    ) -> Result<FunctionRow, StoreError> {
        if f.name.is_empty() || f.version.is_empty() {
            return Err(StoreError::invalid(
                "a function needs a non-empty name and version",
            ));
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        // A write first: SQLite takes the write lock here (waiting on
        // busy_timeout) instead of failing a read-to-write upgrade later.
        sqlx::query(
            "INSERT INTO function_contents (digest, size, content, creation_time) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&f.digest)
        .bind(content.len() as i64)
        .bind(content.to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let sql = format!(
            "INSERT INTO functions (name, version, digest, size, description, imports, \
             exports, params, builtin, creation_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (name, version) DO NOTHING RETURNING {COLS}"
        );
        let inserted = sqlx::query(&sql)
            .bind(&f.name)
            .bind(&f.version)
            .bind(&f.digest)
            .bind(f.size)
            .bind(&f.description)
            .bind(to_json(&f.imports)?)
            .bind(to_json(&f.exports)?)
            .bind(to_json(&f.params)?)
            .bind(b2i(f.builtin))
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let row = match inserted {
            Some(row) => from_row(&row)?,
            None => {
                let sql = format!("SELECT {COLS} FROM functions WHERE name = $1 AND version = $2");
                let existing = from_row(
                    &sqlx::query(&sql)
                        .bind(&f.name)
                        .bind(&f.version)
                        .fetch_one(&mut *tx)
                        .await?,
                )?;
                if existing.digest != f.digest {
                    // Rolls back the content row too, unless another
                    // version already shares it.
                    tx.rollback().await?;
                    return Err(StoreError::conflict(format!(
                        "function {}@{} already exists with digest {}: versions are \
                         immutable, upload the new content under a new version",
                        f.name, f.version, existing.digest
                    )));
                }
                existing
            }
        };
        tx.commit().await?;
        Ok(row)
    }

    /// All function versions, by name then id.
    pub async fn list_functions(&self) -> Result<Vec<FunctionRow>, StoreError> {
        let sql = format!("SELECT {COLS} FROM functions ORDER BY name, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    pub async fn get_function(&self, name: &str, version: &str) -> Result<FunctionRow, StoreError> {
        let sql = format!("SELECT {COLS} FROM functions WHERE name = $1 AND version = $2");
        match sqlx::query(&sql)
            .bind(name)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => Ok(from_row(&row)?),
            None => Err(StoreError::not_found(format!("function {name}@{version}"))),
        }
    }

    /// The component bytes stored under `digest`.
    pub async fn function_content(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        match sqlx::query("SELECT content FROM function_contents WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => Ok(row.try_get("content")?),
            None => Err(StoreError::not_found(format!("function content {digest}"))),
        }
    }
}
