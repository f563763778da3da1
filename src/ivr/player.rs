//! What one caller hears when not in the mix: a queue of prompts, then hold music or silence.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::ivr::assets::{Assets, EncodedAudio, Frame};
use crate::ivr::name::RecordedName;
use crate::ivr::prompt::Prompt;
use crate::media::codec::{Law, SAMPLES_PER_FRAME};
use crate::media::g711;

/// What plays once the prompt queue is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Background {
    /// Nothing (silence frames).
    Silence,
    /// The hold music, looped, continuing where it left off.
    HoldMusic,
}

/// Something a player can play to one caller.
#[derive(Clone, Debug)]
pub enum Item {
    /// A prompt from the assets.
    Prompt(Prompt),
    /// A caller's recorded name (played to an organizer going through the lobby).
    Name(Arc<RecordedName>),
}

impl From<Prompt> for Item {
    fn from(prompt: Prompt) -> Self {
        Item::Prompt(prompt)
    }
}

/// A caller's prompt player. Holds positions only; the audio itself is shared in `Assets`
/// (or in the recorded name it plays).
#[derive(Debug)]
pub struct Player {
    queue: VecDeque<Item>,
    /// Frame index into the front item of `queue`.
    position: usize,
    background: Background,
    /// Frame index into the hold music, kept across prompts.
    hold_position: usize,
}

/// One frame of what the player plays, ready in every form a caller may need.
// A name frame is carried by value (320 bytes on the stack for one tick): it lives in the
// player's own queue, which the tick must not keep borrowed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug)]
pub enum FrameRef<'a> {
    /// A frame of a prompt or of the hold music, pre-encoded in the assets.
    Asset {
        /// The recording.
        audio: &'a EncodedAudio,
        /// Which frame of it.
        index: usize,
    },
    /// A frame of a recorded name (8 kHz samples), encoded for each listener as it plays.
    Name([i16; SAMPLES_PER_FRAME]),
}

impl FrameRef<'_> {
    /// The frame in a G.711 law.
    pub fn g711(&self, law: Law) -> Option<Frame> {
        match self {
            FrameRef::Asset { audio, index } => audio.frames(law).get(*index).copied(),
            FrameRef::Name(pcm) => {
                let mut frame = [0u8; SAMPLES_PER_FRAME];
                g711::encode(law, pcm, &mut frame);
                Some(frame)
            }
        }
    }

    /// The linear 8 kHz frame, for codecs that encode per caller.
    pub fn pcm(&self) -> Option<[i16; SAMPLES_PER_FRAME]> {
        match self {
            FrameRef::Asset { audio, index } => audio.pcm_frames().get(*index).copied(),
            FrameRef::Name(pcm) => Some(*pcm),
        }
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

impl Tick<'_> {
    /// The tick's frame in a G.711 law, if it has sound.
    pub fn frame(&self, law: Law) -> Option<Frame> {
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
        self.play_items(prompts.iter().copied().map(Item::Prompt));
    }

    /// Replaces whatever is playing with these items (prompts and recorded names).
    pub fn play_items(&mut self, items: impl IntoIterator<Item = Item>) {
        self.queue.clear();
        self.queue.extend(items);
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
        while let Some(item) = self.queue.front() {
            let frame = match item {
                Item::Prompt(prompt) => {
                    let audio = assets.prompt(*prompt);
                    (self.position < audio.len()).then_some(FrameRef::Asset {
                        audio,
                        index: self.position,
                    })
                }
                Item::Name(name) => name.frame(self.position).map(|pcm| FrameRef::Name(*pcm)),
            };
            if let Some(frame) = frame {
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
                let index = hold_index(self.hold_position, audio);
                self.hold_position = index + 1;
                Some(FrameRef::Asset { audio, index })
            }
        }
    }

    /// Starts loading the frame the next [`Player::next`] plays, in the form the caller's
    /// codec needs (`law`, or None for linear): a tick asks for it one caller ahead.
    pub fn prefetch_next(&self, assets: &Assets, law: Option<Law>) {
        let (audio, index) = match self.queue.front() {
            Some(Item::Prompt(prompt)) => (assets.prompt(*prompt), self.position),
            // Names play to an organizer going through the lobby: too rare to ask ahead.
            Some(Item::Name(_)) => return,
            None => match self.background {
                Background::Silence => return,
                Background::HoldMusic => {
                    let audio = assets.hold_music();
                    (audio, hold_index(self.hold_position, audio))
                }
            },
        };
        audio.prefetch_frame(index, law);
    }
}

/// The hold music's frame at `position`, back to the start past the end: a compare, not a
/// division, since a held caller asks for it every frame.
fn hold_index(position: usize, audio: &EncodedAudio) -> usize {
    if position < audio.len() { position } else { 0 }
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
            t.frame(Law::A).as_ref(),
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
            assert_eq!(
                p.next(&a).frame(Law::Mu).as_ref(),
                Some(&hold[i % hold.len()])
            );
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
            t.frame(Law::Mu).as_ref(),
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

    #[test]
    fn a_recorded_name_plays_in_the_listeners_codec_between_prompts() {
        let a = assets();
        let mut r = crate::ivr::name::NameRecorder::new();
        let loud: [i16; SAMPLES_PER_FRAME] = std::array::from_fn(|i| (i as i16 - 80) * 60);
        for _ in 0..12 {
            r.push(Some(&loud));
        }
        let name = Arc::new(r.finish(0).expect("a name"));
        let mut p = Player::new();
        p.set_background(Background::HoldMusic);
        p.play_items([
            Item::Name(Arc::clone(&name)),
            Item::Prompt(Prompt::AdmitChoices),
        ]);
        let mut want = [0u8; SAMPLES_PER_FRAME];
        for pcm in name.frames() {
            g711::encode(Law::A, pcm, &mut want);
            assert_eq!(p.next(&a).frame(Law::A), Some(want));
        }
        assert_eq!(
            p.next(&a).frame(Law::A).as_ref(),
            a.prompt(Prompt::AdmitChoices).frames(Law::A).first(),
            "the prompt follows at once"
        );
        let hold = a.hold_music().frames(Law::A);
        let rest = a.prompt(Prompt::AdmitChoices).len() - 1;
        for _ in 0..rest {
            p.next(&a);
        }
        let t = p.next(&a);
        assert!(t.prompts_finished);
        assert_eq!(
            t.frame(Law::A).as_ref(),
            Some(&hold[0]),
            "then the hold music"
        );
    }
}
