//! The engine's behaviour pinned by hash: one scripted session, byte for byte.

use super::*;

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
            Event::Control(Request::OpenRelay {
                call,
                conference_id,
                role,
                target,
                ..
            }) => (
                call.0,
                format!("relay {conference_id} {role:?} {}", target.node),
            ),
            Event::Control(Request::Rehome {
                call,
                conference_id,
                from_node,
                ..
            }) => (call.0, format!("rehome {conference_id} from {from_node}")),
            Event::Migrate { to, call } => (call.id().0, format!("migrate {to}")),
            Event::Forward { to, .. } => (0, format!("forward {to}")),
            // Deliberately not hashed: the meeting events (webhooks, `/api/events`) came after
            // the hash was pinned, and `Bench::route` sets them aside before they get here, so
            // the pinned behaviour stays what it was. Their own tests are in `live.rs`.
            Event::Live(e) => (0, format!("live {}", e.kind.as_str())),
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
                let pkt = rfc4733_packet(key, n, *seq, ts, id as u8);
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
    let owner = b.host("123456789");
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
        "49f26042d01c092862ea1171ec6d7d78f4a73dc0fb655338e024b3d493cc25b4"
    );
}
