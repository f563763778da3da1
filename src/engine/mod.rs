//! One media worker's calls and meetings, sans-IO: RTP in, a 20 ms tick, RTP out.
//!
//! A worker owns a set of calls (their RTP state, IVR flow and player) and the meetings
//! whose conference ID hashes to it. A call starts on any worker; when its caller joins a
//! conference owned by another worker the call migrates there, so every meeting is mixed
//! by exactly one owner and "start" moves its whole lobby within one tick.
//!
//! The transport handle `S` is opaque here: the driver stores its socket in it and is
//! handed it back to send. Nothing in this folder does I/O or reads the clock.

mod caller;
mod flow;
pub mod homes;
mod keys;
mod live;
mod mix;
mod protocol;
mod relay;
mod room;
mod stats;
#[cfg(test)]
mod tests;
mod tick;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;

use crate::bridge::meeting::LobbyAdmit;
use crate::bridge::mixer::Mixer;
use crate::call::{CallId, CallMap};
use crate::ivr::assets::Assets;
use crate::ivr::flow::{HangupCause, Input, IvrConfig};
use crate::ivr::prompt::Prompt;
use crate::media::codec::SAMPLES_PER_FRAME;
use crate::media::digit_merger::DigitSource;
use crate::media::rtp::RTP_HEADER_LEN;

pub use caller::{CallMedia, Place};
pub use homes::MeetingHomes;
pub use live::{
    Attendance, Control, ControlOutcome, LiveEvent, LiveEventKind, MeetingPhase, MeetingView,
    Missing, ParticipantView,
};
pub use mix::MAX_TALKERS;
pub use protocol::{
    Command, Entry, Event, HangupReason, MoveReport, PinChangeOutcome, RelayTarget, Request,
};
pub use stats::{WorkerStats, render_stats};
pub use tick::TickSlice;

use caller::{MediaCrypto, inband_for};
use mix::Talker;
use room::MeetingEntry;

/// Slices of a 20 ms frame by default: a held caller's frame leaves within 5 ms of the
/// slice it belongs to, and a worker wakes 200 times a second.
pub const DEFAULT_TICK_SLICES: u32 = 4;

/// Tunables of a media worker.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The IVR flow's attempts and timeouts.
    pub ivr: IvrConfig,
    /// Frames buffered before playout (each 20 ms).
    pub jitter_depth: usize,
    /// A call that sends no RTP for this long is hung up (None: never).
    pub rtp_timeout: Option<Duration>,
    /// A caller waiting in a lobby this long hears goodbye and is hung up (None: never).
    pub lobby_timeout: Option<Duration>,
    /// Whether the lobby moves in when the organizer authenticates, or waits for them.
    pub lobby_admit: LobbyAdmit,
    /// Tell the organizer (by e-mail, through `Request::LobbyWaiting`) when someone has
    /// waited this long in their lobby (None: never).
    pub lobby_mail_after: Option<Duration>,
    /// Slices the media clock runs each 20 ms frame in ([`TickSlice`]); 1 sends a frame's
    /// player frames all at its start.
    pub tick_slices: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            ivr: IvrConfig::default(),
            jitter_depth: 2,
            rtp_timeout: Some(Duration::from_secs(60)),
            lobby_timeout: Some(Duration::from_secs(30 * 60)),
            lobby_admit: LobbyAdmit::Auto,
            lobby_mail_after: None,
            tick_slices: DEFAULT_TICK_SLICES,
        }
    }
}

/// A worker's calls. Boxed, so the map's own array stays small: a tick walks its keys every
/// slice and a lookup probes it, both in cache, and only the calls used are loaded.
type Calls<S> = CallMap<Box<CallMedia<S>>>;

/// A media worker's state.
pub struct Worker<S> {
    index: usize,
    /// Which worker hosts each meeting (shared by all workers).
    homes: Arc<MeetingHomes>,
    config: WorkerConfig,
    assets: Arc<Assets>,
    calls: Calls<S>,
    /// Looked up for every caller of every tick; keyed by conference IDs the directory
    /// accepted, so foldhash's speed, not SipHash's resistance to chosen keys.
    meetings: HashMap<Arc<str>, MeetingEntry, foldhash::fast::RandomState>,
    events: Vec<Event<S>>,
    mixer: Mixer,
    talkers: Vec<Talker>,
    /// One meeting's decoded frames for its tick, kept for their capacity.
    frames: Vec<crate::bridge::mixer::Pcm>,
    packet: [u8; RTP_HEADER_LEN + SAMPLES_PER_FRAME],
    stats: WorkerStats,
    /// The gauges of the frame under way, published by its last slice.
    counting: stats::FrameCounts,
    /// A lobby move waiting for its first meeting tick, then that tick's report.
    pending_move: Option<MoveReport>,
    move_report: Option<MoveReport>,
    /// `Command::Goodbye` came: every call here is on its way out.
    farewell: bool,
    /// SSRCs and RTP sequence and timestamp starts.
    rng: StdRng,
    /// Packets of relayed callers waiting for the driver (`flush_relayed`).
    relayed: Vec<(CallId, relay::Toward, Vec<u8>)>,
}

impl<S> Worker<S> {
    /// A worker with index `index`, one of the workers sharing `homes`.
    /// SSRCs and the RTP sequence and timestamp starts come from `rng`: seeded by the
    /// runtime from the OS, by a test with a fixed seed so that a run can be replayed exactly.
    pub fn new(
        index: usize,
        homes: Arc<MeetingHomes>,
        assets: Arc<Assets>,
        config: WorkerConfig,
        rng: StdRng,
    ) -> Self {
        Worker {
            index,
            homes,
            config,
            assets,
            calls: CallMap::default(),
            meetings: HashMap::default(),
            events: Vec::new(),
            mixer: Mixer::new(),
            talkers: Vec::new(),
            frames: Vec::new(),
            packet: [0; RTP_HEADER_LEN + SAMPLES_PER_FRAME],
            stats: WorkerStats::default(),
            counting: stats::FrameCounts::default(),
            pending_move: None,
            move_report: None,
            farewell: false,
            rng,
            relayed: Vec::new(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> WorkerStats {
        self.stats
    }

    /// The calls on this worker.
    pub fn calls(&self) -> impl Iterator<Item = &CallMedia<S>> {
        self.calls.values().map(Box::as_ref)
    }

    /// How many calls this worker holds.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// A call on this worker.
    pub fn call(&self, id: CallId) -> Option<&CallMedia<S>> {
        self.calls.get(&id).map(Box::as_ref)
    }

    /// Starts loading what [`Worker::handle_rtp`] will read of this call's own fields: the
    /// first of two steps, called a few datagrams ahead of the one handled.
    pub fn prefetch_rtp(&self, id: CallId) {
        if let Some(call) = self.calls.get(&id) {
            call.prefetch_for_rtp();
        }
    }

    /// The second step, fewer datagrams ahead, once the first step's lines have come: what
    /// the call's jitter buffer reads for this datagram.
    pub fn prefetch_rtp_audio(&self, id: CallId, datagram: &[u8]) {
        if let Some(call) = self.calls.get(&id) {
            let sequence = match datagram {
                [_, _, high, low, ..] => Some(u16::from_be_bytes([*high, *low])),
                _ => None,
            };
            call.prefetch_rtp_audio(sequence);
        }
    }

    /// How many callers wait in the lobby and how many take part, for a conference here.
    pub fn meeting_sizes(&self, conference_id: &str) -> Option<(usize, usize)> {
        self.meetings
            .get(conference_id)
            .map(|m| (m.meeting.lobby().len(), m.meeting.participants().len()))
    }

    /// The last lobby move whose callers got their first meeting frame in the tick just run.
    pub fn take_move_report(&mut self) -> Option<MoveReport> {
        self.move_report.take()
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event<S>> {
        if self.events.is_empty() {
            None
        } else {
            Some(self.events.remove(0))
        }
    }

    /// Takes all pending events at once (cheaper than `poll_event` in a loop).
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event<S>> {
        self.events.drain(..)
    }

    /// Carries out one command.
    pub fn handle_command(&mut self, now: Instant, command: Command<S>) {
        self.carry_out(now, command);
        self.homes.set_load(self.index, self.calls.len());
    }

    fn carry_out(&mut self, now: Instant, command: Command<S>) {
        match command {
            Command::Start {
                call,
                transport,
                sip_call_id,
                from,
                params,
                entry,
            } => {
                self.start_call(now, call, transport, sip_call_id, from, params, entry);
                if self.farewell {
                    self.say_goodbye(now, call);
                }
            }
            Command::Update { call, params } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    let _e = c.span.enter();
                    if params.remote != c.params.remote {
                        // A new media address in a re-INVITE: follow it, then re-latch.
                        c.peer = c.peer.moved(params.remote, now);
                    }
                    if (params.codec != c.params.codec
                        || params.payload_type != c.params.payload_type)
                        && let Some(audio) = c.audio_in.as_deref_mut()
                    {
                        audio.jitter.reset();
                    }
                    if !c.params.direction.we_send() && params.direction.we_send() {
                        c.sender.mark_next();
                    }
                    tracing::info!(
                        direction = params.direction.as_str(),
                        codec = params.codec.encoding_name(),
                        "media updated"
                    );
                    if params.telephone_event.is_some() != c.params.telephone_event.is_some()
                        || params.codec != c.params.codec
                    {
                        c.inband = inband_for(&params);
                    }
                    if params.srtp != c.params.srtp {
                        // New keys (or none): the old contexts' state means nothing now.
                        c.crypto = MediaCrypto::for_params(&params);
                    }
                    c.transcoder.set_codec(params.codec);
                    c.params = params;
                }
            }
            Command::Digit { call, digit } => {
                let fresh = self
                    .calls
                    .get_mut(&call)
                    .and_then(|c| c.merger.push(DigitSource::Signalled, digit, now));
                if let Some(d) = fresh {
                    self.stats.digits_info += 1;
                    self.on_digit(now, call, d);
                }
            }
            Command::Stop { call } => self.drop_call(call),
            Command::ConferenceFound { call, conference } => {
                if let Some(role) = self.arriving(call) {
                    match conference {
                        Some(conference) => self.arrive(now, call, conference, role),
                        None => self.hang_up(call, HangupCause::ConferenceIdAttempts),
                    }
                } else {
                    self.flow_input(now, call, Input::ConferenceFound(conference))
                }
            }
            Command::PinChecked { call, ok } => self.flow_input(now, call, Input::PinChecked(ok)),
            Command::PinChangeResult { call, outcome } => {
                let prompts = match outcome {
                    PinChangeOutcome::Changed => vec![Prompt::PinChanged],
                    PinChangeOutcome::TooEasy => vec![Prompt::PinTooEasy],
                    PinChangeOutcome::WrongLength(n) => {
                        let mut p = vec![Prompt::PinMustHave];
                        p.extend(Prompt::number(usize::from(n)));
                        p.push(Prompt::DigitsNotChanged);
                        p
                    }
                    PinChangeOutcome::Failed => vec![Prompt::PinNotChanged],
                };
                self.tell(call, &prompts);
            }
            Command::ConferenceRefused { call } if self.arriving(call).is_some() => {
                self.hang_up(call, HangupCause::Guessing)
            }
            Command::ConferenceRefused { call } => {
                self.flow_input(now, call, Input::TooManyGuesses)
            }
            Command::DirectoryUnavailable { call } if self.arriving(call).is_some() => {
                self.hang_up(call, HangupCause::DirectoryUnavailable)
            }
            Command::DirectoryUnavailable { call } => {
                self.flow_input(now, call, Input::DirectoryUnavailable)
            }
            Command::HostedElsewhere { call, target } => self.hosted_elsewhere(call, target),
            Command::RelayUp { call, leg, remote } => self.relay_up(now, call, leg, remote),
            Command::Rehome { call, target } => self.rehome(now, call, target),
            Command::RelayFailed { call } => self.relay_failed(now, call),
            Command::RelayEnded { call } => self.relay_ended(call),
            Command::Adopt(mut media) => {
                let id = media.id;
                let place = std::mem::replace(&mut media.place, Place::Ended);
                self.calls.insert(id, media);
                if let Place::Joining { conference, role } = place {
                    // Joins again: the meeting may have emptied and moved on meanwhile.
                    self.join(now, id, conference, role);
                } else if let Some(c) = self.calls.get_mut(&id) {
                    c.place = place;
                }
                if self.farewell {
                    self.say_goodbye(now, id);
                }
            }
            Command::Goodbye => {
                self.farewell = true;
                let ids: Vec<CallId> = self.calls.keys().copied().collect();
                tracing::info!(
                    worker = self.index,
                    calls = ids.len(),
                    "saying goodbye to every caller"
                );
                for id in ids {
                    self.say_goodbye(now, id);
                }
            }
            Command::StartMeeting { conference } => {
                let conference_id = conference.conference_id.clone();
                let home = self.homes.settle(&conference_id, self.index);
                if home != self.index {
                    self.events.push(Event::Forward {
                        to: home,
                        command: Box::new(Command::StartMeeting { conference }),
                    });
                    return;
                }
                let entry = self
                    .meetings
                    .entry(conference_id.as_str().into())
                    .or_insert_with(|| MeetingEntry::new(conference));
                let was_started = entry.meeting.is_started();
                let moved = entry.meeting.start(now);
                self.moved_in(&moved);
                if !was_started {
                    self.emit(
                        LiveEventKind::MeetingStarted,
                        &conference_id,
                        None,
                        Some("operator"),
                    );
                }
                for m in &moved {
                    self.emit(
                        LiveEventKind::ParticipantAdmitted,
                        &conference_id,
                        Some(*m),
                        Some("operator"),
                    );
                }
                if !moved.is_empty() {
                    self.pending_move = Some(MoveReport {
                        pin_submitted_at: None,
                        started_at: now,
                        callers: moved.len(),
                    });
                }
                tracing::info!(conference = %conference_id, moved = moved.len(), "meeting started by an authenticated start");
            }
        }
    }
}
