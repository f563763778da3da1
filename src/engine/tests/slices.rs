//! The tick in slices: held callers' frames spread over the 20 ms, meetings once a frame.

use super::*;
use crate::engine::TickSlice;

const SLICES: u32 = 4;

impl Bench {
    /// One 20 ms frame run as `SLICES` slices 5 ms apart; what each slice sent.
    fn sliced_frame(&mut self) -> Vec<Sent> {
        (0..SLICES).map(|k| self.slice(k)).collect()
    }

    /// Slice `k` of a frame, 5 ms after the one before; what it sent.
    fn slice(&mut self, k: u32) -> Sent {
        self.now += Duration::from_millis(20) / SLICES;
        let mut sent = Vec::new();
        for w in &mut self.workers {
            w.tick_slice(
                self.now,
                TickSlice::new(k, SLICES),
                &mut |t: &u32, a: SocketAddr, b: &[u8]| sent.push((*t, a, b.to_vec())),
            );
        }
        sent
    }
}

#[test]
fn held_callers_get_one_frame_a_frame_each_in_its_own_slice_spread_over_the_slices() {
    let callers = 1..=40u64;
    let mut sliced = Bench::new(1);
    let mut whole = Bench::new(1);
    for id in callers.clone() {
        sliced.start(0, id);
        whole.start(0, id);
    }
    let mut slice_of: HashMap<u32, usize> = HashMap::new();
    let mut heard_sliced: HashMap<u32, Vec<Vec<u8>>> = HashMap::new();
    let mut heard_whole: HashMap<u32, Vec<Vec<u8>>> = HashMap::new();
    for frame in 0..10 {
        let mut got: HashMap<u32, usize> = HashMap::new();
        for (k, sent) in sliced.sliced_frame().into_iter().enumerate() {
            for (t, _, bytes) in sent {
                *got.entry(t).or_default() += 1;
                let first = *slice_of.entry(t).or_insert(k);
                assert_eq!(
                    first, k,
                    "call {t} moved from slice {first} to {k} in frame {frame}"
                );
                heard_sliced.entry(t).or_default().push(bytes);
            }
        }
        for id in callers.clone() {
            assert_eq!(got.get(&(id as u32)), Some(&1), "call {id}, frame {frame}");
        }
        for (t, _, bytes) in whole.tick() {
            heard_whole.entry(t).or_default().push(bytes);
        }
    }
    assert_eq!(
        heard_sliced, heard_whole,
        "the same packets, only sent at other times"
    );
    for k in 0..SLICES as usize {
        let n = slice_of.values().filter(|&&s| s == k).count();
        assert!(n >= 5, "slice {k} holds {n} of 40 callers: {slice_of:?}");
    }
}

#[test]
fn a_meeting_is_mixed_once_a_frame_in_its_first_slice() {
    let mut b = Bench::new(1);
    b.start(0, 1);
    b.join(1, true);
    b.start(0, 2);
    b.join(2, false);
    for frame in 0..5 {
        let slices = b.sliced_frame();
        let per_slice: Vec<usize> = slices.iter().map(Vec::len).collect();
        assert_eq!(
            per_slice,
            vec![2, 0, 0, 0],
            "frame {frame}: one mix frame each, at once"
        );
    }
}

#[test]
fn callers_who_come_and_go_between_slices_get_one_frame_a_frame_while_they_are_here() {
    let mut b = Bench::new(1);
    for id in 1..=20 {
        b.start(0, id);
    }
    let count = |b: &mut Bench| {
        let mut got: HashMap<u32, usize> = HashMap::new();
        for sent in b.sliced_frame() {
            for (t, _, _) in sent {
                *got.entry(t).or_default() += 1;
            }
        }
        got
    };
    count(&mut b);
    // Five hang up and five others are answered, between frames.
    for id in 1..=5 {
        b.command(id, Command::Stop { call: CallId(id) });
    }
    for id in 21..=25 {
        b.start(0, id);
    }
    for frame in 0..5 {
        let got = count(&mut b);
        for id in 1..=5u32 {
            assert_eq!(got.get(&id), None, "call {id} hung up, frame {frame}");
        }
        for id in 6..=25u32 {
            assert_eq!(got.get(&id), Some(&1), "call {id}, frame {frame}");
        }
    }
}

#[test]
fn a_frames_gauges_count_every_call_once_and_appear_when_its_last_slice_ends() {
    let mut b = Bench::new(1);
    for id in 1..=30 {
        b.start(0, id);
    }
    for id in 31..=40 {
        b.start_with(0, id, Codec::G722);
    }
    let gauges = |b: &Bench| {
        let s = b.workers[0].stats();
        (s.in_ivr, s.by_codec)
    };
    for k in 0..SLICES - 1 {
        b.slice(k);
        assert_eq!(gauges(&b), (0, [0; 3]), "a frame half counted is not shown");
    }
    b.slice(SLICES - 1);
    assert_eq!(gauges(&b), (40, [30, 0, 10]));

    // Five hang up between frames: the next frame shows 35, only once it is counted whole.
    for id in 1..=5 {
        b.command(id, Command::Stop { call: CallId(id) });
    }
    for k in 0..SLICES - 1 {
        b.slice(k);
        assert_eq!(
            gauges(&b),
            (40, [30, 0, 10]),
            "the last whole frame, slice {k}"
        );
    }
    b.slice(SLICES - 1);
    assert_eq!(gauges(&b), (35, [25, 0, 10]));
}

#[test]
fn a_silent_caller_is_asked_again_after_the_no_input_timeout_in_slices_as_in_whole_frames() {
    // Frames with sound (not all μ-law silence) for one caller over 16 s, frame by frame.
    fn sounding(frames: impl Iterator<Item = Sent>) -> Vec<bool> {
        frames
            .map(|sent| {
                sent.iter()
                    .any(|(_, _, wire)| payload(wire).iter().any(|&b| b != 0xFF))
            })
            .collect()
    }
    let mut sliced = Bench::new(1);
    let mut whole = Bench::new(1);
    sliced.start(0, 1);
    whole.start(0, 1);
    let frames = 800;
    let heard_sliced = sounding((0..frames).map(|_| sliced.sliced_frame().concat()));
    let heard_whole = sounding((0..frames).map(|_| whole.tick()));
    // The prompts, a silence of the no-input timeout (longer than any pause in a prompt:
    // 2 s at least), then the question again: where that silence starts and ends.
    let asked_again = |heard: &[bool]| {
        let mut quiet = 0;
        for (i, &sound) in heard.iter().enumerate() {
            if !sound {
                continue;
            }
            if i - quiet >= 100 {
                return (quiet, i);
            }
            quiet = i + 1;
        }
        panic!("never asked again: {heard:?}");
    };
    let (quiet, again) = asked_again(&heard_whole);
    let (quiet_sliced, again_sliced) = asked_again(&heard_sliced);
    assert!(
        again - quiet >= 400,
        "10 s of silence in whole frames: {quiet}..{again}"
    );
    assert!(
        quiet_sliced.abs_diff(quiet) <= 1 && again_sliced.abs_diff(again) <= 1,
        "whole frames {quiet}..{again}, slices {quiet_sliced}..{again_sliced}"
    );
}
