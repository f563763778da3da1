//! The engine's tests: a bench of workers driven like the media driver drives them.

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
                .map(|i| {
                    Worker::new(
                        i,
                        n,
                        Arc::clone(&a),
                        WorkerConfig::default(),
                        StdRng::seed_from_u64(i as u64),
                    )
                })
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
                    if let Event::Control(Request::Hangup { call, .. }) = e {
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
            Event::Control(Request::LookupConference { call, digits }) => {
                (call.0, format!("lookup {digits}"))
            }
            Event::Control(Request::VerifyPin {
                call,
                conference,
                pin,
            }) => (
                call.0,
                format!("verify {} {}", conference.conference_id, pin.as_digits()),
            ),
            Event::Control(Request::Hangup { call, reason }) => {
                (call.0, format!("hangup {reason:?}"))
            }
            Event::Control(Request::ChangePin {
                call,
                organizer_id,
                pin,
            }) => (
                call.0,
                format!("change pin {organizer_id} {}", pin.as_digits()),
            ),
            Event::Control(Request::Joined {
                call,
                conference_id,
                role,
            }) => (call.0, format!("joined {conference_id} {role:?}")),
            Event::Migrate { to, call } => (call.id().0, format!("migrate {to}")),
            Event::Closed { call } => (call.0, "closed".into()),
            Event::Control(Request::LobbyWaiting {
                conference,
                callers,
                waited,
            }) => (
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
        .chime(crate::ivr::assets::Chime::Join)
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
            Event::Control(Request::Hangup {
                call: CallId(4),
                reason: HangupReason::Ivr(HangupCause::Denied)
            })
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
                Event::Control(Request::Hangup {
                    reason: HangupReason::Ivr(HangupCause::Denied),
                    ..
                })
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
                if let Event::Control(Request::LobbyWaiting {
                    callers, waited, ..
                }) = e
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
        matches!(events.as_slice(), [Event::Control(Request::LookupConference { digits, .. })] if digits == "42"),
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
    let chimes = 3 * assets().chime(crate::ivr::assets::Chime::Join).len();
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
            if let Event::Control(Request::Hangup {
                call,
                reason: HangupReason::Ivr(HangupCause::Shutdown),
            }) = e
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
            if let Event::Control(Request::Hangup {
                reason: HangupReason::Ivr(HangupCause::LobbyTimeout),
                ..
            }) = e
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
            [Event::Control(Request::Hangup {
                reason: HangupReason::RtpTimeout,
                ..
            })]
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

#[test]
fn a_worker_with_the_same_seed_replays_a_call_byte_for_byte_headers_included() {
    let run = || {
        let mut b = Bench::new(1);
        b.start(0, 1);
        (0..5)
            .flat_map(|_| b.tick())
            .map(|(_, _, packet)| packet)
            .collect::<Vec<_>>()
    };
    let (first, second) = (run(), run());
    assert_eq!(first.len(), 5);
    assert_eq!(first, second);
}

#[test]
fn a_new_pin_longer_than_any_pin_is_refused_not_cut_short() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    b.join(1, true);
    b.listen(200);
    b.keys(1, "*8");
    b.listen(100);
    b.keys(1, "1234567890123#");
    let asked = b.route();
    assert!(
        asked.is_empty(),
        "nothing goes to the directory after a 13-digit entry"
    );
    // The organizer hears "your PIN was not changed", not "enter it again".
    let heard: Vec<Pcm8> = b.listen(150).remove(&1).unwrap_or_default();
    let not_changed = prompt_pcm(&[Prompt::PinNotChanged]);
    assert!(find_run(&heard, &not_changed[..20]).is_some());
    // Back at the keypad: a second entry of the same digits is not taken as a PIN either.
    b.keys(1, "1234567890123#");
    assert!(b.route().is_empty());
}
