//! Automatic gain per caller: a quiet line is brought up (and a hot one down) towards a
//! common speech level, so nobody is lost in the mix.
//!
//! The speech level is learnt only from talk frames (never from noise or silence), and the
//! gain moves slowly (at most 6 dB a second), so it does not pump. Levels within ±8 dB of
//! the target are left alone: a normal line passes unchanged. A peak limiter keeps the gained
//! frame from clipping.

/// The speech level callers are brought towards, in dBFS (telephone speech is about −26).
const TARGET_DB: f32 = -26.0;
/// No correction within this distance of the target.
const DEAD_BAND_DB: f32 = 8.0;
/// Most boost for a quiet line.
const MAX_GAIN_DB: f32 = 18.0;
/// Most cut for a loud line.
const MIN_GAIN_DB: f32 = -10.0;
/// Gain change per talk frame (6 dB/s).
const STEP_DB: f32 = 0.12;
/// Weight of a new talk frame in the speech level (about 1 s memory).
const LEVEL_WEIGHT: f32 = 0.02;
/// Peak the gained signal may reach.
const PEAK: f32 = 30000.0;

/// One caller's gain control.
#[derive(Clone, Debug, Default)]
pub struct Agc {
    speech_db: Option<f32>,
    gain_db: f32,
}

fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

impl Agc {
    /// Unity gain until the caller has talked.
    pub fn new() -> Self {
        Agc::default()
    }

    /// The gain now applied, in dB.
    pub fn gain_db(&self) -> f32 {
        self.gain_db
    }

    /// Learns from a frame (`talk`: the voice detector says it is speech) and applies the
    /// gain to it in place.
    pub fn process(&mut self, pcm: &mut [i16], talk: bool, level_db: f32) {
        self.learn(talk, level_db).apply(pcm);
    }

    /// Learns from a frame's level (`talk`: the voice detector says it is speech) and says
    /// what gain the frame gets, to apply only if it is used: a meeting mixes its loudest
    /// few talkers, and the gain of a frame nobody hears is work for nothing.
    pub fn learn(&mut self, talk: bool, level_db: f32) -> GainRamp {
        let before = self.gain_db;
        if talk && level_db > -70.0 {
            let level = match self.speech_db {
                Some(l) => l + (level_db - l) * LEVEL_WEIGHT,
                None => level_db,
            };
            self.speech_db = Some(level);
            let off = TARGET_DB - level;
            let wanted = if off > DEAD_BAND_DB {
                off - DEAD_BAND_DB
            } else if off < -DEAD_BAND_DB {
                off + DEAD_BAND_DB
            } else {
                0.0
            }
            .clamp(MIN_GAIN_DB, MAX_GAIN_DB);
            self.gain_db += (wanted - self.gain_db).clamp(-STEP_DB, STEP_DB);
        }
        GainRamp {
            from_db: before,
            to_db: self.gain_db,
        }
    }
}

/// The gain of one frame: a ramp across it from the gain before the frame to the gain after.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GainRamp {
    from_db: f32,
    to_db: f32,
}

impl GainRamp {
    /// A frame left as it is.
    pub const UNITY: GainRamp = GainRamp {
        from_db: 0.0,
        to_db: 0.0,
    };

    /// Applies the gain to the frame in place, its peak limited so that it does not clip.
    pub fn apply(self, pcm: &mut [i16]) {
        let GainRamp { from_db, to_db } = self;
        if from_db == 0.0 && to_db == 0.0 {
            return;
        }
        let g0 = db_to_gain(from_db);
        let g1 = if to_db == from_db {
            g0
        } else {
            db_to_gain(to_db)
        };
        // In fixed point (Q12 gains, at most +18 dB: 32,536): on x86-64's baseline SSE2 a
        // float sample loop with its saturating conversion back to 16 bits does not
        // vectorise, and this one does.
        let peak = f32::from(pcm.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0));
        // Never push the frame's peak past the limit: shrink this frame's gain instead.
        let top = peak * g0.max(g1);
        let limit = if top > PEAK { PEAK / top } else { 1.0 };
        let q12 = |g: f32| (g * limit * 4096.0).round().clamp(0.0, 32767.0) as i32;
        let n = pcm.len().max(1) as i32;
        let start = q12(g0) << 12;
        let step = ((q12(g1) << 12) - start) / n;
        for (i, s) in pcm.iter_mut().enumerate() {
            // Ramp across the frame so a gain step makes no click.
            let g = (start + step * i as i32) >> 12;
            let v = (i32::from(*s) * g + 2048) >> 12;
            *s = v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tone::rms_dbfs;

    fn tone(amp: f32) -> Vec<i16> {
        (0..160)
            .map(|i| (amp * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 8000.0).sin()) as i16)
            .collect()
    }

    fn run(amp: f32, frames: usize) -> (Agc, f32) {
        let mut agc = Agc::new();
        let mut level = 0.0;
        for _ in 0..frames {
            let mut f = tone(amp);
            let l = rms_dbfs(&f);
            agc.process(&mut f, true, l);
            level = rms_dbfs(&f);
        }
        (agc, level)
    }

    #[test]
    fn a_normal_line_passes_unchanged() {
        let amp = 32768.0 * db_to_gain(-26.0) * 2f32.sqrt();
        let mut agc = Agc::new();
        for _ in 0..500 {
            let original = tone(amp);
            let mut f = original.clone();
            let l = rms_dbfs(&f);
            agc.process(&mut f, true, l);
            assert_eq!(f, original);
        }
    }

    #[test]
    fn a_quiet_line_is_brought_up_slowly_and_stops_short_of_the_target() {
        // Speech at -46 dBFS: 20 dB under the target, 12 dB of boost wanted.
        let amp = 32768.0 * db_to_gain(-46.0) * 2f32.sqrt();
        let (agc, _) = run(amp, 10);
        assert!(agc.gain_db() < 1.5, "no jump: {}", agc.gain_db());
        let (agc, level) = run(amp, 500);
        assert!((agc.gain_db() - 12.0).abs() < 0.5, "gain {}", agc.gain_db());
        assert!((level + 34.0).abs() < 0.6, "level {level}");
    }

    #[test]
    fn silence_and_noise_teach_nothing() {
        let mut agc = Agc::new();
        for _ in 0..500 {
            let mut f = tone(30.0);
            let l = rms_dbfs(&f);
            agc.process(&mut f, false, l);
        }
        assert_eq!(agc.gain_db(), 0.0);
    }

    #[test]
    fn fixed_point_gain_matches_the_float_gain_within_a_thousandth() {
        // The float ramp the fixed-point loop stands for, sample by sample.
        let reference = |pcm: &[i16], g0: f32, g1: f32| -> Vec<f32> {
            let n = pcm.len() as f32;
            pcm.iter()
                .enumerate()
                .map(|(i, &s)| f32::from(s) * (g0 + (g1 - g0) * i as f32 / n))
                .collect()
        };
        let loud = tone(9000.0);
        for (start_db, amp, talk_db) in [(0.0, 9000.0, -10.0), (-9.5, 9000.0, -5.0)] {
            let mut agc = Agc {
                speech_db: Some(talk_db),
                gain_db: start_db,
            };
            let mut quiet = tone(amp);
            quiet.iter_mut().for_each(|s| *s /= 20);
            for frame in [loud.clone(), quiet] {
                let before = agc.gain_db();
                let mut f = frame.clone();
                agc.process(&mut f, true, talk_db);
                let want = reference(&frame, db_to_gain(before), db_to_gain(agc.gain_db()));
                for (got, want) in f.iter().zip(&want) {
                    let diff = (f32::from(*got) - want).abs();
                    assert!(diff <= 1.0 + want.abs() / 1000.0, "{got} against {want}");
                }
            }
        }
    }

    #[test]
    fn the_gain_never_clips_a_peak() {
        let mut agc = Agc::new();
        // Learn a quiet level, then a loud burst arrives.
        for _ in 0..500 {
            let mut f = tone(200.0);
            let l = rms_dbfs(&f);
            agc.process(&mut f, true, l);
        }
        assert!(agc.gain_db() > 10.0);
        let mut f = tone(20000.0);
        agc.process(&mut f, false, -10.0);
        let peak = f.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!(peak <= 30001, "peak {peak}");
    }
}
