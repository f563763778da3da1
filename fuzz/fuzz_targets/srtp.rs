//! SRTP and SRTCP unprotect (`media::srtp`) on arbitrary packets, checking what the module's
//! tests claim: nothing a peer sends makes it panic, a packet keyed by us but changed in any
//! byte never passes, and a genuine packet passes once and is refused as a replay after.
//!
//! Input: the first byte picks the suite and the MKI length; the rest is tried as an SRTP and
//! an SRTCP packet, then XORed into a genuine packet of ours.
#![no_main]

use dialbridge::media::srtp::{MasterKey, SrtpError, SrtpKeys, SrtpSession, SrtpSuite};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let suite = SrtpSuite::ALL[usize::from(selector) % SrtpSuite::ALL.len()];
    let mki = if suite.rtp_tag_len().is_some() {
        usize::from(selector >> 6)
    } else {
        0
    };
    let key = |fill: u8| MasterKey::from_bytes(suite, &[fill; 46][..suite.key_material_len()]);
    let (Some(a), Some(b)) = (key(1), key(2)) else {
        return;
    };
    let mut sender = SrtpSession::new(&SrtpKeys {
        local: a.clone(),
        remote: b.clone(),
        remote_mki_len: 0,
    })
    .expect("fixed keys fit their suite");
    let mut receiver = SrtpSession::new(&SrtpKeys {
        local: b,
        remote: a,
        remote_mki_len: mki,
    })
    .expect("fixed keys fit their suite");

    let _ = receiver.unprotect_rtp(rest);
    let _ = receiver.unprotect_rtcp(rest);

    // A genuine packet of the sender, with the MKI the receiver expects before the tag.
    let mut plain = vec![0x80, 0, 0x12, 0x34, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef];
    plain.extend_from_slice(&[0xd5; 160]);
    let protected = sender.protect_rtp(&plain).expect("our packet protects");
    let mut genuine = protected.to_vec();
    if mki > 0 {
        let tag = suite.rtp_tag_len().unwrap_or(0);
        let cut = genuine.len() - tag;
        genuine.splice(cut..cut, std::iter::repeat_n(0x77, mki));
    }
    let mut tampered = genuine.clone();
    for (byte, flip) in tampered.iter_mut().zip(rest) {
        *byte ^= flip;
    }
    // MKI bytes are not authenticated (RFC 3711 §3.1): a change there alone may pass.
    let mki_range = genuine.len() - suite.rtp_tag_len().unwrap_or(0) - mki
        ..genuine.len() - suite.rtp_tag_len().unwrap_or(0);
    let changed_outside_mki = tampered
        .iter()
        .zip(&genuine)
        .enumerate()
        .any(|(i, (x, y))| x != y && !mki_range.contains(&i));
    match receiver.unprotect_rtp(&tampered) {
        Ok(back) => assert!(
            !changed_outside_mki && back[..] == plain[..],
            "a changed packet passed"
        ),
        Err(SrtpError::Replayed) => {}
        Err(_) => assert!(changed_outside_mki, "a genuine packet was refused"),
    }
    if receiver.unprotect_rtp(&genuine).is_ok() {
        assert_eq!(
            receiver.unprotect_rtp(&genuine),
            Err(SrtpError::Replayed),
            "a replay passed"
        );
    }
});
