//! RFC 3261 §17 transaction state machines (with the RFC 6026 `Accepted` state), sans-IO.
//!
//! A transaction keeps the bytes it last sent and re-sends them on its timers; the endpoint
//! owns every transaction, asks each one for its next deadline and calls `on_timeout` when the
//! clock reaches it. Nothing here reads a clock: `now` always comes from the caller.

use crate::sip::header::split_comma_list;
use crate::sip::message::{self, HeaderName, Message, Method};
use crate::sip::transport::Peer;
use std::time::{Duration, Instant};

/// Timer D for unreliable transports: RFC 3261 Table 4 asks for at least 32 s, independent of
/// T1, because it covers the server's whole retransmission window for the final response.
pub const TIMER_D_UNRELIABLE: Duration = Duration::from_secs(32);

/// RFC 3261 timer base values (§17.1.1.1, Table 4); tests shrink them, operators may tune them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// Round-trip estimate: the first retransmission interval.
    pub t1: Duration,
    /// Cap of the retransmission interval for non-INVITE requests and INVITE responses.
    pub t2: Duration,
    /// Longest time a message stays in the network.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64·T1: the lifetime of a transaction (Timers B, F, H, J, L).
    pub fn transaction_timeout(&self) -> Duration {
        self.t1 * 64
    }

    fn next_interval(&self, current: Duration) -> Duration {
        (current * 2).min(self.t2)
    }
}

/// What a transaction asks of its owner when one of its timers fires.
#[derive(Debug, PartialEq, Eq)]
pub enum TimerOutcome {
    /// Nothing to do (a stale deadline).
    Idle,
    /// Send these bytes again to this address.
    Retransmit(Peer, Vec<u8>),
    /// A 2xx to an INVITE was never acknowledged within 64·T1: the dialog must be ended with BYE.
    AckTimeout,
    /// Our request got no final response within 64·T1 (Timer F; Timer B for an INVITE).
    RequestTimeout,
    /// The transaction is over and can be forgotten.
    Terminated,
}

/// Where an INVITE server transaction stands (RFC 3261 Figure 7, RFC 6026 Figure 5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InviteServerState {
    /// No final response yet; the last provisional is re-sent for a retransmitted INVITE.
    Proceeding,
    /// A 2xx was sent. It is retransmitted (T1 doubling to T2) until the dialog's ACK arrives;
    /// retransmitted INVITEs are absorbed until Timer L.
    Accepted {
        /// Next 2xx retransmission, None once the ACK has arrived.
        retransmit_at: Option<Instant>,
        /// The current retransmission interval.
        interval: Duration,
        /// Timer L: end of the transaction (and of the wait for the ACK).
        timer_l: Instant,
    },
    /// A 3xx–6xx was sent and is retransmitted on Timer G until the ACK, or until Timer H.
    Completed {
        /// Timer G.
        retransmit_at: Instant,
        /// The current Timer G interval.
        interval: Duration,
        /// Timer H.
        timer_h: Instant,
    },
    /// The ACK for a 3xx–6xx arrived; retransmitted ACKs are absorbed until Timer I.
    Confirmed {
        /// Timer I.
        timer_i: Instant,
    },
    /// Nothing left to do.
    Terminated,
}

/// An INVITE server transaction: answers retransmitted INVITEs and carries the
/// retransmission of our final response.
#[derive(Debug)]
pub struct InviteServer {
    state: InviteServerState,
    peer: Peer,
    last_response: Option<Vec<u8>>,
    timers: Timers,
}

impl InviteServer {
    /// Starts a transaction for an INVITE that came from `peer` (responses go there).
    pub fn new(peer: Peer, timers: Timers) -> Self {
        InviteServer {
            state: InviteServerState::Proceeding,
            peer,
            last_response: None,
            timers,
        }
    }

    /// The current state.
    pub fn state(&self) -> &InviteServerState {
        &self.state
    }

    /// Where responses are sent.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// True while no final response has been sent (a CANCEL can still take effect).
    pub fn is_proceeding(&self) -> bool {
        self.state == InviteServerState::Proceeding
    }

    /// Records a provisional response that is being sent; ignored after a final response.
    pub fn send_provisional(&mut self, bytes: Vec<u8>) {
        if self.is_proceeding() {
            self.last_response = Some(bytes);
        }
    }

    /// Records a final response that is being sent and starts its retransmission timers.
    pub fn send_final(&mut self, now: Instant, status: u16, bytes: Vec<u8>) {
        if !self.is_proceeding() {
            return;
        }
        self.last_response = Some(bytes);
        let t1 = self.timers.t1;
        self.state = if (200..300).contains(&status) {
            InviteServerState::Accepted {
                retransmit_at: Some(now + t1),
                interval: t1,
                timer_l: now + self.timers.transaction_timeout(),
            }
        } else {
            let timer_h = now + self.timers.transaction_timeout();
            InviteServerState::Completed {
                // Timer G runs only on unreliable transports (§17.2.1).
                retransmit_at: if self.peer.is_reliable() {
                    timer_h
                } else {
                    now + t1
                },
                interval: t1,
                timer_h,
            }
        };
    }

    /// A retransmission of the INVITE arrived: returns what to send back, if anything.
    pub fn on_retransmission(&self) -> Option<(Peer, &[u8])> {
        match self.state {
            InviteServerState::Proceeding
            | InviteServerState::Completed { .. }
            | InviteServerState::Accepted {
                retransmit_at: Some(_),
                ..
            } => self.last_response.as_deref().map(|b| (self.peer, b)),
            _ => None,
        }
    }

    /// The ACK for a 3xx–6xx final response (same branch) arrived.
    pub fn on_ack(&mut self, now: Instant) {
        if let InviteServerState::Completed { .. } = self.state {
            // Timer I is T4 for unreliable transports, zero for reliable ones (§17.2.1).
            let wait = if self.peer.is_reliable() {
                Duration::ZERO
            } else {
                self.timers.t4
            };
            self.state = InviteServerState::Confirmed {
                timer_i: now + wait,
            };
        }
    }

    /// The dialog's ACK for our 2xx arrived: stop retransmitting it.
    pub fn on_2xx_ack(&mut self) {
        if let InviteServerState::Accepted { retransmit_at, .. } = &mut self.state {
            *retransmit_at = None;
            // Retransmitted INVITEs are now absorbed silently: the 2xx bytes are not needed.
            self.last_response = None;
        }
    }

    /// True once the 2xx has been acknowledged (or there was none to acknowledge).
    pub fn is_acknowledged(&self) -> bool {
        !matches!(
            self.state,
            InviteServerState::Accepted {
                retransmit_at: Some(_),
                ..
            }
        )
    }

    /// The earliest instant at which `on_timeout` has work to do.
    pub fn next_timeout(&self) -> Option<Instant> {
        match self.state {
            InviteServerState::Proceeding | InviteServerState::Terminated => None,
            InviteServerState::Accepted {
                retransmit_at,
                timer_l,
                ..
            } => Some(retransmit_at.map_or(timer_l, |r| r.min(timer_l))),
            InviteServerState::Completed {
                retransmit_at,
                timer_h,
                ..
            } => Some(retransmit_at.min(timer_h)),
            InviteServerState::Confirmed { timer_i } => Some(timer_i),
        }
    }

    /// Runs the timers that are due at `now`.
    pub fn on_timeout(&mut self, now: Instant) -> TimerOutcome {
        let timers = self.timers;
        match &mut self.state {
            InviteServerState::Proceeding | InviteServerState::Terminated => TimerOutcome::Idle,
            InviteServerState::Accepted {
                retransmit_at,
                interval,
                timer_l,
            } => {
                if now >= *timer_l {
                    let acked = retransmit_at.is_none();
                    self.state = InviteServerState::Terminated;
                    return if acked {
                        TimerOutcome::Terminated
                    } else {
                        TimerOutcome::AckTimeout
                    };
                }
                match retransmit_at {
                    Some(at) if now >= *at => {
                        *interval = timers.next_interval(*interval);
                        *at = now + *interval;
                        self.retransmit()
                    }
                    _ => TimerOutcome::Idle,
                }
            }
            InviteServerState::Completed {
                retransmit_at,
                interval,
                timer_h,
            } => {
                if now >= *timer_h {
                    // Timer H: the ACK never came; the response is abandoned (§17.2.1).
                    self.state = InviteServerState::Terminated;
                    return TimerOutcome::Terminated;
                }
                if now >= *retransmit_at {
                    *interval = timers.next_interval(*interval);
                    *retransmit_at = now + *interval;
                    return self.retransmit();
                }
                TimerOutcome::Idle
            }
            InviteServerState::Confirmed { timer_i } => {
                if now >= *timer_i {
                    self.state = InviteServerState::Terminated;
                    TimerOutcome::Terminated
                } else {
                    TimerOutcome::Idle
                }
            }
        }
    }

    fn retransmit(&self) -> TimerOutcome {
        match &self.last_response {
            Some(bytes) => TimerOutcome::Retransmit(self.peer, bytes.clone()),
            None => TimerOutcome::Idle,
        }
    }
}

/// Where a non-INVITE server transaction stands (RFC 3261 Figure 8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NonInviteServerState {
    /// The request is being handled; retransmissions are absorbed silently.
    Trying,
    /// The final response was sent; retransmitted requests get it again until Timer J.
    Completed {
        /// Timer J.
        timer_j: Instant,
    },
    /// Nothing left to do.
    Terminated,
}

/// A non-INVITE server transaction (BYE, CANCEL, OPTIONS, INFO, …).
#[derive(Debug)]
pub struct NonInviteServer {
    state: NonInviteServerState,
    peer: Peer,
    last_response: Option<Vec<u8>>,
    timers: Timers,
}

impl NonInviteServer {
    /// Starts a transaction for a request from `peer`.
    pub fn new(peer: Peer, timers: Timers) -> Self {
        NonInviteServer {
            state: NonInviteServerState::Trying,
            peer,
            last_response: None,
            timers,
        }
    }

    /// The current state.
    pub fn state(&self) -> &NonInviteServerState {
        &self.state
    }

    /// Records the final response being sent; Timer J keeps it for retransmitted requests.
    pub fn send_final(&mut self, now: Instant, bytes: Vec<u8>) {
        if self.state != NonInviteServerState::Trying {
            return;
        }
        self.last_response = Some(bytes);
        // Timer J is 64·T1 for unreliable transports, zero for reliable ones (§17.2.2).
        let wait = if self.peer.is_reliable() {
            Duration::ZERO
        } else {
            self.timers.transaction_timeout()
        };
        self.state = NonInviteServerState::Completed {
            timer_j: now + wait,
        };
    }

    /// A retransmission of the request arrived: returns the response to send again, if any.
    pub fn on_retransmission(&self) -> Option<(Peer, &[u8])> {
        match self.state {
            NonInviteServerState::Completed { .. } => {
                self.last_response.as_deref().map(|b| (self.peer, b))
            }
            _ => None,
        }
    }

    /// The earliest instant at which `on_timeout` has work to do.
    pub fn next_timeout(&self) -> Option<Instant> {
        match self.state {
            NonInviteServerState::Completed { timer_j } => Some(timer_j),
            _ => None,
        }
    }

    /// Runs Timer J.
    pub fn on_timeout(&mut self, now: Instant) -> TimerOutcome {
        match self.state {
            NonInviteServerState::Completed { timer_j } if now >= timer_j => {
                self.state = NonInviteServerState::Terminated;
                TimerOutcome::Terminated
            }
            _ => TimerOutcome::Idle,
        }
    }
}

/// Where a non-INVITE client transaction stands (RFC 3261 Figure 6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NonInviteClientState {
    /// Sent; retransmitted on Timer E until a response or Timer F.
    Trying {
        /// Timer E.
        retransmit_at: Instant,
        /// Current Timer E interval.
        interval: Duration,
        /// Timer F.
        timer_f: Instant,
    },
    /// A provisional response arrived; retransmit every T2 until a final response or Timer F.
    Proceeding {
        /// Timer E.
        retransmit_at: Instant,
        /// Timer F.
        timer_f: Instant,
    },
    /// A final response arrived; its retransmissions are absorbed until Timer K.
    Completed {
        /// Timer K.
        timer_k: Instant,
    },
    /// Nothing left to do.
    Terminated,
}

/// A request we send (our BYE), retransmitted per Timers E and F.
#[derive(Debug)]
pub struct NonInviteClient {
    state: NonInviteClientState,
    peer: Peer,
    request: Vec<u8>,
    timers: Timers,
}

/// What a response did to a client transaction.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientResponse {
    /// A provisional response: keep waiting.
    Provisional,
    /// The first final response, with its status code.
    Final(u16),
    /// A retransmitted final response: already handled.
    Absorbed,
}

impl NonInviteClient {
    /// Starts the transaction for `request`, which the caller sends right now to `peer`.
    pub fn new(now: Instant, peer: Peer, request: Vec<u8>, timers: Timers) -> Self {
        let timer_f = now + timers.transaction_timeout();
        NonInviteClient {
            state: NonInviteClientState::Trying {
                // Timer E runs only on unreliable transports (§17.1.2.2).
                retransmit_at: if peer.is_reliable() {
                    timer_f
                } else {
                    now + timers.t1
                },
                interval: timers.t1,
                timer_f,
            },
            peer,
            request,
            timers,
        }
    }

    /// The current state.
    pub fn state(&self) -> &NonInviteClientState {
        &self.state
    }

    /// A response for this transaction arrived.
    pub fn on_response(&mut self, now: Instant, status: u16) -> ClientResponse {
        match self.state {
            NonInviteClientState::Trying { timer_f, .. }
            | NonInviteClientState::Proceeding { timer_f, .. } => {
                if status < 200 {
                    self.state = NonInviteClientState::Proceeding {
                        retransmit_at: if self.peer.is_reliable() {
                            timer_f
                        } else {
                            now + self.timers.t2
                        },
                        timer_f,
                    };
                    ClientResponse::Provisional
                } else {
                    // Timer K is T4 for unreliable transports, zero for reliable (§17.1.2.2).
                    let wait = if self.peer.is_reliable() {
                        Duration::ZERO
                    } else {
                        self.timers.t4
                    };
                    self.state = NonInviteClientState::Completed {
                        timer_k: now + wait,
                    };
                    ClientResponse::Final(status)
                }
            }
            _ => ClientResponse::Absorbed,
        }
    }

    /// The earliest instant at which `on_timeout` has work to do.
    pub fn next_timeout(&self) -> Option<Instant> {
        match self.state {
            NonInviteClientState::Trying {
                retransmit_at,
                timer_f,
                ..
            }
            | NonInviteClientState::Proceeding {
                retransmit_at,
                timer_f,
            } => Some(retransmit_at.min(timer_f)),
            NonInviteClientState::Completed { timer_k } => Some(timer_k),
            NonInviteClientState::Terminated => None,
        }
    }

    /// Runs Timers E, F and K.
    pub fn on_timeout(&mut self, now: Instant) -> TimerOutcome {
        let timers = self.timers;
        match &mut self.state {
            NonInviteClientState::Trying {
                retransmit_at,
                interval,
                timer_f,
            } => {
                if now >= *timer_f {
                    self.state = NonInviteClientState::Terminated;
                    return TimerOutcome::RequestTimeout;
                }
                if now >= *retransmit_at {
                    *interval = timers.next_interval(*interval);
                    *retransmit_at = now + *interval;
                    return TimerOutcome::Retransmit(self.peer, self.request.clone());
                }
                TimerOutcome::Idle
            }
            NonInviteClientState::Proceeding {
                retransmit_at,
                timer_f,
            } => {
                if now >= *timer_f {
                    self.state = NonInviteClientState::Terminated;
                    return TimerOutcome::RequestTimeout;
                }
                if now >= *retransmit_at {
                    *retransmit_at = now + timers.t2;
                    return TimerOutcome::Retransmit(self.peer, self.request.clone());
                }
                TimerOutcome::Idle
            }
            NonInviteClientState::Completed { timer_k } => {
                if now >= *timer_k {
                    self.state = NonInviteClientState::Terminated;
                    TimerOutcome::Terminated
                } else {
                    TimerOutcome::Idle
                }
            }
            NonInviteClientState::Terminated => TimerOutcome::Idle,
        }
    }
}

/// Where an INVITE client transaction stands (RFC 3261 Figure 5, RFC 6026 Figure 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InviteClientState {
    /// Sent, nothing heard yet: retransmitted on Timer A (unreliable transports only) until a
    /// response or Timer B.
    Calling {
        /// Timer A; None on a reliable transport.
        retransmit_at: Option<Instant>,
        /// The current Timer A interval (doubles without cap, §17.1.1.2).
        interval: Duration,
        /// Timer B.
        timer_b: Instant,
    },
    /// A provisional response arrived: the far end has the INVITE, so retransmissions stop
    /// and no timer runs (the TU decides how long to wait, e.g. by CANCEL).
    Proceeding,
    /// A 3xx–6xx arrived and was acknowledged; its retransmissions are ACKed again until
    /// Timer D.
    Completed {
        /// Timer D.
        timer_d: Instant,
    },
    /// A 2xx arrived (RFC 6026): further 2xx (retransmissions, forks) still go up to the
    /// dialog, which ACKs them, until Timer M.
    Accepted {
        /// Timer M.
        timer_m: Instant,
    },
    /// Nothing left to do.
    Terminated,
}

/// What a response did to an INVITE client transaction.
#[derive(Debug, PartialEq, Eq)]
pub enum InviteClientResponse {
    /// A 1xx for the dialog layer.
    Provisional(u16),
    /// A 2xx (first or not) for the dialog layer, which sends the ACK itself (§13.2.2.4).
    Success(u16),
    /// The first 3xx–6xx: for the dialog layer; the transaction's ACK must be sent.
    Failure {
        /// The status code.
        code: u16,
        /// The ACK, and where it goes.
        ack: (Peer, Vec<u8>),
    },
    /// A retransmitted 3xx–6xx: only the ACK goes out again; the dialog layer already knows.
    Reack(Peer, Vec<u8>),
    /// Nothing to do (a late 1xx, a non-2xx after a 2xx, anything once terminated).
    Ignored,
}

/// Our INVITE, retransmitted on Timer A until answered, and the ACK of a non-2xx final
/// response (which belongs to the transaction, unlike the ACK of a 2xx).
#[derive(Debug)]
pub struct InviteClient {
    state: InviteClientState,
    peer: Peer,
    request: Vec<u8>,
    ack_base: AckBase,
    ack: Option<Vec<u8>>,
    timers: Timers,
}

/// The INVITE's fields a non-2xx ACK repeats (§17.1.1.3), kept so the ACK can be built from
/// any response without holding the whole INVITE.
#[derive(Debug)]
struct AckBase {
    request_uri: String,
    top_via: String,
    from: String,
    to: String,
    call_id: String,
    seq: u32,
    routes: Vec<String>,
}

impl InviteClient {
    /// Starts the transaction for `invite`, which the caller sends right now to `peer`.
    pub fn new(now: Instant, peer: Peer, invite: &Message, timers: Timers) -> Self {
        let timer_b = now + timers.transaction_timeout();
        let ack_base = AckBase {
            request_uri: invite.request_uri().unwrap_or_default().to_string(),
            top_via: invite
                .header(&HeaderName::Via)
                .and_then(|v| split_comma_list(v).first().map(|s| s.to_string()))
                .unwrap_or_default(),
            from: invite
                .header(&HeaderName::From)
                .unwrap_or_default()
                .to_string(),
            to: invite
                .header(&HeaderName::To)
                .unwrap_or_default()
                .to_string(),
            call_id: invite.call_id().unwrap_or_default().to_string(),
            seq: invite.cseq().map(|c| c.seq).unwrap_or(1),
            routes: invite
                .headers_named(&HeaderName::Route)
                .map(str::to_string)
                .collect(),
        };
        InviteClient {
            state: InviteClientState::Calling {
                // Timer A runs only on unreliable transports (§17.1.1.2).
                retransmit_at: (!peer.is_reliable()).then(|| now + timers.t1),
                interval: timers.t1,
                timer_b,
            },
            peer,
            request: invite.to_bytes(),
            ack_base,
            ack: None,
            timers,
        }
    }

    /// The current state.
    pub fn state(&self) -> &InviteClientState {
        &self.state
    }

    /// Where the INVITE and its ACK go.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// The INVITE's bytes, as first sent.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// True while no final response has arrived (a CANCEL can still take effect).
    pub fn is_pending(&self) -> bool {
        matches!(
            self.state,
            InviteClientState::Calling { .. } | InviteClientState::Proceeding
        )
    }

    /// True once the transaction has nothing left to do.
    pub fn is_terminated(&self) -> bool {
        self.state == InviteClientState::Terminated
    }

    /// Ends the transaction at once: the TU has given up on it (RFC 3261 §9.1, a CANCEL
    /// left unanswered for 64·T1).
    pub fn abandon(&mut self) {
        self.state = InviteClientState::Terminated;
    }

    /// A response for this transaction (same branch, CSeq method INVITE) arrived.
    pub fn on_response(&mut self, now: Instant, response: &Message) -> InviteClientResponse {
        let Some(code) = response.status() else {
            return InviteClientResponse::Ignored;
        };
        match (&self.state, code) {
            (InviteClientState::Calling { .. } | InviteClientState::Proceeding, 100..=199) => {
                self.state = InviteClientState::Proceeding;
                InviteClientResponse::Provisional(code)
            }
            (InviteClientState::Calling { .. } | InviteClientState::Proceeding, 200..=299) => {
                self.state = InviteClientState::Accepted {
                    timer_m: now + self.timers.transaction_timeout(),
                };
                InviteClientResponse::Success(code)
            }
            (InviteClientState::Accepted { .. }, 200..=299) => InviteClientResponse::Success(code),
            (InviteClientState::Calling { .. } | InviteClientState::Proceeding, _) => {
                let ack = self.build_ack(response);
                self.ack = Some(ack.clone());
                // Timer D is zero on reliable transports: no retransmission to absorb
                // (§17.1.1.2).
                let wait = if self.peer.is_reliable() {
                    Duration::ZERO
                } else {
                    TIMER_D_UNRELIABLE
                };
                self.state = InviteClientState::Completed {
                    timer_d: now + wait,
                };
                InviteClientResponse::Failure {
                    code,
                    ack: (self.peer, ack),
                }
            }
            (InviteClientState::Completed { .. }, 300..) => match &self.ack {
                Some(ack) => InviteClientResponse::Reack(self.peer, ack.clone()),
                None => InviteClientResponse::Ignored,
            },
            _ => InviteClientResponse::Ignored,
        }
    }

    /// The ACK of a non-2xx final response (§17.1.1.3): the INVITE's Request-URI, Call-ID,
    /// From, top Via and Route, the response's To (it carries the tag), CSeq method ACK.
    fn build_ack(&self, response: &Message) -> Vec<u8> {
        let base = &self.ack_base;
        let mut ack = message::request(Method::Ack, &base.request_uri);
        ack.add_header(HeaderName::Via, base.top_via.clone());
        for route in &base.routes {
            ack.add_header(HeaderName::Route, route.clone());
        }
        ack.add_header(HeaderName::MaxForwards, "70");
        ack.add_header(HeaderName::From, base.from.clone());
        let to = response.header(&HeaderName::To).unwrap_or(&base.to);
        ack.add_header(HeaderName::To, to.to_string());
        ack.add_header(HeaderName::CallId, base.call_id.clone());
        ack.add_header(HeaderName::CSeq, format!("{} ACK", base.seq));
        ack.to_bytes()
    }

    /// The earliest instant at which `on_timeout` has work to do.
    pub fn next_timeout(&self) -> Option<Instant> {
        match self.state {
            InviteClientState::Calling {
                retransmit_at,
                timer_b,
                ..
            } => Some(retransmit_at.map_or(timer_b, |r| r.min(timer_b))),
            InviteClientState::Proceeding | InviteClientState::Terminated => None,
            InviteClientState::Completed { timer_d } => Some(timer_d),
            InviteClientState::Accepted { timer_m } => Some(timer_m),
        }
    }

    /// Runs Timers A, B, D and M.
    pub fn on_timeout(&mut self, now: Instant) -> TimerOutcome {
        match &mut self.state {
            InviteClientState::Calling {
                retransmit_at,
                interval,
                timer_b,
            } => {
                if now >= *timer_b {
                    self.state = InviteClientState::Terminated;
                    return TimerOutcome::RequestTimeout;
                }
                match retransmit_at {
                    Some(at) if now >= *at => {
                        // Unlike Timer E, Timer A has no T2 cap (§17.1.1.2).
                        *interval = interval.saturating_mul(2);
                        *at = now + *interval;
                        TimerOutcome::Retransmit(self.peer, self.request.clone())
                    }
                    _ => TimerOutcome::Idle,
                }
            }
            InviteClientState::Completed { timer_d: deadline }
            | InviteClientState::Accepted { timer_m: deadline } => {
                if now >= *deadline {
                    self.state = InviteClientState::Terminated;
                    TimerOutcome::Terminated
                } else {
                    TimerOutcome::Idle
                }
            }
            InviteClientState::Proceeding | InviteClientState::Terminated => TimerOutcome::Idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Peer {
        Peer::udp("127.0.0.1:5061".parse().unwrap())
    }

    fn tcp_peer() -> Peer {
        Peer::tcp("127.0.0.1:40123".parse().unwrap())
    }

    /// Drives a transaction's timers until it asks for nothing more, collecting the outcomes.
    fn run_timers(
        start: Instant,
        mut next: impl FnMut() -> Option<Instant>,
        mut fire: impl FnMut(Instant) -> TimerOutcome,
        limit: usize,
    ) -> Vec<(Duration, TimerOutcome)> {
        let mut out = Vec::new();
        for _ in 0..limit {
            let Some(at) = next() else { break };
            let outcome = fire(at);
            if outcome != TimerOutcome::Idle {
                out.push((at - start, outcome));
            }
        }
        out
    }

    #[test]
    fn invite_2xx_is_retransmitted_doubling_to_t2_until_ack_timeout() {
        let t0 = Instant::now();
        let timers = Timers::default();
        let mut tx = InviteServer::new(peer(), timers);
        tx.send_final(t0, 200, b"200".to_vec());
        let tx = std::cell::RefCell::new(tx);
        let events = run_timers(
            t0,
            || tx.borrow().next_timeout(),
            |at| tx.borrow_mut().on_timeout(at),
            100,
        );
        let times: Vec<u64> = events
            .iter()
            .filter(|(_, o)| matches!(o, TimerOutcome::Retransmit(..)))
            .map(|(d, _)| d.as_millis() as u64)
            .collect();
        // 0.5, 1.5, 3.5, 7.5, then every 4 s up to 32 s.
        assert_eq!(
            &times[..6],
            &[500, 1500, 3500, 7500, 11500, 15500],
            "2xx retransmissions must double from T1 and cap at T2"
        );
        assert!(times.iter().all(|&t| t < 32_000));
        let last = events.last().unwrap();
        assert_eq!(last.0, Duration::from_secs(32), "Timer L is 64*T1");
        assert_eq!(last.1, TimerOutcome::AckTimeout);
    }

    #[test]
    fn invite_2xx_ack_stops_retransmissions_and_ends_quietly() {
        let t0 = Instant::now();
        let mut tx = InviteServer::new(peer(), Timers::default());
        tx.send_final(t0, 200, b"200".to_vec());
        assert_eq!(
            tx.on_timeout(t0 + Duration::from_millis(500)),
            TimerOutcome::Retransmit(peer(), b"200".to_vec())
        );
        tx.on_2xx_ack();
        assert!(tx.is_acknowledged());
        assert_eq!(tx.next_timeout(), Some(t0 + Duration::from_secs(32)));
        assert_eq!(
            tx.on_timeout(t0 + Duration::from_secs(32)),
            TimerOutcome::Terminated
        );
    }

    #[test]
    fn retransmitted_invite_gets_the_last_response_again() {
        let t0 = Instant::now();
        let mut tx = InviteServer::new(peer(), Timers::default());
        assert_eq!(tx.on_retransmission(), None, "nothing sent yet");
        tx.send_provisional(b"100".to_vec());
        assert_eq!(tx.on_retransmission(), Some((peer(), &b"100"[..])));
        tx.send_final(t0, 200, b"200".to_vec());
        assert_eq!(tx.on_retransmission(), Some((peer(), &b"200"[..])));
        tx.send_provisional(b"180".to_vec());
        assert_eq!(
            tx.on_retransmission(),
            Some((peer(), &b"200"[..])),
            "a provisional after the final response is ignored"
        );
    }

    #[test]
    fn invite_error_response_retransmitted_on_timer_g_until_ack_then_timer_i() {
        let t0 = Instant::now();
        let timers = Timers::default();
        let mut tx = InviteServer::new(peer(), timers);
        tx.send_final(t0, 486, b"486".to_vec());
        assert_eq!(
            tx.on_timeout(t0 + Duration::from_millis(500)),
            TimerOutcome::Retransmit(peer(), b"486".to_vec())
        );
        assert_eq!(
            tx.next_timeout(),
            Some(t0 + Duration::from_millis(1500)),
            "Timer G doubles"
        );
        let ack_at = t0 + Duration::from_millis(700);
        tx.on_ack(ack_at);
        assert_eq!(
            tx.state(),
            &InviteServerState::Confirmed {
                timer_i: ack_at + timers.t4
            }
        );
        assert_eq!(tx.on_retransmission(), None, "ACK retransmissions absorbed");
        assert_eq!(tx.on_timeout(ack_at + timers.t4), TimerOutcome::Terminated);
    }

    #[test]
    fn invite_error_response_without_ack_ends_at_timer_h() {
        let t0 = Instant::now();
        let mut tx = InviteServer::new(peer(), Timers::default());
        tx.send_final(t0, 487, b"487".to_vec());
        let tx = std::cell::RefCell::new(tx);
        let events = run_timers(
            t0,
            || tx.borrow().next_timeout(),
            |at| tx.borrow_mut().on_timeout(at),
            100,
        );
        assert_eq!(
            events.last().unwrap(),
            &(Duration::from_secs(32), TimerOutcome::Terminated)
        );
        assert!(events.len() > 5, "response retransmitted several times");
    }

    #[test]
    fn non_invite_server_resends_response_until_timer_j() {
        let t0 = Instant::now();
        let mut tx = NonInviteServer::new(peer(), Timers::default());
        assert_eq!(tx.on_retransmission(), None, "absorbed while trying");
        tx.send_final(t0, b"200 bye".to_vec());
        assert_eq!(tx.on_retransmission(), Some((peer(), &b"200 bye"[..])));
        assert_eq!(tx.next_timeout(), Some(t0 + Duration::from_secs(32)));
        assert_eq!(
            tx.on_timeout(t0 + Duration::from_secs(31)),
            TimerOutcome::Idle
        );
        assert_eq!(
            tx.on_timeout(t0 + Duration::from_secs(32)),
            TimerOutcome::Terminated
        );
    }

    #[test]
    fn bye_is_retransmitted_on_timer_e_and_times_out_on_timer_f() {
        let t0 = Instant::now();
        let tx = std::cell::RefCell::new(NonInviteClient::new(
            t0,
            peer(),
            b"BYE".to_vec(),
            Timers::default(),
        ));
        let events = run_timers(
            t0,
            || tx.borrow().next_timeout(),
            |at| tx.borrow_mut().on_timeout(at),
            100,
        );
        let times: Vec<u128> = events
            .iter()
            .filter(|(_, o)| matches!(o, TimerOutcome::Retransmit(..)))
            .map(|(d, _)| d.as_millis())
            .collect();
        assert_eq!(&times[..5], &[500, 1500, 3500, 7500, 11500]);
        assert_eq!(
            events.last().unwrap(),
            &(Duration::from_secs(32), TimerOutcome::RequestTimeout)
        );
    }

    #[test]
    fn bye_final_response_completes_and_absorbs_retransmitted_responses() {
        let t0 = Instant::now();
        let timers = Timers::default();
        let mut tx = NonInviteClient::new(t0, peer(), b"BYE".to_vec(), timers);
        let at = t0 + Duration::from_millis(100);
        assert_eq!(tx.on_response(at, 100), ClientResponse::Provisional);
        assert_eq!(
            tx.next_timeout(),
            Some(at + timers.t2),
            "Timer E becomes T2 in Proceeding"
        );
        assert_eq!(tx.on_response(at, 200), ClientResponse::Final(200));
        assert_eq!(tx.on_response(at, 200), ClientResponse::Absorbed);
        assert_eq!(tx.on_timeout(at + timers.t4), TimerOutcome::Terminated);
    }

    #[test]
    fn over_tcp_an_error_response_is_never_retransmitted_and_timer_i_is_zero() {
        let t0 = Instant::now();
        let mut tx = InviteServer::new(tcp_peer(), Timers::default());
        tx.send_final(t0, 486, b"486".to_vec());
        assert_eq!(
            tx.next_timeout(),
            Some(t0 + Duration::from_secs(32)),
            "no Timer G on a reliable transport: only Timer H"
        );
        let ack_at = t0 + Duration::from_millis(300);
        tx.on_ack(ack_at);
        assert_eq!(tx.next_timeout(), Some(ack_at), "Timer I is zero");
        assert_eq!(tx.on_timeout(ack_at), TimerOutcome::Terminated);

        let mut tx = InviteServer::new(tcp_peer(), Timers::default());
        tx.send_final(t0, 487, b"487".to_vec());
        let tx = std::cell::RefCell::new(tx);
        let events = run_timers(
            t0,
            || tx.borrow().next_timeout(),
            |at| tx.borrow_mut().on_timeout(at),
            100,
        );
        assert_eq!(
            events,
            vec![(Duration::from_secs(32), TimerOutcome::Terminated)],
            "unacknowledged: nothing re-sent, ends at Timer H"
        );
    }

    #[test]
    fn over_tcp_timer_j_is_zero() {
        let t0 = Instant::now();
        let mut tx = NonInviteServer::new(tcp_peer(), Timers::default());
        tx.send_final(t0, b"200".to_vec());
        assert_eq!(tx.next_timeout(), Some(t0));
        assert_eq!(tx.on_timeout(t0), TimerOutcome::Terminated);
    }

    #[test]
    fn over_tcp_our_bye_is_sent_once_and_times_out_on_timer_f_with_timer_k_zero() {
        let t0 = Instant::now();
        let tx = std::cell::RefCell::new(NonInviteClient::new(
            t0,
            tcp_peer(),
            b"BYE".to_vec(),
            Timers::default(),
        ));
        let events = run_timers(
            t0,
            || tx.borrow().next_timeout(),
            |at| tx.borrow_mut().on_timeout(at),
            100,
        );
        assert_eq!(
            events,
            vec![(Duration::from_secs(32), TimerOutcome::RequestTimeout)],
            "no Timer E on a reliable transport"
        );

        let mut tx = NonInviteClient::new(t0, tcp_peer(), b"BYE".to_vec(), Timers::default());
        let at = t0 + Duration::from_millis(100);
        assert_eq!(tx.on_response(at, 100), ClientResponse::Provisional);
        assert_eq!(tx.next_timeout(), Some(t0 + Duration::from_secs(32)));
        assert_eq!(tx.on_response(at, 200), ClientResponse::Final(200));
        assert_eq!(tx.next_timeout(), Some(at), "Timer K is zero");
        assert_eq!(tx.on_timeout(at), TimerOutcome::Terminated);
    }

    const INVITE: &str = "INVITE sip:conf@192.0.2.20:5060 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKabc123;rport\r\n\
        Route: <sip:proxy.example;lr>\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:node-a@192.0.2.10>;tag=ft1\r\n\
        To: <sip:conf@192.0.2.20>\r\n\
        Call-ID: cid-1@dialbridge\r\n\
        CSeq: 1 INVITE\r\n\
        Contact: <sip:192.0.2.10:5060>\r\n\
        Content-Length: 0\r\n\r\n";

    fn invite() -> crate::sip::message::Message {
        crate::sip::message::parse(INVITE.as_bytes(), crate::sip::message::Framing::Datagram)
            .unwrap()
            .0
    }

    fn invite_response(code: u16, to_tag: &str) -> crate::sip::message::Message {
        let text = format!(
            "SIP/2.0 {code} {}\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKabc123;rport=5060\r\n\
             From: <sip:node-a@192.0.2.10>;tag=ft1\r\n\
             To: <sip:conf@192.0.2.20>;tag={to_tag}\r\n\
             Call-ID: cid-1@dialbridge\r\n\
             CSeq: 1 INVITE\r\n\
             Content-Length: 0\r\n\r\n",
            crate::sip::message::reason_phrase(code)
        );
        crate::sip::message::parse(text.as_bytes(), crate::sip::message::Framing::Datagram)
            .unwrap()
            .0
    }

    #[test]
    fn invite_is_retransmitted_on_timer_a_doubling_without_cap_until_timer_b() {
        let t0 = Instant::now();
        let tx =
            std::cell::RefCell::new(InviteClient::new(t0, peer(), &invite(), Timers::default()));
        let events = run_timers(
            t0,
            || tx.borrow().next_timeout(),
            |at| tx.borrow_mut().on_timeout(at),
            100,
        );
        let times: Vec<u128> = events
            .iter()
            .filter(|(_, o)| matches!(o, TimerOutcome::Retransmit(..)))
            .map(|(d, _)| d.as_millis())
            .collect();
        // 0.5, 1.5, 3.5, 7.5, 15.5, 31.5: the interval keeps doubling past T2.
        assert_eq!(times, vec![500, 1500, 3500, 7500, 15500, 31500]);
        assert!(matches!(
            &events[0].1,
            TimerOutcome::Retransmit(p, bytes) if *p == peer() && bytes.starts_with(b"INVITE ")
        ));
        assert_eq!(
            events.last().unwrap(),
            &(Duration::from_secs(32), TimerOutcome::RequestTimeout),
            "Timer B is 64*T1"
        );
        assert_eq!(tx.borrow().state(), &InviteClientState::Terminated);
    }

    #[test]
    fn over_tcp_the_invite_is_never_retransmitted_and_times_out_on_timer_b() {
        let t0 = Instant::now();
        let tx = std::cell::RefCell::new(InviteClient::new(
            t0,
            tcp_peer(),
            &invite(),
            Timers::default(),
        ));
        let events = run_timers(
            t0,
            || tx.borrow().next_timeout(),
            |at| tx.borrow_mut().on_timeout(at),
            100,
        );
        assert_eq!(
            events,
            vec![(Duration::from_secs(32), TimerOutcome::RequestTimeout)]
        );
    }

    #[test]
    fn a_provisional_response_stops_timer_a_and_timer_b() {
        let t0 = Instant::now();
        let mut tx = InviteClient::new(t0, peer(), &invite(), Timers::default());
        assert!(matches!(
            tx.on_timeout(t0 + Duration::from_millis(500)),
            TimerOutcome::Retransmit(..)
        ));
        let at = t0 + Duration::from_millis(700);
        assert_eq!(
            tx.on_response(at, &invite_response(180, "tt1")),
            InviteClientResponse::Provisional(180)
        );
        assert_eq!(tx.state(), &InviteClientState::Proceeding);
        assert_eq!(tx.next_timeout(), None, "no Timer A or B in Proceeding");
        assert_eq!(
            tx.on_timeout(t0 + Duration::from_secs(40)),
            TimerOutcome::Idle
        );
        assert!(tx.is_pending());
    }

    #[test]
    fn a_non_2xx_final_response_is_acked_and_its_retransmissions_reacked_until_timer_d() {
        let t0 = Instant::now();
        let mut tx = InviteClient::new(t0, peer(), &invite(), Timers::default());
        let at = t0 + Duration::from_millis(200);
        let busy = invite_response(486, "tt1");
        let InviteClientResponse::Failure { code, ack } = tx.on_response(at, &busy) else {
            panic!("expected a failure");
        };
        assert_eq!(code, 486);
        assert_eq!(ack.0, peer());
        let (msg, _) =
            crate::sip::message::parse(&ack.1, crate::sip::message::Framing::Datagram).unwrap();
        assert_eq!(msg.method(), Some(&Method::Ack));
        assert_eq!(msg.request_uri(), Some("sip:conf@192.0.2.20:5060"));
        assert_eq!(
            msg.header(&HeaderName::Via),
            Some("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKabc123;rport"),
            "the INVITE's top Via, same branch"
        );
        assert_eq!(
            msg.header(&HeaderName::Route),
            Some("<sip:proxy.example;lr>")
        );
        assert_eq!(
            msg.header(&HeaderName::From),
            Some("<sip:node-a@192.0.2.10>;tag=ft1")
        );
        assert_eq!(
            msg.header(&HeaderName::To),
            Some("<sip:conf@192.0.2.20>;tag=tt1"),
            "To from the response"
        );
        assert_eq!(msg.call_id(), Some("cid-1@dialbridge"));
        assert_eq!(msg.header(&HeaderName::CSeq), Some("1 ACK"));
        assert_eq!(
            tx.state(),
            &InviteClientState::Completed {
                timer_d: at + Duration::from_secs(32)
            }
        );
        assert!(!tx.is_pending());

        let later = at + Duration::from_secs(1);
        assert_eq!(
            tx.on_response(later, &busy),
            InviteClientResponse::Reack(peer(), ack.1.clone()),
            "a retransmitted 486 is ACKed again, not passed up"
        );
        assert_eq!(
            tx.on_response(later, &invite_response(180, "tt1")),
            InviteClientResponse::Ignored
        );
        assert_eq!(
            tx.on_response(later, &invite_response(200, "tt1")),
            InviteClientResponse::Ignored
        );
        assert_eq!(
            tx.on_timeout(at + Duration::from_secs(31)),
            TimerOutcome::Idle
        );
        assert_eq!(
            tx.on_timeout(at + Duration::from_secs(32)),
            TimerOutcome::Terminated
        );
        assert!(tx.is_terminated());
        assert_eq!(tx.on_response(later, &busy), InviteClientResponse::Ignored);
    }

    #[test]
    fn over_tcp_timer_d_is_zero() {
        let t0 = Instant::now();
        let mut tx = InviteClient::new(t0, tcp_peer(), &invite(), Timers::default());
        assert!(matches!(
            tx.on_response(t0, &invite_response(603, "x")),
            InviteClientResponse::Failure { code: 603, .. }
        ));
        assert_eq!(tx.next_timeout(), Some(t0));
        assert_eq!(tx.on_timeout(t0), TimerOutcome::Terminated);
    }

    #[test]
    fn a_2xx_moves_to_accepted_passing_up_every_2xx_until_timer_m() {
        let t0 = Instant::now();
        let timers = Timers::default();
        let mut tx = InviteClient::new(t0, peer(), &invite(), timers);
        let at = t0 + Duration::from_millis(300);
        let ok = invite_response(200, "tt1");
        assert_eq!(tx.on_response(at, &ok), InviteClientResponse::Success(200));
        assert_eq!(
            tx.state(),
            &InviteClientState::Accepted {
                timer_m: at + timers.transaction_timeout()
            }
        );
        assert_eq!(
            tx.on_response(at + Duration::from_millis(500), &ok),
            InviteClientResponse::Success(200),
            "retransmitted 2xx go up: the dialog ACKs them"
        );
        assert_eq!(
            tx.on_response(at, &invite_response(486, "tt1")),
            InviteClientResponse::Ignored
        );
        assert_eq!(
            tx.on_timeout(at + Duration::from_millis(600)),
            TimerOutcome::Idle,
            "no Timer A once answered"
        );
        assert_eq!(tx.next_timeout(), Some(at + Duration::from_secs(32)));
        assert_eq!(
            tx.on_timeout(at + Duration::from_secs(32)),
            TimerOutcome::Terminated
        );
        assert_eq!(tx.on_response(at, &ok), InviteClientResponse::Ignored);
    }

    #[test]
    fn an_abandoned_invite_transaction_is_over() {
        let t0 = Instant::now();
        let mut tx = InviteClient::new(t0, peer(), &invite(), Timers::default());
        tx.on_response(t0, &invite_response(100, "x"));
        tx.abandon();
        assert!(tx.is_terminated());
        assert_eq!(tx.next_timeout(), None);
    }
}
