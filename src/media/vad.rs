//! Voice activity per caller: who is talking right now, so the mix carries only talkers
//! (their line noise stays out) and everyone else shares one listener mix.
//!
//! Energy against a tracked noise floor: a frame is speech when it stands well above the
//! floor and above an absolute minimum; a hangover keeps word endings and short pauses in.
//! The floor follows quiet frames quickly and louder ones slowly, and never rises above a
//! cap, so steady loud audio (music, a test tone) is not mistaken for noise after a while.

use super::tone::{SILENCE_DBFS, dbfs, mean_square};

/// Frames quieter than this are never speech (a whisper on a phone line is louder).
const MIN_SPEECH_DB: f32 = -55.0;
/// How far above the noise floor speech stands.
const ABOVE_FLOOR_DB: f32 = 9.0;
/// The noise floor never climbs above this.
const MAX_FLOOR_DB: f32 = -45.0;
/// Floor rise per frame on louder frames (1 dB/s).
const FLOOR_RISE_DB: f32 = 0.02;
/// Share of the step taken per frame when a frame is below the floor.
const FLOOR_FALL: f32 = 0.3;
/// Frames a talker stays active after the last speech frame (300 ms).
const HANGOVER_FRAMES: u16 = 15;
/// Share of the step the talk level takes per frame: a time constant of about 200 ms, so the
/// level follows a voice's loudness rather than each syllable.
const TALK_SMOOTHING: f64 = 0.1;

/// One caller's talk detector.
#[derive(Clone, Debug)]
pub struct VoiceActivity {
    floor_db: f32,
    hangover: u16,
    level_db: f32,
    /// Mean square of the current talk spurt, smoothed; zero between spurts.
    talk_power: f64,
}

impl Default for VoiceActivity {
    fn default() -> Self {
        VoiceActivity::new()
    }
}

impl VoiceActivity {
    /// A detector that has heard nothing yet.
    pub fn new() -> Self {
        VoiceActivity {
            floor_db: -70.0,
            hangover: 0,
            level_db: SILENCE_DBFS,
            talk_power: 0.0,
        }
    }

    /// Takes one frame; true while the caller is talking (including the hangover).
    pub fn update(&mut self, pcm: &[i16]) -> bool {
        let power = mean_square(pcm);
        let level = dbfs(power);
        self.level_db = level;
        let speech = level >= MIN_SPEECH_DB && level >= self.floor_db + ABOVE_FLOOR_DB;
        if level < self.floor_db {
            self.floor_db += (level - self.floor_db) * FLOOR_FALL;
        } else {
            self.floor_db = (self.floor_db + FLOOR_RISE_DB).min(MAX_FLOOR_DB);
        }
        self.floor_db = self.floor_db.max(-100.0);
        let talking = if speech {
            self.hangover = HANGOVER_FRAMES;
            true
        } else if self.hangover > 0 {
            self.hangover -= 1;
            true
        } else {
            false
        };
        self.talk_power = match (talking, self.talk_power > 0.0) {
            (false, _) => 0.0,
            // A new spurt starts at its own level, not climbing from silence.
            (true, false) => power,
            (true, true) => self.talk_power + (power - self.talk_power) * TALK_SMOOTHING,
        };
        talking
    }

    /// Level of the last frame, to rank talkers.
    pub fn level_db(&self) -> f32 {
        self.level_db
    }

    /// Loudness of the current talk spurt over the last few hundred milliseconds, to rank
    /// talkers: a voice's level, not one frame's.
    pub fn talk_level_db(&self) -> f32 {
        dbfs(self.talk_power)
    }

    /// Forgets the current talk spurt (the caller was muted or stopped sending).
    pub fn reset_spurt(&mut self) {
        self.hangover = 0;
        self.talk_power = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(amp: f32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| (amp * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 8000.0).sin()) as i16)
            .collect()
    }

    fn noise(amp: f32, seed: &mut u32) -> Vec<i16> {
        (0..160)
            .map(|_| {
                *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((f32::from((*seed >> 16) as u16) / 65535.0 - 0.5) * 2.0 * amp) as i16
            })
            .collect()
    }

    #[test]
    fn silence_and_line_noise_are_not_talk_speech_is_and_hangs_over_300_ms() {
        let mut v = VoiceActivity::new();
        let mut seed = 7;
        for _ in 0..100 {
            assert!(
                !v.update(&noise(60.0, &mut seed)),
                "noise at about -60 dBFS"
            );
        }
        assert!(v.update(&tone(3000.0, 160)), "speech-level tone");
        let mut active = 0;
        for _ in 0..30 {
            if v.update(&noise(60.0, &mut seed)) {
                active += 1;
            }
        }
        assert_eq!(active, HANGOVER_FRAMES as usize);
    }

    #[test]
    fn a_noisy_line_raises_the_floor_so_its_noise_stops_counting_as_talk() {
        let mut v = VoiceActivity::new();
        let mut seed = 1;
        // Noise at about -43 dBFS starts as "talk" (above the fresh floor) ...
        let first = v.update(&noise(400.0, &mut seed));
        assert!(first);
        // ... the floor climbs to its cap within a minute, and the noise is gone from the mix.
        let mut last = true;
        for _ in 0..3000 {
            last = v.update(&noise(400.0, &mut seed));
        }
        assert!(!last, "floor {}", v.floor_db);
        // Speech 15 dB above the noise still counts.
        assert!(v.update(&tone(6000.0, 160)));
    }

    #[test]
    fn the_talk_level_starts_at_the_voice_follows_it_smoothly_and_ends_with_the_spurt() {
        let mut v = VoiceActivity::new();
        assert_eq!(v.talk_level_db(), SILENCE_DBFS);
        v.update(&tone(8000.0, 160));
        let loud = v.talk_level_db();
        assert!((loud - v.level_db()).abs() < 0.01, "no climb from silence");
        // A frame 20 dB quieter moves the talk level by a tenth of the power step only.
        v.update(&tone(800.0, 160));
        let after = v.talk_level_db();
        assert!(
            loud - after > 0.3 && loud - after < 0.6,
            "{loud} -> {after}"
        );
        // Past the hangover, the spurt is over.
        for _ in 0..=HANGOVER_FRAMES {
            v.update(&[0; 160]);
        }
        assert_eq!(v.talk_level_db(), SILENCE_DBFS);
        v.update(&tone(8000.0, 160));
        v.reset_spurt();
        assert_eq!(v.talk_level_db(), SILENCE_DBFS, "muted");
    }

    #[test]
    fn a_steady_loud_tone_stays_talk_however_long_it_lasts() {
        let mut v = VoiceActivity::new();
        for _ in 0..5000 {
            assert!(v.update(&tone(8000.0, 160)));
        }
    }
}
