//! Callers relayed to the cluster node that hosts their meeting: after the IVR here, their
//! RTP passes to a relay leg and back unchanged (no decoding, no mixing), but for the SRTP
//! the caller uses, which ends here (legs between nodes are plain RTP inside the cluster).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::call::{CallId, Conference};
use crate::ivr::flow::{Flow, HangupCause, Role};
use crate::ivr::player::Background;
use crate::ivr::prompt::Prompt;
use crate::media::rtp;

use super::Worker;
use super::caller::{MediaCrypto, Place, count_srtp_drop};
use super::protocol::{Event, HangupReason, RelayTarget, Request};

/// Packets waiting for the driver, at most this many per worker between flushes (a tick's
/// worth for thousands of relayed callers); past it packets are dropped like a full socket.
pub(super) const MAX_RELAYED: usize = 16_384;

/// The owner node sends a frame every 20 ms, in silence too: this long without one and the
/// node is taken for gone (a crash, a cut network), and the caller is re-homed.
pub const LEG_SILENCE: Duration = Duration::from_millis(1500);

/// A relay leg that is up.
pub struct Leg<S> {
    /// Its RTP socket.
    pub(super) transport: S,
    /// The owner node's RTP address.
    pub(super) remote: SocketAddr,
    /// When the owner's last packet came.
    pub(super) last_rx: Instant,
}

impl<S> Leg<S> {
    /// The owner node has sent nothing for [`LEG_SILENCE`]: it is taken for gone.
    pub(super) fn is_silent(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_rx) > LEG_SILENCE
    }
}

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
        call.place = Place::Relaying {
            conference: conference.clone(),
            role,
        };
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
    pub(super) fn relay_up(&mut self, now: Instant, id: CallId, leg: S, remote: SocketAddr) {
        if let Some(call) = self.calls.get_mut(&id)
            && matches!(call.place, Place::Relaying { .. })
        {
            call.player.stop();
            call.player.set_background(Background::Silence);
            call.leg = Some(Leg {
                transport: leg,
                remote,
                last_rx: now,
            });
        }
    }

    /// The owner node went silent: the caller hears "reconnecting" and hold music while the
    /// cluster finds the meeting's next owner (`Command::Rehome`).
    pub(super) fn leg_lost(&mut self, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Place::Relaying { conference, role } = &call.place else {
            return;
        };
        let (conference_id, role) = (conference.conference_id.clone(), *role);
        let from_node = call
            .relay_to
            .as_ref()
            .map(|t| t.node.clone())
            .unwrap_or_default();
        {
            let _e = call.span.enter();
            tracing::warn!(conference = %conference_id, owner = %from_node, "relay leg silent: re-homing the caller");
        }
        call.leg = None;
        call.player.play(&[Prompt::Reconnecting]);
        call.player.set_background(Background::HoldMusic);
        self.events.push(Event::Control(Request::Rehome {
            call: id,
            conference_id,
            role,
            from_node,
        }));
    }

    /// The meeting has a new owner: this node (`None`: join here) or another (relay there).
    pub(super) fn rehome(&mut self, now: Instant, id: CallId, target: Option<RelayTarget>) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Place::Relaying { conference, role } = &call.place else {
            return;
        };
        let (conference, role) = (conference.clone(), *role);
        call.relay_to = target;
        call.player.stop();
        call.player.set_background(Background::Silence);
        if !self.relay_instead(id, &conference, role) {
            self.join(now, id, conference, role);
        }
    }

    /// The leg could not be opened: the caller hears the service is unavailable, then BYE.
    pub(super) fn relay_failed(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if !matches!(call.place, Place::Relaying { .. }) {
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
        if !matches!(call.place, Place::Relaying { .. }) {
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
    pub fn handle_leg_rtp(
        &mut self,
        now: Instant,
        id: CallId,
        source: SocketAddr,
        datagram: &[u8],
    ) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(leg) = call.leg.as_mut() else {
            return;
        };
        if leg.remote != source || rtp::parse(datagram).is_err() {
            self.stats.foreign_packets += 1;
            return;
        }
        leg.last_rx = now;
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
                    if let Some(leg) = &call.leg {
                        send(&leg.transport, leg.remote, &packet);
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
