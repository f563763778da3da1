//! The bridge's SIP user agent server, sans-IO: datagrams and the clock in, datagrams and
//! call events out.
//!
//! It owns every transaction (RFC 3261 §17), every dialog (§12) and each call's signalling
//! state. The application (the tokio driver) answers `Event::IncomingCall` with `accept` or
//! `reject`, and asks for `hangup`; media details travel as `Event::MediaUpdate`.

use rand::RngExt;
use rand::rngs::StdRng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use super::shard::ShardedMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::call::{CallId, EndReason};
use crate::media::dtmf::{self, Digit};
use crate::media::srtp::{MasterKey, SrtpSuite};
use crate::sip::header::{SipUri, UriScheme, Via, parse_uri};
use crate::sip::message::{self, HeaderName, Message, Method, ParseError, StartLine};
use crate::sip::sdp::{self, LocalMedia, Negotiated, SrtpMode, SrtpPolicy};
use crate::sip::transaction::{
    ClientResponse, InviteServer, NonInviteClient, NonInviteServer, TimerOutcome, Timers,
};
use crate::sip::transport::{Peer, Transport};

/// Methods we implement, for `Allow`.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO";
/// Bodies we understand, for `Accept`.
pub const ACCEPT: &str = "application/sdp, application/dtmf-relay, application/dtmf";
/// RFC 3261 §8.1.1.7 magic cookie that marks a branch as globally unique.
const MAGIC_COOKIE: &str = "z9hG4bK";

/// Settings of the SIP endpoint.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// Transaction timer base values.
    pub timers: Timers,
    /// Ring this long (180 Ringing) before answering; zero answers at once.
    pub answer_delay: Duration,
    /// The `Server`/`User-Agent` value: a product name, never a version.
    pub server_name: String,
    /// The port we listen on, for `Via` and `Contact`.
    pub sip_port: u16,
    /// The SIP over TLS port, for `Via` and `Contact` on TLS connections.
    pub tls_port: u16,
    /// The name put in `Via` and `Contact` over TLS instead of our address, so that a peer
    /// checking names against our certificate accepts them (`--sip-domain`).
    pub sip_domain: Option<String>,
    /// Whether calls get SRTP (`--srtp`).
    pub srtp: SrtpMode,
    /// SDES keys may travel over SIP that is not TLS (`--srtp-over-cleartext-sip`).
    pub srtp_over_cleartext: bool,
}

impl EndpointConfig {
    /// The SRTP policy for a message that came over `transport`.
    fn srtp_policy(&self, transport: Transport) -> SrtpPolicy {
        SrtpPolicy {
            mode: self.srtp,
            keys_allowed: transport == Transport::Tls || self.srtp_over_cleartext,
        }
    }
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            timers: Timers::default(),
            answer_delay: Duration::ZERO,
            server_name: "dialbridge".into(),
            sip_port: 5060,
            tls_port: 5061,
            sip_domain: None,
            srtp: SrtpMode::default(),
            srtp_over_cleartext: false,
        }
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to (for TCP: the remote end of the connection to send it on).
    pub dest: SocketAddr,
    /// Over what.
    pub transport: Transport,
    /// What.
    pub bytes: Vec<u8>,
}

/// What the endpoint tells the application.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new call wants an answer: call `accept` (with a media port) or `reject`.
    IncomingCall {
        /// Our handle for it.
        call: CallId,
        /// The SIP Call-ID (for logs).
        sip_call_id: String,
        /// Where the INVITE came from.
        source: SocketAddr,
        /// Over what it came.
        transport: Transport,
        /// The user part of the From URI (the calling number), if any.
        from_user: Option<String>,
        /// The From URI as received (without display name and tag), for operators' views.
        from_uri: String,
        /// The `X-Dialbridge-Leg` header, if the INVITE claims to be a relay leg from
        /// another node of the cluster (checked by the application, not here).
        relay_leg: Option<String>,
    },
    /// Offer/answer completed (first time: start media; later: re-INVITE changes).
    MediaUpdate {
        /// Which call.
        call: CallId,
        /// What was agreed.
        params: Negotiated,
    },
    /// A DTMF digit arrived in a SIP INFO.
    Dtmf {
        /// Which call.
        call: CallId,
        /// The key.
        digit: Digit,
    },
    /// The call is over; its media can be released.
    CallEnded {
        /// Which call.
        call: CallId,
        /// Why.
        reason: EndReason,
    },
}

/// The header a relay leg between cluster nodes carries (see `crate::cluster::leg`).
pub const RELAY_LEG_HEADER: &str = "X-Dialbridge-Leg";

/// Counters for operators and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams handled.
    pub datagrams: u64,
    /// Datagrams dropped as unparseable garbage.
    pub garbage: u64,
    /// Requests answered with 400.
    pub bad_requests: u64,
    /// Responses re-sent because a request was retransmitted.
    pub retransmitted_requests: u64,
    /// Responses that matched no transaction (dropped).
    pub stray_responses: u64,
}

/// Identifies a server transaction (RFC 3261 §17.2.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TxKey {
    branch: String,
    sent_by: String,
    /// ACK is folded into INVITE; CANCEL keeps its own.
    method: Method,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum TimerRef {
    Invite(u64),
    Other(u64),
    Client(u64),
    Answer(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// Waiting for the application's `accept`/`reject`.
    Offered,
    /// Accepted: 180 sent, the 200 goes out at `answer_at`.
    Ringing,
    /// 200 sent, waiting for the ACK.
    Answered,
    /// ACK received: the call is up.
    Confirmed,
}

#[derive(Debug)]
struct CallSig {
    sip_call_id: String,
    local_tag: String,
    /// The peer's From value, as received (our To in requests we send).
    remote_from: String,
    /// Our To value with our tag (our From in requests we send).
    local_to: String,
    remote_target: String,
    route_set: Vec<String>,
    /// Where the INVITE came from: in-dialog requests go back there (on TCP, the same
    /// connection).
    peer: Peer,
    /// The INVITE's Request-URI was `sips:`: our Contact must be one too (RFC 5630 §3.1.3).
    sips: bool,
    local_cseq: u32,
    remote_cseq: u32,
    state: CallState,
    /// The INVITE being answered (initial or re-INVITE), with its Via already stamped.
    invite: Option<Message>,
    invite_tx: Option<u64>,
    invite_cseq: u32,
    local: Option<LocalMedia>,
    /// We sent an offer in our 2xx: the answer comes in the ACK.
    offer_pending: bool,
    /// Our SRTP key: in the offer we sent, or in force since the last agreement. Reused
    /// while the suite stays the same, so a re-INVITE does not re-key the call.
    srtp_key: Option<MasterKey>,
    hangup_pending: bool,
    answer_at: Option<Instant>,
}

/// `Retry-After` of the 503 an OPTIONS gets while the bridge takes no calls.
const UNAVAILABLE_RETRY_AFTER_S: u32 = 30;

/// The SIP user agent server.
pub struct Endpoint {
    config: EndpointConfig,
    /// Taking new calls: OPTIONS gets 200, else 503 (draining).
    available: bool,
    next_id: u64,
    // Sharded: these grow to hundreds of thousands of entries under load (see `shard`).
    invite_txs: ShardedMap<u64, (InviteServer, Option<CallId>)>,
    other_txs: ShardedMap<u64, NonInviteServer>,
    /// Each server transaction's key, so forgetting one is a direct removal.
    tx_keys: ShardedMap<u64, TxKey>,
    client_txs: HashMap<u64, (NonInviteClient, String)>,
    tx_index: ShardedMap<TxKey, u64>,
    client_index: HashMap<String, u64>,
    calls: ShardedMap<CallId, CallSig>,
    dialogs: ShardedMap<(String, String), CallId>,
    timers: BinaryHeap<Reverse<(Instant, TimerRef)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: EndpointStats,
    /// Tags, branches and CSeqs come from here: seeded by the runtime from the OS, by a test
    /// with a fixed seed so that a run can be replayed exactly.
    rng: StdRng,
}

/// Hex digits for tags and branches, from the endpoint's RNG.
fn random_token(rng: &mut StdRng, len: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..len)
        .map(|_| char::from(HEX[usize::from(rng.random::<u8>() & 0x0f)]))
        .collect()
}

/// Adds `;tag=` to a To value unless it has one, keeping the received text as it was.
fn with_tag(to_value: &str, tag: &str) -> String {
    format!("{to_value};tag={tag}")
}

impl Endpoint {
    /// An endpoint with no calls, drawing its tags, branches and CSeqs from `rng`.
    pub fn new(config: EndpointConfig, rng: StdRng) -> Self {
        Endpoint {
            config,
            available: true,
            next_id: 1,
            invite_txs: ShardedMap::new(),
            other_txs: ShardedMap::new(),
            tx_keys: ShardedMap::new(),
            client_txs: HashMap::new(),
            tx_index: ShardedMap::new(),
            client_index: HashMap::new(),
            calls: ShardedMap::new(),
            dialogs: ShardedMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: EndpointStats::default(),
            rng,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Calls that exist (any state).
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Requests we sent (BYEs) still waiting for their final response: a shutdown waits for
    /// them so that callers' phones know their calls ended.
    pub fn requests_in_flight(&self) -> usize {
        self.client_txs
            .values()
            .filter(|(tx, _)| {
                matches!(
                    tx.state(),
                    crate::sip::transaction::NonInviteClientState::Trying { .. }
                        | crate::sip::transaction::NonInviteClientState::Proceeding { .. }
                )
            })
            .count()
    }

    /// Live transactions (for tests and memory accounting).
    pub fn transaction_count(&self) -> usize {
        self.invite_txs.len() + self.other_txs.len() + self.client_txs.len()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must run next (may be early; never late).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn schedule(&mut self, at: Option<Instant>, timer: TimerRef) {
        if let Some(at) = at {
            self.timers.push(Reverse((at, timer)));
        }
    }

    fn send(&mut self, dest: Peer, bytes: Vec<u8>) {
        self.transmits.push_back(Transmit {
            dest: dest.addr,
            transport: dest.transport,
            bytes,
        });
    }

    /// One UDP datagram arrived from `source`.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) {
        self.stats.datagrams += 1;
        let source = Peer::udp(source);
        let msg = match message::parse(datagram, message::Framing::Datagram) {
            Ok((msg, _used)) => msg,
            Err(ParseError::KeepAlive) => return,
            Err(err) => {
                self.handle_unparseable(now, source, datagram, err);
                return;
            }
        };
        self.handle_message(now, source, msg);
    }

    /// One whole message arrived from `source`, already framed and parsed (a TCP stream's
    /// messages come this way; see `sip::stream`).
    pub fn handle_message(&mut self, now: Instant, source: Peer, msg: Message) {
        match msg.start {
            StartLine::Request { .. } => self.handle_request(now, source, msg),
            StartLine::Response { code, .. } => self.handle_response(now, code, &msg),
        }
    }

    /// Bytes our parser rejected: answer them (400, 513…) when they are recognisably a
    /// request whose Via we can read, else drop them as garbage.
    pub fn handle_unparseable(
        &mut self,
        now: Instant,
        source: Peer,
        datagram: &[u8],
        err: ParseError,
    ) {
        let salvaged = err
            .response_code()
            .and_then(|code| message::salvage(datagram).map(|m| (code, m)));
        if let Some((code, msg)) = salvaged
            && msg.method().is_some_and(|m| *m != Method::Ack)
            && let Some(via) = readable_top_via(&msg)
        {
            let dest = response_destination(source, &via);
            let reason = if code == 400 {
                "Bad Request - Malformed Message"
            } else {
                message::reason_phrase(code)
            };
            self.stats.bad_requests += 1;
            tracing::debug!(%source, error = %err, code, "answered a malformed request");
            self.reply_stateless(now, &msg, dest, code, reason, &[]);
            return;
        }
        self.stats.garbage += 1;
        tracing::debug!(%source, error = %err, "dropped unparseable datagram");
    }

    fn handle_request(&mut self, now: Instant, source: Peer, mut msg: Message) {
        let mut via = match msg.top_via() {
            Ok(via) => via,
            Err(err) => {
                // A Via with broken parameters still names where to answer (RFC 4475
                // badinv01: 400); without a sent-by there is nowhere to send one (§8.2.6.2).
                match readable_top_via(&msg) {
                    Some(via) if msg.method().is_some_and(|m| *m != Method::Ack) => {
                        self.stats.bad_requests += 1;
                        let reason: String =
                            format!("Bad Request - {err}").chars().take(120).collect();
                        let dest = response_destination(source, &via);
                        self.reply_stateless(now, &msg, dest, 400, &reason, &[]);
                    }
                    _ => self.stats.garbage += 1,
                }
                return;
            }
        };
        stamp_via(&mut msg, &mut via, source.addr);
        let dest = response_destination(source, &via);
        let Some(method) = msg.method().cloned() else {
            return;
        };

        if !msg.version().eq_ignore_ascii_case("SIP/2.0") {
            if method != Method::Ack {
                self.reply_stateless(now, &msg, dest, 505, "Version Not Supported", &[]);
            }
            return;
        }
        if let Some(Ok(uri)) = msg.request_uri().map(SipUri::parse)
            && matches!(uri.scheme, UriScheme::Other(_))
        {
            if method != Method::Ack {
                self.reply_stateless(now, &msg, dest, 416, "Unsupported URI Scheme", &[]);
            }
            return;
        }
        // §8.2.1 inspects the method first: an unknown one is 501 even when its CSeq names
        // another (RFC 4475 mismatch02 prefers that to 400).
        if matches!(method, Method::Extension(_)) && msg.cseq().is_ok_and(|c| c.method != method) {
            let headers = [(HeaderName::Allow, ALLOW.to_string())];
            self.reply_stateless(now, &msg, dest, 501, "Not Implemented", &headers);
            return;
        }
        // Mandatory headers and their syntax (§8.1.1, §8.2.2): without them no transaction
        // or dialog can be found, so the request is refused before anything else.
        if let Err(err) = msg.validate() {
            if method != Method::Ack {
                self.stats.bad_requests += 1;
                let reason: String = format!("Bad Request - {err}").chars().take(120).collect();
                tracing::debug!(%source, error = %err, "refused a malformed request");
                self.reply_stateless(now, &msg, dest, 400, &reason, &[]);
            }
            return;
        }

        let key = tx_key(&msg, &via, &method);
        match method {
            Method::Ack => return self.handle_ack(now, &msg, key),
            Method::Cancel => return self.handle_cancel(now, &msg, dest, key),
            _ => {}
        }
        // A retransmission of a request we know: repeat the answer, create nothing new.
        if let Some(&id) = self.tx_index.get(&key) {
            self.stats.retransmitted_requests += 1;
            let resend = if method == Method::Invite {
                self.invite_txs
                    .get(&id)
                    .and_then(|(tx, _)| tx.on_retransmission())
                    .map(|(d, b)| (d, b.to_vec()))
            } else {
                self.other_txs
                    .get(&id)
                    .and_then(|tx| tx.on_retransmission())
                    .map(|(d, b)| (d, b.to_vec()))
            };
            if let Some((d, b)) = resend {
                self.send(d, b);
            }
            return;
        }

        // Extensions we do not support must be refused, not ignored (§8.2.2.3).
        let required = msg.tokens(&HeaderName::Require);
        if !required.is_empty() {
            let unsupported = required.join(", ");
            self.reply_stateful(
                now,
                &msg,
                dest,
                key,
                420,
                "Bad Extension",
                &[(HeaderName::Unsupported, unsupported)],
            );
            return;
        }

        match method {
            Method::Invite => self.handle_invite(now, msg, source, dest, key),
            Method::Bye => self.handle_bye(now, &msg, dest, key),
            Method::Info => self.handle_info(now, &msg, dest, key),
            Method::Options => {
                let headers = [
                    (HeaderName::Allow, ALLOW.to_string()),
                    (HeaderName::Accept, ACCEPT.to_string()),
                ];
                if self.available {
                    self.reply_stateful(now, &msg, dest, key, 200, "OK", &headers);
                } else {
                    // A proxy probing with OPTIONS (Kamailio's dispatcher) sends no new calls.
                    let headers = [
                        (
                            HeaderName::RetryAfter,
                            UNAVAILABLE_RETRY_AFTER_S.to_string(),
                        ),
                        headers[0].clone(),
                    ];
                    self.reply_stateful(now, &msg, dest, key, 503, "Service Unavailable", &headers);
                }
            }
            Method::Extension(_) => {
                // RFC 4475 intmeth, esc02: "a 501 listing the methods they understand".
                let headers = [(HeaderName::Allow, ALLOW.to_string())];
                self.reply_stateful(now, &msg, dest, key, 501, "Not Implemented", &headers);
            }
            _ => {
                let headers = [(HeaderName::Allow, ALLOW.to_string())];
                self.reply_stateful(now, &msg, dest, key, 405, "Method Not Allowed", &headers);
            }
        }
    }

    fn handle_response(&mut self, now: Instant, code: u16, msg: &Message) {
        let branch = msg
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_owned));
        let Some(&id) = branch.as_ref().and_then(|b| self.client_index.get(b)) else {
            self.stats.stray_responses += 1;
            return; // responses to nothing are dropped silently (§18.1.2)
        };
        if let Some((tx, _)) = self.client_txs.get_mut(&id) {
            if let ClientResponse::Final(status) = tx.on_response(now, code) {
                tracing::debug!(status, "our BYE was answered");
            }
            let next = tx.next_timeout();
            self.schedule(next, TimerRef::Client(id));
        }
    }

    /// Runs every timer that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, timer))) = self.timers.pop() else {
                break;
            };
            match timer {
                TimerRef::Invite(id) => self.invite_timer(now, id),
                TimerRef::Other(id) => {
                    if let Some(tx) = self.other_txs.get_mut(&id)
                        && tx.on_timeout(now) == TimerOutcome::Terminated
                    {
                        self.other_txs.remove(&id);
                        self.forget_key(id);
                    }
                }
                TimerRef::Client(id) => {
                    let Some((tx, _)) = self.client_txs.get_mut(&id) else {
                        continue;
                    };
                    match tx.on_timeout(now) {
                        TimerOutcome::Retransmit(dest, bytes) => {
                            let next = tx.next_timeout();
                            self.send(dest, bytes);
                            self.schedule(next, TimerRef::Client(id));
                        }
                        TimerOutcome::RequestTimeout | TimerOutcome::Terminated => {
                            if let Some((_, branch)) = self.client_txs.remove(&id) {
                                self.client_index.remove(&branch);
                            }
                        }
                        _ => {}
                    }
                }
                TimerRef::Answer(call) => {
                    let id = CallId(call);
                    let due = self.calls.get(&id).is_some_and(|c| {
                        c.state == CallState::Ringing && c.answer_at.is_some_and(|a| a <= now)
                    });
                    if due {
                        self.send_answer(now, id);
                    }
                }
            }
        }
    }

    fn invite_timer(&mut self, now: Instant, tx_id: u64) {
        let Some((tx, call)) = self.invite_txs.get_mut(&tx_id) else {
            return;
        };
        let call = *call;
        match tx.on_timeout(now) {
            TimerOutcome::Retransmit(dest, bytes) => {
                let next = tx.next_timeout();
                self.send(dest, bytes);
                self.schedule(next, TimerRef::Invite(tx_id));
            }
            TimerOutcome::AckTimeout => {
                self.forget_invite_tx(tx_id);
                if let Some(id) = call
                    && self
                        .calls
                        .get(&id)
                        .is_some_and(|c| c.invite_tx == Some(tx_id))
                {
                    tracing::info!(call = id.0, "no ACK for our 200 within 64*T1: hanging up");
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.state = CallState::Confirmed;
                    }
                    if self.calls.contains_key(&id) {
                        self.send_bye(now, id);
                        // send_bye reported LocalHangup; the real cause is the missing ACK.
                        if let Some(Event::CallEnded { reason, .. }) = self.events.back_mut() {
                            *reason = EndReason::AckTimeout;
                        }
                    }
                }
            }
            TimerOutcome::Terminated | TimerOutcome::RequestTimeout => self.forget_invite_tx(tx_id),
            TimerOutcome::Idle => {
                let next = tx.next_timeout();
                self.schedule(next, TimerRef::Invite(tx_id));
            }
        }
    }

    fn forget_invite_tx(&mut self, tx_id: u64) {
        self.invite_txs.remove(&tx_id);
        self.forget_key(tx_id);
    }

    fn forget_key(&mut self, tx_id: u64) {
        if let Some(key) = self.tx_keys.remove(&tx_id)
            && self.tx_index.get(&key) == Some(&tx_id)
        {
            self.tx_index.remove(&key);
        }
    }

    fn index_tx(&mut self, key: TxKey, tx_id: u64) {
        self.tx_keys.insert(tx_id, key.clone());
        self.tx_index.insert(key, tx_id);
    }
}

mod control;
mod dialog;
mod reply;
mod routing;

pub use routing::host_port;
use routing::{
    as_request_uri, readable_top_via, remote_target, response_destination, sent_by, stamp_via,
    tx_key,
};

#[cfg(test)]
mod tests;
