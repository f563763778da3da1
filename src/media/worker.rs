//! One media worker's calls and meetings, sans-IO: RTP in, a 20 ms tick, RTP out.
//!
//! A worker owns a set of calls (their RTP state, IVR flow and player) and the meetings
//! whose conference ID hashes to it. A call starts on any worker; when its caller joins a
//! conference owned by another worker the call migrates there, so every meeting is mixed
//! by exactly one owner and "start" moves its whole lobby within one tick.
//!
//! The transport handle `S` is opaque here: the driver stores its socket in it and is
//! handed it back to send. Nothing in this file does I/O or reads the clock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::pin::Pin;
use crate::bridge::announcement::{Announcement, Announcer};
use crate::bridge::keypad::{KeyCommand, Keypad};
use crate::bridge::lobby_walk::{Decision, KeyOutcome, LobbyWalk, Step};
use crate::bridge::meeting::{LobbyAdmit, Meeting, Placement};
use crate::bridge::mixer::{Mixer, Pcm};
use crate::call::CallId;
use crate::directory::Conference;
use crate::ivr::flow::{Action, Flow, HangupCause, Input, IvrConfig, Role};
use crate::ivr::name::{NameRecorder, RecordedName};
use crate::ivr::prompt::Prompt;
use crate::media::agc::Agc;
use crate::media::assets::{Assets, Frame};
use crate::media::codec::{Codec, Law, PAYLOAD_BYTES, SAMPLES_PER_FRAME, WIDE_SAMPLES_PER_FRAME};
use crate::media::digit_merger::{DigitMerger, DigitSource};
use crate::media::dtmf::{Digit, DtmfReceiver};
use crate::media::g722::G722;
use crate::media::inband::InbandDetector;
use crate::media::jitter::{JitterBuffer, Playout};
use crate::media::player::{Background, Item, Player, Tick};
use crate::media::plc::Plc;
use crate::media::resample::{Downsampler, Upsampler};
use crate::media::rtp::{self, RTP_HEADER_LEN, RtpSender, SeqTracker, SeqUpdate};
use crate::media::transcoder::Transcoder;
use crate::media::vad::VoiceActivity;
use crate::sip::sdp::Negotiated;

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
    /// Tell the organizer (by e-mail, through `Event::LobbyWaiting`) when someone has
    /// waited this long in their lobby (None: never).
    pub lobby_mail_after: Option<Duration>,
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
        }
    }
}

/// What became of a PIN change by phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinChangeOutcome {
    /// Stored: the old PIN no longer works.
    Changed,
    /// Refused: the policy wants this many digits.
    WrongLength(u8),
    /// Refused: a repeat or a run.
    TooEasy,
    /// The directory failed; nothing changed.
    Failed,
}

/// Listens for key tones in a caller's audio as it arrives (before the jitter buffer, so a
/// digit costs no playout delay).
struct InbandListener {
    detector: InbandDetector,
    /// G.722 is stateful: the listener decodes its own copy of the stream, brought to 8 kHz.
    wideband: Option<(G722, Downsampler)>,
}

impl InbandListener {
    /// Decodes one fresh payload and runs the detector over it.
    fn push(&mut self, codec: Codec, payload: &[u8]) -> Option<Digit> {
        let mut pcm = [0i16; SAMPLES_PER_FRAME];
        match (codec.law(), self.wideband.as_mut()) {
            (Some(law), _) if payload.len() == SAMPLES_PER_FRAME => {
                crate::media::g711::decode(law, payload, &mut pcm);
            }
            (None, Some((g722, down))) if payload.len() == PAYLOAD_BYTES => {
                let mut wide = [0i16; 2 * SAMPLES_PER_FRAME];
                g722.decode(payload, &mut wide);
                down.process(&wide, &mut pcm);
            }
            _ => return None,
        }
        self.detector.push_frame(&pcm)
    }
}

/// An in-band listener when the call's peer cannot send telephone-events.
fn inband_for(params: &Negotiated) -> Option<Box<InbandListener>> {
    params.telephone_event.is_none().then(|| {
        Box::new(InbandListener {
            detector: InbandDetector::new(),
            wideband: params
                .codec
                .is_wideband()
                .then(|| (G722::new(), Downsampler::new())),
        })
    })
}

/// Most talkers mixed at once: the loudest active ones. More voices at once are noise, not
/// conversation, and each costs the listeners' mix.
pub const MAX_TALKERS: usize = 4;

/// Level bonus a caller already in the mix keeps over newcomers, so the talker set does not
/// flap between two voices of similar loudness.
const TALKER_HOLD_DB: f32 = 6.0;

/// How long a caller's audio stays out of the mix after an in-band key: the rest of the tone.
const TONE_HOLD: Duration = Duration::from_millis(250);

/// How long an organizer may pause while typing a new PIN before the change is dropped.
const NEW_PIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Frames dropped from the end of a name ended by a key sent as a tone: the tone sounds for
/// up to this long before the detector reports it.
const KEY_TONE_FRAMES: usize = 3;

/// An organizer typing a new PIN (`*8`): twice, then the directory decides.
struct NewPinEntry {
    first: Option<Pin>,
    typed: zeroize::Zeroizing<String>,
    last_key: Instant,
}

/// Why the worker wants a call hung up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HangupReason {
    /// The IVR said goodbye.
    Ivr(HangupCause),
    /// No RTP arrived for the configured time.
    RtpTimeout,
}

/// Orders for a worker from the SIP side, the directory or another worker.
pub enum Command<S> {
    /// A call was answered: start its media and its IVR.
    Start {
        /// The bridge's call handle.
        call: CallId,
        /// The driver's socket for this call.
        transport: S,
        /// The peer's SIP Call-ID, for the call's log span.
        sip_call_id: String,
        /// What offer/answer agreed.
        params: Negotiated,
    },
    /// A re-INVITE changed the media (new address, hold, codec).
    Update {
        /// Which call.
        call: CallId,
        /// The new agreement.
        params: Negotiated,
    },
    /// A digit arrived by SIP INFO.
    Digit {
        /// Which call.
        call: CallId,
        /// The key.
        digit: Digit,
    },
    /// The call is over (BYE, CANCEL, our own hangup done): free everything.
    Stop {
        /// Which call.
        call: CallId,
    },
    /// The directory's answer to `Event::LookupConference`.
    ConferenceFound {
        /// Which call asked.
        call: CallId,
        /// The conference, or None if the digits match none.
        conference: Option<Conference>,
    },
    /// The directory's answer to `Event::ChangePin`.
    PinChangeResult {
        /// Which call asked.
        call: CallId,
        /// What happened.
        outcome: PinChangeOutcome,
    },
    /// The directory refused `Event::LookupConference`: too many unknown IDs from this
    /// caller lately.
    ConferenceRefused {
        /// Which call asked.
        call: CallId,
    },
    /// The directory's answer to `Event::VerifyPin`.
    PinChecked {
        /// Which call asked.
        call: CallId,
        /// Whether the PIN was right.
        ok: bool,
    },
    /// A call handed over by another worker because its meeting lives here.
    Adopt(Box<CallMedia<S>>),
    /// The bridge is shutting down: every caller, wherever they are, hears goodbye and is
    /// hung up; calls that arrive on this worker afterwards too.
    Goodbye,
    /// Start a meeting without a PIN (an authenticated start from the admin API): the lobby
    /// moves in, and callers who come later go straight in.
    StartMeeting {
        /// Which conference.
        conference: Conference,
    },
}

/// What a worker asks of the rest of the bridge.
pub enum Event<S> {
    /// Find the conference for these digits; answer with `Command::ConferenceFound`.
    LookupConference {
        /// Which call asks.
        call: CallId,
        /// What the caller typed.
        digits: String,
    },
    /// Check this PIN; answer with `Command::PinChecked`.
    VerifyPin {
        /// Which call asks.
        call: CallId,
        /// The conference whose organizer's PIN it must be.
        conference: Conference,
        /// What the caller typed.
        pin: Pin,
    },
    /// End this call with a BYE.
    Hangup {
        /// Which call.
        call: CallId,
        /// Why.
        reason: HangupReason,
    },
    /// An organizer typed a new PIN twice by phone: store it (answer `PinChangeResult`).
    ChangePin {
        /// Which call.
        call: CallId,
        /// Whose PIN.
        organizer_id: i64,
        /// The new PIN.
        pin: Pin,
    },
    /// The caller got through the IVR (for call records).
    Joined {
        /// Which call.
        call: CallId,
        /// The conference reached.
        conference_id: String,
        /// As what.
        role: Role,
    },
    /// Hand this call to worker `to`, which owns its meeting.
    Migrate {
        /// The worker index to send it to.
        to: usize,
        /// The call, with everything it owns.
        call: Box<CallMedia<S>>,
    },
    /// The call's media is gone and its transport dropped.
    Closed {
        /// Which call.
        call: CallId,
    },
    /// Someone has waited `lobby_mail_after` in this conference's lobby: tell its organizer
    /// (once per waiting spell: again only after the lobby emptied).
    LobbyWaiting {
        /// Whose lobby.
        conference: Conference,
        /// How many wait now.
        callers: usize,
        /// How long the first of them has waited.
        waited: Duration,
    },
}

/// Where a caller is, as one value (never a set of flags).
#[derive(Debug)]
pub enum Place {
    /// Talking to the IVR.
    Ivr(Box<Flow>),
    /// On the way to the worker that owns the meeting.
    Joining {
        /// The conference to enter.
        conference: Conference,
        /// As what.
        role: Role,
    },
    /// In a conference on this worker (its meeting says lobby or participant).
    Conference {
        /// The meeting's key.
        conference_id: String,
    },
    /// Hung up by us; waiting for the SIP side to confirm.
    Ended,
}

/// Everything a worker keeps for one call; moves as a whole when the call migrates.
pub struct CallMedia<S> {
    id: CallId,
    transport: S,
    span: tracing::Span,
    params: Negotiated,
    /// Where RTP goes: the SDP address until the caller's RTP arrives, then its source.
    remote: Option<SocketAddr>,
    latched: bool,
    sender: RtpSender,
    seq: SeqTracker,
    dtmf: DtmfReceiver,
    jitter: JitterBuffer,
    /// Fills the caller's lost frames in the meeting mix (8 kHz callers).
    plc: Plc,
    /// A G.722 caller's last frame and how many were lost since, to fill a loss.
    wide_last: Option<Box<(Pcm, u8)>>,
    player: Player,
    place: Place,
    last_rx: Instant,
    packets_in: u64,
    packets_out: u64,
    /// Star commands typed in a meeting.
    keypad: Keypad,
    /// Since when the caller waits in a lobby (None: not waiting).
    waiting_since: Option<Instant>,
    /// A new PIN being typed after `*8`.
    new_pin: Option<NewPinEntry>,
    /// Tones in the audio, listened for when no telephone-event was negotiated.
    inband: Option<Box<InbandListener>>,
    /// Decoding, encoding and rate conversion for the agreed codec.
    transcoder: Transcoder,
    /// Is the caller talking now: only talkers are mixed.
    voice: VoiceActivity,
    /// Brings a quiet line up to the others.
    agc: Agc,
    /// The caller was one of the mixed talkers last tick (keeps their place).
    mixed: bool,
    /// The caller heard a mix of their own last tick (their own downsampler is warm).
    own_mix: bool,
    /// One digit per key press whichever way (RFC 4733, INFO, in-band) it arrives.
    merger: DigitMerger,
    /// The caller's audio is left out of the mix until then: a key tone is sounding.
    tone_until: Option<Instant>,
    /// The tracker's lost count already added to the worker's stats (RFC 3550 cumulative
    /// lost goes down again when late packets arrive).
    lost_reported: i64,
    /// When the caller's last PIN entry was submitted (the `#`), for the lobby-move report.
    pin_submitted_at: Option<Instant>,
    /// The name being recorded in the IVR (`--record-names`).
    recorder: Option<Box<NameRecorder>>,
    /// The caller's recorded name: announced on join and leave, heard by an organizer
    /// going through the lobby. Memory only; it goes with the call.
    name: Option<Arc<RecordedName>>,
}

impl<S> CallMedia<S> {
    /// The call's handle.
    pub fn id(&self) -> CallId {
        self.id
    }

    /// The driver's transport handle.
    pub fn transport(&self) -> &S {
        &self.transport
    }

    /// The driver's transport handle, to (de)register it with a poller when the call moves.
    pub fn transport_mut(&mut self) -> &mut S {
        &mut self.transport
    }

    /// Where the call's RTP is sent now.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// Where the caller is.
    pub fn place(&self) -> &Place {
        &self.place
    }
}

/// A lobby move, reported once its first meeting tick has been sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoveReport {
    /// When the organizer's PIN entry ended (None for an API start).
    pub pin_submitted_at: Option<Instant>,
    /// When the meeting started.
    pub started_at: Instant,
    /// How many lobby callers moved in.
    pub callers: usize,
}

struct MeetingEntry {
    conference: Conference,
    meeting: Meeting<CallId>,
    /// Join and leave announcements being mixed in, frame by frame; everyone in the
    /// meeting hears each but the caller it is about.
    announcer: Announcer<CallId>,
    /// The lobby's wait (`Meeting::lobby_spell`) the organizer was last told about.
    lobby_mailed: Option<u64>,
    /// The mix runs at 16 kHz (a wideband caller is in).
    wide: bool,
    /// Brings the shared 16 kHz listener mix down once for every G.711 listener.
    listener_down: Downsampler,
    /// Lifts the 8 kHz announcements into a 16 kHz mix.
    chime_up: Upsampler,
}

/// One caller's frame in this tick's mix.
struct Talker {
    id: CallId,
    /// Frame level plus the hold bonus, to keep the loudest.
    rank: f32,
    pcm: Pcm,
}

impl MeetingEntry {
    fn new(conference: Conference) -> Self {
        MeetingEntry {
            conference,
            meeting: Meeting::new(),
            announcer: Announcer::new(),
            lobby_mailed: None,
            wide: false,
            listener_down: Downsampler::new(),
            chime_up: Upsampler::new(),
        }
    }

    /// Queues an announcement about `who` if the meeting runs and announcements are on.
    fn announce(&mut self, announcement: Announcement, who: Option<CallId>) {
        if self.meeting.is_started()
            && self.meeting.announcements()
            && !self.announcer.push(announcement, who)
        {
            tracing::debug!(conference = %self.conference.conference_id, "announcement dropped: too many queued");
        }
    }

    /// Announces callers who came in together from the lobby: each recorded name, and
    /// one chime for all who have none.
    fn announce_arrivals<S>(&mut self, moved: &[CallId], calls: &HashMap<CallId, CallMedia<S>>) {
        let mut nameless = false;
        for id in moved {
            match calls.get(id).and_then(|c| c.name.clone()) {
                Some(name) => self.announce(Announcement::joined(Some(name)), Some(*id)),
                None => nameless = true,
            }
        }
        if nameless {
            self.announce(Announcement::joined(None), None);
        }
    }
}

/// Counters a driver can read for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Ticks run.
    pub ticks: u64,
    /// RTP packets sent.
    pub packets_out: u64,
    /// RTP packets accepted.
    pub packets_in: u64,
    /// Audio packets lost on the way in (sequence gaps, less late arrivals; RFC 3550
    /// §6.4.1 counting, per stream). Signed because late arrivals take losses back.
    pub packets_lost: i64,
    /// Datagrams that were not valid RTP.
    pub bad_packets: u64,
    /// Packets from an address other than the latched one.
    pub foreign_packets: u64,
    /// Digits received (RFC 4733 and INFO).
    pub digits: u64,
    /// Of which by SIP INFO.
    pub digits_info: u64,
    /// Of which heard as tones in the audio (not also signalled).
    pub digits_inband: u64,
    /// Calls talking to the IVR (as of the last tick).
    pub in_ivr: u64,
    /// Calls by codec, in [`Codec::ALL`] order (as of the last tick).
    pub by_codec: [u64; 3],
    /// Talkers mixed in the last tick, all meetings together.
    pub talkers: u64,
    /// Callers waiting in lobbies (as of the last tick).
    pub in_lobby: u64,
    /// Callers in running meetings (as of the last tick).
    pub in_meeting: u64,
    /// Meetings on this worker, waiting or running (as of the last tick).
    pub meetings: u64,
    /// Callers who got through the IVR into a conference (lobby or meeting), ever.
    pub conference_joins: u64,
    /// Lobby callers let in one at a time by an organizer (`*24`, then 1).
    pub lobby_let_in: u64,
    /// Lobby callers sent away by an organizer (`*24`, then 2).
    pub lobby_sent_away: u64,
}

/// A media worker's state.
pub struct Worker<S> {
    index: usize,
    workers: usize,
    config: WorkerConfig,
    assets: Arc<Assets>,
    calls: HashMap<CallId, CallMedia<S>>,
    meetings: HashMap<String, MeetingEntry>,
    events: Vec<Event<S>>,
    mixer: Mixer,
    talkers: Vec<Talker>,
    packet: [u8; RTP_HEADER_LEN + SAMPLES_PER_FRAME],
    stats: WorkerStats,
    /// A lobby move waiting for its first meeting tick, then that tick's report.
    pending_move: Option<MoveReport>,
    move_report: Option<MoveReport>,
    /// `Command::Goodbye` came: every call here is on its way out.
    farewell: bool,
    /// Organizers going through their lobby (`*24`), by their call.
    walks: HashMap<CallId, LobbyWalk<CallId>>,
}

/// Which worker owns a conference's meeting: stable for a given worker count.
pub fn owner_of(conference_id: &str, workers: usize) -> usize {
    // FNV-1a: tiny, stable across runs and platforms (unlike std's randomised hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in conference_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % workers.max(1) as u64) as usize
}

/// Encodes what the player gives this tick (a prompt, the music, or silence) for the call.
fn player_frame<S>(call: &mut CallMedia<S>, tick: &Tick<'_>, out: &mut Frame) {
    match (call.params.codec.law(), tick.frame) {
        (Some(law), Some(f)) => match f.g711(law) {
            Some(frame) => *out = frame,
            None => *out = [law.silence_byte(); SAMPLES_PER_FRAME],
        },
        (Some(law), None) => *out = [law.silence_byte(); SAMPLES_PER_FRAME],
        // A stateful encoder is fed every frame, silence included.
        (None, f) => {
            let pcm = f.and_then(|f| f.pcm()).unwrap_or([0; SAMPLES_PER_FRAME]);
            call.transcoder.encode_narrow(&pcm, out);
        }
    }
}

impl<S> Worker<S> {
    /// A worker with index `index` out of `workers`.
    pub fn new(index: usize, workers: usize, assets: Arc<Assets>, config: WorkerConfig) -> Self {
        Worker {
            index,
            workers: workers.max(1),
            config,
            assets,
            calls: HashMap::new(),
            meetings: HashMap::new(),
            events: Vec::new(),
            mixer: Mixer::new(),
            talkers: Vec::new(),
            packet: [0; RTP_HEADER_LEN + SAMPLES_PER_FRAME],
            stats: WorkerStats::default(),
            pending_move: None,
            move_report: None,
            farewell: false,
            walks: HashMap::new(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> WorkerStats {
        self.stats
    }

    /// The calls on this worker.
    pub fn calls(&self) -> impl Iterator<Item = &CallMedia<S>> {
        self.calls.values()
    }

    /// How many calls this worker holds.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// A call on this worker.
    pub fn call(&self, id: CallId) -> Option<&CallMedia<S>> {
        self.calls.get(&id)
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
        match command {
            Command::Start {
                call,
                transport,
                sip_call_id,
                params,
            } => {
                self.start_call(now, call, transport, sip_call_id, params);
                if self.farewell {
                    self.send_off(now, call);
                }
            }
            Command::Update { call, params } => {
                if let Some(c) = self.calls.get_mut(&call) {
                    let _e = c.span.enter();
                    if params.remote != c.params.remote {
                        // A new media address in a re-INVITE: follow it, then re-latch.
                        c.remote = params.remote;
                        c.latched = false;
                    }
                    if params.codec != c.params.codec
                        || params.payload_type != c.params.payload_type
                    {
                        c.jitter.reset();
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
            Command::Stop { call } => self.stop_call(call),
            Command::ConferenceFound { call, conference } => {
                self.flow_input(now, call, Input::ConferenceFound(conference))
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
            Command::ConferenceRefused { call } => {
                self.flow_input(now, call, Input::TooManyGuesses)
            }
            Command::Adopt(mut media) => {
                let id = media.id;
                let place = std::mem::replace(&mut media.place, Place::Ended);
                self.calls.insert(id, *media);
                if let Place::Joining { conference, role } = place {
                    self.enter_conference(now, id, conference, role);
                } else if let Some(c) = self.calls.get_mut(&id) {
                    c.place = place;
                }
                if self.farewell {
                    self.send_off(now, id);
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
                    self.send_off(now, id);
                }
            }
            Command::StartMeeting { conference } => {
                let conference_id = conference.conference_id.clone();
                let entry = self
                    .meetings
                    .entry(conference_id.clone())
                    .or_insert_with(|| MeetingEntry::new(conference));
                let moved = entry.meeting.start(now);
                self.moved_in(&moved);
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

    fn start_call(
        &mut self,
        now: Instant,
        id: CallId,
        transport: S,
        sip_call_id: String,
        params: Negotiated,
    ) {
        let span = tracing::info_span!("call", call_id = %sip_call_id, call = id.0);
        let flow = Flow::new(self.config.ivr.clone());
        let inband = inband_for(&params);
        let codec = params.codec;
        let media = CallMedia {
            id,
            transport,
            span,
            remote: params.remote,
            params,
            latched: false,
            sender: RtpSender::new(rand::random(), rand::random(), rand::random()),
            seq: SeqTracker::new(),
            dtmf: DtmfReceiver::new(),
            jitter: JitterBuffer::new(self.config.jitter_depth),
            plc: Plc::new(),
            wide_last: None,
            player: Player::new(),
            keypad: Keypad::new(),
            waiting_since: None,
            new_pin: None,
            inband,
            transcoder: Transcoder::new(codec),
            voice: VoiceActivity::new(),
            agc: Agc::new(),
            mixed: false,
            own_mix: false,
            merger: DigitMerger::new(),
            tone_until: None,
            place: Place::Ivr(Box::new(flow)),
            last_rx: now,
            packets_in: 0,
            packets_out: 0,
            lost_reported: 0,
            pin_submitted_at: None,
            recorder: None,
            name: None,
        };
        {
            let _e = media.span.enter();
            tracing::debug!(worker = self.index, "media started");
        }
        self.calls.insert(id, media);
        self.drive_flow(now, id);
    }

    /// A caller waited in the lobby too long: out of the lobby, a goodbye, then the hangup.
    fn lobby_timeout(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Place::Conference { conference_id } = &call.place else {
            return;
        };
        let conference_id = conference_id.clone();
        {
            let _e = call.span.enter();
            tracing::info!(conference = %conference_id, "waited too long in the lobby: saying goodbye");
        }
        call.player.set_background(Background::Silence);
        call.place = Place::Ivr(Box::new(Flow::farewell(
            self.config.ivr.clone(),
            HangupCause::LobbyTimeout,
        )));
        self.leave_meeting(id, &conference_id, None);
        self.drive_flow(now, id);
    }

    /// An organizer sent a lobby caller away (`*24`, then 2): out of the lobby, told so,
    /// then hung up. False if the caller no longer waits in that lobby.
    fn send_away(&mut self, now: Instant, id: CallId, conference_id: &str) -> bool {
        let waiting = self
            .meetings
            .get(conference_id)
            .is_some_and(|e| e.meeting.lobby().contains(&id));
        let Some(call) = self.calls.get_mut(&id).filter(|_| waiting) else {
            return false;
        };
        {
            let _e = call.span.enter();
            tracing::info!(conference = %conference_id, "sent away from the lobby by the organizer");
        }
        call.player.set_background(Background::Silence);
        call.waiting_since = None;
        call.place = Place::Ivr(Box::new(Flow::farewell(
            self.config.ivr.clone(),
            HangupCause::Denied,
        )));
        self.leave_meeting(id, conference_id, None);
        self.drive_flow(now, id);
        self.stats.lobby_sent_away += 1;
        true
    }

    /// An organizer let one lobby caller in (`*24`, then 1); the meeting hears who joined.
    /// False if the caller no longer waits in that lobby.
    fn let_in(&mut self, id: CallId, conference_id: &str) -> bool {
        let Some(entry) = self.meetings.get_mut(conference_id) else {
            return false;
        };
        if !entry.meeting.admit_one(id) {
            return false;
        }
        let name = self.calls.get(&id).and_then(|c| c.name.clone());
        entry.announce(Announcement::joined(name), Some(id));
        if let Some(call) = self.calls.get(&id) {
            let _e = call.span.enter();
            tracing::info!(conference = %conference_id, "let in from the lobby by the organizer");
        }
        self.moved_in(&[id]);
        self.stats.lobby_let_in += 1;
        true
    }

    /// Takes a caller out of wherever they are to hear goodbye; the flow then hangs up.
    fn send_off(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let left = match &mut call.place {
            Place::Ivr(flow) => {
                flow.say_goodbye(HangupCause::Shutdown);
                None
            }
            Place::Conference { conference_id } => {
                let conference_id = conference_id.clone();
                call.place = Place::Ivr(Box::new(Flow::farewell(
                    self.config.ivr.clone(),
                    HangupCause::Shutdown,
                )));
                Some(conference_id)
            }
            // In transit: the worker that adopts it says goodbye.
            Place::Joining { .. } | Place::Ended => return,
        };
        if let Some(conference_id) = left {
            let name = call.name.clone();
            self.leave_meeting(id, &conference_id, name);
        }
        self.drive_flow(now, id);
    }

    fn stop_call(&mut self, id: CallId) {
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        if let Place::Conference { conference_id } = &call.place {
            self.leave_meeting(id, conference_id, call.name.clone());
        }
        {
            let _e = call.span.enter();
            tracing::debug!(
                packets_in = call.packets_in,
                packets_out = call.packets_out,
                "media stopped"
            );
        }
        drop(call);
        self.events.push(Event::Closed { call: id });
    }

    /// Takes a caller out of a meeting or its lobby; the others hear a participant leave
    /// (by `name`, if one was recorded).
    fn leave_meeting(&mut self, id: CallId, conference_id: &str, name: Option<Arc<RecordedName>>) {
        self.walks.remove(&id);
        if let Some(entry) = self.meetings.get_mut(conference_id) {
            let was_participant = entry.meeting.participants().contains(&id);
            entry.meeting.remove(id);
            if was_participant && !entry.meeting.participants().is_empty() {
                entry.announce(Announcement::left(name), Some(id));
            }
            if entry.meeting.is_empty() {
                if entry.meeting.is_started() {
                    tracing::info!(conference = %conference_id, "meeting ended: the last caller left");
                }
                self.meetings.remove(conference_id);
            }
        }
    }

    /// One datagram arrived on a call's media port from `source`.
    pub fn handle_rtp(&mut self, now: Instant, id: CallId, source: SocketAddr, datagram: &[u8]) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Ok(packet) = rtp::parse(datagram) else {
            self.stats.bad_packets += 1;
            return;
        };
        if call.latched {
            if call.remote != Some(source) {
                // Once latched, media from anyone else is injection or bleed: ignore it.
                self.stats.foreign_packets += 1;
                return;
            }
        } else {
            // Symmetric RTP: answer where the caller's media really comes from.
            call.remote = Some(source);
            call.latched = true;
        }
        call.last_rx = now;
        call.packets_in += 1;
        self.stats.packets_in += 1;
        let mut digit = None;
        if Some(packet.payload_type) == call.params.telephone_event {
            digit = call
                .dtmf
                .on_packet(packet.ssrc, packet.timestamp, packet.payload)
                .and_then(|d| call.merger.push(DigitSource::Signalled, d, now));
            // Key events in the audio's own stream take its sequence numbers: counted as
            // received, they are not audio lost. (A separate event stream is left alone, so
            // it cannot look like the audio restarting.)
            if call.seq.ssrc() == Some(packet.ssrc) {
                let _ = call.seq.update(packet.ssrc, packet.sequence);
                let lost = call.seq.lost();
                self.stats.packets_lost += lost - call.lost_reported;
                call.lost_reported = lost;
            }
        } else if packet.payload_type == call.params.payload_type {
            let fresh = match call.seq.update(packet.ssrc, packet.sequence) {
                SeqUpdate::New { extended } | SeqUpdate::Reordered { extended } => {
                    call.jitter.push(extended, packet.payload);
                    true
                }
                SeqUpdate::Restarted { extended } => {
                    call.jitter.reset();
                    call.jitter.push(extended, packet.payload);
                    // A new stream: its losses count from here.
                    call.lost_reported = call.seq.lost();
                    true
                }
                SeqUpdate::Duplicate | SeqUpdate::TooOld => false,
            };
            if fresh
                && let Some(listener) = call.inband.as_mut()
                && let Some(d) = listener.push(call.params.codec, packet.payload)
            {
                call.tone_until = Some(now + TONE_HOLD);
                digit = call.merger.push(DigitSource::InBand, d, now);
                if digit.is_some() {
                    self.stats.digits_inband += 1;
                }
            }
            let lost = call.seq.lost();
            self.stats.packets_lost += lost - call.lost_reported;
            call.lost_reported = lost;
        }
        if let Some(d) = digit {
            self.on_digit(now, id, d);
        }
    }

    fn on_digit(&mut self, now: Instant, id: CallId, digit: Digit) {
        self.stats.digits += 1;
        if let Some(call) = self.calls.get(&id) {
            let _e = call.span.enter();
            // The digit itself is not logged: it may be part of a PIN.
            tracing::trace!("digit received");
        }
        let in_meeting = match self.calls.get(&id).map(|c| &c.place) {
            Some(Place::Conference { conference_id }) => Some(conference_id.clone()),
            _ => None,
        };
        match in_meeting {
            Some(conference_id) if self.walks.contains_key(&id) => {
                self.walk_key(now, id, &conference_id, digit);
            }
            Some(conference_id) if self.calls.get(&id).is_some_and(|c| c.new_pin.is_some()) => {
                self.new_pin_digit(now, id, &conference_id, digit);
            }
            Some(conference_id) => {
                let command = self
                    .calls
                    .get_mut(&id)
                    .and_then(|c| c.keypad.on_digit(now, digit));
                if let Some(command) = command {
                    self.keypad_command(now, id, &conference_id, command);
                }
            }
            None => self.flow_input(now, id, Input::Digit(digit)),
        }
    }

    /// One key of a new PIN: digits collect, `#` ends an entry, `*` gives up.
    fn new_pin_digit(&mut self, now: Instant, id: CallId, conference_id: &str, digit: Digit) {
        let organizer_id = self
            .meetings
            .get(conference_id)
            .map(|e| e.conference.organizer_id);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let Some(entry) = call.new_pin.as_mut() else {
            return;
        };
        entry.last_key = now;
        let key = digit.as_char();
        if key.is_ascii_digit() {
            if entry.typed.len() < crate::auth::pin::MAX_PIN_LEN {
                entry.typed.push(key);
            }
            return;
        }
        if key != '#' {
            call.new_pin = None;
            call.player.play(&[Prompt::PinNotChanged]);
            return;
        }
        let typed = std::mem::take(&mut *entry.typed);
        let typed = zeroize::Zeroizing::new(typed);
        let Ok(pin) = Pin::parse(&typed) else {
            call.new_pin = None;
            call.player.play(&[Prompt::PinNotChanged]);
            return;
        };
        match entry.first.take() {
            None => {
                entry.first = Some(pin);
                call.player.play(&[Prompt::EnterNewPinAgain]);
            }
            Some(first) => {
                call.new_pin = None;
                if first.as_digits() != pin.as_digits() {
                    call.player.play(&[Prompt::PinsDoNotMatch]);
                } else if let Some(organizer_id) = organizer_id {
                    call.player.stop();
                    self.events.push(Event::ChangePin {
                        call: id,
                        organizer_id,
                        pin,
                    });
                }
            }
        }
    }

    /// Callers who just moved from a lobby into the mix: whatever the lobby played stops.
    fn moved_in(&mut self, moved: &[CallId]) {
        for id in moved {
            if let Some(c) = self.calls.get_mut(id) {
                c.player.stop();
                c.player.set_background(Background::Silence);
                c.waiting_since = None;
            }
        }
    }

    /// Plays prompts to one caller (in a meeting they replace the mix while they play).
    fn tell(&mut self, id: CallId, prompts: &[Prompt]) {
        if let Some(c) = self.calls.get_mut(&id) {
            c.player.play(prompts);
        }
    }

    /// Carries out a keypad command of a caller in a meeting.
    fn keypad_command(
        &mut self,
        now: Instant,
        id: CallId,
        conference_id: &str,
        command: KeyCommand,
    ) {
        let Some(entry) = self.meetings.get_mut(conference_id) else {
            return;
        };
        if !entry.meeting.participants().contains(&id) {
            // Lobby callers wait; the keys are for the meeting.
            return;
        }
        let organizer = entry.meeting.is_organizer(id);
        if let Some(call) = self.calls.get(&id) {
            let _e = call.span.enter();
            tracing::info!(?command, organizer, "meeting key");
        }
        if command.organizer_only() && !organizer {
            self.tell(id, &[Prompt::OrganizerOnly]);
            return;
        }
        if command == KeyCommand::DenyAll {
            let waiting = entry.meeting.lobby().to_vec();
            let sent = waiting
                .into_iter()
                .filter(|&caller| self.send_away(now, caller, conference_id))
                .count();
            tracing::info!(conference = %conference_id, sent, "lobby sent away by the organizer");
            let reply = if sent == 0 {
                Prompt::NobodyWaiting
            } else {
                Prompt::CallersSentAway
            };
            self.tell(id, &[reply]);
            return;
        }
        if command == KeyCommand::ReviewLobby {
            self.walk_step(
                now,
                id,
                conference_id,
                LobbyWalk::new(now),
                Vec::new(),
                true,
            );
            return;
        }
        let mut others: Vec<(CallId, Prompt)> = Vec::new();
        let reply: Vec<Prompt> = match command {
            KeyCommand::Help if organizer => vec![Prompt::KeypadHelpOrganizer],
            KeyCommand::Help => vec![Prompt::KeypadHelp],
            KeyCommand::ToggleMute => {
                if entry.meeting.toggle_mute(id) {
                    vec![Prompt::Muted]
                } else {
                    vec![Prompt::Unmuted]
                }
            }
            KeyCommand::ToggleHand => {
                if entry.meeting.toggle_hand(id) {
                    others.extend(
                        entry
                            .meeting
                            .organizers()
                            .iter()
                            .filter(|o| **o != id)
                            .map(|o| (*o, Prompt::AHandIsRaised)),
                    );
                    vec![Prompt::HandRaised]
                } else {
                    vec![Prompt::HandLowered]
                }
            }
            KeyCommand::RollCall => match entry.meeting.participants().len() {
                0 | 1 => vec![Prompt::OneParticipant],
                n => {
                    let mut p = Prompt::number(n);
                    p.push(Prompt::ParticipantsInMeeting);
                    p
                }
            },
            KeyCommand::MuteOthers => {
                others.extend(
                    entry
                        .meeting
                        .mute_all_but(id)
                        .into_iter()
                        .map(|k| (k, Prompt::MutedByOrganizer)),
                );
                vec![Prompt::AllMuted]
            }
            KeyCommand::ToggleAnnouncements => {
                if entry.meeting.toggle_announcements() {
                    vec![Prompt::AnnouncementsOn]
                } else {
                    entry.announcer.clear();
                    vec![Prompt::AnnouncementsOff]
                }
            }
            KeyCommand::ToggleLock => {
                if entry.meeting.toggle_lock() {
                    vec![Prompt::MeetingLocked]
                } else {
                    vec![Prompt::MeetingUnlocked]
                }
            }
            KeyCommand::ChangePin => {
                if let Some(c) = self.calls.get_mut(&id) {
                    c.new_pin = Some(NewPinEntry {
                        first: None,
                        typed: zeroize::Zeroizing::new(String::new()),
                        last_key: now,
                    });
                }
                vec![Prompt::EnterNewPin]
            }
            // Handled above: its answers include recorded names, or it ends calls.
            KeyCommand::ReviewLobby | KeyCommand::DenyAll => Vec::new(),
            KeyCommand::AdmitAll => {
                let moved = entry.meeting.admit_all();
                if moved.is_empty() {
                    vec![Prompt::NobodyWaiting]
                } else {
                    entry.announce_arrivals(&moved, &self.calls);
                    tracing::info!(conference = %conference_id, moved = moved.len(), "lobby let in by the organizer");
                    self.moved_in(&moved);
                    vec![Prompt::CallersAdmitted]
                }
            }
        };
        self.tell(id, &reply);
        for (k, p) in others {
            self.tell(k, &[p]);
        }
    }

    /// Presents the next lobby caller to an organizer going through the lobby, after
    /// `said` (the answer to their last key); ends the walk when nobody is left.
    fn walk_step(
        &mut self,
        now: Instant,
        organizer: CallId,
        conference_id: &str,
        mut walk: LobbyWalk<CallId>,
        mut said: Vec<Item>,
        first: bool,
    ) {
        let Some(entry) = self.meetings.get(conference_id) else {
            return;
        };
        match walk.next(now, entry.meeting.lobby()) {
            Step::Present { caller, number } => {
                match self.calls.get(&caller).and_then(|c| c.name.clone()) {
                    Some(name) => said.push(Item::Name(name)),
                    None => {
                        said.push(Prompt::Caller.into());
                        said.extend(Prompt::number(number).into_iter().map(Item::from));
                    }
                }
                said.push(Prompt::AdmitChoices.into());
                self.walks.insert(organizer, walk);
            }
            Step::Finished => {
                said.push(if first {
                    Prompt::NobodyWaiting.into()
                } else {
                    Prompt::NoMoreWaiting.into()
                });
                self.walks.remove(&organizer);
            }
        }
        if let Some(call) = self.calls.get_mut(&organizer) {
            call.player.play_items(said);
        }
    }

    /// One key of an organizer going through the lobby: 1 in, 2 away, 3 next, # stop.
    fn walk_key(&mut self, now: Instant, organizer: CallId, conference_id: &str, digit: Digit) {
        let Some(mut walk) = self.walks.remove(&organizer) else {
            return;
        };
        match walk.on_key(now, digit) {
            KeyOutcome::Ignored => {
                self.walks.insert(organizer, walk);
            }
            KeyOutcome::Stop => {
                if let Some(call) = self.calls.get_mut(&organizer) {
                    call.player.stop();
                    // `*` also starts the next meeting key (`*21`, `*7`…).
                    call.keypad.on_digit(now, digit);
                }
            }
            KeyOutcome::Decided { caller, decision } => {
                let done = match decision {
                    Decision::Admit => self.let_in(caller, conference_id).then_some(Prompt::LetIn),
                    Decision::Deny => self
                        .send_away(now, caller, conference_id)
                        .then_some(Prompt::SentAway),
                    Decision::Skip => None,
                };
                let said = done.into_iter().map(Item::from).collect();
                self.walk_step(now, organizer, conference_id, walk, said, false);
            }
        }
    }

    fn flow_input(&mut self, now: Instant, id: CallId, input: Input) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Place::Ivr(flow) = &mut call.place {
            flow.handle_input(now, input);
            self.drive_flow(now, id);
        }
    }

    /// Carries out whatever the call's IVR flow asks for.
    fn drive_flow(&mut self, now: Instant, id: CallId) {
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
                    self.events
                        .push(Event::LookupConference { call: id, digits });
                }
                Action::VerifyPin { conference, pin } => {
                    call.pin_submitted_at = Some(now);
                    self.events.push(Event::VerifyPin {
                        call: id,
                        conference,
                        pin,
                    });
                }
                Action::Join { conference, role } => {
                    tracing::info!(conference = %conference.conference_id, role = ?role, "caller identified");
                    self.events.push(Event::Joined {
                        call: id,
                        conference_id: conference.conference_id.clone(),
                        role,
                    });
                    self.join(now, id, conference, role);
                }
                Action::Hangup(cause) => {
                    tracing::info!(cause = ?cause, "IVR hangs up");
                    call.place = Place::Ended;
                    self.events.push(Event::Hangup {
                        call: id,
                        reason: HangupReason::Ivr(cause),
                    });
                }
            }
        }
    }

    fn join(&mut self, now: Instant, id: CallId, conference: Conference, role: Role) {
        let owner = owner_of(&conference.conference_id, self.workers);
        if owner == self.index {
            self.enter_conference(now, id, conference, role);
            return;
        }
        if let Some(mut call) = self.calls.remove(&id) {
            call.place = Place::Joining { conference, role };
            self.events.push(Event::Migrate {
                to: owner,
                call: Box::new(call),
            });
        }
    }

    fn enter_conference(&mut self, now: Instant, id: CallId, conference: Conference, role: Role) {
        let conference_id = conference.conference_id.clone();
        // From this caller's lookup, so a settings change applies from the next caller on.
        let callers_may_start = conference.start_without_pin;
        let entry = self
            .meetings
            .entry(conference_id.clone())
            .or_insert_with(|| MeetingEntry::new(conference));
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let _e = call.span.clone().entered();
        self.stats.conference_joins += 1;
        call.player.stop();
        call.place = Place::Conference {
            conference_id: conference_id.clone(),
        };
        match role {
            Role::Organizer => {
                let was_started = entry.meeting.is_started();
                let moved = entry
                    .meeting
                    .admit_organizer(now, id, self.config.lobby_admit);
                call.player.set_background(Background::Silence);
                if was_started {
                    entry.announce(Announcement::joined(call.name.clone()), Some(id));
                }
                // The organizer always learns how many came in, or how many still wait.
                call.player
                    .play(&lobby_report(moved.len(), entry.meeting.lobby().len()));
                if !moved.is_empty() {
                    self.pending_move = Some(MoveReport {
                        pin_submitted_at: call.pin_submitted_at,
                        started_at: now,
                        callers: moved.len(),
                    });
                }
                let organizer = entry.conference.organizer_id;
                match self.config.lobby_admit {
                    _ if was_started => {}
                    LobbyAdmit::Auto => {
                        tracing::info!(conference = %conference_id, organizer, moved = moved.len(), "meeting started; lobby moved in");
                    }
                    LobbyAdmit::Organizer => {
                        tracing::info!(conference = %conference_id, organizer, waiting = entry.meeting.lobby().len(), "meeting started; the lobby waits to be let in");
                    }
                }
                self.moved_in(&moved);
            }
            // The organizer lets callers start: the first caller starts the meeting.
            Role::Attendee if callers_may_start => {
                let was_started = entry.meeting.is_started();
                entry.meeting.admit_attendee(id);
                let moved = entry.meeting.start(now);
                call.player.set_background(Background::Silence);
                if was_started {
                    entry.announce(Announcement::joined(call.name.clone()), Some(id));
                } else {
                    tracing::info!(conference = %conference_id, moved = moved.len(), "meeting started by a caller (no PIN needed)");
                }
                self.moved_in(&moved);
            }
            Role::Attendee => match entry.meeting.admit_attendee(id) {
                Placement::Lobby if entry.meeting.is_started() => {
                    // Running but locked: wait for the organizer's *21.
                    call.player.play(&[Prompt::LockedWait]);
                    call.player.set_background(Background::HoldMusic);
                    call.waiting_since = Some(now);
                    tracing::info!(conference = %conference_id, lobby = entry.meeting.lobby().len(), "meeting locked: waiting in the lobby");
                }
                Placement::Lobby => {
                    call.player.play(&[Prompt::LobbyWait]);
                    call.player.set_background(Background::HoldMusic);
                    call.waiting_since = Some(now);
                    tracing::info!(conference = %conference_id, lobby = entry.meeting.lobby().len(), "waiting in the lobby");
                }
                Placement::Participant => {
                    call.player.set_background(Background::Silence);
                    entry.announce(Announcement::joined(call.name.clone()), Some(id));
                    tracing::info!(conference = %conference_id, "joined the meeting");
                }
            },
        }
    }

    /// Once per tick: lobby walks whose organizer went quiet end, and organizers whose
    /// lobby has kept someone waiting too long are told (once per waiting spell).
    fn lobby_care(&mut self, now: Instant) {
        if !self.walks.is_empty() {
            self.walks.retain(|id, walk| {
                let keep = !walk.expired(now);
                if !keep {
                    tracing::info!(call = id.0, "lobby review ended: no key for a while");
                }
                keep
            });
        }
        let Some(after) = self.config.lobby_mail_after else {
            return;
        };
        for entry in self.meetings.values_mut() {
            let spell = entry.meeting.lobby_spell();
            // The lobby keeps arrival order: its first caller has waited longest.
            let Some(first) = entry.meeting.lobby().first() else {
                continue;
            };
            if entry.lobby_mailed == Some(spell) {
                continue;
            }
            let Some(since) = self.calls.get(first).and_then(|c| c.waiting_since) else {
                continue;
            };
            let waited = now.saturating_duration_since(since);
            if waited >= after {
                entry.lobby_mailed = Some(spell);
                let callers = entry.meeting.lobby().len();
                tracing::info!(conference = %entry.conference.conference_id, callers, waited_s = waited.as_secs(), "callers kept waiting in the lobby: telling the organizer");
                self.events.push(Event::LobbyWaiting {
                    conference: entry.conference.clone(),
                    callers,
                    waited,
                });
            }
        }
    }

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
        for (id, call) in calls.iter_mut() {
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
            if call
                .new_pin
                .as_ref()
                .is_some_and(|p| now.saturating_duration_since(p.last_key) >= NEW_PIN_TIMEOUT)
            {
                call.new_pin = None;
                call.player.play(&[Prompt::PinNotChanged]);
            }
            if let (Some(limit), Some(since)) = (config.lobby_timeout, call.waiting_since)
                && now.saturating_duration_since(since) >= limit
            {
                call.waiting_since = None;
                waited_out.push(*id);
            }
            let in_mix = match &call.place {
                // A running meeting's lobby is empty unless it is locked: cheap to check.
                Place::Conference { conference_id } => meetings
                    .get(conference_id)
                    .is_some_and(|m| m.meeting.is_started() && !m.meeting.lobby().contains(id)),
                Place::Ended | Place::Joining { .. } => {
                    call.sender.advance(SAMPLES_PER_FRAME as u32);
                    continue;
                }
                Place::Ivr(_) => false,
            };
            if in_mix {
                continue;
            }
            // Audio from callers outside the mix is not heard by anyone, unless it is a name.
            if listen_for_name(call, now, &mut discard) {
                named.push(*id);
            }
            call.plc.reset();
            let tick = call.player.next(assets);
            if tick.prompts_finished {
                finished.push(*id);
            }
            let mut frame = [0u8; PAYLOAD_BYTES];
            player_frame(call, &tick, &mut frame);
            send_frame(call, &frame, packet, stats, send);
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
            self.lobby_timeout(now, id);
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
                self.leave_meeting(id, &conference_id, name);
            }
            self.events.push(Event::Hangup {
                call: id,
                reason: HangupReason::RtpTimeout,
            });
        }
    }
}

/// The worker's reusable buffers and counters, lent to one meeting's mix.
struct MixScratch<'a> {
    assets: &'a Assets,
    mixer: &'a mut Mixer,
    talkers: &'a mut Vec<Talker>,
    packet: &'a mut [u8; RTP_HEADER_LEN + SAMPLES_PER_FRAME],
    stats: &'a mut WorkerStats,
}

/// One tick of one running meeting: take every participant's frame, mix the loudest
/// talkers (at 16 kHz while a wideband caller is in), and send each participant the mix
/// without their own voice; listeners share one mix, and G.711 listeners one encoded frame.
fn mix_meeting<S>(
    now: Instant,
    entry: &mut MeetingEntry,
    calls: &mut HashMap<CallId, CallMedia<S>>,
    scratch: MixScratch<'_>,
    send: &mut impl FnMut(&S, SocketAddr, &[u8]),
) {
    let MixScratch {
        assets,
        mixer,
        talkers,
        packet,
        stats,
    } = scratch;
    let wide = entry
        .meeting
        .participants()
        .iter()
        .any(|id| calls.get(id).is_some_and(|c| c.params.codec.is_wideband()));
    if wide != entry.wide {
        entry.wide = wide;
        entry.listener_down = Downsampler::new();
        entry.chime_up = Upsampler::new();
    }
    mixer.clear(wide);
    talkers.clear();
    for id in entry.meeting.participants() {
        let Some(call) = calls.get_mut(id) else {
            continue;
        };
        // Decoded even when unheard: a stateful decoder and the concealment must see every
        // frame.
        let mut pcm: Pcm = [0; WIDE_SAMPLES_PER_FRAME];
        let Some(n) = next_audio(call, &mut pcm) else {
            continue;
        };
        // Muted, or a key tone sounding: the mix never carries keys.
        if entry.meeting.is_muted(*id) || call.tone_until.is_some_and(|t| now < t) {
            call.voice.reset_spurt();
            continue;
        }
        let samples = pcm.get_mut(..n).unwrap_or_default();
        let talking = call.voice.update(samples);
        let level = call.voice.level_db();
        call.agc.process(samples, talking, level);
        if !talking {
            continue;
        }
        call.transcoder.to_mix_rate(&mut pcm, wide);
        let hold = if call.mixed { TALKER_HOLD_DB } else { 0.0 };
        talkers.push(Talker {
            id: *id,
            rank: level + hold,
            pcm,
        });
    }
    if talkers.len() > MAX_TALKERS {
        talkers.sort_by(|a, b| b.rank.total_cmp(&a.rank));
        talkers.truncate(MAX_TALKERS);
    }
    for t in talkers.iter() {
        mixer.add(&t.pcm);
    }
    stats.talkers += talkers.len() as u64;
    // An announcement is one more source, left out for the caller it announces.
    let chime = entry.announcer.next_frame(assets).map(|(narrow, about)| {
        let mut pcm: Pcm = [0; WIDE_SAMPLES_PER_FRAME];
        if wide {
            entry.chime_up.process(&narrow, &mut pcm);
        } else {
            pcm[..SAMPLES_PER_FRAME].copy_from_slice(&narrow);
        }
        (pcm, about)
    });
    if let Some((pcm, _)) = &chime {
        mixer.add(pcm);
    }
    let mut listener_pcm: Pcm = [0; WIDE_SAMPLES_PER_FRAME];
    mixer.listener_mix(&mut listener_pcm);
    // The shared mix at 8 kHz for G.711 listeners; the state before this tick seeds a caller
    // who leaves the shared mix for an own one.
    let down_before = wide.then(|| entry.listener_down.clone());
    let mut listener_narrow = [0i16; SAMPLES_PER_FRAME];
    if wide {
        entry
            .listener_down
            .process(&listener_pcm, &mut listener_narrow);
    } else {
        listener_narrow.copy_from_slice(&listener_pcm[..SAMPLES_PER_FRAME]);
    }
    let mut listener_frames: [Option<Frame>; 2] = [None, None];
    for id in entry.meeting.participants() {
        let Some(call) = calls.get_mut(id) else {
            continue;
        };
        let own = talkers.iter().find(|t| t.id == *id).map(|t| t.pcm);
        let unheard_chime = chime
            .as_ref()
            .filter(|(_, about)| *about == Some(*id))
            .map(|(p, _)| *p);
        let left_out = match (own, unheard_chime) {
            (Some(o), Some(c)) => Some(std::array::from_fn(|i| o[i].saturating_add(c[i]))),
            (o, c) => o.or(c),
        };
        let mut frame = [0u8; PAYLOAD_BYTES];
        call.mixed = own.is_some();
        let own_mix = left_out.is_some() && !call.player.is_playing();
        // A prompt for this caller (a keypad answer) plays instead of the mix.
        if call.player.is_playing() {
            let tick = call.player.next(assets);
            player_frame(call, &tick, &mut frame);
        } else if let Some(own) = left_out {
            if !call.own_mix
                && let Some(before) = &down_before
            {
                call.transcoder.resume_lowering_from(before);
            }
            let mut pcm: Pcm = [0; WIDE_SAMPLES_PER_FRAME];
            mixer.talker_mix(&own, &mut pcm);
            call.transcoder.encode_mix(&pcm, wide, &mut frame);
        } else if let Some(law) = call.params.codec.law() {
            let slot = match law {
                Law::Mu => 0,
                Law::A => 1,
            };
            frame = *listener_frames[slot].get_or_insert_with(|| {
                let mut f = [0u8; PAYLOAD_BYTES];
                crate::media::g711::encode(law, &listener_narrow, &mut f);
                f
            });
        } else {
            // G.722 is stateful: each wideband listener encodes the shared mix itself.
            call.transcoder.encode_mix(&listener_pcm, wide, &mut frame);
        }
        call.own_mix = own_mix;
        send_frame(call, &frame, packet, stats, send);
    }
}

/// Feeds a call's audio of this tick to its name recording, if one runs (a key tone
/// sounding counts as no audio); true when the recording just ended by itself. The audio
/// is taken out of the jitter buffer either way: outside the mix nobody hears it.
fn listen_for_name<S>(
    call: &mut CallMedia<S>,
    now: Instant,
    scratch: &mut [u8; SAMPLES_PER_FRAME],
) -> bool {
    let got = match call.jitter.pop(scratch) {
        Playout::Frame(len) => Some(len),
        Playout::Lost | Playout::Idle => None,
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
fn keep_name<S>(call: &mut CallMedia<S>, drop_tail: usize) {
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

/// What an organizer hears on joining: how many came in from the lobby, or how many wait
/// there (and the keys to let them in); nothing when nobody was or is waiting.
fn lobby_report(moved: usize, waiting: usize) -> Vec<Prompt> {
    let (n, one, many, then) = match (moved, waiting) {
        (0, 0) => return Vec::new(),
        (0, n) => (
            n,
            Prompt::CallerWaiting,
            Prompt::CallersWaiting,
            Some(Prompt::LobbyChoices),
        ),
        (n, _) => (
            n,
            Prompt::CallerJoinedFromLobby,
            Prompt::CallersJoinedFromLobby,
            None,
        ),
    };
    let mut prompts = Prompt::number(n);
    prompts.push(if n == 1 { one } else { many });
    prompts.extend(then);
    prompts
}

/// The caller's next 20 ms for the mix at their codec's rate, decoded, a lost frame
/// concealed; the number of samples, or None when the caller is not sending (nothing to
/// conceal, nothing to mix).
fn next_audio<S>(call: &mut CallMedia<S>, pcm: &mut Pcm) -> Option<usize> {
    let mut payload = [0u8; PAYLOAD_BYTES];
    let playout = call.jitter.pop(&mut payload);
    if call.params.codec.is_wideband() {
        return next_wideband_audio(call, playout, &payload, pcm);
    }
    let mut narrow = [0i16; SAMPLES_PER_FRAME];
    match playout {
        Playout::Frame(len) => {
            call.transcoder
                .decode_narrow(payload.get(..len).unwrap_or(&payload), &mut narrow);
            call.plc.good(&mut narrow);
        }
        Playout::Lost => match call.jitter.peek(&mut payload) {
            Some(len) => {
                let mut next = [0i16; SAMPLES_PER_FRAME];
                call.transcoder
                    .decode_narrow(payload.get(..len).unwrap_or(&payload), &mut next);
                call.plc.conceal_before(&mut narrow, &next);
            }
            None => call.plc.conceal(&mut narrow),
        },
        Playout::Idle => {
            call.plc.reset();
            return None;
        }
    }
    pcm[..SAMPLES_PER_FRAME].copy_from_slice(&narrow);
    Some(SAMPLES_PER_FRAME)
}

/// [`next_audio`] for a G.722 caller. Its decoder carries state, so the next frame cannot be
/// decoded ahead to conceal towards it: a lost frame is the last one repeated, fading out
/// over three frames.
fn next_wideband_audio<S>(
    call: &mut CallMedia<S>,
    playout: Playout,
    payload: &[u8; PAYLOAD_BYTES],
    pcm: &mut Pcm,
) -> Option<usize> {
    match playout {
        Playout::Frame(len) => {
            let n = call
                .transcoder
                .decode(payload.get(..len).unwrap_or(payload), pcm);
            let last = call
                .wide_last
                .get_or_insert_with(|| Box::new(([0; WIDE_SAMPLES_PER_FRAME], 0)));
            last.0 = *pcm;
            last.1 = 0;
            Some(n)
        }
        Playout::Lost => {
            let last = call.wide_last.as_mut()?;
            last.1 = last.1.saturating_add(1);
            let gain = match last.1 {
                1 => 0.8,
                2 => 0.5,
                3 => 0.25,
                _ => 0.0,
            };
            for (o, &s) in pcm.iter_mut().zip(last.0.iter()) {
                *o = (f32::from(s) * gain) as i16;
            }
            Some(WIDE_SAMPLES_PER_FRAME)
        }
        Playout::Idle => {
            call.wide_last = None;
            None
        }
    }
}

/// Sends one frame to a call (unless it is on hold) and advances its RTP clock.
fn send_frame<S>(
    call: &mut CallMedia<S>,
    frame: &Frame,
    packet: &mut [u8; RTP_HEADER_LEN + SAMPLES_PER_FRAME],
    stats: &mut WorkerStats,
    send: &mut impl FnMut(&S, SocketAddr, &[u8]),
) {
    if call.params.direction.we_send()
        && let Some(remote) = call.remote
        && let Some(len) = call
            .sender
            .write(call.params.payload_type, frame, packet.as_mut_slice())
        && let Some(bytes) = packet.get(..len)
    {
        send(&call.transport, remote, bytes);
        call.packets_out += 1;
        stats.packets_out += 1;
    }
    call.sender.advance(SAMPLES_PER_FRAME as u32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::dtmf::{TelephoneEvent, write_event};
    use crate::sip::sdp::Direction;

    type Sent = Vec<(u32, SocketAddr, Vec<u8>)>;

    /// One 20 ms frame at 8 kHz, as a G.711 caller hears it.
    type Pcm8 = [i16; SAMPLES_PER_FRAME];

    fn params(port: u16) -> Negotiated {
        Negotiated {
            remote: Some(SocketAddr::from(([127, 0, 0, 1], port))),
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event: Some(101),
            direction: Direction::SendRecv,
            ptime_ms: 20,
        }
    }

    fn conference() -> Conference {
        Conference {
            organizer_id: 1,
            conference_id: "123456789".into(),
            organizer_name: "Ada".into(),
            start_without_pin: false,
        }
    }

    /// Decoded once for all tests: decoding every prompt takes a while in a debug build.
    fn assets() -> Arc<Assets> {
        static ASSETS: std::sync::OnceLock<Arc<Assets>> = std::sync::OnceLock::new();
        Arc::clone(ASSETS.get_or_init(|| Arc::new(Assets::bundled().unwrap())))
    }

    struct Bench {
        workers: Vec<Worker<u32>>,
        now: Instant,
    }

    impl Bench {
        fn new(n: usize) -> Self {
            let a = assets();
            Bench {
                workers: (0..n)
                    .map(|i| Worker::new(i, n, Arc::clone(&a), WorkerConfig::default()))
                    .collect(),
                now: Instant::now(),
            }
        }

        fn start(&mut self, worker: usize, id: u64) {
            self.start_with(worker, id, Codec::Pcmu);
        }

        fn start_with(&mut self, worker: usize, id: u64, codec: Codec) {
            let port = 6000 + id as u16;
            self.workers[worker].handle_command(
                self.now,
                Command::Start {
                    call: CallId(id),
                    transport: id as u32,
                    sip_call_id: format!("c{id}"),
                    params: Negotiated {
                        codec,
                        payload_type: codec.payload_type(),
                        ..params(port)
                    },
                },
            );
        }

        /// Sends `n` packets of `payload` from a call, as its phone would.
        fn talk_with(&mut self, id: u64, codec: Codec, first_seq: u16, payloads: &[[u8; 160]]) {
            let w = self.worker_of(id);
            let from = SocketAddr::from(([127, 0, 0, 1], 7000 + id as u16));
            for (i, body) in payloads.iter().enumerate() {
                let seq = first_seq.wrapping_add(i as u16);
                let mut p = vec![
                    0x80,
                    codec.payload_type(),
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    id as u8,
                ];
                p[2..4].copy_from_slice(&seq.to_be_bytes());
                p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
                p.extend_from_slice(body);
                self.workers[w].handle_rtp(self.now, CallId(id), from, &p);
            }
        }

        /// Routes events between workers like the driver does; returns the rest.
        fn route(&mut self) -> Vec<Event<u32>> {
            let mut rest = Vec::new();
            loop {
                let mut moved = false;
                for i in 0..self.workers.len() {
                    let events: Vec<_> = self.workers[i].drain_events().collect();
                    for e in events {
                        match e {
                            Event::Migrate { to, call } => {
                                moved = true;
                                self.workers[to].handle_command(self.now, Command::Adopt(call));
                            }
                            other => rest.push(other),
                        }
                    }
                }
                if !moved {
                    return rest;
                }
            }
        }

        fn worker_of(&self, id: u64) -> usize {
            self.workers
                .iter()
                .position(|w| w.call(CallId(id)).is_some())
                .expect("call exists")
        }

        fn command(&mut self, id: u64, c: Command<u32>) {
            let w = self.worker_of(id);
            self.workers[w].handle_command(self.now, c);
        }

        fn join(&mut self, id: u64, organizer: bool) {
            self.press(id, "123456789#");
            self.route();
            self.command(
                id,
                Command::ConferenceFound {
                    call: CallId(id),
                    conference: Some(conference()),
                },
            );
            self.press(id, if organizer { "*12345#" } else { "#" });
            if organizer {
                self.route();
                self.command(
                    id,
                    Command::PinChecked {
                        call: CallId(id),
                        ok: true,
                    },
                );
            }
            self.route();
        }

        /// Keys from call `id` by SIP INFO, without routing what follows.
        fn press(&mut self, id: u64, keys: &str) {
            for d in keys.chars() {
                self.command(
                    id,
                    Command::Digit {
                        call: CallId(id),
                        digit: Digit::from_char(d).unwrap(),
                    },
                );
            }
        }

        fn keys(&mut self, id: u64, keys: &str) {
            self.press(id, keys);
            self.route();
        }

        fn found(&mut self, id: u64) {
            self.command(
                id,
                Command::ConferenceFound {
                    call: CallId(id),
                    conference: Some(conference()),
                },
            );
            self.route();
        }

        /// One 20 ms μ-law packet from call `id` (sequence `seq`).
        fn talk(&mut self, id: u64, seq: u16, audio: &[u8; 160]) {
            self.talk_with(id, Codec::Pcmu, seq, std::slice::from_ref(audio));
        }

        /// Ticks `n` times; what each call heard, decoded, in order.
        fn listen(&mut self, n: usize) -> HashMap<u32, Vec<Pcm8>> {
            let mut heard: HashMap<u32, Vec<Pcm8>> = HashMap::new();
            for _ in 0..n {
                for (t, _, bytes) in self.tick() {
                    heard.entry(t).or_default().push(pcm_of(payload(&bytes)));
                }
            }
            heard
        }

        fn tick(&mut self) -> Sent {
            self.now += Duration::from_millis(20);
            let mut sent = Vec::new();
            for w in &mut self.workers {
                w.tick(self.now, &mut |t: &u32, a: SocketAddr, b: &[u8]| {
                    sent.push((*t, a, b.to_vec()))
                });
            }
            sent
        }
    }

    fn payload(packet: &[u8]) -> &[u8] {
        &packet[RTP_HEADER_LEN..]
    }

    fn pcm_of(ulaw: &[u8]) -> Pcm8 {
        let mut pcm = [0i16; SAMPLES_PER_FRAME];
        crate::media::g711::decode(Law::Mu, ulaw, &mut pcm);
        pcm
    }

    fn prompt_pcm(prompts: &[Prompt]) -> Vec<Pcm8> {
        let a = assets();
        prompts
            .iter()
            .flat_map(|p| a.prompt(*p).frames(Law::Mu).to_vec())
            .map(|f| pcm_of(&f))
            .collect()
    }

    /// Where `run` occurs in `heard`, frame for frame.
    fn find_run(heard: &[Pcm8], run: &[Pcm8]) -> Option<usize> {
        heard.windows(run.len()).position(|w| w == run)
    }

    /// A μ-law "voice": a 430 Hz tone at -15 dBFS, each frame different.
    fn voice(frames: usize) -> Vec<[u8; 160]> {
        let mut g = crate::media::tone::ToneGenerator::new(430.0, 8000, 8000.0);
        (0..frames)
            .map(|_| {
                let mut pcm = [0i16; SAMPLES_PER_FRAME];
                g.fill(&mut pcm);
                let mut f = [0u8; 160];
                crate::media::g711::encode(Law::Mu, &pcm, &mut f);
                f
            })
            .collect()
    }

    fn configured(n: usize, change: impl Fn(&mut WorkerConfig)) -> Bench {
        let mut b = Bench::new(n);
        for w in &mut b.workers {
            change(&mut w.config);
        }
        b
    }

    /// Call `id` dials in and says its name (`said` frames of voice) after the tone, then
    /// waits for the recording to end by itself; returns the voice it sent.
    fn say_name(b: &mut Bench, id: u64, said: usize) -> Vec<[u8; 160]> {
        b.start(0, id);
        b.keys(id, "123456789#");
        b.found(id);
        let a = assets();
        let prompt = a.prompt(Prompt::SayYourName).len() + a.prompt(Prompt::Beep).len();
        b.listen(prompt + 1);
        let words = voice(said);
        let mut seq = 0u16;
        for frame in &words {
            b.talk(id, seq, frame);
            seq += 1;
            b.tick();
        }
        // Past the prompt's leading silence, so no other silence is taken for it.
        let question = prompt_pcm(&[Prompt::OrganizerQuestion])[..10].to_vec();
        let mut heard = Vec::new();
        for _ in 0..300 {
            b.talk(id, seq, &[0xFF; 160]);
            seq += 1;
            for (t, _, bytes) in b.tick() {
                if t == id as u32 {
                    heard.push(pcm_of(payload(&bytes)));
                }
            }
            if heard.ends_with(&question) {
                return words;
            }
        }
        panic!("the recording never ended");
    }

    /// Behaviour pinned before the engine was restructured: one scripted session through
    /// two workers (migration, a lobby held for the organizer, `*24` letting one caller in and
    /// sending one away, `*21`, a G.722 talker and a G.711 talker, `*6`, `*8` typed twice,
    /// RFC 4733 and INFO digits, the lobby e-mail, a caller leaving, goodbye for everyone).
    /// Every RTP payload each call was sent (headers carry random SSRCs and are left out),
    /// and every event, with the tick it happened in, are hashed: a refactoring that changes
    /// one byte a caller hears, or one event, or when, changes the hash.
    #[test]
    fn a_scripted_session_sounds_and_signals_exactly_as_before() {
        use sha2::{Digest, Sha256};
        use std::collections::BTreeMap;

        struct Recorder {
            tick: u32,
            heard: BTreeMap<u32, Vec<(u32, Vec<u8>)>>,
            events: BTreeMap<u64, Vec<(u32, String)>>,
        }

        impl Recorder {
            fn ticks(&mut self, b: &mut Bench, n: usize) {
                for _ in 0..n {
                    self.tick += 1;
                    for (t, _, bytes) in b.tick() {
                        self.heard
                            .entry(t)
                            .or_default()
                            .push((self.tick, payload(&bytes).to_vec()));
                    }
                    self.settle(b);
                }
            }

            /// Routes events; answers hangups with the stop the SIP side would send.
            fn settle(&mut self, b: &mut Bench) -> Vec<(u64, String)> {
                let mut seen = Vec::new();
                loop {
                    let events = b.route();
                    if events.is_empty() {
                        return seen;
                    }
                    for e in events {
                        let (call, what) = describe(&e);
                        self.events
                            .entry(call)
                            .or_default()
                            .push((self.tick, what.clone()));
                        seen.push((call, what));
                        if let Event::Hangup { call, .. } = e {
                            b.command(call.0, Command::Stop { call });
                        }
                    }
                }
            }

            fn digest(&self) -> String {
                let mut h = Sha256::new();
                for (call, frames) in &self.heard {
                    h.update(call.to_be_bytes());
                    for (tick, bytes) in frames {
                        h.update(tick.to_be_bytes());
                        h.update(bytes);
                    }
                }
                for (call, events) in &self.events {
                    h.update(call.to_be_bytes());
                    for (tick, what) in events {
                        h.update(tick.to_be_bytes());
                        h.update(what.as_bytes());
                        h.update([0]);
                    }
                }
                h.finalize()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            }
        }

        /// An event as plain words: what the hash covers, whatever the types are called.
        fn describe(e: &Event<u32>) -> (u64, String) {
            match e {
                Event::LookupConference { call, digits } => (call.0, format!("lookup {digits}")),
                Event::VerifyPin {
                    call,
                    conference,
                    pin,
                } => (
                    call.0,
                    format!("verify {} {}", conference.conference_id, pin.as_digits()),
                ),
                Event::Hangup { call, reason } => (call.0, format!("hangup {reason:?}")),
                Event::ChangePin {
                    call,
                    organizer_id,
                    pin,
                } => (
                    call.0,
                    format!("change pin {organizer_id} {}", pin.as_digits()),
                ),
                Event::Joined {
                    call,
                    conference_id,
                    role,
                } => (call.0, format!("joined {conference_id} {role:?}")),
                Event::Migrate { to, call } => (call.id().0, format!("migrate {to}")),
                Event::Closed { call } => (call.0, "closed".into()),
                Event::LobbyWaiting {
                    conference,
                    callers,
                    waited,
                } => (
                    0,
                    format!(
                        "lobby waiting {} {callers} {}",
                        conference.conference_id,
                        waited.as_millis()
                    ),
                ),
            }
        }

        /// A G.722 "voice": a 700 Hz tone at 16 kHz, encoded frame by frame.
        fn wide_voice(frames: usize) -> Vec<[u8; 160]> {
            let mut g = crate::media::tone::ToneGenerator::new(700.0, 16000, 8000.0);
            let mut enc = G722::new();
            (0..frames)
                .map(|_| {
                    let mut pcm = [0i16; WIDE_SAMPLES_PER_FRAME];
                    g.fill(&mut pcm);
                    let mut f = [0u8; 160];
                    enc.encode(&pcm, &mut f);
                    f
                })
                .collect()
        }

        /// Keys as RFC 4733 events in the call's audio stream, as a phone sends them.
        fn rfc4733(b: &mut Bench, id: u64, keys: &str, seq: &mut u16) {
            let w = b.worker_of(id);
            let from = SocketAddr::from(([127, 0, 0, 1], 7000 + id as u16));
            for key in keys.chars() {
                let ts = u32::from(*seq) * 160;
                for n in 0..6u16 {
                    let ev = TelephoneEvent {
                        event: Digit::from_char(key).unwrap().event(),
                        end: n >= 3,
                        volume: 10,
                        duration: 160 * (n + 1),
                    };
                    let mut pl = [0u8; 4];
                    write_event(&ev, &mut pl);
                    let mut pkt = vec![0x80, 101, 0, 0, 0, 0, 0, 0, 0, 0, 0, id as u8];
                    pkt[2..4].copy_from_slice(&seq.to_be_bytes());
                    pkt[4..8].copy_from_slice(&ts.to_be_bytes());
                    pkt.extend_from_slice(&pl);
                    *seq = seq.wrapping_add(1);
                    b.workers[w].handle_rtp(b.now, CallId(id), from, &pkt);
                }
            }
        }

        let mut b = configured(2, |c| {
            c.lobby_admit = LobbyAdmit::Organizer;
            c.lobby_mail_after = Some(Duration::from_secs(2));
        });
        let mut r = Recorder {
            tick: 0,
            heard: BTreeMap::new(),
            events: BTreeMap::new(),
        };
        // Four attendees (one G.722, one typing RFC 4733 events) wait in the lobby.
        b.start(0, 1);
        b.start(1, 2);
        b.start_with(0, 3, Codec::G722);
        b.start(1, 4);
        r.ticks(&mut b, 30);
        for id in [1, 2, 3] {
            b.press(id, "123456789#");
        }
        let mut seq4 = 500u16;
        rfc4733(&mut b, 4, "123456789#", &mut seq4);
        r.settle(&mut b);
        for id in 1..=4 {
            b.command(
                id,
                Command::ConferenceFound {
                    call: CallId(id),
                    conference: Some(conference()),
                },
            );
            r.settle(&mut b);
        }
        for id in [1, 2, 3] {
            b.press(id, "#");
        }
        rfc4733(&mut b, 4, "#", &mut seq4);
        r.settle(&mut b);
        r.ticks(&mut b, 150);
        // The organizer: a PIN, then the lobby still waits (organizer admits).
        b.start(1, 10);
        r.ticks(&mut b, 5);
        b.press(10, "123456789#");
        r.settle(&mut b);
        b.command(
            10,
            Command::ConferenceFound {
                call: CallId(10),
                conference: Some(conference()),
            },
        );
        r.settle(&mut b);
        b.press(10, "*12345#");
        r.settle(&mut b);
        b.command(
            10,
            Command::PinChecked {
                call: CallId(10),
                ok: true,
            },
        );
        r.settle(&mut b);
        r.ticks(&mut b, 200);
        // *24: the first waiting caller is skipped, the next let in, the next sent away,
        // then stop.
        b.press(10, "*24");
        r.settle(&mut b);
        r.ticks(&mut b, 120);
        b.press(10, "3");
        r.settle(&mut b);
        r.ticks(&mut b, 120);
        b.press(10, "1");
        r.settle(&mut b);
        r.ticks(&mut b, 120);
        b.press(10, "2");
        r.settle(&mut b);
        r.ticks(&mut b, 120);
        b.press(10, "#");
        r.settle(&mut b);
        r.ticks(&mut b, 40);
        // *21: the rest come in together.
        b.press(10, "*21");
        r.settle(&mut b);
        r.ticks(&mut b, 150);
        let owner = owner_of("123456789", 2);
        assert_eq!(
            b.workers[owner].meeting_sizes("123456789"),
            Some((0, 4)),
            "the organizer and three attendees: one was sent away"
        );
        // Talking: the G.722 caller and a G.711 caller, then one mutes with *6.
        let wide = wide_voice(60);
        let narrow = voice(60);
        for i in 0..60 {
            b.talk_with(3, Codec::G722, 1000 + i as u16, &wide[i..=i]);
            b.talk_with(4, Codec::Pcmu, seq4, &narrow[i..=i]);
            seq4 = seq4.wrapping_add(1);
            r.ticks(&mut b, 1);
        }
        b.press(4, "*6");
        r.settle(&mut b);
        for i in 0..30 {
            b.talk_with(4, Codec::Pcmu, seq4, &narrow[i..=i]);
            seq4 = seq4.wrapping_add(1);
            r.ticks(&mut b, 1);
        }
        // *8: a new PIN typed twice; the directory says it is stored.
        b.press(10, "*8");
        r.settle(&mut b);
        r.ticks(&mut b, 100);
        b.press(10, "246813#");
        r.settle(&mut b);
        r.ticks(&mut b, 100);
        b.press(10, "246813#");
        let asked = r.settle(&mut b);
        assert!(
            asked
                .iter()
                .any(|(c, w)| *c == 10 && w.starts_with("change pin")),
            "the new PIN goes to the directory: {asked:?}"
        );
        b.command(
            10,
            Command::PinChangeResult {
                call: CallId(10),
                outcome: PinChangeOutcome::Changed,
            },
        );
        r.ticks(&mut b, 120);
        // One caller hangs up; then the bridge says goodbye to everyone.
        b.command(1, Command::Stop { call: CallId(1) });
        r.settle(&mut b);
        r.ticks(&mut b, 60);
        for w in 0..2 {
            b.workers[w].handle_command(b.now, Command::Goodbye);
        }
        r.settle(&mut b);
        r.ticks(&mut b, 300);

        assert!(
            b.workers.iter().all(|w| w.call_count() == 0),
            "everyone was hung up and stopped"
        );
        assert!(r.heard.values().all(|f| !f.is_empty()));
        assert_eq!(
            r.digest(),
            "f7bd14a59d9034cd1a8e74821e954f7e3eb6ec0187be46fff42f5296b6750e29"
        );
    }

    #[test]
    fn a_recorded_name_is_announced_to_the_others_on_join_and_leave_never_to_its_owner() {
        let mut b = configured(1, |c| c.ivr.record_names = true);
        // The organizer skips the name with `*`.
        b.start(0, 1);
        b.keys(1, "123456789#");
        b.found(1);
        b.keys(1, "*12345#");
        b.command(
            1,
            Command::PinChecked {
                call: CallId(1),
                ok: true,
            },
        );
        b.route();
        let words = say_name(&mut b, 2, 30);
        b.keys(2, "#");
        assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((0, 2)));
        let heard = b.listen(30 + 60);
        let name: Vec<Pcm8> = words.iter().map(|f| pcm_of(f)).collect();
        let org = &heard[&1];
        let at = find_run(org, &name).expect("the organizer hears the name");
        let joined = find_run(org, &prompt_pcm(&[Prompt::HasJoined])).expect("'has joined'");
        assert!(
            joined >= at + name.len() && joined <= at + name.len() + 3,
            "'has joined' right after the name"
        );
        assert!(
            find_run(&heard[&2], &name).is_none()
                && find_run(&heard[&2], &prompt_pcm(&[Prompt::HasJoined])).is_none(),
            "the caller does not hear their own announcement"
        );
        b.command(2, Command::Stop { call: CallId(2) });
        let heard = b.listen(30 + 60);
        let at = find_run(&heard[&1], &name).expect("the name again on leaving");
        let left = find_run(&heard[&1], &prompt_pcm(&[Prompt::HasLeft])).expect("'has left'");
        assert!(left >= at + name.len() && left <= at + name.len() + 3);
    }

    #[test]
    fn silence_after_the_tone_gives_no_name_and_the_plain_chime() {
        let mut b = configured(1, |c| c.ivr.record_names = true);
        b.start(0, 1);
        b.join(1, true);
        say_name(&mut b, 2, 0);
        b.keys(2, "#");
        assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((0, 2)));
        let heard = b.listen(40);
        let a = assets();
        // As a μ-law listener hears it.
        let chime: Vec<Pcm8> = a
            .chime(crate::media::assets::Chime::Join)
            .iter()
            .map(|pcm| {
                let mut f = [0u8; 160];
                crate::media::g711::encode(Law::Mu, pcm, &mut f);
                pcm_of(&f)
            })
            .collect();
        assert!(find_run(&heard[&1], &chime).is_some(), "the join chime");
        assert!(find_run(&heard[&1], &prompt_pcm(&[Prompt::HasJoined])).is_none());
    }

    #[test]
    fn announcements_off_silences_names_too() {
        let mut b = configured(1, |c| c.ivr.record_names = true);
        b.start(0, 1);
        b.join(1, true);
        b.keys(1, "*23");
        b.listen(a_len(Prompt::AnnouncementsOff) + 2);
        let words = say_name(&mut b, 2, 20);
        b.keys(2, "#");
        let heard = b.listen(90);
        let name: Vec<Pcm8> = words.iter().map(|f| pcm_of(f)).collect();
        assert!(find_run(&heard[&1], &name).is_none(), "no announcement");
    }

    fn a_len(p: Prompt) -> usize {
        assets().prompt(p).len()
    }

    #[test]
    fn an_organizer_who_admits_hears_how_many_wait_and_the_lobby_stays() {
        let mut b = configured(1, |c| c.lobby_admit = LobbyAdmit::Organizer);
        b.start(0, 2);
        b.join(2, false);
        b.start(0, 3);
        b.join(3, false);
        b.start(0, 1);
        b.join(1, true);
        assert_eq!(
            b.workers[0].meeting_sizes("123456789"),
            Some((2, 1)),
            "the lobby stays"
        );
        let said = [Prompt::N2, Prompt::CallersWaiting, Prompt::LobbyChoices];
        let want = prompt_pcm(&said);
        let heard = b.listen(want.len());
        assert_eq!(
            heard[&1], want,
            "'two callers are waiting. Press star two one…'"
        );
    }

    #[test]
    fn star_24_goes_through_the_lobby_letting_in_sending_away_and_skipping() {
        let mut b = configured(1, |c| c.lobby_admit = LobbyAdmit::Organizer);
        for id in [2, 3, 4] {
            b.start(0, id);
            b.join(id, false);
        }
        b.start(0, 1);
        b.join(1, true);
        b.listen(2);
        b.keys(1, "*24");
        let first = prompt_pcm(&[Prompt::Caller, Prompt::N1, Prompt::AdmitChoices]);
        assert_eq!(b.listen(first.len())[&1], first, "'caller one, press one…'");
        b.keys(1, "1");
        assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((2, 2)));
        let next = prompt_pcm(&[Prompt::LetIn, Prompt::Caller, Prompt::N2]);
        assert_eq!(b.listen(next.len())[&1], next, "'let in. Caller two…'");
        b.keys(1, "3");
        let skipped = prompt_pcm(&[Prompt::Caller, Prompt::N3]);
        let heard = b.listen(skipped.len());
        assert_eq!(heard[&1], skipped, "skipped: on to caller three");
        let hold_before = heard[&3].clone();
        b.keys(1, "2");
        let heard = b.listen(a_len(Prompt::NotLetIn) + 3);
        let gone = prompt_pcm(&[Prompt::SentAway, Prompt::NoMoreWaiting]);
        assert_eq!(&heard[&1][..gone.len()], &gone[..], "'sent away. No more…'");
        assert!(
            find_run(&heard[&4], &prompt_pcm(&[Prompt::NotLetIn])).is_some(),
            "the caller sent away is told"
        );
        let hangups: Vec<Event<u32>> = b.route();
        assert!(
            hangups.iter().any(|e| matches!(
                e,
                Event::Hangup {
                    call: CallId(4),
                    reason: HangupReason::Ivr(HangupCause::Denied)
                }
            )),
            "then hung up"
        );
        assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((1, 2)));
        // The skipped caller kept hearing the hold music without a break.
        let a = assets();
        let hold: Vec<Pcm8> = a
            .hold_music()
            .frames(Law::Mu)
            .iter()
            .map(|f| pcm_of(f))
            .collect();
        let mut all = hold_before;
        all.extend(heard[&3].iter().copied());
        let start = hold.iter().position(|f| *f == all[0]).expect("hold music");
        for (i, f) in all.iter().enumerate() {
            assert_eq!(*f, hold[(start + i) % hold.len()], "frame {i}");
        }
        let stats = b.workers[0].stats();
        assert_eq!((stats.lobby_let_in, stats.lobby_sent_away), (1, 1));
    }

    #[test]
    fn star_25_sends_everyone_waiting_away_and_only_the_organizer_may() {
        let mut b = configured(1, |c| c.lobby_admit = LobbyAdmit::Organizer);
        for id in [5, 6] {
            b.start(0, id);
            b.join(id, false);
        }
        b.start(0, 1);
        b.join(1, true);
        // Once the meeting runs, a newcomer goes straight in.
        b.start(0, 2);
        b.join(2, false);
        assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((2, 2)));
        // The organizer's "two callers are waiting…" plays out.
        b.listen(500);
        // An attendee may not.
        b.keys(2, "*25");
        assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((2, 2)));
        b.keys(1, "*25");
        assert_eq!(
            b.workers[0].meeting_sizes("123456789"),
            Some((0, 2)),
            "the lobby is empty, the meeting untouched"
        );
        let heard = b.listen(a_len(Prompt::NotLetIn) + 3);
        let said = prompt_pcm(&[Prompt::CallersSentAway]);
        assert_eq!(&heard[&1][..said.len()], &said[..]);
        for caller in [5u32, 6] {
            assert!(
                find_run(&heard[&caller], &prompt_pcm(&[Prompt::NotLetIn])).is_some(),
                "caller {caller} is told"
            );
        }
        let denied = b
            .route()
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::Hangup {
                        reason: HangupReason::Ivr(HangupCause::Denied),
                        ..
                    }
                )
            })
            .count();
        assert_eq!(denied, 2);
        assert_eq!(b.workers[0].stats().lobby_sent_away, 2);
        b.keys(1, "*25");
        let said = prompt_pcm(&[Prompt::NobodyWaiting]);
        assert_eq!(&b.listen(said.len())[&1], &said, "nobody is left");
    }

    #[test]
    fn a_lobby_review_ends_after_twenty_seconds_without_a_key_and_pound_ends_it_at_once() {
        let mut b = configured(1, |c| {
            c.lobby_admit = LobbyAdmit::Organizer;
            c.rtp_timeout = None;
        });
        b.start(0, 2);
        b.join(2, false);
        b.start(0, 1);
        b.join(1, true);
        b.keys(1, "*24");
        b.listen(1000);
        b.keys(1, "1");
        assert_eq!(
            b.workers[0].meeting_sizes("123456789"),
            Some((1, 1)),
            "the review had ended: 1 means nothing now"
        );
        b.keys(1, "*24");
        b.listen(5);
        b.keys(1, "#");
        b.keys(1, "1");
        assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((1, 1)));
        b.keys(1, "*24");
        b.keys(1, "*21");
        assert_eq!(
            b.workers[0].meeting_sizes("123456789"),
            Some((0, 2)),
            "* ends the review and starts *21"
        );
    }

    #[test]
    fn the_organizer_is_told_once_per_wait_when_the_lobby_keeps_someone_long() {
        let mut b = configured(1, |c| {
            c.lobby_mail_after = Some(Duration::from_secs(10));
            c.rtp_timeout = None;
        });
        let waits = |b: &mut Bench, ticks: usize| -> Vec<(usize, Duration)> {
            let mut seen = Vec::new();
            for _ in 0..ticks {
                b.tick();
                for e in b.route() {
                    if let Event::LobbyWaiting {
                        callers, waited, ..
                    } = e
                    {
                        seen.push((callers, waited));
                    }
                }
            }
            seen
        };
        b.start(0, 2);
        b.join(2, false);
        assert!(waits(&mut b, 10_000 / 20 - 1).is_empty(), "not before 10 s");
        b.start(0, 3);
        b.join(3, false);
        let told = waits(&mut b, 2);
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].0, 2, "two wait");
        assert!(told[0].1 >= Duration::from_secs(10));
        assert!(waits(&mut b, 1000).is_empty(), "once per wait");
        // The meeting runs locked; the lobby empties and fills again: a new wait.
        b.start(0, 1);
        b.join(1, true);
        b.keys(1, "*7");
        b.start(0, 4);
        b.join(4, false);
        assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((1, 3)));
        assert!(waits(&mut b, 10_000 / 20 - 1).is_empty());
        assert_eq!(
            waits(&mut b, 2),
            [(1, Duration::from_secs(10))],
            "told again"
        );
        b.keys(1, "*21");
        b.tick();
        b.start(0, 5);
        b.join(5, false);
        assert_eq!(waits(&mut b, 10_000 / 20 + 1).len(), 1, "and again");
    }

    #[test]
    fn a_new_call_hears_the_welcome_prompt_paced_one_frame_per_tick() {
        let mut b = Bench::new(1);
        b.start(0, 1);
        let a = assets();
        let welcome = a.prompt(Prompt::Welcome).frames(Law::Mu);
        for frame in &welcome[..5] {
            let sent = b.tick();
            assert_eq!(sent.len(), 1, "one packet per tick");
            assert_eq!(
                sent[0].1,
                SocketAddr::from(([127, 0, 0, 1], 6001)),
                "to the SDP address"
            );
            assert_eq!(payload(&sent[0].2), &frame[..]);
        }
    }

    #[test]
    fn rtp_header_counts_up_by_one_packet_and_160_samples() {
        let mut b = Bench::new(1);
        b.start(0, 1);
        let p1 = b.tick().remove(0).2;
        let p2 = b.tick().remove(0).2;
        let a = rtp::parse(&p1).unwrap();
        let c = rtp::parse(&p2).unwrap();
        assert!(a.marker, "first packet of the stream is marked");
        assert!(!c.marker);
        assert_eq!(c.sequence, a.sequence.wrapping_add(1));
        assert_eq!(c.timestamp, a.timestamp.wrapping_add(160));
        assert_eq!(a.ssrc, c.ssrc);
        assert_eq!(a.payload_type, 0);
    }

    #[test]
    fn rfc4733_digits_reach_the_ivr_once_each() {
        let mut b = Bench::new(1);
        b.start(0, 1);
        let caller: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let mut seq = 100u16;
        for (i, key) in "42#".chars().enumerate() {
            let ts = 1000 + i as u32 * 2000;
            for n in 0..6u16 {
                let ev = TelephoneEvent {
                    event: Digit::from_char(key).unwrap().event(),
                    end: n >= 3,
                    volume: 10,
                    duration: 160 * (n + 1),
                };
                let mut pl = [0u8; 4];
                write_event(&ev, &mut pl);
                let mut pkt = vec![0x80, 101, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
                pkt[2..4].copy_from_slice(&seq.to_be_bytes());
                pkt[4..8].copy_from_slice(&ts.to_be_bytes());
                pkt.extend_from_slice(&pl);
                seq += 1;
                b.workers[0].handle_rtp(b.now, CallId(1), caller, &pkt);
                // The end packet is sent three times; duplicates must not count.
                b.workers[0].handle_rtp(b.now, CallId(1), caller, &pkt);
            }
        }
        assert_eq!(b.workers[0].stats().digits, 3);
        let events = b.route();
        assert!(
            matches!(events.as_slice(), [Event::LookupConference { digits, .. }] if digits == "42"),
            "one lookup for 42#"
        );
    }

    #[test]
    fn symmetric_rtp_latches_to_the_first_source_and_ignores_others() {
        let mut b = Bench::new(1);
        b.start(0, 1);
        let real: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let intruder: SocketAddr = "127.0.0.1:7777".parse().unwrap();
        let pkt = |seq: u16| {
            let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
            p[2..4].copy_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&[0xFF; 160]);
            p
        };
        b.workers[0].handle_rtp(b.now, CallId(1), real, &pkt(1));
        b.workers[0].handle_rtp(b.now, CallId(1), intruder, &pkt(2));
        assert_eq!(b.workers[0].stats().foreign_packets, 1);
        let sent = b.tick();
        assert_eq!(sent[0].1, real, "sends to where RTP really comes from");
        b.workers[0].handle_rtp(b.now, CallId(1), real, b"\x00garbage");
        assert_eq!(b.workers[0].stats().bad_packets, 1);
    }

    #[test]
    fn lobby_callers_hear_hold_music_and_the_organizer_moves_them_all_in_one_tick() {
        // Two workers: calls start on both and migrate to the meeting's owner.
        let mut b = Bench::new(2);
        for id in 1..=40u64 {
            b.start((id % 2) as usize, id);
            b.join(id, false);
        }
        let owner = owner_of("123456789", 2);
        for id in 1..=40u64 {
            assert_eq!(b.worker_of(id), owner, "call {id} lives with its meeting");
        }
        assert_eq!(b.workers[owner].meeting_sizes("123456789"), Some((40, 0)));
        // Nothing but the lobby prompt / hold music is sent to them.
        let a = assets();
        let lobby = a.prompt(Prompt::LobbyWait).frames(Law::Mu);
        for p in b.tick() {
            assert_eq!(payload(&p.2), &lobby[0][..]);
        }
        b.start(1 - owner, 99);
        b.join(99, true);
        assert_eq!(
            b.workers[owner].meeting_sizes("123456789"),
            Some((0, 41)),
            "the whole lobby moved"
        );
        // The organizer talks; in the very next tick everyone hears it.
        let org: SocketAddr = "127.0.0.1:7099".parse().unwrap();
        for seq in 0..4u16 {
            let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 99];
            p[2..4].copy_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&[0x20; 160]);
            b.workers[owner].handle_rtp(b.now, CallId(99), org, &p);
        }
        let sent = b.tick();
        let heard: Vec<&(u32, SocketAddr, Vec<u8>)> =
            sent.iter().filter(|(t, _, _)| *t != 99).collect();
        assert_eq!(heard.len(), 40);
        // The loss concealment plays every talker 3.75 ms late.
        let mut talk = [0x20; 160];
        talk[..crate::media::plc::DELAY_SAMPLES].fill(Law::Mu.silence_byte());
        for (_, _, p) in &heard {
            assert_eq!(
                payload(p),
                &talk[..],
                "every lobby caller hears the organizer in the same tick"
            );
        }
        let to_org = sent.iter().find(|(t, _, _)| *t == 99).unwrap();
        assert_eq!(
            payload(&to_org.2),
            &a.prompt(Prompt::N40).frames(Law::Mu)[0][..],
            "the organizer hears 'forty callers joined from the lobby', not themselves"
        );
    }

    #[test]
    fn a_wideband_caller_makes_the_mix_16_khz_and_g711_listeners_still_share_one_frame() {
        let mut b = Bench::new(1);
        b.start_with(0, 1, Codec::G722);
        b.join(1, true);
        for id in 2..=4 {
            b.start(0, id);
            b.join(id, false);
        }
        // The G.722 organizer talks a 1 kHz tone; nobody else talks.
        let mut encoder = G722::new();
        let mut phase = 0f32;
        // The three join chimes (each left out for the caller it announces) play one after
        // another; then everyone but the talker hears the same thing.
        let chimes = 3 * assets().chime(crate::media::assets::Chime::Join).len();
        let total = chimes + 40;
        let mut frames = Vec::new();
        for _ in 0..total {
            let pcm: [i16; 320] = std::array::from_fn(|_| {
                phase += 2.0 * std::f32::consts::PI * 1000.0 / 16000.0;
                (8000.0 * phase.sin()) as i16
            });
            let mut f = [0u8; 160];
            encoder.encode(&pcm, &mut f);
            frames.push(f);
        }
        let mut heard: HashMap<u32, Vec<Vec<u8>>> = HashMap::new();
        for (i, f) in frames.iter().enumerate() {
            b.talk_with(1, Codec::G722, i as u16, std::slice::from_ref(f));
            for (t, _, p) in b.tick() {
                heard.entry(t).or_default().push(payload(&p).to_vec());
            }
        }
        assert!(
            b.workers[0].meetings["123456789"].wide,
            "16 kHz while G.722 is in"
        );
        // Once the chimes are over, the three PCMU listeners get byte-identical frames: one
        // shared encode.
        let quiet = chimes + 5;
        let (two, three, four) = (
            &heard[&2][quiet..],
            &heard[&3][quiet..],
            &heard[&4][quiet..],
        );
        assert_eq!(two, three);
        assert_eq!(two, four);
        // ... which carry the tone, brought down to 8 kHz.
        let pcm: Vec<i16> = heard[&2][quiet..]
            .iter()
            .flat_map(|f| {
                let mut out = [0i16; 160];
                crate::media::g711::decode(Law::Mu, f, &mut out);
                out
            })
            .collect();
        assert_eq!(
            crate::media::tone::present_tones(&pcm, &[1000.0], 8000.0),
            [1000.0]
        );
        // The G.722 caller leaves: back to an 8 kHz mix.
        b.command(1, Command::Stop { call: CallId(1) });
        b.tick();
        assert!(!b.workers[0].meetings["123456789"].wide);
    }

    #[test]
    fn key_events_in_the_audio_stream_are_not_counted_as_lost_audio() {
        let mut b = Bench::new(1);
        b.start(0, 1);
        let from = SocketAddr::from(([127, 0, 0, 1], 7001));
        let packet = |pt: u8, seq: u16, body: &[u8]| {
            let mut p = vec![0x80, pt, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
            p[2..4].copy_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(body);
            p
        };
        let mut event = [0u8; 4];
        write_event(
            &TelephoneEvent {
                event: 5,
                end: false,
                volume: 10,
                duration: 160,
            },
            &mut event,
        );
        for seq in 0..20u16 {
            let p = if (5..12).contains(&seq) {
                packet(101, seq, &event)
            } else {
                packet(0, seq, &[0xFF; 160])
            };
            b.workers[0].handle_rtp(b.now, CallId(1), from, &p);
        }
        assert_eq!(b.workers[0].stats().packets_lost, 0);
        // A real gap still counts.
        let p = packet(0, 25, &[0xFF; 160]);
        b.workers[0].handle_rtp(b.now, CallId(1), from, &p);
        assert_eq!(b.workers[0].stats().packets_lost, 5);
    }

    #[test]
    fn the_last_caller_leaving_ends_the_meeting() {
        let mut b = Bench::new(1);
        b.start(0, 1);
        b.join(1, true);
        b.start(0, 2);
        b.join(2, false);
        assert_eq!(b.workers[0].meeting_sizes("123456789"), Some((0, 2)));
        b.command(1, Command::Stop { call: CallId(1) });
        assert_eq!(
            b.workers[0].meeting_sizes("123456789"),
            Some((0, 1)),
            "goes on without the organizer"
        );
        b.command(2, Command::Stop { call: CallId(2) });
        assert_eq!(b.workers[0].meeting_sizes("123456789"), None);
        assert!(b.route().iter().all(|e| matches!(e, Event::Closed { .. })));
        b.start(0, 3);
        b.join(3, false);
        assert_eq!(
            b.workers[0].meeting_sizes("123456789"),
            Some((1, 0)),
            "a new caller waits again"
        );
    }

    #[test]
    fn goodbye_takes_everyone_out_of_ivr_lobby_and_meeting_and_hangs_each_up_after_the_prompt() {
        let mut b = Bench::new(2);
        b.start(0, 1);
        b.join(1, true); // organizer: the meeting runs
        b.start(1, 2);
        b.join(2, false); // in the meeting
        b.start(0, 3); // still in the IVR
        b.route();
        for _ in 0..5 {
            b.tick();
        }
        b.route();
        for w in &mut b.workers {
            w.handle_command(b.now, Command::Goodbye);
        }
        // A call answered after the goodbye began gets it too.
        b.start(1, 4);
        b.route();
        let goodbye = b.workers[0]
            .assets
            .prompt(Prompt::Goodbye)
            .frames(Law::Mu)
            .to_vec();
        let mut heard: HashMap<u32, Vec<Vec<u8>>> = HashMap::new();
        let mut hung_up = Vec::new();
        for _ in 0..(goodbye.len() + 20) {
            for (t, _, bytes) in b.tick() {
                heard.entry(t).or_default().push(payload(&bytes).to_vec());
            }
            for e in b.route() {
                if let Event::Hangup {
                    call,
                    reason: HangupReason::Ivr(HangupCause::Shutdown),
                } = e
                {
                    hung_up.push(call.0);
                }
            }
        }
        hung_up.sort();
        assert_eq!(hung_up, [1, 2, 3, 4], "every call hung up once");
        for id in 1..=4u32 {
            let got = &heard[&id];
            let start = got
                .iter()
                .position(|f| f.as_slice() == goodbye[0].as_slice())
                .unwrap_or_else(|| panic!("call {id} never heard the goodbye"));
            assert!(
                got[start..]
                    .iter()
                    .zip(&goodbye)
                    .all(|(a, b)| a.as_slice() == b.as_slice())
                    && got.len() - start >= goodbye.len(),
                "call {id} heard the whole goodbye"
            );
        }
    }

    #[test]
    fn a_caller_left_in_the_lobby_hears_the_lobby_timeout_goodbye_then_is_hung_up() {
        let mut b = Bench::new(1);
        for w in &mut b.workers {
            w.config.lobby_timeout = Some(Duration::from_secs(10));
            w.config.rtp_timeout = None;
        }
        b.start(0, 1);
        b.join(1, false);
        b.route();
        for _ in 0..(10_000 / 20 - 2) {
            b.tick();
        }
        assert!(b.route().is_empty(), "not before the timeout");
        let bye = b.workers[0]
            .assets
            .prompt(Prompt::LobbyTimeout)
            .frames(Law::Mu)
            .to_vec();
        let mut heard = Vec::new();
        let mut hung_up = None;
        for i in 0..(bye.len() + 20) {
            heard.extend(b.tick().into_iter().map(|(_, _, p)| payload(&p).to_vec()));
            for e in b.route() {
                if let Event::Hangup {
                    reason: HangupReason::Ivr(HangupCause::LobbyTimeout),
                    ..
                } = e
                {
                    hung_up = Some(i);
                }
            }
        }
        let start = heard
            .iter()
            .position(|f| f.as_slice() == bye[0].as_slice())
            .expect("the lobby-timeout goodbye");
        assert!(
            heard[start..]
                .iter()
                .zip(&bye)
                .all(|(a, b)| a.as_slice() == b.as_slice())
        );
        assert!(
            hung_up.is_some_and(|i| i >= bye.len()),
            "hung up after the whole prompt"
        );
        assert_eq!(b.workers[0].stats().in_lobby, 0, "out of the lobby");
    }

    #[test]
    fn a_call_without_rtp_is_hung_up_after_the_timeout() {
        let mut b = Bench::new(1);
        b.start(0, 1);
        b.join(1, false);
        b.route();
        for _ in 0..(60_000 / 20 - 2) {
            b.tick();
        }
        assert!(b.route().is_empty(), "not before 60 s");
        for _ in 0..10 {
            b.tick();
        }
        let events = b.route();
        assert!(
            matches!(
                events.as_slice(),
                [Event::Hangup {
                    reason: HangupReason::RtpTimeout,
                    ..
                }]
            ),
            "exactly one hangup, got {} events",
            events.len()
        );
        assert_eq!(
            b.workers[0].meeting_sizes("123456789"),
            None,
            "left the lobby at once"
        );
    }

    #[test]
    fn a_call_on_hold_sends_nothing() {
        let mut b = Bench::new(1);
        b.start(0, 1);
        let mut held = params(6001);
        held.direction = Direction::RecvOnly;
        b.command(
            1,
            Command::Update {
                call: CallId(1),
                params: held,
            },
        );
        assert!(b.tick().is_empty());
        b.command(
            1,
            Command::Update {
                call: CallId(1),
                params: params(6001),
            },
        );
        let sent = b.tick();
        assert!(rtp::parse(&sent[0].2).unwrap().marker, "marker after hold");
    }
}
