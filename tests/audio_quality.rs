//! End-to-end speech quality: about 10 s of speech said by one G.711 μ-law phone and heard by
//! another through the real `dialbridge` binary on 127.0.0.1, scored with narrowband PESQ
//! (ITU-T P.862 as MOS-LQO, PyPI's `pesq` through `tests/data/pesq_score.py`) against the
//! original, beside the same speech through a plain G.711 encode and decode. Once as it is,
//! once with 5 % of the talker's packets lost at random, which the bridge conceals.
//!
//! Needs `espeak-ng`, `sox` and `python3` with `pesq` and `numpy` (`test.sh` installs them).
//! Run with `cargo test --test audio_quality -- --nocapture` to see the scores.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dialbridge::media::codec::{Codec, Law};
use dialbridge::media::g711;
use support::phone::{Perturb, Phone};
use support::{Bridge, BridgeOptions, first_tone, pcm_since, wait_until};

/// What the talker says: several sentences, 9.8 s at 165 words per minute.
const TEXT: &str = "The meeting will start when the organizer joins. Please have your agenda \
ready. We are reviewing the budget for the third quarter, and the numbers look better than \
last year.";

/// Active speech level of a telephone talker (ITU-T P.56 practice), relative to a full-scale
/// square wave.
const ACTIVE_LEVEL_DBOV: f64 = -26.0;

/// The talker's tone before speaking, to know the meeting carries their audio.
const TONE: f32 = 1000.0;

/// μ-law's code for a zero sample: what a silent meeting sounds like on the wire.
const ULAW_SILENCE: u8 = 0xFF;

/// The packet loss of the second run, and the seed of its draws.
const LOSS_PERCENT: u8 = 5;
const LOSS_SEED: u64 = 6;

/// The bridge's score may differ from plain G.711's by this much (issue 6).
const SAME_AS_G711: f64 = 0.1;
/// The least score with 5 % loss (issue 6).
const WITH_LOSS: f64 = 3.5;

/// The speech, 8 kHz 16-bit, synthesised once per test run (both tests share it).
fn speech() -> &'static [i16] {
    static SPEECH: OnceLock<Vec<i16>> = OnceLock::new();
    SPEECH.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let raw = dir.path().join("espeak.wav");
        let wav = dir.path().join("speech.wav");
        run(Command::new("espeak-ng")
            .args(["-v", "en-us", "-s", "165", "-w"])
            .arg(&raw)
            .arg(TEXT));
        // sox's default (high quality) resampler; -D: no dither, so every run is the same.
        run(Command::new("sox")
            .args(["-D", "-V1"])
            .arg(&raw)
            .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
            .arg(&wav));
        let samples: Vec<i16> = hound::WavReader::open(&wav)
            .expect("open the speech")
            .samples::<i16>()
            .collect::<Result<_, _>>()
            .expect("read the speech");
        let gain = 10f64.powf((ACTIVE_LEVEL_DBOV - active_level_dbov(&samples)) / 20.0);
        samples
            .iter()
            .map(|&x| (f64::from(x) * gain).round().clamp(-32768.0, 32767.0) as i16)
            .collect()
    })
}

fn run(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e} (test.sh installs espeak-ng, sox, pesq)"));
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The level of the speech itself: mean power of the 20 ms frames above -50 dBov, so that
/// pauses do not count.
fn active_level_dbov(samples: &[i16]) -> f64 {
    let full_scale = 32768f64.powi(2);
    let powers: Vec<f64> = samples
        .chunks(160)
        .map(|f| f.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / f.len() as f64)
        .filter(|&p| p > full_scale * 1e-5)
        .collect();
    assert!(!powers.is_empty(), "the speech is silent");
    10.0 * (powers.iter().sum::<f64>() / powers.len() as f64 / full_scale).log10()
}

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create WAV");
    for &s in samples {
        w.write_sample(s).expect("write WAV");
    }
    w.finalize().expect("finish WAV");
}

/// Narrowband PESQ of `degraded` against the speech.
fn pesq(dir: &Path, name: &str, degraded: &[i16]) -> f64 {
    let reference = dir.join("reference.wav");
    if !reference.exists() {
        write_wav(&reference, speech());
    }
    let path = dir.join(format!("{name}.wav"));
    write_wav(&path, degraded);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pesq_score.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&reference)
        .arg(&path)
        .output()
        .expect("run python3 (test.sh installs pesq and numpy)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pesq_score.py: {}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    text.trim().parse().expect("a PESQ score")
}

/// The speech through a plain G.711 μ-law encoder and decoder.
fn plain_g711(speech: &[i16]) -> Vec<i16> {
    let mut ulaw = vec![0u8; speech.len()];
    g711::encode(Law::Mu, speech, &mut ulaw);
    let mut pcm = vec![0i16; speech.len()];
    g711::decode(Law::Mu, &ulaw, &mut pcm);
    pcm
}

/// What the listener heard of the speech, and how it went.
struct Heard {
    /// The speech as heard, cut to its length where it lines up best.
    audio: Vec<i16>,
    /// How long after it was said it was heard.
    delay: Duration,
    /// Packets of it lost on purpose on the way out of the talker's phone.
    dropped: usize,
    /// The longest time between two of its packets as the talker's phone sent them: well
    /// over 20 ms means the test machine itself was too busy to keep time.
    pacing: Duration,
}

/// What a second caller hears of the speech said by the organizer in a running meeting.
fn through_the_bridge(speech: &[i16], loss: Option<Perturb>) -> Heard {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let org = &orgs[0];
    let mut listener = Phone::new(bridge.sip, Codec::Pcmu, None);
    listener.call();
    listener.send_digits(&format!("{}##", org.conference_id));
    let mut talker = Phone::new(bridge.sip, Codec::Pcmu, Some(TONE));
    talker.call();
    let dialled = Instant::now();
    talker.send_digits(&format!("{}#*{}#", org.conference_id, org.pin));
    wait_until(
        &listener,
        Duration::from_secs(20),
        "the talker's tone",
        |h| first_tone(h, dialled, TONE, Codec::Pcmu).is_some(),
    );
    talker.set_tone(None);
    // Whatever the start of the meeting plays (the tone, chimes) is over once the listener
    // hears 200 ms of silence.
    wait_until(
        &listener,
        Duration::from_secs(10),
        "a silent meeting",
        |h| {
            h.len() >= 10
                && h[h.len() - 10..]
                    .iter()
                    .all(|p| p.payload == [ULAW_SILENCE; 160])
        },
    );
    if let Some(how) = loss {
        talker.perturb(how);
    }
    let said = Instant::now();
    talker.speak(speech);
    let frames = speech.len().div_ceil(160);
    // The speech, the jitter buffer's delay and half a second more.
    let enough = frames + 25;
    let took = Duration::from_millis(20 * enough as u64 + 10_000);
    wait_until(&listener, took, "the whole speech", |h| {
        h.iter().filter(|p| p.at >= said).count() >= enough
    });
    let heard = pcm_since(&listener.heard(), said, Codec::Pcmu);
    let dropped = talker.speech_dropped();
    let pacing = talker.speech_pacing();
    talker.hangup();
    listener.hangup();
    let lag = alignment(speech, &heard);
    let mut audio: Vec<i16> = heard.iter().skip(lag).take(speech.len()).copied().collect();
    audio.resize(speech.len(), 0);
    Heard {
        audio,
        delay: Duration::from_micros(lag as u64 * 125),
        dropped,
        pacing,
    }
}

/// Where `speech` starts in `heard`: the lag (up to 0.5 s) of highest normalised
/// cross-correlation over its first 2 s. PESQ does the fine alignment itself.
fn alignment(speech: &[i16], heard: &[i16]) -> usize {
    let window: Vec<f64> = speech.iter().take(16_000).map(|&x| f64::from(x)).collect();
    let mut best = (f64::MIN, 0);
    for lag in 0..4000 {
        let Some(part) = heard.get(lag..lag + window.len()) else {
            break;
        };
        let (mut corr, mut energy) = (0.0, 0.0);
        for (&a, &b) in window.iter().zip(part) {
            let b = f64::from(b);
            corr += a * b;
            energy += b * b;
        }
        let score = corr / energy.sqrt().max(1.0);
        if score > best.0 {
            best = (score, lag);
        }
    }
    best.1
}

#[test]
fn speech_through_the_bridge_scores_as_plain_g711_does() {
    let speech = speech();
    let dir = tempfile::tempdir().expect("tempdir");
    let baseline = pesq(dir.path(), "g711", &plain_g711(speech));
    let heard = through_the_bridge(speech, None);
    let bridged = pesq(dir.path(), "bridge", &heard.audio);
    println!(
        "PESQ (narrowband, MOS-LQO) of {:.1} s of speech: plain G.711 μ-law {baseline:.3}, \
         through the bridge {bridged:.3} (difference {:+.3}; heard {} ms after it was said; \
         sent at most {} ms apart)",
        speech.len() as f64 / 8000.0,
        bridged - baseline,
        heard.delay.as_millis(),
        heard.pacing.as_millis()
    );
    assert!(
        (bridged - baseline).abs() <= SAME_AS_G711,
        "through the bridge {bridged:.3}, plain G.711 {baseline:.3}"
    );
}

#[test]
fn speech_with_5_percent_of_its_packets_lost_still_scores_3_5() {
    let speech = speech();
    let dir = tempfile::tempdir().expect("tempdir");
    let loss = Perturb::Drop {
        percent: LOSS_PERCENT,
        seed: LOSS_SEED,
    };
    let heard = through_the_bridge(speech, Some(loss));
    let dropped = heard.dropped;
    let frames = speech.len().div_ceil(160);
    // Draws from the seed lose about 5 %: the run really had the loss it claims.
    assert!(
        (frames * 3 / 100..=frames * 7 / 100).contains(&dropped),
        "{dropped} of {frames} packets lost"
    );
    let score = pesq(dir.path(), "bridge-loss", &heard.audio);
    println!(
        "PESQ (narrowband, MOS-LQO) through the bridge with {LOSS_PERCENT} % random packet \
         loss ({dropped} of {frames} packets, seed {LOSS_SEED}): {score:.3} (heard {} ms after \
         it was said; sent at most {} ms apart)",
        heard.delay.as_millis(),
        heard.pacing.as_millis()
    );
    assert!(score >= WITH_LOSS, "{score:.3} with {dropped} packets lost");
}
