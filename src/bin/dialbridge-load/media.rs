//! What the generator sends and recognises on RTP: PCMU frames and RFC 4733 key events out;
//! the bridge's lobby prompt and hold music in, recognised byte for byte.
//!
//! The bridge's audio is deterministic: a lobby caller hears the `LobbyWait` prompt and then
//! the hold music, pre-encoded frames of the bundled assets (the end-to-end tests recognise
//! them the same way). The hold music has no frame of digital silence, and a caller moved
//! into a meeting hears silence or the mix: so once a caller has heard hold music, the
//! first frame that is neither hold music nor the lobby prompt is the meeting.

use std::collections::{HashMap, HashSet};

use dialbridge::ivr::assets::{AssetError, Assets, Frame};
use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::{Law, SAMPLES_PER_FRAME};
use dialbridge::media::dtmf::{TelephoneEvent, write_event};
use dialbridge::media::rtp::RTP_HEADER_LEN;

/// Payload type of PCMU (RFC 3551).
pub const PCMU: u8 = 0;
/// Payload type we offer for telephone-event/8000.
pub const TELEPHONE_EVENT: u8 = 101;
/// RTP timestamp units per 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: u32 = SAMPLES_PER_FRAME as u32;
/// Packets per key: the start and three end packets (RFC 4733 §2.5.1.4), one per 20 ms.
pub const PACKETS_PER_KEY: u8 = 4;

/// What a received PCMU frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// A frame of the hold music.
    HoldMusic,
    /// Frame `index` of the lobby prompt (its digital-silence frames excluded).
    LobbyPrompt(u16),
    /// A frame of the lobby prompt that some other prompt has too: lobby audio, but not
    /// proof that the lobby began.
    LobbyShared,
    /// Digital silence.
    Silence,
    /// Anything else: IVR prompts, the meeting's mix.
    Other,
}

/// Recognises the bridge's lobby audio.
pub struct Recognizer {
    hold: HashSet<Frame>,
    lobby: HashMap<Frame, u16>,
    lobby_all: HashSet<Frame>,
    silence: Frame,
}

impl Recognizer {
    /// Loads the bundled assets (the bridge must run with them: no `--assets-dir`).
    pub fn bundled() -> Result<Recognizer, AssetError> {
        let assets = Assets::bundled()?;
        let silence = [Law::Mu.silence_byte(); SAMPLES_PER_FRAME];
        let hold: HashSet<Frame> = assets
            .hold_music()
            .frames(Law::Mu)
            .iter()
            .copied()
            .collect();
        // Frames that other prompts share would mark the lobby too early.
        let elsewhere: HashSet<Frame> = Prompt::ALL
            .iter()
            .filter(|p| **p != Prompt::LobbyWait)
            .flat_map(|p| assets.prompt(*p).frames(Law::Mu).iter().copied())
            .collect();
        let mut lobby = HashMap::new();
        let lobby_frames = assets.prompt(Prompt::LobbyWait).frames(Law::Mu);
        let lobby_all: HashSet<Frame> = lobby_frames
            .iter()
            .filter(|f| **f != silence)
            .copied()
            .collect();
        for (i, f) in lobby_frames.iter().enumerate() {
            if *f != silence && !elsewhere.contains(f) {
                lobby
                    .entry(*f)
                    .or_insert(u16::try_from(i).unwrap_or(u16::MAX));
            }
        }
        Ok(Recognizer {
            hold,
            lobby,
            lobby_all,
            silence,
        })
    }

    /// Classifies one PCMU payload.
    pub fn classify(&self, payload: &[u8]) -> Heard {
        let Ok(frame) = <&Frame>::try_from(payload) else {
            return Heard::Other;
        };
        if self.hold.contains(frame) {
            Heard::HoldMusic
        } else if let Some(i) = self.lobby.get(frame) {
            Heard::LobbyPrompt(*i)
        } else if self.lobby_all.contains(frame) {
            Heard::LobbyShared
        } else if *frame == self.silence {
            Heard::Silence
        } else {
            Heard::Other
        }
    }
}

/// One outgoing RTP stream's counters.
#[derive(Clone, Debug)]
pub struct Stream {
    /// SSRC.
    pub ssrc: u32,
    /// Next sequence number.
    pub seq: u16,
    /// Timestamp of the current 20 ms frame (advances every frame, sent or not).
    pub ts: u32,
    /// Set the marker on the next audio packet.
    pub mark: bool,
}

impl Stream {
    /// A stream with the given random start values.
    pub fn new(ssrc: u32, seq: u16, ts: u32) -> Stream {
        Stream {
            ssrc,
            seq,
            ts,
            mark: true,
        }
    }

    /// Writes one packet with an explicit timestamp; returns its length.
    fn write(
        &mut self,
        buf: &mut [u8; 256],
        marker: bool,
        pt: u8,
        ts: u32,
        payload: &[u8],
    ) -> usize {
        let mut header = [0u8; RTP_HEADER_LEN];
        header[0] = 0x80;
        header[1] = (u8::from(marker) << 7) | (pt & 0x7F);
        header[2..4].copy_from_slice(&self.seq.to_be_bytes());
        header[4..8].copy_from_slice(&ts.to_be_bytes());
        header[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let len = (RTP_HEADER_LEN + payload.len()).min(buf.len());
        buf[..RTP_HEADER_LEN].copy_from_slice(&header);
        buf[RTP_HEADER_LEN..len].copy_from_slice(&payload[..len - RTP_HEADER_LEN]);
        self.seq = self.seq.wrapping_add(1);
        len
    }

    /// Packet `part` (0 = start) of the key event that began at `event_ts`.
    pub fn key_packet(&mut self, buf: &mut [u8; 256], key: u8, part: u8, event_ts: u32) -> usize {
        let ev = TelephoneEvent {
            event: key,
            end: part > 0,
            volume: 10,
            // The start packet covers one frame; the end packets the whole two-frame key.
            duration: if part == 0 { 160 } else { 320 },
        };
        let mut payload = [0u8; 4];
        write_event(&ev, &mut payload);
        self.write(buf, part == 0, TELEPHONE_EVENT, event_ts, &payload)
    }

    /// One PCMU frame at the current timestamp.
    pub fn audio_packet(&mut self, buf: &mut [u8; 256], frame: &Frame) -> usize {
        let mark = std::mem::take(&mut self.mark);
        self.write(buf, mark, PCMU, self.ts, frame)
    }
}

/// The RFC 4733 event code of a key.
pub fn event_code(key: u8) -> Option<u8> {
    match key {
        b'0'..=b'9' => Some(key - b'0'),
        b'*' => Some(10),
        b'#' => Some(11),
        _ => None,
    }
}

/// One second of a 440 Hz tone at about −16 dBm0, as 50 PCMU frames: what `--audio` callers
/// say (the bridge's talk detection counts them as talkers).
pub fn tone_frames() -> Vec<Frame> {
    (0..50)
        .map(|f| {
            let mut frame = [0u8; SAMPLES_PER_FRAME];
            for (i, b) in frame.iter_mut().enumerate() {
                let n = (f * SAMPLES_PER_FRAME + i) as f64;
                let s = (n * 440.0 * std::f64::consts::TAU / 8000.0).sin() * 4000.0;
                *b = dialbridge::media::g711::linear_to_ulaw(s as i16);
            }
            frame
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lobby_prompt_and_hold_music_are_told_from_silence_and_the_ivr() {
        let r = Recognizer::bundled().unwrap();
        let a = Assets::bundled().unwrap();
        assert_eq!(
            r.classify(&a.hold_music().frames(Law::Mu)[7]),
            Heard::HoldMusic
        );
        let lobby = a.prompt(Prompt::LobbyWait).frames(Law::Mu);
        let first = lobby
            .iter()
            .position(|f| r.classify(f) != Heard::Silence)
            .unwrap();
        assert_eq!(r.classify(&lobby[first]), Heard::LobbyPrompt(first as u16));
        assert_eq!(r.classify(&[0xFF; 160]), Heard::Silence);
        let ivr = a.prompt(Prompt::OrganizerQuestion).frames(Law::Mu);
        assert!(
            ivr.iter()
                .all(|f| matches!(r.classify(f), Heard::Other | Heard::Silence))
        );
        assert_eq!(r.classify(&[1, 2, 3]), Heard::Other);
    }

    #[test]
    fn key_packets_carry_the_event_and_the_end_bit() {
        let mut s = Stream::new(7, 1, 1000);
        let mut buf = [0u8; 256];
        let n = s.key_packet(&mut buf, 11, 0, 1000);
        let p = dialbridge::media::rtp::parse(&buf[..n]).unwrap();
        assert!(p.marker);
        assert_eq!(p.payload_type, TELEPHONE_EVENT);
        assert_eq!(p.payload[0], 11);
        let n = s.key_packet(&mut buf, 11, 2, 1000);
        let p = dialbridge::media::rtp::parse(&buf[..n]).unwrap();
        assert_eq!((p.sequence, p.payload[1] & 0x80), (2, 0x80));
    }
}
