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

    fn dialog_call(&self, msg: &Message) -> Option<CallId> {
        let to_tag = msg.to_header().ok()?.tag()?.to_string();
        let call_id = msg.call_id()?.to_string();
        self.dialogs.get(&(call_id, to_tag)).copied()
    }

    fn handle_invite(&mut self, now: Instant, msg: Message, source: Peer, dest: Peer, key: TxKey) {
        let has_to_tag = msg
            .to_header()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned));
        if has_to_tag.is_some() {
            self.handle_reinvite(now, msg, dest, key);
            return;
        }
        let tx_id = self.next_id();
        self.index_tx(key, tx_id);
        self.invite_txs
            .insert(tx_id, (InviteServer::new(dest, self.config.timers), None));
        // 100 Trying at once stops the caller's INVITE retransmissions (§17.2.1).
        let trying = self.build_response(&msg, 100, "Trying", None, &[], None);
        if let Some((tx, _)) = self.invite_txs.get_mut(&tx_id) {
            tx.send_provisional(trying.clone());
        }
        self.send(dest, trying);

        if !msg.body.is_empty() && !msg.content_type_is("application/sdp") {
            let headers = [(HeaderName::Accept, "application/sdp".to_string())];
            let tag = random_token(&mut self.rng, 16);
            self.final_invite_response(
                now,
                tx_id,
                &msg,
                415,
                "Unsupported Media Type",
                Some(&tag),
                &headers,
                None,
            );
            return;
        }
        if !msg.accepts("application/sdp") {
            // Our answer (or offer) is SDP; a caller that will not take it gets 406 with a
            // 399 warning saying so (RFC 4475 sdp01).
            let warning = format!(
                "399 {} \"the response would carry application/sdp, which Accept does not allow\"",
                self.config.server_name
            );
            let headers = [
                (HeaderName::Other("Warning".to_owned()), warning),
                (HeaderName::Accept, "application/sdp".to_string()),
            ];
            let tag = random_token(&mut self.rng, 16);
            self.final_invite_response(
                now,
                tx_id,
                &msg,
                406,
                "Not Acceptable",
                Some(&tag),
                &headers,
                None,
            );
            return;
        }
        let Some(remote_target) = remote_target(&msg) else {
            // Our BYE would carry a Request-URI the caller must refuse: refuse the call now.
            let tag = random_token(&mut self.rng, 16);
            let reason = "Bad Request - Contact (or From) URI is malformed";
            self.final_invite_response(now, tx_id, &msg, 400, reason, Some(&tag), &[], None);
            return;
        };
        let policy = self.config.srtp_policy(source.transport);
        let refusal = if msg.body.is_empty() {
            // We make the offer: under --srtp require it must carry keys, which only TLS may.
            (policy.mode == SrtpMode::Require && !policy.keys_allowed)
                .then_some(sdp::SdpError::KeysInClear)
        } else {
            // Check the offer before bothering the application: no common codec is a 488.
            let probe = LocalMedia {
                ip: IpAddr::from([127, 0, 0, 1]),
                port: 9,
                session_id: 0,
                session_version: 0,
            };
            let rng = &mut self.rng;
            sdp::answer_with(&msg.body, &probe, policy, &mut |suite| {
                Some(MasterKey::random(suite, rng))
            })
            .err()
        };
        {
            if let Some(err) = refusal {
                let code = err.status_code();
                let reason = if code == 400 {
                    "Bad Request - Malformed SDP"
                } else {
                    message::reason_phrase(code)
                };
                tracing::info!(call_id = msg.call_id().unwrap_or(""), error = %err, "offer refused");
                let tag = random_token(&mut self.rng, 16);
                self.final_invite_response(now, tx_id, &msg, code, reason, Some(&tag), &[], None);
                return;
            }
        }

        let id = CallId(self.next_id());
        let local_tag = random_token(&mut self.rng, 16);
        let sip_call_id = msg.call_id().unwrap_or_default().to_string();
        let from = msg.from_header().ok();
        let remote_from = msg
            .header(&HeaderName::From)
            .unwrap_or_default()
            .to_string();
        let local_to = with_tag(msg.header(&HeaderName::To).unwrap_or_default(), &local_tag);
        let route_set = msg
            .headers_named(&HeaderName::RecordRoute)
            .flat_map(|v| {
                crate::sip::header::split_comma_list(v)
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let from_user = from
            .as_ref()
            .and_then(|f| SipUri::parse(&f.uri).ok())
            .and_then(|u| u.user);
        let invite_cseq = msg.cseq().map(|c| c.seq).unwrap_or(0);
        let relay_leg = msg
            .header(&HeaderName::parse(RELAY_LEG_HEADER))
            .map(str::to_string);
        let sips = msg
            .request_uri()
            .and_then(|u| SipUri::parse(u).ok())
            .is_some_and(|u| u.scheme == UriScheme::Sips);
        if let Some((_, call)) = self.invite_txs.get_mut(&tx_id) {
            *call = Some(id);
        }
        self.dialogs
            .insert((sip_call_id.clone(), local_tag.clone()), id);
        self.calls.insert(
            id,
            CallSig {
                sip_call_id: sip_call_id.clone(),
                local_tag,
                remote_from,
                local_to,
                remote_target,
                route_set,
                peer: source,
                sips,
                local_cseq: self.rng.random::<u16>().into(),
                remote_cseq: invite_cseq,
                state: CallState::Offered,
                invite: Some(msg),
                invite_tx: Some(tx_id),
                invite_cseq,
                local: None,
                offer_pending: false,
                srtp_key: None,
                hangup_pending: false,
                answer_at: None,
            },
        );
        self.events.push_back(Event::IncomingCall {
            call: id,
            sip_call_id,
            source: source.addr,
            transport: source.transport,
            from_user,
            from_uri: from.map(|f| f.uri).unwrap_or_default(),
            relay_leg,
        });
    }

    fn handle_reinvite(&mut self, now: Instant, msg: Message, dest: Peer, key: TxKey) {
        let Some(id) = self.dialog_call(&msg) else {
            self.reply_481(now, &msg, dest, key);
            return;
        };
        let cseq = msg.cseq().map(|c| c.seq).unwrap_or(0);
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if cseq <= call.remote_cseq {
            self.reply_stateful(
                now,
                &msg,
                dest,
                key,
                500,
                "Server Internal Error - CSeq Out of Order",
                &[],
            );
            return;
        }
        if call.state != CallState::Confirmed {
            // §14.2: an INVITE while ours is still being answered is retried later.
            let headers = [(HeaderName::RetryAfter, "1".to_string())];
            self.reply_stateful(
                now,
                &msg,
                dest,
                key,
                500,
                "Server Internal Error - Previous INVITE Pending",
                &headers,
            );
            return;
        }
        if !msg.body.is_empty() && !msg.content_type_is("application/sdp") {
            let headers = [(HeaderName::Accept, "application/sdp".to_string())];
            self.reply_stateful(
                now,
                &msg,
                dest,
                key,
                415,
                "Unsupported Media Type",
                &headers,
            );
            return;
        }
        let Some(mut local) = call.local else {
            return;
        };
        local.session_version += 1;
        let local_tag = call.local_tag.clone();
        let sips = call.sips;
        let policy = self.config.srtp_policy(call.peer.transport);
        let current_key = call.srtp_key.clone();
        let rng = &mut self.rng;
        let mut our_key = |suite: SrtpSuite| {
            Some(
                current_key
                    .clone()
                    .filter(|key| key.suite() == suite)
                    .unwrap_or_else(|| MasterKey::random(suite, rng)),
            )
        };
        let (body, params, offer_pending, offered_key) = if msg.body.is_empty() {
            let key = if policy.offers_srtp() {
                our_key(sdp::OFFER_SUITE)
            } else {
                None
            };
            let body = sdp::offer(&local, key.as_ref()).into_bytes();
            (body, None, true, key)
        } else {
            match sdp::answer_with(&msg.body, &local, policy, &mut our_key) {
                Ok((neg, answer)) => (answer.into_bytes(), Some(neg), false, None),
                Err(err) => {
                    let code = err.status_code();
                    let reason = if code == 400 {
                        "Bad Request - Malformed SDP"
                    } else {
                        message::reason_phrase(code)
                    };
                    // The old media keeps running: a refused re-INVITE changes nothing (§14.2).
                    self.reply_stateful(now, &msg, dest, key, code, reason, &[]);
                    return;
                }
            }
        };
        let tx_id = self.next_id();
        self.index_tx(key, tx_id);
        self.invite_txs.insert(
            tx_id,
            (InviteServer::new(dest, self.config.timers), Some(id)),
        );
        let contact = self.contact(local.ip, dest.transport, sips);
        let headers = [
            (HeaderName::Contact, contact),
            (HeaderName::Allow, ALLOW.to_string()),
        ];
        self.final_invite_response(
            now,
            tx_id,
            &msg,
            200,
            "OK",
            Some(&local_tag),
            &headers,
            Some(&body),
        );
        if let Some(call) = self.calls.get_mut(&id) {
            call.remote_cseq = cseq;
            call.invite_cseq = cseq;
            call.invite_tx = Some(tx_id);
            call.local = Some(local);
            call.offer_pending = offer_pending;
            call.srtp_key = match &params {
                Some(params) => params.srtp.as_ref().map(|keys| keys.local.clone()),
                None => offered_key,
            };
            call.state = CallState::Answered;
            if let Some(target) = msg
                .contact()
                .ok()
                .flatten()
                .and_then(|c| as_request_uri(&c.uri))
            {
                call.remote_target = target;
            }
        }
        if let Some(params) = params {
            self.events
                .push_back(Event::MediaUpdate { call: id, params });
        }
    }

    fn handle_ack(&mut self, now: Instant, msg: &Message, key: TxKey) {
        // ACK for a 3xx–6xx: same branch as the INVITE (§17.2.3).
        if let Some(&tx_id) = self.tx_index.get(&key)
            && let Some((tx, _)) = self.invite_txs.get_mut(&tx_id)
            && !tx.is_proceeding()
            && !matches!(
                tx.state(),
                crate::sip::transaction::InviteServerState::Accepted { .. }
            )
        {
            tx.on_ack(now);
            let next = tx.next_timeout();
            self.schedule(next, TimerRef::Invite(tx_id));
            return;
        }
        // ACK for a 2xx: a request of its own within the dialog (§13.3.1.4).
        let Some(id) = self.dialog_call(msg) else {
            return;
        };
        let cseq = msg.cseq().map(|c| c.seq).unwrap_or(0);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.state != CallState::Answered || cseq != call.invite_cseq {
            return; // a retransmitted ACK
        }
        call.state = CallState::Confirmed;
        call.invite = None;
        if let Some(tx_id) = call.invite_tx
            && let Some((tx, _)) = self.invite_txs.get_mut(&tx_id)
        {
            tx.on_2xx_ack();
        }
        let offer_pending = std::mem::take(&mut call.offer_pending);
        let hangup_pending = call.hangup_pending;
        if offer_pending {
            match sdp::read_answer(&msg.body, call.srtp_key.as_ref()) {
                Ok(params) => self
                    .events
                    .push_back(Event::MediaUpdate { call: id, params }),
                Err(err) => {
                    tracing::info!(call_id = %call.sip_call_id, error = %err, "answer in ACK unusable: hanging up");
                    self.send_bye(now, id);
                    return;
                }
            }
        }
        if hangup_pending {
            self.send_bye(now, id);
        }
    }

    fn handle_cancel(&mut self, now: Instant, msg: &Message, dest: Peer, key: TxKey) {
        let invite_key = TxKey {
            method: Method::Invite,
            ..key.clone()
        };
        // A retransmitted CANCEL gets its first answer again.
        if let Some(&id) = self.tx_index.get(&key) {
            if let Some((d, b)) = self
                .other_txs
                .get(&id)
                .and_then(|tx| tx.on_retransmission())
                .map(|(d, b)| (d, b.to_vec()))
            {
                self.send(d, b);
            }
            return;
        }
        let Some(&tx_id) = self.tx_index.get(&invite_key) else {
            self.reply_481(now, msg, dest, key);
            return;
        };
        let Some((tx, call)) = self.invite_txs.get(&tx_id) else {
            return;
        };
        let proceeding = tx.is_proceeding();
        let call = *call;
        let tag = call
            .and_then(|c| self.calls.get(&c))
            .map(|c| c.local_tag.clone());
        let tag_headers = tag.as_deref();
        // The CANCEL itself is always answered 200; it only matters before the final response.
        let ok = self.build_response(msg, 200, "OK", tag_headers, &[], None);
        self.record_other_tx(now, key, dest, ok);
        if !proceeding {
            return;
        }
        let Some(id) = call else {
            return;
        };
        let Some(invite) = self.calls.get_mut(&id).and_then(|c| c.invite.take()) else {
            return;
        };
        self.final_invite_response(
            now,
            tx_id,
            &invite,
            487,
            "Request Terminated",
            tag_headers,
            &[],
            None,
        );
        self.end_call(id, EndReason::Cancelled);
    }

    fn handle_bye(&mut self, now: Instant, msg: &Message, dest: Peer, key: TxKey) {
        let Some(id) = self.dialog_call(msg) else {
            self.reply_481(now, msg, dest, key);
            return;
        };
        self.reply_stateful(now, msg, dest, key, 200, "OK", &[]);
        // A BYE on an early dialog (§15: the caller may send one while it rings) leaves the
        // INVITE unanswered: it still gets a final response, 487 (§15.1.2), which also lets
        // its transaction end instead of waiting in Proceeding forever.
        if let Some(call) = self.calls.get_mut(&id)
            && matches!(call.state, CallState::Offered | CallState::Ringing)
            && let (Some(tx_id), Some(invite)) = (call.invite_tx, call.invite.take())
        {
            let tag = call.local_tag.clone();
            self.final_invite_response(
                now,
                tx_id,
                &invite,
                487,
                "Request Terminated",
                Some(&tag),
                &[],
                None,
            );
        } else if let Some(tx_id) = self.calls.get(&id).and_then(|c| c.invite_tx)
            && let Some((tx, _)) = self.invite_txs.get_mut(&tx_id)
        {
            // A BYE before the ACK also settles the 2xx (§15.1.2): stop re-sending it.
            tx.on_2xx_ack();
        }
        self.end_call(id, EndReason::RemoteBye);
    }

    fn handle_info(&mut self, now: Instant, msg: &Message, dest: Peer, key: TxKey) {
        let Some(id) = self.dialog_call(msg) else {
            self.reply_481(now, msg, dest, key);
            return;
        };
        let digit = if msg.content_type_is("application/dtmf-relay") {
            dtmf::parse_dtmf_relay(&msg.body)
        } else if msg.content_type_is("application/dtmf") {
            dtmf::parse_application_dtmf(&msg.body)
        } else if msg.body.is_empty() {
            None // an empty INFO is a keep-alive probe: just answer it
        } else {
            let headers = [(HeaderName::Accept, ACCEPT.to_string())];
            self.reply_stateful(now, msg, dest, key, 415, "Unsupported Media Type", &headers);
            return;
        };
        self.reply_stateful(now, msg, dest, key, 200, "OK", &[]);
        if let Some(digit) = digit {
            self.events.push_back(Event::Dtmf { call: id, digit });
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

    /// Whether the bridge takes new calls: when not, OPTIONS gets `503` with `Retry-After`,
    /// so a proxy that probes with OPTIONS (Kamailio's dispatcher) routes calls elsewhere.
    pub fn set_available(&mut self, available: bool) {
        self.available = available;
    }

    /// Answers an incoming call with our media address (after `answer_delay`, ringing meanwhile).
    pub fn accept(&mut self, now: Instant, id: CallId, local: LocalMedia) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.state != CallState::Offered {
            return;
        }
        call.local = Some(local);
        if self.config.answer_delay.is_zero() {
            self.send_answer(now, id);
            return;
        }
        call.state = CallState::Ringing;
        let at = now + self.config.answer_delay;
        call.answer_at = Some(at);
        let tag = call.local_tag.clone();
        let (Some(invite), Some(tx_id)) = (call.invite.clone(), call.invite_tx) else {
            return;
        };
        let ringing = self.build_response(&invite, 180, "Ringing", Some(&tag), &[], None);
        let dest = match self.invite_txs.get_mut(&tx_id) {
            Some((tx, _)) => {
                tx.send_provisional(ringing.clone());
                tx.peer()
            }
            None => return,
        };
        self.send(dest, ringing);
        self.schedule(Some(at), TimerRef::Answer(id.0));
    }

    fn send_answer(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let (Some(invite), Some(tx_id), Some(local)) =
            (call.invite.clone(), call.invite_tx, call.local)
        else {
            return;
        };
        let tag = call.local_tag.clone();
        let transport = call.peer.transport;
        let sips = call.sips;
        let policy = self.config.srtp_policy(transport);
        let rng = &mut self.rng;
        let (body, params) = if invite.body.is_empty() {
            call.offer_pending = true;
            call.srtp_key = policy
                .offers_srtp()
                .then(|| MasterKey::random(sdp::OFFER_SUITE, rng));
            (
                sdp::offer(&local, call.srtp_key.as_ref()).into_bytes(),
                None,
            )
        } else {
            match sdp::answer_with(&invite.body, &local, policy, &mut |suite| {
                Some(MasterKey::random(suite, rng))
            }) {
                Ok((neg, answer)) => {
                    call.srtp_key = neg.srtp.as_ref().map(|keys| keys.local.clone());
                    (answer.into_bytes(), Some(neg))
                }
                Err(_) => {
                    // Checked when the INVITE arrived; cannot differ now.
                    self.reject(now, id, 488, None);
                    return;
                }
            }
        };
        call.state = CallState::Answered;
        call.answer_at = None;
        let contact = self.contact(local.ip, transport, sips);
        let headers = [
            (HeaderName::Contact, contact),
            (HeaderName::Allow, ALLOW.to_string()),
        ];
        self.final_invite_response(
            now,
            tx_id,
            &invite,
            200,
            "OK",
            Some(&tag),
            &headers,
            Some(&body),
        );
        if let Some(params) = params {
            self.events
                .push_back(Event::MediaUpdate { call: id, params });
        }
    }

    /// Refuses an incoming call that has not been answered yet (e.g. 503 when out of ports).
    pub fn reject(&mut self, now: Instant, id: CallId, code: u16, retry_after: Option<u32>) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if !matches!(call.state, CallState::Offered | CallState::Ringing) {
            return;
        }
        let tag = call.local_tag.clone();
        let (Some(invite), Some(tx_id)) = (call.invite.take(), call.invite_tx) else {
            return;
        };
        let headers: Vec<(HeaderName, String)> = retry_after
            .map(|s| (HeaderName::RetryAfter, s.to_string()))
            .into_iter()
            .collect();
        self.final_invite_response(
            now,
            tx_id,
            &invite,
            code,
            message::reason_phrase(code),
            Some(&tag),
            &headers,
            None,
        );
        self.remove_call(id);
    }

    /// Ends a call from our side: BYE once it is confirmed, a final error before it is answered.
    pub fn hangup(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        match call.state {
            CallState::Offered | CallState::Ringing => {
                self.reject(now, id, 480, None);
                self.events.push_back(Event::CallEnded {
                    call: id,
                    reason: EndReason::LocalHangup,
                });
            }
            // §15: no BYE before the ACK; it goes out when the ACK (or Timer L) comes.
            CallState::Answered => call.hangup_pending = true,
            CallState::Confirmed => self.send_bye(now, id),
        }
    }

    /// Hangs up every call (shutdown).
    pub fn hangup_all(&mut self, now: Instant) {
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            self.hangup(now, id);
        }
    }

    fn send_bye(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.local_cseq = call.local_cseq.wrapping_add(1) & 0x7fff_ffff;
        let ip = call
            .local
            .as_ref()
            .map(|l| l.ip)
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let branch = format!("{MAGIC_COOKIE}{}", random_token(&mut self.rng, 20));
        let mut bye = message::request(Method::Bye, &call.remote_target);
        bye.add_header(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                call.peer.transport,
                sent_by(&self.config, ip, call.peer.transport)
            ),
        );
        for route in &call.route_set {
            bye.add_header(HeaderName::Route, route.clone());
        }
        bye.add_header(HeaderName::MaxForwards, "70");
        bye.add_header(HeaderName::From, call.local_to.clone());
        bye.add_header(HeaderName::To, call.remote_from.clone());
        bye.add_header(HeaderName::CallId, call.sip_call_id.clone());
        bye.add_header(HeaderName::CSeq, format!("{} BYE", call.local_cseq));
        bye.add_header(HeaderName::UserAgent, self.config.server_name.clone());
        let bytes = bye.to_bytes();
        let peer = call.peer;
        let tx_id = self.next_id();
        let tx = NonInviteClient::new(now, peer, bytes.clone(), self.config.timers);
        let next = tx.next_timeout();
        self.client_txs.insert(tx_id, (tx, branch.clone()));
        self.client_index.insert(branch, tx_id);
        self.schedule(next, TimerRef::Client(tx_id));
        self.send(peer, bytes);
        self.end_call(id, EndReason::LocalHangup);
    }

    fn end_call(&mut self, id: CallId, reason: EndReason) {
        if self.remove_call(id) {
            self.events.push_back(Event::CallEnded { call: id, reason });
        }
    }

    fn remove_call(&mut self, id: CallId) -> bool {
        match self.calls.remove(&id) {
            Some(call) => {
                self.dialogs.remove(&(call.sip_call_id, call.local_tag));
                true
            }
            None => false,
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

    /// Our Contact for a call over `transport`; `sips` when the caller asked for a SIPS URI.
    fn contact(&self, ip: IpAddr, transport: Transport, sips: bool) -> String {
        let at = sent_by(&self.config, ip, transport);
        match transport {
            Transport::Udp => format!("<sip:{at}>"),
            Transport::Tcp => format!("<sip:{at};transport=tcp>"),
            Transport::Tls if sips => format!("<sips:{at}>"),
            Transport::Tls => format!("<sip:{at};transport=tls>"),
        }
    }

    /// Builds a response to `req` with our `Server` header and, if given, our To tag.
    fn build_response(
        &self,
        req: &Message,
        code: u16,
        reason: &str,
        tag: Option<&str>,
        headers: &[(HeaderName, String)],
        body: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut resp = message::response_to(req, code, reason);
        if code > 100
            && let Some(tag) = tag
            && resp.to_header().ok().is_some_and(|t| t.tag().is_none())
        {
            let to = resp.header(&HeaderName::To).unwrap_or_default().to_string();
            resp.set_header(HeaderName::To, with_tag(&to, tag));
        }
        // RFC 3261 §12.1.1: a response that makes a dialog carries the INVITE's Record-Route,
        // so the caller's ACK, BYE and INFO come back through the proxies that asked to stay.
        if (101..300).contains(&code) && req.method() == Some(&Method::Invite) {
            let routes: Vec<String> = req
                .headers_named(&HeaderName::RecordRoute)
                .map(str::to_string)
                .collect();
            for route in routes {
                resp.add_header(HeaderName::RecordRoute, route);
            }
        }
        for (name, value) in headers {
            resp.add_header(name.clone(), value.clone());
        }
        resp.add_header(HeaderName::Server, self.config.server_name.clone());
        if let Some(body) = body {
            resp.add_header(HeaderName::ContentType, "application/sdp");
            resp.body = body.to_vec();
        }
        resp.to_bytes()
    }

    #[allow(clippy::too_many_arguments)]
    fn final_invite_response(
        &mut self,
        now: Instant,
        tx_id: u64,
        req: &Message,
        code: u16,
        reason: &str,
        tag: Option<&str>,
        headers: &[(HeaderName, String)],
        body: Option<&[u8]>,
    ) {
        let bytes = self.build_response(req, code, reason, tag, headers, body);
        let Some((tx, _)) = self.invite_txs.get_mut(&tx_id) else {
            return;
        };
        tx.send_final(now, code, bytes.clone());
        let dest = tx.peer();
        let next = tx.next_timeout();
        self.send(dest, bytes);
        self.schedule(next, TimerRef::Invite(tx_id));
    }

    /// Answers a request through a new non-INVITE server transaction (absorbs retransmissions).
    #[allow(clippy::too_many_arguments)]
    fn reply_stateful(
        &mut self,
        now: Instant,
        req: &Message,
        dest: Peer,
        key: TxKey,
        code: u16,
        reason: &str,
        headers: &[(HeaderName, String)],
    ) {
        let tag = self
            .dialog_call(req)
            .and_then(|id| self.calls.get(&id))
            .map(|c| c.local_tag.clone())
            .unwrap_or_else(|| random_token(&mut self.rng, 16));
        let bytes = self.build_response(req, code, reason, Some(&tag), headers, None);
        if req.method() == Some(&Method::Invite) {
            let tx_id = self.next_id();
            let mut tx = InviteServer::new(dest, self.config.timers);
            tx.send_final(now, code, bytes.clone());
            let next = tx.next_timeout();
            self.invite_txs.insert(tx_id, (tx, None));
            self.index_tx(key, tx_id);
            self.schedule(next, TimerRef::Invite(tx_id));
            self.send(dest, bytes);
        } else {
            self.record_other_tx(now, key, dest, bytes);
        }
    }

    fn record_other_tx(&mut self, now: Instant, key: TxKey, dest: Peer, bytes: Vec<u8>) {
        let tx_id = self.next_id();
        let mut tx = NonInviteServer::new(dest, self.config.timers);
        tx.send_final(now, bytes.clone());
        let next = tx.next_timeout();
        self.other_txs.insert(tx_id, tx);
        self.index_tx(key, tx_id);
        self.schedule(next, TimerRef::Other(tx_id));
        self.send(dest, bytes);
    }

    /// Answers a request for a dialog or transaction we do not know (§12.2.2).
    fn reply_481(&mut self, now: Instant, req: &Message, dest: Peer, key: TxKey) {
        self.reply_stateful(
            now,
            req,
            dest,
            key,
            481,
            "Call/Transaction Does Not Exist",
            &[],
        );
    }

    /// Answers without keeping a transaction: for requests too broken to match one.
    fn reply_stateless(
        &mut self,
        _now: Instant,
        req: &Message,
        dest: Peer,
        code: u16,
        reason: &str,
        headers: &[(HeaderName, String)],
    ) {
        let tag = random_token(&mut self.rng, 16);
        let bytes = self.build_response(req, code, reason, Some(&tag), headers, None);
        self.send(dest, bytes);
    }
}

/// Our `host:port` in Via and Contact over `transport`: over TLS the TLS port, and the
/// `--sip-domain` name when set (a peer checks it against our certificate).
fn sent_by(config: &EndpointConfig, ip: IpAddr, transport: Transport) -> String {
    match (transport, &config.sip_domain) {
        (Transport::Tls, Some(domain)) => format!("{domain}:{}", config.tls_port),
        (Transport::Tls, None) => host_port(ip, config.tls_port),
        _ => host_port(ip, config.sip_port),
    }
}

/// Formats `ip:port` with brackets for IPv6.
pub fn host_port(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

/// RFC 3261 §18.2.1 and RFC 3581: note where the request really came from in its top Via.
fn stamp_via(msg: &mut Message, via: &mut Via, source: SocketAddr) {
    let source_ip = source.ip().to_string();
    let host = via.host.trim_start_matches('[').trim_end_matches(']');
    let differs = host.parse::<IpAddr>().map_or(true, |ip| ip != source.ip());
    let mut changed = false;
    if via.has_rport() {
        via.set_param("rport", Some(source.port().to_string()));
        via.set_param("received", Some(source_ip));
        changed = true;
    } else if differs {
        via.set_param("received", Some(source_ip));
        changed = true;
    }
    if !changed {
        return;
    }
    // Replace the first element of the first Via header, keeping any others as received.
    let first = msg.header(&HeaderName::Via).unwrap_or_default().to_string();
    let rest: Vec<&str> = crate::sip::header::split_comma_list(&first)
        .into_iter()
        .skip(1)
        .collect();
    let mut value = via.to_string();
    for r in rest {
        value.push_str(", ");
        value.push_str(r.trim());
    }
    let others: Vec<String> = msg
        .headers_named(&HeaderName::Via)
        .skip(1)
        .map(str::to_owned)
        .collect();
    msg.remove_header(&HeaderName::Via);
    // Via must stay the first header block in order; responses copy Vias in this order.
    msg.headers.insert(
        0,
        crate::sip::message::Header {
            name: HeaderName::Via,
            value,
        },
    );
    for (i, v) in others.into_iter().enumerate() {
        msg.headers.insert(
            i + 1,
            crate::sip::message::Header {
                name: HeaderName::Via,
                value: v,
            },
        );
    }
}

/// The top Via as far as it can be read: strictly, or else its sent-by and good parameters,
/// which is enough to send a 400 back (RFC 4475 badinv01).
fn readable_top_via(msg: &Message) -> Option<Via> {
    msg.top_via().ok().or_else(|| {
        let value = msg.header(&HeaderName::Via)?;
        Via::parse_lenient(crate::sip::header::split_comma_list(value).first()?)
    })
}

/// Where responses to a request go (RFC 3261 §18.2.2, RFC 3581 §4): on a stream, back on
/// the connection it came from; over UDP, to the source address and the Via port (or the
/// source port with `rport`).
fn response_destination(source: Peer, via: &Via) -> Peer {
    if source.is_reliable() || via.has_rport() {
        source
    } else {
        Peer::udp(SocketAddr::new(source.addr.ip(), via.port.unwrap_or(5060)))
    }
}

/// Where in-dialog requests go (RFC 3261 §12.1.1): the Contact URI, else the From URI, made a
/// valid Request-URI by `as_request_uri`; None when neither can be one.
fn remote_target(msg: &Message) -> Option<String> {
    let contact = msg.contact().ok().flatten().map(|c| c.uri);
    let from = msg.from_header().ok().map(|f| f.uri);
    [contact, from]
        .into_iter()
        .flatten()
        .find_map(|uri| as_request_uri(&uri))
}

/// A URI as the Request-URI of a request we send: `?headers` of a SIP URI dropped (they are
/// not allowed there, §19.1.1), and only if our own parser reads it, since the peer must too.
/// `validate` only checks the shape of name-addr values, not the URI inside them.
fn as_request_uri(uri: &str) -> Option<String> {
    let (parsed, has_headers) = parse_uri(uri, "Contact").ok()?;
    let uri = if has_headers {
        // Headers follow the host; the user part before the last `@` may contain `?` itself.
        let host_from = uri.rfind('@').map_or(0, |at| at + 1);
        let q = host_from + uri.get(host_from..)?.find('?')?;
        uri.get(..q)?
    } else {
        uri
    };
    if matches!(parsed.scheme, UriScheme::Other(_)) {
        return None;
    }
    Some(uri.to_owned())
}

/// The server transaction key of a request (RFC 3261 §17.2.3, with the RFC 2543 fallback).
fn tx_key(msg: &Message, via: &Via, method: &Method) -> TxKey {
    let method = if *method == Method::Ack {
        Method::Invite
    } else {
        method.clone()
    };
    let sent_by = format!(
        "{}:{}",
        via.host.to_ascii_lowercase(),
        via.port.unwrap_or(5060)
    );
    match via.branch() {
        Some(b) if b.starts_with(MAGIC_COOKIE) => TxKey {
            branch: b.to_string(),
            sent_by,
            method,
        },
        other => {
            // RFC 2543 peers: Request-URI, From tag, Call-ID, CSeq number and top Via identify it.
            let from_tag = msg
                .from_header()
                .ok()
                .and_then(|f| f.tag().map(str::to_owned))
                .unwrap_or_default();
            let cseq = msg.cseq().map(|c| c.seq).unwrap_or(0);
            TxKey {
                branch: format!(
                    "2543|{}|{}|{}|{}|{}",
                    other.unwrap_or(""),
                    msg.call_id().unwrap_or(""),
                    from_tag,
                    cseq,
                    if method == Method::Invite || method == Method::Cancel {
                        ""
                    } else {
                        msg.request_uri().unwrap_or("")
                    }
                ),
                sent_by,
                method,
            }
        }
    }
}

#[cfg(test)]
mod tests;
