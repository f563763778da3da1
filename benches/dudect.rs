//! Is the PIN check constant-time? A dudect-style leakage test of `PinKey::verify`, the
//! function the bridge runs for every PIN a caller enters (HMAC, then `subtle` comparison).
//!
//!     cargo bench --bench dudect                     # 10^6 measurements per experiment
//!     cargo bench --bench dudect -- --samples 5000000
//!     cargo test --bench dudect                      # smoke run (what CI does)
//!
//! Method (Reparaz, Balasch, Verbauwhede, "Dude, is my code constant time?", 2017): two
//! classes of inputs, interleaved at random; each call timed on its own; Welch's t-test
//! between the classes on the raw times, on the times cropped at 100 percentiles
//! (dudect's `1 - 0.5^(10(k+1)/100)`, which drops the long tail of interrupts and cache
//! misses), and a second-order test on centered squares. The verdict is the largest |t|
//! over the tests with more than 10,000 measurements per class: below 5, no leak found.
//! A control experiment times the same HMAC followed by an early-exit comparison, the
//! leak `subtle` prevents; it must be caught (|t| ≥ 5), or the run says it proves nothing.
//!
//! The statistics are written here (about 80 lines) rather than taken from the
//! `dudect-bencher` crate, whose `ctbench_main!` owns `main` and its command line, so it
//! could not also run as the short smoke test that `cargo test --all-targets` needs.
//! The smoke run checks only that the machinery gives finite t values: a |t| bound on a
//! few thousand samples on a shared CI machine would be noise, not a finding.

use std::hint::black_box;
use std::process::ExitCode;

use dialbridge::auth::pin::{Pin, PinKey, PinTag};

/// dudect's number of cropping thresholds.
const PERCENTILES: usize = 100;
/// Tests with fewer measurements per class than this do not count for the verdict.
const ENOUGH: f64 = 10_000.0;
/// |t| at or above this means the two classes take measurably different time.
const THRESHOLD: f64 = 5.0;
/// Measurements per batch; the first batch only sets the cropping thresholds.
const BATCH: usize = 100_000;
const ORGANIZER: i64 = 42;
const RIGHT_PIN: &str = "48213";

/// Welford's running mean and variance per class.
#[derive(Clone, Default)]
struct TTest {
    n: [f64; 2],
    mean: [f64; 2],
    m2: [f64; 2],
}

impl TTest {
    fn push(&mut self, x: f64, class: usize) {
        self.n[class] += 1.0;
        let delta = x - self.mean[class];
        self.mean[class] += delta / self.n[class];
        self.m2[class] += delta * (x - self.mean[class]);
    }

    /// Welch's t statistic between the two classes.
    fn t(&self) -> f64 {
        let var = |c: usize| self.m2[c] / (self.n[c] - 1.0);
        let se = (var(0) / self.n[0] + var(1) / self.n[1]).sqrt();
        (self.mean[0] - self.mean[1]) / se
    }

    fn enough(&self) -> bool {
        self.n[0] > ENOUGH && self.n[1] > ENOUGH
    }
}

/// dudect's statistics: raw, cropped at each percentile, and second order.
struct Leakage {
    thresholds: Vec<f64>,
    raw: TTest,
    cropped: Vec<TTest>,
    second_order: TTest,
}

impl Leakage {
    /// Sets the cropping thresholds from a first batch of times.
    fn new(first_batch: &[u64]) -> Leakage {
        let mut sorted = first_batch.to_vec();
        sorted.sort_unstable();
        let thresholds = (0..PERCENTILES)
            .map(|k| {
                let p = 1.0 - 0.5f64.powf(10.0 * (k + 1) as f64 / PERCENTILES as f64);
                let idx = ((sorted.len() as f64 * p) as usize).min(sorted.len() - 1);
                sorted[idx] as f64
            })
            .collect();
        Leakage {
            thresholds,
            raw: TTest::default(),
            cropped: vec![TTest::default(); PERCENTILES],
            second_order: TTest::default(),
        }
    }

    fn push(&mut self, time: u64, class: usize) {
        let x = time as f64;
        self.raw.push(x, class);
        for (test, &limit) in self.cropped.iter_mut().zip(&self.thresholds) {
            if x < limit {
                test.push(x, class);
            }
        }
        if self.raw.n[0] > ENOUGH {
            let centered = x - self.raw.mean[class];
            self.second_order.push(centered * centered, class);
        }
    }

    /// The largest |t| among the tests with enough data (`None` if none has), and its name.
    fn max_t(&self) -> Option<(f64, String)> {
        std::iter::once((&self.raw, "raw".to_string()))
            .chain(
                self.cropped
                    .iter()
                    .enumerate()
                    .map(|(k, t)| (t, format!("cropped at percentile #{k}"))),
            )
            .chain(std::iter::once((
                &self.second_order,
                "second order".to_string(),
            )))
            .filter(|(t, _)| t.enough())
            .map(|(t, name)| (t.t().abs(), name))
            .max_by(|a, b| a.0.total_cmp(&b.0))
    }

    /// |t| of the raw test, for the smoke run (too few samples for `max_t`).
    fn raw_t(&self) -> f64 {
        self.raw.t().abs()
    }
}

/// What `ticks` counts.
#[cfg(target_arch = "x86_64")]
const UNIT: &str = "TSC ticks";
#[cfg(not(target_arch = "x86_64"))]
const UNIT: &str = "ns";

/// A timestamp in CPU ticks where the CPU has a cheap one, else in nanoseconds.
#[inline(always)]
fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: lfence and rdtsc exist on every x86_64 CPU; the fence keeps the read
        // from being reordered around the code being timed.
        unsafe {
            std::arch::x86_64::_mm_lfence();
            let t = std::arch::x86_64::_rdtsc();
            std::arch::x86_64::_mm_lfence();
            t
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos() as u64
    }
}

/// One experiment: what the two classes of input are.
struct Experiment {
    name: &'static str,
    /// The control: the same HMAC, then an early-exit comparison, which must be caught.
    control: bool,
    /// Inputs of each class: a PIN and whether a tag is stored for the organizer.
    inputs: [Vec<(Pin, bool)>; 2],
}

fn pin(digits: &str) -> Pin {
    Pin::parse(digits).expect("a valid test PIN")
}

/// The right PIN with the digit at `pos` replaced by a random other digit.
fn one_digit_off(pos: usize) -> Pin {
    let mut digits: Vec<u8> = RIGHT_PIN.bytes().collect();
    let old = digits[pos];
    digits[pos] = b'0' + ((old - b'0') + rand::random_range(1..10u8)) % 10;
    pin(std::str::from_utf8(&digits).expect("ASCII"))
}

/// A random PIN of the right length other than the right one.
fn wrong_pin() -> Pin {
    loop {
        let digits: String = (0..RIGHT_PIN.len())
            .map(|_| char::from(b'0' + rand::random_range(0..10u8)))
            .collect();
        if digits != RIGHT_PIN {
            return pin(&digits);
        }
    }
}

fn experiments() -> Vec<Experiment> {
    // Small pools, so every input stays in the L1 cache: with large ones, which class's
    // inputs happen to sit in busier cache sets shows up as a (false) timing difference.
    const POOL: usize = 64;
    let pool = |f: &dyn Fn() -> (Pin, bool)| (0..POOL).map(|_| f()).collect::<Vec<_>>();
    vec![
        Experiment {
            name: "right PIN vs wrong PIN",
            control: false,
            inputs: [
                pool(&|| (pin(RIGHT_PIN), true)),
                pool(&|| (wrong_pin(), true)),
            ],
        },
        Experiment {
            name: "first digit wrong vs last digit wrong",
            control: false,
            inputs: [
                pool(&|| (one_digit_off(0), true)),
                pool(&|| (one_digit_off(RIGHT_PIN.len() - 1), true)),
            ],
        },
        Experiment {
            name: "no PIN stored vs wrong PIN",
            control: false,
            inputs: [
                pool(&|| (wrong_pin(), false)),
                pool(&|| (wrong_pin(), true)),
            ],
        },
        Experiment {
            name: "control: right vs wrong, early-exit ==",
            control: true,
            inputs: [
                pool(&|| (pin(RIGHT_PIN), true)),
                pool(&|| (wrong_pin(), true)),
            ],
        },
    ]
}

/// What `verify` would be with a naive comparison: stops at the first differing byte.
#[inline(never)]
fn leaky_verify(key: &PinKey, pin: &Pin, stored: &PinTag) -> bool {
    let computed = key.tag(ORGANIZER, pin);
    for (a, b) in computed.as_bytes().iter().zip(stored.as_bytes()) {
        if black_box(*a) != black_box(*b) {
            return false;
        }
    }
    true
}

/// Times `samples` calls of `verify` (after a first batch that sets the thresholds).
fn run(key: &PinKey, stored: &PinTag, e: &Experiment, samples: usize, batch: usize) -> Leakage {
    let mut classes = vec![0usize; batch];
    let mut picks = vec![0usize; batch];
    let mut times = vec![0u64; batch];
    let mut leakage: Option<Leakage> = None;
    let mut done = 0;
    while done < samples {
        for (c, p) in classes.iter_mut().zip(picks.iter_mut()) {
            *c = usize::from(rand::random::<bool>());
            *p = rand::random_range(0..e.inputs[*c].len());
        }
        for i in 0..batch {
            let (pin, has_tag) = &e.inputs[classes[i]][picks[i]];
            let tag = has_tag.then_some(stored);
            // Touch the digits first, so no class pays a cache miss inside the timing.
            black_box(pin.as_digits().bytes().fold(0u8, |a, b| a ^ b));
            let start = ticks();
            if e.control {
                black_box(leaky_verify(key, black_box(pin), stored));
            } else {
                black_box(key.verify(black_box(ORGANIZER), black_box(pin), black_box(tag)));
            }
            times[i] = ticks().wrapping_sub(start);
        }
        match &mut leakage {
            None => leakage = Some(Leakage::new(&times)),
            Some(l) => {
                for (&t, &c) in times.iter().zip(&classes) {
                    l.push(t, c);
                }
                done += batch;
            }
        }
    }
    leakage.expect("at least one batch after the first")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this without it.
    let full = args.iter().any(|a| a == "--bench");
    let samples = args
        .iter()
        .position(|a| a == "--samples")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(if full { 1_000_000 } else { 4_000 });
    let batch = if full { BATCH } else { 1_000 };
    let samples = samples.div_ceil(batch) * batch;

    let dir = tempfile::tempdir().expect("temporary directory");
    let key = PinKey::load_or_create(&dir.path().join("pin.key")).expect("a PIN key");
    let stored = key.tag(ORGANIZER, &pin(RIGHT_PIN));
    println!(
        "dudect: PinKey::verify, {samples} measurements per experiment{}",
        if full { "" } else { " (smoke run)" }
    );
    let mut leaks = 0;
    for e in experiments() {
        let l = run(&key, &stored, &e, samples, batch);
        if !full {
            let t = l.raw_t();
            println!("  {:<40} raw |t| = {t:.2}", e.name);
            assert!(t.is_finite(), "{}: t is not finite", e.name);
            continue;
        }
        let (t, which) = l.max_t().expect("enough measurements for a verdict");
        let verdict = if e.control {
            if t < THRESHOLD {
                leaks += 1;
                "NOT caught: the test is too weak on this machine"
            } else {
                "caught, as it must be"
            }
        } else if t < THRESHOLD {
            "no leak found"
        } else {
            leaks += 1;
            "LEAK: the classes take different time"
        };
        println!(
            "  {:<40} max |t| = {t:6.2} ({which}), n = {:.0} + {:.0}, means {:.1} / {:.1} {UNIT}: {verdict}",
            e.name, l.raw.n[0], l.raw.n[1], l.raw.mean[0], l.raw.mean[1]
        );
    }
    if full {
        println!(
            "verdict: {}",
            if leaks == 0 {
                "constant time (every max |t| < 5; the control leak was caught)"
            } else {
                "FAILED (see above)"
            }
        );
    }
    if leaks == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
