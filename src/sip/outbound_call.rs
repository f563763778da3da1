//! One outgoing INVITE dialog (RFC 3261 UAC), sans-IO: a node's relay leg to a meeting's owner.

use std::net::SocketAddr;
use std::time::Instant;

use rand::rngs::StdRng;

use crate::sip::random_hex as token;

use crate::sip::endpoint::{ALLOW, Transmit, host_port};
use crate::sip::header::{NameAddr, SipUri, UriScheme, split_comma_list};
use crate::sip::message::{self, HeaderName, Message, Method};
use crate::sip::transaction::{
    ClientResponse, InviteClient, InviteClientResponse, NonInviteClient, TimerOutcome, Timers,
};
use crate::sip::transport::{Peer, Transport};

/// What one relay leg needs to place its INVITE.
#[derive(Clone)]
pub struct OutboundCallConfig {
    /// The node that owns the meeting, and the transport to it; every request goes there.
    pub peer: Peer,
    /// The INVITE's Request-URI (`sip:conference@node-b.example:5060`).
    pub request_uri: String,
    /// Our SIP address as the peer reaches it: Via sent-by and Contact.
    pub local_addr: SocketAddr,
    /// Our From URI; the tag is drawn from the RNG.
    pub from_uri: String,
    /// The To URI (no tag: the far end adds it).
    pub to_uri: String,
    /// Headers the cluster adds (`X-Dialbridge-Conference`, `X-Dialbridge-Role`,
    /// `X-Dialbridge-Auth`…), written in order after ours.
    pub extra_headers: Vec<(HeaderName, String)>,
    /// The SDP offer, sent as the INVITE's `application/sdp` body.
    pub sdp_offer: String,
    /// Transaction timers.
    pub timers: Timers,
    /// `User-Agent`.
    pub user_agent: String,
    /// The Call-ID to use (a relay leg's signature covers it, so it is chosen before the
    /// INVITE is built); None: drawn from the RNG.
    pub call_id: Option<String>,
}

/// Leaves out the extra headers' values: `X-Dialbridge-Auth` is a credential and configs end
/// up in logs.
impl std::fmt::Debug for OutboundCallConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let extra: Vec<&str> = self.extra_headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("OutboundCallConfig")
            .field("peer", &self.peer)
            .field("request_uri", &self.request_uri)
            .field("local_addr", &self.local_addr)
            .field("from_uri", &self.from_uri)
            .field("to_uri", &self.to_uri)
            .field("extra_headers", &extra)
            .field("sdp_offer_len", &self.sdp_offer.len())
            .field("timers", &self.timers)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// Why an `OutboundCallConfig` cannot be used; all of these are local mistakes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutboundCallError {
    /// The Request-URI, From or To URI is not a usable sip: or sips: URI.
    #[error("the {field} URI '{value}' is not a usable sip: or sips: URI")]
    Uri {
        /// Which one: "Request", "From" or "To".
        field: &'static str,
        /// As given.
        value: String,
    },
    /// A URI or header value holds CR, LF or NUL, which would split the message.
    #[error("the value of {0} contains a line break or NUL")]
    Unsafe(String),
    /// An extra header would duplicate one the dialog itself manages.
    #[error("{0} is managed by the call and cannot be given as an extra header")]
    Reserved(String),
}

/// What a call tells the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboundEvent {
    /// The far end is alerting (the first 1xx other than 100 Trying, which only says a hop
    /// got the INVITE); reported once.
    Ringing,
    /// The first 2xx arrived: the dialog is established and ACKed; `sdp` is its body (the
    /// answer; empty if the 2xx had none).
    Answered {
        /// The 2xx body.
        sdp: String,
    },
    /// The INVITE failed on its own (no `hangup`): a 3xx–6xx final response, or no final
    /// response within Timer B (`None`).
    Failed {
        /// The final status code; None on timeout.
        code: Option<u16>,
    },
    /// The call is over: after a remote BYE (`by_remote`), or after `hangup` once the BYE
    /// is answered or timed out, or the cancelled INVITE resolved.
    Ended {
        /// The far end sent BYE.
        by_remote: bool,
    },
}

/// The dialog state a 2xx establishes (RFC 3261 §12.1.2).
#[derive(Debug)]
struct Dialog {
    /// The To tag of the 2xx; None when it had none (RFC 3261 §12.1.2 keeps RFC 2543
    /// peers working with a null tag).
    remote_tag: Option<String>,
    /// The 2xx's To header as received: the To of every request we send in the dialog.
    remote_to: String,
    /// Request-URI of in-dialog requests.
    remote_target: String,
    /// Record-Route reversed.
    route_set: Vec<String>,
    /// The ACK of the 2xx, re-sent for each retransmitted 2xx.
    ack: Vec<u8>,
}

/// Our BYE under way.
#[derive(Debug)]
struct Bye {
    tx: NonInviteClient,
    branch: String,
}

/// One UAC INVITE dialog, from the INVITE to the end of the BYE: the relay leg a node that
/// answered a caller opens to the node that owns the meeting.
///
/// The driver feeds it the clock, the responses whose Call-ID and branch it claims
/// (`handle_response`) and the in-dialog requests addressed to it (`handle_request`), and
/// sends what `poll_transmit` returns. Retransmissions are the transaction layer's
/// (`InviteClient` for the INVITE, `NonInviteClient` for CANCEL and BYE).
///
/// Every message goes to the configured peer: a relay leg is a direct node-to-node hop (for
/// TCP the same connection), so the remote target and route set only shape the Request-URI
/// and Route headers, never the next hop; the core does no DNS.
///
/// Each call ends with exactly one terminal event: `Failed` when it ended before being
/// established and `hangup` was not called, otherwise `Ended`.
pub struct OutboundCall {
    config: OutboundCallConfig,
    call_id: String,
    local_tag: String,
    invite_branch: String,
    /// The INVITE's From and To as sent: CANCEL repeats them.
    from: String,
    to: String,
    invite: Option<InviteClient>,
    /// A provisional response arrived: a CANCEL may go out (§9.1).
    provisional_seen: bool,
    ringing_reported: bool,
    hangup_requested: bool,
    cancel_sent: bool,
    cancel: Option<NonInviteClient>,
    /// When we stop waiting for the cancelled INVITE's final response (§9.1: 64·T1).
    cancel_deadline: Option<Instant>,
    dialog: Option<Dialog>,
    bye: Option<Bye>,
    /// After answering a remote BYE over UDP we stay to answer its retransmissions (the
    /// span of a non-INVITE server transaction's Timer J).
    linger_until: Option<Instant>,
    terminal_sent: bool,
    transmits: Vec<Transmit>,
    events: Vec<OutboundEvent>,
    rng: StdRng,
}

fn is_unsafe(s: &str) -> bool {
    s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// Headers the call writes itself; an extra copy would make the request ambiguous.
fn is_reserved(name: &HeaderName) -> bool {
    matches!(
        name,
        HeaderName::Via
            | HeaderName::From
            | HeaderName::To
            | HeaderName::CallId
            | HeaderName::CSeq
            | HeaderName::Contact
            | HeaderName::ContentLength
            | HeaderName::ContentType
            | HeaderName::MaxForwards
            | HeaderName::Route
    )
}

fn tag_of(msg: &Message, name: &HeaderName) -> Option<String> {
    let value = msg.header(name)?;
    NameAddr::parse(value).ok()?.tag().map(str::to_string)
}

impl OutboundCall {
    /// A call whose INVITE is queued at once (see `poll_transmit`); `rng` draws the Call-ID,
    /// tag and branches.
    pub fn new(
        now: Instant,
        config: OutboundCallConfig,
        mut rng: StdRng,
    ) -> Result<Self, OutboundCallError> {
        for (field, value) in [
            ("Request", &config.request_uri),
            ("From", &config.from_uri),
            ("To", &config.to_uri),
        ] {
            // Through NameAddr as well: the URI is written inside `<…>`, where a stray `>`
            // or quote would change what the far end reads.
            let usable = !is_unsafe(value)
                && SipUri::parse(value)
                    .is_ok_and(|u| matches!(u.scheme, UriScheme::Sip | UriScheme::Sips))
                && NameAddr::parse(&format!("<{value}>")).is_ok_and(|n| n.uri == *value);
            if !usable {
                return Err(OutboundCallError::Uri {
                    field,
                    value: value.clone(),
                });
            }
        }
        if config
            .call_id
            .as_deref()
            .is_some_and(|c| c.is_empty() || is_unsafe(c) || c.contains(char::is_whitespace))
        {
            return Err(OutboundCallError::Unsafe("Call-ID".into()));
        }
        if is_unsafe(&config.user_agent) {
            return Err(OutboundCallError::Unsafe("User-Agent".into()));
        }
        for (name, value) in &config.extra_headers {
            if is_reserved(name) {
                return Err(OutboundCallError::Reserved(name.to_string()));
            }
            if is_unsafe(value) || is_unsafe(name.as_str()) {
                return Err(OutboundCallError::Unsafe(name.to_string()));
            }
        }
        let call_id = match &config.call_id {
            Some(id) => id.clone(),
            None => format!("{}@dialbridge", token(&mut rng, 24)),
        };
        let local_tag = token(&mut rng, 16);
        let invite_branch = format!("z9hG4bK{}", token(&mut rng, 20));
        let from = format!("<{}>;tag={local_tag}", config.from_uri);
        let to = format!("<{}>", config.to_uri);
        let mut call = OutboundCall {
            config,
            call_id,
            local_tag,
            invite_branch,
            from,
            to,
            invite: None,
            provisional_seen: false,
            ringing_reported: false,
            hangup_requested: false,
            cancel_sent: false,
            cancel: None,
            cancel_deadline: None,
            dialog: None,
            bye: None,
            linger_until: None,
            terminal_sent: false,
            transmits: Vec::new(),
            events: Vec::new(),
            rng,
        };
        call.send_invite(now);
        Ok(call)
    }

    /// The SIP Call-ID, for logs and for routing messages to this call.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Our From tag: the local tag of the dialog.
    pub fn local_tag(&self) -> &str {
        &self.local_tag
    }

    /// The peer every message goes to.
    pub fn peer(&self) -> Peer {
        self.config.peer
    }

    /// True once the dialog is established (a 2xx arrived), whether or not it has ended.
    pub fn is_established(&self) -> bool {
        self.dialog.is_some()
    }

    /// True once nothing remains to do: the terminal event was queued, every transaction is
    /// over and nothing is left to send or report. The call can then be dropped.
    pub fn is_finished(&self) -> bool {
        self.terminal_sent
            && self.invite.as_ref().is_none_or(InviteClient::is_terminated)
            && self.cancel.is_none()
            && self.bye.is_none()
            && self.linger_until.is_none()
            && self.transmits.is_empty()
            && self.events.is_empty()
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        (!self.transmits.is_empty()).then(|| self.transmits.remove(0))
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<OutboundEvent> {
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }

    /// When `handle_timeout` must run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.invite.as_ref().and_then(InviteClient::next_timeout),
            self.cancel.as_ref().and_then(NonInviteClient::next_timeout),
            self.cancel_deadline,
            self.bye.as_ref().and_then(|b| b.tx.next_timeout()),
            self.linger_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs what is due: retransmissions, Timers B, D, M, E, F, K, the CANCEL give-up.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(tx) = &mut self.invite
            && tx.next_timeout().is_some_and(|t| t <= now)
        {
            match tx.on_timeout(now) {
                TimerOutcome::Retransmit(peer, bytes) => self.send(peer, bytes),
                TimerOutcome::RequestTimeout => self.invite_gave_up(),
                _ => {}
            }
        }
        if let Some(tx) = &mut self.cancel
            && tx.next_timeout().is_some_and(|t| t <= now)
        {
            match tx.on_timeout(now) {
                TimerOutcome::Retransmit(peer, bytes) => self.send(peer, bytes),
                // An unanswered CANCEL changes nothing: the INVITE's fate decides, or the
                // cancel deadline below.
                TimerOutcome::RequestTimeout | TimerOutcome::Terminated => self.cancel = None,
                _ => {}
            }
        }
        if self.cancel_deadline.is_some_and(|t| t <= now) {
            self.cancel_deadline = None;
            if let Some(tx) = &mut self.invite
                && tx.is_pending()
            {
                // RFC 3261 §9.1: no final response 64·T1 after the CANCEL: consider the
                // INVITE cancelled and destroy its transaction.
                tx.abandon();
                self.terminal(OutboundEvent::Ended { by_remote: false });
            }
        }
        if let Some(bye) = &mut self.bye
            && bye.tx.next_timeout().is_some_and(|t| t <= now)
        {
            match bye.tx.on_timeout(now) {
                TimerOutcome::Retransmit(peer, bytes) => self.send(peer, bytes),
                TimerOutcome::RequestTimeout => {
                    // Timer F: the far end is gone; the call is over for us all the same.
                    self.bye = None;
                    self.terminal(OutboundEvent::Ended { by_remote: false });
                }
                TimerOutcome::Terminated => self.bye = None,
                _ => {}
            }
        }
        if self.linger_until.is_some_and(|t| t <= now) {
            self.linger_until = None;
        }
    }

    /// Ends the call from our side: CANCEL before a final response (deferred until a
    /// provisional response arrives, RFC 3261 §9.1), BYE once established, nothing when it
    /// is already over. Leads to `Ended { by_remote: false }` unless a terminal event was
    /// already reported.
    pub fn hangup(&mut self, now: Instant) {
        if self.hangup_requested || self.terminal_sent {
            return;
        }
        self.hangup_requested = true;
        if self.dialog.is_some() {
            self.send_bye(now);
        } else if self.provisional_seen {
            self.send_cancel(now);
        }
        // Otherwise the CANCEL waits for the first 1xx; a 2xx is ACKed and BYEd instead, a
        // final error or Timer B ends the call.
    }

    /// Offers a response: true when it answers one of this call's requests (INVITE, CANCEL
    /// or BYE: same Call-ID, our top-Via branch and the CSeq method); it is then consumed.
    pub fn handle_response(&mut self, now: Instant, msg: &Message) -> bool {
        let Some(code) = msg.status() else {
            return false;
        };
        if msg.call_id() != Some(self.call_id.as_str()) {
            return false;
        }
        let Ok(via) = msg.top_via() else {
            return false;
        };
        let Ok(cseq) = msg.cseq() else {
            return false;
        };
        let branch = via.branch().unwrap_or_default();
        if branch == self.invite_branch {
            match cseq.method {
                Method::Invite => {
                    self.on_invite_response(now, code, msg);
                    true
                }
                Method::Cancel => {
                    if let Some(tx) = &mut self.cancel {
                        tx.on_response(now, code);
                    }
                    true
                }
                _ => false,
            }
        } else if let Some(bye) = &mut self.bye
            && branch == bye.branch
            && cseq.method == Method::Bye
        {
            if let ClientResponse::Final(_) = bye.tx.on_response(now, code) {
                // Any final response ends the dialog (§15.1.1); a 481 means it already was.
                self.terminal(OutboundEvent::Ended { by_remote: false });
            }
            true
        } else {
            false
        }
    }

    /// True when `msg` is a request within this dialog (our Call-ID and local tag in To).
    pub fn owns_request(&self, msg: &Message) -> bool {
        msg.method().is_some()
            && msg.call_id() == Some(self.call_id.as_str())
            && tag_of(msg, &HeaderName::To).as_deref() == Some(self.local_tag.as_str())
    }

    /// Handles an in-dialog request from the far end and returns the response to send back
    /// to where it came from. None when the request is not for this call (see
    /// `owns_request`) or needs no response (ACK).
    pub fn handle_request(&mut self, now: Instant, msg: &Message) -> Option<Message> {
        if !self.owns_request(msg) {
            return None;
        }
        let method = msg.method()?;
        if *method == Method::Ack {
            return None;
        }
        let Some(dialog) = &self.dialog else {
            return Some(self.respond(msg, 481));
        };
        if tag_of(msg, &HeaderName::From) != dialog.remote_tag {
            return Some(self.respond(msg, 481));
        }
        // Once either side has sent BYE the dialog is gone for everything but a BYE (a
        // retransmission, or the far end's crossing ours), which is still confirmed.
        let over = self.terminal_sent || self.hangup_requested;
        if over && *method != Method::Bye {
            return Some(self.respond(msg, 481));
        }
        // Requests are answered at once and without lasting effect beyond ending the call,
        // so no CSeq ordering is enforced: a late or repeated request is harmless.
        let code = match method {
            Method::Bye => {
                // BYEs that cross: ours came first from the application's point of view.
                let by_remote = !self.hangup_requested;
                self.terminal(OutboundEvent::Ended { by_remote });
                if self.linger_until.is_none() && !self.config.peer.is_reliable() {
                    self.linger_until = Some(now + self.config.timers.transaction_timeout());
                }
                200
            }
            Method::Options | Method::Info => 200,
            // The relay leg's media never changes mid-call yet, so re-offers are refused,
            // which leaves the current session in place (§14.2); to be revisited if the
            // cluster ever moves a leg.
            Method::Invite => 488,
            // We answer every request at once, so there is never a transaction to cancel.
            Method::Cancel => 481,
            _ => 501,
        };
        Some(self.respond(msg, code))
    }

    fn respond(&self, msg: &Message, code: u16) -> Message {
        let mut resp = message::response_to(msg, code, message::reason_phrase(code));
        if code == 501 || (code == 200 && msg.method() == Some(&Method::Options)) {
            resp.add_header(HeaderName::Allow, ALLOW);
        }
        resp.add_header(HeaderName::Server, self.config.user_agent.clone());
        resp
    }

    fn on_invite_response(&mut self, now: Instant, code: u16, msg: &Message) {
        // A 2xx is matched to the dialog even after Timer M ended the transaction: re-ACKing
        // a late retransmission is always right.
        if (200..300).contains(&code) && self.dialog.is_some() {
            self.reack(msg);
            return;
        }
        let Some(tx) = &mut self.invite else {
            return;
        };
        match tx.on_response(now, msg) {
            InviteClientResponse::Provisional(code) => {
                self.provisional_seen = true;
                if self.hangup_requested && !self.cancel_sent {
                    self.send_cancel(now);
                } else if code != 100 && !self.ringing_reported && !self.hangup_requested {
                    self.ringing_reported = true;
                    self.events.push(OutboundEvent::Ringing);
                }
            }
            InviteClientResponse::Success(_) => self.establish(now, msg),
            InviteClientResponse::Failure { code, ack } => {
                self.send(ack.0, ack.1);
                self.cancel_deadline = None;
                let event = if self.hangup_requested {
                    OutboundEvent::Ended { by_remote: false }
                } else {
                    OutboundEvent::Failed { code: Some(code) }
                };
                self.terminal(event);
            }
            InviteClientResponse::Reack(peer, bytes) => self.send(peer, bytes),
            // Only after the transaction ended without a dialog (Timer B, a CANCEL given
            // up, an error response): a 2xx now still opened a dialog at the far end, which
            // must be ACKed and closed.
            InviteClientResponse::Ignored if (200..300).contains(&code) => self.establish(now, msg),
            InviteClientResponse::Ignored => {}
        }
    }

    /// The first 2xx: the dialog is formed from it (§12.1.2) and ACKed (§13.2.2.4).
    fn establish(&mut self, now: Instant, msg: &Message) {
        let remote_tag = tag_of(msg, &HeaderName::To);
        let remote_to = msg
            .header(&HeaderName::To)
            .filter(|v| !is_unsafe(v))
            .map_or_else(|| self.to.clone(), str::to_string);
        // A 2xx without a usable Contact leaves no remote target: the Request-URI we used
        // still reaches the same peer, which is where every request goes anyway.
        let remote_target = msg
            .contact()
            .ok()
            .flatten()
            .map(|c| c.uri)
            .filter(|u| !u.is_empty() && !is_unsafe(u))
            .unwrap_or_else(|| self.config.request_uri.clone());
        let mut route_set: Vec<String> = msg
            .headers_named(&HeaderName::RecordRoute)
            .flat_map(split_comma_list)
            .filter(|r| !r.is_empty() && !is_unsafe(r))
            .map(str::to_string)
            .collect();
        route_set.reverse();
        self.cancel_deadline = None;
        let mut dialog = Dialog {
            remote_tag,
            remote_to,
            remote_target,
            route_set,
            ack: Vec::new(),
        };
        // The ACK of a 2xx is its own transaction-less request with a fresh branch and no
        // body (the offer was in the INVITE); it is kept to answer retransmitted 2xx.
        let branch = self.new_branch();
        dialog.ack = self
            .in_dialog_request(&dialog, &branch, Method::Ack, 1)
            .to_bytes();
        let bytes = dialog.ack.clone();
        self.dialog = Some(dialog);
        self.send(self.config.peer, bytes);
        if self.hangup_requested || self.terminal_sent {
            // We hung up (or gave up) before the answer and the 2xx crossed our CANCEL: the
            // only way out of an established dialog is BYE (§9.1).
            self.send_bye(now);
        } else {
            let sdp = String::from_utf8_lossy(&msg.body).into_owned();
            self.events.push(OutboundEvent::Answered { sdp });
        }
    }

    /// A retransmitted 2xx: the same ACK again when it is from our dialog's far end. A 2xx
    /// from another far end (a forking proxy, never a cluster node) is left unanswered.
    fn reack(&mut self, msg: &Message) {
        let Some(dialog) = &self.dialog else {
            return;
        };
        if tag_of(msg, &HeaderName::To) == dialog.remote_tag {
            let bytes = dialog.ack.clone();
            self.send(self.config.peer, bytes);
        }
    }

    /// The INVITE never got a final response within Timer B.
    fn invite_gave_up(&mut self) {
        if self.dialog.is_some() {
            return;
        }
        self.cancel_deadline = None;
        let event = if self.hangup_requested {
            OutboundEvent::Ended { by_remote: false }
        } else {
            OutboundEvent::Failed { code: None }
        };
        self.terminal(event);
    }

    fn terminal(&mut self, event: OutboundEvent) {
        if !self.terminal_sent {
            self.terminal_sent = true;
            self.events.push(event);
        }
    }

    fn send(&mut self, peer: Peer, bytes: Vec<u8>) {
        self.transmits.push(Transmit {
            dest: peer.addr,
            transport: peer.transport,
            bytes,
        });
    }

    fn new_branch(&mut self) -> String {
        format!("z9hG4bK{}", token(&mut self.rng, 20))
    }

    fn via(&self, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {};branch={branch};rport",
            self.config.peer.transport,
            host_port(self.config.local_addr.ip(), self.config.local_addr.port())
        )
    }

    fn contact(&self) -> String {
        // A sips: Request-URI asks for TLS end to end, and our Contact must say the same
        // (RFC 5630 §4.1); the transport parameter is then implied.
        let sips =
            SipUri::parse(&self.config.request_uri).is_ok_and(|u| u.scheme == UriScheme::Sips);
        let (scheme, transport) = match self.config.peer.transport {
            _ if sips => ("sips", ""),
            Transport::Udp => ("sip", ""),
            Transport::Tcp => ("sip", ";transport=tcp"),
            Transport::Tls => ("sip", ";transport=tls"),
        };
        format!(
            "<{scheme}:{}{transport}>",
            host_port(self.config.local_addr.ip(), self.config.local_addr.port())
        )
    }

    fn send_invite(&mut self, now: Instant) {
        let mut req = message::request(Method::Invite, &self.config.request_uri);
        req.add_header(HeaderName::Via, self.via(&self.invite_branch));
        req.add_header(HeaderName::MaxForwards, "70");
        req.add_header(HeaderName::From, self.from.clone());
        req.add_header(HeaderName::To, self.to.clone());
        req.add_header(HeaderName::CallId, self.call_id.clone());
        req.add_header(HeaderName::CSeq, "1 INVITE");
        req.add_header(HeaderName::Contact, self.contact());
        req.add_header(HeaderName::Allow, ALLOW);
        req.add_header(HeaderName::UserAgent, self.config.user_agent.clone());
        for (name, value) in &self.config.extra_headers {
            req.add_header(name.clone(), value.clone());
        }
        req.add_header(HeaderName::ContentType, "application/sdp");
        req.body = self.config.sdp_offer.clone().into_bytes();
        let peer = self.config.peer;
        let tx = InviteClient::new(now, peer, &req, self.config.timers);
        self.send(peer, tx.request().to_vec());
        self.invite = Some(tx);
    }

    /// CANCEL (§9.1): the INVITE's Request-URI, Call-ID, From, To, CSeq number and top Via
    /// (same branch), so the far end matches it to the INVITE transaction.
    fn send_cancel(&mut self, now: Instant) {
        let mut req = message::request(Method::Cancel, &self.config.request_uri);
        req.add_header(HeaderName::Via, self.via(&self.invite_branch));
        req.add_header(HeaderName::MaxForwards, "70");
        req.add_header(HeaderName::From, self.from.clone());
        req.add_header(HeaderName::To, self.to.clone());
        req.add_header(HeaderName::CallId, self.call_id.clone());
        req.add_header(HeaderName::CSeq, "1 CANCEL");
        req.add_header(HeaderName::UserAgent, self.config.user_agent.clone());
        let bytes = req.to_bytes();
        let peer = self.config.peer;
        self.cancel_sent = true;
        self.cancel = Some(NonInviteClient::new(
            now,
            peer,
            bytes.clone(),
            self.config.timers,
        ));
        self.cancel_deadline = Some(now + self.config.timers.transaction_timeout());
        self.send(peer, bytes);
    }

    fn send_bye(&mut self, now: Instant) {
        let branch = self.new_branch();
        let Some(dialog) = &self.dialog else {
            return;
        };
        let mut req = self.in_dialog_request(dialog, &branch, Method::Bye, 2);
        req.add_header(HeaderName::UserAgent, self.config.user_agent.clone());
        let bytes = req.to_bytes();
        let peer = self.config.peer;
        let tx = NonInviteClient::new(now, peer, bytes.clone(), self.config.timers);
        self.bye = Some(Bye { tx, branch });
        self.send(peer, bytes);
    }

    /// A request within the dialog (§12.2.1.1): remote target as Request-URI, the route
    /// set as Route, a fresh branch.
    fn in_dialog_request(
        &self,
        dialog: &Dialog,
        branch: &str,
        method: Method,
        seq: u32,
    ) -> Message {
        let mut req = message::request(method.clone(), &dialog.remote_target);
        req.add_header(HeaderName::Via, self.via(branch));
        // Loose routing is assumed (`;lr`): strict routers predate RFC 3261 and no cluster
        // node puts one in the path.
        for route in &dialog.route_set {
            req.add_header(HeaderName::Route, route.clone());
        }
        req.add_header(HeaderName::MaxForwards, "70");
        req.add_header(HeaderName::From, self.from.clone());
        req.add_header(HeaderName::To, dialog.remote_to.clone());
        req.add_header(HeaderName::CallId, self.call_id.clone());
        req.add_header(HeaderName::CSeq, format!("{seq} {method}"));
        req
    }
}

#[cfg(test)]
mod tests;
