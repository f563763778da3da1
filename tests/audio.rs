//! End-to-end: what callers hear of each other in a meeting — wideband (G.722) callers at
//! 16 kHz beside G.711 ones, only the active talkers mixed, a faint line brought up.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use dialbridge::media::codec::Codec;
use dialbridge::media::tone::present_tones;
use dialbridge::media::tone::rms_dbfs;
use dialbridge::sip::message::Method;
use support::phone::{Heard, Phone};
use support::{Bridge, BridgeOptions, OrganizerInfo, assets, is_asset_frame, wait, wait_until};

/// A phone calling from a number of its own: the bridge limits conference-ID entries per
/// calling number, and these tests bring more callers than that limit.
fn phone(bridge: &Bridge, codec: Codec, tone: Option<f32>) -> Phone {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let mut p = Phone::new(bridge.sip, codec, tone);
    p.set_from_user(&format!(
        "+4420794600{:02}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    p
}

/// Dials in and enters the conference ID (then `#` again: no PIN, wait in the lobby).
fn attendee(bridge: &Bridge, conference_id: &str, codec: Codec, tone: Option<f32>) -> Phone {
    let mut p = phone(bridge, codec, tone);
    p.call();
    p.send_digits(&format!("{conference_id}#"));
    wait(200);
    p.send_digits("#");
    p
}

/// Dials in as the organizer, ID and PIN in one burst of RFC 4733 digits.
fn organizer(bridge: &Bridge, conference_id: &str, pin: &str, codec: Codec, tone: f32) -> Phone {
    let mut p = phone(bridge, codec, Some(tone));
    p.call();
    p.send_digits(&format!("{conference_id}#*{pin}#"));
    p
}

/// Waits until a G.711 phone hears the meeting: neither prompts, hold music nor silence.
fn wait_in_meeting(phone: &Phone) {
    let a = assets();
    wait_until(phone, Duration::from_secs(20), "the meeting", |h| {
        h.len() > 10
            && h.iter()
                .rev()
                .take(10)
                .all(|h| !is_asset_frame(&a, Codec::Pcmu, &h.payload))
    });
}

/// How many of `candidates` a G.722 phone heard in its last 200 ms.
fn recent_wide_tones(heard: &[Heard], candidates: &[f32]) -> usize {
    let pcm: Vec<i16> = heard
        .iter()
        .rev()
        .take(10)
        .flat_map(|h| h.wide.clone())
        .collect();
    present_tones(&pcm, candidates, 16000.0).len()
}

/// Decoded audio heard since `from`, with its sample rate.
fn audio_since(phone: &Phone, from: Instant) -> (Vec<i16>, f32) {
    let codec = phone.codec();
    let pcm = phone
        .heard()
        .iter()
        .filter(|h| h.at >= from && h.payload.len() == 160)
        .flat_map(|h| h.pcm(codec))
        .collect();
    (pcm, codec.sample_rate() as f32)
}

/// Which of `candidates` are present in most 20 ms blocks of the audio heard since `from`.
fn tones_in(phone: &Phone, from: Instant, candidates: &[f32]) -> Vec<f32> {
    let (pcm, rate) = audio_since(phone, from);
    let block = (rate / 50.0) as usize;
    let blocks: Vec<&[i16]> = pcm.chunks_exact(block).collect();
    assert!(blocks.len() >= 25, "at least half a second heard");
    candidates
        .iter()
        .copied()
        .filter(|&f| {
            let hits = blocks
                .iter()
                .filter(|b| !present_tones(b, &[f], rate).is_empty())
                .count();
            hits * 2 >= blocks.len()
        })
        .collect()
}

/// Normalised correlation of `heard` against `reference` at the best lag up to `max_lag`.
fn best_correlation(heard: &[i16], reference: &[i16], max_lag: usize) -> f64 {
    let norm = |x: &[i16]| x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>().sqrt();
    let r = norm(reference);
    (0..max_lag)
        .filter_map(|lag| {
            let window = heard.get(lag..lag + reference.len())?;
            let dot: f64 = window
                .iter()
                .zip(reference)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            Some(dot / (norm(window) * r).max(1.0))
        })
        .fold(0.0, f64::max)
}

fn with_metrics() -> BridgeOptions {
    BridgeOptions {
        http: true,
        ..BridgeOptions::default()
    }
}

#[test]
fn wideband_callers_hear_each_other_at_16_khz_and_g711_callers_hear_them_in_their_band() {
    let (bridge, orgs) = Bridge::start(&["Ada"], with_metrics());
    let org = &orgs[0];
    // 6 kHz only exists in 16 kHz audio: a G.711 path anywhere in between would remove it.
    let wide_listener = attendee(&bridge, &org.conference_id, Codec::G722, Some(500.0));
    let narrow = attendee(&bridge, &org.conference_id, Codec::Pcmu, Some(1000.0));
    wait(1500);
    let boss = organizer(&bridge, &org.conference_id, &org.pin, Codec::G722, 6000.0);
    wait_until(
        &wide_listener,
        Duration::from_secs(15),
        "the organizer",
        |h| recent_wide_tones(h, &[6000.0]) == 1,
    );
    // The organizer first hears how many came in from the lobby, then the meeting.
    wait_until(&boss, Duration::from_secs(15), "the meeting", |h| {
        recent_wide_tones(h, &[500.0, 1000.0]) == 2
    });
    wait(1500);
    let from = Instant::now() - Duration::from_millis(1000);
    let all = [500.0, 1000.0, 6000.0];
    assert_eq!(
        tones_in(&wide_listener, from, &all),
        [1000.0, 6000.0],
        "a G.722 caller hears the other G.722 caller's 6 kHz and the G.711 caller's 1 kHz"
    );
    assert_eq!(
        tones_in(&boss, from, &all),
        [500.0, 1000.0],
        "the organizer hears the others, not themselves"
    );
    assert_eq!(
        tones_in(&narrow, from, &all),
        [500.0],
        "a G.711 caller hears the wideband caller's 500 Hz; 6 kHz is beyond 8 kHz audio"
    );
    // ... and what is above its band does not fold back into it as noise.
    let (pcm, _) = audio_since(&narrow, from);
    let tone_level = rms_dbfs(&pcm);
    let mut rest = pcm.clone();
    // Remove the 500 Hz tone by projecting it out, block by block, and see what is left.
    for block in rest.chunks_mut(160) {
        let (mut c, mut s) = (0f64, 0f64);
        for (i, &v) in block.iter().enumerate() {
            let ph = 2.0 * std::f64::consts::PI * 500.0 * i as f64 / 8000.0;
            c += f64::from(v) * ph.cos();
            s += f64::from(v) * ph.sin();
        }
        let n = block.len() as f64;
        for (i, v) in block.iter_mut().enumerate() {
            let ph = 2.0 * std::f64::consts::PI * 500.0 * i as f64 / 8000.0;
            let fit = 2.0 * (c * ph.cos() + s * ph.sin()) / n;
            *v = (f64::from(*v) - fit) as i16;
        }
    }
    let residue = rms_dbfs(&rest);
    assert!(
        tone_level - residue > 25.0,
        "aliasing or distortion: tone {tone_level:.1} dBFS, everything else {residue:.1} dBFS"
    );
    assert_eq!(
        bridge.expect_metric("dialbridge_media_calls_by_codec", &["codec=\"G722\""]),
        2
    );
    assert_eq!(
        bridge.expect_metric("dialbridge_media_calls_by_codec", &["codec=\"PCMU\""]),
        1
    );
    assert_eq!(bridge.expect_metric("dialbridge_talkers", &[]), 3);
    drop(boss);
}

#[test]
fn a_wideband_caller_hears_the_prompts_and_the_hold_music() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let mut p = phone(&bridge, Codec::G722, None);
    let start = Instant::now();
    p.call();
    let a = assets();
    let welcome = a
        .prompt(dialbridge::ivr::prompt::Prompt::Welcome)
        .pcm_frames()
        .concat();
    wait_until(&p, Duration::from_secs(10), "the welcome prompt", |h| {
        h.len() > welcome.len() / 160 + 20
    });
    // The prompt is 8 kHz audio: compare what was heard brought down to 8 kHz.
    let (wide, _) = audio_since(&p, start);
    let narrow = to_8khz(&wide);
    let excerpt = &welcome[1600..1600 + 8000];
    let c = best_correlation(&narrow, excerpt, 4000);
    assert!(c > 0.95, "the welcome prompt, correlation {c:.3}");

    p.send_digits(&format!("{}#", orgs[0].conference_id));
    wait(200);
    let lobby_from = Instant::now();
    p.send_digits("#");
    let music = a.hold_music().pcm_frames().concat();
    let opening = &music[..4000];
    // Each poll searches only what arrived since the last one, so a slow poll on a busy
    // machine cannot step over the music's opening as it goes by.
    let searched = std::cell::Cell::new(0usize);
    wait_until(&p, Duration::from_secs(20), "the hold music", |h| {
        let pcm: Vec<i16> = h
            .iter()
            .filter(|h| h.at >= lobby_from)
            .flat_map(|h| h.wide.iter().copied())
            .collect();
        let narrow = to_8khz(&pcm);
        let from = searched.get();
        let until = narrow.len().saturating_sub(opening.len());
        if until <= from {
            return false;
        }
        searched.set(until);
        best_correlation(&narrow[from..], opening, until - from) > 0.95
    });
}

#[test]
fn only_talkers_are_mixed_a_hiss_stays_out_and_a_faint_line_is_brought_up() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let org = &orgs[0];
    let listener = attendee(&bridge, &org.conference_id, Codec::Pcmu, None);
    // A line with a faint 300 Hz hum at about -62 dBFS: line noise, not talk.
    let hiss = attendee(&bridge, &org.conference_id, Codec::Pcmu, None);
    hiss.set_tone_level(300.0, 35);
    // A faint talker at about -44 dBFS.
    let faint = attendee(&bridge, &org.conference_id, Codec::Pcmu, None);
    faint.set_tone_level(700.0, 300);
    wait(1500);
    let boss = organizer(&bridge, &org.conference_id, &org.pin, Codec::Pcmu, 1000.0);
    wait_in_meeting(&listener);
    let start = Instant::now();
    wait(400);
    let early = level_of(&listener, start, 700.0);
    wait(4000);
    let late_from = Instant::now() - Duration::from_millis(1000);
    let late = level_of(&listener, late_from, 700.0);
    // Sent at -43.8 dBFS: brought up to within the gain control's dead band of -26 dBFS.
    assert!(
        late > -36.0 && late < -31.0 && late - early > 4.0,
        "the faint line is brought up: {early:.1} dBFS at first, {late:.1} dBFS after 4 s"
    );
    assert!(
        tones_in(&listener, late_from, &[300.0]).is_empty(),
        "the hum is not talk and is not mixed"
    );
    // Once the organizer stops talking, the faint caller's own ear has nothing in it: the hum
    // line is never mixed, so there is no noise floor of everybody's lines to listen to.
    boss.set_tone(None);
    wait(1500);
    let quiet_from = Instant::now() - Duration::from_millis(600);
    let (pcm, _) = audio_since(&faint, quiet_from);
    assert!(
        pcm.iter().all(|&s| s == 0),
        "the faint talker hears pure silence, not the other line's hum: {} dBFS",
        rms_dbfs(&pcm)
    );
}

#[test]
fn with_more_talkers_than_the_mix_takes_the_loudest_four_are_heard() {
    let (bridge, orgs) = Bridge::start(&["Ada"], with_metrics());
    let org = &orgs[0];
    let listener = attendee(&bridge, &org.conference_id, Codec::Pcmu, None);
    let tones = [400.0, 700.0, 1300.0, 1900.0];
    let loud: Vec<Phone> = tones
        .iter()
        .map(|&t| attendee(&bridge, &org.conference_id, Codec::Pcmu, Some(t)))
        .collect();
    // Half as loud (6 dB down), but well above any noise: the fifth voice.
    let soft = attendee(&bridge, &org.conference_id, Codec::Pcmu, None);
    soft.set_tone_level(2500.0, 4000);
    wait(1500);
    let boss = organizer(&bridge, &org.conference_id, &org.pin, Codec::Pcmu, 3100.0);
    boss.set_tone(None);
    wait_in_meeting(&listener);
    wait(1500);
    let from = Instant::now() - Duration::from_millis(1000);
    let mut all = tones.to_vec();
    all.push(2500.0);
    assert_eq!(
        tones_at_level(&listener, from, &all),
        tones,
        "the four loudest"
    );
    assert_eq!(
        bridge.expect_metric("dialbridge_talkers", &[]),
        4,
        "five talk, four mixed"
    );
    // One loud talker stops: the soft one takes the free place.
    loud[0].set_tone(None);
    wait(1500);
    let from = Instant::now() - Duration::from_millis(800);
    assert_eq!(
        tones_at_level(&listener, from, &all),
        [700.0, 1300.0, 1900.0, 2500.0]
    );
    drop((loud, soft));
}

/// 16 kHz audio brought to 8 kHz with the bridge's own half-band filter.
fn to_8khz(wide: &[i16]) -> Vec<i16> {
    let mut down = dialbridge::media::resample::Downsampler::new();
    wide.chunks_exact(320)
        .flat_map(|c| {
            let mut out = [0i16; 160];
            down.process(c.try_into().expect("320"), &mut out);
            out
        })
        .collect()
}

/// Which of `candidates` are heard since `from` (each at least at -35 dBFS).
fn tones_at_level(phone: &Phone, from: Instant, candidates: &[f32]) -> Vec<f32> {
    candidates
        .iter()
        .copied()
        .filter(|&f| level_of(phone, from, f) > -35.0)
        .collect()
}

/// Level (dBFS) of one tone in what the phone heard since `from`, measured per 20 ms block
/// (the tones used here are whole multiples of 50 Hz, so each block holds whole cycles and
/// a phase jump between packets costs nothing).
fn level_of(phone: &Phone, from: Instant, freq: f32) -> f32 {
    let (pcm, rate) = audio_since(phone, from);
    let block = (rate / 50.0) as usize;
    let mut power = 0f64;
    let mut blocks = 0usize;
    for b in pcm.chunks_exact(block) {
        let (mut c, mut s) = (0f64, 0f64);
        for (i, &v) in b.iter().enumerate() {
            let ph = 2.0 * std::f64::consts::PI * f64::from(freq) * i as f64 / f64::from(rate);
            c += f64::from(v) * ph.cos();
            s += f64::from(v) * ph.sin();
        }
        let amp = 2.0 * (c * c + s * s).sqrt() / block as f64;
        // A sine of peak `amp` has a mean square of amp²/2.
        power += amp * amp / 2.0;
        blocks += 1;
    }
    let mean = power / blocks.max(1) as f64;
    (10.0 * (mean / (32768.0 * 32768.0)).max(1e-12).log10()) as f32
}

/// A bridge with one RTP socket per media thread (the test bridge runs two) and /metrics.
fn per_thread_bridge() -> (Bridge, Vec<OrganizerInfo>) {
    Bridge::start(
        &["Ada"],
        BridgeOptions {
            http: true,
            extra: vec!["--rtp-sockets".into(), "per-thread".into()],
            ..BridgeOptions::default()
        },
    )
}

/// The three tones of [`meeting_of_three`]'s callers.
const THREE_TONES: [f32; 3] = [400.0, 700.0, 1300.0];

/// Two attendees (PCMU 400 Hz, PCMA 700 Hz) wait in the lobby, the organizer (PCMU 1300 Hz)
/// starts the meeting, and each then hears the other two and not themselves.
fn meeting_of_three(bridge: &Bridge, org: &OrganizerInfo) -> [Phone; 3] {
    let a = attendee(bridge, &org.conference_id, Codec::Pcmu, Some(400.0));
    let b = attendee(bridge, &org.conference_id, Codec::Pcma, Some(700.0));
    wait(1500);
    let boss = organizer(bridge, &org.conference_id, &org.pin, Codec::Pcmu, 1300.0);
    wait_in_meeting(&a);
    // The organizer first hears how many came in from the lobby.
    wait(4000);
    let from = Instant::now() - Duration::from_millis(1000);
    assert_eq!(tones_in(&a, from, &THREE_TONES), vec![700.0, 1300.0]);
    assert_eq!(tones_in(&b, from, &THREE_TONES), vec![400.0, 1300.0]);
    assert_eq!(tones_in(&boss, from, &THREE_TONES), vec![400.0, 700.0]);
    [a, b, boss]
}

#[test]
fn with_one_rtp_socket_per_media_thread_everyone_hears_the_others_and_strangers_are_dropped() {
    let (bridge, orgs) = per_thread_bridge();
    // The three callers are spread over the two media threads; the meeting lives on one of
    // them, so a caller answered on the other moves there while its RTP still reaches the
    // port it was given.
    let [a, b, boss] = meeting_of_three(&bridge, &orgs[0]);
    let ports: std::collections::BTreeSet<u16> = [&a, &b, &boss]
        .iter()
        .map(|p| p.remote_media().expect("the bridge's SDP").port())
        .collect();
    assert_eq!(ports.len(), 2, "one port per media thread: {ports:?}");

    // RTP from an address no call has is dropped and counted, and changes nothing.
    let unknown = || bridge.metric("dialbridge_rtp_unknown_source_total", &[]);
    assert_eq!(unknown(), 0);
    let stranger = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut packet = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
    packet.extend_from_slice(&[0xff; 160]);
    for port in &ports {
        stranger
            .send_to(&packet, (std::net::Ipv4Addr::LOCALHOST, *port))
            .expect("send");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while unknown() < 2 && Instant::now() < deadline {
        wait(50);
    }
    assert_eq!(unknown(), 2);
    let from = Instant::now();
    wait(1500);
    assert_eq!(tones_in(&a, from, &THREE_TONES), vec![700.0, 1300.0]);
}

#[test]
fn media_threads_asked_for_real_time_priority_get_it_and_the_meeting_still_sounds_right() {
    // Run as root, as ./test.sh and CI run (the right to real-time priority).
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            extra: vec!["--media-realtime-priority".into(), "10".into()],
            ..BridgeOptions::default()
        },
    );
    // SCHED_FIFO is policy 1; the SIP thread keeps the ordinary policy 0.
    let media = bridge.thread_scheduling("media-");
    assert_eq!(
        media,
        vec![("media-0".to_owned(), 1, 10), ("media-1".to_owned(), 1, 10)],
        "the test bridge runs two media threads"
    );
    assert_eq!(
        bridge.thread_scheduling("sip"),
        vec![("sip".to_owned(), 0, 0)]
    );
    assert!(
        bridge
            .log_text()
            .contains("media threads run with real-time priority (SCHED_FIFO)"),
        "said in the log"
    );
    meeting_of_three(&bridge, &orgs[0]);
}

#[test]
fn with_one_rtp_socket_per_media_thread_a_re_invite_moves_the_callers_route() {
    let (bridge, orgs) = per_thread_bridge();
    let unknown = || bridge.metric("dialbridge_rtp_unknown_source_total", &[]);
    let mut p = attendee(&bridge, &orgs[0].conference_id, Codec::Pcmu, None);
    let bridge_rtp = p.remote_media().expect("the bridge's SDP");
    let old = p.rtp_addr().expect("the phone's RTP address");
    // In the lobby: the bridge sends hold music without pause from now on.
    let a = assets();
    let music = a.hold_music().frames(support::law(Codec::Pcmu));
    wait_until(&p, Duration::from_secs(20), "hold music", |h| {
        h.len() > 10
            && h.iter()
                .rev()
                .take(10)
                .all(|f| music.iter().any(|m| m[..] == f.payload[..]))
    });
    p.stop_media();

    // The phone moves its media to a new port, as a re-INVITE after a transfer or a NAT
    // rebinding on an SBC does.
    let moved = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    moved
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let sdp = format!(
        "v=0\r\no=test 1 2 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n",
        moved.local_addr().expect("addr").port()
    );
    let ok = p
        .in_dialog(Method::Invite, Some(("application/sdp", sdp.as_bytes())))
        .expect("an answer to the re-INVITE");
    assert_eq!(ok.status(), Some(200));
    p.ack(&ok);
    // The lobby's hold music now comes to the new port, from the same shared one.
    let mut buf = [0u8; 2048];
    let (_, from) = moved.recv_from(&mut buf).expect("RTP at the new address");
    assert_eq!(from.port(), bridge_rtp.port());

    // RTP from the new address is the call's; from the old one it is nobody's.
    let before = unknown();
    let packet = |seq: u16| {
        let mut pkt = vec![0x80, 0];
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(&[0, 0, 0, 160, 9, 9, 9, 9]);
        pkt.extend_from_slice(&[0xff; 160]);
        pkt
    };
    for seq in 0..10 {
        moved.send_to(&packet(seq), bridge_rtp).expect("send");
    }
    let stale = std::net::UdpSocket::bind(old).expect("the phone's old port, now free");
    stale.send_to(&packet(100), bridge_rtp).expect("send");
    let deadline = Instant::now() + Duration::from_secs(5);
    while unknown() < before + 1 && Instant::now() < deadline {
        wait(50);
    }
    wait(200);
    assert_eq!(
        unknown(),
        before + 1,
        "only the old address's packet is unknown"
    );
}

#[test]
fn with_rtp_sent_through_io_uring_everyone_hears_the_others_and_not_themselves() {
    let (bridge, orgs) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            extra: vec!["--rtp-send".into(), "io-uring".into()],
            ..BridgeOptions::default()
        },
    );
    meeting_of_three(&bridge, &orgs[0]);
}
