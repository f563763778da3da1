//! Fills a G.722 caller's lost frames: the last good frame repeated, fading out over three
//! frames. G.722's decoder carries state, so the next frame cannot be decoded ahead to
//! conceal towards it as [`crate::media::plc::Plc`] does for G.711; a fading repeat is the
//! simpler concealment that stateful decoding allows.

use super::codec::WIDE_SAMPLES_PER_FRAME;

/// One 20 ms frame at 16 kHz.
type WideFrame = [i16; WIDE_SAMPLES_PER_FRAME];

/// Gain of the repeat for the first, second and third lost frame in a row; silence after.
const FADE: [f32; 3] = [0.8, 0.5, 0.25];

/// One G.722 stream's concealment state.
#[derive(Debug, Default)]
pub struct WideFade {
    /// The last good frame and how many were lost since (boxed: most callers are not G.722).
    last: Option<Box<(WideFrame, u8)>>,
}

impl WideFade {
    /// No frame seen yet: nothing to conceal with.
    pub fn new() -> Self {
        Self::default()
    }

    /// A frame arrived and was decoded: it is what a loss repeats.
    pub fn good(&mut self, pcm: &WideFrame) {
        let last = self
            .last
            .get_or_insert_with(|| Box::new(([0; WIDE_SAMPLES_PER_FRAME], 0)));
        last.0 = *pcm;
        last.1 = 0;
    }

    /// A frame was lost: fills `out` with the faded repeat and returns true, or returns
    /// false when no frame came before (nothing to conceal).
    pub fn conceal(&mut self, out: &mut WideFrame) -> bool {
        let Some(last) = self.last.as_mut() else {
            return false;
        };
        last.1 = last.1.saturating_add(1);
        let gain = FADE.get(usize::from(last.1) - 1).copied().unwrap_or(0.0);
        for (o, &s) in out.iter_mut().zip(last.0.iter()) {
            *o = (f32::from(s) * gain) as i16;
        }
        true
    }

    /// The caller stopped sending: a loss after this is not concealed.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loss_repeats_the_last_frame_fading_to_silence_over_three_frames() {
        let mut f = WideFade::new();
        f.good(&[1000; WIDE_SAMPLES_PER_FRAME]);
        let mut out = [0i16; WIDE_SAMPLES_PER_FRAME];
        let mut levels = Vec::new();
        for _ in 0..5 {
            assert!(f.conceal(&mut out));
            levels.push(out[0]);
            assert!(out.iter().all(|&s| s == out[0]));
        }
        assert_eq!(levels, [800, 500, 250, 0, 0]);
        f.good(&[-400; WIDE_SAMPLES_PER_FRAME]);
        assert!(f.conceal(&mut out));
        assert_eq!(out[0], -320, "a good frame starts the fade over");
    }

    #[test]
    fn nothing_is_concealed_before_the_first_frame_or_after_a_reset() {
        let mut f = WideFade::new();
        let mut out = [7i16; WIDE_SAMPLES_PER_FRAME];
        assert!(!f.conceal(&mut out));
        assert_eq!(out[0], 7, "untouched");
        f.good(&[100; WIDE_SAMPLES_PER_FRAME]);
        f.reset();
        assert!(!f.conceal(&mut out));
    }
}
