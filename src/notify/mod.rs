//! PIN e-mails: organizers get their PIN, conference ID and dial-in steps by mail when they
//! are enabled and at every reset, plus conference-ID-change and self-service reset-link mails.
//!
//! [`Mailer::start`] checks the settings and spawns one tokio task that owns the transport
//! (an SMTP relay through `lettre`, or a file outbox under the data directory when no relay
//! is configured) and the queue. [`Mailer::send`] only builds the message and queues it, so an
//! admin request never waits for a mail server. A relay that fails is retried with backoff; a
//! permanent (5xx) rejection is not. Every status change is kept in a bounded table
//! ([`Mailer::status`]) and broadcast as a [`MailEvent`] ([`Mailer::subscribe`]) for audit
//! entries. Whether automatic mails are wanted at all is the caller's decision.
//!
//! PINs appear only inside the body of the PIN mail: never in subjects, statuses, events,
//! errors, `Debug` output or logs.

mod config;
mod outbox;
mod queue;
mod template;
mod worker;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use lettre::address::{AddressError, Envelope};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use serde::{Serialize, Serializer};
use tokio::sync::{broadcast, mpsc, watch};
use zeroize::{Zeroize, Zeroizing};

pub use config::{MailConfig, SmtpConfig, SmtpSecurity};
pub use outbox::OUTBOX_DIR;
pub use template::{
    DialIn, PinReason, conference_id_changed, lobby_waiting, pin_changed_by_phone, pin_locked,
    pin_notice, reset_link,
};

use outbox::Outbox;
use queue::StatusTable;
use worker::{Transport, Worker};

/// Longest `To` value accepted (an address is at most 254 bytes; the rest is a display name).
const MAX_TO_LEN: usize = 512;
/// Longest subject accepted; ours are a few words.
const MAX_SUBJECT_LEN: usize = 512;
/// Largest body accepted; ours are about 2 KiB.
const MAX_BODY_LEN: usize = 64 * 1024;
/// Longest SMTP reply text kept in a status.
const MAX_REPLY_LEN: usize = 512;
/// Events buffered per subscriber before a slow one starts missing them.
const EVENT_CAPACITY: usize = 1024;

/// Why the mailer could not start; each names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `from` is not an address.
    #[error(
        "mail sender {from:?} is not a valid address ({source}); write it as \
         \"dialbridge <bridge@example.com>\" or \"bridge@example.com\""
    )]
    BadFrom {
        /// The configured value.
        from: String,
        /// What the address parser found.
        source: AddressError,
    },
    /// `smtp.host` is not a host name or IP address.
    #[error(
        "SMTP host {host:?} is not a valid host name or IP address; give only the name \
         (e.g. \"mail.example.com\"), with the port in `port`"
    )]
    BadSmtpHost {
        /// The configured value.
        host: String,
    },
    /// `smtp.port` is 0.
    #[error("SMTP port 0 is not valid; leave `port` out to use {default} for security {security}")]
    BadSmtpPort {
        /// The configured security.
        security: SmtpSecurity,
        /// The port that would be used without `port`.
        default: u16,
    },
    /// Only one of `username` and `password` is set, or one is empty.
    #[error("SMTP username and password must be set together (both non-empty) or both left out")]
    IncompleteCredentials,
    /// A password would travel in plain text to a remote relay.
    #[error(
        "the SMTP password would be sent unencrypted to {host}; set security to \"starttls\" \
         or \"tls\" (plain text is only allowed to localhost)"
    )]
    CredentialsWithoutTls {
        /// The relay.
        host: String,
    },
    /// TLS for the relay could not be set up (bad server name for a certificate, no roots).
    #[error("cannot set up TLS for SMTP host {host}: {source}")]
    SmtpTls {
        /// The relay.
        host: String,
        /// What lettre/rustls reported.
        source: lettre::transport::smtp::Error,
    },
    /// The outbox directory could not be created or made private.
    #[error(
        "cannot create the mail outbox {dir}: {source}; check that the data directory \
         exists and is writable by this user"
    )]
    OutboxDir {
        /// `DATA_DIR/outbox`.
        dir: PathBuf,
        /// The file system error.
        source: io::Error,
    },
    /// `Mailer::start` was called outside a tokio runtime.
    #[error("the mailer must be started from inside a tokio runtime")]
    NoRuntime,
}

/// Why one mail was not (yet) delivered; shown in statuses and events, never holding the body.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryError {
    /// The `To` value is not an address.
    #[error(
        "recipient {to:?} is not a valid e-mail address ({source}); fix the organizer's e-mail address"
    )]
    BadRecipient {
        /// The value given.
        to: String,
        /// What the address parser found.
        source: AddressError,
    },
    /// A part of the mail is larger than any mail this module sends.
    #[error("the mail's {field} is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// `to`, `subject` or `body`.
        field: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The subject holds a line break or another control character.
    #[error("the mail's subject contains a line break or control character")]
    BadSubject,
    /// lettre refused to assemble the message.
    #[error("cannot assemble the mail: {0}")]
    Build(#[source] Arc<lettre::error::Error>),
    /// Too many mails are waiting already (the relay is probably down).
    #[error(
        "{limit} mails are already waiting for delivery, so this one was dropped; check the \
         SMTP relay, then send it again"
    )]
    QueueFull {
        /// The limit.
        limit: usize,
    },
    /// The relay answered 5xx: retrying cannot help.
    #[error(
        "the SMTP server rejected the mail permanently ({code} {reply}); check the recipient \
         address and that the relay accepts mail from the sender and these credentials"
    )]
    Rejected {
        /// SMTP reply code.
        code: u16,
        /// The server's reply text, shortened.
        reply: String,
    },
    /// The relay answered 4xx: try again later.
    #[error("the SMTP server deferred the mail ({code} {reply})")]
    Deferred {
        /// SMTP reply code.
        code: u16,
        /// The server's reply text, shortened.
        reply: String,
    },
    /// No SMTP conversation: refused, unreachable, timed out, or garbled replies.
    #[error(
        "could not deliver to the SMTP server {server}: {source}; check that it is running \
         and that host, port and security match it"
    )]
    Connection {
        /// `host:port`.
        server: String,
        /// What lettre reported.
        source: Arc<lettre::transport::smtp::Error>,
    },
    /// TLS with the relay failed (certificate, name, or no STARTTLS offered).
    #[error(
        "TLS with the SMTP server {server} failed: {source}; check the certificate and the \
         security setting"
    )]
    Tls {
        /// `host:port`.
        server: String,
        /// What lettre/rustls reported.
        source: Arc<lettre::transport::smtp::Error>,
    },
    /// The outbox file could not be written.
    #[error(
        "cannot write the mail into the outbox {dir}: {source}; check free space and permissions"
    )]
    Outbox {
        /// `DATA_DIR/outbox`.
        dir: PathBuf,
        /// The file system error.
        source: Arc<io::Error>,
    },
    /// The mailer stopped before the mail could go out.
    #[error("the mailer shut down before the mail could be delivered")]
    ShutDown,
}

impl DeliveryError {
    /// True when the same mail may succeed later, so it is worth another attempt.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            DeliveryError::Deferred { .. }
                | DeliveryError::Connection { .. }
                | DeliveryError::Tls { .. }
                | DeliveryError::Outbox { .. }
        )
    }

    fn from_smtp(server: &str, err: lettre::transport::smtp::Error) -> DeliveryError {
        if let Some(code) = err.status() {
            let reply = std::error::Error::source(&err)
                .map(|s| shorten(&s.to_string(), MAX_REPLY_LEN))
                .unwrap_or_default();
            let code = u16::from(code);
            return if err.is_permanent() {
                DeliveryError::Rejected { code, reply }
            } else {
                DeliveryError::Deferred { code, reply }
            };
        }
        let server = server.to_string();
        if err.is_tls() {
            DeliveryError::Tls {
                server,
                source: Arc::new(err),
            }
        } else {
            DeliveryError::Connection {
                server,
                source: Arc::new(err),
            }
        }
    }
}

impl Serialize for DeliveryError {
    /// As its message: API clients show it to the admin as is.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn shorten(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.to_string();
    }
    let cut = s
        .char_indices()
        .map(|(i, _)| i)
        .take_while(|&i| i <= max)
        .last()
        .unwrap_or(0);
    format!("{}…", s.get(..cut).unwrap_or_default())
}

/// Tickets start from the wall clock (seconds × 2^20), so a ticket from before a restart
/// is unknown afterwards instead of naming some other mail; they stay below 2^53 until the
/// 23rd century, so JavaScript clients read them exactly.
fn first_ticket(now: SystemTime) -> u64 {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    secs.saturating_mul(1 << 20).max(1)
}

/// What a mail is about, so audit entries and statuses can say so without the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// PIN, conference ID and dial-in steps.
    PinNotice,
    /// The organizer's conference ID was reset.
    ConferenceIdChanged,
    /// A self-service PIN reset link.
    ResetLink,
    /// Too many wrong PINs locked an organizer's PIN until reset.
    PinLocked,
    /// Callers have waited long in an organizer's lobby.
    LobbyWaiting,
    /// Anything else.
    Other,
}

/// One mail to send; the body may hold a PIN, so `Debug` leaves it out.
#[derive(Clone)]
pub struct Mail {
    /// Recipient, `user@example.com` or `Name <user@example.com>`.
    pub to: String,
    /// Subject line; must not hold the PIN.
    pub subject: String,
    /// Plain-text body (line ends may be `\n`; they become CRLF on the wire).
    pub text_body: String,
    /// What the mail is about.
    pub kind: MailKind,
    /// The organizer it concerns, for events and audit entries.
    pub organizer_id: Option<i64>,
}

impl fmt::Debug for Mail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field(
                "text_body",
                &format_args!("<{} bytes hidden>", self.text_body.len()),
            )
            .field("kind", &self.kind)
            .field("organizer_id", &self.organizer_id)
            .finish()
    }
}

/// Identifies one sent mail for [`Mailer::status`] (`GET /api/mail/{ticket}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct MailTicket(pub u64);

impl fmt::Display for MailTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where one mail is in its delivery.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MailStatus {
    /// Waiting for the worker.
    Queued,
    /// An attempt is in progress.
    Sending,
    /// Accepted by the relay, or written to the outbox.
    Sent,
    /// An attempt failed; another follows.
    Retrying {
        /// Failed attempts so far.
        attempt: u32,
        /// Seconds from the failure to the next attempt (rounded up).
        next_in_secs: u64,
        /// Why the last attempt failed.
        last_error: DeliveryError,
    },
    /// Given up: rejected permanently, out of retries, invalid, or shut down.
    Failed {
        /// Why.
        last_error: DeliveryError,
    },
}

impl MailStatus {
    /// True for `Sent` and `Failed`: nothing will change any more.
    pub fn is_final(&self) -> bool {
        matches!(self, MailStatus::Sent | MailStatus::Failed { .. })
    }
}

/// A status change of one mail, for audit entries ("mail sent", "mail failed").
#[derive(Clone, Debug, Serialize)]
pub struct MailEvent {
    /// Which mail.
    pub ticket: MailTicket,
    /// The organizer it concerns.
    pub organizer_id: Option<i64>,
    /// What it is about.
    pub kind: MailKind,
    /// Its new status.
    pub status: MailStatus,
}

/// Tuning of the mailer; `Default` suits production, tests shorten the delays.
#[derive(Clone, Debug)]
pub struct MailerOptions {
    /// Wait before each retry after a failed attempt; the mail fails once they are used up.
    pub retry_delays: Vec<Duration>,
    /// How long `shutdown` keeps delivering what is queued.
    pub shutdown_grace: Duration,
    /// Limit for connecting to the relay and for each SMTP command.
    pub smtp_timeout: Duration,
    /// Mails queued or retrying at once before `send` refuses more.
    pub max_pending: usize,
    /// Finished (sent or failed) statuses kept for `status`.
    pub keep_statuses: usize,
    /// Wall clock for the `Date` header and outbox file names.
    pub clock: fn() -> SystemTime,
}

impl Default for MailerOptions {
    fn default() -> Self {
        MailerOptions {
            retry_delays: [5, 30, 120, 600, 1800]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            shutdown_grace: Duration::from_secs(5),
            smtp_timeout: Duration::from_secs(30),
            max_pending: 10_000,
            keep_statuses: 1000,
            clock: SystemTime::now,
        }
    }
}

/// Who a status change is about.
#[derive(Clone, Copy, Debug)]
struct Meta {
    ticket: MailTicket,
    organizer_id: Option<i64>,
    kind: MailKind,
}

/// A mail ready for the wire: built once, so every retry sends the same Message-ID and Date.
struct Job {
    meta: Meta,
    envelope: Envelope,
    /// The formatted message (holds the PIN); wiped when the last copy goes.
    bytes: Arc<Zeroizing<Vec<u8>>>,
    failures: u32,
}

/// State shared by the handles and the worker.
struct Shared {
    table: Mutex<StatusTable>,
    events: broadcast::Sender<MailEvent>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, StatusTable> {
        // The table stays consistent between statements, so a panic elsewhere while it was
        // held leaves nothing half-done: keep using it.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records and broadcasts in one critical section, so events leave in status order.
    fn update(&self, meta: Meta, status: MailStatus) {
        let mut table = self.lock();
        table.set(meta.ticket.0, status.clone());
        let _ = self.events.send(MailEvent {
            ticket: meta.ticket,
            organizer_id: meta.organizer_id,
            kind: meta.kind,
            status,
        });
    }

    fn admit(&self, meta: Meta) -> Result<(), DeliveryError> {
        let mut table = self.lock();
        let result = table.admit(meta.ticket.0);
        let status = match &result {
            Ok(()) => MailStatus::Queued,
            Err(full) => {
                let status = MailStatus::Failed {
                    last_error: DeliveryError::QueueFull { limit: full.limit },
                };
                table.set(meta.ticket.0, status.clone());
                status
            }
        };
        let _ = self.events.send(MailEvent {
            ticket: meta.ticket,
            organizer_id: meta.organizer_id,
            kind: meta.kind,
            status,
        });
        result.map_err(|full| DeliveryError::QueueFull { limit: full.limit })
    }
}

/// Handle to the mail worker; cheap to clone, every clone talks to the same queue.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    from: Mailbox,
    tx: mpsc::UnboundedSender<Job>,
    shared: Arc<Shared>,
    stop: watch::Sender<Option<tokio::time::Instant>>,
    done: watch::Receiver<bool>,
    next_ticket: AtomicU64,
    shutdown_grace: Duration,
    clock: fn() -> SystemTime,
    outbox_dir: Option<PathBuf>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.inner.from.to_string())
            .field("outbox_dir", &self.inner.outbox_dir)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Checks `config`, prepares the transport and spawns the worker, with default tuning.
    pub fn start(config: MailConfig, data_dir: &Path) -> Result<Mailer, NotifyError> {
        Self::start_with(config, data_dir, MailerOptions::default())
    }

    /// Like [`Mailer::start`] with explicit tuning (tests use short retry delays).
    pub fn start_with(
        config: MailConfig,
        data_dir: &Path,
        options: MailerOptions,
    ) -> Result<Mailer, NotifyError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NotifyError::NoRuntime)?;
        let from = config.from_mailbox()?;
        let (transport, outbox_dir) = match &config.smtp {
            Some(smtp) => {
                let server = smtp.server();
                let lettre = config::smtp_transport(smtp, options.smtp_timeout)?;
                tracing::info!(%server, security = %smtp.security, "mail goes to the SMTP relay");
                (Transport::Smtp { lettre, server }, None)
            }
            None => {
                let outbox = Outbox::open(data_dir)?;
                let dir = outbox.dir().to_path_buf();
                tracing::info!(dir = %dir.display(), "no SMTP relay configured: mail goes to the outbox");
                (Transport::Outbox(outbox), Some(dir))
            }
        };
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let shared = Arc::new(Shared {
            table: Mutex::new(StatusTable::new(options.max_pending, options.keep_statuses)),
            events,
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(None);
        let (done_tx, done_rx) = watch::channel(false);
        let worker = Worker::new(
            transport,
            Arc::clone(&shared),
            rx,
            stop_rx,
            done_tx,
            &options,
        );
        runtime.spawn(worker.run());
        Ok(Mailer {
            inner: Arc::new(Inner {
                from,
                tx,
                shared,
                stop: stop_tx,
                done: done_rx,
                next_ticket: AtomicU64::new(first_ticket((options.clock)())),
                shutdown_grace: options.shutdown_grace,
                clock: options.clock,
                outbox_dir,
            }),
        })
    }

    /// Queues a mail and returns at once; problems show up in its status, never as a wait.
    pub fn send(&self, mut mail: Mail) -> MailTicket {
        let inner = &*self.inner;
        let meta = Meta {
            ticket: MailTicket(inner.next_ticket.fetch_add(1, Ordering::Relaxed)),
            organizer_id: mail.organizer_id,
            kind: mail.kind,
        };
        let built = build(&inner.from, &mut mail, (inner.clock)());
        mail.text_body.zeroize();
        let result = built.and_then(|(envelope, bytes)| {
            inner.shared.admit(meta)?;
            let job = Job {
                meta,
                envelope,
                bytes: Arc::new(bytes),
                failures: 0,
            };
            inner.tx.send(job).map_err(|_| DeliveryError::ShutDown)
        });
        if let Err(err) = result {
            tracing::warn!(ticket = %meta.ticket, kind = ?meta.kind, organizer_id = ?meta.organizer_id, error = %err, "mail not queued");
            if !matches!(err, DeliveryError::QueueFull { .. }) {
                inner
                    .shared
                    .update(meta, MailStatus::Failed { last_error: err });
            }
        }
        meta.ticket
    }

    /// The latest status of a mail; `None` for unknown or long-finished tickets.
    pub fn status(&self, ticket: MailTicket) -> Option<MailStatus> {
        self.inner.shared.lock().get(ticket.0).cloned()
    }

    /// Every status change from now on; a receiver that falls more than 1024 events behind
    /// gets `RecvError::Lagged` and should read `status` for the tickets it cares about.
    pub fn subscribe(&self) -> broadcast::Receiver<MailEvent> {
        self.inner.shared.events.subscribe()
    }

    /// The outbox directory when mail goes to files, `None` with an SMTP relay.
    pub fn outbox_dir(&self) -> Option<&Path> {
        self.inner.outbox_dir.as_deref()
    }

    /// Stops taking mail, delivers what it can within the grace period (5 s by default),
    /// marks the rest failed, and returns; later `send`s fail with `ShutDown`.
    pub async fn shutdown(&self) {
        let deadline = tokio::time::Instant::now() + self.inner.shutdown_grace;
        self.inner.stop.send_if_modified(|d| {
            if d.is_none() {
                *d = Some(deadline);
                true
            } else {
                false
            }
        });
        let mut done = self.inner.done.clone();
        // A little slack past the deadline for the worker to record the last statuses.
        let limit = deadline + Duration::from_millis(250);
        let _ = tokio::time::timeout_at(limit, done.wait_for(|d| *d)).await;
    }
}

/// Checks the mail and formats it exactly as it will go on the wire (and into the outbox).
fn build(
    from: &Mailbox,
    mail: &mut Mail,
    now: SystemTime,
) -> Result<(Envelope, Zeroizing<Vec<u8>>), DeliveryError> {
    let too_large = |field, len, max| DeliveryError::TooLarge { field, len, max };
    if mail.to.len() > MAX_TO_LEN {
        return Err(too_large("to", mail.to.len(), MAX_TO_LEN));
    }
    if mail.subject.len() > MAX_SUBJECT_LEN {
        return Err(too_large("subject", mail.subject.len(), MAX_SUBJECT_LEN));
    }
    if mail.text_body.len() > MAX_BODY_LEN {
        return Err(too_large("body", mail.text_body.len(), MAX_BODY_LEN));
    }
    if mail.subject.chars().any(char::is_control) {
        return Err(DeliveryError::BadSubject);
    }
    let to = Mailbox::from_str(mail.to.trim()).map_err(|source| DeliveryError::BadRecipient {
        to: mail.to.clone(),
        source,
    })?;
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.as_str())
        .date(now)
        .message_id(None)
        // RFC 3834: tells auto-responders (vacation replies) not to answer the bridge.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ))
        .header(ContentType::TEXT_PLAIN)
        .body(std::mem::take(&mut mail.text_body))
        .map_err(|e| DeliveryError::Build(Arc::new(e)))?;
    let envelope = message.envelope().clone();
    Ok((envelope, Zeroizing::new(message.formatted())))
}

#[cfg(test)]
mod tests;
