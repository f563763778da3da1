//! End-to-end: the real `dialbridge` binary on 127.0.0.1, called by the Rust test phone.
//! Each test checks what a caller would notice: what they hear, and when.

mod support;

use std::time::{Duration, Instant};

use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::{Codec, Law};
use dialbridge::sip::message::Method;
use support::phone::Phone;
use support::{
    Bridge, BridgeOptions, assets, first_tone, hears, plays_in_order, position_of_run, tones_heard,
    wait, wait_until,
};

const ORGANIZER_TONE: f32 = 1000.0;

/// Dials in as an attendee (ID then `#`) and returns once the lobby should have been reached.
fn attendee(bridge: &Bridge, conference_id: &str, codec: Codec, tone: Option<f32>) -> Phone {
    let mut p = Phone::new(bridge.sip, codec, tone);
    p.call();
    p.send_digits(&format!("{conference_id}#"));
    wait(200);
    p.send_digits("#");
    p
}

/// Dials in as the organizer with one burst of digits.
fn organizer(bridge: &Bridge, conference_id: &str, pin: &str, tone: Option<f32>) -> Phone {
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, tone);
    p.call();
    p.send_digits(&format!("{conference_id}#*{pin}#"));
    p
}

#[test]
fn lobby_hears_the_wait_prompt_then_hold_music_looping_in_order() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let a = assets();
    let caller = attendee(&bridge, &orgs[0].conference_id, Codec::Pcmu, None);
    let hold = a.hold_music().frames(Law::Mu).to_vec();
    let lobby = a.prompt(Prompt::LobbyWait).frames(Law::Mu).to_vec();
    wait_until(&caller, Duration::from_secs(15), "hold music", |h| {
        position_of_run(h, &hold[..5]).is_some_and(|i| h.len() >= i + 100)
    });
    let heard = caller.heard();
    let start = position_of_run(&heard, &lobby).expect("the whole lobby prompt, in order");
    let music = position_of_run(&heard, &hold[..5]).expect("hold music");
    assert_eq!(
        music,
        start + lobby.len(),
        "music follows the prompt without a gap"
    );
    assert!(
        plays_in_order(&heard, music, &hold[..100]),
        "hold music frames in order"
    );
    // Pacing: 100 frames of music took about 2 s.
    let span = heard[music + 99].at - heard[music].at;
    assert!(
        span > Duration::from_millis(1800) && span < Duration::from_millis(2300),
        "paced at 20 ms: {span:?}"
    );
}

#[test]
fn lobby_callers_hear_nothing_of_each_other() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let a = assets();
    let one = attendee(&bridge, &orgs[0].conference_id, Codec::Pcmu, Some(600.0));
    let two = attendee(&bridge, &orgs[0].conference_id, Codec::Pcmu, Some(1400.0));
    let hold = a.hold_music().frames(Law::Mu).to_vec();
    for p in [&one, &two] {
        wait_until(p, Duration::from_secs(15), "hold music", |h| {
            position_of_run(h, &hold[..5]).is_some_and(|i| h.len() >= i + 50)
        });
    }
    for p in [&one, &two] {
        let heard = p.heard();
        let music = position_of_run(&heard, &hold[..5]).expect("music");
        assert!(
            plays_in_order(&heard, music, &hold[..50]),
            "lobby audio is exactly the hold music: nothing of the other caller mixed in"
        );
    }
}

#[test]
fn whole_lobby_hears_the_organizer_within_one_tick_and_nobody_hears_themselves() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let org = &orgs[0];
    let tones = [500.0, 1500.0, 2000.0];
    let lobby: Vec<Phone> = tones
        .iter()
        .map(|&t| attendee(&bridge, &org.conference_id, Codec::Pcmu, Some(t)))
        .collect();
    let hold = assets().hold_music().frames(Law::Mu)[..5].to_vec();
    for p in &lobby {
        wait_until(p, Duration::from_secs(15), "hold music", |h| {
            position_of_run(h, &hold).is_some()
        });
    }
    let before = Instant::now();
    for p in &lobby {
        assert!(
            first_tone(
                &p.heard(),
                before - Duration::from_secs(30),
                ORGANIZER_TONE,
                Codec::Pcmu
            )
            .is_none(),
            "nobody hears the organizer before the meeting starts"
        );
    }
    let boss = organizer(&bridge, &org.conference_id, &org.pin, Some(ORGANIZER_TONE));
    for p in &lobby {
        wait_until(p, Duration::from_secs(10), "the organizer", |h| {
            first_tone(h, before, ORGANIZER_TONE, Codec::Pcmu).is_some()
        });
    }
    let firsts: Vec<Instant> = lobby
        .iter()
        .map(|p| first_tone(&p.heard(), before, ORGANIZER_TONE, Codec::Pcmu).expect("heard"))
        .collect();
    let spread = *firsts.iter().max().unwrap() - *firsts.iter().min().unwrap();
    assert!(
        spread < Duration::from_millis(20),
        "the lobby moved in one tick: spread {spread:?}"
    );
    // Meanwhile the organizer is told how many came in.
    hears(
        &boss,
        &[Prompt::N3, Prompt::CallersJoinedFromLobby],
        "'three callers joined from the lobby'",
    );

    // In the meeting: each hears everyone else and never themselves.
    wait(1500);
    let from = Instant::now() - Duration::from_millis(800);
    for (i, p) in lobby.iter().enumerate() {
        let mut all = tones.to_vec();
        all.push(ORGANIZER_TONE);
        let heard = tones_heard(&p.heard(), from, &all, Codec::Pcmu);
        let mut expected: Vec<f32> = all.iter().copied().filter(|&f| f != tones[i]).collect();
        expected.sort_by(f32::total_cmp);
        let mut got = heard.clone();
        got.sort_by(f32::total_cmp);
        assert_eq!(got, expected, "caller {i} hears the others, not itself");
    }
    let org_heard = tones_heard(
        &boss.heard(),
        from,
        &[500.0, 1500.0, 2000.0, ORGANIZER_TONE],
        Codec::Pcmu,
    );
    assert!(
        !org_heard.contains(&ORGANIZER_TONE),
        "the organizer does not hear themselves"
    );
    assert_eq!(org_heard.len(), 3);
}

#[test]
fn wrong_pin_is_announced_then_the_right_pin_starts_the_meeting() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let org = &orgs[0];
    let a = assets();
    let waiting = attendee(&bridge, &org.conference_id, Codec::Pcmu, None);
    let wrong: String = org
        .pin
        .chars()
        .map(|c| if c == '9' { '0' } else { '9' })
        .collect();
    let mut boss = Phone::new(bridge.sip, Codec::Pcmu, Some(ORGANIZER_TONE));
    boss.call();
    boss.send_digits(&format!("{}#*{wrong}#", org.conference_id));
    let wrong_pin = a.prompt(Prompt::WrongPin).frames(Law::Mu).to_vec();
    wait_until(
        &boss,
        Duration::from_secs(15),
        "the whole wrong-PIN prompt",
        |h| position_of_run(h, &wrong_pin).is_some(),
    );
    let started = Instant::now();
    boss.send_digits(&format!("{}#", org.pin));
    wait_until(
        &waiting,
        Duration::from_secs(10),
        "the organizer in the meeting",
        |h| first_tone(h, started, ORGANIZER_TONE, Codec::Pcmu).is_some(),
    );
    drop(boss);
}

#[test]
fn late_joiner_goes_straight_into_the_running_meeting() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let org = &orgs[0];
    let boss = organizer(&bridge, &org.conference_id, &org.pin, Some(ORGANIZER_TONE));
    // Late means after the meeting started: the organizer's keys and PIN check take a few
    // seconds, longer on a loaded machine.
    bridge.wait_log(
        "meeting started; lobby moved in",
        1,
        Duration::from_secs(20),
    );
    let late = attendee(&bridge, &org.conference_id, Codec::Pcma, None);
    let t0 = Instant::now();
    wait_until(&late, Duration::from_secs(10), "the organizer", |h| {
        first_tone(h, t0 - Duration::from_secs(5), ORGANIZER_TONE, Codec::Pcma).is_some()
    });
    let lobby = assets().prompt(Prompt::LobbyWait).frames(Law::A)[..10].to_vec();
    assert!(
        position_of_run(&late.heard(), &lobby).is_none(),
        "no lobby prompt for a late joiner"
    );
    drop(boss);
}

#[test]
fn pcmu_and_pcma_callers_hear_each_other() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let org = &orgs[0];
    let boss = organizer(&bridge, &org.conference_id, &org.pin, Some(ORGANIZER_TONE));
    let alaw = attendee(&bridge, &org.conference_id, Codec::Pcma, Some(600.0));
    wait_until(
        &alaw,
        Duration::from_secs(10),
        "the μ-law organizer",
        |h| {
            first_tone(
                h,
                Instant::now() - Duration::from_secs(30),
                ORGANIZER_TONE,
                Codec::Pcma,
            )
            .is_some()
        },
    );
    let t = Instant::now();
    wait_until(&boss, Duration::from_secs(10), "the A-law caller", |h| {
        first_tone(h, t - Duration::from_secs(30), 600.0, Codec::Pcmu).is_some()
    });
}

#[test]
fn unknown_conference_id_three_times_hears_goodbye_and_gets_a_bye() {
    let (bridge, _) = Bridge::start(&["Ada"], BridgeOptions::default());
    let a = assets();
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, None);
    p.call();
    // A frame from the middle of the prompt: speech, unlike its leading silence.
    let not_found = a.prompt(Prompt::ConferenceNotFound).frames(Law::Mu)[40];
    for attempt in 1..=3 {
        p.send_digits("111#");
        wait_until(&p, Duration::from_secs(15), "not recognized", |h| {
            h.iter().filter(|x| x.payload == not_found).count() >= attempt
        });
    }
    assert!(
        p.wait_for_bye(Duration::from_secs(15)),
        "the bridge hangs up"
    );
    let goodbye = a.prompt(Prompt::Goodbye).frames(Law::Mu).to_vec();
    assert!(
        position_of_run(&p.heard(), &goodbye).is_some(),
        "the whole goodbye before the BYE"
    );
}

#[test]
fn digits_by_sip_info_work_like_rfc4733() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, None);
    p.call();
    for key in orgs[0].conference_id.chars().chain("##".chars()) {
        let r = p.info_digit(key).expect("INFO answered");
        assert_eq!(r.status(), Some(200));
    }
    let lobby = assets().prompt(Prompt::LobbyWait).frames(Law::Mu)[..10].to_vec();
    wait_until(&p, Duration::from_secs(15), "the lobby", |h| {
        position_of_run(h, &lobby).is_some()
    });
}

#[test]
fn cancel_before_answer_gets_200_and_487() {
    let (bridge, _) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            answer_delay_ms: Some(3000),
            ..Default::default()
        },
    );
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, None);
    p.send_invite();
    assert!(
        p.wait_response(180, Method::Invite, Duration::from_secs(3))
            .is_some(),
        "ringing"
    );
    p.cancel();
    assert!(
        p.wait_response(200, Method::Cancel, Duration::from_secs(3))
            .is_some(),
        "200 to CANCEL"
    );
    let terminated = p
        .wait_response(487, Method::Invite, Duration::from_secs(3))
        .expect("487 to the INVITE");
    p.ack_error(&terminated);
    assert!(
        p.wait_response(200, Method::Invite, Duration::from_secs(4))
            .is_none(),
        "a cancelled call is never answered"
    );
}

#[test]
fn bye_ends_the_call_and_frees_its_rtp_port() {
    let (bridge, _) = Bridge::start(&["Ada"], BridgeOptions::default());
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, None);
    p.call();
    let media = p.remote_media().expect("SDP answer with a media address");
    wait(300);
    assert!(
        std::net::UdpSocket::bind(media).is_err(),
        "the call holds its RTP port"
    );
    assert!(p.hangup().is_some(), "200 to BYE");
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if std::net::UdpSocket::bind(media).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "RTP port {media} still held after BYE"
        );
        wait(20);
    }
    let r = p.in_dialog(Method::Bye, None).expect("an answer");
    assert_eq!(r.status(), Some(481), "the dialog is gone");
}

#[test]
fn options_is_answered_with_allow_and_no_version() {
    let (bridge, _) = Bridge::start(&[], BridgeOptions::default());
    let mut p = Phone::new(bridge.sip, Codec::Pcmu, None);
    let r = p.in_dialog(Method::Options, None).expect("answer");
    assert_eq!(r.status(), Some(200));
    let allow = r
        .header(&dialbridge::sip::message::HeaderName::Allow)
        .unwrap_or_default();
    for m in ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO"] {
        assert!(allow.contains(m), "Allow lists {m}: {allow}");
    }
    let server = r
        .header(&dialbridge::sip::message::HeaderName::Server)
        .unwrap_or_default();
    assert_eq!(server, "dialbridge", "no version for scanners");
}

#[test]
fn out_of_ports_gives_503_and_the_bridge_keeps_running() {
    let (bridge, _) = Bridge::start(
        &[],
        BridgeOptions {
            rtp_ports: Some(format!(
                "{0}-{1}",
                19800 + std::process::id() % 100 * 2,
                19800 + std::process::id() % 100 * 2 + 1
            )),
            ..Default::default()
        },
    );
    let mut first = Phone::new(bridge.sip, Codec::Pcmu, None);
    first.call();
    let mut second = Phone::new(bridge.sip, Codec::Pcmu, None);
    second.send_invite();
    let refused = second
        .wait_response(503, Method::Invite, Duration::from_secs(3))
        .expect("503 when no RTP port is left");
    assert!(
        refused
            .header(&dialbridge::sip::message::HeaderName::RetryAfter)
            .is_some()
    );
    second.ack_error(&refused);
    first.hangup();
    wait(200);
    let mut third = Phone::new(bridge.sip, Codec::Pcmu, None);
    third.call();
    third.hangup();
}

#[test]
fn no_common_codec_is_refused_with_488() {
    let (bridge, _) = Bridge::start(&[], BridgeOptions::default());
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let me = probe.local_addr().unwrap();
    let sdp = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n";
    let invite = format!(
        "INVITE sip:bridge@{b} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKg729;rport\r\nMax-Forwards: 70\r\n\
         From: <sip:x@{me}>;tag=1\r\nTo: <sip:bridge@{b}>\r\nCall-ID: g729@test\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:x@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        b = bridge.sip
    );
    probe.send_to(invite.as_bytes(), bridge.sip).unwrap();
    let mut buf = [0u8; 4096];
    let mut statuses = Vec::new();
    while let Ok((n, _)) = probe.recv_from(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        statuses.push(text[8..11].to_string());
        if !text.starts_with("SIP/2.0 1") {
            break;
        }
    }
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("488"),
        "{statuses:?}"
    );
}

#[test]
fn a_caller_without_telephone_event_gets_in_with_keys_sent_as_tones() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let mut p = Phone::new(bridge.sip, Codec::Pcma, None);
    p.without_telephone_event();
    p.call();
    p.send_inband_digits(&format!("{}##", orgs[0].conference_id));
    let lobby = assets().prompt(Prompt::LobbyWait).frames(Law::A)[..10].to_vec();
    wait_until(
        &p,
        Duration::from_secs(20),
        "the lobby, reached by in-band keys",
        |h| position_of_run(h, &lobby).is_some(),
    );
    let not_found = assets().prompt(Prompt::ConferenceNotFound).frames(Law::A)[40];
    assert!(
        !p.heard().iter().any(|h| h.payload == not_found),
        "every tone was one digit, no more and no less"
    );
}
