//! The bottom layer of audio: RTP, G.711 and G.722, RFC 4733 and in-band DTMF, the jitter
//! buffer, loss concealment, resampling, talk detection, gain, tones and media ports. Nothing
//! here knows of calls, meetings or SIP.

pub mod agc;
pub mod codec;
pub mod digit_merger;
pub mod dtmf;
pub mod g711;
pub mod g722;
pub mod inband;
pub mod jitter;
pub mod plc;
pub mod ports;
pub mod prefetch;
pub mod resample;
pub mod rtp;
pub mod srtp;
pub mod tone;
pub mod transcoder;
pub mod vad;
pub mod wide_fade;
