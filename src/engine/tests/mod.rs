//! The engine's tests: a bench of workers driven like the media driver drives them, and
//! the tests by area beside it.

mod caller;
mod characterisation;
mod keys;
mod live;
mod mix;
mod relayed;
mod room;
mod slices;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::bridge::meeting::LobbyAdmit;
use crate::call::CallId;
use crate::call::Conference;
use crate::ivr::assets::Assets;
use crate::ivr::flow::HangupCause;
use crate::ivr::prompt::Prompt;
use crate::media::codec::{Codec, Law, SAMPLES_PER_FRAME, WIDE_SAMPLES_PER_FRAME};
use crate::media::dtmf::Digit;
use crate::media::dtmf::{TelephoneEvent, write_event};
use crate::media::g722::G722;
use crate::media::rtp::{self, RTP_HEADER_LEN};
use crate::media::srtp::{MasterKey, SrtpKeys, SrtpSession, SrtpSuite};
use crate::sip::sdp::Direction;
use crate::sip::sdp::Negotiated;

use super::protocol::*;
use super::*;

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
        srtp: None,
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
    homes: Arc<MeetingHomes>,
    now: Instant,
    /// Meeting events, kept apart from the driver's events that the other tests route.
    live: Vec<LiveEvent>,
}

impl Bench {
    fn new(n: usize) -> Self {
        let a = assets();
        let homes = Arc::new(MeetingHomes::new(n));
        Bench {
            homes: Arc::clone(&homes),
            workers: (0..n)
                .map(|i| {
                    Worker::new(
                        i,
                        Arc::clone(&homes),
                        Arc::clone(&a),
                        WorkerConfig::default(),
                        StdRng::seed_from_u64(i as u64),
                    )
                })
                .collect(),
            now: Instant::now(),
            live: Vec::new(),
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
                from: format!("sip:caller{id}@example.net"),
                params: Negotiated {
                    codec,
                    payload_type: codec.payload_type(),
                    ..params(port)
                },
                entry: crate::engine::Entry::Ivr,
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
                        Event::Forward { to, command } => {
                            moved = true;
                            self.workers[to].handle_command(self.now, *command);
                        }
                        // Set aside: the characterisation's pinned hash predates them.
                        Event::Live(e) => self.live.push(*e),
                        other => rest.push(other),
                    }
                }
            }
            if !moved {
                return rest;
            }
        }
    }

    /// The worker hosting the meeting of `conference_id` (the test expects one).
    fn host(&self, conference_id: &str) -> usize {
        self.homes
            .find(conference_id)
            .expect("a worker hosts the meeting")
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
        self.dial_in(id, organizer);
        self.route();
    }

    /// `join` but for its last step: what the caller's keys set off is not routed yet.
    fn dial_in(&mut self, id: u64, organizer: bool) {
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

/// The `n`th packet (of six: three updates, three ends) of one key press sent as an RFC 4733
/// event with payload type 101, as a phone sends it.
fn rfc4733_packet(key: char, n: u16, seq: u16, timestamp: u32, ssrc: u8) -> Vec<u8> {
    let ev = TelephoneEvent {
        event: Digit::from_char(key).unwrap().event(),
        end: n >= 3,
        volume: 10,
        duration: 160 * (n + 1),
    };
    let mut pl = [0u8; 4];
    write_event(&ev, &mut pl);
    let mut pkt = vec![0x80, 101, 0, 0, 0, 0, 0, 0, 0, 0, 0, ssrc];
    pkt[2..4].copy_from_slice(&seq.to_be_bytes());
    pkt[4..8].copy_from_slice(&timestamp.to_be_bytes());
    pkt.extend_from_slice(&pl);
    pkt
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
    tone_frames(430.0, 8000, frames)
}

/// μ-law frames of a steady tone at this peak amplitude.
fn tone_frames(freq: f32, amplitude: i16, frames: usize) -> Vec<[u8; 160]> {
    let mut g = crate::media::tone::ToneGenerator::new(freq, amplitude, 8000.0);
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

fn a_len(p: Prompt) -> usize {
    assets().prompt(p).len()
}
