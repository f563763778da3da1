//! One running meeting's 20 ms mix: the loudest talkers summed, each participant sent the
//! mix without their own voice, listeners sharing one mix.

use std::net::SocketAddr;
use std::time::Instant;

use crate::bridge::mixer::{Mixer, Pcm};
use crate::call::CallId;
use crate::ivr::assets::{Assets, Frame};
use crate::media::agc::GainRamp;
use crate::media::codec::{Law, PAYLOAD_BYTES, SAMPLES_PER_FRAME, WIDE_SAMPLES_PER_FRAME};
use crate::media::resample::{Downsampler, Upsampler};
use crate::media::rtp::RTP_HEADER_LEN;

use super::caller::{next_audio, player_frame, send_frame};
use super::room::MeetingEntry;
use super::stats::WorkerStats;

/// Most talkers mixed at once: the loudest active ones. More voices at once are noise, not
/// conversation, and each costs the listeners' mix.
pub const MAX_TALKERS: usize = 4;

/// Level bonus a caller already in the mix keeps over newcomers, so the talker set does not
/// flap between two voices of similar loudness; small enough that a voice twice as loud
/// (in power) as one already mixed takes its place, however the two came in.
pub(super) const TALKER_HOLD_DB: f32 = 2.5;

/// One caller's frame in this tick's mix.
pub(super) struct Talker {
    pub(super) id: CallId,
    /// Talk level plus the hold bonus, to keep the loudest.
    pub(super) rank: f32,
    /// Position among the meeting's talkers this tick: of two as loud, the earlier stays.
    /// Also where its frame waits in the worker's frames.
    pub(super) order: usize,
    /// The frame's samples (160 or 320) and the gain still to apply to them.
    pub(super) samples: usize,
    pub(super) gain: GainRamp,
}

/// Keeps the [`MAX_TALKERS`] loudest of a tick's talkers as they come, so that only the
/// frames of those mixed are gained (a meeting of 21 talkers would otherwise gain 21 frames
/// to mix 4).
fn keep_loudest(talkers: &mut Vec<Talker>, talker: Talker) {
    if talkers.len() < MAX_TALKERS {
        talkers.push(talker);
        return;
    }
    // The quietest kept; of equal ones the latest, as a stable sort would drop it first.
    let worst = talkers.iter_mut().min_by(|a, b| {
        a.rank
            .total_cmp(&b.rank)
            .then_with(|| b.order.cmp(&a.order))
    });
    if let Some(worst) = worst
        && talker.rank.total_cmp(&worst.rank).is_gt()
    {
        *worst = talker;
    }
}

/// The worker's reusable buffers and counters, lent to one meeting's mix.
pub(super) struct MixScratch<'a> {
    pub(super) assets: &'a Assets,
    pub(super) mixer: &'a mut Mixer,
    pub(super) talkers: &'a mut Vec<Talker>,
    /// The tick's decoded frames of one meeting, by talker order.
    pub(super) frames: &'a mut Vec<Pcm>,
    pub(super) packet: &'a mut [u8; RTP_HEADER_LEN + SAMPLES_PER_FRAME],
    pub(super) stats: &'a mut WorkerStats,
}

/// One tick of one running meeting: take every participant's frame, mix the loudest
/// talkers (at 16 kHz while a wideband caller is in), and send each participant the mix
/// without their own voice; listeners share one mix, and G.711 listeners one encoded frame.
pub(super) fn mix_meeting<S>(
    now: Instant,
    entry: &mut MeetingEntry,
    calls: &mut super::Calls<S>,
    scratch: MixScratch<'_>,
    send: &mut impl FnMut(&S, SocketAddr, &[u8]),
) {
    let MixScratch {
        assets,
        mixer,
        talkers,
        frames,
        packet,
        stats,
    } = scratch;
    // Every participant's state has likely left the cache since the last tick: ask for all
    // of it first, so the loads overlap instead of stalling the loops below one by one.
    for id in entry.meeting.participants() {
        if let Some(call) = calls.get(id) {
            call.prefetch_for_mix();
        }
    }
    // The second pass also asks whether anyone speaks wideband: the mix runs at 16 kHz then.
    let mut wide = false;
    for id in entry.meeting.participants() {
        if let Some(call) = calls.get(id) {
            call.prefetch_audio();
            wide |= call.params.codec.is_wideband();
        }
    }
    if wide != entry.wide {
        entry.wide = wide;
        entry.listener_down = Downsampler::new();
        entry.chime_up = Upsampler::new();
    }
    mixer.clear(wide);
    talkers.clear();
    let mut heard = 0;
    for id in entry.meeting.participants() {
        let Some(call) = calls.get_mut(id) else {
            continue;
        };
        if frames.len() <= heard {
            frames.push([0; WIDE_SAMPLES_PER_FRAME]);
        }
        let Some(pcm) = frames.get_mut(heard) else {
            continue;
        };
        *pcm = [0; WIDE_SAMPLES_PER_FRAME];
        // Decoded even when unheard: a stateful decoder and the concealment must see every
        // frame.
        let Some(n) = next_audio(call, pcm) else {
            continue;
        };
        // Muted, or a key tone sounding: the mix never carries keys.
        if entry.meeting.is_muted(*id) || call.tone_until.is_some_and(|t| now < t) {
            call.voice.reset_spurt();
            continue;
        }
        let talking = call.voice.update(pcm.get(..n).unwrap_or_default());
        let mut gain = call.agc.learn(talking, call.voice.level_db());
        if !talking {
            continue;
        }
        let mut samples = n;
        if wide && !call.params.codec.is_wideband() {
            // Lifted to 16 kHz now: the lift's filter must see every talk frame, gained.
            gain.apply(pcm.get_mut(..n).unwrap_or_default());
            gain = GainRamp::UNITY;
            call.transcoder.to_mix_rate(pcm, wide);
            samples = WIDE_SAMPLES_PER_FRAME;
        }
        let hold = if call.mixed { TALKER_HOLD_DB } else { 0.0 };
        let rank = call.voice.talk_level_db() + hold;
        keep_loudest(
            talkers,
            Talker {
                id: *id,
                rank,
                order: heard,
                samples,
                gain,
            },
        );
        heard += 1;
    }
    for t in talkers.iter() {
        if let Some(pcm) = frames.get_mut(t.order) {
            t.gain.apply(pcm.get_mut(..t.samples).unwrap_or_default());
            mixer.add(pcm);
        }
    }
    stats.talkers += talkers.len() as u64;
    // An announcement is one more source, left out for the caller it announces.
    let chime = entry.announcer.next_frame(assets).map(|(narrow, about)| {
        let mut pcm: Pcm = [0; WIDE_SAMPLES_PER_FRAME];
        if wide {
            entry.chime_up.process(&narrow, &mut pcm);
        } else {
            pcm[..SAMPLES_PER_FRAME].copy_from_slice(&narrow);
        }
        (pcm, about)
    });
    if let Some((pcm, _)) = &chime {
        mixer.add(pcm);
    }
    let mut listener_pcm: Pcm = [0; WIDE_SAMPLES_PER_FRAME];
    mixer.listener_mix(&mut listener_pcm);
    // The shared mix at 8 kHz for G.711 listeners; the state before this tick seeds a caller
    // who leaves the shared mix for an own one.
    let down_before = wide.then(|| entry.listener_down.clone());
    let mut listener_narrow = [0i16; SAMPLES_PER_FRAME];
    if wide {
        entry
            .listener_down
            .process(&listener_pcm, &mut listener_narrow);
    } else {
        listener_narrow.copy_from_slice(&listener_pcm[..SAMPLES_PER_FRAME]);
    }
    let mut listener_frames: [Option<Frame>; 2] = [None, None];
    for id in entry.meeting.participants() {
        let Some(call) = calls.get_mut(id) else {
            continue;
        };
        let own = talkers
            .iter()
            .find(|t| t.id == *id)
            .and_then(|t| frames.get(t.order));
        let unheard_chime = chime
            .as_ref()
            .filter(|(_, about)| *about == Some(*id))
            .map(|(p, _)| p);
        let both: Pcm;
        let left_out = match (own, unheard_chime) {
            (Some(o), Some(c)) => {
                both = std::array::from_fn(|i| o[i].saturating_add(c[i]));
                Some(&both)
            }
            (o, c) => o.or(c),
        };
        let mut frame = [0u8; PAYLOAD_BYTES];
        call.mixed = own.is_some();
        let own_mix = left_out.is_some() && !call.player.is_playing();
        // A prompt for this caller (a keypad answer) plays instead of the mix.
        if call.player.is_playing() {
            let tick = call.player.next(assets);
            player_frame(call, &tick, &mut frame);
        } else if let Some(own) = left_out {
            if !call.own_mix
                && let Some(before) = &down_before
            {
                call.transcoder.resume_lowering_from(before);
            }
            let mut pcm: Pcm = [0; WIDE_SAMPLES_PER_FRAME];
            mixer.talker_mix(own, &mut pcm);
            call.transcoder.encode_mix(&pcm, wide, &mut frame);
        } else if let Some(law) = call.params.codec.law() {
            let slot = match law {
                Law::Mu => 0,
                Law::A => 1,
            };
            frame = *listener_frames[slot].get_or_insert_with(|| {
                let mut f = [0u8; PAYLOAD_BYTES];
                crate::media::g711::encode(law, &listener_narrow, &mut f);
                f
            });
        } else {
            // G.722 is stateful: each wideband listener encodes the shared mix itself.
            call.transcoder.encode_mix(&listener_pcm, wide, &mut frame);
        }
        call.own_mix = own_mix;
        send_frame(call, &frame, packet, stats, send);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn talker(order: usize, rank: f32) -> Talker {
        Talker {
            id: CallId(order as u64),
            rank,
            order,
            samples: SAMPLES_PER_FRAME,
            gain: GainRamp::UNITY,
        }
    }

    #[test]
    fn the_loudest_are_kept_as_a_stable_sort_would_keep_them() {
        // Ranks with ties at the cut: of equal ones, the earlier stays.
        let ranks = [3.0, 9.0, 3.0, 7.0, 3.0, 9.0, 1.0, 3.0, 8.0];
        let mut kept = Vec::new();
        for (order, rank) in ranks.iter().enumerate() {
            keep_loudest(&mut kept, talker(order, *rank));
        }
        let mut ids: Vec<u64> = kept.iter().map(|t| t.id.0).collect();
        ids.sort_unstable();
        let mut sorted: Vec<(usize, f32)> = ranks.iter().copied().enumerate().collect();
        sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut expected: Vec<u64> = sorted[..MAX_TALKERS]
            .iter()
            .map(|(i, _)| *i as u64)
            .collect();
        expected.sort_unstable();
        assert_eq!(ids, expected);
        assert_eq!(ids, [1, 3, 5, 8]);
        assert!(
            kept.iter().all(|t| t.order as u64 == t.id.0),
            "each keeps its own frame"
        );

        let mut tied = Vec::new();
        for order in 0..6 {
            keep_loudest(&mut tied, talker(order, 5.0));
        }
        let ids: Vec<u64> = tied.iter().map(|t| t.id.0).collect();
        assert_eq!(ids, [0, 1, 2, 3], "all as loud: the first four stay");
    }
}
