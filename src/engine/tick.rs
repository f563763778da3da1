//! The media clock's 20 ms tick over a worker's calls: player frames for callers outside a
//! mix, the meetings' mixes, then every timer that the tick drives.

use std::net::SocketAddr;
use std::time::Instant;

use crate::call::CallId;
use crate::ivr::flow::Input;
use crate::ivr::prompt::Prompt;
use crate::media::codec::{FRAME_DURATION, PAYLOAD_BYTES, SAMPLES_PER_FRAME};

use super::Worker;
use super::caller::{Place, player_frame, send_frame};
use super::flow::listen_for_name;
use super::keys::{KeyMode, NEW_PIN_TIMEOUT};
use super::mix::{MixScratch, mix_meeting};
use super::protocol::{Event, HangupReason, Request};

/// One slice of the 20 ms frame. The media clock may run a frame as several slices, each
/// sending the player frames of the callers whose id falls in it, so that a worker holding
/// thousands of callers sends its frames spread over the 20 ms instead of in one burst at the
/// frame's start (the last of 6,000 would leave some 7 ms late). Meetings and lobby care run
/// once a frame, in the first slice; each call's IVR timer and gauges, in the call's slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickSlice {
    index: u32,
    of: u32,
}

impl TickSlice {
    /// The whole frame at once.
    pub const WHOLE: TickSlice = TickSlice { index: 0, of: 1 };

    /// Slice `index` of `of` (`of` at least 1; `index` taken modulo `of`).
    pub fn new(index: u32, of: u32) -> Self {
        let of = of.max(1);
        TickSlice {
            index: index % of,
            of,
        }
    }

    /// The slice after this one (the first again after the last).
    pub fn next(self) -> Self {
        TickSlice::new(self.index + 1, self.of)
    }

    /// Whether this slice starts a frame: meetings and timers run in it.
    pub fn is_first(self) -> bool {
        self.index == 0
    }

    /// Whether this slice ends a frame: the frame's gauges are complete after it.
    pub fn is_last(self) -> bool {
        self.index + 1 == self.of
    }

    /// Whether `id`'s player frame goes out in this slice. Ids are spread by a multiplicative
    /// hash, since a counter shared by the workers can give one worker ids of one residue.
    fn holds(self, id: CallId) -> bool {
        let spread = id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        spread % u64::from(self.of) == u64::from(self.index)
    }
}

impl<S> Worker<S> {
    /// The first slice of a frame as this worker's configuration cuts frames.
    pub fn first_slice(&self) -> TickSlice {
        TickSlice::new(0, self.config.tick_slices)
    }

    /// How long one slice lasts on the media clock.
    pub fn slice_duration(&self) -> std::time::Duration {
        FRAME_DURATION / self.first_slice().of
    }

    /// The media clock's 20 ms tick: one frame out for every call that sends.
    pub fn tick(&mut self, now: Instant, send: &mut impl FnMut(&S, SocketAddr, &[u8])) {
        self.tick_slice(now, TickSlice::WHOLE, send);
    }

    /// One slice of the 20 ms tick ([`TickSlice`]): the player frames, IVR timers and gauges
    /// of the callers in it, and, in the first slice, the meetings' mixes and the once-a-frame
    /// timers (lobby care, relay legs, the lobby timeout).
    pub fn tick_slice(
        &mut self,
        now: Instant,
        slice: TickSlice,
        send: &mut impl FnMut(&S, SocketAddr, &[u8]),
    ) {
        let first = slice.is_first();
        if first {
            self.stats.ticks += 1;
        }
        let mut finished = Vec::new();
        let mut timed_out = Vec::new();
        let mut named = Vec::new();
        let mut ivr_due = Vec::new();
        let mut silent_legs = Vec::new();
        let Worker {
            calls,
            meetings,
            assets,
            packet,
            stats,
            config,
            counting,
            ..
        } = self;
        let mut discard = [0u8; SAMPLES_PER_FRAME];

        // Callers outside a running mix hear their player: prompts, hold music or silence.
        // Asked for ahead in two steps: the state of the caller after next, then the frame the
        // next caller plays, which needs that caller's player (asked for one caller ago).
        let mut ours = calls.iter_mut().filter(|(id, _)| slice.holds(**id));
        let mut next = ours.next();
        let mut after = ours.next();
        for (_, ahead) in next.iter().chain(after.iter()) {
            ahead.prefetch_for_tick();
        }
        while let Some((id, call)) = next.take() {
            next = after.take();
            after = ours.next();
            if let Some((_, ahead)) = &after {
                ahead.prefetch_for_tick();
            }
            if let Some((_, ahead)) = &next {
                ahead.prefetch_player_frame(assets);
            }
            // Counted and timed here, in the call's own slice, where its state is loaded
            // anyway: a pass over every call in one slice would load each call a second time.
            counting.count(
                call.params.codec,
                call.crypto.is_srtp(),
                matches!(call.place, Place::Ivr(_)),
            );
            if let Place::Ivr(flow) = &call.place
                && flow.poll_timeout().is_some_and(|t| t <= now)
            {
                ivr_due.push(*id);
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
                Place::Relaying { .. } => {
                    // Watched here, where the call is loaded anyway, not by a walk over every
                    // call each tick.
                    if call.leg.as_ref().is_some_and(|leg| leg.is_silent(now)) {
                        silent_legs.push(*id);
                    }
                    call.sender.advance(SAMPLES_PER_FRAME as u32);
                    continue;
                }
                Place::Ended | Place::Joining { .. } => {
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

        let waited_out = if first {
            self.mix_meetings(now, send)
        } else {
            Vec::new()
        };
        for id in finished {
            self.flow_input(now, id, Input::PlaybackDone);
        }
        for id in named {
            self.flow_input(now, id, Input::NameRecorded);
        }
        // IVR timers run on the media clock; 20 ms is precise enough for digit timeouts.
        for id in ivr_due {
            if let Some(Place::Ivr(flow)) = self.calls.get_mut(&id).map(|c| &mut c.place) {
                flow.handle_timeout(now);
            }
            self.drive_flow(now, id);
        }
        for id in silent_legs {
            self.leg_lost(id);
        }
        if first {
            self.frame_timers(now, waited_out);
        }
        if slice.is_last() {
            self.counting.publish(&mut self.stats);
        }
        self.hang_up_silent(timed_out);
        self.homes.set_load(self.index, self.calls.len());
    }

    /// Once a frame: the meetings' mixes and the worker's gauges; returns the lobby callers
    /// kept past the lobby timeout, to be let go once the tick's frames are out.
    fn mix_meetings(
        &mut self,
        now: Instant,
        send: &mut impl FnMut(&S, SocketAddr, &[u8]),
    ) -> Vec<CallId> {
        let mut waited_out = Vec::new();
        let Worker {
            calls,
            meetings,
            assets,
            packet,
            stats,
            mixer,
            talkers,
            frames,
            config,
            ..
        } = self;
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
                    frames,
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
        waited_out
    }

    /// Once a frame: lobby care and the lobby timeout.
    fn frame_timers(&mut self, now: Instant, waited_out: Vec<CallId>) {
        self.lobby_care(now);
        for id in waited_out {
            self.lobby_timed_out(now, id);
        }
    }

    /// Hangs up the calls whose RTP stopped for longer than the configured timeout.
    fn hang_up_silent(&mut self, timed_out: Vec<CallId>) {
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
    }
}
