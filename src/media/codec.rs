//! The audio codecs dialbridge negotiates and their RTP facts.

/// Samples per 20 ms frame at 8 kHz: the unit of every media tick.
pub const SAMPLES_PER_FRAME: usize = 160;

/// Frame duration of the media clock.
pub const FRAME_DURATION: std::time::Duration = std::time::Duration::from_millis(20);

/// An audio codec the bridge can send and receive (RFC 3551 static payload types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 μ-law, payload type 0.
    Pcmu,
    /// G.711 A-law, payload type 8.
    Pcma,
}

impl Codec {
    /// Every codec, in the order we prefer them when we make an offer.
    pub const ALL: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    /// The static RTP payload type of RFC 3551.
    pub const fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The encoding name as written in an SDP `rtpmap`.
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// RTP clock rate in Hz.
    pub const fn clock_rate(self) -> u32 {
        8000
    }

    /// The encoded byte of a zero sample, used to send silence.
    pub const fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }

    /// Finds the codec for an SDP encoding name (case-insensitive) and clock rate.
    pub fn from_rtpmap(name: &str, rate: u32) -> Option<Codec> {
        if rate != 8000 {
            return None;
        }
        Codec::ALL
            .into_iter()
            .find(|c| c.encoding_name().eq_ignore_ascii_case(name))
    }

    /// Finds the codec for a static payload type offered without an `rtpmap`.
    pub fn from_static_payload_type(pt: u8) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.payload_type() == pt)
    }
}
