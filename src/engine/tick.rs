//! The media clock's 20 ms tick over a worker's calls: player frames for callers outside a
//! mix, the meetings' mixes, then every timer that the tick drives.

use std::net::SocketAddr;
use std::time::Instant;

use crate::call::CallId;
use crate::ivr::flow::Input;
use crate::ivr::prompt::Prompt;
use crate::media::codec::{Codec, PAYLOAD_BYTES, SAMPLES_PER_FRAME};

use super::Worker;
use super::caller::{Place, player_frame, send_frame};
use super::flow::listen_for_name;
use super::keys::{KeyMode, NEW_PIN_TIMEOUT};
use super::mix::{MixScratch, mix_meeting};
use super::protocol::{Event, HangupReason, Request};

impl<S> Worker<S> {
    /// The media clock's 20 ms tick: one frame out for every call that sends.
    pub fn tick(&mut self, now: Instant, send: &mut impl FnMut(&S, SocketAddr, &[u8])) {
        self.stats.ticks += 1;
        let mut finished = Vec::new();
        let mut timed_out = Vec::new();
        let mut waited_out = Vec::new();
        let mut named = Vec::new();
        let Worker {
            calls,
            meetings,
            assets,
            packet,
            stats,
            mixer,
            talkers,
            config,
            ..
        } = self;
        let mut discard = [0u8; SAMPLES_PER_FRAME];

        // Callers outside a running mix hear their player: prompts, hold music or silence.
        stats.by_codec = [0; 3];
        stats.srtp_calls = 0;
        for (id, call) in calls.iter_mut() {
            stats.srtp_calls += u64::from(call.crypto.is_srtp());
            if let Some(slot) = Codec::ALL
                .iter()
                .position(|c| *c == call.params.codec)
                .and_then(|i| stats.by_codec.get_mut(i))
            {
                *slot += 1;
            }
            if let Some(limit) = config.rtp_timeout
                && call.params.direction.we_receive()
                && now.saturating_duration_since(call.last_rx) >= limit
                && !matches!(call.place, Place::Ended)
            {
                timed_out.push(*id);
            }
            match &call.keys {
                KeyMode::NewPin(p)
                    if now.saturating_duration_since(p.last_key) >= NEW_PIN_TIMEOUT =>
                {
                    call.keys = KeyMode::keypad();
                    call.player.play(&[Prompt::PinNotChanged]);
                }
                KeyMode::LobbyWalk(walk) if walk.expired(now) => {
                    tracing::info!(call = id.0, "lobby review ended: no key for a while");
                    call.keys = KeyMode::keypad();
                }
                _ => {}
            }
            let in_mix = match &call.place {
                // A running meeting's lobby is empty unless it is locked: cheap to check.
                Place::Conference { conference_id } => meetings
                    .get(conference_id)
                    .is_some_and(|m| m.meeting.is_started() && !m.meeting.lobby().contains(id)),
                // A relayed caller hears the owner node; between legs, our own player.
                Place::Relaying { .. } if call.leg.is_none() => false,
                Place::Ended | Place::Joining { .. } | Place::Relaying { .. } => {
                    call.sender.advance(SAMPLES_PER_FRAME as u32);
                    continue;
                }
                Place::Ivr(_) | Place::Arriving { .. } => false,
            };
            if in_mix {
                continue;
            }
            // Audio from callers outside the mix is not heard by anyone, unless it is a name.
            if listen_for_name(call, now, &mut discard) {
                named.push(*id);
            }
            if call.recorder.is_none() {
                // Out of the mix and not recording: nobody hears this caller any more.
                call.audio_in = None;
            }
            let tick = call.player.next(assets);
            if tick.prompts_finished {
                finished.push(*id);
            }
            let mut frame = [0u8; PAYLOAD_BYTES];
            player_frame(call, &tick, &mut frame);
            send_frame(call, &frame, packet, stats, send);
        }

        // Lobby callers kept past the lobby timeout (each lobby is in arrival order).
        if let Some(limit) = config.lobby_timeout {
            for entry in meetings.values() {
                waited_out.extend(entry.meeting.waited(now, limit));
            }
        }

        stats.meetings = meetings.len() as u64;
        stats.in_lobby = meetings
            .values()
            .map(|m| m.meeting.lobby().len() as u64)
            .sum();
        stats.in_meeting = meetings
            .values()
            .map(|m| m.meeting.participants().len() as u64)
            .sum();
        stats.talkers = 0;
        stats.in_ivr = calls
            .values()
            .filter(|c| matches!(c.place, Place::Ivr(_)))
            .count() as u64;

        // Each running meeting: sum the talkers once, share the listeners' mix.
        for entry in meetings.values_mut() {
            if !entry.meeting.is_started() {
                continue;
            }
            mix_meeting(
                now,
                entry,
                calls,
                MixScratch {
                    assets,
                    mixer,
                    talkers,
                    packet,
                    stats,
                },
                send,
            );
        }

        // The moved callers got their first meeting frame in the loop above.
        if let Some(report) = self.pending_move.take() {
            self.move_report = Some(report);
        }
        for id in finished {
            self.flow_input(now, id, Input::PlaybackDone);
        }
        for id in named {
            self.flow_input(now, id, Input::NameRecorded);
        }
        self.lobby_care(now);
        self.watch_legs(now);
        // IVR timers run on the media clock; 20 ms is precise enough for digit timeouts.
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter_map(|(id, c)| match &c.place {
                Place::Ivr(f) if f.poll_timeout().is_some_and(|t| t <= now) => Some(*id),
                _ => None,
            })
            .collect();
        for id in due {
            if let Some(Place::Ivr(flow)) = self.calls.get_mut(&id).map(|c| &mut c.place) {
                flow.handle_timeout(now);
            }
            self.drive_flow(now, id);
        }
        for id in waited_out {
            self.lobby_timed_out(now, id);
        }
        for id in timed_out {
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            {
                let _e = call.span.enter();
                tracing::info!("no RTP received: hanging up");
            }
            if let Place::Conference { conference_id } =
                std::mem::replace(&mut call.place, Place::Ended)
            {
                let name = call.name.clone();
                self.leave_room(id, &conference_id, name);
            }
            self.events.push(Event::Control(Request::Hangup {
                call: id,
                reason: HangupReason::RtpTimeout,
            }));
        }
        self.homes.set_load(self.index, self.calls.len());
    }
}
