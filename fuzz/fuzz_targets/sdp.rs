//! SDP offer/answer (`sip::sdp`): a caller's offer answered, and a peer's answer to our offer
//! read, from arbitrary bytes, checking what the module's tests claim:
//! - an answer we write parses, mirrors every offered media line and accepts exactly one, at
//!   our port, with our 20 ms ptime;
//! - a negotiated codec is numbered as offered (our own static numbers when reading an
//!   answer to our offer);
//! - peer text copied into errors stays short.
//!
//! Input: the first byte picks our local address and port, the rest is the SDP body.
#![no_main]

use std::net::IpAddr;

use dialbridge::sip::sdp::{self, LocalMedia, PTIME_MS, SdpError};
use libfuzzer_sys::fuzz_target;
use sdp_types::Session;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let local = local_media(selector);

    match sdp::answer(body, &local) {
        Ok((negotiated, answer)) => {
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

    match sdp::read_answer(body) {
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
