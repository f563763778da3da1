//! A small per-call jitter buffer for 20 ms G.711 frames: packets arrive with jitter, loss,
//! duplication and reordering; the mixer takes exactly one frame per 20 ms tick.
//!
//! Fixed capacity (16 frames, 320 ms) in one inline array: no allocation per packet, bounded
//! memory per call, and bounded latency (frames are skipped when the sender's clock runs fast
//! or a burst arrives). Frames are ordered by the extended sequence number from
//! [`SeqTracker`](super::rtp::SeqTracker), so 16-bit wrap-around is already handled.
//!
//! Only 20 ms frames are handled properly for now: a payload of another length (ptime 10 or
//! 30) is stored truncated to 160 bytes and its real length reported, and each still takes one
//! 20 ms tick.

use std::fmt;

use super::codec::SAMPLES_PER_FRAME;
use super::prefetch;

/// Bytes in one 20 ms G.711 frame (one byte per sample).
const FRAME_BYTES: usize = SAMPLES_PER_FRAME;

/// Slots in the ring: the most frames ever held, 320 ms.
const CAPACITY: usize = 16;
const CAPACITY_U64: u64 = CAPACITY as u64;

/// An empty buffer at most this many ticks after the last new frame is one frame late or lost,
/// not a pause: the frame stored just before the previous tick's pop is the newest a steady
/// sender can have delivered when its next one is a little late.
const LATE_TICKS: u32 = 2;

/// Largest playout depth a caller may ask for (160 ms); more leaves no room for bursts.
const MAX_TARGET: usize = 8;

/// How many frames beyond the target the newest frame may sit before we skip ahead; absorbs
/// bursts after a network stall without letting a fast sender clock build up delay.
const MAX_EXTRA: usize = 6;

/// What the jitter buffer has for one 20 ms tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Playout {
    /// The next frame in sequence, this many bytes long (1 to 160).
    Frame(usize),
    /// The next frame is missing but later ones arrived, or the sender was sending a tick ago:
    /// it was lost or is too late, and the listener should hear it concealed.
    Lost,
    /// Nothing to play: the stream has not started, is filling up to its depth, or the sender
    /// paused or stopped (hold, silence suppression, the end of a stream).
    Idle,
}

impl Playout {
    /// The frame's length, if a frame was played.
    pub fn frame(self) -> Option<usize> {
        match self {
            Playout::Frame(len) => Some(len),
            Playout::Lost | Playout::Idle => None,
        }
    }
}

#[derive(Clone, Copy)]
struct Slot {
    seq: u64,
    filled: bool,
    len: u8,
    data: [u8; FRAME_BYTES],
}

const EMPTY_SLOT: Slot = Slot {
    seq: 0,
    filled: false,
    len: 0,
    data: [0; FRAME_BYTES],
};

/// Reorders and paces one call's received frames for the 20 ms media clock.
#[derive(Clone)]
pub struct JitterBuffer {
    slots: [Slot; CAPACITY],
    target: usize,
    /// Sequence number of the next frame to play; None until the first frame arrives.
    head: Option<u64>,
    /// Highest stored sequence number (meaningful while `count > 0`).
    highest: u64,
    count: usize,
    /// Playout has begun (enough frames were buffered); cleared again on underrun.
    playing: bool,
    /// The head has moved since the last reset, so frames below it are gone for good.
    played: bool,
    /// Ticks since a new frame was stored: a sender that was sending a tick ago and has
    /// nothing now is more likely late than pausing.
    ticks_since_frame: u32,
    /// The head was moved on past a frame guessed late or lost at an empty buffer; undone if
    /// the sender turns out to be pausing.
    guessed: bool,
}

impl fmt::Debug for JitterBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JitterBuffer")
            .field("target", &self.target)
            .field("head", &self.head)
            .field("count", &self.count)
            .field("playing", &self.playing)
            .finish_non_exhaustive()
    }
}

impl JitterBuffer {
    /// A buffer that starts (and, after an underrun, resumes) playout once
    /// `target_depth_frames` frames are buffered; clamped to 1..=8 (2 = 40 ms is a good
    /// default on a LAN or a trunk).
    pub fn new(target_depth_frames: usize) -> Self {
        JitterBuffer {
            slots: [EMPTY_SLOT; CAPACITY],
            target: target_depth_frames.clamp(1, MAX_TARGET),
            head: None,
            highest: 0,
            count: 0,
            playing: false,
            played: false,
            ticks_since_frame: 0,
            guessed: false,
        }
    }

    /// Stores a frame by its extended sequence number; drops frames that are late (behind the
    /// playout point), duplicates and empty payloads, and starts over from this frame if it is
    /// 16 or more frames ahead of the playout point (the sender jumped).
    pub fn push(&mut self, extended_seq: u64, payload: &[u8]) {
        if payload.is_empty() {
            return;
        }
        let Some(head) = self.head else {
            self.head = Some(extended_seq);
            self.store(extended_seq, payload);
            return;
        };
        if extended_seq < head {
            if self.guessed && extended_seq.saturating_add(1) == head {
                // The frame guessed late at an empty buffer came after all: it plays next, a
                // tick later than planned, and what was concealed meanwhile becomes extra
                // time; from now on the buffer holds one more frame for such a sender.
                self.guessed = false;
                self.head = Some(extended_seq);
                self.store(extended_seq, payload);
                return;
            }
            if self.played {
                return; // late: its slot was already played or skipped
            }
            // Before playout starts, a reordered earlier frame may become the new head as long
            // as everything buffered still fits in the ring.
            let top = if self.count > 0 { self.highest } else { head };
            if top - extended_seq >= CAPACITY_U64 {
                return;
            }
            self.head = Some(extended_seq);
        } else if extended_seq - head >= CAPACITY_U64 {
            self.reset();
            self.head = Some(extended_seq);
        }
        self.store(extended_seq, payload);
    }

    /// Puts a frame in its slot. Invariant: every filled slot holds a sequence number in
    /// `head..head + CAPACITY`, so a filled slot for `seq` holds `seq` itself.
    fn store(&mut self, seq: u64, payload: &[u8]) {
        let Some(slot) = self.slots.get_mut(slot_index(seq)) else {
            return;
        };
        if slot.filled {
            return; // duplicate
        }
        let len = payload.len().min(FRAME_BYTES);
        let (Some(dst), Some(src)) = (slot.data.get_mut(..len), payload.get(..len)) else {
            return;
        };
        dst.copy_from_slice(src);
        // len <= 160 fits in a u8.
        slot.len = len as u8;
        slot.seq = seq;
        slot.filled = true;
        self.highest = if self.count == 0 {
            seq
        } else {
            self.highest.max(seq)
        };
        self.count += 1;
        self.ticks_since_frame = 0;
    }

    /// Called once per 20 ms tick: the next frame in sequence (copied into `out`), or why
    /// there is none: [`Playout::Lost`] when it is missing while later frames are here (the
    /// mixer conceals it), [`Playout::Idle`] when nothing is buffered or playout has not
    /// started (the caller is not sending: nothing to conceal). If the newest frame is more
    /// than target + 6 frames ahead, the oldest frames are skipped so latency stays bounded.
    ///
    /// An empty buffer cannot tell a late frame from a pause until the next tick. If a frame
    /// came within the last two ticks, the first empty tick is taken as one frame late or lost
    /// (`Lost`: concealed, and dropped should it still come) rather than stalling playout and
    /// adding delay; a second empty tick is a pause (hold, silence suppression, the end): the
    /// guess is undone, the playout point stays put and playout waits for the target depth
    /// again, so the sender resumes cleanly. The start of a pause may so be concealed for one
    /// frame (which fades, see `plc`), never longer.
    pub fn pop(&mut self, out: &mut [u8; FRAME_BYTES]) -> Playout {
        let Some(mut head) = self.head else {
            return Playout::Idle;
        };
        self.ticks_since_frame = self.ticks_since_frame.saturating_add(1);
        if !self.playing {
            if self.count < self.target {
                return Playout::Idle;
            }
            self.playing = true;
        }
        let high_water = (self.target + MAX_EXTRA).min(CAPACITY) as u64;
        while self.count > 0 && self.highest - head >= high_water {
            self.discard(head);
            head = head.saturating_add(1);
            self.played = true;
        }
        self.head = Some(head);
        if self.count == 0 {
            if self.ticks_since_frame <= LATE_TICKS && !self.guessed {
                // The stream was running a tick ago: take the missing frame as late or lost,
                // once. Should it come after all, it is too late and dropped.
                self.guessed = true;
                self.head = Some(head.saturating_add(1));
                self.played = true;
                return Playout::Lost;
            }
            // A pause (hold, silence suppression, the end): put the playout point back where
            // the guess moved it from, so the sender's next frame plays when it comes.
            if std::mem::take(&mut self.guessed) {
                self.head = Some(head.saturating_sub(1));
            }
            self.playing = false;
            return Playout::Idle;
        }
        self.guessed = false;
        let frame = self.take(head, out);
        self.head = Some(head.saturating_add(1));
        self.played = true;
        // Something later is buffered (count > 0), so a missing head is a gap in the stream.
        frame.map_or(Playout::Lost, Playout::Frame)
    }

    /// Starts loading what the next [`pop`](Self::pop) reads: the buffer's own fields, then
    /// the head frame's slot (whose place those fields give).
    pub fn prefetch_pop(&self) {
        prefetch::line(&self.count);
        prefetch::line(&self.head);
    }

    /// Starts loading the slot the next [`pop`](Self::pop) plays (call after
    /// [`prefetch_pop`](Self::prefetch_pop), once the fields are on their way).
    pub fn prefetch_head_slot(&self) {
        if let Some(slot) = self.head.and_then(|head| self.slots.get(slot_index(head))) {
            prefetch::lines(std::slice::from_ref(slot));
        }
    }

    /// Starts loading the slot a frame with this RTP sequence number goes to (the extended
    /// number's slot is the 16-bit number's, since 2^16 is a multiple of the capacity).
    pub fn prefetch_slot_for(&self, sequence: u16) {
        if let Some(slot) = self.slots.get(slot_index(u64::from(sequence))) {
            prefetch::lines(std::slice::from_ref(slot));
        }
    }

    /// Copies out the frame the next [`pop`](Self::pop) plays, if it is already here (it is
    /// left in place): after a lost frame, its successor lets the concealment lead into it.
    pub fn peek(&self, out: &mut [u8; FRAME_BYTES]) -> Option<usize> {
        let head = self.head?;
        let slot = self.slots.get(slot_index(head))?;
        if !slot.filled || slot.seq != head {
            return None;
        }
        let len = usize::from(slot.len);
        out.get_mut(..len)?.copy_from_slice(slot.data.get(..len)?);
        Some(len)
    }

    /// Copies out and frees the slot of `seq`, if that frame is present.
    fn take(&mut self, seq: u64, out: &mut [u8; FRAME_BYTES]) -> Option<usize> {
        let slot = self.slots.get_mut(slot_index(seq))?;
        if !slot.filled || slot.seq != seq {
            return None; // lost (or still in flight: too late now)
        }
        let len = usize::from(slot.len);
        let (dst, src) = (out.get_mut(..len)?, slot.data.get(..len)?);
        dst.copy_from_slice(src);
        slot.filled = false;
        self.count -= 1;
        Some(len)
    }

    /// Frees the slot of `seq` without playing it.
    fn discard(&mut self, seq: u64) {
        if let Some(slot) = self.slots.get_mut(slot_index(seq))
            && slot.filled
            && slot.seq == seq
        {
            slot.filled = false;
            self.count -= 1;
        }
    }

    /// Forgets everything, e.g. when the sender restarted (new SSRC or sequence jump).
    pub fn reset(&mut self) {
        for slot in &mut self.slots {
            slot.filled = false;
        }
        self.head = None;
        self.highest = 0;
        self.count = 0;
        self.playing = false;
        self.played = false;
        self.ticks_since_frame = 0;
        self.guessed = false;
    }

    /// Frames currently buffered.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no frame is buffered.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

fn slot_index(seq: u64) -> usize {
    // The remainder is below CAPACITY, so the cast is lossless.
    (seq % CAPACITY_U64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: u8) -> [u8; FRAME_BYTES] {
        [tag; FRAME_BYTES]
    }

    /// Pops once and returns the tag (first byte) of the frame played, if any.
    fn tick(jb: &mut JitterBuffer) -> Option<u8> {
        let mut out = [0u8; FRAME_BYTES];
        jb.pop(&mut out).frame().map(|len| {
            assert_eq!(len, FRAME_BYTES);
            out[0]
        })
    }

    /// Pops once and tells what kind of tick it was.
    fn kind(jb: &mut JitterBuffer) -> Playout {
        let mut out = [0u8; FRAME_BYTES];
        jb.pop(&mut out)
    }

    #[test]
    fn a_gap_in_a_running_stream_is_lost_and_a_silent_sender_is_idle() {
        let mut jb = JitterBuffer::new(2);
        assert_eq!(kind(&mut jb), Playout::Idle, "nothing received yet");
        jb.push(1, &frame(1));
        assert_eq!(kind(&mut jb), Playout::Idle, "filling up to the depth");
        jb.push(2, &frame(2));
        jb.push(4, &frame(4));
        assert_eq!(kind(&mut jb), Playout::Frame(FRAME_BYTES));
        assert_eq!(kind(&mut jb), Playout::Frame(FRAME_BYTES));
        assert_eq!(kind(&mut jb), Playout::Lost, "3 is missing and 4 is here");
        assert_eq!(kind(&mut jb), Playout::Frame(FRAME_BYTES));
        // The sender goes quiet (hold, silence suppression, hang-up): nothing to conceal.
        for _ in 0..10 {
            assert_eq!(kind(&mut jb), Playout::Idle);
        }
    }

    #[test]
    fn after_a_lost_frame_the_next_one_can_be_looked_at_before_it_plays() {
        let mut jb = JitterBuffer::new(2);
        for seq in [1u64, 2, 4] {
            jb.push(seq, &frame(seq as u8));
        }
        let mut out = [0u8; FRAME_BYTES];
        assert_eq!(jb.peek(&mut out), Some(FRAME_BYTES), "1 is next");
        assert_eq!(out[0], 1);
        assert_eq!(tick(&mut jb), Some(1));
        assert_eq!(tick(&mut jb), Some(2));
        assert_eq!(jb.peek(&mut out), None, "3 is missing");
        assert_eq!(kind(&mut jb), Playout::Lost);
        assert_eq!(jb.peek(&mut out), Some(FRAME_BYTES));
        assert_eq!(out[0], 4, "the frame after the lost one");
        assert_eq!(jb.len(), 1, "looking takes nothing away");
        assert_eq!(tick(&mut jb), Some(4));
        assert_eq!(jb.peek(&mut out), None, "nothing more buffered");
    }

    #[test]
    fn a_frame_a_little_late_is_concealed_instead_of_stopping_playout() {
        let mut jb = JitterBuffer::new(1);
        jb.push(0, &frame(0));
        assert_eq!(tick(&mut jb), Some(0));
        jb.push(1, &frame(1));
        assert_eq!(tick(&mut jb), Some(1));
        // Frame 2 is late: its tick conceals it rather than waiting to fill up again.
        assert_eq!(kind(&mut jb), Playout::Lost);
        // It comes right after: it still plays, one tick late, and so does the rest.
        jb.push(2, &frame(2));
        jb.push(3, &frame(3));
        assert_eq!(tick(&mut jb), Some(2));
        jb.push(4, &frame(4));
        assert_eq!(tick(&mut jb), Some(3));
        // The buffer now holds a frame more: the next frame as late is no longer missed.
        assert_eq!(tick(&mut jb), Some(4));
        jb.push(5, &frame(5));
        assert_eq!(tick(&mut jb), Some(5));
    }

    #[test]
    fn a_frame_guessed_late_that_never_comes_was_lost() {
        let mut jb = JitterBuffer::new(1);
        jb.push(0, &frame(0));
        assert_eq!(tick(&mut jb), Some(0));
        assert_eq!(kind(&mut jb), Playout::Lost, "1 is missing");
        jb.push(2, &frame(2));
        assert_eq!(tick(&mut jb), Some(2), "on time: 1 was lost, not late");
        jb.push(1, &frame(1));
        jb.push(3, &frame(3));
        assert_eq!(tick(&mut jb), Some(3), "1 is far too late now");
    }

    #[test]
    fn a_pause_is_not_concealed_beyond_one_frame_and_the_next_talk_plays_whole() {
        let mut jb = JitterBuffer::new(1);
        jb.push(0, &frame(0));
        assert_eq!(tick(&mut jb), Some(0));
        jb.push(1, &frame(1));
        assert_eq!(tick(&mut jb), Some(1));
        // The sender stops (silence suppression): one tick may be guessed late, no more.
        assert_eq!(kind(&mut jb), Playout::Lost);
        for _ in 0..20 {
            assert_eq!(kind(&mut jb), Playout::Idle);
        }
        // It talks again with the next sequence number: nothing of it is lost.
        jb.push(2, &frame(2));
        jb.push(3, &frame(3));
        assert_eq!(tick(&mut jb), Some(2));
        assert_eq!(tick(&mut jb), Some(3));
    }

    #[test]
    fn a_sender_that_stopped_a_while_ago_is_idle_at_once() {
        let mut jb = JitterBuffer::new(2);
        for seq in 0..4u64 {
            jb.push(seq, &frame(seq as u8));
        }
        // Four ticks drain what arrived in one burst; nothing came meanwhile.
        for seq in 0..4u8 {
            assert_eq!(tick(&mut jb), Some(seq));
        }
        assert_eq!(kind(&mut jb), Playout::Idle);
    }

    #[test]
    fn frames_skipped_after_a_burst_are_not_reported_lost() {
        let mut jb = JitterBuffer::new(2);
        for seq in 0..12u64 {
            jb.push(seq, &frame(seq as u8));
        }
        let kinds: Vec<_> = (0..12).map(|_| kind(&mut jb)).collect();
        let played = kinds
            .iter()
            .filter(|k| matches!(k, Playout::Frame(_)))
            .count();
        assert!(played < 12, "some frames were skipped to bound latency");
        assert!(!kinds.contains(&Playout::Lost), "{kinds:?}");
    }

    #[test]
    fn playout_waits_for_target_depth_then_plays_in_order() {
        let mut jb = JitterBuffer::new(2);
        jb.push(100, &frame(0));
        assert_eq!(tick(&mut jb), None, "one frame is not enough");
        jb.push(101, &frame(1));
        let mut played = vec![tick(&mut jb)];
        for i in 2..6u8 {
            jb.push(100 + u64::from(i), &frame(i));
            played.push(tick(&mut jb));
        }
        assert_eq!(played, [Some(0), Some(1), Some(2), Some(3), Some(4)]);
        assert_eq!(jb.len(), 1);
    }

    #[test]
    fn reordering_within_depth_is_repaired() {
        let mut jb = JitterBuffer::new(3);
        for seq in [11u64, 10, 13, 12] {
            jb.push(seq, &frame(seq as u8));
        }
        let played: Vec<_> = (0..4).map(|_| tick(&mut jb)).collect();
        assert_eq!(played, [Some(10), Some(11), Some(12), Some(13)]);
    }

    #[test]
    fn duplicates_are_played_once() {
        let mut jb = JitterBuffer::new(2);
        jb.push(1, &frame(1));
        jb.push(1, &frame(9));
        assert_eq!(jb.len(), 1);
        jb.push(2, &frame(2));
        assert_eq!(tick(&mut jb), Some(1));
        jb.push(1, &frame(1)); // arrives again after it was played
        assert_eq!(tick(&mut jb), Some(2));
        assert!(jb.is_empty());
    }

    #[test]
    fn lost_frame_gives_none_then_playout_continues() {
        let mut jb = JitterBuffer::new(2);
        for seq in [1u64, 2, 4, 5] {
            jb.push(seq, &frame(seq as u8));
        }
        let played: Vec<_> = (0..4).map(|_| tick(&mut jb)).collect();
        assert_eq!(played, [Some(1), Some(2), None, Some(4)]);
        jb.push(3, &frame(3)); // too late now
        assert_eq!(tick(&mut jb), Some(5));
    }

    #[test]
    fn extended_sequence_crosses_the_16_bit_wrap() {
        let mut jb = JitterBuffer::new(2);
        let base = (1u64 << 16) + 65534;
        for i in 0..4u64 {
            jb.push(base + i, &frame(i as u8));
        }
        let played: Vec<_> = (0..4).map(|_| tick(&mut jb)).collect();
        assert_eq!(played, [Some(0), Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn underrun_waits_then_resumes_with_the_next_sequence() {
        let mut jb = JitterBuffer::new(2);
        jb.push(1, &frame(1));
        jb.push(2, &frame(2));
        assert_eq!(tick(&mut jb), Some(1));
        assert_eq!(tick(&mut jb), Some(2));
        // The sender pauses for a second (hold): 50 ticks with nothing.
        for _ in 0..50 {
            assert_eq!(tick(&mut jb), None);
        }
        // It resumes with the next sequence numbers: nothing was skipped meanwhile.
        jb.push(3, &frame(3));
        assert_eq!(tick(&mut jb), None, "rebuffering");
        jb.push(4, &frame(4));
        assert_eq!(tick(&mut jb), Some(3));
        assert_eq!(tick(&mut jb), Some(4));
    }

    #[test]
    fn fast_sender_cannot_grow_latency_without_bound() {
        let mut jb = JitterBuffer::new(2);
        let mut seq = 0u64;
        // Two frames arrive per tick for a while: the sender's clock is far too fast.
        for _ in 0..100 {
            for _ in 0..2 {
                jb.push(seq, &frame(seq as u8));
                seq += 1;
            }
            tick(&mut jb);
            assert!(jb.len() <= 2 + MAX_EXTRA, "len {}", jb.len());
        }
    }

    #[test]
    fn burst_after_stall_is_kept_up_to_the_high_water_mark() {
        let mut jb = JitterBuffer::new(2);
        for seq in 0..8u64 {
            jb.push(seq, &frame(seq as u8));
        }
        // Newest is 7 frames ahead of the head: within target + MAX_EXTRA, nothing skipped.
        assert_eq!(tick(&mut jb), Some(0));
        for seq in 8..12u64 {
            jb.push(seq, &frame(seq as u8));
        }
        // Newest (11) is now 10 ahead of head 1: the oldest frames are skipped.
        let next = tick(&mut jb).unwrap();
        assert!(next > 1);
        assert!(jb.len() < 2 + MAX_EXTRA);
    }

    #[test]
    fn far_ahead_frame_restarts_the_buffer() {
        let mut jb = JitterBuffer::new(2);
        jb.push(10, &frame(10));
        jb.push(11, &frame(11));
        assert_eq!(tick(&mut jb), Some(10));
        jb.push(500, &frame(50));
        assert_eq!(jb.len(), 1, "old frames dropped");
        jb.push(501, &frame(51));
        assert_eq!(tick(&mut jb), Some(50));
        assert_eq!(tick(&mut jb), Some(51));
    }

    #[test]
    fn odd_frame_lengths_report_their_length_up_to_160() {
        let mut jb = JitterBuffer::new(1);
        jb.push(1, &[7u8; 80]);
        let mut out = [0u8; FRAME_BYTES];
        assert_eq!(jb.pop(&mut out), Playout::Frame(80));
        assert_eq!(&out[..80], &[7u8; 80][..]);
        jb.push(2, &[8u8; 240]);
        assert_eq!(jb.pop(&mut out), Playout::Frame(160));
        jb.push(3, &[]);
        assert!(jb.is_empty(), "empty payloads are not frames");
    }

    #[test]
    fn reset_forgets_everything() {
        let mut jb = JitterBuffer::new(1);
        jb.push(1, &frame(1));
        jb.push(2, &frame(2));
        jb.reset();
        assert!(jb.is_empty());
        assert_eq!(tick(&mut jb), None);
        jb.push(9000, &frame(9));
        assert_eq!(tick(&mut jb), Some(9));
    }

    #[test]
    fn target_depth_is_clamped() {
        let mut jb = JitterBuffer::new(0);
        jb.push(1, &frame(1));
        assert_eq!(tick(&mut jb), Some(1), "0 behaves as 1");
        let mut jb = JitterBuffer::new(1000);
        for seq in 0..MAX_TARGET as u64 {
            jb.push(seq, &frame(seq as u8));
        }
        assert_eq!(tick(&mut jb), Some(0), "clamped to 8");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_pushes_and_pops_never_panic_and_stay_bounded(
            ops in proptest::collection::vec(
                (proptest::prelude::any::<u64>(), 0u8..4, 0usize..200), 0..400),
            target in 0usize..20,
        ) {
            let mut jb = JitterBuffer::new(target);
            let mut out = [0u8; FRAME_BYTES];
            for (raw, kind, len) in ops {
                // Mix huge, near-overflow and clustered sequence numbers.
                let seq = match kind {
                    0 => raw,
                    1 => u64::MAX - raw % 40,
                    _ => 1000 + raw % 40,
                };
                jb.push(seq, &vec![1u8; len]);
                if raw % 3 == 0 && let Playout::Frame(n) = jb.pop(&mut out) {
                    proptest::prop_assert!(n <= FRAME_BYTES && n > 0);
                }
                proptest::prop_assert!(jb.len() <= CAPACITY);
            }
        }
    }
}
