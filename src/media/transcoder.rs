//! One call's codec state: decodes what the caller sends and encodes what they hear, at
//! the rate of the meeting mix (8 kHz, or 16 kHz once a wideband caller is in).
//!
//! The converters are only allocated when a call needs them (a narrowband caller in a
//! wideband meeting, a wideband caller hearing 8 kHz prompts), so the common all-G.711
//! call carries none of it.

use super::codec::{Codec, PAYLOAD_BYTES, SAMPLES_PER_FRAME, WIDE_SAMPLES_PER_FRAME};
use super::g711;
use super::g722::G722;
use super::resample::{Downsampler, Upsampler};

/// Linear audio of one 20 ms frame at up to 16 kHz; narrowband uses the first 160 samples.
pub type WidePcm = [i16; WIDE_SAMPLES_PER_FRAME];

/// A caller's codec and rate converters.
#[derive(Debug)]
pub struct Transcoder {
    codec: Codec,
    g722: Option<Box<G722>>,
    /// The caller's 8 kHz audio lifted into a 16 kHz mix.
    lift_in: Option<Box<Upsampler>>,
    /// A 16 kHz mix brought down for an 8 kHz caller.
    lower_out: Option<Box<Downsampler>>,
    /// A 16 kHz caller's audio brought down to 8 kHz (a recorded name is kept at 8 kHz).
    lower_in: Option<Box<Downsampler>>,
    /// 8 kHz audio (prompts, music, a narrowband mix) lifted for a 16 kHz caller.
    lift_out: Option<Box<Upsampler>>,
}

impl Transcoder {
    /// Codec state for a call that agreed on `codec`.
    pub fn new(codec: Codec) -> Self {
        Transcoder {
            codec,
            g722: codec.is_wideband().then(|| Box::new(G722::new())),
            lift_in: None,
            lower_out: None,
            lower_in: None,
            lift_out: None,
        }
    }

    /// A re-INVITE changed the codec: start its state afresh.
    pub fn set_codec(&mut self, codec: Codec) {
        if codec != self.codec {
            *self = Transcoder::new(codec);
        }
    }

    /// Decodes a received payload at the codec's own rate; returns the samples written.
    pub fn decode(&mut self, payload: &[u8], out: &mut WidePcm) -> usize {
        match (self.codec.law(), self.g722.as_mut()) {
            (Some(law), _) => {
                let n = payload.len().min(SAMPLES_PER_FRAME);
                g711::decode(law, payload, &mut out[..n]);
                n
            }
            (None, Some(g722)) => g722.decode(payload, out),
            (None, None) => 0,
        }
    }

    /// Decodes a received payload to 8 kHz, whatever the codec's rate.
    pub fn decode_narrow(&mut self, payload: &[u8], out: &mut [i16; SAMPLES_PER_FRAME]) {
        let mut pcm = [0i16; WIDE_SAMPLES_PER_FRAME];
        let n = self.decode(payload, &mut pcm);
        if self.codec.is_wideband() {
            self.lower_in
                .get_or_insert_with(Default::default)
                .process(&pcm, out);
        } else {
            let n = n.min(SAMPLES_PER_FRAME);
            out[..n].copy_from_slice(&pcm[..n]);
        }
    }

    /// Brings a decoded frame to the mix rate in place (8 kHz audio into a wide mix).
    pub fn to_mix_rate(&mut self, pcm: &mut WidePcm, wide_mix: bool) {
        if wide_mix && !self.codec.is_wideband() {
            let mut narrow = [0i16; SAMPLES_PER_FRAME];
            narrow.copy_from_slice(&pcm[..SAMPLES_PER_FRAME]);
            self.lift_in
                .get_or_insert_with(Default::default)
                .process(&narrow, pcm);
        }
    }

    /// Encodes audio at the mix rate (`pcm[..320]` when `wide_mix`, else `pcm[..160]`).
    pub fn encode_mix(&mut self, pcm: &WidePcm, wide_mix: bool, out: &mut [u8; PAYLOAD_BYTES]) {
        match (self.codec.law(), wide_mix) {
            (Some(law), false) => g711::encode(law, &pcm[..SAMPLES_PER_FRAME], out),
            (Some(law), true) => {
                let mut narrow = [0i16; SAMPLES_PER_FRAME];
                self.lower_out
                    .get_or_insert_with(Default::default)
                    .process(pcm, &mut narrow);
                g711::encode(law, &narrow, out);
            }
            (None, true) => {
                if let Some(g722) = self.g722.as_mut() {
                    g722.encode(pcm, out);
                }
            }
            (None, false) => {
                let mut narrow = [0i16; SAMPLES_PER_FRAME];
                narrow.copy_from_slice(&pcm[..SAMPLES_PER_FRAME]);
                self.encode_narrow(&narrow, out);
            }
        }
    }

    /// Encodes 8 kHz audio (a prompt, the hold music) for this caller.
    pub fn encode_narrow(&mut self, pcm: &[i16; SAMPLES_PER_FRAME], out: &mut [u8; PAYLOAD_BYTES]) {
        match (self.codec.law(), self.g722.as_mut()) {
            (Some(law), _) => g711::encode(law, pcm, out),
            (None, Some(g722)) => {
                let mut wide = [0i16; WIDE_SAMPLES_PER_FRAME];
                self.lift_out
                    .get_or_insert_with(Default::default)
                    .process(pcm, &mut wide);
                g722.encode(&wide, out);
            }
            (None, None) => out.fill(0),
        }
    }

    /// Continues this caller's own downsampler from the shared listener one, so switching
    /// from the shared mix to an own mix (they started talking) leaves no seam.
    pub fn resume_lowering_from(&mut self, shared: &Downsampler) {
        if self.codec.law().is_some() {
            **self.lower_out.get_or_insert_with(Default::default) = shared.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::Law;

    fn tone(freq: f32, rate: f32, n: usize, start: usize) -> Vec<i16> {
        (start..start + n)
            .map(|i| (8000.0 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate).sin()) as i16)
            .collect()
    }

    #[test]
    fn a_pcmu_caller_in_a_wide_mix_is_lifted_and_lowered_back_to_the_same_tone() {
        let mut t = Transcoder::new(Codec::Pcmu);
        let mut back = Vec::new();
        for f in 0..20 {
            let mut payload = [0u8; 160];
            g711::encode(Law::Mu, &tone(1000.0, 8000.0, 160, f * 160), &mut payload);
            let mut pcm = [0i16; 320];
            assert_eq!(t.decode(&payload, &mut pcm), 160);
            t.to_mix_rate(&mut pcm, true);
            let mut out = [0u8; 160];
            t.encode_mix(&pcm, true, &mut out);
            let mut decoded = [0i16; 160];
            g711::decode(Law::Mu, &out, &mut decoded);
            back.extend_from_slice(&decoded);
        }
        // Two half-band filters delay by 31 + 15.5 samples at 8 kHz... find the best lag.
        let original = tone(1000.0, 8000.0, 3200, 0);
        let best = (0..80)
            .map(|lag| {
                let err: f64 = (400..3000)
                    .map(|i| (f64::from(back[i + lag]) - f64::from(original[i])).powi(2))
                    .sum();
                (err, lag)
            })
            .fold((f64::MAX, 0), |a, b| if b.0 < a.0 { b } else { a });
        let sig: f64 = (400..3000).map(|i| f64::from(original[i]).powi(2)).sum();
        let snr = 10.0 * (sig / best.0).log10();
        assert!(snr > 30.0, "SNR {snr:.1} dB at lag {}", best.1);
    }

    #[test]
    fn a_g722_caller_hears_8khz_prompts_and_sends_16khz_audio() {
        let mut t = Transcoder::new(Codec::G722);
        let mut wide_back = Vec::new();
        let mut peer = G722::new();
        for f in 0..20 {
            let pcm: [i16; 160] = tone(440.0, 8000.0, 160, f * 160).try_into().expect("160");
            let mut out = [0u8; 160];
            t.encode_narrow(&pcm, &mut out);
            let mut decoded = [0i16; 320];
            assert_eq!(peer.decode(&out, &mut decoded), 320);
            wide_back.extend_from_slice(&decoded);
        }
        let tail = &wide_back[2000..];
        let rms =
            (tail.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / tail.len() as f64).sqrt();
        assert!((rms / 5657.0 - 1.0).abs() < 0.1, "rms {rms}");
        let mut pcm = [0i16; 320];
        let mut payload = [0u8; 160];
        peer.encode(
            &tone(5000.0, 16000.0, 320, 0).try_into().expect("320"),
            &mut payload,
        );
        assert_eq!(t.decode(&payload, &mut pcm), 320);
    }
}
