//! The dial-in flow's actions carried out on a worker: prompts, the conference look-up and
//! PIN check handed to the directory, name recording, joining, hanging up.

use std::sync::Arc;
use std::time::Instant;

use crate::call::{CallId, Conference};
use crate::ivr::flow::{Action, HangupCause, Input, Role};
use crate::media::codec::SAMPLES_PER_FRAME;
use crate::media::jitter::Playout;

use super::Worker;
use super::caller::{CallMedia, Place};
use super::protocol::{Event, HangupReason, Request};

/// Frames dropped from the end of a name ended by a key sent as a tone: the tone sounds for
/// up to this long before the detector reports it.
pub(super) const KEY_TONE_FRAMES: usize = 3;

/// Feeds a call's audio of this tick to its name recording, if one runs (a key tone
/// sounding counts as no audio); true when the recording just ended by itself. Audio
/// buffered for the mix (a caller just out of it) is taken out either way: nobody hears it.
pub(super) fn listen_for_name<S>(
    call: &mut CallMedia<S>,
    now: Instant,
    scratch: &mut [u8; SAMPLES_PER_FRAME],
) -> bool {
    let got = match call.audio_in.as_deref_mut().map(|a| a.jitter.pop(scratch)) {
        Some(Playout::Frame(len)) => Some(len),
        Some(Playout::Lost | Playout::Idle) | None => None,
    };
    let Some(recorder) = call.recorder.as_mut() else {
        return false;
    };
    let key_tone = call.tone_until.is_some_and(|t| now < t);
    let pcm = got.filter(|_| !key_tone).map(|len| {
        let mut pcm = [0i16; SAMPLES_PER_FRAME];
        call.transcoder
            .decode_narrow(scratch.get(..len).unwrap_or(scratch), &mut pcm);
        pcm
    });
    if !recorder.push(pcm.as_ref()) {
        return false;
    }
    keep_name(call, 0);
    true
}

/// Ends a call's name recording and keeps what was said (nothing, if it was silence).
pub(super) fn keep_name<S>(call: &mut CallMedia<S>, drop_tail: usize) {
    let Some(recorder) = call.recorder.take() else {
        return;
    };
    call.name = recorder.finish(drop_tail).map(Arc::new);
    let _e = call.span.enter();
    // How long, never what: the recording is the caller's voice.
    tracing::info!(
        frames = call.name.as_ref().map_or(0, |n| n.len()),
        "name recorded"
    );
}

impl<S> Worker<S> {
    pub(super) fn flow_input(&mut self, now: Instant, id: CallId, input: Input) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Place::Ivr(flow) = &mut call.place {
            flow.handle_input(now, input);
            self.drive_flow(now, id);
        }
    }

    /// Carries out whatever the call's IVR flow asks for.
    pub(super) fn drive_flow(&mut self, now: Instant, id: CallId) {
        loop {
            let Some(call) = self.calls.get_mut(&id) else {
                return;
            };
            let Place::Ivr(flow) = &mut call.place else {
                return;
            };
            let Some(action) = flow.poll_action() else {
                return;
            };
            let _e = call.span.clone().entered();
            match action {
                Action::Play(prompts) => call.player.play(&prompts),
                Action::StopPlayback => call.player.stop(),
                Action::RecordName => {
                    tracing::debug!("recording the caller's name");
                    call.recorder = Some(Box::default());
                }
                Action::StopRecording => {
                    // A key sent as a tone sounded in the last frames: leave it out.
                    let tail = if call.inband.is_some() {
                        KEY_TONE_FRAMES
                    } else {
                        0
                    };
                    keep_name(call, tail);
                }
                Action::LookupConference(digits) => {
                    self.events.push(Event::Control(Request::LookupConference {
                        call: id,
                        digits,
                    }));
                }
                Action::VerifyPin { conference, pin } => {
                    call.pin_submitted_at = Some(now);
                    self.events.push(Event::Control(Request::VerifyPin {
                        call: id,
                        conference,
                        pin,
                    }));
                }
                Action::Join { conference, role } => {
                    tracing::info!(conference = %conference.conference_id, role = ?role, "caller identified");
                    self.joined(now, id, conference, role);
                }
                Action::Hangup(cause) => {
                    tracing::info!(cause = ?cause, "IVR hangs up");
                    call.place = Place::Ended;
                    self.events.push(Event::Control(Request::Hangup {
                        call: id,
                        reason: HangupReason::Ivr(cause),
                    }));
                }
            }
        }
    }

    /// A caller is through the IVR (here, or on the node that relays them): call records,
    /// then the conference.
    fn joined(&mut self, now: Instant, id: CallId, conference: Conference, role: Role) {
        self.events.push(Event::Control(Request::Joined {
            call: id,
            conference_id: conference.conference_id.clone(),
            role,
        }));
        if !self.relay_instead(id, &conference, role) {
            self.join(now, id, conference, role);
        }
    }

    /// The role a relay leg waiting for its look-up will join as (None: not such a leg).
    pub(super) fn arriving(&self, id: CallId) -> Option<Role> {
        match self.calls.get(&id).map(|c| &c.place) {
            Some(Place::Arriving { role }) => Some(*role),
            _ => None,
        }
    }

    /// A relay leg's conference was found: into it, as the answering node decided.
    pub(super) fn arrive(&mut self, now: Instant, id: CallId, conference: Conference, role: Role) {
        if let Some(call) = self.calls.get(&id) {
            let _e = call.span.enter();
            tracing::info!(conference = %conference.conference_id, role = ?role, "relay leg joins");
        }
        self.joined(now, id, conference, role);
    }

    /// Ends a call that has no IVR to say goodbye (a relay leg): a BYE at once.
    pub(super) fn hang_up(&mut self, id: CallId, cause: HangupCause) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        {
            let _e = call.span.enter();
            tracing::info!(cause = ?cause, "relay leg hung up");
        }
        call.place = Place::Ended;
        self.events.push(Event::Control(Request::Hangup {
            call: id,
            reason: HangupReason::Ivr(cause),
        }));
    }
}
