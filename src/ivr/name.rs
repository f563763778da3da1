//! A caller's recorded name (`--record-names`): a few seconds of their own voice, taken
//! after a beep in the IVR, so the meeting hears who joins and leaves and the organizer
//! hears who waits in the lobby.
//!
//! Sans-IO: the media worker feeds one 20 ms frame per tick (or nothing, when no audio
//! came) and learns when the recording is over. A name is 8 kHz linear PCM in memory only,
//! at most `MAX_NAME_FRAMES` long; it is never written anywhere nor logged, and it goes
//! away with the call (and with the last announcement that plays it).

use std::fmt;

use crate::media::codec::SAMPLES_PER_FRAME;
use crate::media::tone::rms_dbfs;

/// One 20 ms frame of linear PCM.
pub type NameFrame = [i16; SAMPLES_PER_FRAME];

/// The longest recording: 4 s of 20 ms frames.
pub const MAX_NAME_FRAMES: usize = 200;

/// Quiet frames after speech that end the recording: 1.5 s.
pub const END_SILENCE_FRAMES: usize = 75;

/// Frames louder than this are speech. Phone line noise sits far below (about -60 dBFS),
/// a voice well above (-30 to -15 dBFS).
const SPEECH_DBFS: f32 = -40.0;

/// Less speech than this (100 ms) is a click or a breath, not a name.
const MIN_SPEECH_FRAMES: usize = 5;

/// Quiet frames kept either side of the speech, so soft onsets and endings are not cut.
const PAD_FRAMES: usize = 2;

/// A name being recorded.
#[derive(Default)]
pub struct NameRecorder {
    frames: Vec<NameFrame>,
    /// The last frame loud enough to be speech: the end-of-name silence counts from there.
    last_speech: Option<usize>,
}

impl fmt::Debug for NameRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The audio itself is the caller's voice: never printed.
        f.debug_struct("NameRecorder")
            .field("frames", &self.frames.len())
            .finish()
    }
}

impl NameRecorder {
    /// An empty recording, started at the end of the beep.
    pub fn new() -> Self {
        Self::default()
    }

    /// One tick of the caller's audio (None: nothing arrived, or a key tone was sounding).
    /// True once the recording is over: silence after speech, or the length limit.
    pub fn push(&mut self, frame: Option<&NameFrame>) -> bool {
        if self.is_over() {
            return true;
        }
        let index = self.frames.len();
        let pcm = frame.copied().unwrap_or([0; SAMPLES_PER_FRAME]);
        if is_speech(&pcm) {
            self.last_speech = Some(index);
        }
        self.frames.push(pcm);
        self.is_over()
    }

    /// True once the limit is reached or the caller has been quiet long enough after speaking.
    pub fn is_over(&self) -> bool {
        self.frames.len() >= MAX_NAME_FRAMES
            || self
                .last_speech
                .is_some_and(|last| self.frames.len() - 1 - last >= END_SILENCE_FRAMES)
    }

    /// The name, trimmed to the speech and a little padding; None when the caller said
    /// nothing. The last `drop_tail` frames are discarded first: when a key sent as a tone
    /// ended the recording, its first frames are in there.
    pub fn finish(mut self, drop_tail: usize) -> Option<RecordedName> {
        let keep = self.frames.len().saturating_sub(drop_tail);
        self.frames.truncate(keep);
        let mut speech = self.frames.iter().enumerate().filter(|(_, f)| is_speech(f));
        let first = speech.next()?.0;
        let (count, last) = speech.fold((1, first), |(n, _), (i, _)| (n + 1, i));
        if count < MIN_SPEECH_FRAMES {
            return None;
        }
        let start = first.saturating_sub(PAD_FRAMES);
        let end = (last + 1 + PAD_FRAMES).min(keep);
        let frames = self.frames.get(start..end)?.into();
        Some(RecordedName { frames })
    }
}

fn is_speech(frame: &NameFrame) -> bool {
    rms_dbfs(frame) >= SPEECH_DBFS
}

/// A recorded name, ready to be mixed into a meeting or played to an organizer.
pub struct RecordedName {
    frames: Box<[NameFrame]>,
}

impl fmt::Debug for RecordedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedName")
            .field("frames", &self.frames.len())
            .finish()
    }
}

impl RecordedName {
    /// The name's frames, in order.
    pub fn frames(&self) -> &[NameFrame] {
        &self.frames
    }

    /// One frame, if the name is that long.
    pub fn frame(&self, index: usize) -> Option<&NameFrame> {
        self.frames.get(index)
    }

    /// Length in 20 ms frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True for a name without a frame (never made by `NameRecorder`).
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: NameFrame = [0; SAMPLES_PER_FRAME];

    /// A frame of speech-level audio whose samples say which frame it was.
    fn voice(n: i16) -> NameFrame {
        std::array::from_fn(|i| if i % 2 == 0 { 4000 + n } else { -4000 - n })
    }

    fn feed(r: &mut NameRecorder, frames: &[Option<NameFrame>]) -> Option<usize> {
        frames
            .iter()
            .position(|f| r.push(f.as_ref()))
            .map(|i| i + 1)
    }

    #[test]
    fn speech_then_a_second_and_a_half_of_silence_ends_it_trimmed_and_padded() {
        let mut r = NameRecorder::new();
        let mut input = vec![None; 30]; // 600 ms before the caller speaks (no RTP yet)
        input.extend((0..40).map(|n| Some(voice(n))));
        input.extend(vec![Some(QUIET); 200]);
        let over = feed(&mut r, &input).expect("ends");
        assert_eq!(
            over,
            30 + 40 + END_SILENCE_FRAMES,
            "1.5 s after the last word"
        );
        let name = r.finish(0).expect("a name");
        assert_eq!(name.len(), PAD_FRAMES + 40 + PAD_FRAMES);
        assert_eq!(name.frames()[0], QUIET);
        assert_eq!(
            name.frames()[PAD_FRAMES],
            voice(0),
            "starts with the speech"
        );
        assert_eq!(name.frames()[PAD_FRAMES + 39], voice(39));
        assert_eq!(name.frames()[name.len() - 1], QUIET);
    }

    #[test]
    fn the_recording_stops_at_four_seconds_even_mid_word() {
        let mut r = NameRecorder::new();
        let input: Vec<Option<NameFrame>> = (0..300).map(|n| Some(voice(n))).collect();
        assert_eq!(feed(&mut r, &input), Some(MAX_NAME_FRAMES));
        assert!(r.push(Some(&voice(0))), "stays over");
        let name = r.finish(0).expect("a name");
        assert_eq!(name.len(), MAX_NAME_FRAMES, "bounded");
        assert_eq!(name.frames()[MAX_NAME_FRAMES - 1], voice(199));
    }

    #[test]
    fn a_caller_who_says_nothing_has_no_name_after_the_limit() {
        let mut r = NameRecorder::new();
        let input = vec![Some([3; SAMPLES_PER_FRAME]); MAX_NAME_FRAMES];
        assert_eq!(feed(&mut r, &input), Some(MAX_NAME_FRAMES));
        assert!(r.finish(0).is_none());
    }

    #[test]
    fn a_click_is_not_a_name() {
        let mut r = NameRecorder::new();
        r.push(Some(&voice(1)));
        r.push(Some(&voice(2)));
        for _ in 0..10 {
            r.push(Some(&QUIET));
        }
        assert!(r.finish(0).is_none());
    }

    #[test]
    fn a_key_ending_the_recording_takes_its_tone_frames_with_it() {
        let mut r = NameRecorder::new();
        for _ in 0..5 {
            r.push(None);
        }
        for n in 0..20 {
            r.push(Some(&voice(n)));
        }
        for _ in 0..10 {
            r.push(Some(&QUIET));
        }
        // The in-band '#' sounds in the last three frames before it is detected.
        for n in 0..3 {
            r.push(Some(&voice(100 + n)));
        }
        let name = r.finish(3).expect("a name");
        assert_eq!(name.len(), PAD_FRAMES + 20 + PAD_FRAMES);
        assert!(!name.frames().contains(&voice(100)), "no key tone");
        let mut only_key = NameRecorder::new();
        for n in 0..6 {
            only_key.push(Some(&voice(n)));
        }
        assert!(only_key.finish(6).is_none(), "nothing but the key");
    }
}
