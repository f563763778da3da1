//! One shard: a thread with its own SIP socket, one RTP socket per call (the bridge latches
//! to where a call's RTP comes from), and one mio loop driving them all. Calls start on the
//! absolute schedule; RTP leaves on a 1 ms slot clock with each call in one of 20 slots, so
//! a shard's packets spread over the 20 ms instead of leaving in one burst, and a late
//! shard skips ahead (counting it) instead of catching up in a burst as tokio's default
//! `Interval` would; every SIP timer (RFC 3261 A, B, E, F) is a deadline in one heap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dialbridge::ivr::assets::Frame;
use dialbridge::media::srtp::{MasterKey, SrtpKeys, SrtpSession, SrtpSuite};
use dialbridge::sip::message::Method;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use crate::link::{Link, LinkError, Transport};
use crate::media::{self, FRAME_SAMPLES, Heard, PACKETS_PER_KEY, Recognizer, Stream};
use crate::plan::{CallSpec, Conference, Role};
use crate::sip::{self, Dialog, Incoming, Response};
use crate::stats::{Stats, thread_cpu_seconds};

/// How the keys reach the bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DigitMode {
    /// RFC 4733 telephone-events in the call's own RTP stream.
    Rfc4733,
    /// One SIP INFO (`application/dtmf-relay`) per key.
    Info,
}

/// What every shard of a run shares.
pub struct Shared {
    /// The bridge's SIP address.
    pub target: SocketAddr,
    /// Our address for SIP and for the RTP of unchecked calls (of every call without sampling).
    pub local_ip: IpAddr,
    /// The RTP address of checked calls when sampling (`--sample-ip`).
    pub sample_ip: Option<IpAddr>,
    /// How keys are sent.
    pub digits: DigitMode,
    /// Time in the lobby (attendees) or the meeting (after moving in; organizers after the PIN).
    pub hold: Duration,
    /// Send a tone every 20 ms, as a talking phone does.
    pub audio: bool,
    /// The run's start: call `i` should start at `t0 + at`.
    pub t0: Instant,
    /// SIP timer T1.
    pub t1: Duration,
    /// How long a meeting attendee may wait for the meeting before the call counts as failed.
    pub lobby_limit: Duration,
    /// The conferences the plan refers to.
    pub conferences: Vec<Conference>,
    /// Recognises the lobby audio.
    pub recognizer: Arc<Recognizer>,
    /// Per meeting: nanoseconds after `t0` at which the organizer's PIN `#` left, plus one
    /// (0: not yet). Shards read each other's organizers through it.
    pub pins: Vec<AtomicU64>,
    /// The tone `--audio` callers send.
    pub tone: Vec<Frame>,
    /// Distinguishes this run's Call-IDs and branches from an earlier run's.
    pub run_id: u64,
    /// Offer SRTP (`RTP/SAVP` with an SDES key) on every call.
    pub srtp: bool,
    /// The SIP transport.
    pub transport: Transport,
    /// TLS client configuration (`--transport tls`).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Shared {
    /// When the organizer of `meeting` sent its PIN's `#`, if it has.
    fn pin_sent(&self, meeting: Option<usize>) -> Option<Instant> {
        let ns = meeting
            .and_then(|m| self.pins.get(m))
            .map_or(0, |p| p.load(Ordering::Acquire));
        ns.checked_sub(1)
            .map(|ns| self.t0 + Duration::from_nanos(ns))
    }
}

/// The SIP timer T2 (RFC 3261): the cap of non-INVITE retransmission intervals.
const T2: Duration = Duration::from_secs(4);
/// Media slots per 20 ms frame.
const SLOTS: u64 = 20;
const SIP: Token = Token(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Inviting,
    Keys,
    Waiting,
    Hanging,
}

impl Phase {
    /// Whether a call in this phase still has RTP of its own to send each frame: its keys
    /// (RFC 4733), or its voice with `--audio` until it hangs up. A held caller without
    /// audio sends nothing more, as a phone with silence suppression does, so it leaves the
    /// frame schedule and costs the generator nothing per frame.
    fn sends_frames(self, audio: bool) -> bool {
        match self {
            Phase::Keys => true,
            Phase::Waiting => audio,
            Phase::Inviting | Phase::Hanging => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    InviteRetransmit,
    InviteTimeout,
    Retransmit(u32),
    Timeout(u32),
    NextKey,
    HangUp,
    LobbyLimit,
    /// An unchecked meeting attendee (its audio may be dropped, so it cannot hear the move)
    /// looks whether its organizer's PIN went out.
    AwaitPin,
}

/// How often an unchecked meeting attendee looks for its organizer's PIN.
const PIN_POLL: Duration = Duration::from_millis(100);

/// A non-INVITE transaction in flight (INFO or BYE).
struct Pending {
    bytes: Vec<u8>,
    method: Method,
    cseq: u32,
    interval: Duration,
}

struct Call {
    spec: CallSpec,
    scheduled: Instant,
    sent: Instant,
    phase: Phase,
    dialog: Dialog,
    first_uri: String,
    invite: Vec<u8>,
    invite_branch: String,
    invite_interval: Duration,
    provisional: bool,
    ack: Vec<u8>,
    pending: Option<Pending>,
    branches: u32,
    rtp: UdpSocket,
    remote_rtp: Option<SocketAddr>,
    /// The answering node: the IP address of its SDP answer.
    node: Option<IpAddr>,
    stream: Stream,
    keys: Vec<u8>,
    key_pos: usize,
    key_part: u8,
    key_ts: u32,
    keys_done: Option<Instant>,
    lobby_at: Option<Instant>,
    heard_hold: bool,
    in_meeting: bool,
    failure: Option<&'static str>,
    tone_pos: usize,
    /// Our SRTP key, offered in the INVITE (`--srtp`).
    srtp_key: Option<MasterKey>,
    /// The call's SRTP contexts once the bridge answered with its key.
    srtp: Option<Box<SrtpSession>>,
}

impl Call {
    fn branch(&mut self, run: u64) -> String {
        self.branches += 1;
        format!("z9hG4bK{run:x}.{}.{}", self.spec.index, self.branches)
    }
}

/// Why a shard could not run.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// The shard's SIP socket or poller could not be set up.
    #[error(
        "cannot open the shard's SIP socket on {addr}: {source} (is --local-ip an address of this machine?)"
    )]
    Socket {
        /// The address tried.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// mio failed.
    #[error("the event loop failed: {0}")]
    Poll(std::io::Error),
    /// The TCP or TLS connection to the bridge could not be set up.
    #[error(transparent)]
    Link(#[from] LinkError),
}

/// One shard's loop state.
struct Shard {
    shared: Arc<Shared>,
    poll: Poll,
    sip: Link,
    local: SocketAddr,
    calls: HashMap<u64, Call>,
    by_call_id: HashMap<String, u64>,
    /// Calls given up before an answer (Timer B), by Call-ID: a 2xx that still comes is
    /// acknowledged and the call hung up (RFC 3261 §13.2.2.4), so the far end does not keep
    /// serving a caller that is gone.
    given_up: HashMap<String, (u64, Dialog)>,
    timers: BinaryHeap<Reverse<(Instant, u64, Timer)>>,
    buckets: Vec<Vec<u64>>,
    next_slot: u64,
    stats: Stats,
    buf: Vec<u8>,
}

/// Runs the calls of one shard (sorted by start time) to the end and returns what it measured.
pub fn run(shared: Arc<Shared>, plan: Vec<CallSpec>) -> Result<Stats, ShardError> {
    let (mut sip, local) = match shared.transport {
        Transport::Udp => udp_link(shared.local_ip)?,
        Transport::Tcp | Transport::Tls => {
            let link = Link::connect(shared.target, shared.tls.clone())?;
            let local = link.local_addr().map_err(ShardError::Poll)?;
            (link, local)
        }
    };
    let poll = Poll::new().map_err(ShardError::Poll)?;
    let interest = if shared.transport.reliable() {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    };
    poll.registry()
        .register(sip.source(), SIP, interest)
        .map_err(ShardError::Poll)?;
    let mut shard = Shard {
        shared,
        poll,
        sip,
        local,
        calls: HashMap::new(),
        by_call_id: HashMap::new(),
        given_up: HashMap::new(),
        timers: BinaryHeap::new(),
        buckets: vec![Vec::new(); SLOTS as usize],
        next_slot: 0,
        stats: Stats {
            planned: plan.len() as u64,
            ..Stats::default()
        },
        buf: vec![0u8; 65_536],
    };
    shard.run(plan)?;
    shard.stats.cpu_seconds = thread_cpu_seconds();
    Ok(shard.stats)
}

/// The shard's own UDP socket, with buffers large enough for bursts of answers.
fn udp_link(ip: IpAddr) -> Result<(Link, SocketAddr), ShardError> {
    let addr = SocketAddr::new(ip, 0);
    let std_sip =
        std::net::UdpSocket::bind(addr).map_err(|source| ShardError::Socket { addr, source })?;
    // Bursts of answers at thousands of calls a second overflow the default 208 KiB buffer:
    // a drop here would look like the bridge's fault (a retransmission). The kernel caps
    // the size at net.core.rmem_max; failing to raise it is not fatal.
    let s2 = socket2::SockRef::from(&std_sip);
    let _ = s2.set_recv_buffer_size(8 << 20);
    let _ = s2.set_send_buffer_size(8 << 20);
    std_sip
        .set_nonblocking(true)
        .map_err(|source| ShardError::Socket { addr, source })?;
    let local = std_sip
        .local_addr()
        .map_err(|source| ShardError::Socket { addr, source })?;
    Ok((Link::Udp(UdpSocket::from_std(std_sip)), local))
}

impl Shard {
    fn run(&mut self, plan: Vec<CallSpec>) -> Result<(), ShardError> {
        let t0 = self.shared.t0;
        let last_start = plan.last().map_or(Duration::ZERO, |c| c.at);
        // Every call ends well within this: its answer (Timer B), its keys, the wait for the
        // meeting, its hold and its BYE (Timer F).
        let end_by = t0
            + last_start
            + self.shared.hold
            + self.shared.lobby_limit
            + 128 * self.shared.t1
            + Duration::from_secs(10);
        let mut events = Events::with_capacity(1024);
        let mut next = 0usize;
        loop {
            let now = Instant::now();
            while let Some(spec) = plan.get(next) {
                if t0 + spec.at > now {
                    break;
                }
                self.start(spec.clone(), now);
                next += 1;
            }
            self.media(now);
            self.fire_timers(now);
            if next >= plan.len() && self.calls.is_empty() {
                return Ok(());
            }
            if now > end_by {
                for (_, c) in self.calls.drain() {
                    self.stats
                        .fail(c.failure.unwrap_or("unfinished when the run ended"));
                }
                return Ok(());
            }
            let mut wake = end_by;
            if let Some(spec) = plan.get(next) {
                wake = wake.min(t0 + spec.at);
            }
            if let Some(Reverse((at, _, _))) = self.timers.peek() {
                wake = wake.min(*at);
            }
            if self.buckets.iter().any(|b| !b.is_empty()) {
                wake = wake.min(t0 + Duration::from_millis(self.next_slot));
            }
            let timeout = wake.saturating_duration_since(Instant::now());
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(ShardError::Poll(e)),
            }
            for ev in events.iter() {
                match ev.token() {
                    SIP => {
                        if ev.is_writable() && self.sip.flush().is_err() {
                            self.stats.send_errors += 1;
                        }
                        if ev.is_readable() {
                            self.read_sip();
                        }
                    }
                    Token(t) => self.read_rtp((t - 1) as u64),
                }
            }
        }
    }

    fn start(&mut self, spec: CallSpec, now: Instant) {
        let scheduled = self.shared.t0 + spec.at;
        self.stats.started += 1;
        self.stats
            .start_lag
            .record(now.saturating_duration_since(scheduled));
        // With sampling, checked calls have an address of their own, so that a benchmark can
        // drop the bridge's audio to the others before the kernel delivers it.
        let rtp_ip = match self.shared.sample_ip {
            Some(ip) if spec.checked => ip,
            _ => self.shared.local_ip,
        };
        let bound = std::net::UdpSocket::bind(SocketAddr::new(rtp_ip, 0))
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .and_then(|s| s.local_addr().map(|a| (s, a)));
        let Ok((std_rtp, rtp_addr)) = bound else {
            self.stats.fail("no local RTP port");
            return;
        };
        let mut rtp = UdpSocket::from_std(std_rtp);
        let token = Token(spec.index as usize + 1);
        if self
            .poll
            .registry()
            .register(&mut rtp, token, Interest::READABLE)
            .is_err()
        {
            self.stats.fail("no local RTP port");
            return;
        }
        let run = self.shared.run_id;
        let conference = self.shared.conferences.get(spec.conference);
        let id = conference.map_or("", |c| c.id.as_str());
        let keys = match (spec.role, conference.and_then(|c| c.pin.as_deref())) {
            (Role::Organizer, Some(pin)) => format!("{id}#*{pin}#"),
            _ => format!("{id}##"),
        };
        let h = mix(run ^ spec.index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut dialog = Dialog::new(
            format!("{run:x}-{}@dialbridge-load", spec.index),
            format!("{:x}", h & 0xFFFF_FFFF),
            self.local,
            self.shared.target,
        );
        dialog.transport = self.shared.transport;
        let first_uri = dialog.target_uri.clone();
        let mut call = Call {
            scheduled,
            sent: now,
            phase: Phase::Inviting,
            first_uri: first_uri.clone(),
            invite: Vec::new(),
            invite_branch: String::new(),
            invite_interval: self.shared.t1,
            provisional: false,
            ack: Vec::new(),
            pending: None,
            branches: 0,
            rtp,
            remote_rtp: None,
            node: None,
            stream: Stream::new((h >> 32) as u32, (h >> 16) as u16, h as u32),
            keys: keys.into_bytes(),
            key_pos: 0,
            key_part: 0,
            key_ts: 0,
            keys_done: None,
            lobby_at: None,
            heard_hold: false,
            in_meeting: false,
            failure: None,
            tone_pos: 0,
            srtp_key: self
                .shared
                .srtp
                .then(|| MasterKey::random(SrtpSuite::AesCm128HmacSha1_80, &mut rand::rng())),
            srtp: None,
            dialog,
            spec,
        };
        call.invite_branch = call.branch(run);
        call.invite = call.dialog.invite(
            &call.invite_branch,
            rtp_addr,
            &first_uri,
            call.srtp_key.as_ref(),
        );
        let index = call.spec.index;
        send(
            &mut self.sip,
            &call.invite,
            self.shared.target,
            &mut self.stats,
        );
        self.by_call_id.insert(call.dialog.call_id.clone(), index);
        self.calls.insert(index, call);
        if !self.shared.transport.reliable() {
            self.timer(now + self.shared.t1, index, Timer::InviteRetransmit);
        }
        self.timer(now + 64 * self.shared.t1, index, Timer::InviteTimeout);
    }

    fn timer(&mut self, at: Instant, call: u64, kind: Timer) {
        self.timers.push(Reverse((at, call, kind)));
    }

    /// Ends a call: counted as succeeded only if nothing went wrong on the way.
    fn finish(&mut self, index: u64, failure: Option<&'static str>) {
        if let Some(mut c) = self.calls.remove(&index) {
            self.by_call_id.remove(&c.dialog.call_id);
            let _ = self.poll.registry().deregister(&mut c.rtp);
            match failure.or(c.failure) {
                Some(why) => self.stats.fail(why),
                None => self.stats.succeeded += 1,
            }
        }
    }

    /// The last `#` left: start waiting in the lobby (or, for an organizer, in the meeting).
    fn after_keys(&mut self, id: u64, now: Instant) {
        let shared = Arc::clone(&self.shared);
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let (role, meeting) = (call.spec.role, call.spec.meeting);
        match (role, meeting) {
            (Role::Organizer, Some(m)) => {
                let ns = now.saturating_duration_since(shared.t0).as_nanos() as u64;
                if let Some(slot) = shared.pins.get(m) {
                    slot.store(ns + 1, Ordering::Release);
                }
                self.timer(now + shared.hold, id, Timer::HangUp);
            }
            (Role::Attendee, Some(_)) => {
                if !call.spec.checked {
                    self.timer(now + PIN_POLL, id, Timer::AwaitPin);
                }
                self.timer(now + shared.lobby_limit, id, Timer::LobbyLimit)
            }
            _ => self.timer(now + shared.hold, id, Timer::HangUp),
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((at, id, kind))) = self.timers.peek().copied() {
            if at > now {
                return;
            }
            self.timers.pop();
            let target = self.shared.target;
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            // In-dialog requests go along the route set (the INVITE to the target).
            let hop = call.dialog.next_hop(target);
            match kind {
                Timer::InviteRetransmit => {
                    if call.phase == Phase::Inviting && !call.provisional {
                        send(&mut self.sip, &call.invite, target, &mut self.stats);
                        self.stats.retransmissions_sent += 1;
                        call.invite_interval *= 2;
                        let next = call.invite_interval;
                        self.timer(now + next, id, Timer::InviteRetransmit);
                    }
                }
                Timer::InviteTimeout => {
                    if call.phase == Phase::Inviting {
                        self.given_up
                            .insert(call.dialog.call_id.clone(), (id, call.dialog.clone()));
                        self.finish(id, Some("no final answer to the INVITE (Timer B)"));
                    }
                }
                Timer::Retransmit(cseq) => {
                    if let Some(p) = call.pending.as_mut().filter(|p| p.cseq == cseq) {
                        send(&mut self.sip, &p.bytes, hop, &mut self.stats);
                        self.stats.retransmissions_sent += 1;
                        p.interval = (p.interval * 2).min(T2);
                        let next = p.interval;
                        self.timer(now + next, id, Timer::Retransmit(cseq));
                    }
                }
                Timer::Timeout(cseq) => {
                    if let Some(p) = call.pending.as_ref().filter(|p| p.cseq == cseq) {
                        let why = if p.method == Method::Bye {
                            "no answer to the BYE (Timer F)"
                        } else {
                            "no answer to an INFO (Timer F)"
                        };
                        self.finish(id, Some(why));
                    }
                }
                Timer::NextKey => self.send_info_key(id, now),
                Timer::HangUp => {
                    let waiting_lobby = call.spec.checked
                        && call.spec.role == Role::Attendee
                        && call.spec.meeting.is_none();
                    if waiting_lobby && call.lobby_at.is_none() {
                        call.failure.get_or_insert("no lobby audio heard");
                    }
                    self.hang_up(id, now);
                }
                Timer::AwaitPin => {
                    if call.in_meeting || call.phase == Phase::Hanging {
                        continue;
                    }
                    match self.shared.pin_sent(call.spec.meeting) {
                        None => self.timer(now + PIN_POLL, id, Timer::AwaitPin),
                        Some(sent) => {
                            // Counted as moved by the PIN, unheard; it holds as a checked one
                            // would.
                            call.in_meeting = true;
                            let end = (sent + self.shared.hold).max(now);
                            self.timer(end, id, Timer::HangUp);
                        }
                    }
                }
                Timer::LobbyLimit => {
                    if !call.in_meeting && call.phase != Phase::Hanging {
                        call.failure.get_or_insert(if call.lobby_at.is_none() {
                            "no lobby audio heard"
                        } else {
                            "never moved into the meeting"
                        });
                        self.hang_up(id, now);
                    }
                }
            }
        }
    }

    fn hang_up(&mut self, id: u64, now: Instant) {
        let run = self.shared.run_id;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.phase == Phase::Hanging {
            return;
        }
        call.phase = Phase::Hanging;
        let branch = call.branch(run);
        let bytes = call.dialog.request(Method::Bye, &branch, None);
        self.transaction(id, Method::Bye, bytes, now);
    }

    /// Sends a non-INVITE request and arms Timers E and F for it.
    fn transaction(&mut self, id: u64, method: Method, bytes: Vec<u8>, now: Instant) {
        let t1 = self.shared.t1;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let cseq = call.dialog.cseq;
        let hop = call.dialog.next_hop(self.shared.target);
        send(&mut self.sip, &bytes, hop, &mut self.stats);
        call.pending = Some(Pending {
            bytes,
            method,
            cseq,
            interval: t1,
        });
        if !self.shared.transport.reliable() {
            self.timer(now + t1, id, Timer::Retransmit(cseq));
        }
        self.timer(now + 64 * t1, id, Timer::Timeout(cseq));
    }

    fn send_info_key(&mut self, id: u64, now: Instant) {
        let run = self.shared.run_id;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.phase != Phase::Keys {
            return;
        }
        let Some(key) = call.keys.get(call.key_pos).copied() else {
            return;
        };
        call.key_pos += 1;
        let last = call.key_pos >= call.keys.len();
        if last {
            call.phase = Phase::Waiting;
            call.keys_done = Some(now);
        }
        let branch = call.branch(run);
        let bytes = call.dialog.request(Method::Info, &branch, Some(key));
        self.transaction(id, Method::Info, bytes, now);
        if last {
            self.after_keys(id, now);
        }
    }

    fn read_sip(&mut self) {
        let mut messages = Vec::new();
        self.sip.receive(&mut self.buf, &mut messages);
        if self.sip.closed() {
            self.stats.send_errors += 1;
        }
        for (msg, from) in messages {
            let now = Instant::now();
            let Some((incoming, call_id)) = sip::parse_message(msg) else {
                continue;
            };
            let id = self.by_call_id.get(&call_id).copied();
            match (incoming, id) {
                (Incoming::Response(r), Some(id)) => self.response(id, r, now),
                (Incoming::Response(r), None)
                    if r.method == Method::Invite && (200..300).contains(&r.code) =>
                {
                    self.end_late_answer(&call_id, r);
                }
                // A late copy of an answer to a call that has ended.
                (Incoming::Response(_), None) => self.stats.retransmissions_received += 1,
                (Incoming::Request(req, method), id) => {
                    let code = match (&method, id) {
                        (Method::Ack, _) => continue,
                        (_, None) => 481,
                        (Method::Invite, _) => 488,
                        _ => 200,
                    };
                    send(
                        &mut self.sip,
                        &sip::answer(&req, code),
                        from,
                        &mut self.stats,
                    );
                    if let (Method::Bye, Some(id)) = (method, id) {
                        let hanging = self
                            .calls
                            .get(&id)
                            .is_some_and(|c| c.phase == Phase::Hanging);
                        self.finish(id, (!hanging).then_some("hung up by the bridge"));
                    }
                }
            }
        }
    }

    /// A 2xx to an INVITE given up on: ACK it, then BYE (sent once; its answer, if any, is
    /// counted as a late copy). A copy of the same 2xx finds the entry gone and is only
    /// counted.
    fn end_late_answer(&mut self, call_id: &str, mut r: Response) {
        self.stats.retransmissions_received += 1;
        let Some((index, mut dialog)) = self.given_up.remove(call_id) else {
            return;
        };
        let run = self.shared.run_id;
        dialog.establish(&mut r);
        let hop = dialog.next_hop(self.shared.target);
        let ack = dialog.ack_2xx(&format!("z9hG4bK{run:x}.{index}.late-ack"));
        send(&mut self.sip, &ack, hop, &mut self.stats);
        let bye = dialog.request(
            Method::Bye,
            &format!("z9hG4bK{run:x}.{index}.late-bye"),
            None,
        );
        send(&mut self.sip, &bye, hop, &mut self.stats);
    }

    fn response(&mut self, id: u64, mut r: Response, now: Instant) {
        let run = self.shared.run_id;
        let target = self.shared.target;
        let digits = self.shared.digits;
        let audio = self.shared.audio;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if r.method == Method::Invite {
            match r.code {
                100..=199 => call.provisional = true,
                200..=299 if call.phase == Phase::Inviting => {
                    self.stats.answered += 1;
                    self.stats
                        .invite_200
                        .record(now.saturating_duration_since(call.scheduled));
                    self.stats
                        .invite_200_sent
                        .record(now.saturating_duration_since(call.sent));
                    call.dialog.establish(&mut r);
                    let branch = call.branch(run);
                    call.ack = call.dialog.ack_2xx(&branch);
                    let hop = call.dialog.next_hop(target);
                    send(&mut self.sip, &call.ack, hop, &mut self.stats);
                    call.phase = Phase::Keys;
                    call.remote_rtp = r.media;
                    call.node = r.media.map(|m| m.ip());
                    if let Some(ip) = call.node {
                        self.stats.by_node.entry(ip).or_default().answered += 1;
                    }
                    if r.media.is_none() {
                        call.failure = Some("no audio address in the answer");
                        self.hang_up(id, now);
                        return;
                    }
                    if let Some(local) = call.srtp_key.clone() {
                        let session = r.crypto.and_then(|theirs| {
                            SrtpSession::new(&SrtpKeys {
                                local,
                                remote: theirs.key,
                                remote_mki_len: theirs.mki_len,
                            })
                            .ok()
                        });
                        if session.is_none() {
                            call.failure = Some("no usable SRTP key in the answer");
                            self.hang_up(id, now);
                            return;
                        }
                        call.srtp = session.map(Box::new);
                    }
                    if digits == DigitMode::Rfc4733 || audio {
                        self.buckets[(id % SLOTS) as usize].push(id);
                    }
                    if digits == DigitMode::Info {
                        self.send_info_key(id, now);
                    }
                }
                200..=299 => {
                    // The 200 again: our ACK was lost or late. Acknowledge it again.
                    self.stats.retransmissions_received += 1;
                    let hop = call.dialog.next_hop(target);
                    send(&mut self.sip, &call.ack, hop, &mut self.stats);
                }
                _ if call.phase == Phase::Inviting => {
                    call.dialog.to_tag = r.to_tag;
                    let ack = call.dialog.ack_error(&call.invite_branch, &call.first_uri);
                    send(&mut self.sip, &ack, target, &mut self.stats);
                    let why = match r.code {
                        503 => "refused with 503 (overload or no media port)",
                        486 => "refused with 486 (busy)",
                        400..=499 => "refused with 4xx",
                        _ => "refused with 5xx/6xx",
                    };
                    self.finish(id, Some(why));
                }
                _ => self.stats.retransmissions_received += 1,
            }
            return;
        }
        let Some(p) = call
            .pending
            .as_mut()
            .filter(|p| p.cseq == r.cseq && p.method == r.method)
        else {
            self.stats.retransmissions_received += 1;
            return;
        };
        if r.code < 200 {
            // Proceeding: retransmit at T2 from now on (RFC 3261 §17.1.2.2).
            p.interval = T2;
            return;
        }
        call.pending = None;
        match r.method {
            Method::Bye => self.finish(id, None),
            Method::Info if r.code >= 300 => {
                call.failure.get_or_insert("an INFO was refused");
                self.hang_up(id, now);
            }
            Method::Info if call.phase == Phase::Keys => {
                // One key per 20 ms at most, as a phone would send them.
                self.timer(now + Duration::from_millis(20), id, Timer::NextKey);
            }
            _ => {}
        }
    }
}

fn send(link: &mut Link, bytes: &[u8], to: SocketAddr, stats: &mut Stats) {
    if link.send(bytes, to).is_err() {
        stats.send_errors += 1;
    }
}

/// SplitMix64: per-call SSRCs, tags and sequence starts that differ between calls and runs
/// without an RNG shared across threads.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

mod rtp;
