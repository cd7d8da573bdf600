//! Process templates: immutable, numbered versions per name.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, TemplateRow, is_unique_violation, now_ms};

const COLS: &str = "id, name, version, description, body, creation_time";

/// Concurrent `put_template`s of one name on PostgreSQL may pick the same
/// next version; the loser retries this often.
const MAX_VERSION_ATTEMPTS: usize = 50;

fn from_row(row: &AnyRow) -> Result<TemplateRow, sqlx::Error> {
    Ok(TemplateRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        description: row.try_get("description")?,
        body: row.try_get("body")?,
        creation_time: row.try_get("creation_time")?,
    })
}

impl Store {
    /// Stores `body` as the next version of template `name` (1, 2, …).
    pub async fn put_template(
        &self,
        name: &str,
        description: &str,
        body: &str,
    ) -> Result<TemplateRow, StoreError> {
        if name.trim().is_empty() {
            return Err(StoreError::invalid("a template needs a non-empty name"));
        }
        // One statement computes and takes the next version: atomic on
        // SQLite (one writer); on PostgreSQL a concurrent writer may take
        // the same number first, and the unique index makes us retry.
        let sql = format!(
            "INSERT INTO templates (name, version, description, body, creation_time) \
             SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4 \
             FROM templates WHERE name = $1 RETURNING {COLS}"
        );
        for _ in 0..MAX_VERSION_ATTEMPTS {
            match sqlx::query(&sql)
                .bind(name)
                .bind(description)
                .bind(body)
                .bind(now_ms())
                .fetch_one(&self.pool)
                .await
            {
                Ok(row) => return Ok(from_row(&row)?),
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::conflict(format!(
            "template {name:?} is being written concurrently by many clients; try again"
        )))
    }

    /// Version `version` of template `name`, or its latest when `None`.
    pub async fn get_template(
        &self,
        name: &str,
        version: Option<i64>,
    ) -> Result<TemplateRow, StoreError> {
        let row = match version {
            Some(v) => {
                let sql = format!("SELECT {COLS} FROM templates WHERE name = $1 AND version = $2");
                sqlx::query(&sql)
                    .bind(name)
                    .bind(v)
                    .fetch_optional(&self.pool)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT {COLS} FROM templates WHERE name = $1 ORDER BY version DESC LIMIT 1"
                );
                sqlx::query(&sql)
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        match row {
            Some(row) => Ok(from_row(&row)?),
            None => Err(StoreError::not_found(match version {
                Some(v) => format!("template {name}@{v}"),
                None => format!("template {name:?}"),
            })),
        }
    }

    /// The latest version of each template, by name.
    pub async fn list_templates(&self) -> Result<Vec<TemplateRow>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM templates t WHERE version = \
             (SELECT MAX(version) FROM templates l WHERE l.name = t.name) ORDER BY name"
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Every version of template `name`, oldest first; `NotFound` when
    /// there is none.
    pub async fn template_versions(&self, name: &str) -> Result<Vec<TemplateRow>, StoreError> {
        let sql = format!("SELECT {COLS} FROM templates WHERE name = $1 ORDER BY version");
        let rows = sqlx::query(&sql).bind(name).fetch_all(&self.pool).await?;
        if rows.is_empty() {
            return Err(StoreError::not_found(format!("template {name:?}")));
        }
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }
}
