//! What a softphone heard, from the WAV file it recorded of its decoded audio: resampled to
//! 8 kHz so that the checks do not depend on the codec the call used (G.711 decodes at
//! 8 kHz, G.722 at 16 kHz), and compared with the hold music by normalised cross-correlation
//! or checked for tones with the Goertzel filter.

// Each test file uses the checks it needs.
#![allow(dead_code)]

use std::path::Path;
use std::time::Instant;

use dialbridge::media::tone::{goertzel_power, present_tones};

/// The rate every recording is brought to.
pub const RATE: usize = 8000;

/// Samples in one window compared with the hold music (0.768 s).
pub const WINDOW: usize = 6144;

/// A recording, mono at 8 kHz.
pub struct Recording {
    samples: Vec<i16>,
}

impl Recording {
    /// Reads a 16-bit PCM WAV of any channel count and any rate of 8 kHz or more.
    pub fn open(path: &Path) -> Recording {
        let reader = hound::WavReader::open(path)
            .unwrap_or_else(|e| panic!("open the recording {}: {e}", path.display()));
        let spec = reader.spec();
        assert_eq!(spec.bits_per_sample, 16, "{}: 16-bit PCM", path.display());
        let channels = usize::from(spec.channels.max(1));
        // Read up to the end of the file, not of the header's data size: linphonec 5.1's
        // recordings declare 44 bytes (their header) more than they hold.
        let raw: Vec<i16> = reader.into_samples::<i16>().map_while(Result::ok).collect();
        let mono: Vec<f64> = raw
            .chunks(channels)
            .map(|c| c.iter().map(|&s| f64::from(s)).sum::<f64>() / c.len() as f64)
            .collect();
        Recording {
            samples: to_8k(&mono, spec.sample_rate as usize),
        }
    }

    /// Its length in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / RATE as f64
    }

    /// What was heard from `from` to `to`, for a recording that started at `start`.
    pub fn between(&self, start: Instant, from: Instant, to: Instant) -> &[i16] {
        let index =
            |t: Instant| (t.saturating_duration_since(start).as_secs_f64() * RATE as f64) as usize;
        let (a, b) = (index(from), index(to));
        assert!(
            a < b && b <= self.samples.len(),
            "the recording ({:.2} s) covers {:.2}..{:.2} s",
            self.seconds(),
            a as f64 / RATE as f64,
            b as f64 / RATE as f64
        );
        &self.samples[a..b]
    }
}

/// Averages the samples that fall in each 1/8000 s (a box filter: the audio compared here
/// has next to nothing above 4 kHz, so what it lets through does not matter).
fn to_8k(samples: &[f64], rate: usize) -> Vec<i16> {
    assert!(rate >= RATE, "recorded at {rate} Hz, below 8 kHz");
    let out_len = samples.len() * RATE / rate;
    (0..out_len)
        .map(|j| {
            let from = j * rate / RATE;
            let to = ((j + 1) * rate / RATE).clamp(from + 1, samples.len());
            let sum: f64 = samples[from..to].iter().sum();
            (sum / (to - from) as f64).round() as i16
        })
        .collect()
}

/// The bundled hold music, prepared for finding where a stretch of audio comes from in it.
pub struct HoldMusic {
    /// Its length in samples (it loops).
    len: usize,
    /// FFT of the music followed by its first `WINDOW` samples again, zero-padded.
    spectrum: Vec<(f64, f64)>,
    /// Running sums of the squared samples of that extended music.
    energy: Vec<f64>,
}

impl HoldMusic {
    /// Reads `assets/hold-music.wav`, the file the bridge compiles in.
    pub fn bundled() -> HoldMusic {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/hold-music.wav");
        let music = Recording::open(&path).samples;
        let len = music.len();
        let extended: Vec<f64> = music
            .iter()
            .cycle()
            .take(len + WINDOW)
            .map(|&s| f64::from(s))
            .collect();
        let mut energy = Vec::with_capacity(extended.len() + 1);
        energy.push(0.0);
        for s in &extended {
            energy.push(energy.last().copied().unwrap_or(0.0) + s * s);
        }
        let n = extended.len().next_power_of_two();
        let mut spectrum: Vec<(f64, f64)> = extended.iter().map(|&s| (s, 0.0)).collect();
        spectrum.resize(n, (0.0, 0.0));
        fft(&mut spectrum, false);
        HoldMusic {
            len,
            spectrum,
            energy,
        }
    }

    /// Its length in samples.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Where in the music `window` (`WINDOW` samples) fits best, and how well: the
    /// normalised cross-correlation there (1 for the same waveform at any level).
    pub fn locate(&self, window: &[i16]) -> (usize, f64) {
        assert_eq!(window.len(), WINDOW, "a window of {WINDOW} samples");
        let window_energy: f64 = window.iter().map(|&s| f64::from(s).powi(2)).sum();
        if window_energy == 0.0 {
            return (0, 0.0);
        }
        let n = self.spectrum.len();
        let mut w: Vec<(f64, f64)> = window.iter().map(|&s| (f64::from(s), 0.0)).collect();
        w.resize(n, (0.0, 0.0));
        fft(&mut w, false);
        // Correlation = IFFT(music × conj(window)): entry k is Σ music[k+i]·window[i].
        let mut c: Vec<(f64, f64)> = self
            .spectrum
            .iter()
            .zip(&w)
            .map(|(&(a, b), &(x, y))| (a * x + b * y, b * x - a * y))
            .collect();
        fft(&mut c, true);
        (0..self.len)
            .map(|lag| {
                let e = self.energy[lag + WINDOW] - self.energy[lag];
                let r = if e > 0.0 {
                    c[lag].0 / n as f64 / (window_energy * e).sqrt()
                } else {
                    0.0
                };
                (lag, r)
            })
            .fold((0, f64::MIN), |best, x| if x.1 > best.1 { x } else { best })
    }
}

/// In-place radix-2 FFT (`inverse`: without the 1/n scaling). `data.len()` is a power of two.
fn fft(data: &mut [(f64, f64)], inverse: bool) {
    let n = data.len();
    assert!(n.is_power_of_two(), "FFT length {n} is a power of two");
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if i < j {
            data.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let mut size = 2;
    while size <= n {
        let angle = sign * std::f64::consts::TAU / size as f64;
        let half = size / 2;
        let twiddles: Vec<(f64, f64)> = (0..half)
            .map(|k| ((angle * k as f64).cos(), (angle * k as f64).sin()))
            .collect();
        for start in (0..n).step_by(size) {
            for (k, &(tr, ti)) in twiddles.iter().enumerate() {
                let (ar, ai) = data[start + k];
                let (br, bi) = data[start + k + half];
                let (pr, pi) = (br * tr - bi * ti, br * ti + bi * tr);
                data[start + k] = (ar + pr, ai + pi);
                data[start + k + half] = (ar - pr, ai - pi);
            }
        }
        size *= 2;
    }
}

/// Level of `freq` in `samples`, in dB relative to a full-scale sine.
pub fn tone_db(samples: &[i16], freq: f32) -> f32 {
    10.0 * goertzel_power(samples, freq, RATE as f32)
        .max(1e-12)
        .log10()
}

/// The share of 100 ms blocks of `samples` in which `freq` is clearly present.
pub fn share_with_tone(samples: &[i16], freq: f32) -> f64 {
    let blocks: Vec<&[i16]> = samples.chunks_exact(RATE / 10).collect();
    if blocks.is_empty() {
        return 0.0;
    }
    let with = blocks
        .iter()
        .filter(|b| !present_tones(b, &[freq], RATE as f32).is_empty())
        .count();
    with as f64 / blocks.len() as f64
}
