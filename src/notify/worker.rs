//! The one tokio task behind a [`Mailer`](super::Mailer): owns the transport and the retry
//! queue, tries one mail at a time, and is the only place the mailer reads the clock.
//!
//! One mail at a time keeps a relay from being flooded and keeps the order admins expect;
//! the volume (enable/reset events) is far below what one SMTP session per mail can carry.

use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};

use super::outbox::Outbox;
use super::queue::{RetryQueue, retry_delay, secs_rounded_up};
use super::{DeliveryError, Job, MailStatus, MailerOptions, Shared};

/// Where mail goes.
pub(crate) enum Transport {
    /// An SMTP relay.
    Smtp {
        /// The lettre client (one connection per mail; no pool to keep open).
        lettre: AsyncSmtpTransport<Tokio1Executor>,
        /// `host:port`, for errors.
        server: String,
    },
    /// `.eml` files.
    Outbox(Outbox),
}

pub(crate) struct Worker {
    transport: Transport,
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<Job>,
    stop: watch::Receiver<Option<Instant>>,
    done: watch::Sender<bool>,
    queue: RetryQueue<Job>,
    retry_delays: Vec<Duration>,
    grace: Duration,
    clock: fn() -> SystemTime,
    /// Set once shutdown is asked for (or every handle is gone): deliver until then, no later.
    deadline: Option<Instant>,
}

impl Worker {
    pub(crate) fn new(
        transport: Transport,
        shared: Arc<Shared>,
        rx: mpsc::UnboundedReceiver<Job>,
        stop: watch::Receiver<Option<Instant>>,
        done: watch::Sender<bool>,
        options: &MailerOptions,
    ) -> Worker {
        Worker {
            transport,
            shared,
            rx,
            stop,
            done,
            queue: RetryQueue::default(),
            retry_delays: options.retry_delays.clone(),
            grace: options.shutdown_grace,
            clock: options.clock,
            deadline: None,
        }
    }

    pub(crate) async fn run(mut self) {
        while self.deadline.is_none() {
            if let Some(job) = self.queue.pop_due(Instant::now().into_std()) {
                self.attempt(job).await;
                continue;
            }
            let wake = self.queue.next_due().map(Instant::from_std);
            tokio::select! {
                job = self.rx.recv() => match job {
                    Some(job) => self.queue.push(job),
                    // Every handle dropped without `shutdown`: flush as if asked to.
                    None => self.begin_stop(None),
                },
                changed = self.stop.changed() => {
                    let asked = changed.ok().and_then(|()| *self.stop.borrow_and_update());
                    self.begin_stop(asked);
                }
                () = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
            }
        }
        self.flush().await;
        let _ = self.done.send(true);
    }

    fn begin_stop(&mut self, deadline: Option<Instant>) {
        if self.deadline.is_none() {
            self.deadline = Some(deadline.unwrap_or_else(|| Instant::now() + self.grace));
        }
    }

    /// Takes what was sent before the stop, tries everything once until the deadline, and
    /// fails the rest so no status is left hanging.
    async fn flush(&mut self) {
        self.rx.close();
        while let Ok(job) = self.rx.try_recv() {
            self.queue.push(job);
        }
        let deadline = self.deadline.unwrap_or_else(Instant::now);
        for job in self.queue.drain() {
            if Instant::now() >= deadline {
                self.finish_failed(&job, DeliveryError::ShutDown);
            } else {
                self.attempt(job).await;
            }
        }
    }

    /// One delivery attempt, and what follows from its outcome.
    async fn attempt(&mut self, mut job: Job) {
        self.shared.update(job.meta, MailStatus::Sending);
        let outcome = {
            let delivery = deliver(&self.transport, self.clock, &job);
            tokio::pin!(delivery);
            loop {
                let deadline = self.deadline;
                tokio::select! {
                    result = &mut delivery => break Some(result),
                    () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => break None,
                    changed = self.stop.changed(), if deadline.is_none() => {
                        // Shutdown while a mail is on the wire: let it finish, up to the deadline.
                        let asked = changed.ok().and_then(|()| *self.stop.borrow_and_update());
                        self.deadline = Some(asked.unwrap_or_else(|| Instant::now() + self.grace));
                    }
                }
            }
        };
        let meta = job.meta;
        match outcome {
            Some(Ok(())) => {
                tracing::info!(ticket = %meta.ticket, kind = ?meta.kind, organizer_id = ?meta.organizer_id, "mail sent");
                self.shared.update(meta, MailStatus::Sent);
            }
            None => self.finish_failed(&job, DeliveryError::ShutDown),
            Some(Err(err)) => {
                job.failures = job.failures.saturating_add(1);
                let delay = if err.is_retryable() && self.deadline.is_none() {
                    retry_delay(&self.retry_delays, job.failures)
                } else {
                    None
                };
                match delay {
                    Some(delay) => {
                        tracing::warn!(ticket = %meta.ticket, kind = ?meta.kind, organizer_id = ?meta.organizer_id, attempt = job.failures, retry_in = ?delay, error = %err, "mail delivery failed; will retry");
                        self.shared.update(
                            meta,
                            MailStatus::Retrying {
                                attempt: job.failures,
                                next_in_secs: secs_rounded_up(delay),
                                last_error: err,
                            },
                        );
                        let due = Instant::now() + delay;
                        self.queue.defer(job, due.into_std());
                    }
                    None => self.finish_failed(&job, err),
                }
            }
        }
    }

    fn finish_failed(&self, job: &Job, err: DeliveryError) {
        let meta = job.meta;
        tracing::error!(ticket = %meta.ticket, kind = ?meta.kind, organizer_id = ?meta.organizer_id, attempts = job.failures, error = %err, "mail failed; giving up");
        self.shared
            .update(meta, MailStatus::Failed { last_error: err });
    }
}

async fn deliver(
    transport: &Transport,
    clock: fn() -> SystemTime,
    job: &Job,
) -> Result<(), DeliveryError> {
    match transport {
        Transport::Smtp { lettre, server } => lettre
            .send_raw(&job.envelope, &job.bytes)
            .await
            .map(|_| ())
            .map_err(|e| DeliveryError::from_smtp(server, e)),
        Transport::Outbox(outbox) => {
            let writer = outbox.clone();
            let bytes = Arc::clone(&job.bytes);
            let (now, ticket) = (clock(), job.meta.ticket.0);
            // fsync can stall for a while on a busy disk: keep it off the runtime's threads.
            let written =
                tokio::task::spawn_blocking(move || writer.write(now, ticket, &bytes)).await;
            let result = match written {
                Ok(result) => result,
                Err(join) => Err(io::Error::other(join)),
            };
            match result {
                Ok(path) => {
                    tracing::debug!(ticket = ticket, path = %path.display(), "mail written to the outbox");
                    Ok(())
                }
                Err(source) => Err(DeliveryError::Outbox {
                    dir: outbox.dir().to_path_buf(),
                    source: Arc::new(source),
                }),
            }
        }
    }
}
