//! Tone analysis and generation: our test phone uses it to check what a caller hears (hold
//! music vs. silence vs. the meeting mix) and to send recognisable audio; in-band DTMF
//! detection will build on [`goertzel_power`].
//!
//! Levels are relative to 16-bit full scale. Frequency resolution is about
//! `sample_rate / samples.len()` (50 Hz for one 20 ms frame at 8 kHz): analyse longer blocks to
//! separate tones closer than that.

use std::f64::consts::TAU;

/// Full-scale magnitude of an i16 sample.
const FULL_SCALE: f64 = 32768.0;

/// What [`rms_dbfs`] reports for digital silence (and the lowest level it ever reports):
/// a finite floor keeps comparisons, averages and JSON output simple.
pub const SILENCE_DBFS: f32 = -120.0;

/// A candidate tone counts as present if it carries at least this share of the block's
/// energy: one tone alone scores ~1.0, each of two equal tones ~0.5, music or noise spreads
/// its energy thinly over many frequencies.
const PRESENCE_SHARE: f64 = 0.2;

/// Below this level a block is treated as silence and no tone is reported (G.711 idle
/// channel noise and comfort noise sit well below it).
const MIN_TONE_DBFS: f32 = -60.0;

/// Relative power of `freq_hz` in `samples` (8 kHz), normalised so a full-scale sine gives
/// ~1.0 and silence ~0. Returns 0 for an empty block, a non-finite frequency or a rate that
/// is not a positive number.
pub fn goertzel_power(samples: &[i16], freq_hz: f32, sample_rate: f32) -> f32 {
    if samples.is_empty() || !freq_hz.is_finite() || !sample_rate.is_finite() || sample_rate <= 0.0
    {
        return 0.0;
    }
    let omega = TAU * f64::from(freq_hz) / f64::from(sample_rate);
    let coeff = 2.0 * omega.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) / FULL_SCALE + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    // |X(omega)|^2; a sine of amplitude A over N samples has |X| = A*N/2.
    let magnitude_sq = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let n = samples.len() as f64;
    (4.0 * magnitude_sq / (n * n)).max(0.0) as f32
}

/// Mean of the squared samples, relative to full scale (a full-scale sine gives 0.5).
pub fn mean_square(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    // Summed exactly in integers, which vectorises (a float sum must keep its order and
    // cannot); in pairs, as the CPU's multiply-add does: two squares are at most 2^31, which
    // fits a u32 (only two full-scale negatives wrap an i32, and the u32 reads them right).
    let square = |x: i16| i32::from(x) * i32::from(x);
    let mut pairs = samples.chunks_exact(2);
    let sum: u64 = pairs
        .by_ref()
        .map(|pair| match pair {
            [a, b] => u64::from(square(*a).wrapping_add(square(*b)) as u32),
            _ => 0,
        })
        .sum::<u64>()
        + pairs
            .remainder()
            .iter()
            .map(|&x| u64::from(square(x) as u32))
            .sum::<u64>();
    sum as f64 / (FULL_SCALE * FULL_SCALE) / samples.len() as f64
}

/// RMS level of the samples in dBFS, relative to a full-scale square wave (so a full-scale
/// sine reads -3.01); digital silence and empty input give [`SILENCE_DBFS`].
pub fn rms_dbfs(samples: &[i16]) -> f32 {
    dbfs(mean_square(samples))
}

/// A [`mean_square`] in dBFS; zero gives [`SILENCE_DBFS`].
pub fn dbfs(ms: f64) -> f32 {
    if ms <= 0.0 {
        return SILENCE_DBFS;
    }
    // 10*log10(mean square) == 20*log10(rms).
    ((10.0 * ms.log10()) as f32).max(SILENCE_DBFS)
}

/// Detects which of the candidate frequencies are present (each carrying at least a fifth of
/// the block's energy, and the block louder than -60 dBFS); returns them in candidate order.
pub fn present_tones(samples: &[i16], candidates: &[f32], sample_rate: f32) -> Vec<f32> {
    if rms_dbfs(samples) < MIN_TONE_DBFS {
        return Vec::new();
    }
    // Scale total energy like goertzel_power: a lone sine of any amplitude scores 1.0 share.
    let total = 2.0 * mean_square(samples);
    candidates
        .iter()
        .copied()
        .filter(|&f| f64::from(goertzel_power(samples, f, sample_rate)) >= PRESENCE_SHARE * total)
        .collect()
}

/// Generates a sine tone frame-by-frame with continuous phase (for the test phone's
/// transmitted audio).
#[derive(Clone, Debug)]
pub struct ToneGenerator {
    amplitude: f64,
    /// Phase advance per sample, radians.
    step: f64,
    /// Current phase in [0, 2π), kept small so precision does not drift over long calls.
    phase: f64,
}

impl ToneGenerator {
    /// A generator for `freq_hz` at peak `amplitude`; a non-finite frequency or a rate that is
    /// not a positive number generates all-zero samples.
    pub fn new(freq_hz: f32, amplitude: i16, sample_rate: f32) -> Self {
        let step = if freq_hz.is_finite() && sample_rate.is_finite() && sample_rate > 0.0 {
            TAU * f64::from(freq_hz) / f64::from(sample_rate)
        } else {
            0.0
        };
        ToneGenerator {
            amplitude: f64::from(amplitude),
            step: step.rem_euclid(TAU),
            phase: 0.0,
        }
    }

    /// Fills `out` with the next samples, continuing where the previous call stopped.
    pub fn fill(&mut self, out: &mut [i16]) {
        for sample in out {
            // The float-to-int cast saturates, so rounding at full scale cannot overflow.
            *sample = (self.amplitude * self.phase.sin()).round() as i16;
            self.phase += self.step;
            if self.phase >= TAU {
                self.phase -= TAU;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// The paired sum is the plain sum of squares, for every length and at full scale.
        #[test]
        fn mean_square_is_the_exact_mean_of_squares(
            samples in prop::collection::vec(
                prop_oneof![Just(i16::MIN), Just(i16::MAX), any::<i16>()], 0..400),
        ) {
            let exact: u128 = samples.iter().map(|&x| (i128::from(x) * i128::from(x)) as u128).sum();
            let expected = if samples.is_empty() {
                0.0
            } else {
                exact as f64 / (FULL_SCALE * FULL_SCALE) / samples.len() as f64
            };
            prop_assert_eq!(mean_square(&samples), expected);
        }
    }

    use super::*;
    use crate::media::codec::Law;
    use crate::media::g711;

    const RATE: f32 = 8000.0;
    const CANDIDATES: [f32; 4] = [440.0, 600.0, 1000.0, 1400.0];

    fn tone(freq: f32, amplitude: i16, len: usize) -> Vec<i16> {
        let mut out = vec![0; len];
        ToneGenerator::new(freq, amplitude, RATE).fill(&mut out);
        out
    }

    fn mix(a: &[i16], b: &[i16]) -> Vec<i16> {
        a.iter().zip(b).map(|(x, y)| x.saturating_add(*y)).collect()
    }

    #[test]
    fn full_scale_sine_has_power_one() {
        let s = tone(1000.0, i16::MAX, 160);
        let p = goertzel_power(&s, 1000.0, RATE);
        assert!((p - 1.0).abs() < 0.01, "{p}");
        assert!(goertzel_power(&s, 600.0, RATE) < 0.001);
    }

    #[test]
    fn rms_of_full_scale_sine_is_minus_3_dbfs() {
        let level = rms_dbfs(&tone(1000.0, i16::MAX, 800));
        assert!((level + 3.01).abs() < 0.05, "{level}");
        let quieter = rms_dbfs(&tone(1000.0, i16::MAX / 10, 800));
        assert!((quieter + 23.01).abs() < 0.1, "{quieter}");
    }

    #[test]
    fn silence_is_the_floor_level_and_has_no_tones() {
        let silence = [0i16; 160];
        assert_eq!(rms_dbfs(&silence), SILENCE_DBFS);
        assert_eq!(rms_dbfs(&[]), SILENCE_DBFS);
        assert!(present_tones(&silence, &CANDIDATES, RATE).is_empty());
        assert_eq!(goertzel_power(&silence, 600.0, RATE), 0.0);
    }

    #[test]
    fn a_600_hz_tone_is_detected_at_600_only() {
        let s = tone(600.0, 8000, 160);
        assert_eq!(present_tones(&s, &CANDIDATES, RATE), [600.0]);
    }

    #[test]
    fn two_tones_are_both_detected() {
        let s = mix(&tone(600.0, 8000, 160), &tone(1000.0, 8000, 160));
        assert_eq!(present_tones(&s, &CANDIDATES, RATE), [600.0, 1000.0]);
    }

    #[test]
    fn tones_survive_g711_encode_and_decode() {
        let s = mix(&tone(600.0, 6000, 160), &tone(1000.0, 6000, 160));
        for codec in Law::ALL {
            let mut bytes = [0u8; 160];
            let mut decoded = [0i16; 160];
            g711::encode(codec, &s, &mut bytes);
            g711::decode(codec, &bytes, &mut decoded);
            assert_eq!(
                present_tones(&decoded, &CANDIDATES, RATE),
                [600.0, 1000.0],
                "{codec:?}"
            );
            let single = tone(600.0, 3000, 160);
            g711::encode(codec, &single, &mut bytes);
            g711::decode(codec, &bytes, &mut decoded);
            assert_eq!(present_tones(&decoded, &CANDIDATES, RATE), [600.0]);
        }
    }

    #[test]
    fn off_bin_frequencies_are_measured_too() {
        // 697 Hz (a DTMF row tone) is not a multiple of the 50 Hz bin spacing of 160 samples.
        let s = tone(697.0, 16000, 160);
        let p = goertzel_power(&s, 697.0, RATE);
        let expected = (16000.0f32 / 32768.0).powi(2);
        assert!((p / expected - 1.0).abs() < 0.05, "{p} vs {expected}");
        assert_eq!(present_tones(&s, &[697.0, 1209.0], RATE), [697.0]);
    }

    #[test]
    fn generator_phase_is_continuous_across_frames() {
        let whole = tone(440.0, 12000, 320);
        let mut g = ToneGenerator::new(440.0, 12000, RATE);
        let mut parts = vec![0i16; 320];
        let (a, b) = parts.split_at_mut(77);
        g.fill(a);
        g.fill(b);
        assert_eq!(whole, parts);
    }

    #[test]
    fn generator_peak_matches_amplitude() {
        let s = tone(1000.0, 10000, 800);
        let peak = s.iter().map(|x| x.unsigned_abs()).max().unwrap();
        assert!((9990..=10000).contains(&peak), "{peak}");
    }

    #[test]
    fn nonsense_parameters_do_not_panic() {
        let s = tone(600.0, 8000, 160);
        assert_eq!(goertzel_power(&s, f32::NAN, RATE), 0.0);
        assert_eq!(goertzel_power(&s, 600.0, 0.0), 0.0);
        assert_eq!(goertzel_power(&[], 600.0, RATE), 0.0);
        assert!(present_tones(&s, &[f32::INFINITY], RATE).is_empty());
        let mut out = [1i16; 16];
        ToneGenerator::new(f32::NAN, 1000, RATE).fill(&mut out);
        assert_eq!(out, [0; 16]);
        ToneGenerator::new(-600.0, i16::MIN, RATE).fill(&mut out);
    }
}
