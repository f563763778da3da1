//! What `/metrics` shows: the SIP task's and the media workers' live figures, and their
//! Prometheus rendering.

use std::sync::Arc;

use crate::engine::WorkerStats;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The webhook senders' figures for `/metrics` (zeros when no webhook is configured).
#[derive(Debug, Default)]
pub struct WebhookGauges {
    /// Deliveries (event, URL) stored and not yet sent or dropped.
    pub queued: AtomicU64,
    /// Deliveries a receiver answered 2xx.
    pub delivered: AtomicU64,
    /// Failed attempts (error, timeout, non-2xx); each is retried.
    pub failed: AtomicU64,
    /// Deliveries given up as older than `--webhook-max-age`.
    pub dropped: AtomicU64,
    /// Meeting events lost before they were stored: the events task's queue was full.
    pub events_lost: AtomicU64,
}

/// The cluster driver's figures for `/metrics` (zeros on a single node).
#[derive(Debug, Default)]
pub struct ClusterGauges {
    /// Meeting leases this node holds now.
    pub leases_held: AtomicU64,
    /// Look-ups that made this node a meeting's owner (or found it already was).
    pub claims_won: AtomicU64,
    /// Look-ups that found another node owning the meeting.
    pub claims_elsewhere: AtomicU64,
    /// Renewals the database answered.
    pub renewals: AtomicU64,
    /// Leases another node took after ours ran out.
    pub leases_lost: AtomicU64,
    /// Leases given up because their meeting ended here.
    pub released: AtomicU64,
    /// Cluster queries (heartbeat, claim, renewal, release) that failed.
    pub database_errors: AtomicU64,
    /// Callers the other live nodes held at their last heartbeats (cluster admission).
    pub callers_elsewhere: AtomicU64,
    /// Live nodes taking new calls, this one included (0 until the first reading).
    pub sharing_nodes: AtomicU64,
}

impl ClusterGauges {
    /// The cluster's figures for admitting a new caller answered here, with `here` callers
    /// answered by this node (None before the first reading of the other nodes).
    pub fn load(&self, here: u64) -> Option<crate::sip::admission::ClusterLoad> {
        let sharing = self.sharing_nodes.load(Ordering::Relaxed);
        (sharing > 0).then(|| crate::sip::admission::ClusterLoad {
            callers: usize::try_from(
                here.saturating_add(self.callers_elsewhere.load(Ordering::Relaxed)),
            )
            .unwrap_or(usize::MAX),
            sharing_nodes: usize::try_from(sharing).unwrap_or(usize::MAX),
        })
    }
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
    /// Calls refused: too many callers across the cluster (503).
    pub calls_refused_cluster_full: AtomicU64,
    /// Calls refused: this node's share of the cluster's new calls per second used up (503).
    pub calls_refused_cluster_too_fast: AtomicU64,
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
    /// Relay legs from other nodes let in (their signature checked).
    pub relay_legs_accepted: AtomicU64,
    /// Relay legs from other nodes in progress (their callers count where they were answered).
    pub relay_legs_active: AtomicU64,
    /// INVITEs claiming to be relay legs refused (no secret here, bad or old signature).
    pub relay_legs_refused: AtomicU64,
    /// Whether the node drains (SIGTERM with `--drain-timeout`): no new calls.
    pub draining: std::sync::atomic::AtomicBool,
    /// SIP TCP connections open.
    pub tcp_connections: AtomicU64,
    /// SIP TCP and TLS connections refused at accept (limits, untrusted source).
    pub tcp_refused: AtomicU64,
    /// SIP TLS connections open (handshake done or under way).
    pub tls_connections: AtomicU64,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures: AtomicU64,
    /// SIP TCP connections closed, by reason (peer, idle, slow sender, stuck, malformed, local).
    pub tcp_closed: [AtomicU64; 6],
    /// Calls ended, by reason.
    pub calls_ended: [AtomicU64; 5],
    /// One entry per address of record registered at a provider (`--register`), set at start.
    pub registrations: std::sync::OnceLock<Vec<RegistrationGauge>>,
    /// Time the SIP task spends on one wake-up (a batch of datagrams or timers: parsing,
    /// transactions, sending the replies): a slow turn delays every request behind it.
    pub turn: crate::metrics::Histogram,
}

impl SipGauges {
    /// Callers this node answered from outside: its calls less the relay legs from other
    /// nodes (those callers count on the node that answered them).
    pub fn callers_answered_here(&self) -> u64 {
        self.calls_active
            .load(Ordering::Relaxed)
            .saturating_sub(self.relay_legs_active.load(Ordering::Relaxed))
    }
}

/// Whether one address of record is registered, for `/metrics`.
#[derive(Debug)]
pub struct RegistrationGauge {
    /// The address of record, as configured.
    pub aor: String,
    /// 1 while the registrar holds our binding, else 0.
    pub up: AtomicU64,
    /// Attempts that failed (refused, timed out, connection failed).
    pub failures: AtomicU64,
}

impl RegistrationGauge {
    /// A gauge for `aor`, down and without failures.
    pub fn new(aor: &str) -> Self {
        RegistrationGauge {
            aor: aor.to_string(),
            up: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }
}

/// A Prometheus label value: backslash, quote and line breaks escaped.
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// What `/metrics` reads.
pub struct Telemetry {
    /// The media workers' gauges, one per worker.
    pub media: Vec<Arc<WorkerGauges>>,
    /// The SIP task's gauges.
    pub sip: Arc<SipGauges>,
    /// The webhook senders' figures.
    pub webhooks: Arc<WebhookGauges>,
    /// The cluster driver's figures.
    pub cluster: Arc<ClusterGauges>,
}

impl crate::metrics::Exposition for Telemetry {
    fn render(&self) -> String {
        use crate::metrics::{render_histogram, render_value};
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let sip = &self.sip;
        let hooks = &self.webhooks;
        let cluster = &self.cluster;
        render_value(
            &mut out,
            "dialbridge_cluster_leases_held",
            "gauge",
            "meeting leases this node holds (meetings whose lobby and mix live here)",
            &[("", load(&cluster.leases_held))],
        );
        render_value(
            &mut out,
            "dialbridge_cluster_claims_total",
            "counter",
            "conference look-ups by who owned the meeting afterwards (this node or another)",
            &[
                ("owner=\"here\"", load(&cluster.claims_won)),
                ("owner=\"elsewhere\"", load(&cluster.claims_elsewhere)),
            ],
        );
        render_value(
            &mut out,
            "dialbridge_cluster_lease_events_total",
            "counter",
            "meeting lease renewals answered, leases lost to another node, leases released",
            &[
                ("event=\"renewed\"", load(&cluster.renewals)),
                ("event=\"lost\"", load(&cluster.leases_lost)),
                ("event=\"released\"", load(&cluster.released)),
            ],
        );
        render_value(
            &mut out,
            "dialbridge_cluster_relay_legs_in_total",
            "counter",
            "relay legs from other nodes: let in, or refused (no cluster secret here, bad or old signature)",
            &[
                ("result=\"accepted\"", load(&self.sip.relay_legs_accepted)),
                ("result=\"refused\"", load(&self.sip.relay_legs_refused)),
            ],
        );
        render_value(
            &mut out,
            "dialbridge_cluster_callers_elsewhere",
            "gauge",
            "callers the other live nodes held at their last heartbeats",
            &[("", load(&cluster.callers_elsewhere))],
        );
        render_value(
            &mut out,
            "dialbridge_cluster_database_errors_total",
            "counter",
            "cluster queries (heartbeat, claim, renewal, release) that failed",
            &[("", load(&cluster.database_errors))],
        );
        render_value(
            &mut out,
            "dialbridge_webhook_events_queued",
            "gauge",
            "webhook deliveries (event and URL) stored and not yet sent",
            &[("", load(&hooks.queued))],
        );
        render_value(
            &mut out,
            "dialbridge_webhook_deliveries_total",
            "counter",
            "webhook delivery attempts by result (failed ones are retried; dropped: too old)",
            &[
                ("result=\"delivered\"", load(&hooks.delivered)),
                ("result=\"failed\"", load(&hooks.failed)),
                ("result=\"dropped\"", load(&hooks.dropped)),
            ],
        );
        render_value(
            &mut out,
            "dialbridge_events_lost_total",
            "counter",
            "meeting events lost before they were stored or streamed (the events task was behind)",
            &[("", load(&hooks.events_lost))],
        );
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
                (
                    "reason=\"cluster_full\"",
                    load(&sip.calls_refused_cluster_full),
                ),
                (
                    "reason=\"cluster_too_fast\"",
                    load(&sip.calls_refused_cluster_too_fast),
                ),
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
            "SIP TCP and TLS connections refused (connection limits, untrusted source)",
            &[("", load(&sip.tcp_refused))],
        );
        render_value(
            &mut out,
            "dialbridge_sip_tls_connections",
            "gauge",
            "SIP TLS connections open",
            &[("", load(&sip.tls_connections))],
        );
        render_value(
            &mut out,
            "dialbridge_sip_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed or timed out (no or a refused client certificate, cleartext, no common version)",
            &[("", load(&sip.tls_handshake_failures))],
        );
        let closed: Vec<(String, u64)> = crate::sip::transport::CloseReason::ALL
            .iter()
            .zip(sip.tcp_closed.iter())
            .map(|(r, v)| (format!("reason=\"{}\"", r.as_str()), load(v)))
            .collect();
        let closed_ref: Vec<(&str, u64)> = closed.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        render_value(
            &mut out,
            "dialbridge_sip_tcp_closed_total",
            "counter",
            "SIP TCP and TLS connections closed, by reason",
            &closed_ref,
        );
        let registrations = sip.registrations.get().map_or(&[][..], Vec::as_slice);
        let aors: Vec<String> = registrations
            .iter()
            .map(|r| format!("aor=\"{}\"", label_value(&r.aor)))
            .collect();
        let per_aor = |f: &dyn Fn(&RegistrationGauge) -> u64| -> Vec<(&str, u64)> {
            registrations
                .iter()
                .zip(&aors)
                .map(|(r, l)| (l.as_str(), f(r)))
                .collect()
        };
        render_value(
            &mut out,
            "dialbridge_registration_up",
            "gauge",
            "1 while the provider's registrar holds the bridge's binding for the address of record (--register), else 0",
            &per_aor(&|r| load(&r.up)),
        );
        render_value(
            &mut out,
            "dialbridge_registration_failures_total",
            "counter",
            "registration attempts that failed (refused, wrong credentials, timed out, connection failed)",
            &per_aor(&|r| load(&r.failures)),
        );
        let gauges = &self.media;
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
        let stats: Vec<WorkerStats> = gauges.iter().map(|g| g.stats()).collect();
        crate::engine::render_stats(&mut out, &stats);
        render_value(
            &mut out,
            "dialbridge_media_calls",
            "gauge",
            "calls per media worker",
            &per(&|g| g.calls.load(Ordering::Relaxed) as u64),
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
            "dialbridge_rtp_unknown_source_total",
            "counter",
            "RTP datagrams on a media thread's shared socket (--rtp-sockets per-thread) from an address no call has in its SDP, dropped",
            &per(&|g| load(&g.rtp_unknown_source)),
        );
        render_value(
            &mut out,
            "dialbridge_rtp_send_dropped_total",
            "counter",
            "RTP datagrams the kernel refused from a tick's batch on a shared socket (a full send buffer)",
            &per(&|g| load(&g.rtp_send_dropped)),
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
            "how late each slice of a 20 ms media tick started (--media-slices per tick)",
            &per_worker(|g| &g.tick_lateness),
        );
        render_histogram(
            &mut out,
            "dialbridge_media_send_lateness_seconds",
            "how late the last frame of each slice of a 20 ms tick was sent (the worst call of that slice)",
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

/// Live figures of one worker, readable from any thread.
pub struct WorkerGauges {
    /// The worker's own counters as of its last tick (one copy, published whole).
    stats: std::sync::Mutex<WorkerStats>,
    /// Calls on the worker.
    pub calls: AtomicUsize,
    /// Ticks run.
    pub ticks: AtomicU64,
    /// Largest lateness of a tick so far, in microseconds.
    pub max_tick_lateness_us: AtomicU64,
    /// How late each tick started against the 20 ms media clock.
    pub tick_lateness: crate::metrics::Histogram,
    /// How late the last frame of each tick left, against the 20 ms clock: the worst
    /// send lateness of any call in that tick.
    pub send_lateness: crate::metrics::Histogram,
    /// Last lobby move: callers moved.
    pub last_move_callers: AtomicU64,
    /// Last lobby move: µs from the PIN's `#` to the start of the tick that sent the
    /// moved callers their first meeting frame (0 for an API start).
    pub last_move_pin_to_tick_us: AtomicU64,
    /// Last lobby move: µs that tick took to send every frame (first to last caller).
    pub last_move_tick_us: AtomicU64,
    /// RTP on the worker's shared socket from an address no call has (`--rtp-sockets
    /// per-thread`): a caller behind NAT, or stray packets.
    pub rtp_unknown_source: AtomicU64,
    /// Datagrams the kernel refused from a tick's `sendmmsg` batch (a full socket buffer).
    pub rtp_send_dropped: AtomicU64,
}

impl Default for WorkerGauges {
    fn default() -> Self {
        WorkerGauges {
            stats: std::sync::Mutex::new(WorkerStats::default()),
            calls: AtomicUsize::new(0),
            ticks: AtomicU64::new(0),
            max_tick_lateness_us: AtomicU64::new(0),
            tick_lateness: crate::metrics::Histogram::new(crate::metrics::LATENESS_BOUNDS_US),
            send_lateness: crate::metrics::Histogram::new(crate::metrics::LATENESS_BOUNDS_US),
            last_move_callers: AtomicU64::new(0),
            last_move_pin_to_tick_us: AtomicU64::new(0),
            last_move_tick_us: AtomicU64::new(0),
            rtp_unknown_source: AtomicU64::new(0),
            rtp_send_dropped: AtomicU64::new(0),
        }
    }
}

impl WorkerGauges {
    /// Publishes the worker's counters (once per tick).
    pub fn publish(&self, stats: WorkerStats) {
        // A poisoned lock only means a reader panicked: the data is plain numbers.
        let mut slot = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        *slot = stats;
    }

    /// The worker's counters as last published.
    pub fn stats(&self) -> WorkerStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}
