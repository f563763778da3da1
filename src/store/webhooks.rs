//! The webhook outbox: every meeting event for every webhook URL, stored before it is sent so
//! that a receiver that is down, or a bridge restart, loses nothing.

use super::backend::{DirRow, on_backend};
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

fn delivery(row: &impl DirRow) -> Result<WebhookDelivery, sqlx::Error> {
    Ok(WebhookDelivery {
        id: row.int("id")?,
        event_id: row.text("event_id")?,
        body: row.text("body")?,
        created_at_ms: row.int("created_at")?,
        attempts: row.int("attempts")?,
        next_attempt_at_ms: row.int("next_attempt_at")?,
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
        let mut change = self.change().await?;
        for url in urls {
            // A retried enqueue of the same event stores nothing more.
            on_backend!(change.conn(), |c| sqlx::query(
                "INSERT INTO webhook_deliveries \
                 (event_id, url, body, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (event_id, url) DO NOTHING",
            )
            .bind(event_id)
            .bind(url)
            .bind(body)
            .bind(now_ms)
            .bind(now_ms)
            .execute(c)
            .await
            .map(drop))
            .map_err(StoreError::query("storing a webhook event"))?;
        }
        change.commit_outbox().await
    }

    /// The oldest event still to be sent to `url` (events go out in order, one at a time).
    pub async fn next_webhook(&self, url: &str) -> Result<Option<WebhookDelivery>, StoreError> {
        on_backend!(&self.pool, |p| sqlx::query(
            "SELECT id, event_id, body, created_at, attempts, next_attempt_at \
             FROM webhook_deliveries WHERE url = $1 ORDER BY id LIMIT 1",
        )
        .bind(url)
        .fetch_optional(p)
        .await
        .and_then(|row| row.as_ref().map(delivery).transpose()))
        .map_err(StoreError::query("reading the next webhook event"))
    }

    /// Forgets a delivery: sent, or dropped as too old.
    pub async fn remove_webhook(&self, id: i64) -> Result<(), StoreError> {
        on_backend!(&self.pool, |p| sqlx::query(
            "DELETE FROM webhook_deliveries WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(drop))
        .map_err(StoreError::query("removing a sent webhook event"))
    }

    /// Records a failed attempt and when to try again.
    pub async fn webhook_failed(
        &self,
        id: i64,
        next_attempt_at_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        on_backend!(&self.pool, |p| sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $1, \
             last_error = $2 WHERE id = $3",
        )
        .bind(next_attempt_at_ms)
        .bind(error)
        .bind(id)
        .execute(p)
        .await
        .map(drop))
        .map_err(StoreError::query("recording a failed webhook attempt"))
    }

    /// How many deliveries wait, over all URLs.
    pub async fn webhooks_queued(&self) -> Result<i64, StoreError> {
        on_backend!(&self.pool, |p| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM webhook_deliveries"
        )
        .fetch_one(p)
        .await)
        .map_err(StoreError::query("counting waiting webhook events"))
    }
}

#[cfg(test)]
mod tests {
    both_backends!(
        storing_events_leaves_cached_directory_reads_fresh,
        |store| {
            let urls = ["http://a/".to_string()];
            let before = store.writes();
            store
                .enqueue_webhook("e1", "{1}", &urls, 1000)
                .await
                .unwrap();
            assert_eq!(store.writes(), before, "the outbox is not the directory");
            let mut change = store.change().await.unwrap();
            change
                .set_bool_setting("anonymous_start", true)
                .await
                .unwrap();
            change.commit().await.unwrap();
            assert_eq!(store.writes(), before + 1, "a setting is");
        }
    );

    both_backends!(deliveries_wait_in_order_per_url_until_removed, |store| {
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
    });
}
