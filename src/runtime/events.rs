//! Meeting events on their way out: the media workers and the control task hand them in
//! (without waiting), one task gives each its id, turns it into JSON, stores it for the
//! webhooks and passes it to the `/api/events` subscribers.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};

use crate::admin::live::EventRecord;

use super::webhooks::Webhooks;

/// Events each `/api/events` subscriber may fall behind by before it is dropped.
pub const SUBSCRIBER_BUFFER: usize = 256;

/// Where events are handed in; cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub struct EventSink(mpsc::UnboundedSender<EventRecord>);

impl EventSink {
    /// Hands an event in (its `id` is given by the events task). Dropped silently when the
    /// bridge is stopping.
    pub fn send(&self, event: EventRecord) {
        let _ = self.0.send(event);
    }

    /// A sink whose events go nowhere (a bridge built without the events task, in tests).
    pub fn detached() -> Self {
        let (tx, _) = mpsc::unbounded_channel();
        EventSink(tx)
    }
}

/// A fresh event id: 128 random bits in hex.
fn event_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Starts the events task; returns where to hand events in and where subscribers listen.
pub fn start(webhooks: Option<Arc<Webhooks>>) -> (EventSink, broadcast::Sender<Arc<str>>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<EventRecord>();
    let (subscribers, _) = broadcast::channel::<Arc<str>>(SUBSCRIBER_BUFFER);
    let out = subscribers.clone();
    tokio::spawn(async move {
        while let Some(mut event) = rx.recv().await {
            event.id = event_id();
            let json = match serde_json::to_string(&event) {
                Ok(json) => json,
                Err(err) => {
                    tracing::error!(error = %err, kind = event.kind, "cannot encode a meeting event");
                    continue;
                }
            };
            tracing::debug!(kind = event.kind, conference = %event.conference_id, id = %event.id, "meeting event");
            // Stored before anything is sent, so a crash right after cannot lose it.
            if let Some(webhooks) = &webhooks {
                webhooks.enqueue(&event.id, &json).await;
            }
            // No subscriber is not an error.
            let _ = out.send(Arc::from(json));
        }
    });
    (EventSink(tx), subscribers)
}
