//! G.722 (ITU-T G.722, 64 kbit/s, RFC 3551 payload type 9): wideband audio for phones that
//! offer it. The ADPCM itself comes from the `audio-codec` crate; this wraps it to our
//! 20 ms frames and keeps its errors off the media path.
//!
//! Unlike G.711 it is stateful: each direction of each call needs its own encoder or decoder,
//! fed every frame in order, so encoded frames cannot be shared between listeners.

use audio_codec::g722::{G722Decoder, G722Encoder};
use audio_codec::{Decoder, Encoder};

use super::codec::{PAYLOAD_BYTES, WIDE_SAMPLES_PER_FRAME};

/// One call's G.722 encoder and decoder.
pub struct G722 {
    encoder: G722Encoder,
    decoder: G722Decoder,
}

impl std::fmt::Debug for G722 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("G722")
    }
}

impl Default for G722 {
    fn default() -> Self {
        G722::new()
    }
}

impl G722 {
    /// Fresh codec state for a new call.
    pub fn new() -> Self {
        G722 {
            encoder: G722Encoder::new(),
            decoder: G722Decoder::new(),
        }
    }

    /// Encodes 20 ms of 16 kHz audio into one 160-byte payload.
    pub fn encode(&mut self, pcm: &[i16; WIDE_SAMPLES_PER_FRAME], out: &mut [u8; PAYLOAD_BYTES]) {
        // 320 samples always make exactly 160 codes; the buffer cannot be too small.
        if self.encoder.encode_into(pcm, out).is_err() {
            out.fill(0);
        }
    }

    /// Decodes a received payload (any length up to 160 bytes) into 16 kHz samples; returns
    /// how many were written. What does not fit is ignored.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16; WIDE_SAMPLES_PER_FRAME]) -> usize {
        let payload = payload.get(..PAYLOAD_BYTES).unwrap_or(payload);
        self.decoder.decode_into(payload, out).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_survives_encode_and_decode_with_the_codecs_22_sample_delay() {
        let mut codec = G722::new();
        let input: Vec<i16> = (0..320 * 20)
            .map(|i| {
                (8000.0 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16000.0).sin()) as i16
            })
            .collect();
        let mut decoded = Vec::new();
        for chunk in input.chunks(320) {
            let frame: [i16; 320] = chunk.try_into().expect("320");
            let mut payload = [0u8; 160];
            codec.encode(&frame, &mut payload);
            let mut out = [0i16; 320];
            assert_eq!(codec.decode(&payload, &mut out), 320);
            decoded.extend_from_slice(&out);
        }
        let (mut err, mut sig) = (0f64, 0f64);
        for i in 1000..6000 {
            let d = f64::from(decoded[i + 22]) - f64::from(input[i]);
            err += d * d;
            sig += f64::from(input[i]).powi(2);
        }
        let snr = 10.0 * (sig / err).log10();
        assert!(snr > 25.0, "SNR {snr:.1} dB");
    }

    proptest::proptest! {
        #[test]
        fn any_payload_decodes_without_panicking(payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let mut codec = G722::new();
            let mut out = [0i16; 320];
            let n = codec.decode(&payload, &mut out);
            proptest::prop_assert_eq!(n, 2 * payload.len().min(160));
        }
    }
}
