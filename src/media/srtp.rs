//! SRTP and SRTCP (RFC 3711, RFC 7714) for one call, keyed by SDES master keys (RFC 4568).
//!
//! The transforms are `rtc-srtp`'s (webrtc-rs, sans-IO, maintained): AES counter mode through
//! RustCrypto's `aes` (AES-NI detected at run time) and HMAC-SHA1 and AES-GCM through `ring`.
//! This module adds what a telephone call needs around them: the SDES suite names, master keys
//! that are random per call, redacted in `Debug` and wiped when dropped, a bound on how many
//! sources a call may bring (the crate keeps state per SSRC before it authenticates a packet), and
//! one error per reason a packet is dropped so each can be counted.

use std::fmt;

use rand::Rng;
use rtc_srtp::context::Context;
use rtc_srtp::crypto::providers::RingCrypto;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;
use zeroize::Zeroize;

/// Longest master key plus salt of any suite we speak (AES-256 key, 14-byte salt).
pub const MAX_KEY_MATERIAL: usize = 46;

/// Packets remembered for replay protection, per source (RFC 3711 §3.3.2 asks for at least 64).
const REPLAY_WINDOW: usize = 128;

/// Most sources (SSRCs) one call may bring over its life: the crate keeps state for each
/// before it can tell a forged packet, so an unbounded number would be a memory attack.
const MAX_SOURCES: usize = 16;

/// An SDES crypto suite (RFC 4568 §6.2, RFC 6188, RFC 7714 §14.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrtpSuite {
    /// AES-128 counter mode, 80-bit HMAC-SHA1 tag: the one every SRTP peer speaks.
    AesCm128HmacSha1_80,
    /// AES-128 counter mode, 32-bit HMAC-SHA1 tag (Twilio, some SBCs).
    AesCm128HmacSha1_32,
    /// AES-256 counter mode, 80-bit HMAC-SHA1 tag (RFC 6188).
    Aes256CmHmacSha1_80,
    /// AES-256 counter mode, 32-bit HMAC-SHA1 tag (RFC 6188).
    Aes256CmHmacSha1_32,
    /// AES-128 GCM (RFC 7714): encryption and authentication in one pass.
    AeadAes128Gcm,
    /// AES-256 GCM (RFC 7714).
    AeadAes256Gcm,
}

impl SrtpSuite {
    /// Every suite, in the order we prefer when we make an offer.
    pub const ALL: [SrtpSuite; 6] = [
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32,
        SrtpSuite::AeadAes128Gcm,
        SrtpSuite::Aes256CmHmacSha1_80,
        SrtpSuite::Aes256CmHmacSha1_32,
        SrtpSuite::AeadAes256Gcm,
    ];

    /// The suite's name in SDP `a=crypto` lines.
    pub fn sdes_name(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            SrtpSuite::Aes256CmHmacSha1_80 => "AES_256_CM_HMAC_SHA1_80",
            SrtpSuite::Aes256CmHmacSha1_32 => "AES_256_CM_HMAC_SHA1_32",
            SrtpSuite::AeadAes128Gcm => "AEAD_AES_128_GCM",
            SrtpSuite::AeadAes256Gcm => "AEAD_AES_256_GCM",
        }
    }

    /// Reads a suite name; names are case-sensitive in RFC 4568 but peers vary, so we are not.
    pub fn from_sdes_name(name: &str) -> Option<SrtpSuite> {
        SrtpSuite::ALL
            .into_iter()
            .find(|s| s.sdes_name().eq_ignore_ascii_case(name))
    }

    /// Bytes of master key plus master salt carried in one `inline:` key.
    pub fn key_material_len(self) -> usize {
        let profile = self.profile();
        profile.key_len() + profile.salt_len()
    }

    /// A short label for metrics and logs.
    pub fn label(self) -> &'static str {
        self.sdes_name()
    }

    /// The SRTP tag after which an MKI sits, for the suites where an MKI is supported (the
    /// HMAC ones; with GCM the tag is part of the cipher text and we refuse an MKI).
    pub fn rtp_tag_len(self) -> Option<usize> {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 | SrtpSuite::Aes256CmHmacSha1_80 => Some(10),
            SrtpSuite::AesCm128HmacSha1_32 | SrtpSuite::Aes256CmHmacSha1_32 => Some(4),
            SrtpSuite::AeadAes128Gcm | SrtpSuite::AeadAes256Gcm => None,
        }
    }

    /// The SRTCP tag: 80 bits for every HMAC suite (RFC 3711 §5.2; the 32-bit ones too).
    pub fn rtcp_tag_len(self) -> Option<usize> {
        self.rtp_tag_len().map(|_| 10)
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
            SrtpSuite::Aes256CmHmacSha1_80 => ProtectionProfile::Aes256CmHmacSha1_80,
            SrtpSuite::Aes256CmHmacSha1_32 => ProtectionProfile::Aes256CmHmacSha1_32,
            SrtpSuite::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
            SrtpSuite::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
        }
    }
}

impl fmt::Display for SrtpSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sdes_name())
    }
}

/// One side's master key and salt for a suite: secret, so never printed and wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    suite: SrtpSuite,
    bytes: [u8; MAX_KEY_MATERIAL],
}

impl MasterKey {
    /// Fresh random key material for `suite`, from a cryptographically secure generator.
    pub fn random(suite: SrtpSuite, rng: &mut impl Rng) -> MasterKey {
        let mut bytes = [0u8; MAX_KEY_MATERIAL];
        if let Some(used) = bytes.get_mut(..suite.key_material_len()) {
            rng.fill_bytes(used);
        }
        MasterKey { suite, bytes }
    }

    /// Key material as received (key then salt); `None` unless its length fits the suite.
    pub fn from_bytes(suite: SrtpSuite, material: &[u8]) -> Option<MasterKey> {
        if material.len() != suite.key_material_len() {
            return None;
        }
        let mut bytes = [0u8; MAX_KEY_MATERIAL];
        bytes.get_mut(..material.len())?.copy_from_slice(material);
        Some(MasterKey { suite, bytes })
    }

    /// The suite the key is for.
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    /// Key then salt, as SDES carries them.
    pub fn material(&self) -> &[u8] {
        self.bytes
            .get(..self.suite.key_material_len())
            .unwrap_or(&self.bytes)
    }

    fn context(&self, replay: bool) -> Result<Context, SrtpError> {
        let profile = self.suite.profile();
        let material = self.material();
        let (key, salt) = material.split_at(profile.key_len().min(material.len()));
        let (rtp, rtcp) = if replay {
            (
                Some(srtp_replay_protection(REPLAY_WINDOW)),
                Some(srtcp_replay_protection(REPLAY_WINDOW)),
            )
        } else {
            (None, None)
        };
        Context::new(key, salt, profile, rtp, rtcp, &RingCrypto)
            .map_err(|_| SrtpError::Key { suite: self.suite })
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({}, <redacted>)", self.suite)
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// What both sides agreed for a call's SRTP: the suite, our key (we protect with it) and the
/// peer's (we check and decrypt with it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrtpKeys {
    /// Ours: protects what we send.
    pub local: MasterKey,
    /// The peer's: unprotects what we receive.
    pub remote: MasterKey,
    /// Bytes of MKI the peer puts before each packet's tag (0: none); we strip them.
    pub remote_mki_len: usize,
}

impl SrtpKeys {
    /// The agreed suite (both keys are for it).
    pub fn suite(&self) -> SrtpSuite {
        self.local.suite()
    }
}

/// Why SRTP could not be set up or a packet was dropped; each reason is counted apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    /// The crypto library refused the key (wrong length for the suite).
    #[error("the {suite} key could not be used")]
    Key {
        /// The suite the key was for.
        suite: SrtpSuite,
    },
    /// The packet was seen before, or is older than the replay window (RFC 3711 §3.3.2).
    #[error("replayed packet")]
    Replayed,
    /// The authentication tag did not match: tampered, or keyed by someone else.
    #[error("packet failed authentication")]
    Unauthentic,
    /// Too short or not RTP/RTCP at all.
    #[error("malformed packet")]
    Malformed,
    /// A new source after the call already brought [`MAX_SOURCES`].
    #[error("too many sources in one call")]
    TooManySources,
    /// Our own packet could not be protected (the crate refused it).
    #[error("packet could not be protected")]
    Protect,
}

/// A call's two SRTP contexts (RFC 3711 keeps sender and receiver state apart).
pub struct SrtpSession {
    suite: SrtpSuite,
    /// Protects what we send, with our key.
    outbound: Context,
    /// Checks and decrypts what the peer sends, with its key.
    inbound: Context,
    /// Sources seen on this call, bounded by [`MAX_SOURCES`].
    sources: Vec<u32>,
    /// The peer's MKI length, stripped before its tags.
    mki_len: usize,
}

impl SrtpSession {
    /// Both contexts for the agreed keys.
    pub fn new(keys: &SrtpKeys) -> Result<SrtpSession, SrtpError> {
        Ok(SrtpSession {
            suite: keys.suite(),
            outbound: keys.local.context(false)?,
            inbound: keys.remote.context(true)?,
            sources: Vec::new(),
            mki_len: keys.remote_mki_len,
        })
    }

    /// The suite in use.
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    /// Encrypts and authenticates one RTP packet of ours.
    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<bytes::BytesMut, SrtpError> {
        self.outbound
            .encrypt_rtp(packet)
            .map_err(|_| SrtpError::Protect)
    }

    /// Checks and decrypts one SRTP packet from the peer; the plain RTP packet on success.
    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Result<bytes::BytesMut, SrtpError> {
        let ssrc = packet
            .get(8..12)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or(SrtpError::Malformed)?;
        self.admit_source(ssrc)?;
        match self.suite.rtp_tag_len().filter(|_| self.mki_len > 0) {
            Some(tag) => {
                let stripped = strip_mki(packet, self.mki_len, tag)?;
                self.inbound.decrypt_rtp(&stripped).map_err(classify)
            }
            None => self.inbound.decrypt_rtp(packet).map_err(classify),
        }
    }

    /// Checks and decrypts one SRTCP packet from the peer (RTCP multiplexed on the RTP port).
    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<bytes::BytesMut, SrtpError> {
        let ssrc = packet
            .get(4..8)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .ok_or(SrtpError::Malformed)?;
        self.admit_source(ssrc)?;
        match self.suite.rtcp_tag_len().filter(|_| self.mki_len > 0) {
            Some(tag) => {
                let stripped = strip_mki(packet, self.mki_len, tag)?;
                self.inbound.decrypt_rtcp(&stripped).map_err(classify)
            }
            None => self.inbound.decrypt_rtcp(packet).map_err(classify),
        }
    }

    fn admit_source(&mut self, ssrc: u32) -> Result<(), SrtpError> {
        if self.sources.contains(&ssrc) {
            return Ok(());
        }
        if self.sources.len() >= MAX_SOURCES {
            return Err(SrtpError::TooManySources);
        }
        self.sources.push(ssrc);
        Ok(())
    }
}

impl fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpSession")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// The packet without the `mki_len` bytes that sit just before its `tag_len`-byte tag
/// (RFC 3711 §3.1); the crate reads packets without an MKI.
fn strip_mki(packet: &[u8], mki_len: usize, tag_len: usize) -> Result<Vec<u8>, SrtpError> {
    let tail = mki_len + tag_len;
    let cut = packet
        .len()
        .checked_sub(tail)
        .filter(|cut| *cut >= 12)
        .ok_or(SrtpError::Malformed)?;
    let mut out = Vec::with_capacity(packet.len() - mki_len);
    out.extend_from_slice(packet.get(..cut).ok_or(SrtpError::Malformed)?);
    out.extend_from_slice(packet.get(cut + mki_len..).ok_or(SrtpError::Malformed)?);
    Ok(out)
}

/// Sorts the crate's errors into the reasons we count.
fn classify(error: rtc_shared::error::Error) -> SrtpError {
    use rtc_shared::error::Error;
    match error {
        Error::SrtpSsrcDuplicated(..) | Error::SrtcpSsrcDuplicated(..) => SrtpError::Replayed,
        Error::ErrTooShortRtp
        | Error::ErrTooShortRtcp
        | Error::ErrHeaderSizeInsufficient
        | Error::ErrHeaderSizeInsufficientForExtension
        | Error::PacketTooShort
        | Error::BufferTooShort => SrtpError::Malformed,
        _ => SrtpError::Unauthentic,
    }
}

#[cfg(test)]
mod tests;
