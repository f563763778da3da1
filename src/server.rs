//! `dialbridge serve`: wires the SIP endpoint, the media workers and the directory together.
//!
//! Three kinds of owner, each with its own state: the SIP task (endpoint, transactions,
//! dialogs), the media worker threads (RTP, IVR, meetings) and the directory task (database,
//! PIN checks). They talk only through channels.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::admin::AppState;
use crate::admin::auth::AdminToken;
use crate::admin::service::AdminService;
use crate::call::CallId;
use crate::config::ServeConfig;
use crate::directory::Directory;
use crate::engine::{Command, WorkerConfig};
use crate::media::assets::{AssetError, Assets};
use crate::media::driver::{
    self, ControlEvent, MediaHandle, MediaStartError, MediaTransport, WorkerGauges,
};
use crate::media::ports::PortPool;
use crate::sip::admission::{Admission, Verdict};
use crate::sip::endpoint::{Endpoint, EndpointConfig, Event};
use crate::sip::sdp::LocalMedia;

/// Largest SIP datagram we accept (RFC 3261 §18.1.1 allows up to 65,535 over UDP).
const MAX_SIP_DATAGRAM: usize = 65_535;
/// Datagrams handled per wake-up before timers and events get their turn.
const RECV_BATCH: usize = 64;
/// At shutdown: how long callers get to hear goodbye and answer our BYE before the process
/// exits anyway (the whole shutdown stays within 10 s).
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(8);
/// `Retry-After` on the 503s a shutting-down bridge gives new calls.
const DRAIN_RETRY_AFTER_S: u32 = 30;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The SIP port could not be bound.
    #[error("cannot listen for SIP on {addr}: {source}")]
    SipListen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The SIP TCP port could not be bound (UDP and TCP share the port number).
    #[error("cannot listen for SIP over TCP on {addr}: {source}")]
    SipTcpListen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The RTP range cannot hold a single call.
    #[error("cannot use RTP ports {range}: {reason}")]
    RtpPorts {
        /// The range.
        range: String,
        /// Why.
        reason: String,
    },
    /// The database or key could not be opened.
    #[error(transparent)]
    Directory(#[from] crate::directory::DirectoryError),
    /// Prompts or hold music could not be loaded.
    #[error(transparent)]
    Assets(#[from] AssetError),
    /// The media workers could not start.
    #[error(transparent)]
    Media(#[from] MediaStartError),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// The SIP thread could not be started.
    #[error("cannot start the SIP thread: {0}")]
    SipThread(#[source] std::io::Error),
    /// The admin HTTP port could not be bound.
    #[error("cannot listen for HTTP on {addr}: {source}")]
    HttpListen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The call detail record file cannot be written.
    #[error(transparent)]
    Cdr(#[from] crate::cdr::CdrError),
    /// The admin token could not be set up.
    #[error(transparent)]
    AdminToken(#[from] crate::admin::auth::TokenError),
    /// The mail settings are unusable.
    #[error(transparent)]
    Mail(#[from] crate::notify::NotifyError),
}

/// SIP-side figures the SIP task publishes for `/metrics`.
#[derive(Debug, Default)]
pub struct SipGauges {
    /// Datagrams received.
    pub datagrams: AtomicU64,
    /// Datagrams dropped as garbage.
    pub garbage: AtomicU64,
    /// Requests answered 400.
    pub bad_requests: AtomicU64,
    /// Retransmitted requests answered from a transaction.
    pub retransmitted_requests: AtomicU64,
    /// Calls answered.
    pub calls_answered: AtomicU64,
    /// Calls refused for lack of a media port (503).
    pub calls_refused_no_port: AtomicU64,
    /// Calls refused by admission control: too many calls in progress (503).
    pub calls_refused_too_many: AtomicU64,
    /// Calls refused by admission control: too many new calls per second (503).
    pub calls_refused_too_fast: AtomicU64,
    /// Organizer PINs accepted on calls.
    pub pins_accepted: AtomicU64,
    /// Organizer PINs refused (wrong, or the PIN is locked).
    pub pins_refused: AtomicU64,
    /// PIN checks that locked the PIN (for a while or until reset).
    pub pins_locked: AtomicU64,
    /// Callers cut off for guessing too many unknown conference IDs.
    pub guessers_cut_off: AtomicU64,
    /// E-mails telling organizers that callers wait in their lobby.
    pub lobby_mails: AtomicU64,
    /// INVITEs from outside the trusted networks answered 403.
    pub calls_refused_untrusted: AtomicU64,
    /// Datagrams from outside the trusted networks dropped unanswered.
    pub untrusted_dropped: AtomicU64,
    /// Calls in progress (answered, not yet ended).
    pub calls_active: AtomicU64,
    /// SIP TCP connections open.
    pub tcp_connections: AtomicU64,
    /// SIP TCP connections refused at accept (limits, untrusted source).
    pub tcp_refused: AtomicU64,
    /// SIP TCP connections closed, by reason (peer, idle, slow sender, stuck, malformed, local).
    pub tcp_closed: [AtomicU64; 6],
    /// Calls ended, by reason.
    pub calls_ended: [AtomicU64; 5],
    /// Time the SIP task spends on one wake-up (a batch of datagrams or timers: parsing,
    /// transactions, sending the replies): a slow turn delays every request behind it.
    pub turn: crate::metrics::Histogram,
}

/// What `/metrics` reads.
pub struct Telemetry {
    /// The media workers' gauges.
    pub media: Arc<MediaHandle>,
    /// The SIP task's gauges.
    pub sip: Arc<SipGauges>,
}

impl Telemetry {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        use crate::metrics::{render_histogram, render_value};
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let sip = &self.sip;
        render_value(
            &mut out,
            "dialbridge_sip_datagrams_total",
            "counter",
            "SIP datagrams received",
            &[("", load(&sip.datagrams))],
        );
        render_value(
            &mut out,
            "dialbridge_sip_garbage_total",
            "counter",
            "SIP datagrams dropped as unparseable",
            &[("", load(&sip.garbage))],
        );
        render_value(
            &mut out,
            "dialbridge_sip_bad_requests_total",
            "counter",
            "SIP requests answered 400",
            &[("", load(&sip.bad_requests))],
        );
        render_value(
            &mut out,
            "dialbridge_sip_retransmissions_total",
            "counter",
            "retransmitted SIP requests absorbed",
            &[("", load(&sip.retransmitted_requests))],
        );
        render_value(
            &mut out,
            "dialbridge_calls_answered_total",
            "counter",
            "calls answered",
            &[("", load(&sip.calls_answered))],
        );
        render_value(
            &mut out,
            "dialbridge_calls_refused_total",
            "counter",
            "calls refused",
            &[
                ("reason=\"no_media_port\"", load(&sip.calls_refused_no_port)),
                (
                    "reason=\"too_many_calls\"",
                    load(&sip.calls_refused_too_many),
                ),
                ("reason=\"too_fast\"", load(&sip.calls_refused_too_fast)),
                ("reason=\"untrusted\"", load(&sip.calls_refused_untrusted)),
            ],
        );
        render_value(
            &mut out,
            "dialbridge_sip_untrusted_dropped_total",
            "counter",
            "datagrams from outside the trusted networks dropped unanswered",
            &[("", load(&sip.untrusted_dropped))],
        );
        render_value(
            &mut out,
            "dialbridge_calls_active",
            "gauge",
            "calls in progress",
            &[("", load(&sip.calls_active))],
        );
        let reasons = [
            "remote-bye",
            "cancelled",
            "ack-timeout",
            "local-hangup",
            "rejected",
        ];
        let ended: Vec<(String, u64)> = reasons
            .iter()
            .zip(sip.calls_ended.iter())
            .map(|(r, v)| (format!("reason=\"{r}\""), load(v)))
            .collect();
        let ended_ref: Vec<(&str, u64)> = ended.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        render_value(
            &mut out,
            "dialbridge_calls_ended_total",
            "counter",
            "calls ended, by reason",
            &ended_ref,
        );
        render_value(
            &mut out,
            "dialbridge_guessers_cut_off_total",
            "counter",
            "callers cut off for guessing too many unknown conference IDs",
            &[("", load(&sip.guessers_cut_off))],
        );
        render_value(
            &mut out,
            "dialbridge_sip_tcp_connections",
            "gauge",
            "SIP TCP connections open",
            &[("", load(&sip.tcp_connections))],
        );
        render_value(
            &mut out,
            "dialbridge_sip_tcp_refused_total",
            "counter",
            "SIP TCP connections refused (connection limits, untrusted source)",
            &[("", load(&sip.tcp_refused))],
        );
        let closed: Vec<(String, u64)> = crate::sip_tcp::CloseReason::ALL
            .iter()
            .zip(sip.tcp_closed.iter())
            .map(|(r, v)| (format!("reason=\"{}\"", r.as_str()), load(v)))
            .collect();
        let closed_ref: Vec<(&str, u64)> = closed.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        render_value(
            &mut out,
            "dialbridge_sip_tcp_closed_total",
            "counter",
            "SIP TCP connections closed, by reason",
            &closed_ref,
        );
        let gauges = self.media.gauges();
        let labels: Vec<String> = (0..gauges.len())
            .map(|i| format!("worker=\"{i}\""))
            .collect();
        let per = |f: &dyn Fn(&WorkerGauges) -> u64| -> Vec<(&str, u64)> {
            gauges
                .iter()
                .zip(&labels)
                .map(|(g, l)| (l.as_str(), f(g)))
                .collect()
        };
        render_value(
            &mut out,
            "dialbridge_callers",
            "gauge",
            "callers by place",
            &{
                let sum =
                    |f: &dyn Fn(&WorkerGauges) -> u64| gauges.iter().map(|g| f(g)).sum::<u64>();
                vec![
                    ("place=\"ivr\"", sum(&|g| g.in_ivr.load(Ordering::Relaxed))),
                    (
                        "place=\"lobby\"",
                        sum(&|g| g.in_lobby.load(Ordering::Relaxed)),
                    ),
                    (
                        "place=\"meeting\"",
                        sum(&|g| g.in_meeting.load(Ordering::Relaxed)),
                    ),
                ]
            },
        );
        let codecs: Vec<(String, u64)> = crate::media::codec::Codec::ALL
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (
                    format!("codec=\"{}\"", c.encoding_name()),
                    gauges
                        .iter()
                        .filter_map(|g| g.by_codec.get(i))
                        .map(|n| n.load(Ordering::Relaxed))
                        .sum(),
                )
            })
            .collect();
        render_value(
            &mut out,
            "dialbridge_media_calls_by_codec",
            "gauge",
            "calls by the codec they agreed on",
            &codecs
                .iter()
                .map(|(l, n)| (l.as_str(), *n))
                .collect::<Vec<_>>(),
        );
        render_value(
            &mut out,
            "dialbridge_talkers",
            "gauge",
            "talkers mixed in the last media tick, all meetings together",
            &[(
                "",
                gauges
                    .iter()
                    .map(|g| g.talkers.load(Ordering::Relaxed))
                    .sum(),
            )],
        );
        render_value(
            &mut out,
            "dialbridge_meetings",
            "gauge",
            "meetings, waiting or running",
            &[(
                "",
                gauges
                    .iter()
                    .map(|g| g.meetings.load(Ordering::Relaxed))
                    .sum(),
            )],
        );
        render_value(
            &mut out,
            "dialbridge_media_calls",
            "gauge",
            "calls per media worker",
            &per(&|g| g.calls.load(Ordering::Relaxed) as u64),
        );
        render_value(
            &mut out,
            "dialbridge_rtp_packets_sent_total",
            "counter",
            "RTP packets sent",
            &per(&|g| load(&g.packets_out)),
        );
        render_value(
            &mut out,
            "dialbridge_rtp_packets_received_total",
            "counter",
            "RTP packets accepted",
            &per(&|g| load(&g.packets_in)),
        );
        // Per worker the sum can dip below zero (a call's losses counted on one worker,
        // its late packets on another); the total over workers cannot.
        let lost: u64 = gauges
            .iter()
            .map(|g| g.packets_lost.load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add);
        render_value(
            &mut out,
            "dialbridge_rtp_packets_lost_total",
            "counter",
            "audio packets lost on the way in (sequence gaps less late arrivals)",
            &[("", if lost > u64::MAX / 2 { 0 } else { lost })],
        );
        render_value(
            &mut out,
            "dialbridge_rtp_bad_packets_total",
            "counter",
            "datagrams on media ports that were not RTP",
            &per(&|g| load(&g.bad_packets)),
        );
        render_value(
            &mut out,
            "dialbridge_rtp_foreign_packets_total",
            "counter",
            "RTP from an address other than the call's latched source (ignored)",
            &per(&|g| load(&g.foreign_packets)),
        );
        let by_method: Vec<(String, u64)> = gauges
            .iter()
            .enumerate()
            .flat_map(|(i, g)| {
                let info = load(&g.digits_info);
                let all = load(&g.digits);
                let inband = load(&g.digits_inband);
                [
                    (
                        format!("worker=\"{i}\",method=\"rfc4733\""),
                        all.saturating_sub(info).saturating_sub(inband),
                    ),
                    (format!("worker=\"{i}\",method=\"info\""), info),
                    (format!("worker=\"{i}\",method=\"inband\""), inband),
                ]
            })
            .collect();
        let by_method: Vec<(&str, u64)> = by_method.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        render_value(
            &mut out,
            "dialbridge_dtmf_digits_total",
            "counter",
            "DTMF digits received, by how they came",
            &by_method,
        );
        render_value(
            &mut out,
            "dialbridge_pin_checks_total",
            "counter",
            "organizer PINs checked on calls, by result (locked: refused, and the PIN is now locked)",
            &[
                ("result=\"accepted\"", load(&sip.pins_accepted)),
                ("result=\"refused\"", load(&sip.pins_refused)),
                ("result=\"locked\"", load(&sip.pins_locked)),
            ],
        );
        render_value(
            &mut out,
            "dialbridge_media_ticks_total",
            "counter",
            "20 ms media ticks run",
            &per(&|g| load(&g.ticks)),
        );
        render_value(
            &mut out,
            "dialbridge_conference_joins_total",
            "counter",
            "callers who got through the IVR into a conference (lobby or meeting)",
            &per(&|g| load(&g.conference_joins)),
        );
        render_value(
            &mut out,
            "dialbridge_lobby_decisions_total",
            "counter",
            "lobby callers an organizer let in or sent away one at a time (*24)",
            &{
                let sum = |f: fn(&WorkerGauges) -> &AtomicU64| {
                    gauges.iter().map(|g| load(f(g))).sum::<u64>()
                };
                vec![
                    ("decision=\"let_in\"", sum(|g| &g.lobby_let_in)),
                    ("decision=\"sent_away\"", sum(|g| &g.lobby_sent_away)),
                ]
            },
        );
        render_value(
            &mut out,
            "dialbridge_lobby_mails_total",
            "counter",
            "e-mails telling an organizer that callers wait in their lobby",
            &[("", load(&sip.lobby_mails))],
        );
        render_value(
            &mut out,
            "dialbridge_last_lobby_move_callers",
            "gauge",
            "callers moved by the last meeting start",
            &per(&|g| load(&g.last_move_callers)),
        );
        render_value(
            &mut out,
            "dialbridge_last_lobby_move_pin_to_tick_microseconds",
            "gauge",
            "last meeting start: from the PIN's # to the start of the tick that sent the moved callers their first meeting frame",
            &per(&|g| load(&g.last_move_pin_to_tick_us)),
        );
        render_value(
            &mut out,
            "dialbridge_last_lobby_move_tick_microseconds",
            "gauge",
            "last meeting start: time that tick took to send every frame, first caller to last",
            &per(&|g| load(&g.last_move_tick_us)),
        );
        let per_worker = |h: fn(&WorkerGauges) -> &crate::metrics::Histogram| {
            gauges
                .iter()
                .zip(&labels)
                .map(|(g, l)| (l.as_str(), h(g)))
                .collect::<Vec<_>>()
        };
        render_histogram(
            &mut out,
            "dialbridge_media_tick_lateness_seconds",
            "how late each 20 ms media tick started",
            &per_worker(|g| &g.tick_lateness),
        );
        render_histogram(
            &mut out,
            "dialbridge_media_send_lateness_seconds",
            "how late the last frame of each 20 ms tick was sent (the worst call of that tick)",
            &per_worker(|g| &g.send_lateness),
        );
        render_histogram(
            &mut out,
            "dialbridge_sip_turn_seconds",
            "time the SIP task spent on one wake-up (a batch of datagrams or timers)",
            &[("", &self.sip.turn)],
        );
        out
    }
}

/// A running bridge's addresses, reported once everything is bound.
#[derive(Clone, Debug)]
pub struct Bound {
    /// The SIP UDP address actually bound.
    pub sip: SocketAddr,
    /// The admin HTTP address, if served.
    pub http: Option<SocketAddr>,
}

/// The dial-in text for e-mails: the configured numbers, or our own SIP address.
pub fn dial_in(config: &ServeConfig, sip: SocketAddr) -> crate::notify::DialIn {
    let numbers = if config.dial_in.is_empty() {
        let ip = config.media_ip.unwrap_or(sip.ip());
        vec![format!("sip:bridge@{}", SocketAddr::new(ip, sip.port()))]
    } else {
        config.dial_in.clone()
    };
    crate::notify::DialIn {
        numbers,
        instructions: String::new(),
    }
}

/// Writes each e-mail's final delivery outcome to the audit log (never its body).
pub fn audit_mail_events(mailer: &crate::notify::Mailer, directory: Directory) {
    let mut events = mailer.subscribe();
    let source = if mailer.outbox_dir().is_some() {
        "outbox"
    } else {
        "smtp"
    };
    tokio::spawn(async move {
        let actor = crate::directory::Actor {
            who: "mailer".into(),
            source: source.into(),
        };
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "mail events were missed in the audit log");
                    continue;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            };
            let (action, detail) = match &event.status {
                crate::notify::MailStatus::Sent => (
                    "mail.sent",
                    format!("{:?} ticket={}", event.kind, event.ticket.0),
                ),
                crate::notify::MailStatus::Failed { last_error } => (
                    "mail.failed",
                    format!(
                        "{:?} ticket={} error={last_error}",
                        event.kind, event.ticket.0
                    ),
                ),
                _ => continue,
            };
            directory
                .record(&actor, action, event.organizer_id, &detail)
                .await;
        }
    });
}

/// Opens everything, then serves until SIGINT/SIGTERM. `on_ready` runs once bound.
pub async fn run(config: ServeConfig, on_ready: impl FnOnce(&Bound)) -> Result<(), ServeError> {
    raise_fd_limit();
    // Everything that can fail on bad flags is checked before the data directory is touched,
    // so a mistyped command changes nothing.
    let assets = Arc::new(match &config.assets_dir {
        Some(dir) => Assets::from_dir(dir)?,
        None => Assets::bundled()?,
    });
    let socket =
        UdpSocket::bind(config.sip_listen)
            .await
            .map_err(|source| ServeError::SipListen {
                addr: config.sip_listen,
                source,
            })?;
    // TCP on the same port number as UDP (which may have been picked by the system).
    let tcp_addr = socket.local_addr().unwrap_or(config.sip_listen);
    let tcp_listener = tokio::net::TcpListener::bind(tcp_addr)
        .await
        .and_then(|l| l.into_std())
        .map_err(|source| ServeError::SipTcpListen {
            addr: tcp_addr,
            source,
        })?;
    let sip_buffer = grow_recv_buffer(&socket, SIP_RECV_BUFFER);
    if sip_buffer < SIP_RECV_BUFFER / 2 {
        tracing::warn!(
            bytes = sip_buffer,
            "small SIP receive buffer: bursts of requests may be dropped; raise net.core.rmem_max or run with CAP_NET_ADMIN"
        );
    }
    let http_listener = match config.http_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::HttpListen { addr, source })?,
        ),
        None => None,
    };
    let bound = Bound {
        sip: socket.local_addr().unwrap_or(config.sip_listen),
        http: http_listener.as_ref().and_then(|l| l.local_addr().ok()),
    };
    let bind_ip = config.sip_listen.ip();
    let pool = PortPool::new(config.rtp_ports.low, config.rtp_ports.high);
    if pool.capacity() == 0 {
        return Err(ServeError::RtpPorts {
            range: config.rtp_ports.to_string(),
            reason: "no even port in the range".into(),
        });
    }
    // Fail now, not at the first call, if the range cannot be bound at all.
    match pool.bind(bind_ip) {
        Ok(probe) => drop(probe),
        Err(err) => {
            return Err(ServeError::RtpPorts {
                range: config.rtp_ports.to_string(),
                reason: err.to_string(),
            });
        }
    }

    let directory = Directory::open(&config.data_dir).await?;
    let cdr_path = config.cdr_file.clone().map(|p| {
        if p.is_relative() && p.parent().is_none_or(|d| d.as_os_str().is_empty()) {
            config.data_dir.join(p)
        } else {
            p
        }
    });
    let cdr = match crate::cdr::CdrLog::open(cdr_path.as_deref()) {
        Ok(c) => c,
        Err(err) => {
            directory.close().await;
            return Err(err.into());
        }
    };
    let mailer = match crate::notify::Mailer::start(config.mail.clone(), &config.data_dir) {
        Ok(m) => m,
        Err(err) => {
            directory.close().await;
            return Err(err.into());
        }
    };
    audit_mail_events(&mailer, directory.clone());

    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let worker_config = WorkerConfig {
        ivr: config.ivr.clone(),
        rtp_timeout: config.rtp_timeout,
        lobby_timeout: config.lobby_timeout,
        lobby_admit: config.lobby_admit,
        lobby_mail_after: config.lobby_mail_after,
        ..WorkerConfig::default()
    };
    let sip_control = control_tx.clone();
    let (media, threads) = driver::start(config.media_threads, assets, worker_config, control_tx)?;

    let (hangup_tx, hangup_rx) = mpsc::unbounded_channel();
    // Where organizers reach the web pages: the configured URL, else the HTTP listener.
    let public_url = config
        .public_url
        .clone()
        .or_else(|| bound.http.map(|a| format!("http://{a}")));
    let lock_mail = LockMail {
        mailer: mailer.clone(),
        admins: config.admin_emails.clone(),
        self_service_url: public_url
            .as_deref()
            .map(|base| format!("{}/self-service", base.trim_end_matches('/'))),
    };
    let sip_gauges = Arc::new(SipGauges::default());
    let directory_task = tokio::spawn(serve_directory(
        directory.clone(),
        Arc::clone(&media),
        control_rx,
        DirectoryDuties {
            cdr,
            hangups: hangup_tx,
            lock_mail,
            guessing: config.guessing,
            gauges: Arc::clone(&sip_gauges),
        },
    ));

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(ServeError::Signals)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm.recv() => {}
        }
        let _ = stop_tx.send(true);
    };

    let telemetry = Arc::new(Telemetry {
        media: Arc::clone(&media),
        sip: Arc::clone(&sip_gauges),
    });
    let http_task = match http_listener {
        Some(listener) => {
            let service = AdminService::new(
                directory.clone(),
                mailer.clone(),
                Some(Arc::clone(&media)),
                dial_in(&config, bound.sip),
                public_url.as_deref().unwrap_or_default(),
            );
            let state = Arc::new(AppState {
                service,
                token: AdminToken::load_or_create(&config.data_dir)?,
                sessions: Default::default(),
                telemetry: Some(Arc::clone(&telemetry)),
            });
            let mut stop = stop_rx.clone();
            Some(tokio::spawn(async move {
                let stopped = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                if let Err(err) = crate::admin::serve(listener, state, stopped).await {
                    tracing::error!(error = %err, "admin HTTP server failed");
                }
            }))
        }
        None => None,
    };

    tracing::info!(sip = %bound.sip, http = ?bound.http, rtp = %config.rtp_ports, media_threads = media.workers(), "dialbridge is listening");
    on_ready(&bound);

    let endpoint = Endpoint::new(EndpointConfig {
        timers: config.timers,
        answer_delay: config.answer_delay,
        server_name: "dialbridge".into(),
        sip_port: bound.sip.port(),
    });
    // The SIP task gets a thread and a reactor of its own: a datagram wakes it directly,
    // not after a busy worker of the shared runtime gets round to polling for I/O, so a
    // burst of INVITEs never waits behind directory queries or the admin pages.
    let socket = socket.into_std().map_err(ServeError::SipThread)?;
    let sip_media = Arc::clone(&media);
    let media_ip = config
        .media_ip
        .or((!bind_ip.is_unspecified()).then_some(bind_ip));
    let gauges = Arc::clone(&sip_gauges);
    let admission = config.admission;
    let trusted = config.trusted_networks.clone();
    let untrusted = config.untrusted;
    let tcp_limits = config.tcp;
    match &trusted {
        None => tracing::warn!(
            "no --trusted-networks: taking SIP from anywhere; set it to your trunks' networks"
        ),
        Some(nets) => {
            tracing::info!(networks = ?nets, action = ?untrusted, "taking SIP only from trusted networks")
        }
    }
    let mut sip_stop = stop_rx.clone();
    // Dropped when the SIP thread ends for any reason, so a failed start stops the server.
    let (sip_alive, sip_ended) = tokio::sync::oneshot::channel::<()>();
    let sip_thread = std::thread::Builder::new()
        .name("sip".into())
        .spawn(move || -> Result<(), std::io::Error> {
            let _alive = sip_alive;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                // A tokio socket belongs to the reactor it is registered with: this one.
                let (tcp_tx, tcp_rx) = mpsc::channel(1024);
                let mut sip = SipDriver {
                    socket: UdpSocket::from_std(socket)?,
                    tcp_listener: tokio::net::TcpListener::from_std(tcp_listener)?,
                    tcp: crate::sip_tcp::TcpConnections::new(tcp_limits, tcp_tx),
                    tcp_rx,
                    tcp_calls: HashMap::new(),
                    control: sip_control,
                    draining: None,
                    admission: Admission::new(admission),
                    trusted,
                    untrusted,
                    endpoint,
                    media: sip_media,
                    pool,
                    bind_ip,
                    media_ip,
                    pending: HashMap::new(),
                    route_cache: HashMap::new(),
                    gauges,
                };
                let stopped = async move {
                    let _ = sip_stop.wait_for(|s| *s).await;
                };
                sip.run(hangup_rx, stopped).await;
                Ok(())
            })
        })
        .map_err(ServeError::SipThread)?;
    tokio::select! {
        _ = shutdown => {}
        _ = sip_ended => {}
    }
    let sip_result = tokio::task::spawn_blocking(move || sip_thread.join())
        .await
        .ok()
        .and_then(Result::ok);
    match sip_result {
        Some(Ok(())) => {}
        Some(Err(err)) => tracing::error!(error = %err, "the SIP task could not run"),
        None => tracing::error!("the SIP task stopped unexpectedly"),
    }

    tracing::info!("shutting down");
    media.shutdown();
    for t in threads {
        let _ = t.join();
    }
    directory_task.abort();
    if let Some(task) = http_task {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), task).await;
    }
    mailer.shutdown().await;
    directory.close().await;
    drop(stop_rx);
    Ok(())
}

/// Lets the process hold one socket per call: raise the soft descriptor limit to the hard one.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Answers the media workers' directory questions off the media path.
/// Who hears about a PIN locked until reset, and where organizers can reset it.
#[derive(Clone)]
struct LockMail {
    mailer: crate::notify::Mailer,
    admins: Vec<String>,
    self_service_url: Option<String>,
}

impl LockMail {
    /// E-mails the organizer (at their PIN address) and every configured admin.
    async fn send(&self, directory: &Directory, organizer_id: i64) {
        let org = match directory.organizer(organizer_id).await {
            Ok(org) => org,
            Err(err) => {
                tracing::error!(organizer_id, error = %err, "cannot read the organizer to tell them their PIN is locked");
                return;
            }
        };
        let failures = directory.lockout_policy().hard_lock_after;
        let send = |to: &str, (subject, text_body): (String, String)| {
            self.mailer.send(crate::notify::Mail {
                to: to.to_string(),
                subject,
                text_body,
                kind: crate::notify::MailKind::PinLocked,
                organizer_id: Some(org.id),
            });
        };
        send(
            org.mail_address(),
            crate::notify::pin_locked(&org.name, failures, self.self_service_url.as_deref(), false),
        );
        let for_admins = crate::notify::pin_locked(&org.name, failures, None, true);
        for admin in &self.admins {
            send(admin, for_admins.clone());
        }
    }
}

/// One log line per attack-looking event, always in the same shape, for fail2ban and the
/// like (`contrib/fail2ban/filter.d/dialbridge.conf` matches it):
/// `WARN dialbridge::security: security event source=IP event=NAME`.
fn security_event(source: IpAddr, event: &'static str) {
    tracing::warn!(target: "dialbridge::security", %source, %event, "security event");
}

/// What the directory task needs besides the directory and the media workers.
struct DirectoryDuties {
    cdr: crate::cdr::CdrLog,
    hangups: mpsc::UnboundedSender<CallId>,
    lock_mail: LockMail,
    guessing: crate::auth::guessing::GuessLimits,
    gauges: Arc<SipGauges>,
}

async fn serve_directory(
    directory: Directory,
    media: Arc<MediaHandle>,
    mut events: mpsc::UnboundedReceiver<ControlEvent>,
    duties: DirectoryDuties,
) {
    use crate::auth::guessing::{Caller, GuessGuard};
    let DirectoryDuties {
        mut cdr,
        hangups,
        lock_mail,
        guessing,
        gauges,
    } = duties;
    let guard = Arc::new(std::sync::Mutex::new(GuessGuard::new(guessing)));
    let mut callers: HashMap<CallId, Caller> = HashMap::new();
    while let Some(event) = events.recv().await {
        match event {
            ControlEvent::CallerKnown {
                call,
                caller,
                sip_call_id,
                source,
                transport,
            } => {
                let transport = match transport {
                    crate::sip::transport::Transport::Udp => "udp",
                    crate::sip::transport::Transport::Tcp => "tcp",
                };
                cdr.started(
                    call,
                    sip_call_id,
                    caller.from_user.clone(),
                    source,
                    transport,
                );
                callers.insert(call, caller);
            }
            ControlEvent::CallGone { call, reason } => {
                callers.remove(&call);
                cdr.ended(call, reason);
            }
            ControlEvent::Joined {
                call,
                conference_id,
                role,
            } => cdr.joined(call, conference_id, role),
            ControlEvent::ChangePin {
                call,
                organizer_id,
                pin,
            } => {
                let directory = directory.clone();
                let media = Arc::clone(&media);
                let mailer = lock_mail.mailer.clone();
                tokio::spawn(async move {
                    use crate::engine::PinChangeOutcome;
                    let actor = crate::directory::Actor {
                        who: "organizer".into(),
                        source: "phone".into(),
                    };
                    let outcome = match directory.choose_pin(&actor, organizer_id, &pin).await {
                        Ok(()) => PinChangeOutcome::Changed,
                        Err(crate::directory::DirectoryError::PinLength { expected }) => {
                            PinChangeOutcome::WrongLength(expected)
                        }
                        Err(crate::directory::DirectoryError::PinTooEasy) => {
                            PinChangeOutcome::TooEasy
                        }
                        Err(err) => {
                            tracing::error!(call = call.0, organizer_id, error = %err, "PIN change by phone failed");
                            PinChangeOutcome::Failed
                        }
                    };
                    drop(pin);
                    tracing::info!(call = call.0, organizer_id, outcome = ?outcome, "PIN change by phone");
                    media.send(call, Command::PinChangeResult { call, outcome });
                    if outcome == PinChangeOutcome::Changed
                        && let Ok(org) = directory.organizer(organizer_id).await
                    {
                        let (subject, text_body) = crate::notify::pin_changed_by_phone(&org.name);
                        mailer.send(crate::notify::Mail {
                            to: org.mail_address().to_string(),
                            subject,
                            text_body,
                            kind: crate::notify::MailKind::Other,
                            organizer_id: Some(org.id),
                        });
                    }
                });
            }
            ControlEvent::LookupConference { call, digits } => {
                let caller = callers.get(&call).cloned();
                let cut_off = caller.as_ref().and_then(|c| {
                    guard
                        .lock()
                        .ok()
                        .and_then(|mut g| g.gate(c, Instant::now()))
                });
                if let (Some(why), Some(c)) = (cut_off, &caller) {
                    tracing::warn!(
                        call = call.0,
                        source = %c.source,
                        from = c.from_user.as_deref().unwrap_or(""),
                        limit = ?why,
                        "too many unknown conference IDs lately: caller cut off"
                    );
                    gauges.guessers_cut_off.fetch_add(1, Ordering::Relaxed);
                    security_event(c.source, "conference-id-guessing");
                    media.send(call, Command::ConferenceRefused { call });
                    continue;
                }
                let directory = directory.clone();
                let media = Arc::clone(&media);
                let guard = Arc::clone(&guard);
                tokio::spawn(async move {
                    let conference = match directory.lookup_conference(&digits).await {
                        Ok(found) => found,
                        Err(err) => {
                            tracing::error!(call = call.0, error = %err, "conference lookup failed");
                            None
                        }
                    };
                    if conference.is_none()
                        && let Some(c) = &caller
                        && let Ok(mut g) = guard.lock()
                    {
                        g.on_unknown(c, Instant::now());
                    }
                    media.send(call, Command::ConferenceFound { call, conference });
                });
            }
            ControlEvent::VerifyPin {
                call,
                conference,
                pin,
            } => {
                let directory = directory.clone();
                let media = Arc::clone(&media);
                let lock_mail = lock_mail.clone();
                let source = callers.get(&call).map(|c| c.source);
                let gauges = Arc::clone(&gauges);
                tokio::spawn(async move {
                    let check = match directory.check_pin(conference.organizer_id, &pin, "").await {
                        Ok(check) => check,
                        Err(err) => {
                            tracing::error!(call = call.0, error = %err, "PIN check failed");
                            crate::directory::PinCheck::Refused
                        }
                    };
                    drop(pin);
                    let ok = check.accepted();
                    tracing::info!(call = call.0, conference = %conference.conference_id, accepted = ok, "organizer PIN checked");
                    media.send(call, Command::PinChecked { call, ok });
                    let counter = match check {
                        crate::directory::PinCheck::Accepted => &gauges.pins_accepted,
                        crate::directory::PinCheck::Refused => &gauges.pins_refused,
                        _ => &gauges.pins_locked,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    if let (false, Some(ip)) = (ok, source) {
                        security_event(ip, "wrong-pin");
                    }
                    match check {
                        crate::directory::PinCheck::RefusedAndLocked { until } => {
                            tracing::warn!(
                                organizer_id = conference.organizer_id,
                                locked_for_s = until - crate::directory::system_unix_time(),
                                "too many wrong PINs: PIN locked for a while"
                            );
                        }
                        crate::directory::PinCheck::RefusedAndLockedUntilReset => {
                            tracing::warn!(
                                organizer_id = conference.organizer_id,
                                "too many wrong PINs: PIN locked until reset"
                            );
                            lock_mail.send(&directory, conference.organizer_id).await;
                        }
                        _ => {}
                    }
                });
            }
            ControlEvent::LobbyWaiting {
                conference,
                callers,
                waited,
            } => {
                let directory = directory.clone();
                let mailer = lock_mail.mailer.clone();
                let gauges = Arc::clone(&gauges);
                tokio::spawn(async move {
                    let org = match directory.organizer(conference.organizer_id).await {
                        Ok(org) => org,
                        Err(err) => {
                            tracing::error!(organizer_id = conference.organizer_id, error = %err, "cannot read the organizer to tell them callers are waiting");
                            return;
                        }
                    };
                    let (subject, text_body) = crate::notify::lobby_waiting(
                        &org.name,
                        &conference.conference_id,
                        callers,
                        waited,
                    );
                    mailer.send(crate::notify::Mail {
                        to: org.mail_address().to_string(),
                        subject,
                        text_body,
                        kind: crate::notify::MailKind::LobbyWaiting,
                        organizer_id: Some(org.id),
                    });
                    gauges.lobby_mails.fetch_add(1, Ordering::Relaxed);
                });
            }
            ControlEvent::Hangup { call, reason } => {
                tracing::debug!(call = call.0, ?reason, "media asks for hangup");
                cdr.bridge_hangup(call, reason);
                let _ = hangups.send(call);
            }
        }
    }
}

/// Receive buffer for the SIP socket: the default (~200 KiB, about 100 datagrams) overflows
/// when a burst of INVITEs meets a few milliseconds without CPU, and every lost request
/// costs the caller a 500 ms retransmission.
const SIP_RECV_BUFFER: usize = 8 << 20;

/// Raises a socket's receive buffer as far as allowed (SO_RCVBUFFORCE when privileged,
/// else up to net.core.rmem_max) and returns the size the kernel reports.
fn grow_recv_buffer(socket: &UdpSocket, bytes: usize) -> usize {
    use std::os::fd::AsRawFd;
    let sock = socket2::SockRef::from(socket);
    let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the given length.
    let forced = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            std::ptr::from_ref(&want).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    } == 0;
    if !forced {
        let _ = sock.set_recv_buffer_size(bytes);
    }
    sock.recv_buffer_size().unwrap_or(0)
}

struct SipDriver {
    socket: UdpSocket,
    tcp_listener: tokio::net::TcpListener,
    tcp: crate::sip_tcp::TcpConnections,
    tcp_rx: mpsc::Receiver<crate::sip_tcp::TcpInput>,
    /// Calls whose signalling came over TCP, and their connection.
    tcp_calls: HashMap<CallId, SocketAddr>,
    /// To the directory task: who is calling (for the guessing limits).
    control: mpsc::UnboundedSender<ControlEvent>,
    /// Shutting down: new calls get 503 and the SIP task ends at this instant at the latest.
    draining: Option<Instant>,
    admission: Admission,
    trusted: Option<Vec<ipnet::IpNet>>,
    untrusted: crate::config::UntrustedAction,
    endpoint: Endpoint,
    media: Arc<MediaHandle>,
    pool: Arc<PortPool>,
    bind_ip: IpAddr,
    media_ip: Option<IpAddr>,
    /// Media sockets of answered calls whose offer/answer has not completed yet.
    pending: HashMap<CallId, (MediaTransport, String)>,
    route_cache: HashMap<IpAddr, IpAddr>,
    gauges: Arc<SipGauges>,
}

impl SipDriver {
    async fn run(
        &mut self,
        mut hangups: mpsc::UnboundedReceiver<CallId>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut buf = vec![0u8; MAX_SIP_DATAGRAM];
        tokio::pin!(shutdown);
        loop {
            if let Some(limit) = self.draining {
                let calls = self.endpoint.call_count();
                let byes = self.endpoint.requests_in_flight();
                if calls == 0 && byes == 0 {
                    tracing::info!("every caller has been said goodbye to");
                    break;
                }
                if Instant::now() >= limit {
                    tracing::warn!(calls, byes, "shutdown: time is up, hanging up the rest");
                    break;
                }
            }
            let deadline = match (self.endpoint.poll_timeout(), self.draining) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let woke;
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    woke = Instant::now();
                    if let Ok((n, source)) = received {
                        let now = woke;
                        self.take_datagram(now, source, buf.get(..n).unwrap_or_default());
                        for _ in 1..RECV_BATCH {
                            match self.socket.try_recv_from(&mut buf) {
                                Ok((n, source)) => self.take_datagram(now, source, buf.get(..n).unwrap_or_default()),
                                Err(_) => break,
                            }
                        }
                    }
                }
                Some(call) = hangups.recv() => {
                    woke = Instant::now();
                    self.endpoint.hangup(woke, call);
                }
                accepted = self.tcp_listener.accept() => {
                    woke = Instant::now();
                    if let Ok((stream, peer)) = accepted {
                        self.take_connection(stream, peer);
                    }
                }
                Some(input) = self.tcp_rx.recv() => {
                    woke = Instant::now();
                    self.take_tcp(woke, input).await;
                }
                _ = sleep => {
                    woke = Instant::now();
                    self.endpoint.handle_timeout(woke);
                }
                _ = &mut shutdown, if self.draining.is_none() => {
                    woke = Instant::now();
                    self.draining = Some(woke + DRAIN_LIMIT);
                    tracing::info!(calls = self.endpoint.call_count(), "shutting down: new calls get 503, callers hear goodbye");
                    self.media.goodbye_all();
                }
            }
            self.process_events();
            self.flush().await;
            self.gauges
                .turn
                .observe_us(woke.elapsed().as_micros().min(u128::from(u64::MAX)) as u64);
            let stats = self.endpoint.stats();
            let g = &self.gauges;
            g.datagrams.store(stats.datagrams, Ordering::Relaxed);
            g.garbage.store(stats.garbage, Ordering::Relaxed);
            g.bad_requests.store(stats.bad_requests, Ordering::Relaxed);
            g.retransmitted_requests
                .store(stats.retransmitted_requests, Ordering::Relaxed);
        }
        // Say goodbye properly to everyone still connected.
        let now = Instant::now();
        self.endpoint.hangup_all(now);
        self.process_events();
        self.flush().await;
        self.tcp.close_all();
        // Let the connection tasks write what is queued (the BYEs) before the runtime ends.
        let closing = async {
            while !self.tcp.is_empty() {
                match self.tcp_rx.recv().await {
                    Some(crate::sip_tcp::TcpInput::Closed { peer, .. }) => self.tcp.forget(peer),
                    Some(_) => {}
                    None => break,
                }
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_millis(500), closing).await;
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted
            .as_ref()
            .is_none_or(|nets| nets.iter().any(|n| n.contains(&ip)))
    }

    /// One datagram in: dropped when untrusted and so configured, else to the endpoint.
    fn take_datagram(&mut self, now: Instant, source: SocketAddr, bytes: &[u8]) {
        if self.untrusted == crate::config::UntrustedAction::Drop && !self.is_trusted(source.ip()) {
            self.gauges
                .untrusted_dropped
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.endpoint.handle_datagram(now, source, bytes);
    }

    /// A new TCP connection: refused when untrusted (with `--untrusted drop`) or past the
    /// connection limits, else given its own task.
    fn take_connection(&mut self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        if self.untrusted == crate::config::UntrustedAction::Drop && !self.is_trusted(peer.ip()) {
            self.gauges
                .untrusted_dropped
                .fetch_add(1, Ordering::Relaxed);
            self.gauges.tcp_refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.tcp.accept(stream, peer) {
            Ok(()) => {
                tracing::debug!(%peer, "SIP TCP connection");
            }
            Err(why) => {
                tracing::info!(%peer, ?why, "SIP TCP connection refused");
                security_event(peer.ip(), "tcp-connection-limit");
                self.gauges.tcp_refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.gauges
            .tcp_connections
            .store(self.tcp.len() as u64, Ordering::Relaxed);
    }

    /// What a TCP connection task reported.
    async fn take_tcp(&mut self, now: Instant, input: crate::sip_tcp::TcpInput) {
        use crate::sip::stream::StreamItem;
        use crate::sip::transport::Peer;
        use crate::sip_tcp::TcpInput;
        match input {
            TcpInput::Item { peer, item } => match item {
                StreamItem::Message(msg) => self.endpoint.handle_message(now, Peer::tcp(peer), msg),
                StreamItem::Broken { bytes, error } => {
                    tracing::debug!(%peer, %error, "SIP TCP stream cannot be framed: answering and closing");
                    self.endpoint
                        .handle_unparseable(now, Peer::tcp(peer), &bytes, error);
                    self.flush().await;
                    self.tcp.close(peer);
                }
                StreamItem::Invalid { bytes, error } => {
                    self.endpoint
                        .handle_unparseable(now, Peer::tcp(peer), &bytes, error);
                }
                StreamItem::Ping => {}
            },
            TcpInput::Closed { peer, why } => {
                tracing::debug!(%peer, why = why.as_str(), "SIP TCP connection closed");
                self.tcp.forget(peer);
                let slot = crate::sip_tcp::CloseReason::ALL
                    .iter()
                    .position(|r| *r == why);
                if let Some(c) = slot.and_then(|i| self.gauges.tcp_closed.get(i)) {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                self.gauges
                    .tcp_connections
                    .store(self.tcp.len() as u64, Ordering::Relaxed);
            }
        }
    }

    async fn flush(&mut self) {
        while let Some(t) = self.endpoint.poll_transmit() {
            match t.transport {
                crate::sip::transport::Transport::Udp => {
                    if let Err(err) = self.socket.send_to(&t.bytes, t.dest).await {
                        tracing::debug!(dest = %t.dest, error = %err, "SIP send failed");
                    }
                }
                crate::sip::transport::Transport::Tcp => {
                    // RFC 3261 §18.2.2 would have us reconnect for a response whose
                    // connection closed; a caller that hung up its connection loses it.
                    if !self.tcp.send(t.dest, t.bytes) {
                        tracing::debug!(dest = %t.dest, "SIP TCP connection gone: message dropped");
                    }
                }
            }
        }
    }

    fn local_ip_towards(&mut self, peer: IpAddr) -> IpAddr {
        if let Some(ip) = self.media_ip {
            return ip;
        }
        if let Some(ip) = self.route_cache.get(&peer) {
            return *ip;
        }
        // Connecting a UDP socket sends nothing; it only asks the kernel for the route.
        let unspecified: IpAddr = if peer.is_ipv4() {
            IpAddr::from([0, 0, 0, 0])
        } else {
            IpAddr::from([0u16; 8])
        };
        let ip = std::net::UdpSocket::bind((unspecified, 0))
            .and_then(|s| s.connect((peer, 9)).map(|_| s))
            .and_then(|s| s.local_addr())
            .map(|a| a.ip())
            .unwrap_or(peer);
        if self.route_cache.len() > 4096 {
            self.route_cache.clear();
        }
        self.route_cache.insert(peer, ip);
        ip
    }

    fn process_events(&mut self) {
        while let Some(event) = self.endpoint.poll_event() {
            let now = Instant::now();
            match event {
                Event::IncomingCall {
                    call,
                    sip_call_id,
                    source,
                    transport: sip_transport,
                    from_user,
                } => {
                    let _span = tracing::info_span!("call", call_id = %sip_call_id, call = call.0)
                        .entered();
                    if self.draining.is_some() {
                        tracing::info!(%source, "shutting down: new call refused with 503");
                        self.endpoint
                            .reject(now, call, 503, Some(DRAIN_RETRY_AFTER_S));
                        continue;
                    }
                    if !self.is_trusted(source.ip()) {
                        tracing::info!(%source, "INVITE from outside the trusted networks: 403");
                        security_event(source.ip(), "untrusted-invite");
                        self.endpoint.reject(now, call, 403, None);
                        self.gauges
                            .calls_refused_untrusted
                            .fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let active = self.gauges.calls_active.load(Ordering::Relaxed);
                    let active = usize::try_from(active).unwrap_or(usize::MAX);
                    match self.admission.admit(now, active) {
                        Verdict::Admit => {}
                        Verdict::TooManyCalls { retry_after_s } => {
                            tracing::debug!(%source, active, "too many calls: refusing with 503");
                            self.endpoint.reject(now, call, 503, Some(retry_after_s));
                            self.gauges
                                .calls_refused_too_many
                                .fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Verdict::TooFast { retry_after_s } => {
                            tracing::debug!(%source, "too many new calls per second: refusing with 503");
                            self.endpoint.reject(now, call, 503, Some(retry_after_s));
                            self.gauges
                                .calls_refused_too_fast
                                .fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    }
                    let bound = self
                        .pool
                        .bind(self.bind_ip)
                        .map_err(|e| e.to_string())
                        .and_then(|(sock, lease)| {
                            let port = lease.port();
                            MediaTransport::new(sock, Some(lease))
                                .map(|t| (t, port))
                                .map_err(|e| e.to_string())
                        });
                    match bound {
                        Ok((transport, port)) => {
                            let ip = self.local_ip_towards(source.ip());
                            let local = LocalMedia {
                                ip,
                                port,
                                session_id: rand::random::<u32>().into(),
                                session_version: 1,
                            };
                            tracing::info!(%source, transport = %sip_transport, from = from_user.as_deref().unwrap_or(""), rtp_port = local.port, "incoming call");
                            self.pending.insert(call, (transport, sip_call_id.clone()));
                            let caller = crate::auth::guessing::Caller {
                                source: source.ip(),
                                from_user: from_user.clone(),
                                trusted: self.trusted.is_some() && self.is_trusted(source.ip()),
                            };
                            let _ = self.control.send(ControlEvent::CallerKnown {
                                call,
                                caller,
                                sip_call_id: sip_call_id.clone(),
                                source,
                                transport: sip_transport,
                            });
                            if sip_transport == crate::sip::transport::Transport::Tcp {
                                self.tcp.call_on(source, true);
                                self.tcp_calls.insert(call, source);
                            }
                            self.endpoint.accept(now, call, local);
                            self.gauges.calls_answered.fetch_add(1, Ordering::Relaxed);
                            self.gauges.calls_active.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(err) => {
                            tracing::warn!(%source, error = %err, "no media port: refusing call with 503");
                            self.endpoint.reject(now, call, 503, Some(5));
                            self.gauges
                                .calls_refused_no_port
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Event::MediaUpdate { call, params } => {
                    if let Some((transport, sip_call_id)) = self.pending.remove(&call) {
                        self.media.start_call(call, transport, sip_call_id, params);
                    } else {
                        self.media.send(call, Command::Update { call, params });
                    }
                }
                Event::Dtmf { call, digit } => {
                    self.media.send(call, Command::Digit { call, digit });
                }
                Event::CallEnded { call, reason } => {
                    tracing::info!(call = call.0, reason = reason.as_str(), "call ended");
                    let _ = self.gauges.calls_active.fetch_update(
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                        |v| v.checked_sub(1),
                    );
                    let slot = match reason {
                        crate::call::EndReason::RemoteBye => 0,
                        crate::call::EndReason::Cancelled => 1,
                        crate::call::EndReason::AckTimeout => 2,
                        crate::call::EndReason::LocalHangup => 3,
                        crate::call::EndReason::Rejected => 4,
                    };
                    if let Some(c) = self.gauges.calls_ended.get(slot) {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                    if self.pending.remove(&call).is_none() {
                        self.media.send(call, Command::Stop { call });
                    }
                    if let Some(peer) = self.tcp_calls.remove(&call) {
                        self.tcp.call_on(peer, false);
                    }
                    let _ = self.control.send(ControlEvent::CallGone { call, reason });
                }
            }
        }
    }
}
