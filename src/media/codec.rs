//! The audio codecs dialbridge negotiates and their RTP facts.

/// Samples per 20 ms frame at 8 kHz: the unit of every media tick.
pub const SAMPLES_PER_FRAME: usize = 160;

/// Samples per 20 ms frame at 16 kHz, the wideband mixing rate.
pub const WIDE_SAMPLES_PER_FRAME: usize = 2 * SAMPLES_PER_FRAME;

/// Bytes of one 20 ms payload: G.711 is one byte per 8 kHz sample, G.722 at 64 kbit/s one
/// byte per pair of 16 kHz samples, so both fill 160 bytes.
pub const PAYLOAD_BYTES: usize = SAMPLES_PER_FRAME;

/// Frame duration of the media clock.
pub const FRAME_DURATION: std::time::Duration = std::time::Duration::from_millis(20);

/// The two G.711 companding laws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Law {
    /// μ-law (PCMU), North America and Japan.
    Mu,
    /// A-law (PCMA), the rest of the world.
    A,
}

impl Law {
    /// Both laws.
    pub const ALL: [Law; 2] = [Law::Mu, Law::A];

    /// The encoded byte of a zero sample, used to send silence.
    pub const fn silence_byte(self) -> u8 {
        match self {
            Law::Mu => 0xFF,
            Law::A => 0xD5,
        }
    }
}

/// An audio codec the bridge can send and receive (RFC 3551 static payload types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 μ-law, payload type 0.
    Pcmu,
    /// G.711 A-law, payload type 8.
    Pcma,
    /// G.722 at 64 kbit/s, payload type 9: 16 kHz audio (wideband).
    G722,
}

impl Codec {
    /// Every codec, in the order we list them when we make an offer.
    pub const ALL: [Codec; 3] = [Codec::Pcmu, Codec::Pcma, Codec::G722];

    /// The static RTP payload type of RFC 3551.
    pub const fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
            Codec::G722 => 9,
        }
    }

    /// The encoding name as written in an SDP `rtpmap`.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::G722 => "G722",
        }
    }

    /// RTP clock rate in Hz. G.722 says 8000 too (RFC 3551 §4.5.2 keeps the clock of the
    /// first, erroneous, assignment), so every codec's timestamp moves 160 per frame.
    pub const fn clock_rate(self) -> u32 {
        8000
    }

    /// The audio sample rate the codec carries.
    pub const fn sample_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma => 8000,
            Codec::G722 => 16000,
        }
    }

    /// True for 16 kHz codecs: their presence switches a meeting's mix to 16 kHz.
    pub const fn is_wideband(self) -> bool {
        matches!(self, Codec::G722)
    }

    /// The G.711 law, for the stateless codecs whose frames can be shared between callers.
    pub const fn law(self) -> Option<Law> {
        match self {
            Codec::Pcmu => Some(Law::Mu),
            Codec::Pcma => Some(Law::A),
            Codec::G722 => None,
        }
    }

    /// Finds the codec for an SDP encoding name (case-insensitive) and clock rate.
    ///
    /// G.722 is also taken at 16000: some phones write the audio rate instead of the RTP
    /// clock rate, and the payload is the same.
    pub fn from_rtpmap(name: &str, rate: u32) -> Option<Codec> {
        let codec = Codec::ALL
            .into_iter()
            .find(|c| c.encoding_name().eq_ignore_ascii_case(name))?;
        (rate == codec.clock_rate() || (codec == Codec::G722 && rate == 16000)).then_some(codec)
    }

    /// Finds the codec for a static payload type offered without an `rtpmap`.
    pub fn from_static_payload_type(pt: u8) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.payload_type() == pt)
    }
}

impl From<Law> for Codec {
    fn from(law: Law) -> Codec {
        match law {
            Law::Mu => Codec::Pcmu,
            Law::A => Codec::Pcma,
        }
    }
}

/// A computed sample back to 16-bit PCM: rounded half away from zero (as `f32::round`) and
/// clamped. Not `f32::round` itself: x86-64's baseline has no rounding instruction, so that is
/// a libm call per sample which also stops the loops over a frame from vectorising; adding
/// ±0.5 and truncating rounds the same (but for values within float error of a half).
#[inline]
pub fn sample_from_f32(x: f32) -> i16 {
    (x + 0.5f32.copysign(x)).clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_samples_round_half_away_from_zero_and_clamp_as_f32_round_does() {
        for x in [
            0.0f32, 0.4, 0.5, 0.6, 1.5, 2.5, -0.4, -0.5, -0.6, -1.5, -2.5, 100.49, -100.51,
            32766.5, 32767.4, 32767.5, 40000.0, -32767.5, -32768.4, -32768.6, -40000.0,
        ] {
            let expected = x.round().clamp(-32768.0, 32767.0) as i16;
            assert_eq!(sample_from_f32(x), expected, "{x}");
        }
        for i in -400_000..400_000 {
            let x = i as f32 / 10.0 + 0.03;
            assert_eq!(
                sample_from_f32(x),
                x.round().clamp(-32768.0, 32767.0) as i16,
                "{x}"
            );
        }
    }

    #[test]
    fn g722_is_payload_type_9_with_an_8000_clock_and_16_khz_audio() {
        assert_eq!(Codec::from_static_payload_type(9), Some(Codec::G722));
        assert_eq!(Codec::from_rtpmap("g722", 8000), Some(Codec::G722));
        assert_eq!(Codec::from_rtpmap("G722", 16000), Some(Codec::G722));
        assert_eq!(Codec::from_rtpmap("PCMU", 16000), None);
        assert_eq!(Codec::G722.clock_rate(), 8000);
        assert_eq!(Codec::G722.law(), None);
        assert_eq!(Codec::from(Law::A), Codec::Pcma);
    }
}
