//! End-to-end: SIP over TCP (RFC 3261 §18) against the real `dialbridge` binary on
//! 127.0.0.1 — whole calls, stream framing, keep-alives, limits and timeouts.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use dialbridge::ivr::prompt::Prompt;
use dialbridge::media::codec::{Codec, Law};
use dialbridge::sip::message::{HeaderName, Message, Method};
use dialbridge::sip::stream::{StreamItem, StreamReader};
use support::phone::Phone;
use support::{Bridge, BridgeOptions, assets, first_tone, position_of_run, wait_until};

const ORGANIZER_TONE: f32 = 1000.0;

fn connect(bridge: &Bridge) -> TcpStream {
    let s = TcpStream::connect(bridge.sip).expect("connect to the bridge's SIP TCP port");
    s.set_nodelay(true).ok();
    s.set_read_timeout(Some(Duration::from_millis(50))).ok();
    s
}

fn options(me: SocketAddr, bridge: SocketAddr, n: u32) -> String {
    format!(
        "OPTIONS sip:bridge@{bridge} SIP/2.0\r\n\
         Via: SIP/2.0/TCP {me};branch=z9hG4bK-tcp-{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{me}>;tag=t{n}\r\nTo: <sip:bridge@{bridge}>\r\n\
         Call-ID: tcp-{n}@probe\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

/// What came back on the connection within `timeout`, and whether the bridge closed it.
struct Received {
    messages: Vec<Message>,
    raw: Vec<u8>,
    closed: bool,
}

fn read_for(stream: &mut TcpStream, timeout: Duration, stop_after: usize) -> Received {
    let mut reader = StreamReader::new();
    let mut out = Received {
        messages: Vec::new(),
        raw: Vec::new(),
        closed: false,
    };
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline && out.messages.len() < stop_after {
        match stream.read(&mut buf) {
            Ok(0) => {
                out.closed = true;
                break;
            }
            Ok(n) => {
                out.raw.extend_from_slice(&buf[..n]);
                reader.push(Instant::now(), &buf[..n]);
                while let Some(item) = reader.next_item() {
                    if let StreamItem::Message(m) = item {
                        out.messages.push(m);
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                out.closed = true;
                break;
            }
        }
    }
    out
}

fn statuses(r: &Received) -> Vec<u16> {
    r.messages.iter().filter_map(Message::status).collect()
}

#[test]
fn an_organizer_on_tcp_starts_the_meeting_for_a_caller_on_udp_and_they_hear_each_other() {
    let (bridge, orgs) = Bridge::start(&["Ada"], BridgeOptions::default());
    let org = &orgs[0];
    let mut waiting = Phone::new(bridge.sip, Codec::Pcmu, Some(700.0));
    waiting.call();
    waiting.send_digits(&format!("{}##", org.conference_id));
    let lobby = assets().prompt(Prompt::LobbyWait).frames(Law::Mu)[..10].to_vec();
    wait_until(&waiting, Duration::from_secs(15), "the lobby", |h| {
        position_of_run(h, &lobby).is_some()
    });

    let mut boss = Phone::new_tcp(bridge.sip, Codec::Pcmu, Some(ORGANIZER_TONE));
    let ok = boss.call();
    assert!(
        ok.header(&HeaderName::Contact)
            .is_some_and(|c| c.contains("transport=tcp")),
        "the 200's Contact says TCP: {:?}",
        ok.header(&HeaderName::Contact)
    );
    // Digits by SIP INFO: in-dialog requests over the same connection.
    let started = Instant::now();
    for key in format!("{}#*{}#", org.conference_id, org.pin).chars() {
        let r = boss.info_digit(key).expect("INFO answered over TCP");
        assert_eq!(r.status(), Some(200));
    }
    wait_until(
        &waiting,
        Duration::from_secs(10),
        "the organizer's voice in the meeting",
        |h| first_tone(h, started, ORGANIZER_TONE, Codec::Pcmu).is_some(),
    );
    wait_until(
        &boss,
        Duration::from_secs(10),
        "the caller's voice at the organizer",
        |h| first_tone(h, started, 700.0, Codec::Pcmu).is_some(),
    );
    let bye = boss.hangup().expect("BYE answered over TCP");
    assert_eq!(bye.status(), Some(200));
}

#[test]
fn the_bridge_hangs_up_a_tcp_caller_with_a_bye_on_its_connection() {
    let (bridge, _) = Bridge::start(&["Ada"], BridgeOptions::default());
    let mut p = Phone::new_tcp(bridge.sip, Codec::Pcmu, None);
    p.call();
    let not_found = assets().prompt(Prompt::ConferenceNotFound).frames(Law::Mu)[40];
    for attempt in 1..=3 {
        p.send_digits("111#");
        wait_until(&p, Duration::from_secs(15), "not recognized", |h| {
            h.iter().filter(|x| x.payload == not_found).count() >= attempt
        });
    }
    assert!(
        p.wait_for_bye(Duration::from_secs(15)),
        "BYE on the caller's connection"
    );
    let bye = p
        .requests
        .iter()
        .find(|r| r.method() == Some(&Method::Bye))
        .expect("the BYE");
    assert!(
        bye.header(&HeaderName::Via)
            .is_some_and(|v| v.starts_with("SIP/2.0/TCP ")),
        "{:?}",
        bye.header(&HeaderName::Via)
    );
}

#[test]
fn stream_framing_several_per_read_one_across_many_reads_and_keepalive_pings() {
    let (bridge, _) = Bridge::start(&[], BridgeOptions::default());
    let mut s = connect(&bridge);
    let me = s.local_addr().unwrap();

    // Three messages in one write: three answers, in order.
    let three = format!(
        "{}{}{}",
        options(me, bridge.sip, 1),
        options(me, bridge.sip, 2),
        options(me, bridge.sip, 3)
    );
    s.write_all(three.as_bytes()).unwrap();
    let r = read_for(&mut s, Duration::from_secs(5), 3);
    assert_eq!(statuses(&r), [200, 200, 200]);
    let seqs: Vec<u32> = r.messages.iter().map(|m| m.cseq().unwrap().seq).collect();
    assert_eq!(seqs, [1, 2, 3]);

    // One message written a byte at a time: one answer, only once it is whole.
    let one = options(me, bridge.sip, 4);
    let bytes = one.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        s.write_all(std::slice::from_ref(b)).unwrap();
        if i + 1 == bytes.len() / 2 {
            let early = read_for(&mut s, Duration::from_millis(100), 1);
            assert!(
                early.messages.is_empty(),
                "nothing before the message is whole"
            );
        }
    }
    let r = read_for(&mut s, Duration::from_secs(5), 1);
    assert_eq!(statuses(&r), [200]);

    // RFC 5626 §3.5.1: CRLFCRLF is answered with CRLF.
    s.write_all(b"\r\n\r\n").unwrap();
    let r = read_for(&mut s, Duration::from_millis(500), 1);
    assert_eq!(r.raw, b"\r\n", "the pong");
    assert!(!r.closed);

    // REGISTER over TCP: not a registrar.
    let register = options(me, bridge.sip, 5).replace("OPTIONS", "REGISTER");
    s.write_all(register.as_bytes()).unwrap();
    let r = read_for(&mut s, Duration::from_secs(5), 1);
    assert_eq!(statuses(&r), [405]);
}

#[test]
fn a_stream_that_cannot_be_framed_gets_400_and_is_closed() {
    let (bridge, _) = Bridge::start(&[], BridgeOptions::default());
    let mut s = connect(&bridge);
    let me = s.local_addr().unwrap();
    let bad = options(me, bridge.sip, 1).replace("Content-Length: 0", "Content-Length: zero");
    s.write_all(bad.as_bytes()).unwrap();
    let r = read_for(&mut s, Duration::from_secs(5), usize::MAX);
    assert_eq!(statuses(&r), [400]);
    assert!(r.closed, "the connection cannot be resynchronised: closed");

    // A body bigger than any SIP message: refused at once, not buffered.
    let mut s = connect(&bridge);
    let me = s.local_addr().unwrap();
    let huge = options(me, bridge.sip, 2).replace("Content-Length: 0", "Content-Length: 10000000");
    s.write_all(huge.as_bytes()).unwrap();
    let r = read_for(&mut s, Duration::from_secs(5), usize::MAX);
    assert_eq!(statuses(&r), [513], "Message Too Large");
    assert!(r.closed);

    // The bridge is still fine.
    let mut s = connect(&bridge);
    let me = s.local_addr().unwrap();
    s.write_all(options(me, bridge.sip, 3).as_bytes()).unwrap();
    assert_eq!(
        statuses(&read_for(&mut s, Duration::from_secs(5), 1)),
        [200]
    );
}

#[test]
fn connection_limits_idle_and_slow_sender_timeouts() {
    let (bridge, _) = Bridge::start(
        &["Ada"],
        BridgeOptions {
            extra: [
                "--max-tcp-per-source",
                "3",
                "--tcp-idle-timeout",
                "2",
                "--tcp-message-timeout",
                "1",
            ]
            .map(String::from)
            .to_vec(),
            ..BridgeOptions::default()
        },
    );
    // A call on TCP: its connection outlives the idle timeout.
    let mut caller = Phone::new_tcp(bridge.sip, Codec::Pcmu, None);
    caller.call();

    let mut idle = connect(&bridge);
    let mut slow = connect(&bridge);
    // The fourth connection from this address is over the limit: closed at once.
    let mut over = connect(&bridge);
    let r = read_for(&mut over, Duration::from_secs(3), usize::MAX);
    assert!(
        r.closed && r.messages.is_empty(),
        "over the per-source limit"
    );

    // Half a message, then nothing: closed after the message timeout, unanswered.
    let me = slow.local_addr().unwrap();
    let half = options(me, bridge.sip, 1);
    slow.write_all(&half.as_bytes()[..half.len() / 2]).unwrap();
    let t0 = Instant::now();
    let r = read_for(&mut slow, Duration::from_secs(5), usize::MAX);
    assert!(r.closed && r.messages.is_empty(), "slow sender closed");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "closed {took:?} after the first byte; the timeout is 1 s"
    );

    // Nothing at all: closed after the idle timeout.
    let r = read_for(&mut idle, Duration::from_secs(6), usize::MAX);
    assert!(r.closed, "idle connection closed");

    // Freed slots are usable again, and the call's connection is still up.
    let mut again = connect(&bridge);
    let me = again.local_addr().unwrap();
    again
        .write_all(options(me, bridge.sip, 2).as_bytes())
        .unwrap();
    assert_eq!(
        statuses(&read_for(&mut again, Duration::from_secs(5), 1)),
        [200]
    );
    let r = caller
        .in_dialog(Method::Options, None)
        .expect("the call's connection survived the idle timeout");
    assert_eq!(r.status(), Some(200));
    assert_eq!(
        caller.hangup().and_then(|m| m.status()),
        Some(200),
        "BYE over the call's connection"
    );
}
