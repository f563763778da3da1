//! 8 kHz ↔ 16 kHz conversion for wideband meetings: narrowband callers are lifted into a
//! 16 kHz mix and the mix is brought down again for them.
//!
//! A fixed 2:1 half-band FIR (63 taps, Blackman-windowed sinc, cut-off at 4 kHz) with the
//! filter history kept per stream, so consecutive 20 ms frames join without a seam. Our own
//! because the general resampling crates allocate per call and are built for arbitrary
//! ratios; this one is a few multiply-adds per sample on fixed arrays.

use std::sync::LazyLock;

use super::codec::{SAMPLES_PER_FRAME, WIDE_SAMPLES_PER_FRAME, sample_from_f32};

/// Filter length; odd, so the filter has a centre tap and a whole-sample delay.
const TAPS: usize = 63;

/// The taps that are not zero besides the centre: a half-band filter's every other tap is
/// zero, which halves the work in both directions.
const WING: usize = TAPS / 2 + 1;

/// Input samples (at 16 kHz) of history the downsampler keeps.
const DOWN_HISTORY: usize = TAPS - 1;

/// Input samples (at 8 kHz) of history the upsampler keeps: each output phase spans
/// half the taps.
const UP_HISTORY: usize = TAPS / 2;

/// The half-band low-pass, normalised to unity gain at 0 Hz, split into its non-zero taps.
struct HalfBand {
    /// Taps 0, 2, 4, … 62 (symmetric, so also in reverse order).
    wing: [f32; WING],
    /// Tap 31.
    centre: f32,
}

static FILTER: LazyLock<HalfBand> = LazyLock::new(|| {
    let mid = (TAPS / 2) as f64;
    let mut taps = [0f64; TAPS];
    for (n, tap) in taps.iter_mut().enumerate() {
        let x = n as f64 - mid;
        // sinc at a quarter of the 16 kHz rate: 4 kHz. Zero at every even x but 0.
        let sinc = if x == 0.0 {
            0.5
        } else {
            (std::f64::consts::PI * 0.5 * x).sin() / (std::f64::consts::PI * x)
        };
        let phase = 2.0 * std::f64::consts::PI * n as f64 / (TAPS - 1) as f64;
        let window = 0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos();
        *tap = sinc * window;
    }
    let sum: f64 = taps.iter().sum();
    let mut wing = [0f32; WING];
    for (i, w) in wing.iter_mut().enumerate() {
        *w = (taps.get(2 * i).copied().unwrap_or(0.0) / sum) as f32;
    }
    HalfBand {
        wing,
        centre: (taps.get(TAPS / 2).copied().unwrap_or(0.0) / sum) as f32,
    }
});

/// `x · w` over 32 samples, in eight lanes so that it vectorises.
fn dot(x: &[f32], w: &[f32; WING]) -> f32 {
    let mut lanes = [0f32; 8];
    for (xs, ws) in x.chunks_exact(8).zip(w.chunks_exact(8)) {
        for ((l, a), b) in lanes.iter_mut().zip(xs).zip(ws) {
            *l += a * b;
        }
    }
    lanes.iter().sum()
}

/// 16 kHz → 8 kHz for one stream.
#[derive(Clone, Debug)]
pub struct Downsampler {
    history: [f32; DOWN_HISTORY],
}

impl Default for Downsampler {
    fn default() -> Self {
        Downsampler::new()
    }
}

impl Downsampler {
    /// A downsampler whose past is silence.
    pub fn new() -> Self {
        Downsampler {
            history: [0.0; DOWN_HISTORY],
        }
    }

    /// Converts one 20 ms frame.
    pub fn process(
        &mut self,
        input: &[i16; WIDE_SAMPLES_PER_FRAME],
        out: &mut [i16; SAMPLES_PER_FRAME],
    ) {
        const ALL: usize = DOWN_HISTORY + WIDE_SAMPLES_PER_FRAME;
        let f = &*FILTER;
        // The input split into its even and odd samples: output i is input 2i filtered
        // (the TAPS samples ending there), whose non-zero taps meet only even samples, and
        // the centre tap one odd sample. Up then down again is a whole-sample delay.
        let mut even = [0f32; ALL / 2];
        let mut odd = [0f32; ALL / 2];
        let past = self.history.iter().copied();
        let now = input.iter().map(|&s| f32::from(s));
        for (i, v) in past.chain(now).enumerate() {
            let half = if i.is_multiple_of(2) {
                &mut even
            } else {
                &mut odd
            };
            if let Some(slot) = half.get_mut(i / 2) {
                *slot = v;
            }
        }
        for (i, o) in out.iter_mut().enumerate() {
            let window = even.get(i..i + WING).unwrap_or(&[]);
            let centre = odd.get(i + WING / 2 - 1).copied().unwrap_or(0.0);
            *o = sample_from_f32(dot(window, &f.wing) + f.centre * centre);
        }
        // Keep the last DOWN_HISTORY input samples, in order.
        for (i, h) in self.history.iter_mut().enumerate() {
            let at = ALL - DOWN_HISTORY + i;
            let half = if at.is_multiple_of(2) { &even } else { &odd };
            *h = half.get(at / 2).copied().unwrap_or(0.0);
        }
    }
}

/// 8 kHz → 16 kHz for one stream.
#[derive(Clone, Debug)]
pub struct Upsampler {
    history: [f32; UP_HISTORY],
}

impl Default for Upsampler {
    fn default() -> Self {
        Upsampler::new()
    }
}

impl Upsampler {
    /// An upsampler whose past is silence.
    pub fn new() -> Self {
        Upsampler {
            history: [0.0; UP_HISTORY],
        }
    }

    /// Converts one 20 ms frame.
    pub fn process(
        &mut self,
        input: &[i16; SAMPLES_PER_FRAME],
        out: &mut [i16; WIDE_SAMPLES_PER_FRAME],
    ) {
        let f = &*FILTER;
        let mut x = [0f32; UP_HISTORY + SAMPLES_PER_FRAME + 1];
        let (past, now) = x.split_at_mut(UP_HISTORY);
        past.copy_from_slice(&self.history);
        for (d, &s) in now.iter_mut().zip(input.iter()) {
            *d = f32::from(s);
        }
        // Zero-stuffing then filtering, as two phases: an even output meets the wing taps,
        // an odd one only the centre tap (the others meet stuffed zeros). Gain 2 restores
        // the level the stuffing halved.
        for (t, pair) in out.chunks_exact_mut(2).enumerate() {
            let window = x.get(t..t + WING).unwrap_or(&[]);
            let centre = x.get(t + WING / 2).copied().unwrap_or(0.0);
            if let [even, odd] = pair {
                *even = sample_from_f32(2.0 * dot(window, &f.wing));
                *odd = sample_from_f32(2.0 * f.centre * centre);
            }
        }
        let tail = UP_HISTORY + SAMPLES_PER_FRAME - UP_HISTORY;
        self.history
            .copy_from_slice(x.get(tail..tail + UP_HISTORY).unwrap_or(&[0.0; UP_HISTORY]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: f32, n: usize, start: usize, amp: f32) -> Vec<i16> {
        (start..start + n)
            .map(|i| (amp * (2.0 * std::f32::consts::PI * freq * i as f32 / rate).sin()) as i16)
            .collect()
    }

    fn rms(x: &[i16]) -> f32 {
        (x.iter().map(|&s| f32::from(s).powi(2)).sum::<f32>() / x.len() as f32).sqrt()
    }

    fn down(freq: f32) -> Vec<i16> {
        let mut d = Downsampler::new();
        let mut out = Vec::new();
        for f in 0..10 {
            let input: [i16; 320] = sine(freq, 16000.0, 320, f * 320, 10000.0)
                .try_into()
                .expect("320");
            let mut o = [0i16; 160];
            d.process(&input, &mut o);
            out.extend_from_slice(&o);
        }
        out
    }

    fn up(freq: f32) -> Vec<i16> {
        let mut u = Upsampler::new();
        let mut out = Vec::new();
        for f in 0..10 {
            let input: [i16; 160] = sine(freq, 8000.0, 160, f * 160, 10000.0)
                .try_into()
                .expect("160");
            let mut o = [0i16; 320];
            u.process(&input, &mut o);
            out.extend_from_slice(&o);
        }
        out
    }

    #[test]
    fn speech_band_passes_down_at_full_level_and_the_band_above_4khz_is_removed() {
        for f in [300.0, 1000.0, 3000.0] {
            let r = rms(&down(f)[200..]);
            assert!((r / 7071.0 - 1.0).abs() < 0.03, "{f} Hz: rms {r}");
        }
        // 5 kHz would alias to 3 kHz: it must be gone.
        let r = rms(&down(5000.0)[200..]);
        assert!(r < 7071.0 * 0.01, "5 kHz leaks: rms {r}");
    }

    #[test]
    fn upsampling_keeps_the_level_and_adds_no_image_above_4khz() {
        for f in [300.0, 1000.0, 3000.0] {
            let out = up(f);
            let r = rms(&out[400..]);
            assert!((r / 7071.0 - 1.0).abs() < 0.03, "{f} Hz: rms {r}");
            // The image of f sits at 8000 - f; correlate against it.
            let image = 8000.0 - f;
            let (mut c, mut s) = (0f32, 0f32);
            for (i, &v) in out.iter().enumerate().skip(400) {
                let ph = 2.0 * std::f32::consts::PI * image * i as f32 / 16000.0;
                c += f32::from(v) * ph.cos();
                s += f32::from(v) * ph.sin();
            }
            let n = (out.len() - 400) as f32;
            let amp = 2.0 * (c * c + s * s).sqrt() / n;
            assert!(amp < 100.0, "{f} Hz image at {image} Hz: amplitude {amp}");
        }
    }

    #[test]
    fn frames_join_without_a_seam() {
        // A 1 kHz sine split into frames comes out as one smooth sine: no jump at frame edges
        // larger than the sine's own steepest step.
        let out = up(1000.0);
        let max_step = 10000.0 * 2.0 * std::f32::consts::PI * 1000.0 / 16000.0;
        for w in out[64..].windows(2) {
            let step = (f32::from(w[1]) - f32::from(w[0])).abs();
            assert!(step <= max_step * 1.05, "step {step}");
        }
        let out = down(1000.0);
        let max_step = 10000.0 * 2.0 * std::f32::consts::PI * 1000.0 / 8000.0;
        for w in out[32..].windows(2) {
            let step = (f32::from(w[1]) - f32::from(w[0])).abs();
            assert!(step <= max_step * 1.05, "step {step}");
        }
    }

    #[test]
    fn loud_input_saturates_instead_of_wrapping() {
        let mut u = Upsampler::new();
        let mut out = [0i16; 320];
        let input = [i16::MAX; 160];
        for _ in 0..3 {
            u.process(&input, &mut out);
        }
        assert!(out.iter().all(|&s| s > 30000), "{:?}", &out[..8]);
    }
}
