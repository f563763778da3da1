//! Single-use, expiring self-service reset tokens, stored as hashes only.

use super::backend::on_backend;
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
        on_backend!(self.conn(), |c| sqlx::query(
            "DELETE FROM reset_tokens WHERE expires_at <= $1 OR used_at IS NOT NULL"
        )
        .bind(now_unix)
        .execute(c)
        .await
        .map(drop))
        .map_err(StoreError::query("cleaning up old reset tokens"))?;
        on_backend!(self.conn(), |c| sqlx::query(
            "INSERT INTO reset_tokens (token_hash, organizer_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash.as_slice())
        .bind(organizer_id)
        .bind(now_unix)
        .bind(expires_at)
        .execute(c)
        .await
        .map(drop))
        .map_err(StoreError::query("saving a reset token"))
    }

    /// Marks a valid token used and returns its organizer; None if it was not valid. Atomic:
    /// of two concurrent redemptions only one succeeds.
    pub async fn redeem_reset_token(
        &mut self,
        token_hash: &[u8; 32],
        now_unix: i64,
    ) -> Result<Option<i64>, StoreError> {
        on_backend!(self.conn(), |c| sqlx::query_scalar(
            "UPDATE reset_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $3 RETURNING organizer_id",
        )
        .bind(now_unix)
        .bind(token_hash.as_slice())
        .bind(now_unix)
        .fetch_optional(c)
        .await)
        .map_err(StoreError::query("redeeming a reset token"))
    }

    /// Forgets every token of an organizer (deleted, disabled, or a new one issued).
    pub async fn delete_reset_tokens(&mut self, organizer_id: i64) -> Result<(), StoreError> {
        on_backend!(self.conn(), |c| sqlx::query(
            "DELETE FROM reset_tokens WHERE organizer_id = $1"
        )
        .bind(organizer_id)
        .execute(c)
        .await
        .map(drop))
        .map_err(StoreError::query("deleting reset tokens"))
    }
}

impl Store {
    /// The organizer a still-valid (unused, unexpired) token belongs to.
    pub async fn reset_token_owner(
        &self,
        token_hash: &[u8; 32],
        now_unix: i64,
    ) -> Result<Option<i64>, StoreError> {
        on_backend!(&self.pool, |p| sqlx::query_scalar(
            "SELECT organizer_id FROM reset_tokens \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash.as_slice())
        .bind(now_unix)
        .fetch_optional(p)
        .await)
        .map_err(StoreError::query("checking a reset token"))
    }
}
