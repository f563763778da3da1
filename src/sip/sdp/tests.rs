//! Tests of `sdp`, beside it so the code reads on its own.

use super::*;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn local() -> LocalMedia {
    LocalMedia {
        ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)),
        port: 40000,
        session_id: 42,
        session_version: 1,
    }
}

/// Turns an LF-written fixture into the CRLF SDP that phones send.
fn crlf(sdp: &str) -> Vec<u8> {
    sdp.replace('\n', "\r\n").into_bytes()
}

fn answer_ok(offer: &str) -> (Negotiated, String) {
    match answer(&crlf(offer), &local()) {
        Ok(result) => result,
        Err(error) => panic!("offer should be accepted, got {error}"),
    }
}

fn m_lines(sdp: &str) -> Vec<&str> {
    sdp.split("\r\n").filter(|l| l.starts_with("m=")).collect()
}

fn has_line(sdp: &str, wanted: &str) -> bool {
    sdp.split("\r\n").any(|l| l == wanted)
}

fn v4(a: u8, b: u8, c: u8, d: u8, port: u16) -> Option<SocketAddr> {
    Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, d)), port))
}

const SIPP_DEFAULT: &str = "v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
";

const SIPP_DTMF: &str = "v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0 96
a=rtpmap:0 PCMU/8000
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-15
";

const BARESIP: &str = "v=0
o=- 1813396287 2765290185 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
t=0 0
a=tool:baresip 3.10.1
m=audio 10730 RTP/AVP 96 97 98 9 0 8 101
b=AS:125
a=rtpmap:96 opus/48000/2
a=fmtp:96 stereo=1;sprop-stereo=1
a=rtpmap:97 G7221/32000
a=fmtp:97 bitrate=48000
a=rtpmap:98 G7221/16000
a=fmtp:98 bitrate=32000
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=rtcp-rsize
a=sendrecv
a=label:1
a=ssrc:1848257563 cname:a9b1f2e0-6c8e-4b5e-9f0e-0d7c1e0f3a11
a=ptime:20
";

const LINPHONE_IPV6: &str = "v=0
o=alice 1234 5678 IN IP6 fd00:1234:5678::10
s=Talk
c=IN IP6 fd00:1234:5678::10
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
a=record:off
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=fmtp:97 vbr=on
a=rtpmap:98 speex/8000
a=fmtp:98 vbr=on
a=fmtp:18 annexb=yes
a=rtpmap:101 telephone-event/48000
a=rtpmap:99 telephone-event/16000
a=rtpmap:100 telephone-event/8000
a=rtcp-fb:* trr-int 1000
a=rtcp-fb:* ccm tmmbr
";

const ASTERISK: &str = "v=0
o=- 1179420160 1179420160 IN IP4 198.51.100.5
s=Asterisk
c=IN IP4 198.51.100.5
t=0 0
m=audio 17602 RTP/AVP 8 0 3 101
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:3 GSM/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
";

const FREESWITCH: &str = "v=0
o=FreeSWITCH 1700000000 1700000001 IN IP4 198.51.100.7
s=FreeSWITCH
c=IN IP4 198.51.100.7
t=0 0
m=audio 24680 RTP/AVP 102 9 0 8 103 101
a=rtpmap:102 opus/48000/2
a=fmtp:102 useinbandfec=1; maxplaybackrate=48000
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:103 telephone-event/48000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=rtcp:24681 IN IP4 198.51.100.7
";

#[test]
fn sipp_default_offer_gets_pcmu_without_telephone_event() {
    let (negotiated, sdp) = answer_ok(SIPP_DEFAULT);
    assert_eq!(
        negotiated,
        Negotiated {
            remote: v4(127, 0, 0, 1, 6000),
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event: None,
            direction: Direction::SendRecv,
            ptime_ms: 20,
            srtp: None,
        }
    );
    assert_eq!(
        sdp,
        "v=0\r\n\
             o=dialbridge 42 1 IN IP4 203.0.113.1\r\n\
             s=dialbridge\r\n\
             c=IN IP4 203.0.113.1\r\n\
             t=0 0\r\n\
             m=audio 40000 RTP/AVP 0\r\n\
             a=rtpmap:0 PCMU/8000\r\n\
             a=ptime:20\r\n\
             a=sendrecv\r\n"
    );
}

#[test]
fn sipp_dtmf_offer_keeps_telephone_event_at_96() {
    let (negotiated, sdp) = answer_ok(SIPP_DTMF);
    assert_eq!(negotiated.codec, Codec::Pcmu);
    assert_eq!(negotiated.telephone_event, Some(96));
    assert_eq!(m_lines(&sdp), ["m=audio 40000 RTP/AVP 0 96"]);
    assert!(has_line(&sdp, "a=rtpmap:96 telephone-event/8000"));
    assert!(has_line(&sdp, "a=fmtp:96 0-15"));
}

#[test]
fn baresip_offer_skips_opus_and_g7221_for_g722() {
    let (negotiated, sdp) = answer_ok(BARESIP);
    assert_eq!(negotiated.codec, Codec::G722);
    assert_eq!(negotiated.payload_type, 9);
    assert_eq!(negotiated.telephone_event, Some(101));
    assert_eq!(negotiated.remote, v4(192, 0, 2, 10, 10730));
    assert_eq!(m_lines(&sdp), ["m=audio 40000 RTP/AVP 9 101"]);
    assert!(has_line(&sdp, "a=rtpmap:9 G722/8000"));
}

#[test]
fn baresip_offer_without_g722_gets_pcmu() {
    let offer = BARESIP
        .replace(" 9 0 8 101", " 0 8 101")
        .replace("a=rtpmap:9 G722/8000\n", "");
    let (negotiated, sdp) = answer_ok(&offer);
    assert_eq!(negotiated.codec, Codec::Pcmu);
    assert_eq!(m_lines(&sdp), ["m=audio 40000 RTP/AVP 0 101"]);
}

#[test]
fn linphone_offer_uses_telephone_event_at_8000_hz_only() {
    let (negotiated, sdp) = answer_ok(LINPHONE_IPV6);
    assert_eq!(negotiated.codec, Codec::Pcmu);
    assert_eq!(negotiated.telephone_event, Some(100));
    assert_eq!(m_lines(&sdp), ["m=audio 40000 RTP/AVP 0 100"]);
    assert!(!sdp.contains("48000"));
    assert!(!sdp.contains("16000"));
}

#[test]
fn linphone_ipv6_ula_becomes_the_remote_address() {
    let (negotiated, _) = answer_ok(LINPHONE_IPV6);
    let ula = Ipv6Addr::new(0xfd00, 0x1234, 0x5678, 0, 0, 0, 0, 0x10);
    assert_eq!(
        negotiated.remote,
        Some(SocketAddr::new(IpAddr::V6(ula), 7078))
    );
}

#[test]
fn asterisk_offer_preferring_pcma_gets_pcma() {
    let (negotiated, sdp) = answer_ok(ASTERISK);
    assert_eq!(negotiated.codec, Codec::Pcma);
    assert_eq!(negotiated.payload_type, 8);
    assert_eq!(negotiated.telephone_event, Some(101));
    assert_eq!(m_lines(&sdp), ["m=audio 40000 RTP/AVP 8 101"]);
    assert!(has_line(&sdp, "a=rtpmap:8 PCMA/8000"));
}

#[test]
fn freeswitch_offer_skips_wideband_telephone_event() {
    let (negotiated, _) = answer_ok(FREESWITCH);
    assert_eq!(negotiated.codec, Codec::G722);
    assert_eq!(negotiated.telephone_event, Some(101));
    assert_eq!(negotiated.remote, v4(198, 51, 100, 7, 24680));
}

#[test]
fn pcma_only_offer_without_rtpmap_gets_pcma() {
    let (negotiated, sdp) = answer_ok(
        "v=0
o=- 1 1 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 5004 RTP/AVP 8
",
    );
    assert_eq!(negotiated.codec, Codec::Pcma);
    assert_eq!(m_lines(&sdp), ["m=audio 40000 RTP/AVP 8"]);
    assert!(has_line(&sdp, "a=rtpmap:8 PCMA/8000"));
}

#[test]
fn dynamic_payload_type_for_pcmu_is_answered_with_the_same_number() {
    let (negotiated, sdp) = answer_ok(
        "v=0
o=- 1 1 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 5004 RTP/AVP 96 97
a=rtpmap:96 pcmu/8000/1
a=rtpmap:97 telephone-event/8000
",
    );
    assert_eq!(negotiated.codec, Codec::Pcmu);
    assert_eq!(negotiated.payload_type, 96);
    assert_eq!(negotiated.telephone_event, Some(97));
    assert!(has_line(&sdp, "a=rtpmap:96 PCMU/8000"));
}

#[test]
fn stereo_pcmu_is_not_our_codec() {
    let result = answer(
        &crlf(
            "v=0
o=- 1 1 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 5004 RTP/AVP 96
a=rtpmap:96 PCMU/8000/2
",
        ),
        &local(),
    );
    assert_eq!(result, Err(SdpError::NoCommonCodec));
}

#[test]
fn video_and_audio_offer_rejects_video_and_keeps_line_order() {
    let (negotiated, sdp) = answer_ok(
        "v=0
o=- 1 1 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=video 9078 RTP/AVP 96 97
a=rtpmap:96 H264/90000
a=rtpmap:97 VP8/90000
m=audio 7078 RTP/AVP 0 8 101
a=rtpmap:101 telephone-event/8000
",
    );
    assert_eq!(negotiated.remote, v4(192, 0, 2, 5, 7078));
    assert_eq!(
        m_lines(&sdp),
        ["m=video 0 RTP/AVP 96", "m=audio 40000 RTP/AVP 0 101"]
    );
}

#[test]
fn second_audio_line_is_rejected() {
    let (negotiated, sdp) = answer_ok(
        "v=0
o=- 1 1 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 7078 RTP/AVP 8
m=audio 7080 RTP/AVP 0
",
    );
    assert_eq!(negotiated.codec, Codec::Pcma);
    assert_eq!(
        m_lines(&sdp),
        ["m=audio 40000 RTP/AVP 8", "m=audio 0 RTP/AVP 0"]
    );
}

#[test]
fn srtp_line_is_rejected_and_plain_rtp_line_accepted() {
    let (negotiated, sdp) = answer_ok(
        "v=0
o=- 1 1 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 7078 RTP/SAVP 0
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
m=audio 7080 RTP/AVP 0
",
    );
    assert_eq!(negotiated.remote, v4(192, 0, 2, 5, 7080));
    assert_eq!(
        m_lines(&sdp),
        ["m=audio 0 RTP/SAVP 0", "m=audio 40000 RTP/AVP 0"]
    );
}

#[test]
fn srtp_only_offer_is_refused_with_488() {
    let result = answer(
        &crlf(
            "v=0
o=- 1 1 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 7078 RTP/SAVP 0 8
",
        ),
        &local(),
    );
    let error = match result {
        Err(error) => error,
        Ok(_) => panic!("an SRTP-only offer must be refused"),
    };
    assert_eq!(error, SdpError::SrtpOff);
    assert_eq!(error.status_code(), 488);
}

const KEY30: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

fn srtp_offer(crypto: &str) -> Vec<u8> {
    crlf(&format!(
        "v=0
o=- 1 1 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 7078 RTP/SAVP 0 101
a=rtpmap:101 telephone-event/8000
{crypto}"
    ))
}

fn policy(mode: SrtpMode, keys_allowed: bool) -> SrtpPolicy {
    SrtpPolicy { mode, keys_allowed }
}

/// Our key for any suite, counted so a test sees when one was made.
fn keys(made: &mut Vec<SrtpSuite>) -> impl FnMut(SrtpSuite) -> Option<MasterKey> + '_ {
    |suite| {
        made.push(suite);
        MasterKey::from_bytes(suite, &[0x42; 46][..suite.key_material_len()])
    }
}

#[test]
fn srtp_offer_over_tls_is_answered_with_our_key_and_its_tag() {
    // Teams-like: two lines, the first with a suite we lack, the second with a lifetime.
    let offer = srtp_offer(&format!(
        "a=crypto:1 F8_128_HMAC_SHA1_80 inline:{KEY30}|2^31\na=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:{KEY30}|2^31\n"
    ));
    let mut made = Vec::new();
    let (negotiated, sdp) = answer_with(
        &offer,
        &local(),
        policy(SrtpMode::Offer, true),
        &mut keys(&mut made),
    )
    .unwrap();
    assert_eq!(made, [SrtpSuite::AesCm128HmacSha1_32]);
    let srtp = negotiated.srtp.expect("SRTP agreed");
    assert_eq!(srtp.suite(), SrtpSuite::AesCm128HmacSha1_32);
    assert_eq!(srtp.remote_mki_len, 0);
    assert_eq!(m_lines(&sdp), ["m=audio 40000 RTP/SAVP 0 101"]);
    let crypto: Vec<&str> = sdp.lines().filter(|l| l.starts_with("a=crypto:")).collect();
    assert_eq!(crypto.len(), 1, "{sdp}");
    assert!(
        crypto[0].starts_with("a=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:"),
        "{sdp}"
    );
    let ours = crate::sip::sdes::parse(crypto[0].trim_start_matches("a=crypto:")).unwrap();
    assert_eq!(ours.key, srtp.local);
    assert_ne!(srtp.local, srtp.remote);
}

#[test]
fn srtp_policy_decides_between_plain_and_srtp() {
    let savp = srtp_offer(&format!(
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}\n"
    ));
    let avp = crlf(SIPP_DEFAULT);
    let answer = |offer: &[u8], p: SrtpPolicy| {
        answer_with(offer, &local(), p, &mut keys(&mut Vec::new())).map(|(n, _)| n.srtp.is_some())
    };
    // offer: each caller gets what it offered, SRTP only when keys may travel.
    assert_eq!(answer(&savp, policy(SrtpMode::Offer, true)), Ok(true));
    assert_eq!(answer(&avp, policy(SrtpMode::Offer, true)), Ok(false));
    assert_eq!(answer(&avp, policy(SrtpMode::Offer, false)), Ok(false));
    assert_eq!(
        answer(&savp, policy(SrtpMode::Offer, false)),
        Err(SdpError::KeysInClear)
    );
    // require: a plain offer is 488.
    assert_eq!(
        answer(&avp, policy(SrtpMode::Require, true)),
        Err(SdpError::SrtpRequired)
    );
    assert_eq!(answer(&savp, policy(SrtpMode::Require, true)), Ok(true));
    // off: SRTP declined.
    assert_eq!(
        answer(&savp, policy(SrtpMode::Off, true)),
        Err(SdpError::SrtpOff)
    );
    assert_eq!(answer(&avp, policy(SrtpMode::Off, true)), Ok(false));
    for error in [
        SdpError::KeysInClear,
        SdpError::SrtpRequired,
        SdpError::SrtpOff,
        SdpError::NoUsableCrypto,
    ] {
        assert_eq!(error.status_code(), 488);
    }
}

#[test]
fn an_offer_with_both_gets_srtp_or_falls_back_to_its_plain_line() {
    let both = crlf(&format!(
        "v=0
o=- 1 1 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 7078 RTP/SAVP 0
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}
m=audio 7080 RTP/AVP 0
"
    ));
    let (n, sdp) = answer_with(
        &both,
        &local(),
        policy(SrtpMode::Offer, true),
        &mut keys(&mut Vec::new()),
    )
    .unwrap();
    assert!(n.srtp.is_some());
    assert_eq!(
        m_lines(&sdp),
        ["m=audio 40000 RTP/SAVP 0", "m=audio 0 RTP/AVP 0"]
    );
    // Keys over cleartext SIP: the plain line is taken instead.
    let (n, sdp) = answer_with(
        &both,
        &local(),
        policy(SrtpMode::Offer, false),
        &mut keys(&mut Vec::new()),
    )
    .unwrap();
    assert!(n.srtp.is_none());
    assert_eq!(
        m_lines(&sdp),
        ["m=audio 0 RTP/SAVP 0", "m=audio 40000 RTP/AVP 0"]
    );
    assert!(!sdp.contains("a=crypto"));
}

#[test]
fn srtp_offers_without_a_usable_key_are_refused() {
    let cases = [
        String::new(),
        format!("a=crypto:1 F8_128_HMAC_SHA1_80 inline:{KEY30}\n"),
        format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^10\n"),
        format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30} UNENCRYPTED_SRTP\n"),
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=\n".to_string(),
    ];
    for crypto in cases {
        let mut made = Vec::new();
        let result = answer_with(
            &srtp_offer(&crypto),
            &local(),
            policy(SrtpMode::Require, true),
            &mut keys(&mut made),
        );
        assert_eq!(result.err(), Some(SdpError::NoUsableCrypto), "{crypto}");
        assert!(made.is_empty(), "no key made for a refused offer");
    }
}

#[test]
fn our_srtp_offer_and_its_answer() {
    let ours = MasterKey::from_bytes(OFFER_SUITE, &[9; 30]).unwrap();
    let sdp = offer(&local(), Some(&ours));
    assert_eq!(m_lines(&sdp), ["m=audio 40000 RTP/SAVP 0 8 9 101"]);
    assert!(
        sdp.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
        "{sdp}"
    );
    // A peer answering from our offer picks our tag and suite.
    let reply = crlf(&format!(
        "v=0
o=- 7 7 IN IP4 192.0.2.8
s=-
c=IN IP4 192.0.2.8
t=0 0
m=audio 30000 RTP/SAVP 0 101
a=rtpmap:101 telephone-event/8000
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}
"
    ));
    let n = read_answer(&reply, Some(&ours)).unwrap();
    let srtp = n.srtp.unwrap();
    assert_eq!(srtp.local, ours);
    // The same answer to a plain offer, a plain answer to an SRTP offer, or a wrong tag: refused.
    assert_eq!(read_answer(&reply, None).err(), Some(SdpError::SrtpOff));
    assert_eq!(
        read_answer(&crlf(SIPP_DEFAULT), Some(&ours)).err(),
        Some(SdpError::SrtpRequired)
    );
    let wrong_tag = String::from_utf8(reply)
        .unwrap()
        .replace("crypto:1", "crypto:2");
    assert_eq!(
        read_answer(wrong_tag.as_bytes(), Some(&ours)).err(),
        Some(SdpError::NoUsableCrypto)
    );
    // A plain offer of ours has no keys in it.
    assert!(!offer(&local(), None).contains("crypto"));
}

#[test]
fn avpf_offer_is_answered_with_avpf() {
    let (_, sdp) = answer_ok(
        "v=0
o=- 1 1 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 7078 RTP/AVPF 0
a=rtcp-fb:* nack
",
    );
    assert_eq!(m_lines(&sdp), ["m=audio 40000 RTP/AVPF 0"]);
}

#[test]
fn g729_only_offer_has_no_common_codec_and_gets_488() {
    let result = answer(
        &crlf(
            "v=0
o=- 1 1 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 7078 RTP/AVP 18 101
a=rtpmap:18 G729/8000
a=rtpmap:101 telephone-event/8000
",
        ),
        &local(),
    );
    assert_eq!(result, Err(SdpError::NoCommonCodec));
    assert_eq!(SdpError::NoCommonCodec.status_code(), 488);
}

#[test]
fn audio_port_zero_means_no_audio() {
    let result = answer(
        &crlf(
            "v=0
o=- 1 1 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 0 RTP/AVP 0
",
        ),
        &local(),
    );
    assert_eq!(result, Err(SdpError::NoAudio));
}

#[test]
fn video_only_offer_means_no_audio() {
    let result = answer(
        &crlf(
            "v=0
o=- 1 1 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=video 9000 RTP/AVP 96
a=rtpmap:96 H264/90000
",
        ),
        &local(),
    );
    assert_eq!(result, Err(SdpError::NoAudio));
}

#[test]
fn sendonly_hold_is_answered_recvonly() {
    let (negotiated, sdp) = answer_ok(
        "v=0
o=- 1 2 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 7078 RTP/AVP 0
a=sendonly
",
    );
    assert_eq!(negotiated.direction, Direction::RecvOnly);
    assert!(!negotiated.direction.we_send());
    assert!(negotiated.direction.we_receive());
    assert!(has_line(&sdp, "a=recvonly"));
}

#[test]
fn inactive_hold_is_answered_inactive() {
    let (negotiated, sdp) = answer_ok(
        "v=0
o=- 1 2 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 7078 RTP/AVP 0
a=inactive
",
    );
    assert_eq!(negotiated.direction, Direction::Inactive);
    assert!(has_line(&sdp, "a=inactive"));
}

#[test]
fn recvonly_offer_is_answered_sendonly() {
    let (negotiated, _) = answer_ok(
        "v=0
o=- 1 2 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 7078 RTP/AVP 0
a=recvonly
",
    );
    assert_eq!(negotiated.direction, Direction::SendOnly);
}

#[test]
fn zero_address_hold_has_no_remote_and_is_answered_recvonly() {
    let (negotiated, sdp) = answer_ok(
        "v=0
o=- 1 2 IN IP4 192.0.2.5
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 7078 RTP/AVP 0
",
    );
    assert_eq!(negotiated.remote, None);
    assert_eq!(negotiated.direction, Direction::RecvOnly);
    assert!(has_line(&sdp, "a=recvonly"));
}

#[test]
fn zero_address_with_inactive_stays_inactive() {
    let (negotiated, _) = answer_ok(
        "v=0
o=- 1 2 IN IP4 192.0.2.5
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 7078 RTP/AVP 0
a=inactive
",
    );
    assert_eq!(negotiated.direction, Direction::Inactive);
}

#[test]
fn media_level_direction_overrides_session_level() {
    let (negotiated, _) = answer_ok(
        "v=0
o=- 1 2 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
a=sendonly
m=audio 7078 RTP/AVP 0
a=sendrecv
",
    );
    assert_eq!(negotiated.direction, Direction::SendRecv);
}

#[test]
fn session_level_direction_applies_when_media_has_none() {
    let (negotiated, _) = answer_ok(
        "v=0
o=- 1 2 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
a=sendonly
m=audio 7078 RTP/AVP 0
",
    );
    assert_eq!(negotiated.direction, Direction::RecvOnly);
}

#[test]
fn media_level_connection_overrides_session_level() {
    let (negotiated, _) = answer_ok(
        "v=0
o=- 1 2 IN IP4 192.0.2.5
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 7078 RTP/AVP 0
c=IN IP4 192.0.2.99
c=IN IP4 192.0.2.100
",
    );
    assert_eq!(negotiated.remote, v4(192, 0, 2, 99, 7078));
    assert_eq!(negotiated.direction, Direction::SendRecv);
}

#[test]
fn host_name_connection_has_no_remote_but_keeps_sendrecv() {
    let (negotiated, _) = answer_ok(
        "v=0
o=- 1 2 IN IP4 pbx.example.com
s=-
c=IN IP4 pbx.example.com
t=0 0
m=audio 7078 RTP/AVP 0
",
    );
    assert_eq!(negotiated.remote, None);
    assert_eq!(negotiated.direction, Direction::SendRecv);
}

#[test]
fn multicast_connection_is_refused() {
    let result = answer(
        &crlf(
            "v=0
o=- 1 2 IN IP4 192.0.2.5
s=-
c=IN IP4 224.2.1.1/127
t=0 0
m=audio 7078 RTP/AVP 0
",
        ),
        &local(),
    );
    assert_eq!(
        result,
        Err(SdpError::BadConnection {
            address: "224.2.1.1/127".into(),
            fault: ConnectionFault::Multicast
        })
    );
}

#[test]
fn missing_connection_is_a_bad_request() {
    let result = answer(
        &crlf(
            "v=0
o=- 1 2 IN IP4 192.0.2.5
s=-
t=0 0
m=audio 7078 RTP/AVP 0
",
        ),
        &local(),
    );
    assert_eq!(result, Err(SdpError::NoConnection));
    assert_eq!(SdpError::NoConnection.status_code(), 400);
}

#[test]
fn lf_only_offer_with_extra_lines_is_accepted() {
    let offer = "v=0\n\
                     o=- 1 2 IN IP4 192.0.2.5\n\
                     s=-\n\
                     i=a call\n\
                     c=IN IP4 192.0.2.5\n\
                     b=AS:84\n\
                     b=TIAS:64000\n\
                     t=0 0\n\
                     a=group:BUNDLE 0\n\
                     m=audio 7078 RTP/AVP 0\n\
                     b=AS:84\n\
                     a=mid:0\n\
                     a=x-unknown-thing\n";
    let (negotiated, sdp) = match answer(offer.as_bytes(), &local()) {
        Ok(result) => result,
        Err(error) => panic!("LF-only offer should be accepted, got {error}"),
    };
    assert_eq!(negotiated.remote, v4(192, 0, 2, 5, 7078));
    assert!(sdp.ends_with("\r\n"));
    assert!(!sdp.replace("\r\n", "").contains('\n'));
}

#[test]
fn two_session_level_connections_are_unparsable_not_a_panic() {
    let result = answer(
        &crlf(
            "v=0
o=- 1 2 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
c=IN IP4 192.0.2.6
t=0 0
m=audio 7078 RTP/AVP 0
",
        ),
        &local(),
    );
    assert!(matches!(result, Err(SdpError::Unparsable(_))));
}

#[test]
fn empty_body_is_reported_as_empty() {
    assert_eq!(answer(b"", &local()), Err(SdpError::Empty));
    assert_eq!(answer(b"\r\n", &local()), Err(SdpError::Empty));
}

#[test]
fn oversized_body_is_refused_before_parsing() {
    let body = vec![b'a'; MAX_SDP_LEN + 1];
    assert_eq!(
        answer(&body, &local()),
        Err(SdpError::TooLarge {
            len: MAX_SDP_LEN + 1,
            max: MAX_SDP_LEN
        })
    );
}

#[test]
fn too_many_media_sections_are_refused() {
    let mut offer = String::from("v=0\no=- 1 2 IN IP4 192.0.2.5\ns=-\nc=IN IP4 192.0.2.5\n");
    for _ in 0..=MAX_MEDIA_SECTIONS {
        offer.push_str("m=audio 7078 RTP/AVP 0\n");
    }
    assert_eq!(
        answer(offer.as_bytes(), &local()),
        Err(SdpError::TooManyMedia {
            count: MAX_MEDIA_SECTIONS + 1,
            max: MAX_MEDIA_SECTIONS
        })
    );
}

#[test]
fn answer_over_ipv6_writes_ip6_lines() {
    let ours = LocalMedia {
        ip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        ..local()
    };
    let sdp = match answer(&crlf(SIPP_DEFAULT), &ours) {
        Ok((_, sdp)) => sdp,
        Err(error) => panic!("{error}"),
    };
    assert!(has_line(&sdp, "o=dialbridge 42 1 IN IP6 2001:db8::1"));
    assert!(has_line(&sdp, "c=IN IP6 2001:db8::1"));
}

#[test]
fn ipv4_mapped_local_address_is_written_as_ip4() {
    let ours = LocalMedia {
        ip: IpAddr::V6(Ipv4Addr::new(203, 0, 113, 1).to_ipv6_mapped()),
        ..local()
    };
    assert!(has_line(&offer(&ours, None), "c=IN IP4 203.0.113.1"));
}

#[test]
fn our_offer_lists_pcmu_pcma_g722_and_telephone_event_101() {
    assert_eq!(
        offer(&local(), None),
        "v=0\r\n\
             o=dialbridge 42 1 IN IP4 203.0.113.1\r\n\
             s=dialbridge\r\n\
             c=IN IP4 203.0.113.1\r\n\
             t=0 0\r\n\
             m=audio 40000 RTP/AVP 0 8 9 101\r\n\
             a=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:9 G722/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-15\r\n\
             a=ptime:20\r\n\
             a=sendrecv\r\n"
    );
}

#[test]
fn our_offer_parses_with_sdp_types() {
    let parsed = Session::parse(offer(&local(), None).as_bytes());
    assert!(parsed.is_ok(), "{parsed:?}");
}

#[test]
fn answering_our_own_offer_picks_pcmu_and_101() {
    let (negotiated, _) = match answer(offer(&local(), None).as_bytes(), &local()) {
        Ok(result) => result,
        Err(error) => panic!("{error}"),
    };
    assert_eq!(negotiated.codec, Codec::Pcmu);
    assert_eq!(negotiated.telephone_event, Some(TELEPHONE_EVENT_PT));
}

#[test]
fn read_answer_accepts_pcma_with_telephone_event() {
    let negotiated = read_answer(
        &crlf(
            "v=0
o=- 7 7 IN IP4 192.0.2.8
s=-
c=IN IP4 192.0.2.8
t=0 0
m=audio 30000 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
",
        ),
        None,
    );
    assert_eq!(
        negotiated,
        Ok(Negotiated {
            remote: v4(192, 0, 2, 8, 30000),
            codec: Codec::Pcma,
            payload_type: 8,
            telephone_event: Some(101),
            direction: Direction::SendRecv,
            ptime_ms: 20,
            srtp: None,
        })
    );
}

#[test]
fn read_answer_refuses_a_codec_we_did_not_offer() {
    let result = read_answer(
        &crlf(
            "v=0
o=- 7 7 IN IP4 192.0.2.8
s=-
c=IN IP4 192.0.2.8
t=0 0
m=audio 30000 RTP/AVP 96
a=rtpmap:96 PCMU/8000
",
        ),
        None,
    );
    assert_eq!(result, Err(SdpError::NoCommonCodec));
}

#[test]
fn read_answer_ignores_renumbered_telephone_event() {
    let result = read_answer(
        &crlf(
            "v=0
o=- 7 7 IN IP4 192.0.2.8
s=-
c=IN IP4 192.0.2.8
t=0 0
m=audio 30000 RTP/AVP 0 100
a=rtpmap:100 telephone-event/8000
",
        ),
        None,
    );
    assert_eq!(result.map(|n| n.telephone_event), Ok(None));
}

#[test]
fn read_answer_recvonly_means_we_only_send() {
    let result = read_answer(
        &crlf(
            "v=0
o=- 7 7 IN IP4 192.0.2.8
s=-
c=IN IP4 192.0.2.8
t=0 0
m=audio 30000 RTP/AVP 0
a=recvonly
",
        ),
        None,
    );
    assert_eq!(result.map(|n| n.direction), Ok(Direction::SendOnly));
}

#[test]
fn read_answer_with_rejected_audio_is_no_audio() {
    let result = read_answer(
        &crlf(
            "v=0
o=- 7 7 IN IP4 192.0.2.8
s=-
c=IN IP4 192.0.2.8
t=0 0
m=audio 0 RTP/AVP 0
",
        ),
        None,
    );
    assert_eq!(result, Err(SdpError::NoAudio));
}

#[test]
fn direction_reversal_matches_rfc_3264() {
    assert_eq!(Direction::SendRecv.reversed(), Direction::SendRecv);
    assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
    assert_eq!(Direction::RecvOnly.reversed(), Direction::SendOnly);
    assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
    assert!(!Direction::Inactive.we_send() && !Direction::Inactive.we_receive());
}

#[test]
fn malformed_sdp_is_a_bad_request() {
    let error = match answer(b"hello world", &local()) {
        Err(error) => error,
        Ok(_) => panic!("garbage must not be accepted"),
    };
    assert!(matches!(error, SdpError::Unparsable(_)));
    assert_eq!(error.status_code(), 400);
}

/// Payload type numbers phones use, plus out-of-range ones.
fn payload_type() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => Just(0u16),
        3 => Just(8),
        1 => Just(18),
        1 => Just(96),
        1 => Just(100),
        2 => Just(101),
        1 => 0u16..300,
    ]
}

/// Connection lines: mostly usable, sometimes hold, multicast, host names or junk.
fn connection_line() -> impl Strategy<Value = String> {
    let address = prop_oneof![
        4 => "(192\\.0\\.2\\.[0-9]{1,3}|fd00::[0-9a-f]{1,4})",
        1 => Just("0.0.0.0".to_string()),
        1 => Just("::".to_string()),
        1 => Just("224.0.0.1/1".to_string()),
        1 => Just("host.example".to_string()),
        1 => "[!-~]{1,12}",
    ];
    (
        address,
        "IP4|IP6|X",
        prop_oneof![5 => Just("IN"), 1 => Just("TN")],
    )
        .prop_map(|(a, t, n)| format!("c={n} {t} {a}"))
}

/// Lines inside a media section: rtpmaps, directions, connections and noise.
fn media_attribute_line() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => (
            payload_type(),
            "PCMU|PCMA|pcma|telephone-event|opus|G729|",
            prop_oneof![Just(8000u32), Just(16000), Just(48000), 0u32..50000],
            "|/1|/2|/x/y"
        )
            .prop_map(|(pt, n, r, c)| format!("a=rtpmap:{pt} {n}/{r}{c}")),
        6 => "a=(sendrecv|sendonly|recvonly|inactive|ptime:30|fmtp:101 0-15|rtcp-mux)",
        2 => connection_line(),
        2 => "[abik]=[ -~]{0,20}",
        1 => "[ -~]{0,12}",
    ]
}

/// One media section: an m= line then a few attribute lines.
fn media_section() -> impl Strategy<Value = Vec<String>> {
    let fmt = proptest::collection::vec(payload_type(), 0..6)
        .prop_map(|v| v.iter().map(u16::to_string).collect::<Vec<_>>().join(" "));
    let m_line = (
        prop_oneof![4 => Just("audio"), 1 => Just("video"), 1 => Just("AUDIO"), 1 => Just("text")],
        prop_oneof![4 => 1000u32..65536, 1 => Just(0u32), 1 => 0u32..70000],
        prop_oneof![
            4 => Just("RTP/AVP"),
            1 => Just("RTP/AVPF"),
            1 => Just("RTP/SAVP"),
            1 => Just("UDP/TLS/RTP/SAVPF"),
        ],
        fmt,
    )
        .prop_map(|(m, p, t, f)| format!("m={m} {p} {t} {f}"));
    (
        m_line,
        proptest::collection::vec(media_attribute_line(), 0..8),
    )
        .prop_map(|(m, mut rest)| {
            rest.insert(0, m);
            rest
        })
}

/// SDP-shaped text close enough to real offers to reach negotiation, not just the parser.
fn sdp_text() -> impl Strategy<Value = String> {
    (
        proptest::option::weighted(0.8, connection_line()),
        proptest::option::weighted(0.3, "a=(sendonly|recvonly|inactive|tool:x)"),
        proptest::collection::vec(media_section(), 1..4),
        any::<bool>(),
    )
        .prop_map(|(connection, attribute, medias, lf)| {
            let end = if lf { "\n" } else { "\r\n" };
            let mut text = format!("v=0{end}o=- 1 2 IN IP4 192.0.2.1{end}s=-{end}t=0 0{end}");
            for l in connection
                .iter()
                .chain(&attribute)
                .chain(medias.iter().flatten())
            {
                text.push_str(l);
                text.push_str(end);
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn answer_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = answer(&body, &local());
    }

    #[test]
    fn read_answer_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_answer(&body, None);
    }

    #[test]
    fn answer_mirrors_every_media_line_of_sdp_like_input(text in sdp_text()) {
        if let Ok((negotiated, sdp)) = answer(text.as_bytes(), &local()) {
            let offered = Session::parse(text.as_bytes()).map(|s| s.medias.len());
            let reparsed = Session::parse(sdp.as_bytes());
            prop_assert!(reparsed.is_ok(), "our answer must parse: {sdp}");
            let reparsed = reparsed.ok();
            prop_assert_eq!(offered.ok(), reparsed.as_ref().map(|s| s.medias.len()));
            let active: Vec<u16> = reparsed
                .iter()
                .flat_map(|s| &s.medias)
                .map(|m| m.port)
                .filter(|port| *port != 0)
                .collect();
            prop_assert_eq!(active, vec![local().port], "exactly one accepted stream");
            prop_assert_eq!(negotiated.ptime_ms, PTIME_MS);
        }
    }

    #[test]
    fn read_answer_never_panics_on_sdp_like_input(text in sdp_text()) {
        if let Ok(negotiated) = read_answer(text.as_bytes(), None) {
            prop_assert_eq!(negotiated.payload_type, negotiated.codec.payload_type());
        }
    }
}

#[test]
fn a_relay_leg_offers_the_callers_codec_and_numbers_and_the_owner_keeps_them() {
    // A caller who numbered telephone-event 96 and sends G.722.
    let (caller, _) = answer_ok(
        "v=0
o=- 1 1 IN IP4 198.51.100.7
s=-
c=IN IP4 198.51.100.7
t=0 0
m=audio 5004 RTP/AVP 9 96
a=rtpmap:9 G722/8000
a=rtpmap:96 telephone-event/8000
",
    );
    assert_eq!(
        (caller.codec, caller.payload_type, caller.telephone_event),
        (Codec::G722, 9, Some(96))
    );
    let offer = relay_offer(&local(), &caller);
    assert_eq!(m_lines(&offer), vec!["m=audio 40000 RTP/AVP 9 96"]);
    assert!(has_line(&offer, "a=rtpmap:96 telephone-event/8000"));
    // The owner answers the leg as it answers any caller; the leg reads that answer.
    let owner = LocalMedia {
        ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2)),
        port: 41000,
        ..local()
    };
    let (at_owner, answer_sdp) = answer(offer.as_bytes(), &owner).expect("the owner answers");
    assert_eq!(
        (
            at_owner.codec,
            at_owner.payload_type,
            at_owner.telephone_event
        ),
        (Codec::G722, 9, Some(96))
    );
    let leg = read_relay_answer(answer_sdp.as_bytes(), &caller).expect("the leg reads it");
    assert_eq!(leg.remote, v4(203, 0, 113, 2, 41000));
    assert_eq!(leg.codec, Codec::G722);
    // An answer that changed the codec cannot be passed through.
    let pcmu = answer_sdp
        .replace("RTP/AVP 9 96", "RTP/AVP 0 96")
        .replace("a=rtpmap:9 G722/8000", "a=rtpmap:0 PCMU/8000");
    assert!(read_relay_answer(pcmu.as_bytes(), &caller).is_err());
}

#[test]
fn the_answer_spells_the_transport_as_the_rfc_does_whatever_case_the_offer_used() {
    let (_, answer) = answer_ok(
        "v=0
o=- 1 1 IN IP4 198.51.100.7
s=-
c=IN IP4 198.51.100.7
t=0 0
m=audio 5004 rtp/avp 0
",
    );
    assert_eq!(m_lines(&answer), vec!["m=audio 40000 RTP/AVP 0"]);
}
