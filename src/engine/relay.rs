//! Callers relayed to the cluster node that hosts their meeting: after the IVR here, their
//! RTP passes to a relay leg and back unchanged (no decoding, no mixing), but for the SRTP
//! the caller uses, which ends here (legs between nodes are plain RTP inside the cluster).

use std::net::SocketAddr;
use std::time::Instant;

use crate::call::{CallId, Conference};
use crate::ivr::flow::{Flow, HangupCause, Role};
use crate::media::rtp;

use super::Worker;
use super::caller::{MediaCrypto, Place, count_srtp_drop};
use super::protocol::{Event, HangupReason, RelayTarget, Request};

/// Packets waiting for the driver, at most this many per worker between flushes (a tick's
/// worth for thousands of relayed callers); past it packets are dropped like a full socket.
pub(super) const MAX_RELAYED: usize = 16_384;

/// Which way a relayed packet goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Toward {
    /// From the caller to the owner node.
    Leg,
    /// From the owner node to the caller.
    Caller,
}

impl<S> Worker<S> {
    /// The caller's meeting lives on `target`: once through the IVR they are relayed there.
    pub(super) fn hosted_elsewhere(&mut self, id: CallId, target: RelayTarget) {
        if let Some(call) = self.calls.get_mut(&id) {
            call.relay_to = Some(target);
        }
    }

    /// Through the IVR with a meeting on another node: ask for the leg (true), or false when
    /// the meeting is here.
    pub(super) fn relay_instead(
        &mut self,
        id: CallId,
        conference: &Conference,
        role: Role,
    ) -> bool {
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        let Some(target) = call.relay_to.clone() else {
            return false;
        };
        {
            let _e = call.span.enter();
            tracing::info!(conference = %conference.conference_id, owner = %target.node, "relaying the caller to the node hosting the meeting");
        }
        call.place = Place::Relaying;
        call.player.stop();
        self.events.push(Event::Control(Request::OpenRelay {
            call: id,
            conference_id: conference.conference_id.clone(),
            role,
            target,
            params: Box::new(call.params.clone()),
        }));
        true
    }

    /// The leg is up: packets pass from now on.
    pub(super) fn relay_up(&mut self, id: CallId, leg: S, remote: SocketAddr) {
        if let Some(call) = self.calls.get_mut(&id)
            && matches!(call.place, Place::Relaying)
        {
            call.leg = Some((leg, remote));
        }
    }

    /// The leg could not be opened: the caller hears the service is unavailable, then BYE.
    pub(super) fn relay_failed(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if !matches!(call.place, Place::Relaying) {
            return;
        }
        call.leg = None;
        let mut flow = Flow::new(self.config.ivr.clone());
        flow.say_goodbye(HangupCause::DirectoryUnavailable);
        call.place = Place::Ivr(Box::new(flow));
        self.drive_flow(now, id);
    }

    /// The owner hung the leg up: so do we, with the caller.
    pub(super) fn relay_ended(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if !matches!(call.place, Place::Relaying) {
            return;
        }
        call.leg = None;
        call.place = Place::Ended;
        self.events.push(Event::Control(Request::Hangup {
            call: id,
            reason: HangupReason::RelayEnded,
        }));
    }

    /// A packet the caller sent, already out of SRTP, while relayed: on to the leg.
    pub(super) fn relay_from_caller(&mut self, id: CallId, plain: &[u8]) {
        if self.relayed.len() < MAX_RELAYED {
            self.relayed.push((id, Toward::Leg, plain.to_vec()));
        } else {
            self.stats.relay_dropped += 1;
        }
    }

    /// A datagram on a relay leg's socket (from the owner node): on to the caller. Only the
    /// owner's RTP address is listened to.
    pub fn handle_leg_rtp(&mut self, id: CallId, source: SocketAddr, datagram: &[u8]) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let Some((_, remote)) = &call.leg else {
            return;
        };
        if *remote != source || rtp::parse(datagram).is_err() {
            self.stats.foreign_packets += 1;
            return;
        }
        if self.relayed.len() < MAX_RELAYED {
            self.relayed.push((id, Toward::Caller, datagram.to_vec()));
        } else {
            self.stats.relay_dropped += 1;
        }
    }

    /// Sends what was relayed since the last flush, each packet with the socket of its way.
    pub fn flush_relayed(&mut self, send: &mut dyn FnMut(&S, SocketAddr, &[u8])) {
        let mut relayed = std::mem::take(&mut self.relayed);
        for (id, toward, packet) in relayed.drain(..) {
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            match toward {
                Toward::Leg => {
                    if let Some((leg, remote)) = &call.leg {
                        send(leg, *remote, &packet);
                        self.stats.relayed_packets += 1;
                    }
                }
                Toward::Caller => {
                    let Some(dest) = call.peer.address() else {
                        continue;
                    };
                    let protected;
                    let bytes = match &mut call.crypto {
                        MediaCrypto::Plain => &packet[..],
                        MediaCrypto::Unusable => continue,
                        MediaCrypto::Srtp(session) => match session.protect_rtp(&packet) {
                            Ok(p) => {
                                protected = p;
                                &protected[..]
                            }
                            Err(error) => {
                                count_srtp_drop(&mut self.stats, error);
                                continue;
                            }
                        },
                    };
                    send(&call.transport, dest, bytes);
                    self.stats.relayed_packets += 1;
                }
            }
        }
        // Keep the allocation for the next tick.
        self.relayed = relayed;
    }
}
