//! Packet-loss concealment for one caller's 8 kHz speech, after the method of ITU-T G.711
//! Appendix I: a lost 20 ms frame is filled by repeating the caller's last pitch period(s), so
//! that a lost packet sounds like a slightly held vowel instead of a click and a gap.
//!
//! How it works, as the Appendix describes it:
//! - Every frame (real or made up) goes into a history of the last 48.75 ms, and what the
//!   caller hears is that history 3.75 ms late. The history is a ring of 16-bit samples, so a
//!   frame that arrives costs a copy in and a copy out; floats are made only when a loss
//!   begins. The delay lets the start of a loss reach back
//!   into audio not yet played: its last quarter pitch period is cross-faded into the waveform
//!   one period earlier, so the repetition that follows joins without a step.
//! - At the start of a loss the pitch period (40 to 120 samples, 200 Hz to 66 Hz) is estimated
//!   as the lag of highest normalised cross-correlation of the last 20 ms with the history,
//!   coarsely on every other sample and lag, then refined at full resolution.
//! - The first lost frame repeats the last period; each further lost frame cycles one more of
//!   the last periods, up to three (one period repeated for long sounds buzzy), each change
//!   cross-faded over a quarter period. Every cycle's wrap from its end to its start is
//!   cross-faded too. (The Appendix adds a period every 10 ms; with 20 ms frames, keeping one
//!   period for the whole first frame measured better.)
//! - After 10 ms the repetition fades linearly, 20 % per 10 ms, to silence 60 ms into the
//!   loss: a long loss goes quiet instead of droning on.
//! - The first good frame after a loss is cross-faded from the continued repetition into the
//!   real audio over 4 ms, plus 4 ms for each further 10 ms lost (at most 10 ms).
//!
//! One step beyond the Appendix: a jitter buffer often already holds the frame after the lost
//! one (that is how it knows the frame is lost). [`Plc::conceal_before`] then fades across the
//! lost frame from the repetition of the past into that next frame's own first pitch period
//! repeated backwards in time, which joins the next frame exactly: interpolating between both
//! sides is closer to what was lost than extrapolating from one (narrowband PESQ of speech
//! with 5 % random loss: about 3.6 instead of 3.2).
//!
//! Sans-IO and allocation-free: the caller says per 20 ms tick whether its frame arrived
//! ([`Plc::good`]), was lost ([`Plc::conceal`]) or whether the caller is simply not sending
//! ([`Plc::reset`]: nothing is invented for hold, silence suppression or a stream's end).
//! A frame is lost for good ([`Plc::conceal`]) or lost with its successor at hand
//! ([`Plc::conceal_before`]).

use super::codec::{SAMPLES_PER_FRAME, sample_from_f32};
use super::prefetch;

/// Shortest pitch period searched, in samples (200 Hz at 8 kHz).
const PITCH_MIN: usize = 40;
/// Longest pitch period searched, in samples (66.7 Hz at 8 kHz).
const PITCH_MAX: usize = 120;
/// The longest quarter period cross-faded at the start of a loss; also the output delay, so
/// that cross-fade only ever touches samples not yet played.
pub const DELAY_SAMPLES: usize = PITCH_MAX / 4;
/// History kept: three of the longest periods plus the cross-fade before them.
const HISTORY: usize = 3 * PITCH_MAX + DELAY_SAMPLES;
/// The history ring's size: a power of two, so a position wraps with a mask.
const RING: usize = HISTORY.next_power_of_two();
/// Length of the segment matched in the pitch search (20 ms).
const CORR_LEN: usize = 160;
/// The step of the fade and end-overlap schedule (10 ms).
const STEP: usize = 80;
/// Made-up samples after which one more period joins the cycle (one frame).
const PERIOD_STEP: usize = SAMPLES_PER_FRAME;
/// Most periods cycled in a long loss.
const MAX_PERIODS: usize = 3;
/// Samples into a loss at which the repetition has faded to silence (60 ms).
const SILENT_AFTER: usize = 6 * STEP;
/// End-of-loss cross-fade per 10 ms lost (4 ms), and its cap (10 ms).
const END_OVERLAP_STEP: usize = 32;
const END_OVERLAP_MAX: usize = STEP;
/// Mean square below which a candidate segment counts as silence in the pitch search, so a
/// near-silent stretch cannot win the correlation by dividing by almost nothing.
const MIN_POWER: f32 = 250.0;

/// One 20 ms frame of 8 kHz linear PCM.
pub type Frame = [i16; SAMPLES_PER_FRAME];

/// Where the repetition reads: a cycle of `periods` pitch periods, at `pos` within it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Cursor {
    periods: usize,
    pos: usize,
}

/// The state of a loss in progress.
#[derive(Clone, Copy, Debug)]
struct Loss {
    pitch: usize,
    /// Length of every cross-fade in this loss: a quarter of the pitch period.
    overlap: usize,
    /// Samples made up so far.
    made: usize,
    cursor: Cursor,
    /// The cycle being faded out after a change in the number of periods, and samples left.
    fading: Option<(Cursor, usize)>,
}

/// Packet-loss concealment for one caller's stream (see the module documentation).
#[derive(Clone)]
pub struct Plc {
    /// What was played and is about to be, as it will sound; `end` (mod [`RING`]) is where the
    /// next sample goes, and what the caller hears lags it by [`DELAY_SAMPLES`].
    ring: [i16; RING],
    end: usize,
    /// The last [`HISTORY`] samples as they were when the current loss began, oldest first:
    /// what the repetition reads.
    source: [f32; HISTORY],
    loss: Option<Loss>,
    /// The frame a concealment led into, expected next.
    arriving: Option<Arriving>,
    /// The history is from before a pause: forget it at the next frame.
    stale: bool,
}

/// The frame after a lost one, already known when the loss was concealed.
#[derive(Clone, Copy)]
struct Arriving {
    frame: [f32; SAMPLES_PER_FRAME],
    /// Its own pitch period: the concealment repeated its start backwards with this period.
    pitch: usize,
}

impl std::fmt::Debug for Plc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plc")
            .field("loss", &self.loss)
            .field("stale", &self.stale)
            .finish_non_exhaustive()
    }
}

impl Default for Plc {
    fn default() -> Self {
        Self::new()
    }
}

impl Plc {
    /// A concealer with an empty (silent) history.
    pub fn new() -> Self {
        Plc {
            ring: [0; RING],
            end: 0,
            source: [0.0; HISTORY],
            loss: None,
            arriving: None,
            stale: false,
        }
    }

    /// A frame arrived: `frame` is replaced by what to play now, the audio [`DELAY_SAMPLES`]
    /// behind it (with the join from a concealed stretch cross-faded in).
    pub fn good(&mut self, frame: &mut Frame) {
        self.forget_if_stale();
        if self.arriving.is_none() && self.loss.is_none() {
            // The usual case: nothing to join, the frame is played as it came.
            self.push_and_play_pcm(frame);
            return;
        }
        let mut next = to_float(frame);
        if let Some(arriving) = self.arriving.take() {
            self.loss = None;
            let (pitch, overlap) = (arriving.pitch, arriving.pitch / 4);
            let expected = arriving.frame == next;
            let join = if expected { overlap } else { END_OVERLAP_MAX };
            for (i, n) in next.iter_mut().take(join).enumerate() {
                // The concealment ended in the cycle of the frame's first period; it goes on
                // into the frame itself, which it meets after a quarter period (or, if another
                // frame came instead, is cross-faded into that one).
                let cycled = cycle_back(&arriving.frame, pitch, i % pitch);
                let w = (i + 1) as f32 / (join + 1) as f32;
                *n = if expected {
                    cycled
                } else {
                    cycled * (1.0 - w) + *n * w
                };
            }
        } else if let Some(mut loss) = self.loss.take() {
            let blocks = loss.made.div_ceil(STEP);
            let overlap = (blocks * END_OVERLAP_STEP).min(END_OVERLAP_MAX);
            for (i, n) in next.iter_mut().take(overlap).enumerate() {
                let made = self.synthesise(&mut loss);
                let w = (i + 1) as f32 / (overlap + 1) as f32;
                *n = made * (1.0 - w) + *n * w;
            }
        }
        self.push_and_play(&next, frame);
    }

    /// Starts loading the concealer's own fields, where [`Plc::good`] begins.
    pub fn prefetch_state(&self) {
        prefetch::line(&self.end);
        prefetch::line(&self.loss);
    }

    /// Starts loading the part of the history the next frame is written to and played from
    /// (call after [`Plc::prefetch_state`]).
    pub fn prefetch_ring(&self) {
        let from = (self.end + RING - DELAY_SAMPLES) % RING;
        let upto = from + DELAY_SAMPLES + SAMPLES_PER_FRAME;
        if let Some(span) = self.ring.get(from..upto.min(RING)) {
            prefetch::lines(span);
        }
        // The part that wraps to the ring's start.
        if let Some(span) = self.ring.get(..upto.saturating_sub(RING)) {
            prefetch::lines(span);
        }
    }

    /// The frame was lost and nothing after it is known yet: `out` gets what to play in its
    /// place, the repetition of the caller's last pitch period(s).
    pub fn conceal(&mut self, out: &mut Frame) {
        let next = self.extrapolate();
        self.push_and_play(&next, out);
    }

    /// The frame was lost but the one after it, `next`, is already here (to be passed to
    /// [`Plc::good`] next): `out` gets a fade from the repetition of the past into `next`'s
    /// first pitch period repeated backwards, which leads into `next` without a seam.
    pub fn conceal_before(&mut self, out: &mut Frame, next: &Frame) {
        let mut made = self.extrapolate();
        let frame = to_float(next);
        let pitch = frame_pitch(&frame);
        let len = SAMPLES_PER_FRAME;
        for (i, m) in made.iter_mut().enumerate() {
            // Sample i of the lost frame lies len - i samples before `next` begins.
            let back = (len - i) % pitch;
            let position = if back == 0 { 0 } else { pitch - back };
            let w = (i + 1) as f32 / (len + 1) as f32;
            *m = *m * (1.0 - w) + cycle_back(&frame, pitch, position) * w;
        }
        self.arriving = Some(Arriving { frame, pitch });
        self.push_and_play(&made, out);
    }

    /// The next 20 ms of the repetition of the past, starting a loss if none is under way.
    fn extrapolate(&mut self) -> [f32; SAMPLES_PER_FRAME] {
        self.forget_if_stale();
        if self.arriving.take().is_some() {
            // The frame announced as next never came: go on from what was played.
            self.loss = None;
        }
        let mut loss = match self.loss {
            Some(loss) => loss,
            None => self.begin_loss(),
        };
        let mut next = [0.0f32; SAMPLES_PER_FRAME];
        for n in &mut next {
            *n = self.synthesise(&mut loss);
        }
        self.loss = Some(loss);
        next
    }

    /// The caller stopped sending (hold, silence suppression, the stream ended or restarted):
    /// nothing is to be concealed, and the next frame starts afresh.
    pub fn reset(&mut self) {
        self.stale = true;
        self.loss = None;
        self.arriving = None;
    }

    fn forget_if_stale(&mut self) {
        if self.stale {
            self.ring = [0; RING];
            self.stale = false;
        }
    }

    /// Appends 20 ms of made-up or joined audio to the history and writes the delayed output.
    fn push_and_play(&mut self, next: &[f32; SAMPLES_PER_FRAME], out: &mut Frame) {
        *out = next.map(sample_from_f32);
        self.push_and_play_pcm(out);
    }

    /// Appends `frame` to the history and replaces it with the delayed output.
    fn push_and_play_pcm(&mut self, frame: &mut Frame) {
        ring_write(&mut self.ring, self.end, frame);
        self.end = (self.end + SAMPLES_PER_FRAME) % RING;
        let from = (self.end + RING - SAMPLES_PER_FRAME - DELAY_SAMPLES) % RING;
        ring_read(&self.ring, from, frame);
    }

    /// Position in the ring of the sample `back` samples before the end.
    fn before_end(&self, back: usize) -> usize {
        (self.end + RING - back % RING) % RING
    }

    /// Estimates the pitch and prepares the not yet played end of the history to join the
    /// repetition that follows.
    fn begin_loss(&mut self) -> Loss {
        let oldest = self.before_end(HISTORY);
        for (k, s) in self.source.iter_mut().enumerate() {
            *s = self
                .ring
                .get((oldest + k) % RING)
                .copied()
                .map_or(0.0, f32::from);
        }
        let pitch = find_pitch(&self.source);
        let overlap = pitch / 4;
        // The last quarter period fades into the waveform one period earlier, which the
        // repetition then continues: the same cross-fade the one-period cycle wraps with.
        let cursor = Cursor { periods: 1, pos: 0 };
        for i in 0..overlap {
            let at = (self.before_end(overlap) + i) % RING;
            let pos = pitch - overlap + i;
            let value = read(&self.source, pitch, overlap, Cursor { pos, ..cursor });
            if let Some(h) = self.ring.get_mut(at) {
                *h = sample_from_f32(value);
            }
        }
        Loss {
            pitch,
            overlap,
            made: 0,
            cursor,
            fading: None,
        }
    }

    /// The next made-up sample of a loss, faded by how long it has lasted.
    fn synthesise(&self, loss: &mut Loss) -> f32 {
        let (pitch, overlap) = (loss.pitch, loss.overlap);
        if loss.made > 0
            && loss.made.is_multiple_of(PERIOD_STEP)
            && loss.cursor.periods < MAX_PERIODS
        {
            // One more period into the cycle, starting at the same phase in its oldest period.
            let longer = Cursor {
                periods: loss.cursor.periods + 1,
                pos: loss.cursor.pos % pitch,
            };
            loss.fading = Some((loss.cursor, overlap));
            loss.cursor = longer;
        }
        let mut value = read(&self.source, pitch, overlap, loss.cursor);
        advance(&mut loss.cursor, pitch);
        if let Some((mut old, left)) = loss.fading {
            let w = (overlap - left + 1) as f32 / (overlap + 1) as f32;
            value = read(&self.source, pitch, overlap, old) * (1.0 - w) + value * w;
            advance(&mut old, pitch);
            loss.fading = (left > 1).then_some((old, left - 1));
        }
        let gain = if loss.made < STEP {
            1.0
        } else {
            1.0 - (loss.made - STEP) as f32 / (SILENT_AFTER - STEP) as f32
        };
        loss.made = loss.made.saturating_add(1);
        value * gain.max(0.0)
    }
}

/// Sample `cursor.pos` of the cycle made of the last `cursor.periods` pitch periods of
/// `source`; the cycle's last quarter period fades into the samples just before its start, so
/// that wrapping around is seamless.
fn read(source: &[f32; HISTORY], pitch: usize, overlap: usize, cursor: Cursor) -> f32 {
    let len = cursor.periods * pitch;
    let start = HISTORY.saturating_sub(len);
    let at = start + cursor.pos;
    let here = source.get(at).copied().unwrap_or(0.0);
    let into_tail = (cursor.pos + overlap).checked_sub(len);
    match into_tail {
        Some(k) if overlap > 0 => {
            let before = at
                .checked_sub(len)
                .and_then(|i| source.get(i))
                .copied()
                .unwrap_or(0.0);
            let w = (k + 1) as f32 / (overlap + 1) as f32;
            here * (1.0 - w) + before * w
        }
        _ => here,
    }
}

fn advance(cursor: &mut Cursor, pitch: usize) {
    cursor.pos += 1;
    if cursor.pos >= cursor.periods * pitch {
        cursor.pos = 0;
    }
}

/// The pitch period of the end of `history`: the lag (`PITCH_MIN..=PITCH_MAX`) at which the
/// history best matches its own last 20 ms, by normalised cross-correlation.
fn find_pitch(history: &[f32; HISTORY]) -> usize {
    let target = HISTORY - CORR_LEN;
    // Coarse: every other sample and every other lag.
    let coarse = best_lag(history, target, (PITCH_MIN..=PITCH_MAX).step_by(2), 2);
    // Fine: the neighbours of the coarse winner, every sample.
    let low = coarse.saturating_sub(1).max(PITCH_MIN);
    let high = (coarse + 1).min(PITCH_MAX);
    best_lag(history, target, low..=high, 1)
}

fn best_lag(
    history: &[f32; HISTORY],
    target: usize,
    lags: impl Iterator<Item = usize>,
    stride: usize,
) -> usize {
    let Some(segment) = history.get(target..) else {
        return PITCH_MIN;
    };
    let floor = MIN_POWER * (CORR_LEN / stride) as f32;
    let mut best = (f32::MIN, PITCH_MIN);
    for lag in lags {
        let Some(earlier) = target
            .checked_sub(lag)
            .and_then(|s| history.get(s..s + CORR_LEN))
        else {
            continue;
        };
        let (mut corr, mut energy) = (0.0f32, 0.0f32);
        for (a, b) in segment.iter().zip(earlier).step_by(stride) {
            corr += a * b;
            energy += b * b;
        }
        let score = corr / (energy + floor).sqrt();
        if score > best.0 {
            best = (score, lag);
        }
    }
    best.1
}

/// Sample `position` of the cycle made of `frame`'s first `pitch` samples, repeated before
/// the frame: its first quarter period fades in from the samples one period later, so that the
/// cycle's end runs into its start (and into the frame) as smoothly as the frame itself runs.
fn cycle_back(frame: &[f32; SAMPLES_PER_FRAME], pitch: usize, position: usize) -> f32 {
    let overlap = pitch / 4;
    let here = frame.get(position).copied().unwrap_or(0.0);
    if position >= overlap {
        return here;
    }
    let later = frame.get(position + pitch).copied().unwrap_or(here);
    let w = (overlap - position) as f32 / (overlap + 1) as f32;
    later * w + here * (1.0 - w)
}

/// The pitch period of one frame on its own (for the frame after a loss): the lag at which the
/// frame best matches itself, by normalised autocorrelation over what overlaps.
fn frame_pitch(frame: &[f32; SAMPLES_PER_FRAME]) -> usize {
    let score = |lag: usize| {
        let (Some(a), Some(b)) = (frame.get(..SAMPLES_PER_FRAME - lag), frame.get(lag..)) else {
            return f32::MIN;
        };
        let (mut corr, mut ea, mut eb) = (0.0f32, 0.0f32, 0.0f32);
        for (x, y) in a.iter().zip(b) {
            corr += x * y;
            ea += x * x;
            eb += y * y;
        }
        corr / ((ea * eb).sqrt() + MIN_POWER * a.len() as f32)
    };
    let mut best = (f32::MIN, PITCH_MIN);
    for lag in PITCH_MIN..=PITCH_MAX {
        let s = score(lag);
        if s > best.0 {
            best = (s, lag);
        }
    }
    best.1
}

/// Copies `samples` into `ring` from position `at` on, wrapping at its end.
fn ring_write(ring: &mut [i16; RING], at: usize, samples: &[i16]) {
    let at = at % RING;
    let first = samples.len().min(RING - at);
    let (head, tail) = samples.split_at(first);
    if let Some(dst) = ring.get_mut(at..at + first) {
        dst.copy_from_slice(head);
    }
    if let Some(dst) = ring.get_mut(..tail.len()) {
        dst.copy_from_slice(tail);
    }
}

/// Fills `out` from `ring` starting at position `at`, wrapping at its end.
fn ring_read(ring: &[i16; RING], at: usize, out: &mut [i16]) {
    let at = at % RING;
    let first = out.len().min(RING - at);
    let (head, tail) = out.split_at_mut(first);
    if let Some(src) = ring.get(at..at + first) {
        head.copy_from_slice(src);
    }
    if let Some(src) = ring.get(..tail.len()) {
        tail.copy_from_slice(src);
    }
}

fn to_float(frame: &Frame) -> [f32; SAMPLES_PER_FRAME] {
    frame.map(f32::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sine of `freq` Hz and `amp` peak, sample `n` onwards, in 20 ms frames.
    fn sine_frames(freq: f32, amp: f32, frames: usize) -> Vec<Frame> {
        (0..frames)
            .map(|f| {
                std::array::from_fn(|i| {
                    let n = (f * SAMPLES_PER_FRAME + i) as f32;
                    (amp * (2.0 * std::f32::consts::PI * freq * n / 8000.0).sin()).round() as i16
                })
            })
            .collect()
    }

    /// Plays `input` through a concealer, losing the frames whose index `lost` says.
    fn play(input: &[Frame], lost: impl Fn(usize) -> bool) -> Vec<i16> {
        let mut plc = Plc::new();
        let mut out = Vec::new();
        for (i, f) in input.iter().enumerate() {
            let mut frame = *f;
            if lost(i) {
                plc.conceal(&mut frame);
            } else {
                plc.good(&mut frame);
            }
            out.extend_from_slice(&frame);
        }
        out
    }

    /// Like [`play`], but a lost frame whose successor arrived is concealed leading into it,
    /// as the media worker does when the jitter buffer holds the next frame.
    fn play_knowing_next(input: &[Frame], lost: impl Fn(usize) -> bool) -> Vec<i16> {
        let mut plc = Plc::new();
        let mut out = Vec::new();
        for (i, f) in input.iter().enumerate() {
            let mut frame = *f;
            match input.get(i + 1) {
                Some(next) if lost(i) && !lost(i + 1) => plc.conceal_before(&mut frame, next),
                _ if lost(i) => plc.conceal(&mut frame),
                _ => plc.good(&mut frame),
            }
            out.extend_from_slice(&frame);
        }
        out
    }

    /// Largest step between neighbouring samples in `s`.
    fn max_jump(s: &[i16]) -> i32 {
        s.windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap_or(0)
    }

    fn rms(s: &[i16]) -> f64 {
        (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
    }

    /// The largest step a clean sine of this frequency and peak takes in one sample.
    fn sine_slope(freq: f32, amp: f32) -> i32 {
        (amp * 2.0 * std::f32::consts::PI * freq / 8000.0).ceil() as i32
    }

    const AMP: f32 = 8000.0;
    /// Periods of these do not divide into whole samples, so every repetition has to be
    /// joined, not merely copied.
    const FREQS: [f32; 4] = [97.0, 146.0, 211.0, 333.0];

    #[test]
    fn frames_that_arrive_come_out_unchanged_and_3_75_ms_late() {
        let input = sine_frames(211.0, AMP, 10);
        let out = play(&input, |_| false);
        let flat: Vec<i16> = input.iter().flatten().copied().collect();
        assert!(out[..DELAY_SAMPLES].iter().all(|&s| s == 0));
        assert_eq!(&out[DELAY_SAMPLES..], &flat[..flat.len() - DELAY_SAMPLES]);
    }

    #[test]
    fn a_single_lost_frame_is_filled_with_the_tone_without_a_click() {
        for freq in FREQS {
            let input = sine_frames(freq, AMP, 12);
            let out = play(&input, |i| i == 6);
            let limit = sine_slope(freq, AMP) * 3 / 2;
            // Skip the start-up from the silent history.
            let jump = max_jump(&out[SAMPLES_PER_FRAME..]);
            assert!(
                jump <= limit,
                "{freq} Hz: a step of {jump} (a clean sine: {limit})"
            );
            let filled = &out[6 * SAMPLES_PER_FRAME + DELAY_SAMPLES..][..SAMPLES_PER_FRAME];
            let level = rms(filled) / (f64::from(AMP) / 2f64.sqrt());
            assert!(
                level > 0.8,
                "{freq} Hz: concealed at {level:.2} of the level"
            );
        }
    }

    #[test]
    fn bursts_of_lost_frames_stay_continuous() {
        for freq in FREQS {
            let input = sine_frames(freq, AMP, 30);
            // Lose 2, then 3, then 1 frames with good ones between.
            let lost = |i: usize| matches!(i, 5 | 6 | 10..=12 | 16 | 18);
            let out = play(&input, lost);
            let limit = sine_slope(freq, AMP) * 3 / 2;
            let jump = max_jump(&out[SAMPLES_PER_FRAME..]);
            assert!(
                jump <= limit,
                "{freq} Hz: a step of {jump} (a clean sine: {limit})"
            );
        }
    }

    #[test]
    fn a_long_loss_fades_to_silence_within_60_ms() {
        let input = sine_frames(146.0, AMP, 20);
        let out = play(&input, |i| (5..15).contains(&i));
        let loss_start = 5 * SAMPLES_PER_FRAME + DELAY_SAMPLES;
        let ten_ms = STEP;
        let levels: Vec<f64> = (0..6)
            .map(|k| rms(&out[loss_start + k * ten_ms..][..ten_ms]))
            .collect();
        assert!(levels[0] > 0.8 * f64::from(AMP) / 2f64.sqrt(), "{levels:?}");
        for pair in levels[1..].windows(2) {
            assert!(pair[1] < pair[0], "fading: {levels:?}");
        }
        let silent = &out[loss_start + 6 * ten_ms..10 * SAMPLES_PER_FRAME + DELAY_SAMPLES];
        assert!(silent.iter().all(|&s| s == 0), "silence after 60 ms");
        assert!(max_jump(&out[SAMPLES_PER_FRAME..]) <= sine_slope(146.0, AMP) * 3 / 2);
    }

    #[test]
    fn the_first_good_frame_after_a_loss_is_joined_smoothly_then_played_as_it_is() {
        for (lost, freq) in [(1usize, 211.0f32), (2, 97.0), (8, 333.0)] {
            let input = sine_frames(freq, AMP, 12 + lost);
            let out = play(&input, |i| (6..6 + lost).contains(&i));
            let flat: Vec<i16> = input.iter().flatten().copied().collect();
            let back = (6 + lost) * SAMPLES_PER_FRAME + DELAY_SAMPLES;
            let join = &out[back - 10..back + END_OVERLAP_MAX + 10];
            let limit = sine_slope(freq, AMP) * 3 / 2;
            assert!(
                max_jump(join) <= limit,
                "{lost} lost at {freq} Hz: {join:?}"
            );
            // After the cross-fade, exactly the input (delayed).
            let after = back + END_OVERLAP_MAX;
            assert_eq!(
                &out[after..],
                &flat[after - DELAY_SAMPLES..flat.len() - DELAY_SAMPLES]
            );
        }
    }

    #[test]
    fn a_lost_frame_whose_successor_is_here_leads_into_it_without_a_seam() {
        for freq in FREQS {
            let input = sine_frames(freq, AMP, 30);
            let lost = |i: usize| matches!(i, 5 | 10 | 11 | 16..=18 | 24);
            let out = play_knowing_next(&input, lost);
            let limit = sine_slope(freq, AMP) * 3 / 2;
            let jump = max_jump(&out[SAMPLES_PER_FRAME..]);
            assert!(
                jump <= limit,
                "{freq} Hz: a step of {jump} (a clean sine: {limit})"
            );
            // A quarter period into the next frame, the output is the input again.
            let flat: Vec<i16> = input.iter().flatten().copied().collect();
            let from = 25 * SAMPLES_PER_FRAME + DELAY_SAMPLES + PITCH_MAX / 4;
            assert_eq!(
                &out[from..],
                &flat[from - DELAY_SAMPLES..flat.len() - DELAY_SAMPLES]
            );
        }
    }

    #[test]
    fn knowing_the_next_frame_comes_closer_to_what_was_lost() {
        // A tone that swells and changes pitch, as speech does: extrapolating the past alone
        // misses both changes, leading into the next frame catches them.
        let input: Vec<Frame> = (0..12)
            .map(|f| {
                std::array::from_fn(|i| {
                    let n = (f * SAMPLES_PER_FRAME + i) as f32;
                    let amp = 2000.0 + 600.0 * n / SAMPLES_PER_FRAME as f32;
                    let phase = 2.0 * std::f32::consts::PI * (120.0 * n + 0.004 * n * n) / 8000.0;
                    (amp * phase.sin()).round() as i16
                })
            })
            .collect();
        let truth: Vec<i16> = input.iter().flatten().copied().collect();
        let error = |out: &[i16]| {
            let at = 6 * SAMPLES_PER_FRAME + DELAY_SAMPLES;
            let diff: Vec<i16> = out[at..at + SAMPLES_PER_FRAME]
                .iter()
                .zip(&truth[at - DELAY_SAMPLES..])
                .map(|(a, b)| a.saturating_sub(*b))
                .collect();
            rms(&diff)
        };
        let forward = error(&play(&input, |i| i == 6));
        let both = error(&play_knowing_next(&input, |i| i == 6));
        assert!(
            both < forward * 0.7,
            "error {both:.0} leading into the next frame, {forward:.0} without"
        );
    }

    #[test]
    fn a_frame_other_than_the_announced_one_is_still_joined_smoothly() {
        let freq = 146.0;
        let input = sine_frames(freq, AMP, 12);
        let mut plc = Plc::new();
        let mut out = Vec::new();
        for (i, f) in input.iter().enumerate() {
            let mut frame = *f;
            match i {
                5 => plc.conceal_before(&mut frame, &input[6]),
                // Frame 6 never plays (a jitter buffer skipped ahead): 7 comes instead.
                6 => continue,
                _ => plc.good(&mut frame),
            }
            out.extend_from_slice(&frame);
        }
        // 7 follows 5 directly: a phase jump in the input itself, which the join smooths.
        let jump = max_jump(&out[SAMPLES_PER_FRAME..]);
        assert!(jump <= sine_slope(freq, AMP) * 2, "a step of {jump}");
    }

    #[test]
    fn the_pitch_of_a_voice_like_tone_is_found_or_a_multiple_of_it() {
        // A fundamental with falling harmonics, as a voiced sound has.
        for period in [45usize, 64, 80, 117] {
            let mut history = [0.0f32; HISTORY];
            for (n, h) in history.iter_mut().enumerate() {
                let phase = 2.0 * std::f32::consts::PI * n as f32 / period as f32;
                *h = (1..=6)
                    .map(|k| 4000.0 / k as f32 * (k as f32 * phase + 0.3 * k as f32).sin())
                    .sum();
            }
            // A multiple of the period continues the waveform as well as the period itself.
            let found = find_pitch(&history);
            assert_eq!(found % period, 0, "period {period}, found {found}");
        }
    }

    #[test]
    fn after_a_pause_nothing_old_is_repeated() {
        let input = sine_frames(146.0, AMP, 8);
        let mut plc = Plc::new();
        for f in &input {
            let mut frame = *f;
            plc.good(&mut frame);
        }
        plc.reset();
        let mut out = [1i16; SAMPLES_PER_FRAME];
        plc.conceal(&mut out);
        assert!(out.iter().all(|&s| s == 0), "{out:?}");
    }

    #[test]
    fn silence_and_full_scale_input_are_safe() {
        let mut plc = Plc::new();
        let mut out = [0i16; SAMPLES_PER_FRAME];
        plc.conceal(&mut out);
        assert!(out.iter().all(|&s| s == 0));
        let mut loud: Frame = std::array::from_fn(|i| if i % 2 == 0 { i16::MAX } else { i16::MIN });
        plc.good(&mut loud);
        for _ in 0..5 {
            plc.conceal(&mut out);
        }
        let mut square: Frame =
            std::array::from_fn(|i| if i % 50 < 25 { i16::MAX } else { i16::MIN });
        plc.good(&mut square);
        plc.conceal(&mut out);
    }
}
