//! One caller's media on a worker: the state that moves with the call, its start and stop,
//! RTP in (symmetric latching, sequence tracking, digits in the stream or in the audio) and
//! frames out (the player's prompt or music, the next decoded frame for the mix).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngExt;

use crate::bridge::mixer::Pcm;
use crate::call::CallId;
use crate::call::Conference;
use crate::ivr::assets::{Assets, Frame};
use crate::ivr::flow::{Flow, Role};
use crate::ivr::name::{NameRecorder, RecordedName};
use crate::ivr::player::{Player, Tick};
use crate::media::agc::Agc;
use crate::media::codec::{Codec, PAYLOAD_BYTES, SAMPLES_PER_FRAME, WIDE_SAMPLES_PER_FRAME};
use crate::media::digit_merger::{DigitMerger, DigitSource};
use crate::media::dtmf::{Digit, DtmfReceiver};
use crate::media::g722::G722;
use crate::media::inband::InbandDetector;
use crate::media::jitter::{JitterBuffer, Playout};
use crate::media::plc::Plc;
use crate::media::resample::Downsampler;
use crate::media::rtp::{self, RTP_HEADER_LEN, RtpSender, SeqTracker, SeqUpdate};
use crate::media::srtp::{SrtpError, SrtpSession};
use crate::media::transcoder::Transcoder;
use crate::media::vad::VoiceActivity;
use crate::media::wide_fade::WideFade;
use crate::sip::sdp::Negotiated;

use super::Worker;
use super::keys::KeyMode;
use super::protocol::{Event, Request};
use super::stats::WorkerStats;

/// Listens for key tones in a caller's audio as it arrives (before the jitter buffer, so a
/// digit costs no playout delay).
pub(super) struct InbandListener {
    pub(super) detector: InbandDetector,
    /// G.722 is stateful: the listener decodes its own copy of the stream, brought to 8 kHz.
    pub(super) wideband: Option<(G722, Downsampler)>,
}

impl InbandListener {
    /// Decodes one fresh payload and runs the detector over it.
    pub(super) fn push(&mut self, codec: Codec, payload: &[u8]) -> Option<Digit> {
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
pub(super) fn inband_for(params: &Negotiated) -> Option<Box<InbandListener>> {
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

/// How long after a re-INVITE moved a call's media the old address's packets are taken as
/// stragglers still in flight (network delay plus a tick), not as the caller's stream.
pub(super) const STRAGGLER_WINDOW: Duration = Duration::from_millis(500);

/// How long a caller's audio stays out of the mix after an in-band key: the rest of the tone.
pub(super) const TONE_HOLD: Duration = Duration::from_millis(250);

/// Where a caller is, as one value (never a set of flags).
#[derive(Debug)]
pub enum Place {
    /// Talking to the IVR.
    Ivr(Box<Flow>),
    /// A relay leg waiting for its conference's look-up (no IVR: the answering node ran it).
    Arriving {
        /// As what it will join.
        role: Role,
    },
    /// Through the IVR, relayed to the node that hosts the meeting (the leg is being opened,
    /// or reopened after its node went away, until `CallMedia::leg` is set).
    Relaying {
        /// The conference, to relay or join again if the owner node goes away.
        conference: Conference,
        /// As what.
        role: Role,
    },
    /// On the way to the worker that owns the meeting.
    Joining {
        /// The conference to enter.
        conference: Conference,
        /// As what.
        role: Role,
    },
    /// In a conference on this worker (its meeting says lobby or participant).
    Conference {
        /// The meeting's key: the map's own, shared, so a tick that looks up every caller's
        /// meeting reads one string per meeting, not one per caller.
        conference_id: Arc<str>,
    },
    /// Hung up by us; waiting for the SIP side to confirm.
    Ended,
}

/// Where a call's RTP goes, as one value: nowhere yet, the address its SDP gave, or the
/// source its RTP really comes from (symmetric RTP), which then no other source replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RtpPeer {
    /// The SDP gave no address and no RTP came yet.
    Unknown,
    /// The SDP's address, until the caller's RTP arrives.
    Signalled(SocketAddr),
    /// Where the caller's RTP comes from.
    Latched(SocketAddr),
    /// A re-INVITE named a new address: RTP goes `to` it. Packets still in flight from the
    /// address it replaced (`from`) are ignored until `until`, so that they cannot latch the
    /// call back to where the caller no longer listens; after that, symmetric RTP wins again
    /// (a caller behind NAT whose new SDP address is private goes on sending from `from`).
    Moving {
        to: SocketAddr,
        from: SocketAddr,
        until: Instant,
    },
}

impl RtpPeer {
    /// Before any RTP: the address the SDP gave, if any.
    pub(super) fn signalled(address: Option<SocketAddr>) -> Self {
        address.map_or(RtpPeer::Unknown, RtpPeer::Signalled)
    }

    /// Where to send.
    pub(super) fn address(self) -> Option<SocketAddr> {
        match self {
            RtpPeer::Unknown => None,
            RtpPeer::Signalled(a) | RtpPeer::Latched(a) | RtpPeer::Moving { to: a, .. } => Some(a),
        }
    }

    /// After a re-INVITE that named `remote` (changed from the previous SDP address).
    pub(super) fn moved(self, remote: Option<SocketAddr>, now: Instant) -> Self {
        match (self.address(), remote) {
            (Some(from), Some(to)) if from != to => RtpPeer::Moving {
                to,
                from,
                until: now + STRAGGLER_WINDOW,
            },
            _ => RtpPeer::signalled(remote),
        }
    }
}

/// How a call's packets are protected on the wire.
pub(super) enum MediaCrypto {
    /// Plain RTP.
    Plain,
    /// SRTP with the call's SDES keys.
    Srtp(Box<SrtpSession>),
    /// SRTP was agreed but its keys could not be used: nothing is sent or heard, since plain
    /// RTP to a peer that expects SRTP would put the call in clear.
    Unusable,
}

impl MediaCrypto {
    /// The protection `params` agreed.
    pub(super) fn for_params(params: &Negotiated) -> MediaCrypto {
        match &params.srtp {
            None => MediaCrypto::Plain,
            Some(keys) => match SrtpSession::new(keys) {
                Ok(session) => MediaCrypto::Srtp(Box::new(session)),
                Err(error) => {
                    tracing::warn!(%error, "SRTP keys unusable: the call's media is stopped");
                    MediaCrypto::Unusable
                }
            },
        }
    }

    /// Whether the call's media is SRTP.
    pub(super) fn is_srtp(&self) -> bool {
        matches!(self, MediaCrypto::Srtp(_))
    }
}

/// What a caller says, reordered and concealed, for the mix or a name recording: 6.7 KiB,
/// made only while someone hears it.
pub(super) struct AudioIn {
    pub(super) jitter: JitterBuffer,
    /// Fills the caller's lost frames in the meeting mix (8 kHz callers).
    pub(super) plc: Plc,
}

impl AudioIn {
    fn boxed(depth: usize) -> Box<AudioIn> {
        Box::new(AudioIn {
            jitter: JitterBuffer::new(depth),
            plc: Plc::new(),
        })
    }
}

/// Everything a worker keeps for one call; moves as a whole when the call migrates.
pub struct CallMedia<S> {
    pub(super) id: CallId,
    pub(super) transport: S,
    pub(super) span: tracing::Span,
    pub(super) params: Negotiated,
    /// Plain RTP or SRTP, as `params` agreed.
    pub(super) crypto: MediaCrypto,
    /// Where RTP goes: the SDP address until the caller's RTP arrives, then its source.
    pub(super) peer: RtpPeer,
    pub(super) sender: RtpSender,
    pub(super) seq: SeqTracker,
    pub(super) dtmf: DtmfReceiver,
    /// The caller's audio on its way to whoever hears it (the mix, a name recording); None
    /// while nobody does, as in the IVR and the lobby, which keeps a held caller small.
    pub(super) audio_in: Option<Box<AudioIn>>,
    /// The jitter buffer's depth in frames, for when `audio_in` is made.
    pub(super) jitter_depth: usize,
    /// Fills a G.722 caller's lost frames in the meeting mix.
    pub(super) wide_fade: WideFade,
    pub(super) player: Player,
    pub(super) place: Place,
    pub(super) last_rx: Instant,
    pub(super) packets_in: u64,
    pub(super) packets_out: u64,
    /// Star commands typed in a meeting.
    pub(super) keys: KeyMode,
    /// Tones in the audio, listened for when no telephone-event was negotiated.
    pub(super) inband: Option<Box<InbandListener>>,
    /// Decoding, encoding and rate conversion for the agreed codec.
    pub(super) transcoder: Transcoder,
    /// Is the caller talking now: only talkers are mixed.
    pub(super) voice: VoiceActivity,
    /// Brings a quiet line up to the others.
    pub(super) agc: Agc,
    /// The caller was one of the mixed talkers last tick (keeps their place).
    pub(super) mixed: bool,
    /// The caller heard a mix of their own last tick (their own downsampler is warm).
    pub(super) own_mix: bool,
    /// One digit per key press whichever way (RFC 4733, INFO, in-band) it arrives.
    pub(super) merger: DigitMerger,
    /// The caller's audio is left out of the mix until then: a key tone is sounding.
    pub(super) tone_until: Option<Instant>,
    /// The tracker's lost count already added to the worker's stats (RFC 3550 cumulative
    /// lost goes down again when late packets arrive).
    pub(super) lost_reported: i64,
    /// When the caller's last PIN entry was submitted (the `#`), for the lobby-move report.
    pub(super) pin_submitted_at: Option<Instant>,
    /// The caller's From URI as the SIP side received it, for operators' views.
    pub(super) from: String,
    /// When the caller entered their conference (lobby or meeting), for operators' views.
    pub(super) joined_at: Option<Instant>,
    /// The name being recorded in the IVR (`--record-names`).
    pub(super) recorder: Option<Box<NameRecorder>>,
    /// The caller's recorded name: announced on join and leave, heard by an organizer
    /// going through the lobby. Memory only; it goes with the call.
    pub(super) name: Option<Arc<RecordedName>>,
    /// The node hosting this caller's meeting, when not this one (the cluster said so at the
    /// look-up).
    pub(super) relay_to: Option<super::protocol::RelayTarget>,
    /// The relay leg, once it is up.
    pub(super) leg: Option<super::relay::Leg<S>>,
}

impl<S> CallMedia<S> {
    /// Starts loading the agreed codec, payload types and direction, which every path reads:
    /// they sit at the end of `params`, past the addresses and keys, often a line of their own.
    fn prefetch_params(&self) {
        use crate::media::prefetch::line;
        line(&self.params.codec);
        line(&self.params.payload_type);
        line(&self.params.telephone_event);
        line(&self.params.direction);
    }

    /// Starts loading where the caller's RTP goes: its address, and past it the time a move
    /// began, which also tells the variants apart (two lines where it straddles one).
    fn prefetch_peer(&self) {
        crate::media::prefetch::lines(std::slice::from_ref(&self.peer));
    }

    /// Starts loading what a meeting's tick reads of this call, first step: the call's own
    /// fields and its audio's (see [`crate::media::prefetch`]).
    pub(super) fn prefetch_for_mix(&self) {
        use crate::media::prefetch::line;
        self.prefetch_params();
        line(&self.tone_until);
        line(&self.voice);
        line(&self.agc);
        line(&self.transcoder);
        line(&self.mixed);
        line(&self.player);
        line(&self.sender);
        self.prefetch_peer();
        line(&self.crypto);
        line(&self.packets_out);
        if let Some(audio) = self.audio_in.as_deref() {
            audio.jitter.prefetch_pop();
            audio.plc.prefetch_state();
        }
    }

    /// Starts loading what a tick's slice reads of a caller outside a mix (the gauges, the
    /// timers, the player and the packet it sends), so that the next caller's loads overlap
    /// with this one's work instead of stalling one after another.
    pub(super) fn prefetch_for_tick(&self) {
        use crate::media::prefetch::{line, lines};
        line(&self.place);
        self.prefetch_params();
        line(&self.crypto);
        line(&self.keys);
        line(&self.last_rx);
        lines(std::slice::from_ref(&self.player));
        line(&self.sender);
        self.prefetch_peer();
        line(&self.packets_out);
        line(&self.transport);
        line(&self.recorder);
        line(&self.audio_in);
    }

    /// Second step of [`CallMedia::prefetch_for_tick`], once its lines have had a caller's
    /// time to arrive: the frame the caller's player plays next (a held caller's hold music
    /// is read from a place of its own, missing the cache every frame otherwise).
    pub(super) fn prefetch_player_frame(&self, assets: &Assets) {
        self.player.prefetch_next(assets, self.params.codec.law());
    }

    /// Starts loading what [`Worker::handle_rtp`] reads of this call's own fields, the first
    /// of two steps: the second, [`CallMedia::prefetch_rtp_audio`], follows the pointer to
    /// the jitter buffer this step's last line holds, so it must wait for that line.
    pub(super) fn prefetch_for_rtp(&self) {
        use crate::media::prefetch::line;
        line(&self.crypto);
        self.prefetch_peer();
        self.prefetch_params();
        line(&self.last_rx);
        line(&self.packets_in);
        line(&self.place);
        line(&self.seq);
        line(&self.audio_in);
    }

    /// Second step of [`CallMedia::prefetch_for_rtp`]: the jitter buffer's fields and the
    /// slot a frame with RTP sequence number `sequence` goes to.
    pub(super) fn prefetch_rtp_audio(&self, sequence: Option<u16>) {
        if let Some(audio) = self.audio_in.as_deref() {
            audio.jitter.prefetch_pop();
            if let Some(sequence) = sequence {
                audio.jitter.prefetch_slot_for(sequence);
            }
        }
    }

    /// Second step, once the first step's lines are on their way: the frame the jitter
    /// buffer plays and the concealer's history it goes to.
    pub(super) fn prefetch_audio(&self) {
        if let Some(audio) = self.audio_in.as_deref() {
            audio.jitter.prefetch_head_slot();
            audio.plc.prefetch_ring();
        }
    }

    /// Where the caller's audio goes when someone hears it: the mix (which makes it at the
    /// caller's first tick there) or a name recording (made here); None otherwise.
    pub(super) fn audio_heard(&mut self) -> Option<&mut AudioIn> {
        if self.audio_in.is_none() && self.recorder.is_some() {
            self.audio_in = Some(AudioIn::boxed(self.jitter_depth));
        }
        self.audio_in.as_deref_mut()
    }

    /// Starts buffering the caller's audio: it is heard from now on (it entered the mix).
    pub(super) fn start_hearing(&mut self) {
        let depth = self.jitter_depth;
        self.audio_in.get_or_insert_with(|| AudioIn::boxed(depth));
    }

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

    /// The relay leg's socket, once the leg to the meeting's owner node is up.
    pub fn leg_transport(&self) -> Option<&S> {
        self.leg.as_ref().map(|l| &l.transport)
    }

    /// Where the call's RTP is sent now.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.peer.address()
    }

    /// Where the caller is.
    pub fn place(&self) -> &Place {
        &self.place
    }
}

/// Encodes what the player gives this tick (a prompt, the music, or silence) for the call.
pub(super) fn player_frame<S>(call: &mut CallMedia<S>, tick: &Tick<'_>, out: &mut Frame) {
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

/// The caller's next 20 ms for the mix at their codec's rate, decoded, a lost frame
/// concealed; the number of samples, or None when the caller is not sending (nothing to
/// conceal, nothing to mix).
pub(super) fn next_audio<S>(call: &mut CallMedia<S>, pcm: &mut Pcm) -> Option<usize> {
    let mut payload = [0u8; PAYLOAD_BYTES];
    let depth = call.jitter_depth;
    let playout = call
        .audio_in
        .get_or_insert_with(|| AudioIn::boxed(depth))
        .jitter
        .pop(&mut payload);
    if call.params.codec.is_wideband() {
        return next_wideband_audio(call, playout, &payload, pcm);
    }
    let CallMedia {
        audio_in,
        transcoder,
        ..
    } = call;
    let audio = audio_in.as_deref_mut()?;
    let mut narrow = [0i16; SAMPLES_PER_FRAME];
    match playout {
        Playout::Frame(len) => {
            transcoder.decode_narrow(payload.get(..len).unwrap_or(&payload), &mut narrow);
            audio.plc.good(&mut narrow);
        }
        Playout::Lost => match audio.jitter.peek(&mut payload) {
            Some(len) => {
                let mut next = [0i16; SAMPLES_PER_FRAME];
                transcoder.decode_narrow(payload.get(..len).unwrap_or(&payload), &mut next);
                audio.plc.conceal_before(&mut narrow, &next);
            }
            None => audio.plc.conceal(&mut narrow),
        },
        Playout::Idle => {
            audio.plc.reset();
            return None;
        }
    }
    pcm[..SAMPLES_PER_FRAME].copy_from_slice(&narrow);
    Some(SAMPLES_PER_FRAME)
}

/// [`next_audio`] for a G.722 caller: a lost frame is the last one repeated, fading out.
pub(super) fn next_wideband_audio<S>(
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
            call.wide_fade.good(pcm);
            Some(n)
        }
        Playout::Lost => call
            .wide_fade
            .conceal(pcm)
            .then_some(WIDE_SAMPLES_PER_FRAME),
        Playout::Idle => {
            call.wide_fade.reset();
            None
        }
    }
}

/// Sends one frame to a call (unless it is on hold) and advances its RTP clock.
pub(super) fn send_frame<S>(
    call: &mut CallMedia<S>,
    frame: &Frame,
    packet: &mut [u8; RTP_HEADER_LEN + SAMPLES_PER_FRAME],
    stats: &mut WorkerStats,
    send: &mut impl FnMut(&S, SocketAddr, &[u8]),
) {
    if call.params.direction.we_send()
        && let Some(remote) = call.peer.address()
        && let Some(len) = call
            .sender
            .write(call.params.payload_type, frame, packet.as_mut_slice())
        && let Some(bytes) = packet.get(..len)
    {
        let sent = match &mut call.crypto {
            MediaCrypto::Plain => {
                send(&call.transport, remote, bytes);
                true
            }
            MediaCrypto::Srtp(session) => match session.protect_rtp(bytes) {
                Ok(protected) => {
                    send(&call.transport, remote, &protected);
                    true
                }
                Err(_) => false,
            },
            MediaCrypto::Unusable => false,
        };
        if sent {
            call.packets_out += 1;
            stats.packets_out += 1;
        }
    }
    call.sender.advance(SAMPLES_PER_FRAME as u32);
}

impl<S> Worker<S> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_call(
        &mut self,
        now: Instant,
        id: CallId,
        transport: S,
        sip_call_id: String,
        from: String,
        params: Negotiated,
        entry: super::protocol::Entry,
    ) {
        let span = tracing::info_span!("call", call_id = %sip_call_id, call = id.0);
        let place = match entry {
            super::protocol::Entry::Ivr => Place::Ivr(Box::new(Flow::new(self.config.ivr.clone()))),
            super::protocol::Entry::Relayed {
                conference_id,
                role,
            } => {
                self.events.push(Event::Control(Request::LookupConference {
                    call: id,
                    digits: conference_id,
                }));
                Place::Arriving { role }
            }
        };
        let inband = inband_for(&params);
        let codec = params.codec;
        let crypto = {
            let _e = span.enter();
            MediaCrypto::for_params(&params)
        };
        let media = CallMedia {
            id,
            transport,
            crypto,
            span,
            peer: RtpPeer::signalled(params.remote),
            params,
            sender: RtpSender::new(self.rng.random(), self.rng.random(), self.rng.random()),
            seq: SeqTracker::new(),
            dtmf: DtmfReceiver::new(),
            audio_in: None,
            jitter_depth: self.config.jitter_depth,
            wide_fade: WideFade::new(),
            player: Player::new(),
            keys: KeyMode::keypad(),
            inband,
            transcoder: Transcoder::new(codec),
            voice: VoiceActivity::new(),
            agc: Agc::new(),
            mixed: false,
            own_mix: false,
            merger: DigitMerger::new(),
            tone_until: None,
            place,
            last_rx: now,
            packets_in: 0,
            packets_out: 0,
            lost_reported: 0,
            pin_submitted_at: None,
            from,
            joined_at: None,
            recorder: None,
            name: None,
            relay_to: None,
            leg: None,
        };
        {
            let _e = media.span.enter();
            tracing::debug!(worker = self.index, "media started");
        }
        self.calls.insert(id, Box::new(media));
        self.drive_flow(now, id);
    }

    /// The SIP side ended the call (BYE, CANCEL, our own hangup done): out of its room without
    /// a goodbye, its media freed, and `Event::Closed` for the driver.
    pub(super) fn drop_call(&mut self, id: CallId) {
        // Out of the room while the call is still here, so its leaving is told as it was.
        if let Some(call) = self.calls.get(&id)
            && let Place::Conference { conference_id } = &call.place
        {
            let (conference_id, name) = (conference_id.clone(), call.name.clone());
            self.leave_room(id, &conference_id, name);
        }
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
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

    /// One datagram arrived on a call's media port from `source`.
    pub fn handle_rtp(&mut self, now: Instant, id: CallId, source: SocketAddr, datagram: &[u8]) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let decrypted;
        let datagram = match &mut call.crypto {
            MediaCrypto::Plain => datagram,
            MediaCrypto::Unusable => return,
            MediaCrypto::Srtp(session) => {
                let result = if rtp::is_rtcp(datagram) {
                    // Muxed SRTCP is checked (and counted when forged), then ignored like RTCP.
                    session.unprotect_rtcp(datagram).map(|_| None)
                } else {
                    session.unprotect_rtp(datagram).map(Some)
                };
                match result {
                    Ok(Some(plain)) => {
                        decrypted = plain;
                        &decrypted[..]
                    }
                    Ok(None) => return,
                    Err(error) => {
                        count_srtp_drop(&mut self.stats, error);
                        return;
                    }
                }
            }
        };
        let Ok(packet) = rtp::parse(datagram) else {
            self.stats.bad_packets += 1;
            return;
        };
        match call.peer {
            // The address the caller's SDP gave wins over whoever came first: a stale stream
            // still flowing to this port (a previous call's caller, a gateway that goes on
            // sending after its BYE) must not lock the caller out of its own call.
            RtpPeer::Latched(latched)
                if latched != source && call.params.remote == Some(source) =>
            {
                let _e = call.span.enter();
                tracing::info!(%source, stray = %latched, "RTP from the signalled address: following it, not the first source");
                call.peer = RtpPeer::Latched(source);
            }
            // Once latched, media from anyone else is injection or bleed: ignore it.
            RtpPeer::Latched(latched) if latched != source => {
                self.stats.foreign_packets += 1;
                return;
            }
            RtpPeer::Latched(_) => {}
            // In flight before a re-INVITE moved the media: not the caller's stream any more.
            RtpPeer::Moving { from, until, .. } if source == from && now < until => {
                self.stats.foreign_packets += 1;
                return;
            }
            // Symmetric RTP: answer where the caller's media really comes from.
            RtpPeer::Unknown | RtpPeer::Signalled(_) | RtpPeer::Moving { .. } => {
                call.peer = RtpPeer::Latched(source)
            }
        }
        call.last_rx = now;
        call.packets_in += 1;
        self.stats.packets_in += 1;
        if matches!(call.place, Place::Relaying { .. }) {
            // Digits and audio are the owner node's to hear: the packet goes on unchanged.
            self.relay_from_caller(id, datagram);
            return;
        }
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
                    if let Some(audio) = call.audio_heard() {
                        audio.jitter.push(extended, packet.payload);
                    }
                    true
                }
                SeqUpdate::Restarted { extended } => {
                    if let Some(audio) = call.audio_heard() {
                        audio.jitter.reset();
                        audio.jitter.push(extended, packet.payload);
                    }
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
}

/// Counts an SRTP packet dropped unheard under its reason.
pub(super) fn count_srtp_drop(stats: &mut WorkerStats, error: SrtpError) {
    match error {
        SrtpError::Replayed => stats.srtp_replayed += 1,
        SrtpError::Unauthentic => stats.srtp_unauthentic += 1,
        SrtpError::Malformed
        | SrtpError::TooManySources
        | SrtpError::Key { .. }
        | SrtpError::Protect => stats.srtp_malformed += 1,
    }
}
