//! The webhook outbox: every meeting event for every webhook URL, stored before it is sent so
//! that a receiver that is down, or a bridge restart, loses nothing.

use sqlx::Row;

use super::{Store, StoreError};

/// One event waiting to reach one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// Row id; increases with every stored event, so it orders the events.
    pub id: i64,
    /// The event's own id (its JSON `id`).
    pub event_id: String,
    /// The JSON body, exactly as signed and sent.
    pub body: String,
    /// When the event was stored (unix milliseconds).
    pub created_at_ms: i64,
    /// Attempts so far.
    pub attempts: i64,
    /// Not before this time (unix milliseconds).
    pub next_attempt_at_ms: i64,
}

fn delivery(row: &sqlx::sqlite::SqliteRow) -> Result<WebhookDelivery, sqlx::Error> {
    Ok(WebhookDelivery {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        body: row.try_get("body")?,
        created_at_ms: row.try_get("created_at")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at_ms: row.try_get("next_attempt_at")?,
    })
}

impl Store {
    /// Stores one event for each URL, all or none, due at once.
    pub async fn enqueue_webhook(
        &self,
        event_id: &str,
        body: &str,
        urls: &[String],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::query("storing a webhook event"))?;
        for url in urls {
            sqlx::query(
                "INSERT OR IGNORE INTO webhook_deliveries \
                 (event_id, url, body, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(event_id)
            .bind(url)
            .bind(body)
            .bind(now_ms)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("storing a webhook event"))?;
        }
        tx.commit()
            .await
            .map_err(StoreError::query("storing a webhook event"))
    }

    /// The oldest event still to be sent to `url` (events go out in order, one at a time).
    pub async fn next_webhook(&self, url: &str) -> Result<Option<WebhookDelivery>, StoreError> {
        let row = sqlx::query(
            "SELECT id, event_id, body, created_at, attempts, next_attempt_at \
             FROM webhook_deliveries WHERE url = ? ORDER BY id LIMIT 1",
        )
        .bind(url)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::query("reading the next webhook event"))?;
        row.as_ref()
            .map(delivery)
            .transpose()
            .map_err(StoreError::query("reading the next webhook event"))
    }

    /// Forgets a delivery: sent, or dropped as too old.
    pub async fn remove_webhook(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM webhook_deliveries WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::query("removing a sent webhook event"))?;
        Ok(())
    }

    /// Records a failed attempt and when to try again.
    pub async fn webhook_failed(
        &self,
        id: i64,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?, \
             last_error = ? WHERE id = ?",
        )
        .bind(next_attempt_at_ms)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("recording a failed webhook attempt"))?;
        Ok(())
    }

    /// How many deliveries wait, over all URLs.
    pub async fn webhooks_queued(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::query("counting waiting webhook events"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deliveries_wait_in_order_per_url_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let urls = ["http://a/".to_string(), "http://b/".to_string()];
        store
            .enqueue_webhook("e1", "{1}", &urls, 1000)
            .await
            .unwrap();
        store
            .enqueue_webhook("e2", "{2}", &urls, 2000)
            .await
            .unwrap();
        // Stored twice (a retried enqueue): still one row per (event, URL).
        store
            .enqueue_webhook("e2", "{2}", &urls, 2000)
            .await
            .unwrap();
        assert_eq!(store.webhooks_queued().await.unwrap(), 4);
        let first = store.next_webhook("http://a/").await.unwrap().unwrap();
        assert_eq!(
            (first.event_id.as_str(), first.body.as_str()),
            ("e1", "{1}")
        );
        store
            .webhook_failed(first.id, 9000, "refused")
            .await
            .unwrap();
        let again = store.next_webhook("http://a/").await.unwrap().unwrap();
        assert_eq!(
            (again.id, again.attempts, again.next_attempt_at_ms),
            (first.id, 1, 9000)
        );
        store.remove_webhook(first.id).await.unwrap();
        let next = store.next_webhook("http://a/").await.unwrap().unwrap();
        assert_eq!(next.event_id, "e2");
        assert_eq!(store.webhooks_queued().await.unwrap(), 3);
        assert_eq!(
            store
                .next_webhook("http://b/")
                .await
                .unwrap()
                .unwrap()
                .event_id,
            "e1"
        );
        assert!(store.next_webhook("http://c/").await.unwrap().is_none());
    }
}
