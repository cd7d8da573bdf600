//! Registries, with their sealed credentials.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::domain::RegistryKind;

use super::{
    NewRegistry, Registry, Store, StoreError, b2i, get_bool, is_foreign_key_violation,
    is_unique_violation, now_ms,
};

const COLS: &str = "id, name, url, kind, insecure, description, credential_type, \
                    creation_time, update_time, event_secret_hash, events_accepted, \
                    events_dropped, events_ignored, requests_per_second, max_concurrency";

fn from_row(row: &AnyRow) -> Result<Registry, sqlx::Error> {
    Ok(Registry {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        url: row.try_get("url")?,
        kind: {
            let kind: String = row.try_get("kind")?;
            RegistryKind::parse(&kind).map_err(|e| sqlx::Error::Decode(Box::new(e)))?
        },
        insecure: get_bool(row, "insecure")?,
        description: row.try_get("description")?,
        credential_type: row.try_get("credential_type")?,
        creation_time: row.try_get("creation_time")?,
        update_time: row.try_get("update_time")?,
        event_secret_set: row
            .try_get::<Option<String>, _>("event_secret_hash")?
            .is_some(),
        events_accepted: row.try_get("events_accepted")?,
        events_dropped: row.try_get("events_dropped")?,
        events_ignored: row.try_get("events_ignored")?,
        requests_per_second: row.try_get("requests_per_second")?,
        max_concurrency: row.try_get("max_concurrency")?,
    })
}

fn name_taken(name: &str) -> StoreError {
    StoreError::conflict(format!(
        "a registry named {name:?} already exists: choose another name or update that registry"
    ))
}

fn validate(r: &NewRegistry) -> Result<(), StoreError> {
    if r.name.trim().is_empty() {
        return Err(StoreError::invalid("a registry needs a non-empty name"));
    }
    if r.url.trim().is_empty() {
        return Err(StoreError::invalid(format!(
            "registry {:?} needs a URL (e.g. https://registry.example.com)",
            r.name
        )));
    }
    Ok(())
}

impl Store {
    /// Creates a registry; `Conflict` when the name is taken.
    pub async fn create_registry(&self, r: NewRegistry) -> Result<Registry, StoreError> {
        validate(&r)?;
        let now = now_ms();
        let sql = format!(
            "INSERT INTO registries (name, url, kind, insecure, description, credential_type, \
             credential_sealed, creation_time, update_time, event_secret_hash, \
             requests_per_second, max_concurrency) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11) RETURNING {COLS}"
        );
        let row = sqlx::query(&sql)
            .bind(&r.name)
            .bind(&r.url)
            .bind(r.kind.as_str())
            .bind(b2i(r.insecure))
            .bind(&r.description)
            .bind(r.credential_type.clone())
            .bind(r.credential_sealed.clone())
            .bind(now)
            .bind(r.event_secret_hash.clone().flatten())
            .bind(r.requests_per_second)
            .bind(r.max_concurrency)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    name_taken(&r.name)
                } else {
                    e.into()
                }
            })?;
        Ok(from_row(&row)?)
    }

    /// Replaces a registry's fields. With `keep_credential` the stored
    /// credential (type and sealed secret) stays as it is and
    /// `r.credential_*` are ignored.
    pub async fn update_registry(
        &self,
        id: i64,
        r: NewRegistry,
        keep_credential: bool,
    ) -> Result<Registry, StoreError> {
        validate(&r)?;
        let sql = format!(
            "UPDATE registries SET name = $2, url = $3, kind = $4, insecure = $5, \
             description = $6, \
             credential_type = CASE WHEN $7 = 1 THEN credential_type ELSE $8 END, \
             credential_sealed = CASE WHEN $7 = 1 THEN credential_sealed ELSE $9 END, \
             update_time = $10, \
             event_secret_hash = CASE WHEN $11 = 1 THEN event_secret_hash ELSE $12 END, \
             requests_per_second = $13, max_concurrency = $14 \
             WHERE id = $1 RETURNING {COLS}"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(&r.name)
            .bind(&r.url)
            .bind(r.kind.as_str())
            .bind(b2i(r.insecure))
            .bind(&r.description)
            .bind(b2i(keep_credential))
            .bind(r.credential_type.clone())
            .bind(r.credential_sealed.clone())
            .bind(now_ms())
            .bind(b2i(r.event_secret_hash.is_none()))
            .bind(r.event_secret_hash.clone().flatten())
            .bind(r.requests_per_second)
            .bind(r.max_concurrency)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    name_taken(&r.name)
                } else {
                    e.into()
                }
            })?;
        match row {
            Some(row) => Ok(from_row(&row)?),
            None => Err(StoreError::not_found(format!("registry {id}"))),
        }
    }

    pub async fn get_registry(&self, id: i64) -> Result<Registry, StoreError> {
        let sql = format!("SELECT {COLS} FROM registries WHERE id = $1");
        match sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => Ok(from_row(&row)?),
            None => Err(StoreError::not_found(format!("registry {id}"))),
        }
    }

    pub async fn registry_by_name(&self, name: &str) -> Result<Registry, StoreError> {
        let sql = format!("SELECT {COLS} FROM registries WHERE name = $1");
        match sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => Ok(from_row(&row)?),
            None => Err(StoreError::not_found(format!("registry {name:?}"))),
        }
    }

    /// All registries, by id.
    pub async fn list_registries(&self) -> Result<Vec<Registry>, StoreError> {
        let sql = format!("SELECT {COLS} FROM registries ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Deletes a registry; `Conflict` while a policy uses it.
    pub async fn delete_registry(&self, id: i64) -> Result<(), StoreError> {
        let in_use = || async {
            let rows = sqlx::query(
                "SELECT name FROM policies WHERE src_registry_id = $1 OR dest_registry_id = $1 \
                 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            let names = rows
                .iter()
                .map(|r| r.try_get::<String, _>("name"))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, StoreError>(names)
        };
        let names = in_use().await?;
        if !names.is_empty() {
            return Err(used_by(id, &names));
        }
        // The foreign keys catch a policy created meanwhile.
        let result = sqlx::query("DELETE FROM registries WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await;
        match result {
            Ok(r) if r.rows_affected() == 0 => Err(StoreError::not_found(format!("registry {id}"))),
            Ok(_) => Ok(()),
            Err(e) if is_foreign_key_violation(&e) => Err(used_by(id, &in_use().await?)),
            Err(e) => Err(e.into()),
        }
    }

    /// The SHA-256 (hex) of the registry's event secret, when it has one.
    pub async fn registry_event_secret(&self, id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT event_secret_hash FROM registries WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("registry {id}")))?;
        Ok(row.try_get("event_secret_hash")?)
    }

    /// The credential's type and sealed bytes, when the registry has one.
    pub async fn registry_credential(
        &self,
        id: i64,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let row =
            sqlx::query("SELECT credential_type, credential_sealed FROM registries WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::not_found(format!("registry {id}")))?;
        let kind: Option<String> = row.try_get("credential_type")?;
        let sealed: Option<Vec<u8>> = row.try_get("credential_sealed")?;
        Ok(match (kind, sealed) {
            (Some(kind), Some(sealed)) => Some((kind, sealed)),
            _ => None,
        })
    }
}

fn used_by(id: i64, policies: &[String]) -> StoreError {
    StoreError::conflict(format!(
        "registry {id} is used by policies {}: delete those policies or point them at \
         another registry first",
        if policies.is_empty() {
            "(created meanwhile)".to_string()
        } else {
            policies.join(", ")
        }
    ))
}
