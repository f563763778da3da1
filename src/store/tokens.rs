//! Single-use, expiring self-service reset tokens, stored as hashes only.

use super::{Change, Store, StoreError};

impl Change {
    /// Stores a new token's hash for an organizer.
    pub async fn insert_reset_token(
        &mut self,
        token_hash: &[u8; 32],
        organizer_id: i64,
        now_unix: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        // Old tokens are useless once expired or used: drop them as new ones arrive.
        sqlx::query("DELETE FROM reset_tokens WHERE expires_at <= ? OR used_at IS NOT NULL")
            .bind(now_unix)
            .execute(self.conn())
            .await
            .map_err(StoreError::query("cleaning up old reset tokens"))?;
        sqlx::query(
            "INSERT INTO reset_tokens (token_hash, organizer_id, created_at, expires_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash.as_slice())
        .bind(organizer_id)
        .bind(now_unix)
        .bind(expires_at)
        .execute(self.conn())
        .await
        .map_err(StoreError::query("saving a reset token"))?;
        Ok(())
    }

    /// Marks a valid token used and returns its organizer; None if it was not valid. Atomic:
    /// of two concurrent redemptions only one succeeds.
    pub async fn redeem_reset_token(
        &mut self,
        token_hash: &[u8; 32],
        now_unix: i64,
    ) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(
            "UPDATE reset_tokens SET used_at = ? \
             WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? RETURNING organizer_id",
        )
        .bind(now_unix)
        .bind(token_hash.as_slice())
        .bind(now_unix)
        .fetch_optional(self.conn())
        .await
        .map_err(StoreError::query("redeeming a reset token"))
    }

    /// Forgets every token of an organizer (deleted, disabled, or a new one issued).
    pub async fn delete_reset_tokens(&mut self, organizer_id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM reset_tokens WHERE organizer_id = ?")
            .bind(organizer_id)
            .execute(self.conn())
            .await
            .map_err(StoreError::query("deleting reset tokens"))?;
        Ok(())
    }
}

impl Store {
    /// The organizer a still-valid (unused, unexpired) token belongs to.
    pub async fn reset_token_owner(
        &self,
        token_hash: &[u8; 32],
        now_unix: i64,
    ) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(
            "SELECT organizer_id FROM reset_tokens \
             WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
        )
        .bind(token_hash.as_slice())
        .bind(now_unix)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("checking a reset token"))
    }
}
