//! SDES key exchange for SRTP: the SDP `a=crypto` attribute (RFC 4568 §9.1).
//!
//! What the bridge accepts from a peer, and why the rest is refused (the line is skipped; an
//! offer with no usable line is answered 488):
//! - One key per line. Several keys on one line only make sense with an MKI to tell them apart.
//! - An MKI is read and stripped from the peer's packets (Cisco and some SBCs send `|1:1`); our
//!   own key carries none, since we never change keys within a call.
//! - A key lifetime (`|2^31`, as Teams sends, or a plain number) of at least 2^20 packets:
//!   5.8 hours of 20 ms packets. We never re-key, so a shorter one cannot be honoured.
//! - Session parameters: `WSH` (a hint) and `KDR=0` (the default) are fine; anything that turns
//!   off encryption or authentication, a key derivation rate, FEC or an unknown parameter is
//!   refused, since we would not do what it asks.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

use crate::media::srtp::{MasterKey, SrtpSuite};

/// The shortest key lifetime we accept, in packets (see the module notes).
pub const MIN_LIFETIME_LOG2: u32 = 20;

/// Longest MKI we read, in bytes (RFC 4568 allows 1–128; real ones are 1–4).
const MAX_MKI_LEN: usize = 128;

/// Largest tag (RFC 4568 §9.1: 1–9 digits).
const MAX_TAG: u32 = 999_999_999;

/// One usable `a=crypto` line from a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptoLine {
    /// The line's tag, echoed in our answer.
    pub tag: u32,
    /// The peer's key for the line's suite.
    pub key: MasterKey,
    /// Length of the MKI the peer puts in its packets (0: none).
    pub mki_len: usize,
}

/// Why an `a=crypto` line cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoLineError {
    /// The line does not follow RFC 4568's grammar.
    #[error("the a=crypto line is malformed")]
    Malformed,
    /// A suite we do not speak.
    #[error("the crypto suite is not one the bridge speaks")]
    UnknownSuite,
    /// The key is not base64 or has the wrong length for the suite.
    #[error("the key is not valid for its suite")]
    BadKey,
    /// Several keys on one line.
    #[error("several keys on one line are not supported")]
    SeveralKeys,
    /// The key lifetime is shorter than [`MIN_LIFETIME_LOG2`] allows.
    #[error("the key lifetime is shorter than 2^{MIN_LIFETIME_LOG2} packets")]
    ShortLifetime,
    /// An MKI with a GCM suite, whose tag is part of the cipher text.
    #[error("an MKI with an AEAD suite is not supported")]
    MkiWithAead,
    /// A session parameter we would not honour.
    #[error("a session parameter the bridge does not honour")]
    SessionParameter,
}

/// Reads the value of one `a=crypto` attribute (what follows `crypto:`).
pub fn parse(value: &str) -> Result<CryptoLine, CryptoLineError> {
    let mut fields = value.split_ascii_whitespace();
    let tag = fields
        .next()
        .filter(|t| !t.is_empty() && t.len() <= 9 && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<u32>().ok())
        .filter(|t| *t <= MAX_TAG)
        .ok_or(CryptoLineError::Malformed)?;
    let suite = fields.next().ok_or(CryptoLineError::Malformed)?;
    let suite = SrtpSuite::from_sdes_name(suite).ok_or(CryptoLineError::UnknownSuite)?;
    let key_params = fields.next().ok_or(CryptoLineError::Malformed)?;
    if key_params.contains(';') {
        return Err(CryptoLineError::SeveralKeys);
    }
    let (method, info) = key_params
        .split_once(':')
        .ok_or(CryptoLineError::Malformed)?;
    if !method.eq_ignore_ascii_case("inline") {
        return Err(CryptoLineError::Malformed);
    }
    let mut parts = info.split('|');
    let key_salt = parts.next().ok_or(CryptoLineError::Malformed)?;
    let mut mki_len = 0;
    let mut seen_lifetime = false;
    for part in parts {
        if let Some((_, len)) = part.split_once(':') {
            if mki_len != 0 {
                return Err(CryptoLineError::Malformed);
            }
            mki_len = len
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=MAX_MKI_LEN).contains(l))
                .ok_or(CryptoLineError::Malformed)?;
        } else if !seen_lifetime && mki_len == 0 {
            seen_lifetime = true;
            check_lifetime(part)?;
        } else {
            return Err(CryptoLineError::Malformed);
        }
    }
    for parameter in fields {
        check_session_parameter(parameter)?;
    }
    if mki_len > 0 && suite.rtp_tag_len().is_none() {
        return Err(CryptoLineError::MkiWithAead);
    }
    let material = decode_key(key_salt)?;
    let key = MasterKey::from_bytes(suite, &material).ok_or(CryptoLineError::BadKey);
    wipe(material);
    Ok(CryptoLine {
        tag,
        key: key?,
        mki_len,
    })
}

/// Writes our `a=crypto` value for an answer or offer: tag, suite and key, nothing else.
pub fn write(tag: u32, key: &MasterKey) -> impl fmt::Display + '_ {
    struct Line<'a>(u32, &'a MasterKey);
    impl fmt::Display for Line<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let mut encoded = STANDARD.encode(self.1.material());
            let result = write!(
                f,
                "{} {} inline:{}",
                self.0,
                self.1.suite().sdes_name(),
                encoded
            );
            wipe_string(&mut encoded);
            result
        }
    }
    Line(tag, key)
}

/// `2^N` or a decimal packet count, at least 2^[`MIN_LIFETIME_LOG2`].
fn check_lifetime(text: &str) -> Result<(), CryptoLineError> {
    let packets_log2 = if let Some(exponent) = text.strip_prefix("2^") {
        exponent
            .parse::<u32>()
            .ok()
            .filter(|e| *e <= 64)
            .ok_or(CryptoLineError::Malformed)?
    } else {
        let count = text
            .parse::<u64>()
            .ok()
            .filter(|c| *c > 0)
            .ok_or(CryptoLineError::Malformed)?;
        63 - count.leading_zeros()
    };
    if packets_log2 < MIN_LIFETIME_LOG2 {
        return Err(CryptoLineError::ShortLifetime);
    }
    Ok(())
}

/// Session parameters (RFC 4568 §6.3): only the harmless ones pass.
fn check_session_parameter(parameter: &str) -> Result<(), CryptoLineError> {
    let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
    if name.eq_ignore_ascii_case("WSH") {
        return Ok(());
    }
    if name.eq_ignore_ascii_case("KDR") && value == "0" {
        return Ok(());
    }
    Err(CryptoLineError::SessionParameter)
}

/// Base64 with or without padding (RFC 4568 asks for padding; not every phone adds it).
fn decode_key(text: &str) -> Result<Vec<u8>, CryptoLineError> {
    if text.len() > 128 {
        return Err(CryptoLineError::BadKey);
    }
    STANDARD
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .map_err(|_| CryptoLineError::BadKey)
}

fn wipe(mut bytes: Vec<u8>) {
    use zeroize::Zeroize;
    bytes.zeroize();
}

fn wipe_string(text: &mut String) {
    use zeroize::Zeroize;
    text.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const KEY30: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    #[test]
    fn reads_the_lines_real_peers_send() {
        // RFC 4568 §6.1's example (the key lifetime and MKI form).
        let line = parse(&format!(
            "1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^20|1:4"
        ))
        .unwrap();
        assert_eq!((line.tag, line.mki_len), (1, 4));
        assert_eq!(line.key.suite(), SrtpSuite::AesCm128HmacSha1_80);
        // Teams: a lifetime of 2^31 and no MKI.
        let line = parse(&format!("2 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^31")).unwrap();
        assert_eq!((line.tag, line.mki_len), (2, 0));
        // baresip / Twilio: the key only.
        let line = parse(&format!("3 AES_CM_128_HMAC_SHA1_32 inline:{KEY30}")).unwrap();
        assert_eq!(line.key.suite(), SrtpSuite::AesCm128HmacSha1_32);
        // A decimal lifetime and a window-size hint.
        assert!(
            parse(&format!(
                "4 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1048576 WSH=64"
            ))
            .is_ok()
        );
        // Unpadded base64.
        let gcm = STANDARD_NO_PAD.encode([7u8; 28]);
        assert!(parse(&format!("5 AEAD_AES_128_GCM inline:{gcm}")).is_ok());
    }

    #[test]
    fn refuses_what_it_would_not_honour() {
        let cases = [
            ("", CryptoLineError::Malformed),
            (
                "x AES_CM_128_HMAC_SHA1_80 inline:AAAA",
                CryptoLineError::Malformed,
            ),
            (
                "1234567890 AES_CM_128_HMAC_SHA1_80 inline:AAAA",
                CryptoLineError::Malformed,
            ),
            (
                "1 F8_128_HMAC_SHA1_80 inline:AAAA",
                CryptoLineError::UnknownSuite,
            ),
            (
                "1 AES_CM_128_HMAC_SHA1_80 inline:AAAA",
                CryptoLineError::BadKey,
            ),
            (
                "1 AES_CM_128_HMAC_SHA1_80 inline:!!!!",
                CryptoLineError::BadKey,
            ),
            (
                "1 AES_CM_128_HMAC_SHA1_80 uri:http://x",
                CryptoLineError::Malformed,
            ),
        ];
        for (text, error) in cases {
            assert_eq!(parse(text), Err(error), "{text}");
        }
        let refused = [
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^10"),
                CryptoLineError::ShortLifetime,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1000"),
                CryptoLineError::ShortLifetime,
            ),
            (
                format!(
                    "1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^20|1:4;inline:{KEY30}|2^20|2:4"
                ),
                CryptoLineError::SeveralKeys,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30} UNENCRYPTED_SRTP"),
                CryptoLineError::SessionParameter,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30} KDR=24"),
                CryptoLineError::SessionParameter,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1:0"),
                CryptoLineError::Malformed,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1:4|2^20"),
                CryptoLineError::Malformed,
            ),
        ];
        for (text, error) in refused {
            assert_eq!(parse(&text), Err(error), "{text}");
        }
    }

    #[test]
    fn our_line_reads_back_and_errors_never_show_the_key() {
        let mut rng = StdRng::seed_from_u64(3);
        for suite in SrtpSuite::ALL {
            let key = MasterKey::random(suite, &mut rng);
            let text = write(7, &key).to_string();
            let line = parse(&text).unwrap();
            assert_eq!((line.tag, &line.key, line.mki_len), (7, &key, 0));
            assert!(!format!("{line:?}").contains(text.rsplit(':').next().unwrap()));
        }
        let error = parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30} BOGUS")).unwrap_err();
        assert!(!error.to_string().contains(KEY30));
    }
}
