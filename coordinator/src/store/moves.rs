//! Claims on blob copies, shared by the coordinators on one database, so
//! that two of them never move the same blob into the same repository at
//! once (see `migrations/*/0005_blob_moves.sql`).

use std::time::Duration;

use super::{Store, StoreError, millis, now_ms};

impl Store {
    /// Claims (or renews) `key` for `holder` until now + `ttl`; answers
    /// whether `holder` holds it now. A claim whose holder let it lapse is
    /// taken over.
    pub async fn claim_move(
        &self,
        key: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let until = now.saturating_add(millis(ttl));
        let row = sqlx::query(
            "INSERT INTO blob_moves (key, holder, until) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, until = excluded.until \
             WHERE blob_moves.holder = excluded.holder OR blob_moves.until < $4 \
             RETURNING holder",
        )
        .bind(key)
        .bind(holder)
        .bind(until)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Gives up `holder`'s claim on `key` (a lapsed one taken over by
    /// another holder is left to it).
    pub async fn release_move(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM blob_moves WHERE key = $1 AND holder = $2")
            .bind(key)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
