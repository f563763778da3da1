//! The meeting mix: wideband and narrowband callers together.

use super::*;

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
fn a_softer_talker_who_got_in_first_gives_way_to_louder_ones() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    b.join(1, true);
    // A listener, four loud talkers (3..=6) and a soft one (7), 6 dB quieter.
    for id in 2..=7 {
        b.start(0, id);
        b.join(id, false);
    }
    let loud: Vec<Vec<[u8; 160]>> = [400.0, 700.0, 1300.0, 1900.0]
        .iter()
        .map(|&f| tone_frames(f, 8000, 150))
        .collect();
    let soft = tone_frames(2500.0, 4000, 150);
    // The soft talker's packets reach the mix one tick before the others' (their first
    // packet was late, or they were still moving between threads).
    for i in 0..150u16 {
        b.talk(7, i, &soft[usize::from(i)]);
        if i > 0 {
            for (n, frames) in loud.iter().enumerate() {
                b.talk(3 + n as u64, i - 1, &frames[usize::from(i - 1)]);
            }
        }
        b.tick();
    }
    let mixed: Vec<u64> = (3..=7)
        .filter(|&id| b.workers[0].call(CallId(id)).is_some_and(|c| c.mixed))
        .collect();
    assert_eq!(mixed, [3, 4, 5, 6], "the four loudest, not the first four");
}

/// Six talkers from faint (which the gain control brings up) to loud, the loudest stopping
/// halfway and a faint one growing louder, so the loudest four change and gained and ungained
/// frames are both left out: every byte each participant hears, hashed, is pinned from
/// before the mix stopped gaining frames it leaves out.
#[test]
fn six_talkers_changing_places_hear_exactly_the_mix_they_heard_before() {
    use sha2::{Digest, Sha256};
    let mut b = Bench::new(1);
    b.start(0, 1);
    b.join(1, true);
    for id in 2..=8 {
        b.start(0, id);
        b.join(id, false);
    }
    // 1 and 2 listen; 3..=8 talk.
    let voices: Vec<Vec<[u8; 160]>> = [
        (400.0, 300),
        (700.0, 1200),
        (1300.0, 4000),
        (1900.0, 9000),
        (2500.0, 600),
        (3100.0, 16000),
    ]
    .iter()
    .map(|&(f, a)| tone_frames(f, a, 200))
    .collect();
    let louder = tone_frames(2500.0, 12000, 200);
    let mut h = Sha256::new();
    for i in 0..200u16 {
        for (n, frames) in voices.iter().enumerate() {
            let frame = match (n, i >= 100) {
                (5, true) => continue,
                (4, true) => &louder[usize::from(i)],
                _ => &frames[usize::from(i)],
            };
            b.talk(3 + n as u64, i, frame);
        }
        let mut sent = b.tick();
        sent.sort_by_key(|(t, _, _)| *t);
        for (t, _, bytes) in &sent {
            h.update(t.to_be_bytes());
            h.update(payload(bytes));
        }
    }
    let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        digest,
        "20e806a19584a9a67f34545cea2112a7a19e5ba5371e2318407472666cee2c2b"
    );
}
