//! Everything audio: RTP, G.711, DTMF, prompts and hold music, the media workers.

pub mod agc;
pub mod assets;
pub mod codec;
pub mod digit_merger;
pub mod driver;
pub mod dtmf;
pub mod g711;
pub mod g722;
pub mod inband;
pub mod jitter;
pub mod player;
pub mod plc;
pub mod ports;
pub mod resample;
pub mod rtp;
pub mod tone;
pub mod transcoder;
pub mod vad;
