//! SDP offer/answer (`sip::sdp`): a caller's offer answered, and a peer's answer to our offer
//! read, from arbitrary bytes, checking what the module's tests claim:
//! - an answer we write parses, mirrors every offered media line and accepts exactly one, at
//!   our port, with our 20 ms ptime;
//! - a negotiated codec is numbered as offered (our own static numbers when reading an
//!   answer to our offer);
//! - peer text copied into errors stays short;
//! - SRTP (when bit 0x40 of the first byte allows it): an agreed stream is `RTP/SAVP(F)` and
//!   our answer carries exactly one `a=crypto` line that reads back with our key, and the SDES
//!   `a=crypto` parser never panics on what peers send.
//!
//! Input: the first byte picks our local address and port and the SRTP policy, the rest is
//! the SDP body.
#![no_main]

use std::net::IpAddr;

use dialbridge::media::srtp::{MasterKey, SrtpSuite};
use dialbridge::sip::sdes;
use dialbridge::sip::sdp::{self, LocalMedia, PTIME_MS, SdpError, SrtpMode, SrtpPolicy};
use libfuzzer_sys::fuzz_target;
use sdp_types::Session;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let local = local_media(selector);

    let policy = if selector & 0x40 == 0 {
        SrtpPolicy::PLAIN
    } else {
        SrtpPolicy {
            mode: if selector & 0x20 == 0 {
                SrtpMode::Offer
            } else {
                SrtpMode::Require
            },
            keys_allowed: true,
        }
    };
    let fixed_key = |suite: SrtpSuite| {
        MasterKey::from_bytes(suite, &[0x5a; 46][..suite.key_material_len()])
    };
    match sdp::answer_with(body, &local, policy, &mut |suite| fixed_key(suite)) {
        Ok((negotiated, answer)) => {
            let crypto_lines: Vec<&str> = answer
                .lines()
                .filter_map(|l| l.strip_prefix("a=crypto:"))
                .collect();
            match &negotiated.srtp {
                Some(keys) => {
                    assert_eq!(crypto_lines.len(), 1, "one a=crypto line: {answer}");
                    let ours = sdes::parse(crypto_lines[0]).expect("our a=crypto reads back");
                    assert_eq!(ours.key, keys.local, "our answer carries our key");
                    assert!(answer.contains("RTP/SAVP"), "SRTP answered as SAVP: {answer}");
                }
                None => {
                    assert!(crypto_lines.is_empty(), "no keys for plain RTP: {answer}");
                    assert!(policy.mode != SrtpMode::Require, "plain under require");
                }
            }
            assert_eq!(negotiated.ptime_ms, PTIME_MS);
            let offered = Session::parse(body).expect("the offer parsed once already");
            let ours = match Session::parse(answer.as_bytes()) {
                Ok(s) => s,
                Err(e) => panic!("our answer does not parse ({e}): {answer}"),
            };
            assert_eq!(
                ours.medias.len(),
                offered.medias.len(),
                "the answer must mirror every media line: {answer}"
            );
            let active: Vec<u16> = ours
                .medias
                .iter()
                .map(|m| m.port)
                .filter(|&p| p != 0)
                .collect();
            assert_eq!(
                active,
                [local.port],
                "exactly one accepted stream: {answer}"
            );
            if let Some(remote) = negotiated.remote {
                assert!(!remote.ip().is_multicast(), "multicast remote {remote}");
                assert!(
                    !remote.ip().is_unspecified(),
                    "hold address as remote {remote}"
                );
            }
        }
        Err(e) => check_error(&e),
    }

    if let Ok(text) = std::str::from_utf8(body) {
        for line in text.lines().filter_map(|l| l.strip_prefix("a=crypto:")) {
            let _ = sdes::parse(line);
        }
    }
    let offered = fixed_key(SrtpSuite::AesCm128HmacSha1_80);
    if let Ok(negotiated) = sdp::read_answer(body, offered.as_ref()) {
        assert!(negotiated.srtp.is_some(), "an answer to an SRTP offer is SRTP");
    }
    match sdp::read_answer(body, None) {
        Ok(negotiated) => {
            assert_eq!(
                negotiated.payload_type,
                negotiated.codec.payload_type(),
                "an answer to our offer must use our static payload type"
            );
            assert!(
                negotiated
                    .telephone_event
                    .is_none_or(|pt| pt == sdp::TELEPHONE_EVENT_PT),
                "telephone-event only at the number we offered"
            );
        }
        Err(e) => check_error(&e),
    }
});

fn check_error(e: &SdpError) {
    assert!(matches!(e.status_code(), 400 | 413 | 488));
    match e {
        SdpError::UnsupportedTransport { proto } => {
            assert!(
                proto.chars().count() <= 64,
                "long transport in error: {proto:?}"
            );
        }
        SdpError::BadConnection { address, .. } => {
            assert!(
                address.chars().count() <= 64,
                "long address in error: {address:?}"
            );
        }
        _ => {}
    }
    let _ = e.to_string();
}

/// Our side: IPv4, IPv6 or IPv4-mapped IPv6, with a low or high port.
fn local_media(selector: u8) -> LocalMedia {
    let ip = match selector % 3 {
        0 => IpAddr::from([127, 0, 0, 1]),
        1 => IpAddr::from([0, 0, 0, 0, 0, 0, 0, 1]),
        _ => IpAddr::from([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]),
    };
    LocalMedia {
        ip,
        port: if selector & 0x80 == 0 { 20_000 } else { 65_534 },
        session_id: u64::from(selector) << 40,
        session_version: u64::MAX - u64::from(selector),
    }
}
