//! What one caller hears when not in the mix: a queue of prompts, then hold music or silence.

use std::collections::VecDeque;

use crate::ivr::prompt::Prompt;
use crate::media::assets::{Assets, EncodedAudio, Frame};
use crate::media::codec::{Law, SAMPLES_PER_FRAME};

/// What plays once the prompt queue is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Background {
    /// Nothing (silence frames).
    Silence,
    /// The hold music, looped, continuing where it left off.
    HoldMusic,
}

/// A caller's prompt player. Holds positions only; the audio itself is shared in `Assets`.
#[derive(Debug)]
pub struct Player {
    queue: VecDeque<Prompt>,
    /// Frame index into the front prompt of `queue`.
    position: usize,
    background: Background,
    /// Frame index into the hold music, kept across prompts.
    hold_position: usize,
}

/// One frame of a recording, ready in every form a caller may need.
#[derive(Clone, Copy, Debug)]
pub struct FrameRef<'a> {
    audio: &'a EncodedAudio,
    index: usize,
}

impl<'a> FrameRef<'a> {
    /// The pre-encoded G.711 frame.
    pub fn g711(&self, law: Law) -> Option<&'a Frame> {
        self.audio.frames(law).get(self.index)
    }

    /// The linear 8 kHz frame.
    pub fn pcm(&self) -> Option<&'a [i16; SAMPLES_PER_FRAME]> {
        self.audio.pcm_frames().get(self.index)
    }
}

/// One tick's output of the player.
#[derive(Clone, Copy, Debug)]
pub struct Tick<'a> {
    /// The frame to send, or None for silence.
    pub frame: Option<FrameRef<'a>>,
    /// True on the tick the last queued prompt finished.
    pub prompts_finished: bool,
}

impl<'a> Tick<'a> {
    /// The tick's pre-encoded G.711 frame, if it has sound.
    pub fn frame(&self, law: Law) -> Option<&'a Frame> {
        self.frame.and_then(|f| f.g711(law))
    }
}

impl Default for Player {
    fn default() -> Self {
        Player::new()
    }
}

impl Player {
    /// A silent player.
    pub fn new() -> Self {
        Player {
            queue: VecDeque::new(),
            position: 0,
            background: Background::Silence,
            hold_position: 0,
        }
    }

    /// Replaces whatever is playing with these prompts.
    pub fn play(&mut self, prompts: &[Prompt]) {
        self.queue.clear();
        self.queue.extend(prompts.iter().copied());
        self.position = 0;
    }

    /// Stops the prompts now (barge-in); the background continues.
    pub fn stop(&mut self) {
        self.queue.clear();
        self.position = 0;
    }

    /// Chooses what plays after the prompts.
    pub fn set_background(&mut self, background: Background) {
        self.background = background;
    }

    /// True while a prompt is playing.
    pub fn is_playing(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Advances by one 20 ms frame.
    pub fn next<'a>(&mut self, assets: &'a Assets) -> Tick<'a> {
        while let Some(&prompt) = self.queue.front() {
            let audio = assets.prompt(prompt);
            if self.position < audio.len() {
                let frame = FrameRef {
                    audio,
                    index: self.position,
                };
                self.position += 1;
                return Tick {
                    frame: Some(frame),
                    prompts_finished: false,
                };
            }
            self.queue.pop_front();
            self.position = 0;
            if self.queue.is_empty() {
                let frame = self.background_frame(assets);
                return Tick {
                    frame,
                    prompts_finished: true,
                };
            }
        }
        Tick {
            frame: self.background_frame(assets),
            prompts_finished: false,
        }
    }

    fn background_frame<'a>(&mut self, assets: &'a Assets) -> Option<FrameRef<'a>> {
        match self.background {
            Background::Silence => None,
            Background::HoldMusic => {
                let audio = assets.hold_music();
                if audio.is_empty() {
                    return None;
                }
                let index = self.hold_position % audio.len();
                self.hold_position = (index + 1) % audio.len();
                Some(FrameRef { audio, index })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assets() -> Assets {
        Assets::bundled().expect("bundled assets decode")
    }

    #[test]
    fn prompts_play_in_order_then_report_finished_once() {
        let a = assets();
        let mut p = Player::new();
        p.play(&[Prompt::Goodbye, Prompt::WrongPin]);
        let n = a.prompt(Prompt::Goodbye).len() + a.prompt(Prompt::WrongPin).len();
        let mut finished = 0;
        let mut frames = 0;
        for _ in 0..n + 10 {
            let t = p.next(&a);
            if t.frame.is_some() {
                frames += 1;
            }
            if t.prompts_finished {
                finished += 1;
            }
        }
        assert_eq!(frames, n);
        assert_eq!(finished, 1);
        assert!(!p.is_playing());
    }

    #[test]
    fn first_frame_is_the_prompts_first_frame_in_the_callers_codec() {
        let a = assets();
        let mut p = Player::new();
        p.play(&[Prompt::Welcome]);
        let t = p.next(&a);
        assert_eq!(
            t.frame(Law::A),
            a.prompt(Prompt::Welcome).frames(Law::A).first()
        );
    }

    #[test]
    fn hold_music_loops_without_gaps_and_resumes_after_a_prompt() {
        let a = assets();
        let hold = a.hold_music().frames(Law::Mu);
        let mut p = Player::new();
        p.set_background(Background::HoldMusic);
        for i in 0..hold.len() + 3 {
            assert_eq!(p.next(&a).frame(Law::Mu), Some(&hold[i % hold.len()]));
        }
        p.play(&[Prompt::Goodbye]);
        let g = a.prompt(Prompt::Goodbye).len();
        for _ in 0..g {
            p.next(&a);
        }
        // The prompt's end tick already carries the next hold-music frame.
        let t = p.next(&a);
        assert!(t.prompts_finished);
        assert_eq!(
            t.frame(Law::Mu),
            Some(&hold[3]),
            "music continues where it left off"
        );
    }

    #[test]
    fn stop_silences_prompts_at_once() {
        let a = assets();
        let mut p = Player::new();
        p.play(&[Prompt::Welcome]);
        p.next(&a);
        p.stop();
        assert!(p.next(&a).frame.is_none());
    }
}
