//! Meeting events on their way out: the media workers and the control task hand them in
//! (without waiting), one task gives each its id, turns it into JSON, stores it for the
//! webhooks and passes it to the `/api/events` subscribers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{broadcast, mpsc};

use crate::admin::live::EventRecord;

use super::telemetry::WebhookGauges;
use super::webhooks::Webhooks;

/// Events each `/api/events` subscriber may fall behind by before it is dropped.
pub const SUBSCRIBER_BUFFER: usize = 256;

/// Events waiting for the events task (to be stored and streamed). Minutes of events of a
/// busy bridge; past it, a database too slow to keep up costs events, counted in
/// `dialbridge_events_lost_total`, never memory or the media threads' time.
pub const EVENT_QUEUE: usize = 16_384;

/// Where events are handed in; cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub struct EventSink {
    tx: mpsc::Sender<EventRecord>,
    gauges: Arc<WebhookGauges>,
    /// Whether webhooks are configured: then every event is wanted.
    webhooks: bool,
    /// The `/api/events` stream, asked whether anyone reads it.
    subscribers: broadcast::Sender<Arc<str>>,
}

impl EventSink {
    /// Whether an event now would reach anyone (a webhook or an `/api/events` reader); when
    /// not, callers skip building it, which saves a busy bridge two events' stamping, JSON
    /// and a wake-up of the async worker per caller.
    pub fn wanted(&self) -> bool {
        self.webhooks || self.subscribers.receiver_count() > 0
    }

    /// Hands an event in (its `id` is given by the events task). Dropped silently when no
    /// one would get it or the bridge is stopping; dropped and counted when the queue is full.
    pub fn send(&self, event: EventRecord) {
        if !self.wanted() {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(event)) = self.tx.try_send(event) {
            let lost = self.gauges.events_lost.fetch_add(1, Ordering::Relaxed) + 1;
            if lost.is_power_of_two() {
                tracing::warn!(
                    lost,
                    kind = event.kind,
                    "meeting events lost: the events task (storing them for webhooks) is behind"
                );
            }
        }
    }

    /// A sink whose events go nowhere (a bridge built without the events task, in tests).
    pub fn detached() -> Self {
        let (tx, _) = mpsc::channel(1);
        EventSink {
            tx,
            gauges: Arc::default(),
            webhooks: false,
            subscribers: broadcast::channel(1).0,
        }
    }
}

/// A fresh event id: 128 random bits in hex.
fn event_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Starts the events task; returns where to hand events in and where subscribers listen.
pub fn start(
    webhooks: Option<Arc<Webhooks>>,
    gauges: Arc<WebhookGauges>,
) -> (EventSink, broadcast::Sender<Arc<str>>) {
    let (tx, mut rx) = mpsc::channel::<EventRecord>(EVENT_QUEUE);
    let (subscribers, _) = broadcast::channel::<Arc<str>>(SUBSCRIBER_BUFFER);
    let out = subscribers.clone();
    let sink = EventSink {
        tx,
        gauges,
        webhooks: webhooks.is_some(),
        subscribers: subscribers.clone(),
    };
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
    (sink, subscribers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> EventRecord {
        EventRecord {
            id: String::new(),
            kind: "participant.joined",
            time: "2026-12-05T00:00:00Z".into(),
            conference_id: "123456789".into(),
            organizer_id: None,
            participant: None,
            by: None,
            waiting: None,
            locked_until: None,
        }
    }

    #[test]
    fn events_no_one_would_get_are_not_queued() {
        let (tx, mut rx) = mpsc::channel(4);
        let (subscribers, _) = broadcast::channel(1);
        let sink = EventSink {
            tx,
            gauges: Arc::default(),
            webhooks: false,
            subscribers: subscribers.clone(),
        };
        assert!(!sink.wanted());
        sink.send(event());
        assert!(
            rx.try_recv().is_err(),
            "no webhook, no reader: nothing queued"
        );
        let reader = subscribers.subscribe();
        assert!(sink.wanted());
        sink.send(event());
        assert!(rx.try_recv().is_ok(), "an /api/events reader gets it");
        drop(reader);
        assert!(!sink.wanted(), "the reader left");
    }

    #[test]
    fn a_full_queue_costs_events_counted_never_memory() {
        let gauges = Arc::new(WebhookGauges::default());
        let (tx, mut rx) = mpsc::channel(2);
        let sink = EventSink {
            tx,
            gauges: Arc::clone(&gauges),
            webhooks: true,
            subscribers: broadcast::channel(1).0,
        };
        for _ in 0..5 {
            sink.send(event());
        }
        assert_eq!(gauges.events_lost.load(Ordering::Relaxed), 3);
        assert!(rx.try_recv().is_ok() && rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err(), "only what fitted was queued");
        sink.send(event());
        assert_eq!(gauges.events_lost.load(Ordering::Relaxed), 3, "room again");
    }
}
