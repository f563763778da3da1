use super::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A minimal RTP packet: version 2, PCMU, the given sequence number and SSRC.
fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 160, 0, 0, 0, 0];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Two ends of one call: what `a` protects, `b` unprotects, and the other way round.
fn pair(suite: SrtpSuite, seed: u64) -> (SrtpSession, SrtpSession) {
    let mut rng = StdRng::seed_from_u64(seed);
    let ka = MasterKey::random(suite, &mut rng);
    let kb = MasterKey::random(suite, &mut rng);
    let a = SrtpSession::new(&SrtpKeys {
        local: ka.clone(),
        remote: kb.clone(),
        remote_mki_len: 0,
    })
    .unwrap();
    let b = SrtpSession::new(&SrtpKeys {
        local: kb,
        remote: ka,
        remote_mki_len: 0,
    })
    .unwrap();
    (a, b)
}

#[test]
fn every_suite_round_trips_and_hides_the_payload() {
    for suite in SrtpSuite::ALL {
        let (mut a, mut b) = pair(suite, 7);
        let payload = [0x55u8; 160];
        for seq in 0..5u16 {
            let plain = rtp(seq, 0x1234, &payload);
            let wire = a.protect_rtp(&plain).unwrap();
            assert!(wire.len() > plain.len(), "{suite}: an auth tag is added");
            assert_eq!(
                &wire[..12],
                &plain[..12],
                "{suite}: the header stays readable"
            );
            assert!(
                !wire.windows(16).any(|w| w == &payload[..16]),
                "{suite}: the payload is encrypted"
            );
            let back = b.unprotect_rtp(&wire).unwrap();
            assert_eq!(&back[..], &plain[..], "{suite}");
        }
        // And the other way.
        let plain = rtp(9, 0x9999, &payload);
        let wire = b.protect_rtp(&plain).unwrap();
        assert_eq!(&a.unprotect_rtp(&wire).unwrap()[..], &plain[..]);
    }
}

#[test]
fn a_tampered_packet_fails_authentication() {
    for suite in SrtpSuite::ALL {
        let (mut a, mut b) = pair(suite, 8);
        let mut wire = a.protect_rtp(&rtp(1, 5, &[1u8; 160])).unwrap().to_vec();
        wire[20] ^= 0x01;
        assert_eq!(
            b.unprotect_rtp(&wire),
            Err(SrtpError::Unauthentic),
            "{suite}"
        );
        // The genuine packet still passes afterwards: a forgery does not poison the state.
        wire[20] ^= 0x01;
        assert!(b.unprotect_rtp(&wire).is_ok(), "{suite}");
    }
}

#[test]
fn a_replayed_packet_is_refused() {
    let (mut a, mut b) = pair(SrtpSuite::AesCm128HmacSha1_80, 9);
    let first = a.protect_rtp(&rtp(100, 5, &[2u8; 160])).unwrap();
    let second = a.protect_rtp(&rtp(101, 5, &[3u8; 160])).unwrap();
    assert!(b.unprotect_rtp(&first).is_ok());
    assert!(b.unprotect_rtp(&second).is_ok());
    assert_eq!(b.unprotect_rtp(&first), Err(SrtpError::Replayed));
    assert_eq!(b.unprotect_rtp(&second), Err(SrtpError::Replayed));
}

#[test]
fn a_packet_keyed_by_someone_else_is_refused() {
    let (mut a, _) = pair(SrtpSuite::AesCm128HmacSha1_32, 10);
    let (_, mut stranger) = pair(SrtpSuite::AesCm128HmacSha1_32, 11);
    let wire = a.protect_rtp(&rtp(1, 5, &[4u8; 160])).unwrap();
    assert_eq!(stranger.unprotect_rtp(&wire), Err(SrtpError::Unauthentic));
}

#[test]
fn short_and_garbage_packets_are_malformed_or_unauthentic_never_a_panic() {
    let (_, mut b) = pair(SrtpSuite::AesCm128HmacSha1_80, 12);
    for len in 0..40 {
        let junk = vec![0x80u8; len];
        assert!(b.unprotect_rtp(&junk).is_err());
        assert!(b.unprotect_rtcp(&junk).is_err());
    }
    assert_eq!(b.unprotect_rtp(&[0x80, 0, 0]), Err(SrtpError::Malformed));
}

#[test]
fn a_call_cannot_bring_unbounded_sources() {
    let (mut a, mut b) = pair(SrtpSuite::AesCm128HmacSha1_80, 13);
    for ssrc in 0..MAX_SOURCES as u32 {
        let wire = a.protect_rtp(&rtp(1, ssrc, &[5u8; 160])).unwrap();
        assert!(b.unprotect_rtp(&wire).is_ok());
    }
    let wire = a.protect_rtp(&rtp(1, 999, &[5u8; 160])).unwrap();
    assert_eq!(b.unprotect_rtp(&wire), Err(SrtpError::TooManySources));
    // Known sources still pass.
    let wire = a.protect_rtp(&rtp(2, 0, &[5u8; 160])).unwrap();
    assert!(b.unprotect_rtp(&wire).is_ok());
}

#[test]
fn keys_are_fresh_sized_per_suite_and_never_printed() {
    let mut rng = StdRng::seed_from_u64(14);
    for suite in SrtpSuite::ALL {
        let k1 = MasterKey::random(suite, &mut rng);
        let k2 = MasterKey::random(suite, &mut rng);
        assert_eq!(k1.material().len(), suite.key_material_len());
        assert_ne!(k1, k2);
        let shown = format!("{k1:?}");
        assert!(shown.contains("redacted"), "{shown}");
        let hex: String = k1.material().iter().map(|b| format!("{b:02x}")).collect();
        assert!(!shown.contains(&hex[..8]));
    }
    assert_eq!(SrtpSuite::AesCm128HmacSha1_80.key_material_len(), 30);
    assert_eq!(SrtpSuite::AeadAes128Gcm.key_material_len(), 28);
    assert_eq!(SrtpSuite::Aes256CmHmacSha1_80.key_material_len(), 46);
    assert_eq!(SrtpSuite::AeadAes256Gcm.key_material_len(), 44);
}

#[test]
fn suite_names_read_back() {
    for suite in SrtpSuite::ALL {
        assert_eq!(SrtpSuite::from_sdes_name(suite.sdes_name()), Some(suite));
    }
    assert_eq!(SrtpSuite::from_sdes_name("F8_128_HMAC_SHA1_80"), None);
    assert!(MasterKey::from_bytes(SrtpSuite::AesCm128HmacSha1_80, &[0; 29]).is_none());
    assert!(MasterKey::from_bytes(SrtpSuite::AesCm128HmacSha1_80, &[0; 30]).is_some());
}

#[test]
fn a_peer_mki_is_stripped_before_the_tag() {
    let mut rng = StdRng::seed_from_u64(15);
    let suite = SrtpSuite::AesCm128HmacSha1_80;
    let ka = MasterKey::random(suite, &mut rng);
    let kb = MasterKey::random(suite, &mut rng);
    let mut peer = SrtpSession::new(&SrtpKeys {
        local: kb.clone(),
        remote: ka.clone(),
        remote_mki_len: 0,
    })
    .unwrap();
    let mut us = SrtpSession::new(&SrtpKeys {
        local: ka,
        remote: kb,
        remote_mki_len: 4,
    })
    .unwrap();
    let plain = rtp(3, 77, &[9u8; 160]);
    let wire = peer.protect_rtp(&plain).unwrap();
    // Put a 4-byte MKI before the 10-byte tag, as a peer using MKI 1:4 sends it.
    let cut = wire.len() - 10;
    let mut with_mki = wire[..cut].to_vec();
    with_mki.extend_from_slice(&[0, 0, 0, 1]);
    with_mki.extend_from_slice(&wire[cut..]);
    assert_eq!(&us.unprotect_rtp(&with_mki).unwrap()[..], &plain[..]);
    assert_eq!(us.unprotect_rtp(&[0x80; 20]), Err(SrtpError::Malformed));
}
