//! What a running meeting hears when someone joins or leaves: a chime, or — when callers
//! recorded their names — the name followed by "has joined" / "has left".
//!
//! Announcements queue, so two people joining at once are both heard, one after the other.
//! The meeting's mix takes one 8 kHz frame per tick from here, together with the caller it
//! is about, who is left out of hearing it.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::ivr::assets::{Assets, Chime};
use crate::ivr::name::RecordedName;
use crate::ivr::prompt::Prompt;
use crate::media::codec::SAMPLES_PER_FRAME;

/// One 20 ms frame of 8 kHz audio: announcements are made at the prompts' rate.
pub type Pcm = [i16; SAMPLES_PER_FRAME];

/// Announcements waiting or playing in one meeting; more are dropped, so a crowd let in at
/// once cannot keep the meeting listening to names for minutes.
pub const MAX_QUEUED: usize = 6;

/// One thing to announce.
#[derive(Clone, Debug)]
pub enum Announcement {
    /// A short tone (no name was recorded).
    Chime(Chime),
    /// The caller's own voice saying their name, then a prompt ("has joined").
    Name {
        /// The recording.
        name: Arc<RecordedName>,
        /// Said right after the name.
        then: Prompt,
    },
}

impl Announcement {
    /// Someone joined: their name and "has joined", or the join chime without a name.
    pub fn joined(name: Option<Arc<RecordedName>>) -> Self {
        match name {
            Some(name) => Announcement::Name {
                name,
                then: Prompt::HasJoined,
            },
            None => Announcement::Chime(Chime::Join),
        }
    }

    /// Someone left: their name and "has left", or the leave chime without a name.
    pub fn left(name: Option<Arc<RecordedName>>) -> Self {
        match name {
            Some(name) => Announcement::Name {
                name,
                then: Prompt::HasLeft,
            },
            None => Announcement::Chime(Chime::Leave),
        }
    }

    /// Frame `index` of the announcement as linear PCM, or None past its end.
    fn frame(&self, assets: &Assets, index: usize) -> Option<Pcm> {
        match self {
            Announcement::Chime(chime) => assets.chime(*chime).get(index).copied(),
            Announcement::Name { name, then } => {
                if let Some(frame) = name.frame(index) {
                    return Some(*frame);
                }
                assets
                    .prompt(*then)
                    .pcm_frames()
                    .get(index - name.len())
                    .copied()
            }
        }
    }
}

/// A meeting's announcements: the one playing first, then the ones waiting, in order.
#[derive(Debug)]
pub struct Announcer<K> {
    queue: VecDeque<(Announcement, Option<K>)>,
    /// The next frame of the front announcement.
    position: usize,
}

impl<K> Default for Announcer<K> {
    fn default() -> Self {
        Announcer {
            queue: VecDeque::new(),
            position: 0,
        }
    }
}

impl<K: Copy> Announcer<K> {
    /// Nothing to announce.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues an announcement about `about` (who will not hear it); false if the queue is
    /// full and it was dropped.
    pub fn push(&mut self, announcement: Announcement, about: Option<K>) -> bool {
        if self.queue.len() >= MAX_QUEUED {
            return false;
        }
        self.queue.push_back((announcement, about));
        true
    }

    /// Drops everything, the one playing included (announcements were turned off).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.position = 0;
    }

    /// Announcements playing or waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when nothing plays or waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// This tick's frame to mix in, with the caller it is about; the next announcement
    /// follows the previous one without a gap.
    pub fn next_frame(&mut self, assets: &Assets) -> Option<(Pcm, Option<K>)> {
        loop {
            let (announcement, about) = self.queue.front()?;
            if let Some(frame) = announcement.frame(assets, self.position) {
                self.position += 1;
                return Some((frame, *about));
            }
            self.queue.pop_front();
            self.position = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ivr::name::NameRecorder;

    fn assets() -> Assets {
        Assets::bundled().expect("bundled assets")
    }

    /// A recorded name of `n` frames of a loud square wave.
    fn name(n: usize) -> Arc<RecordedName> {
        let mut r = NameRecorder::new();
        for _ in 0..n {
            r.push(Some(&[6000; SAMPLES_PER_FRAME]));
        }
        Arc::new(r.finish(0).expect("a name"))
    }

    fn drain(a: &mut Announcer<u32>, assets: &Assets) -> Vec<(Pcm, Option<u32>)> {
        std::iter::from_fn(|| a.next_frame(assets)).collect()
    }

    fn prompt_pcm(assets: &Assets, p: Prompt) -> Vec<Pcm> {
        assets.prompt(p).pcm_frames().to_vec()
    }

    #[test]
    fn a_name_is_followed_by_has_joined_and_names_who_it_is_about() {
        let a = assets();
        let mut ann = Announcer::new();
        let n = name(30);
        assert!(ann.push(Announcement::joined(Some(Arc::clone(&n))), Some(7)));
        let frames = drain(&mut ann, &a);
        let has_joined = prompt_pcm(&a, Prompt::HasJoined);
        assert_eq!(frames.len(), n.len() + has_joined.len());
        assert!(frames.iter().all(|(_, about)| *about == Some(7)));
        let heard: Vec<Pcm> = frames.into_iter().map(|(f, _)| f).collect();
        assert_eq!(&heard[..n.len()], n.frames());
        assert_eq!(&heard[n.len()..], &has_joined[..]);
        assert!(ann.is_empty());
    }

    #[test]
    fn without_a_name_it_is_the_chime_and_leaving_says_has_left() {
        let a = assets();
        let mut ann = Announcer::new();
        ann.push(Announcement::left(None), Some(1));
        let chime: Vec<Pcm> = drain(&mut ann, &a).into_iter().map(|(f, _)| f).collect();
        assert_eq!(chime, a.chime(Chime::Leave));
        let n = name(10);
        ann.push(Announcement::left(Some(Arc::clone(&n))), None);
        let heard: Vec<Pcm> = drain(&mut ann, &a).into_iter().map(|(f, _)| f).collect();
        assert_eq!(&heard[n.len()..], &prompt_pcm(&a, Prompt::HasLeft)[..]);
    }

    #[test]
    fn two_joining_at_once_are_both_heard_one_after_the_other() {
        let a = assets();
        let mut ann = Announcer::new();
        let (first, second) = (name(20), name(40));
        ann.push(Announcement::joined(Some(Arc::clone(&first))), Some(1));
        ann.push(Announcement::joined(Some(Arc::clone(&second))), Some(2));
        assert_eq!(ann.len(), 2);
        let frames = drain(&mut ann, &a);
        let one = first.len() + a.prompt(Prompt::HasJoined).len();
        let two = second.len() + a.prompt(Prompt::HasJoined).len();
        assert_eq!(frames.len(), one + two, "no gap, nothing lost");
        assert!(frames[..one].iter().all(|(_, w)| *w == Some(1)));
        assert!(frames[one..].iter().all(|(_, w)| *w == Some(2)));
    }

    #[test]
    fn the_queue_is_bounded_and_clear_silences_it_at_once() {
        let a = assets();
        let mut ann = Announcer::new();
        for i in 0..MAX_QUEUED as u32 {
            assert!(ann.push(Announcement::joined(None), Some(i)));
        }
        assert!(!ann.push(Announcement::joined(None), Some(99)), "full");
        assert_eq!(
            drain(&mut ann, &a).len(),
            MAX_QUEUED * a.chime(Chime::Join).len()
        );
        ann.push(Announcement::joined(Some(name(10))), None);
        assert!(ann.next_frame(&a).is_some());
        ann.clear();
        assert!(ann.next_frame(&a).is_none());
    }
}
