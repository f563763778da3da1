//! End-to-end: hostile and broken RTP against the real `dialbridge` binary on 127.0.0.1 —
//! injection from other addresses, malformed packets, SSRC changes, sequence wrap,
//! reordering and duplicates, duplicated RFC 4733 packets, and silent calls.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::{Codec, Law};
use dialbridge::media::g711;
use dialbridge::media::tone::ToneGenerator;
use support::phone::{Heard, Perturb, Phone};
use support::{
    Bridge, BridgeOptions, assets, first_tone, position_of_run, tones_heard, wait, wait_until,
};

const ORGANIZER_TONE: f32 = 1000.0;
const INTRUDER_TONE: f32 = 1500.0;

/// A running meeting: the organizer talking `ORGANIZER_TONE`, one attendee hearing it.
fn meeting(bridge: &Bridge, pin: &str, id: &str) -> (Phone, Phone) {
    let mut boss = Phone::new(bridge.sip, Codec::Pcmu, Some(ORGANIZER_TONE));
    boss.call();
    boss.send_digits(&format!("{id}#*{pin}#"));
    let mut member = Phone::new(bridge.sip, Codec::Pcmu, Some(700.0));
    member.call();
    let started = Instant::now();
    member.send_digits(&format!("{id}##"));
    wait_until(&member, Duration::from_secs(15), "the organizer", |h| {
        first_tone(h, started, ORGANIZER_TONE, Codec::Pcmu).is_some()
    });
    (boss, member)
}

/// One PCMU packet carrying `pcm`.
fn rtp_packet(seq: u16, ts: u32, ssrc: u32, pcm: &[i16; 160]) -> Vec<u8> {
    let mut p = vec![0u8; 172];
    p[0] = 0x80;
    p[1] = 0;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&ts.to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    let mut enc = [0u8; 160];
    g711::encode(Law::Mu, pcm, &mut enc);
    p[12..].copy_from_slice(&enc);
    p
}

#[test]
fn rtp_from_anyone_but_the_latched_source_is_never_heard_and_gets_nothing_back() {
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            http: true,
            ..BridgeOptions::default()
        },
    );
    let (boss, member) = meeting(&bridge, &orgs[0].pin, &orgs[0].conference_id);
    let targets = [
        boss.remote_media().expect("organizer's bridge port"),
        member.remote_media().expect("attendee's bridge port"),
    ];
    // The intruder talks loudly into both calls' ports with a well-formed stream.
    let intruder = UdpSocket::bind("127.0.0.1:0").unwrap();
    intruder
        .set_read_timeout(Some(Duration::from_millis(1)))
        .ok();
    let mut tone = ToneGenerator::new(INTRUDER_TONE, 16000, 8000.0);
    let attack_start = Instant::now();
    let mut bled = 0;
    let mut buf = [0u8; 2048];
    for i in 0..150u16 {
        let mut pcm = [0i16; 160];
        tone.fill(&mut pcm);
        let packet = rtp_packet(i, u32::from(i) * 160, 0x1234_5678, &pcm);
        for t in targets {
            intruder.send_to(&packet, t).unwrap();
        }
        wait(20);
        while intruder.recv_from(&mut buf).is_ok() {
            bled += 1;
        }
    }
    assert_eq!(bled, 0, "the bridge sent nothing to the intruder");
    for (who, phone) in [("organizer", &boss), ("attendee", &member)] {
        assert!(
            first_tone(&phone.heard(), attack_start, INTRUDER_TONE, Codec::Pcmu).is_none(),
            "the {who} heard the intruder"
        );
    }
    assert_eq!(
        tones_heard(
            &member.heard(),
            attack_start,
            &[ORGANIZER_TONE],
            Codec::Pcmu
        ),
        [ORGANIZER_TONE],
        "the meeting went on"
    );
    assert!(
        bridge.metric("dialbridge_rtp_foreign_packets_total", &[]) >= 280,
        "the intruder's packets were counted as foreign"
    );
}

#[test]
fn malformed_reordered_duplicated_wrapping_and_resourced_rtp_keeps_the_meeting_going() {
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            http: true,
            ..BridgeOptions::default()
        },
    );
    let (boss, member) = meeting(&bridge, &orgs[0].pin, &orgs[0].conference_id);
    let bad_before = bridge.metric("dialbridge_rtp_bad_packets_total", &[]);
    let from = Instant::now();

    // Malformed packets from the organizer's own (latched) address.
    let mut version_one = vec![0u8; 172];
    version_one[0] = 0x40;
    let mut padding_too_long = vec![0u8; 20];
    padding_too_long[0] = 0xa0; // V=2, P=1
    padding_too_long[19] = 200;
    let mut csrc_past_end = vec![0u8; 20];
    csrc_past_end[0] = 0x8f; // 15 CSRCs announced, none there
    let mut extension_past_end = vec![0u8; 20];
    extension_past_end[0] = 0x90; // X=1
    extension_past_end[14..16].copy_from_slice(&500u16.to_be_bytes());
    let malformed: [&[u8]; 6] = [
        &version_one,
        &padding_too_long,
        &csrc_past_end,
        &extension_past_end,
        &[0x80, 0x00, 0x01],
        &[],
    ];
    for bytes in malformed {
        boss.send_rtp_raw(bytes);
    }
    // Then everything a messy network and gateway can do, one after another.
    boss.perturb(Perturb::Sequence(65_500));
    wait(1_000);
    boss.perturb(Perturb::Copies(3));
    boss.perturb(Perturb::Reorder(true));
    wait(1_500);
    boss.perturb(Perturb::NewSsrc);
    wait(1_500);
    boss.perturb(Perturb::Copies(1));
    boss.perturb(Perturb::Reorder(false));
    wait(500);

    let heard: Vec<Heard> = member
        .heard()
        .into_iter()
        .filter(|h| h.at >= from + Duration::from_millis(200))
        .collect();
    let with_tone = heard
        .iter()
        .filter(|h| {
            !dialbridge::media::tone::present_tones(&h.pcm(Codec::Pcmu), &[ORGANIZER_TONE], 8000.0)
                .is_empty()
        })
        .count();
    eprintln!("tone in {with_tone} of {} frames", heard.len());
    assert!(
        heard.len() > 200,
        "the attendee got {} packets in 4.5 s",
        heard.len()
    );
    assert!(
        with_tone * 100 >= heard.len() * 95,
        "the organizer was heard in {with_tone} of {} frames (sequence wrap, duplicates, \
         reordering and an SSRC change must not cost more than a few frames)",
        heard.len()
    );
    assert!(
        bridge.metric("dialbridge_rtp_bad_packets_total", &[]) >= bad_before + 5,
        "malformed packets were counted (an empty datagram may not even reach the bridge)"
    );
}

#[test]
fn duplicated_rfc4733_packets_give_one_digit_per_key() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, None);
    p.call();
    // Every event packet three times (same SSRC and timestamp), and its three end packets
    // too: any duplicate counted would change the ID and the caller would not get in.
    p.perturb(Perturb::Copies(3));
    p.send_digits(&format!("{}##", orgs[0].conference_id));
    let lobby = assets().prompt(Prompt::LobbyWait).frames(Law::Mu)[..10].to_vec();
    wait_until(&p, Duration::from_secs(15), "the lobby", |h| {
        position_of_run(h, &lobby).is_some()
    });
    let not_found = assets().prompt(Prompt::ConferenceNotFound).frames(Law::Mu)[40];
    assert!(
        !p.heard().iter().any(|h| h.payload == not_found),
        "the ID was never mistaken"
    );
}

#[test]
fn a_call_without_rtp_is_hung_up_after_the_rtp_timeout_and_its_port_freed() {
    let (bridge, _) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            extra: ["--rtp-timeout", "2"].map(String::from).to_vec(),
            ..BridgeOptions::default()
        },
    );
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, None);
    p.call();
    let media = p.remote_media().expect("media address");
    wait(500);
    p.stop_media();
    let silent_since = Instant::now();
    assert!(p.wait_for_bye(Duration::from_secs(6)), "hung up with a BYE");
    let after = silent_since.elapsed();
    assert!(
        after >= Duration::from_millis(1_500) && after < Duration::from_secs(5),
        "BYE {after:?} after the RTP stopped; the timeout is 2 s"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while UdpSocket::bind(media).is_err() {
        assert!(Instant::now() < deadline, "RTP port {media} still held");
        wait(20);
    }
}
