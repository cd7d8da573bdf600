//! Web console sessions (see `migrations/*/0006_sessions.sql`).

use std::time::Duration;

use sqlx::Row;

use super::{Millis, Store, StoreError, millis, now_ms};

/// A live session: what its writes must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub csrf_token: String,
    pub expires_at: Millis,
}

impl Store {
    /// Stores a session by the hash of its cookie, for `ttl`; forgets
    /// expired ones on the way.
    pub async fn create_session(
        &self,
        id_hash: &str,
        csrf_token: &str,
        ttl: Duration,
    ) -> Result<Session, StoreError> {
        let now = now_ms();
        let expires_at = now.saturating_add(millis(ttl));
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id_hash)
        .bind(csrf_token)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(Session {
            csrf_token: csrf_token.to_string(),
            expires_at,
        })
    }

    /// The session whose cookie hashes to `id_hash`, unless it expired.
    pub async fn session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT csrf_token, expires_at FROM sessions WHERE id_hash = $1 AND expires_at >= $2",
        )
        .bind(id_hash)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Session {
                csrf_token: r.try_get("csrf_token")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Ends a session (sign out).
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
