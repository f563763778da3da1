//! How well does the in-band DTMF detector hear keys, and does it hear keys that are not there?
//!
//!     cargo bench --bench dtmf_inband     # Q.24 sets, then 10+ minutes of speech (espeak-ng)
//!     cargo test --bench dtmf_inband      # smoke run (what CI does): the Q.24 sets only
//!     cargo bench --bench dtmf_inband -- --snr 15 --no-talk-off   # other noise, no speech
//!
//! 1. A Q.24-style acceptance set: every key 0-9 * # A-D, each tone from −36 to −3 dBm0,
//!    twist from −8 to +4 dB, each frequency off by −1.5, 0 or +1.5 %, 40 to 100 ms long,
//!    at a random alignment with the 20 ms frames, in white noise 20 dB under the tones,
//!    through G.711 (μ-law and A-law). Every tone must give exactly its key, once.
//! 2. A rejection set, same noise and codecs: frequencies off by 3.5 to 6 %, tones of 10 to
//!    25 ms, twist of +6 dB or more and −10 dB or less, tones at −42 dBm0 and under. Any
//!    digit is a false detection.
//! 3. Talk-off (full run only): at least 10 minutes of speech synthesised by `espeak-ng` with
//!    several voices, speeds and pitches reading texts written for this benchmark, resampled
//!    to 8 kHz by `sox`, at −16 dBm0 and again 10 dB louder, through G.711: every digit is a
//!    false one. The bridge's own hold music and prompts too. The speech is cached under
//!    `target/dtmf-talkoff/` (not in git); it needs `apt-get install espeak-ng sox`.
//!
//! Also prints the detector's cost per 20 ms frame (meaningful under `cargo bench` only).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use dialbridge::media::codec::Law;
use dialbridge::media::dtmf::Digit;
use dialbridge::media::g711;
use dialbridge::media::inband::{DBM0_PEAK, InbandDetector, frequencies};

const RATE: f64 = 8000.0;
const FRAME: usize = 160;
const KEYS: &str = "0123456789*#ABCD";

/// xorshift64*: reproducible noise and alignments without a dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize
    }

    /// Standard normal (Box-Muller).
    fn gauss(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

fn peak(dbm0: f64) -> f64 {
    f64::from(DBM0_PEAK) * 10f64.powf(dbm0 / 20.0)
}

/// One test tone: a key's two tones as a sender (or a broken sender) makes them.
#[derive(Clone, Copy, Debug)]
struct Case {
    digit: Digit,
    row_dev: f64,
    col_dev: f64,
    row_dbm0: f64,
    col_dbm0: f64,
    ms: f64,
    codec: Law,
}

impl Case {
    fn twist(&self) -> f64 {
        self.col_dbm0 - self.row_dbm0
    }
}

/// Noise 20 dB under the two tones together, unless `--snr DB` says otherwise.
const SNR_DB: f64 = 20.0;

/// Renders a case in its own stretch of audio: noise, the tone at a random offset, noise.
fn render(case: &Case, snr_db: f64, rng: &mut Rng) -> Vec<i16> {
    let lead = 480 + rng.below(FRAME);
    let len = (case.ms * RATE / 1000.0).round() as usize;
    let total = (lead + len + 960).div_ceil(FRAME) * FRAME;
    let (fr, fc) = frequencies(case.digit);
    let fr = f64::from(fr) * (1.0 + case.row_dev);
    let fc = f64::from(fc) * (1.0 + case.col_dev);
    let (ar, ac) = (peak(case.row_dbm0), peak(case.col_dbm0));
    let noise_rms = ((ar * ar + ac * ac) / 2.0 / 10f64.powf(snr_db / 10.0)).sqrt();
    let (pr, pc) = (
        rng.unit() * std::f64::consts::TAU,
        rng.unit() * std::f64::consts::TAU,
    );
    (0..total)
        .map(|i| {
            let mut v = noise_rms * rng.gauss();
            if (lead..lead + len).contains(&i) {
                let t = (i - lead) as f64 / RATE;
                v += ar * (std::f64::consts::TAU * fr * t + pr).sin()
                    + ac * (std::f64::consts::TAU * fc * t + pc).sin();
            }
            v.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Encodes and decodes audio with a G.711 law, frame by frame, and runs a fresh detector.
fn detect(codec: Law, samples: &[i16]) -> Vec<Digit> {
    let mut detector = InbandDetector::new();
    let mut found = Vec::new();
    let mut coded = [0u8; FRAME];
    let mut frame = [0i16; FRAME];
    for chunk in samples.chunks(FRAME) {
        frame.fill(0);
        g711::encode(codec, chunk, &mut coded);
        g711::decode(codec, &coded[..chunk.len()], &mut frame);
        found.extend(detector.push_frame(&frame));
    }
    found
}

fn digit(c: char) -> Digit {
    Digit::from_char(c).expect("a key character")
}

fn codec_for(i: usize) -> Law {
    Law::ALL[i % 2]
}

/// Every key × twist × level × frequency offsets × duration, alternating the two laws.
fn acceptance_set() -> Vec<Case> {
    let mut cases = Vec::new();
    for c in KEYS.chars() {
        for twist in [-8.0, -4.0, 0.0, 2.0, 4.0] {
            // The louder tone's level; the quieter one is |twist| dB under it, down to -36.
            let floor: f64 = -36.0 + f64::abs(twist);
            for louder in [-3.0, -13.0, -23.0, floor] {
                for row_dev in [-0.015, 0.0, 0.015] {
                    for col_dev in [-0.015, 0.0, 0.015] {
                        for ms in [40.0, 45.0, 60.0, 100.0] {
                            let (row_dbm0, col_dbm0) = if twist > 0.0 {
                                (louder - twist, louder)
                            } else {
                                (louder, louder + twist)
                            };
                            cases.push(Case {
                                digit: digit(c),
                                row_dev,
                                col_dev,
                                row_dbm0,
                                col_dbm0,
                                ms,
                                codec: codec_for(cases.len()),
                            });
                        }
                    }
                }
            }
        }
    }
    cases
}

/// Groups of tones no Q.24 receiver may take for a key.
fn rejection_sets(rng: &mut Rng) -> Vec<(&'static str, Vec<Case>)> {
    let base = |c: char, i: usize| Case {
        digit: digit(c),
        row_dev: 0.0,
        col_dev: 0.0,
        row_dbm0: -10.0,
        col_dbm0: -10.0,
        ms: 100.0,
        codec: codec_for(i),
    };
    let mut frequency = Vec::new();
    for c in KEYS.chars() {
        for dev in [-0.06, -0.05, -0.04, -0.035, 0.035, 0.04, 0.05, 0.06] {
            // Row off, column off, both off; at no twist and at both twist limits.
            for (row_dev, col_dev) in [(dev, 0.0), (0.0, dev), (dev, dev), (dev, -dev)] {
                for (row_dbm0, col_dbm0) in [(-10.0, -10.0), (-6.0, -14.0), (-10.0, -6.0)] {
                    frequency.push(Case {
                        row_dev,
                        col_dev,
                        row_dbm0,
                        col_dbm0,
                        ..base(c, frequency.len())
                    });
                }
            }
        }
    }
    let mut short = Vec::new();
    for c in KEYS.chars() {
        for ms in [10.0, 15.0, 20.0, 25.0] {
            // Each at 10 random alignments, with frequency and twist anywhere in spec.
            for _ in 0..10 {
                let dev = |rng: &mut Rng| (rng.unit() * 2.0 - 1.0) * 0.015;
                let twist = -8.0 + rng.unit() * 12.0;
                short.push(Case {
                    row_dev: dev(rng),
                    col_dev: dev(rng),
                    row_dbm0: -6.0 - twist.max(0.0),
                    col_dbm0: -6.0 + twist.min(0.0),
                    ms,
                    ..base(c, short.len())
                });
            }
        }
    }
    let mut twist = Vec::new();
    for c in KEYS.chars() {
        for t in [6.0, 8.0, 10.0, -10.0, -12.0, -15.0] {
            for louder in [-3.0, -15.0] {
                let (row_dbm0, col_dbm0) = if t > 0.0 {
                    (louder - t, louder)
                } else {
                    (louder, louder + t)
                };
                twist.push(Case {
                    row_dbm0,
                    col_dbm0,
                    ..base(c, twist.len())
                });
            }
        }
    }
    let mut quiet = Vec::new();
    for c in KEYS.chars() {
        for (row_dbm0, col_dbm0) in [
            (-42.0, -42.0),
            (-45.0, -45.0),
            (-50.0, -50.0),
            (-20.0, -45.0),
        ] {
            quiet.push(Case {
                row_dbm0,
                col_dbm0,
                ..base(c, quiet.len())
            });
        }
    }
    vec![
        ("frequency off by 3.5-6 %", frequency),
        ("10-25 ms long", short),
        ("twist +6 dB and over, -10 dB and under", twist),
        ("a tone at -42 dBm0 or under", quiet),
    ]
}

/// Runs the Q.24 sets; returns whether every tone was heard right and no false one.
fn q24(snr_db: f64, rng: &mut Rng) -> bool {
    let cases = acceptance_set();
    let mut detected = 0;
    let mut failures = Vec::new();
    let mut frames = 0usize;
    let started = Instant::now();
    for case in &cases {
        let samples = render(case, snr_db, rng);
        frames += samples.len() / FRAME;
        let found = detect(case.codec, &samples);
        if found == [case.digit] {
            detected += 1;
        } else {
            failures.push((case, found));
        }
    }
    let elapsed = started.elapsed();
    println!(
        "Q.24 acceptance set: {detected}/{} tones detected as their key, exactly once \
         (16 keys; each tone -36..-3 dBm0; twist -8..+4 dB; offsets -1.5/0/+1.5 %; 40-100 ms; \
         noise {snr_db} dB under the tones; G.711 μ-law and A-law)",
        cases.len()
    );
    for (case, found) in failures.iter().take(10) {
        println!(
            "  missed: {case:?} (twist {:+} dB) gave {found:?}",
            case.twist()
        );
    }
    let mut false_total = 0;
    for (name, set) in rejection_sets(rng) {
        let mut false_digits = 0;
        for case in &set {
            let found = detect(case.codec, &render(case, snr_db, rng));
            if !found.is_empty() {
                false_digits += found.len();
                println!("  false: {case:?} gave {found:?}");
            }
        }
        println!(
            "Q.24 rejection set, {name}: {} tones, {false_digits} false digits",
            set.len()
        );
        false_total += false_digits;
    }
    println!(
        "  (generating, coding and detecting {frames} frames took {:.1} s)",
        elapsed.as_secs_f64()
    );
    failures.is_empty() && false_total == 0
}

/// One synthetic talker: an espeak-ng voice, words per minute, pitch (0-99) and a text.
struct Talker {
    voice: &'static str,
    speed: u32,
    pitch: u32,
    text: &'static str,
}

const ENGLISH: &str = "The river town woke slowly on the first cold morning of autumn. \
Fishermen pulled their boats onto the gravel, counting the catch in low voices, while the baker \
opened the shutters and set out loaves still warm from the oven. Nobody hurried. The ferry would \
not come until nine, and the road over the hills was closed again after the night's rain. \
Children ran along the quay shouting the numbers of the boats, one, four, seven, nine, twelve, \
and an old man on a bench corrected them every time they skipped one. In the square the clock \
struck eight, a quarter late as always, and the postmistress sighed, wound her scarf twice \
around her neck and unlocked the door of the little office. A letter from the city lay on top \
of the pile. It was addressed to the mayor in a careful, slanting hand, and it smelled faintly \
of lavender. She turned it over twice before putting it in his box. By noon everyone knew that \
the mayor had received a letter, and by evening half the town had decided what it said. Some \
thought the railway was finally coming; others feared the school would close; the baker's wife \
insisted, with great confidence, that it was a proposal of marriage. The mayor said nothing at \
all. He walked down to the river after supper, read the letter once more by the light of the \
ferry lantern, folded it into a small square and put it in his pocket. Then he laughed, quietly, \
and went home. Weather reports for the coming week: Monday, cloudy with showers in the west, \
highs of fourteen degrees. Tuesday, bright spells and a moderate northerly breeze. Wednesday and \
Thursday, rain spreading from the south, heavy at times, with gusts of up to sixty kilometres an \
hour on exposed coasts. Friday, drier and colder, with a touch of frost inland overnight. \
Please have your account number ready: it is the eight digit number printed at the top of your \
statement, followed by the three digit security code. Our opening hours are Monday to Friday, \
eight thirty until six, and Saturday morning from nine until twelve thirty. Thank you for \
calling, and have a pleasant day.";

const GERMAN: &str = "Am Montag beginnt die Sitzung um halb zehn im großen Saal. Bitte bringen \
Sie die Unterlagen vom letzten Quartal mit, insbesondere die Zahlen zum Umsatz und zu den \
Lieferzeiten. Wir besprechen zuerst den Haushalt, danach die Planung für das nächste Jahr. Wer \
nicht teilnehmen kann, schickt bitte eine kurze Nachricht an das Sekretariat. Das Wetter bleibt \
wechselhaft, am Nachmittag ziehen von Westen her kräftige Schauer auf, in den Alpen fällt oberhalb \
von zweitausend Metern Schnee.";

const FRENCH: &str = "Bonjour à toutes et à tous, et merci d'avoir rejoint la réunion. Avant de \
commencer, je rappelle que la séance est enregistrée. Nous allons d'abord faire le point sur le \
projet, puis chacun présentera ses avancées de la semaine. Les chiffres du mois dernier sont \
encourageants, mais il reste beaucoup à faire avant la livraison prévue au printemps. N'hésitez \
pas à poser vos questions à la fin.";

const SPANISH: &str = "Buenas tardes. Le informamos de que el vuelo con destino a Madrid saldrá \
con un retraso aproximado de cuarenta minutos debido a las condiciones meteorológicas. Rogamos a \
los pasajeros que permanezcan atentos a las pantallas y a los avisos por megafonía. La puerta de \
embarque será la número diecisiete. Disculpen las molestias y gracias por su paciencia.";

const TALKERS: [Talker; 14] = [
    Talker {
        voice: "en-us",
        speed: 160,
        pitch: 50,
        text: ENGLISH,
    },
    Talker {
        voice: "en-gb",
        speed: 175,
        pitch: 40,
        text: ENGLISH,
    },
    Talker {
        voice: "en-us+f3",
        speed: 150,
        pitch: 60,
        text: ENGLISH,
    },
    Talker {
        voice: "en-gb-scotland+m3",
        speed: 190,
        pitch: 30,
        text: ENGLISH,
    },
    Talker {
        voice: "en-us+f5",
        speed: 200,
        pitch: 75,
        text: ENGLISH,
    },
    Talker {
        voice: "en-gb-x-rp+m7",
        speed: 140,
        pitch: 20,
        text: ENGLISH,
    },
    Talker {
        voice: "en-029+f2",
        speed: 170,
        pitch: 90,
        text: ENGLISH,
    },
    Talker {
        voice: "de",
        speed: 160,
        pitch: 45,
        text: GERMAN,
    },
    Talker {
        voice: "de+f4",
        speed: 150,
        pitch: 70,
        text: GERMAN,
    },
    Talker {
        voice: "fr-fr",
        speed: 170,
        pitch: 50,
        text: FRENCH,
    },
    Talker {
        voice: "fr-fr+f1",
        speed: 160,
        pitch: 80,
        text: FRENCH,
    },
    Talker {
        voice: "es",
        speed: 180,
        pitch: 35,
        text: SPANISH,
    },
    Talker {
        voice: "es+f3",
        speed: 165,
        pitch: 65,
        text: SPANISH,
    },
    Talker {
        voice: "en-us+m1",
        speed: 120,
        pitch: 10,
        text: ENGLISH,
    },
];

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// FNV-1a, for cache file names that change when a talker or its text does.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for part in parts {
        for b in *part {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        h = (h ^ 0xFF).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The talker's speech at 8 kHz, synthesised once and cached.
fn speech(talker: &Talker, dir: &Path) -> Result<Vec<i16>, String> {
    let key = fnv(&[
        talker.voice.as_bytes(),
        &talker.speed.to_le_bytes(),
        &talker.pitch.to_le_bytes(),
        talker.text.as_bytes(),
    ]);
    let wav = dir.join(format!("{}-{key:016x}.wav", talker.voice.replace('+', "_")));
    if !wav.exists() {
        let raw = dir.join(format!("{key:016x}-espeak.wav"));
        let text = dir.join(format!("{key:016x}.txt"));
        std::fs::write(&text, talker.text).map_err(|e| e.to_string())?;
        run(Command::new("espeak-ng")
            .args(["-v", talker.voice, "-s", &talker.speed.to_string()])
            .args(["-p", &talker.pitch.to_string(), "-w"])
            .arg(&raw)
            .arg("-f")
            .arg(&text))?;
        // sox's default (high quality) resampler; -D: no dither, so reruns are identical.
        let tmp = wav.with_extension("tmp.wav");
        run(Command::new("sox")
            .args(["-D", "-V1"])
            .arg(&raw)
            .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
            .arg(&tmp))?;
        std::fs::rename(&tmp, &wav).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&raw);
        let _ = std::fs::remove_file(&text);
    }
    read_wav(&wav)
}

fn read_wav(path: &Path) -> Result<Vec<i16>, String> {
    let mut reader =
        hound::WavReader::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let spec = reader.spec();
    if spec.sample_rate != 8000 || spec.channels != 1 || spec.bits_per_sample != 16 {
        return Err(format!("{}: not 8 kHz mono 16-bit", path.display()));
    }
    reader
        .samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Level of the speech itself (20 ms frames above -50 dBFS), as a power ratio to a 0 dBm0 sine.
fn active_level(samples: &[i16]) -> f64 {
    let zero_dbm0 = f64::from(DBM0_PEAK).powi(2) / 2.0;
    let (mut sum, mut n) = (0.0, 0usize);
    for frame in samples.chunks(FRAME) {
        let p = frame.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / frame.len() as f64;
        if p > 32768f64.powi(2) * 1e-5 {
            sum += p;
            n += frame.len();
        }
    }
    if n == 0 {
        0.0
    } else {
        sum / (n as f64 / FRAME as f64) / zero_dbm0
    }
}

fn scaled(samples: &[i16], gain: f64) -> Vec<i16> {
    samples
        .iter()
        .map(|&x| (f64::from(x) * gain).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Talk-off: false digits in speech and in the bridge's own audio.
fn talk_off() -> Result<usize, String> {
    let dir = target_dir().join("dtmf-talkoff");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for tool in ["espeak-ng", "sox"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Err(format!("{tool} not found: apt-get install espeak-ng sox"));
        }
    }
    let mut false_total = 0;
    let mut seconds = 0.0;
    let mut detect_time = 0.0;
    let mut frames = 0usize;
    for level_dbm0 in [-16.0, -6.0] {
        for talker in &TALKERS {
            let pcm = speech(talker, &dir)?;
            let gain = (10f64.powf(level_dbm0 / 10.0) / active_level(&pcm)).sqrt();
            let pcm = scaled(&pcm, gain);
            let mut line = String::new();
            for codec in Law::ALL {
                let started = Instant::now();
                let found = detect(codec, &pcm);
                detect_time += started.elapsed().as_secs_f64();
                frames += pcm.len().div_ceil(FRAME);
                false_total += found.len();
                let digits: String = found.iter().map(|d| d.as_char()).collect();
                line.push_str(&format!("  {codec:?} {} false [{digits}]", found.len()));
            }
            let secs = pcm.len() as f64 / RATE;
            seconds += secs;
            println!(
                "  {:<18} {:>3} wpm pitch {:>2} at {level_dbm0} dBm0: {secs:>5.1} s;{line}",
                talker.voice, talker.speed, talker.pitch
            );
        }
    }
    println!(
        "Talk-off, speech: {:.1} minutes of espeak-ng speech ({} talkers), each at -16 and at \
         -6 dBm0 active level, through μ-law and through A-law ({:.1} minutes in all): \
         {false_total} false digits",
        seconds / 2.0 / 60.0,
        TALKERS.len(),
        seconds * 2.0 / 60.0
    );
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let mut files = vec![assets.join("hold-music.wav"), assets.join("tone-join.wav")];
    let mut prompts: Vec<PathBuf> = std::fs::read_dir(assets.join("prompts"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    prompts.sort();
    files.extend(prompts);
    let mut asset_false = 0;
    let mut asset_seconds = 0.0;
    for file in &files {
        let pcm = read_wav(file)?;
        for gain in [1.0, 3.16] {
            let pcm = scaled(&pcm, gain);
            for codec in Law::ALL {
                let found = detect(codec, &pcm);
                if !found.is_empty() {
                    println!("  {} ×{gain} {codec:?}: {found:?}", file.display());
                }
                asset_false += found.len();
            }
            asset_seconds += pcm.len() as f64 / RATE;
        }
    }
    println!(
        "Talk-off, the bridge's own audio (hold music, join tone, {} prompts, as is and 10 dB \
         louder, {:.0} s per codec): {asset_false} false digits",
        files.len() - 2,
        asset_seconds
    );
    println!(
        "Detector cost: {:.2} µs per 20 ms frame (speech, including G.711 coding)",
        detect_time * 1e6 / frames as f64
    );
    Ok(false_total + asset_false)
}

fn main() -> ExitCode {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this without it.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let snr_db = args
        .iter()
        .position(|a| a == "--snr")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(SNR_DB);
    let mut rng = Rng(0x5DEE_CE66_D1CE_4E5B);
    println!(
        "dtmf_inband{}",
        if full {
            ""
        } else {
            " (smoke run: Q.24 sets only)"
        }
    );
    let mut ok = q24(snr_db, &mut rng);
    if full && !args.iter().any(|a| a == "--no-talk-off") {
        match talk_off() {
            Ok(false_digits) => ok &= false_digits == 0,
            Err(e) => {
                eprintln!("talk-off: {e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
