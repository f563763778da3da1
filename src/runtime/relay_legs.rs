//! The relay legs this node opens to the nodes that host its callers' meetings: one
//! [`OutboundCall`] per relayed caller, its SIP routed here by the SIP task, its events
//! turned into commands for the caller's media worker.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;

use super::media::{MediaHandle, MediaTransport};
use crate::call::CallId;
use crate::cluster::leg::{LEG_HEADER, LegClaim, LegKey};
use crate::engine::{Command, RelayTarget};
use crate::ivr::flow::Role;
use crate::sip::endpoint::Transmit;
use crate::sip::message::{HeaderName, Message};
use crate::sip::outbound_call::{OutboundCall, OutboundCallConfig, OutboundEvent};
use crate::sip::sdp::{LocalMedia, Negotiated, read_relay_answer, relay_offer};
use crate::sip::transaction::Timers;
use crate::sip::transport::{Peer, Transport};

/// Relay legs open at once, at most (each holds an RTP port and a dialog).
const MAX_LEGS: usize = 20_000;

/// What the control task asks of the SIP task's relay legs.
#[derive(Debug)]
pub(crate) enum RelayRequest {
    /// Open a leg.
    Open(Box<RelayOrder>),
    /// Hang this caller's leg up (its owner node went silent; a new leg may follow).
    Drop(CallId),
}

/// A media worker's request for a leg, passed on by the control task.
#[derive(Debug)]
pub(crate) struct RelayOrder {
    /// The relayed caller.
    pub(crate) call: CallId,
    /// The conference they reached.
    pub(crate) conference_id: String,
    /// As what.
    pub(crate) role: Role,
    /// The owner node.
    pub(crate) target: RelayTarget,
    /// The caller's media agreement, which the leg repeats.
    pub(crate) params: Negotiated,
}

struct Leg {
    out: OutboundCall,
    /// The leg's RTP socket until the owner answers (then the media worker has it).
    rtp: Option<MediaTransport>,
    caller: Negotiated,
}

/// Every open relay leg of this node.
pub(super) struct RelayLegs {
    legs: HashMap<CallId, Leg>,
    by_sip_call_id: HashMap<String, CallId>,
    key: Arc<LegKey>,
    node: String,
    rng: StdRng,
    timers: Timers,
    /// Messages to send (UDP), queued while handling input.
    outbox: Vec<Transmit>,
    /// Legs hung up on our side that were replaced (re-homing): driven until their BYE is
    /// done, their news no longer told to anyone.
    closing: Vec<OutboundCall>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl RelayLegs {
    /// No legs yet; they are signed with `key` in the name of `node`.
    pub(super) fn new(key: Arc<LegKey>, node: String, timers: Timers) -> Self {
        RelayLegs {
            legs: HashMap::new(),
            by_sip_call_id: HashMap::new(),
            key,
            node,
            rng: rand::make_rng(),
            timers,
            outbox: Vec::new(),
            closing: Vec::new(),
        }
    }

    /// Whether no leg is open (the SIP task then skips the look-ups below).
    pub(super) fn is_empty(&self) -> bool {
        self.legs.is_empty() && self.closing.is_empty()
    }

    /// Places the INVITE of a new leg from `sip_local` (our SIP address towards the owner),
    /// its RTP on `rtp` (`media` says where that is).
    pub(super) fn open(
        &mut self,
        now: Instant,
        order: RelayOrder,
        rtp: MediaTransport,
        media: &LocalMedia,
        sip_local: SocketAddr,
    ) -> Result<(), String> {
        if self.legs.len() >= MAX_LEGS {
            return Err(format!("{MAX_LEGS} relay legs open already"));
        }
        let call_id = format!("{:032x}@{}", rand::random::<u128>(), self.node);
        let header = self.key.sign(
            &LegClaim {
                conference_id: order.conference_id.clone(),
                role: order.role,
                node: self.node.clone(),
            },
            &call_id,
            unix_now(),
        );
        let target = order.target.sip;
        let uri = format!(
            "sip:{}@{}",
            order.conference_id,
            crate::sip::endpoint::host_port(target.ip(), target.port())
        );
        let config = OutboundCallConfig {
            peer: Peer {
                addr: target,
                transport: Transport::Udp,
            },
            request_uri: uri.clone(),
            local_addr: sip_local,
            from_uri: format!(
                "sip:{}@{}",
                self.node,
                crate::sip::endpoint::host_port(sip_local.ip(), sip_local.port())
            ),
            to_uri: uri,
            extra_headers: vec![(HeaderName::parse(LEG_HEADER), header)],
            sdp_offer: relay_offer(media, &order.params),
            timers: self.timers,
            user_agent: "dialbridge".into(),
            call_id: Some(call_id.clone()),
        };
        let rng = rand::SeedableRng::from_rng(&mut self.rng);
        let out = OutboundCall::new(now, config, rng).map_err(|e| e.to_string())?;
        tracing::info!(call = order.call.0, owner = %order.target.node, owner_sip = %target, leg = %call_id, "opening a relay leg");
        self.by_sip_call_id.insert(call_id, order.call);
        self.legs.insert(
            order.call,
            Leg {
                out,
                rtp: Some(rtp),
                caller: order.params,
            },
        );
        Ok(())
    }

    /// A response: true if it was one of our legs'.
    pub(super) fn handle_response(&mut self, now: Instant, msg: &Message) -> bool {
        if let Some(call) = msg.call_id().and_then(|c| self.by_sip_call_id.get(c)) {
            return self
                .legs
                .get_mut(call)
                .is_some_and(|leg| leg.out.handle_response(now, msg));
        }
        self.closing
            .iter_mut()
            .any(|out| out.handle_response(now, msg))
    }

    /// A request from an owner node within one of our legs (its BYE): true if it was ours
    /// (the answer is queued).
    pub(super) fn handle_request(
        &mut self,
        now: Instant,
        msg: &Message,
        source: SocketAddr,
    ) -> bool {
        let Some(call) = msg
            .call_id()
            .and_then(|c| self.by_sip_call_id.get(c))
            .copied()
        else {
            return false;
        };
        let Some(leg) = self.legs.get_mut(&call) else {
            return false;
        };
        if !leg.out.owns_request(msg) {
            return false;
        }
        if let Some(answer) = leg.out.handle_request(now, msg) {
            self.outbox.push(Transmit {
                dest: source,
                transport: Transport::Udp,
                bytes: answer.to_bytes(),
            });
        }
        true
    }

    /// Hangs a caller's leg up and sets it aside, so a new leg for the caller can follow.
    pub(super) fn drop_leg(&mut self, now: Instant, call: CallId) {
        if let Some(mut leg) = self.legs.remove(&call) {
            self.by_sip_call_id.remove(leg.out.call_id());
            leg.out.hangup(now);
            self.closing.push(leg.out);
        }
    }

    /// The caller's call ended: so does its leg.
    pub(super) fn caller_gone(&mut self, now: Instant, call: CallId) {
        if let Some(leg) = self.legs.get_mut(&call) {
            leg.out.hangup(now);
        }
    }

    /// Every leg hangs up (the node stops).
    pub(super) fn hangup_all(&mut self, now: Instant) {
        for leg in self.legs.values_mut() {
            leg.out.hangup(now);
        }
    }

    /// When a leg's timer is due next.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.legs
            .values()
            .filter_map(|l| l.out.poll_timeout())
            .min()
    }

    /// Runs the timers that are due.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        for out in self
            .legs
            .values_mut()
            .map(|l| &mut l.out)
            .chain(self.closing.iter_mut())
        {
            if out.poll_timeout().is_some_and(|t| t <= now) {
                out.handle_timeout(now);
            }
        }
    }

    /// Collects what the legs want sent, tells the media workers what became of them, and
    /// forgets finished legs. The messages are returned to be sent.
    pub(super) fn drain(&mut self, media: &MediaHandle) -> Vec<Transmit> {
        let mut out = std::mem::take(&mut self.outbox);
        let mut finished = Vec::new();
        for (call, leg) in &mut self.legs {
            let call = *call;
            while let Some(t) = leg.out.poll_transmit() {
                out.push(t);
            }
            while let Some(event) = leg.out.poll_event() {
                match event {
                    OutboundEvent::Ringing => {}
                    OutboundEvent::Answered { sdp } => {
                        let answer = read_relay_answer(sdp.as_bytes(), &leg.caller);
                        match (answer.map(|n| n.remote), leg.rtp.take()) {
                            (Ok(Some(remote)), Some(rtp)) => {
                                tracing::info!(call = call.0, %remote, "relay leg up");
                                media.send(
                                    call,
                                    Command::RelayUp {
                                        call,
                                        leg: rtp,
                                        remote,
                                    },
                                );
                            }
                            (answer, _) => {
                                tracing::warn!(call = call.0, answer = ?answer.err(), "relay leg answer unusable: hanging it up");
                                leg.out.hangup(Instant::now());
                                media.send(call, Command::RelayFailed { call });
                            }
                        }
                    }
                    OutboundEvent::Failed { code } => {
                        tracing::warn!(call = call.0, code = ?code, "relay leg refused or unanswered: the caller is told to call again later");
                        media.send(call, Command::RelayFailed { call });
                    }
                    OutboundEvent::Ended { by_remote } => {
                        if by_remote {
                            tracing::info!(
                                call = call.0,
                                "relay leg ended by the owner node: hanging up the caller"
                            );
                            media.send(call, Command::RelayEnded { call });
                        }
                    }
                }
            }
            while let Some(t) = leg.out.poll_transmit() {
                out.push(t);
            }
            if leg.out.is_finished() {
                finished.push(call);
            }
        }
        for call in finished {
            if let Some(leg) = self.legs.remove(&call) {
                self.by_sip_call_id.remove(leg.out.call_id());
            }
        }
        for closing in &mut self.closing {
            while let Some(t) = closing.poll_transmit() {
                out.push(t);
            }
            while closing.poll_event().is_some() {}
        }
        self.closing.retain(|c| !c.is_finished());
        out
    }
}
