//! The meeting mix: every participant hears the sum of the others, never themselves.
//!
//! Only participants who sent a frame this tick (the talkers) are summed. Everyone who did
//! not talk hears the same thing — the sum of all talkers — so that mix is computed and
//! encoded once per codec and shared; a talker hears the sum minus their own frame. This is
//! exact N−1 mixing at the cost of one subtraction per talker.
//!
//! A meeting mixes at 8 kHz, or at 16 kHz while a wideband caller is in it: frames are
//! always 320-sample arrays and a narrowband tick uses the first 160.

use crate::media::codec::{SAMPLES_PER_FRAME, WIDE_SAMPLES_PER_FRAME};

/// One 20 ms frame of linear PCM at the mix rate.
pub type Pcm = [i16; WIDE_SAMPLES_PER_FRAME];

/// Accumulates one tick's talker frames in 32-bit so the sum never overflows.
#[derive(Debug)]
pub struct Mixer {
    sum: [i32; WIDE_SAMPLES_PER_FRAME],
    len: usize,
    talkers: usize,
}

impl Default for Mixer {
    fn default() -> Self {
        Mixer::new()
    }
}

impl Mixer {
    /// An empty mixer.
    pub fn new() -> Self {
        Mixer {
            sum: [0; WIDE_SAMPLES_PER_FRAME],
            len: SAMPLES_PER_FRAME,
            talkers: 0,
        }
    }

    /// Starts a new tick, at 16 kHz when `wide`.
    pub fn clear(&mut self, wide: bool) {
        self.sum = [0; WIDE_SAMPLES_PER_FRAME];
        self.len = if wide {
            WIDE_SAMPLES_PER_FRAME
        } else {
            SAMPLES_PER_FRAME
        };
        self.talkers = 0;
    }

    /// Adds one talker's frame to the tick's sum.
    pub fn add(&mut self, frame: &Pcm) {
        for (acc, &s) in self.sum.iter_mut().zip(frame.iter()).take(self.len) {
            *acc += i32::from(s);
        }
        self.talkers += 1;
    }

    /// How many frames were added this tick.
    pub fn talkers(&self) -> usize {
        self.talkers
    }

    /// What a participant who did not talk hears: all talkers, saturated to 16 bits.
    pub fn listener_mix(&self, out: &mut Pcm) {
        for (o, &acc) in out.iter_mut().zip(self.sum.iter()).take(self.len) {
            *o = saturate(acc);
        }
    }

    /// What a talker hears: all talkers but `own`, saturated to 16 bits.
    pub fn talker_mix(&self, own: &Pcm, out: &mut Pcm) {
        for ((o, &acc), &s) in out
            .iter_mut()
            .zip(self.sum.iter())
            .zip(own.iter())
            .take(self.len)
        {
            *o = saturate(acc - i32::from(s));
        }
    }
}

fn saturate(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: i16) -> Pcm {
        [v; WIDE_SAMPLES_PER_FRAME]
    }

    #[test]
    fn each_talker_hears_the_others_but_not_themselves() {
        let (a, b, c) = (frame(100), frame(20), frame(3));
        let mut m = Mixer::new();
        m.clear(true);
        for f in [&a, &b, &c] {
            m.add(f);
        }
        let mut out = frame(0);
        m.talker_mix(&a, &mut out);
        assert_eq!(out, frame(23));
        m.talker_mix(&b, &mut out);
        assert_eq!(out, frame(103));
        m.talker_mix(&c, &mut out);
        assert_eq!(out, frame(120));
    }

    #[test]
    fn listeners_hear_every_talker() {
        let mut m = Mixer::new();
        m.clear(true);
        m.add(&frame(100));
        m.add(&frame(-30));
        let mut out = frame(0);
        m.listener_mix(&mut out);
        assert_eq!(out, frame(70));
        assert_eq!(m.talkers(), 2);
    }

    #[test]
    fn a_lone_talker_hears_silence() {
        let mut m = Mixer::new();
        m.clear(true);
        let a = frame(12345);
        m.add(&a);
        let mut out = frame(1);
        m.talker_mix(&a, &mut out);
        assert_eq!(out, frame(0));
    }

    #[test]
    fn loud_sums_saturate_instead_of_wrapping() {
        let mut m = Mixer::new();
        m.clear(true);
        for _ in 0..4 {
            m.add(&frame(20_000));
        }
        let mut out = frame(0);
        m.listener_mix(&mut out);
        assert_eq!(out, frame(i16::MAX));
        m.talker_mix(&frame(20_000), &mut out);
        assert_eq!(out, frame(i16::MAX), "60000 saturates");
        let mut n = Mixer::new();
        n.clear(true);
        for _ in 0..3 {
            n.add(&frame(i16::MIN));
        }
        n.listener_mix(&mut out);
        assert_eq!(out, frame(i16::MIN));
    }

    #[test]
    fn a_narrowband_tick_mixes_only_the_first_160_samples() {
        let mut m = Mixer::new();
        m.clear(false);
        m.add(&frame(7));
        let mut out = frame(1);
        m.listener_mix(&mut out);
        assert!(out[..160].iter().all(|&s| s == 7));
        assert!(out[160..].iter().all(|&s| s == 1), "untouched");
    }

    #[test]
    fn clear_starts_a_fresh_tick() {
        let mut m = Mixer::new();
        m.clear(true);
        m.add(&frame(5));
        m.clear(true);
        let mut out = frame(9);
        m.listener_mix(&mut out);
        assert_eq!(out, frame(0));
        assert_eq!(m.talkers(), 0);
    }
}
